
/*
 * Enrichment: the client's address in properties.$ip, by policy, and
 * properties from nginx variables (capture_property).
 */


#include <arpa/inet.h>

#include "cap_capture.h"


#define CAP_IP_TEXT_LEN  46


int
cap_enrich_event(cap_pool_t *pool, cap_request_t *req, cap_event_t *ev)
{
    size_t           i, n;
    cap_json_t      *v, value;
    cap_uchar_t     *p;
    cap_property_t  *prop;

    memset(&value, 0, sizeof(cap_json_t));
    value.type = CAP_JSON_STRING;

    if (req->ip_policy != CAP_IP_OFF && req->ip.len) {

        v = cap_json_get_literal(ev->properties, "$ip");

        if (v == NULL || v->type == CAP_JSON_NULL
            || req->ip_policy == CAP_IP_FORCE)
        {
            value.str = req->ip;

            v = cap_json_set(pool, ev->properties, (cap_uchar_t *) "$ip",
                             sizeof("$ip") - 1, &value);
            if (v == NULL) {
                return CAP_ERROR;
            }
        }

        if (req->ip_policy == CAP_IP_ANONYMIZE && v->type == CAP_JSON_STRING)
        {
            p = cap_alloc(pool, CAP_IP_TEXT_LEN);
            if (p == NULL) {
                return CAP_ERROR;
            }

            n = cap_ip_anonymize(v->str.data, v->str.len, p,
                                 CAP_IP_TEXT_LEN);

            if (n == 0) {
                /* not an address: nothing of it is kept */
                v->type = CAP_JSON_NULL;
            }

            v->str.data = p;
            v->str.len = n;
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
