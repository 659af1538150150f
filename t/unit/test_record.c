
/*
 * Unit tests of cap_record_decode(): canonical records read back (as the
 * spool does) give the batch that wrote them: the same records, the same
 * PostHog and Segment encodings, properties_json at the right bytes; and
 * anything that is not whole canonical records is refused.
 */


#include "tap.h"
#include "pool.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW  1704164645000LL          /* 2024-01-02T03:04:05.000Z */


static int accept_request(const char *text, cap_batch_t *batch);
static int encode(cap_batch_t *batch, cap_buf_t *out);
static void test_round_trip(void);
static void test_encoders(void);
static void test_refused(void);


static test_pool_t  arena = TEST_POOL(arena, NULL);


static const char  *requests[] = {
    "{\"api_key\":\"phc_a\",\"sent_at\":\"2024-01-02T03:04:00.000Z\","
    "\"batch\":[{\"event\":\"$pageview\",\"distinct_id\":\"u1\","
    "\"timestamp\":\"2024-01-02T03:03:59.000Z\",\"properties\":"
    "{\"$current_url\":\"https://ex.com/a?b=1\",\"title\":\"A \\\"q\\\"\","
    "\"n\":1.50e3,\"nested\":{\"properties\":{\"x\":[1,null,true]}},"
    "\"s\":\",\\\"properties\\\":\"}},"
    "{\"event\":\"e,\\\"properties\\\":\",\"distinct_id\":\"u,2\","
    "\"properties\":{}}]}",

    "{\"api_key\":\"phc_b\",\"historical_migration\":true,\"batch\":"
    "[{\"event\":\"$identify\",\"distinct_id\":42,\"$set\":{\"email\":"
    "\"caf\\u00e9@example.com\"},\"properties\":{\"$ip\":\"10.0.0.1\"}}]}",

    "[{\"event\":\"only\",\"distinct_id\":\"d\",\"api_key\":\"phc_c\","
    "\"uuid\":\"0190A5D2-7B4E-7C1A-9F3E-2B8D6C4A1E07\"}]",

    NULL
};


int
main(void)
{
    test_round_trip();
    test_encoders();
    test_refused();

    test_pool_reset(&arena);

    return tap_done();
}


/* a request through the model, as the capture handler takes it */

static int
accept_request(const char *text, cap_batch_t *batch)
{
    size_t          len;
    cap_json_t     *root;
    cap_error_t     err;
    cap_uchar_t    *p;
    cap_request_t   req;

    len = strlen(text);
    p = cap_alloc(&arena.pool, len);
    memcpy(p, text, len);

    memset(&req, 0, sizeof(cap_request_t));
    req.now = NOW;
    req.ip_policy = CAP_IP_ON;
    req.ip.data = (cap_uchar_t *) "192.0.2.1";
    req.ip.len = 9;

    root = cap_json_parse(&arena.pool, p, len, &err);

    if (root == NULL || cap_request_parse(&arena.pool, &req, root, batch, &err)
                        != CAP_OK)
    {
        printf("# %s\n", err.text);
        return CAP_ERROR;
    }

    return CAP_OK;
}


static int
encode(cap_batch_t *batch, cap_buf_t *out)
{
    cap_error_t  err;

    if (cap_buf_init(out, &arena.pool, 1024, 0) != CAP_OK) {
        return CAP_ERROR;
    }

    return cap_record_encode(out, batch, (size_t) -1, &err);
}


static void
test_round_trip(void)
{
    size_t        i, k;
    cap_buf_t     first, copy, again;
    cap_error_t   err;
    cap_batch_t   batch, back;
    const char  **r;

    for (r = requests, i = 0; *r; r++, i++) {
        if (!ok(accept_request(*r, &batch) == CAP_OK
                && encode(&batch, &first) == CAP_OK,
                "request %zu: accepted and encoded", i))
        {
            continue;
        }

        /* decoding may change its text in place: a copy of it */

        copy = first;
        copy.data = cap_alloc(&arena.pool, first.len);
        memcpy(copy.data, first.data, first.len);

        if (!ok(cap_record_decode(&arena.pool, copy.data, copy.len, &back, &err)
                == CAP_OK, "request %zu: decoded", i))
        {
            printf("# %s\n", err.text);
            continue;
        }

        is_int(back.nevents, batch.nevents, "request %zu: events", i);
        is_mem(back.token.data, back.token.len, batch.token.data,
               batch.token.len, "request %zu: token", i);
        is_int(back.now, batch.now, "request %zu: now", i);
        is_int(back.has_sent_at, batch.has_sent_at,
               "request %zu: has sent_at", i);
        is_int(back.sent_at, batch.sent_at, "request %zu: sent_at", i);
        is_int(back.historical_migration, batch.historical_migration,
               "request %zu: historical_migration", i);

        for (k = 0; k < back.nevents && k < batch.nevents; k++) {
            is_mem(back.events[k].uuid, CAP_UUID_LEN, batch.events[k].uuid,
                   CAP_UUID_LEN, "request %zu, event %zu: uuid", i, k);
            is_int(back.events[k].timestamp, batch.events[k].timestamp,
                   "request %zu, event %zu: timestamp", i, k);
            is_mem(back.events[k].properties_json.data,
                   back.events[k].properties_json.len,
                   batch.events[k].properties_json.data,
                   batch.events[k].properties_json.len,
                   "request %zu, event %zu: properties_json", i, k);
        }

        /* with properties_json cleared, the tree must say the same */

        for (k = 0; k < back.nevents; k++) {
            back.events[k].properties_json.data = NULL;
            back.events[k].properties_json.len = 0;
        }

        if (ok(encode(&back, &again) == CAP_OK,
               "request %zu: encoded again", i))
        {
            is_mem(again.data, again.len, first.data, first.len,
                   "request %zu: the same records, byte for byte", i);
        }
    }
}


/* what destinations encode from decoded records, as from the originals */

static void
test_encoders(void)
{
    size_t       k;
    cap_buf_t    rec, a, b;
    cap_error_t  err;
    cap_batch_t  batch, back;

    if (accept_request(requests[0], &batch) != CAP_OK
        || encode(&batch, &rec) != CAP_OK
        || cap_record_decode(&arena.pool, rec.data, rec.len, &back, &err)
           != CAP_OK)
    {
        ok(0, "encoders: the batch");
        return;
    }

    for (k = 0; k < batch.nevents; k++) {
        cap_buf_init(&a, &arena.pool, 256, 0);
        cap_buf_init(&b, &arena.pool, 256, 0);

        ok(cap_posthog_event(&a, &batch, &batch.events[k]) == CAP_OK
           && cap_posthog_event(&b, &back, &back.events[k]) == CAP_OK,
           "event %zu: PostHog encodings made", k);
        is_mem(b.data, b.len, a.data, a.len, "event %zu: PostHog's", k);

        a.len = 0;
        b.len = 0;

        ok(cap_segment_message(&a, &batch, &batch.events[k], 0, 0, &err)
           == CAP_OK
           && cap_segment_message(&b, &back, &back.events[k], 0, 0, &err)
              == CAP_OK, "event %zu: Segment messages made", k);
        is_mem(b.data, b.len, a.data, a.len, "event %zu: Segment's", k);
    }
}


static void
test_refused(void)
{
    size_t        i, len;
    cap_uchar_t  *p;
    cap_error_t   err;
    cap_batch_t   back;

    static const char  *bad[] = {
        "",
        "{}\n",
        "not json\n",
        "{\"uuid\":\"0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07\"}\n",
        "{\"uuid\":\"x\",\"event\":\"e\",\"distinct_id\":\"d\",\"token\":\"t\","
        "\"timestamp\":\"2024-01-02T03:04:05.000Z\",\"now\":"
        "\"2024-01-02T03:04:05.000Z\",\"properties\":{}}\n",
        "{\"uuid\":\"0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07\",\"event\":\"e\","
        "\"distinct_id\":\"d\",\"token\":\"t\",\"timestamp\":\"soon\","
        "\"now\":\"2024-01-02T03:04:05.000Z\",\"properties\":{}}\n",
        "{\"uuid\":\"0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07\",\"event\":\"e\","
        "\"distinct_id\":\"d\",\"token\":\"t\",\"timestamp\":"
        "\"2024-01-02T03:04:05.000Z\",\"now\":\"2024-01-02T03:04:05.000Z\","
        "\"properties\":[]}\n",
        "{\"uuid\":\"0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07\",\"event\":\"e\","
        "\"distinct_id\":\"d\",\"token\":\"t\",\"timestamp\":"
        "\"2024-01-02T03:04:05.000Z\",\"now\":\"2024-01-02T03:04:05.000Z\","
        "\"properties\":{}}",
        NULL
    };

    for (i = 0; bad[i]; i++) {
        len = strlen(bad[i]);
        p = cap_alloc(&arena.pool, len + 1);
        memcpy(p, bad[i], len + 1);

        err.code = CAP_E_NONE;

        ok(cap_record_decode(&arena.pool, p, len, &back, &err) == CAP_ERROR
           && (err.code == CAP_E_PARSE), "bad records %zu refused", i);
    }
}
