
/*
 * libFuzzer target of the request model.  The first byte of an input
 * selects the endpoint and the policies of a fixed request, the rest is
 * the body:
 *
 *     cap_json_parse -> cap_request_parse -> cap_record_encode
 *
 * and checks:
 *   - a body that parses is written by cap_json_write as text that
 *     parses again and is written to the same bytes;
 *   - an accepted batch holds events with a name, a distinct_id, an
 *     object of properties, a canonical uuid and a valid token;
 *   - every record is one line of JSON that parses and is written back
 *     to the same bytes;
 *   - every accepted event, through one of two fixed transforms
 *     (cap_transform_event: drops, hashes, hash_distinct_id,
 *     anonymize_ip), is left as it was: its properties write the same
 *     bytes and its fields are the same; and its copy is well linked,
 *     has none of the dropped names, hashes where it should and only
 *     masked addresses;
 *   - a failure has a code and a text.
 *
 * The first byte: bits 0-1 (mod 3) the endpoint, bits 2-3 the ip policy,
 * bit 4 a query sent_at, bit 5 an allowlist, bit 6 capture_property
 * values and a small max_event, bit 7 an IPv6 client address.
 */


#include <stdio.h>
#include <stdlib.h>

#include "pool.h"
#include "util.h"
#include "capture/cap_capture.h"
#include "encode/cap_encode.h"


#define NOW  1704164645000LL


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const cap_uchar_t *p, size_t len);
static void round_trip(cap_json_t *root);
static void check_batch(cap_batch_t *batch);
static void check_records(cap_str_t *out, cap_batch_t *batch);
static void check_transform(cap_event_t *ev, const cap_transform_t *t);
static void check_members(cap_json_t *obj, const cap_transform_t *t,
    unsigned top);


/* every block is freed after each input */
static test_pool_t  tp = TEST_POOL(tp, test_pool_free);

static cap_str_t    tokens[] = {
    cap_string("phc_test"),
    cap_string("phc_other"),
};

static cap_property_t  props[] = {
    { cap_string("$lib_edge"), cap_string("nginx") },
    { cap_string("plan"),      cap_null_string },
    { cap_string("$ip"),       cap_string("edge") },
};

/* "" is a key too; $set_once hashed whole, $set dropped whole */

static cap_str_t  drop_a[] = {
    cap_string("email"), cap_string("phone"), cap_string("")
};

static cap_str_t  hash_a[] = {
    cap_string("name"), cap_string("$current_url"), cap_string("$set_once")
};

static cap_str_t  drop_b[] = { cap_string("$set") };

static cap_str_t  hash_b[] = {
    cap_string("email"), cap_string("$ip"), cap_string("")
};

static cap_transform_t  transforms[] = {
    { drop_a, sizeof(drop_a) / sizeof(drop_a[0]),
      hash_a, sizeof(hash_a) / sizeof(hash_a[0]),
      cap_string("fuzz-salt"), 1, 1 },
    { drop_b, sizeof(drop_b) / sizeof(drop_b[0]),
      hash_b, sizeof(hash_b) / sizeof(hash_b[0]),
      cap_null_string, 1, 1 },
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    unsigned        sel;
    size_t          i, max_event;
    cap_buf_t       b;
    cap_str_t       out;
    cap_uchar_t    *body;
    cap_json_t     *root;
    cap_error_t     err;
    cap_batch_t     batch;
    cap_request_t   req;

    if (size == 0) {
        return 0;
    }

    sel = data[0];
    data++;
    size--;

    memset(&req, 0, sizeof(cap_request_t));

    req.endpoint = (cap_endpoint_t) (sel % 3);
    req.ip_policy = (cap_ip_policy_t) ((sel >> 2) & 3);
    req.now = NOW;

    if (sel & 0x10) {
        req.has_query_sent_at = 1;
        req.query_sent_at = NOW - 10000;
    }

    if (sel & 0x20) {
        req.tokens = tokens;
        req.ntokens = sizeof(tokens) / sizeof(tokens[0]);
    }

    if (sel & 0x40) {
        req.properties = props;
        req.nproperties = sizeof(props) / sizeof(props[0]);
        max_event = 512;

    } else {
        max_event = 1024 * 1024;
    }

    if (sel & 0x80) {
        req.ip = (cap_str_t) cap_string("2001:db8:1:2:3:4:5:6");

    } else {
        req.ip = (cap_str_t) cap_string("1.2.3.4");
    }

    /* the body in a block of its exact size: no NUL after it */

    body = test_pool_alloc(&tp, size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    memcpy(body, data, size);

    memset(&err, 0, sizeof(cap_error_t));

    root = cap_json_parse(&tp.pool, body, size, &err);

    if (root == NULL) {
        if (err.code != CAP_E_PARSE && err.code != CAP_E_NOMEM) {
            fail("cap_json_parse failed without CAP_E_PARSE", body, size);
        }

        test_pool_reset(&tp);
        return 0;
    }

    /* before cap_request_parse, which changes the tree */

    round_trip(root);

    memset(&err, 0, sizeof(cap_error_t));

    rc = cap_request_parse(&tp.pool, &req, root, &batch, &err);

    if (rc != CAP_OK) {
        if (rc != CAP_ERROR || err.code == CAP_E_NONE
            || err.code >= CAP_E_LAST || err.text[0] == '\0')
        {
            fail("cap_request_parse failed without an error", body, size);
        }

        test_pool_reset(&tp);
        return 0;
    }

    check_batch(&batch);

    if (cap_buf_init(&b, &tp.pool, 256, 0) != CAP_OK) {
        test_pool_reset(&tp);
        return 0;
    }

    memset(&err, 0, sizeof(cap_error_t));

    rc = cap_record_encode(&b, &batch, max_event, &err);

    if (rc == CAP_OK) {
        out.data = b.data;
        out.len = b.len;
        check_records(&out, &batch);

    } else if (err.code != CAP_E_EVENT_TOO_LARGE && err.code != CAP_E_NOMEM)
    {
        fail("cap_record_encode failed with an unexpected code", body,
             size);
    }

    /* after the records: the events have their properties_json, or not */

    for (i = 0; i < batch.nevents; i++) {
        check_transform(&batch.events[i], &transforms[i % 2]);
    }

    test_pool_reset(&tp);

    return 0;
}


static void
fail(const char *what, const cap_uchar_t *p, size_t len)
{
    fuzz_failed("fuzz_request", what, p, len);
}


static void
round_trip(cap_json_t *root)
{
    cap_buf_t     b1, b2;
    cap_json_t   *again;
    cap_error_t   err;

    if (cap_buf_init(&b1, &tp.pool, 64, 0) != CAP_OK
        || cap_buf_init(&b2, &tp.pool, 64, 0) != CAP_OK)
    {
        return;
    }

    if (cap_json_write(&b1, root) != CAP_OK) {
        if (b1.nomem) {
            return;
        }

        fail("cap_json_write failed on a parsed tree", NULL, 0);
    }

    memset(&err, 0, sizeof(cap_error_t));

    again = cap_json_parse(&tp.pool, b1.data, b1.len, &err);
    if (again == NULL) {
        fprintf(stderr, "fuzz_request: %s\n", err.text);
        fail("the output of cap_json_write does not parse", b1.data, b1.len);
    }

    if (cap_json_write(&b2, again) != CAP_OK) {
        fail("cap_json_write failed on its own output", b1.data, b1.len);
    }

    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
        fail("cap_json_write is not stable", b1.data, b1.len);
    }
}


static void
check_batch(cap_batch_t *batch)
{
    size_t        i, k;
    cap_uchar_t   c;
    cap_event_t  *ev;

    if (batch->nevents == 0 && batch->dropped == 0) {
        fail("an accepted batch without events", NULL, 0);
    }

    if (batch->nevents
        && cap_token_invalid(batch->token.data, batch->token.len) != NULL)
    {
        fail("an accepted batch with an invalid token", batch->token.data,
             batch->token.len);
    }

    for (i = 0; i < batch->nevents; i++) {
        ev = &batch->events[i];

        if (ev->event.len == 0 || ev->event.data == NULL) {
            fail("an event without a name", NULL, 0);
        }

        if (ev->distinct_id.len == 0
            || memchr(ev->distinct_id.data, '\0', ev->distinct_id.len))
        {
            fail("a bad distinct_id", ev->distinct_id.data,
                 ev->distinct_id.len);
        }

        if (ev->properties == NULL
            || ev->properties->type != CAP_JSON_OBJECT)
        {
            fail("properties that are not an object", NULL, 0);
        }

        for (k = 0; k < CAP_UUID_LEN; k++) {
            c = ev->uuid[k];

            if (k == 8 || k == 13 || k == 18 || k == 23) {
                if (c != '-') {
                    fail("a uuid without its hyphens", ev->uuid,
                         CAP_UUID_LEN);
                }

            } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                fail("a uuid that is not lowercase hex", ev->uuid,
                     CAP_UUID_LEN);
            }
        }
    }
}


static void
check_records(cap_str_t *out, cap_batch_t *batch)
{
    size_t        n, len;
    cap_buf_t     b;
    cap_uchar_t  *p, *end, *nl;
    cap_json_t   *v;
    cap_error_t   err;

    p = out->data;
    end = out->data + out->len;
    n = 0;

    while (p < end) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            fail("a record without its newline", p, end - p);
        }

        len = nl - p;
        n++;

        memset(&err, 0, sizeof(cap_error_t));

        v = cap_json_parse(&tp.pool, p, len, &err);
        if (v == NULL) {
            fprintf(stderr, "fuzz_request: %s\n", err.text);
            fail("a record that does not parse", p, len);
        }

        if (v->type != CAP_JSON_OBJECT || v->count != 9
            || cap_json_get_literal(v, "properties") == NULL
            || cap_json_get_literal(v, "properties")->type
               != CAP_JSON_OBJECT)
        {
            fail("a record that is not the canonical object", p, len);
        }

        if (cap_buf_init(&b, &tp.pool, len + 1, 0) != CAP_OK) {
            return;
        }

        if (cap_json_write(&b, v) != CAP_OK
            || b.len != len || memcmp(b.data, p, len) != 0)
        {
            fail("a record that is not compact JSON", p, len);
        }

        p = nl + 1;
    }

    if (n != batch->nevents) {
        fail("not one record per event", out->data, out->len);
    }
}


static void
check_transform(cap_event_t *ev, const cap_transform_t *t)
{
    int           rc;
    size_t        i;
    cap_buf_t     before, after, copy;
    cap_uchar_t  *did, c;
    cap_event_t   saved, out;

    if (cap_buf_init(&before, &tp.pool, 256, 0) != CAP_OK
        || cap_buf_init(&after, &tp.pool, 256, 0) != CAP_OK
        || cap_buf_init(&copy, &tp.pool, 256, 0) != CAP_OK
        || cap_json_write(&before, ev->properties) != CAP_OK)
    {
        return;
    }

    did = test_pool_alloc(&tp, ev->distinct_id.len + 1);
    if (did == NULL) {
        return;
    }

    memcpy(did, ev->distinct_id.data, ev->distinct_id.len);
    saved = *ev;

    rc = cap_transform_event(&tp.pool, t, ev, &out);

    /* the original, whatever the outcome */

    if (cap_json_write(&after, ev->properties) != CAP_OK
        || after.len != before.len
        || memcmp(after.data, before.data, before.len) != 0)
    {
        fail("cap_transform_event changed the event's properties",
             before.data, before.len);
    }

    if (memcmp(saved.uuid, ev->uuid, CAP_UUID_LEN) != 0
        || saved.event.data != ev->event.data
        || saved.event.len != ev->event.len
        || saved.distinct_id.data != ev->distinct_id.data
        || saved.distinct_id.len != ev->distinct_id.len
        || memcmp(did, ev->distinct_id.data, ev->distinct_id.len) != 0
        || saved.properties != ev->properties
        || saved.timestamp != ev->timestamp
        || saved.properties_json.data != ev->properties_json.data
        || saved.properties_json.len != ev->properties_json.len
        || saved.properties_at != ev->properties_at)
    {
        fail("cap_transform_event changed the event", NULL, 0);
    }

    if (rc != CAP_OK) {
        if (rc != CAP_ERROR) {
            fail("cap_transform_event: neither CAP_OK nor CAP_ERROR", NULL,
                 0);
        }

        return;
    }

    /* the copy */

    if (out.distinct_id.len != 64) {
        fail("a distinct_id not hashed", out.distinct_id.data,
             out.distinct_id.len);
    }

    for (i = 0; i < out.distinct_id.len; i++) {
        c = out.distinct_id.data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            fail("a distinct_id not hashed", out.distinct_id.data,
                 out.distinct_id.len);
        }
    }

    if (out.properties == NULL || out.properties->type != CAP_JSON_OBJECT) {
        fail("the copy's properties are not an object", NULL, 0);
    }

    if (out.properties == ev->properties
        ? out.properties_json.data != ev->properties_json.data
        : out.properties_json.data != NULL || out.properties_json.len != 0)
    {
        fail("the copy's properties_json is not its properties' text", NULL,
             0);
    }

    check_members(out.properties, t, 1);

    if (cap_json_write(&copy, out.properties) != CAP_OK && !copy.nomem) {
        fail("the copy's properties cannot be written", NULL, 0);
    }
}


static void
check_members(cap_json_t *obj, const cap_transform_t *t, unsigned top)
{
    size_t        n;
    unsigned      count;
    cap_json_t   *m, *last;
    cap_uchar_t   masked[64];

    count = 0;
    last = NULL;

    for (m = obj->first; m != NULL; m = m->next) {
        count++;
        last = m;

        if (listed(t->drop, t->ndrop, &m->key)) {
            fail("a dropped name in the copy", m->key.data, m->key.len);
        }

        if (listed(t->hash, t->nhash, &m->key) && !is_digest(m)) {
            fail("a name not hashed in the copy", m->key.data, m->key.len);
        }

        if (!top) {
            continue;
        }

        /* no $ip is kept unmasked, not even as null or "" */

        if (m->key.len == 3 && memcmp(m->key.data, "$ip", 3) == 0
            && !(listed(t->hash, t->nhash, &m->key)
                 && m->type == CAP_JSON_STRING && m->str.len == 64))
        {
            n = (m->type == CAP_JSON_STRING)
                ? cap_ip_anonymize(m->str.data, m->str.len, masked,
                                   sizeof(masked))
                : 0;

            if (n == 0 || n != m->str.len
                || memcmp(masked, m->str.data, n) != 0)
            {
                fail("an address not masked in the copy", m->str.data,
                     m->str.len);
            }
        }

        if (m->type == CAP_JSON_OBJECT
            && ((m->key.len == 4 && memcmp(m->key.data, "$set", 4) == 0)
                || (m->key.len == 9
                    && memcmp(m->key.data, "$set_once", 9) == 0)))
        {
            check_members(m, t, 0);
        }
    }

    if (count != obj->count || last != obj->last) {
        fail("an object of the copy badly linked", NULL, 0);
    }
}
