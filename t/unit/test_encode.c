
/*
 * Unit tests of the destination encoders: PostHog's /batch/ event and
 * body (cap_posthog_*()), the shared properties text, and gzip
 * (cap_gzip_compress(), checked by inflating it back).
 */


#include "tap.h"
#include "pool.h"
#include "capture/cap_capture.h"
#include "decode/cap_decode.h"
#include "encode/cap_encode.h"


#define NOW  1704164645000LL       /* 2024-01-02T03:04:05.000Z */


static int parse(const char *text, cap_request_t *req, cap_batch_t *batch);
static void test_event(void);
static void test_body(void);
static void test_shared_properties(void);
static void test_gzip(void);


/* a pool that counts what is still allocated */
static test_pool_t  heap = TEST_POOL(heap, test_pool_free);

/* a request pool for the model: blocks in a list, freed at the end */
static test_pool_t  arena = TEST_POOL(arena, NULL);


int
main(void)
{
    test_event();
    test_body();
    test_shared_properties();
    test_gzip();

    is_int(heap.live, 0, "every block freed");

    test_pool_reset(&arena);

    return tap_done();
}


static int
parse(const char *text, cap_request_t *req, cap_batch_t *batch)
{
    size_t        len;
    cap_json_t   *root;
    cap_error_t   err;
    cap_uchar_t  *p;

    len = strlen(text);
    p = test_pool_alloc(&arena, len);
    memcpy(p, text, len);

    memset(req, 0, sizeof(cap_request_t));
    req->now = NOW;
    req->ip_policy = CAP_IP_OFF;

    root = cap_json_parse(&arena.pool, p, len, &err);
    if (root == NULL) {
        return CAP_ERROR;
    }

    return cap_request_parse(&arena.pool, req, root, batch, &err);
}


static void
test_event(void)
{
    cap_buf_t      b;
    cap_batch_t    batch;
    cap_request_t  req;

    ok(parse("{\"api_key\":\"phc_a\",\"batch\":[{\"event\":\"signup\","
             "\"distinct_id\":23,\"uuid\":"
             "\"0190A5D2-7B4E-7C1A-9F3E-2B8D6C4A1E07\","
             "\"timestamp\":\"2024-01-02T03:04:00Z\","
             "\"properties\":{\"plan\":\"team\",\"n\":1.50e3,"
             "\"q\":\"a\\\"b\"}}]}", &req, &batch) == CAP_OK,
       "a batch parses");

    cap_buf_init(&b, &heap.pool, 16, 0);

    ok(cap_posthog_event(&b, &batch, &batch.events[0]) == CAP_OK,
       "the event encodes");

    is_str(b.data, b.len,
           "{\"uuid\":\"0190a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07\","
           "\"event\":\"signup\",\"distinct_id\":\"23\","
           "\"timestamp\":\"2024-01-02T03:04:00.000Z\","
           "\"properties\":{\"plan\":\"team\",\"n\":1.50e3,"
           "\"q\":\"a\\\"b\"}}",
           "PostHog's event: uuid, event, distinct_id, timestamp, "
           "properties, and no token");

    cap_free(&heap.pool, b.data);
}


static void
test_body(void)
{
    cap_buf_t  b;

    cap_buf_init(&b, &heap.pool, 16, 0);

    ok(cap_posthog_body_open(&b, (cap_uchar_t *) "phc_\"x", 6, 0) == CAP_OK
       && cap_buf_append_literal(&b, "{}") == CAP_OK
       && cap_posthog_body_close(&b, NOW) == CAP_OK,
       "a body encodes");

    is_str(b.data, b.len,
           "{\"api_key\":\"phc_\\\"x\",\"batch\":[{}],"
           "\"sent_at\":\"2024-01-02T03:04:05.000Z\"}",
           "the body: api_key (escaped), batch, sent_at");

    b.len = 0;

    ok(cap_posthog_body_open(&b, (cap_uchar_t *) "phc_a", 5, 1) == CAP_OK
       && cap_posthog_body_close(&b, NOW) == CAP_OK,
       "a historical body encodes");

    is_str(b.data, b.len,
           "{\"api_key\":\"phc_a\",\"historical_migration\":true,"
           "\"batch\":[],\"sent_at\":\"2024-01-02T03:04:05.000Z\"}",
           "historical_migration is carried");

    cap_free(&heap.pool, b.data);
}


/* the PostHog encoding reuses the record's properties text unchanged */

static void
test_shared_properties(void)
{
    size_t         i;
    cap_buf_t      rec, fresh, shared;
    cap_batch_t    batch;
    cap_error_t    err;
    cap_request_t  req;

    ok(parse("[{\"event\":\"a\",\"distinct_id\":\"d\",\"token\":\"phc_a\","
             "\"properties\":{\"x\":[1,{\"y\":\"\\u00e9\\n\"}],"
             "\"$set\":{\"k\":true}},\"$set\":{\"m\":null}},"
             "{\"event\":\"b\",\"distinct_id\":\"d\",\"token\":\"phc_a\"}]",
             &req, &batch) == CAP_OK,
       "two events parse");

    cap_buf_init(&fresh, &heap.pool, 16, 0);
    cap_buf_init(&shared, &heap.pool, 16, 0);

    for (i = 0; i < batch.nevents; i++) {
        cap_posthog_event(&fresh, &batch, &batch.events[i]);
    }

    /* a small start: the records buffer moves while it grows */
    cap_buf_init(&rec, &heap.pool, 8, 0);

    ok(cap_record_encode(&rec, &batch, 1024 * 1024, &err) == CAP_OK,
       "the records encode");

    for (i = 0; i < batch.nevents; i++) {
        ok(batch.events[i].properties_json.data != NULL,
           "event %zu: properties text kept", i);
        cap_posthog_event(&shared, &batch, &batch.events[i]);
    }

    is_mem(shared.data, shared.len, fresh.data, fresh.len,
           "the same bytes as serialising the tree");

    is_str(batch.events[0].properties_json.data,
           batch.events[0].properties_json.len,
           "{\"x\":[1,{\"y\":\"\xc3\xa9\\n\"}],\"$set\":{\"k\":true,"
           "\"m\":null}}",
           "the properties text, $set folded");

    cap_free(&heap.pool, rec.data);
    cap_free(&heap.pool, fresh.data);
    cap_free(&heap.pool, shared.data);
}


static void
test_gzip(void)
{
    size_t       i, len;
    cap_str_t    gz, back;
    cap_error_t  err;
    cap_uchar_t  *text;

    len = 200000;
    text = malloc(len);

    for (i = 0; i < len; i++) {
        text[i] = (cap_uchar_t) ("{\"event\":\"x\"}, "[i % 15] + (i / 997) % 3);
    }

    ok(cap_gzip_compress(&heap.pool, text, len, 1, &gz) == CAP_OK,
       "gzip level 1");
    ok(gz.len < len / 4, "compressed: %zu of %zu bytes", gz.len, len);
    ok(cap_gzip_is_magic(gz.data, gz.len), "a gzip stream");

    ok(cap_gzip_inflate(&heap.pool, gz.data, gz.len, len, &back, &err)
       == CAP_OK, "inflates back");
    is_mem(back.data, back.len, text, len, "to the same bytes");

    cap_free(&heap.pool, gz.data);
    cap_free(&heap.pool, back.data);

    ok(cap_gzip_compress(&heap.pool, (cap_uchar_t *) "", 0, 1, &gz) == CAP_OK
       && cap_gzip_inflate(&heap.pool, gz.data, gz.len, 16, &back, &err)
          == CAP_OK
       && back.len == 0,
       "an empty body round-trips");

    cap_free(&heap.pool, gz.data);
    cap_free(&heap.pool, back.data);

    free(text);
}
