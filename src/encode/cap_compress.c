
/*
 * gzip for request bodies sent to destinations.
 */


#include <zlib.h>

#include "cap_encode.h"


static voidpf cap_compress_zalloc(voidpf opaque, uInt items, uInt size);
static void cap_compress_zfree(voidpf opaque, voidpf address);


int
cap_gzip_compress(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    int level, cap_str_t *out)
{
    int           rc;
    size_t        size;
    z_stream      z;
    cap_uchar_t  *p;

    memset(&z, 0, sizeof(z_stream));
    z.zalloc = cap_compress_zalloc;
    z.zfree = cap_compress_zfree;
    z.opaque = pool;

    /* 15 + 16: a gzip header and trailer; memLevel 8 is zlib's default */

    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        return CAP_ERROR;
    }

    size = deflateBound(&z, len);

    p = cap_alloc(pool, size);
    if (p == NULL) {
        deflateEnd(&z);
        return CAP_ERROR;
    }

    z.next_in = (Bytef *) in;
    z.avail_in = len;
    z.next_out = p;
    z.avail_out = size;

    rc = deflate(&z, Z_FINISH);

    if (rc != Z_STREAM_END) {
        deflateEnd(&z);
        cap_free(pool, p);
        return CAP_ERROR;
    }

    out->data = p;
    out->len = z.total_out;

    deflateEnd(&z);

    return CAP_OK;
}


static voidpf
cap_compress_zalloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > (uInt) -1 / size) {
        return Z_NULL;
    }

    return cap_alloc(opaque, (size_t) items * size);
}


static void
cap_compress_zfree(voidpf opaque, voidpf address)
{
    cap_free(opaque, address);
}
