
/*
 * The test pool of the unit tests and the fuzzers: malloc() behind a
 * cap_pool_t, every block in a list so that all a case or an input left
 * is freed at once (test_pool_reset()).  It counts the bytes and blocks
 * live, the peak, the bytes allocated in all and the allocations asked
 * for, and fails those it is told to: one of them (fail_at), all from
 * one on (fail_from), or those over a size (max).  Freeing a block that
 * is not the pool's bails out.
 *
 * A static pool:
 *
 *     static test_pool_t  arena = TEST_POOL(arena, NULL);
 *
 * and one on the stack: test_pool_init(&tp, 1).  Either way "&tp.pool"
 * is the cap_pool_t and "tp" its data; "free" is test_pool_free() or
 * NULL, a pool that frees nothing before test_pool_reset().
 */


#ifndef _CAP_TEST_POOL_H_INCLUDED_
#define _CAP_TEST_POOL_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cap_core.h"


#define TEST_POOL_MAGIC  0xb10cb10c

#define TEST_POOL(tp, pfree)  { .pool = { test_pool_alloc, (pfree), &(tp) } }


typedef union test_blk_u  test_blk_t;

union test_blk_u {
    struct {
        test_blk_t  *prev;
        test_blk_t  *next;
        size_t       size;
        size_t       magic;
    } b;
    long double      align_ld;
    long long        align_ll;
    void            *align_p;
};


typedef struct {
    cap_pool_t     pool;
    test_blk_t    *blocks;      /* those not freed, the newest first */
    size_t         live;        /* their bytes */
    size_t         nlive;       /* their number */
    size_t         peak;        /* the most bytes live at once */
    size_t         total;       /* the bytes allocated in all */
    size_t         nallocs;     /* the allocations asked for */
    size_t         fail_at;     /* the one of this number fails; 0: none */
    size_t         fail_from;   /* this one and all later fail; 0: none */
    size_t         max;         /* a larger one fails; 0: no limit */
    const char    *strict;      /* set: a larger one, or one that malloc()
                                   cannot make, aborts with this name */
} test_pool_t;


static inline void *test_pool_alloc(void *data, size_t size);
static inline void test_pool_free(void *data, void *p);


static inline void
test_pool_init(test_pool_t *tp, int with_free)
{
    memset(tp, 0, sizeof(test_pool_t));

    tp->pool.alloc = test_pool_alloc;
    tp->pool.free = with_free ? test_pool_free : NULL;
    tp->pool.data = tp;
}


static inline void
test_pool_abort(test_pool_t *tp, const char *what)
{
    fprintf(stderr, "%s: %s\n", tp->strict, what);
    abort();
}


static inline void *
test_pool_alloc(void *data, size_t size)
{
    test_pool_t  *tp;
    test_blk_t   *b;

    tp = data;

    tp->nallocs++;

    if (tp->nallocs == tp->fail_at
        || (tp->fail_from && tp->nallocs >= tp->fail_from))
    {
        return NULL;
    }

    if (tp->max && size > tp->max) {
        if (tp->strict) {
            fprintf(stderr, "allocation of %zu bytes\n", size);
            test_pool_abort(tp, "huge allocation");
        }

        return NULL;
    }

    b = malloc(sizeof(test_blk_t) + size);
    if (b == NULL) {
        if (tp->strict) {
            test_pool_abort(tp, "malloc");
        }

        return NULL;
    }

    b->b.size = size;
    b->b.magic = TEST_POOL_MAGIC;
    b->b.prev = NULL;
    b->b.next = tp->blocks;

    if (tp->blocks != NULL) {
        tp->blocks->b.prev = b;
    }

    tp->blocks = b;

    tp->live += size;
    tp->total += size;
    tp->nlive++;

    if (tp->live > tp->peak) {
        tp->peak = tp->live;
    }

    return b + 1;
}


static inline void
test_pool_free(void *data, void *p)
{
    test_pool_t  *tp;
    test_blk_t   *b;

    tp = data;
    b = (test_blk_t *) p - 1;

    if (b->b.magic != TEST_POOL_MAGIC) {
        printf("# Bail out! freeing a block that is not the pool's\n");
        abort();
    }

    b->b.magic = 0;

    if (b->b.prev != NULL) {
        b->b.prev->b.next = b->b.next;

    } else {
        tp->blocks = b->b.next;
    }

    if (b->b.next != NULL) {
        b->b.next->b.prev = b->b.prev;
    }

    tp->live -= b->b.size;
    tp->nlive--;

    free(b);
}


/* frees every block; the counts start again, all but nallocs */

static inline void
test_pool_reset(test_pool_t *tp)
{
    test_blk_t  *b, *next;

    for (b = tp->blocks; b != NULL; b = next) {
        next = b->b.next;
        b->b.magic = 0;
        free(b);
    }

    tp->blocks = NULL;
    tp->live = 0;
    tp->nlive = 0;
    tp->peak = 0;
    tp->total = 0;
}


#endif /* _CAP_TEST_POOL_H_INCLUDED_ */
