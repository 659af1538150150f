
/*
 * Random JSON of events' properties: objects of distinct keys, with
 * strings, scalars, arrays and objects for values, and distinct_ids.
 * The keys, the pieces of strings and the scalars are the test's, and
 * so is the quote of strings and keys (' for a test that writes JSON
 * with ' for "): it points gen_json at them before it generates.
 */


#ifndef _CAP_TEST_GEN_JSON_H_INCLUDED_
#define _CAP_TEST_GEN_JSON_H_INCLUDED_


#include <stdio.h>

#include "gen.h"


typedef struct {
    const char   **keys;
    size_t         nkeys;
    const char   **bits;        /* of strings and distinct_ids */
    size_t         nbits;
    const char   **scalars;
    size_t         nscalars;
    const char    *quote;
} gen_json_t;


static const gen_json_t  *gen_json;


static inline void gen_object(gen_buf_t *g, unsigned depth);


static inline void
gen_string(gen_buf_t *g)
{
    unsigned  i, n;

    n = gen_rand() % 8;

    gen_add(g, gen_json->quote);

    for (i = 0; i < n; i++) {
        gen_add(g, gen_json->bits[gen_rand() % gen_json->nbits]);
    }

    gen_add(g, gen_json->quote);
}


static inline void
gen_value(gen_buf_t *g, unsigned depth)
{
    switch (gen_rand() % (depth < 2 ? 5 : 3)) {

    case 0:
        gen_add(g, gen_json->scalars[gen_rand() % gen_json->nscalars]);
        break;

    case 1:
    case 2:
        gen_string(g);
        break;

    case 3:
        gen_array(g, depth, gen_value);
        break;

    default:
        gen_object(g, depth + 1);
        break;
    }
}


/* an object of distinct keys from the keys */

static inline void
gen_object(gen_buf_t *g, unsigned depth)
{
    char         colon[4];
    size_t       i;
    unsigned     n;
    const char  *key;

    /* a key's closing quote and its colon */
    snprintf(colon, sizeof(colon), "%s:", gen_json->quote);

    n = 0;

    gen_add(g, "{");

    for (i = 0; i < gen_json->nkeys; i++) {

        if (gen_rand() % (depth ? 8 : 3) != 0) {
            continue;
        }

        if (n++) {
            gen_add(g, ",");
        }

        key = gen_json->keys[i];

        gen_add(g, gen_json->quote);
        gen_add(g, key);
        gen_add(g, colon);

        if (depth == 0
            && (strcmp(key, "$set") == 0
                || strcmp(key, "$set_once") == 0
                || strcmp(key, "$group_set") == 0)
            && gen_rand() % 4 != 0)
        {
            gen_object(g, depth + 1);

        } else if (depth == 0 && strcmp(key, "$is_identified") == 0) {
            gen_add(g, gen_rand() % 2 ? "true" : "false");

        } else {
            gen_value(g, depth);
        }
    }

    gen_add(g, "}");
}


/* a distinct_id: a number, or a string of "id-" and pieces */

static inline void
gen_id(gen_buf_t *g)
{
    char      num[16];
    unsigned  i, n;

    if (gen_rand() % 4 == 0) {
        snprintf(num, sizeof(num), "%u", gen_rand() % 100000);
        gen_add(g, num);
        return;
    }

    /* at least one byte that is not escaped away */

    snprintf(num, sizeof(num), "%sid-", gen_json->quote);
    gen_add(g, num);

    n = gen_rand() % 6;

    for (i = 0; i < n; i++) {
        gen_add(g, gen_json->bits[gen_rand() % gen_json->nbits]);
    }

    gen_add(g, gen_json->quote);
}


#endif /* _CAP_TEST_GEN_JSON_H_INCLUDED_ */
