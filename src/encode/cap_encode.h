
/*
 * Encoders: accepted events -> the bytes a destination takes.
 */


#ifndef _CAP_ENCODE_H_INCLUDED_
#define _CAP_ENCODE_H_INCLUDED_


#include "../capture/cap_capture.h"


/*
 * The canonical record, one JSON object per line:
 *   {"uuid","event","distinct_id","token","timestamp","now","sent_at",
 *    "historical_migration","properties"}
 * appended to "out" for every event of the batch.  A record longer than
 * "max_event" bytes fails the whole batch with CAP_E_EVENT_TOO_LARGE.
 */
int cap_record_encode(cap_buf_t *out, cap_batch_t *batch, size_t max_event,
    cap_error_t *err);


/*
 * PostHog's /batch/: one event object (no token: the body carries it),
 * and the body around a batch: {"api_key", "batch": [...], "sent_at"}.
 */
int cap_posthog_event(cap_buf_t *out, cap_batch_t *batch, cap_event_t *ev);
int cap_posthog_body_open(cap_buf_t *out, const cap_uchar_t *token,
    size_t len, unsigned historical);
int cap_posthog_body_close(cap_buf_t *out, cap_msec_t now);


/* a gzip stream of "in" at zlib's "level" */
int cap_gzip_compress(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    int level, cap_str_t *out);


#endif /* _CAP_ENCODE_H_INCLUDED_ */
