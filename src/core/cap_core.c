
/*
 * Allocation, growable buffers and error values.
 */


#include <stdarg.h>
#include <stdio.h>

#include "cap_core.h"


typedef struct {
    int          status;
    const char  *name;
} cap_error_info_t;


static const cap_error_info_t  cap_errors[CAP_E_LAST] = {
    [CAP_E_NONE]              = { 200, "none" },
    [CAP_E_EMPTY]             = { 400, "empty_payload" },
    [CAP_E_DECODE]            = { 400, "decode" },
    [CAP_E_PARSE]             = { 400, "parse" },
    [CAP_E_NO_EVENTS]         = { 400, "no_events" },
    [CAP_E_EVENT_NAME]        = { 400, "event_name" },
    [CAP_E_DISTINCT_ID]       = { 400, "distinct_id" },
    [CAP_E_UUID]              = { 400, "uuid" },
    [CAP_E_TIMESTAMP]         = { 400, "timestamp" },
    [CAP_E_SNAPSHOT]          = { 400, "snapshot" },
    [CAP_E_COOKIELESS]        = { 400, "cookieless_mode" },
    [CAP_E_NO_TOKEN]          = { 401, "no_token" },
    [CAP_E_TOKEN_MISMATCH]    = { 401, "token_mismatch" },
    [CAP_E_TOKEN_INVALID]     = { 401, "token_invalid" },
    [CAP_E_TOKEN_NOT_ALLOWED] = { 401, "token_not_allowed" },
    [CAP_E_WRITE_KEY]         = { 401, "write_key" },
    [CAP_E_BODY_TOO_LARGE]    = { 413, "body_too_large" },
    [CAP_E_EVENT_TOO_LARGE]   = { 413, "event_too_large" },
    [CAP_E_NOMEM]             = { 500, "no_memory" },
    [CAP_E_UNAVAILABLE]       = { 503, "unavailable" },
};


void *
cap_alloc(cap_pool_t *pool, size_t size)
{
    return pool->alloc(pool->data, size);
}


void *
cap_calloc(cap_pool_t *pool, size_t size)
{
    void  *p;

    p = pool->alloc(pool->data, size);
    if (p != NULL) {
        memset(p, 0, size);
    }

    return p;
}


void
cap_free(cap_pool_t *pool, void *p)
{
    if (pool->free != NULL && p != NULL) {
        pool->free(pool->data, p);
    }
}


cap_uchar_t *
cap_strdup(cap_pool_t *pool, const cap_uchar_t *s, size_t len)
{
    cap_uchar_t  *p;

    p = pool->alloc(pool->data, len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(p, s, len);
    }

    p[len] = '\0';

    return p;
}


int
cap_buf_init(cap_buf_t *b, cap_pool_t *pool, size_t size, size_t max)
{
    b->len = 0;
    b->max = max;
    b->pool = pool;
    b->overflow = 0;
    b->nomem = 0;

    if (max && size > max) {
        size = max;
    }

    if (size == 0) {
        b->data = NULL;
        b->size = 0;
        return CAP_OK;
    }

    b->data = pool->alloc(pool->data, size);
    if (b->data == NULL) {
        b->size = 0;
        b->nomem = 1;
        return CAP_ERROR;
    }

    b->size = size;

    return CAP_OK;
}


int
cap_buf_reserve(cap_buf_t *b, size_t n)
{
    size_t        size;
    cap_uchar_t  *p;

    if (b->size - b->len >= n) {
        return CAP_OK;
    }

    if (b->max && (n > b->max || b->len > b->max - n)) {
        b->overflow = 1;
        return CAP_ERROR;
    }

    size = b->size ? b->size : 256;

    while (size - b->len < n) {
        size *= 2;
    }

    if (b->max && size > b->max) {
        size = b->max;
    }

    p = b->pool->alloc(b->pool->data, size);
    if (p == NULL) {
        b->nomem = 1;
        return CAP_ERROR;
    }

    if (b->len) {
        memcpy(p, b->data, b->len);
    }

    cap_free(b->pool, b->data);

    b->data = p;
    b->size = size;

    return CAP_OK;
}


int
cap_buf_append(cap_buf_t *b, const void *p, size_t n)
{
    if (cap_buf_reserve(b, n) != CAP_OK) {
        return CAP_ERROR;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }

    return CAP_OK;
}


int
cap_buf_append_char(cap_buf_t *b, int c)
{
    if (b->len == b->size && cap_buf_reserve(b, 1) != CAP_OK) {
        return CAP_ERROR;
    }

    b->data[b->len++] = (cap_uchar_t) c;

    return CAP_OK;
}


int
cap_error_set(cap_error_t *err, cap_err_code_t code, const char *fmt, ...)
{
    va_list  ap;

    err->code = code;

    va_start(ap, fmt);
    vsnprintf(err->text, CAP_ERROR_TEXT_LEN, fmt, ap);
    va_end(ap);

    return CAP_ERROR;
}


int
cap_error_status(cap_err_code_t code)
{
    if (code >= CAP_E_LAST) {
        return 500;
    }

    return cap_errors[code].status;
}


const char *
cap_error_name(cap_err_code_t code)
{
    if (code >= CAP_E_LAST) {
        return "unknown";
    }

    return cap_errors[code].name;
}
