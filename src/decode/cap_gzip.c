
/*
 * gzip and zlib inflation with a bounded output.
 *
 * The output buffer is allocated once, at the size the gzip trailer
 * announces (ISIZE, the size of the last member modulo 2^32), clamped
 * to the limit and to what deflate can make of the input.  What does
 * not fit is inflated into a small scratch buffer on the stack and only
 * counted: past the limit, the request is refused having allocated no
 * more than the hint; within it, the stream is inflated again into a
 * buffer of the exact size (multiple members, a faked ISIZE, zlib
 * streams, which have no ISIZE and are counted first).  So the output
 * takes at most "max" bytes, and the peak is max(hint, size) plus
 * zlib's own state, which comes from the pool as well.
 */


#include <limits.h>
#include <zlib.h>

#include "cap_decode.h"


/* the smallest output buffer worth allocating */
#define CAP_GZIP_MIN_SIZE   256

/* where output past the buffer is counted */
#define CAP_GZIP_SCRATCH    16384

/* deflate cannot expand more than about 1032:1 */
#define CAP_GZIP_MAX_RATIO  1032

/* the largest output we can count without overflows */
#define CAP_GZIP_MAX_LIMIT  (((size_t) -1) / 4)

/* a gzip member has a 10-byte header and an 8-byte trailer */
#define CAP_GZIP_MIN_MEMBER 18


static int cap_gzip_run(z_stream *z, const cap_uchar_t *in, size_t len,
    cap_uchar_t *buf, size_t size, size_t limit, size_t *total,
    cap_error_t *err);
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
    size_t        limit, size, total;
    z_stream      z;
    cap_uchar_t  *buf;

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
                             "failed (%d)", rc);
    }

    size = cap_gzip_size_hint(in, len, limit);
    buf = NULL;

    if (size) {
        buf = cap_alloc(pool, size);
        if (buf == NULL) {
            goto nomem;
        }
    }

    if (cap_gzip_run(&z, in, len, buf, size, limit, &total, err) != CAP_OK)
    {
        goto failed;
    }

    if (total > size || buf == NULL) {

        /* the hint was wrong: once more into a buffer of the exact size */

        cap_free(pool, buf);

        size = total ? total : 1;

        buf = cap_alloc(pool, size);
        if (buf == NULL) {
            goto nomem;
        }

        if (inflateReset(&z) != Z_OK) {
            goto nomem;
        }

        if (cap_gzip_run(&z, in, len, buf, size, limit, &total, err)
            != CAP_OK)
        {
            goto failed;
        }

        if (total > size) {
            /* inflate is deterministic: not reached */
            (void) cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (inconsistent)");
            goto failed;
        }
    }

    (void) inflateEnd(&z);

    out->data = buf;
    out->len = total;

    return CAP_OK;

nomem:

    (void) cap_error_set(err, CAP_E_NOMEM,
                         "failed to decode request: out of memory");

failed:

    (void) inflateEnd(&z);
    cap_free(pool, buf);

    return CAP_ERROR;
}


/*
 * Inflates all of the input: the first "size" bytes of output into
 * "buf", the rest counted in a scratch buffer.  The total is bounded by
 * "limit".  Members follow each other; zeros after the last are padding.
 */

static int
cap_gzip_run(z_stream *z, const cap_uchar_t *in, size_t len,
    cap_uchar_t *buf, size_t size, size_t limit, size_t *total,
    cap_error_t *err)
{
    int          rc;
    size_t       olen, rest, n;
    cap_uchar_t  scratch[CAP_GZIP_SCRATCH];

    olen = 0;
    z->next_in = (Bytef *) in;
    z->avail_in = 0;

    for ( ;; ) {

        /* z_stream counts in uInt: feed and drain at most UINT_MAX */

        if (z->avail_in == 0) {
            rest = len - (z->next_in - in);
            z->avail_in = rest > UINT_MAX ? UINT_MAX : (uInt) rest;
        }

        if (olen < size) {
            n = size - olen;
            if (n > UINT_MAX) {
                n = UINT_MAX;
            }

            z->next_out = buf + olen;

        } else {
            n = sizeof(scratch);
            z->next_out = scratch;
        }

        z->avail_out = (uInt) n;

        rc = inflate(z, Z_NO_FLUSH);

        olen += n - z->avail_out;

        if (olen > limit) {
            return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                                 "decoded request body exceeds %zu bytes",
                                 limit);
        }

        switch (rc) {

        case Z_OK:
            continue;

        case Z_STREAM_END:
            break;

        case Z_BUF_ERROR:
            /* no progress with room for output: the input has ended */
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (truncated)");

        case Z_MEM_ERROR:
            return cap_error_set(err, CAP_E_NOMEM,
                                 "failed to decode request: out of memory");

        case Z_NEED_DICT:
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (needs a dictionary)");

        default:
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid gzip "
                                 "data (%s)",
                                 z->msg != NULL ? z->msg : "corrupt");
        }

        /* a member, or a zlib stream, is complete */

        rest = len - (z->next_in - in);

        if (rest == 0) {
            break;
        }

        if (rest >= 2 && z->next_in[0] == 0x1f && z->next_in[1] == 0x8b) {
            /* another gzip member */
            if (inflateReset(z) != Z_OK) {
                return cap_error_set(err, CAP_E_DECODE,
                                     "failed to decode request: invalid "
                                     "gzip data (reset failed)");
            }

            continue;
        }

        if (cap_gzip_all_zero(z->next_in, rest)) {
            /* padding */
            break;
        }

        return cap_error_set(err, CAP_E_DECODE,
                             "failed to decode request: invalid gzip data "
                             "(trailing garbage)");
    }

    *total = olen;

    return CAP_OK;
}


/*
 * The first output buffer: the ISIZE of a gzip trailer, which a client
 * may fake, so it is clamped to what deflate can give from the input
 * and to the limit.  A zlib stream has no size: 0, it is counted first.
 */

static size_t
cap_gzip_size_hint(const cap_uchar_t *in, size_t len, size_t limit)
{
    size_t              size, ratio;
    const cap_uchar_t  *p;

    if (!cap_gzip_is_magic(in, len) || len < CAP_GZIP_MIN_MEMBER) {
        return 0;
    }

    p = in + len - 4;
    size = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16
           | (size_t) p[3] << 24;

    ratio = (len < CAP_GZIP_MAX_LIMIT / CAP_GZIP_MAX_RATIO)
            ? len * CAP_GZIP_MAX_RATIO : CAP_GZIP_MAX_LIMIT;

    if (size > ratio) {
        size = ratio;
    }

    if (size < CAP_GZIP_MIN_SIZE) {
        size = CAP_GZIP_MIN_SIZE;
    }

    if (size > limit) {
        size = limit;
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
