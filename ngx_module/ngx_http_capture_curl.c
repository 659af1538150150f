
/*
 * libcurl on nginx's event loop: one multi handle per worker, driven
 * through the multi socket API.  curl's sockets are opened here and
 * wrapped in nginx connections (so they count against
 * worker_connections and nginx polls them); curl's timeout is an nginx
 * timer.  No thread of our own, no call that blocks the loop.
 */


#include "ngx_http_capture_module.h"


typedef struct {
    CURLM                *multi;
    ngx_event_t           timer;
    ngx_connection_t      dummy;       /* the timer's ev->data */
    ngx_log_t            *log;
    ngx_connection_t    **conns;       /* by fd: the only source of truth */
    ngx_uint_t            nconns;
    ngx_uint_t            running;
    cap_pool_t            heap;
} ngx_http_capture_curl_t;


static curl_socket_t ngx_http_capture_curl_open(void *data,
    curlsocktype purpose, struct curl_sockaddr *addr);
static int ngx_http_capture_curl_close(void *data, curl_socket_t fd);
static int ngx_http_capture_curl_socket(CURL *easy, curl_socket_t fd,
    int what, void *data, void *socketp);
static int ngx_http_capture_curl_timer(CURLM *multi, long timeout_ms,
    void *data);
static void ngx_http_capture_curl_timeout(ngx_event_t *ev);
static void ngx_http_capture_curl_event(ngx_event_t *ev);
static void ngx_http_capture_curl_action(curl_socket_t fd, int mask);
static void ngx_http_capture_curl_drain(void);
static ngx_connection_t *ngx_http_capture_curl_wrap(curl_socket_t fd,
    ngx_uint_t owned);
static void ngx_http_capture_curl_unwrap(ngx_connection_t *c,
    ngx_uint_t close_event);
static size_t ngx_http_capture_curl_write(char *p, size_t size, size_t n,
    void *data);
static void *ngx_http_capture_heap_alloc(void *data, size_t size);
static void ngx_http_capture_heap_free(void *data, void *p);


static ngx_http_capture_curl_t  *ngx_http_capture_curl;


ngx_int_t
ngx_http_capture_curl_init(ngx_cycle_t *cycle)
{
    ngx_http_capture_curl_t  *cc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "capture: curl_global_init() failed");
        return NGX_ERROR;
    }

    cc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_capture_curl_t));
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->log = cycle->log;
    cc->nconns = cycle->files_n ? cycle->files_n : 65536;

    cc->conns = ngx_pcalloc(cycle->pool,
                            cc->nconns * sizeof(ngx_connection_t *));
    if (cc->conns == NULL) {
        return NGX_ERROR;
    }

    cc->multi = curl_multi_init();
    if (cc->multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "capture: curl_multi_init() failed");
        return NGX_ERROR;
    }

    curl_multi_setopt(cc->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_capture_curl_socket);
    curl_multi_setopt(cc->multi, CURLMOPT_SOCKETDATA, cc);
    curl_multi_setopt(cc->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_capture_curl_timer);
    curl_multi_setopt(cc->multi, CURLMOPT_TIMERDATA, cc);

    cc->dummy.fd = (ngx_socket_t) -1;
    cc->timer.data = &cc->dummy;
    cc->timer.handler = ngx_http_capture_curl_timeout;
    cc->timer.log = cycle->log;

    cc->heap.alloc = ngx_http_capture_heap_alloc;
    cc->heap.free = ngx_http_capture_heap_free;
    cc->heap.data = cycle->log;

    ngx_http_capture_curl = cc;

    return NGX_OK;
}


/* after the destinations cancelled their transfers */

void
ngx_http_capture_curl_exit(ngx_cycle_t *cycle)
{
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    if (cc == NULL) {
        return;
    }

    if (cc->timer.timer_set) {
        ngx_del_timer(&cc->timer);
    }

    /* closes the cached connections through the close callback */
    curl_multi_cleanup(cc->multi);
    cc->multi = NULL;

    curl_global_cleanup();

    ngx_http_capture_curl = NULL;
}


cap_pool_t *
ngx_http_capture_heap(void)
{
    return &ngx_http_capture_curl->heap;
}


/* a new easy handle with what every transfer needs */

CURL *
ngx_http_capture_curl_easy(ngx_http_capture_xfer_t *x)
{
    CURL  *easy;

    easy = curl_easy_init();
    if (easy == NULL) {
        return NULL;
    }

    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                     ngx_http_capture_curl_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION,
                     ngx_http_capture_curl_open);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, ngx_http_capture_curl);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
                     ngx_http_capture_curl_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, ngx_http_capture_curl);

    /* redirects are not followed: a 3xx is an answer like any other */
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);

    x->easy = easy;
    x->error[0] = '\0';
    x->answer_len = 0;
    x->status = 0;
    x->retry_after = 0;

    return easy;
}


ngx_int_t
ngx_http_capture_curl_start(ngx_http_capture_xfer_t *x)
{
    CURLMcode                 rc;
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    /* counted first: adding the handle arms the timer */
    cc->running++;

    rc = curl_multi_add_handle(cc->multi, x->easy);

    if (rc != CURLM_OK) {
        cc->running--;
        ngx_log_error(NGX_LOG_ALERT, x->log, 0,
                      "capture: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    x->running = 1;

    return NGX_OK;
}


/* a transfer given up: its done handler is not called */

void
ngx_http_capture_curl_cancel(ngx_http_capture_xfer_t *x)
{
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    if (x->easy == NULL) {
        return;
    }

    if (x->running) {
        curl_multi_remove_handle(cc->multi, x->easy);
        x->running = 0;
        cc->running--;
    }

    curl_easy_cleanup(x->easy);
    x->easy = NULL;
}


static curl_socket_t
ngx_http_capture_curl_open(void *data, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
    ngx_socket_t              fd;
    ngx_http_capture_curl_t  *cc = data;

    fd = ngx_socket(addr->family, addr->socktype, addr->protocol);

    if (fd == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, cc->log, ngx_socket_errno,
                      ngx_socket_n " failed");
        return CURL_SOCKET_BAD;
    }

    /*
     * Without a free connection this transfer fails (and is retried);
     * the others go on.
     */

    if (ngx_http_capture_curl_wrap(fd, 1) == NULL) {
        ngx_close_socket(fd);
        return CURL_SOCKET_BAD;
    }

    return fd;
}


static int
ngx_http_capture_curl_close(void *data, curl_socket_t fd)
{
    ngx_connection_t         *c;
    ngx_http_capture_curl_t  *cc = data;

    if (fd >= 0 && (ngx_uint_t) fd < cc->nconns) {
        c = cc->conns[fd];

        if (c != NULL) {
            /* the events go away with the close */
            ngx_http_capture_curl_unwrap(c, 1);
        }
    }

    if (ngx_close_socket(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cc->log, ngx_socket_errno,
                      ngx_close_socket_n " failed");
    }

    return 0;
}


/* curl tells which events it wants on a socket */

static int
ngx_http_capture_curl_socket(CURL *easy, curl_socket_t fd, int what,
    void *data, void *socketp)
{
    ngx_event_t              *rev, *wev;
    ngx_connection_t         *c;
    ngx_http_capture_curl_t  *cc = data;

    if (fd < 0 || (ngx_uint_t) fd >= cc->nconns) {
        return 0;
    }

    c = cc->conns[fd];

    if (what == CURL_POLL_REMOVE) {
        if (c == NULL) {
            return 0;
        }

        if (c->data == NULL) {
            /* not ours (the resolver's socketpair): curl closes it */
            ngx_http_capture_curl_unwrap(c, 1);
            return 0;
        }

        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_http_capture_curl_wrap(fd, 0);

        if (c == NULL) {
            /* returning -1 would abort every transfer */
            return 0;
        }
    }

    rev = c->read;
    wev = c->write;

    /* level-triggered: curl may leave data in the socket */

    if (what & CURL_POLL_IN) {
        if (!rev->active && ngx_add_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return 0;
        }

    } else if (rev->active) {
        ngx_del_event(rev, NGX_READ_EVENT, 0);
    }

    if (what & CURL_POLL_OUT) {
        if (!wev->active && ngx_add_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK)
        {
            return 0;
        }

    } else if (wev->active) {
        ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return 0;
}


/* never calls back into curl: it only arms an nginx timer */

static int
ngx_http_capture_curl_timer(CURLM *multi, long timeout_ms, void *data)
{
    ngx_http_capture_curl_t  *cc = data;

    if (cc->timer.timer_set) {
        ngx_del_timer(&cc->timer);
    }

    if (timeout_ms < 0) {
        return 0;
    }

    /* a worker that is exiting waits for transfers, not for idle curl */
    cc->timer.cancelable = (cc->running == 0);

    ngx_add_timer(&cc->timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_capture_curl_timeout(ngx_event_t *ev)
{
    ngx_http_capture_curl_action(CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_capture_curl_event(ngx_event_t *ev)
{
    int                mask;
    ngx_connection_t  *c;

    c = ev->data;

    mask = ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN;

    if (ev->error) {
        mask |= CURL_CSELECT_ERR;
    }

    /* c may be gone after the call: its fd is taken first */

    ngx_http_capture_curl_action(c->fd, mask);
}


static void
ngx_http_capture_curl_action(curl_socket_t fd, int mask)
{
    int                       running;
    CURLMcode                 rc;
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    if (cc == NULL || cc->multi == NULL) {
        return;
    }

    rc = curl_multi_socket_action(cc->multi, fd, mask, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cc->log, 0,
                      "capture: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    ngx_http_capture_curl_drain();
}


/* finished transfers: their done handlers may start new ones */

static void
ngx_http_capture_curl_drain(void)
{
    int                       left;
    long                      status;
    CURL                     *easy;
    CURLMsg                  *msg;
    curl_off_t                retry;
    ngx_http_capture_xfer_t  *x;
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    while ((msg = curl_multi_info_read(cc->multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        x = NULL;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);

        status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

        retry = 0;
        curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry);

        x->result = msg->data.result;
        x->status = status;
        x->retry_after = (retry > 0 && retry < 86400)
                         ? (ngx_msec_t) retry * 1000 : 0;

        curl_multi_remove_handle(cc->multi, easy);
        curl_easy_cleanup(easy);
        x->easy = NULL;
        x->running = 0;
        cc->running--;

        x->done(x);
    }
}


static ngx_connection_t *
ngx_http_capture_curl_wrap(curl_socket_t fd, ngx_uint_t owned)
{
    ngx_connection_t         *c;
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    if ((ngx_uint_t) fd >= cc->nconns) {
        ngx_log_error(NGX_LOG_ALERT, cc->log, 0,
                      "capture: socket %d over the limit of %ui files",
                      fd, cc->nconns);
        return NULL;
    }

    c = ngx_get_connection(fd, cc->log);
    if (c == NULL) {
        return NULL;
    }

    /* c->data marks the sockets curl opened through us */
    c->data = owned ? cc : NULL;

    c->read->handler = ngx_http_capture_curl_event;
    c->write->handler = ngx_http_capture_curl_event;
    c->read->log = cc->log;
    c->write->log = cc->log;
    c->log = cc->log;

    cc->conns[fd] = c;

    return c;
}


static void
ngx_http_capture_curl_unwrap(ngx_connection_t *c, ngx_uint_t close_event)
{
    ngx_http_capture_curl_t  *cc = ngx_http_capture_curl;

    if (c->read->active || c->read->disabled) {
        ngx_del_event(c->read, NGX_READ_EVENT,
                      close_event ? NGX_CLOSE_EVENT : 0);
    }

    if (c->write->active || c->write->disabled) {
        ngx_del_event(c->write, NGX_WRITE_EVENT,
                      close_event ? NGX_CLOSE_EVENT : 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    cc->conns[c->fd] = NULL;

    /* the fd is curl's to close */
    c->fd = (ngx_socket_t) -1;

    ngx_free_connection(c);
}


static size_t
ngx_http_capture_curl_write(char *p, size_t size, size_t n, void *data)
{
    size_t                    len;
    ngx_http_capture_xfer_t  *x = data;

    len = size * n;

    /* the answer is kept only as far as a log line shows it */

    if (x->answer_len < sizeof(x->answer)) {
        n = ngx_min(len, sizeof(x->answer) - x->answer_len);
        ngx_memcpy(x->answer + x->answer_len, p, n);
        x->answer_len += n;
    }

    return len;
}


static void *
ngx_http_capture_heap_alloc(void *data, size_t size)
{
    return ngx_alloc(size, data);
}


static void
ngx_http_capture_heap_free(void *data, void *p)
{
    ngx_free(p);
}
