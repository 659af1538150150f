
/*
 * The nginx side of the capture module: configuration, destinations and
 * the request handler.
 */


#ifndef _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_
#define _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>

#include "core/cap_core.h"
#include "capture/cap_capture.h"
#include "spool/cap_spool.h"


#define NGX_HTTP_CAPTURE_VERSION  "0.1.0"


typedef struct ngx_http_capture_dest_s  ngx_http_capture_dest_t;


/* one "key value..." line of a capture_destination block */
typedef struct {
    ngx_str_t                       key;
    ngx_str_t                      *values;
    ngx_uint_t                      nvalues;
    ngx_uint_t                      line;
    unsigned                        used:1;
} ngx_http_capture_param_t;


/* what a request hands to its destinations */
typedef struct {
    cap_batch_t                    *batch;
    cap_buf_t                      *records;   /* canonical, one a line */
    cap_pool_t                     *pool;      /* the request's */
} ngx_http_capture_accepted_t;


/*
 * A destination type: "init" takes the block's parameters at the end of
 * the block (ngx_http_capture_dest_param() marks each one it used);
 * "room" tells whether the events of a request fit now (NULL: always);
 * "deliver" takes them; "init_process", "shutdown" (graceful exit began:
 * send everything now) and "exit_process" run in each worker.
 */
typedef struct {
    ngx_str_t                       name;
    char                         *(*init)(ngx_conf_t *cf,
                                          ngx_http_capture_dest_t *dest);
    ngx_int_t                     (*room)(ngx_http_capture_dest_t *dest,
                                          ngx_http_capture_accepted_t *a);
    ngx_int_t                     (*deliver)(ngx_log_t *log,
                                             ngx_http_capture_dest_t *dest,
                                             ngx_http_capture_accepted_t *a);
    ngx_int_t                     (*init_process)(ngx_cycle_t *cycle,
                                          ngx_http_capture_dest_t *dest);
    void                          (*shutdown)(ngx_http_capture_dest_t *dest);
    void                          (*exit_process)(ngx_cycle_t *cycle,
                                          ngx_http_capture_dest_t *dest);
} ngx_http_capture_dest_type_t;


struct ngx_http_capture_dest_s {
    ngx_str_t                       name;
    ngx_uint_t                      index;    /* in the main conf's dests */
    ngx_http_capture_dest_type_t   *type;
    ngx_array_t                     params;   /* ngx_http_capture_param_t */
    ngx_str_t                       file;
    ngx_uint_t                      line;
    void                           *data;     /* the type's own */
};


/* capture_spool */
typedef struct {
    ngx_str_t                       path;
    uint64_t                        max_size;
    uint64_t                        segment_size;
    ngx_msec_t                      sync;     /* -1: always; 0: off */
    ngx_flag_t                      drop_oldest;
#if (NGX_THREADS)
    ngx_thread_pool_t              *thread_pool;
#endif
} ngx_http_capture_spool_conf_t;


typedef struct ngx_http_capture_spool_mark_s  ngx_http_capture_spool_mark_t;


typedef struct {
    ngx_array_t                     dests;    /* ngx_http_capture_dest_t * */
    ngx_msec_t                      drain_timeout;
    ngx_http_capture_spool_conf_t  *spool;
} ngx_http_capture_main_conf_t;


/* a transfer on the worker's libcurl multi handle */
typedef struct ngx_http_capture_xfer_s  ngx_http_capture_xfer_t;

typedef void (*ngx_http_capture_xfer_done_pt)(ngx_http_capture_xfer_t *x);

struct ngx_http_capture_xfer_s {
    CURL                           *easy;
    struct curl_slist              *headers;
    ngx_http_capture_xfer_done_pt   done;
    void                           *data;
    ngx_log_t                      *log;

    /* the outcome */
    CURLcode                        result;
    long                            status;
    ngx_msec_t                      retry_after;
    size_t                          answer_len;
    u_char                          answer[200];
    char                            error[CURL_ERROR_SIZE];

    unsigned                        running:1;  /* on the multi handle */
};


typedef struct {
    ngx_str_t                       name;
    ngx_http_complex_value_t        value;
} ngx_http_capture_prop_t;


/* a Segment or RudderStack write key this location takes */
typedef struct {
    ngx_str_t                       key;
    cap_str_t                       token;     /* PostHog's, for the events */
    cap_str_t                       group_type;
} ngx_http_capture_write_key_t;


typedef struct {
    ngx_array_t                    *dests;    /* ngx_http_capture_dest_t * */
    ngx_array_t                    *dest_names;          /* ngx_str_t */
    ngx_str_t                       dest_file;
    ngx_uint_t                      dest_line;

    ngx_array_t                    *tokens;              /* cap_str_t */
    ngx_array_t                    *properties;
    ngx_array_t                    *write_keys;
    ngx_str_t                       fallback;
    ngx_uint_t                      ip_policy;
    size_t                          max_decoded_size;
    size_t                          max_event_size;
} ngx_http_capture_loc_conf_t;


/* per request: what the handler learnt, and what the variables show */
typedef struct {
    cap_endpoint_t                  endpoint;
    ngx_uint_t                      segment;  /* 1 + cap_segment_kind_t */
    ngx_str_t                       origin;
    ngx_str_t                       content_encoding;
    ngx_str_t                       request_headers;

    ngx_uint_t                      events;
    cap_err_code_t                  error;
} ngx_http_capture_ctx_t;


ngx_int_t ngx_http_capture_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_capture_answer_synced(ngx_http_request_t *r);
ngx_int_t ngx_http_capture_answer_refused(ngx_http_request_t *r,
    cap_error_t *err);
ngx_int_t ngx_http_capture_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);

ngx_int_t ngx_http_capture_read_body(ngx_http_request_t *r, ngx_str_t *body);

char *ngx_http_capture_write_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_capture_write_key_check(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_json_t *root,
    ngx_http_capture_write_key_t **found, cap_error_t *err);

char *ngx_http_capture_destination_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_capture_dest_t *ngx_http_capture_dest_find(
    ngx_http_capture_main_conf_t *cmcf, ngx_str_t *name);
ngx_http_capture_param_t *ngx_http_capture_dest_param(
    ngx_http_capture_dest_t *dest, char *key);
void ngx_http_capture_dest_error(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_uint_t line, const char *fmt, ...);
ngx_int_t ngx_http_capture_conf_env(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name);
char *ngx_http_capture_dest_flag(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, ngx_flag_t *flag);

ngx_int_t ngx_http_capture_add_variables(ngx_conf_t *cf);

/* the spool (ngx_http_capture_spool.c) */
char *ngx_http_capture_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_capture_spool_init_module(ngx_cycle_t *cycle,
    ngx_http_capture_main_conf_t *cmcf);
ngx_int_t ngx_http_capture_spool_init_process(ngx_cycle_t *cycle,
    ngx_http_capture_main_conf_t *cmcf);
ngx_int_t ngx_http_capture_spool_append(ngx_http_request_t *r,
    ngx_array_t *dests, ngx_http_capture_accepted_t *a,
    cap_spool_record_t *rec, cap_error_t *err);
ngx_int_t ngx_http_capture_spool_deliver(ngx_http_request_t *r,
    ngx_array_t *dests, ngx_http_capture_accepted_t *a,
    cap_spool_record_t *rec);
ngx_int_t ngx_http_capture_spool_wait(ngx_http_request_t *r);
ngx_int_t ngx_http_capture_spool_behind(ngx_http_capture_dest_t *dest);
void ngx_http_capture_spool_mark_hold(ngx_http_capture_spool_mark_t *m);
void ngx_http_capture_spool_mark_done(ngx_http_capture_spool_mark_t *m);
void ngx_http_capture_spool_shutdown(void);
void ngx_http_capture_spool_exit_process(void);

/*
 * Live status (ngx_http_capture_status.c): counters in shared memory,
 * summed over workers, kept across reloads.
 */

typedef enum {
    NGX_HTTP_CAPTURE_STAT_QUEUED_EVENTS = 0,  /* gauges: deltas */
    NGX_HTTP_CAPTURE_STAT_QUEUED_BYTES,
    NGX_HTTP_CAPTURE_STAT_IN_FLIGHT,          /* requests under way */
    NGX_HTTP_CAPTURE_STAT_DELIVERED,          /* events, 2xx */
    NGX_HTTP_CAPTURE_STAT_RETRIED,            /* events of failed attempts */
    NGX_HTTP_CAPTURE_STAT_REFUSED,            /* dropped: non-retriable */
    NGX_HTTP_CAPTURE_STAT_OVERFLOW,           /* dropped: drop_oldest */
    NGX_HTTP_CAPTURE_STAT_LOST,               /* dropped: exit, drain */
    NGX_HTTP_CAPTURE_STAT_REJECTED,           /* requests answered 503 */
    NGX_HTTP_CAPTURE_STAT_LAST
} ngx_http_capture_stat_t;


typedef enum {
    NGX_HTTP_CAPTURE_SPOOL_STAT_RECORDS = 0,  /* appended */
    NGX_HTTP_CAPTURE_SPOOL_STAT_EVENTS,       /* in them */
    NGX_HTTP_CAPTURE_SPOOL_STAT_FULL,         /* requests answered 503 */
    NGX_HTTP_CAPTURE_SPOOL_STAT_SYNCS,
    NGX_HTTP_CAPTURE_SPOOL_STAT_SYNC_MS,      /* time in them */
    NGX_HTTP_CAPTURE_SPOOL_STAT_REPLAYED,     /* events read back */
    NGX_HTTP_CAPTURE_SPOOL_STAT_CORRUPT,      /* records skipped */
    NGX_HTTP_CAPTURE_SPOOL_STAT_TORN,         /* incomplete tails */
    NGX_HTTP_CAPTURE_SPOOL_STAT_BEHIND,       /* queues full: on disk */
    NGX_HTTP_CAPTURE_SPOOL_STAT_DROPPED,      /* events: drop_oldest */
    NGX_HTTP_CAPTURE_SPOOL_STAT_LAST
} ngx_http_capture_spool_stat_t;


ngx_int_t ngx_http_capture_status_init(ngx_conf_t *cf);
void ngx_http_capture_stat_request(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t accepted);
void ngx_http_capture_stat_dest(ngx_http_capture_dest_t *dest,
    ngx_http_capture_stat_t counter, ngx_int_t delta);
void ngx_http_capture_stat_batch(ngx_http_capture_dest_t *dest,
    ngx_uint_t nevents, ngx_msec_t latency);
void ngx_http_capture_stat_error(ngx_http_capture_dest_t *dest,
    const char *fmt, ...);
void ngx_http_capture_stat_spool(ngx_http_capture_spool_stat_t counter,
    ngx_int_t delta);
void ngx_http_capture_stat_spool_bytes(uint64_t bytes);
ngx_atomic_t *ngx_http_capture_stat_spool_appended(void);
void ngx_http_capture_stat_oldest(ngx_http_capture_dest_t *dest,
    uint64_t since);
char *ngx_http_capture_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_http_capture_curl_init(ngx_cycle_t *cycle);
void ngx_http_capture_curl_exit(ngx_cycle_t *cycle);
CURL *ngx_http_capture_curl_easy(ngx_http_capture_xfer_t *x);
ngx_int_t ngx_http_capture_curl_start(ngx_http_capture_xfer_t *x);
void ngx_http_capture_curl_cancel(ngx_http_capture_xfer_t *x);

cap_pool_t *ngx_http_capture_heap(void);


extern ngx_http_capture_dest_type_t  ngx_http_capture_file_type;
extern ngx_http_capture_dest_type_t  ngx_http_capture_posthog_type;
extern ngx_http_capture_dest_type_t  ngx_http_capture_segment_type;
extern ngx_http_capture_dest_type_t  ngx_http_capture_rudderstack_type;
extern ngx_http_capture_dest_type_t  ngx_http_capture_webhook_type;
extern ngx_module_t                  ngx_http_capture_module;


#endif /* _NGX_HTTP_CAPTURE_MODULE_H_INCLUDED_ */
