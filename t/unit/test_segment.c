
/*
 * Unit tests of the Segment encoder (cap_segment_*()): every row of the
 * mapping in docs/mappings.md, field by field on the parsed output, the
 * per-message limit, the batch body, and properties of 200 generated
 * events.
 */


#include "tap.h"
#include "pool.h"
#include "gen_json.h"
#include "util.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW    1704164645000LL       /* 2024-01-02T03:04:05.000Z */
#define UUID   "0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07"
#define TS     "2024-01-02T03:04:00.000Z"

/* an event's common head: uuid and timestamp */
#define HEAD   "\"uuid\":\"" UUID "\",\"timestamp\":\"2024-01-02T03:04:00Z\","

#define GEN_EVENTS  200
#define GEN_SEED    0x2545f491


static cap_event_t *event(const char *json);
static cap_json_t *encode(cap_event_t *ev);
static cap_json_t *parse_out(const cap_uchar_t *p, size_t len);
static void is_json(cap_json_t *root, const char *path, const char *want);
static void is_keys(cap_json_t *root, const char *path, const char *want);
static void is_absent(cap_json_t *root, const char *path);
static void common(cap_json_t *m, const char *type);
static void test_track(void);
static void test_identity(void);
static void test_page(void);
static void test_screen(void);
static void test_identify(void);
static void test_alias(void);
static void test_group(void);
static void test_too_large(void);
static void test_batch(void);
static void test_generated(void);
static void gen_event(gen_buf_t *g);
static int unique_keys(cap_json_t *v);
static int is_string(cap_json_t *v);


/* a pool that counts what is still allocated */
static test_pool_t   heap = TEST_POOL(heap, test_pool_free);

/* a request pool for the model: blocks in a list, freed at the end */
static test_pool_t   arena = TEST_POOL(arena, NULL);

static cap_batch_t   batch;
static const char   *row;


int
main(void)
{
    test_track();
    test_identity();
    test_page();
    test_screen();
    test_identify();
    test_alias();
    test_group();
    test_too_large();
    test_batch();
    test_generated();

    is_int(heap.live, 0, "every block freed");

    test_pool_reset(&arena);

    return tap_done();
}


/* one event object of a batch request -> the canonical event */

static cap_event_t *
event(const char *json)
{
    size_t         len;
    cap_json_t    *root;
    cap_error_t    err;
    cap_uchar_t   *p;
    cap_request_t  req;

    len = strlen(json) + sizeof("{\"api_key\":\"phc_a\",\"batch\":[]}");
    p = test_pool_alloc(&arena, len);
    len = snprintf((char *) p, len, "{\"api_key\":\"phc_a\",\"batch\":[%s]}",
                   json);

    memset(&req, 0, sizeof(cap_request_t));
    req.now = NOW;
    req.ip_policy = CAP_IP_OFF;

    root = cap_json_parse(&arena.pool, p, len, &err);

    if (root == NULL
        || cap_request_parse(&arena.pool, &req, root, &batch, &err) != CAP_OK
        || batch.nevents != 1)
    {
        printf("# event does not parse: %s\n", json);
        return NULL;
    }

    return &batch.events[0];
}


/* the message of an event, parsed back */

static cap_json_t *
encode(cap_event_t *ev)
{
    cap_buf_t    b;
    cap_json_t  *m;
    cap_error_t  err;

    if (ev == NULL) {
        return NULL;
    }

    cap_buf_init(&b, &heap.pool, 64, 0);

    if (cap_segment_message(&b, &batch, ev, NOW, CAP_SEGMENT_MAX_MESSAGE,
                            &err)
        != CAP_OK)
    {
        printf("# encoding fails: %s\n", err.text);
        cap_free(&heap.pool, b.data);
        return NULL;
    }

    m = parse_out(b.data, b.len);

    cap_free(&heap.pool, b.data);

    return m;
}


static cap_json_t *
parse_out(const cap_uchar_t *p, size_t len)
{
    cap_json_t   *v;
    cap_error_t   err;
    cap_uchar_t  *text;

    text = test_pool_alloc(&arena, len + 1);
    memcpy(text, p, len);

    v = cap_json_parse(&arena.pool, text, len, &err);

    if (v == NULL) {
        printf("# not JSON: '%.*s'\n", (int) (len > 400 ? 400 : len), p);
    }

    return v;
}


/* the value at "path", compact, is "want" (so its type and every member) */

static void
is_json(cap_json_t *root, const char *path, const char *want)
{
    cap_buf_t    b;
    cap_json_t  *v;

    v = jpath(root, path);

    if (v == NULL) {
        ok(0, "%s: %s is %s", row, path, want);
        printf("#   %s is absent\n", path);
        return;
    }

    cap_buf_init(&b, &heap.pool, 64, 0);
    cap_json_write(&b, v);

    is_str(b.data, b.len, want, "%s: %s is %s", row, path, want);

    cap_free(&heap.pool, b.data);
}


/* the keys of the object at "path", in order */

static void
is_keys(cap_json_t *root, const char *path, const char *want)
{
    char         keys[512];
    size_t       n;
    cap_json_t  *v, *c;

    v = jpath(root, path);

    if (v == NULL || v->type != CAP_JSON_OBJECT) {
        ok(0, "%s: %s has keys %s", row, *path ? path : "message", want);
        return;
    }

    n = 0;
    keys[0] = '\0';

    for (c = v->first; c != NULL; c = c->next) {
        n += snprintf(keys + n, sizeof(keys) - n, "%s%.*s",
                      c == v->first ? "" : ",", (int) c->key.len,
                      (char *) c->key.data);

        if (n >= sizeof(keys)) {
            break;
        }
    }

    is_str(keys, strlen(keys), want, "%s: %s has keys %s", row,
           *path ? path : "message", want);
}


static void
is_absent(cap_json_t *root, const char *path)
{
    ok(root != NULL && jpath(root, path) == NULL, "%s: no %s", row, path);
}


/* what every message has */

static void
common(cap_json_t *m, const char *type)
{
    char  want[64];

    ok(m != NULL && m->type == CAP_JSON_OBJECT, "%s: a JSON object", row);

    snprintf(want, sizeof(want), "\"%s\"", type);

    is_json(m, "type", want);
    is_json(m, "messageId", "\"" UUID "\"");
    is_json(m, "timestamp", "\"" TS "\"");
    is_absent(m, "sentAt");
    is_absent(m, "integrations");
}


static void
test_track(void)
{
    cap_json_t  *m;

    row = "track";

    m = encode(event("{\"event\":\"signup\",\"distinct_id\":\"anon-1\","
        HEAD "\"properties\":{\"plan\":\"team\",\"n\":1.50e3,"
        "\"ok\":true,\"nil\":null,\"arr\":[1,\"x\",{\"d\":false}],"
        "\"$session_id\":\"s1\",\"$set\":{\"a\":1},"
        "\"$ip\":\"203.0.113.9\",\"$raw_user_agent\":\"UA/1 \\\"q\\\"\","
        "\"$lib\":\"web\",\"$lib_version\":\"1.2.3\","
        "\"$browser_language\":\"en-GB\",\"$timezone\":\"Europe/London\","
        "\"$current_url\":\"https://ex.com/a/b?x=1&y=2#frag\","
        "\"$pathname\":\"/a/b\",\"$referrer\":\"https://ref.example/\","
        "\"title\":\"Hello\",\"$screen_width\":1920,"
        "\"$screen_height\":1080,\"$os\":\"Mac OS X\","
        "\"$os_version\":\"14.1\",\"$device_type\":\"Desktop\","
        "\"utm_source\":\"news\",\"utm_campaign\":\"spring\","
        "\"$device_id\":\"dev-1\"}}"));

    common(m, "track");

    is_keys(m, "", "type,messageId,timestamp,anonymousId,event,properties,"
            "context");
    is_json(m, "anonymousId", "\"anon-1\"");
    is_absent(m, "userId");
    is_json(m, "event", "\"signup\"");

    /* custom and non-context "$" properties stay, types kept */
    is_json(m, "properties",
            "{\"plan\":\"team\",\"n\":1.50e3,\"ok\":true,\"nil\":null,"
            "\"arr\":[1,\"x\",{\"d\":false}],\"$session_id\":\"s1\","
            "\"$set\":{\"a\":1},\"title\":\"Hello\",\"utm_source\":\"news\","
            "\"utm_campaign\":\"spring\",\"$device_id\":\"dev-1\"}");

    is_keys(m, "context", "ip,userAgent,library,locale,timezone,page,screen,"
            "os,device,campaign");
    is_json(m, "context.ip", "\"203.0.113.9\"");
    is_json(m, "context.userAgent", "\"UA/1 \\\"q\\\"\"");
    is_json(m, "context.library", "{\"name\":\"web\",\"version\":\"1.2.3\"}");
    is_json(m, "context.locale", "\"en-GB\"");
    is_json(m, "context.timezone", "\"Europe/London\"");
    is_json(m, "context.page",
            "{\"path\":\"/a/b\",\"referrer\":\"https://ref.example/\","
            "\"search\":\"?x=1&y=2\",\"title\":\"Hello\","
            "\"url\":\"https://ex.com/a/b?x=1&y=2#frag\"}");
    is_json(m, "context.screen", "{\"width\":1920,\"height\":1080}");
    is_json(m, "context.os", "{\"name\":\"Mac OS X\",\"version\":\"14.1\"}");
    is_json(m, "context.device", "{\"type\":\"Desktop\"}");
    is_json(m, "context.campaign", "{\"name\":\"spring\",\"source\":\"news\"}");

    /* nothing for context: no context, and empty properties */

    row = "bare track";

    m = encode(event("{\"event\":\"ping\",\"distinct_id\":7," HEAD
                     "\"properties\":{}}"));

    common(m, "track");
    is_keys(m, "", "type,messageId,timestamp,anonymousId,event,properties");
    is_json(m, "anonymousId", "\"7\"");
    is_json(m, "properties", "{}");
    is_absent(m, "context");

    /* $locale wins; $browser_language then stays; nulls are absent */

    row = "locale";

    m = encode(event("{\"event\":\"$autocapture\",\"distinct_id\":\"d\","
        HEAD "\"properties\":{\"$locale\":\"fr-FR\","
        "\"$browser_language\":\"fr\",\"$os\":null,\"$screen_density\":2,"
        "\"$current_url\":\"https://ex.com/p?\",\"utm_term\":\"t\","
        "\"utm_medium\":\"m\",\"utm_content\":\"c\",\"$event_type\":\"click\""
        "}}"));

    common(m, "track");
    is_json(m, "event", "\"$autocapture\"");
    is_json(m, "properties",
            "{\"$browser_language\":\"fr\",\"utm_term\":\"t\","
            "\"utm_medium\":\"m\",\"utm_content\":\"c\","
            "\"$event_type\":\"click\"}");
    is_keys(m, "context", "locale,page,screen,campaign");
    is_json(m, "context.locale", "\"fr-FR\"");
    is_json(m, "context.page", "{\"url\":\"https://ex.com/p?\"}");
    is_json(m, "context.screen", "{\"density\":2}");
    is_json(m, "context.campaign",
            "{\"medium\":\"m\",\"term\":\"t\",\"content\":\"c\"}");
    is_absent(m, "context.os");
}


/* userId for identified users, anonymousId otherwise */

static void
test_identity(void)
{
    cap_json_t  *m;

    row = "$is_identified";

    m = encode(event("{\"event\":\"buy\",\"distinct_id\":\"u-1\"," HEAD
                     "\"properties\":{\"$is_identified\":true}}"));

    common(m, "track");
    is_keys(m, "", "type,messageId,timestamp,userId,event,properties");
    is_json(m, "userId", "\"u-1\"");
    is_json(m, "properties", "{\"$is_identified\":true}");

    row = "$user_id";

    m = encode(event("{\"event\":\"buy\",\"distinct_id\":\"u-2\"," HEAD
                     "\"properties\":{\"$is_identified\":false,"
                     "\"$user_id\":\"u-2\"}}"));

    is_json(m, "userId", "\"u-2\"");
    is_absent(m, "anonymousId");

    row = "anonymous";

    m = encode(event("{\"event\":\"buy\",\"distinct_id\":\"a-3\"," HEAD
                     "\"properties\":{\"$is_identified\":false,"
                     "\"$user_id\":null,\"$anon_distinct_id\":\"x\"}}"));

    is_json(m, "anonymousId", "\"a-3\"");
    is_absent(m, "userId");
    is_json(m, "properties",
            "{\"$is_identified\":false,\"$user_id\":null,"
            "\"$anon_distinct_id\":\"x\"}");
}


static void
test_page(void)
{
    cap_json_t  *m;

    row = "page";

    m = encode(event("{\"event\":\"$pageview\",\"distinct_id\":\"anon-2\","
        HEAD "\"properties\":{\"$current_url\":"
        "\"https://ex.com/docs/?q=a%20b&p=2#top\",\"$pathname\":\"/docs/\","
        "\"$referrer\":\"$direct\",\"title\":\"Docs \\u00e9\","
        "\"section\":\"guides\",\"url\":\"shadowed\",\"n\":[1,2],"
        "\"$host\":\"ex.com\",\"$session_id\":\"s\",\"$ip\":\"::1\","
        "\"$screen_width\":390,\"utm_source\":\"x\"}}"));

    common(m, "page");
    is_keys(m, "", "type,messageId,timestamp,anonymousId,name,properties,"
            "context");
    is_json(m, "anonymousId", "\"anon-2\"");
    is_json(m, "name", "\"Docs \xc3\xa9\"");

    /* the page fields, then the properties without "$" not mapped */
    is_json(m, "properties",
            "{\"url\":\"https://ex.com/docs/?q=a%20b&p=2#top\","
            "\"path\":\"/docs/\",\"referrer\":\"$direct\","
            "\"title\":\"Docs \xc3\xa9\",\"search\":\"?q=a%20b&p=2\","
            "\"section\":\"guides\",\"n\":[1,2],\"utm_source\":\"x\"}");

    is_keys(m, "context", "ip,page,screen,campaign");
    is_json(m, "context.ip", "\"::1\"");
    is_json(m, "context.page",
            "{\"path\":\"/docs/\",\"referrer\":\"$direct\","
            "\"search\":\"?q=a%20b&p=2\",\"title\":\"Docs \xc3\xa9\","
            "\"url\":\"https://ex.com/docs/?q=a%20b&p=2#top\"}");
    is_json(m, "context.screen", "{\"width\":390}");
    is_json(m, "context.campaign", "{\"source\":\"x\"}");

    /* a title that is not a string: no name; "?" in the fragment only */

    row = "page, no name";

    m = encode(event("{\"event\":\"$pageview\",\"distinct_id\":\"u\","
        HEAD "\"properties\":{\"$is_identified\":true,\"title\":5,"
        "\"$current_url\":\"https://ex.com/p#a?b\",\"url\":\"shadowed\"}}"));

    common(m, "page");
    is_keys(m, "", "type,messageId,timestamp,userId,properties,context");
    is_json(m, "userId", "\"u\"");
    is_json(m, "properties",
            "{\"url\":\"https://ex.com/p#a?b\",\"title\":5}");
    is_json(m, "context.page",
            "{\"title\":5,\"url\":\"https://ex.com/p#a?b\"}");

    row = "page, nothing";

    m = encode(event("{\"event\":\"$pageview\",\"distinct_id\":\"a\","
        HEAD "\"properties\":{\"title\":null,\"url\":\"custom\","
        "\"$current_url\":7}}"));

    common(m, "page");
    is_absent(m, "name");
    is_json(m, "properties", "{\"url\":7,\"title\":null}");
    is_json(m, "context.page", "{\"url\":7}");
}


static void
test_screen(void)
{
    cap_json_t  *m;

    row = "screen";

    m = encode(event("{\"event\":\"$screen\",\"distinct_id\":\"dev-9\","
        HEAD "\"properties\":{\"$screen_name\":\"Home\",\"tab\":\"feed\","
        "\"count\":3,\"$app_version\":\"1.0\",\"$os\":\"iOS\","
        "\"$os_version\":\"17.2\",\"$screen_width\":390,"
        "\"$screen_height\":844,\"$screen_density\":3,"
        "\"$device_type\":\"Mobile\",\"$lib\":\"posthog-ios\","
        "\"$locale\":\"en-US\",\"$timezone\":\"America/New_York\"}}"));

    common(m, "screen");
    is_keys(m, "", "type,messageId,timestamp,anonymousId,name,properties,"
            "context");
    is_json(m, "anonymousId", "\"dev-9\"");
    is_json(m, "name", "\"Home\"");
    is_json(m, "properties", "{\"tab\":\"feed\",\"count\":3}");
    is_keys(m, "context", "library,locale,timezone,screen,os,device,app");
    is_json(m, "context.library", "{\"name\":\"posthog-ios\"}");
    is_json(m, "context.locale", "\"en-US\"");
    is_json(m, "context.timezone", "\"America/New_York\"");
    is_json(m, "context.screen",
            "{\"width\":390,\"height\":844,\"density\":3}");
    is_json(m, "context.os", "{\"name\":\"iOS\",\"version\":\"17.2\"}");
    is_json(m, "context.device", "{\"type\":\"Mobile\"}");
    is_json(m, "context.app", "{\"version\":\"1.0\"}");

    /* posthog-js' token and distinct_id stay home; app and device go */

    row = "track, token";

    m = encode(event("{\"event\":\"tapped\",\"distinct_id\":\"d\"," HEAD
                     "\"properties\":{\"token\":\"phc_x\","
                     "\"distinct_id\":\"d\",\"k\":1,"
                     "\"$app_name\":\"Shop\",\"$app_build\":\"42\","
                     "\"$app_namespace\":\"com.ex.shop\","
                     "\"$device_manufacturer\":\"Apple\","
                     "\"$device_model\":\"iPhone15,2\"}}"));

    is_json(m, "properties", "{\"k\":1}");
    is_json(m, "context.app", "{\"name\":\"Shop\",\"build\":\"42\","
            "\"namespace\":\"com.ex.shop\"}");
    is_json(m, "context.device", "{\"manufacturer\":\"Apple\","
            "\"model\":\"iPhone15,2\"}");

    row = "screen, no name";

    m = encode(event("{\"event\":\"$screen\",\"distinct_id\":\"d\"," HEAD
                     "\"properties\":{\"$screen_name\":1}}"));

    common(m, "screen");
    is_keys(m, "", "type,messageId,timestamp,anonymousId,properties");
    is_json(m, "properties", "{}");
}


static void
test_identify(void)
{
    cap_json_t  *m;

    row = "identify";

    m = encode(event("{\"event\":\"$identify\",\"distinct_id\":\"user-7\","
        HEAD "\"properties\":{\"$anon_distinct_id\":\"anon-7\","
        "\"$set\":{\"email\":\"a@ex.com\",\"plan\":\"pro\",\"n\":null},"
        "\"$set_once\":{\"plan\":\"free\",\"first\":\"2024\","
        "\"o\":{\"k\":[true]}},\"x\":1,\"$lib\":\"web\"}}"));

    common(m, "identify");
    is_keys(m, "", "type,messageId,timestamp,userId,anonymousId,traits,"
            "context");
    is_json(m, "userId", "\"user-7\"");
    is_json(m, "anonymousId", "\"anon-7\"");

    /* $set first; of $set_once only what $set has not */
    is_json(m, "traits",
            "{\"email\":\"a@ex.com\",\"plan\":\"pro\",\"n\":null,"
            "\"first\":\"2024\",\"o\":{\"k\":[true]}}");
    is_absent(m, "properties");
    is_json(m, "context", "{\"library\":{\"name\":\"web\"}}");

    /* top-level $set and $set_once are folded into the properties */

    row = "identify, top-level $set";

    m = encode(event("{\"event\":\"$identify\",\"distinct_id\":\"user-8\","
        HEAD "\"$set\":{\"a\":1},\"$set_once\":{\"b\":2},"
        "\"properties\":{\"$anon_distinct_id\":\"\"}}"));

    common(m, "identify");
    is_keys(m, "", "type,messageId,timestamp,userId,traits");
    is_json(m, "traits", "{\"a\":1,\"b\":2}");

    row = "identify, no traits";

    m = encode(event("{\"event\":\"$identify\",\"distinct_id\":\"user-9\","
        HEAD "\"properties\":{\"$anon_distinct_id\":12,\"$set\":[1]}}"));

    is_json(m, "anonymousId", "\"12\"");
    is_json(m, "traits", "{}");

    /* $set events: identify, with the usual identity rule */

    row = "$set, anonymous";

    m = encode(event("{\"event\":\"$set\",\"distinct_id\":\"anon-5\"," HEAD
        "\"properties\":{\"$set\":{\"theme\":\"dark\"},"
        "\"$anon_distinct_id\":\"other\"}}"));

    common(m, "identify");
    is_keys(m, "", "type,messageId,timestamp,anonymousId,traits");
    is_json(m, "anonymousId", "\"anon-5\"");
    is_json(m, "traits", "{\"theme\":\"dark\"}");

    row = "$set, identified";

    m = encode(event("{\"event\":\"$set\",\"distinct_id\":\"user-5\"," HEAD
        "\"properties\":{\"$is_identified\":true,"
        "\"$set_once\":{\"k\":\"v\"}}}"));

    is_keys(m, "", "type,messageId,timestamp,userId,traits");
    is_json(m, "userId", "\"user-5\"");
    is_json(m, "traits", "{\"k\":\"v\"}");
}


/* previousId = the alias, userId = distinct_id (docs/mappings.md) */

static void
test_alias(void)
{
    cap_json_t  *m;

    row = "alias";

    m = encode(event("{\"event\":\"$create_alias\",\"distinct_id\":\"user-1\","
        HEAD "\"properties\":{\"alias\":\"anon-1\",\"distinct_id\":\"user-1\","
        "\"$is_identified\":false,\"$lib\":\"posthog-node\","
        "\"$lib_version\":\"4.0.0\"}}"));

    common(m, "alias");
    is_keys(m, "", "type,messageId,timestamp,userId,previousId,context");
    is_json(m, "userId", "\"user-1\"");
    is_json(m, "previousId", "\"anon-1\"");
    is_json(m, "context",
            "{\"library\":{\"name\":\"posthog-node\",\"version\":\"4.0.0\"}}");

    row = "alias, a number";

    m = encode(event("{\"event\":\"$create_alias\",\"distinct_id\":\"u\","
        HEAD "\"properties\":{\"alias\":42}}"));

    is_keys(m, "", "type,messageId,timestamp,userId,previousId");
    is_json(m, "previousId", "\"42\"");

    /* no usable alias: a track, not an alias Segment would drop */

    row = "alias, none";

    m = encode(event("{\"event\":\"$create_alias\",\"distinct_id\":\"u\","
        HEAD "\"properties\":{\"alias\":\"\",\"distinct_id\":\"u\"}}"));

    common(m, "track");
    is_json(m, "event", "\"$create_alias\"");
    is_json(m, "anonymousId", "\"u\"");
    is_json(m, "properties", "{\"alias\":\"\"}");
}


static void
test_group(void)
{
    cap_json_t  *m;

    row = "group";

    m = encode(event("{\"event\":\"$groupidentify\",\"distinct_id\":\"u-4\","
        HEAD "\"properties\":{\"$group_type\":\"company\","
        "\"$group_key\":123,\"$group_set\":{\"name\":\"Acme\","
        "\"group_type\":\"other\",\"seats\":5,\"tags\":[\"a\"]},"
        "\"$is_identified\":true,\"$ip\":\"198.51.100.1\"}}"));

    common(m, "group");
    is_keys(m, "", "type,messageId,timestamp,userId,groupId,traits,context");
    is_json(m, "userId", "\"u-4\"");
    is_json(m, "groupId", "\"123\"");

    /* the group type kept as traits.group_type, over $group_set's */
    is_json(m, "traits",
            "{\"name\":\"Acme\",\"seats\":5,\"tags\":[\"a\"],"
            "\"group_type\":\"company\"}");
    is_absent(m, "properties");
    is_json(m, "context", "{\"ip\":\"198.51.100.1\"}");

    row = "group, no type";

    m = encode(event("{\"event\":\"$groupidentify\",\"distinct_id\":\"a\","
        HEAD "\"properties\":{\"$group_key\":\"acme\\\"inc\","
        "\"$group_set\":{\"group_type\":\"kept\"}}}"));

    is_keys(m, "", "type,messageId,timestamp,anonymousId,groupId,traits");
    is_json(m, "groupId", "\"acme\\\"inc\"");
    is_json(m, "traits", "{\"group_type\":\"kept\"}");

    row = "group, no $group_set";

    m = encode(event("{\"event\":\"$groupidentify\",\"distinct_id\":\"a\","
        HEAD "\"properties\":{\"$group_key\":\"k\","
        "\"$group_type\":\"project\"}}"));

    is_json(m, "traits", "{\"group_type\":\"project\"}");

    row = "group, no key";

    m = encode(event("{\"event\":\"$groupidentify\",\"distinct_id\":\"a\","
        HEAD "\"properties\":{\"$group_key\":null,"
        "\"$group_type\":\"company\"}}"));

    common(m, "track");
    is_json(m, "event", "\"$groupidentify\"");
    is_json(m, "properties",
            "{\"$group_key\":null,\"$group_type\":\"company\"}");
}


/* over its limit: an error, and the buffer as it was */

static void
test_too_large(void)
{
    int           rc;
    char         *big;
    size_t        len, n;
    cap_buf_t     b;
    cap_event_t  *ev;
    cap_error_t   err;

    row = "too large";

    n = 40000;
    big = malloc(n + 256);
    len = snprintf(big, 256, "{\"event\":\"e\",\"distinct_id\":\"d\"," HEAD
                   "\"properties\":{\"s\":\"");
    memset(big + len, 'x', n);
    len += n;
    memcpy(big + len, "\"}}", 4);

    ev = event(big);
    free(big);

    ok(ev != NULL, "a 40 KB event parses");

    cap_buf_init(&b, &heap.pool, 16, 0);
    cap_buf_append_literal(&b, "[prefix,");

    err.code = CAP_E_NONE;
    rc = cap_segment_message(&b, &batch, ev, NOW, CAP_SEGMENT_MAX_MESSAGE,
                             &err);

    ok(rc == CAP_ERROR, "over 32 KB: fails");
    is_int(err.code, CAP_E_EVENT_TOO_LARGE, "with CAP_E_EVENT_TOO_LARGE");
    is_str(b.data, b.len, "[prefix,", "the buffer is as it was");
    ok(!b.overflow && !b.nomem && b.max == 0, "and so are its flags");
    ok(b.size < 2 * CAP_SEGMENT_MAX_MESSAGE,
       "stopped early: %zu bytes allocated", b.size);

    ok(cap_segment_message(&b, &batch, ev, NOW, 0, &err) == CAP_OK
       && b.len > 40000, "no limit: encodes");

    cap_free(&heap.pool, b.data);

    /* the limit is exact, escapes and all */

    ev = event("{\"event\":\"e\",\"distinct_id\":\"d\"," HEAD
               "\"properties\":{\"q\":\"\\\"\\\"\\\"\\n\\n\\u0001\\u0001\"}}");

    cap_buf_init(&b, &heap.pool, 16, 0);
    cap_segment_message(&b, &batch, ev, NOW, 0, &err);
    len = b.len;

    b.len = 0;
    ok(cap_segment_message(&b, &batch, ev, NOW, len, &err) == CAP_OK
       && b.len == len, "a message of exactly the limit (%zu) encodes", len);

    b.len = 0;
    ok(cap_segment_message(&b, &batch, ev, NOW, len - 1, &err) == CAP_ERROR
       && err.code == CAP_E_EVENT_TOO_LARGE && b.len == 0,
       "one byte over: CAP_E_EVENT_TOO_LARGE");

    cap_free(&heap.pool, b.data);

    /* the buffer's own bound (the batch): CAP_E_BODY_TOO_LARGE */

    cap_buf_init(&b, &heap.pool, 16, 64);
    cap_buf_append_literal(&b, "{\"batch\":[");

    ok(cap_segment_message(&b, &batch, ev, NOW, CAP_SEGMENT_MAX_MESSAGE,
                           &err) == CAP_ERROR
       && err.code == CAP_E_BODY_TOO_LARGE,
       "past the buffer's max: CAP_E_BODY_TOO_LARGE");
    is_str(b.data, b.len, "{\"batch\":[", "the buffer is as it was");
    ok(!b.overflow && b.max == 64, "and so are its flags");

    cap_free(&heap.pool, b.data);
}


static void
test_batch(void)
{
    cap_buf_t    b;
    cap_json_t  *body, *v;
    cap_error_t  err;

    row = "batch";

    cap_buf_init(&b, &heap.pool, 16, 0);

    ok(cap_segment_batch_open(&b) == CAP_OK
       && cap_segment_batch_close(&b, NOW) == CAP_OK, "an empty body");
    is_str(b.data, b.len,
           "{\"batch\":[],\"sentAt\":\"2024-01-02T03:04:05.000Z\"}",
           "the empty body");

    b.len = 0;

    ok(cap_segment_batch_open(&b) == CAP_OK
       && cap_segment_message(&b, &batch,
                              event("{\"event\":\"a\",\"distinct_id\":\"d\","
                                    HEAD "\"properties\":{}}"),
                              NOW, CAP_SEGMENT_MAX_MESSAGE, &err) == CAP_OK
       && cap_buf_put(&b, ',') == CAP_OK
       && cap_segment_message(&b, &batch,
                              event("{\"event\":\"$pageview\","
                                    "\"distinct_id\":\"d\"," HEAD
                                    "\"properties\":{\"title\":\"T\"}}"),
                              NOW, CAP_SEGMENT_MAX_MESSAGE, &err) == CAP_OK
       && cap_segment_batch_close(&b, NOW + 1) == CAP_OK,
       "a body of two messages");

    body = parse_out(b.data, b.len);

    is_keys(body, "", "batch,sentAt");
    is_json(body, "sentAt", "\"2024-01-02T03:04:05.001Z\"");

    v = jpath(body, "batch");
    ok(v != NULL && v->type == CAP_JSON_ARRAY && v->count == 2,
       "batch: an array of 2");

    if (v != NULL && v->count == 2) {
        is_json(v->first, "type", "\"track\"");
        is_json(v->first, "event", "\"a\"");
        is_json(v->last, "type", "\"page\"");
        is_json(v->last, "name", "\"T\"");
    }

    cap_free(&heap.pool, b.data);
}


/*
 * Properties of the mapping, on generated events: the output is JSON,
 * one object without duplicate keys, with its type, messageId, timestamp
 * and an id; the limit keeps a message whole or the buffer unchanged.
 */

static const char  *gen_names[] = {
    "$pageview", "$screen", "$identify", "$set", "$create_alias",
    "$groupidentify", "$autocapture", "signup", "clicked \\\"buy\\\"",
    "$pageleave"
};

static const char  *gen_keys[] = {
    "$ip", "$raw_user_agent", "$lib", "$lib_version", "$locale",
    "$browser_language", "$timezone", "$current_url", "$pathname",
    "$referrer", "title", "$screen_width", "$screen_height",
    "$screen_density", "$os", "$os_version", "$device_type", "utm_campaign",
    "utm_source", "utm_medium", "utm_term", "utm_content", "$screen_name",
    "$set", "$set_once", "$anon_distinct_id", "alias", "$group_type",
    "$group_key", "$group_set", "$is_identified", "$user_id", "$session_id",
    "$device_id", "url", "path", "search", "referrer", "name", "group_type",
    "plan", "k\\\"q", "\\u00e9t\\u00e9", "", "$"
};

static const char  *gen_bits[] = {
    "a", "Z", "0", " ", "\\\"", "\\\\", "\\n", "\\u00e9", "\xe2\x82\xac",
    "/", "?", "#", "=", "&", "\\u0001", "https://ex.com/", "x"
};

static const char  *gen_scalars[] = {
    "null", "true", "false", "0", "-1.5e3", "42", "1E+2"
};

static const gen_json_t  gen_tables = {
    gen_keys, gen_nelts(gen_keys), gen_bits, gen_nelts(gen_bits),
    gen_scalars, gen_nelts(gen_scalars), "\""
};


static void
test_generated(void)
{
    int           rc;
    size_t        i, len, max;
    unsigned      parsed, shaped, typed, ids, uniq, limited, kinds, over;
    cap_buf_t     b, lim;
    gen_buf_t     g;
    cap_json_t   *m, *v;
    cap_event_t  *ev;
    cap_error_t   err;

    static const char  *types[] = {
        "track", "page", "screen", "identify", "alias", "group"
    };

    parsed = shaped = typed = ids = uniq = limited = kinds = over = 0;

    gen_state = GEN_SEED;
    gen_json = &gen_tables;

    g.size = 65536;
    g.data = malloc(g.size);

    cap_buf_init(&b, &heap.pool, 64, 0);
    cap_buf_init(&lim, &heap.pool, 64, 0);

    for (i = 0; i < GEN_EVENTS; i++) {
        g.len = 0;
        gen_event(&g);

        ev = event(g.data);
        if (ev == NULL) {
            continue;
        }

        b.len = 0;

        if (cap_segment_message(&b, &batch, ev, NOW, 0, &err) != CAP_OK) {
            printf("# event %zu: %s\n", i, err.text);
            continue;
        }

        m = parse_out(b.data, b.len);
        if (m == NULL) {
            printf("# event %zu: %s\n", i, g.data);
            continue;
        }

        parsed++;

        if (m->type == CAP_JSON_OBJECT) {
            shaped++;
        }

        v = cap_json_get_literal(m, "type");

        for (len = 0; len < gen_nelts(types); len++) {
            if (is_string(v) && v->str.len == strlen(types[len])
                && memcmp(v->str.data, types[len], v->str.len) == 0)
            {
                kinds |= 1u << len;
                break;
            }
        }

        v = cap_json_get_literal(m, "messageId");

        if (len < gen_nelts(types) && is_string(v)
            && v->str.len == CAP_UUID_LEN
            && memcmp(v->str.data, ev->uuid, CAP_UUID_LEN) == 0
            && is_string(cap_json_get_literal(m, "timestamp")))
        {
            typed++;

        } else {
            printf("# event %zu: type or messageId: %.*s\n", i,
                   (int) b.len, b.data);
        }

        if (is_string(cap_json_get_literal(m, "userId"))
            || is_string(cap_json_get_literal(m, "anonymousId")))
        {
            ids++;

        } else {
            printf("# event %zu: no id: %.*s\n", i, (int) b.len, b.data);
        }

        if (unique_keys(m)) {
            uniq++;

        } else {
            printf("# event %zu: duplicate keys: %.*s\n", i, (int) b.len,
                   b.data);
        }

        /*
         * A limit near the message's length (or anywhere below it), in a
         * buffer that holds something already.
         */

        max = (gen_rand() % 2) ? b.len + gen_rand() % 17 - 8
                               : 1 + gen_rand() % b.len;

        lim.len = 0;
        cap_buf_append_literal(&lim, "prefix");

        rc = cap_segment_message(&lim, &batch, ev, NOW, max, &err);

        if (b.len > max) {
            over++;
        }

        if (b.len <= max
            ? rc == CAP_OK && lim.len == 6 + b.len
              && memcmp(lim.data + 6, b.data, b.len) == 0
            : rc == CAP_ERROR && err.code == CAP_E_EVENT_TOO_LARGE
              && lim.len == 6 && !lim.overflow)
        {
            limited++;

        } else {
            printf("# event %zu: limit %zu for %zu bytes: rc %d\n", i, max,
                   b.len, rc);
        }
    }

    is_int(parsed, GEN_EVENTS, "%d generated events: the output parses",
           GEN_EVENTS);
    is_int(shaped, GEN_EVENTS, "and is an object");
    is_int(typed, GEN_EVENTS, "with a type, messageId = uuid, a timestamp");
    is_int(ids, GEN_EVENTS, "with userId or anonymousId");
    is_int(uniq, GEN_EVENTS, "without duplicate keys in any object");
    is_int(limited, GEN_EVENTS,
           "a random limit: the whole message or the buffer unchanged");
    is_int(kinds, 0x3f, "every type was made");

    printf("# %u of the messages over their random limit\n", over);

    cap_free(&heap.pool, b.data);
    cap_free(&heap.pool, lim.data);
    free(g.data);
}


static void
gen_event(gen_buf_t *g)
{
    gen_add(g, "{\"event\":\"");
    gen_add(g, gen_names[gen_rand() % gen_nelts(gen_names)]);
    gen_add(g, "\",\"distinct_id\":");
    gen_id(g);
    gen_add(g, ",\"properties\":");
    gen_object(g, 0);
    gen_add(g, "}");
}


/* no object of the tree has a key twice */

static int
unique_keys(cap_json_t *v)
{
    cap_json_t  *a, *c;

    if (v->type != CAP_JSON_OBJECT && v->type != CAP_JSON_ARRAY) {
        return 1;
    }

    for (a = v->first; a != NULL; a = a->next) {

        if (v->type == CAP_JSON_OBJECT) {
            for (c = a->next; c != NULL; c = c->next) {
                if (a->key.len == c->key.len
                    && (a->key.len == 0
                        || memcmp(a->key.data, c->key.data, a->key.len) == 0))
                {
                    return 0;
                }
            }
        }

        if (!unique_keys(a)) {
            return 0;
        }
    }

    return 1;
}


static int
is_string(cap_json_t *v)
{
    return v != NULL && v->type == CAP_JSON_STRING && v->str.len > 0;
}
