
/*
 * Unit tests of the request model (cap_request_parse() and
 * cap_event_normalise()), enrichment (cap_enrich_event(),
 * cap_ip_anonymize()) and the canonical record (cap_record_encode()).
 */


#include "tap.h"
#include "pool.h"
#include "util.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW       1704164645000LL       /* 2024-01-02T03:04:05.000Z */
#define NOW_TEXT  "2024-01-02T03:04:05.000Z"
#define MAX_EVENT (1024 * 1024)

#define TOK       "\"token\":\"phc_test\""

/* an event with a name, a distinct_id and "x" */
#define EV(x)     "{\"event\":\"e\",\"distinct_id\":\"d\"," x "}"

/* an event with a name and a token and "x" */
#define EVT(x)    "{\"event\":\"e\"," TOK "," x "}"

#define is_cstr(got, want, ...)                                              \
    tap_is_mem((got), strlen(got), (want), strlen(want), __FILE__, __LINE__, \
               __VA_ARGS__)


static void done(void);
static void req_reset(void);
static int run(const char *text);
static int run_len(const char *text, size_t len);
static int encode(size_t max_event);
static const char *cstr(const cap_uchar_t *p, size_t len);
static const char *json_text(cap_json_t *v);
static const char *ev_name(size_t i);
static const char *ev_did(size_t i);
static const char *ev_uuid(size_t i);
static const char *ev_prop(size_t i, const char *key);
static const char *ev_props(size_t i);
static const char *token(void);
static const char *field(const char *name);
static const char *ts_of(const char *text);
static char *build(const char *head, const char *unit, size_t n,
    const char *tail);
static int uuid_v7_ok(const char *u);
static void test_shapes(void);
static void test_tokens(void);
static void test_allowlist(void);
static void test_distinct_id(void);
static void test_truncation(void);
static void test_event_name(void);
static void test_uuid(void);
static void test_properties(void);
static void test_timestamps(void);
static void test_cookieless(void);
static void test_recordings(void);
static void test_ip(void);
static void test_anonymize(void);
static void test_capture_property(void);
static void test_record(void);
static void test_record_limits(void);


/* every block is freed at the end of a case */
static test_pool_t     tp = TEST_POOL(tp, test_pool_free);

static cap_request_t   req;
static cap_batch_t     batch;
static cap_error_t     err;
static cap_str_t       rec;


int
main(void)
{
    test_shapes();
    test_tokens();
    test_allowlist();
    test_distinct_id();
    test_truncation();
    test_event_name();
    test_uuid();
    test_properties();
    test_timestamps();
    test_cookieless();
    test_recordings();
    test_ip();
    test_anonymize();
    test_capture_property();
    test_record();
    test_record_limits();

    return tap_done();
}


/* the end of a case: everything of the pool is freed */

static void
done(void)
{
    test_pool_reset(&tp);

    req_reset();
}


static void
req_reset(void)
{
    memset(&req, 0, sizeof(cap_request_t));
    req.now = NOW;
    req.endpoint = CAP_ENDPOINT_EVENTS;
    req.ip_policy = CAP_IP_OFF;
}


/* JSON text -> batch; the error code, CAP_E_NONE if accepted */

static int
run(const char *text)
{
    return run_len(text, strlen(text));
}


static int
run_len(const char *text, size_t len)
{
    cap_uchar_t  *p;
    cap_json_t   *root;

    memset(&batch, 0, sizeof(cap_batch_t));
    memset(&err, 0, sizeof(cap_error_t));
    rec.len = 0;
    rec.data = NULL;

    /* the exact size, no NUL after it */

    p = test_pool_alloc(&tp, len ? len : 1);
    memcpy(p, text, len);

    root = cap_json_parse(&tp.pool, p, len, &err);
    if (root == NULL) {
        return err.code ? (int) err.code : -1;
    }

    if (cap_request_parse(&tp.pool, &req, root, &batch, &err) != CAP_OK) {
        return err.code ? (int) err.code : -1;
    }

    return err.code;
}


/* the batch -> rec; the error code */

static int
encode(size_t max_event)
{
    cap_buf_t  b;

    rec.len = 0;
    rec.data = (cap_uchar_t *) "";

    if (cap_buf_init(&b, &tp.pool, 64, 0) != CAP_OK) {
        return CAP_E_NOMEM;
    }

    memset(&err, 0, sizeof(cap_error_t));

    if (cap_record_encode(&b, &batch, max_event, &err) != CAP_OK) {
        return err.code ? (int) err.code : -1;
    }

    rec.data = b.data ? b.data : (cap_uchar_t *) "";
    rec.len = b.len;

    return err.code;
}


static const char *
cstr(const cap_uchar_t *p, size_t len)
{
    char  *s;

    s = test_pool_alloc(&tp, len + 1);
    if (len) {
        memcpy(s, p, len);
    }

    s[len] = '\0';

    return s;
}


static const char *
json_text(cap_json_t *v)
{
    cap_buf_t  b;

    if (v == NULL) {
        return "(absent)";
    }

    if (cap_buf_init(&b, &tp.pool, 16, 0) != CAP_OK
        || cap_json_write(&b, v) != CAP_OK)
    {
        return "(error)";
    }

    return cstr(b.data, b.len);
}


static const char *
ev_name(size_t i)
{
    if (i >= batch.nevents) {
        return "(no event)";
    }

    return cstr(batch.events[i].event.data, batch.events[i].event.len);
}


static const char *
ev_did(size_t i)
{
    if (i >= batch.nevents) {
        return "(no event)";
    }

    return cstr(batch.events[i].distinct_id.data,
                batch.events[i].distinct_id.len);
}


static const char *
ev_uuid(size_t i)
{
    if (i >= batch.nevents) {
        return "(no event)";
    }

    return cstr(batch.events[i].uuid, CAP_UUID_LEN);
}


static const char *
ev_prop(size_t i, const char *key)
{
    if (i >= batch.nevents) {
        return "(no event)";
    }

    return json_text(cap_json_get(batch.events[i].properties, key,
                                  strlen(key)));
}


static const char *
ev_props(size_t i)
{
    if (i >= batch.nevents) {
        return "(no event)";
    }

    return json_text(batch.events[i].properties);
}


static const char *
token(void)
{
    if (batch.token.data == NULL) {
        return "(none)";
    }

    return cstr(batch.token.data, batch.token.len);
}


/* "name":VALUE of the first record: a string without quotes, or null */

static const char *
field(const char *name)
{
    char        key[64];
    size_t      n;
    const char  *p, *q, *end;

    if (rec.len == 0) {
        return "(no record)";
    }

    n = snprintf(key, sizeof(key), "\"%s\":", name);

    end = (char *) rec.data + rec.len;

    for (p = (char *) rec.data; p + n <= end; p++) {
        if (memcmp(p, key, n) == 0) {
            break;
        }
    }

    if (p + n > end) {
        return "(no field)";
    }

    p += n;

    if (p < end && *p == '"') {
        for (q = ++p; q < end && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
            }
        }

        return cstr((cap_uchar_t *) p, q - p);
    }

    for (q = p; q < end && *q != ',' && *q != '}'; q++) {
        /* void */
    }

    return cstr((cap_uchar_t *) p, q - p);
}


/* the timestamp of the record of the request "text" */

static const char *
ts_of(const char *text)
{
    int  rc;

    rc = run(text);
    if (rc != CAP_E_NONE) {
        return cap_error_name(rc);
    }

    rc = encode(MAX_EVENT);
    if (rc != CAP_E_NONE) {
        return cap_error_name(rc);
    }

    return field("timestamp");
}


/* head, n times unit, tail; in the pool */

static char *
build(const char *head, const char *unit, size_t n, const char *tail)
{
    char    *s, *p;
    size_t   i, hl, ul, tl;

    hl = strlen(head);
    ul = strlen(unit);
    tl = strlen(tail);

    s = test_pool_alloc(&tp, hl + ul * n + tl + 1);
    p = s;

    memcpy(p, head, hl);
    p += hl;

    for (i = 0; i < n; i++) {
        memcpy(p, unit, ul);
        p += ul;
    }

    memcpy(p, tail, tl + 1);

    return s;
}


static int
uuid_v7_ok(const char *u)
{
    return uuid_text((const cap_uchar_t *) u) && u[14] == '7'
           && strchr("89ab", u[19]) != NULL;
}


static void
test_shapes(void)
{
    req_reset();

    /* a single event */

    is_int(run(EV(TOK)), CAP_E_NONE, "a single event object");
    is_int(batch.nevents, 1, "one event");
    is_int(batch.dropped, 0, "none dropped");
    is_cstr(ev_name(0), "e", "its name");
    is_cstr(ev_did(0), "d", "its distinct_id");
    is_cstr(token(), "phc_test", "its token");
    ok(!batch.has_sent_at && !batch.historical_migration
       && !batch.recordings, "no sent_at, not historical, not recordings");
    is_int(batch.now, NOW, "batch.now is req.now");
    done();

    /* an array */

    is_int(run("[" EV(TOK) ",{\"event\":\"f\",\"distinct_id\":\"g\"," TOK
               "}]"), CAP_E_NONE, "an array of events");
    is_int(batch.nevents, 2, "two events");
    is_cstr(ev_name(1), "f", "the second name");
    is_cstr(ev_did(1), "g", "the second distinct_id");
    done();

    /* a batch object */

    is_int(run("{\"api_key\":\"phc_b\","
               "\"sent_at\":\"2024-01-02T03:04:00.000Z\","
               "\"historical_migration\":true,\"batch\":["
               "{\"event\":\"a\",\"distinct_id\":\"1\"},"
               "{\"event\":\"b\",\"distinct_id\":\"2\"}]}"),
           CAP_E_NONE, "a batch object");
    is_int(batch.nevents, 2, "two events in the batch");
    is_cstr(token(), "phc_b", "the batch api_key");
    ok(batch.has_sent_at, "the batch sent_at");
    is_int(batch.sent_at, NOW - 5000, "sent_at is 03:04:00");
    ok(batch.historical_migration, "historical_migration");
    is_cstr(ev_name(0), "a", "the first name");
    is_cstr(ev_name(1), "b", "the second name");
    done();

    is_int(run("{\"token\":\"phc_t\",\"batch\":[" EV("\"x\":1") "]}"),
           CAP_E_NONE, "a batch object with token");
    is_cstr(token(), "phc_t", "the batch token");
    ok(!batch.historical_migration, "historical_migration absent");
    ok(!batch.has_sent_at, "sent_at absent");
    done();

    is_int(run("{\"api_key\":\"phc_t\",\"historical_migration\":false,"
               "\"batch\":[" EV("\"x\":1") "]}"),
           CAP_E_NONE, "historical_migration false");
    ok(!batch.historical_migration, "is false");
    done();

    /* no events */

    is_int(run("[]"), CAP_E_NO_EVENTS, "[] holds no events");
    done();
    is_int(run("{\"api_key\":\"phc_b\",\"batch\":[]}"), CAP_E_NO_EVENTS,
           "an empty batch holds no events");
    done();

    /* elements that are not objects */

    is_int(run("[" EV(TOK) ",1]"), CAP_E_PARSE, "a number element");
    done();
    is_int(run("[\"x\"]"), CAP_E_PARSE, "a string element");
    done();
    is_int(run("[null]"), CAP_E_PARSE, "a null element");
    done();
    is_int(run("[[" EV(TOK) "]]"), CAP_E_PARSE, "an array element");
    done();
    is_int(run("{\"api_key\":\"phc_b\",\"batch\":[" EV("\"x\":1") ",true]}"),
           CAP_E_PARSE, "a boolean in a batch");
    done();
    is_int(run("{\"api_key\":\"phc_b\",\"batch\":{}}"), CAP_E_PARSE,
           "batch is an object");
    done();

    /* top-level values that are not events */

    is_int(run("\"" "e" "\""), CAP_E_PARSE, "a top-level string");
    done();
    is_int(run("12"), CAP_E_PARSE, "a top-level number");
    done();
    is_int(run("true"), CAP_E_PARSE, "a top-level true");
    done();
    is_int(run("null"), CAP_E_PARSE, "a top-level null");
    done();

    /* all or nothing */

    is_int(run("[" EV(TOK) ",{\"event\":\"\",\"distinct_id\":\"d\"," TOK "}]"),
           CAP_E_EVENT_NAME, "one bad event fails the request");
    done();
}


static void
test_tokens(void)
{
    size_t       i;
    const char  *t;

    static const char  *keys[] = {
        EV("\"token\":\"phc_k\""),
        EV("\"$token\":\"phc_k\""),
        EV("\"api_key\":\"phc_k\""),
        EV("\"properties\":{\"token\":\"phc_k\"}"),
        EV("\"token\":null,\"$token\":\"phc_k\""),
    };

    req_reset();

    /* the batch-level token wins */

    is_int(run("{\"api_key\":\"phc_b\",\"batch\":["
               EV("\"token\":\"phc_x\"") "," EV("\"token\":\"phc_y\"") ","
               EV("\"z\":0") "]}"),
           CAP_E_NONE, "batch api_key over the events' tokens");
    is_cstr(token(), "phc_b", "the batch api_key");
    done();

    is_int(run("{\"api_key\":\"phc_a\",\"token\":\"phc_t\",\"batch\":["
               EV("\"token\":\"phc_x\"") "]}"),
           CAP_E_NONE, "batch api_key and token");
    is_cstr(token(), "phc_a", "api_key first");
    done();

    is_int(run("{\"api_key\":null,\"token\":\"phc_t\",\"batch\":["
               EV("\"z\":0") "]}"),
           CAP_E_NONE, "batch api_key null and token");
    is_cstr(token(), "phc_t", "the batch token");
    done();

    /* where an event has it */

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        is_int(run(keys[i]), CAP_E_NONE, "token of %s", keys[i]);
        is_cstr(token(), "phc_k", "is phc_k");
        done();
    }

    is_int(run(EV("\"token\":\"phc_a\",\"properties\":{\"token\":\"phc_b\"}")),
           CAP_E_NONE, "token and properties.token");
    is_cstr(token(), "phc_a", "the event's own token first");
    done();

    is_int(run("[" EV("\"token\":\"phc_a\"") "," EV("\"$token\":\"phc_a\"")
               "," EV("\"api_key\":\"phc_a\"") ","
               EV("\"properties\":{\"token\":\"phc_a\"}") "]"),
           CAP_E_NONE, "the same token under different keys");
    is_cstr(token(), "phc_a", "is phc_a");
    done();

    /* all events must agree */

    is_int(run("[" EV("\"token\":\"phc_a\"") "," EV("\"token\":\"phc_b\"")
               "]"), CAP_E_TOKEN_MISMATCH, "two tokens");
    done();
    is_int(run("[" EV("\"token\":\"phc_a\"") "," EV("\"token\":\"phc_a\"")
               "," EV("\"token\":\"phc_ab\"") "]"),
           CAP_E_TOKEN_MISMATCH, "the third disagrees");
    done();
    is_int(run("[" EV("\"token\":\"phc_a\"") "," EV("\"z\":0") "]"),
           CAP_E_TOKEN_MISMATCH, "a token, then none");
    done();
    is_int(run("[" EV("\"z\":0") "," EV("\"token\":\"phc_a\"") "]"),
           CAP_E_TOKEN_MISMATCH, "none, then a token");
    done();

    /* none */

    is_int(run(EV("\"z\":0")), CAP_E_NO_TOKEN, "an event without token");
    done();
    is_int(run("[" EV("\"z\":0") "," EV("\"z\":1") "]"), CAP_E_NO_TOKEN,
           "events without token");
    done();
    is_int(run("{\"batch\":[" EV("\"z\":0") "]}"), CAP_E_NO_TOKEN,
           "a batch without token");
    done();
    is_int(run(EV("\"token\":null")), CAP_E_NO_TOKEN, "a null token");
    done();

    /* invalid */

    is_int(run(EV("\"token\":\"\"")), CAP_E_TOKEN_INVALID, "an empty token");
    done();

    t = build("{\"event\":\"e\",\"distinct_id\":\"d\",\"token\":\"", "a", 65,
              "\"}");
    is_int(run(t), CAP_E_TOKEN_INVALID, "a token of 65 bytes");
    done();

    t = build("{\"event\":\"e\",\"distinct_id\":\"d\",\"token\":\"", "a", 64,
              "\"}");
    is_int(run(t), CAP_E_NONE, "a token of 64 bytes");
    is_int(batch.token.len, 64, "is kept whole");
    done();

    is_int(run(EV("\"token\":\"phc_\xc3\xa9\"")), CAP_E_TOKEN_INVALID,
           "a non-ASCII token");
    done();
    is_int(run(EV("\"token\":\"phc_\\u00e9\"")), CAP_E_TOKEN_INVALID,
           "a non-ASCII token by escape");
    done();
    is_int(run(EV("\"token\":\"phx_abc\"")), CAP_E_TOKEN_INVALID,
           "a personal API key");
    done();
    is_int(run(EV("\"token\":\"phc_a\\u0000b\"")), CAP_E_TOKEN_INVALID,
           "a token with a NUL");
    done();
    is_int(run(EV("\"token\":\"\\u0000\"")), CAP_E_TOKEN_INVALID,
           "a token that is a NUL");
    done();
    is_int(run("{\"api_key\":\"phx_abc\",\"batch\":["
               EV("\"token\":\"phc_a\"") "]}"),
           CAP_E_TOKEN_INVALID, "a personal API key on the batch");
    done();
    is_int(run("{\"api_key\":\"\",\"batch\":[" EV("\"token\":\"phc_a\"")
               "]}"),
           CAP_E_TOKEN_INVALID, "an empty batch api_key");
    done();
    is_int(run("{\"api_key\":\"phc_\xe2\x82\xac\",\"batch\":["
               EV("\"z\":0") "]}"),
           CAP_E_TOKEN_INVALID, "a non-ASCII batch api_key");
    done();
}


static void
test_allowlist(void)
{
    cap_str_t  tokens[2] = { cap_string("phc_a"), cap_string("phc_b") };

    req_reset();
    req.tokens = tokens;
    req.ntokens = 2;

    is_int(run(EV("\"token\":\"phc_c\"")), CAP_E_TOKEN_NOT_ALLOWED,
           "a token not listed");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run(EV("\"token\":\"phc_b\"")), CAP_E_NONE, "a listed token");
    is_cstr(token(), "phc_b", "is taken");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run(EV("\"token\":\"phc_a\"")), CAP_E_NONE, "the first listed");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run(EV("\"token\":\"phc_\"")), CAP_E_TOKEN_NOT_ALLOWED,
           "a prefix of a listed token");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run(EV("\"token\":\"phc_a1\"")), CAP_E_TOKEN_NOT_ALLOWED,
           "a listed token and more");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run(EV("\"token\":\"PHC_A\"")), CAP_E_TOKEN_NOT_ALLOWED,
           "another case");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run("{\"api_key\":\"phc_a\",\"batch\":["
               EV("\"token\":\"phc_z\"") "]}"),
           CAP_E_NONE, "a listed batch api_key");
    is_cstr(token(), "phc_a", "is taken");
    done();

    req.tokens = tokens;
    req.ntokens = 2;
    is_int(run("{\"api_key\":\"phc_z\",\"batch\":["
               EV("\"token\":\"phc_a\"") "]}"),
           CAP_E_TOKEN_NOT_ALLOWED, "a batch api_key not listed");
    done();
}


static void
test_distinct_id(void)
{
    size_t  i;

    static const struct {
        const char  *text;
        const char  *want;
        const char  *name;
    } ids[] = {
        { EVT("\"distinct_id\":\"u1\""),          "u1", "distinct_id" },
        { EVT("\"$distinct_id\":\"u2\""),         "u2", "$distinct_id" },
        { EVT("\"properties\":{\"distinct_id\":\"u3\"}"), "u3",
          "properties.distinct_id" },
        { EVT("\"distinct_id\":\"a\",\"$distinct_id\":\"b\","
              "\"properties\":{\"distinct_id\":\"c\"}"), "a",
          "distinct_id first" },
        { EVT("\"$distinct_id\":\"b\","
              "\"properties\":{\"distinct_id\":\"c\"}"), "b",
          "then $distinct_id" },
        { EVT("\"distinct_id\":null,\"$distinct_id\":\"b\""), "b",
          "a null distinct_id is absent" },
        { EVT("\"distinct_id\":23"),              "23", "a number" },
        { EVT("\"distinct_id\":1.50e3"),          "1.50e3", "a number text" },
        { EVT("\"distinct_id\":-0.5"),            "-0.5", "a negative" },
        { EVT("\"distinct_id\":true"),            "true", "true" },
        { EVT("\"distinct_id\":false"),           "false", "false" },
        { EVT("\"distinct_id\":{\"a\":1}"),       "{\"a\":1}", "an object" },
        { EVT("\"distinct_id\":{ \"a\" : [1, \"x\"] }"),
          "{\"a\":[1,\"x\"]}", "an object, compact" },
        { EVT("\"distinct_id\":[1,\"x\"]"),       "[1,\"x\"]", "an array" },
        { EVT("\"distinct_id\":\"a\\u0000b\""),   "a\xef\xbf\xbd" "b",
          "NUL becomes U+FFFD" },
        { EVT("\"distinct_id\":\"\\u0000\\u0000\""),
          "\xef\xbf\xbd\xef\xbf\xbd", "two NULs" },
        { EVT("\"distinct_id\":\" \""),           " ", "a space" },
        { EVT("\"distinct_id\":\"\xc3\xa9\\\"\""), "\xc3\xa9\"",
          "UTF-8 and a quote" },
    };

    static const struct {
        const char  *text;
        const char  *name;
    } bad[] = {
        { EVT("\"x\":1"),                               "missing" },
        { EVT("\"distinct_id\":null"),                  "null" },
        { EVT("\"distinct_id\":\"\""),                  "empty" },
        { EVT("\"$distinct_id\":\"\""),            "an empty $distinct_id" },
        { EVT("\"properties\":{\"distinct_id\":null}"), "a null property" },
        { EVT("\"properties\":{\"distinct_id\":\"\"}"), "an empty property" },
    };

    req_reset();

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        is_int(run(ids[i].text), CAP_E_NONE, "distinct_id: %s", ids[i].name);
        is_cstr(ev_did(0), ids[i].want, "distinct_id: %s", ids[i].name);
        done();
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(run(bad[i].text), CAP_E_DISTINCT_ID, "distinct_id %s",
               bad[i].name);
        done();
    }

    /* in the record, as a JSON string */

    is_int(run(EVT("\"distinct_id\":{\"a\":1}")), CAP_E_NONE,
           "an object distinct_id");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "is encoded");
    ok(strstr(cstr(rec.data, rec.len), ",\"distinct_id\":\"{\\\"a\\\":1}\",")
       != NULL, "as the string of its JSON text");
    done();

    is_int(run(EVT("\"distinct_id\":\"a\\u0000b\"")), CAP_E_NONE,
           "a distinct_id with NUL");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "is encoded");
    ok(strstr(cstr(rec.data, rec.len),
              ",\"distinct_id\":\"a\xef\xbf\xbd" "b\",") != NULL,
       "with U+FFFD in the record");
    done();
}


static void
test_truncation(void)
{
    const char  *want;

    req_reset();

    /* 250 e-acute (2 bytes each) -> 200 characters, 400 bytes */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"",
                     "\xc3\xa9", 250, "\"}")),
           CAP_E_NONE, "250 e-acute");
    is_int(batch.events[0].distinct_id.len, 400, "400 bytes");
    want = build("", "\xc3\xa9", 200, "");
    is_cstr(ev_did(0), want, "200 e-acute");
    done();

    /* as escapes */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"",
                     "\\u00e9", 250, "\"}")),
           CAP_E_NONE, "250 escaped e-acute");
    want = build("", "\xc3\xa9", 200, "");
    is_cstr(ev_did(0), want, "200 e-acute");
    done();

    /* 4-byte characters */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"",
                     "\xf0\x9f\x98\x80", 201, "\"}")),
           CAP_E_NONE, "201 emoji");
    want = build("", "\xf0\x9f\x98\x80", 200, "");
    is_cstr(ev_did(0), want, "200 emoji, 800 bytes");
    done();

    /* 3-byte characters from surrogate-free escapes */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"",
                     "\\u20ac", 300, "\"}")),
           CAP_E_NONE, "300 euro signs");
    want = build("", "\xe2\x82\xac", 200, "");
    is_cstr(ev_did(0), want, "200 euro signs");
    done();

    /* ASCII */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"", "a", 200,
                     "\"}")),
           CAP_E_NONE, "200 ASCII");
    is_int(batch.events[0].distinct_id.len, 200, "are kept");
    done();

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"", "a", 201,
                     "\"}")),
           CAP_E_NONE, "201 ASCII");
    want = build("", "a", 200, "");
    is_cstr(ev_did(0), want, "200 are kept");
    done();

    /* mixed: 199 ASCII, then e-acute, then more */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"", "a", 199,
                     "\xc3\xa9xyz\"}")),
           CAP_E_NONE, "199 ASCII and more");
    want = build("", "a", 199, "\xc3\xa9");
    is_cstr(ev_did(0), want, "the 200th character is kept whole");
    done();

    /* NUL counts as one character and becomes U+FFFD */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":\"", "a", 199,
                     "\\u0000zzz\"}")),
           CAP_E_NONE, "199 ASCII and a NUL");
    want = build("", "a", 199, "\xef\xbf\xbd");
    is_cstr(ev_did(0), want, "the NUL is the 200th character");
    done();

    /* a long number */

    is_int(run(build("{\"event\":\"e\"," TOK ",\"distinct_id\":", "1", 250,
                     "}")),
           CAP_E_NONE, "a number of 250 digits");
    want = build("", "1", 200, "");
    is_cstr(ev_did(0), want, "200 digits");
    done();
}


static void
test_event_name(void)
{
    req_reset();

    is_int(run("{\"distinct_id\":\"d\"," TOK "}"), CAP_E_EVENT_NAME,
           "a missing name");
    done();
    is_int(run(EV(TOK ",\"event\":\"\"")), CAP_E_EVENT_NAME,
           "an empty name");
    done();
    is_int(run("{\"event\":\"\",\"distinct_id\":\"d\"," TOK "}"),
           CAP_E_EVENT_NAME, "an empty name alone");
    done();
    is_int(run("{\"event\":5,\"distinct_id\":\"d\"," TOK "}"), CAP_E_PARSE,
           "a number name");
    done();
    is_int(run("{\"event\":{},\"distinct_id\":\"d\"," TOK "}"), CAP_E_PARSE,
           "an object name");
    done();
    is_int(run("{\"event\":[\"e\"],\"distinct_id\":\"d\"," TOK "}"),
           CAP_E_PARSE, "an array name");
    done();
    is_int(run("{\"event\":true,\"distinct_id\":\"d\"," TOK "}"), CAP_E_PARSE,
           "a boolean name");
    done();

    /* engage */

    req.endpoint = CAP_ENDPOINT_ENGAGE;
    is_int(run("{\"distinct_id\":\"d\"," TOK ",\"$set\":{\"a\":1}}"),
           CAP_E_NONE, "engage without a name");
    is_cstr(ev_name(0), "$identify", "is $identify");
    is_cstr(ev_prop(0, "$set"), "{\"a\":1}", "with its $set");
    done();

    req.endpoint = CAP_ENDPOINT_ENGAGE;
    is_int(run(EV(TOK)), CAP_E_NONE, "engage with a name");
    is_cstr(ev_name(0), "e", "keeps it");
    done();

    req.endpoint = CAP_ENDPOINT_ENGAGE;
    is_int(run("{\"event\":5,\"distinct_id\":\"d\"," TOK "}"), CAP_E_PARSE,
           "engage with a number name");
    done();

    /* $performance_event */

    is_int(run("[{\"event\":\"$performance_event\",\"distinct_id\":\"d\","
               TOK "},{\"event\":\"$pageview\",\"distinct_id\":\"d\"," TOK
               "}]"),
           CAP_E_NONE, "$performance_event and $pageview");
    is_int(batch.nevents, 1, "one event");
    is_int(batch.dropped, 1, "one dropped");
    is_cstr(ev_name(0), "$pageview", "the one is $pageview");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    ok(rec.len > 0 && memchr(rec.data, '\n', rec.len)
       == rec.data + rec.len - 1, "one record");
    ok(strstr(cstr(rec.data, rec.len), "$performance_event") == NULL,
       "without $performance_event");
    done();

    is_int(run("{\"event\":\"$performance_event\",\"distinct_id\":\"d\","
               TOK "}"), CAP_E_NONE, "$performance_event alone");
    is_int(batch.nevents, 0, "no events");
    is_int(batch.dropped, 1, "one dropped");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_int(rec.len, 0, "no records");
    done();

    is_int(run("[{\"event\":\"$performance_event\",\"distinct_id\":\"d\","
               TOK "},{\"event\":\"$performance_event\",\"distinct_id\":"
               "\"d\"," TOK "}," EV(TOK) "]"),
           CAP_E_NONE, "two $performance_event and one more");
    is_int(batch.nevents, 1, "one event");
    is_int(batch.dropped, 2, "two dropped");
    is_cstr(ev_name(0), "e", "the one left");
    done();
}


static void
test_uuid(void)
{
    const char  *u1, *u2;

    req_reset();

    is_int(run(EV(TOK ",\"uuid\":\"0190A0B1-C2D3-7E4F-8A9B-0C1D2E3F4A5B\"")),
           CAP_E_NONE, "an uppercase uuid");
    is_cstr(ev_uuid(0), "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b",
            "is lowercase");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_cstr(field("uuid"), "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b",
            "in the record");
    done();

    is_int(run(EV(TOK ",\"uuid\":\"{0190A0B1-C2D3-7E4F-8A9B-0C1D2E3F4A5B}\"")),
           CAP_E_NONE, "a braced uuid");
    is_cstr(ev_uuid(0), "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b",
            "is canonical");
    done();

    is_int(run(EV(TOK ",\"uuid\":\"0190a0b1c2d37e4f8a9b0c1d2e3f4a5b\"")),
           CAP_E_NONE, "a uuid without hyphens");
    is_cstr(ev_uuid(0), "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b",
            "is hyphenated");
    done();

    is_int(run(EV(TOK ",\"uuid\":\"\"")), CAP_E_NONE, "an empty uuid");
    u1 = ev_uuid(0);
    ok(uuid_v7_ok(u1), "is a new v7: %s", u1);
    is_int(u1[14], '7', "version nibble 7");
    done();

    is_int(run("[" EV(TOK) "," EV(TOK) "]"), CAP_E_NONE, "no uuid");
    u1 = ev_uuid(0);
    u2 = ev_uuid(1);
    ok(uuid_v7_ok(u1) && uuid_v7_ok(u2), "new v7s: %s %s", u1, u2);
    ok(strcmp(u1, u2) != 0, "that differ");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_cstr(field("uuid"), u1, "the new uuid is in the record");
    done();

    is_int(run(EV(TOK ",\"uuid\":null")), CAP_E_NONE, "a null uuid");
    ok(uuid_v7_ok(ev_uuid(0)), "is a new v7");
    done();

    is_int(run(EV(TOK ",\"uuid\":\"xyz\"")), CAP_E_UUID, "uuid xyz");
    done();
    is_int(run(EV(TOK ",\"uuid\":\"0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5\"")),
           CAP_E_UUID, "a uuid of 35 characters");
    done();
    is_int(run(EV(TOK ",\"uuid\":\"0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5g\"")),
           CAP_E_UUID, "a uuid with a g");
    done();
    is_int(run(EV(TOK ",\"uuid\":\" 0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5\"")),
           CAP_E_UUID, "a uuid with a space");
    done();
    is_int(run(EV(TOK ",\"uuid\":123")), CAP_E_UUID, "a number uuid");
    done();
    is_int(run(EV(TOK ",\"uuid\":{}")), CAP_E_UUID, "an object uuid");
    done();
}


static void
test_properties(void)
{
    req_reset();

    is_int(run(EV(TOK)), CAP_E_NONE, "no properties");
    is_cstr(ev_props(0), "{}", "are {}");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    ok(rec.len > 18 && memcmp(rec.data + rec.len - 18,
                              ",\"properties\":{}}\n", 18) == 0,
       "\"properties\":{} in the record");
    done();

    is_int(run(EV(TOK ",\"properties\":null")), CAP_E_NONE,
           "null properties");
    is_cstr(ev_props(0), "{}", "are {}");
    done();

    is_int(run(EV(TOK ",\"properties\":{\"a\":[1,{\"b\":null}]}")),
           CAP_E_NONE, "properties");
    is_cstr(ev_props(0), "{\"a\":[1,{\"b\":null}]}", "are kept");
    done();

    is_int(run(EV(TOK ",\"properties\":\"x\"")), CAP_E_PARSE,
           "string properties");
    done();
    is_int(run(EV(TOK ",\"properties\":1")), CAP_E_PARSE,
           "number properties");
    done();
    is_int(run(EV(TOK ",\"properties\":[]")), CAP_E_PARSE,
           "array properties");
    done();
    is_int(run(EV(TOK ",\"properties\":true")), CAP_E_PARSE,
           "boolean properties");
    done();

    /* $set and $set_once */

    is_int(run(EV(TOK ",\"$set\":{\"a\":1,\"b\":2},"
                  "\"properties\":{\"$set\":{\"b\":0,\"c\":3}}")),
           CAP_E_NONE, "top-level and properties $set");
    is_cstr(ev_prop(0, "$set"), "{\"b\":2,\"c\":3,\"a\":1}",
            "merged key by key, top-level wins");
    done();

    is_int(run(EV(TOK ",\"$set\":{\"a\":1},\"properties\":{\"x\":1}")),
           CAP_E_NONE, "top-level $set only");
    is_cstr(ev_props(0), "{\"x\":1,\"$set\":{\"a\":1}}",
            "is folded into properties");
    done();

    is_int(run(EV(TOK ",\"$set\":{\"a\":1}")), CAP_E_NONE,
           "top-level $set without properties");
    is_cstr(ev_props(0), "{\"$set\":{\"a\":1}}",
            "is folded into new properties");
    done();

    is_int(run(EV(TOK ",\"$set_once\":{\"a\":1,\"b\":2},"
                  "\"properties\":{\"$set_once\":{\"b\":0,\"c\":3}}")),
           CAP_E_NONE, "top-level and properties $set_once");
    is_cstr(ev_prop(0, "$set_once"), "{\"b\":2,\"c\":3,\"a\":1}",
            "merged key by key, top-level wins");
    done();

    is_int(run(EV(TOK ",\"$set\":{\"s\":1},\"$set_once\":{\"o\":2},"
                  "\"properties\":{\"p\":0,\"$set_once\":{\"o\":0}}")),
           CAP_E_NONE, "$set and $set_once");
    is_cstr(ev_props(0), "{\"p\":0,\"$set_once\":{\"o\":2},\"$set\":{\"s\":1}}",
            "both folded");
    done();

    is_int(run(EV(TOK ",\"$set\":{\"a\":1},"
                  "\"properties\":{\"$set\":\"x\"}")),
           CAP_E_NONE, "properties.$set not an object");
    is_cstr(ev_props(0), "{\"$set\":{\"a\":1}}", "is replaced");
    done();

    is_int(run(EV(TOK ",\"$set\":{},\"properties\":{\"$set\":{\"a\":1}}")),
           CAP_E_NONE, "an empty top-level $set");
    is_cstr(ev_props(0), "{\"$set\":{\"a\":1}}", "changes nothing");
    done();
}


static void
test_timestamps(void)
{
    req_reset();

    /* offset */

    is_cstr(ts_of(EV(TOK ",\"offset\":5000")), "2024-01-02T03:04:00.000Z",
            "offset: now - offset");
    is_cstr(ts_of(EV(TOK ",\"offset\":0")), NOW_TEXT, "offset 0: now");
    done();

    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T03:04:00.000Z\",\"batch\":["
                  EV("\"offset\":1000,"
                     "\"timestamp\":\"2020-01-01T00:00:00Z\"") "]}"),
            "2024-01-02T03:04:04.000Z", "offset over timestamp and sent_at");
    done();

    /* timestamp and sent_at */

    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T03:04:00.000Z\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-02T03:03:50.000Z\"") "]}"),
            "2024-01-02T03:03:55.000Z", "now + (timestamp - sent_at)");
    is_cstr(field("sent_at"), "2024-01-02T03:04:00.000Z",
            "sent_at in the record");
    is_cstr(field("now"), NOW_TEXT, "now in the record");
    done();

    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T04:04:00+01:00\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-02T03:03:50.250Z\"") "]}"),
            "2024-01-02T03:03:55.250Z", "a sent_at with an offset");
    done();

    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T03:04:00.000Z\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-02T03:03:50.000Z\","
                     "\"properties\":{\"$ignore_sent_at\":true}") "]}"),
            "2024-01-02T03:03:50.000Z", "$ignore_sent_at: the timestamp");
    done();

    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T03:04:00.000Z\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-02T03:03:50.000Z\","
                     "\"properties\":{\"$ignore_sent_at\":false}") "]}"),
            "2024-01-02T03:03:55.000Z", "$ignore_sent_at false: skew");
    done();

    /* timestamp alone */

    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2024-01-02T03:03:50.000Z\"")),
            "2024-01-02T03:03:50.000Z", "timestamp alone");
    is_cstr(field("sent_at"), "null", "sent_at null in the record");
    done();

    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2024-01-02T04:03:50.123+01:00\"")),
            "2024-01-02T03:03:50.123Z", "timestamp with an offset");
    done();

    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2020-01-01T00:00:00Z\"")),
            "2020-01-01T00:00:00.000Z", "a timestamp in the past");
    done();

    /* none */

    is_cstr(ts_of(EV(TOK)), NOW_TEXT, "no time: now");
    done();
    is_cstr(ts_of(EV(TOK ",\"timestamp\":null")), NOW_TEXT,
            "a null timestamp: now");
    done();

    /* the future */

    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2024-01-03T03:04:05.000Z\"")),
            NOW_TEXT, "24 h ahead: now");
    done();
    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2024-01-03T02:04:05.001Z\"")),
            NOW_TEXT, "23 h and 1 ms ahead: now");
    done();
    is_cstr(ts_of(EV(TOK ",\"timestamp\":\"2024-01-03T01:04:05.000Z\"")),
            "2024-01-03T01:04:05.000Z", "22 h ahead: kept");
    done();
    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T00:00:00Z\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-10T00:00:00Z\"") "]}"),
            NOW_TEXT, "skew 8 days ahead: now");
    done();
    is_cstr(ts_of(EV(TOK ",\"offset\":-90000000")), NOW_TEXT,
            "an offset 25 h ahead: now");
    done();
    is_cstr(ts_of(EV(TOK ",\"offset\":-3600000")),
            "2024-01-02T04:04:05.000Z", "an offset 1 h ahead: kept");
    done();

    /* the query's sent_at */

    req.has_query_sent_at = 1;
    req.query_sent_at = NOW - 10000;
    is_cstr(ts_of("[" EV(TOK ",\"timestamp\":\"2024-01-02T03:03:50.000Z\"")
                  "]"),
            "2024-01-02T03:04:00.000Z", "the query sent_at");
    is_cstr(field("sent_at"), "2024-01-02T03:03:55.000Z",
            "is the record's sent_at");
    done();

    req.has_query_sent_at = 1;
    req.query_sent_at = NOW - 10000;
    is_cstr(ts_of("{\"api_key\":\"phc_b\",\"sent_at\":"
                  "\"2024-01-02T03:04:00.000Z\",\"batch\":["
                  EV("\"timestamp\":\"2024-01-02T03:03:50.000Z\"") "]}"),
            "2024-01-02T03:03:55.000Z", "the body's sent_at over the query");
    is_cstr(field("sent_at"), "2024-01-02T03:04:00.000Z",
            "is the record's sent_at");
    done();

    req.has_query_sent_at = 1;
    req.query_sent_at = NOW - 10000;
    is_cstr(ts_of(EV(TOK)), NOW_TEXT, "a query sent_at, no timestamp: now");
    is_cstr(field("sent_at"), "2024-01-02T03:03:55.000Z",
            "is the record's sent_at");
    done();

    /* "?_=9223372036854775807": out of range, ignored (no overflow) */

    req.has_query_sent_at = 1;
    req.query_sent_at = INT64_MAX;
    is_cstr(ts_of("[" EV(TOK ",\"timestamp\":\"0000-01-01T00:00:00Z\"")
                  "]"),
            "0000-01-01T00:00:00.000Z", "a query sent_at out of range: "
            "the timestamp as sent");
    is_cstr(field("sent_at"), "null", "and no sent_at");
    done();

    /* invalid */

    is_int(run(EV(TOK ",\"timestamp\":\"yesterday\"")), CAP_E_TIMESTAMP,
           "timestamp \"yesterday\"");
    done();
    is_int(run(EV(TOK ",\"timestamp\":\"2024-13-01T00:00:00Z\"")),
           CAP_E_TIMESTAMP, "month 13");
    done();
    is_int(run(EV(TOK ",\"timestamp\":\"2024-01-02T03:04:05Zjunk\"")),
           CAP_E_TIMESTAMP, "a timestamp with junk");
    done();
    is_int(run("{\"api_key\":\"phc_b\",\"sent_at\":\"2024-01-02T03:04:00Z\","
               "\"batch\":[" EV("\"timestamp\":\"soon\"") "]}"),
           CAP_E_TIMESTAMP, "an invalid timestamp with sent_at");
    done();
}


static void
test_cookieless(void)
{
    req_reset();

    is_int(run(EV(TOK ",\"properties\":{\"$cookieless_mode\":\"yes\"}")),
           CAP_E_COOKIELESS, "$cookieless_mode a string");
    done();
    is_int(run(EV(TOK ",\"properties\":{\"$cookieless_mode\":1}")),
           CAP_E_COOKIELESS, "$cookieless_mode a number");
    done();
    is_int(run(EV(TOK ",\"properties\":{\"$cookieless_mode\":{}}")),
           CAP_E_COOKIELESS, "$cookieless_mode an object");
    done();
    is_int(run(EV(TOK ",\"properties\":{\"$cookieless_mode\":true}")),
           CAP_E_NONE, "$cookieless_mode true");
    done();
    is_int(run(EV(TOK ",\"properties\":{\"$cookieless_mode\":false}")),
           CAP_E_NONE, "$cookieless_mode false");
    done();
}


#define SNAP(x)                                                              \
    "{\"event\":\"$snapshot\",\"distinct_id\":\"d\"," TOK                    \
    ",\"properties\":{" x "}}"

static void
test_recordings(void)
{
    const char  *t;

    req_reset();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$snapshot_data\":[]")), CAP_E_SNAPSHOT,
           "no $session_id");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":null,\"$snapshot_data\":[]")),
           CAP_E_SNAPSHOT, "a null $session_id");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    t = build("{\"event\":\"$snapshot\",\"distinct_id\":\"d\"," TOK
              ",\"properties\":{\"$session_id\":\"", "a", 71, "\"}}");
    is_int(run(t), CAP_E_SNAPSHOT, "a $session_id of 71 characters");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    t = build("{\"event\":\"$snapshot\",\"distinct_id\":\"d\"," TOK
              ",\"properties\":{\"$session_id\":\"", "a", 70, "\"}}");
    is_int(run(t), CAP_E_NONE, "a $session_id of 70 characters");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"abc_def\"")), CAP_E_SNAPSHOT,
           "a $session_id with _");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"abc def\"")), CAP_E_SNAPSHOT,
           "a $session_id with a space");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"abc.def\"")), CAP_E_SNAPSHOT,
           "a $session_id with a dot");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"ab\xc3\xa9\"")), CAP_E_SNAPSHOT,
           "a $session_id with UTF-8");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"ab\\u0000\"")), CAP_E_SNAPSHOT,
           "a $session_id with NUL");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"\"")), CAP_E_SNAPSHOT,
           "an empty $session_id");
    done();
    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":123")), CAP_E_SNAPSHOT,
           "a number $session_id");
    done();

    /* valid */

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"0190a0b1-C2D3-x\","
                    "\"$snapshot_data\":[{\"type\":2}]")),
           CAP_E_NONE, "a valid recording");
    ok(batch.recordings, "batch.recordings");
    is_cstr(ev_prop(0, "$window_id"), "\"0190a0b1-C2D3-x\"",
            "$window_id defaults to the session id");
    is_cstr(ev_props(0), "{\"$session_id\":\"0190a0b1-C2D3-x\","
            "\"$snapshot_data\":[{\"type\":2}],"
            "\"$window_id\":\"0190a0b1-C2D3-x\"}", "is appended");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"s1\",\"$window_id\":\"w1\"")),
           CAP_E_NONE, "a recording with $window_id");
    is_cstr(ev_prop(0, "$window_id"), "\"w1\"", "keeps it");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"s1\",\"$window_id\":null")),
           CAP_E_NONE, "a recording with a null $window_id");
    is_cstr(ev_prop(0, "$window_id"), "\"s1\"", "gets the session id");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"s1\",\"$snapshot_data\":{}")),
           CAP_E_NONE, "$snapshot_data an object");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"s1\",\"$snapshot_data\":\"x\"")),
           CAP_E_SNAPSHOT, "$snapshot_data a string");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run(SNAP("\"$session_id\":\"s1\",\"$snapshot_data\":1")),
           CAP_E_SNAPSHOT, "$snapshot_data a number");
    done();

    req.endpoint = CAP_ENDPOINT_RECORDINGS;
    is_int(run("[" SNAP("\"$session_id\":\"s1\"") ","
               SNAP("\"$session_id\":\"s_2\"") "]"),
           CAP_E_SNAPSHOT, "a bad $session_id in the second event");
    done();

    /* not a recording endpoint: not checked */

    is_int(run(SNAP("\"$snapshot_data\":\"x\"")), CAP_E_NONE,
           "no recording checks on /e");
    ok(!batch.recordings, "not recordings");
    is_cstr(ev_prop(0, "$window_id"), "(absent)", "no $window_id");
    done();
}


static void
test_ip(void)
{
    req_reset();

    /* on */

    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip on, no $ip");
    is_cstr(ev_prop(0, "$ip"), "\"10.1.2.3\"", "sets $ip");
    done();

    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":null,\"a\":1}")), CAP_E_NONE,
           "ip on, $ip null");
    is_cstr(ev_props(0), "{\"$ip\":\"10.1.2.3\",\"a\":1}",
            "sets $ip in its place");
    done();

    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"9.9.9.9\"}")), CAP_E_NONE,
           "ip on, $ip sent");
    is_cstr(ev_prop(0, "$ip"), "\"9.9.9.9\"", "keeps the client's $ip");
    done();

    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run("[" EV(TOK) "," EV(TOK ",\"properties\":{\"k\":1}") "]"),
           CAP_E_NONE, "ip on, two events");
    is_cstr(ev_props(1), "{\"k\":1,\"$ip\":\"10.1.2.3\"}",
            "both get it (the second)");
    is_cstr(ev_prop(0, "$ip"), "\"10.1.2.3\"", "both get it (the first)");
    done();

    /* off */

    req.ip_policy = CAP_IP_OFF;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip off, no $ip");
    is_cstr(ev_prop(0, "$ip"), "(absent)", "no $ip");
    done();

    req.ip_policy = CAP_IP_OFF;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"9.9.9.9\"}")), CAP_E_NONE,
           "ip off, $ip sent");
    is_cstr(ev_prop(0, "$ip"), "\"9.9.9.9\"", "keeps the client's $ip");
    done();

    /* force */

    req.ip_policy = CAP_IP_FORCE;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"9.9.9.9\",\"a\":1}")),
           CAP_E_NONE, "ip force, $ip sent");
    is_cstr(ev_props(0), "{\"$ip\":\"10.1.2.3\",\"a\":1}",
            "overwrites the client's $ip");
    done();

    req.ip_policy = CAP_IP_FORCE;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip force, no $ip");
    is_cstr(ev_prop(0, "$ip"), "\"10.1.2.3\"", "sets $ip");
    done();

    /* anonymize */

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip anonymize, IPv4");
    is_cstr(ev_prop(0, "$ip"), "\"1.2.3.0\"", "1.2.3.4 -> 1.2.3.0");
    done();

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("2001:db8:1:2:3:4:5:6");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip anonymize, IPv6");
    is_cstr(ev_prop(0, "$ip"), "\"2001:db8:1::\"",
            "2001:db8:1:2:3:4:5:6 -> 2001:db8:1::");
    done();

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"5.6.7.8\"}")), CAP_E_NONE,
           "ip anonymize, $ip sent");
    is_cstr(ev_prop(0, "$ip"), "\"5.6.7.0\"",
            "the client's $ip is anonymised");
    done();

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"2001:db8:ffff:1::9\"}")),
           CAP_E_NONE, "ip anonymize, IPv6 $ip sent");
    is_cstr(ev_prop(0, "$ip"), "\"2001:db8:ffff::\"",
            "the client's IPv6 $ip is anonymised");
    done();

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":null}")), CAP_E_NONE,
           "ip anonymize, $ip null");
    is_cstr(ev_prop(0, "$ip"), "\"1.2.3.0\"", "set and anonymised");
    done();

    /* duplicate $ip members: none of the client's addresses stays */

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"5.6.7.8\","
                  "\"$ip\":\"9.9.9.9\"}")), CAP_E_NONE,
           "ip anonymize, two $ip sent");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    ok(strstr(cstr(rec.data, rec.len), "5.6.7.8") == NULL
       && strstr(cstr(rec.data, rec.len), "9.9.9.9") == NULL,
       "no unmasked client $ip in the record: %s", cstr(rec.data, rec.len));
    done();

    req.ip_policy = CAP_IP_FORCE;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"5.6.7.8\","
                  "\"$ip\":null}")), CAP_E_NONE, "ip force, two $ip sent");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    ok(strstr(cstr(rec.data, rec.len), "5.6.7.8") == NULL,
       "no client $ip in the record: %s", cstr(rec.data, rec.len));
    done();

    /* the client's address unknown: a client-sent $ip is still masked */

    req.ip_policy = CAP_IP_ANONYMIZE;
    is_int(run(EV(TOK ",\"properties\":{\"$ip\":\"5.6.7.8\"}")), CAP_E_NONE,
           "ip anonymize, $ip sent, no client address");
    is_cstr(ev_prop(0, "$ip"), "\"5.6.7.0\"",
            "the client's $ip is anonymised");
    done();

    req.ip_policy = CAP_IP_ON;
    is_int(run(EV(TOK)), CAP_E_NONE, "ip on, no client address");
    is_cstr(ev_prop(0, "$ip"), "(absent)", "no $ip");
    done();

    /* in the record */

    req.ip_policy = CAP_IP_ANONYMIZE;
    req.ip = (cap_str_t) cap_string("1.2.3.4");
    is_int(run(EV(TOK)), CAP_E_NONE, "ip anonymize");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_cstr(field("$ip"), "1.2.3.0", "the record has the masked $ip");
    done();
}


static void
test_anonymize(void)
{
    size_t       i, n;
    cap_uchar_t  out[64];

    static const struct {
        const char  *in;
        const char  *out;
    } ips[] = {
        { "1.2.3.4",                   "1.2.3.0" },
        { "255.255.255.255",           "255.255.255.0" },
        { "10.0.0.0",                  "10.0.0.0" },
        { "2001:db8:1:2:3:4:5:6",      "2001:db8:1::" },
        { "2001:0DB8:0001:0002::1",    "2001:db8:1::" },
        { "::1",                       "::" },
        { "::ffff:1.2.3.4",            "::" },
    };

    static const char  *bad[] = {
        "", "x", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "::g",
        "2001:db8:1:2:3:4:5:6:7",
    };

    for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        memset(out, 'x', sizeof(out));
        n = cap_ip_anonymize((cap_uchar_t *) ips[i].in, strlen(ips[i].in),
                             out, sizeof(out));
        is_str(out, n, ips[i].out, "anonymize %s", ips[i].in);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = cap_ip_anonymize((cap_uchar_t *) bad[i], strlen(bad[i]), out,
                             sizeof(out));
        is_int(n, 0, "not an address: \"%s\"", bad[i]);
    }
}


static void
test_capture_property(void)
{
    cap_property_t  props[3] = {
        { cap_string("plan"),      cap_string("pro") },
        { cap_string("empty"),     cap_null_string },
        { cap_string("$lib_edge"), cap_string("nginx") },
    };

    req_reset();

    req.properties = props;
    req.nproperties = 3;
    is_int(run(EV(TOK ",\"properties\":{\"plan\":\"free\",\"empty\":\"keep\","
                  "\"n\":1}")),
           CAP_E_NONE, "capture properties");
    is_cstr(ev_props(0), "{\"plan\":\"pro\",\"empty\":\"keep\",\"n\":1,"
            "\"$lib_edge\":\"nginx\"}",
            "set, overridden, the empty one skipped");
    done();

    req.properties = props;
    req.nproperties = 3;
    is_int(run("[" EV(TOK) "," EV(TOK ",\"properties\":{\"plan\":null}") "]"),
           CAP_E_NONE, "capture properties, two events");
    is_cstr(ev_props(0), "{\"plan\":\"pro\",\"$lib_edge\":\"nginx\"}",
            "the first event has them");
    is_cstr(ev_props(1), "{\"plan\":\"pro\",\"$lib_edge\":\"nginx\"}",
            "the second event has them");
    is_cstr(ev_prop(0, "empty"), "(absent)", "an empty value is not set");
    done();

    /* with $ip */

    props[1].value = (cap_str_t) cap_string("v");
    req.properties = props;
    req.nproperties = 3;
    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("10.1.2.3");
    is_int(run(EV(TOK)), CAP_E_NONE, "capture properties and $ip");
    is_cstr(ev_props(0), "{\"$ip\":\"10.1.2.3\",\"plan\":\"pro\","
            "\"empty\":\"v\",\"$lib_edge\":\"nginx\"}", "all of them");
    done();
}


static void
test_record(void)
{
    static const char  want1[] =
        "{\"uuid\":\"0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b\","
        "\"event\":\"$pageview\",\"distinct_id\":\"user-1\","
        "\"token\":\"phc_abc\",\"timestamp\":\"2024-01-02T03:03:55.000Z\","
        "\"now\":\"2024-01-02T03:04:05.000Z\","
        "\"sent_at\":\"2024-01-02T03:04:00.000Z\","
        "\"historical_migration\":true,"
        "\"properties\":{\"$current_url\":\"https://e.com/a?b=\\\"c\\\"\","
        "\"n\":1.50e3,\"l\":[true,null]}}\n";

    static const char  want2[] =
        "{\"uuid\":\"0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b\","
        "\"event\":\"sign up\",\"distinct_id\":\"u\\\"2\\n\","
        "\"token\":\"phc_tok\",\"timestamp\":\"2024-01-02T03:00:00.000Z\","
        "\"now\":\"2024-01-02T03:04:05.000Z\",\"sent_at\":null,"
        "\"historical_migration\":false,"
        "\"properties\":{\"a\":[1,{\"b\":null}],"
        "\"$set\":{\"x\":1,\"plan\":\"pro\"},\"$ip\":\"203.0.113.7\","
        "\"$lib_edge\":\"nginx\"}}\n";

    cap_property_t  props[1] = {
        { cap_string("$lib_edge"), cap_string("nginx") },
    };

    req_reset();

    is_int(run("{\"api_key\":\"phc_abc\",\"historical_migration\":true,"
               "\"sent_at\":\"2024-01-02T03:04:00.000Z\",\"batch\":["
               "{\"event\":\"$pageview\",\"distinct_id\":\"user-1\","
               "\"uuid\":\"0190A0B1-C2D3-7E4F-8A9B-0C1D2E3F4A5B\","
               "\"timestamp\":\"2024-01-02T03:03:50.000Z\","
               "\"properties\":{"
               "\"$current_url\":\"https://e.com/a?b=\\\"c\\\"\","
               "\"n\":1.50e3,\"l\":[ true, null ]}}]}"),
           CAP_E_NONE, "a full batch");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_str(rec.data, rec.len, want1, "the whole record");
    done();

    req.ip_policy = CAP_IP_ON;
    req.ip = (cap_str_t) cap_string("203.0.113.7");
    req.properties = props;
    req.nproperties = 1;

    is_int(run("{\"event\":\"sign up\",\"$distinct_id\":\"u\\\"2\\n\","
               "\"token\":\"phc_tok\","
               "\"uuid\":\"0190A0B1-C2D3-7E4F-8A9B-0C1D2E3F4A5B\","
               "\"timestamp\":\"2024-01-02T04:00:00+01:00\","
               "\"$set\":{\"plan\":\"pro\"},"
               "\"properties\":{\"a\":[1,{\"b\":null}],\"$set\":{\"x\":1}}}"),
           CAP_E_NONE, "a full single event");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_str(rec.data, rec.len, want2, "the whole record, enriched");
    done();

    /* one line per event */

    is_int(run("{\"api_key\":\"phc_abc\",\"batch\":["
               "{\"event\":\"a\",\"distinct_id\":\"1\","
               "\"uuid\":\"00000000-0000-0000-0000-000000000001\"},"
               "{\"event\":\"b\",\"distinct_id\":\"2\","
               "\"uuid\":\"00000000-0000-0000-0000-000000000002\"}]}"),
           CAP_E_NONE, "two events");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    is_cstr(cstr(rec.data, rec.len),
            "{\"uuid\":\"00000000-0000-0000-0000-000000000001\","
            "\"event\":\"a\",\"distinct_id\":\"1\",\"token\":\"phc_abc\","
            "\"timestamp\":\"" NOW_TEXT "\",\"now\":\"" NOW_TEXT "\","
            "\"sent_at\":null,\"historical_migration\":false,"
            "\"properties\":{}}\n"
            "{\"uuid\":\"00000000-0000-0000-0000-000000000002\","
            "\"event\":\"b\",\"distinct_id\":\"2\",\"token\":\"phc_abc\","
            "\"timestamp\":\"" NOW_TEXT "\",\"now\":\"" NOW_TEXT "\","
            "\"sent_at\":null,\"historical_migration\":false,"
            "\"properties\":{}}\n", "two lines");
    done();
}


static void
test_record_limits(void)
{
    size_t     len;
    cap_buf_t  b;

    req_reset();

    is_int(run(EV(TOK ",\"properties\":{\"pad\":\"0123456789\"}")),
           CAP_E_NONE, "an event");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");

    len = rec.len - 1;

    is_int(encode(len), CAP_E_NONE, "a record of exactly max_event");
    is_int(encode(len - 1), CAP_E_EVENT_TOO_LARGE,
           "a record 1 byte over max_event");
    is_int(encode(10), CAP_E_EVENT_TOO_LARGE, "a record far over max_event");

    /* the second of two */

    done();

    is_int(run("[" EV(TOK) "," EV(TOK ",\"properties\":{\"pad\":\""
               "0123456789012345678901234567890123456789\"}") "]"),
           CAP_E_NONE, "a small and a large event");
    is_int(encode(MAX_EVENT), CAP_E_NONE, "encode");
    len = (char *) memchr(rec.data, '\n', rec.len) - (char *) rec.data;
    is_int(encode(len), CAP_E_EVENT_TOO_LARGE,
           "the large one fails the batch");
    done();

    /* a bounded output */

    is_int(run(EV(TOK)), CAP_E_NONE, "an event");
    cap_buf_init(&b, &tp.pool, 16, 64);
    memset(&err, 0, sizeof(cap_error_t));
    is_int(cap_record_encode(&b, &batch, MAX_EVENT, &err), CAP_ERROR,
           "a record over the output's max");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "CAP_E_BODY_TOO_LARGE");
    done();
}
