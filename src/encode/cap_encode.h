
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


#endif /* _CAP_ENCODE_H_INCLUDED_ */
