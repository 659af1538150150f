
/*
 * The PostHog destination: events to {url}/batch/, recordings to
 * {url}/s/, as {"api_key", "batch", "sent_at"} in gzip, one token per
 * request, each event with its uuid (PostHog deduplicates retries on
 * it) and the client's address in properties.$ip.
 */


#include "ngx_http_capture_queue.h"
#include "encode/cap_encode.h"


typedef struct {
    ngx_http_capture_remote_t       remote;    /* first */
    ngx_str_t                       url;       /* no trailing slash */
    ngx_flag_t                      gzip;
} ngx_http_capture_posthog_t;


static char *ngx_http_capture_posthog_init(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);
static ngx_int_t ngx_http_capture_posthog_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a);
static ngx_int_t ngx_http_capture_posthog_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy);


ngx_http_capture_dest_type_t  ngx_http_capture_posthog_type = {
    ngx_string("posthog"),
    ngx_http_capture_posthog_init,
    ngx_http_capture_remote_room,
    ngx_http_capture_posthog_deliver,
    ngx_http_capture_remote_init_process,
    ngx_http_capture_remote_shutdown,
    ngx_http_capture_remote_exit_process
};


static char *
ngx_http_capture_posthog_init(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_str_t                   *u;
    ngx_http_capture_param_t    *p;
    ngx_http_capture_posthog_t  *ph;

    ph = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_posthog_t));
    if (ph == NULL) {
        return NGX_CONF_ERROR;
    }

    u = ngx_http_capture_queue_url(cf, dest);
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    ph->url = *u;

    while (ph->url.len && ph->url.data[ph->url.len - 1] == '/') {
        ph->url.len--;
    }

    ph->gzip = 1;

    p = ngx_http_capture_dest_param(dest, "compression");

    if (p != NULL) {
        if (p->nvalues == 1 && p->values[0].len == 4
            && ngx_strncmp(p->values[0].data, "gzip", 4) == 0)
        {
            ph->gzip = 1;

        } else if (p->nvalues == 1 && p->values[0].len == 3
                   && ngx_strncmp(p->values[0].data, "off", 3) == 0)
        {
            ph->gzip = 0;

        } else {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid \"compression\": use "
                                        "\"gzip\" or \"off\"");
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_capture_queue_conf(cf, dest, &ph->remote.queue)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ph->remote.send = ngx_http_capture_posthog_send;
    dest->data = ph;

    return NGX_CONF_OK;
}


/* the canonical records are a fair measure of what the events take */

static ngx_int_t
ngx_http_capture_posthog_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a)
{
    size_t                       i;
    ngx_int_t                    rc;
    ngx_str_t                    token;
    cap_buf_t                    b;
    cap_event_t                 *ev, copy;
    cap_batch_t                 *batch;
    ngx_http_capture_item_t     *item;
    ngx_http_capture_posthog_t  *ph = dest->data;

    batch = a->batch;

    /* one event at a time, in a buffer reused for each */

    if (cap_buf_init(&b, ngx_http_capture_heap(), 4096, 0) != CAP_OK) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    token.data = batch->token.data;
    token.len = batch->token.len;

    for (i = 0; i < batch->nevents; i++) {
        b.len = 0;

        if (!ngx_http_capture_filter_match(&ph->remote.queue.filter,
                                           &batch->events[i]))
        {
            continue;
        }

        ev = ngx_http_capture_transform(&ph->remote.queue.transform, a,
                                        &batch->events[i], &copy);

        if (ev == NULL || cap_posthog_event(&b, batch, ev) != CAP_OK) {
            rc = NGX_ERROR;
            break;
        }

        item = ngx_http_capture_queue_item(ph->remote.q, b.len, &token);
        if (item == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(item->data, b.data, b.len);
        item->recording = batch->recordings;
        item->historical = batch->historical_migration;

        ngx_http_capture_queue_push(ph->remote.q, item);
    }

    cap_free(ngx_http_capture_heap(), b.data);

    return rc;
}


static ngx_int_t
ngx_http_capture_posthog_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy)
{
    u_char                      *url, *p;
    ngx_int_t                    rc;
    ngx_str_t                    path;
    cap_buf_t                    json;
    ngx_time_t                  *tp;
    cap_pool_t                  *heap;
    ngx_http_capture_item_t     *item;
    ngx_http_capture_posthog_t  *ph = q->data;

    heap = ngx_http_capture_heap();

    item = ngx_queue_data(ngx_queue_head(&b->items), ngx_http_capture_item_t,
                          queue);

    /* the body is made at each attempt: "sent_at" is when it is sent */

    tp = ngx_timeofday();

    if (cap_buf_init(&json, heap, b->bytes + b->nevents + 256, 0) != CAP_OK
        || cap_posthog_body_open(&json, item->token.data, item->token.len,
                                 item->historical)
           != CAP_OK
        || ngx_http_capture_batch_join(b, &json) != NGX_OK
        || cap_posthog_body_close(&json,
                                  (cap_msec_t) tp->sec * 1000 + tp->msec)
           != CAP_OK)
    {
        cap_free(heap, json.data);
        return NGX_ERROR;
    }

    if (item->recording) {
        ngx_str_set(&path, "/s/");

    } else {
        ngx_str_set(&path, "/batch/");
    }

    url = ngx_alloc(ph->url.len + path.len + 1, q->log);
    if (url == NULL) {
        cap_free(heap, json.data);
        return NGX_ERROR;
    }

    p = ngx_cpymem(url, ph->url.data, ph->url.len);
    p = ngx_cpymem(p, path.data, path.len);
    *p = '\0';

    rc = ngx_http_capture_batch_post(b, easy, &json, ph->gzip, (char *) url,
                                     NULL);

    ngx_free(url);

    return rc;
}
