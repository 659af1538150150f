
/*
 * Per-destination property transforms: the parameters of a destination
 * block ("drop", "hash", "hash_salt", "hash_distinct_id",
 * "anonymize_ip") and the destination's own copy of each event
 * (src/encode/cap_transform.c); the other destinations see the event as
 * it was accepted.
 *
 * The salt is a secret: it is never logged.
 */


#include "ngx_http_capture_queue.h"
#include "encode/cap_encode.h"


static char *ngx_http_capture_transform_names(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, cap_str_t **names,
    size_t *n);


char *
ngx_http_capture_transform_conf(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, ngx_http_capture_transform_t *t)
{
    ngx_str_t                  salt, name;
    ngx_flag_t                 hash_id, anonymize;
    ngx_http_capture_param_t  *p;

    ngx_memzero(t, sizeof(ngx_http_capture_transform_t));

    hash_id = 0;
    anonymize = 0;

    if (ngx_http_capture_transform_names(cf, dest, "drop", &t->t.drop,
                                         &t->t.ndrop)
        != NGX_CONF_OK
        || ngx_http_capture_transform_names(cf, dest, "hash", &t->t.hash,
                                            &t->t.nhash)
           != NGX_CONF_OK
        || ngx_http_capture_dest_flag(cf, dest, "hash_distinct_id", &hash_id)
           != NGX_CONF_OK
        || ngx_http_capture_dest_flag(cf, dest, "anonymize_ip", &anonymize)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    t->t.hash_distinct_id = hash_id ? 1 : 0;
    t->t.anonymize_ip = anonymize ? 1 : 0;

    p = ngx_http_capture_dest_param(dest, "hash_salt");

    if (p != NULL) {
        if (p->nvalues != 1 || p->values[0].len == 0) {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "invalid \"hash_salt\": one value "
                                        "is needed");
            return NGX_CONF_ERROR;
        }

        salt = p->values[0];

        switch (ngx_http_capture_conf_env(cf, &salt, &name)) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "\"hash_salt\": the environment "
                                        "variable \"%V\" is not set", &name);
            return NGX_CONF_ERROR;

        default:
            return NGX_CONF_ERROR;
        }

        t->t.salt.data = salt.data;
        t->t.salt.len = salt.len;
    }

    /*
     * An unsalted SHA-256 of an e-mail address or a user id is undone
     * with a dictionary: hashing without a salt is refused.
     */

    if ((t->t.nhash || t->t.hash_distinct_id) && t->t.salt.len == 0) {
        ngx_http_capture_dest_error(cf, dest, p ? p->line : dest->line,
                                    "capture destination \"%V\" hashes "
                                    "values but has no \"hash_salt\"",
                                    &dest->name);
        return NGX_CONF_ERROR;
    }

    if (p != NULL && t->t.nhash == 0 && !t->t.hash_distinct_id) {
        ngx_http_capture_dest_error(cf, dest, p->line,
                                    "\"hash_salt\" without \"hash\" or "
                                    "\"hash_distinct_id on\"");
        return NGX_CONF_ERROR;
    }

    t->on = (t->t.ndrop || t->t.nhash || t->t.hash_distinct_id
             || t->t.anonymize_ip);

    return NGX_CONF_OK;
}


static char *
ngx_http_capture_transform_names(ngx_conf_t *cf,
    ngx_http_capture_dest_t *dest, char *key, cap_str_t **names, size_t *n)
{
    ngx_uint_t                 i;
    ngx_http_capture_param_t  *p;

    p = ngx_http_capture_dest_param(dest, key);
    if (p == NULL) {
        return NGX_CONF_OK;
    }

    *names = ngx_palloc(cf->pool, p->nvalues * sizeof(cap_str_t));
    if (*names == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < p->nvalues; i++) {
        if (p->values[i].len == 0) {
            ngx_http_capture_dest_error(cf, dest, p->line,
                                        "\"%s\" has an empty property name",
                                        key);
            return NGX_CONF_ERROR;
        }

        (*names)[i].data = p->values[i].data;
        (*names)[i].len = p->values[i].len;
    }

    *n = p->nvalues;

    return NGX_CONF_OK;
}


/*
 * Calls "take" with the canonical record (without its newline) of each
 * event that passes the filter, in order: line i of the request's
 * records, or, with a transform, the record of the destination's copy
 * of event i, made in the request's pool.
 */

ngx_int_t
ngx_http_capture_records(ngx_http_capture_filter_t *f,
    ngx_http_capture_transform_t *t, ngx_http_capture_accepted_t *a,
    ngx_http_capture_record_pt take, void *data)
{
    u_char       *p, *end, *nl;
    cap_buf_t     b;
    ngx_str_t     line;
    ngx_uint_t    i;
    cap_error_t   err;
    cap_event_t  *ev, copy;
    cap_batch_t   one;

    p = a->records->data;
    end = p + a->records->len;

    /* line i is the record of event i */

    for (i = 0; p < end && i < a->batch->nevents; i++, p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }

        if (!ngx_http_capture_filter_match(f, &a->batch->events[i])) {
            continue;
        }

        line.data = p;
        line.len = nl - p;

        if (t->on) {
            ev = ngx_http_capture_transform(t, a, &a->batch->events[i],
                                            &copy);
            if (ev == NULL) {
                return NGX_ERROR;
            }

            one = *a->batch;
            one.events = ev;
            one.nevents = 1;

            if (cap_buf_init(&b, a->pool, line.len + 64, 0) != CAP_OK
                || cap_record_encode(&b, &one, (size_t) -1, &err) != CAP_OK)
            {
                return NGX_ERROR;
            }

            line.data = b.data;
            line.len = b.len - 1;
        }

        if (take(data, &line) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The event as this destination takes it: "ev" itself when there is
 * nothing to change, else "copy", made in the request's pool.
 */

cap_event_t *
ngx_http_capture_transform(ngx_http_capture_transform_t *t,
    ngx_http_capture_accepted_t *a, cap_event_t *ev, cap_event_t *copy)
{
    if (!t->on) {
        return ev;
    }

    if (cap_transform_event(a->pool, &t->t, ev, copy) != CAP_OK) {
        return NULL;
    }

    return copy;
}
