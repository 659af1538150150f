
/*
 * Per-destination property transforms: one destination's copy of an
 * event, with properties dropped, values hashed, ids hashed and $ip
 * masked, while the event itself, which the other destinations share,
 * stays as it is.
 *
 * The rules apply to the members of the event's properties (the "top
 * level") and to the members of each top-level "$set" and "$set_once"
 * that is an object (person properties: an identify's traits come from
 * there, so a name dropped from the event must go from there too):
 *
 *   drop   every member whose name is listed goes, duplicates included.
 *          Names are compared as exact bytes (case counts).  A listed
 *          "$set" or "$set_once" goes whole.
 *
 *   hash   every member whose name is listed gets, as a string, the
 *          lowercase hex SHA-256 of salt || value, where value is the
 *          UTF-8 bytes of a string and the compact JSON text
 *          (cap_json_write) of anything else: a number's text as it was
 *          sent ("1.50e3", not "1500"), "true", "false", an object or an
 *          array with all its members (a listed "$set" is hashed after
 *          its own members were dropped and hashed).  null and the empty
 *          string stay as they are: they hold nothing to hide, and a
 *          hash would make a value of them (an empty alias, hashed, would
 *          be one id shared by every event that has one).
 *
 * and at the top level only:
 *
 *   hash_distinct_id   the event's distinct_id, and the properties that
 *          hold the same kind of id: "$anon_distinct_id", "$device_id",
 *          "$user_id", "distinct_id", and "alias" of a "$create_alias"
 *          event, are hashed as above.  The distinct_id is hashed as the
 *          text the model made of it (a string's bytes, a number's text),
 *          which is what the same value gives as a property: the ids of
 *          one person still match within the destination (Segment's
 *          userId, anonymousId and previousId come from these).
 *
 *   anonymize_ip   every "$ip" member that is a string holding an IPv4 or
 *          IPv6 address is masked by cap_ip_anonymize() (IPv4: the last
 *          octet zero; IPv6: the last 80 bits zero); any other "$ip"
 *          (not an address, not a string, null) is removed: nothing
 *          unmasked is passed on.  A "$ip" also listed in "hash" is
 *          masked first, then hashed.
 *
 * Each member is transformed once: drop wins; a name both listed in
 * "hash" and an id is hashed once.  Other nested objects are not
 * searched: a listed name inside any other property is left alone.
 *
 * Copy on write: the event's tree is never written to.  An object with a
 * change is copied as a node with a new list of members up to its last
 * changed member (a copied member points at the same children); the
 * members after the last change are the original nodes, shared.  An
 * object with no change is shared as it is, and an event with nothing to
 * change costs no allocation: the members are looked at first, without
 * allocating, and copied only if one of them changes.
 */


#include "../core/cap_sha256.h"
#include "cap_encode.h"


/* cap_ip_anonymize() wants room for any address text: INET6_ADDRSTRLEN */
#define CAP_TRANSFORM_IP_LEN   46
#define CAP_TRANSFORM_HEX_LEN  (2 * CAP_SHA256_LEN)


/* what a member's name asks for */
#define CAP_TRANSFORM_DROP     0x01
#define CAP_TRANSFORM_HASH     0x02
#define CAP_TRANSFORM_IP       0x04
#define CAP_TRANSFORM_INNER    0x08      /* $set, $set_once: its members */


#define cap_transform_is(key, name)                                          \
    ((key)->len == sizeof(name) - 1                                          \
     && memcmp((key)->data, name, sizeof(name) - 1) == 0)

#define cap_transform_nelts(a)  (sizeof(a) / sizeof(a[0]))


typedef struct {
    cap_pool_t              *pool;
    const cap_transform_t   *t;
    unsigned                 alias:1;    /* a $create_alias, ids hashed */
    unsigned                 inner:1;    /* names to look for in $set */
} cap_transform_ctx_t;


static cap_json_t *cap_transform_object(cap_transform_ctx_t *ctx,
    cap_json_t *obj, unsigned top);
static unsigned cap_transform_rule(cap_transform_ctx_t *ctx, cap_json_t *m,
    unsigned top);
static int cap_transform_changes(cap_transform_ctx_t *ctx, cap_json_t *m,
    unsigned rule);
static int cap_transform_member(cap_transform_ctx_t *ctx, cap_json_t *m,
    unsigned rule, cap_json_t **out);
static size_t cap_transform_ip(cap_json_t *v, cap_uchar_t *text);
static int cap_transform_hashed(cap_json_t *v);
static int cap_transform_digest(cap_transform_ctx_t *ctx, cap_json_t *v,
    cap_uchar_t *hex);
static void cap_transform_sum(const cap_transform_t *t, const cap_uchar_t *p,
    size_t len, cap_uchar_t *hex);
static cap_json_t *cap_transform_string(cap_pool_t *pool, cap_json_t *m,
    const cap_uchar_t *s, size_t len);
static int cap_transform_listed(const cap_str_t *names, size_t n,
    cap_str_t *key);
static void cap_transform_append(cap_json_t *obj, cap_json_t *m);


/* the properties that hold a distinct_id, besides "alias" */

static const cap_str_t  cap_transform_ids[] = {
    cap_string("$anon_distinct_id"),
    cap_string("$device_id"),
    cap_string("$user_id"),
    cap_string("distinct_id")
};


int
cap_transform_event(cap_pool_t *pool, const cap_transform_t *t,
    const cap_event_t *in, cap_event_t *out)
{
    cap_json_t           *props;
    cap_uchar_t          *p;
    cap_transform_ctx_t   ctx;

    *out = *in;

    if (t == NULL
        || (t->ndrop == 0 && t->nhash == 0 && !t->hash_distinct_id
            && !t->anonymize_ip))
    {
        return CAP_OK;
    }

    ctx.pool = pool;
    ctx.t = t;
    ctx.alias = t->hash_distinct_id
                && cap_transform_is(&in->event, "$create_alias");
    ctx.inner = (t->ndrop || t->nhash);

    if (t->hash_distinct_id && in->distinct_id.len) {
        p = cap_alloc(pool, CAP_TRANSFORM_HEX_LEN);
        if (p == NULL) {
            return CAP_ERROR;
        }

        cap_transform_sum(t, in->distinct_id.data, in->distinct_id.len, p);

        out->distinct_id.data = p;
        out->distinct_id.len = CAP_TRANSFORM_HEX_LEN;
    }

    if (in->properties == NULL || in->properties->type != CAP_JSON_OBJECT) {
        return CAP_OK;
    }

    props = cap_transform_object(&ctx, in->properties, 1);
    if (props == NULL) {
        return CAP_ERROR;
    }

    if (props != in->properties) {

        /* the text of in's properties is not the text of these */

        out->properties = props;
        out->properties_json.len = 0;
        out->properties_json.data = NULL;
        out->properties_at = 0;
    }

    return CAP_OK;
}


/*
 * "obj" itself when none of its members changes, else a copy; NULL when
 * out of memory.  The members are looked at twice when one changes: a
 * first time without allocating, to find the first and the last change.
 */

static cap_json_t *
cap_transform_object(cap_transform_ctx_t *ctx, cap_json_t *obj,
    unsigned top)
{
    size_t       n, at;
    cap_json_t  *m, *c, *first, *last, *copy;

    first = NULL;
    last = NULL;
    at = 0;

    for (m = obj->first, n = 0; m != NULL; m = m->next, n++) {

        if (!cap_transform_changes(ctx, m, cap_transform_rule(ctx, m, top)))
        {
            continue;
        }

        if (first == NULL) {
            first = m;
        }

        last = m;
        at = n;
    }

    if (first == NULL) {
        return obj;
    }

    copy = cap_alloc(ctx->pool, sizeof(cap_json_t));
    if (copy == NULL) {
        return NULL;
    }

    *copy = *obj;

    copy->first = NULL;
    copy->last = NULL;
    copy->next = NULL;
    copy->count = 0;

    /* before the first change: the same members in new nodes */

    for (m = obj->first; m != first; m = m->next) {
        c = cap_alloc(ctx->pool, sizeof(cap_json_t));
        if (c == NULL) {
            return NULL;
        }

        *c = *m;

        cap_transform_append(copy, c);
    }

    for ( ;; ) {
        if (cap_transform_member(ctx, m, cap_transform_rule(ctx, m, top), &c)
            != CAP_OK)
        {
            return NULL;
        }

        if (c != NULL) {
            cap_transform_append(copy, c);
        }

        if (m == last) {
            break;
        }

        m = m->next;
    }

    /* after the last change: in's own nodes, whose links are the same */

    if (last->next != NULL) {
        if (copy->last != NULL) {
            copy->last->next = last->next;

        } else {
            copy->first = last->next;
        }

        copy->last = obj->last;
        copy->count += n - at - 1;
    }

    return copy;
}


static unsigned
cap_transform_rule(cap_transform_ctx_t *ctx, cap_json_t *m, unsigned top)
{
    unsigned                rule;
    const cap_transform_t  *t;

    t = ctx->t;

    if (cap_transform_listed(t->drop, t->ndrop, &m->key)) {
        return CAP_TRANSFORM_DROP;
    }

    rule = cap_transform_listed(t->hash, t->nhash, &m->key)
           ? CAP_TRANSFORM_HASH : 0;

    if (!top) {
        return rule;
    }

    if (t->hash_distinct_id
        && (cap_transform_listed(cap_transform_ids,
                                 cap_transform_nelts(cap_transform_ids),
                                 &m->key)
            || (ctx->alias && cap_transform_is(&m->key, "alias"))))
    {
        rule |= CAP_TRANSFORM_HASH;
    }

    if (t->anonymize_ip && cap_transform_is(&m->key, "$ip")) {
        rule |= CAP_TRANSFORM_IP;
    }

    if (ctx->inner && m->type == CAP_JSON_OBJECT
        && (cap_transform_is(&m->key, "$set")
            || cap_transform_is(&m->key, "$set_once")))
    {
        rule |= CAP_TRANSFORM_INNER;
    }

    return rule;
}


/* 1: the rule changes the member; allocates nothing */

static int
cap_transform_changes(cap_transform_ctx_t *ctx, cap_json_t *m,
    unsigned rule)
{
    size_t        n;
    cap_json_t   *c;
    cap_uchar_t   text[CAP_TRANSFORM_IP_LEN];

    if (rule & CAP_TRANSFORM_DROP) {
        return 1;
    }

    if (rule & CAP_TRANSFORM_IP) {
        n = cap_transform_ip(m, text);

        /* removed, or hashed: a masked address is never empty */

        if (n == 0 || (rule & CAP_TRANSFORM_HASH)) {
            return 1;
        }

        /* "1.2.3.0" is masked already */

        return n != m->str.len || memcmp(text, m->str.data, n) != 0;
    }

    if ((rule & CAP_TRANSFORM_HASH) && cap_transform_hashed(m)) {
        return 1;
    }

    if (rule & CAP_TRANSFORM_INNER) {
        for (c = m->first; c != NULL; c = c->next) {
            if (cap_transform_changes(ctx, c, cap_transform_rule(ctx, c, 0)))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The node of member "m" in the copy of its object: a new node, which
 * may share m's children; NULL in "out" when the member goes.
 */

static int
cap_transform_member(cap_transform_ctx_t *ctx, cap_json_t *m,
    unsigned rule, cap_json_t **out)
{
    size_t        n;
    cap_json_t   *v, masked;
    cap_uchar_t   text[CAP_TRANSFORM_IP_LEN], hex[CAP_TRANSFORM_HEX_LEN];

    *out = NULL;

    if (rule & CAP_TRANSFORM_DROP) {
        return CAP_OK;
    }

    v = m;

    if (rule & CAP_TRANSFORM_INNER) {
        v = cap_transform_object(ctx, m, 0);
        if (v == NULL) {
            return CAP_ERROR;
        }
    }

    if (rule & CAP_TRANSFORM_IP) {
        n = cap_transform_ip(m, text);

        if (n == 0) {
            return CAP_OK;
        }

        /* on the stack for now: it may be hashed yet */

        if (n != m->str.len || memcmp(text, m->str.data, n) != 0) {
            masked = *m;
            masked.str.data = text;
            masked.str.len = n;
            v = &masked;
        }
    }

    if ((rule & CAP_TRANSFORM_HASH) && cap_transform_hashed(v)) {
        if (cap_transform_digest(ctx, v, hex) != CAP_OK) {
            return CAP_ERROR;
        }

        v = cap_transform_string(ctx->pool, m, hex, CAP_TRANSFORM_HEX_LEN);

    } else if (v == &masked) {
        v = cap_transform_string(ctx->pool, m, v->str.data, v->str.len);

    } else if (v == m) {
        v = cap_alloc(ctx->pool, sizeof(cap_json_t));

        if (v != NULL) {
            *v = *m;
        }
    }

    if (v == NULL) {
        return CAP_ERROR;
    }

    *out = v;

    return CAP_OK;
}


/* the masked text of an address, or 0: not a string holding one */

static size_t
cap_transform_ip(cap_json_t *v, cap_uchar_t *text)
{
    if (v->type != CAP_JSON_STRING) {
        return 0;
    }

    return cap_ip_anonymize(v->str.data, v->str.len, text,
                            CAP_TRANSFORM_IP_LEN);
}


/* null and "" are kept as they are */

static int
cap_transform_hashed(cap_json_t *v)
{
    return v->type != CAP_JSON_NULL
           && !(v->type == CAP_JSON_STRING && v->str.len == 0);
}


static int
cap_transform_digest(cap_transform_ctx_t *ctx, cap_json_t *v,
    cap_uchar_t *hex)
{
    cap_buf_t  b;

    switch (v->type) {

    case CAP_JSON_STRING:
    case CAP_JSON_NUMBER:
        cap_transform_sum(ctx->t, v->str.data, v->str.len, hex);
        return CAP_OK;

    case CAP_JSON_TRUE:
        cap_transform_sum(ctx->t, (const cap_uchar_t *) "true", 4, hex);
        return CAP_OK;

    case CAP_JSON_FALSE:
        cap_transform_sum(ctx->t, (const cap_uchar_t *) "false", 5, hex);
        return CAP_OK;

    default:
        break;
    }

    /* an object or an array: its compact text, written for the hash only */

    if (cap_buf_init(&b, ctx->pool, 256, 0) != CAP_OK
        || cap_json_write(&b, v) != CAP_OK)
    {
        cap_free(ctx->pool, b.data);
        return CAP_ERROR;
    }

    cap_transform_sum(ctx->t, b.data, b.len, hex);

    cap_free(ctx->pool, b.data);

    return CAP_OK;
}


/* hex of SHA-256(salt || p) */

static void
cap_transform_sum(const cap_transform_t *t, const cap_uchar_t *p,
    size_t len, cap_uchar_t *hex)
{
    cap_uchar_t   digest[CAP_SHA256_LEN];
    cap_sha256_t  sha;

    cap_sha256_init(&sha);

    if (t->salt.len) {
        cap_sha256_update(&sha, t->salt.data, t->salt.len);
    }

    if (len) {
        cap_sha256_update(&sha, p, len);
    }

    cap_sha256_final(&sha, digest);

    cap_hex(digest, CAP_SHA256_LEN, hex);
}


/* a string member named as "m", its bytes in the same block as the node */

static cap_json_t *
cap_transform_string(cap_pool_t *pool, cap_json_t *m, const cap_uchar_t *s,
    size_t len)
{
    cap_json_t  *v;

    v = cap_alloc(pool, sizeof(cap_json_t) + len);
    if (v == NULL) {
        return NULL;
    }

    memset(v, 0, sizeof(cap_json_t));

    v->type = CAP_JSON_STRING;
    v->key = m->key;
    v->str.data = (cap_uchar_t *) (v + 1);
    v->str.len = len;

    memcpy(v->str.data, s, len);

    return v;
}


static int
cap_transform_listed(const cap_str_t *names, size_t n, cap_str_t *key)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == key->len
            && (key->len == 0
                || memcmp(names[i].data, key->data, key->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}


static void
cap_transform_append(cap_json_t *obj, cap_json_t *m)
{
    m->next = NULL;

    if (obj->last != NULL) {
        obj->last->next = m;

    } else {
        obj->first = m;
    }

    obj->last = m;
    obj->count++;
}
