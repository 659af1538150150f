
/*
 * Core types of the capture library: strings, the allocator interface,
 * growable buffers and error values.  No nginx types here: everything
 * under src/ takes bytes and an allocator and gives back values.
 */


#ifndef _CAP_CORE_H_INCLUDED_
#define _CAP_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


#define CAP_OK          0
#define CAP_ERROR      -1


typedef unsigned char  cap_uchar_t;


/* same layout as ngx_str_t */
typedef struct {
    size_t         len;
    cap_uchar_t   *data;
} cap_str_t;


#define cap_string(s)     { sizeof(s) - 1, (cap_uchar_t *) s }
#define cap_null_string   { 0, NULL }


/*
 * The allocator: request-scoped memory comes from the caller (nginx's
 * request pool, or a test arena).  "free" may be NULL; when set, it is
 * called for large blocks that are no longer needed (growing buffers).
 */
typedef struct {
    void          *(*alloc)(void *data, size_t size);
    void           (*free)(void *data, void *p);
    void            *data;
} cap_pool_t;


void *cap_alloc(cap_pool_t *pool, size_t size);
void *cap_calloc(cap_pool_t *pool, size_t size);
void cap_free(cap_pool_t *pool, void *p);
cap_uchar_t *cap_strdup(cap_pool_t *pool, const cap_uchar_t *s, size_t len);


/*
 * A growable output buffer.  "max" bounds its length (0: unbounded);
 * appending past it fails with CAP_ERROR and sets "overflow".
 */
typedef struct {
    cap_uchar_t   *data;
    size_t         len;
    size_t         size;
    size_t         max;
    cap_pool_t    *pool;
    unsigned       overflow:1;
    unsigned       nomem:1;
} cap_buf_t;


int cap_buf_init(cap_buf_t *b, cap_pool_t *pool, size_t size, size_t max);
int cap_buf_reserve(cap_buf_t *b, size_t n);
int cap_buf_append(cap_buf_t *b, const void *p, size_t n);
int cap_buf_append_char(cap_buf_t *b, int c);


#define cap_buf_append_literal(b, s)  cap_buf_append(b, s, sizeof(s) - 1)


static inline int
cap_buf_put(cap_buf_t *b, int c)
{
    if (b->len < b->size) {
        b->data[b->len++] = (cap_uchar_t) c;
        return CAP_OK;
    }

    return cap_buf_append_char(b, c);
}


/*
 * Errors: a code (which names the reason for counters and logs), the
 * HTTP status it maps to, and a readable text.
 */
typedef enum {
    CAP_E_NONE = 0,
    CAP_E_EMPTY,              /* 400 no payload */
    CAP_E_DECODE,             /* 400 failed to decode request */
    CAP_E_PARSE,              /* 400 failed to parse request */
    CAP_E_NO_EVENTS,          /* 400 request holds no events */
    CAP_E_EVENT_NAME,         /* 400 missing or empty event name */
    CAP_E_DISTINCT_ID,        /* 400 missing distinct_id */
    CAP_E_UUID,               /* 400 invalid uuid */
    CAP_E_TIMESTAMP,          /* 400 invalid timestamp */
    CAP_E_SNAPSHOT,           /* 400 invalid recording fields */
    CAP_E_COOKIELESS,         /* 400 $cookieless_mode not boolean */
    CAP_E_NO_TOKEN,           /* 401 */
    CAP_E_TOKEN_MISMATCH,     /* 401 */
    CAP_E_TOKEN_INVALID,      /* 401 */
    CAP_E_TOKEN_NOT_ALLOWED,  /* 401 */
    CAP_E_WRITE_KEY,          /* 401 Segment write key missing or refused */
    CAP_E_BODY_TOO_LARGE,     /* 413 decoded payload over its limit */
    CAP_E_EVENT_TOO_LARGE,    /* 413 one event over its limit */
    CAP_E_NOMEM,              /* 500 */
    CAP_E_UNAVAILABLE,        /* 503 a destination cannot take it */
    CAP_E_LAST
} cap_err_code_t;


#define CAP_ERROR_TEXT_LEN  192


typedef struct {
    cap_err_code_t  code;
    char            text[CAP_ERROR_TEXT_LEN];
} cap_error_t;


/* sets code and text ("fmt" is printf-like); returns CAP_ERROR */
int cap_error_set(cap_error_t *err, cap_err_code_t code, const char *fmt,
    ...)
#ifdef __GNUC__
    __attribute__ ((format (printf, 3, 4)))
#endif
    ;

int cap_error_status(cap_err_code_t code);
const char *cap_error_name(cap_err_code_t code);


#endif /* _CAP_CORE_H_INCLUDED_ */
