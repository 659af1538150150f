
/*
 * Enrichment: the client's address in properties.$ip, by policy, and
 * properties from nginx variables (capture_property).
 */


#include <arpa/inet.h>

#include "cap_capture.h"


#define CAP_IP_TEXT_LEN  46


static int cap_enrich_ip(cap_pool_t *pool, cap_request_t *req,
    cap_json_t *props, cap_json_t *last);


int
cap_enrich_event(cap_pool_t *pool, cap_request_t *req, cap_event_t *ev)
{
    size_t           i;
    cap_json_t      *v, value;
    cap_property_t  *prop;

    memset(&value, 0, sizeof(cap_json_t));
    value.type = CAP_JSON_STRING;

    if (req->ip_policy != CAP_IP_OFF) {

        /* the last of duplicate keys is the one readers take */

        v = cap_json_get_literal(ev->properties, "$ip");

        if (req->ip.len
            && (v == NULL || v->type == CAP_JSON_NULL
                || req->ip_policy == CAP_IP_FORCE))
        {
            value.str = req->ip;

            v = cap_json_set(pool, ev->properties, (cap_uchar_t *) "$ip",
                             sizeof("$ip") - 1, &value);
            if (v == NULL) {
                return CAP_ERROR;
            }
        }

        if (req->ip_policy == CAP_IP_FORCE
            || req->ip_policy == CAP_IP_ANONYMIZE)
        {
            /* no copy of the address the client sent may stay behind */

            if (cap_enrich_ip(pool, req, ev->properties, v) != CAP_OK) {
                return CAP_ERROR;
            }
        }
    }

    for (i = 0; i < req->nproperties; i++) {
        prop = &req->properties[i];

        if (prop->value.len == 0) {
            continue;
        }

        value.str = prop->value;

        if (cap_json_set(pool, ev->properties, prop->name.data,
                         prop->name.len, &value)
            == NULL)
        {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


/*
 * "force" and "anonymize" act on every "$ip" member: a duplicate key
 * ahead of the one readers take must not keep the client's value.
 */

static int
cap_enrich_ip(cap_pool_t *pool, cap_request_t *req, cap_json_t *props,
    cap_json_t *last)
{
    size_t        n;
    cap_json_t   *v;
    cap_uchar_t  *p;

    for (v = props->first; v != NULL; v = v->next) {

        if (v->key.len != sizeof("$ip") - 1
            || memcmp(v->key.data, "$ip", sizeof("$ip") - 1) != 0)
        {
            continue;
        }

        if (req->ip_policy == CAP_IP_FORCE && v != last) {
            v->type = last->type;
            v->str = last->str;
            v->first = last->first;
            v->last = last->last;
            v->count = last->count;
        }

        if (req->ip_policy != CAP_IP_ANONYMIZE) {
            continue;
        }

        if (v->type != CAP_JSON_STRING) {
            if (v->type != CAP_JSON_NULL) {
                v->type = CAP_JSON_NULL;
                v->first = NULL;
                v->last = NULL;
                v->count = 0;
            }

            continue;
        }

        p = cap_alloc(pool, CAP_IP_TEXT_LEN);
        if (p == NULL) {
            return CAP_ERROR;
        }

        n = cap_ip_anonymize(v->str.data, v->str.len, p, CAP_IP_TEXT_LEN);

        /* not an address: nothing of it is kept */

        v->type = n ? CAP_JSON_STRING : CAP_JSON_NULL;
        v->str.data = p;
        v->str.len = n;
    }

    return CAP_OK;
}


size_t
cap_ip_anonymize(const cap_uchar_t *ip, size_t len, cap_uchar_t *out,
    size_t size)
{
    char           text[CAP_IP_TEXT_LEN];
    unsigned char  addr[16];

    if (len == 0 || len >= sizeof(text) || size < CAP_IP_TEXT_LEN) {
        return 0;
    }

    memcpy(text, ip, len);
    text[len] = '\0';

    if (inet_pton(AF_INET, text, addr) == 1) {
        addr[3] = 0;

        if (inet_ntop(AF_INET, addr, (char *) out, size) == NULL) {
            return 0;
        }

        return strlen((char *) out);
    }

    if (inet_pton(AF_INET6, text, addr) == 1) {
        memset(addr + 6, 0, 10);

        if (inet_ntop(AF_INET6, addr, (char *) out, size) == NULL) {
            return 0;
        }

        return strlen((char *) out);
    }

    return 0;
}
