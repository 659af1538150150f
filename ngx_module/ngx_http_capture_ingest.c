
/*
 * Segment-spec ingestion: the write keys a capture location takes
 * (capture_write_key) and the check of a request's key.  The paths are
 * matched with PostHog's in ngx_http_capture_handler.c; the messages are
 * mapped by src/capture/cap_segment_in.c.
 *
 * A write key is a credential: it is never written to a log line, an
 * error message or the status output.
 */


#include "ngx_http_capture_module.h"


static ngx_int_t ngx_http_capture_key_equal(ngx_str_t *a, u_char *p,
    size_t len);


/* capture_write_key key [token=...] [group_type=...]; */

char *
ngx_http_capture_write_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_capture_loc_conf_t *cplcf = conf;

    const char                    *why;
    ngx_str_t                     *value, key, name;
    ngx_uint_t                     i;
    ngx_http_capture_write_key_t  *wk;

    value = cf->args->elts;
    key = value[1];

    switch (ngx_http_capture_conf_env(cf, &key, &name)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the environment variable \"%V\" of "
                           "\"capture_write_key\" is not set", &name);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    if (key.len == 0) {
        return "has an empty write key";
    }

    if (cplcf->write_keys == NGX_CONF_UNSET_PTR) {
        cplcf->write_keys = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_capture_write_key_t));
        if (cplcf->write_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    wk = cplcf->write_keys->elts;

    for (i = 0; i < cplcf->write_keys->nelts; i++) {
        if (ngx_http_capture_key_equal(&wk[i].key, key.data, key.len)) {
            return "is duplicate: the same write key is given twice";
        }
    }

    wk = ngx_array_push(cplcf->write_keys);
    if (wk == NULL) {
        return NGX_CONF_ERROR;
    }

    wk->key = key;
    wk->token.data = key.data;
    wk->token.len = key.len;
    wk->group_type.data = (u_char *) "company";
    wk->group_type.len = sizeof("company") - 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "token=", 6) == 0) {
            wk->token.data = value[i].data + 6;
            wk->token.len = value[i].len - 6;

            why = cap_token_invalid(wk->token.data, wk->token.len);

            if (why != NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid token \"%V\": %s", &value[i],
                                   why);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "group_type=", 11) == 0
            && value[i].len > 11)
        {
            wk->group_type.data = value[i].data + 11;
            wk->group_type.len = value[i].len - 11;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* a key that is also the token must be one PostHog would take */

    if (wk->token.data == key.data) {
        why = cap_token_invalid(key.data, key.len);

        if (why != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the write key cannot be used as a PostHog "
                               "token (%s): give one with \"token=\"", why);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The request's write key: "Authorization: Basic base64(key:)" as
 * analytics-node and RudderStack's SDKs send it, else the body's
 * "writeKey" as analytics.js sends it.
 */

ngx_int_t
ngx_http_capture_write_key_check(ngx_http_request_t *r,
    ngx_http_capture_loc_conf_t *cplcf, cap_json_t *root,
    ngx_http_capture_write_key_t **found, cap_error_t *err)
{
    u_char                        *p, *end;
    size_t                         len;
    ngx_str_t                      src, dst;
    cap_str_t                     *v;
    ngx_uint_t                     i;
    ngx_table_elt_t               *h;
    ngx_http_capture_write_key_t  *wk;

    h = r->headers_in.authorization;

    if (h != NULL) {
        p = h->value.data;
        end = p + h->value.len;

        if (end - p < 6 || ngx_strncasecmp(p, (u_char *) "Basic ", 6) != 0)
        {
            cap_error_set(err, CAP_E_WRITE_KEY,
                          "invalid write key: the Authorization header is "
                          "not Basic");
            return NGX_ERROR;
        }

        for (p += 6; p < end && *p == ' '; p++) { /* void */ }

        while (end > p && end[-1] == ' ') {
            end--;
        }

        src.data = p;
        src.len = end - p;

        dst.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len));
        if (dst.data == NULL) {
            cap_error_set(err, CAP_E_NOMEM, "out of memory");
            return NGX_ERROR;
        }

        if (ngx_decode_base64(&dst, &src) != NGX_OK) {
            cap_error_set(err, CAP_E_WRITE_KEY,
                          "invalid write key: the Authorization header is "
                          "not base64");
            return NGX_ERROR;
        }

        /* the user name: the write key; the password is empty */

        p = ngx_strlchr(dst.data, dst.data + dst.len, ':');
        len = p ? (size_t) (p - dst.data) : dst.len;
        p = dst.data;

    } else {
        v = cap_segment_write_key(root);

        if (v == NULL) {
            cap_error_set(err, CAP_E_WRITE_KEY,
                          "no write key: send it as the user name of Basic "
                          "authorization, or as \"writeKey\"");
            return NGX_ERROR;
        }

        p = v->data;
        len = v->len;
    }

    wk = cplcf->write_keys->elts;

    for (i = 0; i < cplcf->write_keys->nelts; i++) {
        if (ngx_http_capture_key_equal(&wk[i].key, p, len)) {
            *found = &wk[i];
            return NGX_OK;
        }
    }

    cap_error_set(err, CAP_E_WRITE_KEY,
                  "invalid write key: not one this location takes");
    return NGX_ERROR;
}


/* in a time that does not depend on where the keys first differ */

static ngx_int_t
ngx_http_capture_key_equal(ngx_str_t *a, u_char *p, size_t len)
{
    u_char      d;
    ngx_uint_t  i;

    if (a->len != len) {
        return 0;
    }

    d = 0;

    for (i = 0; i < len; i++) {
        d |= a->data[i] ^ p[i];
    }

    return d == 0;
}
