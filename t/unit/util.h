
/*
 * Helpers the unit tests and the fuzzers share: the checks they make
 * alike (the text of a uuid, a name in a list, a hashed value), a
 * member by its path, the printable text of a test's input, and a
 * fuzzer's failure.
 */


#ifndef _CAP_TEST_UTIL_H_INCLUDED_
#define _CAP_TEST_UTIL_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cap_core.h"
#include "core/cap_uuid.h"
#include "json/cap_json.h"


/* CAP_UUID_LEN bytes of lowercase hex, with hyphens at 8, 13, 18, 23 */

static inline int
uuid_text(const cap_uchar_t *u)
{
    size_t  i;

    for (i = 0; i < CAP_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-') {
                return 0;
            }

        } else if (!((u[i] >= '0' && u[i] <= '9')
                     || (u[i] >= 'a' && u[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/* "key" is one of the "n" names */

static inline int
listed(const cap_str_t *names, size_t n, const cap_str_t *key)
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


/* a hash (64 lowercase hex digits), or what is not hashed: null and "" */

static inline int
is_digest(cap_json_t *v)
{
    size_t       i;
    cap_uchar_t  c;

    if (v->type == CAP_JSON_NULL
        || (v->type == CAP_JSON_STRING && v->str.len == 0))
    {
        return 1;
    }

    if (v->type != CAP_JSON_STRING || v->str.len != 64) {
        return 0;
    }

    for (i = 0; i < 64; i++) {
        c = v->str.data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* "a.b.c": members of members; "" is the value itself */

static inline cap_json_t *
jpath(cap_json_t *v, const char *path)
{
    const char  *dot;

    while (v != NULL && *path) {
        dot = strchr(path, '.');

        if (dot == NULL) {
            return cap_json_get(v, path, strlen(path));
        }

        v = cap_json_get(v, path, dot - path);
        path = dot + 1;
    }

    return v;
}


/* the text of a vector for a test name: non-printable bytes as \xNN */

static inline const char *
esc(const char *s)
{
    size_t       n;
    static char  buf[256];

    for (n = 0; *s != '\0' && n < sizeof(buf) - 5; s++) {
        if (*s >= 0x20 && *s < 0x7f) {
            buf[n++] = *s;

        } else {
            n += sprintf(buf + n, "\\x%02x", (unsigned char) *s);
        }
    }

    buf[n] = '\0';

    return buf;
}


/* a fuzzer's failed check: "name: what", the bytes in hex, abort() */

static inline void
fuzz_failed(const char *name, const char *what, const cap_uchar_t *p,
    size_t len)
{
    size_t  i;

    fprintf(stderr, "%s: %s\n", name, what);

    for (i = 0; i < len && i < 4096; i++) {
        fprintf(stderr, "%02x", p[i]);
    }

    fprintf(stderr, "\n");

    abort();
}


#endif /* _CAP_TEST_UTIL_H_INCLUDED_ */
