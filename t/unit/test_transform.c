
/*
 * Unit tests of the per-destination transforms (cap_transform_event()):
 * each rule on exact output, with digests computed outside this code;
 * the copy on write, node by node; no allocation when nothing changes;
 * out of memory at every allocation; the encoders on a transformed
 * event; and generated events against a plain reference transform.
 * After every transform the input event must write the same bytes as
 * before.
 */


#include "tap.h"
#include "pool.h"
#include "gen.h"
#include "util.h"
#include "core/cap_sha256.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW         1704164645000LL
#define GEN_EVENTS  3000
#define GEN_SEED    0x9e3779b9

#define SALT        "s3cret"


/*
 * The digests, each from coreutils:  printf '%s' 'VALUE' | sha256sum
 * with VALUE the salt and the value's bytes (H_Q: printf 's3cretq"\xc3\xa9',
 * the UTF-8 of the JSON string "q\"\u00e9").
 */
#define H_EMAIL   /* s3creta@b.c */                                          \
    "c25c4ac7a71c921caeb6bd75726a3e8d72cd60dc9c9a8f88869822bb4d02b9b9"
#define H_EMAIL0  /* a@b.c (no salt) */                                      \
    "d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a"
#define H_DUP     /* s3cretdup */                                            \
    "d753fb191dd5425deeeee2f5816b1c3e6bde69c69727d21f455a7b27c3976634"
#define H_X       /* s3cretx */                                              \
    "0014ba6947c9c0e42432201ab9815f54ab5f276aee6a56d22542f5f0eadc1195"
#define H_Y       /* s3crety */                                              \
    "253e76118e179766601c9ceae4ca705ba55a6b6d5f7dd7d7c51f8814e729c99b"
#define H_Z       /* s3cretz */                                              \
    "fd695ad100b563bcd71b0671b3cdf49f8ddd32cfed35ee5e950aef1ea82a41a4"
#define H_NUM     /* s3cret1.50e3 */                                         \
    "708d33ce9c4a841f9852c49877f6c9794a2ccb3c75ba02fe77c3cfa61f92e009"
#define H_TRUE    /* s3crettrue */                                           \
    "ff3e9265c54df6c41b1cf801b81f4cea70258967b269c3a5590a2042d51dd4d6"
#define H_FALSE   /* s3cretfalse */                                          \
    "01205ce870a925e0de808eee17323611035117255452deacef4e3b55db9c528c"
#define H_OBJ     /* s3cret{"a":[1,"x"]} */                                  \
    "d16a290fccdf594d3518585a75b2e2802d4ff9bd031fce10841f4720740c5777"
#define H_ARR     /* s3cret[1,{"b":null}] */                                 \
    "7c97812357e9663981ecdb284a5044abb677bbcc8da72bbb1a06623bb95e5d36"
#define H_Q       /* s3cretq"\xc3\xa9 */                                     \
    "f6c7f1fba39771361e72a6391a50d54b123aac769773e273cc68adde14c013cb"
#define H_USER    /* s3cretuser-1 */                                         \
    "11a667c217cd12b0447834f4e2cc0f62a5b05774731d11caa43ca11a5755c914"
#define H_ANON    /* s3cretanon-1 */                                         \
    "49ba5bda4ca1b1a02f90fc66b8c05455d76ad3b4fbe9d03db2e2d48572bc3132"
#define H_DEV     /* s3cretdev-1 */                                          \
    "4fe11bfb25cb21a645ee6da30940e22d9fce97beb2e149f3db877e0ecc90a8f5"
#define H_42      /* s3cret42 */                                             \
    "14a5c59a80f4108cbf28c0973d0b1939d5ed49f34c2b76d330ea2488c0110722"
#define H_ALIAS   /* s3cretal-1 */                                           \
    "7d37983cd0109d84ec565669d6433b5cd163a606dceee5b9068fbc3aab25eee9"
#define H_7       /* s3cret7 */                                              \
    "87d260e36ade221c7c6d3d4638c7f3536616f8a65cacf02f095004d9dcd8d2c1"
#define H_IP      /* s3cret1.2.3.0 */                                        \
    "5a556a214f5acae65dd7a1a6f1b79b4ab1210ebe580c9a7c68e5c475908baf51"
#define H_SETN    /* s3cret{"n":1} */                                        \
    "a088ec18fdb34d2d7cfe539653723173c9790ebd7b8363f6337080862056053c"


#define nelts(a)  (sizeof(a) / sizeof(a[0]))


static cap_event_t *event(const char *json);
static cap_str_t text(cap_json_t *v);
static int same_text(cap_json_t *v, cap_str_t *want);
static int same_event(const cap_event_t *a, const cap_event_t *b);
static cap_event_t *transform(const cap_transform_t *t, const char *json,
    cap_event_t *out);
static void is_props(cap_event_t *ev, const char *want);
static void is_did(cap_event_t *ev, const char *want);
static cap_json_t *segment(cap_event_t *ev);
static void is_member(cap_json_t *obj, const char *key, const char *want);
static void test_none(void);
static void test_unchanged(void);
static void test_drop(void);
static void test_hash(void);
static void test_ids(void);
static void test_ip(void);
static void test_cow(void);
static void test_nomem(void);
static void test_encoders(void);
static void test_generated(void);
static void ref_object(cap_buf_t *b, cap_json_t *obj, unsigned top,
    const cap_transform_t *t, int alias);
static void ref_digest(cap_buf_t *b, const cap_transform_t *t,
    const cap_uchar_t *p, size_t len);
static int key_is(cap_str_t *key, const char *name);
static int well_linked(cap_json_t *obj);
static int check_out(cap_event_t *in, cap_event_t *out,
    const cap_transform_t *t);
static void gen_value(gen_buf_t *g, unsigned depth);
static void gen_object(gen_buf_t *g, unsigned depth);
static void gen_event(gen_buf_t *g);


/* blocks in a list, freed at the end; counts, and fails when told */
static test_pool_t   arena = TEST_POOL(arena, NULL);

static size_t        allocs;            /* of the last transform() */
static cap_batch_t   batch;
static cap_json_t   *root;
static const char   *row;

static cap_str_t     no_names[] = { cap_string("phone"),
                                    cap_string("nope") };
static cap_str_t     email[] = { cap_string("email") };


int
main(void)
{
    test_none();
    test_unchanged();
    test_drop();
    test_hash();
    test_ids();
    test_ip();
    test_cow();
    test_nomem();
    test_encoders();
    test_generated();

    test_pool_reset(&arena);

    return tap_done();
}


/*
 * One event object of a batch request -> the canonical event, with its
 * canonical record made (so that properties_json is set, as it is when
 * destinations get the event).
 */

static cap_event_t *
event(const char *json)
{
    size_t         len;
    cap_buf_t      b;
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
        || batch.nevents != 1
        || cap_buf_init(&b, &arena.pool, 256, 0) != CAP_OK
        || cap_record_encode(&b, &batch, 1024 * 1024, &err) != CAP_OK)
    {
        printf("# event does not parse: %s\n", json);
        return NULL;
    }

    return &batch.events[0];
}


static cap_str_t
text(cap_json_t *v)
{
    cap_buf_t  b;
    cap_str_t  s;

    cap_buf_init(&b, &arena.pool, 256, 0);

    if (v == NULL || cap_json_write(&b, v) != CAP_OK) {
        b.len = 0;
    }

    s.data = b.data;
    s.len = b.len;

    return s;
}


static int
same_text(cap_json_t *v, cap_str_t *want)
{
    cap_str_t  s;

    s = text(v);

    return s.len == want->len && memcmp(s.data, want->data, s.len) == 0;
}


static int
same_event(const cap_event_t *a, const cap_event_t *b)
{
    return memcmp(a->uuid, b->uuid, CAP_UUID_LEN) == 0
           && a->event.data == b->event.data && a->event.len == b->event.len
           && a->distinct_id.data == b->distinct_id.data
           && a->distinct_id.len == b->distinct_id.len
           && a->properties == b->properties
           && a->timestamp == b->timestamp
           && a->properties_json.data == b->properties_json.data
           && a->properties_json.len == b->properties_json.len
           && a->properties_at == b->properties_at;
}


/*
 * Parses "json", transforms it into "out" and checks that the input
 * event, its properties and the whole request tree write the same bytes
 * as before; the allocations made go to "allocs".
 */

static cap_event_t *
transform(const cap_transform_t *t, const char *json, cap_event_t *out)
{
    int           rc;
    cap_str_t     props, all, did;
    cap_event_t  *in, copy;

    memset(out, 0, sizeof(cap_event_t));

    in = event(json);
    if (in == NULL) {
        ok(0, "%s: the event parses", row);
        return NULL;
    }

    props = text(in->properties);
    all = text(root);
    did.len = in->distinct_id.len;
    did.data = cap_strdup(&arena.pool, in->distinct_id.data, did.len);
    copy = *in;

    arena.nallocs = 0;
    rc = cap_transform_event(&arena.pool, t, in, out);
    allocs = arena.nallocs;

    is_int(rc, CAP_OK, "%s: CAP_OK", row);

    ok(same_event(&copy, in) && same_text(in->properties, &props)
       && same_text(root, &all)
       && memcmp(in->distinct_id.data, did.data, did.len) == 0,
       "%s: the input is unchanged", row);

    if (rc != CAP_OK) {
        return NULL;
    }

    return in;
}


static void
is_props(cap_event_t *ev, const char *want)
{
    cap_str_t  s;

    if (ev->properties == NULL) {
        ok(0, "%s: properties %s", row, want);
        return;
    }

    s = text(ev->properties);

    is_str(s.data, s.len, want, "%s: properties %s", row, want);

    ok(well_linked(ev->properties), "%s: first, last, count consistent",
       row);
}


static void
is_did(cap_event_t *ev, const char *want)
{
    is_str(ev->distinct_id.data, ev->distinct_id.len, want,
           "%s: distinct_id %s", row, want);
}


/* the Segment message of an event, parsed back */

static cap_json_t *
segment(cap_event_t *ev)
{
    cap_buf_t     b;
    cap_json_t   *m;
    cap_error_t   err;
    cap_uchar_t  *p;

    cap_buf_init(&b, &arena.pool, 256, 0);

    if (cap_segment_message(&b, &batch, ev, NOW, CAP_SEGMENT_MAX_MESSAGE,
                            &err)
        != CAP_OK)
    {
        printf("# encoding fails: %s\n", err.text);
        return NULL;
    }

    p = test_pool_alloc(&arena, b.len + 1);
    memcpy(p, b.data, b.len);

    m = cap_json_parse(&arena.pool, p, b.len, &err);

    if (m == NULL) {
        printf("# not JSON: %.*s\n", (int) b.len, b.data);
    }

    return m;
}


/* member "key" of "obj" writes as "want" */

static void
is_member(cap_json_t *obj, const char *key, const char *want)
{
    cap_str_t    s;
    cap_json_t  *v;

    v = cap_json_get(obj, key, strlen(key));

    if (v == NULL) {
        ok(0, "%s: %s is %s", row, key, want);
        printf("#   %s is absent\n", key);
        return;
    }

    s = text(v);

    is_str(s.data, s.len, want, "%s: %s is %s", row, key, want);
}


static void
test_none(void)
{
    cap_event_t      out, *in;
    cap_transform_t  t;

    static const char  *json = "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":\"a@b.c\",\"$ip\":\"1.2.3.4\","
        "\"$set\":{\"email\":\"x\"}}}";

    row = "no transform";

    in = transform(NULL, json, &out);

    ok(in != NULL && same_event(in, &out), "%s: out is a copy of in", row);
    ok(in != NULL && in->properties_json.data != NULL,
       "%s: properties_json was set", row);
    is_int(allocs, 0, "%s: no allocation", row);

    row = "an empty transform";

    memset(&t, 0, sizeof(cap_transform_t));
    t.salt = (cap_str_t) cap_string(SALT);

    in = transform(&t, json, &out);

    ok(in != NULL && same_event(in, &out), "%s: out is a copy of in", row);
    is_int(allocs, 0, "%s: no allocation", row);
}


/* a transform that finds nothing to change in an event */

static void
test_unchanged(void)
{
    cap_event_t      out, *in;
    cap_transform_t  t;

    static cap_str_t  hash[] = { cap_string("name"), cap_string("x") };

    row = "nothing to change";

    memset(&t, 0, sizeof(cap_transform_t));
    t.drop = no_names;
    t.ndrop = nelts(no_names);
    t.hash = hash;
    t.nhash = nelts(hash);
    t.salt = (cap_str_t) cap_string(SALT);
    t.anonymize_ip = 1;

    /* null and "" are not hashed; 1.2.3.0 is masked already */

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"name\":null,\"x\":\"\",\"$ip\":\"1.2.3.0\","
        "\"$set\":{\"other\":1,\"name\":null},\"$set_once\":{},"
        "\"Phone\":\"+44\",\"deep\":{\"phone\":\"+44\"}}}", &out);

    ok(in != NULL && same_event(in, &out), "%s: out is a copy of in", row);
    is_int(allocs, 0, "%s: no allocation", row);
}


static void
test_drop(void)
{
    cap_event_t      out, *in;
    cap_transform_t  t;

    static cap_str_t  sets[] = { cap_string("$set"), cap_string("nope") };

    memset(&t, 0, sizeof(cap_transform_t));
    t.drop = email;
    t.ndrop = nelts(email);

    row = "drop";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":\"a@b.c\",\"keep\":1,\"email\":\"dup\","
        "\"$set\":{\"email\":\"x\",\"name\":\"n\",\"email\":\"x2\"},"
        "\"$set_once\":{\"email\":\"y\"},\"Email\":\"case\","
        "\"profile\":{\"email\":\"nested\"},\"emails\":\"longer\","
        "\"email\":{\"a\":1}}}", &out);

    /* case counts, and other objects are not searched */
    is_props(&out, "{\"keep\":1,\"$set\":{\"name\":\"n\"},\"$set_once\":{},"
             "\"Email\":\"case\",\"profile\":{\"email\":\"nested\"},"
             "\"emails\":\"longer\"}");
    ok(out.properties_json.data == NULL && out.properties_json.len == 0,
       "%s: properties_json cleared", row);
    ok(in != NULL && out.distinct_id.data == in->distinct_id.data,
       "%s: distinct_id kept", row);

    row = "drop from a top-level $set";

    transform(&t, "{\"event\":\"$identify\",\"distinct_id\":\"u1\","
        "\"$set\":{\"email\":\"e\",\"plan\":\"pro\"},"
        "\"$set_once\":{\"email\":\"f\"},"
        "\"properties\":{\"$anon_distinct_id\":\"a\"}}", &out);

    is_props(&out, "{\"$anon_distinct_id\":\"a\",\"$set\":{\"plan\":\"pro\"},"
             "\"$set_once\":{}}");

    row = "drop $set and $set_once that are not objects";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"$set\":\"email\","
        "\"$set_once\":[{\"email\":1}]}}", &out);

    ok(in != NULL && out.properties == in->properties,
       "%s: properties shared", row);
    is_int(allocs, 0, "%s: no allocation", row);

    row = "drop $set whole";

    t.drop = sets;
    t.ndrop = nelts(sets);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"a\":1,\"$set\":{\"email\":\"x\"},"
        "\"$set_once\":{\"email\":\"y\"},\"$set\":\"s\"}}", &out);

    is_props(&out, "{\"a\":1,\"$set_once\":{\"email\":\"y\"}}");

    row = "drop everything";

    t.drop = email;
    t.ndrop = nelts(email);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":1,\"email\":2}}", &out);

    is_props(&out, "{}");
    ok(out.properties != NULL && out.properties->first == NULL
       && out.properties->last == NULL && out.properties->count == 0,
       "%s: an empty object", row);
}


static void
test_hash(void)
{
    cap_transform_t  t;
    cap_event_t      out;

    static cap_str_t  names[] = {
        cap_string("email"), cap_string("n"), cap_string("b1"),
        cap_string("b0"), cap_string("nil"), cap_string("empty"),
        cap_string("obj"), cap_string("arr"), cap_string("q")
    };

    static cap_str_t  both[] = { cap_string("email"), cap_string("name") };
    static cap_str_t  set[] = { cap_string("$set") };

    memset(&t, 0, sizeof(cap_transform_t));
    t.hash = names;
    t.nhash = nelts(names);
    t.salt = (cap_str_t) cap_string(SALT);

    row = "hash each type";

    /*
     * A number is hashed as its text as sent, a string as its decoded
     * bytes, an object or an array as its compact text (spaces gone).
     */

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":\"a@b.c\",\"n\":1.50e3,\"b1\":true,"
        "\"b0\":false,\"nil\":null,\"empty\":\"\","
        "\"obj\":{ \"a\" : [ 1 , \"x\" ] },\"arr\":[1,{\"b\":null}],"
        "\"q\":\"q\\\"\\u00e9\",\"other\":\"a@b.c\"}}", &out);

    is_props(&out, "{\"email\":\"" H_EMAIL "\",\"n\":\"" H_NUM "\","
             "\"b1\":\"" H_TRUE "\",\"b0\":\"" H_FALSE "\",\"nil\":null,"
             "\"empty\":\"\",\"obj\":\"" H_OBJ "\",\"arr\":\"" H_ARR "\","
             "\"q\":\"" H_Q "\",\"other\":\"a@b.c\"}");
    is_did(&out, "u1");

    row = "hash in $set and $set_once, duplicates";

    t.hash = email;
    t.nhash = nelts(email);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"$set\":{\"email\":\"x\",\"email\":\"y\"},"
        "\"$set_once\":{\"email\":\"z\",\"name\":\"n\"},"
        "\"email\":\"dup\",\"email\":\"a@b.c\",\"deep\":{\"email\":\"x\"}}}",
        &out);

    is_props(&out, "{\"$set\":{\"email\":\"" H_X "\",\"email\":\"" H_Y "\"},"
             "\"$set_once\":{\"email\":\"" H_Z "\",\"name\":\"n\"},"
             "\"email\":\"" H_DUP "\",\"email\":\"" H_EMAIL "\","
             "\"deep\":{\"email\":\"x\"}}");

    row = "hash without a salt";

    t.salt = (cap_str_t) cap_null_string;

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":\"a@b.c\"}}", &out);

    is_props(&out, "{\"email\":\"" H_EMAIL0 "\"}");

    row = "drop wins over hash";

    t.salt = (cap_str_t) cap_string(SALT);
    t.drop = email;
    t.ndrop = nelts(email);
    t.hash = both;
    t.nhash = nelts(both);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"email\":\"a\",\"name\":\"x\","
        "\"$set\":{\"email\":\"a\",\"name\":\"y\"}}}", &out);

    is_props(&out, "{\"name\":\"" H_X "\",\"$set\":{\"name\":\"" H_Y "\"}}");

    row = "a hashed $set, after its own members";

    t.hash = set;
    t.nhash = nelts(set);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u1\","
        "\"properties\":{\"$set\":{\"email\":\"e\",\"n\":1}}}", &out);

    is_props(&out, "{\"$set\":\"" H_SETN "\"}");
}


static void
test_ids(void)
{
    cap_json_t       *m;
    cap_event_t       out, *in;
    cap_transform_t   t;

    memset(&t, 0, sizeof(cap_transform_t));
    t.salt = (cap_str_t) cap_string(SALT);
    t.hash_distinct_id = 1;

    row = "ids of an identify";

    in = transform(&t, "{\"event\":\"$identify\",\"distinct_id\":\"user-1\","
        "\"properties\":{\"$anon_distinct_id\":\"anon-1\","
        "\"$device_id\":\"dev-1\",\"$user_id\":42,\"distinct_id\":\"user-1\","
        "\"alias\":\"al-1\",\"$set\":{\"$user_id\":\"u\",\"email\":\"e\"},"
        "\"plan\":\"pro\"}}", &out);

    /* "alias" only for $create_alias; $set holds no ids */
    is_props(&out, "{\"$anon_distinct_id\":\"" H_ANON "\","
             "\"$device_id\":\"" H_DEV "\",\"$user_id\":\"" H_42 "\","
             "\"distinct_id\":\"" H_USER "\",\"alias\":\"al-1\","
             "\"$set\":{\"$user_id\":\"u\",\"email\":\"e\"},"
             "\"plan\":\"pro\"}");
    is_did(&out, H_USER);
    is_did(in, "user-1");

    m = segment(&out);
    is_member(m, "type", "\"identify\"");
    is_member(m, "userId", "\"" H_USER "\"");
    is_member(m, "anonymousId", "\"" H_ANON "\"");

    m = segment(in);
    is_member(m, "userId", "\"user-1\"");
    is_member(m, "anonymousId", "\"anon-1\"");

    row = "ids of an alias";

    in = transform(&t, "{\"event\":\"$create_alias\",\"distinct_id\":7,"
        "\"properties\":{\"alias\":\"al-1\"}}", &out);

    /* a number id as its text: 7 -> "7" */
    is_props(&out, "{\"alias\":\"" H_ALIAS "\"}");
    is_did(&out, H_7);

    m = segment(&out);
    is_member(m, "type", "\"alias\"");
    is_member(m, "previousId", "\"" H_ALIAS "\"");
    is_member(m, "userId", "\"" H_7 "\"");

    row = "a number id and the same id as a string";

    transform(&t, "{\"event\":\"e\",\"distinct_id\":42,"
        "\"properties\":{\"$user_id\":\"42\",\"distinct_id\":42}}", &out);

    is_did(&out, H_42);
    is_props(&out, "{\"$user_id\":\"" H_42 "\",\"distinct_id\":\"" H_42
             "\"}");

    row = "no ids in properties";

    in = transform(&t, "{\"event\":\"$create_alias\",\"distinct_id\":\"u\","
        "\"properties\":{\"$anon_distinct_id\":\"\",\"$device_id\":null,"
        "\"alias\":\"\"}}", &out);

    /* an empty id stays empty: a hash would make one id of them all */
    ok(in != NULL && out.properties == in->properties
       && out.properties_json.data == in->properties_json.data,
       "%s: properties and their text shared", row);
    is_int(allocs, 1, "%s: one allocation, for the distinct_id", row);
}


static void
test_ip(void)
{
    char              json[256];
    size_t            i;
    cap_event_t       out, *in;
    cap_transform_t   t;

    static cap_str_t  ip[] = { cap_string("$ip") };

    static const char  *rows[][2] = {
        { "\"$ip\":\"1.2.3.4\"", "{\"$ip\":\"1.2.3.0\"}" },
        { "\"$ip\":\"2001:db8:1:2:3:4:5:6\"", "{\"$ip\":\"2001:db8:1::\"}" },
        { "\"$ip\":\"2001:DB8::1\"", "{\"$ip\":\"2001:db8::\"}" },
        { "\"$ip\":\"::1\"", "{\"$ip\":\"::\"}" },
        { "\"a\":1,\"$ip\":\"not-an-ip\",\"b\":2", "{\"a\":1,\"b\":2}" },
        { "\"$ip\":\"1.2.3.4 \"", "{}" },
        { "\"$ip\":\"\"", "{}" },
        { "\"$ip\":42", "{}" },
        { "\"$ip\":null", "{}" },
        { "\"$ip\":{\"v\":\"1.2.3.4\"}", "{}" },
        { "\"$ip\":\"10.0.0.1\",\"x\":1,\"$ip\":\"bad\","
          "\"$ip\":\"10.0.0.255\"",
          "{\"$ip\":\"10.0.0.0\",\"x\":1,\"$ip\":\"10.0.0.0\"}" },
        { "\"$set\":{\"$ip\":\"1.2.3.4\"},\"$IP\":\"1.2.3.4\"",
          "{\"$set\":{\"$ip\":\"1.2.3.4\"},\"$IP\":\"1.2.3.4\"}" },
    };

    memset(&t, 0, sizeof(cap_transform_t));
    t.anonymize_ip = 1;

    for (i = 0; i < nelts(rows); i++) {
        row = rows[i][0];

        snprintf(json, sizeof(json), "{\"event\":\"e\",\"distinct_id\":\"u\","
                 "\"properties\":{%s}}", rows[i][0]);

        transform(&t, json, &out);
        is_props(&out, rows[i][1]);
    }

    row = "a masked $ip";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"$ip\":\"1.2.3.0\",\"$ip\":\"2001:db8:1::\"}}",
        &out);

    ok(in != NULL && out.properties == in->properties,
       "%s: properties shared", row);
    is_int(allocs, 0, "%s: no allocation", row);

    row = "a hashed $ip is masked first";

    t.hash = ip;
    t.nhash = nelts(ip);
    t.salt = (cap_str_t) cap_string(SALT);

    transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"$ip\":\"1.2.3.4\",\"$ip\":\"1.2.3.0\","
        "\"$ip\":\"x\"}}", &out);

    is_props(&out, "{\"$ip\":\"" H_IP "\",\"$ip\":\"" H_IP "\"}");
}


/* which nodes the copy shares with the event, and which it does not */

static void
test_cow(void)
{
    cap_json_t       *p, *q;
    cap_event_t       out, *in;
    cap_transform_t   t;

    memset(&t, 0, sizeof(cap_transform_t));
    t.hash = email;
    t.nhash = nelts(email);
    t.salt = (cap_str_t) cap_string(SALT);

    row = "copy on write";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"a\":{\"deep\":[1,2]},\"email\":\"x\","
        "\"b\":[1],\"c\":{\"z\":true}}}", &out);

    if (in == NULL) {
        return;
    }

    p = in->properties;
    q = out.properties;

    ok(q != p && q->first != p->first, "%s: a new object, new head", row);
    ok(q->first->first == p->first->first
       && q->first->last == p->first->last, "%s: a's children shared", row);
    ok(q->first->next != p->first->next, "%s: email is new", row);
    ok(q->first->next->next == p->first->next->next,
       "%s: b, after the last change, is in's node", row);
    ok(q->last == p->last, "%s: so is c, the last", row);
    is_int(q->count, 4, "%s: count", row);
    is_int(allocs, 3, "%s: three allocations: the object, a, email", row);

    row = "copy on write, $set";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"$set_once\":{\"k\":1},"
        "\"$set\":{\"a\":1,\"email\":\"x\",\"b\":{\"c\":1}},\"z\":1}}", &out);

    if (in == NULL) {
        return;
    }

    p = cap_json_get_literal(in->properties, "$set");
    q = cap_json_get_literal(out.properties, "$set");

    ok(q != NULL && q != p && q->first != p->first
       && q->first->next != p->first->next,
       "%s: $set copied up to email", row);
    ok(q != NULL && q->last == p->last && q->first->next->next == p->last,
       "%s: $set's b shared", row);
    ok(out.properties->first != in->properties->first
       && out.properties->first->first == in->properties->first->first,
       "%s: $set_once a new node, same children", row);
    ok(out.properties->last == in->properties->last,
       "%s: z shared", row);

    row = "copy on write, first dropped";

    t.drop = email;
    t.ndrop = nelts(email);
    t.nhash = 0;

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"email\":\"x\",\"a\":1,\"b\":2}}", &out);

    if (in == NULL) {
        return;
    }

    ok(out.properties->first == in->properties->first->next
       && out.properties->last == in->properties->last,
       "%s: the rest is in's nodes", row);
    is_int(out.properties->count, 2, "%s: count", row);
    is_int(allocs, 1, "%s: one allocation", row);

    row = "copy on write, last dropped";

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"u\","
        "\"properties\":{\"a\":1,\"email\":\"x\"}}", &out);

    is_props(&out, "{\"a\":1}");
    ok(in != NULL && out.properties->last != in->properties->first
       && out.properties->last->next == NULL, "%s: a new last node", row);
}


/* every allocation fails in turn: CAP_ERROR, and the input untouched */

static void
test_nomem(void)
{
    int               rc;
    size_t            k, failed, clean;
    cap_str_t         props, all, want;
    cap_event_t       out, *in;
    cap_transform_t   t;

    static cap_str_t  hash[] = {
        cap_string("name"), cap_string("obj"), cap_string("$ip")
    };

    row = "out of memory";

    memset(&t, 0, sizeof(cap_transform_t));
    t.drop = email;
    t.ndrop = nelts(email);
    t.hash = hash;
    t.nhash = nelts(hash);
    t.salt = (cap_str_t) cap_string(SALT);
    t.hash_distinct_id = 1;
    t.anonymize_ip = 1;

    in = event("{\"event\":\"$identify\",\"distinct_id\":\"user-1\","
        "\"properties\":{\"$anon_distinct_id\":\"anon-1\",\"email\":\"e\","
        "\"name\":\"x\",\"obj\":{\"a\":[1,\"x\"]},\"$ip\":\"1.2.3.4\","
        "\"$set\":{\"email\":\"e\",\"name\":\"y\",\"k\":1},\"tail\":1}}");

    if (in == NULL) {
        ok(0, "%s: the event parses", row);
        return;
    }

    props = text(in->properties);
    all = text(root);

    failed = 0;
    clean = 0;

    for (k = 0; k < 64; k++) {
        arena.nallocs = 0;
        arena.fail_from = k + 1;

        rc = cap_transform_event(&arena.pool, &t, in, &out);

        arena.fail_from = 0;

        if (same_text(in->properties, &props) && same_text(root, &all)) {
            clean++;
        }

        if (rc == CAP_OK) {
            break;
        }

        if (rc == CAP_ERROR) {
            failed++;
        }
    }

    ok(failed == k && k >= 8, "%s: CAP_ERROR for each of the first %zu "
       "allocations", row, k);
    is_int(clean, k + 1, "%s: the input unchanged every time", row);

    want = text(out.properties);

    is_str(want.data, want.len, "{\"$anon_distinct_id\":\"" H_ANON "\","
           "\"name\":\"" H_X "\",\"obj\":\"" H_OBJ "\",\"$ip\":\"" H_IP "\","
           "\"$set\":{\"name\":\"" H_Y "\",\"k\":1},\"tail\":1}",
           "%s: then the transform", row);
    is_did(&out, H_USER);
}


/* the encoders write what the transform gave */

static void
test_encoders(void)
{
    cap_buf_t         b;
    cap_json_t       *rec;
    cap_event_t       out, *in;
    cap_error_t       err;
    cap_batch_t       one;
    cap_uchar_t      *p;
    cap_transform_t   t;

    row = "encoders";

    memset(&t, 0, sizeof(cap_transform_t));
    t.drop = email;
    t.ndrop = nelts(email);
    t.salt = (cap_str_t) cap_string(SALT);
    t.hash_distinct_id = 1;

    in = transform(&t, "{\"event\":\"e\",\"distinct_id\":\"user-1\","
        "\"properties\":{\"email\":\"e\",\"plan\":\"pro\"}}", &out);

    if (in == NULL) {
        return;
    }

    /* PostHog's event, before any record of the copy: from the tree */

    cap_buf_init(&b, &arena.pool, 256, 0);
    one = batch;
    one.events = &out;
    one.nevents = 1;

    ok(cap_posthog_event(&b, &one, &out) == CAP_OK, "%s: posthog", row);

    p = test_pool_alloc(&arena, b.len + 1);
    memcpy(p, b.data, b.len);

    rec = cap_json_parse(&arena.pool, p, b.len, &err);

    is_member(rec, "distinct_id", "\"" H_USER "\"");
    is_member(rec, "properties", "{\"plan\":\"pro\"}");

    /* the canonical record of the copy, and the input's record text */

    b.len = 0;

    ok(cap_record_encode(&b, &one, 1024 * 1024, &err) == CAP_OK,
       "%s: record", row);

    p = test_pool_alloc(&arena, b.len);
    memcpy(p, b.data, b.len);

    rec = cap_json_parse(&arena.pool, p, b.len - 1, &err);

    is_member(rec, "distinct_id", "\"" H_USER "\"");
    is_member(rec, "properties", "{\"plan\":\"pro\"}");
    is_str(out.properties_json.data, out.properties_json.len,
           "{\"plan\":\"pro\"}", "%s: the copy's properties_json", row);
    ok(in->properties_json.len > 14
       && memcmp(in->properties_json.data, "{\"email\":\"e\",", 13) == 0,
       "%s: in's properties_json as it was", row);
}


/*
 * Generated events (duplicate keys, ids, addresses, $set objects) under
 * four transforms, against ref_object(): a plain writer of what the
 * rules say, with no copy on write.
 */

static cap_str_t  gen_drop0[] = { cap_string("email"), cap_string("phone") };
static cap_str_t  gen_hash0[] = {
    cap_string("name"), cap_string("$group_key"), cap_string("obj")
};
static cap_str_t  gen_drop1[] = { cap_string("$set") };
static cap_str_t  gen_hash1[] = { cap_string("email"), cap_string("$ip") };
static cap_str_t  gen_drop2[] = { cap_string("phone") };
static cap_str_t  gen_hash2[] = { cap_string("$set"), cap_string("email") };

static cap_transform_t  gen_t[] = {
    { gen_drop0, nelts(gen_drop0), gen_hash0, nelts(gen_hash0),
      cap_string(SALT), 1, 1 },
    { gen_drop1, nelts(gen_drop1), gen_hash1, nelts(gen_hash1),
      cap_null_string, 0, 1 },
    { gen_drop2, nelts(gen_drop2), gen_hash2, nelts(gen_hash2),
      cap_string(SALT), 1, 0 },
    { no_names, nelts(no_names), NULL, 0, cap_string(SALT), 0, 0 },
};

static const char  *gen_names[] = {
    "$identify", "$create_alias", "$pageview", "$set", "signup"
};

static const char  *gen_keys[] = {
    "email", "Email", "phone", "name", "plan", "$ip", "$set", "$set_once",
    "$anon_distinct_id", "$device_id", "$user_id", "distinct_id", "alias",
    "$group_key", "obj", "", "k\\\"q", "\\u00e9"
};

static const char  *gen_scalars[] = {
    "null", "true", "false", "0", "-1.5e3", "42", "\"\"", "\"1.2.3.4\"",
    "\"10.0.0.0\"", "\"2001:db8::1\"", "\"::ffff:1.2.3.4\"", "\"not ip\"",
    "\"a@b.c\"", "\"x\\n\\u00e9\\\"\"", "\"\xe2\x82\xac\""
};


static void
test_generated(void)
{
    size_t                  i, parsed, good, changed, shared;
    cap_str_t               props, all;
    gen_buf_t               g;
    cap_event_t            *in, out, copy;
    const cap_transform_t  *t;

    row = "generated";

    parsed = good = changed = shared = 0;

    gen_state = GEN_SEED;

    g.size = 65536;
    g.data = malloc(g.size);

    for (i = 0; i < GEN_EVENTS; i++) {
        g.len = 0;
        gen_event(&g);

        t = &gen_t[i % nelts(gen_t)];

        in = event(g.data);
        if (in == NULL) {
            continue;
        }

        parsed++;

        props = text(in->properties);
        all = text(root);
        copy = *in;

        arena.nallocs = 0;

        if (cap_transform_event(&arena.pool, t, in, &out) != CAP_OK) {
            printf("# event %zu: CAP_ERROR\n", i);
            continue;
        }

        allocs = arena.nallocs;

        if (!same_event(&copy, in) || !same_text(in->properties, &props)
            || !same_text(root, &all))
        {
            printf("# event %zu: the input changed: %s\n", i, g.data);
            continue;
        }

        if (!check_out(in, &out, t)) {
            printf("# event %zu, transform %zu: %s\n", i, i % nelts(gen_t),
                   g.data);
            continue;
        }

        good++;

        if (out.properties != in->properties) {
            changed++;

        } else if (allocs == (t->hash_distinct_id ? 1u : 0u)) {
            shared++;
        }
    }

    free(g.data);

    is_int(parsed, GEN_EVENTS, "%s: %d events parsed", row, GEN_EVENTS);
    is_int(good, parsed, "%s: input unchanged, output as the reference, "
           "no dropped name left, hashes and addresses in shape", row);
    ok(changed > GEN_EVENTS / 4, "%s: %zu with changed properties", row,
       changed);
    is_int(shared, parsed - changed, "%s: the %zu others shared, with no "
           "allocation but the distinct_id's", row, parsed - changed);
}


/*
 * The checks of one generated event: the reference output, what cannot
 * be left in it, and its links.
 */

static int
check_out(cap_event_t *in, cap_event_t *out, const cap_transform_t *t)
{
    int           alias;
    size_t        n;
    cap_buf_t     ref, hex;
    cap_str_t     got;
    cap_json_t   *m, *c;
    cap_uchar_t   masked[64];

    alias = t->hash_distinct_id
            && in->event.len == sizeof("$create_alias") - 1
            && memcmp(in->event.data, "$create_alias", in->event.len) == 0;

    cap_buf_init(&ref, &arena.pool, 256, 0);
    ref_object(&ref, in->properties, 1, t, alias);

    got = text(out->properties);

    if (got.len != ref.len || memcmp(got.data, ref.data, ref.len) != 0) {
        printf("#   got: %.*s\n#  want: %.*s\n", (int) got.len, got.data,
               (int) ref.len, ref.data);
        return 0;
    }

    /* the distinct_id */

    cap_buf_init(&hex, &arena.pool, 256, 0);

    if (t->hash_distinct_id) {
        ref_digest(&hex, t, in->distinct_id.data, in->distinct_id.len);

        if (out->distinct_id.len != 64
            || memcmp(out->distinct_id.data, hex.data + 1, 64) != 0)
        {
            printf("#   distinct_id %.*s\n", (int) out->distinct_id.len,
                   out->distinct_id.data);
            return 0;
        }

    } else if (out->distinct_id.data != in->distinct_id.data
               || out->distinct_id.len != in->distinct_id.len)
    {
        printf("#   distinct_id changed\n");
        return 0;
    }

    /* properties_json: kept with the same properties only */

    if (out->properties == in->properties
        ? (out->properties_json.data != in->properties_json.data
           || out->properties_json.len != in->properties_json.len)
        : (out->properties_json.data != NULL
           || out->properties_json.len != 0))
    {
        printf("#   properties_json\n");
        return 0;
    }

    if (!well_linked(out->properties)) {
        printf("#   links of properties\n");
        return 0;
    }

    for (m = out->properties->first; m != NULL; m = m->next) {

        if (listed(t->drop, t->ndrop, &m->key)) {
            printf("#   %.*s left\n", (int) m->key.len, m->key.data);
            return 0;
        }

        if (listed(t->hash, t->nhash, &m->key) && !is_digest(m)) {
            printf("#   %.*s not hashed\n", (int) m->key.len, m->key.data);
            return 0;
        }

        if (t->anonymize_ip && key_is(&m->key, "$ip")) {
            n = (m->type == CAP_JSON_STRING)
                ? cap_ip_anonymize(m->str.data, m->str.len, masked,
                                   sizeof(masked))
                : 0;

            if (!is_digest(m)
                && (n != m->str.len || memcmp(masked, m->str.data, n) != 0))
            {
                printf("#   $ip not masked\n");
                return 0;
            }
        }

        if (m->type != CAP_JSON_OBJECT
            || !(key_is(&m->key, "$set") || key_is(&m->key, "$set_once")))
        {
            continue;
        }

        if (!well_linked(m)) {
            printf("#   links of %.*s\n", (int) m->key.len, m->key.data);
            return 0;
        }

        for (c = m->first; c != NULL; c = c->next) {
            if (listed(t->drop, t->ndrop, &c->key)
                || (listed(t->hash, t->nhash, &c->key) && !is_digest(c)))
            {
                printf("#   %.*s left in %.*s\n", (int) c->key.len,
                       c->key.data, (int) m->key.len, m->key.data);
                return 0;
            }
        }
    }

    return 1;
}


/* the rules, written out plainly */

static void
ref_object(cap_buf_t *b, cap_json_t *obj, unsigned top,
    const cap_transform_t *t, int alias)
{
    int           hash, first;
    size_t        n;
    cap_buf_t     val;
    cap_json_t   *m;
    cap_uchar_t   ip[64];

    static cap_str_t  ids[] = {
        cap_string("$anon_distinct_id"), cap_string("$device_id"),
        cap_string("$user_id"), cap_string("distinct_id")
    };

    cap_buf_put(b, '{');
    first = 1;

    for (m = obj->first; m != NULL; m = m->next) {

        if (listed(t->drop, t->ndrop, &m->key)) {
            continue;
        }

        hash = listed(t->hash, t->nhash, &m->key)
               || (top && t->hash_distinct_id
                   && (listed(ids, nelts(ids), &m->key)
                       || (alias && key_is(&m->key, "alias"))));

        cap_buf_init(&val, &arena.pool, 64, 0);

        if (top && t->anonymize_ip && key_is(&m->key, "$ip")) {
            n = (m->type == CAP_JSON_STRING)
                ? cap_ip_anonymize(m->str.data, m->str.len, ip, sizeof(ip))
                : 0;

            if (n == 0) {
                continue;
            }

            if (hash) {
                ref_digest(&val, t, ip, n);

            } else {
                cap_json_write_string(&val, ip, n);
            }

        } else if (top && m->type == CAP_JSON_OBJECT
                   && (key_is(&m->key, "$set")
                       || key_is(&m->key, "$set_once")))
        {
            ref_object(&val, m, 0, t, alias);

            if (hash) {
                n = val.len;
                val.len = 0;
                ref_digest(&val, t, val.data, n);
            }

        } else if (!hash || m->type == CAP_JSON_NULL
                   || (m->type == CAP_JSON_STRING && m->str.len == 0))
        {
            cap_json_write(&val, m);

        } else if (m->type == CAP_JSON_STRING) {
            ref_digest(&val, t, m->str.data, m->str.len);

        } else {
            cap_json_write(&val, m);
            n = val.len;
            val.len = 0;
            ref_digest(&val, t, val.data, n);
        }

        if (!first) {
            cap_buf_put(b, ',');
        }

        first = 0;

        cap_json_write_string(b, m->key.data, m->key.len);
        cap_buf_put(b, ':');
        cap_buf_append(b, val.data, val.len);
    }

    cap_buf_put(b, '}');
}


/*
 * "\"<hex of SHA-256(salt || p)>\"", with cap_sha256() over one copy of
 * both (the transform feeds them to the hash one after the other); "p"
 * may be in b's own data, which is copied before it is written over.
 */

static void
ref_digest(cap_buf_t *b, const cap_transform_t *t, const cap_uchar_t *p,
    size_t len)
{
    cap_uchar_t  *all, digest[CAP_SHA256_LEN], hex[2 * CAP_SHA256_LEN];

    all = test_pool_alloc(&arena, t->salt.len + len + 1);

    if (t->salt.len) {
        memcpy(all, t->salt.data, t->salt.len);
    }

    if (len) {
        memcpy(all + t->salt.len, p, len);
    }

    cap_sha256(all, t->salt.len + len, digest);
    cap_hex(digest, CAP_SHA256_LEN, hex);

    cap_buf_put(b, '"');
    cap_buf_append(b, hex, sizeof(hex));
    cap_buf_put(b, '"');
}


static int
key_is(cap_str_t *key, const char *name)
{
    return key->len == strlen(name)
           && memcmp(key->data, name, key->len) == 0;
}


/* first, last and count agree with the list */

static int
well_linked(cap_json_t *obj)
{
    unsigned     n;
    cap_json_t  *m, *last;

    n = 0;
    last = NULL;

    for (m = obj->first; m != NULL; m = m->next) {
        last = m;
        n++;
    }

    return n == obj->count && last == obj->last;
}


static void
gen_value(gen_buf_t *g, unsigned depth)
{
    switch (gen_rand() % (depth < 2 ? 6 : 4)) {

    case 4:
        gen_array(g, depth, gen_value);
        break;

    case 5:
        gen_object(g, depth + 1);
        break;

    default:
        gen_add(g, gen_scalars[gen_rand() % nelts(gen_scalars)]);
        break;
    }
}


/* keys drawn with replacement: duplicates are common */

static void
gen_object(gen_buf_t *g, unsigned depth)
{
    const char  *key;
    unsigned     i, n;

    n = gen_rand() % (depth ? 5 : 12);

    gen_add(g, "{");

    for (i = 0; i < n; i++) {
        key = gen_keys[gen_rand() % nelts(gen_keys)];

        if (i) {
            gen_add(g, ",");
        }

        gen_add(g, "\"");
        gen_add(g, key);
        gen_add(g, "\":");

        if (depth == 0
            && (strcmp(key, "$set") == 0 || strcmp(key, "$set_once") == 0)
            && gen_rand() % 4 != 0)
        {
            gen_object(g, depth + 1);

        } else {
            gen_value(g, depth);
        }
    }

    gen_add(g, "}");
}


static void
gen_event(gen_buf_t *g)
{
    char  num[16];

    gen_add(g, "{\"event\":\"");
    gen_add(g, gen_names[gen_rand() % nelts(gen_names)]);
    gen_add(g, "\",\"distinct_id\":");

    if (gen_rand() % 4 == 0) {
        snprintf(num, sizeof(num), "%u", gen_rand() % 100000);
        gen_add(g, num);

    } else {
        snprintf(num, sizeof(num), "\"id-%u\"", gen_rand() % 1000);
        gen_add(g, num);
    }

    gen_add(g, ",\"properties\":");
    gen_object(g, 0);
    gen_add(g, "}");
}
