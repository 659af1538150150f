
/*
 * A small JSON tree, built by yajl's callbacks in the caller's pool (one
 * arena per request, not one malloc per node), and its serialiser.
 */


#ifndef _CAP_JSON_H_INCLUDED_
#define _CAP_JSON_H_INCLUDED_


#include "../core/cap_core.h"


#define CAP_JSON_MAX_DEPTH  128


typedef enum {
    CAP_JSON_NULL = 0,
    CAP_JSON_FALSE,
    CAP_JSON_TRUE,
    CAP_JSON_NUMBER,
    CAP_JSON_STRING,
    CAP_JSON_ARRAY,
    CAP_JSON_OBJECT
} cap_json_type_t;


typedef struct cap_json_s  cap_json_t;

/*
 * A value.  Strings hold their decoded UTF-8 bytes, numbers their text as
 * it was sent (so it is written back unchanged).  Arrays and objects keep
 * their children in a list; an object's children carry their key.
 */
struct cap_json_s {
    cap_json_type_t   type;
    unsigned          count;
    cap_str_t         str;
    cap_str_t         key;
    cap_json_t       *first;
    cap_json_t       *last;
    cap_json_t       *next;
};


/*
 * Parses "len" bytes of UTF-8 JSON text; CAP_E_PARSE on bad input.  The
 * text must stay as long as the tree (strings point into it), and may be
 * changed in place: unpaired escaped surrogates become "\ufffd".
 */
cap_json_t *cap_json_parse(cap_pool_t *pool, cap_uchar_t *text, size_t len,
    cap_error_t *err);

/* the last member named "key" of an object, or NULL */
cap_json_t *cap_json_get(cap_json_t *obj, const char *key, size_t len);

#define cap_json_get_literal(obj, key)                                       \
    cap_json_get(obj, key, sizeof(key) - 1)

/*
 * Sets member "key" of an object to a copy of "value" (the node, not its
 * children): an existing member keeps its place, a new one is appended.
 * "key" must outlive the tree.  Returns the member or NULL (no memory).
 */
cap_json_t *cap_json_set(cap_pool_t *pool, cap_json_t *obj,
    const cap_uchar_t *key, size_t len, cap_json_t *value);

/*
 * Appends a copy of "value" (the node: its children are shared) to an
 * object or an array without looking for the key first: for members that
 * cannot be there yet, or duplicates copied as they are.  "key" must
 * outlive the tree.
 */
cap_json_t *cap_json_append(cap_pool_t *pool, cap_json_t *obj,
    const cap_uchar_t *key, size_t len, cap_json_t *value);

/* a new value of the given type, in the pool */
cap_json_t *cap_json_new(cap_pool_t *pool, cap_json_type_t type);
cap_json_t *cap_json_new_string(cap_pool_t *pool, const cap_uchar_t *s,
    size_t len);


/* appends the value as compact JSON */
int cap_json_write(cap_buf_t *b, cap_json_t *v);

/* appends a quoted, escaped JSON string */
int cap_json_write_string(cap_buf_t *b, const cap_uchar_t *s, size_t len);


#endif /* _CAP_JSON_H_INCLUDED_ */
