
/*
 * The tree's accessors and its compact serialiser.
 */


#include "cap_json.h"


static size_t cap_json_plain(const cap_uchar_t *s, size_t len);
static int cap_json_write_value(cap_buf_t *b, cap_json_t *v,
    unsigned depth);


/* 1: the byte needs escaping in a JSON string */
static const cap_uchar_t  cap_json_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,     /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,     /* DEL */
};


cap_json_t *
cap_json_get(cap_json_t *obj, const char *key, size_t len)
{
    cap_json_t  *v, *found;

    if (obj == NULL || obj->type != CAP_JSON_OBJECT) {
        return NULL;
    }

    found = NULL;

    /* the last of duplicate keys wins, as in most JSON readers */

    for (v = obj->first; v != NULL; v = v->next) {
        if (v->key.len == len && memcmp(v->key.data, key, len) == 0) {
            found = v;
        }
    }

    return found;
}


cap_json_t *
cap_json_set(cap_pool_t *pool, cap_json_t *obj, const cap_uchar_t *key,
    size_t len, cap_json_t *value)
{
    cap_json_t  *v, *next;
    cap_str_t    k;

    v = cap_json_get(obj, (const char *) key, len);

    if (v != NULL) {
        k = v->key;
        next = v->next;

        *v = *value;

        v->key = k;
        v->next = next;

        return v;
    }

    return cap_json_append(pool, obj, key, len, value);
}


cap_json_t *
cap_json_append(cap_pool_t *pool, cap_json_t *obj, const cap_uchar_t *key,
    size_t len, cap_json_t *value)
{
    cap_json_t  *v;

    v = cap_alloc(pool, sizeof(cap_json_t));
    if (v == NULL) {
        return NULL;
    }

    *v = *value;

    v->key.data = (cap_uchar_t *) key;
    v->key.len = len;
    v->next = NULL;

    if (obj->last != NULL) {
        obj->last->next = v;

    } else {
        obj->first = v;
    }

    obj->last = v;
    obj->count++;

    return v;
}


cap_json_t *
cap_json_new(cap_pool_t *pool, cap_json_type_t type)
{
    cap_json_t  *v;

    v = cap_calloc(pool, sizeof(cap_json_t));
    if (v == NULL) {
        return NULL;
    }

    v->type = type;

    return v;
}


cap_json_t *
cap_json_new_string(cap_pool_t *pool, const cap_uchar_t *s, size_t len)
{
    cap_json_t  *v;

    v = cap_json_new(pool, CAP_JSON_STRING);
    if (v == NULL) {
        return NULL;
    }

    v->str.data = (cap_uchar_t *) s;
    v->str.len = len;

    return v;
}


int
cap_json_write(cap_buf_t *b, cap_json_t *v)
{
    return cap_json_write_value(b, v, 0);
}


int
cap_json_write_string(cap_buf_t *b, const cap_uchar_t *s, size_t len)
{
    size_t              i, run;
    cap_uchar_t         c, *p;
    static const char   hex[] = "0123456789abcdef";

    /* room for the string unescaped; escapes reserve more as they come */

    if (cap_buf_reserve(b, len + 2) != CAP_OK) {
        return CAP_ERROR;
    }

    b->data[b->len++] = '"';

    i = 0;

    for ( ;; ) {

        run = i + cap_json_plain(s + i, len - i);

        for ( /* void */ ; run < len && !cap_json_escape[s[run]]; run++) {
            /* void */
        }

        memcpy(b->data + b->len, s + i, run - i);
        b->len += run - i;

        if (run == len) {
            break;
        }

        c = s[run];
        i = run + 1;

        /* an escape takes at most 6 bytes, for 1 already reserved */

        if (cap_buf_reserve(b, 6 + (len - i) + 1) != CAP_OK) {
            return CAP_ERROR;
        }

        p = b->data + b->len;
        *p++ = '\\';

        switch (c) {
        case '"':
        case '\\':
            *p++ = c;
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
            break;
        }

        b->len = p - b->data;
    }

    b->data[b->len++] = '"';

    return CAP_OK;
}


/*
 * How many leading bytes need no escaping, eight at a time: none below
 * 0x20, no '"', no '\\' (bytes of 0x80 and above are UTF-8: kept).
 */

static size_t
cap_json_plain(const cap_uchar_t *s, size_t len)
{
    size_t    n;
    uint64_t  w, q, bs, ctl;

#define CAP_ONES   0x0101010101010101ULL
#define CAP_HIGHS  0x8080808080808080ULL

    for (n = 0; len - n >= 8; n += 8) {
        memcpy(&w, s + n, 8);

        q = w ^ (CAP_ONES * '"');
        bs = w ^ (CAP_ONES * '\\');

        /* a byte below 0x20: (w - 0x20) borrows, and w had no high bit */
        ctl = (w - CAP_ONES * 0x20) & ~w;

        if ((((q - CAP_ONES) & ~q) | ((bs - CAP_ONES) & ~bs) | ctl)
            & CAP_HIGHS)
        {
            break;
        }
    }

#undef CAP_ONES
#undef CAP_HIGHS

    return n;
}


static int
cap_json_write_value(cap_buf_t *b, cap_json_t *v, unsigned depth)
{
    cap_json_t  *c;

    switch (v->type) {

    case CAP_JSON_NULL:
        return cap_buf_append_literal(b, "null");

    case CAP_JSON_FALSE:
        return cap_buf_append_literal(b, "false");

    case CAP_JSON_TRUE:
        return cap_buf_append_literal(b, "true");

    case CAP_JSON_NUMBER:
        return cap_buf_append(b, v->str.data, v->str.len);

    case CAP_JSON_STRING:
        return cap_json_write_string(b, v->str.data, v->str.len);

    case CAP_JSON_ARRAY:
    case CAP_JSON_OBJECT:
        break;
    }

    if (depth > CAP_JSON_MAX_DEPTH) {
        return CAP_ERROR;
    }

    if (cap_buf_put(b, v->type == CAP_JSON_ARRAY ? '[' : '{')
        != CAP_OK)
    {
        return CAP_ERROR;
    }

    for (c = v->first; c != NULL; c = c->next) {

        if (c != v->first && cap_buf_put(b, ',') != CAP_OK) {
            return CAP_ERROR;
        }

        if (v->type == CAP_JSON_OBJECT) {
            if (cap_json_write_string(b, c->key.data, c->key.len) != CAP_OK
                || cap_buf_put(b, ':') != CAP_OK)
            {
                return CAP_ERROR;
            }
        }

        if (cap_json_write_value(b, c, depth + 1) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    return cap_buf_put(b, v->type == CAP_JSON_ARRAY ? ']' : '}');
}
