
/*
 * The delivery queue of HTTP destinations: batching, transfers on the
 * worker's multi handle, retries with exponential backoff and full
 * jitter (Retry-After honoured), and the drain when the worker exits.
 *
 * While anything is held, a timer that is not cancelable is armed (the
 * flush timer for pending items, a retry timer for a waiting batch,
 * curl's timer for a transfer), so an exiting worker stays until the
 * queue is empty or capture_drain_timeout gives up on it.
 */


#include "ngx_http_capture_queue.h"
#include "encode/cap_encode.h"


static char *ngx_http_capture_queue_msec(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, ngx_msec_t *value);
static char *ngx_http_capture_queue_size(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, size_t *value);
static char *ngx_http_capture_queue_number(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, ngx_uint_t *value);
static char *ngx_http_capture_queue_string(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, ngx_str_t *value);
static void ngx_http_capture_queue_curl_options(
    ngx_http_capture_queue_t *q, CURL *easy);
static void ngx_http_capture_queue_pump(ngx_http_capture_queue_t *q,
    ngx_uint_t force);
static ngx_http_capture_batch_t *ngx_http_capture_queue_batch(
    ngx_http_capture_queue_t *q);
static void ngx_http_capture_queue_send(ngx_http_capture_batch_t *b);
static void ngx_http_capture_queue_done(ngx_http_capture_xfer_t *x);
static void ngx_http_capture_queue_retry(ngx_http_capture_batch_t *b,
    const char *why, ngx_str_t *answer);
static void ngx_http_capture_queue_retry_handler(ngx_event_t *ev);
static void ngx_http_capture_queue_flush_handler(ngx_event_t *ev);
static void ngx_http_capture_queue_free(ngx_http_capture_batch_t *b,
    ngx_uint_t done);
static void ngx_http_capture_queue_drop_item(ngx_http_capture_queue_t *q,
    ngx_http_capture_item_t *item, ngx_uint_t done);


char *
ngx_http_capture_queue_conf(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    ngx_http_capture_queue_conf_t *qcf)
{
    ngx_str_t                 *v;
    ngx_http_capture_param_t  *p;

    qcf->batch_size = 100;
    qcf->batch_bytes = 1024 * 1024;
    qcf->flush_interval = 1000;
    qcf->max_in_flight = 4;
    qcf->queue_events = 100000;
    qcf->queue_bytes = 64 * 1024 * 1024;
    qcf->overflow = NGX_HTTP_CAPTURE_OVERFLOW_REJECT;
    qcf->retry_delay = 1000;
    qcf->retry_max_delay = 30000;
    qcf->timeout = 10000;
    qcf->connect_timeout = 5000;
    qcf->ssl_verify = 1;

    if (ngx_http_capture_queue_number(cf, dest, "batch_size",
                                      &qcf->batch_size) != NGX_CONF_OK
        || ngx_http_capture_queue_size(cf, dest, "batch_bytes",
                                       &qcf->batch_bytes) != NGX_CONF_OK
        || ngx_http_capture_queue_msec(cf, dest, "flush_interval",
                                       &qcf->flush_interval) != NGX_CONF_OK
        || ngx_http_capture_queue_number(cf, dest, "max_in_flight",
                                         &qcf->max_in_flight) != NGX_CONF_OK
        || ngx_http_capture_queue_number(cf, dest, "queue_size",
                                         &qcf->queue_events) != NGX_CONF_OK
        || ngx_http_capture_queue_size(cf, dest, "queue_bytes",
                                       &qcf->queue_bytes) != NGX_CONF_OK
        || ngx_http_capture_queue_msec(cf, dest, "retry_delay",
                                       &qcf->retry_delay) != NGX_CONF_OK
        || ngx_http_capture_queue_msec(cf, dest, "retry_max_delay",
                                       &qcf->retry_max_delay) != NGX_CONF_OK
        || ngx_http_capture_queue_msec(cf, dest, "timeout", &qcf->timeout)
           != NGX_CONF_OK
        || ngx_http_capture_queue_msec(cf, dest, "connect_timeout",
                                       &qcf->connect_timeout) != NGX_CONF_OK
        || ngx_http_capture_queue_string(cf, dest, "ssl_ca_file",
                                         &qcf->ssl_ca_file) != NGX_CONF_OK
        || ngx_http_capture_queue_string(cf, dest, "proxy", &qcf->proxy)
           != NGX_CONF_OK
        || ngx_http_capture_filter_conf(cf, dest, &qcf->filter)
           != NGX_CONF_OK
        || ngx_http_capture_transform_conf(cf, dest, &qcf->transform)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (qcf->flush_interval == 0) {
        qcf->flush_interval = 1;
    }

    if (qcf->retry_delay == 0) {
        qcf->retry_delay = 1;
    }

    p = ngx_http_capture_dest_param(dest, "overflow");

    if (p != NULL) {
        v = &p->values[0];

        if (p->nvalues == 1 && v->len == 6
            && ngx_strncmp(v->data, "reject", 6) == 0)
        {
            qcf->overflow = NGX_HTTP_CAPTURE_OVERFLOW_REJECT;

        } else if (p->nvalues == 1 && v->len == 11
                   && ngx_strncmp(v->data, "drop_oldest", 11) == 0)
        {
            qcf->overflow = NGX_HTTP_CAPTURE_OVERFLOW_DROP_OLDEST;

        } else {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid \"overflow\": use "
                                        "\"reject\" or \"drop_oldest\"");
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_capture_dest_flag(cf, dest, "ssl_verify", &qcf->ssl_verify)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!qcf->ssl_verify) {
        p = ngx_http_capture_dest_param(dest, "ssl_verify");

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "capture destination \"%V\": TLS certificates "
                      "are not verified (ssl_verify off) in %V:%ui",
                      &dest->name, &dest->file, p->line);
    }

    return NGX_CONF_OK;
}


/* the "url" of a remote destination: one http:// or https:// URL */

ngx_str_t *
ngx_http_capture_queue_url(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_str_t                 *u;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, "url");

    if (p == NULL) {
        ngx_http_capture_dest_error(cf, dest, dest->line,
                                    "capture destination \"%V\" of type "
                                    "\"%V\" has no \"url\"", &dest->name,
                                    &dest->type->name);
        return NULL;
    }

    u = &p->values[0];

    if (p->nvalues != 1
        || !((u->len > 7 && ngx_strncasecmp(u->data, (u_char *) "http://", 7)
                            == 0)
             || (u->len > 8
                 && ngx_strncasecmp(u->data, (u_char *) "https://", 8) == 0)))
    {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "invalid \"url\" in capture destination "
                                    "\"%V\": an http:// or https:// URL is "
                                    "needed", &dest->name);
        return NULL;
    }

    return u;
}


static char *
ngx_http_capture_queue_msec(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, ngx_msec_t *value)
{
    ngx_msec_t                 ms;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    ms = (ngx_msec_t) NGX_ERROR;

    if (p->nvalues == 1) {
        ms = ngx_parse_time(&p->values[0], 0);
    }

    if (ms == (ngx_msec_t) NGX_ERROR) {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "invalid time in \"%s\"", key);
        return NGX_CONF_ERROR;
    }

    *value = ms;

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_queue_size(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, size_t *value)
{
    ssize_t                    n;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    n = (p->nvalues == 1) ? ngx_parse_size(&p->values[0]) : NGX_ERROR;

    if (n == NGX_ERROR || n == 0) {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "invalid size in \"%s\"", key);
        return NGX_CONF_ERROR;
    }

    *value = (size_t) n;

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_queue_number(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, ngx_uint_t *value)
{
    ngx_int_t                  n;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    n = (p->nvalues == 1) ? ngx_atoi(p->values[0].data, p->values[0].len)
                          : NGX_ERROR;

    if (n == NGX_ERROR || n == 0) {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "invalid number in \"%s\": a positive "
                                    "integer is needed", key);
        return NGX_CONF_ERROR;
    }

    *value = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* a value libcurl takes as a C string */

static char *
ngx_http_capture_queue_string(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, ngx_str_t *value)
{
    u_char                    *data;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    if (p->nvalues != 1 || p->values[0].len == 0) {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "invalid \"%s\"", key);
        return NGX_CONF_ERROR;
    }

    *value = p->values[0];

    if (ngx_strcmp(key, "ssl_ca_file") == 0
        && ngx_conf_full_name(cf->cycle, value, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    data = ngx_pnalloc(cf->pool, value->len + 1);
    if (data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(data, value->data, value->len);
    data[value->len] = '\0';
    value->data = data;

    return NGX_CONF_OK;
}


ngx_http_capture_queue_t *
ngx_http_capture_queue_create(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest, ngx_http_capture_queue_conf_t *qcf,
    ngx_http_capture_send_pt send, void *data)
{
    ngx_http_capture_queue_t  *q;

    q = ngx_pcalloc(cycle->pool, sizeof(ngx_http_capture_queue_t));
    if (q == NULL) {
        return NULL;
    }

    q->dest = dest;
    q->conf = qcf;
    q->send = send;
    q->data = data;
    q->log = cycle->log;

    ngx_queue_init(&q->pending);
    ngx_queue_init(&q->batches);

    q->dummy.fd = (ngx_socket_t) -1;
    q->flush.data = &q->dummy;
    q->flush.handler = ngx_http_capture_queue_flush_handler;
    q->flush.log = cycle->log;
    q->dummy.data = q;

    return q;
}


/* whether a request's events fit; may make room by policy */

ngx_int_t
ngx_http_capture_queue_room(ngx_http_capture_queue_t *q, ngx_uint_t events,
    size_t bytes)
{
    ngx_uint_t                dropped;
    ngx_queue_t              *h;
    ngx_http_capture_item_t  *item;

    if (q->events + events <= q->conf->queue_events
        && q->bytes + bytes <= q->conf->queue_bytes)
    {
        return NGX_OK;
    }

    if (q->conf->overflow != NGX_HTTP_CAPTURE_OVERFLOW_DROP_OLDEST
        || events > q->conf->queue_events || bytes > q->conf->queue_bytes)
    {
        return NGX_BUSY;
    }

    /* only what waits in no batch can go */

    dropped = 0;

    while ((q->events + events > q->conf->queue_events
            || q->bytes + bytes > q->conf->queue_bytes)
           && !ngx_queue_empty(&q->pending))
    {
        h = ngx_queue_head(&q->pending);
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);

        ngx_queue_remove(h);
        q->pending_events--;
        q->pending_bytes -= item->len;

        ngx_http_capture_queue_drop_item(q, item, 1);
        dropped++;
    }

    if (dropped) {
        ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_OVERFLOW,
                                   (ngx_int_t) dropped);

        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "capture destination \"%V\": queue full, %ui oldest "
                      "events dropped", &q->dest->name, dropped);
    }

    return (q->events + events <= q->conf->queue_events
            && q->bytes + bytes <= q->conf->queue_bytes)
           ? NGX_OK : NGX_BUSY;
}


ngx_http_capture_item_t *
ngx_http_capture_queue_item(ngx_http_capture_queue_t *q, size_t len,
    ngx_str_t *token)
{
    u_char                   *p;
    ngx_http_capture_item_t  *item;

    p = ngx_alloc(sizeof(ngx_http_capture_item_t) + token->len + len, q->log);
    if (p == NULL) {
        return NULL;
    }

    item = (ngx_http_capture_item_t *) p;
    p += sizeof(ngx_http_capture_item_t);

    item->token.data = p;
    item->token.len = token->len;
    p = ngx_cpymem(p, token->data, token->len);

    item->data = p;
    item->len = len;
    item->mark = NULL;
    item->recording = 0;
    item->historical = 0;

    return item;
}


void
ngx_http_capture_queue_push(ngx_http_capture_queue_t *q,
    ngx_http_capture_item_t *item)
{
    ngx_queue_insert_tail(&q->pending, &item->queue);

    if (q->mark) {
        item->mark = q->mark;
        ngx_http_capture_spool_mark_hold(q->mark);
    }

    q->pending_events++;
    q->pending_bytes += item->len;
    q->events++;
    q->bytes += item->len;

    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_QUEUED_EVENTS,
                               1);
    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_QUEUED_BYTES,
                               (ngx_int_t) item->len);

    if (q->exiting
        || q->pending_events >= q->conf->batch_size
        || q->pending_bytes >= q->conf->batch_bytes)
    {
        ngx_http_capture_queue_pump(q, q->exiting);
        return;
    }

    if (!q->flush.timer_set) {
        ngx_add_timer(&q->flush, q->conf->flush_interval);
    }
}


/* sends what may go: batches waiting for a slot, then new ones */

static void
ngx_http_capture_queue_pump(ngx_http_capture_queue_t *q, ngx_uint_t force)
{
    ngx_queue_t               *h;
    ngx_http_capture_batch_t  *b;

    for (h = ngx_queue_head(&q->batches);
         h != ngx_queue_sentinel(&q->batches)
         && q->in_flight < q->conf->max_in_flight;
         h = ngx_queue_next(h))
    {
        b = ngx_queue_data(h, ngx_http_capture_batch_t, queue);

        if (b->ready) {
            b->ready = 0;
            ngx_http_capture_queue_send(b);
        }
    }

    while (q->in_flight < q->conf->max_in_flight
           && !ngx_queue_empty(&q->pending)
           && (force
               || q->pending_events >= q->conf->batch_size
               || q->pending_bytes >= q->conf->batch_bytes))
    {
        b = ngx_http_capture_queue_batch(q);
        if (b == NULL) {
            break;
        }

        ngx_http_capture_queue_send(b);
    }

    if (ngx_queue_empty(&q->pending)) {
        if (q->flush.timer_set) {
            ngx_del_timer(&q->flush);
        }

    } else if (!q->flush.timer_set) {
        ngx_add_timer(&q->flush, q->conf->flush_interval);
    }
}


/* the oldest pending item, and those of its token and kind after it */

static ngx_http_capture_batch_t *
ngx_http_capture_queue_batch(ngx_http_capture_queue_t *q)
{
    ngx_queue_t               *h, *next;
    ngx_http_capture_item_t   *first, *item;
    ngx_http_capture_batch_t  *b;

    b = ngx_calloc(sizeof(ngx_http_capture_batch_t), q->log);
    if (b == NULL) {
        return NULL;
    }

    b->q = q;
    b->created = ngx_current_msec;
    ngx_queue_init(&b->items);

    b->retry.data = &q->dummy;
    b->retry.handler = ngx_http_capture_queue_retry_handler;
    b->retry.log = q->log;

    h = ngx_queue_head(&q->pending);
    first = ngx_queue_data(h, ngx_http_capture_item_t, queue);

    for ( /* void */ ; h != ngx_queue_sentinel(&q->pending); h = next) {
        next = ngx_queue_next(h);
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);

        if (item->recording != first->recording
            || item->historical != first->historical
            || item->token.len != first->token.len
            || ngx_strncmp(item->token.data, first->token.data,
                           item->token.len) != 0)
        {
            continue;
        }

        if (b->nevents && b->bytes + item->len > q->conf->batch_bytes) {
            break;
        }

        ngx_queue_remove(h);
        ngx_queue_insert_tail(&b->items, h);

        b->nevents++;
        b->bytes += item->len;

        q->pending_events--;
        q->pending_bytes -= item->len;

        if (b->nevents == q->conf->batch_size) {
            break;
        }
    }

    ngx_queue_insert_tail(&q->batches, &b->queue);

    return b;
}


static void
ngx_http_capture_queue_send(ngx_http_capture_batch_t *b)
{
    CURL                      *easy;
    ngx_http_capture_queue_t  *q = b->q;

    b->xfer.done = ngx_http_capture_queue_done;
    b->xfer.data = b;
    b->xfer.log = q->log;

    b->attempts++;
    b->started = ngx_current_msec;

    easy = ngx_http_capture_curl_easy(&b->xfer);

    if (easy == NULL) {
        ngx_http_capture_queue_retry(b, "curl_easy_init() failed", NULL);
        return;
    }

    ngx_http_capture_queue_curl_options(q, easy);

    if (q->send(q, b, easy) != NGX_OK
        || ngx_http_capture_curl_start(&b->xfer) != NGX_OK)
    {
        ngx_http_capture_curl_cancel(&b->xfer);

        cap_free(ngx_http_capture_heap(), b->body.data);
        b->body.data = NULL;

        if (b->xfer.headers) {
            curl_slist_free_all(b->xfer.headers);
            b->xfer.headers = NULL;
        }

        ngx_http_capture_queue_retry(b, "the request could not be made",
                                     NULL);
        return;
    }

    b->in_flight = 1;
    q->in_flight++;

    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_IN_FLIGHT, 1);
}


static void
ngx_http_capture_queue_curl_options(ngx_http_capture_queue_t *q, CURL *easy)
{
    ngx_http_capture_queue_conf_t  *qcf = q->conf;

    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) qcf->timeout);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) qcf->connect_timeout);

    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, qcf->ssl_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, qcf->ssl_verify ? 2L : 0L);

    if (qcf->ssl_ca_file.len) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, qcf->ssl_ca_file.data);
    }

    /* workers have an empty environment: no proxy unless configured */
    curl_easy_setopt(easy, CURLOPT_PROXY,
                     qcf->proxy.len ? (char *) qcf->proxy.data : "");

    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     (long) CURL_HTTP_VERSION_2TLS);
}


/*
 * The answer: 2xx delivered; 408, 429 and 5xx but 501 and 505, timeouts
 * and connection errors retried; any other status refused for good.
 */

static void
ngx_http_capture_queue_done(ngx_http_capture_xfer_t *x)
{
    long                       status;
    ngx_str_t                  answer;
    ngx_http_capture_batch_t  *b = x->data;
    ngx_http_capture_queue_t  *q = b->q;

    b->in_flight = 0;
    q->in_flight--;

    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_IN_FLIGHT, -1);

    cap_free(ngx_http_capture_heap(), b->body.data);
    b->body.data = NULL;

    if (x->headers) {
        curl_slist_free_all(x->headers);
        x->headers = NULL;
    }

    status = x->status;
    answer.data = x->answer;
    answer.len = x->answer_len;

    if (x->result != CURLE_OK) {
        ngx_http_capture_queue_retry(b, x->error[0] ? x->error
                                     : curl_easy_strerror(x->result), NULL);

    } else if (status >= 200 && status < 300) {
        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, q->log, 0,
                       "capture destination \"%V\": %ui events delivered "
                       "in %M ms, attempt %ui", &q->dest->name, b->nevents,
                       ngx_current_msec - b->started, b->attempts);

        ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_DELIVERED,
                                   (ngx_int_t) b->nevents);
        ngx_http_capture_stat_batch(q->dest, b->nevents,
                                    ngx_current_msec - b->created);

        ngx_http_capture_queue_free(b, 1);

    } else if (status == 408 || status == 429
               || (status >= 500 && status != 501 && status != 505))
    {
        ngx_http_capture_queue_retry(b, "answered", &answer);

    } else {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "capture destination \"%V\": %ui events refused with "
                      "%l and dropped: \"%V\"", &q->dest->name, b->nevents,
                      status, &answer);

        ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_REFUSED,
                                   (ngx_int_t) b->nevents);
        ngx_http_capture_stat_error(q->dest, "refused with %l: %V", status,
                                    &answer);

        ngx_http_capture_queue_free(b, 1);
    }

    ngx_http_capture_queue_pump(q, q->exiting);
}


static void
ngx_http_capture_queue_retry(ngx_http_capture_batch_t *b, const char *why,
    ngx_str_t *answer)
{
    ngx_uint_t                 shift;
    ngx_msec_t                 cap, delay;
    ngx_http_capture_queue_t  *q = b->q;

    /* full jitter: uniform in [0, min(max, first * 2^(attempts - 1))] */

    shift = (b->attempts > 1) ? b->attempts - 1 : 0;

    if (shift > 20) {
        shift = 20;
    }

    cap = q->conf->retry_delay << shift;

    if (cap > q->conf->retry_max_delay || cap < q->conf->retry_delay) {
        cap = q->conf->retry_max_delay;
    }

    delay = (ngx_msec_t) (ngx_random() % (cap + 1));

    if (b->xfer.retry_after > delay) {
        delay = b->xfer.retry_after;
    }

    if (answer != NULL) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "capture destination \"%V\": %ui events, attempt %ui "
                      "answered %l \"%V\", retry in %M ms", &q->dest->name,
                      b->nevents, b->attempts, b->xfer.status, answer,
                      delay);

    } else {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "capture destination \"%V\": %ui events, attempt %ui "
                      "failed: %s, retry in %M ms", &q->dest->name,
                      b->nevents, b->attempts, why, delay);
    }

    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_RETRIED,
                               (ngx_int_t) b->nevents);

    if (answer != NULL) {
        ngx_http_capture_stat_error(q->dest, "answered %l: %V",
                                    b->xfer.status, answer);

    } else {
        ngx_http_capture_stat_error(q->dest, "%s", why);
    }

    b->xfer.retry_after = 0;

    /* not cancelable: an exiting worker waits for it */
    ngx_add_timer(&b->retry, delay);
}


static void
ngx_http_capture_queue_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_capture_queue_t  *q;
    ngx_http_capture_batch_t  *b;

    b = (ngx_http_capture_batch_t *)
            ((u_char *) ev - offsetof(ngx_http_capture_batch_t, retry));

    c = ev->data;
    q = c->data;

    b->ready = 1;

    ngx_http_capture_queue_pump(q, q->exiting);
}


static void
ngx_http_capture_queue_flush_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_http_capture_queue_pump(c->data, 1);
}


static void
ngx_http_capture_queue_free(ngx_http_capture_batch_t *b, ngx_uint_t done)
{
    ngx_queue_t               *h;
    ngx_http_capture_item_t   *item;
    ngx_http_capture_queue_t  *q = b->q;

    while (!ngx_queue_empty(&b->items)) {
        h = ngx_queue_head(&b->items);
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);

        ngx_queue_remove(h);
        ngx_http_capture_queue_drop_item(q, item, done);
    }

    if (b->retry.timer_set) {
        ngx_del_timer(&b->retry);
    }

    ngx_queue_remove(&b->queue);
    ngx_free(b);
}


/*
 * "done": the event is finished with (delivered, refused, dropped by
 * policy), so its record in the spool is too, for this destination;
 * not so when the worker leaves with it.
 */

static void
ngx_http_capture_queue_drop_item(ngx_http_capture_queue_t *q,
    ngx_http_capture_item_t *item, ngx_uint_t done)
{
    if (item->mark && done) {
        ngx_http_capture_spool_mark_done(item->mark);
    }

    q->events--;
    q->bytes -= item->len;

    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_QUEUED_EVENTS,
                               -1);
    ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_QUEUED_BYTES,
                               - (ngx_int_t) item->len);

    ngx_free(item);
}


/* graceful exit began: everything goes now, whatever the batch size */

void
ngx_http_capture_queue_shutdown(ngx_http_capture_queue_t *q)
{
    q->exiting = 1;

    ngx_http_capture_queue_pump(q, 1);
}


/* the worker leaves, or gave up draining: what is still held is lost */

void
ngx_http_capture_queue_destroy(ngx_http_capture_queue_t *q)
{
    ngx_uint_t                 events;
    ngx_queue_t               *h;
    ngx_http_capture_item_t   *item;
    ngx_http_capture_batch_t  *b;

    /* what a record in the spool holds is not lost: it is sent later */

    events = 0;

    for (h = ngx_queue_head(&q->pending);
         h != ngx_queue_sentinel(&q->pending);
         h = ngx_queue_next(h))
    {
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);
        events += (item->mark == NULL);
    }

    for (h = ngx_queue_head(&q->batches);
         h != ngx_queue_sentinel(&q->batches);
         h = ngx_queue_next(h))
    {
        b = ngx_queue_data(h, ngx_http_capture_batch_t, queue);

        if (!ngx_queue_empty(&b->items)) {
            item = ngx_queue_data(ngx_queue_head(&b->items),
                                  ngx_http_capture_item_t, queue);
            events += item->mark ? 0 : b->nevents;
        }
    }

    if (events) {
        ngx_http_capture_stat_dest(q->dest, NGX_HTTP_CAPTURE_STAT_LOST,
                                   (ngx_int_t) events);
    }

    while (!ngx_queue_empty(&q->batches)) {
        h = ngx_queue_head(&q->batches);
        b = ngx_queue_data(h, ngx_http_capture_batch_t, queue);

        if (b->in_flight) {
            ngx_http_capture_curl_cancel(&b->xfer);
            q->in_flight--;

            ngx_http_capture_stat_dest(q->dest,
                                       NGX_HTTP_CAPTURE_STAT_IN_FLIGHT, -1);
        }

        if (b->xfer.headers) {
            curl_slist_free_all(b->xfer.headers);
        }

        cap_free(ngx_http_capture_heap(), b->body.data);

        ngx_http_capture_queue_free(b, 0);
    }

    while (!ngx_queue_empty(&q->pending)) {
        h = ngx_queue_head(&q->pending);
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);

        ngx_queue_remove(h);
        ngx_http_capture_queue_drop_item(q, item, 0);
    }

    q->pending_events = 0;
    q->pending_bytes = 0;

    if (q->flush.timer_set) {
        ngx_del_timer(&q->flush);
    }

    if (events) {
        ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                      "capture destination \"%V\": %ui events held in "
                      "memory were not delivered and are lost",
                      &q->dest->name, events);
    }
}


/* the batch's encoded items, joined by commas */

ngx_int_t
ngx_http_capture_batch_join(ngx_http_capture_batch_t *b, cap_buf_t *out)
{
    ngx_queue_t              *h;
    ngx_http_capture_item_t  *item;

    for (h = ngx_queue_head(&b->items);
         h != ngx_queue_sentinel(&b->items);
         h = ngx_queue_next(h))
    {
        item = ngx_queue_data(h, ngx_http_capture_item_t, queue);

        if ((h != ngx_queue_head(&b->items)
             && cap_buf_put(out, ',') != CAP_OK)
            || cap_buf_append(out, item->data, item->len) != CAP_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The request of a batch: "json" becomes its body, in gzip when asked
 * (either way the batch owns it from here, or it is freed), posted to
 * "url" with the usual headers and the "extra" ones ("Name: value").
 */

ngx_int_t
ngx_http_capture_batch_post(ngx_http_capture_batch_t *b, CURL *easy,
    cap_buf_t *json, ngx_flag_t gzip, char *url, ngx_array_t *extra)
{
    int                 rc;
    char              **h;
    cap_str_t           gz;
    ngx_uint_t          i;
    cap_pool_t         *heap;
    struct curl_slist  *hdrs;

    heap = ngx_http_capture_heap();

    if (gzip) {
        rc = cap_gzip_compress(heap, json->data, json->len, 1, &gz);

        cap_free(heap, json->data);

        if (rc != CAP_OK) {
            return NGX_ERROR;
        }

        b->body.data = gz.data;
        b->body.len = gz.len;

    } else {
        b->body.data = json->data;
        b->body.len = json->len;
    }

    json->data = NULL;

    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = hdrs ? curl_slist_append(hdrs, "Accept: application/json") : NULL;
    hdrs = hdrs ? curl_slist_append(hdrs, "User-Agent: "
                                    "ngx_http_capture_module/"
                                    NGX_HTTP_CAPTURE_VERSION) : NULL;

    /* no "Expect: 100-continue" round trip for large bodies */
    hdrs = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;

    if (gzip && hdrs != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Encoding: gzip");
    }

    if (extra != NULL) {
        h = extra->elts;

        for (i = 0; hdrs != NULL && i < extra->nelts; i++) {
            hdrs = curl_slist_append(hdrs, h[i]);
        }
    }

    if (hdrs == NULL) {
        return NGX_ERROR;
    }

    b->xfer.headers = hdrs;

    /* libcurl copies the URL */
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (char *) b->body.data);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) b->body.len);

    return NGX_OK;
}


/* the parts every remote destination type shares */

ngx_int_t
ngx_http_capture_remote_room(ngx_http_capture_dest_t *dest,
    ngx_http_capture_accepted_t *a)
{
    ngx_http_capture_remote_t  *rd = dest->data;

    if (rd->q == NULL) {
        return NGX_BUSY;
    }

    return ngx_http_capture_queue_room(rd->q, a->batch->nevents,
                                       a->records->len);
}


ngx_int_t
ngx_http_capture_remote_init_process(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_remote_t  *rd = dest->data;

    rd->q = ngx_http_capture_queue_create(cycle, dest, &rd->queue, rd->send,
                                          rd);

    return rd->q ? NGX_OK : NGX_ERROR;
}


void
ngx_http_capture_remote_shutdown(ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_remote_t  *rd = dest->data;

    if (rd->q) {
        ngx_http_capture_queue_shutdown(rd->q);
    }
}


void
ngx_http_capture_remote_exit_process(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_remote_t  *rd = dest->data;

    if (rd->q) {
        ngx_http_capture_queue_destroy(rd->q);
        rd->q = NULL;
    }
}
