
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
 *
 * Look-ups: the properties are read by name about 25 times a message.
 * One pass over them (cap_segment_index()) files each property whose
 * name the mapping reads under that name's number, so that every
 * look-up is then a load, not a walk of the list with a memcmp() per
 * key, and "is this key moved into context?" a flag of its name.
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


/*
 * The names of the properties the mapping reads: cap_segment_names[]
 * spells them, cap_segment_name() finds one.  CAP_SEGMENT_P_NONE stands
 * for every other key, and its entry of an index stays NULL.
 */
typedef enum {
    CAP_SEGMENT_P_IP = 0,
    CAP_SEGMENT_P_RAW_USER_AGENT,
    CAP_SEGMENT_P_LIB,
    CAP_SEGMENT_P_LIB_VERSION,
    CAP_SEGMENT_P_LOCALE,
    CAP_SEGMENT_P_BROWSER_LANGUAGE,
    CAP_SEGMENT_P_TIMEZONE,
    CAP_SEGMENT_P_PATHNAME,
    CAP_SEGMENT_P_REFERRER,
    CAP_SEGMENT_P_CURRENT_URL,
    CAP_SEGMENT_P_TITLE,
    CAP_SEGMENT_P_SCREEN_WIDTH,
    CAP_SEGMENT_P_SCREEN_HEIGHT,
    CAP_SEGMENT_P_SCREEN_DENSITY,
    CAP_SEGMENT_P_OS,
    CAP_SEGMENT_P_OS_VERSION,
    CAP_SEGMENT_P_DEVICE_TYPE,
    CAP_SEGMENT_P_DEVICE_MANUFACTURER,
    CAP_SEGMENT_P_DEVICE_MODEL,
    CAP_SEGMENT_P_APP_NAME,
    CAP_SEGMENT_P_APP_VERSION,
    CAP_SEGMENT_P_APP_BUILD,
    CAP_SEGMENT_P_APP_NAMESPACE,
    CAP_SEGMENT_P_UTM_CAMPAIGN,
    CAP_SEGMENT_P_UTM_SOURCE,
    CAP_SEGMENT_P_UTM_MEDIUM,
    CAP_SEGMENT_P_UTM_TERM,
    CAP_SEGMENT_P_UTM_CONTENT,
    CAP_SEGMENT_P_SCREEN_NAME,
    CAP_SEGMENT_P_SET,
    CAP_SEGMENT_P_SET_ONCE,
    CAP_SEGMENT_P_ANON_DISTINCT_ID,
    CAP_SEGMENT_P_IS_IDENTIFIED,
    CAP_SEGMENT_P_USER_ID,
    CAP_SEGMENT_P_ALIAS,
    CAP_SEGMENT_P_GROUP_KEY,
    CAP_SEGMENT_P_GROUP_SET,
    CAP_SEGMENT_P_GROUP_TYPE,
    CAP_SEGMENT_P_NONE
} cap_segment_name_t;


/*
 * What a track does with a "$" property of that name: MOVED, the src of
 * a field of cap_segment_context[], always leaves its properties; ALT,
 * the alt of one, leaves them when that field's src is absent.
 */
#define CAP_SEGMENT_MOVED  1
#define CAP_SEGMENT_ALT    2


/* an entry of cap_segment_names[] */
typedef struct {
    cap_str_t           name;
    unsigned            flags;
} cap_segment_known_t;


/*
 * How many properties' names an index keeps, in order, for the pass that
 * writes them (posthog-js sends 30 to 60); the others are looked up again.
 */
#define CAP_SEGMENT_NAMED  128


/*
 * The properties of an event, the last of each name the mapping reads,
 * and the names of the first properties.
 */
typedef struct {
    cap_json_t         *props;
    cap_json_t         *found[CAP_SEGMENT_P_NONE + 1];
    cap_uchar_t         names[CAP_SEGMENT_NAMED];
} cap_segment_index_t;


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
    cap_segment_name_t  src;
    cap_segment_name_t  alt;            /* when "src" is absent */
    unsigned            search:1;       /* the query part of "src" */
} cap_segment_field_t;


#define cap_segment_field(obj, key, src)                                     \
    { cap_string(obj), cap_string(key), CAP_SEGMENT_P_##src,                 \
      CAP_SEGMENT_P_NONE, 0 }

#define cap_segment_is(ev, name)                                             \
    ((ev)->event.len == sizeof(name) - 1                                     \
     && memcmp((ev)->event.data, name, sizeof(name) - 1) == 0)

#define cap_segment_key_literal(o, key)                                      \
    cap_segment_key_plain(o, (const cap_uchar_t *) key, sizeof(key) - 1)

#define cap_segment_prop(ix, name)                                           \
    cap_segment_get(ix, CAP_SEGMENT_P_##name)

/*
 * cap_segment_name()'s candidate "n" for a key of "size" bytes, compared
 * whole: "size" is a constant, for which the compiler compares a few
 * words instead of calling memcmp(); the length of the name is compared
 * too, so that a slip in the switch cannot read past the name.
 */
#define cap_segment_name_check(key, n, size)                                 \
    ((cap_segment_names[n].name.len == size                                  \
      && memcmp(key, cap_segment_names[n].name.data, size) == 0)             \
     ? (n) : CAP_SEGMENT_P_NONE)


static cap_segment_type_t cap_segment_type(cap_event_t *ev,
    cap_segment_index_t *ix);
static int cap_segment_write(cap_buf_t *out, cap_event_t *ev);
static int cap_segment_ids(cap_segment_obj_t *msg, cap_event_t *ev,
    cap_segment_index_t *ix, cap_segment_type_t type);
static int cap_segment_properties(cap_segment_obj_t *msg,
    cap_segment_index_t *ix, cap_segment_type_t type);
static int cap_segment_traits(cap_segment_obj_t *msg,
    cap_segment_index_t *ix);
static int cap_segment_group(cap_segment_obj_t *msg,
    cap_segment_index_t *ix);
static int cap_segment_fields(cap_segment_obj_t *parent,
    cap_segment_index_t *ix, cap_segment_field_t *fields, size_t n,
    unsigned *written);
static void cap_segment_index(cap_segment_index_t *ix, cap_json_t *props);
static cap_segment_name_t cap_segment_name(const cap_uchar_t *key,
    size_t len);
static int cap_segment_moved(cap_segment_index_t *ix,
    cap_segment_name_t n);
static int cap_segment_posthogs(cap_json_t *v);
static int cap_segment_mapped(cap_json_t *v, unsigned written);
static int cap_segment_search(cap_json_t *url, cap_str_t *search);
static cap_json_t *cap_segment_get(cap_segment_index_t *ix,
    cap_segment_name_t name);
static int cap_segment_usable_id(cap_json_t *v);
static int cap_segment_write_id(cap_buf_t *out, cap_json_t *v);
static void cap_segment_init(cap_segment_obj_t *o, cap_buf_t *out,
    cap_segment_obj_t *parent, const char *key, size_t len);
static int cap_segment_open(cap_segment_obj_t *o);
static int cap_segment_key(cap_segment_obj_t *o, const cap_uchar_t *key,
    size_t len);
static int cap_segment_member(cap_segment_obj_t *o, cap_json_t *v);
static int cap_segment_key_plain(cap_segment_obj_t *o,
    const cap_uchar_t *key, size_t len);
static int cap_segment_close(cap_segment_obj_t *o);


static cap_str_t  cap_segment_types[] = {
    cap_string("track"),
    cap_string("page"),
    cap_string("screen"),
    cap_string("identify"),
    cap_string("alias"),
    cap_string("group")
};


#define cap_segment_name_entry(name, s, flags)                               \
    [CAP_SEGMENT_P_##name] = { cap_string(s), flags }

/* the flags must agree with cap_segment_context[] */

static cap_segment_known_t  cap_segment_names[CAP_SEGMENT_P_NONE + 1] = {
    cap_segment_name_entry(IP, "$ip", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(RAW_USER_AGENT, "$raw_user_agent",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(LIB, "$lib", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(LIB_VERSION, "$lib_version", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(LOCALE, "$locale", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(BROWSER_LANGUAGE, "$browser_language",
                           CAP_SEGMENT_ALT),
    cap_segment_name_entry(TIMEZONE, "$timezone", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(PATHNAME, "$pathname", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(REFERRER, "$referrer", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(CURRENT_URL, "$current_url", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(TITLE, "title", 0),
    cap_segment_name_entry(SCREEN_WIDTH, "$screen_width",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(SCREEN_HEIGHT, "$screen_height",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(SCREEN_DENSITY, "$screen_density",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(OS, "$os", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(OS_VERSION, "$os_version", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(DEVICE_TYPE, "$device_type", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(DEVICE_MANUFACTURER, "$device_manufacturer",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(DEVICE_MODEL, "$device_model",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(APP_NAME, "$app_name", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(APP_VERSION, "$app_version", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(APP_BUILD, "$app_build", CAP_SEGMENT_MOVED),
    cap_segment_name_entry(APP_NAMESPACE, "$app_namespace",
                           CAP_SEGMENT_MOVED),
    cap_segment_name_entry(UTM_CAMPAIGN, "utm_campaign", 0),
    cap_segment_name_entry(UTM_SOURCE, "utm_source", 0),
    cap_segment_name_entry(UTM_MEDIUM, "utm_medium", 0),
    cap_segment_name_entry(UTM_TERM, "utm_term", 0),
    cap_segment_name_entry(UTM_CONTENT, "utm_content", 0),
    cap_segment_name_entry(SCREEN_NAME, "$screen_name", 0),
    cap_segment_name_entry(SET, "$set", 0),
    cap_segment_name_entry(SET_ONCE, "$set_once", 0),
    cap_segment_name_entry(ANON_DISTINCT_ID, "$anon_distinct_id", 0),
    cap_segment_name_entry(IS_IDENTIFIED, "$is_identified", 0),
    cap_segment_name_entry(USER_ID, "$user_id", 0),
    cap_segment_name_entry(ALIAS, "alias", 0),
    cap_segment_name_entry(GROUP_KEY, "$group_key", 0),
    cap_segment_name_entry(GROUP_SET, "$group_set", 0),
    cap_segment_name_entry(GROUP_TYPE, "$group_type", 0)
};


/* members of one sub-object are next to each other */

static cap_segment_field_t  cap_segment_context[] = {
    cap_segment_field("", "ip", IP),
    cap_segment_field("", "userAgent", RAW_USER_AGENT),
    cap_segment_field("library", "name", LIB),
    cap_segment_field("library", "version", LIB_VERSION),
    { cap_string(""), cap_string("locale"), CAP_SEGMENT_P_LOCALE,
      CAP_SEGMENT_P_BROWSER_LANGUAGE, 0 },
    cap_segment_field("", "timezone", TIMEZONE),
    cap_segment_field("page", "path", PATHNAME),
    cap_segment_field("page", "referrer", REFERRER),
    { cap_string("page"), cap_string("search"), CAP_SEGMENT_P_CURRENT_URL,
      CAP_SEGMENT_P_NONE, 1 },
    cap_segment_field("page", "title", TITLE),
    cap_segment_field("page", "url", CURRENT_URL),
    cap_segment_field("screen", "width", SCREEN_WIDTH),
    cap_segment_field("screen", "height", SCREEN_HEIGHT),
    cap_segment_field("screen", "density", SCREEN_DENSITY),
    cap_segment_field("os", "name", OS),
    cap_segment_field("os", "version", OS_VERSION),
    cap_segment_field("device", "type", DEVICE_TYPE),
    cap_segment_field("device", "manufacturer", DEVICE_MANUFACTURER),
    cap_segment_field("device", "model", DEVICE_MODEL),
    cap_segment_field("app", "name", APP_NAME),
    cap_segment_field("app", "version", APP_VERSION),
    cap_segment_field("app", "build", APP_BUILD),
    cap_segment_field("app", "namespace", APP_NAMESPACE),
    cap_segment_field("campaign", "name", UTM_CAMPAIGN),
    cap_segment_field("campaign", "source", UTM_SOURCE),
    cap_segment_field("campaign", "medium", UTM_MEDIUM),
    cap_segment_field("campaign", "term", UTM_TERM),
    cap_segment_field("campaign", "content", UTM_CONTENT)
};


static cap_segment_field_t  cap_segment_page[] = {
    cap_segment_field("", "url", CURRENT_URL),
    cap_segment_field("", "path", PATHNAME),
    cap_segment_field("", "referrer", REFERRER),
    cap_segment_field("", "title", TITLE),
    { cap_string(""), cap_string("search"), CAP_SEGMENT_P_CURRENT_URL,
      CAP_SEGMENT_P_NONE, 1 }
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
cap_segment_type(cap_event_t *ev, cap_segment_index_t *ix)
{
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
        && cap_segment_usable_id(cap_segment_prop(ix, ALIAS)))
    {
        return CAP_SEGMENT_ALIAS;
    }

    if (cap_segment_is(ev, "$groupidentify")
        && cap_segment_usable_id(cap_segment_prop(ix, GROUP_KEY)))
    {
        return CAP_SEGMENT_GROUP;
    }

    return CAP_SEGMENT_TRACK;
}


static int
cap_segment_write(cap_buf_t *out, cap_event_t *ev)
{
    size_t               n;
    cap_json_t          *v;
    cap_uchar_t          ts[CAP_TIME_LEN];
    cap_segment_obj_t    msg, ctx;
    cap_segment_type_t   type;
    cap_segment_index_t  ix;

    cap_segment_index(&ix, ev->properties);

    type = cap_segment_type(ev, &ix);
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
        || cap_segment_ids(&msg, ev, &ix, type) != CAP_OK)
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
        v = cap_segment_prop(&ix, TITLE);

        if (v != NULL && v->type == CAP_JSON_STRING
            && (cap_segment_key_literal(&msg, "name") != CAP_OK
                || cap_json_write(out, v) != CAP_OK))
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_SCREEN:
        v = cap_segment_prop(&ix, SCREEN_NAME);

        if (v != NULL && v->type == CAP_JSON_STRING
            && (cap_segment_key_literal(&msg, "name") != CAP_OK
                || cap_json_write(out, v) != CAP_OK))
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_IDENTIFY:
        if (cap_segment_traits(&msg, &ix) != CAP_OK) {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_ALIAS:
        if (cap_segment_key_literal(&msg, "previousId") != CAP_OK
            || cap_segment_write_id(out, cap_segment_prop(&ix, ALIAS))
               != CAP_OK)
        {
            return CAP_ERROR;
        }

        break;

    case CAP_SEGMENT_GROUP:
        if (cap_segment_group(&msg, &ix) != CAP_OK) {
            return CAP_ERROR;
        }

        break;
    }

    if (cap_segment_properties(&msg, &ix, type) != CAP_OK) {
        return CAP_ERROR;
    }

    /* "context": only the keys present, no empty object */

    cap_segment_init(&ctx, out, &msg, "context", sizeof("context") - 1);

    if (cap_segment_fields(&ctx, &ix, cap_segment_context,
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
    cap_segment_index_t *ix, cap_segment_type_t type)
{
    cap_json_t  *v, *anon;
    unsigned     identified;

    anon = NULL;

    if (type == CAP_SEGMENT_ALIAS) {
        identified = 1;

    } else if (cap_segment_is(ev, "$identify")) {
        identified = 1;

        v = cap_segment_prop(ix, ANON_DISTINCT_ID);
        if (cap_segment_usable_id(v)) {
            anon = v;
        }

    } else {
        v = cap_segment_prop(ix, IS_IDENTIFIED);
        identified = (v != NULL && v->type == CAP_JSON_TRUE)
                     || cap_segment_prop(ix, USER_ID) != NULL;
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
cap_segment_properties(cap_segment_obj_t *msg, cap_segment_index_t *ix,
    cap_segment_type_t type)
{
    size_t              i;
    unsigned            written;
    cap_json_t         *v;
    cap_segment_obj_t   o;
    cap_segment_name_t  n;

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
        && cap_segment_fields(&o, ix, cap_segment_page,
                              cap_segment_nelts(cap_segment_page), &written)
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    for (v = ix->props->first, i = 0; v != NULL; v = v->next, i++) {

        if (cap_segment_posthogs(v)) {
            continue;

        } else if (type == CAP_SEGMENT_TRACK) {
            n = (i < CAP_SEGMENT_NAMED)
                ? (cap_segment_name_t) ix->names[i]
                : cap_segment_name(v->key.data, v->key.len);

            if (cap_segment_moved(ix, n)) {
                continue;
            }

        } else if (v->key.len && v->key.data[0] == '$') {
            continue;

        } else if (type == CAP_SEGMENT_PAGE
                   && cap_segment_mapped(v, written))
        {
            continue;
        }

        if (cap_segment_member(&o, v) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    return cap_segment_close(&o);
}


/* identify: $set, then the keys of $set_once that $set has not */

static int
cap_segment_traits(cap_segment_obj_t *msg, cap_segment_index_t *ix)
{
    cap_json_t        *set, *once, *v;
    cap_segment_obj_t  o;

    set = cap_segment_prop(ix, SET);
    once = cap_segment_prop(ix, SET_ONCE);

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
        if (cap_segment_member(&o, v) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    for (v = once ? once->first : NULL; v != NULL; v = v->next) {

        if (cap_json_get(set, (const char *) v->key.data, v->key.len)
            != NULL)
        {
            continue;
        }

        if (cap_segment_member(&o, v) != CAP_OK) {
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
cap_segment_group(cap_segment_obj_t *msg, cap_segment_index_t *ix)
{
    cap_json_t        *set, *type, *v;
    cap_segment_obj_t  o;

    if (cap_segment_key_literal(msg, "groupId") != CAP_OK
        || cap_segment_write_id(msg->out, cap_segment_prop(ix, GROUP_KEY))
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    set = cap_segment_prop(ix, GROUP_SET);
    type = cap_segment_prop(ix, GROUP_TYPE);

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

        if (cap_segment_member(&o, v) != CAP_OK) {
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
cap_segment_fields(cap_segment_obj_t *parent, cap_segment_index_t *ix,
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

        /* the same literal is one string, most often: no memcmp() */

        if (f->object.len != sub.key.len
            || (f->object.data != sub.key.data
                && memcmp(f->object.data, sub.key.data, sub.key.len) != 0))
        {
            if (cap_segment_close(&sub) != CAP_OK) {
                return CAP_ERROR;
            }

            cap_segment_init(&sub, parent->out, parent,
                             (const char *) f->object.data, f->object.len);
        }

        o = f->object.len ? &sub : parent;

        /* an alt of CAP_SEGMENT_P_NONE is never found */

        v = cap_segment_get(ix, f->src);

        if (v == NULL) {
            v = cap_segment_get(ix, f->alt);
        }

        if (v == NULL) {
            continue;
        }

        if (f->search) {
            if (!cap_segment_search(v, &search)) {
                continue;
            }

            if (cap_segment_key_plain(o, f->key.data, f->key.len)
                != CAP_OK
                || cap_json_write_string(o->out, search.data, search.len)
                   != CAP_OK)
            {
                return CAP_ERROR;
            }

        } else if (cap_segment_key_plain(o, f->key.data, f->key.len)
                   != CAP_OK
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
 * The one pass over the properties: each whose name the mapping reads
 * is filed under that name.  A later duplicate overwrites an earlier
 * one: the last of duplicate keys wins, as in cap_json_get().  The
 * other keys all land in the entry of CAP_SEGMENT_P_NONE (a store
 * rather than a branch), which is cleared after.
 */

static void
cap_segment_index(cap_segment_index_t *ix, cap_json_t *props)
{
    size_t               i;
    cap_json_t          *v;
    cap_segment_name_t   n;

    ix->props = props;

    memset(ix->found, 0, sizeof(ix->found));

    if (props == NULL) {
        return;
    }

    for (v = props->first, i = 0; v != NULL; v = v->next, i++) {
        n = cap_segment_name(v->key.data, v->key.len);

        ix->found[n] = v;

        if (i < CAP_SEGMENT_NAMED) {
            ix->names[i] = (cap_uchar_t) n;
        }
    }

    ix->found[CAP_SEGMENT_P_NONE] = NULL;

    /* "always an object"; if not, nothing is found, as by cap_json_get() */

    if (props->type != CAP_JSON_OBJECT) {
        memset(ix->found, 0, sizeof(ix->found));
    }
}


/*
 * The name of cap_segment_names[] that "key" is, if any: the length and
 * one byte that tells apart the names of that length give the only
 * candidate, compared whole.
 */

static cap_segment_name_t
cap_segment_name(const cap_uchar_t *key, size_t len)
{
    cap_segment_name_t  n;

    switch (len) {

    case 3:
        n = (key[1] == 'i') ? CAP_SEGMENT_P_IP : CAP_SEGMENT_P_OS;
        return cap_segment_name_check(key, n, 3);

    case 4:
        n = (key[1] == 'l') ? CAP_SEGMENT_P_LIB : CAP_SEGMENT_P_SET;
        return cap_segment_name_check(key, n, 4);

    case 5:
        n = (key[0] == 'a') ? CAP_SEGMENT_P_ALIAS : CAP_SEGMENT_P_TITLE;
        return cap_segment_name_check(key, n, 5);

    case 7:
        return cap_segment_name_check(key, CAP_SEGMENT_P_LOCALE, 7);

    case 8:
        n = (key[0] == '$') ? CAP_SEGMENT_P_USER_ID : CAP_SEGMENT_P_UTM_TERM;
        return cap_segment_name_check(key, n, 8);

    case 9:
        switch (key[1]) {
        case 's':
            n = CAP_SEGMENT_P_SET_ONCE;
            break;
        case 't':
            n = CAP_SEGMENT_P_TIMEZONE;
            break;
        case 'p':
            n = CAP_SEGMENT_P_PATHNAME;
            break;
        case 'r':
            n = CAP_SEGMENT_P_REFERRER;
            break;
        default:
            n = CAP_SEGMENT_P_APP_NAME;
            break;
        }

        return cap_segment_name_check(key, n, 9);

    case 10:

        /* "$group_key", "$group_set", ...: the last byte differs */

        switch (key[9]) {
        case 'y':
            n = CAP_SEGMENT_P_GROUP_KEY;
            break;
        case 't':
            n = CAP_SEGMENT_P_GROUP_SET;
            break;
        case 'd':
            n = CAP_SEGMENT_P_APP_BUILD;
            break;
        case 'e':
            n = CAP_SEGMENT_P_UTM_SOURCE;
            break;
        default:
            n = CAP_SEGMENT_P_UTM_MEDIUM;
            break;
        }

        return cap_segment_name_check(key, n, 10);

    case 11:
        switch (key[1]) {
        case 'g':
            n = CAP_SEGMENT_P_GROUP_TYPE;
            break;
        case 'o':
            n = CAP_SEGMENT_P_OS_VERSION;
            break;
        default:
            n = CAP_SEGMENT_P_UTM_CONTENT;
            break;
        }

        return cap_segment_name_check(key, n, 11);

    case 12:
        switch (key[1]) {
        case 's':
            n = CAP_SEGMENT_P_SCREEN_NAME;
            break;
        case 'l':
            n = CAP_SEGMENT_P_LIB_VERSION;
            break;
        case 'c':
            n = CAP_SEGMENT_P_CURRENT_URL;
            break;
        case 'd':
            n = CAP_SEGMENT_P_DEVICE_TYPE;
            break;
        case 'a':
            n = CAP_SEGMENT_P_APP_VERSION;
            break;
        default:
            n = CAP_SEGMENT_P_UTM_CAMPAIGN;
            break;
        }

        return cap_segment_name_check(key, n, 12);

    case 13:
        n = (key[1] == 's') ? CAP_SEGMENT_P_SCREEN_WIDTH
                            : CAP_SEGMENT_P_DEVICE_MODEL;
        return cap_segment_name_check(key, n, 13);

    case 14:
        switch (key[1]) {
        case 'i':
            n = CAP_SEGMENT_P_IS_IDENTIFIED;
            break;
        case 's':
            n = CAP_SEGMENT_P_SCREEN_HEIGHT;
            break;
        default:
            n = CAP_SEGMENT_P_APP_NAMESPACE;
            break;
        }

        return cap_segment_name_check(key, n, 14);

    case 15:
        n = (key[1] == 'r') ? CAP_SEGMENT_P_RAW_USER_AGENT
                            : CAP_SEGMENT_P_SCREEN_DENSITY;
        return cap_segment_name_check(key, n, 15);

    case 17:
        n = (key[1] == 'a') ? CAP_SEGMENT_P_ANON_DISTINCT_ID
                            : CAP_SEGMENT_P_BROWSER_LANGUAGE;
        return cap_segment_name_check(key, n, 17);

    case 20:
        return cap_segment_name_check(key, CAP_SEGMENT_P_DEVICE_MANUFACTURER,
                                      20);

    default:
        return CAP_SEGMENT_P_NONE;
    }
}


/*
 * 1: a "$" property that context carries (a track does not repeat it);
 * $browser_language only when it stood in for an absent $locale.  Only
 * names that begin with "$" have the flags.
 */

static int
cap_segment_moved(cap_segment_index_t *ix, cap_segment_name_t n)
{
    size_t                i;
    cap_segment_field_t  *f;

    if (cap_segment_names[n].flags & CAP_SEGMENT_MOVED) {
        return 1;
    }

    if (!(cap_segment_names[n].flags & CAP_SEGMENT_ALT)) {
        return 0;
    }

    for (i = 0; i < cap_segment_nelts(cap_segment_context); i++) {
        f = &cap_segment_context[i];

        if (f->alt == n && cap_segment_get(ix, f->src) == NULL) {
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
cap_segment_get(cap_segment_index_t *ix, cap_segment_name_t name)
{
    cap_json_t  *v;

    v = ix->found[name];

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
        && cap_segment_key_plain(o->parent, o->key.data, o->key.len)
           != CAP_OK)
    {
        return CAP_ERROR;
    }

    o->open = 1;

    return cap_buf_put(o->out, '{');
}


/* the separator and "key": of the next member, a key of the event's */

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


/*
 * The same for a key of this file, which needs no escaping: copied, in
 * one reservation of exactly the bytes written (the separator, the
 * quotes and the colon), as a key written by cap_segment_key() would be.
 */

static int
cap_segment_key_plain(cap_segment_obj_t *o, const cap_uchar_t *key,
    size_t len)
{
    size_t        n;
    cap_uchar_t  *p;

    if (cap_segment_open(o) != CAP_OK) {
        return CAP_ERROR;
    }

    /* most often there is room: no call */

    n = len + 3 + (o->members != 0);

    if (o->out->size - o->out->len < n
        && cap_buf_reserve(o->out, n) != CAP_OK)
    {
        return CAP_ERROR;
    }

    p = o->out->data + o->out->len;

    if (o->members++) {
        *p++ = ',';
    }

    *p++ = '"';
    memcpy(p, key, len);
    p += len;
    *p++ = '"';
    *p++ = ':';

    o->out->len = p - o->out->data;

    return CAP_OK;
}


/* a member copied as it is: its key, then its value */

static int
cap_segment_member(cap_segment_obj_t *o, cap_json_t *v)
{
    if (cap_segment_key(o, v->key.data, v->key.len) != CAP_OK) {
        return CAP_ERROR;
    }

    return cap_json_write(o->out, v);
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

