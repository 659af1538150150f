
/*
 * UUIDs: validation and normalisation of client uuids, and new UUIDv7.
 */


#ifndef _CAP_UUID_H_INCLUDED_
#define _CAP_UUID_H_INCLUDED_


#include "cap_core.h"
#include "cap_time.h"


#define CAP_UUID_LEN  36


/*
 * Parses the hyphenated form (any case; "{...}" and "urn:uuid:" are
 * accepted, as Rust's uuid crate does) or 32 bare hex digits, and writes
 * the canonical lowercase hyphenated form into "out".
 */
int cap_uuid_parse(const cap_uchar_t *p, size_t len, cap_uchar_t *out);

/* a new UUIDv7 for the time "now" into "out" (36 bytes, no NUL) */
void cap_uuid_v7(cap_msec_t now, cap_uchar_t *out);

/* discards buffered random bytes: call it in every new process */
void cap_uuid_reseed(void);


#endif /* _CAP_UUID_H_INCLUDED_ */
