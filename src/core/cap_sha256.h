
/*
 * SHA-256 (FIPS 180-4): for salted hashes of properties and for UUIDs
 * derived from a name.
 */


#ifndef _CAP_SHA256_H_INCLUDED_
#define _CAP_SHA256_H_INCLUDED_


#include "cap_core.h"


#define CAP_SHA256_LEN  32


typedef struct {
    uint32_t      state[8];
    uint64_t      bytes;
    size_t        used;
    cap_uchar_t   block[64];
} cap_sha256_t;


void cap_sha256_init(cap_sha256_t *ctx);
void cap_sha256_update(cap_sha256_t *ctx, const void *data, size_t len);
void cap_sha256_final(cap_sha256_t *ctx, cap_uchar_t out[CAP_SHA256_LEN]);

/* the digest of one run of bytes */
void cap_sha256(const void *data, size_t len, cap_uchar_t out[CAP_SHA256_LEN]);

/* "n" bytes as 2n lowercase hex digits (no NUL) */
void cap_hex(const cap_uchar_t *in, size_t n, cap_uchar_t *out);


#endif /* _CAP_SHA256_H_INCLUDED_ */
