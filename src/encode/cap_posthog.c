
/*
 * PostHog's /batch/ API: events as its capture service takes them from
 * server SDKs, and the body around a batch of them.
 */


#include "cap_encode.h"


int
cap_posthog_event(cap_buf_t *out, cap_batch_t *batch, cap_event_t *ev)
{
    size_t       n;
    cap_uchar_t  ts[CAP_TIME_LEN];

    n = cap_time_format(ev->timestamp, ts);

    /*
     * The time is the one computed at the edge, skew-corrected: the
     * body's "sent_at" is written when the batch is sent, so PostHog's
     * own correction adds only the time the batch waited.
     */

    if (cap_buf_append_literal(out, "{\"uuid\":\"") != CAP_OK
        || cap_buf_append(out, ev->uuid, CAP_UUID_LEN) != CAP_OK
        || cap_buf_append_literal(out, "\",\"event\":") != CAP_OK
        || cap_json_write_string(out, ev->event.data, ev->event.len)
           != CAP_OK
        || cap_buf_append_literal(out, ",\"distinct_id\":") != CAP_OK
        || cap_json_write_string(out, ev->distinct_id.data,
                                 ev->distinct_id.len) != CAP_OK
        || cap_buf_append_literal(out, ",\"timestamp\":\"") != CAP_OK
        || cap_buf_append(out, ts, n) != CAP_OK
        || cap_buf_append_literal(out, "\",\"properties\":") != CAP_OK)
    {
        return CAP_ERROR;
    }

    /* the text the canonical record has, when it was made */

    if ((ev->properties_json.data
         ? cap_buf_append(out, ev->properties_json.data,
                          ev->properties_json.len)
         : cap_json_write(out, ev->properties))
        != CAP_OK
        || cap_buf_put(out, '}') != CAP_OK)
    {
        return CAP_ERROR;
    }

    (void) batch;

    return CAP_OK;
}


int
cap_posthog_body_open(cap_buf_t *out, const cap_uchar_t *token, size_t len,
    unsigned historical)
{
    if (cap_buf_append_literal(out, "{\"api_key\":") != CAP_OK
        || cap_json_write_string(out, token, len) != CAP_OK)
    {
        return CAP_ERROR;
    }

    if (historical
        && cap_buf_append_literal(out, ",\"historical_migration\":true")
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    return cap_buf_append_literal(out, ",\"batch\":[");
}


int
cap_posthog_body_close(cap_buf_t *out, cap_msec_t now)
{
    size_t       n;
    cap_uchar_t  ts[CAP_TIME_LEN];

    n = cap_time_format(now, ts);

    if (cap_buf_append_literal(out, "],\"sent_at\":\"") != CAP_OK
        || cap_buf_append(out, ts, n) != CAP_OK
        || cap_buf_append_literal(out, "\"}") != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}
