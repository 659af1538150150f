
/*
 * libFuzzer target of Segment-spec ingestion.  The first byte of an
 * input selects the arguments and the request, the second (when bit 7
 * of the first is set) an allocation of cap_segment_ingest() that
 * fails; the rest is the body:
 *
 *     cap_json_parse -> cap_segment_ingest (every kind)
 *                    -> cap_request_parse
 *
 * and checks:
 *   - a refused body has one of the expected codes, and a text;
 *   - a result is {"api_key"?, "batch": [events]} with one event per
 *     message, each with a name, a distinct_id, an object of properties
 *     and, if any, a canonical uuid; it is written as JSON that parses;
 *   - the model accepts it or refuses it with a code and a text, and an
 *     accepted batch has every message's event, with a canonical uuid;
 *   - the body's tree is the same after every kind and the model.
 *
 * The first byte: bit 0 a token, bit 1 a default group type, bits 2-3
 * the ip policy, bits 4-5 (mod 3) the endpoint, bit 6 a later "now",
 * bit 7 a failing allocation.
 */


#include <stdio.h>
#include <stdlib.h>

#include "pool.h"
#include "util.h"
#include "capture/cap_capture.h"


#define NOW  1704164645000LL


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const cap_uchar_t *p, size_t len);
static cap_str_t write_tree(cap_json_t *v);
static void check_result(cap_json_t *out, size_t messages,
    cap_str_t *token);
static void check_batch(cap_batch_t *batch, size_t messages);
static int canonical_uuid(const cap_uchar_t *p, size_t len);


/* blocks in a list, all freed after each input */
static test_pool_t    tp = TEST_POOL(tp, NULL);

static cap_str_t      token = cap_string("phc_test");
static cap_str_t      group_type = cap_string("company");

static const cap_uchar_t  *input;
static size_t              input_len;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, k;
    long            nth;
    size_t          messages;
    unsigned        sel;
    cap_str_t       before, after, *tok, *gt;
    cap_json_t     *root, *out, *list;
    cap_uchar_t    *body;
    cap_error_t     err;
    cap_batch_t     batch;
    cap_request_t   req;

    if (size == 0) {
        return 0;
    }

    sel = data[0];
    data++;
    size--;

    nth = 0;

    if (sel & 0x80) {
        if (size == 0) {
            return 0;
        }

        nth = 1 + data[0];
        data++;
        size--;
    }

    tok = (sel & 0x01) ? &token : NULL;
    gt = (sel & 0x02) ? &group_type : NULL;

    memset(&req, 0, sizeof(cap_request_t));
    req.ip_policy = (cap_ip_policy_t) ((sel >> 2) & 3);
    req.endpoint = (cap_endpoint_t) (((sel >> 4) & 3) % 3);
    req.now = (sel & 0x40) ? NOW + 86400000LL : NOW;
    req.ip = (cap_str_t) cap_string("203.0.113.7");

    /* the body in a block of its exact size: no NUL after it */

    body = test_pool_alloc(&tp, size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    memcpy(body, data, size);
    input = body;
    input_len = size;

    memset(&err, 0, sizeof(cap_error_t));

    root = cap_json_parse(&tp.pool, body, size, &err);

    if (root == NULL) {
        test_pool_reset(&tp);
        return 0;
    }

    before = write_tree(root);

    for (k = CAP_SEGMENT_KIND_BATCH; k <= CAP_SEGMENT_KIND_ALIAS; k++) {

        memset(&err, 0, sizeof(cap_error_t));

        tp.nallocs = 0;
        tp.fail_at = nth;
        out = cap_segment_ingest(&tp.pool, root, (cap_segment_kind_t) k, tok,
                                 gt, &err);
        tp.fail_at = 0;

        if (out == NULL) {
            if (err.code != CAP_E_PARSE && err.code != CAP_E_DISTINCT_ID
                && err.code != CAP_E_EVENT_NAME && err.code != CAP_E_NOMEM)
            {
                fail("refused with an unexpected code", body, size);
            }

            if (err.text[0] == '\0') {
                fail("refused without a text", body, size);
            }

            if (err.code == CAP_E_NOMEM && nth == 0) {
                fail("out of memory without a failing allocation", body,
                     size);
            }

            continue;
        }

        if (k == CAP_SEGMENT_KIND_BATCH) {
            list = cap_json_get_literal(root, "batch");
            messages = list->count;

        } else {
            messages = 1;
        }

        check_result(out, messages, tok);

        memset(&err, 0, sizeof(cap_error_t));

        rc = cap_request_parse(&tp.pool, &req, out, &batch, &err);

        if (rc != CAP_OK) {
            if (rc != CAP_ERROR || err.code == CAP_E_NONE
                || err.code >= CAP_E_LAST || err.text[0] == '\0')
            {
                fail("cap_request_parse failed without an error", body,
                     size);
            }

            if (tok != NULL && messages
                && (err.code == CAP_E_NO_TOKEN
                    || err.code == CAP_E_TOKEN_MISMATCH))
            {
                fail("the batch's token was not taken", body, size);
            }

            continue;
        }

        check_batch(&batch, messages);
    }

    after = write_tree(root);

    if (before.data != NULL && after.data != NULL
        && (before.len != after.len
            || memcmp(before.data, after.data, before.len) != 0))
    {
        fail("the body's tree was changed", body, size);
    }

    test_pool_reset(&tp);

    return 0;
}


static void
fail(const char *what, const cap_uchar_t *p, size_t len)
{
    fuzz_failed("fuzz_segment", what, p, len);
}


/* compact JSON of a tree; { 0, NULL } without memory */

static cap_str_t
write_tree(cap_json_t *v)
{
    cap_buf_t  b;
    cap_str_t  s;

    s.len = 0;
    s.data = NULL;

    if (cap_buf_init(&b, &tp.pool, 256, 0) != CAP_OK) {
        return s;
    }

    if (cap_json_write(&b, v) != CAP_OK) {
        if (!b.nomem) {
            fail("cap_json_write failed on a tree", input, input_len);
        }

        return s;
    }

    s.data = b.data;
    s.len = b.len;

    return s;
}


static void
check_result(cap_json_t *out, size_t messages, cap_str_t *tok)
{
    cap_str_t     s;
    cap_json_t   *list, *ev, *v, *again;
    cap_error_t   err;

    if (out->type != CAP_JSON_OBJECT) {
        fail("a result that is not an object", input, input_len);
    }

    v = cap_json_get_literal(out, "api_key");

    if (tok == NULL ? v != NULL
                    : (v == NULL || v->type != CAP_JSON_STRING
                       || v->str.len != tok->len
                       || memcmp(v->str.data, tok->data, tok->len) != 0))
    {
        fail("a result without its api_key", input, input_len);
    }

    list = cap_json_get_literal(out, "batch");

    if (list == NULL || list->type != CAP_JSON_ARRAY
        || list->count != messages)
    {
        fail("a result without one event per message", input, input_len);
    }

    for (ev = list->first; ev != NULL; ev = ev->next) {

        if (ev->type != CAP_JSON_OBJECT) {
            fail("an event that is not an object", input, input_len);
        }

        v = cap_json_get_literal(ev, "event");
        if (v == NULL || v->type != CAP_JSON_STRING || v->str.len == 0) {
            fail("an event without a name", input, input_len);
        }

        v = cap_json_get_literal(ev, "distinct_id");
        if (v == NULL || v->type != CAP_JSON_STRING || v->str.len == 0) {
            fail("an event without a distinct_id", input, input_len);
        }

        v = cap_json_get_literal(ev, "properties");
        if (v == NULL || v->type != CAP_JSON_OBJECT) {
            fail("an event without properties", input, input_len);
        }

        v = cap_json_get_literal(ev, "uuid");
        if (v != NULL
            && (v->type != CAP_JSON_STRING
                || !canonical_uuid(v->str.data, v->str.len)))
        {
            fail("an event with a bad uuid", input, input_len);
        }
    }

    s = write_tree(out);

    if (s.data == NULL) {
        return;
    }

    memset(&err, 0, sizeof(cap_error_t));

    again = cap_json_parse(&tp.pool, s.data, s.len, &err);

    if (again == NULL && err.code != CAP_E_NOMEM) {
        fail("a result written as text that does not parse", s.data,
             s.len);
    }
}


static void
check_batch(cap_batch_t *batch, size_t messages)
{
    size_t  i;

    if (batch->nevents + batch->dropped != messages) {
        fail("an accepted batch without every message", input, input_len);
    }

    for (i = 0; i < batch->nevents; i++) {
        if (!canonical_uuid(batch->events[i].uuid, CAP_UUID_LEN)) {
            fail("an accepted event with a bad uuid", input, input_len);
        }
    }
}


/* 36 bytes, lowercase hex, hyphens at 8, 13, 18 and 23 */

static int
canonical_uuid(const cap_uchar_t *p, size_t len)
{
    return len == CAP_UUID_LEN && uuid_text(p);
}
