
/*
 * The PostHog request model: JSON text -> validated, normalised and
 * enriched events, with PostHog's capture rules.
 */


#ifndef _CAP_CAPTURE_H_INCLUDED_
#define _CAP_CAPTURE_H_INCLUDED_


#include "../core/cap_core.h"
#include "../core/cap_time.h"
#include "../core/cap_uuid.h"
#include "../json/cap_json.h"


#define CAP_TOKEN_MAX_LEN        64
#define CAP_DISTINCT_ID_MAX      200     /* characters */
#define CAP_SESSION_ID_MAX_LEN   70
#define CAP_FUTURE_LIMIT         (23 * 3600 * 1000LL)


typedef enum {
    CAP_ENDPOINT_EVENTS = 0,     /* e, i/v0/e, batch, capture, track */
    CAP_ENDPOINT_ENGAGE,         /* engage */
    CAP_ENDPOINT_RECORDINGS      /* s */
} cap_endpoint_t;


typedef enum {
    CAP_IP_ON = 0,               /* $ip from the client when absent */
    CAP_IP_OFF,
    CAP_IP_FORCE,                /* always the client's address */
    CAP_IP_ANONYMIZE             /* as "on", then masked */
} cap_ip_policy_t;


typedef struct {
    cap_str_t          name;
    cap_str_t          value;
} cap_property_t;


/* what the request brings besides its payload */
typedef struct {
    cap_endpoint_t     endpoint;
    cap_msec_t         now;
    cap_msec_t         query_sent_at;      /* "_" or "sent_at" argument */
    unsigned           has_query_sent_at:1;

    cap_str_t          ip;                 /* the client's address */
    cap_ip_policy_t    ip_policy;

    cap_property_t    *properties;         /* values of capture_property */
    size_t             nproperties;

    cap_str_t         *tokens;             /* allowlist; none: any token */
    size_t             ntokens;
} cap_request_t;


typedef struct {
    cap_uchar_t        uuid[CAP_UUID_LEN];
    cap_str_t          event;
    cap_str_t          distinct_id;
    cap_json_t        *properties;         /* always an object */
    cap_msec_t         timestamp;

    /*
     * The properties as JSON text, once the canonical records are made:
     * other encodings copy it instead of serialising the tree again.
     */
    cap_str_t          properties_json;
    size_t             properties_at;
} cap_event_t;


typedef struct {
    cap_event_t       *events;
    size_t             nevents;
    size_t             dropped;            /* $performance_event */

    cap_str_t          token;
    cap_msec_t         now;
    cap_msec_t         sent_at;
    unsigned           has_sent_at:1;
    unsigned           historical_migration:1;
    unsigned           recordings:1;
} cap_batch_t;


/* the whole model: shapes, token rules, every event */
int cap_request_parse(cap_pool_t *pool, cap_request_t *req,
    cap_json_t *root, cap_batch_t *batch, cap_error_t *err);

/* one event object of the payload -> ev; its own token, if any, in tok */
int cap_event_normalise(cap_pool_t *pool, cap_request_t *req,
    cap_batch_t *batch, cap_json_t *obj, cap_event_t *ev, cap_str_t *tok,
    cap_error_t *err);

/* why a token is not valid, or NULL */
const char *cap_token_invalid(const cap_uchar_t *p, size_t len);

/* $ip and capture_property values */
int cap_enrich_event(cap_pool_t *pool, cap_request_t *req, cap_event_t *ev);

/* IPv4: last octet zero; IPv6: last 80 bits zero; len 0 if not an IP */
size_t cap_ip_anonymize(const cap_uchar_t *ip, size_t len, cap_uchar_t *out,
    size_t size);


#endif /* _CAP_CAPTURE_H_INCLUDED_ */
