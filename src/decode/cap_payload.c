
/*
 * The payload pipeline: where the payload of a capture request is (the
 * "data" query argument, an urlencoded form's "data" field, or the
 * body), which compression hint applies, and the decoding steps, each
 * bounded by the request's limit.
 */


#include "cap_decode.h"


#define CAP_FORM_TYPE  "application/x-www-form-urlencoded"


static int cap_payload_is_form_type(const cap_str_t *ct);
static int cap_payload_is_json(const cap_str_t *body);
static int cap_payload_is_spaced_base64(const cap_str_t *p);
static int cap_payload_hint(cap_pool_t *pool, const cap_str_t *raw,
    cap_compression_t *hint, cap_error_t *err);
static void cap_payload_replace(cap_pool_t *pool, cap_str_t *payload,
    cap_uchar_t **owned, cap_str_t *decoded);
static int cap_caseeq(const cap_uchar_t *p, const char *s, size_t n);


cap_compression_t
cap_compression_parse(const cap_uchar_t *p, size_t len)
{
    while (len && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        len--;
    }

    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    switch (len) {

    case 3:
        if (cap_caseeq(p, "b64", 3)) {
            return CAP_COMPRESSION_BASE64;
        }

        break;

    case 4:
        if (cap_caseeq(p, "gzip", 4)) {
            return CAP_COMPRESSION_GZIP;
        }

        if (cap_caseeq(p, "lz64", 4)) {
            return CAP_COMPRESSION_LZ64;
        }

        break;

    case 6:
        if (cap_caseeq(p, "base64", 6)) {
            return CAP_COMPRESSION_BASE64;
        }

        break;

    case 7:
        if (cap_caseeq(p, "gzip-js", 7)) {
            return CAP_COMPRESSION_GZIP;
        }

        break;

    case 9:
        if (cap_caseeq(p, "lz-string", 9)) {
            return CAP_COMPRESSION_LZ64;
        }

        break;
    }

    return CAP_COMPRESSION_NONE;
}


int
cap_payload_decode(cap_pool_t *pool, cap_payload_t *in, cap_str_t *json,
    cap_error_t *err)
{
    int                 form, form_hint_set, rc;
    size_t              max;
    cap_str_t           payload, value, decoded;
    cap_uchar_t        *owned;
    cap_compression_t   hint, form_hint;

    max = in->max_size ? in->max_size : (size_t) -1;
    owned = NULL;
    hint = CAP_COMPRESSION_NONE;
    form_hint = CAP_COMPRESSION_NONE;
    form_hint_set = 0;

    /* the payload: the "data" query argument, a form field or the body */

    if (in->query_data.len) {
        if (cap_url_decode(pool, in->query_data.data, in->query_data.len,
                           &payload)
            != CAP_OK)
        {
            goto nomem;
        }

        owned = payload.data;
        form = 0;

    } else {
        payload = in->body;

        /*
         * "curl -d" labels JSON as a form, and so does axios a gzip body
         * (rudder-sdk-node): a body that opens like JSON or gzip is taken
         * as such whatever its Content-Type says.
         */

        form = (cap_payload_is_form_type(&in->content_type)
                && !cap_payload_is_json(&in->body)
                && !cap_gzip_is_magic(in->body.data, in->body.len))
               || cap_form_looks_like(in->body.data, in->body.len);
    }

    if (form) {
        if (!cap_form_field(in->body.data, in->body.len, "data", &value)) {
            return cap_error_set(err, CAP_E_EMPTY,
                                 "failed to decode request: no data in "
                                 "form");
        }

        if (cap_url_decode(pool, value.data, value.len, &payload)
            != CAP_OK)
        {
            goto nomem;
        }

        owned = payload.data;

        if (cap_form_field(in->body.data, in->body.len, "compression",
                           &value)
            && value.len)
        {
            if (cap_payload_hint(pool, &value, &form_hint, err) != CAP_OK) {
                goto failed;
            }

            form_hint_set = 1;
        }
    }

    /* the hint: query argument, form field, Content-Encoding */

    if (in->query_compression.len) {
        if (cap_payload_hint(pool, &in->query_compression, &hint, err)
            != CAP_OK)
        {
            goto failed;
        }

    } else if (form_hint_set) {
        hint = form_hint;

    } else {
        hint = cap_compression_parse(in->content_encoding.data,
                                     in->content_encoding.len);
    }

    if (payload.len == 0) {
        cap_free(pool, owned);
        return cap_error_set(err, CAP_E_EMPTY,
                             "failed to decode request: empty payload");
    }

    if (payload.len > max) {
        cap_free(pool, owned);
        return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                             "request body exceeds %zu bytes", max);
    }

    /* the decoding */

    if (cap_gzip_is_magic(payload.data, payload.len)) {
        rc = cap_gzip_inflate(pool, payload.data, payload.len, in->max_size,
                              &decoded, err);
        if (rc != CAP_OK) {
            goto failed;
        }

        cap_payload_replace(pool, &payload, &owned, &decoded);

    } else if (hint == CAP_COMPRESSION_LZ64) {
        rc = cap_lz64_decode(pool, payload.data, payload.len, in->max_size,
                             &decoded, err);
        if (rc != CAP_OK) {
            goto failed;
        }

        cap_payload_replace(pool, &payload, &owned, &decoded);

    } else if (hint == CAP_COMPRESSION_BASE64
               || cap_base64_is_strict(payload.data, payload.len)
               || (owned != NULL
                   && cap_payload_is_spaced_base64(&payload)))
    {
        rc = cap_base64_decode(pool, payload.data, payload.len, &decoded,
                               err);
        if (rc != CAP_OK) {
            goto failed;
        }

        cap_payload_replace(pool, &payload, &owned, &decoded);

        if (cap_gzip_is_magic(payload.data, payload.len)) {
            rc = cap_gzip_inflate(pool, payload.data, payload.len,
                                  in->max_size, &decoded, err);
            if (rc != CAP_OK) {
                goto failed;
            }

            cap_payload_replace(pool, &payload, &owned, &decoded);
        }

    } else if (hint == CAP_COMPRESSION_GZIP) {
        rc = cap_gzip_inflate(pool, payload.data, payload.len, in->max_size,
                              &decoded, err);
        if (rc != CAP_OK) {
            goto failed;
        }

        cap_payload_replace(pool, &payload, &owned, &decoded);
    }

    if (payload.len == 0) {
        cap_free(pool, owned);
        return cap_error_set(err, CAP_E_EMPTY,
                             "failed to decode request: empty payload "
                             "after decoding");
    }

    if (payload.len > max) {
        /* the decoders bound their output: not reached */
        cap_free(pool, owned);
        return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                             "decoded request body exceeds %zu bytes", max);
    }

    *json = payload;

    return CAP_OK;

nomem:

    (void) cap_error_set(err, CAP_E_NOMEM,
                         "failed to decode request: out of memory");

failed:

    cap_free(pool, owned);

    return CAP_ERROR;
}


/* the first byte that is not white space opens an object or an array */

static int
cap_payload_is_json(const cap_str_t *body)
{
    size_t  i;

    for (i = 0; i < body->len; i++) {
        switch (body->data[i]) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            continue;
        case '{':
        case '[':
            return 1;
        default:
            return 0;
        }
    }

    return 0;
}


/*
 * A form or query value whose "+" signs a client left unescaped, so that
 * they were decoded as spaces: base64 but for the spaces.
 */

static int
cap_payload_is_spaced_base64(const cap_str_t *p)
{
    size_t       i, n;
    cap_uchar_t  c;

    if (p->len == 0 || p->len % 4 != 0) {
        return 0;
    }

    n = p->len < 128 ? p->len : 128;

    for (i = 0; i < n; i++) {
        c = p->data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='
              || c == ' '))
        {
            return 0;
        }
    }

    return 1;
}


static int
cap_payload_is_form_type(const cap_str_t *ct)
{
    size_t              len, n;
    const cap_uchar_t  *p;

    p = ct->data;
    len = ct->len;
    n = sizeof(CAP_FORM_TYPE) - 1;

    while (len && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        len--;
    }

    if (len < n || !cap_caseeq(p, CAP_FORM_TYPE, n)) {
        return 0;
    }

    /* parameters after ";" do not matter */

    return len == n || p[n] == ';' || p[n] == ' ' || p[n] == '\t';
}


static int
cap_payload_hint(cap_pool_t *pool, const cap_str_t *raw,
    cap_compression_t *hint, cap_error_t *err)
{
    cap_str_t  s;

    if (cap_url_decode(pool, raw->data, raw->len, &s) != CAP_OK) {
        return cap_error_set(err, CAP_E_NOMEM,
                             "failed to decode request: out of memory");
    }

    *hint = cap_compression_parse(s.data, s.len);

    cap_free(pool, s.data);

    return CAP_OK;
}


static void
cap_payload_replace(cap_pool_t *pool, cap_str_t *payload,
    cap_uchar_t **owned, cap_str_t *decoded)
{
    cap_free(pool, *owned);

    *owned = decoded->data;
    *payload = *decoded;
}


static int
cap_caseeq(const cap_uchar_t *p, const char *s, size_t n)
{
    size_t       i;
    cap_uchar_t  c;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (cap_uchar_t) s[i]) {
            return 0;
        }
    }

    return 1;
}
