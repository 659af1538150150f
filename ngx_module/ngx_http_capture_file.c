
/*
 * The file destination: canonical records appended to a local file, one
 * per line.  The file is one of nginx's open files, so it is reopened on
 * "nginx -s reopen" (USR1) like access logs.  Each request's records go
 * out in one write() to a file opened with O_APPEND: lines of concurrent
 * workers never interleave.  Filters and transforms apply as for the
 * remote destinations.
 */


#include "ngx_http_capture_queue.h"


typedef struct {
    ngx_open_file_t               *file;
    ngx_http_capture_filter_t      filter;
    ngx_http_capture_transform_t   transform;
    unsigned                       own:1;    /* filtered or transformed */
} ngx_http_capture_file_t;


/* the records of one request, as this file takes them */
typedef struct {
    cap_buf_t                      buf;
    ngx_uint_t                     nevents;
} ngx_http_capture_file_buf_t;


static char *ngx_http_capture_file_init(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest);
static ngx_int_t ngx_http_capture_file_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a);
static ngx_int_t ngx_http_capture_file_records(ngx_http_capture_file_t *f,
    ngx_http_capture_accepted_t *a, ngx_str_t *out, ngx_uint_t *nevents);
static ngx_int_t ngx_http_capture_file_line(void *data, ngx_str_t *line);


ngx_http_capture_dest_type_t  ngx_http_capture_file_type = {
    ngx_string("file"),
    ngx_http_capture_file_init,
    NULL,
    ngx_http_capture_file_deliver,
    NULL,
    NULL,
    NULL
};


static char *
ngx_http_capture_file_init(ngx_conf_t *cf, ngx_http_capture_dest_t *dest)
{
    ngx_http_capture_file_t   *f;
    ngx_http_capture_param_t  *path;

    path = ngx_http_capture_dest_param(dest, "path");

    if (path == NULL) {
        ngx_http_capture_dest_error(cf, dest, dest->line,
                                    "capture destination \"%V\" of type "
                                    "\"file\" has no \"path\"", &dest->name);
        return NGX_CONF_ERROR;
    }

    if (path->nvalues != 1 || path->values[0].len == 0) {
        ngx_http_capture_dest_error(cf, dest, path->line,
                                    "invalid \"path\" in capture destination "
                                    "\"%V\"", &dest->name);
        return NGX_CONF_ERROR;
    }

    f = ngx_pcalloc(cf->pool, sizeof(ngx_http_capture_file_t));
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    /* nginx opens it with O_APPEND when the cycle starts, and reopens it */

    f->file = ngx_conf_open_file(cf->cycle, &path->values[0]);
    if (f->file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_capture_filter_conf(cf, dest, &f->filter) != NGX_CONF_OK
        || ngx_http_capture_transform_conf(cf, dest, &f->transform)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    f->own = ngx_http_capture_filter_on(&f->filter) || f->transform.on;

    dest->data = f;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_capture_file_deliver(ngx_log_t *log,
    ngx_http_capture_dest_t *dest, ngx_http_capture_accepted_t *a)
{
    u_char                   *records;
    size_t                    len;
    ssize_t                   n;
    ngx_err_t                 err;
    ngx_str_t                 own;
    ngx_uint_t                nevents;
    ngx_http_capture_file_t  *f = dest->data;

    records = a->records->data;
    len = a->records->len;
    nevents = a->batch->nevents;

    if (f->own) {
        if (ngx_http_capture_file_records(f, a, &own, &nevents) != NGX_OK) {
            return NGX_ERROR;
        }

        if (own.len == 0) {
            return NGX_OK;
        }

        records = own.data;
        len = own.len;
    }

    if (f->file->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "capture destination \"%V\": \"%V\" is not open",
                      &dest->name, &f->file->name);
        return NGX_ERROR;
    }

    n = ngx_write_fd(f->file->fd, records, len);

    if (n == (ssize_t) len) {
        return NGX_OK;
    }

    if (n == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "capture destination \"%V\": write() to \"%V\" "
                      "failed, %ui events not written",
                      &dest->name, &f->file->name, nevents);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "capture destination \"%V\": write() to \"%V\" was "
                  "incomplete: %z of %uz", &dest->name, &f->file->name,
                  n, len);

    return NGX_ERROR;
}


/* the records this destination takes, still in one piece for write() */

static ngx_int_t
ngx_http_capture_file_records(ngx_http_capture_file_t *f,
    ngx_http_capture_accepted_t *a, ngx_str_t *out, ngx_uint_t *nevents)
{
    ngx_http_capture_file_buf_t  fb;

    if (cap_buf_init(&fb.buf, a->pool, a->records->len, 0) != CAP_OK) {
        return NGX_ERROR;
    }

    fb.nevents = 0;

    if (ngx_http_capture_records(&f->filter, &f->transform, a,
                                 ngx_http_capture_file_line, &fb)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->data = fb.buf.data;
    out->len = fb.buf.len;
    *nevents = fb.nevents;

    return NGX_OK;
}


static ngx_int_t
ngx_http_capture_file_line(void *data, ngx_str_t *line)
{
    ngx_http_capture_file_buf_t *fb = data;

    if (cap_buf_append(&fb->buf, line->data, line->len) != CAP_OK
        || cap_buf_put(&fb->buf, '\n') != CAP_OK)
    {
        return NGX_ERROR;
    }

    fb->nevents++;

    return NGX_OK;
}
