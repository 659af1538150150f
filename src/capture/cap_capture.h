
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


/*
 * Segment-spec ingestion (Segment's and RudderStack's HTTP APIs): the
 * endpoint a request came to, which is also the type of a message.
 * (The names are not CAP_SEGMENT_TRACK...: the encoder has those.)
 */
typedef enum {
    CAP_SEGMENT_KIND_BATCH = 0,  /* v1/batch (analytics.js: v1/b) */
    CAP_SEGMENT_KIND_TRACK,      /* v1/track, v1/t */
    CAP_SEGMENT_KIND_IDENTIFY,   /* v1/identify, v1/i */
    CAP_SEGMENT_KIND_PAGE,       /* v1/page, v1/p */
    CAP_SEGMENT_KIND_SCREEN,     /* v1/screen, v1/s */
    CAP_SEGMENT_KIND_GROUP,      /* v1/group, v1/g */
    CAP_SEGMENT_KIND_ALIAS       /* v1/alias, v1/a */
} cap_segment_kind_t;


/*
 * What follows "v1/" in a path ("batch", "b", "track", "t", ...) -> the
 * kind; CAP_ERROR for any other name.
 */
int cap_segment_kind(const cap_uchar_t *name, size_t len,
    cap_segment_kind_t *kind);

/*
 * A Segment-spec request body (parsed) at v1/<kind> -> a PostHog batch
 * {"api_key": token, "batch": [events]} for cap_request_parse(), which
 * then validates, normalises and enriches it as any PostHog request
 * (docs/mappings.md has the rules).  "token" (no api_key when NULL) and
 * "group_type" (the $group_type of a group without traits.group_type;
 * NULL or empty: such a group is refused) must outlive the result.  The
 * result's strings point into "root", whose nodes are not changed.
 *
 * A body that is not the expected shape, a message without a usable
 * userId or anonymousId, a batch item without a known "type", or a
 * message without what its type needs fails the whole request
 * (CAP_E_PARSE, CAP_E_DISTINCT_ID or CAP_E_EVENT_NAME, with a text that
 * names the message by its index from 0), as Segment's and RudderStack's
 * APIs answer 400.
 */
cap_json_t *cap_segment_ingest(cap_pool_t *pool, cap_json_t *root,
    cap_segment_kind_t kind, const cap_str_t *token,
    const cap_str_t *group_type, cap_error_t *err);

/*
 * The body's "writeKey" (analytics.js sends it there, not in the
 * Authorization header) when it is a non-empty string, or NULL.
 */
cap_str_t *cap_segment_write_key(cap_json_t *root);


#endif /* _CAP_CAPTURE_H_INCLUDED_ */
