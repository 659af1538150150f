
/*
 * base64 decoding as the capture endpoints receive it: the standard
 * alphabet with the URL-safe "-" and "_" too, optional padding, spaces
 * read as "+" (urlencoded form values turn "+" into spaces) and CR/LF
 * line breaks skipped.
 */


#include "cap_decode.h"


#define CAP_B64_PAD      64
#define CAP_B64_SKIP     65
#define CAP_B64_BAD      77

#define CAP_B64_STRICT_PREFIX  128


static int cap_base64_strict_char(cap_uchar_t c);


/* 0-63: the value of the digit; 64: "="; 65: skipped; 77: invalid */

static const cap_uchar_t  cap_base64_value[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 65, 77, 77, 65, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    62, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 62, 77, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 64, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
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
cap_base64_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    cap_str_t *out, cap_error_t *err)
{
    size_t        i;
    uint32_t      acc;
    unsigned      n, pad, v;
    cap_uchar_t  *buf, *d;

    /* every 4 digits give 3 bytes, a final 2 or 3 give 1 or 2 */

    buf = cap_alloc(pool, len / 4 * 3 + 3);
    if (buf == NULL) {
        return cap_error_set(err, CAP_E_NOMEM,
                             "failed to decode request: out of memory");
    }

    d = buf;
    acc = 0;
    n = 0;
    pad = 0;

    for (i = 0; i < len; i++) {
        v = cap_base64_value[in[i]];

        if (v < 64) {
            if (pad) {
                /* data after "=" */
                goto invalid;
            }

            acc = (acc << 6) | v;

            if (++n == 4) {
                *d++ = (cap_uchar_t) (acc >> 16);
                *d++ = (cap_uchar_t) (acc >> 8);
                *d++ = (cap_uchar_t) acc;
                acc = 0;
                n = 0;
            }

            continue;
        }

        if (v == CAP_B64_SKIP) {
            continue;
        }

        if (v == CAP_B64_PAD) {
            pad = 1;
            continue;
        }

        goto invalid;
    }

    switch (n) {

    case 0:
        break;

    case 1:
        /* 6 bits cannot make a byte */
        goto invalid;

    case 2:
        *d++ = (cap_uchar_t) (acc >> 4);
        break;

    default: /* 3 */
        *d++ = (cap_uchar_t) (acc >> 10);
        *d++ = (cap_uchar_t) (acc >> 2);
        break;
    }

    *d = '\0';

    out->data = buf;
    out->len = d - buf;

    return CAP_OK;

invalid:

    cap_free(pool, buf);

    return cap_error_set(err, CAP_E_DECODE,
                         "failed to decode request: invalid base64");
}


int
cap_base64_is_strict(const cap_uchar_t *in, size_t len)
{
    size_t  i, n;

    if (len == 0 || len % 4 != 0) {
        return 0;
    }

    n = len < CAP_B64_STRICT_PREFIX ? len : CAP_B64_STRICT_PREFIX;

    for (i = 0; i < n; i++) {
        if (!cap_base64_strict_char(in[i])) {
            return 0;
        }
    }

    return 1;
}


static int
cap_base64_strict_char(cap_uchar_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}
