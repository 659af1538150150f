
/*
 * Payload decoders: base64, urlencoded forms, gzip, lz-string's
 * compressToBase64, and the pipeline that picks among them the way
 * PostHog's capture service does.  Every decoder bounds its output.
 */


#ifndef _CAP_DECODE_H_INCLUDED_
#define _CAP_DECODE_H_INCLUDED_


#include "../core/cap_core.h"


/*
 * base64: the standard alphabet; "-" and "_" (the URL-safe alphabet) are
 * accepted too, padding is optional, a space is read as "+" (form values
 * lose their "+" to spaces), CR and LF are skipped.
 */
int cap_base64_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    cap_str_t *out, cap_error_t *err);

/* the whole-body test: the first 128 bytes are in [A-Za-z0-9+/=] and the
 * length is a multiple of 4 */
int cap_base64_is_strict(const cap_uchar_t *in, size_t len);


/* percent-decoding of one urlencoded value: "+" is a space, %XX a byte */
int cap_url_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    cap_str_t *out);

/* the raw (still encoded) value of "name" in an urlencoded string;
 * returns 1 when found, 0 when not */
int cap_form_field(const cap_uchar_t *in, size_t len, const char *name,
    cap_str_t *value);

/* an urlencoded body as posthog-js sends it: starts with "data=", "ver=",
 * "_=", "ip=" or "compression=" */
int cap_form_looks_like(const cap_uchar_t *in, size_t len);


/* 1f 8b 08 */
int cap_gzip_is_magic(const cap_uchar_t *in, size_t len);

/*
 * gzip (one or more members) or zlib streams.  Output over "max" bytes
 * fails with CAP_E_BODY_TOO_LARGE without allocating more than "max";
 * bad data fails with CAP_E_DECODE.
 */
int cap_gzip_inflate(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    size_t max, cap_str_t *out, cap_error_t *err);


/* lz-string compressToBase64 output -> UTF-8 text, bounded as above */
int cap_lz64_decode(cap_pool_t *pool, const cap_uchar_t *in, size_t len,
    size_t max, cap_str_t *out, cap_error_t *err);


/*
 * The pipeline.  Everything is raw as it came from the request: the
 * query values still percent-encoded, the body as received.
 */
typedef struct {
    cap_str_t      query_data;         /* "data" query argument */
    cap_str_t      query_compression;  /* "compression" query argument */
    cap_str_t      body;
    cap_str_t      content_type;
    cap_str_t      content_encoding;
    size_t         max_size;           /* limit of every decoded stage */
} cap_payload_t;


typedef enum {
    CAP_COMPRESSION_NONE = 0,
    CAP_COMPRESSION_GZIP,
    CAP_COMPRESSION_LZ64,
    CAP_COMPRESSION_BASE64
} cap_compression_t;


/* "gzip", "gzip-js" -> gzip; "lz64", "lz-string" -> lz64;
 * "base64", "b64" -> base64; anything else: none */
cap_compression_t cap_compression_parse(const cap_uchar_t *p, size_t len);


/* turns the request into the JSON text to parse */
int cap_payload_decode(cap_pool_t *pool, cap_payload_t *in, cap_str_t *json,
    cap_error_t *err);


#endif /* _CAP_DECODE_H_INCLUDED_ */
