
/*
 * The spool in nginx (capture_spool): every accepted request's records
 * are appended to this worker's log (src/spool/) before the request is
 * answered, and each remote destination keeps, per log, a cursor of
 * what it has finished with.  The queues still carry the events; the
 * log is what survives them: a worker that exits or dies leaves its
 * log, and another worker adopts it (its lock is free) and delivers
 * what the cursors say is left.
 *
 * Marks tie the two: each record gives every remote destination a mark
 * (its end in the log, and how many of its events that destination
 * still holds); the items of a queue point to their mark; a destination
 * is done with a record when its mark's count reaches zero and every
 * mark before it is done too.  Its cursor then moves there.  Cursors
 * are written on the spool's timer, not for every request: a cursor
 * behind by a moment only means events sent again after a crash, with
 * their uuids, which PostHog and Segment deduplicate.
 *
 * The records of one turn of the event loop are written together: each
 * request's is staged, and the requests are answered after one write of
 * all of them, from a posted event at the end of the turn (a large
 * write costs the kernel less per byte).  So an answered request's
 * record is always in the file, and a worker killed before the write
 * had answered none of them.  sync=always answers them once the record
 * is on disk: requests of one turn wait for one fdatasync together.
 * The fdatasync runs in nginx's default thread pool, when nginx has
 * them (--with-threads), so that the event loop goes on meanwhile.
 */


#include "ngx_http_capture_queue.h"
#include "encode/cap_encode.h"
#include "spool/cap_spool.h"


#define NGX_HTTP_CAPTURE_SPOOL_ALWAYS   ((ngx_msec_t) -1)
#define NGX_HTTP_CAPTURE_SPOOL_TICK     100       /* ms: cursors, removal */
#define NGX_HTTP_CAPTURE_SPOOL_SCAN     1000      /* ms: orphan logs */
#define NGX_HTTP_CAPTURE_SPOOL_BATCH    64        /* records a turn */
#define NGX_HTTP_CAPTURE_SPOOL_STAGE    (256 * 1024)  /* one write, most */


typedef struct ngx_http_capture_spool_log_s  ngx_http_capture_spool_log_t;


/*
 * One remote destination's progress in one log.  In this worker's own
 * log, a destination whose queue was full is "behind": the records
 * stay on disk only, and it reads them back from "read" as its queue
 * makes room, until it reaches the end of the log and is live again.
 * In an adopted log every destination reads it back so ("replay"),
 * each at its own pace: one with a full queue holds up no other.
 */
typedef struct {
    ngx_http_capture_dest_t         *dest;
    ngx_http_capture_spool_log_t    *log;
    cap_spool_cursor_t               cursor;
    cap_spool_pos_t                  done;      /* in memory, ahead */
    ngx_queue_t                      marks;

    cap_spool_reader_t               reader;
    ngx_uint_t                       reading;   /* the reader is open */
    cap_spool_pos_t                  read;      /* behind: the next one */
    uint64_t                         since;     /* behind since, epoch ms */

    unsigned                         open:1;
    unsigned                         dirty:1;
    unsigned                         behind:1;
    unsigned                         replay:1;
} ngx_http_capture_spool_track_t;


struct ngx_http_capture_spool_mark_s {
    ngx_queue_t                      queue;     /* in the track's marks */
    ngx_http_capture_spool_track_t  *track;
    cap_spool_pos_t                  end;
    ngx_uint_t                       pending;
    uint64_t                         time;      /* ms since the epoch */
};


struct ngx_http_capture_spool_log_s {
    ngx_queue_t                      queue;     /* adopted logs */
    cap_str_t                        writer;
    ngx_http_capture_spool_track_t  *tracks;    /* by dest->index */
    ngx_uint_t                       ntracks;
    int                              lock;
    uint64_t                         first;     /* oldest segment left */
    uint64_t                         last;      /* of an adopted log */

    /* of an adopted log: the track that starts first counts damage */
    ngx_http_capture_spool_track_t  *leader;

    unsigned                         own:1;
    unsigned                         read_all:1;
    unsigned                         unknown:1; /* a destination said so */

    u_char                           writer_data[CAP_SPOOL_NAME_MAX];
};


/* the worker's spool */
typedef struct {
    ngx_http_capture_spool_conf_t   *conf;
    ngx_http_capture_main_conf_t    *cmcf;
    ngx_log_t                       *log;
    cap_spool_dir_t                  dir;
    cap_spool_writer_t               writer;
    ngx_http_capture_spool_log_t     own;
    ngx_queue_t                      adopted;

    /*
     * max_size: the directory as last measured, plus what every worker
     * appended since ("appended" is shared by the workers, and was
     * "measured_at" just before the measure)
     */
    uint64_t                         usage;     /* bytes of the directory */
    ngx_atomic_t                    *appended;
    ngx_atomic_uint_t                measured_at;
    ngx_atomic_t                     appended_here;  /* no shared one */

    ngx_event_t                      tick;
    ngx_event_t                      scan;
    ngx_event_t                      replay;
    ngx_event_t                      write;     /* posted: staged */
    ngx_event_t                      sync;      /* posted: sync=always */
    ngx_connection_t                 dummy;

    ngx_array_t                      staged;    /* ngx_http_request_t * */
    ngx_array_t                      waiting;   /* for the sync */
    ngx_msec_t                       synced;    /* sync=<time>: the last */

#if (NGX_THREADS)
    ngx_thread_pool_t               *thread_pool;
    ngx_thread_task_t               *task;
    ngx_array_t                      syncing;   /* waiting on the task */
    ngx_thread_task_t               *remove;
    ngx_http_capture_spool_log_t    *removing;  /* the log of "remove" */
    unsigned                         in_thread:1;
#endif

    unsigned                         exiting:1;
} ngx_http_capture_spool_t;


#if (NGX_THREADS)

/* what a sync in a thread works on: descriptors of its own */
typedef struct {
    cap_spool_syncset_t              set;
    int                              err;
    ngx_msec_t                       ms;
} ngx_http_capture_spool_sync_ctx_t;


/* segments every destination has passed, removed in a thread */
typedef struct {
    cap_spool_dir_t                 *dir;
    cap_str_t                        writer;
    uint64_t                         first;
    uint64_t                         n;
    uint64_t                         removed;
    cap_error_t                      err;
    u_char                           writer_data[CAP_SPOOL_NAME_MAX];
} ngx_http_capture_spool_remove_ctx_t;

#endif


static ngx_int_t ngx_http_capture_spool_log_init(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_str_t *writer);
static ngx_int_t ngx_http_capture_spool_track_open(
    ngx_http_capture_spool_t *sp, ngx_http_capture_spool_track_t *t);
static ngx_int_t ngx_http_capture_spool_marks(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_record_t *rec,
    ngx_http_capture_accepted_t *a, cap_str_t *names, size_t nnames,
    ngx_http_capture_spool_track_t *only, ngx_log_t *elog);
static ngx_int_t ngx_http_capture_spool_catch_up(
    ngx_http_capture_spool_t *sp, ngx_http_capture_spool_track_t *t);
static ngx_int_t ngx_http_capture_spool_read_on(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_reader_t *r,
    ngx_uint_t *reading, cap_spool_pos_t *pos,
    ngx_http_capture_spool_track_t *only);
static void ngx_http_capture_spool_damage(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_reader_t *r, ngx_int_t rc);
static ngx_int_t ngx_http_capture_spool_read_record(
    ngx_http_capture_spool_t *sp, ngx_http_capture_spool_log_t *log,
    cap_spool_record_t *rec, ngx_http_capture_spool_track_t *only);
static void ngx_http_capture_spool_advance(
    ngx_http_capture_spool_track_t *t);
static void ngx_http_capture_spool_flush(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log);
static void ngx_http_capture_spool_tick_handler(ngx_event_t *ev);
static void ngx_http_capture_spool_scan_handler(ngx_event_t *ev);
static void ngx_http_capture_spool_replay_handler(ngx_event_t *ev);
static void ngx_http_capture_spool_write_handler(ngx_event_t *ev);
static void ngx_http_capture_spool_write(ngx_http_capture_spool_t *sp);
static void ngx_http_capture_spool_sync_handler(ngx_event_t *ev);
static void ngx_http_capture_spool_sync(ngx_http_capture_spool_t *sp);
static void ngx_http_capture_spool_answer(ngx_array_t *requests,
    cap_error_t *err);
#if (NGX_THREADS)
static void ngx_http_capture_spool_swap(ngx_array_t *a, ngx_array_t *b);
static ngx_int_t ngx_http_capture_spool_sync_post(
    ngx_http_capture_spool_t *sp);
static void ngx_http_capture_spool_sync_thread(void *data, ngx_log_t *log);
static void ngx_http_capture_spool_sync_done(ngx_event_t *ev);
static void ngx_http_capture_spool_remove_thread(void *data, ngx_log_t *log);
static void ngx_http_capture_spool_remove_done(ngx_event_t *ev);
#endif
static void ngx_http_capture_spool_remove(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, size_t n);
static ngx_int_t ngx_http_capture_spool_replay(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log);
static void ngx_http_capture_spool_release(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log);
static ngx_int_t ngx_http_capture_spool_drop(ngx_http_capture_spool_t *sp,
    size_t need);
static void ngx_http_capture_spool_ages(ngx_http_capture_spool_t *sp);
static ngx_int_t ngx_http_capture_spool_measure(ngx_http_capture_spool_t *sp);
static uint64_t ngx_http_capture_spool_used(ngx_http_capture_spool_t *sp);
static ngx_uint_t ngx_http_capture_spool_stale(ngx_http_capture_spool_t *sp,
    cap_str_t *writer);
static uint64_t ngx_http_capture_spool_now(void);
static ngx_uint_t ngx_http_capture_spool_remote(ngx_http_capture_dest_t *d);
static void ngx_http_capture_spool_error(ngx_log_t *log, ngx_uint_t level,
    cap_error_t *err);
static void *ngx_http_capture_spool_alloc(void *data, size_t size);
static void *ngx_http_capture_spool_palloc(void *data, size_t size);
static void ngx_http_capture_spool_free(void *data, void *p);


static ngx_http_capture_spool_t  *ngx_http_capture_spool_worker;

static cap_pool_t  ngx_http_capture_spool_heap = {
    ngx_http_capture_spool_alloc, ngx_http_capture_spool_free, NULL
};


/*
 * capture_spool path [max_size=] [segment_size=] [sync=always|off|time]
 *               [overflow=reject|drop_oldest];
 */

char *
ngx_http_capture_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_capture_main_conf_t *cmcf = conf;

    off_t                           size;
    ngx_str_t                      *value, v;
    ngx_msec_t                      ms;
    ngx_uint_t                      i;
    ngx_http_capture_spool_conf_t  *scf;

    if (cmcf->spool != NULL) {
        return "is duplicate";
    }

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_spool_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    scf->path = value[1];

    if (ngx_conf_full_name(cf->cycle, &scf->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    scf->max_size = 1024 * 1024 * 1024;
    scf->segment_size = 16 * 1024 * 1024;
    scf->sync = 100;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            v.data = value[i].data + 9;
            v.len = value[i].len - 9;

            /* ngx_parse_offset(): "2g" too */

            size = ngx_parse_offset(&v);
            if (size == NGX_ERROR || size == 0) {
                goto invalid;
            }

            scf->max_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "segment_size=", 13) == 0) {
            v.data = value[i].data + 13;
            v.len = value[i].len - 13;

            size = ngx_parse_offset(&v);
            if (size == NGX_ERROR || size < 4096) {
                goto invalid;
            }

            scf->segment_size = size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "overflow=reject") == 0) {
            scf->drop_oldest = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "overflow=drop_oldest") == 0) {
            scf->drop_oldest = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sync=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;

            if (v.len == 6 && ngx_strncmp(v.data, "always", 6) == 0) {
                scf->sync = NGX_HTTP_CAPTURE_SPOOL_ALWAYS;
                continue;
            }

            if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
                scf->sync = 0;
                continue;
            }

            ms = ngx_parse_time(&v, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            scf->sync = ms;
            continue;
        }

        goto invalid;
    }

    if (scf->segment_size > scf->max_size) {
        scf->segment_size = scf->max_size;
    }

#if (NGX_THREADS)
    scf->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (scf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    cmcf->spool = scf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * In the master, before the workers: the directory, owned by the
 * workers' user (as nginx's temporary paths are).
 */

ngx_int_t
ngx_http_capture_spool_init_module(ngx_cycle_t *cycle,
    ngx_http_capture_main_conf_t *cmcf)
{
    ngx_err_t                       err;
    ngx_core_conf_t                *ccf;
    ngx_http_capture_spool_conf_t  *scf;

    scf = cmcf->spool;

    if (scf == NULL) {
        if (cmcf->dests.nelts) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "capture: no capture_spool: events wait for "
                          "their destinations in memory only");
        }

        return NGX_OK;
    }

    /* its parents too, as nginx does for its temporary paths */

    (void) ngx_create_full_path(scf->path.data, 0755);

    if (ngx_create_dir(scf->path.data, 0700) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          ngx_create_dir_n " \"%V\" failed", &scf->path);
            return NGX_ERROR;
        }
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        if (chown((const char *) scf->path.data, ccf->user, ccf->group)
            == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chown(\"%V\") failed", &scf->path);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_capture_spool_init_process(ngx_cycle_t *cycle,
    ngx_http_capture_main_conf_t *cmcf)
{
    u_char                     id[CAP_SPOOL_NAME_MAX];
    ngx_int_t                  rc;
    cap_str_t                  writer;
    ngx_uint_t                 i;
    ngx_time_t                *tp;
    cap_error_t                err;
    cap_spool_conf_t           conf;
    ngx_http_capture_spool_t  *sp;

    if (cmcf->spool == NULL) {
        return NGX_OK;
    }

    sp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_capture_spool_t));
    if (sp == NULL) {
        return NGX_ERROR;
    }

    sp->conf = cmcf->spool;
    sp->cmcf = cmcf;
    sp->log = cycle->log;
    ngx_queue_init(&sp->adopted);

    if (ngx_array_init(&sp->waiting, cycle->pool, 16,
                       sizeof(ngx_http_request_t *))
        != NGX_OK
        || ngx_array_init(&sp->staged, cycle->pool, 16,
                          sizeof(ngx_http_request_t *))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cap_spool_dir_open(&sp->dir, (const char *) sp->conf->path.data,
                           &err)
        != CAP_OK)
    {
        ngx_http_capture_spool_error(cycle->log, NGX_LOG_EMERG, &err);
        return NGX_ERROR;
    }

    /* an id of this process' lifetime: its pid and when it started */

    tp = ngx_timeofday();

    writer.data = id;
    writer.len = ngx_snprintf(id, sizeof(id), "%P-%M", ngx_pid,
                              (ngx_msec_t) tp->sec * 1000 + tp->msec)
                 - id;

    conf.segment_size = sp->conf->segment_size;
    conf.max_payload = CAP_SPOOL_PAYLOAD_LIMIT;
    conf.sync = (sp->conf->sync != 0);
    conf.stage_size = NGX_HTTP_CAPTURE_SPOOL_STAGE;

    /* an id taken meanwhile (a sibling's scan) gives way to the next one */

    for (i = 0; /* void */ ; i++) {
        rc = cap_spool_writer_open(&sp->writer, &sp->dir, &writer, &conf,
                                   &err);

        if (rc == CAP_OK) {
            break;
        }

        if (rc != CAP_SPOOL_BUSY || i == 8) {
            ngx_http_capture_spool_error(cycle->log, NGX_LOG_EMERG, &err);
            return NGX_ERROR;
        }

        writer.len = ngx_snprintf(id, sizeof(id), "%P-%M-%ui", ngx_pid,
                                  (ngx_msec_t) tp->sec * 1000 + tp->msec,
                                  i + 1)
                     - id;
    }

    if (ngx_http_capture_spool_log_init(sp, &sp->own, &sp->writer.id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sp->own.own = 1;
    sp->own.lock = -1;

    /* the cursors now: what a track has done starts from its file */

    for (i = 0; i < sp->own.ntracks; i++) {
        if (sp->own.tracks[i].dest
            && ngx_http_capture_spool_track_open(sp, &sp->own.tracks[i])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    sp->appended = ngx_http_capture_stat_spool_appended();

    if (sp->appended == NULL) {
        sp->appended = &sp->appended_here;
    }

    (void) ngx_http_capture_spool_measure(sp);

    sp->dummy.fd = (ngx_socket_t) -1;
    sp->dummy.data = sp;

#if (NGX_THREADS)
    if (sp->conf->thread_pool) {
        sp->thread_pool = sp->conf->thread_pool;

        sp->task = ngx_thread_task_alloc(cycle->pool,
                                   sizeof(ngx_http_capture_spool_sync_ctx_t));
        if (sp->task == NULL
            || ngx_array_init(&sp->syncing, cycle->pool, 16,
                              sizeof(ngx_http_request_t *))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        sp->task->handler = ngx_http_capture_spool_sync_thread;
        sp->task->event.handler = ngx_http_capture_spool_sync_done;
        sp->task->event.data = sp;
        sp->task->event.log = cycle->log;

        sp->remove = ngx_thread_task_alloc(cycle->pool,
                                 sizeof(ngx_http_capture_spool_remove_ctx_t));
        if (sp->remove == NULL) {
            return NGX_ERROR;
        }

        sp->remove->handler = ngx_http_capture_spool_remove_thread;
        sp->remove->event.handler = ngx_http_capture_spool_remove_done;
        sp->remove->event.data = sp;
        sp->remove->event.log = cycle->log;
    }
#endif

    sp->tick.handler = ngx_http_capture_spool_tick_handler;
    sp->scan.handler = ngx_http_capture_spool_scan_handler;
    sp->replay.handler = ngx_http_capture_spool_replay_handler;
    sp->write.handler = ngx_http_capture_spool_write_handler;
    sp->sync.handler = ngx_http_capture_spool_sync_handler;

    sp->tick.data = sp->scan.data = sp->replay.data = sp->write.data
        = sp->sync.data = &sp->dummy;
    sp->tick.log = sp->scan.log = sp->replay.log = sp->write.log
        = sp->sync.log = cycle->log;

    /* they only look for work: an exiting worker need not wait for them */
    sp->tick.cancelable = 1;
    sp->scan.cancelable = 1;
    sp->replay.cancelable = 1;

    ngx_add_timer(&sp->tick, NGX_HTTP_CAPTURE_SPOOL_TICK);

    /* orphan logs at once: the last worker's, or a crashed one's */
    ngx_add_timer(&sp->scan, 1);

    ngx_http_capture_spool_worker = sp;

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_spool_log_init(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_str_t *writer)
{
    ngx_uint_t                 i;
    ngx_http_capture_dest_t  **dest;

    ngx_memcpy(log->writer_data, writer->data, writer->len);
    log->writer.data = log->writer_data;
    log->writer.len = writer->len;

    log->ntracks = sp->cmcf->dests.nelts;
    log->tracks = ngx_pcalloc(ngx_cycle->pool, log->ntracks
                              * sizeof(ngx_http_capture_spool_track_t));
    if (log->tracks == NULL) {
        return NGX_ERROR;
    }

    dest = sp->cmcf->dests.elts;

    for (i = 0; i < log->ntracks; i++) {
        log->tracks[i].log = log;
        ngx_queue_init(&log->tracks[i].marks);

        if (ngx_http_capture_spool_remote(dest[i])) {
            log->tracks[i].dest = dest[i];
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_spool_track_open(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_track_t *t)
{
    cap_str_t    name;
    cap_error_t  err;

    if (t->open) {
        return NGX_OK;
    }

    name.data = t->dest->name.data;
    name.len = t->dest->name.len;

    if (cap_spool_cursor_open(&t->cursor, &sp->dir, &t->log->writer, &name,
                              1, &err)
        != CAP_OK)
    {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        return NGX_ERROR;
    }

    if (t->cursor.corrupt) {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "capture spool: cursor of \"%V\" in log \"%*s\" is "
                      "corrupt: its events are sent again", &t->dest->name,
                      t->log->writer.len, t->log->writer.data);
    }

    t->done = t->cursor.pos;
    t->open = 1;

    return NGX_OK;
}


/*
 * A request's records into this worker's log, before any destination
 * takes them.  NGX_DECLINED: the spool is full (the client gets 503).
 */

ngx_int_t
ngx_http_capture_spool_append(ngx_http_request_t *r,
    ngx_array_t *dests, ngx_http_capture_accepted_t *a,
    cap_spool_record_t *rec, cap_error_t *err)
{
    u_char                     *p;
    size_t                      n;
    ngx_int_t                   rc;
    cap_str_t                   parts[3], names[CAP_SPOOL_DESTS_MAX];
    ngx_uint_t                  i;
    ngx_http_capture_dest_t   **dest;
    ngx_http_capture_spool_t   *sp;

    sp = ngx_http_capture_spool_worker;

    if (sp == NULL) {
        return NGX_DONE;
    }

    dest = dests->elts;

    if (dests->nelts > CAP_SPOOL_DESTS_MAX) {
        cap_error_set(err, CAP_E_UNAVAILABLE, "too many destinations");
        return NGX_ERROR;
    }

    for (i = 0; i < dests->nelts; i++) {
        names[i].data = dest[i]->name.data;
        names[i].len = dest[i]->name.len;
    }

    if (ngx_http_capture_spool_used(sp) + a->records->len
        > sp->conf->max_size
        && (!sp->conf->drop_oldest
            || ngx_http_capture_spool_drop(sp, a->records->len) != NGX_OK))
    {
        sp->writer.full++;
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_FULL, 1);

        cap_error_set(err, CAP_E_UNAVAILABLE,
                      "transient error, please retry: the spool is full");
        return NGX_DECLINED;
    }

    n = cap_spool_names_size(names, dests->nelts);

    p = ngx_pnalloc(r->pool, n + 1);
    if (p == NULL) {
        cap_error_set(err, CAP_E_NOMEM, "out of memory");
        return NGX_ERROR;
    }

    /* the flags: recordings go to another endpoint */

    p[0] = a->batch->recordings ? 1 : 0;

    (void) cap_spool_names_write(p + 1, names, dests->nelts);

    parts[0].data = p;
    parts[0].len = n + 1;

    /* the canonical records as they are: not copied */

    parts[1].data = a->records->data;
    parts[1].len = a->records->len;

    rc = cap_spool_stage(&sp->writer, parts, 2, &rec->start, &rec->end, err);

    if (rc == CAP_SPOOL_AGAIN) {

        /* the stage is full, or the segment: the requests staged go first */

        ngx_http_capture_spool_write(sp);

        rc = cap_spool_stage(&sp->writer, parts, 2, &rec->start, &rec->end,
                             err);
    }

    if (rc == CAP_SPOOL_FULL) {
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_FULL, 1);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "capture spool: %s", err->text);

        cap_error_set(err, CAP_E_UNAVAILABLE,
                      "transient error, please retry: the spool's disk is "
                      "full");
        return NGX_DECLINED;
    }

    if (rc != CAP_OK) {
        if (err->code == CAP_E_BODY_TOO_LARGE) {
            return NGX_ERROR;
        }

        ngx_http_capture_spool_error(r->connection->log, NGX_LOG_ERR, err);
        cap_error_set(err, CAP_E_UNAVAILABLE, "transient error, please retry");
        return NGX_ERROR;
    }

    (void) ngx_atomic_fetch_add(sp->appended,
                                (ngx_atomic_int_t) (rec->end.offset
                                                    - rec->start.offset));

    if (sp->own.first == 0) {
        sp->own.first = rec->start.seq;
    }

    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_RECORDS, 1);
    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_EVENTS,
                                (ngx_int_t) a->batch->nevents);

    return NGX_OK;
}


/*
 * The destinations take the request's events, each with its mark in
 * this worker's log; destinations not in the request pass the record.
 */

ngx_int_t
ngx_http_capture_spool_deliver(ngx_http_request_t *r, ngx_array_t *dests,
    ngx_http_capture_accepted_t *a, cap_spool_record_t *rec)
{
    cap_str_t                  names[CAP_SPOOL_DESTS_MAX];
    ngx_uint_t                 i;
    ngx_http_capture_dest_t  **dest;
    ngx_http_capture_spool_t  *sp;

    sp = ngx_http_capture_spool_worker;
    dest = dests->elts;

    for (i = 0; i < dests->nelts; i++) {
        names[i].data = dest[i]->name.data;
        names[i].len = dest[i]->name.len;
    }

    return ngx_http_capture_spool_marks(sp, &sp->own, rec, a, names,
                                        dests->nelts, NULL,
                                        r->connection->log);
}


/*
 * Every remote destination that has not passed the record gets a mark
 * at its end in "log"; those named take the events, their items holding
 * the mark.
 */

static ngx_int_t
ngx_http_capture_spool_marks(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_record_t *rec,
    ngx_http_capture_accepted_t *a, cap_str_t *names, size_t nnames,
    ngx_http_capture_spool_track_t *only, ngx_log_t *elog)
{
    size_t                           k;
    ngx_int_t                        rc;
    ngx_uint_t                       i, named;
    ngx_http_capture_remote_t       *rd;
    ngx_http_capture_spool_mark_t   *m;
    ngx_http_capture_spool_track_t  *t;

    rc = NGX_OK;

    for (i = 0; i < log->ntracks; i++) {
        t = &log->tracks[i];

        /*
         * A file was written by the request itself; a destination behind
         * on disk takes the record when it reads it back.
         */

        if (t->dest == NULL || cap_spool_pos_cmp(&rec->start, &t->done) < 0
            || (only ? t != only : t->behind))
        {
            continue;
        }

        named = 0;

        for (k = 0; k < nnames; k++) {
            if (names[k].len == t->dest->name.len
                && ngx_strncmp(names[k].data, t->dest->name.data,
                               names[k].len) == 0)
            {
                named = 1;
                break;
            }
        }

        if (!named && ngx_queue_empty(&t->marks)) {

            /* nothing for it, and nothing before it: passed */

            t->done = rec->end;
            t->dirty = 1;
            continue;
        }

        m = ngx_alloc(sizeof(ngx_http_capture_spool_mark_t), elog);
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->track = t;
        m->end = rec->end;
        m->pending = 1;             /* held until deliver returns */
        m->time = ngx_http_capture_spool_now();

        ngx_queue_insert_tail(&t->marks, &m->queue);

        if (named) {
            rd = t->dest->data;
            rd->q->mark = m;

            if (t->dest->type->deliver(elog, t->dest, a) != NGX_OK) {
                rc = NGX_ERROR;
            }

            rd->q->mark = NULL;
        }

        ngx_http_capture_spool_mark_done(m);
    }

    return rc;
}


/* an item takes the mark */

void
ngx_http_capture_spool_mark_hold(ngx_http_capture_spool_mark_t *m)
{
    m->pending++;
}


/* an item of the mark is done with: delivered, refused or dropped */

void
ngx_http_capture_spool_mark_done(ngx_http_capture_spool_mark_t *m)
{
    if (--m->pending == 0) {
        ngx_http_capture_spool_advance(m->track);
    }
}


static void
ngx_http_capture_spool_advance(ngx_http_capture_spool_track_t *t)
{
    ngx_queue_t                    *q;
    ngx_http_capture_spool_mark_t  *m;

    while (!ngx_queue_empty(&t->marks)) {
        q = ngx_queue_head(&t->marks);
        m = ngx_queue_data(q, ngx_http_capture_spool_mark_t, queue);

        if (m->pending) {
            break;
        }

        if (cap_spool_pos_cmp(&m->end, &t->done) > 0) {
            t->done = m->end;
            t->dirty = 1;
        }

        ngx_queue_remove(q);
        ngx_free(m);
    }
}


/* the log's records on disk; timed with the clock, not the loop's cache */

static void
ngx_http_capture_spool_sync(ngx_http_capture_spool_t *sp)
{
    ngx_msec_t    start;
    cap_error_t   err;

    ngx_time_update();
    start = ngx_current_msec;

    if (cap_spool_sync(&sp->writer, &err) != CAP_OK) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ALERT, &err);
    }

    ngx_time_update();

    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_SYNCS, 1);
    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_SYNC_MS,
                                (ngx_int_t) (ngx_current_msec - start));
}


/*
 * A request whose record is staged is answered after the write at the
 * end of the turn (and with sync=always, after the fdatasync).
 */

ngx_int_t
ngx_http_capture_spool_wait(ngx_http_request_t *r)
{
    ngx_http_request_t        **rp;
    ngx_http_capture_spool_t   *sp;

    sp = ngx_http_capture_spool_worker;

    if (sp == NULL) {
        return NGX_DECLINED;
    }

    rp = ngx_array_push(&sp->staged);
    if (rp == NULL) {
        return NGX_ERROR;
    }

    *rp = r;
    r->main->count++;

    if (!sp->write.posted) {
        ngx_post_event(&sp->write, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_capture_spool_write_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_capture_spool_t  *sp;

    c = ev->data;
    sp = c->data;

    ngx_http_capture_spool_write(sp);
}


/*
 * What is staged is written; its requests are answered, or wait for the
 * sync.  A write that fails answers them 503 (the clients retry them;
 * their events, already queued, may then come twice, with their uuids).
 */

static void
ngx_http_capture_spool_write(ngx_http_capture_spool_t *sp)
{
    ngx_uint_t            i;
    cap_error_t           err;
    ngx_http_request_t  **rp, **wp;

    if (cap_spool_flush(&sp->writer, &err) != CAP_OK) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_FULL,
                                    (ngx_int_t) sp->staged.nelts);

        cap_error_set(&err, CAP_E_UNAVAILABLE,
                      "transient error, please retry: the spool could not "
                      "be written");

        ngx_http_capture_spool_answer(&sp->staged, &err);
        return;
    }

    if (sp->conf->sync != NGX_HTTP_CAPTURE_SPOOL_ALWAYS) {
        ngx_http_capture_spool_answer(&sp->staged, NULL);
        return;
    }

    /* sync=always: on to the next fdatasync */

    rp = sp->staged.elts;

    for (i = 0; i < sp->staged.nelts; i++) {
        wp = ngx_array_push(&sp->waiting);

        if (wp == NULL) {
            ngx_http_finalize_request(rp[i], NGX_HTTP_INTERNAL_SERVER_ERROR);
            continue;
        }

        *wp = rp[i];
    }

    sp->staged.nelts = 0;

    if (sp->waiting.nelts && !sp->sync.posted) {
        ngx_post_event(&sp->sync, &ngx_posted_events);
    }
}


static void
ngx_http_capture_spool_sync_handler(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_capture_spool_t   *sp;

    c = ev->data;
    sp = c->data;

#if (NGX_THREADS)
    if (sp->task) {
        if (sp->in_thread) {

            /* the next sync, when this one is done, is theirs */
            return;
        }

        ngx_http_capture_spool_swap(&sp->waiting, &sp->syncing);

        if (ngx_http_capture_spool_sync_post(sp) == NGX_OK) {
            return;
        }

        /* nothing to sync, or no thread: at once */

        ngx_http_capture_spool_sync(sp);
        ngx_http_capture_spool_answer(&sp->syncing, NULL);
        return;
    }
#endif

    ngx_http_capture_spool_sync(sp);
    ngx_http_capture_spool_answer(&sp->waiting, NULL);
}


/*
 * The requests are answered: accepted, or with "err" refused.  The
 * answers may bring new requests (pipelined on a connection), which
 * must wait for the next write or sync: the list is taken as it is now.
 */

static void
ngx_http_capture_spool_answer(ngx_array_t *requests, cap_error_t *err)
{
    ngx_int_t             rc;
    ngx_uint_t            i, k, n, total;
    ngx_http_request_t  **rp, *chunk[64];

    total = requests->nelts;

    for (i = 0; i < total; i += n) {
        n = ngx_min(total - i, 64);

        /* the array may move as the answers push to it: copied first */

        rp = requests->elts;
        ngx_memcpy(chunk, rp + i, n * sizeof(ngx_http_request_t *));

        for (k = 0; k < n; k++) {
            rc = err ? ngx_http_capture_answer_refused(chunk[k], err)
                     : ngx_http_capture_answer_synced(chunk[k]);

            ngx_http_finalize_request(chunk[k], rc);
        }
    }

    /* the ones that came meanwhile are the next sync's */

    rp = requests->elts;

    ngx_memmove(rp, rp + total,
                (requests->nelts - total) * sizeof(ngx_http_request_t *));
    requests->nelts -= total;
}


#if (NGX_THREADS)

static void
ngx_http_capture_spool_swap(ngx_array_t *a, ngx_array_t *b)
{
    ngx_array_t  t;

    t = *a;
    *a = *b;
    *b = t;
}


/*
 * A sync of what is appended so far, in the thread pool.  NGX_DECLINED:
 * nothing to sync, or it could not be handed over (the caller syncs in
 * the loop), or the task could not be posted (synced here).
 */

static ngx_int_t
ngx_http_capture_spool_sync_post(ngx_http_capture_spool_t *sp)
{
    cap_error_t                         err;
    ngx_http_capture_spool_sync_ctx_t  *ctx;

    ctx = sp->task->ctx;

    ctx->err = 0;
    ctx->ms = 0;

    /* the writer may close its segments before the thread is done */

    if (cap_spool_sync_take(&sp->writer, &ctx->set, &err) != CAP_OK) {
        return NGX_DECLINED;
    }

    if (ngx_thread_task_post(sp->thread_pool, sp->task) != NGX_OK) {

        /* synced here instead */

        ctx->err = cap_spool_sync_run(&ctx->set);

        if (ctx->err) {
            ngx_log_error(NGX_LOG_ALERT, sp->log, ctx->err,
                          "capture spool: fdatasync() of \"%*s\" failed",
                          sp->writer.id.len, sp->writer.id.data);
        }

        return NGX_DECLINED;
    }

    sp->in_thread = 1;

    return NGX_OK;
}


static void
ngx_http_capture_spool_sync_thread(void *data, ngx_log_t *log)
{
    ngx_http_capture_spool_sync_ctx_t *ctx = data;

    struct timespec  t0, t1;

    (void) clock_gettime(CLOCK_MONOTONIC, &t0);

    ctx->err = cap_spool_sync_run(&ctx->set);

    (void) clock_gettime(CLOCK_MONOTONIC, &t1);

    ctx->ms = (t1.tv_sec - t0.tv_sec) * 1000
              + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}


static void
ngx_http_capture_spool_sync_done(ngx_event_t *ev)
{
    ngx_http_capture_spool_t           *sp;
    ngx_http_capture_spool_sync_ctx_t  *ctx;

    sp = ev->data;
    ctx = sp->task->ctx;

    sp->in_thread = 0;

    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_SYNCS, 1);
    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_SYNC_MS,
                                (ngx_int_t) ctx->ms);

    if (ctx->err) {
        ngx_log_error(NGX_LOG_ALERT, sp->log, ctx->err,
                      "capture spool: fdatasync() of \"%*s\" failed",
                      sp->writer.id.len, sp->writer.id.data);
    }

    ngx_http_capture_spool_answer(&sp->syncing, NULL);

    /* requests that came meanwhile: the next sync is theirs */

    if (sp->waiting.nelts && !sp->exiting) {
        ngx_http_capture_spool_swap(&sp->waiting, &sp->syncing);

        if (ngx_http_capture_spool_sync_post(sp) != NGX_OK) {
            ngx_http_capture_spool_sync(sp);
            ngx_http_capture_spool_answer(&sp->syncing, NULL);
        }
    }
}

#endif


static void
ngx_http_capture_spool_tick_handler(ngx_event_t *ev)
{
    ngx_uint_t                     syncing;
    ngx_queue_t                   *q, *next;
    ngx_connection_t              *c;
    ngx_http_capture_spool_t      *sp;
    ngx_http_capture_spool_log_t  *log;

    c = ev->data;
    sp = c->data;

    /* a sync still at it in a thread: the next tick */

    syncing = 0;

#if (NGX_THREADS)
    syncing = sp->in_thread;
#endif

    if (sp->conf->sync && sp->conf->sync != NGX_HTTP_CAPTURE_SPOOL_ALWAYS
        && !syncing && cap_spool_sync_pending(&sp->writer)
        && ngx_current_msec - sp->synced >= sp->conf->sync)
    {
        sp->synced = ngx_current_msec;

#if (NGX_THREADS)
        if (sp->task == NULL || ngx_http_capture_spool_sync_post(sp) != NGX_OK)
#endif
        {
            ngx_http_capture_spool_sync(sp);
        }
    }

    ngx_http_capture_spool_flush(sp, &sp->own);

    for (q = ngx_queue_head(&sp->adopted);
         q != ngx_queue_sentinel(&sp->adopted);
         q = next)
    {
        next = ngx_queue_next(q);
        log = ngx_queue_data(q, ngx_http_capture_spool_log_t, queue);

        ngx_http_capture_spool_flush(sp, log);
    }

    (void) ngx_http_capture_spool_measure(sp);

    ngx_http_capture_spool_ages(sp);

    if (!sp->exiting) {
        ngx_add_timer(&sp->tick, NGX_HTTP_CAPTURE_SPOOL_TICK);
    }
}


/*
 * Cursors that moved are written; segments every destination has passed
 * are removed; an adopted log read and delivered whole goes.
 */

static void
ngx_http_capture_spool_flush(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log)
{
    size_t                           n, k;
    uint64_t                         current;
    ngx_uint_t                       i, busy;
    cap_error_t                      err;
    cap_spool_seg_t                  segs[64];
    cap_spool_pos_t                  cursors[64];
    ngx_http_capture_spool_track_t  *t;

    busy = 0;
    n = 0;

    for (i = 0; i < log->ntracks; i++) {
        t = &log->tracks[i];

        if (t->dest == NULL) {
            continue;
        }

        if (!ngx_queue_empty(&t->marks)) {
            busy = 1;
        }

        if (t->dirty) {
            if (ngx_http_capture_spool_track_open(sp, t) == NGX_OK
                && cap_spool_cursor_store(&t->cursor, &t->done, 0, &err)
                   == CAP_OK)
            {
                t->dirty = 0;
            }
        }

        if (n < 64) {
            cursors[n++] = t->dirty ? t->cursor.pos : t->done;
        }
    }

    /* segments first..last: the own log's last is the writer's */

    k = 0;

    while (log->first && k < 64
           && log->first + k <= (log->own ? sp->writer.seq : log->last))
    {
        segs[k].seq = log->first + k;
        segs[k].size = (uint64_t) -1;
        k++;
    }

    /*
     * A segment's size is not needed: a cursor in a later segment has
     * passed it, and a cursor inside it has not (its end is unknown
     * here); the segment the writer appends to never goes.  One it can
     * no longer append to (a write failed, or a new segment could not
     * be made: a full disk) has its size known, and goes once passed,
     * or a disk filled by it would stay full.
     */

    current = 0;

    if (log->own && k && segs[k - 1].seq == sp->writer.seq) {
        if (cap_spool_writer_live(&sp->writer)) {
            current = sp->writer.seq;

        } else {
            segs[k - 1].size = sp->writer.offset;
        }
    }

    k = cap_spool_removable(segs, k, cursors, n, current);

    if (k) {
        ngx_http_capture_spool_remove(sp, log, k);
    }

#if (NGX_THREADS)
    if (sp->removing == log) {

        /* released once its segments are gone */
        return;
    }
#endif

    if (!log->own && log->read_all && !busy) {
        ngx_http_capture_spool_release(sp, log);
    }
}


/*
 * The first "n" segments of "log" go.  Removing a segment frees its
 * page cache and waits on the file system's journal, milliseconds for
 * 16 MB: in the thread pool when there is one, while the worker lives,
 * one removal at a time (the next tick takes what is left).  "first"
 * moves on at once, so that nothing else reads them meanwhile.
 */

static void
ngx_http_capture_spool_remove(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, size_t n)
{
    size_t        i;
    cap_error_t   err;

#if (NGX_THREADS)
    ngx_http_capture_spool_remove_ctx_t  *ctx;

    /* in exit_process, the thread pool is already gone */

    if (sp->remove && ngx_http_capture_spool_worker == sp) {

        if (sp->removing) {
            return;
        }

        ctx = sp->remove->ctx;

        ctx->dir = &sp->dir;
        ctx->first = log->first;
        ctx->n = n;
        ctx->removed = 0;
        ctx->writer.data = ctx->writer_data;
        ctx->writer.len = log->writer.len;
        ngx_memcpy(ctx->writer_data, log->writer.data, log->writer.len);

        if (ngx_thread_task_post(sp->thread_pool, sp->remove) == NGX_OK) {
            sp->removing = log;
            log->first += n;
            return;
        }
    }
#endif

    for (i = 0; i < n; i++) {
        if (cap_spool_segment_remove(&sp->dir, &log->writer, log->first,
                                     &err)
            != CAP_OK)
        {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
            break;
        }

        log->first++;
    }
}


#if (NGX_THREADS)

static void
ngx_http_capture_spool_remove_thread(void *data, ngx_log_t *log)
{
    ngx_http_capture_spool_remove_ctx_t *ctx = data;

    while (ctx->removed < ctx->n) {
        if (cap_spool_segment_remove(ctx->dir, &ctx->writer,
                                     ctx->first + ctx->removed, &ctx->err)
            != CAP_OK)
        {
            break;
        }

        ctx->removed++;
    }
}


/*
 * A segment that could not go is tried again by the next tick; the
 * directory is measured again, for max_size.
 */

static void
ngx_http_capture_spool_remove_done(ngx_event_t *ev)
{
    ngx_http_capture_spool_t             *sp;
    ngx_http_capture_spool_log_t         *log;
    ngx_http_capture_spool_remove_ctx_t  *ctx;

    sp = ev->data;
    ctx = sp->remove->ctx;
    log = sp->removing;

    sp->removing = NULL;

    if (ctx->removed < ctx->n) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &ctx->err);

        log->first = ctx->first + ctx->removed;
    }

    (void) ngx_http_capture_spool_measure(sp);
}

#endif


/* logs of processes that are gone: adopted, and delivered */

static void
ngx_http_capture_spool_scan_handler(ngx_event_t *ev)
{
    int                              fd;
    size_t                           i;
    ngx_int_t                        rc;
    ngx_uint_t                       k;
    cap_pool_t                       pool;
    ngx_pool_t                      *p;
    cap_error_t                      err;
    ngx_queue_t                     *q;
    cap_spool_log_t                 *l;
    ngx_connection_t                *c;
    cap_spool_list_t                 list;
    ngx_http_capture_spool_t        *sp;
    ngx_http_capture_spool_log_t    *log;
    ngx_http_capture_spool_track_t  *t;

    c = ev->data;
    sp = c->data;

    if (sp->exiting) {
        return;
    }

    ngx_add_timer(&sp->scan, NGX_HTTP_CAPTURE_SPOOL_SCAN);

    p = ngx_create_pool(4096, sp->log);
    if (p == NULL) {
        return;
    }

    pool.alloc = ngx_http_capture_spool_palloc;
    pool.free = NULL;
    pool.data = p;

    if (cap_spool_list(&sp->dir, NULL, &pool, &list, &err) != CAP_OK) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        ngx_destroy_pool(p);
        return;
    }

    for (i = 0; i < list.nlogs; i++) {
        l = &list.logs[i];

        if (l->writer.len == sp->writer.id.len
            && ngx_memcmp(l->writer.data, sp->writer.id.data,
                          l->writer.len) == 0)
        {
            continue;
        }

        /* adopted already */

        for (q = ngx_queue_head(&sp->adopted);
             q != ngx_queue_sentinel(&sp->adopted);
             q = ngx_queue_next(q))
        {
            log = ngx_queue_data(q, ngx_http_capture_spool_log_t, queue);

            if (log->writer.len == l->writer.len
                && ngx_memcmp(log->writer.data, l->writer.data,
                              l->writer.len) == 0)
            {
                break;
            }
        }

        if (q != ngx_queue_sentinel(&sp->adopted)) {
            continue;
        }

        /*
         * A log with a lock file and nothing else may be a sibling's that
         * is being made (its lock file is created, then locked): left
         * alone until it is old enough to be an orphan's.
         */

        if (l->nsegs == 0 && l->ndests == 0
            && !ngx_http_capture_spool_stale(sp, &l->writer))
        {
            continue;
        }

        rc = cap_spool_adopt_try(&sp->dir, &l->writer, &fd, &err);

        if (rc == CAP_SPOOL_BUSY) {
            continue;
        }

        if (rc != CAP_OK) {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
            continue;
        }

        log = ngx_pcalloc(ngx_cycle->pool,
                          sizeof(ngx_http_capture_spool_log_t));
        if (log == NULL
            || ngx_http_capture_spool_log_init(sp, log, &l->writer) != NGX_OK)
        {
            cap_spool_unlock(&sp->dir, &l->writer, fd, 0);
            continue;
        }

        log->lock = fd;
        log->first = l->nsegs ? l->segs[0].seq : 0;
        log->last = l->nsegs ? l->segs[l->nsegs - 1].seq : 0;

        /* each destination replays from its cursor */

        for (k = 0; l->nsegs && k < log->ntracks; k++) {
            t = &log->tracks[k];

            if (t->dest == NULL) {
                continue;
            }

            (void) ngx_http_capture_spool_track_open(sp, t);

            t->read = t->done;

            if (t->read.seq < log->first) {
                t->read.seq = log->first;
                t->read.offset = 0;
            }

            t->replay = 1;

            if (log->leader == NULL
                || cap_spool_pos_cmp(&t->read, &log->leader->read) < 0)
            {
                log->leader = t;
            }
        }

        if (log->leader == NULL) {
            log->read_all = 1;
        }

        ngx_queue_insert_tail(&sp->adopted, &log->queue);

        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "capture spool: adopted the log \"%*s\" "
                      "(%uz segments) of a process that is gone",
                      l->writer.len, l->writer.data, l->nsegs);

        if (!sp->replay.timer_set) {
            ngx_add_timer(&sp->replay, 1);
        }
    }

    ngx_destroy_pool(p);
}


static void
ngx_http_capture_spool_replay_handler(ngx_event_t *ev)
{
    ngx_int_t                      again;
    ngx_uint_t                     i;
    ngx_queue_t                   *q, *next;
    ngx_connection_t              *c;
    ngx_http_capture_spool_t      *sp;
    ngx_http_capture_spool_log_t  *log;

    c = ev->data;
    sp = c->data;

    again = 0;

    for (i = 0; i < sp->own.ntracks; i++) {
        if (sp->own.tracks[i].behind
            && ngx_http_capture_spool_catch_up(sp, &sp->own.tracks[i])
               != NGX_DONE)
        {
            again = 1;
        }
    }

    for (q = ngx_queue_head(&sp->adopted);
         q != ngx_queue_sentinel(&sp->adopted);
         q = next)
    {
        next = ngx_queue_next(q);
        log = ngx_queue_data(q, ngx_http_capture_spool_log_t, queue);

        if (!log->read_all && ngx_http_capture_spool_replay(sp, log)
                              != NGX_DONE)
        {
            again = 1;
        }
    }

    if (again && !sp->exiting) {
        ngx_add_timer(&sp->replay, NGX_HTTP_CAPTURE_SPOOL_TICK);
    }
}


/*
 * A destination's queue has no room for a request's events: with the
 * spool, it falls behind on disk instead of the client being answered
 * 503.  NGX_DECLINED: no spool, or not a remote destination.
 */

ngx_int_t
ngx_http_capture_spool_behind(ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_spool_t        *sp;
    ngx_http_capture_spool_track_t  *t;

    sp = ngx_http_capture_spool_worker;

    if (sp == NULL || sp->exiting || dest->index >= sp->own.ntracks) {
        return NGX_DECLINED;
    }

    t = &sp->own.tracks[dest->index];

    if (t->dest == NULL) {
        return NGX_DECLINED;
    }

    if (t->behind) {
        return NGX_OK;
    }

    /* the next record is where the writer is now (or in its next segment) */

    t->behind = 1;
    t->read.seq = sp->writer.seq;
    t->read.offset = sp->writer.offset + sp->writer.staged;
    t->since = ngx_http_capture_spool_now();

    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_BEHIND, 1);

    ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                  "capture destination \"%V\": queue full, its events wait "
                  "in the spool", &dest->name);

    if (!sp->replay.timer_set) {
        ngx_add_timer(&sp->replay, NGX_HTTP_CAPTURE_SPOOL_TICK);
    }

    return NGX_OK;
}


/*
 * A destination behind in this worker's log reads it on while its queue
 * has room; at the writer's end it is live again.
 */

static ngx_int_t
ngx_http_capture_spool_catch_up(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_track_t *t)
{
    /* what is staged is not in the file yet: the end is after it */

    if (sp->writer.staged) {
        ngx_http_capture_spool_write(sp);
    }

    if (t->read.seq == 0) {
        t->read.seq = sp->writer.seq;
        t->read.offset = 0;
    }

    if (ngx_http_capture_spool_read_on(sp, t->log, &t->reader, &t->reading,
                                       &t->read, t)
        != NGX_DONE)
    {
        return NGX_AGAIN;
    }

    t->behind = 0;

    ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                  "capture destination \"%V\": caught up with the spool",
                  &t->dest->name);

    return NGX_DONE;
}


/* an adopted log is read on by each destination, from where it is */

static ngx_int_t
ngx_http_capture_spool_replay(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log)
{
    ngx_uint_t                       i, left;
    ngx_http_capture_spool_track_t  *t;

    left = 0;

    for (i = 0; i < log->ntracks; i++) {
        t = &log->tracks[i];

        if (t->dest == NULL || !t->replay) {
            continue;
        }

        if (ngx_http_capture_spool_read_on(sp, log, &t->reader, &t->reading,
                                           &t->read, t)
            == NGX_DONE)
        {
            t->replay = 0;
            continue;
        }

        left++;
    }

    if (left) {
        return NGX_AGAIN;
    }

    log->read_all = 1;

    return NGX_DONE;
}


/*
 * Reads "log" on from "pos", a few records a turn, each to the
 * destinations that have not passed it ("only": to that one alone),
 * while they have room.  NGX_DONE: at the end of the log (its last
 * segment, or the live writer's).  The end of an older segment goes on
 * to the next; in a log whose writer is gone, a segment that ends inside
 * a record has a torn tail: counted, and skipped.
 */

static ngx_int_t
ngx_http_capture_spool_read_on(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_reader_t *r,
    ngx_uint_t *reading, cap_spool_pos_t *pos,
    ngx_http_capture_spool_track_t *only)
{
    uint64_t            last;
    ngx_int_t           rc;
    ngx_uint_t          n;
    cap_error_t         err;
    cap_spool_record_t  rec;

    for (n = 0; n < NGX_HTTP_CAPTURE_SPOOL_BATCH; n++) {

        last = log->own ? sp->writer.seq : log->last;

        if (!*reading) {
            if (pos->seq > last || pos->seq == 0) {
                return NGX_DONE;
            }

            rc = cap_spool_reader_open(r, &sp->dir, &log->writer, pos->seq,
                                       pos->offset, CAP_SPOOL_PAYLOAD_LIMIT,
                                       &ngx_http_capture_spool_heap, &err);

            if (rc == CAP_SPOOL_NOENT) {
                pos->seq++;
                pos->offset = 0;
                continue;
            }

            if (rc != CAP_OK) {
                ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
                return NGX_AGAIN;
            }

            *reading = 1;
        }

        rc = cap_spool_read(r, &rec, &err);

        if (rc == CAP_OK) {
            if (ngx_http_capture_spool_read_record(sp, log, &rec, only)
                == NGX_AGAIN)
            {
                /* no room now: the record is read again later */

                *pos = rec.start;
                cap_spool_reader_close(r);
                *reading = 0;
                return NGX_AGAIN;
            }

            *pos = rec.end;
            continue;
        }

        if (rc == CAP_ERROR) {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
            return NGX_AGAIN;
        }

        /* damage of a log that is gone is counted once, by its leader */

        if (!log->own && only == log->leader) {
            ngx_http_capture_spool_damage(sp, log, r, rc);
        }

        cap_spool_reader_close(r);
        *reading = 0;

        if (pos->seq >= last) {
            return NGX_DONE;
        }

        pos->seq++;
        pos->offset = 0;
    }

    return NGX_AGAIN;
}


/* what reading a segment of a log that is gone skipped: counted, logged */

static void
ngx_http_capture_spool_damage(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_reader_t *r, ngx_int_t rc)
{
    if (rc == CAP_SPOOL_TORN) {
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_TORN, 1);

        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "capture spool: segment %uL of log \"%*s\" ends "
                      "inside a record (%uL bytes at %uL): skipped",
                      r->seq, log->writer.len, log->writer.data,
                      r->torn_bytes, r->torn_offset);
    }

    if (r->corrupt) {
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_CORRUPT,
                                    (ngx_int_t) r->corrupt);

        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "capture spool: segment %uL of log \"%*s\": %uL "
                      "corrupt records (%uL bytes) skipped",
                      r->seq, log->writer.len, log->writer.data,
                      r->corrupt, r->skipped);
    }
}


/*
 * A record read back goes to the destinations that have not passed it
 * ("only": to that one alone).  NGX_AGAIN: one of them has no room for
 * it now.
 */

static ngx_int_t
ngx_http_capture_spool_read_record(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log, cap_spool_record_t *rec,
    ngx_http_capture_spool_track_t *only)
{
    size_t                           k;
    ngx_int_t                        rc;
    cap_buf_t                        records;
    cap_pool_t                       pool;
    ngx_pool_t                      *p;
    ngx_uint_t                       i;
    cap_error_t                      err;
    cap_batch_t                      batch;
    ngx_str_t                        name;
    cap_spool_payload_t              pl;
    ngx_http_capture_dest_t         *dest;
    ngx_http_capture_accepted_t      a;
    ngx_http_capture_spool_track_t  *t;

    if (rec->payload.len < 1
        || cap_spool_payload_decode(rec->payload.data + 1,
                                    rec->payload.len - 1, &pl)
           != CAP_OK)
    {
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_CORRUPT, 1);
        return NGX_OK;
    }

    p = ngx_create_pool(4096 + pl.text.len, sp->log);
    if (p == NULL) {
        return NGX_AGAIN;
    }

    pool.alloc = ngx_http_capture_spool_palloc;
    pool.free = NULL;
    pool.data = p;

    rc = NGX_OK;

    if (cap_record_decode(&pool, pl.text.data, pl.text.len, &batch, &err)
        != CAP_OK)
    {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "capture spool: a record of log \"%*s\" is not "
                      "canonical records, skipped: %s", log->writer.len,
                      log->writer.data, err.text);
        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_CORRUPT, 1);
        goto done;
    }

    batch.recordings = (rec->payload.data[0] & 1);

    records.data = pl.text.data;
    records.len = pl.text.len;

    a.batch = &batch;
    a.records = &records;
    a.pool = &pool;

    /* a log of an older configuration may name a destination now gone */

    for (k = 0; !log->unknown && k < pl.ndests; k++) {
        name.data = pl.dests[k].data;
        name.len = pl.dests[k].len;

        if (ngx_http_capture_dest_find(sp->cmcf, &name) == NULL) {
            log->unknown = 1;

            ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                          "capture spool: the log \"%*s\" has events for "
                          "\"%V\", which is no longer configured: they are "
                          "not sent", log->writer.len, log->writer.data,
                          &name);
        }
    }

    /* all or nothing, as for a request: the room of each first */

    for (i = 0; i < log->ntracks; i++) {
        t = &log->tracks[i];
        dest = t->dest;

        if (dest == NULL || cap_spool_pos_cmp(&rec->start, &t->done) < 0
            || (only && t != only))
        {
            continue;
        }

        for (k = 0; k < pl.ndests; k++) {
            if (pl.dests[k].len == dest->name.len
                && ngx_strncmp(pl.dests[k].data, dest->name.data,
                               dest->name.len) == 0
                && dest->type->room(dest, &a) != NGX_OK)
            {
                rc = NGX_AGAIN;
                goto done;
            }
        }
    }

    if (ngx_http_capture_spool_marks(sp, log, rec, &a, pl.dests, pl.ndests,
                                     only, sp->log)
        != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_REPLAYED,
                                (ngx_int_t) batch.nevents);

done:

    ngx_destroy_pool(p);

    return rc;
}


/* an adopted log is done with: its files go, and its lock */

static void
ngx_http_capture_spool_release(ngx_http_capture_spool_t *sp,
    ngx_http_capture_spool_log_t *log)
{
    size_t                           k;
    ngx_uint_t                       i;
    cap_str_t                        name;
    cap_pool_t                       pool;
    ngx_pool_t                      *p;
    cap_error_t                      err;
    cap_spool_list_t                 list;
    ngx_http_capture_spool_track_t  *t;

    while (log->first && log->first <= log->last) {
        if (cap_spool_segment_remove(&sp->dir, &log->writer, log->first,
                                     &err)
            != CAP_OK)
        {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        }

        log->first++;
    }

    for (i = 0; i < log->ntracks; i++) {
        t = &log->tracks[i];

        if (t->reading) {
            cap_spool_reader_close(&t->reader);
            t->reading = 0;
        }

        if (t->open) {
            cap_spool_cursor_close(&t->cursor);
            t->open = 0;
        }
    }

    /* every cursor of the log, also of destinations no longer here */

    p = ngx_create_pool(4096, sp->log);

    if (p != NULL) {
        pool.alloc = ngx_http_capture_spool_palloc;
        pool.free = NULL;
        pool.data = p;

        if (cap_spool_list(&sp->dir, &log->writer, &pool, &list, &err)
            == CAP_OK && list.nlogs == 1)
        {
            for (k = 0; k < list.logs[0].ndests; k++) {
                name = list.logs[0].dests[k];
                (void) cap_spool_cursor_remove(&sp->dir, &log->writer, &name,
                                               &err);
            }
        }

        ngx_destroy_pool(p);
    }

    cap_spool_unlock(&sp->dir, &log->writer, log->lock, 1);
    log->lock = -1;

    ngx_queue_remove(&log->queue);

    ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                  "capture spool: the log \"%*s\" is delivered",
                  log->writer.len, log->writer.data);
}


/* graceful exit began: no new replay, what is held still drains */

void
ngx_http_capture_spool_shutdown(void)
{
    ngx_http_capture_spool_t  *sp;

    sp = ngx_http_capture_spool_worker;

    if (sp == NULL) {
        return;
    }

    sp->exiting = 1;

    if (sp->scan.timer_set) {
        ngx_del_timer(&sp->scan);
    }

    if (sp->replay.timer_set) {
        ngx_del_timer(&sp->replay);
    }
}


/*
 * The worker leaves: cursors are written as they are, and the log is
 * left to whoever adopts it next; a log fully delivered is removed.
 */

void
ngx_http_capture_spool_exit_process(void)
{
    cap_str_t                        name;
    ngx_uint_t                       i, busy;
    cap_error_t                      err;
    ngx_queue_t                     *q;
    ngx_http_capture_spool_t        *sp;
    ngx_http_capture_spool_log_t    *log;
    ngx_http_capture_spool_track_t  *t;

    sp = ngx_http_capture_spool_worker;

    if (sp == NULL) {
        return;
    }

    ngx_http_capture_spool_worker = NULL;
    sp->exiting = 1;

    if (sp->tick.timer_set) {
        ngx_del_timer(&sp->tick);
    }

    if (sp->scan.timer_set) {
        ngx_del_timer(&sp->scan);
    }

    if (sp->replay.timer_set) {
        ngx_del_timer(&sp->replay);
    }

    if (sp->write.posted) {
        ngx_delete_posted_event(&sp->write);
    }

    if (sp->sync.posted) {
        ngx_delete_posted_event(&sp->sync);
    }

    busy = 0;

    for (i = 0; i < sp->own.ntracks; i++) {
        t = &sp->own.tracks[i];

        if (t->dest && (!ngx_queue_empty(&t->marks) || t->behind)) {
            busy = 1;
        }

        if (t->reading) {
            cap_spool_reader_close(&t->reader);
            t->reading = 0;
        }
    }

    ngx_http_capture_spool_flush(sp, &sp->own);

    for (i = 0; i < sp->own.ntracks; i++) {
        if (sp->own.tracks[i].dest) {
            ngx_http_capture_stat_oldest(sp->own.tracks[i].dest, 0);
        }
    }

    while (!ngx_queue_empty(&sp->adopted)) {
        q = ngx_queue_head(&sp->adopted);
        log = ngx_queue_data(q, ngx_http_capture_spool_log_t, queue);

        ngx_http_capture_spool_flush(sp, log);

        if (ngx_queue_head(&sp->adopted) == q) {

            /* not all delivered: its lock goes, the next worker adopts */

            ngx_queue_remove(q);

            for (i = 0; i < log->ntracks; i++) {
                t = &log->tracks[i];

                if (t->open) {
                    cap_spool_cursor_close(&t->cursor);
                }

                if (t->reading) {
                    cap_spool_reader_close(&t->reader);
                }
            }

            cap_spool_unlock(&sp->dir, &log->writer, log->lock, 0);
        }
    }

    for (i = 0; i < sp->own.ntracks; i++) {
        t = &sp->own.tracks[i];

        if (t->open) {
            cap_spool_cursor_close(&t->cursor);
            t->open = 0;
        }

        /* all delivered: nothing of the log need stay */

        if (!busy && t->dest) {
            name.data = t->dest->name.data;
            name.len = t->dest->name.len;

            (void) cap_spool_cursor_remove(&sp->dir, &sp->own.writer, &name,
                                           &err);
        }
    }

    while (!busy && sp->own.first && sp->own.first <= sp->writer.seq) {
        if (cap_spool_segment_remove(&sp->dir, &sp->own.writer,
                                     sp->own.first, &err)
            != CAP_OK)
        {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        }

        sp->own.first++;
    }

    if (cap_spool_writer_close(&sp->writer, &err) != CAP_OK) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ALERT, &err);
    }

    if (busy) {
        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "capture spool: undelivered events stay in the log "
                      "\"%*s\" for the next worker", sp->writer.id.len,
                      sp->writer.id.data);
    }

    cap_spool_dir_close(&sp->dir);
}


/*
 * overflow=drop_oldest: the oldest segments of this worker's log go
 * until "need" bytes fit, its current one never; their events are
 * counted and lost for every destination that had not delivered them
 * (those a queue holds in memory still go).  NGX_DECLINED: not enough
 * could go.
 */

static ngx_int_t
ngx_http_capture_spool_drop(ngx_http_capture_spool_t *sp, size_t need)
{
    u_char                          *p, *end;
    ngx_int_t                        rc;
    ngx_uint_t                       i, events;
    cap_error_t                      err;
    cap_spool_pos_t                  next;
    cap_spool_reader_t               r;
    cap_spool_record_t               rec;
    cap_spool_payload_t              pl;
    ngx_http_capture_spool_track_t  *t;

    while (ngx_http_capture_spool_used(sp) + need > sp->conf->max_size) {

        if (sp->own.first == 0 || sp->own.first >= sp->writer.seq) {
            return NGX_DECLINED;
        }

#if (NGX_THREADS)
        if (sp->removing) {

            /*
             * delivered segments are going and still counted: no
             * undelivered one is dropped for their space (a 503 now,
             * room in a moment)
             */

            return NGX_DECLINED;
        }
#endif

        /* its events, for the counter and the line */

        events = 0;

        rc = cap_spool_reader_open(&r, &sp->dir, &sp->own.writer,
                                   sp->own.first, 0, CAP_SPOOL_PAYLOAD_LIMIT,
                                   &ngx_http_capture_spool_heap, &err);

        while (rc == CAP_OK) {
            rc = cap_spool_read(&r, &rec, &err);

            if (rc != CAP_OK) {
                break;
            }

            if (rec.payload.len < 1
                || cap_spool_payload_decode(rec.payload.data + 1,
                                            rec.payload.len - 1, &pl)
                   != CAP_OK)
            {
                continue;
            }

            end = pl.text.data + pl.text.len;

            for (p = pl.text.data; p < end; p++) {
                events += (*p == '\n');
            }
        }

        if (rc != CAP_SPOOL_NOENT) {
            cap_spool_reader_close(&r);
        }

        if (cap_spool_segment_remove(&sp->dir, &sp->own.writer,
                                     sp->own.first, &err)
            != CAP_OK)
        {
            ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "capture spool: full, its oldest segment %uL with "
                      "%ui events dropped (overflow=drop_oldest)",
                      sp->own.first, events);

        ngx_http_capture_stat_spool(NGX_HTTP_CAPTURE_SPOOL_STAT_DROPPED,
                                    (ngx_int_t) events);

        sp->own.first++;

        next.seq = sp->own.first;
        next.offset = 0;

        /* the destinations go on after it */

        for (i = 0; i < sp->own.ntracks; i++) {
            t = &sp->own.tracks[i];

            if (t->dest == NULL) {
                continue;
            }

            if (cap_spool_pos_cmp(&t->done, &next) < 0) {
                t->done = next;
                t->dirty = 1;
            }

            if (t->behind && cap_spool_pos_cmp(&t->read, &next) < 0) {
                if (t->reading) {
                    cap_spool_reader_close(&t->reader);
                    t->reading = 0;
                }

                t->read = next;
            }
        }

        if (ngx_http_capture_spool_measure(sp) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The directory measured, and the shared count of appended bytes read
 * just before: what others append meanwhile may be counted twice (a
 * 503 a moment early), never missed.
 */

static ngx_int_t
ngx_http_capture_spool_measure(ngx_http_capture_spool_t *sp)
{
    uint64_t           usage;
    cap_error_t        err;
    ngx_atomic_uint_t  at;

    at = *sp->appended;

    if (cap_spool_usage(&sp->dir, &usage, &err) != CAP_OK) {
        ngx_http_capture_spool_error(sp->log, NGX_LOG_ERR, &err);
        return NGX_ERROR;
    }

    sp->usage = usage;
    sp->measured_at = at;

    ngx_http_capture_stat_spool_bytes(usage);

    return NGX_OK;
}


static uint64_t
ngx_http_capture_spool_used(ngx_http_capture_spool_t *sp)
{
    return sp->usage + (uint64_t) (*sp->appended - sp->measured_at);
}


/*
 * For the status: since when each destination's oldest undelivered event
 * of this worker waits, in any log: the first of its marks, or when it
 * fell behind on disk.
 */

static void
ngx_http_capture_spool_ages(ngx_http_capture_spool_t *sp)
{
    uint64_t                         since;
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_capture_spool_log_t    *log;
    ngx_http_capture_spool_mark_t   *m;
    ngx_http_capture_spool_track_t  *t;

    for (i = 0; i < sp->own.ntracks; i++) {
        if (sp->own.tracks[i].dest == NULL) {
            continue;
        }

        since = 0;
        log = &sp->own;
        q = NULL;

        for ( ;; ) {
            t = &log->tracks[i];

            if (t->behind && (since == 0 || t->since < since)) {
                since = t->since;
            }

            if (!ngx_queue_empty(&t->marks)) {
                m = ngx_queue_data(ngx_queue_head(&t->marks),
                                   ngx_http_capture_spool_mark_t, queue);

                if (since == 0 || m->time < since) {
                    since = m->time;
                }
            }

            q = q ? ngx_queue_next(q) : ngx_queue_head(&sp->adopted);

            if (q == ngx_queue_sentinel(&sp->adopted)) {
                break;
            }

            log = ngx_queue_data(q, ngx_http_capture_spool_log_t, queue);
        }

        ngx_http_capture_stat_oldest(sp->own.tracks[i].dest, since);
    }
}


/* 1: the log's lock file is over a minute old */

static ngx_uint_t
ngx_http_capture_spool_stale(ngx_http_capture_spool_t *sp, cap_str_t *writer)
{
    char         name[CAP_SPOOL_FILE_NAME_LEN];
    struct stat  st;

    (void) cap_spool_lock_name(name, writer);

    if (fstatat(sp->dir.fd, name, &st, 0) == -1) {
        return 0;
    }

    return ngx_time() - st.st_mtime > 60;
}


static uint64_t
ngx_http_capture_spool_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


static ngx_uint_t
ngx_http_capture_spool_remote(ngx_http_capture_dest_t *d)
{
    return d->type->room == ngx_http_capture_remote_room;
}


static void
ngx_http_capture_spool_error(ngx_log_t *log, ngx_uint_t level,
    cap_error_t *err)
{
    ngx_log_error(level, log, 0, "capture spool: %s", err->text);
}


static void *
ngx_http_capture_spool_alloc(void *data, size_t size)
{
    return ngx_alloc(size, ngx_cycle->log);
}


static void
ngx_http_capture_spool_free(void *data, void *p)
{
    ngx_free(p);
}


static void *
ngx_http_capture_spool_palloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}
