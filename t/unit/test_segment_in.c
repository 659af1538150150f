
/*
 * Unit tests of Segment-spec ingestion (cap_segment_ingest()): every row
 * of the reverse table in docs/mappings.md, on the events the request
 * model makes of the result; the requests refused and their texts; the
 * uuids; the time and its skew; the batch body's context; and the round
 * trip PostHog -> Segment (src/encode/cap_segment.c) -> PostHog over
 * generated events.
 *
 * JSON in this file is written with ' for " (sq()); none of the texts
 * has an apostrophe of its own.
 */


#include "tap.h"
#include "pool.h"
#include "gen_json.h"
#include "util.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW      1704164645000LL     /* 2024-01-02T03:04:05.000Z */
#define TOKEN    "phc_seg"
#define UUID     "0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07"

#define GEN_EVENTS  300
#define GEN_SEED    0x6d2b79f5


static char *sq(const char *s);
static char *text(cap_json_t *v);
static cap_json_t *parse(const char *s, size_t len);
static cap_json_t *jsq(const char *s);
static cap_json_t *ingest(cap_segment_kind_t kind, const char *body);
static cap_event_t *accept(cap_segment_kind_t kind, const char *body);
static int model(cap_json_t *root, cap_msec_t now);
static void refused(cap_segment_kind_t kind, const char *body,
    cap_err_code_t code, const char *want);
static void is_json(cap_json_t *root, const char *path, const char *want);
static void is_keys(cap_json_t *root, const char *path, const char *want);
static void is_event(cap_event_t *ev, const char *name, const char *id);
static void is_props(cap_event_t *ev, const char *want);
static void test_kinds(void);
static void test_track(void);
static void test_ids(void);
static void test_page(void);
static void test_screen(void);
static void test_identify(void);
static void test_group(void);
static void test_alias(void);
static void test_refused(void);
static void test_uuid(void);
static void test_time(void);
static void test_merge(void);
static void test_single(void);
static void test_unchanged(void);
static void test_round_trip(void);
static void test_generated(void);
static int uuid_form(const cap_uchar_t *u, int version);
static cap_json_t *encode(cap_event_t *ev, cap_batch_t *b);
static cap_json_t *back(cap_json_t *m, cap_msec_t now);
static int same(cap_json_t *a, cap_json_t *b);
static int same_id(cap_json_t *a, cap_json_t *b);
static int usable(cap_json_t *v);
static cap_json_t *present(cap_json_t *obj, const char *key);
static int is_type(cap_json_t *m, const char *type);
static void drop(cap_json_t *obj, const char *key);
static const char *trip(cap_event_t *e1, cap_event_t *e2, cap_json_t *m1);
static void gen_event(gen_buf_t *g);


/* a request pool: blocks in a list, freed at the end */
static test_pool_t   arena = TEST_POOL(arena, NULL);

static cap_str_t     token = cap_string(TOKEN);
static cap_str_t     workspace = cap_string("workspace");
static cap_str_t    *default_type = &workspace;
static cap_batch_t   batch;
static cap_error_t   err;
static cap_json_t   *out;
static const char   *row;


int
main(void)
{
    test_kinds();
    test_track();
    test_ids();
    test_page();
    test_screen();
    test_identify();
    test_group();
    test_alias();
    test_refused();
    test_uuid();
    test_time();
    test_merge();
    test_single();
    test_unchanged();
    test_round_trip();
    test_generated();

    test_pool_reset(&arena);

    return tap_done();
}


/* ' -> " */

static char *
sq(const char *s)
{
    char    *p;
    size_t   i, n;

    n = strlen(s);
    p = test_pool_alloc(&arena, n + 1);

    for (i = 0; i <= n; i++) {
        p[i] = (s[i] == '\'') ? '"' : s[i];
    }

    return p;
}


/* compact JSON of a value, NUL-terminated; "(absent)" for NULL */

static char *
text(cap_json_t *v)
{
    cap_buf_t  b;

    if (v == NULL) {
        return "(absent)";
    }

    cap_buf_init(&b, &arena.pool, 64, 0);
    cap_json_write(&b, v);
    cap_buf_put(&b, '\0');

    return (char *) b.data;
}


static cap_json_t *
parse(const char *s, size_t len)
{
    cap_uchar_t  *p;
    cap_error_t   e;
    cap_json_t   *v;

    p = test_pool_alloc(&arena, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';

    v = cap_json_parse(&arena.pool, p, len, &e);
    if (v == NULL) {
        printf("# not JSON (%s): %.*s\n", e.text, (int) len, s);
    }

    return v;
}


static cap_json_t *
jsq(const char *s)
{
    char  *p;

    p = sq(s);

    return parse(p, strlen(p));
}


/* the body (with ' for ") mapped; NULL and "err" when refused */

static cap_json_t *
ingest(cap_segment_kind_t kind, const char *body)
{
    cap_json_t  *root;

    root = jsq(body);

    if (root == NULL) {
        return NULL;
    }

    memset(&err, 0, sizeof(cap_error_t));

    out = cap_segment_ingest(&arena.pool, root, kind, &token, default_type,
                             &err);

    return out;
}


/* the PostHog batch through the model, at "now" */

static int
model(cap_json_t *root, cap_msec_t now)
{
    cap_request_t  req;

    memset(&req, 0, sizeof(cap_request_t));
    req.now = now;
    req.ip_policy = CAP_IP_OFF;

    memset(&err, 0, sizeof(cap_error_t));

    return cap_request_parse(&arena.pool, &req, root, &batch, &err);
}


/* one message, mapped and accepted by the model: its event */

static cap_event_t *
accept(cap_segment_kind_t kind, const char *body)
{
    if (ingest(kind, body) == NULL) {
        ok(0, "%s: mapped", row);
        printf("#   %s\n", err.text);
        return NULL;
    }

    if (model(out, NOW) != CAP_OK || batch.nevents != 1) {
        ok(0, "%s: accepted by the model", row);
        printf("#   %s\n#   %s\n", err.text, text(out));
        return NULL;
    }

    ok(1, "%s: mapped and accepted", row);

    return &batch.events[0];
}


static void
refused(cap_segment_kind_t kind, const char *body, cap_err_code_t code,
    const char *want)
{
    cap_json_t  *r;

    r = ingest(kind, body);

    ok(r == NULL && err.code == code && cap_error_status(code) == 400,
       "%s: refused with %s (400)", row, cap_error_name(code));
    is_str(err.text, strlen(err.text), want, "%s: the text", row);
}


static void
is_json(cap_json_t *root, const char *path, const char *want)
{
    char  *got, *w;

    got = text(jpath(root, path));
    w = sq(want);

    is_str(got, strlen(got), w, "%s: %s is %s", row, *path ? path : "it",
           w);
}


static void
is_keys(cap_json_t *root, const char *path, const char *want)
{
    char         keys[1024];
    size_t       n;
    cap_json_t  *v, *c;

    v = jpath(root, path);
    n = 0;
    keys[0] = '\0';

    for (c = (v && v->type == CAP_JSON_OBJECT) ? v->first : NULL;
         c != NULL && n < sizeof(keys);
         c = c->next)
    {
        n += snprintf(keys + n, sizeof(keys) - n, "%s%.*s",
                      c == v->first ? "" : ",", (int) c->key.len,
                      (char *) c->key.data);
    }

    is_str(keys, strlen(keys), want, "%s: %s has keys %s", row,
           *path ? path : "it", want);
}


static void
is_event(cap_event_t *ev, const char *name, const char *id)
{
    if (ev == NULL) {
        ok(0, "%s: event %s", row, name);
        ok(0, "%s: distinct_id %s", row, id);
        return;
    }

    is_str(ev->event.data, ev->event.len, name, "%s: event %s", row, name);
    is_str(ev->distinct_id.data, ev->distinct_id.len, id,
           "%s: distinct_id %s", row, id);
}


static void
is_props(cap_event_t *ev, const char *want)
{
    char  *got, *w;

    got = ev ? text(ev->properties) : "(no event)";
    w = sq(want);

    is_str(got, strlen(got), w, "%s: properties", row);
}


static void
test_kinds(void)
{
    size_t               i;
    cap_str_t           *wk;
    cap_json_t          *root;
    cap_segment_kind_t   kind;

    static const struct {
        const char          *name;
        cap_segment_kind_t   kind;
    } names[] = {
        { "batch", CAP_SEGMENT_KIND_BATCH },
        { "b", CAP_SEGMENT_KIND_BATCH },
        { "track", CAP_SEGMENT_KIND_TRACK },
        { "t", CAP_SEGMENT_KIND_TRACK },
        { "identify", CAP_SEGMENT_KIND_IDENTIFY },
        { "i", CAP_SEGMENT_KIND_IDENTIFY },
        { "page", CAP_SEGMENT_KIND_PAGE },
        { "p", CAP_SEGMENT_KIND_PAGE },
        { "screen", CAP_SEGMENT_KIND_SCREEN },
        { "s", CAP_SEGMENT_KIND_SCREEN },
        { "group", CAP_SEGMENT_KIND_GROUP },
        { "g", CAP_SEGMENT_KIND_GROUP },
        { "alias", CAP_SEGMENT_KIND_ALIAS },
        { "a", CAP_SEGMENT_KIND_ALIAS }
    };

    static const char  *bad[] = {
        "", "x", "B", "tracks", "trac", "batch/", "v1/batch", "import"
    };

    row = "kinds";

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        kind = (cap_segment_kind_t) 99;

        ok(cap_segment_kind((cap_uchar_t *) names[i].name,
                            strlen(names[i].name), &kind) == CAP_OK
           && kind == names[i].kind, "v1/%s is kind %d", names[i].name,
           (int) names[i].kind);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(cap_segment_kind((cap_uchar_t *) bad[i], strlen(bad[i]), &kind)
           == CAP_ERROR, "v1/%s is no kind", bad[i]);
    }

    row = "writeKey";

    root = jsq("{'writeKey':'wk_1','batch':[]}");
    wk = cap_segment_write_key(root);
    ok(wk != NULL && wk->len == 4 && memcmp(wk->data, "wk_1", 4) == 0,
       "writeKey of a body");

    root = jsq("{'writeKey':''}");
    ok(cap_segment_write_key(root) == NULL, "an empty writeKey is none");

    root = jsq("{'writeKey':12}");
    ok(cap_segment_write_key(root) == NULL, "a number is none");

    root = jsq("{'batch':[]}");
    ok(cap_segment_write_key(root) == NULL, "no writeKey");

    root = jsq("[1]");
    ok(cap_segment_write_key(root) == NULL, "not an object");

    is_int(cap_error_status(CAP_E_WRITE_KEY), 401, "CAP_E_WRITE_KEY is 401");
    is_str(cap_error_name(CAP_E_WRITE_KEY), strlen("write_key"), "write_key",
           "named write_key");
    is_str(cap_error_name(CAP_E_BODY_TOO_LARGE), strlen("body_too_large"),
           "body_too_large", "the codes after it keep their names");
    is_int(cap_error_status(CAP_E_UNAVAILABLE), 503, "and statuses");

    for (i = CAP_E_NONE + 1; i < CAP_E_LAST; i++) {
        if (strcmp(cap_error_name((cap_err_code_t) i), "unknown") == 0
            || cap_error_name((cap_err_code_t) i)[0] == '\0'
            || cap_error_status((cap_err_code_t) i) < 400)
        {
            break;
        }
    }

    is_int(i, CAP_E_LAST, "every code has a name and an error status");
}


static void
test_track(void)
{
    cap_event_t  *ev;

    row = "track";

    ev = accept(CAP_SEGMENT_KIND_BATCH,
        "{'batch':[{'type':'track','event':'Signed Up','userId':'u-1',"
        "'anonymousId':'a-1','messageId':'" UUID "',"
        "'timestamp':'2024-01-02T03:04:00.000Z',"
        "'properties':{'plan':'team','n':1.50e3,'$ip':'10.0.0.1',"
        "'title':'Own','nil':null,'$lib':null,'arr':[1,{'d':false}]},"
        "'context':{'ip':'203.0.113.9','userAgent':'UA/1 \\'q\\'',"
        "'library':{'name':'analytics-node','version':'2.1.0'},"
        "'locale':'en-GB','timezone':'Europe/London',"
        "'page':{'path':'/a','referrer':'https://r.example/',"
        "'search':'?x=1','title':'Ctx','url':'https://ex.com/a?x=1'},"
        "'screen':{'width':1920,'height':1080,'density':2},"
        "'os':{'name':'Mac OS X','version':'14.1'},"
        "'device':{'type':'desktop','id':'dev-9','manufacturer':'Apple'},"
        "'campaign':{'name':'spring','source':'news','medium':'email',"
        "'term':'t','content':'c'},"
        "'app':{'name':'x'},'network':{'wifi':true},"
        "'traits':{'email':'a@b'}},"
        "'integrations':{'All':true},'_metadata':{'nodeVersion':'20'},"
        "'channel':'server'}],'sentAt':'2024-01-02T03:04:00.000Z'}");

    /* the PostHog batch itself */

    is_keys(out, "", "api_key,batch");
    is_json(out, "api_key", "'" TOKEN "'");
    is_keys(out->last->first, "",
            "event,distinct_id,uuid,timestamp,sent_at,properties");

    is_event(ev, "Signed Up", "u-1");
    ok(ev && memcmp(ev->uuid, UUID, CAP_UUID_LEN) == 0, "%s: uuid", row);
    is_int(ev ? ev->timestamp : 0, NOW, "%s: timestamp (sent now)", row);
    is_str(batch.token.data, batch.token.len, TOKEN, "%s: token", row);

    /*
     * The message's properties first and as they are (a null one is
     * filled in its place), then the ids, then context in the table's
     * order where the properties have nothing.
     */

    is_props(ev,
        "{'plan':'team','n':1.50e3,'$ip':'10.0.0.1','title':'Own',"
        "'nil':null,'$lib':'analytics-node','arr':[1,{'d':false}],"
        "'$is_identified':true,'$device_id':'a-1',"
        "'$raw_user_agent':'UA/1 \\'q\\'','$lib_version':'2.1.0',"
        "'$locale':'en-GB','$timezone':'Europe/London',"
        "'$pathname':'/a','$referrer':'https://r.example/',"
        "'$current_url':'https://ex.com/a?x=1',"
        "'$screen_width':1920,'$screen_height':1080,'$screen_density':2,"
        "'$os':'Mac OS X','$os_version':'14.1','$device_type':'desktop',"
        "'$device_manufacturer':'Apple','$app_name':'x',"
        "'utm_campaign':'spring','utm_source':'news','utm_medium':'email',"
        "'utm_term':'t','utm_content':'c'}");

    /* nothing but the name and an id */

    row = "bare track";

    ev = accept(CAP_SEGMENT_KIND_TRACK, "{'event':'ping','anonymousId':'a'}");

    is_event(ev, "ping", "a");
    is_props(ev, "{}");
    is_keys(out->last->first, "", "event,distinct_id,properties");
    ok(ev && uuid_form(ev->uuid, 7), "%s: the model's UUIDv7", row);

    row = "track, $ names";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'$autocapture','anonymousId':'a',"
                "'properties':{'$event_type':'click'}}");

    is_event(ev, "$autocapture", "a");
    is_props(ev, "{'$event_type':'click'}");
}


static void
test_ids(void)
{
    cap_event_t  *ev;

    row = "anonymous";

    ev = accept(CAP_SEGMENT_KIND_TRACK, "{'event':'e','anonymousId':'a-2'}");
    is_event(ev, "e", "a-2");
    is_props(ev, "{}");

    row = "userId only";

    ev = accept(CAP_SEGMENT_KIND_TRACK, "{'event':'e','userId':'u-2'}");
    is_event(ev, "e", "u-2");
    is_props(ev, "{'$is_identified':true}");

    row = "number ids";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':123,'anonymousId':4.5e1}");
    is_event(ev, "e", "123");
    is_props(ev, "{'$is_identified':true,'$device_id':'4.5e1'}");
    is_json(out, "batch", "[{'event':'e','distinct_id':'123',"
            "'properties':{'$is_identified':true,'$device_id':'4.5e1'}}]");

    row = "empty userId";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'','anonymousId':'a-3'}");
    is_event(ev, "e", "a-3");
    is_props(ev, "{}");

    row = "userId not an id";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':true,'anonymousId':'a-4'}");
    is_event(ev, "e", "a-4");

    row = "anonymousId not an id";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u-5','anonymousId':{}}");
    is_props(ev, "{'$is_identified':true}");

    /* the message's own properties win */

    row = "own $device_id";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','anonymousId':'a',"
                "'properties':{'$device_id':'mine','$is_identified':false}}");
    is_props(ev, "{'$device_id':'mine','$is_identified':false}");

    row = "no id";

    refused(CAP_SEGMENT_KIND_TRACK, "{'event':'e'}", CAP_E_DISTINCT_ID,
            "message 0 has neither userId nor anonymousId");
    refused(CAP_SEGMENT_KIND_TRACK,
            "{'event':'e','userId':null,'anonymousId':null}",
            CAP_E_DISTINCT_ID, "message 0 has neither userId nor anonymousId");
    refused(CAP_SEGMENT_KIND_TRACK,
            "{'event':'e','userId':'','anonymousId':[]}",
            CAP_E_DISTINCT_ID, "message 0 has neither userId nor anonymousId");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'track','event':'e','userId':'u'},"
            "{'type':'page','anonymousId':'a'},"
            "{'type':'identify','userId':false}]}",
            CAP_E_DISTINCT_ID, "message 2 has neither userId nor anonymousId");
}


static void
test_page(void)
{
    cap_event_t  *ev;

    row = "page";

    ev = accept(CAP_SEGMENT_KIND_PAGE,
        "{'anonymousId':'a','name':'Docs','properties':"
        "{'url':'https://ex.com/d?q=1','path':'/d','referrer':'$direct',"
        "'search':'?q=1','title':'Docs page','section':'guides',"
        "'$current_url':'shadowed'},"
        "'context':{'page':{'url':'ctx-url','title':'ctx-title',"
        "'path':'/ctx','search':'?ctx'}}}");

    /* page fields first, under PostHog's names; search dropped */

    is_event(ev, "$pageview", "a");
    is_props(ev,
        "{'$current_url':'https://ex.com/d?q=1','$pathname':'/d',"
        "'$referrer':'$direct','title':'Docs page','section':'guides'}");

    row = "page, name as title";

    ev = accept(CAP_SEGMENT_KIND_PAGE,
        "{'userId':'u','name':'Home','properties':{'url':null,'path':'/h',"
        "'$current_url':'own'},"
        "'context':{'page':{'url':'https://ex.com/h','title':'T'}}}");

    /* a null page field is absent: the property of that name stays */

    is_event(ev, "$pageview", "u");
    is_props(ev, "{'$pathname':'/h','$current_url':'own','title':'Home',"
             "'$is_identified':true}");

    row = "page, from context";

    ev = accept(CAP_SEGMENT_KIND_PAGE,
        "{'anonymousId':'a','name':5,"
        "'context':{'page':{'url':'https://ex.com/x','title':'T',"
        "'referrer':'','path':'/x'}}}");

    is_props(ev, "{'$pathname':'/x','$referrer':'','title':'T',"
             "'$current_url':'https://ex.com/x'}");

    row = "page, title null";

    ev = accept(CAP_SEGMENT_KIND_PAGE,
        "{'anonymousId':'a','name':'N','properties':{'title':null,"
        "'search':'?q','category':'docs'}}");

    is_props(ev, "{'title':'N','category':'docs'}");
}


static void
test_screen(void)
{
    cap_event_t  *ev;

    row = "screen";

    ev = accept(CAP_SEGMENT_KIND_SCREEN,
        "{'userId':'u','anonymousId':'d','name':'Home',"
        "'properties':{'$screen_name':'old','tab':'feed','count':3},"
        "'context':{'screen':{'width':390,'height':844,'density':3},"
        "'os':{'name':'iOS','version':'17.2'},"
        "'device':{'type':'mobile','model':'x'},"
        "'library':{'name':'analytics-ios'},'app':{'version':'1'}}}");

    is_event(ev, "$screen", "u");
    is_props(ev,
        "{'$screen_name':'Home','tab':'feed','count':3,"
        "'$is_identified':true,'$device_id':'d','$lib':'analytics-ios',"
        "'$screen_width':390,'$screen_height':844,'$screen_density':3,"
        "'$os':'iOS','$os_version':'17.2','$device_type':'mobile',"
        "'$device_model':'x','$app_version':'1'}");

    row = "screen, no name";

    ev = accept(CAP_SEGMENT_KIND_SCREEN,
                "{'anonymousId':'d','name':7,'properties':{'k':1}}");

    is_event(ev, "$screen", "d");
    is_props(ev, "{'k':1}");

    row = "screen, own $screen_name";

    ev = accept(CAP_SEGMENT_KIND_SCREEN,
                "{'anonymousId':'d','properties':{'$screen_name':'S'}}");

    is_props(ev, "{'$screen_name':'S'}");
}


static void
test_identify(void)
{
    cap_event_t  *ev;

    row = "identify";

    ev = accept(CAP_SEGMENT_KIND_IDENTIFY,
        "{'userId':'user-7','anonymousId':'anon-7',"
        "'traits':{'email':'a@ex.com','plan':'pro','o':{'k':[true]},"
        "'n':null},'properties':{'ignored':1},"
        "'context':{'ip':'198.51.100.7','traits':{'t':1},"
        "'library':{'name':'analytics.js','version':'1.0'}}}");

    is_event(ev, "$identify", "user-7");
    is_props(ev,
        "{'$set':{'email':'a@ex.com','plan':'pro','o':{'k':[true]},"
        "'n':null},'$anon_distinct_id':'anon-7','$is_identified':true,"
        "'$ip':'198.51.100.7','$lib':'analytics.js','$lib_version':'1.0'}");

    row = "identify, anonymous";

    ev = accept(CAP_SEGMENT_KIND_IDENTIFY,
                "{'anonymousId':7,'traits':{'theme':'dark'}}");

    is_event(ev, "$set", "7");
    is_props(ev, "{'$set':{'theme':'dark'}}");

    row = "identify, no traits";

    ev = accept(CAP_SEGMENT_KIND_IDENTIFY, "{'userId':'u','traits':null}");

    is_event(ev, "$identify", "u");
    is_props(ev, "{'$set':{},'$is_identified':true}");

    row = "identify in a batch";

    ev = accept(CAP_SEGMENT_KIND_BATCH,
                "{'batch':[{'type':'identify','userId':'u',"
                "'anonymousId':'','traits':{'a':1}}]}");

    is_event(ev, "$identify", "u");
    is_props(ev, "{'$set':{'a':1},'$is_identified':true}");
}


static void
test_group(void)
{
    cap_event_t  *ev;

    row = "group";

    ev = accept(CAP_SEGMENT_KIND_GROUP,
        "{'userId':'u-4','groupId':123,'traits':{'name':'Acme',"
        "'group_type':'company','seats':5},"
        "'context':{'ip':'198.51.100.1'}}");

    is_event(ev, "$groupidentify", "u-4");
    is_props(ev,
        "{'$group_type':'company','$group_key':'123',"
        "'$group_set':{'name':'Acme','seats':5},'$is_identified':true,"
        "'$ip':'198.51.100.1'}");

    row = "group, default type";

    ev = accept(CAP_SEGMENT_KIND_GROUP,
        "{'anonymousId':'a','groupId':'acme','traits':{'name':'Acme'}}");

    is_event(ev, "$groupidentify", "a");
    is_props(ev, "{'$group_type':'workspace','$group_key':'acme',"
             "'$group_set':{'name':'Acme'}}");

    row = "group, group_type not an id";

    ev = accept(CAP_SEGMENT_KIND_GROUP,
        "{'anonymousId':'a','groupId':'k','traits':{'group_type':true,"
        "'x':1}}");

    is_props(ev, "{'$group_type':'workspace','$group_key':'k',"
             "'$group_set':{'group_type':true,'x':1}}");

    row = "group, a number type, no traits";

    ev = accept(CAP_SEGMENT_KIND_GROUP,
        "{'anonymousId':'a','groupId':'k','traits':{'group_type':5}}");

    is_props(ev, "{'$group_type':'5','$group_key':'k','$group_set':{}}");

    ev = accept(CAP_SEGMENT_KIND_GROUP, "{'anonymousId':'a','groupId':'k'}");

    is_props(ev, "{'$group_type':'workspace','$group_key':'k',"
             "'$group_set':{}}");

    row = "group refused";

    refused(CAP_SEGMENT_KIND_GROUP, "{'anonymousId':'a'}", CAP_E_PARSE,
            "message 0: a group without a groupId");
    refused(CAP_SEGMENT_KIND_GROUP, "{'anonymousId':'a','groupId':''}",
            CAP_E_PARSE, "message 0: a group without a groupId");
    refused(CAP_SEGMENT_KIND_GROUP, "{'anonymousId':'a','groupId':{}}",
            CAP_E_PARSE, "message 0: a group without a groupId");

    default_type = NULL;

    refused(CAP_SEGMENT_KIND_GROUP, "{'anonymousId':'a','groupId':'k'}",
            CAP_E_PARSE, "message 0: a group without traits.group_type, "
            "and no default group type");

    row = "group, no default but a type";

    ev = accept(CAP_SEGMENT_KIND_GROUP,
        "{'anonymousId':'a','groupId':'k','traits':{'group_type':'team'}}");

    is_props(ev, "{'$group_type':'team','$group_key':'k','$group_set':{}}");

    default_type = &workspace;
}


static void
test_alias(void)
{
    cap_event_t  *ev;

    row = "alias";

    ev = accept(CAP_SEGMENT_KIND_ALIAS,
        "{'userId':'user-1','previousId':'anon-1','anonymousId':'x',"
        "'context':{'library':{'name':'analytics-node'}}}");

    /* no $is_identified: an alias's event is the user's anyway */

    is_event(ev, "$create_alias", "user-1");
    is_props(ev, "{'alias':'anon-1','$lib':'analytics-node'}");

    row = "alias, a number";

    ev = accept(CAP_SEGMENT_KIND_ALIAS, "{'userId':'u','previousId':42}");

    is_props(ev, "{'alias':'42'}");

    row = "alias refused";

    refused(CAP_SEGMENT_KIND_ALIAS, "{'userId':'u'}", CAP_E_PARSE,
            "message 0: an alias without a previousId");
    refused(CAP_SEGMENT_KIND_ALIAS, "{'userId':'u','previousId':''}",
            CAP_E_PARSE, "message 0: an alias without a previousId");
    refused(CAP_SEGMENT_KIND_ALIAS, "{'anonymousId':'a','previousId':'p'}",
            CAP_E_DISTINCT_ID, "message 0: an alias without a userId");
    refused(CAP_SEGMENT_KIND_ALIAS, "{'previousId':'p'}", CAP_E_DISTINCT_ID,
            "message 0 has neither userId nor anonymousId");
}


static void
test_refused(void)
{
    cap_json_t  *r;

    row = "body";

    refused(CAP_SEGMENT_KIND_BATCH, "[]", CAP_E_PARSE,
            "failed to parse request: the body is not an object");
    refused(CAP_SEGMENT_KIND_TRACK, "'x'", CAP_E_PARSE,
            "failed to parse request: the body is not an object");
    refused(CAP_SEGMENT_KIND_BATCH, "{}", CAP_E_PARSE,
            "failed to parse request: \"batch\" is not an array");
    refused(CAP_SEGMENT_KIND_BATCH, "{'batch':{}}", CAP_E_PARSE,
            "failed to parse request: \"batch\" is not an array");
    refused(CAP_SEGMENT_KIND_BATCH, "{'batch':[],'context':'x'}",
            CAP_E_PARSE, "failed to parse request: the batch's \"context\" "
            "is not an object");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'track','event':'e','userId':'u'},1]}",
            CAP_E_PARSE, "failed to parse request: message 1 is not an "
            "object");

    row = "type";

    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'track','event':'a','userId':'u'},"
            "{'event':'b','userId':'u'}]}",
            CAP_E_PARSE, "message 1 has no \"type\"");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':5,'event':'a','userId':'u'}]}",
            CAP_E_PARSE, "message 0 has no \"type\"");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'trak','event':'a','userId':'u'}]}",
            CAP_E_PARSE, "message 0 has an unknown type \"trak\"");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'batch','userId':'u'}]}",
            CAP_E_PARSE, "message 0 has an unknown type \"batch\"");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'Track','userId':'u'}]}",
            CAP_E_PARSE, "message 0 has an unknown type \"Track\"");
    refused(CAP_SEGMENT_KIND_BATCH,
            "{'batch':[{'type':'abcdefghijklmnopqrstuvwxyz0123456789',"
            "'userId':'u'}]}", CAP_E_PARSE,
            "message 0 has an unknown type "
            "\"abcdefghijklmnopqrstuvwxyz012345\"");
    refused(CAP_SEGMENT_KIND_TRACK,
            "{'type':'page','event':'a','userId':'u'}",
            CAP_E_PARSE, "message 0 of type \"page\" sent to v1/track");
    refused(CAP_SEGMENT_KIND_IDENTIFY, "{'type':'track','userId':'u'}",
            CAP_E_PARSE, "message 0 of type \"track\" sent to v1/identify");
    refused(CAP_SEGMENT_KIND_PAGE, "{'type':1,'userId':'u'}",
            CAP_E_PARSE, "message 0: \"type\" is not a string");

    r = ingest(CAP_SEGMENT_KIND_PAGE, "{'type':null,'userId':'u'}");
    ok(r != NULL, "a null type is no type");

    r = ingest(CAP_SEGMENT_KIND_ALIAS,
               "{'type':'alias','userId':'u','previousId':'p'}");
    ok(r != NULL, "the type of the path");

    row = "track";

    refused(CAP_SEGMENT_KIND_TRACK, "{'userId':'u'}", CAP_E_EVENT_NAME,
            "message 0: a track without an event name");
    refused(CAP_SEGMENT_KIND_TRACK, "{'event':'','userId':'u'}",
            CAP_E_EVENT_NAME, "message 0: a track without an event name");
    refused(CAP_SEGMENT_KIND_TRACK, "{'event':5,'userId':'u'}",
            CAP_E_EVENT_NAME, "message 0: a track without an event name");
    refused(CAP_SEGMENT_KIND_TRACK, "{'event':null,'userId':'u'}",
            CAP_E_EVENT_NAME, "message 0: a track without an event name");

    row = "shapes";

    refused(CAP_SEGMENT_KIND_TRACK,
            "{'event':'e','userId':'u','properties':'x'}", CAP_E_PARSE,
            "message 0: \"properties\" is not an object");
    refused(CAP_SEGMENT_KIND_PAGE, "{'userId':'u','properties':[]}",
            CAP_E_PARSE, "message 0: \"properties\" is not an object");
    refused(CAP_SEGMENT_KIND_IDENTIFY, "{'userId':'u','traits':[]}",
            CAP_E_PARSE, "message 0: \"traits\" is not an object");
    refused(CAP_SEGMENT_KIND_GROUP,
            "{'userId':'u','groupId':'g','traits':1}",
            CAP_E_PARSE, "message 0: \"traits\" is not an object");
    refused(CAP_SEGMENT_KIND_SCREEN, "{'userId':'u','context':1}",
            CAP_E_PARSE, "message 0: \"context\" is not an object");

    /* what a type does not use is not checked */

    r = ingest(CAP_SEGMENT_KIND_IDENTIFY, "{'userId':'u','properties':1}");
    ok(r != NULL, "an identify's properties are not looked at");

    r = ingest(CAP_SEGMENT_KIND_TRACK,
               "{'event':'e','userId':'u','traits':1,'integrations':1,"
               "'context':{'page':'x','library':[]}}");
    ok(r != NULL, "nor a track's traits, integrations, nor sub-objects");

    row = "empty batch";

    r = ingest(CAP_SEGMENT_KIND_BATCH, "{'batch':[]}");
    ok(r != NULL, "%s: mapped", row);
    is_json(r, "batch", "[]");
    ok(r != NULL && model(r, NOW) == CAP_ERROR
       && err.code == CAP_E_NO_EVENTS, "%s: the model refuses it", row);

    row = "no token";

    r = cap_segment_ingest(&arena.pool,
                           jsq("{'event':'e','userId':'u'}"),
                           CAP_SEGMENT_KIND_TRACK, NULL, NULL, &err);
    ok(r != NULL && cap_json_get_literal(r, "api_key") == NULL,
       "%s: no api_key", row);
    ok(r != NULL && model(r, NOW) == CAP_ERROR
       && err.code == CAP_E_NO_TOKEN, "%s: the model refuses it", row);

    r = cap_segment_ingest(&arena.pool,
                           jsq("{'event':'e','userId':'u'}"),
                           (cap_segment_kind_t) 7, &token, NULL, &err);
    ok(r == NULL && err.code == CAP_E_PARSE, "an unknown kind");

    /* the model's rules apply: properties.token is an event's token */

    row = "property token";

    r = ingest(CAP_SEGMENT_KIND_TRACK,
               "{'event':'e','userId':'u','properties':{'token':'phc_x'}}");
    ok(r != NULL && model(r, NOW) == CAP_OK
       && batch.token.len == sizeof(TOKEN) - 1
       && memcmp(batch.token.data, TOKEN, batch.token.len) == 0,
       "%s: a string: the batch's api_key wins", row);

    r = ingest(CAP_SEGMENT_KIND_TRACK,
               "{'event':'e','userId':'u','properties':{'token':5}}");
    ok(r != NULL && model(r, NOW) == CAP_ERROR
       && err.code == CAP_E_TOKEN_INVALID,
       "%s: not a string: refused by the model (401)", row);

    row = "$performance_event";

    r = ingest(CAP_SEGMENT_KIND_TRACK,
               "{'event':'$performance_event','userId':'u'}");
    ok(r != NULL && model(r, NOW) == CAP_OK && batch.nevents == 0
       && batch.dropped == 1, "%s: accepted and dropped", row);
}


/* canonical lowercase, hyphens, version and variant 10xx */

static int
uuid_form(const cap_uchar_t *u, int version)
{
    return uuid_text(u) && u[14] == '0' + version
           && strchr("89ab", u[19]) != NULL;
}


static void
test_uuid(void)
{
    char          body[128];
    size_t        i, j, bad;
    cap_uchar_t   u[CAP_UUID_LEN], *many;
    cap_event_t  *ev;

    row = "uuid";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'messageId':'0190A5D2-7B4E-7C1A-9F3E-2B8D6C4A1E07'}");
    ok(ev && memcmp(ev->uuid, UUID, CAP_UUID_LEN) == 0,
       "a UUID messageId, in its canonical form");

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':'{" UUID "}'}");
    ok(ev && memcmp(ev->uuid, UUID, CAP_UUID_LEN) == 0, "with braces");

    /* SHA-256 of the namespace and the id: pinned from another tool */

    row = "derived uuid";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'messageId':'node-next-1704164645000-2b8d6c4a'}");
    is_str(ev ? (char *) ev->uuid : "", ev ? CAP_UUID_LEN : 0,
           "03ab2430-1fe5-86f0-ba1e-d7677a1be74b",
           "a messageId that is not a UUID: derived");
    ok(ev && uuid_form(ev->uuid, 8), "a version 8 UUID, variant 10");
    is_json(out, "batch.0", "(absent)");
    is_json(out->last->first, "uuid",
            "'03ab2430-1fe5-86f0-ba1e-d7677a1be74b'");

    ev = accept(CAP_SEGMENT_KIND_BATCH,
                "{'batch':[{'type':'track','event':'e','userId':'u',"
                "'messageId':'node-next-1704164645000-2b8d6c4a'}]}");
    is_str(ev ? (char *) ev->uuid : "", ev ? CAP_UUID_LEN : 0,
           "03ab2430-1fe5-86f0-ba1e-d7677a1be74b",
           "the same at a retry, through any endpoint");

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':123}");
    is_str(ev ? (char *) ev->uuid : "", ev ? CAP_UUID_LEN : 0,
           "9b07ad78-b0cb-8bfa-bb96-b7520798c3b4",
           "a number: derived from its text");

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':'123'}");
    is_str(ev ? (char *) ev->uuid : "", ev ? CAP_UUID_LEN : 0,
           "9b07ad78-b0cb-8bfa-bb96-b7520798c3b4", "as the string is");

    /* none: the model's UUIDv7 */

    row = "no uuid";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':''}");
    ok(ev && uuid_form(ev->uuid, 7), "an empty messageId: a UUIDv7");
    ok(cap_json_get_literal(out->last->first, "uuid") == NULL,
       "and no uuid member");

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':true}");
    ok(ev && uuid_form(ev->uuid, 7), "a boolean messageId: a UUIDv7");

    ev = accept(CAP_SEGMENT_KIND_TRACK, "{'event':'e','userId':'u'}");
    ok(ev && uuid_form(ev->uuid, 7), "no messageId: a UUIDv7");

    /* many: all of the form, all different */

    row = "derived uuids";

    many = malloc(500 * CAP_UUID_LEN);
    bad = 0;

    for (i = 0; i < 500; i++) {
        snprintf(body, sizeof(body),
                 "{'event':'e','userId':'u','messageId':'m-%zu'}", i);

        if (ingest(CAP_SEGMENT_KIND_TRACK, body) == NULL
            || model(out, NOW) != CAP_OK)
        {
            bad++;
            continue;
        }

        memcpy(many + i * CAP_UUID_LEN, batch.events[0].uuid,
               CAP_UUID_LEN);

        if (!uuid_form(batch.events[0].uuid, 8)) {
            bad++;
        }
    }

    is_int(bad, 0, "500 messageIds: version 8 UUIDs");

    bad = 0;

    for (i = 0; i < 500; i++) {
        for (j = i + 1; j < 500; j++) {
            if (memcmp(many + i * CAP_UUID_LEN, many + j * CAP_UUID_LEN,
                       CAP_UUID_LEN) == 0)
            {
                bad++;
            }
        }
    }

    is_int(bad, 0, "all different");

    memcpy(u, many, CAP_UUID_LEN);
    free(many);

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','messageId':'m-0'}");
    ok(ev && memcmp(ev->uuid, u, CAP_UUID_LEN) == 0, "and stable");
}


static void
test_time(void)
{
    cap_event_t  *ev;

    /* now + (timestamp - sent_at): 10 s before now */

    row = "skew";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'timestamp':'2024-01-02T03:00:00.000Z',"
                "'sentAt':'2024-01-02T03:00:10.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 10000, "%s: now - 10 s", row);
    is_json(out->last->first, "timestamp", "'2024-01-02T03:00:00.000Z'");
    is_json(out->last->first, "sent_at", "'2024-01-02T03:00:10.000Z'");

    row = "originalTimestamp";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','timestamp':null,"
                "'originalTimestamp':'2024-01-02T03:00:00.000Z',"
                "'sentAt':'2024-01-02T03:00:02.500Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 2500, "%s: the fallback", row);
    is_json(out->last->first, "timestamp", "'2024-01-02T03:00:00.000Z'");

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'timestamp':'2024-01-02T03:00:00.000Z',"
                "'originalTimestamp':'2024-01-02T02:00:00.000Z',"
                "'sentAt':'2024-01-02T03:00:01.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 1000, "timestamp wins");

    row = "body sentAt";

    ev = accept(CAP_SEGMENT_KIND_BATCH,
                "{'batch':[{'type':'track','event':'e','userId':'u',"
                "'timestamp':'2024-01-02T03:00:00.000Z'}],"
                "'sentAt':'2024-01-02T03:00:30.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 30000, "%s: applies", row);

    ev = accept(CAP_SEGMENT_KIND_BATCH,
                "{'batch':[{'type':'track','event':'e','userId':'u',"
                "'timestamp':'2024-01-02T03:00:00.000Z',"
                "'sentAt':'2024-01-02T03:00:05.000Z'}],"
                "'sentAt':'2024-01-02T03:00:30.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 5000, "the message's wins");

    row = "no sentAt";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'timestamp':'2023-12-31T23:59:59.123Z'}");
    is_int(ev ? ev->timestamp : 0, 1704067199123LL, "%s: the timestamp",
           row);
    ok(cap_json_get_literal(out->last->first, "sent_at") == NULL,
       "%s: no sent_at", row);

    row = "no timestamp";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'sentAt':'2024-01-02T03:00:30.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW, "%s: now", row);

    row = "$ignore_sent_at";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u','properties':"
                "{'$ignore_sent_at':true},"
                "'timestamp':'2024-01-02T03:00:00.000Z',"
                "'sentAt':'2024-01-02T03:00:30.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW - 245000, "%s: the timestamp", row);

    row = "future";

    ev = accept(CAP_SEGMENT_KIND_TRACK,
                "{'event':'e','userId':'u',"
                "'timestamp':'2024-01-04T03:00:00.000Z'}");
    is_int(ev ? ev->timestamp : 0, NOW, "%s: 2 days ahead is now", row);

    row = "bad timestamp";

    ok(ingest(CAP_SEGMENT_KIND_TRACK,
              "{'event':'e','userId':'u','timestamp':'soon'}") != NULL
       && model(out, NOW) == CAP_ERROR && err.code == CAP_E_TIMESTAMP,
       "%s: refused by the model (timestamp)", row);

    ok(ingest(CAP_SEGMENT_KIND_TRACK,
              "{'event':'e','userId':'u','timestamp':1704164645000}")
       != NULL
       && model(out, NOW) == CAP_ERROR && err.code == CAP_E_TIMESTAMP,
       "%s: a number is refused too", row);

    /* a different "now": the skew moves with it */

    row = "skew, later";

    ok(ingest(CAP_SEGMENT_KIND_TRACK,
              "{'event':'e','userId':'u',"
              "'timestamp':'2024-01-02T03:00:00.000Z',"
              "'sentAt':'2024-01-02T03:00:10.000Z'}") != NULL
       && model(out, NOW + 60000) == CAP_OK
       && batch.events[0].timestamp == NOW + 50000, "%s: now + 50 s", row);
}


static void
test_merge(void)
{
    cap_json_t  *r;

    row = "body context";

    r = ingest(CAP_SEGMENT_KIND_BATCH,
        "{'batch':[{'type':'track','event':'e','anonymousId':'a',"
        "'context':{'ip':'1.1.1.1','page':{'path':'/m'},'library':null,"
        "'locale':null}},"
        "{'type':'page','anonymousId':'b','context':{'page':'x'}},"
        "{'type':'identify','userId':'u','traits':{}}],"
        "'context':{'ip':'2.2.2.2','library':{'name':'lib','version':'9'},"
        "'page':{'url':'https://ex.com/b','path':'/b'},'locale':'fr',"
        "'network':{'carrier':'dropped'}}}");

    ok(r != NULL && model(r, NOW) == CAP_OK && batch.nevents == 3,
       "%s: three events", row);

    if (batch.nevents != 3) {
        return;
    }

    /* field by field: the message's where it has one */

    is_props(&batch.events[0],
        "{'$ip':'1.1.1.1','$lib':'lib','$lib_version':'9','$locale':'fr',"
        "'$pathname':'/m','$current_url':'https://ex.com/b'}");
    is_props(&batch.events[1],
        "{'$ip':'2.2.2.2','$lib':'lib','$lib_version':'9','$locale':'fr',"
        "'$pathname':'/b','$current_url':'https://ex.com/b'}");
    is_props(&batch.events[2],
        "{'$set':{},'$is_identified':true,'$ip':'2.2.2.2','$lib':'lib',"
        "'$lib_version':'9','$locale':'fr','$pathname':'/b',"
        "'$current_url':'https://ex.com/b'}");

    row = "single message";

    /* at v1/track the body is the message: no body context */

    r = ingest(CAP_SEGMENT_KIND_TRACK,
               "{'event':'e','anonymousId':'a','context':{'ip':'3.3.3.3'},"
               "'batch':[],'sentAt':'2024-01-02T03:04:05.000Z'}");
    ok(r != NULL && model(r, NOW) == CAP_OK && batch.nevents == 1,
       "%s: one event", row);
    is_props(&batch.events[0], "{'$ip':'3.3.3.3'}");
}


/* what analytics.js sends to v1/t, v1/p, ... */

static void
test_single(void)
{
    cap_event_t         *ev;
    cap_segment_kind_t   kind;

    row = "analytics.js track";

    cap_segment_kind((cap_uchar_t *) "t", 1, &kind);

    ev = accept(kind,
        "{'timestamp':'2024-01-02T03:04:00.000Z','integrations':{},"
        "'type':'track','properties':{'k':'v'},'event':'Clicked',"
        "'messageId':'ajs-next-abc','anonymousId':'ajs-1',"
        "'context':{'page':{'path':'/','referrer':'','search':'',"
        "'title':'Home','url':'https://ex.com/'},"
        "'userAgent':'Mozilla/5.0','locale':'en-US',"
        "'library':{'name':'analytics.js','version':'next-1.0'}},"
        "'writeKey':'wk_1','sentAt':'2024-01-02T03:04:01.000Z',"
        "'_metadata':{'bundled':[],'unbundled':[]}}");

    is_keys(out ? out->last->first : NULL, "",
            "event,distinct_id,uuid,timestamp,sent_at,properties");

    is_event(ev, "Clicked", "ajs-1");
    is_str(ev ? (char *) ev->uuid : "", ev ? CAP_UUID_LEN : 0,
           "8ea18a7e-b825-8e1c-821d-cf6aec2236e4", "%s: uuid", row);
    is_int(ev ? ev->timestamp : 0, NOW - 1000, "%s: skew", row);
    is_props(ev,
        "{'k':'v','$raw_user_agent':'Mozilla/5.0','$lib':'analytics.js',"
        "'$lib_version':'next-1.0','$locale':'en-US','$pathname':'/',"
        "'$referrer':'','title':'Home','$current_url':'https://ex.com/'}");

    row = "analytics.js page";

    cap_segment_kind((cap_uchar_t *) "p", 1, &kind);

    ev = accept(kind,
        "{'type':'page','name':'Pricing','properties':{'path':'/pricing',"
        "'referrer':'https://g.example/','search':'?a=1','title':'Pricing',"
        "'url':'https://ex.com/pricing?a=1','name':'Pricing'},"
        "'anonymousId':'ajs-1','userId':'u-9',"
        "'context':{'page':{'path':'/pricing','title':'Pricing',"
        "'url':'https://ex.com/pricing?a=1'}}}");

    is_event(ev, "$pageview", "u-9");
    is_props(ev,
        "{'$current_url':'https://ex.com/pricing?a=1',"
        "'$pathname':'/pricing','$referrer':'https://g.example/',"
        "'title':'Pricing','name':'Pricing','$is_identified':true,"
        "'$device_id':'ajs-1'}");

    row = "analytics-node batch";

    ev = accept(CAP_SEGMENT_KIND_BATCH,
        "{'batch':[{'type':'track','event':'Order','userId':'u-1',"
        "'properties':{'total':9.99},'messageId':'node-next-1-x',"
        "'timestamp':'2024-01-02T03:03:00.000Z',"
        "'context':{'library':{'name':'@segment/analytics-node',"
        "'version':'2.1.0'}},'integrations':{},"
        "'_metadata':{'jsRuntime':'node'}}],"
        "'writeKey':'wk_2','sentAt':'2024-01-02T03:03:00.000Z'}");

    is_event(ev, "Order", "u-1");
    is_int(ev ? ev->timestamp : 0, NOW, "%s: sent at once", row);
    ok(ev && uuid_form(ev->uuid, 8), "%s: derived uuid", row);
    is_props(ev, "{'total':9.99,'$is_identified':true,"
             "'$lib':'@segment/analytics-node','$lib_version':'2.1.0'}");

    row = "rudder-sdk-node batch";

    ev = accept(CAP_SEGMENT_KIND_BATCH,
        "{'batch':[{'type':'identify','userId':'u-2',"
        "'anonymousId':'anon-2','traits':{'plan':'pro'},"
        "'messageId':'" UUID "','channel':'server',"
        "'originalTimestamp':'2024-01-02T03:03:55.000Z',"
        "'context':{'library':{'name':'analytics-node','version':'3.0'}}}],"
        "'timestamp':'2024-01-02T03:04:00.000Z',"
        "'sentAt':'2024-01-02T03:04:00.000Z'}");

    is_event(ev, "$identify", "u-2");
    ok(ev && memcmp(ev->uuid, UUID, CAP_UUID_LEN) == 0, "%s: uuid", row);
    is_int(ev ? ev->timestamp : 0, NOW - 5000, "%s: skew", row);
    is_props(ev, "{'$set':{'plan':'pro'},'$anon_distinct_id':'anon-2',"
             "'$is_identified':true,'$lib':'analytics-node',"
             "'$lib_version':'3.0'}");
}


/* the input tree is the same after every kind, and the model */

static void
test_unchanged(void)
{
    int          i;
    char        *before, *after, *s, *first;
    cap_json_t  *root, *r;
    unsigned     mapped;

    row = "input unchanged";

    s = sq("{'type':'group','event':'e','userId':7,'anonymousId':'a',"
           "'groupId':'g','previousId':'p','name':'N',"
           "'messageId':'m','timestamp':'2024-01-02T03:00:00Z',"
           "'sentAt':'2024-01-02T03:00:01Z',"
           "'traits':{'group_type':'t','x':{'y':[1]}},"
           "'properties':{'url':'u','$ip':null,'search':'s','o':{'p':1}},"
           "'context':{'ip':'1.2.3.4','page':{'title':'T'}},"
           "'batch':[{'type':'page','anonymousId':'b',"
           "'properties':{'path':'/p','title':null}},"
           "{'type':'identify','userId':'u','traits':{'a':1}},"
           "{'type':'group','userId':'u','groupId':1,"
           "'traits':{'group_type':'team','n':1}}],"
           "'context':{'library':{'name':'l'}}}");

    root = parse(s, strlen(s));
    before = text(root);
    mapped = 0;
    first = NULL;

    for (i = CAP_SEGMENT_KIND_BATCH; i <= CAP_SEGMENT_KIND_ALIAS; i++) {
        r = cap_segment_ingest(&arena.pool, root, (cap_segment_kind_t) i,
                               &token, &workspace, &err);

        if (r != NULL && model(r, NOW) == CAP_OK) {
            mapped++;
        }

        if (i == CAP_SEGMENT_KIND_GROUP) {
            first = text(r);
        }
    }

    is_int(mapped, 2, "the batch and the group taken, the others refused "
           "by their type");

    after = text(root);
    is_str(after, strlen(after), before, "%s: every kind, and the model",
           row);

    r = cap_segment_ingest(&arena.pool, root, CAP_SEGMENT_KIND_GROUP, &token,
                           &workspace, &err);
    s = text(r);
    ok(first != NULL && strcmp(s, first) == 0,
       "the same body gives the same batch again");
}


/* the message of an event, parsed */

static cap_json_t *
encode(cap_event_t *ev, cap_batch_t *b)
{
    cap_buf_t    buf;
    cap_error_t  e;

    cap_buf_init(&buf, &arena.pool, 256, 0);

    if (cap_segment_batch_open(&buf) != CAP_OK
        || cap_segment_message(&buf, b, ev, NOW, 0, &e) != CAP_OK
        || cap_segment_batch_close(&buf, NOW) != CAP_OK)
    {
        printf("# encoding fails: %s\n", e.text);
        return NULL;
    }

    return parse((char *) buf.data, buf.len);
}


/* a Segment body (parsed) -> the model's batch; NULL when refused */

static cap_json_t *
back(cap_json_t *body, cap_msec_t now)
{
    cap_json_t  *r;

    if (body == NULL) {
        return NULL;
    }

    r = cap_segment_ingest(&arena.pool, body, CAP_SEGMENT_KIND_BATCH, &token,
                           default_type, &err);

    if (r == NULL || model(r, now) != CAP_OK || batch.nevents != 1) {
        printf("# refused: %s\n#   %s\n", err.text, text(body));
        return NULL;
    }

    return r;
}


static int
same(cap_json_t *a, cap_json_t *b)
{
    return strcmp(text(a), text(b)) == 0;
}


/* the same id: the text of a string or a number */

static int
same_id(cap_json_t *a, cap_json_t *b)
{
    return a != NULL && b != NULL && a->str.len == b->str.len
           && memcmp(a->str.data, b->str.data, a->str.len) == 0;
}


static int
usable(cap_json_t *v)
{
    return v != NULL
           && ((v->type == CAP_JSON_STRING && v->str.len)
               || v->type == CAP_JSON_NUMBER);
}


static cap_json_t *
present(cap_json_t *obj, const char *key)
{
    cap_json_t  *v;

    v = cap_json_get(obj, key, strlen(key));

    return (v == NULL || v->type == CAP_JSON_NULL) ? NULL : v;
}


/* the message's "type" is "type" */

static int
is_type(cap_json_t *m, const char *type)
{
    cap_json_t  *t;

    t = cap_json_get_literal(m, "type");

    return t != NULL && t->type == CAP_JSON_STRING
           && t->str.len == strlen(type)
           && memcmp(t->str.data, type, t->str.len) == 0;
}


/* unlinks every member "key" of an object of the test's own */

static void
drop(cap_json_t *obj, const char *key)
{
    cap_json_t  **pp, *v;

    if (obj == NULL || obj->type != CAP_JSON_OBJECT) {
        return;
    }

    obj->last = NULL;

    for (pp = &obj->first; *pp != NULL; /* void */) {
        v = *pp;

        if (v->key.len == strlen(key) && memcmp(v->key.data, key,
                                                v->key.len) == 0)
        {
            *pp = v->next;
            obj->count--;
            continue;
        }

        obj->last = v;
        pp = &v->next;
    }
}


static const char  *trip_context[] = {
    "$ip", "$raw_user_agent", "$lib", "$lib_version", "$locale",
    "$timezone", "$pathname", "$referrer", "$current_url", "title",
    "$screen_width", "$screen_height", "$screen_density", "$os",
    "$os_version", "$device_type", "utm_campaign", "utm_source",
    "utm_medium", "utm_term", "utm_content"
};

static const char  *trip_moved[] = {
    "$ip", "$raw_user_agent", "$lib", "$lib_version", "$locale",
    "$timezone", "$pathname", "$referrer", "$current_url", "$screen_width",
    "$screen_height", "$screen_density", "$os", "$os_version",
    "$device_type"
};


#define trip_nelts(a)  (sizeof(a) / sizeof(a[0]))


/*
 * What PostHog -> Segment -> PostHog keeps (docs/mappings.md): NULL, or
 * what differs.  e1 the event, e2 the one made of its message m1.
 */

static const char *
trip(cap_event_t *e1, cap_event_t *e2, cap_json_t *m1)
{
    size_t        i;
    unsigned      identified;
    cap_str_t    *t;
    cap_json_t   *p1, *p2, *v, *w, *set, *once;

    static char   why[256];

    p1 = e1->properties;
    p2 = e2->properties;
    t = &cap_json_get_literal(m1, "type")->str;

    /* the name: an identified $set comes back as an $identify */

    v = present(p1, "$is_identified");
    identified = (v != NULL && v->type == CAP_JSON_TRUE)
                 || present(p1, "$user_id") != NULL;

    if (e1->event.len == 4 && memcmp(e1->event.data, "$set", 4) == 0
        && identified)
    {
        if (e2->event.len != 9 || memcmp(e2->event.data, "$identify", 9)) {
            return "an identified $set is not an $identify";
        }

    } else if (e1->event.len != e2->event.len
               || memcmp(e1->event.data, e2->event.data, e1->event.len))
    {
        return "the event name";
    }

    if (e1->distinct_id.len != e2->distinct_id.len
        || memcmp(e1->distinct_id.data, e2->distinct_id.data,
                  e1->distinct_id.len))
    {
        return "distinct_id";
    }

    if (memcmp(e1->uuid, e2->uuid, CAP_UUID_LEN) != 0) {
        return "uuid";
    }

    if (e1->timestamp != e2->timestamp) {
        return "timestamp";
    }

    /* context, for every type; $browser_language stood in for $locale */

    for (i = 0; i < trip_nelts(trip_context); i++) {
        v = present(p1, trip_context[i]);

        if (v == NULL && strcmp(trip_context[i], "$locale") == 0) {
            v = present(p1, "$browser_language");
        }

        if (v != NULL && !same(v, present(p2, trip_context[i]))) {
            snprintf(why, sizeof(why), "context property %s",
                     trip_context[i]);
            return why;
        }
    }

    if (t->len == 5 && memcmp(t->data, "track", 5) == 0) {

        /* every other property, "$" or not */

        for (v = p1->first; v != NULL; v = v->next) {
            if (v->type == CAP_JSON_NULL) {
                continue;
            }

            for (i = 0; i < trip_nelts(trip_moved); i++) {
                if (v->key.len == strlen(trip_moved[i])
                    && memcmp(v->key.data, trip_moved[i], v->key.len) == 0)
                {
                    break;
                }
            }

            if (i < trip_nelts(trip_moved)
                || (v->key.len == 17
                    && memcmp(v->key.data, "$browser_language", 17) == 0
                    && present(p1, "$locale") == NULL))
            {
                continue;
            }

            if (!same(v, cap_json_get(p2, (char *) v->key.data,
                                      v->key.len)))
            {
                snprintf(why, sizeof(why), "track property %.*s",
                         (int) v->key.len, (char *) v->key.data);
                return why;
            }
        }

    } else if ((t->len == 4 && memcmp(t->data, "page", 4) == 0)
               || (t->len == 6 && memcmp(t->data, "screen", 6) == 0))
    {
        /* the properties without "$" (a page's url, ... are its fields) */

        for (v = p1->first; v != NULL; v = v->next) {
            if (v->type == CAP_JSON_NULL
                || (v->key.len && v->key.data[0] == '$'))
            {
                continue;
            }

            if (t->len == 4
                && ((v->key.len == 3 && memcmp(v->key.data, "url", 3) == 0)
                    || (v->key.len == 4
                        && memcmp(v->key.data, "path", 4) == 0)
                    || (v->key.len == 8
                        && memcmp(v->key.data, "referrer", 8) == 0)
                    || (v->key.len == 6
                        && memcmp(v->key.data, "search", 6) == 0)))
            {
                continue;
            }

            if (!same(v, cap_json_get(p2, (char *) v->key.data,
                                      v->key.len)))
            {
                snprintf(why, sizeof(why), "page or screen property %.*s",
                         (int) v->key.len, (char *) v->key.data);
                return why;
            }
        }

        v = present(p1, "$screen_name");

        if (t->len == 6 && v != NULL && v->type == CAP_JSON_STRING
            && !same(v, present(p2, "$screen_name")))
        {
            return "$screen_name";
        }

    } else if (t->len == 8) {

        /* identify: $set, then what $set_once has that $set has not */

        set = present(p1, "$set");
        once = present(p1, "$set_once");
        w = present(p2, "$set");

        if (set && set->type != CAP_JSON_OBJECT) {
            set = NULL;
        }

        if (once && once->type != CAP_JSON_OBJECT) {
            once = NULL;
        }

        if (w == NULL || w->type != CAP_JSON_OBJECT) {
            return "identify without $set";
        }

        i = 0;

        for (v = set ? set->first : NULL; v != NULL; v = v->next, i++) {
            if (!same(v, cap_json_get(w, (char *) v->key.data, v->key.len)))
            {
                return "a member of $set";
            }
        }

        for (v = once ? once->first : NULL; v != NULL; v = v->next) {
            if (cap_json_get(set, (char *) v->key.data, v->key.len)) {
                continue;
            }

            i++;

            if (!same(v, cap_json_get(w, (char *) v->key.data, v->key.len)))
            {
                return "a member of $set_once";
            }
        }

        if (i != w->count) {
            return "the number of traits";
        }

        v = present(p1, "$anon_distinct_id");

        if (e1->event.len == 9 && usable(v)
            && !same_id(v, present(p2, "$anon_distinct_id")))
        {
            return "$anon_distinct_id";
        }

    } else if (t->len == 5 && memcmp(t->data, "alias", 5) == 0) {

        if (!same_id(present(p1, "alias"), present(p2, "alias"))) {
            return "alias";
        }

    } else if (t->len == 5) {

        /* group */

        if (!same_id(present(p1, "$group_key"), present(p2, "$group_key")))
        {
            return "$group_key";
        }

        v = present(p1, "$group_type");

        if (usable(v) && !same_id(v, present(p2, "$group_type"))) {
            return "$group_type";
        }

        set = present(p1, "$group_set");
        w = present(p2, "$group_set");
        i = 0;

        for (v = (set && set->type == CAP_JSON_OBJECT) ? set->first : NULL;
             v != NULL;
             v = v->next)
        {
            if (v->key.len == 10 && memcmp(v->key.data, "group_type", 10) == 0)
            {
                continue;
            }

            i++;

            if (!same(v, cap_json_get(w, (char *) v->key.data, v->key.len)))
            {
                return "a member of $group_set";
            }
        }

        i += (cap_json_get_literal(w, "group_type") != NULL);

        if (w == NULL || i != w->count) {
            return "the number of $group_set members";
        }
    }

    return NULL;
}


/* hand-made events of every type, with everything the mapping carries */

static void
test_round_trip(void)
{
    char         *s;
    size_t        i, n;
    const char   *why;
    cap_json_t   *m1, *r;
    cap_event_t   e1;
    cap_batch_t   b1;

    static const char  *events[] = {
        "{'event':'signup','distinct_id':'u-1','uuid':'" UUID "',"
        "'timestamp':'2024-01-01T10:00:00.123Z','properties':"
        "{'$is_identified':true,'plan':'team','$ip':'203.0.113.9',"
        "'$raw_user_agent':'UA','$lib':'web','$lib_version':'1.2',"
        "'$browser_language':'en-GB','$timezone':'Europe/London',"
        "'$current_url':'https://ex.com/a?x=1#f','$pathname':'/a',"
        "'$referrer':'$direct','title':'T','$screen_width':1920,"
        "'$screen_height':1080,'$screen_density':2,'$os':'Mac OS X',"
        "'$os_version':'14','$device_type':'Desktop','utm_source':'s',"
        "'utm_medium':'m','utm_campaign':'c','utm_term':'t',"
        "'utm_content':'x','$session_id':'s1','$set':{'a':1}}}",

        "{'event':'$pageview','distinct_id':'anon-2',"
        "'timestamp':'2023-12-31T00:00:00Z','properties':"
        "{'$current_url':'https://ex.com/d?q=1','$pathname':'/d',"
        "'$referrer':'https://r/','title':'Docs','section':'g',"
        "'$host':'ex.com','$lib':'web'}}",

        "{'event':'$screen','distinct_id':7,'properties':"
        "{'$screen_name':'Home','tab':'feed','$os':'iOS','$user_id':7}}",

        "{'event':'$identify','distinct_id':'user-7','properties':"
        "{'$anon_distinct_id':'anon-7','$set':{'email':'e','plan':'pro'},"
        "'$set_once':{'plan':'free','first':'2024'},'$ip':'::1'}}",

        "{'event':'$set','distinct_id':'user-5','properties':"
        "{'$is_identified':true,'$set_once':{'k':'v'}}}",

        "{'event':'$set','distinct_id':'anon-5','properties':"
        "{'$set':{'theme':'dark'}}}",

        "{'event':'$create_alias','distinct_id':'user-1','properties':"
        "{'alias':'anon-1','$lib':'posthog-node'}}",

        "{'event':'$groupidentify','distinct_id':'u-4','properties':"
        "{'$group_type':'company','$group_key':123,'$group_set':"
        "{'name':'Acme','group_type':'other','seats':5},"
        "'$is_identified':true}}",

        "{'event':'$groupidentify','distinct_id':'u-4','properties':"
        "{'$group_key':'k','$group_set':{'name':'Acme'}}}",

        "{'event':'$create_alias','distinct_id':'u','properties':"
        "{'alias':''}}",

        "{'event':'$groupidentify','distinct_id':'u','properties':"
        "{'$group_type':'company'}}"
    };

    for (i = 0; i < trip_nelts(events); i++) {
        row = "round trip";

        /* as the one event of a PostHog batch */

        n = strlen(events[i]) + 64;
        s = test_pool_alloc(&arena, n);
        snprintf(s, n, "{'api_key':'phc_a','batch':[%s]}", events[i]);

        r = jsq(s);

        if (r == NULL || model(r, NOW) != CAP_OK || batch.nevents != 1) {
            ok(0, "event %zu parses: %s", i, err.text);
            continue;
        }

        e1 = batch.events[0];
        b1 = batch;

        m1 = encode(&e1, &b1);
        r = back(m1, NOW);

        if (r == NULL) {
            ok(0, "event %zu: its message is accepted back", i);
            continue;
        }

        why = trip(&e1, &batch.events[0], jpath(m1, "batch")->first);

        ok(why == NULL, "event %zu (%.*s) round-trips%s%s", i,
           (int) e1.event.len, (char *) e1.event.data, why ? ": " : "",
           why ? why : "");

        if (why != NULL) {
            printf("#   %s\n#   %s\n", text(e1.properties),
                   text(batch.events[0].properties));
        }
    }
}


/*
 * Properties of the round trip, over generated events: the message of
 * every event is taken back whole, gives back the event (trip()), and
 * the message of that event is the same message again, but for what
 * docs/mappings.md says is not kept.
 */

static const char  *gen_names[] = {
    "$pageview", "$screen", "$identify", "$set", "$create_alias",
    "$groupidentify", "$autocapture", "signup", "clicked \\'buy\\'",
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
    "plan", "k\\'q", "\\u00e9t\\u00e9", "", "$"
};

static const char  *gen_bits[] = {
    "a", "Z", "0", " ", "\\'", "\\\\", "\\n", "\\u00e9", "\xe2\x82\xac",
    "/", "?", "#", "=", "&", "https://ex.com/", "x"
};

static const char  *gen_scalars[] = {
    "null", "true", "false", "0", "-1.5e3", "42", "1E+2"
};

static const gen_json_t  gen_tables = {
    gen_keys, gen_nelts(gen_keys), gen_bits, gen_nelts(gen_bits),
    gen_scalars, gen_nelts(gen_scalars), "'"
};


static void
test_generated(void)
{
    size_t        i, k;
    unsigned      made, taken, kept, fixed, kinds, skew;
    gen_buf_t     g;
    const char   *why;
    cap_json_t   *m1, *m2, *r, *a, *b;
    cap_event_t   e1, e2;
    cap_batch_t   b1, b2;
    cap_msec_t    ts;

    static const char  *types[] = {
        "track", "page", "screen", "identify", "alias", "group"
    };

    made = taken = kept = fixed = kinds = skew = 0;
    default_type = NULL;

    gen_state = GEN_SEED;
    gen_json = &gen_tables;

    g.size = 65536;
    g.data = malloc(g.size);

    for (i = 0; i < GEN_EVENTS; i++) {
        g.len = 0;
        gen_event(&g);

        r = parse(sq(g.data), g.len);

        if (r == NULL || model(r, NOW) != CAP_OK || batch.nevents != 1) {
            printf("# event %zu does not parse: %s\n", i, err.text);
            continue;
        }

        made++;

        e1 = batch.events[0];
        b1 = batch;

        m1 = encode(&e1, &b1);

        /* a group without a type needs the default: give it one */

        a = jpath(m1, "batch");
        a = a ? a->first : NULL;

        default_type = (is_type(a, "group")
                        && !usable(jpath(a, "traits.group_type")))
                       ? &workspace : NULL;

        r = back(m1, NOW);

        if (r == NULL) {
            continue;
        }

        taken++;
        e2 = batch.events[0];
        b2 = batch;

        for (k = 0; k < gen_nelts(types); k++) {
            if (is_type(a, types[k])) {
                kinds |= 1u << k;
            }
        }

        why = trip(&e1, &e2, a);

        if (why == NULL) {
            kept++;

        } else {
            printf("# event %zu: %s\n#   %s\n#   %s\n#   %s\n", i, why,
                   g.data, text(a), text(e2.properties));
        }

        /* the message again: the same, but for what is not kept */

        m2 = encode(&e2, &b2);
        b = jpath(m2, "batch");
        b = b ? b->first : NULL;

        if (is_type(a, "track")) {
            /* a user's events get $is_identified */
            drop(jpath(a, "properties"), "$is_identified");
            drop(jpath(b, "properties"), "$is_identified");
        }

        if (is_type(a, "group")) {
            /* the default type, when traits had none */
            drop(jpath(a, "traits"), "group_type");
            drop(jpath(b, "traits"), "group_type");
        }

        if (is_type(a, "page") && present(e1.properties, "search")) {
            /* a custom search without a query in the URL is dropped */
            drop(jpath(a, "properties"), "search");
            drop(jpath(b, "properties"), "search");
        }

        if (is_type(a, "page")
            && ((cap_json_get_literal(e1.properties, "url")
                 && !present(e1.properties, "$current_url"))
                || (cap_json_get_literal(e1.properties, "path")
                    && !present(e1.properties, "$pathname"))
                || (cap_json_get_literal(e1.properties, "referrer")
                    && !present(e1.properties, "$referrer"))))
        {
            /*
             * A custom url, path or referrer becomes the page's own (a
             * null one is dropped).
             */
            drop(a, "properties");
            drop(b, "properties");
            drop(a, "context");
            drop(b, "context");
        }

        if (b != NULL && same(a, b)) {
            fixed++;

        } else {
            printf("# event %zu: another message\n#   %s\n#   %s\n", i,
                   text(a), text(b));
        }

        /* the skew: the same message received 7 s later */

        ts = e1.timestamp;

        m1 = encode(&e1, &b1);

        if (back(m1, NOW + 7000) != NULL
            && batch.events[0].timestamp == ts + 7000)
        {
            skew++;
        }
    }

    is_int(made, GEN_EVENTS, "%d generated events", GEN_EVENTS);
    is_int(taken, GEN_EVENTS, "every message is taken back");
    is_int(kept, GEN_EVENTS, "and gives back its event");
    is_int(fixed, GEN_EVENTS, "whose message is the same message");
    is_int(skew, GEN_EVENTS, "later: the time moves with the receiver's");
    is_int(kinds, 0x3f, "every type was made");

    default_type = &workspace;

    free(g.data);
}


static void
gen_event(gen_buf_t *g)
{
    char         num[64];
    unsigned     n;
    cap_uchar_t  ts[CAP_TIME_LEN];

    gen_add(g, "{'api_key':'phc_a','batch':[{'event':'");
    gen_add(g, gen_names[gen_rand() % gen_nelts(gen_names)]);
    gen_add(g, "','distinct_id':");
    gen_id(g);

    if (gen_rand() % 2) {
        snprintf(num, sizeof(num), ",'uuid':'%08x-%04x-4%03x-a%03x-%08x%04x'",
                 gen_rand(), gen_rand() & 0xffff, gen_rand() & 0xfff,
                 gen_rand() & 0xfff, gen_rand(), gen_rand() & 0xffff);
        gen_add(g, num);
    }

    if (gen_rand() % 3) {
        /* from 30 days before to 1 hour after now, to the ms */
        n = cap_time_format(NOW - 30 * 86400000LL
                            + (cap_msec_t) (gen_rand() % 2595600000u),
                            ts);
        snprintf(num, sizeof(num), ",'timestamp':'%.*s'", (int) n, ts);
        gen_add(g, num);
    }

    gen_add(g, ",'properties':");
    gen_object(g, 0);
    gen_add(g, "}]}");
}
