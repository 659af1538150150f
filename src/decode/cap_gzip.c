
/*
 * gzip and zlib inflation with a bounded output.  The output buffer
 * starts at the size the gzip trailer announces (clamped), grows by
 * doubling and never beyond "max" + 1 bytes: the extra byte tells a
 * body of exactly "max" bytes from a larger one.  zlib's own state is
 * allocated from the pool as well.
 */


#include <limits.h>
#include <zlib.h>

#include "cap_decode.h"


/* the smallest output buffer worth allocating */
#define CAP_GZIP_MIN_SIZE   4096

/* deflate cannot expand more than about 1032:1 */
#define CAP_GZIP_MAX_RATIO  1032

/* the largest output we can account for without overflows */
#define CAP_GZIP_MAX_LIMIT  (((size_t) -1) / 4)

/* a gzip member has a 10-byte header and an 8-byte trailer */
#define CAP_GZIP_MIN_MEMBER 18


static size_t cap_gzip_size_hint(const cap_uchar_t *in, size_t len,
    size_t limit);
static int cap_gzip_all_zero(const cap_uchar_t *p, size_t len);
static voidpf cap_gzip_zalloc(voidpf opaque, uInt items, uInt size);
static void cap_gzip_zfree(voidpf opaque, voidpf address);


int
cap_gzip_is_magic(const cap_uchar_t *in, size_t len)
{
    return len >= 3 && in[0] == 0x1f && in[1] == 0x8b && in[2] == 0x08;
}


int
cap_gzip_inflate(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    size_t max, cap_str_t *out, cap_error_t *err)
{
    int           rc;
    size_t        limit, size, olen, rest, n;
    z_stream      z;
    cap_uchar_t  *buf, *nbuf;

    limit = (max == 0 || max > CAP_GZIP_MAX_LIMIT) ? CAP_GZIP_MAX_LIMIT
                                                   : max;

    memset(&z, 0, sizeof(z_stream));
    z.zalloc = cap_gzip_zalloc;
    z.zfree = cap_gzip_zfree;
    z.opaque = pool;

    /* 15 + 32: a 32K window, gzip or zlib header detected */

    rc = inflateInit2(&z, 15 + 32);
    if (rc != Z_OK) {
        return cap_error_set(err, CAP_E_NOMEM,
                             "failed to decode request: inflateInit2() "
                             "failed: %d", rc);
    }

    size = cap_gzip_size_hint(in, len, limit);

    buf = cap_alloc(pool, size);
    if (buf == NULL) {
        inflateEnd(&z);
        return cap_error_set(err, CAP_E_NOMEM,
                             "failed to decode request: out of memory");
    }

    olen = 0;
    z.next_in = (Bytef *) in;

    for ( ;; ) {

        /* z_stream counts in uInt: feed and drain at most UINT_MAX */

        if (z.avail_in == 0) {
            rest = len - (z.next_in - in);
            z.avail_in = rest > UINT_MAX ? UINT_MAX : (uInt) rest;
        }

        if (olen == size) {
            if (size > limit) {
                goto too_large;
            }

            size = (size > (limit + 1) / 2) ? limit + 1 : size * 2;

            nbuf = cap_alloc(pool, size);
            if (nbuf == NULL) {
                goto nomem;
            }

            memcpy(nbuf, buf, olen);
            cap_free(pool, buf);
            buf = nbuf;
        }

        n = size - olen;
        if (n > UINT_MAX) {
            n = UINT_MAX;
        }

        z.next_out = buf + olen;
        z.avail_out = (uInt) n;

        rc = inflate(&z, Z_NO_FLUSH);

        olen += n - z.avail_out;

        if (olen > limit) {
            goto too_large;
        }

        switch (rc) {

        case Z_OK:
            continue;

        case Z_STREAM_END:
            break;

        case Z_BUF_ERROR:
            /* no progress: avail_out was not 0, so the input ended */
            (void) inflateEnd(&z);
            cap_free(pool, buf);
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (truncated)");

        case Z_MEM_ERROR:
            goto nomem;

        default:
            (void) inflateEnd(&z);
            cap_free(pool, buf);
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (%s)",
                                 z.msg != NULL ? z.msg
                                 : (rc == Z_NEED_DICT ? "needs a dictionary"
                                                      : "corrupt stream"));
        }

        /* Z_STREAM_END: one member or zlib stream is complete */

        rest = len - (z.next_in - in);

        if (rest == 0) {
            break;
        }

        if (rest >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
            /* another gzip member */
            rc = inflateReset(&z);
            if (rc != Z_OK) {
                goto nomem;
            }

            continue;
        }

        if (cap_gzip_all_zero(z.next_in, rest)) {
            /* zero padding */
            break;
        }

        (void) inflateEnd(&z);
        cap_free(pool, buf);
        return cap_error_set(err, CAP_E_DECODE,
                             "failed to decode request: invalid gzip data "
                             "(trailing garbage)");
    }

    (void) inflateEnd(&z);

    out->data = buf;
    out->len = olen;

    return CAP_OK;

too_large:

    (void) inflateEnd(&z);
    cap_free(pool, buf);

    return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                         "decoded request body exceeds %zu bytes", limit);

nomem:

    (void) inflateEnd(&z);
    cap_free(pool, buf);

    return cap_error_set(err, CAP_E_NOMEM,
                         "failed to decode request: out of memory");
}


/*
 * The first output buffer: for gzip the ISIZE of the trailer (the size
 * of the last member, modulo 2^32), which a client may fake, so it is
 * clamped to what deflate can give from the input and to the limit.
 */

static size_t
cap_gzip_size_hint(const cap_uchar_t *in, size_t len, size_t limit)
{
    size_t              size, ratio;
    const cap_uchar_t  *p;

    if (cap_gzip_is_magic(in, len) && len >= CAP_GZIP_MIN_MEMBER) {
        p = in + len - 4;
        size = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16
               | (size_t) p[3] << 24;

    } else {
        size = len * 4;
    }

    ratio = (len < CAP_GZIP_MAX_LIMIT / CAP_GZIP_MAX_RATIO)
            ? len * CAP_GZIP_MAX_RATIO : CAP_GZIP_MAX_LIMIT;

    if (size > ratio) {
        size = ratio;
    }

    /* one more byte: the end of the stream is seen without growing */

    size = (size < limit) ? size + 1 : limit + 1;

    if (size < CAP_GZIP_MIN_SIZE) {
        size = (limit + 1 < CAP_GZIP_MIN_SIZE) ? limit + 1
                                               : CAP_GZIP_MIN_SIZE;
    }

    return size;
}


static int
cap_gzip_all_zero(const cap_uchar_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != '\0') {
            return 0;
        }
    }

    return 1;
}


static voidpf
cap_gzip_zalloc(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > ((size_t) -1) / size) {
        return Z_NULL;
    }

    return cap_alloc(opaque, (size_t) items * size);
}


static void
cap_gzip_zfree(voidpf opaque, voidpf address)
{
    cap_free(opaque, address);
}
