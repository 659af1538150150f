
/*
 * Live status: counters in one shared memory zone, summed over workers
 * by atomic adds and kept across reloads (the destinations' by name),
 * and the capture_status location that shows them, as JSON or in
 * Prometheus' text exposition format 0.0.4.
 */


#include "ngx_http_capture_module.h"


#define NGX_HTTP_CAPTURE_STATUS_SIZE       (256 * 1024)
#define NGX_HTTP_CAPTURE_STATUS_MAX        (64 * 1024 * 1024)
#define NGX_HTTP_CAPTURE_ERROR_LEN         200

#define NGX_HTTP_CAPTURE_ENDPOINTS         5     /* the last: other */
#define NGX_HTTP_CAPTURE_ENDPOINT_SEGMENT  3
#define NGX_HTTP_CAPTURE_OLDEST_SLOTS      16    /* workers, modulo */
#define NGX_HTTP_CAPTURE_CODES             8     /* the last: other */
#define NGX_HTTP_CAPTURE_SIZE_BUCKETS      10    /* the last: +Inf */
#define NGX_HTTP_CAPTURE_LATENCY_BUCKETS   13    /* the last: +Inf */

#define NGX_HTTP_CAPTURE_FORMAT_JSON       0
#define NGX_HTTP_CAPTURE_FORMAT_PROM       1


/* one destination's counters, found by its name after a reload */
typedef struct {
    ngx_queue_t                       queue;     /* in sh->dests */
    ngx_str_t                         name;      /* follows the node */

    ngx_atomic_t                      stats[NGX_HTTP_CAPTURE_STAT_LAST];
    ngx_atomic_t                      size[NGX_HTTP_CAPTURE_SIZE_BUCKETS];
    ngx_atomic_t                      size_sum;
    ngx_atomic_t                      latency[NGX_HTTP_CAPTURE_LATENCY_BUCKETS];
    ngx_atomic_t                      latency_sum;

    /*
     * With the spool: per worker (ngx_worker, modulo the slots), since
     * when (ms since the epoch) its oldest undelivered event waits; 0:
     * none.  The status shows the oldest of them.
     */
    ngx_atomic_t                      oldest[NGX_HTTP_CAPTURE_OLDEST_SLOTS];

    /* under the pool's mutex */
    time_t                            error_time;     /* 0: none yet */
    size_t                            error_len;
    u_char                            error[NGX_HTTP_CAPTURE_ERROR_LEN];
} ngx_http_capture_status_node_t;


typedef struct {
    ngx_atomic_t                      requests[NGX_HTTP_CAPTURE_ENDPOINTS]
                                              [NGX_HTTP_CAPTURE_CODES];
    ngx_atomic_t                      events;
    ngx_atomic_t                      rejected[CAP_E_LAST];
    ngx_atomic_t                      spool[NGX_HTTP_CAPTURE_SPOOL_STAT_LAST];
    ngx_atomic_t                      spool_bytes;   /* the last seen */
    ngx_atomic_t                      spool_appended; /* by all workers */

    /* the master's alone: only the zone's init walks and extends it */
    ngx_queue_t                       dests;
} ngx_http_capture_status_sh_t;


/* a cycle's view of the zone: shm_zone->data */
typedef struct {
    ngx_http_capture_status_sh_t     *sh;
    ngx_slab_pool_t                  *shpool;
    ngx_http_capture_main_conf_t     *cmcf;
    ngx_pool_t                       *pool;
    ngx_http_capture_status_node_t  **nodes;     /* by dest->index */
    ngx_uint_t                        nnodes;
} ngx_http_capture_status_ctx_t;


/* what one answer shows: read once, then written out */
typedef struct {
    ngx_str_t                         name;
    ngx_atomic_int_t                  stats[NGX_HTTP_CAPTURE_STAT_LAST];

    /* cumulative: the last bucket is the count */
    ngx_atomic_uint_t                 size[NGX_HTTP_CAPTURE_SIZE_BUCKETS];
    ngx_atomic_uint_t                 size_sum;
    ngx_atomic_uint_t                 latency[NGX_HTTP_CAPTURE_LATENCY_BUCKETS];
    ngx_atomic_uint_t                 latency_sum;
    ngx_msec_t                        oldest;       /* its age, ms */

    time_t                            error_time;
    size_t                            error_len;
    u_char                            error[NGX_HTTP_CAPTURE_ERROR_LEN];
} ngx_http_capture_status_dest_t;


typedef struct {
    ngx_atomic_uint_t                 requests[NGX_HTTP_CAPTURE_ENDPOINTS]
                                              [NGX_HTTP_CAPTURE_CODES];
    ngx_atomic_uint_t                 events;
    ngx_atomic_uint_t                 rejected[CAP_E_LAST];
    ngx_atomic_uint_t                 spool[NGX_HTTP_CAPTURE_SPOOL_STAT_LAST];
    ngx_atomic_uint_t                 spool_bytes;
    ngx_uint_t                        spooled;      /* capture_spool set */
    ngx_http_capture_status_dest_t   *dests;
    ngx_uint_t                        ndests;
} ngx_http_capture_status_snap_t;


/* a per-destination counter or gauge of ngx_http_capture_stat_t */
typedef struct {
    char                             *json;
    char                             *prom;
    char                             *type;
    char                             *help;
} ngx_http_capture_status_metric_t;


static ngx_int_t ngx_http_capture_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_capture_status_map(ngx_shm_zone_t *shm_zone,
    ngx_http_capture_status_ctx_t *ctx);
static ngx_http_capture_status_node_t *ngx_http_capture_status_node(
    ngx_http_capture_status_ctx_t *ctx, ngx_str_t *name);
static ngx_http_capture_status_ctx_t *ngx_http_capture_status_ctx(void);
static ngx_http_capture_status_node_t *ngx_http_capture_status_dest_node(
    ngx_http_capture_dest_t *dest, ngx_http_capture_status_ctx_t **pctx);
static size_t ngx_http_capture_status_clean(u_char *dst, u_char *src,
    size_t len, size_t max);
static size_t ngx_http_capture_status_utf8(u_char *p, u_char *last);
static ngx_int_t ngx_http_capture_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_capture_status_format(ngx_http_request_t *r);
static ngx_uint_t ngx_http_capture_status_accepts(ngx_str_t *value);
static ngx_int_t ngx_http_capture_status_snapshot(ngx_http_request_t *r,
    ngx_http_capture_status_ctx_t *ctx, ngx_http_capture_status_snap_t *s);
static u_char *ngx_http_capture_status_json(u_char *p, u_char *last,
    ngx_http_capture_status_snap_t *s);
static u_char *ngx_http_capture_status_json_histogram(u_char *p,
    u_char *last, char *key, ngx_atomic_uint_t *buckets, ngx_str_t *le,
    ngx_uint_t n, ngx_atomic_uint_t sum);
static u_char *ngx_http_capture_status_prom(u_char *p, u_char *last,
    ngx_http_capture_status_snap_t *s);
static u_char *ngx_http_capture_status_prom_head(u_char *p, u_char *last,
    char *name, char *type, char *help);
static u_char *ngx_http_capture_status_prom_dest(u_char *p, u_char *last,
    char *name, char *suffix, ngx_str_t *dest);
static u_char *ngx_http_capture_status_prom_histogram(u_char *p,
    u_char *last, char *name, ngx_http_capture_status_dest_t *d,
    ngx_atomic_uint_t *buckets, ngx_str_t *le, ngx_uint_t n,
    ngx_atomic_uint_t sum, ngx_uint_t msec);
static u_char *ngx_http_capture_status_escape(u_char *p, u_char *last,
    u_char *src, size_t len, ngx_uint_t json);


static ngx_str_t  ngx_http_capture_status_zone = ngx_string("capture_status");

static ngx_str_t  ngx_http_capture_status_json_type =
    ngx_string("application/json");
static ngx_str_t  ngx_http_capture_status_prom_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");
static ngx_str_t  ngx_http_capture_status_text_type =
    ngx_string("text/plain; charset=utf-8");


/* the spool's counters in Prometheus' terms, by their enum */
static ngx_http_capture_status_metric_t  ngx_http_capture_spool_metrics[] = {
    { "records", "capture_spool_records_total", "counter",
      "Records appended to the spool (one per accepted request)." },
    { "events", "capture_spool_events_total", "counter",
      "Events in the records appended." },
    { "rejected_requests", "capture_spool_rejected_requests_total",
      "counter", "Requests answered 503: the spool was full." },
    { "syncs", "capture_spool_syncs_total", "counter",
      "fdatasync() calls of the spool." },
    { "sync_ms", "capture_spool_sync_milliseconds_total", "counter",
      "Time spent in the spool's fdatasync() calls." },
    { "replayed_events", "capture_spool_replayed_events_total", "counter",
      "Events read back from logs of processes that are gone." },
    { "checksum_failures", "capture_spool_checksum_failures_total",
      "counter", "Corrupt records skipped when reading the spool." },
    { "torn_tails", "capture_spool_torn_tails_total", "counter",
      "Segments found ending inside a record." },
    { "fell_behind", "capture_spool_fell_behind_total", "counter",
      "Times a destination's queue was full and it went on from disk." },
    { "dropped_events", "capture_spool_dropped_events_total", "counter",
      "Events dropped with the oldest segments of a full spool." }
};


static ngx_str_t  ngx_http_capture_status_endpoints[] = {
    ngx_string("events"),               /* CAP_ENDPOINT_EVENTS */
    ngx_string("engage"),               /* CAP_ENDPOINT_ENGAGE */
    ngx_string("recordings"),           /* CAP_ENDPOINT_RECORDINGS */
    ngx_string("segment"),              /* Segment-spec, v1/... */
    ngx_string("other")
};


static ngx_uint_t  ngx_http_capture_status_codes[] = {
    200, 204, 400, 401, 405, 413, 503
};

static ngx_str_t  ngx_http_capture_status_code_names[] = {
    ngx_string("200"),
    ngx_string("204"),
    ngx_string("400"),
    ngx_string("401"),
    ngx_string("405"),
    ngx_string("413"),
    ngx_string("503"),
    ngx_string("other")
};


/* upper bounds: events per request, and milliseconds */

static ngx_uint_t  ngx_http_capture_status_sizes[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000
};

static ngx_str_t  ngx_http_capture_status_size_le[] = {
    ngx_string("1"),
    ngx_string("5"),
    ngx_string("10"),
    ngx_string("25"),
    ngx_string("50"),
    ngx_string("100"),
    ngx_string("250"),
    ngx_string("500"),
    ngx_string("1000"),
    ngx_string("+Inf")
};

static ngx_msec_t  ngx_http_capture_status_latencies[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};

static ngx_str_t  ngx_http_capture_status_latency_ms[] = {
    ngx_string("5"),
    ngx_string("10"),
    ngx_string("25"),
    ngx_string("50"),
    ngx_string("100"),
    ngx_string("250"),
    ngx_string("500"),
    ngx_string("1000"),
    ngx_string("2500"),
    ngx_string("5000"),
    ngx_string("10000"),
    ngx_string("30000"),
    ngx_string("+Inf")
};

static ngx_str_t  ngx_http_capture_status_latency_s[] = {
    ngx_string("0.005"),
    ngx_string("0.01"),
    ngx_string("0.025"),
    ngx_string("0.05"),
    ngx_string("0.1"),
    ngx_string("0.25"),
    ngx_string("0.5"),
    ngx_string("1"),
    ngx_string("2.5"),
    ngx_string("5"),
    ngx_string("10"),
    ngx_string("30"),
    ngx_string("+Inf")
};


/* in the order of ngx_http_capture_stat_t */

static ngx_http_capture_status_metric_t  ngx_http_capture_status_metrics[] = {

    { "queued_events", "capture_destination_queued_events", "gauge",
      "Events held for the destination: waiting, in flight or between "
      "retries." },

    { "queued_bytes", "capture_destination_queued_bytes", "gauge",
      "Bytes of the events held for the destination." },

    { "in_flight", "capture_destination_in_flight_requests", "gauge",
      "Requests to the destination under way." },

    { "delivered", "capture_destination_delivered_events_total", "counter",
      "Events the destination answered 2xx to." },

    { "retried", "capture_destination_retried_events_total", "counter",
      "Events of failed attempts, to be retried." },

    { "refused", "capture_destination_refused_events_total", "counter",
      "Events dropped: the destination refused them for good." },

    { "overflow", "capture_destination_overflow_events_total", "counter",
      "Events dropped from a full queue (overflow drop_oldest)." },

    { "lost", "capture_destination_lost_events_total", "counter",
      "Events given up when a worker exited." },

    { "rejected_requests", "capture_destination_rejected_requests_total",
      "counter",
      "Capture requests answered 503: the destination had no room." }
};


ngx_int_t
ngx_http_capture_status_init(ngx_conf_t *cf)
{
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_status_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* the destinations are known by the time the zone's init runs */

    ctx->cmcf = ngx_http_conf_get_module_main_conf(cf,
                                                   ngx_http_capture_module);
    ctx->pool = cf->pool;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_capture_status_zone,
                                     NGX_HTTP_CAPTURE_STATUS_SIZE,
                                     &ngx_http_capture_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"",
                           &ngx_http_capture_status_zone);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_capture_status_init_zone;
    shm_zone->data = ctx;

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_capture_status_ctx_t  *octx = data;

    size_t                          len;
    ngx_slab_pool_t                *shpool;
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ctx->shpool = shpool;

    if (octx != NULL) {
        /* a reload: the same memory, the counters so far */
        ctx->sh = octx->sh;
        return ngx_http_capture_status_map(shm_zone, ctx);
    }

    if (shm_zone->shm.exists) {
        ctx->sh = shpool->data;
        return ngx_http_capture_status_map(shm_zone, ctx);
    }

    ctx->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_capture_status_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&ctx->sh->dests);

    shpool->data = ctx->sh;

    len = sizeof(" in capture_status zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in capture_status zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is told once per destination, below */
    shpool->log_nomem = 0;

    return ngx_http_capture_status_map(shm_zone, ctx);
}


/*
 * The counters of each destination of the configuration, by name: those
 * of the previous configurations are kept (their workers may still be
 * draining into them), a new name gets fresh ones.
 */

static ngx_int_t
ngx_http_capture_status_map(ngx_shm_zone_t *shm_zone,
    ngx_http_capture_status_ctx_t *ctx)
{
    ngx_uint_t                 i, n;
    ngx_http_capture_dest_t  **dest;

    n = ctx->cmcf->dests.nelts;
    dest = ctx->cmcf->dests.elts;

    if (n == 0) {
        return NGX_OK;
    }

    ctx->nodes = ngx_pcalloc(ctx->pool,
                             n * sizeof(ngx_http_capture_status_node_t *));
    if (ctx->nodes == NULL) {
        return NGX_ERROR;
    }

    ctx->nnodes = n;

    for (i = 0; i < n; i++) {
        ctx->nodes[i] = ngx_http_capture_status_node(ctx, &dest[i]->name);

        if (ctx->nodes[i] == NULL) {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "capture: zone \"%V\" is full, destination \"%V\" "
                          "is not counted until nginx restarts",
                          &shm_zone->shm.name, &dest[i]->name);
        }
    }

    return NGX_OK;
}


static ngx_http_capture_status_node_t *
ngx_http_capture_status_node(ngx_http_capture_status_ctx_t *ctx,
    ngx_str_t *name)
{
    ngx_queue_t                     *q;
    ngx_http_capture_status_node_t  *node;

    for (q = ngx_queue_head(&ctx->sh->dests);
         q != ngx_queue_sentinel(&ctx->sh->dests);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_capture_status_node_t, queue);

        if (node->name.len == name->len
            && ngx_strncmp(node->name.data, name->data, name->len) == 0)
        {
            return node;
        }
    }

    node = ngx_slab_calloc(ctx->shpool,
                           sizeof(ngx_http_capture_status_node_t)
                           + name->len);
    if (node == NULL) {
        return NULL;
    }

    node->name.data = (u_char *) node + sizeof(ngx_http_capture_status_node_t);
    node->name.len = name->len;
    ngx_memcpy(node->name.data, name->data, name->len);

    ngx_queue_insert_tail(&ctx->sh->dests, &node->queue);

    return node;
}


/*
 * The zone of the process's cycle: a worker's never changes, a single
 * process's does on reload.
 */

static ngx_cycle_t                    *ngx_http_capture_status_cycle;
static ngx_http_capture_status_ctx_t  *ngx_http_capture_status_cur;


static ngx_http_capture_status_ctx_t *
ngx_http_capture_status_ctx(void)
{
    ngx_uint_t        i;
    ngx_cycle_t      *cycle;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    cycle = (ngx_cycle_t *) ngx_cycle;

    if (ngx_http_capture_status_cycle == cycle) {
        return ngx_http_capture_status_cur;
    }

    ngx_http_capture_status_cur = NULL;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_capture_module
            && shm_zone[i].shm.name.len == ngx_http_capture_status_zone.len
            && ngx_strncmp(shm_zone[i].shm.name.data,
                           ngx_http_capture_status_zone.data,
                           ngx_http_capture_status_zone.len)
               == 0)
        {
            ngx_http_capture_status_cur = shm_zone[i].data;
            break;
        }
    }

    if (ngx_http_capture_status_cur != NULL
        && ngx_http_capture_status_cur->sh == NULL)
    {
        ngx_http_capture_status_cur = NULL;
    }

    ngx_http_capture_status_cycle = cycle;

    return ngx_http_capture_status_cur;
}


static ngx_http_capture_status_node_t *
ngx_http_capture_status_dest_node(ngx_http_capture_dest_t *dest,
    ngx_http_capture_status_ctx_t **pctx)
{
    ngx_http_capture_dest_t        **d;
    ngx_http_capture_status_ctx_t   *ctx;

    ctx = ngx_http_capture_status_ctx();

    if (ctx == NULL || dest->index >= ctx->nnodes) {
        return NULL;
    }

    /* a destination of an older cycle (a single process reloaded) */

    d = ctx->cmcf->dests.elts;

    if (d[dest->index] != dest) {
        return NULL;
    }

    if (pctx != NULL) {
        *pctx = ctx;
    }

    return ctx->nodes[dest->index];
}


void
ngx_http_capture_stat_request(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t accepted)
{
    ngx_uint_t                      e, c;
    ngx_http_capture_ctx_t         *rctx;
    ngx_http_capture_status_sh_t   *sh;
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = ngx_http_capture_status_ctx();
    if (ctx == NULL) {
        return;
    }

    sh = ctx->sh;
    rctx = ngx_http_get_module_ctx(r, ngx_http_capture_module);

    e = NGX_HTTP_CAPTURE_ENDPOINTS - 1;

    if (rctx != NULL && rctx->segment) {
        e = NGX_HTTP_CAPTURE_ENDPOINT_SEGMENT;

    } else if (rctx != NULL
               && (ngx_uint_t) rctx->endpoint
                  < NGX_HTTP_CAPTURE_ENDPOINT_SEGMENT)
    {
        e = (ngx_uint_t) rctx->endpoint;
    }

    for (c = 0; c < NGX_HTTP_CAPTURE_CODES - 1; c++) {
        if (ngx_http_capture_status_codes[c] == status) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->requests[e][c], 1);

    if (accepted) {
        (void) ngx_atomic_fetch_add(&sh->events, (ngx_atomic_int_t) accepted);
    }

    if (rctx != NULL && rctx->error != CAP_E_NONE
        && (ngx_uint_t) rctx->error < CAP_E_LAST)
    {
        (void) ngx_atomic_fetch_add(&sh->rejected[rctx->error], 1);
    }
}


void
ngx_http_capture_stat_dest(ngx_http_capture_dest_t *dest,
    ngx_http_capture_stat_t counter, ngx_int_t delta)
{
    ngx_http_capture_status_node_t  *node;

    if ((ngx_uint_t) counter >= NGX_HTTP_CAPTURE_STAT_LAST) {
        return;
    }

    node = ngx_http_capture_status_dest_node(dest, NULL);

    if (node != NULL) {
        (void) ngx_atomic_fetch_add(&node->stats[counter],
                                    (ngx_atomic_int_t) delta);
    }
}


void
ngx_http_capture_stat_batch(ngx_http_capture_dest_t *dest,
    ngx_uint_t nevents, ngx_msec_t latency)
{
    ngx_uint_t                       i;
    ngx_http_capture_status_node_t  *node;

    node = ngx_http_capture_status_dest_node(dest, NULL);
    if (node == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_CAPTURE_SIZE_BUCKETS - 1; i++) {
        if (nevents <= ngx_http_capture_status_sizes[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&node->size[i], 1);
    (void) ngx_atomic_fetch_add(&node->size_sum, (ngx_atomic_int_t) nevents);

    for (i = 0; i < NGX_HTTP_CAPTURE_LATENCY_BUCKETS - 1; i++) {
        if (latency <= ngx_http_capture_status_latencies[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&node->latency[i], 1);
    (void) ngx_atomic_fetch_add(&node->latency_sum,
                                (ngx_atomic_int_t) latency);
}


/* this worker's oldest undelivered event of a destination, or 0 */

void
ngx_http_capture_stat_oldest(ngx_http_capture_dest_t *dest, uint64_t since)
{
    ngx_http_capture_status_node_t  *node;

    node = ngx_http_capture_status_dest_node(dest, NULL);
    if (node == NULL) {
        return;
    }

    node->oldest[ngx_worker % NGX_HTTP_CAPTURE_OLDEST_SLOTS] =
                                                (ngx_atomic_uint_t) since;
}


void
ngx_http_capture_stat_spool(ngx_http_capture_spool_stat_t counter,
    ngx_int_t delta)
{
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = ngx_http_capture_status_ctx();
    if (ctx == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&ctx->sh->spool[counter],
                                (ngx_atomic_int_t) delta);
}


void
ngx_http_capture_stat_spool_bytes(uint64_t bytes)
{
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = ngx_http_capture_status_ctx();
    if (ctx == NULL) {
        return;
    }

    ctx->sh->spool_bytes = (ngx_atomic_uint_t) bytes;
}


/*
 * The bytes every worker has appended to the spool, ever: each worker
 * adds its own and measures the directory against it (max_size).
 */

ngx_atomic_t *
ngx_http_capture_stat_spool_appended(void)
{
    ngx_http_capture_status_ctx_t  *ctx;

    ctx = ngx_http_capture_status_ctx();
    if (ctx == NULL) {
        return NULL;
    }

    return &ctx->sh->spool_appended;
}


void
ngx_http_capture_stat_error(ngx_http_capture_dest_t *dest,
    const char *fmt, ...)
{
    u_char                          *p;
    u_char                           buf[NGX_HTTP_CAPTURE_ERROR_LEN * 2];
    u_char                           text[NGX_HTTP_CAPTURE_ERROR_LEN];
    size_t                           len;
    va_list                          args;
    ngx_http_capture_status_ctx_t   *ctx;
    ngx_http_capture_status_node_t  *node;

    node = ngx_http_capture_status_dest_node(dest, &ctx);
    if (node == NULL) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    len = ngx_http_capture_status_clean(text, buf, p - buf,
                                        NGX_HTTP_CAPTURE_ERROR_LEN);

    /* the text and its time change together: no reader sees half */

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_memcpy(node->error, text, len);
    node->error_len = len;
    node->error_time = ngx_time();

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * Valid UTF-8 only, no control characters (a space instead), at most
 * "max" bytes cut between characters and then ending in "...": the
 * text goes into JSON as it is.
 */

static size_t
ngx_http_capture_status_clean(u_char *dst, u_char *src, size_t len,
    size_t max)
{
    u_char  *p, *last, *d, *end;
    size_t   n;

    p = src;
    last = src + len;
    d = dst;
    end = dst + max;

    while (p < last) {
        n = (*p < 0x80) ? 1 : ngx_http_capture_status_utf8(p, last);

        if ((size_t) (end - d) < (n ? n : 1)) {
            break;
        }

        if (n == 0) {
            *d++ = '?';
            p++;
            continue;
        }

        if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
            *d++ = ' ';
            p++;
            continue;
        }

        d = ngx_cpymem(d, p, n);
        p += n;
    }

    if (p == last) {
        return d - dst;
    }

    /* cut short: room for "...", between characters */

    while (d > dst && (size_t) (end - d) < 3) {
        do {
            d--;
        } while (d > dst && (*d & 0xc0) == 0x80);
    }

    d = ngx_cpymem(d, "...", 3);

    return d - dst;
}


/* the length of the UTF-8 sequence at p (not ASCII), 0 if invalid */

static size_t
ngx_http_capture_status_utf8(u_char *p, u_char *last)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = *p;
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;               /* no surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;               /* at most U+10FFFF */
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


char *
ngx_http_capture_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_capture_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_capture_status_handler;

    return NGX_CONF_OK;
}


/* not counted in the request counters: those are capture's */

static ngx_int_t
ngx_http_capture_status_handler(ngx_http_request_t *r)
{
    u_char                          *p;
    size_t                           size;
    ngx_int_t                        rc, format;
    ngx_uint_t                       i;
    ngx_buf_t                       *b;
    ngx_str_t                       *type;
    ngx_table_elt_t                 *h;
    ngx_http_capture_status_ctx_t   *ctx;
    ngx_http_capture_status_snap_t   snap;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        static u_char  text[] = "method not allowed\n";

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_capture_answer(r, NGX_HTTP_NOT_ALLOWED,
                                       &ngx_http_capture_status_text_type,
                                       text, sizeof(text) - 1);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    format = ngx_http_capture_status_format(r);

    if (format == NGX_ERROR) {
        static u_char  text[] = "unknown format: json or prometheus\n";

        return ngx_http_capture_answer(r, NGX_HTTP_BAD_REQUEST,
                                       &ngx_http_capture_status_text_type,
                                       text, sizeof(text) - 1);
    }

    ctx = ngx_http_capture_status_ctx();

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "capture: no \"%V\" zone",
                      &ngx_http_capture_status_zone);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_capture_status_snapshot(r, ctx, &snap) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a guess; a buffer found too small is doubled */

    size = 8192;

    for (i = 0; i < snap.ndests; i++) {
        size += 4096 + 256 * snap.dests[i].name.len;
    }

    for ( ;; ) {
        b = ngx_create_temp_buf(r->pool, size);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (format == NGX_HTTP_CAPTURE_FORMAT_PROM) {
            p = ngx_http_capture_status_prom(b->pos, b->end, &snap);

        } else {
            p = ngx_http_capture_status_json(b->pos, b->end, &snap);
        }

        if (p < b->end) {
            break;
        }

        (void) ngx_pfree(r->pool, b->start);

        size *= 2;

        if (size > NGX_HTTP_CAPTURE_STATUS_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "capture: the status is over %uz bytes",
                          (size_t) NGX_HTTP_CAPTURE_STATUS_MAX);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    type = (format == NGX_HTTP_CAPTURE_FORMAT_PROM)
           ? &ngx_http_capture_status_prom_type
           : &ngx_http_capture_status_json_type;

    return ngx_http_capture_answer(r, NGX_HTTP_OK, type, b->pos,
                                   p - b->pos);
}


/*
 * "format=prometheus" or "format=json" in the query; else Prometheus'
 * text format if the Accept header asks for it (as Prometheus does:
 * "text/plain;version=0.0.4;q=0.5" among others), else JSON.
 */

static ngx_int_t
ngx_http_capture_status_format(ngx_http_request_t *r)
{
    ngx_str_t         value;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {

        if (value.len == 10
            && ngx_strncasecmp(value.data, (u_char *) "prometheus", 10) == 0)
        {
            return NGX_HTTP_CAPTURE_FORMAT_PROM;
        }

        if (value.len == 4
            && ngx_strncasecmp(value.data, (u_char *) "json", 4) == 0)
        {
            return NGX_HTTP_CAPTURE_FORMAT_JSON;
        }

        return NGX_ERROR;
    }

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

        if (h[i].key.len == sizeof("Accept") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               h[i].key.len) == 0
            && ngx_http_capture_status_accepts(&h[i].value))
        {
            return NGX_HTTP_CAPTURE_FORMAT_PROM;
        }
    }

    return NGX_HTTP_CAPTURE_FORMAT_JSON;
}


/* a "text/plain" media range with the parameter "version=0.0.4" */

static ngx_uint_t
ngx_http_capture_status_accepts(ngx_str_t *value)
{
    u_char  *p, *last;

    p = value->data;
    last = value->data + value->len;

    for ( ;; ) {
        p = ngx_strlcasestrn(p, last, (u_char *) "text/plain", 10 - 1);

        if (p == NULL) {
            return 0;
        }

        p += 10;

        /* its parameters, up to the next media range */

        while (p < last && *p != ',') {

            if (*p == ';' || *p == ' ' || *p == '\t') {
                p++;
                continue;
            }

            if (last - p >= 13
                && ngx_strncasecmp(p, (u_char *) "version=0.0.4", 13) == 0
                && (last - p == 13 || p[13] == ';' || p[13] == ','
                    || p[13] == ' ' || p[13] == '\t'))
            {
                return 1;
            }

            while (p < last && *p != ';' && *p != ',') {
                p++;
            }
        }
    }
}


/* every number read once: the sums and the histograms agree */

static ngx_int_t
ngx_http_capture_status_snapshot(ngx_http_request_t *r,
    ngx_http_capture_status_ctx_t *ctx, ngx_http_capture_status_snap_t *s)
{
    uint64_t                          now, since;
    ngx_uint_t                        i, j, k, n;
    ngx_time_t                       *tp;
    ngx_atomic_uint_t                 sum;
    ngx_http_capture_dest_t         **dest;
    ngx_http_capture_status_sh_t     *sh;
    ngx_http_capture_status_dest_t   *d;
    ngx_http_capture_status_node_t   *node;

    sh = ctx->sh;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < NGX_HTTP_CAPTURE_ENDPOINTS; i++) {
        for (j = 0; j < NGX_HTTP_CAPTURE_CODES; j++) {
            s->requests[i][j] = sh->requests[i][j];
        }
    }

    s->events = sh->events;

    for (i = 0; i < CAP_E_LAST; i++) {
        s->rejected[i] = sh->rejected[i];
    }

    for (i = 0; i < NGX_HTTP_CAPTURE_SPOOL_STAT_LAST; i++) {
        s->spool[i] = sh->spool[i];
    }

    s->spool_bytes = sh->spool_bytes;
    s->spooled = (ctx->cmcf->spool != NULL);

    s->ndests = 0;
    s->dests = NULL;

    n = ctx->nnodes;

    if (n == 0) {
        return NGX_OK;
    }

    s->dests = ngx_palloc(r->pool, n * sizeof(ngx_http_capture_status_dest_t));
    if (s->dests == NULL) {
        return NGX_ERROR;
    }

    dest = ctx->cmcf->dests.elts;

    for (i = 0; i < n; i++) {
        node = ctx->nodes[i];

        if (node == NULL) {
            continue;
        }

        d = &s->dests[s->ndests++];

        d->name = dest[i]->name;

        for (k = 0; k < NGX_HTTP_CAPTURE_STAT_LAST; k++) {
            d->stats[k] = (ngx_atomic_int_t) node->stats[k];
        }

        sum = 0;

        for (k = 0; k < NGX_HTTP_CAPTURE_SIZE_BUCKETS; k++) {
            sum += node->size[k];
            d->size[k] = sum;
        }

        d->size_sum = node->size_sum;

        sum = 0;

        for (k = 0; k < NGX_HTTP_CAPTURE_LATENCY_BUCKETS; k++) {
            sum += node->latency[k];
            d->latency[k] = sum;
        }

        d->latency_sum = node->latency_sum;

        d->oldest = 0;

        for (k = 0; k < NGX_HTTP_CAPTURE_OLDEST_SLOTS; k++) {
            since = node->oldest[k];

            if (since && now > since && now - since > d->oldest) {
                d->oldest = (ngx_msec_t) (now - since);
            }
        }

        ngx_shmtx_lock(&ctx->shpool->mutex);

        d->error_time = node->error_time;
        d->error_len = node->error_len;
        ngx_memcpy(d->error, node->error, node->error_len);

        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    return NGX_OK;
}


static u_char *
ngx_http_capture_status_json(u_char *p, u_char *last,
    ngx_http_capture_status_snap_t *s)
{
    ngx_uint_t                       i, j, k;
    ngx_atomic_uint_t                sum, total;
    ngx_http_capture_status_dest_t  *d;

    total = 0;

    for (i = 0; i < NGX_HTTP_CAPTURE_ENDPOINTS; i++) {
        for (j = 0; j < NGX_HTTP_CAPTURE_CODES; j++) {
            total += s->requests[i][j];
        }
    }

    p = ngx_slprintf(p, last, "{\"version\":\"%s\",\"requests\":{"
                     "\"total\":%uA,\"by_endpoint\":{",
                     NGX_HTTP_CAPTURE_VERSION, total);

    for (i = 0; i < NGX_HTTP_CAPTURE_ENDPOINTS; i++) {
        sum = 0;

        for (j = 0; j < NGX_HTTP_CAPTURE_CODES; j++) {
            sum += s->requests[i][j];
        }

        p = ngx_slprintf(p, last, "%s\"%V\":%uA", i ? "," : "",
                         &ngx_http_capture_status_endpoints[i], sum);
    }

    p = ngx_slprintf(p, last, "},\"by_status\":{");

    for (j = 0; j < NGX_HTTP_CAPTURE_CODES; j++) {
        sum = 0;

        for (i = 0; i < NGX_HTTP_CAPTURE_ENDPOINTS; i++) {
            sum += s->requests[i][j];
        }

        p = ngx_slprintf(p, last, "%s\"%V\":%uA", j ? "," : "",
                         &ngx_http_capture_status_code_names[j], sum);
    }

    p = ngx_slprintf(p, last, "}},\"events\":{\"accepted\":%uA,"
                     "\"rejected_requests\":{", s->events);

    for (k = CAP_E_NONE + 1; k < CAP_E_LAST; k++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uA",
                         (k == CAP_E_NONE + 1) ? "" : ",",
                         cap_error_name((cap_err_code_t) k),
                         s->rejected[k]);
    }

    p = ngx_slprintf(p, last, "}},");

    if (s->spooled) {
        p = ngx_slprintf(p, last, "\"spool\":{\"bytes\":%uA,"
                         "\"records\":%uA,\"events\":%uA,"
                         "\"rejected_requests\":%uA,\"syncs\":%uA,"
                         "\"sync_ms\":%uA,\"replayed_events\":%uA,"
                         "\"checksum_failures\":%uA,\"torn_tails\":%uA,"
                         "\"fell_behind\":%uA,\"dropped_events\":%uA},",
                         s->spool_bytes,
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_RECORDS],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_EVENTS],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_FULL],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_SYNCS],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_SYNC_MS],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_REPLAYED],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_CORRUPT],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_TORN],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_BEHIND],
                         s->spool[NGX_HTTP_CAPTURE_SPOOL_STAT_DROPPED]);
    }

    p = ngx_slprintf(p, last, "\"destinations\":{");

    for (i = 0; i < s->ndests; i++) {
        d = &s->dests[i];

        if (i) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_http_capture_status_escape(p, last, d->name.data,
                                           d->name.len, 1);
        p = ngx_slprintf(p, last, ":{");

        for (k = 0; k < NGX_HTTP_CAPTURE_STAT_LAST; k++) {
            p = ngx_slprintf(p, last, "\"%s\":%A,",
                             ngx_http_capture_status_metrics[k].json,
                             d->stats[k]);
        }

        if (s->spooled) {
            p = ngx_slprintf(p, last, "\"oldest_undelivered_ms\":%M,",
                             d->oldest);
        }

        if (d->error_time == 0) {
            p = ngx_slprintf(p, last, "\"last_error\":null,");

        } else {
            p = ngx_slprintf(p, last, "\"last_error\":{\"text\":");
            p = ngx_http_capture_status_escape(p, last, d->error,
                                               d->error_len, 1);
            p = ngx_slprintf(p, last, ",\"time\":%T},", d->error_time);
        }

        p = ngx_http_capture_status_json_histogram(p, last, "batch_size",
                                      d->size,
                                      ngx_http_capture_status_size_le,
                                      NGX_HTTP_CAPTURE_SIZE_BUCKETS,
                                      d->size_sum);

        p = ngx_slprintf(p, last, ",");

        p = ngx_http_capture_status_json_histogram(p, last, "latency_ms",
                                      d->latency,
                                      ngx_http_capture_status_latency_ms,
                                      NGX_HTTP_CAPTURE_LATENCY_BUCKETS,
                                      d->latency_sum);

        p = ngx_slprintf(p, last, "}");
    }

    return ngx_slprintf(p, last, "}}\n");
}


static u_char *
ngx_http_capture_status_json_histogram(u_char *p, u_char *last, char *key,
    ngx_atomic_uint_t *buckets, ngx_str_t *le, ngx_uint_t n,
    ngx_atomic_uint_t sum)
{
    ngx_uint_t  i;

    p = ngx_slprintf(p, last, "\"%s\":{\"buckets\":{", key);

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, "%s\"%V\":%uA", i ? "," : "", &le[i],
                         buckets[i]);
    }

    return ngx_slprintf(p, last, "},\"sum\":%uA,\"count\":%uA}",
                        sum, buckets[n - 1]);
}


static u_char *
ngx_http_capture_status_prom(u_char *p, u_char *last,
    ngx_http_capture_status_snap_t *s)
{
    ngx_uint_t                         i, j, k;
    ngx_http_capture_status_dest_t    *d;
    ngx_http_capture_status_metric_t  *m;

    p = ngx_http_capture_status_prom_head(p, last, "capture_info", "gauge",
                                          "The capture module's version.");
    p = ngx_slprintf(p, last, "capture_info{version=\"%s\"} 1\n",
                     NGX_HTTP_CAPTURE_VERSION);

    p = ngx_http_capture_status_prom_head(p, last, "capture_requests_total",
                                          "counter",
                                          "Capture requests answered, by "
                                          "endpoint and status.");

    for (i = 0; i < NGX_HTTP_CAPTURE_ENDPOINTS; i++) {
        for (j = 0; j < NGX_HTTP_CAPTURE_CODES; j++) {
            p = ngx_slprintf(p, last, "capture_requests_total{endpoint=\"%V\","
                             "status=\"%V\"} %uA\n",
                             &ngx_http_capture_status_endpoints[i],
                             &ngx_http_capture_status_code_names[j],
                             s->requests[i][j]);
        }
    }

    p = ngx_http_capture_status_prom_head(p, last,
                                          "capture_events_accepted_total",
                                          "counter", "Events accepted.");
    p = ngx_slprintf(p, last, "capture_events_accepted_total %uA\n",
                     s->events);

    p = ngx_http_capture_status_prom_head(p, last,
                                          "capture_requests_rejected_total",
                                          "counter",
                                          "Capture requests rejected, by "
                                          "reason.");

    for (k = CAP_E_NONE + 1; k < CAP_E_LAST; k++) {
        p = ngx_slprintf(p, last, "capture_requests_rejected_total"
                         "{reason=\"%s\"} %uA\n",
                         cap_error_name((cap_err_code_t) k), s->rejected[k]);
    }

    if (s->spooled) {
        for (k = 0; k < NGX_HTTP_CAPTURE_SPOOL_STAT_LAST; k++) {
            p = ngx_http_capture_status_prom_head(p, last,
                                    ngx_http_capture_spool_metrics[k].prom,
                                    "counter",
                                    ngx_http_capture_spool_metrics[k].help);
            p = ngx_slprintf(p, last, "%s %uA\n",
                             ngx_http_capture_spool_metrics[k].prom,
                             s->spool[k]);
        }

        p = ngx_http_capture_status_prom_head(p, last, "capture_spool_bytes",
                                              "gauge",
                                              "Bytes of the spool's "
                                              "segments on disk.");
        p = ngx_slprintf(p, last, "capture_spool_bytes %uA\n",
                         s->spool_bytes);
    }

    for (k = 0; k < NGX_HTTP_CAPTURE_STAT_LAST; k++) {
        m = &ngx_http_capture_status_metrics[k];

        p = ngx_http_capture_status_prom_head(p, last, m->prom, m->type,
                                              m->help);

        for (i = 0; i < s->ndests; i++) {
            d = &s->dests[i];

            p = ngx_http_capture_status_prom_dest(p, last, m->prom, "",
                                                  &d->name);
            p = ngx_slprintf(p, last, "} %A\n", d->stats[k]);
        }
    }

    p = ngx_http_capture_status_prom_head(p, last,
                            "capture_destination_last_error_timestamp_seconds",
                            "gauge",
                            "When the destination last failed (Unix time).");

    for (i = 0; i < s->ndests; i++) {
        d = &s->dests[i];

        if (d->error_time == 0) {
            continue;
        }

        p = ngx_http_capture_status_prom_dest(p, last,
                            "capture_destination_last_error_timestamp_seconds",
                            "", &d->name);
        p = ngx_slprintf(p, last, "} %T\n", d->error_time);
    }

    p = ngx_http_capture_status_prom_head(p, last,
                                          "capture_destination_batch_size_"
                                          "events", "histogram",
                                          "Events per delivered request.");

    for (i = 0; i < s->ndests; i++) {
        d = &s->dests[i];

        p = ngx_http_capture_status_prom_histogram(p, last,
                                      "capture_destination_batch_size_events",
                                      d, d->size,
                                      ngx_http_capture_status_size_le,
                                      NGX_HTTP_CAPTURE_SIZE_BUCKETS,
                                      d->size_sum, 0);
    }

    if (s->spooled) {
        p = ngx_http_capture_status_prom_head(p, last,
                                    "capture_destination_oldest_undelivered_"
                                    "seconds", "gauge",
                                    "Age of the oldest event a destination "
                                    "has not delivered yet.");

        for (i = 0; i < s->ndests; i++) {
            d = &s->dests[i];

            p = ngx_slprintf(p, last, "capture_destination_oldest_"
                             "undelivered_seconds{destination=");
            p = ngx_http_capture_status_escape(p, last, d->name.data,
                                               d->name.len, 1);
            p = ngx_slprintf(p, last, "} %M.%03M\n", d->oldest / 1000,
                             d->oldest % 1000);
        }
    }

    p = ngx_http_capture_status_prom_head(p, last,
                                          "capture_destination_delivery_"
                                          "latency_seconds", "histogram",
                                          "Time from a batch's creation to "
                                          "its 2xx answer.");

    for (i = 0; i < s->ndests; i++) {
        d = &s->dests[i];

        p = ngx_http_capture_status_prom_histogram(p, last,
                              "capture_destination_delivery_latency_seconds",
                              d, d->latency,
                              ngx_http_capture_status_latency_s,
                              NGX_HTTP_CAPTURE_LATENCY_BUCKETS,
                              d->latency_sum, 1);
    }

    return p;
}


static u_char *
ngx_http_capture_status_prom_head(u_char *p, u_char *last, char *name,
    char *type, char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* "name_suffix{destination="..."": the caller ends the labels */

static u_char *
ngx_http_capture_status_prom_dest(u_char *p, u_char *last, char *name,
    char *suffix, ngx_str_t *dest)
{
    p = ngx_slprintf(p, last, "%s%s{destination=", name, suffix);

    return ngx_http_capture_status_escape(p, last, dest->data, dest->len, 0);
}


static u_char *
ngx_http_capture_status_prom_histogram(u_char *p, u_char *last, char *name,
    ngx_http_capture_status_dest_t *d, ngx_atomic_uint_t *buckets,
    ngx_str_t *le, ngx_uint_t n, ngx_atomic_uint_t sum, ngx_uint_t msec)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        p = ngx_http_capture_status_prom_dest(p, last, name, "_bucket",
                                              &d->name);
        p = ngx_slprintf(p, last, ",le=\"%V\"} %uA\n", &le[i], buckets[i]);
    }

    p = ngx_http_capture_status_prom_dest(p, last, name, "_sum", &d->name);

    if (msec) {
        p = ngx_slprintf(p, last, "} %uA.%03uA\n", sum / 1000, sum % 1000);

    } else {
        p = ngx_slprintf(p, last, "} %uA\n", sum);
    }

    p = ngx_http_capture_status_prom_dest(p, last, name, "_count", &d->name);

    return ngx_slprintf(p, last, "} %uA\n", buckets[n - 1]);
}


/*
 * A quoted string: a JSON string, or a Prometheus label value (where
 * only the backslash, the double quote and the line feed are escaped).
 */

static u_char *
ngx_http_capture_status_escape(u_char *p, u_char *last, u_char *src,
    size_t len, ngx_uint_t json)
{
    u_char  c, *end;

    static u_char  hex[] = "0123456789abcdef";

    end = src + len;

    if (p < last) {
        *p++ = '"';
    }

    while (src < end && last - p >= 6) {
        c = *src++;

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;

        } else if (c == '\n' && !json) {
            *p++ = '\\';
            *p++ = 'n';

        } else if (c < 0x20 && json) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    if (src < end) {
        /* no room: the caller sees a full buffer and tries a larger one */
        return last;
    }

    if (p < last) {
        *p++ = '"';
    }

    return p;
}
