
/*
 * Segment's HTTP Tracking API (RudderStack takes the same messages): one
 * canonical event -> one Segment-spec message, and the body around a
 * batch of them.  docs/mappings.md has the table, field by field.
 *
 * Types: $pageview -> page, $screen -> screen, $identify and $set ->
 * identify, $create_alias -> alias, $groupidentify -> group, anything
 * else -> track.  A $create_alias without a usable "alias", or a
 * $groupidentify without a usable "$group_key", is sent as a track (the
 * message Segment would drop otherwise).
 *
 * Alias direction: previousId = properties.alias, userId = distinct_id.
 * PostHog's ingestion merges the person of "alias" into the person of
 * the event's distinct_id, which stays: distinct_id is the identity that
 * is kept, as Segment's userId is, and the alias the one merged into it,
 * as Segment's previousId is.  (RudderStack's PostHog destination maps
 * the other way, reading the names of the arguments of alias() instead;
 * the ingestion side must reverse this mapping, not that one.)
 *
 * "$" properties: the ones copied into "context" (the src column of
 * cap_segment_context[] that begins with "$") are removed from a track's
 * properties; every other property, "$" or not, stays.  A page or a
 * screen keeps only the properties without "$" (besides the page fields
 * it maps).  identify, alias and group have no properties.
 */


#include "cap_encode.h"


/*
 * How much a message may exceed its limit before the buffer's bound
 * stops it early: an escape reserves 6 bytes, of which 2 may be used.
 */
#define CAP_SEGMENT_SLACK  16


typedef enum {
    CAP_SEGMENT_TRACK = 0,
    CAP_SEGMENT_PAGE,
    CAP_SEGMENT_SCREEN,
    CAP_SEGMENT_IDENTIFY,
    CAP_SEGMENT_ALIAS,
    CAP_SEGMENT_GROUP
} cap_segment_type_t;


/* an object written on demand: its first member opens it, in its parent */
typedef struct cap_segment_obj_s  cap_segment_obj_t;

struct cap_segment_obj_s {
    cap_buf_t          *out;
    cap_segment_obj_t  *parent;
    cap_str_t           key;
    unsigned            members;
    unsigned            open:1;
};


/* member "key" of "object" (none: of the parent) <- properties["src"] */
typedef struct {
    cap_str_t           object;
    cap_str_t           key;
    cap_str_t           src;
    cap_str_t           alt;            /* when "src" is absent */
    unsigned            search:1;       /* the query part of "src" */
} cap_segment_field_t;


#define cap_segment_field(obj, key, src)                                     \
    { cap_string(obj), cap_string(key), cap_string(src), cap_null_string, 0 }

#define cap_segment_is(ev, name)                                             \
    ((ev)->event.len == sizeof(name) - 1                                     \
     && memcmp((ev)->event.data, name, sizeof(name) - 1) == 0)

#define cap_segment_key_literal(o, key)                                      \
    cap_segment_key(o, (const cap_uchar_t *) key, sizeof(key) - 1)

#define cap_segment_prop_literal(props, name)                                \
    cap_segment_prop(props, (const cap_uchar_t *) name, sizeof(name) - 1)


static cap_segment_type_t cap_segment_type(cap_event_t *ev);
static int cap_segment_write(cap_buf_t *out, cap_event_t *ev);
static int cap_segment_ids(cap_segment_obj_t *msg, cap_event_t *ev,
    cap_segment_type_t type);
static int cap_segment_properties(cap_segment_obj_t *msg, cap_json_t *props,
    cap_segment_type_t type);
static int cap_segment_traits(cap_segment_obj_t *msg, cap_json_t *props);
static int cap_segment_group(cap_segment_obj_t *msg, cap_json_t *props);
static int cap_segment_fields(cap_segment_obj_t *parent, cap_json_t *props,
    cap_segment_field_t *fields, size_t n, unsigned *written);
static int cap_segment_moved(cap_json_t *props, cap_json_t *v);
static int cap_segment_posthogs(cap_json_t *v);
static int cap_segment_mapped(cap_json_t *v, unsigned written);
static int cap_segment_search(cap_json_t *url, cap_str_t *search);
static cap_json_t *cap_segment_prop(cap_json_t *props,
    const cap_uchar_t *name, size_t len);
static int cap_segment_usable_id(cap_json_t *v);
static int cap_segment_write_id(cap_buf_t *out, cap_json_t *v);
static void cap_segment_init(cap_segment_obj_t *o, cap_buf_t *out,
    cap_segment_obj_t *parent, const char *key, size_t len);
static int cap_segment_open(cap_segment_obj_t *o);
static int cap_segment_key(cap_segment_obj_t *o, const cap_uchar_t *key,
    size_t len);
static int cap_segment_close(cap_segment_obj_t *o);


static cap_str_t  cap_segment_types[] = {
    cap_string("track"),
    cap_string("page"),
    cap_string("screen"),
    cap_string("identify"),
    cap_string("alias"),
    cap_string("group")
};


/* members of one sub-object are next to each other */

static cap_segment_field_t  cap_segment_context[] = {
    cap_segment_field("", "ip", "$ip"),
    cap_segment_field("", "userAgent", "$raw_user_agent"),
    cap_segment_field("library", "name", "$lib"),
    cap_segment_field("library", "version", "$lib_version"),
    { cap_string(""), cap_string("locale"), cap_string("$locale"),
      cap_string("$browser_language"), 0 },
    cap_segment_field("", "timezone", "$timezone"),
    cap_segment_field("page", "path", "$pathname"),
    cap_segment_field("page", "referrer", "$referrer"),
    { cap_string("page"), cap_string("search"), cap_string("$current_url"),
      cap_null_string, 1 },
    cap_segment_field("page", "title", "title"),
    cap_segment_field("page", "url", "$current_url"),
    cap_segment_field("screen", "width", "$screen_width"),
    cap_segment_field("screen", "height", "$screen_height"),
    cap_segment_field("screen", "density", "$screen_density"),
    cap_segment_field("os", "name", "$os"),
    cap_segment_field("os", "version", "$os_version"),
    cap_segment_field("device", "type", "$device_type"),
    cap_segment_field("device", "manufacturer", "$device_manufacturer"),
    cap_segment_field("device", "model", "$device_model"),
    cap_segment_field("app", "name", "$app_name"),
    cap_segment_field("app", "version", "$app_version"),
    cap_segment_field("app", "build", "$app_build"),
    cap_segment_field("app", "namespace", "$app_namespace"),
    cap_segment_field("campaign", "name", "utm_campaign"),
    cap_segment_field("campaign", "source", "utm_source"),
    cap_segment_field("campaign", "medium", "utm_medium"),
    cap_segment_field("campaign", "term", "utm_term"),
    cap_segment_field("campaign", "content", "utm_content")
};


static cap_segment_field_t  cap_segment_page[] = {
    cap_segment_field("", "url", "$current_url"),
    cap_segment_field("", "path", "$pathname"),
    cap_segment_field("", "referrer", "$referrer"),
    cap_segment_field("", "title", "title"),
    { cap_string(""), cap_string("search"), cap_string("$current_url"),
      cap_null_string, 1 }
};


#define cap_segment_nelts(a)  (sizeof(a) / sizeof(a[0]))


int
cap_segment_message(cap_buf_t *out, cap_batch_t *batch, cap_event_t *ev,
    cap_msec_t sent_at, size_t max_message, cap_error_t *err)
{
    int       rc;
    size_t    start, max, limit;
    unsigned  overflow, nomem;

    start = out->len;
    max = out->max;
    overflow = out->overflow;
    nomem = out->nomem;

    /*
     * The buffer's own bound stops a message far over its limit early
     * (not megabytes written to be thrown away); the exact check is made
     * at the end.  "limit" stays 0 when the caller's bound comes first.
     */

    limit = 0;

    if (max_message && max_message < SIZE_MAX - CAP_SEGMENT_SLACK - start) {
        limit = start + max_message + CAP_SEGMENT_SLACK;

        if (max == 0 || limit < max) {
            out->max = limit;

        } else {
            limit = 0;
        }
    }

    rc = cap_segment_write(out, ev);

    out->max = max;

    if (rc != CAP_OK) {
        if (out->overflow && limit) {
            cap_error_set(err, CAP_E_EVENT_TOO_LARGE,
                          "maximum message size exceeded: the message is "
                          "over %zu bytes", max_message);

        } else if (out->overflow) {
            cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                          "encoded messages exceed %zu bytes", max);

        } else if (out->nomem) {
            cap_error_set(err, CAP_E_NOMEM, "out of memory");

        } else {
            cap_error_set(err, CAP_E_PARSE, "the event cannot be encoded");
        }

        goto failed;
    }

    if (max_message && out->len - start > max_message) {
        cap_error_set(err, CAP_E_EVENT_TOO_LARGE,
                      "maximum message size exceeded: the message is %zu "
                      "bytes, the limit is %zu", out->len - start,
                      max_message);
        goto failed;
    }

    /*
     * "sentAt" is the body's, written when the batch is sent (see
     * cap_segment_batch_close()), not one per message.
     */

    (void) batch;
    (void) sent_at;

    return CAP_OK;

failed:

    out->len = start;
    out->overflow = overflow;
    out->nomem = nomem;

    return CAP_ERROR;
}


int
cap_segment_batch_open(cap_buf_t *out)
{
    return cap_buf_append_literal(out, "{\"batch\":[");
}


int
cap_segment_batch_close(cap_buf_t *out, cap_msec_t sent_at)
{
    size_t       n;
    cap_uchar_t  ts[CAP_TIME_LEN];

    n = cap_time_format(sent_at, ts);

    if (cap_buf_append_literal(out, "],\"sentAt\":\"") != CAP_OK
        || cap_buf_append(out, ts, n) != CAP_OK
        || cap_buf_append_literal(out, "\"}") != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


static cap_segment_type_t
cap_segment_type(cap_event_t *ev)
{
    cap_json_t  *props;

    props = ev->properties;

    if (ev->event.len == 0 || ev->event.data[0] != '$') {
        return CAP_SEGMENT_TRACK;
    }

    if (cap_segment_is(ev, "$pageview")) {
        return CAP_SEGMENT_PAGE;
    }

    if (cap_segment_is(ev, "$screen")) {
        return CAP_SEGMENT_SCREEN;
    }

    if (cap_segment_is(ev, "$identify") || cap_segment_is(ev, "$set")) {
        return CAP_SEGMENT_IDENTIFY;
    }

    if (cap_segment_is(ev, "$create_alias")
        && cap_segment_usable_id(cap_segment_prop_literal(props, "alias")))
    {
        return CAP_SEGMENT_ALIAS;
    }

    if (cap_segment_is(ev, "$groupidentify")
        && cap_segment_usable_id(cap_segment_prop_literal(props,
                                                          "$group_key")))
    {
        return CAP_SEGMENT_GROUP;
    }

    return CAP_SEGMENT_TRACK;
}


static int
cap_segment_write(cap_buf_t *out, cap_event_t *ev)
{
    size_t               n;
    cap_json_t          *props, *v;
    cap_uchar_t          ts[CAP_TIME_LEN];
    cap_segment_obj_t    msg, ctx;
    cap_segment_type_t   type;

    props = ev->properties;
    type = cap_segment_type(ev);
    n = cap_time_format(ev->timestamp, ts);

    cap_segment_init(&msg, out, NULL, "", 0);

    if (cap_segment_open(&msg) != CAP_OK
        || cap_segment_key_literal(&msg, "type") != CAP_OK
        || cap_json_write_string(out, cap_segment_types[type].data,
                                 cap_segment_types[type].len) != CAP_OK
        || cap_segment_key_literal(&msg, "messageId") != CAP_OK
        || cap_buf_put(out, '"') != CAP_OK
        || cap_buf_append(out, ev->uuid, CAP_UUID_LEN) != CAP_OK
        || cap_buf_put(out, '"') != CAP_OK
        || cap_segment_key_literal(&msg, "timestamp") != CAP_OK
        || cap_buf_put(out, '"') != CAP_OK
        || cap_buf_append(out, ts, n) != CAP_OK
        || cap_buf_put(out, '"') != CAP_OK
        || cap_segment_ids(&msg, ev, type) != CAP_OK)
    {
        return CAP_ERROR;
    }

    switch (type) {

    case CAP_SEGMENT_TRACK:
        if (cap_segment_key_literal(&msg, "event") != CAP_OK
            || cap_json_write_string(out, ev->event.data, ev->event.len)
               != CAP_OK)
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_PAGE:
        v = cap_segment_prop_literal(props, "title");

        if (v != NULL && v->type == CAP_JSON_STRING
            && (cap_segment_key_literal(&msg, "name") != CAP_OK
                || cap_json_write(out, v) != CAP_OK))
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_SCREEN:
        v = cap_segment_prop_literal(props, "$screen_name");

        if (v != NULL && v->type == CAP_JSON_STRING
            && (cap_segment_key_literal(&msg, "name") != CAP_OK
                || cap_json_write(out, v) != CAP_OK))
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_IDENTIFY:
        if (cap_segment_traits(&msg, props) != CAP_OK) {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_ALIAS:
        if (cap_segment_key_literal(&msg, "previousId") != CAP_OK
            || cap_segment_write_id(out,
                                    cap_segment_prop_literal(props, "alias"))
               != CAP_OK)
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_GROUP:
        if (cap_segment_group(&msg, props) != CAP_OK) {
            return CAP_ERROR;
        }

        break;
    }

    if (cap_segment_properties(&msg, props, type) != CAP_OK) {
        return CAP_ERROR;
    }

    /* "context": only the keys present, no empty object */

    cap_segment_init(&ctx, out, &msg, "context", sizeof("context") - 1);

    if (cap_segment_fields(&ctx, props, cap_segment_context,
                           cap_segment_nelts(cap_segment_context), NULL)
        != CAP_OK
        || cap_segment_close(&ctx) != CAP_OK)
    {
        return CAP_ERROR;
    }

    return cap_segment_close(&msg);
}


/*
 * userId for an identified user ($identify, $is_identified true, or a
 * $user_id), anonymousId otherwise; an $identify also carries its
 * $anon_distinct_id as anonymousId, an alias only its userId.
 */

static int
cap_segment_ids(cap_segment_obj_t *msg, cap_event_t *ev,
    cap_segment_type_t type)
{
    cap_json_t  *props, *v, *anon;
    unsigned     identified;

    props = ev->properties;
    anon = NULL;

    if (type == CAP_SEGMENT_ALIAS) {
        identified = 1;

    } else if (cap_segment_is(ev, "$identify")) {
        identified = 1;

        v = cap_segment_prop_literal(props, "$anon_distinct_id");
        if (cap_segment_usable_id(v)) {
            anon = v;
        }

    } else {
        v = cap_segment_prop_literal(props, "$is_identified");
        identified = (v != NULL && v->type == CAP_JSON_TRUE)
                     || cap_segment_prop_literal(props, "$user_id") != NULL;
    }

    if (identified) {
        if (cap_segment_key_literal(msg, "userId") != CAP_OK
            || cap_json_write_string(msg->out, ev->distinct_id.data,
                                     ev->distinct_id.len) != CAP_OK)
        {
            return CAP_ERROR;
        }

        if (anon == NULL) {
            return CAP_OK;
        }

        if (cap_segment_key_literal(msg, "anonymousId") != CAP_OK
            || cap_segment_write_id(msg->out, anon) != CAP_OK)
        {
            return CAP_ERROR;
        }

        return CAP_OK;
    }

    if (cap_segment_key_literal(msg, "anonymousId") != CAP_OK
        || cap_json_write_string(msg->out, ev->distinct_id.data,
                                 ev->distinct_id.len) != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


/*
 * "properties" of a track (all but the "$" keys moved into context),
 * a page (its page fields, then the keys without "$" it has not mapped)
 * and a screen (the keys without "$"); the other types have none.
 */

static int
cap_segment_properties(cap_segment_obj_t *msg, cap_json_t *props,
    cap_segment_type_t type)
{
    unsigned           written;
    cap_json_t        *v;
    cap_segment_obj_t  o;

    if (type != CAP_SEGMENT_TRACK && type != CAP_SEGMENT_PAGE
        && type != CAP_SEGMENT_SCREEN)
    {
        return CAP_OK;
    }

    /* always there, if empty */

    cap_segment_init(&o, msg->out, msg, "properties",
                     sizeof("properties") - 1);

    if (cap_segment_open(&o) != CAP_OK) {
        return CAP_ERROR;
    }

    written = 0;

    if (type == CAP_SEGMENT_PAGE
        && cap_segment_fields(&o, props, cap_segment_page,
                              cap_segment_nelts(cap_segment_page), &written)
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    for (v = props->first; v != NULL; v = v->next) {

        if (cap_segment_posthogs(v)) {
            continue;

        } else if (type == CAP_SEGMENT_TRACK) {
            if (cap_segment_moved(props, v)) {
                continue;
            }

        } else if (v->key.len && v->key.data[0] == '$') {
            continue;

        } else if (type == CAP_SEGMENT_PAGE
                   && cap_segment_mapped(v, written))
        {
            continue;
        }

        if (cap_segment_key(&o, v->key.data, v->key.len) != CAP_OK
            || cap_json_write(o.out, v) != CAP_OK)
        {
            return CAP_ERROR;
        }
    }

    return cap_segment_close(&o);
}


/* identify: $set, then the keys of $set_once that $set has not */

static int
cap_segment_traits(cap_segment_obj_t *msg, cap_json_t *props)
{
    cap_json_t        *set, *once, *v;
    cap_segment_obj_t  o;

    set = cap_segment_prop_literal(props, "$set");
    once = cap_segment_prop_literal(props, "$set_once");

    if (set != NULL && set->type != CAP_JSON_OBJECT) {
        set = NULL;
    }

    if (once != NULL && once->type != CAP_JSON_OBJECT) {
        once = NULL;
    }

    cap_segment_init(&o, msg->out, msg, "traits", sizeof("traits") - 1);

    if (cap_segment_open(&o) != CAP_OK) {
        return CAP_ERROR;
    }

    for (v = set ? set->first : NULL; v != NULL; v = v->next) {
        if (cap_segment_key(&o, v->key.data, v->key.len) != CAP_OK
            || cap_json_write(o.out, v) != CAP_OK)
        {
            return CAP_ERROR;
        }
    }

    for (v = once ? once->first : NULL; v != NULL; v = v->next) {

        if (cap_json_get(set, (const char *) v->key.data, v->key.len)
            != NULL)
        {
            continue;
        }

        if (cap_segment_key(&o, v->key.data, v->key.len) != CAP_OK
            || cap_json_write(o.out, v) != CAP_OK)
        {
            return CAP_ERROR;
        }
    }

    return cap_segment_close(&o);
}


/*
 * group: groupId = $group_key as a string, traits = $group_set and
 * traits.group_type = $group_type (which wins over a "group_type" of
 * $group_set).
 */

static int
cap_segment_group(cap_segment_obj_t *msg, cap_json_t *props)
{
    cap_json_t        *set, *type, *v;
    cap_segment_obj_t  o;

    if (cap_segment_key_literal(msg, "groupId") != CAP_OK
        || cap_segment_write_id(msg->out,
                                cap_segment_prop_literal(props,
                                                         "$group_key"))
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    set = cap_segment_prop_literal(props, "$group_set");
    type = cap_segment_prop_literal(props, "$group_type");

    if (set != NULL && set->type != CAP_JSON_OBJECT) {
        set = NULL;
    }

    cap_segment_init(&o, msg->out, msg, "traits", sizeof("traits") - 1);

    if (cap_segment_open(&o) != CAP_OK) {
        return CAP_ERROR;
    }

    for (v = set ? set->first : NULL; v != NULL; v = v->next) {

        if (type != NULL && v->key.len == sizeof("group_type") - 1
            && memcmp(v->key.data, "group_type", v->key.len) == 0)
        {
            continue;
        }

        if (cap_segment_key(&o, v->key.data, v->key.len) != CAP_OK
            || cap_json_write(o.out, v) != CAP_OK)
        {
            return CAP_ERROR;
        }
    }

    if (type != NULL
        && (cap_segment_key_literal(&o, "group_type") != CAP_OK
            || cap_json_write(o.out, type) != CAP_OK))
    {
        return CAP_ERROR;
    }

    return cap_segment_close(&o);
}


/*
 * The fields of a table whose source is present, each in its sub-object
 * of "parent" (written only when it has a member); bit i of "written"
 * set for field i written.
 */

static int
cap_segment_fields(cap_segment_obj_t *parent, cap_json_t *props,
    cap_segment_field_t *fields, size_t n, unsigned *written)
{
    size_t                i;
    cap_str_t             search;
    cap_json_t           *v;
    cap_segment_obj_t     sub, *o;
    cap_segment_field_t  *f;

    cap_segment_init(&sub, parent->out, parent, "", 0);

    for (i = 0; i < n; i++) {
        f = &fields[i];

        if (f->object.len != sub.key.len
            || memcmp(f->object.data, sub.key.data, sub.key.len) != 0)
        {
            if (cap_segment_close(&sub) != CAP_OK) {
                return CAP_ERROR;
            }

            cap_segment_init(&sub, parent->out, parent,
                             (const char *) f->object.data, f->object.len);
        }

        o = f->object.len ? &sub : parent;

        v = cap_segment_prop(props, f->src.data, f->src.len);

        if (v == NULL && f->alt.len) {
            v = cap_segment_prop(props, f->alt.data, f->alt.len);
        }

        if (v == NULL) {
            continue;
        }

        if (f->search) {
            if (!cap_segment_search(v, &search)) {
                continue;
            }

            if (cap_segment_key(o, f->key.data, f->key.len) != CAP_OK
                || cap_json_write_string(o->out, search.data, search.len)
                   != CAP_OK)
            {
                return CAP_ERROR;
            }

        } else if (cap_segment_key(o, f->key.data, f->key.len) != CAP_OK
                   || cap_json_write(o->out, v) != CAP_OK)
        {
            return CAP_ERROR;
        }

        if (written) {
            *written |= 1u << i;
        }
    }

    return cap_segment_close(&sub);
}


/*
 * 1: a "$" property that context carries (a track does not repeat it);
 * $browser_language only when it stood in for an absent $locale.
 */

static int
cap_segment_moved(cap_json_t *props, cap_json_t *v)
{
    size_t                i;
    cap_segment_field_t  *f;

    if (v->key.len == 0 || v->key.data[0] != '$') {
        return 0;
    }

    for (i = 0; i < cap_segment_nelts(cap_segment_context); i++) {
        f = &cap_segment_context[i];

        if (v->key.len == f->src.len
            && memcmp(v->key.data, f->src.data, f->src.len) == 0)
        {
            return 1;
        }

        if (f->alt.len && v->key.len == f->alt.len
            && memcmp(v->key.data, f->alt.data, f->alt.len) == 0
            && cap_segment_prop(props, f->src.data, f->src.len) == NULL)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * 1: "token" and "distinct_id", which posthog-js repeats in every
 * event's properties: the project key does not belong at a third party,
 * and the id is the message's userId or anonymousId already.
 */

static int
cap_segment_posthogs(cap_json_t *v)
{
    return (v->key.len == 5 && memcmp(v->key.data, "token", 5) == 0)
           || (v->key.len == 11
               && memcmp(v->key.data, "distinct_id", 11) == 0);
}


/* 1: a page property of that name was written from the page fields */

static int
cap_segment_mapped(cap_json_t *v, unsigned written)
{
    size_t                i;
    cap_segment_field_t  *f;

    for (i = 0; i < cap_segment_nelts(cap_segment_page); i++) {
        f = &cap_segment_page[i];

        if ((written & (1u << i))
            && v->key.len == f->key.len
            && memcmp(v->key.data, f->key.data, f->key.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* location.search: from "?" to "#" or the end, if more than "?" alone */

static int
cap_segment_search(cap_json_t *url, cap_str_t *search)
{
    cap_uchar_t  *p, *q, *end;

    if (url->type != CAP_JSON_STRING || url->str.len == 0) {
        return 0;
    }

    p = url->str.data;
    end = p + url->str.len;

    for (q = p; q < end && *q != '?' && *q != '#'; q++) {
        /* void */
    }

    if (q == end || *q == '#') {
        return 0;
    }

    p = q;

    for (q++; q < end && *q != '#'; q++) {
        /* void */
    }

    if (q - p < 2) {
        return 0;
    }

    search->data = p;
    search->len = q - p;

    return 1;
}


/* a property that is present: there, and not null */

static cap_json_t *
cap_segment_prop(cap_json_t *props, const cap_uchar_t *name, size_t len)
{
    cap_json_t  *v;

    v = cap_json_get(props, (const char *) name, len);

    if (v == NULL || v->type == CAP_JSON_NULL) {
        return NULL;
    }

    return v;
}


/* ids are strings: a non-empty string, or a number as its text */

static int
cap_segment_usable_id(cap_json_t *v)
{
    if (v == NULL) {
        return 0;
    }

    return (v->type == CAP_JSON_STRING && v->str.len)
           || v->type == CAP_JSON_NUMBER;
}


static int
cap_segment_write_id(cap_buf_t *out, cap_json_t *v)
{
    if (v->type == CAP_JSON_STRING) {
        return cap_json_write_string(out, v->str.data, v->str.len);
    }

    /* a number's text needs no escaping */

    if (cap_buf_put(out, '"') != CAP_OK
        || cap_buf_append(out, v->str.data, v->str.len) != CAP_OK
        || cap_buf_put(out, '"') != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


static void
cap_segment_init(cap_segment_obj_t *o, cap_buf_t *out,
    cap_segment_obj_t *parent, const char *key, size_t len)
{
    o->out = out;
    o->parent = parent;
    o->key.data = (cap_uchar_t *) key;
    o->key.len = len;
    o->members = 0;
    o->open = 0;
}


static int
cap_segment_open(cap_segment_obj_t *o)
{
    if (o->open) {
        return CAP_OK;
    }

    if (o->parent != NULL
        && cap_segment_key(o->parent, o->key.data, o->key.len) != CAP_OK)
    {
        return CAP_ERROR;
    }

    o->open = 1;

    return cap_buf_put(o->out, '{');
}


/* the separator and "key": of the next member */

static int
cap_segment_key(cap_segment_obj_t *o, const cap_uchar_t *key, size_t len)
{
    if (cap_segment_open(o) != CAP_OK) {
        return CAP_ERROR;
    }

    if (o->members++ && cap_buf_put(o->out, ',') != CAP_OK) {
        return CAP_ERROR;
    }

    if (cap_json_write_string(o->out, key, len) != CAP_OK
        || cap_buf_put(o->out, ':') != CAP_OK)
    {
        return CAP_ERROR;
    }

    return CAP_OK;
}


static int
cap_segment_close(cap_segment_obj_t *o)
{
    if (!o->open) {
        return CAP_OK;
    }

    o->open = 0;

    return cap_buf_put(o->out, '}');
}
