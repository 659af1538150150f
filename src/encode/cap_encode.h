
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
 * The reverse, for records read back (the spool): the records of one
 * request ("len" bytes of lines, as cap_record_encode() wrote them) ->
 * "batch", in the pool.  The batch's token, times and flags are those
 * of its first record (all of a request's records share them).  Each
 * event's properties_json points at its properties' text in "text",
 * which must outlive the batch.  CAP_E_PARSE on anything else.
 */
int cap_record_decode(cap_pool_t *pool, cap_uchar_t *text, size_t len,
    cap_batch_t *batch, cap_error_t *err);


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


/*
 * Segment's HTTP Tracking API (and RudderStack's): one Segment-spec
 * message for an event (the table in docs/mappings.md), and the body
 * around a batch of them: {"batch": [...], "sentAt"}; the caller puts
 * the commas between messages.  A message over "max_message" bytes
 * (0: no limit) fails with CAP_E_EVENT_TOO_LARGE, one that does not fit
 * under out->max with CAP_E_BODY_TOO_LARGE (send what is there, then
 * try it again); on any failure "out" keeps the length it had.
 */
#define CAP_SEGMENT_MAX_MESSAGE   (32 * 1024)
#define CAP_SEGMENT_MAX_BODY      (500 * 1024)
#define CAP_SEGMENT_MAX_MESSAGES  2500

int cap_segment_message(cap_buf_t *out, cap_batch_t *batch, cap_event_t *ev,
    cap_msec_t sent_at, size_t max_message, cap_error_t *err);
int cap_segment_batch_open(cap_buf_t *out);
int cap_segment_batch_close(cap_buf_t *out, cap_msec_t sent_at);


/*
 * A destination's property transform (the rules are in cap_transform.c):
 * names of properties to drop and to hash, the salt of the hashes, and
 * whether ids are hashed and $ip masked.  The names are exact bytes.
 */
typedef struct {
    cap_str_t    *drop;            /* property names to remove */
    size_t        ndrop;
    cap_str_t    *hash;            /* property names whose values are hashed */
    size_t        nhash;
    cap_str_t     salt;
    unsigned      hash_distinct_id:1;
    unsigned      anonymize_ip:1;
} cap_transform_t;

/*
 * One destination's copy of an event: "out" is "in" with the transform
 * applied ("t" NULL: none).  "in" and its tree are never changed (other
 * destinations see the event whole); out shares every unchanged subtree
 * with in, and in->properties itself when nothing of it changes, with no
 * allocation.  out->properties_json is kept when out->properties is
 * in->properties (the same tree, so the same text) and cleared otherwise,
 * so that encoders serialise out->properties.  Everything allocated comes
 * from "pool" and may point into in's tree: it lives as long as both.
 * Returns CAP_OK, or CAP_ERROR when out of memory ("out" is then unusable).
 */
int cap_transform_event(cap_pool_t *pool, const cap_transform_t *t,
    const cap_event_t *in, cap_event_t *out);


#endif /* _CAP_ENCODE_H_INCLUDED_ */
