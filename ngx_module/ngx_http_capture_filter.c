
/*
 * Per-destination event filters: which events a destination takes, by
 * name ("include" and "exclude" lists, "*" matching any run of
 * characters) and by a deterministic sample of distinct_ids ("sample"
 * between 0 and 1: the same users always in, the same always out).
 */


#include "ngx_http_capture_queue.h"


static char *ngx_http_capture_filter_list(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, ngx_array_t **list);
static ngx_uint_t ngx_http_capture_filter_any(ngx_array_t *list,
    cap_str_t *name);
static ngx_uint_t ngx_http_capture_filter_glob(u_char *p, u_char *pe,
    u_char *s, u_char *se);


char *
ngx_http_capture_filter_conf(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    ngx_http_capture_filter_t *f)
{
    u_char                    *p, *end;
    ngx_uint_t                 frac, scale;
    ngx_http_capture_param_t  *s;

    f->sample = NGX_HTTP_CAPTURE_SAMPLE_ALL;

    if (ngx_http_capture_filter_list(cf, dest, "include", &f->include)
        != NGX_CONF_OK
        || ngx_http_capture_filter_list(cf, dest, "exclude", &f->exclude)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    s = ngx_http_capture_dest_param(dest, "sample");
    if (s == NULL) {
        return NGX_CONF_OK;
    }

    /* "0", "1", "0.25", "1.0": in millionths, without floating point */

    p = s->values[0].data;
    end = p + s->values[0].len;

    if (s->nvalues != 1 || p == end || (*p != '0' && *p != '1')) {
        goto invalid;
    }

    frac = 0;
    scale = 1000000;

    if (*p++ == '1') {
        frac = 1000000;
    }

    if (p < end) {
        if (*p++ != '.' || p == end) {
            goto invalid;
        }

        for ( /* void */ ; p < end; p++) {
            if (*p < '0' || *p > '9' || (frac == 1000000 && *p != '0')
                || scale == 1)
            {
                goto invalid;
            }

            scale /= 10;
            frac += (*p - '0') * scale;
        }
    }

    f->sample = frac;

    return NGX_CONF_OK;

invalid:

    ngx_http_capture_dest_error(cf, dest, s->line,
                                "invalid \"sample\": a rate from 0 to 1, "
                                "at most 6 decimals, is needed");
    return NGX_CONF_ERROR;
}


static char *
ngx_http_capture_filter_list(ngx_conf_t *cf, ngx_http_capture_dest_t *dest,
    char *key, ngx_array_t **list)
{
    ngx_uint_t                 i;
    ngx_str_t                 *name;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    *list = ngx_array_create(cf->pool, p->nvalues, sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < p->nvalues; i++) {
        name = ngx_array_push(*list);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = p->values[i];
    }

    return NGX_CONF_OK;
}


/* 1: the filter may leave events out */

ngx_uint_t
ngx_http_capture_filter_on(ngx_http_capture_filter_t *f)
{
    return f->include != NULL || f->exclude != NULL
           || f->sample < NGX_HTTP_CAPTURE_SAMPLE_ALL;
}


ngx_uint_t
ngx_http_capture_filter_match(ngx_http_capture_filter_t *f, cap_event_t *ev)
{
    size_t    i;
    uint32_t  h;

    if (f->include && !ngx_http_capture_filter_any(f->include, &ev->event)) {
        return 0;
    }

    if (f->exclude && ngx_http_capture_filter_any(f->exclude, &ev->event)) {
        return 0;
    }

    if (f->sample >= NGX_HTTP_CAPTURE_SAMPLE_ALL) {
        return 1;
    }

    /* FNV-1a of the distinct_id: stable across workers and restarts */

    h = 2166136261u;

    for (i = 0; i < ev->distinct_id.len; i++) {
        h ^= ev->distinct_id.data[i];
        h *= 16777619u;
    }

    return (h % NGX_HTTP_CAPTURE_SAMPLE_ALL) < f->sample;
}


static ngx_uint_t
ngx_http_capture_filter_any(ngx_array_t *list, cap_str_t *name)
{
    ngx_str_t   *pat;
    ngx_uint_t   i;

    pat = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (ngx_http_capture_filter_glob(pat[i].data,
                                         pat[i].data + pat[i].len,
                                         name->data, name->data + name->len))
        {
            return 1;
        }
    }

    return 0;
}


/* "*" matches any run of characters; everything else itself */

static ngx_uint_t
ngx_http_capture_filter_glob(u_char *p, u_char *pe, u_char *s, u_char *se)
{
    u_char  *star, *mark;

    star = NULL;
    mark = NULL;

    while (s < se) {

        if (p < pe && *p == '*') {
            star = ++p;
            mark = s;
            continue;
        }

        if (p < pe && *p == *s) {
            p++;
            s++;
            continue;
        }

        if (star == NULL) {
            return 0;
        }

        /* the last star takes one more character */
        p = star;
        s = ++mark;
    }

    while (p < pe && *p == '*') {
        p++;
    }

    return p == pe;
}
