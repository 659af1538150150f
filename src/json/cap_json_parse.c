
/*
 * JSON text -> tree, through yajl's streaming callbacks.  Strings and
 * numbers that yajl hands out as pointers into the input are used in
 * place; only unescaped copies are allocated.
 */


#include <yajl/yajl_parse.h>

#include "cap_json.h"


typedef struct {
    cap_pool_t         *pool;
    const cap_uchar_t  *start;
    const cap_uchar_t  *end;
    cap_json_t         *root;
    cap_json_t         *stack[CAP_JSON_MAX_DEPTH];
    unsigned            depth;
    cap_str_t           key;
    unsigned            too_deep:1;
    unsigned            nomem:1;
} cap_json_ctx_t;


static int cap_json_check_text(cap_uchar_t *p, size_t len, cap_error_t *err);
static size_t cap_json_utf8(const cap_uchar_t *p, const cap_uchar_t *end);
static int cap_json_hex4(const cap_uchar_t *p, const cap_uchar_t *end,
    unsigned *cp);
static cap_json_t *cap_json_add(cap_json_ctx_t *ctx, cap_json_type_t type);
static int cap_json_str(cap_json_ctx_t *ctx, cap_str_t *dst,
    const unsigned char *s, size_t len);
static int cap_json_on_null(void *data);
static int cap_json_on_boolean(void *data, int b);
static int cap_json_on_number(void *data, const char *s, size_t len);
static int cap_json_on_string(void *data, const unsigned char *s,
    size_t len);
static int cap_json_on_start_map(void *data);
static int cap_json_on_map_key(void *data, const unsigned char *s,
    size_t len);
static int cap_json_on_end(void *data);
static int cap_json_on_start_array(void *data);


static const yajl_callbacks  cap_json_callbacks = {
    cap_json_on_null,
    cap_json_on_boolean,
    NULL,
    NULL,
    cap_json_on_number,
    cap_json_on_string,
    cap_json_on_start_map,
    cap_json_on_map_key,
    cap_json_on_end,
    cap_json_on_start_array,
    cap_json_on_end
};


cap_json_t *
cap_json_parse(cap_pool_t *pool, cap_uchar_t *text, size_t len,
    cap_error_t *err)
{
    size_t          n;
    yajl_handle     h;
    yajl_status     rc;
    cap_json_ctx_t  ctx;
    unsigned char  *msg;

    if (cap_json_check_text(text, len, err) != CAP_OK) {
        return NULL;
    }

    memset(&ctx, 0, sizeof(cap_json_ctx_t));
    ctx.pool = pool;
    ctx.start = text;
    ctx.end = text + len;

    h = yajl_alloc(&cap_json_callbacks, NULL, &ctx);
    if (h == NULL) {
        cap_error_set(err, CAP_E_NOMEM, "out of memory");
        return NULL;
    }

    rc = yajl_parse(h, text, len);
    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(h);
    }

    if (rc == yajl_status_ok && ctx.root != NULL) {
        yajl_free(h);
        return ctx.root;
    }

    if (ctx.nomem) {
        cap_error_set(err, CAP_E_NOMEM, "out of memory");

    } else if (ctx.too_deep) {
        cap_error_set(err, CAP_E_PARSE,
                      "failed to parse request: nested deeper than %d",
                      CAP_JSON_MAX_DEPTH);

    } else {
        msg = yajl_get_error(h, 0, text, len);
        n = (msg != NULL) ? strlen((char *) msg) : 0;

        /* yajl's messages end with a newline */
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
            n--;
        }

        cap_error_set(err, CAP_E_PARSE,
                      "failed to parse request: invalid JSON at byte %zu: "
                      "%.*s", yajl_get_bytes_consumed(h), (int) n,
                      msg ? (char *) msg : "");

        if (msg != NULL) {
            yajl_free_error(h, msg);
        }
    }

    yajl_free(h);

    return NULL;
}


/*
 * One pass over the text before yajl sees it.  yajl checks only the
 * length of UTF-8 sequences, so overlong forms, encoded surrogates and
 * code points past U+10FFFF are refused here, as PostHog's parser does.
 * Escaped surrogates that are not a pair (JavaScript strings cut in the
 * middle of a character are common) become "\ufffd" in place, the same
 * length: yajl would otherwise write them out as invalid UTF-8.
 */

static int
cap_json_check_text(cap_uchar_t *p, size_t len, cap_error_t *err)
{
    size_t        n;
    uint64_t      w, x;
    unsigned      hi, lo;
    cap_uchar_t  *start, *end, *q;

    start = p;
    end = p + len;

    while (p < end) {

        /* runs of ASCII without backslashes, eight bytes at a time */

        while (end - p >= 8) {
            memcpy(&w, p, 8);

            x = w ^ 0x5c5c5c5c5c5c5c5cULL;

            if ((w & 0x8080808080808080ULL)
                || ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL))
            {
                break;
            }

            p += 8;
        }

        if (p == end) {
            break;
        }

        if (*p < 0x80) {
            if (*p++ != '\\' || p == end) {
                continue;
            }

            if (*p != 'u') {
                /* the escaped character, whatever it is */
                p++;
                continue;
            }

            q = p - 1;
            p++;

            if (cap_json_hex4(p, end, &hi) != CAP_OK) {
                /* yajl reports the bad escape */
                continue;
            }

            p += 4;

            if (hi < 0xd800 || hi > 0xdfff) {
                continue;
            }

            if (hi <= 0xdbff
                && end - p >= 6 && p[0] == '\\' && p[1] == 'u'
                && cap_json_hex4(p + 2, end, &lo) == CAP_OK
                && lo >= 0xdc00 && lo <= 0xdfff)
            {
                p += 6;
                continue;
            }

            memcpy(q, "\\ufffd", 6);

            continue;
        }

        n = cap_json_utf8(p, end);

        if (n == 0) {
            return cap_error_set(err, CAP_E_PARSE,
                                 "failed to parse request: invalid UTF-8 at "
                                 "byte %zu", (size_t) (p - start));
        }

        p += n;
    }

    return CAP_OK;
}


/* the length of a valid UTF-8 sequence at p (RFC 3629), or 0 */

static size_t
cap_json_utf8(const cap_uchar_t *p, const cap_uchar_t *end)
{
    size_t    n, i;
    unsigned  c, cp, min;

    c = p[0];

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


static int
cap_json_hex4(const cap_uchar_t *p, const cap_uchar_t *end, unsigned *cp)
{
    unsigned     v, i;
    cap_uchar_t  c;

    if (end - p < 4) {
        return CAP_ERROR;
    }

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = v * 16 + ((c | 0x20) - 'a' + 10);

        } else {
            return CAP_ERROR;
        }
    }

    *cp = v;

    return CAP_OK;
}


static cap_json_t *
cap_json_add(cap_json_ctx_t *ctx, cap_json_type_t type)
{
    cap_json_t  *v, *parent;

    v = ctx->pool->alloc(ctx->pool->data, sizeof(cap_json_t));
    if (v == NULL) {
        ctx->nomem = 1;
        return NULL;
    }

    memset(v, 0, sizeof(cap_json_t));
    v->type = type;

    if (ctx->depth == 0) {
        ctx->root = v;
        return v;
    }

    parent = ctx->stack[ctx->depth - 1];

    if (parent->type == CAP_JSON_OBJECT) {
        v->key = ctx->key;
    }

    if (parent->last != NULL) {
        parent->last->next = v;

    } else {
        parent->first = v;
    }

    parent->last = v;
    parent->count++;

    return v;
}


static int
cap_json_str(cap_json_ctx_t *ctx, cap_str_t *dst, const unsigned char *s,
    size_t len)
{
    cap_uchar_t  *p;

    /* yajl points into the input when the string needed no unescaping */

    if (s >= ctx->start && s + len <= ctx->end) {
        dst->data = (cap_uchar_t *) s;
        dst->len = len;
        return 1;
    }

    p = ctx->pool->alloc(ctx->pool->data, len ? len : 1);
    if (p == NULL) {
        ctx->nomem = 1;
        return 0;
    }

    if (len) {
        memcpy(p, s, len);
    }

    dst->data = p;
    dst->len = len;

    return 1;
}


static int
cap_json_on_null(void *data)
{
    return cap_json_add(data, CAP_JSON_NULL) != NULL;
}


static int
cap_json_on_boolean(void *data, int b)
{
    return cap_json_add(data, b ? CAP_JSON_TRUE : CAP_JSON_FALSE) != NULL;
}


static int
cap_json_on_number(void *data, const char *s, size_t len)
{
    cap_json_t  *v;

    v = cap_json_add(data, CAP_JSON_NUMBER);
    if (v == NULL) {
        return 0;
    }

    return cap_json_str(data, &v->str, (const unsigned char *) s, len);
}


static int
cap_json_on_string(void *data, const unsigned char *s, size_t len)
{
    cap_json_t  *v;

    v = cap_json_add(data, CAP_JSON_STRING);
    if (v == NULL) {
        return 0;
    }

    return cap_json_str(data, &v->str, s, len);
}


static int
cap_json_on_start_map(void *data)
{
    cap_json_t      *v;
    cap_json_ctx_t  *ctx = data;

    if (ctx->depth == CAP_JSON_MAX_DEPTH) {
        ctx->too_deep = 1;
        return 0;
    }

    v = cap_json_add(ctx, CAP_JSON_OBJECT);
    if (v == NULL) {
        return 0;
    }

    ctx->stack[ctx->depth++] = v;

    return 1;
}


static int
cap_json_on_map_key(void *data, const unsigned char *s, size_t len)
{
    cap_json_ctx_t  *ctx = data;

    return cap_json_str(ctx, &ctx->key, s, len);
}


static int
cap_json_on_end(void *data)
{
    cap_json_ctx_t  *ctx = data;

    ctx->depth--;

    return 1;
}


static int
cap_json_on_start_array(void *data)
{
    cap_json_t      *v;
    cap_json_ctx_t  *ctx = data;

    if (ctx->depth == CAP_JSON_MAX_DEPTH) {
        ctx->too_deep = 1;
        return 0;
    }

    v = cap_json_add(ctx, CAP_JSON_ARRAY);
    if (v == NULL) {
        return 0;
    }

    ctx->stack[ctx->depth++] = v;

    return 1;
}
