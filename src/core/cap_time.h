
/*
 * Time: ISO 8601 / RFC 3339 parsing and formatting, in milliseconds
 * since the Unix epoch (UTC).
 */


#ifndef _CAP_TIME_H_INCLUDED_
#define _CAP_TIME_H_INCLUDED_


#include "cap_core.h"


typedef int64_t  cap_msec_t;


/* the range cap_time_parse() gives: years 0000 to 9999 */
#define CAP_TIME_MIN_MS  (-62167219200000LL)
#define CAP_TIME_MAX_MS  253402300799999LL


/* the longest text cap_time_format() writes: "2024-01-02T03:04:05.678Z" */
#define CAP_TIME_LEN  (sizeof("+275760-09-13T00:00:00.000Z") - 1)


/*
 * Accepts what SDKs send: "2024-01-02T03:04:05Z", fractions of 1 to 9
 * digits, "+01:00" / "+0100" / "Z" offsets, a space instead of "T",
 * a date alone, and no offset (taken as UTC).  Returns CAP_OK or
 * CAP_ERROR.
 */
int cap_time_parse(const cap_uchar_t *p, size_t len, cap_msec_t *ms);

/* "2024-01-02T03:04:05.678Z"; returns the length written */
size_t cap_time_format(cap_msec_t ms, cap_uchar_t *buf);


#endif /* _CAP_TIME_H_INCLUDED_ */
