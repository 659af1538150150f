
/*
 * The delivery queue of an HTTP destination, one per destination and
 * worker: events wait as encoded items, leave in batches (by count,
 * bytes and time, one token and one kind per batch), and are retried
 * with backoff until delivered or refused.  Memory is the queue's own,
 * bounded by its limits; a request whose events do not fit is answered
 * 503 before anything is queued.
 */


#ifndef _NGX_HTTP_CAPTURE_QUEUE_H_INCLUDED_
#define _NGX_HTTP_CAPTURE_QUEUE_H_INCLUDED_


#include "ngx_http_capture_module.h"
#include "encode/cap_encode.h"


#define NGX_HTTP_CAPTURE_OVERFLOW_REJECT       0
#define NGX_HTTP_CAPTURE_OVERFLOW_DROP_OLDEST  1


#define NGX_HTTP_CAPTURE_SAMPLE_ALL            1000000


/* which events a destination takes */
typedef struct {
    ngx_array_t                *include;          /* ngx_str_t patterns */
    ngx_array_t                *exclude;
    ngx_uint_t                  sample;           /* in millionths */
} ngx_http_capture_filter_t;


/* what a destination changes in the events it takes */
typedef struct {
    cap_transform_t             t;
    unsigned                    on:1;
} ngx_http_capture_transform_t;


/* takes one canonical record a destination takes */
typedef ngx_int_t (*ngx_http_capture_record_pt)(void *data, ngx_str_t *line);


typedef struct ngx_http_capture_queue_s  ngx_http_capture_queue_t;
typedef struct ngx_http_capture_batch_s  ngx_http_capture_batch_t;


typedef struct {
    ngx_uint_t                  batch_size;       /* events */
    size_t                      batch_bytes;
    ngx_msec_t                  flush_interval;
    ngx_uint_t                  max_in_flight;
    ngx_uint_t                  queue_events;
    size_t                      queue_bytes;
    ngx_uint_t                  overflow;
    ngx_msec_t                  retry_delay;      /* the first backoff */
    ngx_msec_t                  retry_max_delay;
    ngx_msec_t                  timeout;
    ngx_msec_t                  connect_timeout;
    ngx_flag_t                  ssl_verify;
    ngx_str_t                   ssl_ca_file;      /* NUL-terminated */
    ngx_str_t                   proxy;            /* NUL-terminated */
    ngx_http_capture_filter_t   filter;
    ngx_http_capture_transform_t  transform;
} ngx_http_capture_queue_conf_t;


/* one event, encoded as the destination takes it */
typedef struct {
    ngx_queue_t                 queue;
    size_t                      len;
    u_char                     *data;
    ngx_str_t                   token;
    ngx_http_capture_spool_mark_t  *mark;     /* its record in the spool */
    unsigned                    recording:1;
    unsigned                    historical:1;
} ngx_http_capture_item_t;


struct ngx_http_capture_batch_s {
    ngx_queue_t                 queue;       /* in the queue's batches */
    ngx_queue_t                 items;
    ngx_uint_t                  nevents;
    size_t                      bytes;
    ngx_uint_t                  attempts;
    ngx_msec_t                  created;
    ngx_msec_t                  started;
    ngx_event_t                 retry;
    ngx_http_capture_queue_t   *q;
    ngx_http_capture_xfer_t     xfer;
    ngx_str_t                   body;        /* the request in flight */
    unsigned                    in_flight:1;
    unsigned                    ready:1;     /* waits for a free slot */
};


/* the type's part: the request for a batch (URL, headers, body) */
typedef ngx_int_t (*ngx_http_capture_send_pt)(ngx_http_capture_queue_t *q,
    ngx_http_capture_batch_t *b, CURL *easy);


struct ngx_http_capture_queue_s {
    ngx_http_capture_dest_t        *dest;
    ngx_http_capture_queue_conf_t  *conf;
    ngx_http_capture_send_pt        send;
    void                           *data;     /* the type's */
    ngx_log_t                      *log;

    ngx_queue_t                     pending;  /* items in no batch yet */
    ngx_uint_t                      pending_events;
    size_t                          pending_bytes;

    ngx_queue_t                     batches;
    ngx_uint_t                      in_flight;

    /* all held: pending and in batches */
    ngx_uint_t                      events;
    size_t                          bytes;

    ngx_event_t                     flush;
    ngx_connection_t                dummy;

    /* while a record's events are pushed: the mark they take */
    ngx_http_capture_spool_mark_t  *mark;

    unsigned                        exiting:1;
};


/*
 * What every remote destination type keeps first in its dest->data: its
 * queue's configuration, the worker's queue, and how a batch is sent.
 * The remote_* functions below then serve as the type's "room",
 * "init_process", "shutdown" and "exit_process".
 */
typedef struct {
    ngx_http_capture_queue_conf_t   queue;
    ngx_http_capture_queue_t       *q;
    ngx_http_capture_send_pt        send;
} ngx_http_capture_remote_t;


ngx_int_t ngx_http_capture_remote_room(ngx_http_capture_dest_t *dest,
    ngx_http_capture_accepted_t *a);
ngx_int_t ngx_http_capture_remote_init_process(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest);
void ngx_http_capture_remote_shutdown(ngx_http_capture_dest_t *dest);
void ngx_http_capture_remote_exit_process(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest);

char *ngx_http_capture_queue_conf(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_queue_conf_t *qcf);
ngx_http_capture_queue_t *ngx_http_capture_queue_create(ngx_cycle_t *cycle,
    ngx_http_capture_dest_t *dest, ngx_http_capture_queue_conf_t *qcf,
    ngx_http_capture_send_pt send, void *data);
ngx_int_t ngx_http_capture_queue_room(ngx_http_capture_queue_t *q,
    ngx_uint_t events, size_t bytes);
ngx_http_capture_item_t *ngx_http_capture_queue_item(
    ngx_http_capture_queue_t *q, size_t len, ngx_str_t *token);
void ngx_http_capture_queue_push(ngx_http_capture_queue_t *q,
    ngx_http_capture_item_t *item);
void ngx_http_capture_queue_shutdown(ngx_http_capture_queue_t *q);
void ngx_http_capture_queue_destroy(ngx_http_capture_queue_t *q);
ngx_str_t *ngx_http_capture_queue_url(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);

ngx_int_t ngx_http_capture_batch_join(ngx_http_capture_batch_t *b,
    cap_buf_t *out);
ngx_int_t ngx_http_capture_batch_post(ngx_http_capture_batch_t *b,
    CURL *easy, cap_buf_t *json, ngx_flag_t gzip, char *url,
    ngx_array_t *extra);

char *ngx_http_capture_filter_conf(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_filter_t *f);
ngx_uint_t ngx_http_capture_filter_match(ngx_http_capture_filter_t *f,
    cap_event_t *ev);
ngx_uint_t ngx_http_capture_filter_on(ngx_http_capture_filter_t *f);

char *ngx_http_capture_transform_conf(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_transform_t *t);
cap_event_t *ngx_http_capture_transform(ngx_http_capture_transform_t *t,
    ngx_http_capture_accepted_t *a, cap_event_t *ev, cap_event_t *copy);
ngx_int_t ngx_http_capture_records(ngx_http_capture_filter_t *f,
    ngx_http_capture_transform_t *t, ngx_http_capture_accepted_t *a,
    ngx_http_capture_record_pt take, void *data);


#endif /* _NGX_HTTP_CAPTURE_QUEUE_H_INCLUDED_ */
