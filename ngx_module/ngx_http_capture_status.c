
/*
 * Live status: not yet kept (the counters' calls are in place).
 */


#include "ngx_http_capture_module.h"


ngx_int_t
ngx_http_capture_status_init(ngx_conf_t *cf)
{
    return NGX_OK;
}


void
ngx_http_capture_stat_request(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t accepted)
{
}


void
ngx_http_capture_stat_dest(ngx_http_capture_dest_t *dest,
    ngx_http_capture_stat_t counter, ngx_int_t delta)
{
}


void
ngx_http_capture_stat_batch(ngx_http_capture_dest_t *dest,
    ngx_uint_t nevents, ngx_msec_t latency)
{
}


void
ngx_http_capture_stat_error(ngx_http_capture_dest_t *dest,
    const char *fmt, ...)
{
}


char *
ngx_http_capture_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not supported yet";
}
