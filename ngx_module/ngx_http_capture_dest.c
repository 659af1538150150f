
/*
 * capture_destination blocks and the table of destination types.
 */


#include "ngx_http_capture_module.h"


static char *ngx_http_capture_dest_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);


static ngx_http_capture_dest_type_t  *ngx_http_capture_dest_types[] = {
    &ngx_http_capture_file_type,
    &ngx_http_capture_posthog_type,
    &ngx_http_capture_segment_type,
    &ngx_http_capture_rudderstack_type,
    &ngx_http_capture_webhook_type,
    NULL
};


char *
ngx_http_capture_destination_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_capture_main_conf_t *cmcf = conf;

    char                           *rv;
    ngx_str_t                      *value;
    ngx_uint_t                      i, line;
    ngx_conf_t                      save;
    ngx_http_capture_param_t       *param, *type;
    ngx_http_capture_dest_t        *dest, **dp;
    ngx_http_capture_dest_type_t  **t;

    value = cf->args->elts;

    if (ngx_http_capture_dest_find(cmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate capture destination \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    dest = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_dest_t));
    if (dest == NULL) {
        return NGX_CONF_ERROR;
    }

    dest->name = value[1];
    dest->file = cf->conf_file->file.name;
    dest->line = cf->conf_file->line;

    if (ngx_array_init(&dest->params, cf->pool, 8,
                       sizeof(ngx_http_capture_param_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the block's lines are collected first, then given to the type */

    save = *cf;
    cf->handler = ngx_http_capture_dest_line;
    cf->handler_conf = (char *) dest;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    type = ngx_http_capture_dest_param(dest, "type");

    if (type == NULL) {
        ngx_http_capture_dest_error(cf, dest, dest->line,
                                    "capture destination \"%V\" has no "
                                    "\"type\"", &dest->name);
        return NGX_CONF_ERROR;
    }

    if (type->nvalues != 1) {
        ngx_http_capture_dest_error(cf, dest, type->line,
                                    "invalid number of arguments in "
                                    "\"type\"");
        return NGX_CONF_ERROR;
    }

    for (t = ngx_http_capture_dest_types; *t != NULL; t++) {
        if ((*t)->name.len == type->values[0].len
            && ngx_strncmp((*t)->name.data, type->values[0].data,
                           type->values[0].len)
               == 0)
        {
            break;
        }
    }

    if (*t == NULL) {
        ngx_http_capture_dest_error(cf, dest, type->line,
                                    "unknown capture destination type "
                                    "\"%V\"", &type->values[0]);
        return NGX_CONF_ERROR;
    }

    dest->type = *t;

    rv = dest->type->init(cf, dest);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    param = dest->params.elts;

    for (i = 0; i < dest->params.nelts; i++) {
        if (!param[i].used) {
            line = param[i].line;
            ngx_http_capture_dest_error(cf, dest, line,
                                        "unknown parameter \"%V\" in "
                                        "capture destination \"%V\" of type "
                                        "\"%V\"", &param[i].key, &dest->name,
                                        &dest->type->name);
            return NGX_CONF_ERROR;
        }
    }

    dp = ngx_array_push(&cmcf->dests);
    if (dp == NULL) {
        return NGX_CONF_ERROR;
    }

    dest->index = cmcf->dests.nelts - 1;
    *dp = dest;

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_dest_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_capture_dest_t *dest = (ngx_http_capture_dest_t *) conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_capture_param_t  *param;

    value = cf->args->elts;

    if (cf->args->nelts < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a value", &value[0]);
        return NGX_CONF_ERROR;
    }

    param = dest->params.elts;

    for (i = 0; i < dest->params.nelts; i++) {
        if (param[i].key.len == value[0].len
            && ngx_strncmp(param[i].key.data, value[0].data, value[0].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is duplicate", &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    param = ngx_array_push(&dest->params);
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    param->key = value[0];
    param->nvalues = cf->args->nelts - 1;
    param->line = cf->conf_file->line;
    param->used = 0;

    /* cf->args is reused for the next line: keep the values */

    param->values = ngx_palloc(cf->pool, param->nvalues * sizeof(ngx_str_t));
    if (param->values == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(param->values, &value[1], param->nvalues * sizeof(ngx_str_t));

    return NGX_CONF_OK;
}


ngx_http_capture_dest_t *
ngx_http_capture_dest_find(ngx_http_capture_main_conf_t *cmcf,
    ngx_str_t *name)
{
    ngx_uint_t                 i;
    ngx_http_capture_dest_t  **dest;

    dest = cmcf->dests.elts;

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->name.len == name->len
            && ngx_strncmp(dest[i]->name.data, name->data, name->len) == 0)
        {
            return dest[i];
        }
    }

    return NULL;
}


ngx_http_capture_param_t *
ngx_http_capture_dest_param(ngx_http_capture_dest_t *dest, char *key)
{
    size_t                     len;
    ngx_uint_t                 i;
    ngx_http_capture_param_t  *param;

    len = ngx_strlen(key);
    param = dest->params.elts;

    for (i = 0; i < dest->params.nelts; i++) {
        if (param[i].key.len == len
            && ngx_strncmp(param[i].key.data, key, len) == 0)
        {
            param[i].used = 1;
            return &param[i];
        }
    }

    return NULL;
}


/*
 * A secret given as "$NAME" is read from nginx's environment when the
 * configuration is read, so that it need not be written in nginx.conf;
 * anything else is the value itself.  NGX_DECLINED: NAME is not set (or
 * empty); "name" then holds it, NUL-terminated.
 */

ngx_int_t
ngx_http_capture_conf_env(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name)
{
    u_char  *p, *env;

    if (value->len < 2 || value->data[0] != '$') {
        return NGX_OK;
    }

    p = ngx_pnalloc(cf->pool, value->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, value->data + 1, value->len - 1);
    p[value->len - 1] = '\0';

    name->data = p;
    name->len = value->len - 1;

    env = (u_char *) getenv((char *) p);

    if (env == NULL || *env == '\0') {
        return NGX_DECLINED;
    }

    value->data = env;
    value->len = ngx_strlen(env);

    return NGX_OK;
}


/* "key on|off;" of a destination block; unchanged when absent */

char *
ngx_http_capture_dest_flag(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, ngx_flag_t *flag)
{
    ngx_str_t                 *v;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    v = &p->values[0];

    if (p->nvalues == 1 && v->len == 2 && ngx_strncmp(v->data, "on", 2) == 0)
    {
        *flag = 1;
        return NGX_CONF_OK;
    }

    if (p->nvalues == 1 && v->len == 3 && ngx_strncmp(v->data, "off", 3) == 0)
    {
        *flag = 0;
        return NGX_CONF_OK;
    }

    ngx_http_capture_dest_error(cf, dest, p->line,
                                "invalid \"%s\": use \"on\" or \"off\"",
                                key);
    return NGX_CONF_ERROR;
}


/* an [emerg] that names the line of the parameter, not the block's end */

void
ngx_http_capture_dest_error(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    ngx_uint_t line, const char *fmt, ...)
{
    u_char   buf[NGX_MAX_CONF_ERRSTR], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%*s in %V:%ui",
                  p - buf, buf, &dest->file, line);
}
