
/*
 * Variables for access_log and headers:
 *   $capture_events  events accepted in this request;
 *   $capture_error   why it was rejected (the reason's name), or empty.
 */


#include "ngx_http_capture_module.h"


static ngx_int_t ngx_http_capture_events_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_capture_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_capture_vars[] = {

    { ngx_string("capture_events"), NULL,
      ngx_http_capture_events_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("capture_error"), NULL,
      ngx_http_capture_error_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_capture_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_capture_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_events_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    ngx_http_capture_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", ctx->events) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char              *name;
    ngx_http_capture_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    if (ctx == NULL || ctx->error == CAP_E_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = cap_error_name(ctx->error);

    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) name;

    return NGX_OK;
}
