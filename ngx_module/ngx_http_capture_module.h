
/*
 * The nginx side of the capture module: configuration, destinations and
 * the request handler.
 */


#ifndef _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_
#define _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "core/cap_core.h"
#include "capture/cap_capture.h"


#define NGX_HTTP_CAPTURE_VERSION  "0.1.0"


typedef struct ngx_http_capture_dest_s  ngx_http_capture_dest_t;


/* one "key value..." line of a capture_destination block */
typedef struct {
    ngx_str_t                       key;
    ngx_str_t                      *values;
    ngx_uint_t                      nvalues;
    ngx_uint_t                      line;
    unsigned                        used:1;
} ngx_http_capture_param_t;


/*
 * A destination type: "init" takes the block's parameters at the end of
 * the block (ngx_http_capture_dest_param() marks each one it used),
 * "deliver" takes the canonical records of one accepted request.
 */
typedef struct {
    ngx_str_t                       name;
    char                         *(*init)(ngx_conf_t *cf,
                                          ngx_http_capture_dest_t *dest);
    ngx_int_t                     (*deliver)(ngx_http_request_t *r,
                                             ngx_http_capture_dest_t *dest,
                                             u_char *records, size_t len,
                                             ngx_uint_t nevents);
} ngx_http_capture_dest_type_t;


struct ngx_http_capture_dest_s {
    ngx_str_t                       name;
    ngx_http_capture_dest_type_t   *type;
    ngx_array_t                     params;   /* ngx_http_capture_param_t */
    ngx_str_t                       file;
    ngx_uint_t                      line;
    void                           *data;     /* the type's own */
};


typedef struct {
    ngx_array_t                     dests;    /* ngx_http_capture_dest_t * */
} ngx_http_capture_main_conf_t;


typedef struct {
    ngx_str_t                       name;
    ngx_http_complex_value_t        value;
} ngx_http_capture_prop_t;


typedef struct {
    ngx_array_t                    *dests;    /* ngx_http_capture_dest_t * */
    ngx_array_t                    *dest_names;          /* ngx_str_t */
    ngx_str_t                       dest_file;
    ngx_uint_t                      dest_line;

    ngx_array_t                    *tokens;              /* cap_str_t */
    ngx_array_t                    *properties;
    ngx_str_t                       fallback;
    ngx_uint_t                      ip_policy;
    size_t                          max_decoded_size;
    size_t                          max_event_size;
} ngx_http_capture_loc_conf_t;


/* per request: what the handler learnt, and what the variables show */
typedef struct {
    cap_endpoint_t                  endpoint;
    ngx_str_t                       origin;
    ngx_str_t                       content_encoding;
    ngx_str_t                       request_headers;

    ngx_uint_t                      events;
    cap_err_code_t                  error;
} ngx_http_capture_ctx_t;


ngx_int_t ngx_http_capture_handler(ngx_http_request_t *r);

ngx_int_t ngx_http_capture_read_body(ngx_http_request_t *r, ngx_str_t *body);

char *ngx_http_capture_destination_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_capture_dest_t *ngx_http_capture_dest_find(
    ngx_http_capture_main_conf_t *cmcf, ngx_str_t *name);
ngx_http_capture_param_t *ngx_http_capture_dest_param(
    ngx_http_capture_dest_t *dest, char *key);
void ngx_http_capture_dest_error(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_uint_t line, const char *fmt, ...);

ngx_int_t ngx_http_capture_add_variables(ngx_conf_t *cf);


extern ngx_http_capture_dest_type_t  ngx_http_capture_file_type;
extern ngx_module_t                  ngx_http_capture_module;


#endif /* _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_ */
