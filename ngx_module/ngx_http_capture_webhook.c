
/*
 * The webhook destination: canonical records (docs/directives.md, "The
 * canonical record") to any URL, one per request or as a JSON array,
 * with the method and headers configured.  Header values are never
 * logged nor shown in the status: they often carry credentials.
 */


#include "ngx_http_capture_queue.h"


typedef struct {
    ngx_http_capture_remote_t       remote;    /* first */
    ngx_str_t                       url;       /* NUL-terminated */
    ngx_str_t                       method;    /* NUL-terminated */
    ngx_array_t                    *headers;   /* char *, "Name: value" */
    ngx_flag_t                      batch;     /* a JSON array */
} ngx_http_capture_webhook_t;


static char *ngx_http_capture_webhook_init(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);
static char *ngx_http_capture_webhook_headers(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_webhook_t *wh);
static ngx_int_t ngx_http_capture_webhook_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a);
static ngx_int_t ngx_http_capture_webhook_item(void *data, ngx_str_t *line);
static ngx_int_t ngx_http_capture_webhook_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy);


ngx_http_capture_dest_type_t  ngx_http_capture_webhook_type = {
    ngx_string("webhook"),
    ngx_http_capture_webhook_init,
    ngx_http_capture_remote_room,
    ngx_http_capture_webhook_deliver,
    ngx_http_capture_remote_init_process,
    ngx_http_capture_remote_shutdown,
    ngx_http_capture_remote_exit_process
};


static char *
ngx_http_capture_webhook_init(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_str_t                   *v;
    ngx_http_capture_param_t    *p;
    ngx_http_capture_webhook_t  *wh;

    wh = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_webhook_t));
    if (wh == NULL) {
        return NGX_CONF_ERROR;
    }

    v = ngx_http_capture_queue_url(cf, dest);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    wh->url.len = v->len;
    wh->url.data = ngx_pnalloc(cf->pool, wh->url.len + 1);
    if (wh->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(wh->url.data, v->data, wh->url.len);
    wh->url.data[wh->url.len] = '\0';

    ngx_str_set(&wh->method, "POST");

    p = ngx_http_capture_dest_param(dest, "method");

    if (p != NULL) {
        v = &p->values[0];

        if (p->nvalues != 1
            || !((v->len == 4 && ngx_strncmp(v->data, "POST", 4) == 0)
                 || (v->len == 3 && ngx_strncmp(v->data, "PUT", 3) == 0)
                 || (v->len == 5 && ngx_strncmp(v->data, "PATCH", 5) == 0)))
        {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid \"method\": use POST, PUT "
                                        "or PATCH");
            return NGX_CONF_ERROR;
        }

        wh->method.data = ngx_pnalloc(cf->pool, v->len + 1);
        if (wh->method.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(wh->method.data, v->data, v->len);
        wh->method.data[v->len] = '\0';
        wh->method.len = v->len;
    }

    wh->batch = 1;

    p = ngx_http_capture_dest_param(dest, "body");

    if (p != NULL) {
        v = &p->values[0];

        if (p->nvalues == 1 && v->len == 5
            && ngx_strncmp(v->data, "batch", 5) == 0)
        {
            wh->batch = 1;

        } else if (p->nvalues == 1 && v->len == 5
                   && ngx_strncmp(v->data, "event", 5) == 0)
        {
            wh->batch = 0;

        } else {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid \"body\": use \"batch\" "
                                        "(a JSON array of records) or "
                                        "\"event\" (one record a request)");
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_capture_webhook_headers(cf, dest, wh) != NGX_CONF_OK
        || ngx_http_capture_queue_conf(cf, dest, &wh->remote.queue)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!wh->batch) {
        wh->remote.queue.batch_size = 1;
    }

    wh->remote.send = ngx_http_capture_webhook_send;
    dest->data = wh;

    return NGX_CONF_OK;
}


/* headers "Name: value" ...; each a whole header line */

static char *
ngx_http_capture_webhook_headers(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_webhook_t *wh)
{
    u_char                    *colon, **h;
    ngx_str_t                 *v;
    ngx_uint_t                 i;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, "headers");
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    wh->headers = ngx_array_create(cf->pool, p->nvalues, sizeof(u_char *));
    if (wh->headers == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < p->nvalues; i++) {
        v = &p->values[i];
        colon = ngx_strlchr(v->data, v->data + v->len, ':');

        if (colon == NULL || colon == v->data
            || ngx_strlchr(v->data, v->data + v->len, '\r') != NULL
            || ngx_strlchr(v->data, v->data + v->len, '\n') != NULL)
        {
            /* the value is not quoted back: it may be a secret */
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid header %ui in \"headers\": "
                                        "\"Name: value\" is needed", i + 1);
            return NGX_CONF_ERROR;
        }

        h = ngx_array_push(wh->headers);
        if (h == NULL) {
            return NGX_CONF_ERROR;
        }

        *h = ngx_pnalloc(cf->pool, v->len + 1);
        if (*h == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(*h, v->data, v->len);
        (*h)[v->len] = '\0';
    }

    return NGX_CONF_OK;
}


/* each canonical record the destination takes is an item */

static ngx_int_t
ngx_http_capture_webhook_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a)
{
    ngx_http_capture_webhook_t  *wh = dest->data;

    return ngx_http_capture_records(&wh->remote.queue.filter,
                                    &wh->remote.queue.transform, a,
                                    ngx_http_capture_webhook_item, wh);
}


static ngx_int_t
ngx_http_capture_webhook_item(void *data, ngx_str_t *line)
{
    ngx_http_capture_webhook_t *wh = data;

    ngx_str_t                 none;
    ngx_http_capture_item_t  *item;

    ngx_str_null(&none);

    item = ngx_http_capture_queue_item(wh->remote.q, line->len, &none);
    if (item == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(item->data, line->data, line->len);

    ngx_http_capture_queue_push(wh->remote.q, item);

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_webhook_send(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy)
{
    cap_buf_t                    body;
    cap_pool_t                  *heap;
    ngx_http_capture_webhook_t  *wh = q->data;

    heap = ngx_http_capture_heap();

    if (cap_buf_init(&body, heap, b->bytes + b->nevents + 2, 0) != CAP_OK
        || (wh->batch && cap_buf_put(&body, '[') != CAP_OK)
        || ngx_http_capture_batch_join(b, &body) != NGX_OK
        || (wh->batch && cap_buf_put(&body, ']') != CAP_OK))
    {
        cap_free(heap, body.data);
        return NGX_ERROR;
    }

    if (ngx_http_capture_batch_post(b, easy, &body, 0, (char *) wh->url.data,
                                    wh->headers)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, (char *) wh->method.data);

    return NGX_OK;
}
