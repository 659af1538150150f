
/*
 * Segment-spec ingestion: the messages of Segment's and RudderStack's
 * HTTP APIs (what analytics.js, @segment/analytics-node and
 * @rudderstack/rudder-sdk-node send) -> the PostHog batch the request
 * model takes.  It is the inverse of src/encode/cap_segment.c, so that
 * PostHog -> Segment -> PostHog gives back the same events;
 * docs/mappings.md has the tables.
 *
 * Only the shape of the messages is checked here (what Segment's and
 * RudderStack's APIs answer 400 to); everything else (the token, the
 * uuid's form, the time and its skew, $ip, the limits) is the model's,
 * applied as to any captured request.
 *
 * The new tree is made of new nodes that point at the strings of the
 * input and share its sub-trees (traits, property values); no node of
 * the input is changed, so one body may be mapped more than once.  The
 * model only adds members to the objects made here (properties), never
 * to a shared one: no event has a top-level "$set" for it to fold.
 */


#include "cap_capture.h"
#include "../core/cap_sha256.h"


/*
 * What a messageId that is not a UUID is hashed after: the UUIDs
 * derived from messageIds stay apart from any other made from a name.
 */
#define CAP_SEGMENT_IN_NAMESPACE  "ngx_http_capture_module:segment:messageId:"


/* a property of the event <- ["object"]["key"] of a context */
typedef struct {
    cap_str_t             object;         /* "": the context itself */
    cap_str_t             key;
    cap_str_t             prop;
} cap_segment_in_field_t;


/*
 * One message being mapped.  The "_s" nodes are strings made of numbers
 * (an id 123 is "123"); they live here until a copy is linked.
 */
typedef struct {
    cap_pool_t           *pool;
    cap_error_t          *err;
    size_t                index;
    cap_segment_kind_t    type;

    cap_json_t           *msg;
    cap_json_t           *context;        /* the message's, or NULL */
    cap_json_t           *body_context;   /* the batch body's, or NULL */
    cap_json_t           *src;            /* properties or traits */
    cap_json_t           *props;          /* the event's, being made */

    cap_json_t           *user;           /* usable userId */
    cap_json_t           *anon;           /* usable anonymousId */
    cap_json_t           *key;            /* groupId, previousId */
    cap_json_t           *group_type;     /* the $group_type */
    cap_json_t           *default_type;   /* the caller's, or NULL */
    unsigned              typed_traits:1; /* it is traits.group_type */

    cap_json_t            user_s;
    cap_json_t            anon_s;
    cap_json_t            key_s;
    cap_json_t            type_s;
    cap_json_t            default_s;
} cap_segment_in_t;


#define cap_segment_in_field(obj, key, prop)                                 \
    { cap_string(obj), cap_string(key), cap_string(prop) }

#define cap_segment_in_key_is(v, s)                                          \
    ((v)->key.len == sizeof(s) - 1                                           \
     && memcmp((v)->key.data, s, sizeof(s) - 1) == 0)

#define cap_segment_in_present_literal(obj, key)                             \
    cap_segment_in_present(obj, key, sizeof(key) - 1)

#define cap_segment_in_add_literal(pool, obj, key, v)                        \
    cap_json_append(pool, obj, (const cap_uchar_t *) key, sizeof(key) - 1, v)

#define cap_segment_in_fill_literal(in, name, v)                             \
    cap_segment_in_fill(in, (const cap_uchar_t *) name, sizeof(name) - 1, v)

#define cap_segment_in_nelts(a)  (sizeof(a) / sizeof(a[0]))


static int cap_segment_in_type(cap_segment_in_t *in, cap_segment_kind_t kind);
static int cap_segment_in_check(cap_segment_in_t *in);
static int cap_segment_in_message(cap_segment_in_t *in, cap_json_t *batch,
    cap_json_t *sent_at);
static int cap_segment_in_event(cap_segment_in_t *in, cap_json_t *ev);
static int cap_segment_in_copy(cap_segment_in_t *in);
static int cap_segment_in_page(cap_segment_in_t *in);
static int cap_segment_in_group(cap_segment_in_t *in);
static int cap_segment_in_context(cap_segment_in_t *in);
static cap_json_t *cap_segment_in_lookup(cap_json_t *ctx,
    cap_segment_in_field_t *f);
static int cap_segment_in_fill(cap_segment_in_t *in, const cap_uchar_t *name,
    size_t len, cap_json_t *v);
static int cap_segment_in_object(cap_json_t *obj, const char *key,
    size_t len, cap_json_t **found);
static int cap_segment_in_uuid(cap_pool_t *pool, cap_json_t *id,
    cap_json_t *out);
static void cap_segment_in_derive(const cap_uchar_t *p, size_t len,
    cap_uchar_t *out);
static cap_json_t *cap_segment_in_id(cap_json_t *v, cap_json_t *s);
static cap_json_t *cap_segment_in_present(cap_json_t *obj, const char *key,
    size_t len);


/* by cap_segment_kind_t */

static cap_str_t  cap_segment_in_names[] = {
    cap_string("batch"),
    cap_string("track"),
    cap_string("identify"),
    cap_string("page"),
    cap_string("screen"),
    cap_string("group"),
    cap_string("alias")
};

/* analytics.js' paths: v1/b, v1/t, v1/i, ... */
static const char  cap_segment_in_short[] = "btipsga";

static cap_str_t  cap_segment_in_events[] = {
    cap_null_string,
    cap_null_string,                      /* a track's own "event" */
    cap_string("$identify"),              /* "$set" without a userId */
    cap_string("$pageview"),
    cap_string("$screen"),
    cap_string("$groupidentify"),
    cap_string("$create_alias")
};


/* context -> properties, for every type: the encoder's table reversed */

static cap_segment_in_field_t  cap_segment_in_context_fields[] = {
    cap_segment_in_field("", "ip", "$ip"),
    cap_segment_in_field("", "userAgent", "$raw_user_agent"),
    cap_segment_in_field("library", "name", "$lib"),
    cap_segment_in_field("library", "version", "$lib_version"),
    cap_segment_in_field("", "locale", "$locale"),
    cap_segment_in_field("", "timezone", "$timezone"),
    cap_segment_in_field("page", "path", "$pathname"),
    cap_segment_in_field("page", "referrer", "$referrer"),
    cap_segment_in_field("page", "title", "title"),
    cap_segment_in_field("page", "url", "$current_url"),
    cap_segment_in_field("screen", "width", "$screen_width"),
    cap_segment_in_field("screen", "height", "$screen_height"),
    cap_segment_in_field("screen", "density", "$screen_density"),
    cap_segment_in_field("os", "name", "$os"),
    cap_segment_in_field("os", "version", "$os_version"),
    cap_segment_in_field("device", "type", "$device_type"),
    cap_segment_in_field("device", "manufacturer", "$device_manufacturer"),
    cap_segment_in_field("device", "model", "$device_model"),
    cap_segment_in_field("app", "name", "$app_name"),
    cap_segment_in_field("app", "version", "$app_version"),
    cap_segment_in_field("app", "build", "$app_build"),
    cap_segment_in_field("app", "namespace", "$app_namespace"),
    cap_segment_in_field("campaign", "name", "utm_campaign"),
    cap_segment_in_field("campaign", "source", "utm_source"),
    cap_segment_in_field("campaign", "medium", "utm_medium"),
    cap_segment_in_field("campaign", "term", "utm_term"),
    cap_segment_in_field("campaign", "content", "utm_content")
};


/* a page's properties: url -> $current_url, ...; "search" is dropped */

static cap_segment_in_field_t  cap_segment_in_page_fields[] = {
    cap_segment_in_field("", "url", "$current_url"),
    cap_segment_in_field("", "path", "$pathname"),
    cap_segment_in_field("", "referrer", "$referrer")
};


int
cap_segment_kind(const cap_uchar_t *name, size_t len,
    cap_segment_kind_t *kind)
{
    size_t  i;

    for (i = 0; i < cap_segment_in_nelts(cap_segment_in_names); i++) {

        if ((len == 1 && name[0] == (cap_uchar_t) cap_segment_in_short[i])
            || (len == cap_segment_in_names[i].len
                && memcmp(name, cap_segment_in_names[i].data, len) == 0))
        {
            *kind = (cap_segment_kind_t) i;
            return CAP_OK;
        }
    }

    return CAP_ERROR;
}


cap_str_t *
cap_segment_write_key(cap_json_t *root)
{
    cap_json_t  *v;

    v = cap_json_get_literal(root, "writeKey");

    if (v == NULL || v->type != CAP_JSON_STRING || v->str.len == 0) {
        return NULL;
    }

    return &v->str;
}


cap_json_t *
cap_segment_ingest(cap_pool_t *pool, cap_json_t *root,
    cap_segment_kind_t kind, const cap_str_t *token,
    const cap_str_t *group_type, cap_error_t *err)
{
    cap_json_t        *out, *batch, *list, *msg, *sent_at, v;
    cap_segment_in_t   in;

    if (root->type != CAP_JSON_OBJECT) {
        cap_error_set(err, CAP_E_PARSE,
                      "failed to parse request: the body is not an object");
        return NULL;
    }

    memset(&in, 0, sizeof(cap_segment_in_t));
    in.pool = pool;
    in.err = err;

    if (group_type != NULL && group_type->len) {
        in.default_s.type = CAP_JSON_STRING;
        in.default_s.str = *group_type;
        in.default_type = &in.default_s;
    }

    if (kind == CAP_SEGMENT_KIND_BATCH) {
        list = cap_json_get_literal(root, "batch");

        if (list == NULL || list->type != CAP_JSON_ARRAY) {
            cap_error_set(err, CAP_E_PARSE,
                          "failed to parse request: \"batch\" is not an "
                          "array");
            return NULL;
        }

        if (cap_segment_in_object(root, "context", sizeof("context") - 1,
                                  &in.body_context)
            != CAP_OK)
        {
            cap_error_set(err, CAP_E_PARSE,
                          "failed to parse request: the batch's "
                          "\"context\" is not an object");
            return NULL;
        }

        msg = list->first;

    } else if ((unsigned) kind > CAP_SEGMENT_KIND_ALIAS) {
        cap_error_set(err, CAP_E_PARSE,
                      "failed to parse request: unknown Segment endpoint");
        return NULL;

    } else {
        /* the body is the message, and its sentAt is the body's */
        list = NULL;
        msg = root;
    }

    sent_at = cap_segment_in_present_literal(root, "sentAt");

    out = cap_json_new(pool, CAP_JSON_OBJECT);
    if (out == NULL) {
        goto nomem;
    }

    memset(&v, 0, sizeof(cap_json_t));

    if (token != NULL) {
        v.type = CAP_JSON_STRING;
        v.str = *token;

        if (cap_segment_in_add_literal(pool, out, "api_key", &v) == NULL) {
            goto nomem;
        }
    }

    v.type = CAP_JSON_ARRAY;
    v.str.len = 0;
    v.str.data = NULL;

    batch = cap_segment_in_add_literal(pool, out, "batch", &v);
    if (batch == NULL) {
        goto nomem;
    }

    /* every message is checked: the request is taken whole or refused */

    for ( /* void */ ; msg != NULL; msg = (list != NULL) ? msg->next : NULL)
    {
        in.msg = msg;

        if (msg->type != CAP_JSON_OBJECT) {
            cap_error_set(err, CAP_E_PARSE,
                          "failed to parse request: message %zu is not an "
                          "object", in.index);
            return NULL;
        }

        if (cap_segment_in_type(&in, kind) != CAP_OK
            || cap_segment_in_check(&in) != CAP_OK
            || cap_segment_in_message(&in, batch, sent_at) != CAP_OK)
        {
            return NULL;
        }

        in.index++;
    }

    return out;

nomem:

    cap_error_set(err, CAP_E_NOMEM, "out of memory");

    return NULL;
}


/*
 * A batch item names its type; at v1/<type> the path does, and a "type"
 * the message carries must be the same one (null counts as absent).
 */

static int
cap_segment_in_type(cap_segment_in_t *in, cap_segment_kind_t kind)
{
    size_t       i;
    cap_str_t   *name;
    cap_json_t  *t;

    t = cap_segment_in_present_literal(in->msg, "type");

    if (kind != CAP_SEGMENT_KIND_BATCH) {
        in->type = kind;
        name = &cap_segment_in_names[kind];

        if (t == NULL
            || (t->type == CAP_JSON_STRING && t->str.len == name->len
                && memcmp(t->str.data, name->data, name->len) == 0))
        {
            return CAP_OK;
        }

        if (t->type != CAP_JSON_STRING) {
            return cap_error_set(in->err, CAP_E_PARSE,
                                 "message %zu: \"type\" is not a string",
                                 in->index);
        }

        return cap_error_set(in->err, CAP_E_PARSE,
                             "message %zu of type \"%.*s\" sent to v1/%s",
                             in->index,
                             (int) (t->str.len > 32 ? 32 : t->str.len),
                             (char *) t->str.data, (char *) name->data);
    }

    if (t == NULL || t->type != CAP_JSON_STRING) {
        return cap_error_set(in->err, CAP_E_PARSE,
                             "message %zu has no \"type\"", in->index);
    }

    /* from 1: "batch" is not the type of a message */

    for (i = CAP_SEGMENT_KIND_TRACK;
         i < cap_segment_in_nelts(cap_segment_in_names);
         i++)
    {
        name = &cap_segment_in_names[i];

        if (t->str.len == name->len
            && memcmp(t->str.data, name->data, name->len) == 0)
        {
            in->type = (cap_segment_kind_t) i;
            return CAP_OK;
        }
    }

    return cap_error_set(in->err, CAP_E_PARSE,
                         "message %zu has an unknown type \"%.*s\"",
                         in->index, (int) (t->str.len > 32 ? 32 : t->str.len),
                         (char *) t->str.data);
}


/*
 * What a message of its type needs, as Segment's and RudderStack's APIs
 * check it: an id; a track's "event"; a group's "groupId" (and a group
 * type: PostHog's group key means nothing without one); an alias's
 * "previousId" and "userId".  "context", "properties" (track, page,
 * screen) and "traits" (identify, group) are objects when present.
 */

static int
cap_segment_in_check(cap_segment_in_t *in)
{
    const char  *name;
    cap_json_t  *v;

    in->context = NULL;
    in->src = NULL;
    in->key = NULL;
    in->group_type = NULL;
    in->typed_traits = 0;

    if (cap_segment_in_object(in->msg, "context", sizeof("context") - 1,
                              &in->context)
        != CAP_OK)
    {
        return cap_error_set(in->err, CAP_E_PARSE,
                             "message %zu: \"context\" is not an object",
                             in->index);
    }

    switch (in->type) {

    case CAP_SEGMENT_KIND_IDENTIFY:
    case CAP_SEGMENT_KIND_GROUP:
        name = "traits";
        break;

    case CAP_SEGMENT_KIND_ALIAS:
        name = NULL;
        break;

    default:
        name = "properties";
        break;
    }

    if (name != NULL
        && cap_segment_in_object(in->msg, name, strlen(name), &in->src)
           != CAP_OK)
    {
        return cap_error_set(in->err, CAP_E_PARSE,
                             "message %zu: \"%s\" is not an object",
                             in->index, name);
    }

    in->user = cap_segment_in_id(cap_segment_in_present_literal(in->msg,
                                                                "userId"),
                                 &in->user_s);
    in->anon = cap_segment_in_id(
                   cap_segment_in_present_literal(in->msg, "anonymousId"),
                   &in->anon_s);

    if (in->user == NULL && in->anon == NULL) {
        return cap_error_set(in->err, CAP_E_DISTINCT_ID,
                             "message %zu has neither userId nor "
                             "anonymousId", in->index);
    }

    switch (in->type) {

    case CAP_SEGMENT_KIND_TRACK:
        v = cap_segment_in_present_literal(in->msg, "event");

        if (v == NULL || v->type != CAP_JSON_STRING || v->str.len == 0) {
            return cap_error_set(in->err, CAP_E_EVENT_NAME,
                                 "message %zu: a track without an event "
                                 "name", in->index);
        }

        break;

    case CAP_SEGMENT_KIND_GROUP:
        in->key = cap_segment_in_id(
                      cap_segment_in_present_literal(in->msg, "groupId"),
                      &in->key_s);

        if (in->key == NULL) {
            return cap_error_set(in->err, CAP_E_PARSE,
                                 "message %zu: a group without a groupId",
                                 in->index);
        }

        in->group_type = cap_segment_in_id(
                             cap_segment_in_present_literal(in->src,
                                                            "group_type"),
                             &in->type_s);

        if (in->group_type != NULL) {
            in->typed_traits = 1;

        } else if (in->default_type != NULL) {
            in->group_type = in->default_type;

        } else {
            return cap_error_set(in->err, CAP_E_PARSE,
                                 "message %zu: a group without "
                                 "traits.group_type, and no default group "
                                 "type", in->index);
        }

        break;

    case CAP_SEGMENT_KIND_ALIAS:
        in->key = cap_segment_in_id(
                      cap_segment_in_present_literal(in->msg, "previousId"),
                      &in->key_s);

        if (in->key == NULL) {
            return cap_error_set(in->err, CAP_E_PARSE,
                                 "message %zu: an alias without a "
                                 "previousId", in->index);
        }

        if (in->user == NULL) {
            return cap_error_set(in->err, CAP_E_DISTINCT_ID,
                                 "message %zu: an alias without a userId",
                                 in->index);
        }

        break;

    default:
        break;
    }

    return CAP_OK;
}


/*
 * The event, appended to "batch":
 *   {"event", "distinct_id", "uuid"?, "timestamp"?, "sent_at"?,
 *    "properties"}
 */

static int
cap_segment_in_message(cap_segment_in_t *in, cap_json_t *batch,
    cap_json_t *sent_at)
{
    cap_json_t  *ev, *v, node, id;

    memset(&node, 0, sizeof(cap_json_t));
    node.type = CAP_JSON_OBJECT;

    ev = cap_json_append(in->pool, batch, NULL, 0, &node);
    if (ev == NULL) {
        goto nomem;
    }

    if (cap_segment_in_event(in, ev) != CAP_OK) {
        goto nomem;
    }

    /* a UUID as it is, or one derived from it: the same at every retry */

    v = cap_segment_in_id(cap_segment_in_present_literal(in->msg,
                                                         "messageId"),
                          &id);

    if (v != NULL
        && (cap_segment_in_uuid(in->pool, v, &node) != CAP_OK
            || cap_segment_in_add_literal(in->pool, ev, "uuid", &node)
               == NULL))
    {
        goto nomem;
    }

    /*
     * The time as the model takes it: "timestamp" and "sent_at" (both of
     * the client's clock) give now + (timestamp - sent_at).
     */

    v = cap_segment_in_present_literal(in->msg, "timestamp");

    if (v == NULL) {
        v = cap_segment_in_present_literal(in->msg, "originalTimestamp");
    }

    if (v != NULL
        && cap_segment_in_add_literal(in->pool, ev, "timestamp", v) == NULL)
    {
        goto nomem;
    }

    v = cap_segment_in_present_literal(in->msg, "sentAt");

    if (v == NULL) {
        v = sent_at;
    }

    if (v != NULL
        && cap_segment_in_add_literal(in->pool, ev, "sent_at", v) == NULL)
    {
        goto nomem;
    }

    memset(&node, 0, sizeof(cap_json_t));
    node.type = CAP_JSON_OBJECT;

    in->props = cap_segment_in_add_literal(in->pool, ev, "properties",
                                           &node);
    if (in->props == NULL) {
        goto nomem;
    }

    switch (in->type) {

    case CAP_SEGMENT_KIND_PAGE:
        if (cap_segment_in_page(in) != CAP_OK) {
            goto nomem;
        }

        break;

    case CAP_SEGMENT_KIND_SCREEN:
        if (cap_segment_in_copy(in) != CAP_OK) {
            goto nomem;
        }

        /* the screen's name wins over a property of the same meaning */

        v = cap_segment_in_present_literal(in->msg, "name");

        if (v != NULL && v->type == CAP_JSON_STRING
            && cap_json_set(in->pool, in->props,
                            (const cap_uchar_t *) "$screen_name",
                            sizeof("$screen_name") - 1, v)
               == NULL)
        {
            goto nomem;
        }

        break;

    case CAP_SEGMENT_KIND_IDENTIFY:

        /* all the traits: Segment has no "set once" */

        if (in->src == NULL) {
            memset(&node, 0, sizeof(cap_json_t));
            node.type = CAP_JSON_OBJECT;
            v = &node;

        } else {
            v = in->src;
        }

        if (cap_segment_in_add_literal(in->pool, in->props, "$set", v)
            == NULL)
        {
            goto nomem;
        }

        if (in->user != NULL && in->anon != NULL
            && cap_segment_in_add_literal(in->pool, in->props,
                                          "$anon_distinct_id", in->anon)
               == NULL)
        {
            goto nomem;
        }

        break;

    case CAP_SEGMENT_KIND_GROUP:
        if (cap_segment_in_group(in) != CAP_OK) {
            goto nomem;
        }

        break;

    case CAP_SEGMENT_KIND_ALIAS:
        if (cap_segment_in_add_literal(in->pool, in->props, "alias",
                                       in->key)
            == NULL)
        {
            goto nomem;
        }

        break;

    default:
        if (cap_segment_in_copy(in) != CAP_OK) {
            goto nomem;
        }

        break;
    }

    /*
     * An alias's event is the identified user's anyway; $device_id is
     * the anonymous id a user's events keep (track, page, screen).
     */

    if (in->user != NULL && in->type != CAP_SEGMENT_KIND_ALIAS) {
        memset(&node, 0, sizeof(cap_json_t));
        node.type = CAP_JSON_TRUE;

        if (cap_segment_in_fill_literal(in, "$is_identified", &node)
            != CAP_OK)
        {
            goto nomem;
        }
    }

    if (in->user != NULL && in->anon != NULL
        && (in->type == CAP_SEGMENT_KIND_TRACK
            || in->type == CAP_SEGMENT_KIND_PAGE
            || in->type == CAP_SEGMENT_KIND_SCREEN)
        && cap_segment_in_fill_literal(in, "$device_id", in->anon) != CAP_OK)
    {
        goto nomem;
    }

    if (cap_segment_in_context(in) != CAP_OK) {
        goto nomem;
    }

    return CAP_OK;

nomem:

    return cap_error_set(in->err, CAP_E_NOMEM, "out of memory");
}


/* "event" and "distinct_id" */

static int
cap_segment_in_event(cap_segment_in_t *in, cap_json_t *ev)
{
    cap_json_t  *id, *v, node;

    memset(&node, 0, sizeof(cap_json_t));
    node.type = CAP_JSON_STRING;

    switch (in->type) {

    case CAP_SEGMENT_KIND_TRACK:
        v = cap_segment_in_present_literal(in->msg, "event");
        break;

    case CAP_SEGMENT_KIND_IDENTIFY:
        if (in->user == NULL) {
            /* person properties of an anonymous user */
            node.str.data = (cap_uchar_t *) "$set";
            node.str.len = sizeof("$set") - 1;
            v = &node;
            break;
        }

        /* fall through */

    default:
        node.str = cap_segment_in_events[in->type];
        v = &node;
        break;
    }

    if (cap_segment_in_add_literal(in->pool, ev, "event", v) == NULL) {
        return CAP_ERROR;
    }

    id = (in->user != NULL) ? in->user : in->anon;

    if (cap_segment_in_add_literal(in->pool, ev, "distinct_id", id) == NULL) {
        return CAP_ERROR;
    }

    return CAP_OK;
}


/* track, screen: the message's properties, all of them, in their order */

static int
cap_segment_in_copy(cap_segment_in_t *in)
{
    cap_json_t  *v;

    for (v = in->src ? in->src->first : NULL; v != NULL; v = v->next) {
        if (cap_json_append(in->pool, in->props, v->key.data, v->key.len, v)
            == NULL)
        {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


/*
 * page: url, path, referrer (when present) first, under PostHog's names,
 * then the other properties.  The page field wins over a property that
 * has its PostHog name already; "search" is dropped: it is in the URL.
 * "name" is the title when the properties have none.
 */

static int
cap_segment_in_page(cap_segment_in_t *in)
{
    size_t                   i, n;
    cap_json_t              *v, *field[3];
    cap_segment_in_field_t  *f;

    n = cap_segment_in_nelts(cap_segment_in_page_fields);

    for (i = 0; i < n; i++) {
        f = &cap_segment_in_page_fields[i];

        field[i] = cap_segment_in_present(in->src, (const char *) f->key.data,
                                          f->key.len);

        if (field[i] != NULL
            && cap_json_append(in->pool, in->props, f->prop.data,
                               f->prop.len, field[i])
               == NULL)
        {
            return CAP_ERROR;
        }
    }

    for (v = in->src ? in->src->first : NULL; v != NULL; v = v->next) {

        if (cap_segment_in_key_is(v, "search")) {
            continue;
        }

        for (i = 0; i < n; i++) {
            f = &cap_segment_in_page_fields[i];

            /* every duplicate, null ones too: the one taken is written */

            if (v->key.len == f->key.len
                && memcmp(v->key.data, f->key.data, f->key.len) == 0)
            {
                break;
            }

            if (field[i] != NULL && v->key.len == f->prop.len
                && memcmp(v->key.data, f->prop.data, f->prop.len) == 0)
            {
                break;
            }
        }

        if (i < n) {
            continue;
        }

        if (cap_json_append(in->pool, in->props, v->key.data, v->key.len, v)
            == NULL)
        {
            return CAP_ERROR;
        }
    }

    v = cap_segment_in_present_literal(in->msg, "name");

    if (v != NULL && v->type == CAP_JSON_STRING
        && cap_segment_in_fill_literal(in, "title", v) != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


/*
 * group: $group_type, $group_key (a string) and $group_set, the traits
 * but the "group_type" that was taken as the type.
 */

static int
cap_segment_in_group(cap_segment_in_t *in)
{
    cap_json_t  *set, *v, node;

    if (cap_segment_in_add_literal(in->pool, in->props, "$group_type",
                                   in->group_type)
        == NULL
        || cap_segment_in_add_literal(in->pool, in->props, "$group_key",
                                      in->key)
           == NULL)
    {
        return CAP_ERROR;
    }

    if (in->src != NULL && !in->typed_traits) {
        /* shared: nothing to leave out */
        return cap_segment_in_add_literal(in->pool, in->props, "$group_set",
                                          in->src)
               ? CAP_OK : CAP_ERROR;
    }

    memset(&node, 0, sizeof(cap_json_t));
    node.type = CAP_JSON_OBJECT;

    set = cap_segment_in_add_literal(in->pool, in->props, "$group_set",
                                     &node);
    if (set == NULL) {
        return CAP_ERROR;
    }

    for (v = in->src ? in->src->first : NULL; v != NULL; v = v->next) {

        if (cap_segment_in_key_is(v, "group_type")) {
            continue;
        }

        if (cap_json_append(in->pool, set, v->key.data, v->key.len, v)
            == NULL)
        {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


/*
 * The properties that come from "context", for every type, when the
 * event has none of that name yet (the message's own properties win).
 * A field is looked up in the message's context, then in the batch
 * body's: the body's context is merged under the message's, field by
 * field.
 */

static int
cap_segment_in_context(cap_segment_in_t *in)
{
    size_t                   i;
    cap_json_t              *v;
    cap_segment_in_field_t  *f;

    if (in->context == NULL && in->body_context == NULL) {
        return CAP_OK;
    }

    for (i = 0; i < cap_segment_in_nelts(cap_segment_in_context_fields); i++)
    {
        f = &cap_segment_in_context_fields[i];

        v = cap_segment_in_lookup(in->context, f);

        if (v == NULL) {
            v = cap_segment_in_lookup(in->body_context, f);
        }

        if (v != NULL
            && cap_segment_in_fill(in, f->prop.data, f->prop.len, v)
               != CAP_OK)
        {
            return CAP_ERROR;
        }
    }

    return CAP_OK;
}


static cap_json_t *
cap_segment_in_lookup(cap_json_t *ctx, cap_segment_in_field_t *f)
{
    if (ctx == NULL) {
        return NULL;
    }

    if (f->object.len) {
        ctx = cap_json_get(ctx, (const char *) f->object.data,
                           f->object.len);

        if (ctx == NULL || ctx->type != CAP_JSON_OBJECT) {
            return NULL;
        }
    }

    return cap_segment_in_present(ctx, (const char *) f->key.data,
                                  f->key.len);
}


/* sets a property that is absent or null */

static int
cap_segment_in_fill(cap_segment_in_t *in, const cap_uchar_t *name,
    size_t len, cap_json_t *v)
{
    if (cap_segment_in_present(in->props, (const char *) name, len) != NULL) {
        return CAP_OK;
    }

    return cap_json_set(in->pool, in->props, name, len, v)
           ? CAP_OK : CAP_ERROR;
}


/* CAP_ERROR: there, not null, and not an object */

static int
cap_segment_in_object(cap_json_t *obj, const char *key, size_t len,
    cap_json_t **found)
{
    cap_json_t  *v;

    v = cap_segment_in_present(obj, key, len);

    if (v != NULL && v->type != CAP_JSON_OBJECT) {
        return CAP_ERROR;
    }

    *found = v;

    return CAP_OK;
}


/*
 * A messageId that is a UUID, in its canonical form; any other gets
 * the version 8 UUID of SHA-256(namespace || messageId): the first 128
 * bits of the digest, version nibble 8, variant bits 10 (RFC 9562).
 */

static int
cap_segment_in_uuid(cap_pool_t *pool, cap_json_t *id, cap_json_t *out)
{
    cap_uchar_t  *p;

    p = cap_alloc(pool, CAP_UUID_LEN);
    if (p == NULL) {
        return CAP_ERROR;
    }

    if (cap_uuid_parse(id->str.data, id->str.len, p) != CAP_OK) {
        cap_segment_in_derive(id->str.data, id->str.len, p);
    }

    memset(out, 0, sizeof(cap_json_t));
    out->type = CAP_JSON_STRING;
    out->str.data = p;
    out->str.len = CAP_UUID_LEN;

    return CAP_OK;
}


static void
cap_segment_in_derive(const cap_uchar_t *p, size_t len, cap_uchar_t *out)
{
    cap_uchar_t    d[CAP_SHA256_LEN], hex[32];
    cap_sha256_t   ctx;

    cap_sha256_init(&ctx);
    cap_sha256_update(&ctx, CAP_SEGMENT_IN_NAMESPACE,
                      sizeof(CAP_SEGMENT_IN_NAMESPACE) - 1);
    cap_sha256_update(&ctx, p, len);
    cap_sha256_final(&ctx, d);

    d[6] = (d[6] & 0x0f) | 0x80;
    d[8] = (d[8] & 0x3f) | 0x80;

    cap_hex(d, 16, hex);

    /* 8-4-4-4-12 */

    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
}


/*
 * A usable id: a non-empty string, or a number as a string of its text
 * (made in "s"); NULL for anything else.
 */

static cap_json_t *
cap_segment_in_id(cap_json_t *v, cap_json_t *s)
{
    if (v == NULL) {
        return NULL;
    }

    if (v->type == CAP_JSON_STRING) {
        return v->str.len ? v : NULL;
    }

    if (v->type != CAP_JSON_NUMBER) {
        return NULL;
    }

    memset(s, 0, sizeof(cap_json_t));
    s->type = CAP_JSON_STRING;
    s->str = v->str;

    return s;
}


/* a member that is there and not null */

static cap_json_t *
cap_segment_in_present(cap_json_t *obj, const char *key, size_t len)
{
    cap_json_t  *v;

    v = cap_json_get(obj, key, len);

    if (v == NULL || v->type == CAP_JSON_NULL) {
        return NULL;
    }

    return v;
}


