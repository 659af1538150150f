
/*
 * lz-string's compressToBase64 format, decoded to UTF-8.
 *
 * The input is base64 text, each digit carrying 6 bits, most
 * significant first.  Codes are read least significant bit first, and
 * their width grows with the dictionary: 3 bits at first, one more each
 * time the dictionary has used up the codes of the current width.
 * Code 0 is followed by an 8-bit, code 1 by a 16-bit character, which
 * becomes a dictionary entry; code 2 ends the stream; any other code is
 * a dictionary entry, or the entry about to be added (the previous
 * entry followed by its own first character).  After each code the
 * previous entry followed by the first character of the current one is
 * added to the dictionary.
 *
 * An entry is stored as (prefix entry, last code unit, length), so the
 * dictionary takes memory in proportion to its number of entries.  The
 * code units are UTF-16; surrogate pairs are combined, a lone surrogate
 * becomes U+FFFD.
 *
 * Each entry is one unit longer than an earlier one, so n codes can
 * give n^2/2 units.  The stream is decoded twice: the first pass counts
 * the UTF-8 bytes and stops at the limit, the second stores them in a
 * buffer of that size, so the output never takes more than it needs.
 */


#include "cap_decode.h"


#define CAP_LZ64_BAD         77
#define CAP_LZ64_NONE        0xffffffff
#define CAP_LZ64_FIRST       3
#define CAP_LZ64_MAX_BITS    31
#define CAP_LZ64_DICT_START  1024

#define CAP_LZ64_MAX_LIMIT   (((size_t) -1) / 4)


typedef struct {
    uint32_t            prefix;
    uint32_t            len;
    uint16_t            unit;
    uint16_t            first;
} cap_lz64_entry_t;


typedef struct {
    cap_pool_t         *pool;
    cap_error_t        *err;

    const cap_uchar_t  *start;
    const cap_uchar_t  *end;
    const cap_uchar_t  *in;
    unsigned            value;
    unsigned            mask;

    cap_lz64_entry_t   *dict;
    size_t              ndict;
    size_t              dict_size;

    uint16_t           *units;
    size_t              units_size;

    /* NULL in the first pass, which counts */
    cap_uchar_t        *out;
    size_t              len;
    size_t              size;
    size_t              limit;
    unsigned            high;
} cap_lz64_ctx_t;


static int cap_lz64_run(cap_lz64_ctx_t *ctx);
static int cap_lz64_bits(cap_lz64_ctx_t *ctx, unsigned n, uint32_t *v);
static int cap_lz64_add(cap_lz64_ctx_t *ctx, uint32_t prefix, unsigned unit);
static int cap_lz64_emit(cap_lz64_ctx_t *ctx, uint32_t code);
static int cap_lz64_unit(cap_lz64_ctx_t *ctx, unsigned u);
static int cap_lz64_utf8(cap_lz64_ctx_t *ctx, uint32_t cp);
static int cap_lz64_corrupt(cap_lz64_ctx_t *ctx, const char *what);
static int cap_lz64_nomem(cap_lz64_ctx_t *ctx);


/*
 * The digits of lz-string's alphabet "A-Za-z0-9+/=": "=" is its 64th
 * digit, whose low 6 bits are 0; a space is "+" that a form turned into
 * a space; 77: invalid.
 */

static const cap_uchar_t  cap_lz64_value[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    62, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77, 77, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77,  0, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 77,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
};


int
cap_lz64_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    size_t max, cap_str_t *out, cap_error_t *err)
{
    size_t           i;
    cap_lz64_ctx_t   ctx;

    if (len == 0) {
        return cap_error_set(err, CAP_E_DECODE,
                             "failed to decode request: empty lz64 data");
    }

    for (i = 0; i < len; i++) {
        if (cap_lz64_value[in[i]] == CAP_LZ64_BAD) {
            return cap_error_set(err, CAP_E_DECODE,
                                 "failed to decode request: invalid lz64 "
                                 "data (not base64)");
        }
    }

    memset(&ctx, 0, sizeof(cap_lz64_ctx_t));

    ctx.pool = pool;
    ctx.err = err;
    ctx.start = in;
    ctx.end = in + len;
    ctx.limit = (max == 0 || max > CAP_LZ64_MAX_LIMIT) ? CAP_LZ64_MAX_LIMIT
                                                       : max;

    ctx.dict_size = CAP_LZ64_DICT_START;
    ctx.dict = cap_alloc(pool, ctx.dict_size * sizeof(cap_lz64_entry_t));
    if (ctx.dict == NULL) {
        (void) cap_lz64_nomem(&ctx);
        goto failed;
    }

    /* the first pass counts the bytes, the second one stores them */

    if (cap_lz64_run(&ctx) != CAP_OK) {
        goto failed;
    }

    ctx.size = ctx.len;

    ctx.out = cap_alloc(pool, ctx.size ? ctx.size : 1);
    if (ctx.out == NULL) {
        (void) cap_lz64_nomem(&ctx);
        goto failed;
    }

    if (cap_lz64_run(&ctx) != CAP_OK) {
        goto failed;
    }

    cap_free(pool, ctx.units);
    cap_free(pool, ctx.dict);

    out->data = ctx.out;
    out->len = ctx.len;

    return CAP_OK;

failed:

    cap_free(pool, ctx.units);
    cap_free(pool, ctx.dict);
    cap_free(pool, ctx.out);

    return CAP_ERROR;
}


/* one pass over the stream, see the top of the file */

static int
cap_lz64_run(cap_lz64_ctx_t *ctx)
{
    uint32_t  code, c, w, enlarge;
    unsigned  bits;

    ctx->in = ctx->start;
    ctx->mask = 0;
    ctx->len = 0;
    ctx->high = 0;

    /* codes 0, 1 and 2 are not entries */

    ctx->ndict = CAP_LZ64_FIRST;

    /* the first code is 2 bits wide, and a character or the end */

    if (cap_lz64_bits(ctx, 2, &code) != CAP_OK) {
        return CAP_ERROR;
    }

    if (code == 2) {
        return CAP_OK;
    }

    if (code == 3) {
        return cap_lz64_corrupt(ctx, "bad first code");
    }

    if (cap_lz64_bits(ctx, code == 0 ? 8 : 16, &c) != CAP_OK) {
        return CAP_ERROR;
    }

    if (cap_lz64_add(ctx, CAP_LZ64_NONE, c) != CAP_OK) {
        return CAP_ERROR;
    }

    w = CAP_LZ64_FIRST;

    if (cap_lz64_emit(ctx, w) != CAP_OK) {
        return CAP_ERROR;
    }

    /*
     * The dictionary holds 4 codes now (0, 1, 2 and the first
     * character): codes are 3 bits wide until 4 more entries are added.
     */

    bits = 3;
    enlarge = 4;

    for ( ;; ) {

        if (cap_lz64_bits(ctx, bits, &code) != CAP_OK) {
            return CAP_ERROR;
        }

        if (code == 2) {
            break;
        }

        if (code < 2) {
            if (cap_lz64_bits(ctx, code == 0 ? 8 : 16, &c) != CAP_OK) {
                return CAP_ERROR;
            }

            if (cap_lz64_add(ctx, CAP_LZ64_NONE, c) != CAP_OK) {
                return CAP_ERROR;
            }

            code = ctx->ndict - 1;

            if (--enlarge == 0) {
                if (bits == CAP_LZ64_MAX_BITS) {
                    return cap_lz64_corrupt(ctx, "too many codes");
                }

                enlarge = (uint32_t) 1 << bits;
                bits++;
            }
        }

        if (code > ctx->ndict) {
            return cap_lz64_corrupt(ctx, "bad code");
        }

        /*
         * The new entry: the previous one and the first unit of this
         * one, which is the previous one's first unit when this code
         * is the very entry being added.
         */

        c = (code == ctx->ndict) ? ctx->dict[w].first
                                 : ctx->dict[code].first;

        if (cap_lz64_add(ctx, w, c) != CAP_OK) {
            return CAP_ERROR;
        }

        if (cap_lz64_emit(ctx, code) != CAP_OK) {
            return CAP_ERROR;
        }

        w = code;

        if (--enlarge == 0) {
            if (bits == CAP_LZ64_MAX_BITS) {
                return cap_lz64_corrupt(ctx, "too many codes");
            }

            enlarge = (uint32_t) 1 << bits;
            bits++;
        }
    }

    if (ctx->high) {
        /* a high surrogate at the end */
        return cap_lz64_utf8(ctx, 0xfffd);
    }

    return CAP_OK;
}


static int
cap_lz64_bits(cap_lz64_ctx_t *ctx, unsigned n, uint32_t *v)
{
    unsigned  i;
    uint32_t  r;

    r = 0;

    for (i = 0; i < n; i++) {
        if (ctx->mask == 0) {
            if (ctx->in == ctx->end) {
                *v = 0;
                return cap_lz64_corrupt(ctx, "truncated");
            }

            ctx->value = cap_lz64_value[*ctx->in++];
            ctx->mask = 0x20;
        }

        if (ctx->value & ctx->mask) {
            r |= (uint32_t) 1 << i;
        }

        ctx->mask >>= 1;
    }

    *v = r;

    return CAP_OK;
}


static int
cap_lz64_add(cap_lz64_ctx_t *ctx, uint32_t prefix, unsigned unit)
{
    size_t             size;
    cap_lz64_entry_t  *e, *dict;

    if (ctx->ndict == ctx->dict_size) {
        size = ctx->dict_size * 2;

        if (size > CAP_LZ64_NONE
            || size > ((size_t) -1) / sizeof(cap_lz64_entry_t))
        {
            return cap_lz64_corrupt(ctx, "too many codes");
        }

        dict = cap_alloc(ctx->pool, size * sizeof(cap_lz64_entry_t));
        if (dict == NULL) {
            return cap_lz64_nomem(ctx);
        }

        memcpy(dict, ctx->dict, ctx->ndict * sizeof(cap_lz64_entry_t));
        cap_free(ctx->pool, ctx->dict);

        ctx->dict = dict;
        ctx->dict_size = size;
    }

    e = &ctx->dict[ctx->ndict];

    e->unit = (uint16_t) unit;

    if (prefix == CAP_LZ64_NONE) {
        e->prefix = CAP_LZ64_NONE;
        e->len = 1;
        e->first = (uint16_t) unit;

    } else {
        if (ctx->dict[prefix].len == 0xffffffff) {
            return cap_lz64_corrupt(ctx, "entry too long");
        }

        e->prefix = prefix;
        e->len = ctx->dict[prefix].len + 1;
        e->first = ctx->dict[prefix].first;
    }

    ctx->ndict++;

    return CAP_OK;
}


static int
cap_lz64_emit(cap_lz64_ctx_t *ctx, uint32_t code)
{
    size_t             n, size, i;
    uint16_t          *units;
    uint32_t           k;
    cap_lz64_entry_t  *e;

    e = &ctx->dict[code];
    n = e->len;

    /* every code unit takes at least one byte of UTF-8 */

    if (n > ctx->limit - ctx->len) {
        return cap_error_set(ctx->err, CAP_E_BODY_TOO_LARGE,
                             "decoded request body exceeds %zu bytes",
                             ctx->limit);
    }

    if (n > ctx->units_size) {
        size = ctx->units_size ? ctx->units_size : 64;

        while (size < n) {
            size *= 2;
        }

        units = cap_alloc(ctx->pool, size * sizeof(uint16_t));
        if (units == NULL) {
            return cap_lz64_nomem(ctx);
        }

        cap_free(ctx->pool, ctx->units);

        ctx->units = units;
        ctx->units_size = size;
    }

    /* the entry's units, last first */

    k = code;

    for (i = n; i > 0; i--) {
        ctx->units[i - 1] = ctx->dict[k].unit;
        k = ctx->dict[k].prefix;
    }

    for (i = 0; i < n; i++) {
        if (cap_lz64_unit(ctx, ctx->units[i]) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


static int
cap_lz64_unit(cap_lz64_ctx_t *ctx, unsigned u)
{
    uint32_t  cp;

    if (ctx->high) {
        if (u >= 0xdc00 && u <= 0xdfff) {
            cp = 0x10000 + ((ctx->high - 0xd800) << 10) + (u - 0xdc00);
            ctx->high = 0;
            return cap_lz64_utf8(ctx, cp);
        }

        /* a high surrogate not followed by a low one */

        ctx->high = 0;

        if (cap_lz64_utf8(ctx, 0xfffd) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    if (u >= 0xd800 && u <= 0xdbff) {
        ctx->high = u;
        return CAP_OK;
    }

    if (u >= 0xdc00 && u <= 0xdfff) {
        u = 0xfffd;
    }

    return cap_lz64_utf8(ctx, u);
}


static int
cap_lz64_utf8(cap_lz64_ctx_t *ctx, uint32_t cp)
{
    size_t       n;
    cap_uchar_t  p[4];

    if (cp < 0x80) {
        p[0] = (cap_uchar_t) cp;
        n = 1;

    } else if (cp < 0x800) {
        p[0] = (cap_uchar_t) (0xc0 | (cp >> 6));
        p[1] = (cap_uchar_t) (0x80 | (cp & 0x3f));
        n = 2;

    } else if (cp < 0x10000) {
        p[0] = (cap_uchar_t) (0xe0 | (cp >> 12));
        p[1] = (cap_uchar_t) (0x80 | ((cp >> 6) & 0x3f));
        p[2] = (cap_uchar_t) (0x80 | (cp & 0x3f));
        n = 3;

    } else {
        p[0] = (cap_uchar_t) (0xf0 | (cp >> 18));
        p[1] = (cap_uchar_t) (0x80 | ((cp >> 12) & 0x3f));
        p[2] = (cap_uchar_t) (0x80 | ((cp >> 6) & 0x3f));
        p[3] = (cap_uchar_t) (0x80 | (cp & 0x3f));
        n = 4;
    }

    if (n > ctx->limit - ctx->len) {
        return cap_error_set(ctx->err, CAP_E_BODY_TOO_LARGE,
                             "decoded request body exceeds %zu bytes",
                             ctx->limit);
    }

    if (ctx->out != NULL) {
        if (n > ctx->size - ctx->len) {
            /* the passes are the same: not reached */
            return cap_lz64_corrupt(ctx, "inconsistent");
        }

        memcpy(ctx->out + ctx->len, p, n);
    }

    ctx->len += n;

    return CAP_OK;
}


static int
cap_lz64_corrupt(cap_lz64_ctx_t *ctx, const char *what)
{
    return cap_error_set(ctx->err, CAP_E_DECODE,
                         "failed to decode request: invalid lz64 data (%s)",
                         what);
}


static int
cap_lz64_nomem(cap_lz64_ctx_t *ctx)
{
    return cap_error_set(ctx->err, CAP_E_NOMEM,
                         "failed to decode request: out of memory");
}
