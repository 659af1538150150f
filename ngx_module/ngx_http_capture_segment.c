
/*
 * The Segment and RudderStack destinations: Segment-spec messages (see
 * docs/mappings.md) to {url}/v1/batch as {"batch", "sentAt"}, with Basic
 * authentication by the write key.  Both take 32 KB per message; they
 * differ in the request and in compression: Segment takes 500 KB and
 * 2,500 messages per request, uncompressed; RudderStack up to 4 MB, in
 * gzip.
 */


#include "ngx_http_capture_queue.h"
#include "encode/cap_encode.h"


#define NGX_HTTP_CAPTURE_RUDDER_MAX_BODY  (4000 * 1024)


typedef struct {
    ngx_http_capture_remote_t       remote;    /* first */
    ngx_str_t                       url;       /* ends in /v1/batch */
    ngx_str_t                       userpwd;   /* "key:", NUL-terminated */
    ngx_flag_t                      gzip;
    size_t                          max_message;
} ngx_http_capture_segment_t;


static char *ngx_http_capture_segment_init(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);
static char *ngx_http_capture_rudder_init(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);
static char *ngx_http_capture_segment_conf(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_segment_t *sg);
static ngx_int_t ngx_http_capture_segment_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a);
static ngx_int_t ngx_http_capture_segment_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy);


ngx_http_capture_dest_type_t  ngx_http_capture_segment_type = {
    ngx_string("segment"),
    ngx_http_capture_segment_init,
    ngx_http_capture_remote_room,
    ngx_http_capture_segment_deliver,
    ngx_http_capture_remote_init_process,
    ngx_http_capture_remote_shutdown,
    ngx_http_capture_remote_exit_process
};


ngx_http_capture_dest_type_t  ngx_http_capture_rudderstack_type = {
    ngx_string("rudderstack"),
    ngx_http_capture_rudder_init,
    ngx_http_capture_remote_room,
    ngx_http_capture_segment_deliver,
    ngx_http_capture_remote_init_process,
    ngx_http_capture_remote_shutdown,
    ngx_http_capture_remote_exit_process
};


static char *
ngx_http_capture_segment_init(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_segment_t  *sg;

    sg = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_segment_t));
    if (sg == NULL) {
        return NGX_CONF_ERROR;
    }

    sg->gzip = 0;
    sg->max_message = CAP_SEGMENT_MAX_MESSAGE;

    if (ngx_http_capture_segment_conf(cf, dest, sg) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* a request of at most 500 KB and 2,500 messages */

    if (sg->remote.queue.batch_bytes > CAP_SEGMENT_MAX_BODY - 1024) {
        sg->remote.queue.batch_bytes = CAP_SEGMENT_MAX_BODY - 1024;
    }

    if (sg->remote.queue.batch_size > CAP_SEGMENT_MAX_MESSAGES) {
        sg->remote.queue.batch_size = CAP_SEGMENT_MAX_MESSAGES;
    }

    sg->remote.send = ngx_http_capture_segment_send;
    dest->data = sg;

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_rudder_init(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_segment_t  *sg;

    sg = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_segment_t));
    if (sg == NULL) {
        return NGX_CONF_ERROR;
    }

    sg->gzip = 1;
    sg->max_message = CAP_SEGMENT_MAX_MESSAGE;

    if (ngx_http_capture_segment_conf(cf, dest, sg) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (sg->remote.queue.batch_bytes > NGX_HTTP_CAPTURE_RUDDER_MAX_BODY) {
        sg->remote.queue.batch_bytes = NGX_HTTP_CAPTURE_RUDDER_MAX_BODY;
    }

    sg->remote.send = ngx_http_capture_segment_send;
    dest->data = sg;

    return NGX_CONF_OK;
}


/* url, write_key (a literal, or $NAME from nginx's environment) */

static char *
ngx_http_capture_segment_conf(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    ngx_http_capture_segment_t *sg)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *u, key, name;
    ngx_http_capture_param_t  *wk;

    u = ngx_http_capture_queue_url(cf, dest);
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    len = u->len;

    while (len && u->data[len - 1] == '/') {
        len--;
    }

    sg->url.len = len + sizeof("/v1/batch") - 1;
    sg->url.data = ngx_pnalloc(cf->pool, sg->url.len + 1);
    if (sg->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(sg->url.data, u->data, len);
    p = ngx_cpymem(p, "/v1/batch", sizeof("/v1/batch") - 1);
    *p = '\0';

    wk = ngx_http_capture_dest_param(dest, "write_key");

    if (wk == NULL || wk->nvalues != 1 || wk->values[0].len == 0) {
        ngx_http_capture_dest_error(cf, dest, wk ? wk->line : dest->line,
                                    "capture destination \"%V\" needs one "
                                    "\"write_key\"", &dest->name);
        return NGX_CONF_ERROR;
    }

    key = wk->values[0];

    switch (ngx_http_capture_conf_env(cf, &key, &name)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_http_capture_dest_error(cf, dest, wk->line,
                                    "\"write_key\": the environment "
                                    "variable \"%V\" is not set", &name);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    /* the write key is the user name; the password is empty */

    sg->userpwd.len = key.len + 1;
    sg->userpwd.data = ngx_pnalloc(cf->pool, key.len + 2);
    if (sg->userpwd.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(sg->userpwd.data, key.data, key.len);
    *p++ = ':';
    *p = '\0';

    return ngx_http_capture_queue_conf(cf, dest, &sg->remote.queue);
}


/*
 * One message per event; one that is too large for the destination is
 * dropped alone, with a counter and a line, and the others go on.
 */

static ngx_int_t
ngx_http_capture_segment_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a)
{
    size_t                       i;
    ngx_int_t                    rc;
    ngx_str_t                    none;
    cap_buf_t                    b;
    cap_error_t                  err;
    cap_event_t                 *ev, copy;
    cap_batch_t                 *batch;
    ngx_http_capture_item_t     *item;
    ngx_http_capture_segment_t  *sg = dest->data;

    batch = a->batch;

    if (cap_buf_init(&b, ngx_http_capture_heap(), 4096, 0) != CAP_OK) {
        return NGX_ERROR;
    }

    /* the write key is the destination's: no grouping by token */
    ngx_str_null(&none);

    rc = NGX_OK;

    for (i = 0; i < batch->nevents; i++) {
        b.len = 0;

        if (!ngx_http_capture_filter_match(&sg->remote.queue.filter,
                                           &batch->events[i]))
        {
            continue;
        }

        ev = ngx_http_capture_transform(&sg->remote.queue.transform, a,
                                        &batch->events[i], &copy);
        if (ev == NULL) {
            rc = NGX_ERROR;
            break;
        }

        if (cap_segment_message(&b, batch, ev, 0, sg->max_message, &err)
            != CAP_OK)
        {
            if (err.code != CAP_E_EVENT_TOO_LARGE) {
                rc = NGX_ERROR;
                break;
            }

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "capture destination \"%V\": message of event "
                          "%*s dropped for its size: %s", &dest->name,
                          (size_t) CAP_UUID_LEN, batch->events[i].uuid,
                          err.text);

            ngx_http_capture_stat_dest(dest, NGX_HTTP_CAPTURE_STAT_REFUSED,
                                       1);
            continue;
        }

        item = ngx_http_capture_queue_item(sg->remote.q, b.len, &none);
        if (item == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(item->data, b.data, b.len);

        ngx_http_capture_queue_push(sg->remote.q, item);
    }

    cap_free(ngx_http_capture_heap(), b.data);

    return rc;
}


static ngx_int_t
ngx_http_capture_segment_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy)
{
    cap_buf_t                    json;
    ngx_time_t                  *tp;
    cap_pool_t                  *heap;
    ngx_http_capture_segment_t  *sg = q->data;

    heap = ngx_http_capture_heap();
    tp = ngx_timeofday();

    if (cap_buf_init(&json, heap, b->bytes + b->nevents + 64, 0) != CAP_OK
        || cap_segment_batch_open(&json) != CAP_OK
        || ngx_http_capture_batch_join(b, &json) != NGX_OK
        || cap_segment_batch_close(&json,
                                   (cap_msec_t) tp->sec * 1000 + tp->msec)
           != CAP_OK)
    {
        cap_free(heap, json.data);
        return NGX_ERROR;
    }

    if (ngx_http_capture_batch_post(b, easy, &json, sg->gzip,
                                    (char *) sg->url.data, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
    curl_easy_setopt(easy, CURLOPT_USERPWD, (char *) sg->userpwd.data);

    return NGX_OK;
}
