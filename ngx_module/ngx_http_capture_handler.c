
/*
 * The capture endpoint: which path, which method, CORS, the payload
 * through src/ into canonical records, the destinations, the answer.
 */


#include "ngx_http_capture_module.h"
#include "decode/cap_decode.h"
#include "encode/cap_encode.h"


typedef struct {
    ngx_str_t       path;
    cap_endpoint_t  endpoint;
    ngx_uint_t      segment;      /* 1 + cap_segment_kind_t; 0: PostHog's */
} ngx_http_capture_path_t;


static ngx_http_capture_path_t *ngx_http_capture_endpoint(
    ngx_http_request_t *r, ngx_http_capture_loc_conf_t *cplcf);
static ngx_http_capture_path_t *ngx_http_capture_match(
    ngx_http_capture_loc_conf_t *cplcf, u_char *p, size_t len);
static void ngx_http_capture_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_capture_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_capture_segment(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_pool_t *pool, cap_json_t **root,
    cap_error_t *err);
static ngx_int_t ngx_http_capture_request(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_request_t *req);
static ngx_int_t ngx_http_capture_deliver(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, ngx_http_capture_accepted_t *a,
    cap_error_t *err);
static void ngx_http_capture_read_headers(ngx_http_request_t *r,
    ngx_http_capture_ctx_t *ctx);
static ngx_int_t ngx_http_capture_preflight(ngx_http_request_t *r);
static ngx_int_t ngx_http_capture_cors(ngx_http_request_t *r,
    ngx_uint_t preflight);
static ngx_int_t ngx_http_capture_add_header(ngx_http_request_t *r,
    char *key, ngx_str_t *value);
static ngx_int_t ngx_http_capture_reject(ngx_http_request_t *r,
    cap_error_t *err);
static ngx_int_t ngx_http_capture_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len);
static void *ngx_http_capture_palloc(void *data, size_t size);
static void ngx_http_capture_pfree(void *data, void *p);


/*
 * Segment's and RudderStack's paths (with analytics.js' short ones) come
 * first: "v1/batch" ends like "batch".  They are served only where
 * capture_write_key is set.
 */

static ngx_http_capture_path_t  ngx_http_capture_paths[] = {
    { ngx_string("v1/batch"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_BATCH },
    { ngx_string("v1/b"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_BATCH },
    { ngx_string("v1/track"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_TRACK },
    { ngx_string("v1/t"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_TRACK },
    { ngx_string("v1/identify"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_IDENTIFY },
    { ngx_string("v1/i"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_IDENTIFY },
    { ngx_string("v1/page"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_PAGE },
    { ngx_string("v1/p"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_PAGE },
    { ngx_string("v1/screen"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_SCREEN },
    { ngx_string("v1/s"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_SCREEN },
    { ngx_string("v1/group"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_GROUP },
    { ngx_string("v1/g"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_GROUP },
    { ngx_string("v1/alias"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_ALIAS },
    { ngx_string("v1/a"), CAP_ENDPOINT_EVENTS,
      1 + CAP_SEGMENT_KIND_ALIAS },

    { ngx_string("e"), CAP_ENDPOINT_EVENTS, 0 },
    { ngx_string("i/v0/e"), CAP_ENDPOINT_EVENTS, 0 },
    { ngx_string("batch"), CAP_ENDPOINT_EVENTS, 0 },
    { ngx_string("capture"), CAP_ENDPOINT_EVENTS, 0 },
    { ngx_string("track"), CAP_ENDPOINT_EVENTS, 0 },
    { ngx_string("engage"), CAP_ENDPOINT_ENGAGE, 0 },
    { ngx_string("s"), CAP_ENDPOINT_RECORDINGS, 0 },
    { ngx_null_string, 0, 0 }
};


static ngx_str_t  ngx_http_capture_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_capture_text_type =
    ngx_string("text/plain; charset=utf-8");
static u_char     ngx_http_capture_ok[] = "{\"status\":\"Ok\"}";
static u_char     ngx_http_capture_segment_ok[] = "{\"success\":true}";


ngx_int_t
ngx_http_capture_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_capture_ctx_t       *ctx;
    ngx_http_capture_path_t      *cp;
    ngx_http_capture_loc_conf_t  *cplcf;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_capture_module);

    cp = ngx_http_capture_endpoint(r, cplcf);

    if (cp == NULL) {

        /* flags, decide, remote config, static assets: not ours */

        if (cplcf->fallback.len == 0) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (cplcf->fallback.data[0] == '@') {
            return ngx_http_named_location(r, &cplcf->fallback);
        }

        return ngx_http_internal_redirect(r, &cplcf->fallback, &r->args);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_capture_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = cp->endpoint;
    ctx->segment = cp->segment;
    ngx_http_set_ctx(r, ctx, ngx_http_capture_module);

    ngx_http_capture_read_headers(r, ctx);

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_http_capture_preflight(r);
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_capture_process(r);
    }

    if (r->method != NGX_HTTP_POST) {
        static ngx_str_t  allow = ngx_string("GET, POST, OPTIONS");
        static u_char     text[] = "method not allowed";

        if (ngx_http_capture_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_discard_request_body(r);

        return ngx_http_capture_send(r, NGX_HTTP_NOT_ALLOWED,
                                     &ngx_http_capture_text_type, text,
                                     sizeof(text) - 1);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_capture_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The capture path is what follows the location's prefix ("/ingest/e/"
 * in "location /ingest/"); in regex, exact and named locations, the end
 * of the URI.
 */

static ngx_http_capture_path_t *
ngx_http_capture_endpoint(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf)
{
    u_char                    *p, *end;
    ngx_http_capture_path_t   *cp;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (!clcf->named
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        && clcf->name.len < r->uri.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        return ngx_http_capture_match(cplcf, p + clcf->name.len,
                                      r->uri.len - clcf->name.len);
    }

    if (end > p && end[-1] == '/') {
        end--;
    }

    for (cp = ngx_http_capture_paths; cp->path.len; cp++) {
        if (cp->segment && cplcf->write_keys == NULL) {
            continue;
        }

        if ((size_t) (end - p) > cp->path.len
            && end[-(ssize_t) cp->path.len - 1] == '/'
            && ngx_strncmp(end - cp->path.len, cp->path.data, cp->path.len)
               == 0)
        {
            return cp;
        }
    }

    return NULL;
}


static ngx_http_capture_path_t *
ngx_http_capture_match(ngx_http_capture_loc_conf_t *cplcf, u_char *p,
    size_t len)
{
    ngx_http_capture_path_t  *cp;

    while (len && *p == '/') {
        p++;
        len--;
    }

    if (len && p[len - 1] == '/') {
        len--;
    }

    for (cp = ngx_http_capture_paths; cp->path.len; cp++) {
        if (cp->segment && cplcf->write_keys == NULL) {
            continue;
        }

        if (cp->path.len == len && ngx_strncmp(p, cp->path.data, len) == 0) {
            return cp;
        }
    }

    return NULL;
}


static void
ngx_http_capture_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_capture_process(r));
}


static ngx_int_t
ngx_http_capture_process(ngx_http_request_t *r)
{
    ngx_str_t                     body, arg;
    ngx_int_t                     rc;
    cap_str_t                     json;
    cap_buf_t                     records;
    cap_pool_t                    pool;
    cap_json_t                   *root;
    cap_error_t                   err;
    cap_batch_t                   batch;
    cap_payload_t                 payload;
    cap_request_t                 req;
    ngx_http_capture_ctx_t       *ctx;
    ngx_http_capture_accepted_t   accepted;
    ngx_http_capture_loc_conf_t  *cplcf;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_capture_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    pool.alloc = ngx_http_capture_palloc;
    pool.free = ngx_http_capture_pfree;
    pool.data = r->pool;

    ngx_memzero(&payload, sizeof(cap_payload_t));
    ngx_memzero(&req, sizeof(cap_request_t));

    if (ngx_http_capture_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "data", 4, &arg) == NGX_OK) {
        payload.query_data.data = arg.data;
        payload.query_data.len = arg.len;
    }

    if (ngx_http_arg(r, (u_char *) "compression", 11, &arg) == NGX_OK) {
        payload.query_compression.data = arg.data;
        payload.query_compression.len = arg.len;
    }

    payload.body.data = body.data;
    payload.body.len = body.len;

    if (r->headers_in.content_type) {
        payload.content_type.data = r->headers_in.content_type->value.data;
        payload.content_type.len = r->headers_in.content_type->value.len;
    }

    payload.content_encoding.data = ctx->content_encoding.data;
    payload.content_encoding.len = ctx->content_encoding.len;
    payload.max_size = cplcf->max_decoded_size;

    if (cap_payload_decode(&pool, &payload, &json, &err) != CAP_OK) {
        return ngx_http_capture_reject(r, &err);
    }

    root = cap_json_parse(&pool, json.data, json.len, &err);
    if (root == NULL) {
        return ngx_http_capture_reject(r, &err);
    }

    if (ctx->segment
        && ngx_http_capture_segment(r, cplcf, &pool, &root, &err) != NGX_OK)
    {
        return ngx_http_capture_reject(r, &err);
    }

    rc = ngx_http_capture_request(r, cplcf, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    if (cap_request_parse(&pool, &req, root, &batch, &err) != CAP_OK) {
        return ngx_http_capture_reject(r, &err);
    }

    if (batch.nevents) {
        if (cap_buf_init(&records, &pool, json.len + batch.nevents * 256, 0)
            != CAP_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (cap_record_encode(&records, &batch, cplcf->max_event_size, &err)
            != CAP_OK)
        {
            return ngx_http_capture_reject(r, &err);
        }

        accepted.batch = &batch;
        accepted.records = &records;
        accepted.pool = &pool;

        if (ngx_http_capture_deliver(r, cplcf, &accepted, &err) != NGX_OK) {
            return ngx_http_capture_reject(r, &err);
        }
    }

    ctx->events = batch.nevents;

    /*
     * With the spool: answered once the records are written (all of a
     * turn's together), and with sync=always once they are synced
     */

    if (batch.nevents) {
        rc = ngx_http_capture_spool_wait(r);

        if (rc == NGX_OK) {
            return NGX_DONE;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_capture_answer_synced(r);
}


/*
 * The answer to a request whose records could not be written after all
 * (the spool's write failed): a 503, its events not counted as accepted.
 */

ngx_int_t
ngx_http_capture_answer_refused(ngx_http_request_t *r, cap_error_t *err)
{
    ngx_http_capture_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);
    ctx->events = 0;

    return ngx_http_capture_reject(r, err);
}


/* the answer to an accepted request */

ngx_int_t
ngx_http_capture_answer_synced(ngx_http_request_t *r)
{
    ngx_str_t                beacon;
    ngx_http_capture_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    if (ngx_http_capture_cors(r, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->segment) {
        return ngx_http_capture_send(r, NGX_HTTP_OK,
                                     &ngx_http_capture_json_type,
                                     ngx_http_capture_segment_ok,
                                     sizeof(ngx_http_capture_segment_ok) - 1);
    }

    /* posthog-js retries anything but exactly 200, save for beacons */

    if (ngx_http_arg(r, (u_char *) "beacon", 6, &beacon) == NGX_OK
        && beacon.len == 1 && beacon.data[0] == '1')
    {
        return ngx_http_capture_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
    }

    return ngx_http_capture_send(r, NGX_HTTP_OK, &ngx_http_capture_json_type,
                                 ngx_http_capture_ok,
                                 sizeof(ngx_http_capture_ok) - 1);
}


/*
 * Segment-spec messages become the PostHog batch their write key names
 * the token of; the model then takes them as any captured batch.
 */

static ngx_int_t
ngx_http_capture_segment(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_pool_t *pool, cap_json_t **root,
    cap_error_t *err)
{
    ngx_http_capture_ctx_t        *ctx;
    ngx_http_capture_write_key_t  *wk;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    if (ngx_http_capture_write_key_check(r, cplcf, *root, &wk, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *root = cap_segment_ingest(pool, *root,
                               (cap_segment_kind_t) (ctx->segment - 1),
                               &wk->token, &wk->group_type, err);

    return (*root != NULL) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_capture_request(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_request_t *req)
{
    off_t                     ms;
    ngx_str_t                 arg, value;
    ngx_uint_t                i;
    ngx_time_t               *tp;
    cap_property_t           *cp;
    ngx_http_capture_ctx_t   *ctx;
    ngx_http_capture_prop_t  *prop;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);
    req->endpoint = ctx->endpoint;

    tp = ngx_timeofday();
    req->now = (cap_msec_t) tp->sec * 1000 + tp->msec;

    /* older posthog-js sends the time of sending as "_" in milliseconds */

    if (ngx_http_arg(r, (u_char *) "_", 1, &arg) == NGX_OK
        || ngx_http_arg(r, (u_char *) "sent_at", 7, &arg) == NGX_OK)
    {
        ms = ngx_atoof(arg.data, arg.len);

        if (ms != NGX_ERROR) {
            req->query_sent_at = (cap_msec_t) ms;
            req->has_query_sent_at = 1;
        }
    }

    req->ip.data = r->connection->addr_text.data;
    req->ip.len = r->connection->addr_text.len;
    req->ip_policy = (cap_ip_policy_t) cplcf->ip_policy;

    /* a write key names its token: capture_tokens is for PostHog's SDKs */

    if (cplcf->tokens && !ctx->segment) {
        req->tokens = cplcf->tokens->elts;
        req->ntokens = cplcf->tokens->nelts;
    }

    if (cplcf->properties == NULL) {
        return NGX_OK;
    }

    req->properties = ngx_palloc(r->pool, cplcf->properties->nelts
                                          * sizeof(cap_property_t));
    if (req->properties == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    prop = cplcf->properties->elts;

    for (i = 0; i < cplcf->properties->nelts; i++) {
        if (ngx_http_complex_value(r, &prop[i].value, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (value.len == 0) {
            continue;
        }

        cp = &req->properties[req->nproperties++];

        cp->name.data = prop[i].name.data;
        cp->name.len = prop[i].name.len;
        cp->value.data = value.data;
        cp->value.len = value.len;
    }

    return NGX_OK;
}


/*
 * All destinations or none: a request is answered 503 before any of
 * them takes an event if one of them has no room for its events.
 */

static ngx_int_t
ngx_http_capture_deliver(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, ngx_http_capture_accepted_t *a,
    cap_error_t *err)
{
    ngx_int_t                  rc, spool;
    ngx_uint_t                 i;
    cap_spool_record_t         rec;
    ngx_http_capture_dest_t  **dest;

    dest = cplcf->dests->elts;

    for (i = 0; i < cplcf->dests->nelts; i++) {
        if (dest[i]->type->room != NULL
            && dest[i]->type->room(dest[i], a) != NGX_OK
            && ngx_http_capture_spool_behind(dest[i]) != NGX_OK)
        {
            ngx_http_capture_stat_dest(dest[i],
                                       NGX_HTTP_CAPTURE_STAT_REJECTED, 1);

            cap_error_set(err, CAP_E_UNAVAILABLE,
                          "transient error, please retry: the queue of "
                          "destination \"%.*s\" is full",
                          (int) dest[i]->name.len, dest[i]->name.data);
            return NGX_ERROR;
        }
    }

    /*
     * With capture_spool, the records are on disk before any destination
     * takes them, and the remote destinations take them from there.
     */

    spool = ngx_http_capture_spool_append(r, cplcf->dests, a, &rec, err);

    if (spool == NGX_DECLINED || spool == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (i = 0; i < cplcf->dests->nelts; i++) {
        if (spool == NGX_OK && dest[i]->type->room != NULL) {
            continue;
        }

        if (dest[i]->type->deliver(r->connection->log, dest[i], a) != NGX_OK) {
            rc = NGX_ERROR;
        }
    }

    if (spool == NGX_OK
        && ngx_http_capture_spool_deliver(r, cplcf->dests, a, &rec) != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        cap_error_set(err, CAP_E_UNAVAILABLE,
                      "transient error, please retry");
    }

    return rc;
}


static void
ngx_http_capture_read_headers(ngx_http_request_t *r,
    ngx_http_capture_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Origin") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin",
                               h[i].key.len) == 0)
        {
            ctx->origin = h[i].value;

        } else if (h[i].key.len == sizeof("Content-Encoding") - 1
                   && ngx_strncasecmp(h[i].key.data,
                                      (u_char *) "Content-Encoding",
                                      h[i].key.len) == 0)
        {
            ctx->content_encoding = h[i].value;

        } else if (h[i].key.len == sizeof("Access-Control-Request-Headers") - 1
                   && ngx_strncasecmp(h[i].key.data,
                                      (u_char *) "Access-Control-Request-"
                                      "Headers", h[i].key.len) == 0)
        {
            ctx->request_headers = h[i].value;
        }
    }
}


static ngx_int_t
ngx_http_capture_preflight(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_capture_cors(r, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_capture_send(r, NGX_HTTP_OK, NULL, NULL, 0);
}


/* as PostHog's capture: the Origin mirrored, credentials allowed */

static ngx_int_t
ngx_http_capture_cors(ngx_http_request_t *r, ngx_uint_t preflight)
{
    ngx_http_capture_ctx_t  *ctx;

    static ngx_str_t  yes = ngx_string("true");
    static ngx_str_t  origin = ngx_string("Origin");
    static ngx_str_t  methods = ngx_string("GET, POST, OPTIONS");
    static ngx_str_t  headers = ngx_string("Content-Type, Content-Encoding");
    static ngx_str_t  max_age = ngx_string("7200");

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    if (ctx->origin.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_capture_add_header(r, "Access-Control-Allow-Origin",
                                    &ctx->origin) != NGX_OK
        || ngx_http_capture_add_header(r, "Access-Control-Allow-Credentials",
                                       &yes) != NGX_OK
        || ngx_http_capture_add_header(r, "Vary", &origin) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!preflight) {
        return NGX_OK;
    }

    if (ngx_http_capture_add_header(r, "Access-Control-Allow-Methods",
                                    &methods) != NGX_OK
        || ngx_http_capture_add_header(r, "Access-Control-Allow-Headers",
                                       ctx->request_headers.len
                                       ? &ctx->request_headers : &headers)
           != NGX_OK
        || ngx_http_capture_add_header(r, "Access-Control-Max-Age", &max_age)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* every rejected request: one answer with its reason, one info line */

static ngx_int_t
ngx_http_capture_reject(ngx_http_request_t *r, cap_error_t *err)
{
    u_char                      *text;
    size_t                       len;
    ngx_uint_t                   status, level;
    ngx_http_capture_ctx_t      *ctx;

    status = cap_error_status(err->code);
    len = ngx_strlen(err->text);

    level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? NGX_LOG_ERR
                                                       : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "capture: request rejected with %ui (%s): %s",
                  status, cap_error_name(err->code), err->text);

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);
    ctx->error = err->code;

    text = ngx_pnalloc(r->pool, len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text, err->text, len);

    if (ngx_http_capture_cors(r, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        static ngx_str_t  retry = ngx_string("1");

        if (ngx_http_capture_add_header(r, "Retry-After", &retry) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_capture_send(r, status, &ngx_http_capture_text_type,
                                 text, len);
}


static ngx_int_t
ngx_http_capture_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_http_capture_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    ngx_http_capture_stat_request(r, status, ctx ? ctx->events : 0);

    return ngx_http_capture_answer(r, status, type, body, len);
}


/* an answer from memory the request owns; no type: none is sent */

ngx_int_t
ngx_http_capture_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (type != NULL) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void *
ngx_http_capture_palloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


static void
ngx_http_capture_pfree(void *data, void *p)
{
    (void) ngx_pfree(data, p);
}
