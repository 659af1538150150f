
/*
 * libFuzzer target of the payload decoders.
 *
 * The first byte picks what is fuzzed (its low 3 bits), the limit and
 * an allocation that fails (its high bits); the second byte picks the
 * other request fields of the pipeline.  Beyond not crashing, the
 * decoders must keep what they promise: bounded output and memory, no
 * empty result without an error, only the expected error codes, valid
 * UTF-8 out of lz-string, nothing left allocated after an error, and
 * base64 and gzip round trips.
 */


#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "pool.h"
#include "decode/cap_decode.h"


#define FUZZ_ZLIB_STATE  (64 * 1024)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_pool_init(test_pool_t *fp, size_t fail_at);
static void fuzz_pipeline(const uint8_t *p, size_t n, unsigned flags,
    size_t max, size_t fail_at);
static void fuzz_base64(const uint8_t *p, size_t n, size_t fail_at);
static void fuzz_form(const uint8_t *p, size_t n, size_t fail_at);
static void fuzz_gzip(const uint8_t *p, size_t n, unsigned flags,
    size_t max, size_t fail_at);
static void fuzz_lz64(const uint8_t *p, size_t n, size_t max,
    size_t fail_at);
static void fuzz_check_error(test_pool_t *fp, cap_error_t *err,
    const char *what);
static int fuzz_utf8_valid(const cap_uchar_t *p, size_t len);
static void fuzz_fail(const char *what);


static volatile unsigned  fuzz_sum;

static const size_t  fuzz_max[] = { 65536, 1024, 1048576, 16 };

static const char  *fuzz_types[] = {
    "", "application/x-www-form-urlencoded", "application/json",
    "text/plain", "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    "application/x-www-form-urlencodedx", "", ""
};

static const char  *fuzz_hints[] = { "", "gzip", "lz64", "base64" };

static const char  *fuzz_query_hints[] = { "", "gzip-js", "lz-string", "b64" };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    max, fail_at;
    unsigned  mode, flags;

    if (size < 2) {
        return 0;
    }

    mode = data[0] & 7;
    max = fuzz_max[(data[0] >> 3) & 3];
    fail_at = data[0] >> 5;
    flags = data[1];

    data += 2;
    size -= 2;

    switch (mode) {

    case 0:
    case 1:
    case 2:
    case 3:
        fuzz_pipeline(data, size, flags, max, fail_at);
        break;

    case 4:
        fuzz_base64(data, size, fail_at);
        break;

    case 5:
        fuzz_form(data, size, fail_at);
        break;

    case 6:
        fuzz_gzip(data, size, flags, max, fail_at);
        break;

    default: /* 7 */
        fuzz_lz64(data, size, max, fail_at);
        break;
    }

    return 0;
}


static void
fuzz_pipeline(const uint8_t *p, size_t n, unsigned flags, size_t max,
    size_t fail_at)
{
    int            rc;
    size_t         k;
    cap_str_t      json;
    cap_error_t    err;
    test_pool_t    fp;
    cap_payload_t  in;

    memset(&in, 0, sizeof(cap_payload_t));

    in.content_type.data = (cap_uchar_t *) fuzz_types[flags & 7];
    in.content_type.len = strlen(fuzz_types[flags & 7]);
    in.content_encoding.data = (cap_uchar_t *) fuzz_hints[(flags >> 3) & 3];
    in.content_encoding.len = strlen(fuzz_hints[(flags >> 3) & 3]);
    in.query_compression.data =
        (cap_uchar_t *) fuzz_query_hints[(flags >> 5) & 3];
    in.query_compression.len = strlen(fuzz_query_hints[(flags >> 5) & 3]);
    in.max_size = max;

    if ((flags & 0x80) && n > 0) {
        /* the first byte: how much of the rest is the query's data */
        k = p[0] < n - 1 ? p[0] : n - 1;
        in.query_data.data = (cap_uchar_t *) p + 1;
        in.query_data.len = k;
        in.body.data = (cap_uchar_t *) p + 1 + k;
        in.body.len = n - 1 - k;

    } else {
        in.body.data = (cap_uchar_t *) p;
        in.body.len = n;
    }

    fuzz_pool_init(&fp, fail_at);

    err.code = CAP_E_LAST;
    rc = cap_payload_decode(&fp.pool, &in, &json, &err);

    if (rc == CAP_OK) {
        if (json.data == NULL || json.len == 0) {
            fuzz_fail("pipeline: an empty result without an error");
        }

        if (json.len > max) {
            fuzz_fail("pipeline: result over max_size");
        }

        if (fp.nlive > 1) {
            fuzz_fail("pipeline: temporary blocks left");
        }

        /* all of it must be readable */

        for (k = 0; k < json.len; k++) {
            fuzz_sum += json.data[k];
        }

    } else if (rc == CAP_ERROR) {
        fuzz_check_error(&fp, &err, "pipeline");

    } else {
        fuzz_fail("pipeline: neither CAP_OK nor CAP_ERROR");
    }

    /* lz-string's dictionary is linear in the input, output in max */

    if (fp.peak > 2 * max + 32 * n + 4 * FUZZ_ZLIB_STATE) {
        fprintf(stderr, "peak %zu, max %zu, n %zu\n", fp.peak, max, n);
        fuzz_fail("pipeline: peak memory");
    }

    test_pool_reset(&fp);
}


static void
fuzz_base64(const uint8_t *p, size_t n, size_t fail_at)
{
    int           rc;
    size_t        i, len;
    uint32_t      v;
    cap_str_t     out;
    cap_uchar_t  *enc, *d;
    cap_error_t   err;
    test_pool_t   fp;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fuzz_pool_init(&fp, fail_at);

    rc = cap_base64_decode(&fp.pool, p, n, &out, &err);

    if (rc == CAP_OK) {
        if (out.len > n / 4 * 3 + 2) {
            fuzz_fail("base64: output over 3/4 of the input");
        }

    } else {
        fuzz_check_error(&fp, &err, "base64");
    }

    (void) cap_base64_is_strict(p, n);

    test_pool_reset(&fp);

    /* the round trip, padded or not */

    enc = malloc(n / 3 * 4 + 5);
    if (enc == NULL) {
        return;
    }

    d = enc;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
        *d++ = alphabet[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) p[i] << 16;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
    }

    len = d - enc;

    while ((d - enc) % 4) {
        *d++ = '=';
    }

    fuzz_pool_init(&fp, 0);

    if (cap_base64_decode(&fp.pool, enc, d - enc, &out, &err) != CAP_OK
        || out.len != n || (n && memcmp(out.data, p, n) != 0))
    {
        fuzz_fail("base64: padded round trip");
    }

    if (cap_base64_decode(&fp.pool, enc, len, &out, &err) != CAP_OK
        || out.len != n || (n && memcmp(out.data, p, n) != 0))
    {
        fuzz_fail("base64: unpadded round trip");
    }

    if (len && !cap_base64_is_strict(enc, d - enc)) {
        fuzz_fail("base64: padded output not strict");
    }

    test_pool_reset(&fp);
    free(enc);
}


static void
fuzz_form(const uint8_t *p, size_t n, size_t fail_at)
{
    int          rc;
    cap_str_t    out, v;
    test_pool_t  fp;

    fuzz_pool_init(&fp, fail_at);

    rc = cap_url_decode(&fp.pool, p, n, &out);

    if (rc == CAP_OK) {
        if (out.len > n || out.data == NULL) {
            fuzz_fail("url: output longer than the input");
        }

    } else if (fail_at == 0 || fp.live != 0) {
        fuzz_fail("url: failed without a failing allocation");
    }

    if (cap_form_field(p, n, "data", &v)) {
        if (v.data < p || v.data + v.len > p + n
            || memchr(v.data, '&', v.len) != NULL)
        {
            fuzz_fail("form: value out of the input or with &");
        }
    }

    (void) cap_form_field(p, n, "compression", &v);
    (void) cap_form_looks_like(p, n);
    (void) cap_gzip_is_magic(p, n);
    (void) cap_compression_parse(p, n);

    test_pool_reset(&fp);
}


static void
fuzz_gzip(const uint8_t *p, size_t n, unsigned flags, size_t max,
    size_t fail_at)
{
    int           rc;
    size_t        bound;
    uLongf        zlen;
    z_stream      z;
    cap_str_t     out;
    cap_uchar_t  *gz;
    cap_error_t   err;
    test_pool_t   fp;

    fuzz_pool_init(&fp, fail_at);

    rc = cap_gzip_inflate(&fp.pool, p, n, max, &out, &err);

    if (rc == CAP_OK) {
        if (out.len > max || out.data == NULL) {
            fuzz_fail("gzip: output over max");
        }

        if (fp.nlive != 1) {
            fuzz_fail("gzip: temporary blocks left");
        }

    } else {
        fuzz_check_error(&fp, &err, "gzip");
    }

    if (fp.peak > max + FUZZ_ZLIB_STATE) {
        fprintf(stderr, "peak %zu, max %zu\n", fp.peak, max);
        fuzz_fail("gzip: peak over max + zlib");
    }

    test_pool_reset(&fp);

    /* the round trip: gzip or zlib by flags, exact limit and one less */

    memset(&z, 0, sizeof(z_stream));

    if (deflateInit2(&z, flags % 10, Z_DEFLATED, (flags & 0x10) ? 15 : 31,
                     8, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        return;
    }

    bound = deflateBound(&z, n) + 32;
    gz = malloc(bound);
    if (gz == NULL) {
        deflateEnd(&z);
        return;
    }

    z.next_in = (Bytef *) p;
    z.avail_in = n;
    z.next_out = gz;
    z.avail_out = bound;

    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        fuzz_fail("gzip: deflate");
    }

    zlen = z.total_out;
    deflateEnd(&z);

    fuzz_pool_init(&fp, 0);

    rc = cap_gzip_inflate(&fp.pool, gz, zlen, n ? n : 1, &out, &err);
    if (rc != CAP_OK || out.len != n || (n && memcmp(out.data, p, n) != 0)) {
        fuzz_fail("gzip: round trip");
    }

    if (n > 0) {
        rc = cap_gzip_inflate(&fp.pool, gz, zlen, n - 1 ? n - 1 : 1, &out,
                              &err);
        if (n > 1 && (rc != CAP_ERROR || err.code != CAP_E_BODY_TOO_LARGE)) {
            fuzz_fail("gzip: round trip with max = size - 1");
        }
    }

    test_pool_reset(&fp);
    free(gz);
}


static void
fuzz_lz64(const uint8_t *p, size_t n, size_t max, size_t fail_at)
{
    int          rc;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  fp;

    fuzz_pool_init(&fp, fail_at);

    rc = cap_lz64_decode(&fp.pool, p, n, max, &out, &err);

    if (rc == CAP_OK) {
        if (out.len > max || out.data == NULL) {
            fuzz_fail("lz64: output over max");
        }

        if (!fuzz_utf8_valid(out.data, out.len)) {
            fuzz_fail("lz64: output is not valid UTF-8");
        }

        if (fp.nlive != 1) {
            fuzz_fail("lz64: temporary blocks left");
        }

    } else {
        fuzz_check_error(&fp, &err, "lz64");
    }

    if (fp.peak > max + 32 * n + 65536) {
        fprintf(stderr, "peak %zu, max %zu, n %zu\n", fp.peak, max, n);
        fuzz_fail("lz64: peak memory");
    }

    test_pool_reset(&fp);
}


static void
fuzz_check_error(test_pool_t *fp, cap_error_t *err, const char *what)
{
    if (fp->live != 0) {
        fprintf(stderr, "%s: %zu bytes left after \"%s\"\n", what, fp->live,
                err->text);
        fuzz_fail("memory left after an error");
    }

    if (err->text[0] == '\0' || strlen(err->text) >= CAP_ERROR_TEXT_LEN) {
        fuzz_fail("error without text");
    }

    switch (err->code) {

    case CAP_E_EMPTY:
    case CAP_E_DECODE:
    case CAP_E_BODY_TOO_LARGE:
        break;

    case CAP_E_NOMEM:
        if (fp->fail_at == 0) {
            fprintf(stderr, "%s: %s\n", what, err->text);
            fuzz_fail("no memory without a failing allocation");
        }

        break;

    default:
        fprintf(stderr, "%s: code %d: %s\n", what, err->code, err->text);
        fuzz_fail("unexpected error code");
    }
}


static int
fuzz_utf8_valid(const cap_uchar_t *p, size_t len)
{
    size_t    i, k, n;
    uint32_t  cp;

    for (i = 0; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2;
            cp = p[i] & 0x1f;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3;
            cp = p[i] & 0x0f;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4;
            cp = p[i] & 0x07;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
            || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
        {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_decode: %s\n", what);
    abort();
}


/*
 * The allocator: tracked, and allocation number "fail_at" fails; one of
 * more than 256 MB, or one that malloc() cannot make, aborts the run.
 */

static void
fuzz_pool_init(test_pool_t *fp, size_t fail_at)
{
    test_pool_init(fp, 1);

    fp->fail_at = fail_at;
    fp->max = 256 * 1024 * 1024;
    fp->strict = "fuzz_decode";
}
