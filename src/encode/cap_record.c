
/*
 * The canonical record: what the file destination writes, and what every
 * other encoder starts from.
 */


#include "cap_encode.h"


static int cap_record_one(cap_buf_t *b, cap_batch_t *batch,
    cap_event_t *ev, cap_uchar_t *now, size_t now_len, size_t *props);
static int cap_record_read(cap_pool_t *pool, cap_uchar_t *p, size_t len,
    cap_batch_t *batch, cap_event_t *ev, cap_error_t *err);
static int cap_record_string(cap_json_t *obj, const char *key, size_t len,
    cap_str_t *s);
static int cap_record_time(cap_json_t *obj, const char *key, size_t len,
    cap_msec_t *ms);


int
cap_record_encode(cap_buf_t *out, cap_batch_t *batch, size_t max_event,
    cap_error_t *err)
{
    size_t        i, start, now_len, props;
    cap_event_t  *ev;
    cap_uchar_t   now[CAP_TIME_LEN];

    now_len = cap_time_format(batch->now, now);

    for (i = 0; i < batch->nevents; i++) {
        start = out->len;
        ev = &batch->events[i];

        if (cap_record_one(out, batch, ev, now, now_len, &props) != CAP_OK)
        {
            if (out->overflow) {
                return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                                     "encoded events exceed %zu bytes",
                                     out->max);
            }

            return cap_error_set(err, CAP_E_NOMEM, "out of memory");
        }

        if (out->len - start - 1 > max_event) {
            return cap_error_set(err, CAP_E_EVENT_TOO_LARGE,
                                 "maximum event size exceeded: event %zu "
                                 "is %zu bytes, the limit is %zu",
                                 i, out->len - start - 1, max_event);
        }

        /* where, for now: the buffer may still move as it grows */
        ev->properties_at = props;
        ev->properties_json.len = out->len - 2 - props;
    }

    for (i = 0; i < batch->nevents; i++) {
        ev = &batch->events[i];
        ev->properties_json.data = out->data + ev->properties_at;
    }

    return CAP_OK;
}


static int
cap_record_one(cap_buf_t *b, cap_batch_t *batch, cap_event_t *ev,
    cap_uchar_t *now, size_t now_len, size_t *props)
{
    size_t       n;
    cap_uchar_t  ts[CAP_TIME_LEN];

    if (cap_buf_append_literal(b, "{\"uuid\":\"") != CAP_OK
        || cap_buf_append(b, ev->uuid, CAP_UUID_LEN) != CAP_OK
        || cap_buf_append_literal(b, "\",\"event\":") != CAP_OK
        || cap_json_write_string(b, ev->event.data, ev->event.len) != CAP_OK
        || cap_buf_append_literal(b, ",\"distinct_id\":") != CAP_OK
        || cap_json_write_string(b, ev->distinct_id.data,
                                 ev->distinct_id.len) != CAP_OK
        || cap_buf_append_literal(b, ",\"token\":") != CAP_OK
        || cap_json_write_string(b, batch->token.data, batch->token.len)
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    n = cap_time_format(ev->timestamp, ts);

    if (cap_buf_append_literal(b, ",\"timestamp\":\"") != CAP_OK
        || cap_buf_append(b, ts, n) != CAP_OK
        || cap_buf_append_literal(b, "\",\"now\":\"") != CAP_OK
        || cap_buf_append(b, now, now_len) != CAP_OK
        || cap_buf_append_literal(b, "\",\"sent_at\":") != CAP_OK)
    {
        return CAP_ERROR;
    }

    if (batch->has_sent_at) {
        n = cap_time_format(batch->sent_at, ts);

        if (cap_buf_append_char(b, '"') != CAP_OK
            || cap_buf_append(b, ts, n) != CAP_OK
            || cap_buf_append_char(b, '"') != CAP_OK)
        {
            return CAP_ERROR;
        }

    } else if (cap_buf_append_literal(b, "null") != CAP_OK) {
        return CAP_ERROR;
    }

    if ((batch->historical_migration
         ? cap_buf_append_literal(b, ",\"historical_migration\":true")
         : cap_buf_append_literal(b, ",\"historical_migration\":false"))
        != CAP_OK
        || cap_buf_append_literal(b, ",\"properties\":") != CAP_OK)
    {
        return CAP_ERROR;
    }

    *props = b->len;

    if (cap_json_write(b, ev->properties) != CAP_OK
        || cap_buf_append_literal(b, "}\n") != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


int
cap_record_decode(cap_pool_t *pool, cap_uchar_t *text, size_t len,
    cap_batch_t *batch, cap_error_t *err)
{
    size_t        n;
    cap_uchar_t  *p, *end, *nl;

    memset(batch, 0, sizeof(cap_batch_t));

    n = 0;
    end = text + len;

    for (p = text; p < end; p++) {
        n += (*p == '\n');
    }

    if (n == 0 || end[-1] != '\n') {
        return cap_error_set(err, CAP_E_PARSE,
                             "records: not whole lines");
    }

    batch->events = cap_alloc(pool, n * sizeof(cap_event_t));
    if (batch->events == NULL) {
        return cap_error_set(err, CAP_E_NOMEM, "out of memory");
    }

    for (p = text; p < end; p = nl + 1) {
        nl = memchr(p, '\n', end - p);

        if (cap_record_read(pool, p, nl - p, batch,
                            &batch->events[batch->nevents], err)
            != CAP_OK)
        {
            return CAP_ERROR;
        }

        batch->nevents++;
    }

    return CAP_OK;
}


static int
cap_record_read(cap_pool_t *pool, cap_uchar_t *p, size_t len,
    cap_batch_t *batch, cap_event_t *ev, cap_error_t *err)
{
    cap_str_t     s, token;
    cap_msec_t    ms;
    cap_json_t   *obj, *v;
    cap_uchar_t  *at, *q;

    static const char  props[] = ",\"properties\":";

    /*
     * The properties are the last member, after members whose strings
     * cannot hold an unescaped quote: the first ',"properties":' is
     * theirs, and their text runs to the line's closing brace.
     */

    at = NULL;

    for (q = p; len >= sizeof(props) && q <= p + len - sizeof(props); q++) {
        if (*q == ',' && memcmp(q, props, sizeof(props) - 1) == 0) {
            at = q;
            break;
        }
    }

    if (at == NULL || p[len - 1] != '}') {
        goto invalid;
    }

    ev->properties_json.data = at + sizeof(props) - 1;
    ev->properties_json.len = (p + len - 1) - ev->properties_json.data;
    ev->properties_at = 0;

    obj = cap_json_parse(pool, p, len, err);
    if (obj == NULL) {
        return CAP_ERROR;
    }

    if (obj->type != CAP_JSON_OBJECT
        || cap_record_string(obj, "uuid", 4, &s) != CAP_OK
        || s.len != CAP_UUID_LEN
        || cap_record_string(obj, "event", 5, &ev->event) != CAP_OK
        || cap_record_string(obj, "distinct_id", 11, &ev->distinct_id)
           != CAP_OK
        || cap_record_string(obj, "token", 5, &token) != CAP_OK
        || cap_record_time(obj, "timestamp", 9, &ev->timestamp) != CAP_OK)
    {
        goto invalid;
    }

    memcpy(ev->uuid, s.data, CAP_UUID_LEN);

    ev->properties = cap_json_get_literal(obj, "properties");
    if (ev->properties == NULL || ev->properties->type != CAP_JSON_OBJECT) {
        goto invalid;
    }

    if (batch->nevents) {
        return CAP_OK;
    }

    /* the request's: from its first record */

    batch->token = token;

    if (cap_record_time(obj, "now", 3, &batch->now) != CAP_OK) {
        goto invalid;
    }

    v = cap_json_get_literal(obj, "sent_at");

    if (v != NULL && v->type == CAP_JSON_STRING) {
        if (cap_time_parse(v->str.data, v->str.len, &ms) != CAP_OK) {
            goto invalid;
        }

        batch->sent_at = ms;
        batch->has_sent_at = 1;
    }

    v = cap_json_get_literal(obj, "historical_migration");
    batch->historical_migration = (v != NULL && v->type == CAP_JSON_TRUE);

    return CAP_OK;

invalid:

    return cap_error_set(err, CAP_E_PARSE, "records: record %zu is not a "
                         "canonical record", batch->nevents);
}


static int
cap_record_string(cap_json_t *obj, const char *key, size_t len,
    cap_str_t *s)
{
    cap_json_t  *v;

    v = cap_json_get(obj, key, len);

    if (v == NULL || v->type != CAP_JSON_STRING) {
        return CAP_ERROR;
    }

    *s = v->str;

    return CAP_OK;
}


static int
cap_record_time(cap_json_t *obj, const char *key, size_t len,
    cap_msec_t *ms)
{
    cap_str_t  s;

    if (cap_record_string(obj, key, len, &s) != CAP_OK) {
        return CAP_ERROR;
    }

    return cap_time_parse(s.data, s.len, ms);
}
