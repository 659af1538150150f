
/*
 * One event: name, distinct_id, uuid, properties ($set and $set_once
 * folded in), the event time with PostHog's clock-skew rules, and the
 * checks of recordings.
 */


#include <stdlib.h>

#include "cap_capture.h"


static int cap_event_distinct_id(cap_pool_t *pool, cap_json_t *obj,
    cap_json_t *props, cap_event_t *ev, cap_error_t *err);
static int cap_event_fold(cap_pool_t *pool, cap_json_t *obj,
    cap_json_t *props, const char *name, size_t len);
static int cap_event_time(cap_request_t *req, cap_batch_t *batch,
    cap_json_t *obj, cap_json_t *props, cap_event_t *ev, cap_error_t *err);
static int cap_event_snapshot(cap_pool_t *pool, cap_batch_t *batch,
    cap_json_t *props, cap_error_t *err);
static cap_json_t *cap_event_token(cap_json_t *obj, cap_json_t *props);


static const cap_uchar_t  cap_replacement[] = { 0xef, 0xbf, 0xbd };


int
cap_event_normalise(cap_pool_t *pool, cap_request_t *req,
    cap_batch_t *batch, cap_json_t *obj, cap_event_t *ev, cap_str_t *tok,
    cap_error_t *err)
{
    cap_json_t  *v, *props;

    memset(ev, 0, sizeof(cap_event_t));

    /* event name */

    v = cap_json_get_literal(obj, "event");

    if (v == NULL || v->type == CAP_JSON_NULL) {
        if (req->endpoint != CAP_ENDPOINT_ENGAGE) {
            return cap_error_set(err, CAP_E_EVENT_NAME,
                                 "event submitted without an event name");
        }

        /* legacy /engage bodies are person updates */
        ev->event.data = (cap_uchar_t *) "$identify";
        ev->event.len = sizeof("$identify") - 1;

    } else if (v->type != CAP_JSON_STRING) {
        return cap_error_set(err, CAP_E_PARSE,
                             "failed to parse request: \"event\" is not "
                             "a string");

    } else if (v->str.len == 0) {
        return cap_error_set(err, CAP_E_EVENT_NAME,
                             "event submitted with an empty event name");

    } else {
        ev->event = v->str;
    }

    /* properties */

    props = cap_json_get_literal(obj, "properties");

    if (props == NULL || props->type == CAP_JSON_NULL) {
        props = cap_json_new(pool, CAP_JSON_OBJECT);
        if (props == NULL) {
            return cap_error_set(err, CAP_E_NOMEM, "out of memory");
        }

    } else if (props->type != CAP_JSON_OBJECT) {
        return cap_error_set(err, CAP_E_PARSE,
                             "failed to parse request: \"properties\" is "
                             "not an object");
    }

    ev->properties = props;

    /* token, checked across the request by the caller */

    v = cap_event_token(obj, props);
    if (v != NULL) {
        if (v->type != CAP_JSON_STRING) {
            return cap_error_set(err, CAP_E_TOKEN_INVALID,
                                 "invalid token: not a string");
        }

        *tok = v->str;
    }

    if (cap_event_distinct_id(pool, obj, props, ev, err) != CAP_OK) {
        return CAP_ERROR;
    }

    /* uuid: "" counts as absent */

    v = cap_json_get_literal(obj, "uuid");

    if (v != NULL && v->type == CAP_JSON_STRING && v->str.len) {
        if (cap_uuid_parse(v->str.data, v->str.len, ev->uuid) != CAP_OK) {
            return cap_error_set(err, CAP_E_UUID,
                                 "invalid event uuid \"%.*s\"",
                                 (int) (v->str.len > 64 ? 64 : v->str.len),
                                 v->str.data);
        }

    } else if (v != NULL && v->type != CAP_JSON_NULL
               && v->type != CAP_JSON_STRING)
    {
        return cap_error_set(err, CAP_E_UUID, "invalid event uuid");

    } else {
        cap_uuid_v7(req->now, ev->uuid);
    }

    v = cap_json_get_literal(props, "$cookieless_mode");
    if (v != NULL && v->type != CAP_JSON_TRUE && v->type != CAP_JSON_FALSE) {
        return cap_error_set(err, CAP_E_COOKIELESS,
                             "$cookieless_mode must be a boolean");
    }

    if (cap_event_fold(pool, obj, props, "$set", sizeof("$set") - 1)
        != CAP_OK
        || cap_event_fold(pool, obj, props, "$set_once",
                          sizeof("$set_once") - 1)
           != CAP_OK)
    {
        return cap_error_set(err, CAP_E_NOMEM, "out of memory");
    }

    if (cap_event_time(req, batch, obj, props, ev, err) != CAP_OK) {
        return CAP_ERROR;
    }

    if (batch->recordings
        && cap_event_snapshot(pool, batch, props, err) != CAP_OK)
    {
        return CAP_ERROR;
    }

    if (ev->event.len == sizeof("$performance_event") - 1
        && memcmp(ev->event.data, "$performance_event", ev->event.len) == 0)
    {
        /* accepted and dropped, as PostHog does */
        ev->event.len = 0;
        return CAP_OK;
    }

    if (cap_enrich_event(pool, req, ev) != CAP_OK) {
        return cap_error_set(err, CAP_E_NOMEM, "out of memory");
    }

    return CAP_OK;
}


static cap_json_t *
cap_event_token(cap_json_t *obj, cap_json_t *props)
{
    cap_json_t  *v;

    v = cap_json_get_literal(obj, "token");

    if (v == NULL || v->type == CAP_JSON_NULL) {
        v = cap_json_get_literal(obj, "$token");
    }

    if (v == NULL || v->type == CAP_JSON_NULL) {
        v = cap_json_get_literal(obj, "api_key");
    }

    if (v == NULL || v->type == CAP_JSON_NULL) {
        v = cap_json_get_literal(props, "token");
    }

    if (v == NULL || v->type == CAP_JSON_NULL) {
        return NULL;
    }

    return v;
}


static int
cap_event_distinct_id(cap_pool_t *pool, cap_json_t *obj, cap_json_t *props,
    cap_event_t *ev, cap_error_t *err)
{
    size_t        i, n, chars;
    cap_buf_t     b;
    cap_json_t   *v;
    cap_uchar_t  *p, c;

    v = cap_json_get_literal(obj, "distinct_id");

    if (v == NULL || v->type == CAP_JSON_NULL) {
        v = cap_json_get_literal(obj, "$distinct_id");
    }

    if (v == NULL || v->type == CAP_JSON_NULL) {
        v = cap_json_get_literal(props, "distinct_id");
    }

    if (v == NULL || v->type == CAP_JSON_NULL) {
        return cap_error_set(err, CAP_E_DISTINCT_ID,
                             "event submitted without a distinct_id");
    }

    if (v->type == CAP_JSON_STRING) {
        p = v->str.data;
        n = v->str.len;

    } else {
        /* 23 -> "23", true -> "true", objects as their JSON text */

        if (cap_buf_init(&b, pool, 64, 0) != CAP_OK
            || cap_json_write(&b, v) != CAP_OK)
        {
            return cap_error_set(err, CAP_E_NOMEM, "out of memory");
        }

        p = b.data;
        n = b.len;
    }

    if (n == 0) {
        return cap_error_set(err, CAP_E_DISTINCT_ID,
                             "event submitted with an empty distinct_id");
    }

    /* at most 200 characters; NUL becomes U+FFFD */

    chars = 0;

    for (i = 0; i < n && chars < CAP_DISTINCT_ID_MAX; chars++) {
        c = p[i++];

        if (c >= 0xc0) {
            while (i < n && (p[i] & 0xc0) == 0x80) {
                i++;
            }
        }
    }

    n = i;

    if (memchr(p, '\0', n) == NULL) {
        ev->distinct_id.data = p;
        ev->distinct_id.len = n;
        return CAP_OK;
    }

    if (cap_buf_init(&b, pool, n + 16, 0) != CAP_OK) {
        return cap_error_set(err, CAP_E_NOMEM, "out of memory");
    }

    for (i = 0; i < n; i++) {
        if ((p[i] == '\0'
             ? cap_buf_append(&b, cap_replacement, 3)
             : cap_buf_append_char(&b, p[i]))
            != CAP_OK)
        {
            return cap_error_set(err, CAP_E_NOMEM, "out of memory");
        }
    }

    ev->distinct_id.data = b.data;
    ev->distinct_id.len = b.len;

    return CAP_OK;
}


/*
 * Top-level "$set" / "$set_once" of an event go into its properties,
 * merged key by key into an object already there; top-level keys win.
 */

static int
cap_event_fold(cap_pool_t *pool, cap_json_t *obj, cap_json_t *props,
    const char *name, size_t len)
{
    cap_json_t  *top, *dst, *v;

    top = cap_json_get(obj, name, len);

    if (top == NULL || top->type != CAP_JSON_OBJECT || top == props) {
        return CAP_OK;
    }

    dst = cap_json_get(props, name, len);

    if (dst == NULL || dst->type != CAP_JSON_OBJECT) {
        return cap_json_set(pool, props, (cap_uchar_t *) name, len, top)
               ? CAP_OK : CAP_ERROR;
    }

    for (v = top->first; v != NULL; v = v->next) {
        if (cap_json_set(pool, dst, v->key.data, v->key.len, v) == NULL) {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


/*
 * The event time, as PostHog computes it:
 *   "offset" (ms before sending)       -> now - offset
 *   "timestamp" and "sent_at"          -> now + (timestamp - sent_at)
 *   "timestamp" alone, or with
 *   properties.$ignore_sent_at = true  -> timestamp
 *   nothing                            -> now
 * and a result more than 23 hours ahead of now is now.
 */

static int
cap_event_time(cap_request_t *req, cap_batch_t *batch, cap_json_t *obj,
    cap_json_t *props, cap_event_t *ev, cap_error_t *err)
{
    double       d;
    char         num[32];
    cap_msec_t   ts, sent_at, now;
    cap_json_t  *v, *ignore;
    unsigned     has_sent_at;

    now = req->now;

    v = cap_json_get_literal(obj, "offset");

    if (v != NULL && v->type == CAP_JSON_NUMBER && v->str.len < sizeof(num))
    {
        memcpy(num, v->str.data, v->str.len);
        num[v->str.len] = '\0';
        d = strtod(num, NULL);

        if (d > -1e15 && d < 1e15) {
            ev->timestamp = now - (cap_msec_t) d;
            goto clamp;
        }
    }

    v = cap_json_get_literal(obj, "timestamp");

    if (v == NULL || v->type == CAP_JSON_NULL) {
        ev->timestamp = now;
        return CAP_OK;
    }

    if (v->type != CAP_JSON_STRING
        || cap_time_parse(v->str.data, v->str.len, &ts) != CAP_OK)
    {
        return cap_error_set(err, CAP_E_TIMESTAMP,
                             "invalid timestamp \"%.*s\"",
                             (int) (v->str.len > 64 ? 64 : v->str.len),
                             v->type == CAP_JSON_STRING
                             ? (char *) v->str.data : "");
    }

    sent_at = batch->sent_at;
    has_sent_at = batch->has_sent_at;

    v = cap_json_get_literal(obj, "sent_at");
    if (v != NULL && v->type == CAP_JSON_STRING
        && cap_time_parse(v->str.data, v->str.len, &sent_at) == CAP_OK)
    {
        has_sent_at = 1;
    }

    ignore = cap_json_get_literal(props, "$ignore_sent_at");

    if (has_sent_at && (ignore == NULL || ignore->type != CAP_JSON_TRUE)) {
        ev->timestamp = now + (ts - sent_at);

    } else {
        ev->timestamp = ts;
    }

clamp:

    if (ev->timestamp - now > CAP_FUTURE_LIMIT) {
        ev->timestamp = now;
    }

    return CAP_OK;
}


/*
 * Recordings: "$session_id" is required, at most 70 characters of
 * [A-Za-z0-9-]; "$window_id" defaults to it.
 */

static int
cap_event_snapshot(cap_pool_t *pool, cap_batch_t *batch, cap_json_t *props,
    cap_error_t *err)
{
    size_t        i;
    cap_json_t   *sid, *v;
    cap_uchar_t   c;

    sid = cap_json_get_literal(props, "$session_id");

    if (sid == NULL || sid->type == CAP_JSON_NULL) {
        return cap_error_set(err, CAP_E_SNAPSHOT,
                             "recording submitted without a $session_id");
    }

    if (sid->type != CAP_JSON_STRING || sid->str.len == 0
        || sid->str.len > CAP_SESSION_ID_MAX_LEN)
    {
        return cap_error_set(err, CAP_E_SNAPSHOT, "invalid $session_id");
    }

    for (i = 0; i < sid->str.len; i++) {
        c = sid->str.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-'))
        {
            return cap_error_set(err, CAP_E_SNAPSHOT,
                                 "invalid $session_id");
        }
    }

    v = cap_json_get_literal(props, "$snapshot_data");
    if (v != NULL && v->type != CAP_JSON_ARRAY && v->type != CAP_JSON_OBJECT)
    {
        return cap_error_set(err, CAP_E_SNAPSHOT,
                             "$snapshot_data must be an array or an object");
    }

    v = cap_json_get_literal(props, "$window_id");
    if (v == NULL || v->type == CAP_JSON_NULL) {
        if (cap_json_set(pool, props, (cap_uchar_t *) "$window_id",
                         sizeof("$window_id") - 1, sid)
            == NULL)
        {
            return cap_error_set(err, CAP_E_NOMEM, "out of memory");
        }
    }

    return CAP_OK;
}
