
/*
 * The capture module: directives and their configuration.
 */


#include "ngx_http_capture_module.h"


static ngx_int_t ngx_http_capture_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_capture_init_process(ngx_cycle_t *cycle);
static void ngx_http_capture_exit_process(ngx_cycle_t *cycle);
static void ngx_http_capture_shutdown(ngx_event_t *ev);
static void ngx_http_capture_drain_expired(ngx_event_t *ev);
static ngx_http_capture_main_conf_t *ngx_http_capture_cycle_conf(
    ngx_cycle_t *cycle);
static ngx_int_t ngx_http_capture_preconfiguration(ngx_conf_t *cf);
static void *ngx_http_capture_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_capture_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_capture_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_capture_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_capture(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_capture_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_capture_property(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_capture_ip_policies[] = {
    { ngx_string("on"), CAP_IP_ON },
    { ngx_string("off"), CAP_IP_OFF },
    { ngx_string("force"), CAP_IP_FORCE },
    { ngx_string("anonymize"), CAP_IP_ANONYMIZE },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_capture_commands[] = {

    { ngx_string("capture_destination"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_capture_destination_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_capture_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_capture_spool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_drain_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_capture_main_conf_t, drain_timeout),
      NULL },

    { ngx_string("capture"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_capture,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_capture_tokens,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_property"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_capture_property,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_write_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_capture_write_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("capture_fallback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_capture_loc_conf_t, fallback),
      NULL },

    { ngx_string("capture_ip"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_capture_loc_conf_t, ip_policy),
      &ngx_http_capture_ip_policies },

    { ngx_string("capture_max_decoded_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_capture_loc_conf_t, max_decoded_size),
      NULL },

    { ngx_string("capture_max_event_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_capture_loc_conf_t, max_event_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_capture_module_ctx = {
    ngx_http_capture_preconfiguration,     /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_capture_create_main_conf,     /* create main configuration */
    ngx_http_capture_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_capture_create_loc_conf,      /* create location configuration */
    ngx_http_capture_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_capture_module = {
    NGX_MODULE_V1,
    &ngx_http_capture_module_ctx,          /* module context */
    ngx_http_capture_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_capture_init_module,          /* init module */
    ngx_http_capture_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_capture_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_capture_init_module(ngx_cycle_t *cycle)
{
    ngx_http_capture_main_conf_t  *cmcf;

    cmcf = ngx_http_capture_cycle_conf(cycle);
    if (cmcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_capture_spool_init_module(cycle, cmcf);
}


/* the worker's part: its queues, its multi handle, its exit notice */

static ngx_connection_t  *ngx_http_capture_notice;
static ngx_event_t        ngx_http_capture_drain;
static ngx_connection_t   ngx_http_capture_drain_conn;


static ngx_int_t
ngx_http_capture_init_process(ngx_cycle_t *cycle)
{
    ngx_fd_t                        fd;
    ngx_uint_t                      i, remote;
    ngx_connection_t               *c;
    ngx_http_capture_dest_t       **dest;
    ngx_http_capture_main_conf_t   *cmcf;

    /* a worker must not share random bytes with its siblings */
    cap_uuid_reseed();

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    cmcf = ngx_http_capture_cycle_conf(cycle);
    if (cmcf == NULL) {
        return NGX_OK;
    }

    dest = cmcf->dests.elts;
    remote = 0;

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->type->init_process) {
            remote = 1;
        }
    }

    if (!remote) {
        return NGX_OK;
    }

    if (ngx_http_capture_curl_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->type->init_process
            && dest[i]->type->init_process(cycle, dest[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_capture_spool_init_process(cycle, cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * An idle connection of our own: a graceful exit (reload, quit)
     * calls its handler, so the queues can send everything at once.
     */

    fd = ngx_open_file("/dev/null", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_open_file_n " \"/dev/null\" failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection((ngx_socket_t) fd, cycle->log);
    if (c == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    c->idle = 1;
    c->data = cmcf;
    c->read->handler = ngx_http_capture_shutdown;
    c->read->log = cycle->log;

    ngx_http_capture_notice = c;

    ngx_http_capture_drain_conn.fd = (ngx_socket_t) -1;
    ngx_http_capture_drain_conn.data = cmcf;
    ngx_http_capture_drain.data = &ngx_http_capture_drain_conn;
    ngx_http_capture_drain.handler = ngx_http_capture_drain_expired;
    ngx_http_capture_drain.log = cycle->log;

    /* it bounds the drain; the work itself keeps the worker alive */
    ngx_http_capture_drain.cancelable = 1;

    return NGX_OK;
}


static void
ngx_http_capture_shutdown(ngx_event_t *ev)
{
    ngx_uint_t                      i;
    ngx_connection_t               *c;
    ngx_http_capture_dest_t       **dest;
    ngx_http_capture_main_conf_t   *cmcf;

    c = ev->data;
    cmcf = c->data;

    (void) ngx_close_file((ngx_fd_t) c->fd);
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
    ngx_http_capture_notice = NULL;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "capture: exiting, sending what is queued within %M ms",
                  cmcf->drain_timeout);

    ngx_add_timer(&ngx_http_capture_drain, cmcf->drain_timeout);

    ngx_http_capture_spool_shutdown();

    dest = cmcf->dests.elts;

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->type->shutdown) {
            dest[i]->type->shutdown(dest[i]);
        }
    }
}


/* what could not be sent in time is given up, loudly */

static void
ngx_http_capture_drain_expired(ngx_event_t *ev)
{
    ngx_uint_t                      i;
    ngx_connection_t               *c;
    ngx_http_capture_dest_t       **dest;
    ngx_http_capture_main_conf_t   *cmcf;

    c = ev->data;
    cmcf = c->data;
    dest = cmcf->dests.elts;

    /* with a spool, what is not sent stays there for the next worker */

    if (cmcf->spool) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "capture: capture_drain_timeout (%M ms) expired: "
                      "what is not delivered stays in the spool",
                      cmcf->drain_timeout);

    } else {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "capture: capture_drain_timeout (%M ms) expired",
                      cmcf->drain_timeout);
    }

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->type->exit_process) {
            dest[i]->type->exit_process((ngx_cycle_t *) ngx_cycle, dest[i]);
        }
    }
}


static void
ngx_http_capture_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_connection_t               *c;
    ngx_http_capture_dest_t       **dest;
    ngx_http_capture_main_conf_t   *cmcf;

    cmcf = ngx_http_capture_cycle_conf(cycle);
    if (cmcf == NULL) {
        return;
    }

    if (ngx_http_capture_drain.timer_set) {
        ngx_del_timer(&ngx_http_capture_drain);
    }

    c = ngx_http_capture_notice;

    if (c != NULL) {
        (void) ngx_close_file((ngx_fd_t) c->fd);
        c->fd = (ngx_socket_t) -1;
        ngx_free_connection(c);
        ngx_http_capture_notice = NULL;
    }

    /* cursors first: what the queues still hold stays in the spool */

    ngx_http_capture_spool_exit_process();

    dest = cmcf->dests.elts;

    for (i = 0; i < cmcf->dests.nelts; i++) {
        if (dest[i]->type->exit_process) {
            dest[i]->type->exit_process(cycle, dest[i]);
        }
    }

    ngx_http_capture_curl_exit(cycle);
}


static ngx_http_capture_main_conf_t *
ngx_http_capture_cycle_conf(ngx_cycle_t *cycle)
{
    if (cycle->conf_ctx == NULL || cycle->conf_ctx[ngx_http_module.index]
                                   == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_capture_module);
}


static ngx_int_t
ngx_http_capture_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_capture_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_capture_status_init(cf);
}


static void *
ngx_http_capture_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_capture_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cmcf->dests, cf->pool, 4,
                       sizeof(ngx_http_capture_dest_t *))
        != NGX_OK)
    {
        return NULL;
    }

    cmcf->drain_timeout = NGX_CONF_UNSET_MSEC;

    return cmcf;
}


static char *
ngx_http_capture_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_capture_main_conf_t *cmcf = conf;

    ngx_conf_init_msec_value(cmcf->drain_timeout, 10000);

    return NGX_CONF_OK;
}


static void *
ngx_http_capture_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_capture_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     clcf->dests = NULL;
     *     clcf->dest_names = NULL;
     *     clcf->fallback = { 0, NULL };
     */

    clcf->tokens = NGX_CONF_UNSET_PTR;
    clcf->properties = NGX_CONF_UNSET_PTR;
    clcf->write_keys = NGX_CONF_UNSET_PTR;
    clcf->ip_policy = NGX_CONF_UNSET_UINT;
    clcf->max_decoded_size = NGX_CONF_UNSET_SIZE;
    clcf->max_event_size = NGX_CONF_UNSET_SIZE;

    return clcf;
}


static char *
ngx_http_capture_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_capture_loc_conf_t *prev = parent;
    ngx_http_capture_loc_conf_t *conf = child;

    ngx_str_t                      *name;
    ngx_uint_t                      i;
    ngx_http_capture_dest_t        *dest, **dp;
    ngx_http_capture_main_conf_t   *cmcf;

    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);
    ngx_conf_merge_ptr_value(conf->properties, prev->properties, NULL);
    ngx_conf_merge_ptr_value(conf->write_keys, prev->write_keys, NULL);
    ngx_conf_merge_str_value(conf->fallback, prev->fallback, "");
    ngx_conf_merge_uint_value(conf->ip_policy, prev->ip_policy, CAP_IP_ON);
    ngx_conf_merge_size_value(conf->max_decoded_size,
                              prev->max_decoded_size, 100 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->max_event_size,
                              prev->max_event_size, 1024 * 1024);

    if (conf->dest_names == NULL || conf->dests != NULL) {
        return NGX_CONF_OK;
    }

    /*
     * Destinations are resolved here: the whole http block has been read,
     * so a destination may be defined after the locations that use it.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_capture_module);

    conf->dests = ngx_array_create(cf->pool, conf->dest_names->nelts,
                                   sizeof(ngx_http_capture_dest_t *));
    if (conf->dests == NULL) {
        return NGX_CONF_ERROR;
    }

    name = conf->dest_names->elts;

    for (i = 0; i < conf->dest_names->nelts; i++) {
        dest = ngx_http_capture_dest_find(cmcf, &name[i]);

        if (dest == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown capture destination \"%V\" in %V:%ui",
                          &name[i], &conf->dest_file, conf->dest_line);
            return NGX_CONF_ERROR;
        }

        dp = ngx_array_push(conf->dests);
        if (dp == NULL) {
            return NGX_CONF_ERROR;
        }

        *dp = dest;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_capture(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_capture_loc_conf_t *cplcf = conf;

    ngx_str_t                 *value, *name;
    ngx_uint_t                 i, j;
    ngx_http_core_loc_conf_t  *clcf;

    if (cplcf->dest_names != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cplcf->dest_names = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_str_t));
    if (cplcf->dest_names == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 1; j < i; j++) {
            if (value[j].len == value[i].len
                && ngx_strncmp(value[j].data, value[i].data, value[i].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "destination \"%V\" is listed twice",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        name = ngx_array_push(cplcf->dest_names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    cplcf->dest_file = cf->conf_file->file.name;
    cplcf->dest_line = cf->conf_file->line;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_capture_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_capture_loc_conf_t *cplcf = conf;

    const char  *why;
    ngx_str_t   *value;
    cap_str_t   *token;
    ngx_uint_t   i;

    if (cplcf->tokens != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    cplcf->tokens = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(cap_str_t));
    if (cplcf->tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        why = cap_token_invalid(value[i].data, value[i].len);

        if (why != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid token \"%V\": %s", &value[i], why);
            return NGX_CONF_ERROR;
        }

        token = ngx_array_push(cplcf->tokens);
        if (token == NULL) {
            return NGX_CONF_ERROR;
        }

        token->len = value[i].len;
        token->data = value[i].data;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_property(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_capture_loc_conf_t *cplcf = conf;

    ngx_str_t                         *value;
    ngx_http_capture_prop_t           *prop;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty property name";
    }

    if (cplcf->properties == NGX_CONF_UNSET_PTR) {
        cplcf->properties = ngx_array_create(cf->pool, 4,
                                             sizeof(ngx_http_capture_prop_t));
        if (cplcf->properties == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    prop = ngx_array_push(cplcf->properties);
    if (prop == NULL) {
        return NGX_CONF_ERROR;
    }

    prop->name = value[1];

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &prop->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
