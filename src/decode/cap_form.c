
/*
 * urlencoded strings: percent-decoding of one value, finding a field
 * of a form body, and recognizing a body that posthog-js sent as a form.
 */


#include "cap_decode.h"


static int cap_hex_value(cap_uchar_t c);
static int cap_has_prefix(const cap_uchar_t *in, size_t len,
    const char *prefix);


int
cap_url_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    cap_str_t *out)
{
    int           hi, lo;
    size_t        i;
    cap_uchar_t   c, *buf, *d;

    buf = cap_alloc(pool, len + 1);
    if (buf == NULL) {
        return CAP_ERROR;
    }

    d = buf;

    for (i = 0; i < len; i++) {
        c = in[i];

        if (c == '+') {
            *d++ = ' ';
            continue;
        }

        if (c == '%' && len - i > 2) {
            hi = cap_hex_value(in[i + 1]);
            lo = cap_hex_value(in[i + 2]);

            if (hi >= 0 && lo >= 0) {
                *d++ = (cap_uchar_t) ((hi << 4) | lo);
                i += 2;
                continue;
            }
        }

        /* anything else, an invalid "%" sequence too, is kept as it is */

        *d++ = c;
    }

    *d = '\0';

    out->data = buf;
    out->len = d - buf;

    return CAP_OK;
}


int
cap_form_field(const cap_uchar_t *in, size_t len, const char *name,
    cap_str_t *value)
{
    size_t              n;
    const cap_uchar_t  *p, *end, *amp;

    if (len == 0) {
        return 0;
    }

    n = strlen(name);
    p = in;
    end = in + len;

    for ( ;; ) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if ((size_t) (amp - p) > n && memcmp(p, name, n) == 0
            && p[n] == '=')
        {
            value->data = (cap_uchar_t *) p + n + 1;
            value->len = amp - p - n - 1;
            return 1;
        }

        if (amp == end) {
            return 0;
        }

        p = amp + 1;
    }
}


int
cap_form_looks_like(const cap_uchar_t *in, size_t len)
{
    return cap_has_prefix(in, len, "data=")
           || cap_has_prefix(in, len, "ver=")
           || cap_has_prefix(in, len, "_=")
           || cap_has_prefix(in, len, "ip=")
           || cap_has_prefix(in, len, "compression=");
}


static int
cap_hex_value(cap_uchar_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
cap_has_prefix(const cap_uchar_t *in, size_t len, const char *prefix)
{
    size_t  n;

    n = strlen(prefix);

    return len >= n && memcmp(in, prefix, n) == 0;
}
