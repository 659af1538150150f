
/*
 * Random test input: xorshift32, so that a test makes the same input
 * at every run (it sets gen_state, its seed, first), a text buffer that
 * takes what fits, and JSON arrays of the test's values.
 */


#ifndef _CAP_TEST_GEN_H_INCLUDED_
#define _CAP_TEST_GEN_H_INCLUDED_


#include <stdint.h>
#include <string.h>


#define gen_nelts(a)  (sizeof(a) / sizeof(a[0]))


typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
} gen_buf_t;


static uint32_t  gen_state;         /* the test sets its seed */


/* xorshift32: the same input at every run */

static inline uint32_t
gen_rand(void)
{
    gen_state ^= gen_state << 13;
    gen_state ^= gen_state >> 17;
    gen_state ^= gen_state << 5;

    return gen_state;
}


/* "s" appended, NUL-terminated, if it fits */

static inline void
gen_add(gen_buf_t *g, const char *s)
{
    size_t  n;

    n = strlen(s);

    if (g->len + n + 1 > g->size) {
        return;
    }

    memcpy(g->data + g->len, s, n + 1);
    g->len += n;
}


/* an array of up to three of what "value" makes, each at depth + 1 */

static inline void
gen_array(gen_buf_t *g, unsigned depth,
    void (*value)(gen_buf_t *g, unsigned depth))
{
    unsigned  i, n;

    n = gen_rand() % 4;

    gen_add(g, "[");

    for (i = 0; i < n; i++) {
        if (i) {
            gen_add(g, ",");
        }

        value(g, depth + 1);
    }

    gen_add(g, "]");
}


#endif /* _CAP_TEST_GEN_H_INCLUDED_ */
