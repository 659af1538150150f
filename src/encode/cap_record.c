
/*
 * The canonical record: what the file destination writes, and what every
 * other encoder starts from.
 */


#include "cap_encode.h"


static int cap_record_one(cap_buf_t *b, cap_batch_t *batch,
    cap_event_t *ev, cap_uchar_t *now, size_t now_len, size_t *props);


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
