
/*
 * Unit tests of the payload decoders (src/decode/): base64, urlencoded
 * forms, gzip, lz-string and the pipeline, on hand-made cases and on
 * the vectors that t/vectors/gen.js makes with the real libraries
 * (node's zlib, Buffer, the lz-string package).
 *
 *   CAP_VECTORS=build/vectors build/unit/test_decode
 */


#include <errno.h>
#include <zlib.h>

#include "tap.h"
#include "pool.h"
#include "decode/cap_decode.h"


#define KB               1024
#define MB               (1024 * 1024)

/* zlib's inflate state and its 32K window, with room to spare */
#define ZLIB_STATE       (64 * KB)

#define DEFAULT_MAX      (64 * MB)

#define BAD_CODE         ((cap_err_code_t) -1)


typedef struct {
    const char    *dir;
    char         **names;
    char         **kinds;
    size_t         n;
} vectors_t;


static void pool_init(test_pool_t *tp, int with_free);
static int file_read(const char *dir, const char *name, const char *ext,
    cap_str_t *out);
static int vectors_load(vectors_t *v);
static void vectors_free(vectors_t *v);
static int vectors_find(vectors_t *v, const char *name);
static void test_vector(vectors_t *v, size_t i);
static void test_vector_base64(const char *name, cap_str_t *in,
    cap_str_t *want);
static void test_vector_gzip(const char *name, cap_str_t *in,
    cap_str_t *want);
static void test_vector_lz64(const char *name, cap_str_t *in,
    cap_str_t *want);
static void test_vector_payload(vectors_t *v, const char *name,
    cap_str_t *in, cap_str_t *want);
static int hdr_get(cap_str_t *hdr, const char *key, cap_str_t *value);
static void test_vectors(void);
static void test_base64(void);
static void test_base64_strict(void);
static void test_url_decode(void);
static void test_form(void);
static void test_compression(void);
static void test_gzip_errors(void);
static void test_gzip_bomb(void);
static void test_gzip_limits(void);
static void test_lz64_streams(void);
static int memspn_a(const cap_uchar_t *p, size_t len);
static void test_lz64_errors(void);
static void test_payload(void);
static void test_payload_errors(void);
static void test_payload_hints(void);
static void test_nomem(void);
static void nomem_report(const char *name, int rc, size_t at,
    cap_error_t *err, test_pool_t *tp);
static void test_no_free(void);
static size_t gzip_make(const cap_uchar_t *in, size_t len, size_t repeat,
    int zlib, cap_uchar_t **out);
static size_t gzip_two(const cap_uchar_t *zeros, size_t len,
    cap_uchar_t **out);
static size_t b64_encode(const cap_uchar_t *in, size_t len,
    cap_uchar_t **out);
static void lz_put(cap_buf_t *b, uint32_t *acc, unsigned *nbits,
    uint32_t value, unsigned width);
static void lz_end(cap_buf_t *b, uint32_t *acc, unsigned *nbits);
static unsigned lz_literals(cap_buf_t *b, cap_buf_t *want, size_t n);
static void lz_bomb(cap_buf_t *b, size_t n);
static int decode_base64(test_pool_t *tp, const char *s, cap_str_t *out,
    cap_error_t *err);
static int decode_lz64(test_pool_t *tp, const cap_uchar_t *s, size_t len,
    size_t max, cap_str_t *out, cap_error_t *err);
static int decode_payload(test_pool_t *tp, cap_payload_t *in,
    cap_str_t *out, cap_error_t *err);
static int has_text(cap_error_t *err, const char *text);
static void payload_init(cap_payload_t *in, const char *body);
static cap_str_t str(const char *s);


static const char  *required[] = {
    "b64_empty", "b64_len1", "b64_nopad2", "b64_binary", "b64_url",
    "b64_crlf", "b64_spaces", "b64_json",
    "gz_json", "gz_empty", "gz_level9", "gz_multi", "gz_multi_grow",
    "gz_three", "gz_padded", "gz_random", "zlib_json", "zlib_big",
    "lz_empty", "lz_a", "lz_json", "lz_latin", "lz_cjk", "lz_emoji",
    "lz_lone", "lz_nul", "lz_repeat", "lz_long", "lz_all_units",
    "pl_json", "pl_gzip_nohint", "pl_gzip_notype", "pl_gzip_js",
    "pl_ce_gzip", "pl_ce_zlib", "pl_body_b64", "pl_body_b64_gzip",
    "pl_form_b64", "pl_form_b64_gzip", "pl_form_b64_spaces",
    "pl_form_b64_spaces_typed", "pl_lz64_query", "pl_lz64_form",
    "pl_lz64_form_raw", "pl_query_json", "pl_query_b64",
    "pl_query_b64_strict", "pl_query_lz64",
    NULL
};


static const char  json_text[] =
    "{\"event\":\"$pageview\",\"distinct_id\":\"u1\","
    "\"properties\":{\"token\":\"phc_test\"}}";


int
main(void)
{
    test_base64();
    test_base64_strict();
    test_url_decode();
    test_form();
    test_compression();
    test_gzip_errors();
    test_gzip_limits();
    test_gzip_bomb();
    test_lz64_streams();
    test_lz64_errors();
    test_payload();
    test_payload_errors();
    test_payload_hints();
    test_nomem();
    test_no_free();
    test_vectors();

    return tap_done();
}


/*
 * The test allocator: every block is tracked and freed at the end, and
 * a request over half the address space fails.
 */

static void
pool_init(test_pool_t *tp, int with_free)
{
    test_pool_init(tp, with_free);
    tp->max = ((size_t) -1) / 2;
}


/* vectors */

static int
file_read(const char *dir, const char *name, const char *ext,
    cap_str_t *out)
{
    long   size;
    char   path[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return -1;
    }

    /* one more byte, so that an empty file has a buffer too */

    out->data = malloc(size + 1);
    if (out->data == NULL) {
        fclose(f);
        return -1;
    }

    if (size && fread(out->data, 1, size, f) != (size_t) size) {
        free(out->data);
        fclose(f);
        return -1;
    }

    out->data[size] = '\0';
    out->len = size;

    fclose(f);

    return 0;
}


static int
vectors_load(vectors_t *v)
{
    char       *p, *line, *sp;
    size_t      n;
    cap_str_t   manifest;

    v->names = NULL;
    v->kinds = NULL;
    v->n = 0;

    if (file_read(v->dir, "manifest", ".txt", &manifest) != 0) {
        return -1;
    }

    n = 1;
    for (p = (char *) manifest.data; *p; p++) {
        n += (*p == '\n');
    }

    v->names = calloc(n, sizeof(char *));
    v->kinds = calloc(n, sizeof(char *));

    if (v->names == NULL || v->kinds == NULL) {
        free(manifest.data);
        return -1;
    }

    for (line = strtok((char *) manifest.data, "\n");
         line != NULL;
         line = strtok(NULL, "\n"))
    {
        sp = strchr(line, ' ');
        if (sp == NULL) {
            continue;
        }

        *sp = '\0';
        v->kinds[v->n] = strdup(line);
        v->names[v->n] = strdup(sp + 1);
        v->n++;
    }

    free(manifest.data);

    return 0;
}


static void
vectors_free(vectors_t *v)
{
    size_t  i;

    for (i = 0; i < v->n; i++) {
        free(v->names[i]);
        free(v->kinds[i]);
    }

    free(v->names);
    free(v->kinds);
}


static int
vectors_find(vectors_t *v, const char *name)
{
    size_t  i;

    for (i = 0; i < v->n; i++) {
        if (strcmp(v->names[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
test_vectors(void)
{
    size_t      i;
    vectors_t   v;

    v.dir = getenv("CAP_VECTORS");

    if (!ok(v.dir != NULL && v.dir[0] != '\0',
            "CAP_VECTORS is set (run: CAP_VECTORS=build/vectors "
            "build/unit/test_decode, after make build/vectors/.done)"))
    {
        return;
    }

    if (!ok(vectors_load(&v) == 0, "%s/manifest.txt is readable (made by "
            "node t/vectors/gen.js %s)", v.dir, v.dir))
    {
        return;
    }

    for (i = 0; required[i] != NULL; i++) {
        ok(vectors_find(&v, required[i]), "vector %s is in the manifest",
           required[i]);
    }

    for (i = 0; i < v.n; i++) {
        test_vector(&v, i);
    }

    vectors_free(&v);
}


static void
test_vector(vectors_t *v, size_t i)
{
    const char  *name, *kind;
    cap_str_t    in, want;

    name = v->names[i];
    kind = v->kinds[i];

    if (!ok(file_read(v->dir, name, ".in", &in) == 0,
            "%s: %s/%s.in is readable", name, v->dir, name))
    {
        return;
    }

    if (!ok(file_read(v->dir, name, ".out", &want) == 0,
            "%s: %s/%s.out is readable", name, v->dir, name))
    {
        free(in.data);
        return;
    }

    if (strcmp(kind, "base64") == 0) {
        test_vector_base64(name, &in, &want);

    } else if (strcmp(kind, "gzip") == 0) {
        test_vector_gzip(name, &in, &want);

    } else if (strcmp(kind, "lz64") == 0) {
        test_vector_lz64(name, &in, &want);

    } else if (strcmp(kind, "payload") == 0) {
        test_vector_payload(v, name, &in, &want);

    } else {
        ok(0, "%s: known kind of vector \"%s\"", name, kind);
    }

    free(in.data);
    free(want.data);
}


static void
test_vector_base64(const char *name, cap_str_t *in, cap_str_t *want)
{
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp;

    pool_init(&tp, 1);

    if (is_int(cap_base64_decode(&tp.pool, in->data, in->len, &out, &err),
               CAP_OK, "%s: base64 decodes", name))
    {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: base64 gives the bytes Buffer encoded", name);
        ok(out.len <= in->len / 4 * 3 + 2, "%s: output %zu <= 3/4 of %zu",
           name, out.len, in->len);
        is_int(tp.nlive, 1, "%s: base64 leaves one block", name);
    }

    test_pool_reset(&tp);
}


static void
test_vector_gzip(const char *name, cap_str_t *in, cap_str_t *want)
{
    int          rc;
    size_t       cut, cuts[2], i;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp;

    pool_init(&tp, 1);

    rc = cap_gzip_inflate(&tp.pool, in->data, in->len, DEFAULT_MAX, &out,
                          &err);

    if (is_int(rc, CAP_OK, "%s: inflates", name)) {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: inflates to the bytes node's zlib compressed", name);
        is_int(tp.nlive, 1, "%s: only the output is left", name);
        ok(tp.peak <= want->len + 256 + ZLIB_STATE,
           "%s: peak %zu <= %zu bytes + zlib", name, tp.peak, want->len);
    }

    test_pool_reset(&tp);

    /* exactly the limit is fine, one byte less is not */

    rc = cap_gzip_inflate(&tp.pool, in->data, in->len, want->len ? want->len
                          : 1, &out, &err);
    if (is_int(rc, CAP_OK, "%s: inflates with max = its size", name)) {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: same bytes with max = its size", name);
    }

    test_pool_reset(&tp);

    if (want->len > 1) {
        rc = cap_gzip_inflate(&tp.pool, in->data, in->len, want->len - 1,
                              &out, &err);
        is_int(rc, CAP_ERROR, "%s: max = size - 1 fails", name);
        is_int(err.code, CAP_E_BODY_TOO_LARGE, "%s: body too large", name);
        ok(has_text(&err, "decoded request body exceeds"),
           "%s: text \"%s\"", name, err.text);
        is_int(tp.live, 0, "%s: nothing left after the error", name);
        ok(tp.peak <= want->len + ZLIB_STATE, "%s: peak %zu <= max + zlib",
           name, tp.peak);
        test_pool_reset(&tp);
    }

    /* truncated: half of it, or all but the last byte */

    cuts[0] = in->len / 2;
    cuts[1] = in->len - 1;

    for (i = 0; i < 2 && strcmp(name, "gz_padded") != 0; i++) {
        cut = cuts[i];
        err.code = CAP_E_NONE;
        rc = cap_gzip_inflate(&tp.pool, in->data, cut, DEFAULT_MAX, &out,
                              &err);
        is_int(rc, CAP_ERROR, "%s: truncated to %zu fails", name, cut);
        is_int(err.code, CAP_E_DECODE, "%s: truncated: decode error", name);
        is_int(tp.live, 0, "%s: truncated: nothing left", name);
        test_pool_reset(&tp);
    }
}


static void
test_vector_lz64(const char *name, cap_str_t *in, cap_str_t *want)
{
    int          rc;
    size_t       i;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp;
    cap_uchar_t *sp;

    pool_init(&tp, 1);

    rc = cap_lz64_decode(&tp.pool, in->data, in->len, DEFAULT_MAX, &out,
                         &err);

    if (is_int(rc, CAP_OK, "%s: lz64 decodes", name)) {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: gives the UTF-8 of the text lz-string compressed", name);
        is_int(tp.nlive, 1, "%s: only the output is left", name);
        ok(tp.peak <= want->len + 18 * in->len + 64 * KB,
           "%s: peak %zu for %zu bytes in, %zu out", name, tp.peak,
           in->len, want->len);
    }

    test_pool_reset(&tp);

    rc = cap_lz64_decode(&tp.pool, in->data, in->len,
                         want->len ? want->len : 1, &out, &err);
    if (is_int(rc, CAP_OK, "%s: decodes with max = its size", name)) {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: same text with max = its size", name);
    }

    test_pool_reset(&tp);

    if (want->len > 1) {
        rc = cap_lz64_decode(&tp.pool, in->data, in->len, want->len - 1,
                             &out, &err);
        is_int(rc, CAP_ERROR, "%s: max = size - 1 fails", name);
        is_int(err.code, CAP_E_BODY_TOO_LARGE, "%s: body too large", name);
        is_int(tp.live, 0, "%s: nothing left after the error", name);
        ok(tp.peak <= 18 * in->len + 64 * KB,
           "%s: peak %zu for %zu bytes in, no output stored", name, tp.peak,
           in->len);
        test_pool_reset(&tp);
    }

    if (in->len >= 8) {
        rc = cap_lz64_decode(&tp.pool, in->data, in->len / 2, DEFAULT_MAX,
                             &out, &err);
        is_int(rc, CAP_ERROR, "%s: truncated fails", name);
        is_int(err.code, CAP_E_DECODE, "%s: truncated: decode error", name);
        is_int(tp.live, 0, "%s: truncated: nothing left", name);
        test_pool_reset(&tp);
    }

    /* a form turned "+" into spaces: the same text */

    if (memchr(in->data, '+', in->len) != NULL) {
        sp = malloc(in->len + 1);
        if (sp != NULL) {
            for (i = 0; i < in->len; i++) {
                sp[i] = in->data[i] == '+' ? ' ' : in->data[i];
            }

            rc = cap_lz64_decode(&tp.pool, sp, in->len, DEFAULT_MAX, &out,
                                 &err);
            if (is_int(rc, CAP_OK, "%s: decodes with spaces for +", name))
            {
                is_mem(out.data, out.len, want->data, want->len,
                       "%s: same text with spaces for +", name);
            }

            test_pool_reset(&tp);
            free(sp);
        }
    }
}


static void
test_vector_payload(vectors_t *v, const char *name, cap_str_t *in,
    cap_str_t *want)
{
    int            rc;
    cap_str_t      hdr, out, value;
    cap_error_t    err;
    test_pool_t    tp;
    cap_payload_t  pl;

    if (!ok(file_read(v->dir, name, ".hdr", &hdr) == 0,
            "%s: %s/%s.hdr is readable", name, v->dir, name))
    {
        return;
    }

    memset(&pl, 0, sizeof(cap_payload_t));

    pl.body = *in;
    pl.max_size = DEFAULT_MAX;

    (void) hdr_get(&hdr, "query_data", &pl.query_data);
    (void) hdr_get(&hdr, "query_compression", &pl.query_compression);
    (void) hdr_get(&hdr, "content_type", &pl.content_type);
    (void) hdr_get(&hdr, "content_encoding", &pl.content_encoding);

    if (hdr_get(&hdr, "max_size", &value)) {
        pl.max_size = strtoul((char *) value.data, NULL, 10);
    }

    pool_init(&tp, 1);

    rc = cap_payload_decode(&tp.pool, &pl, &out, &err);

    if (is_int(rc, CAP_OK, "%s: payload decodes", name)) {
        is_mem(out.data, out.len, want->data, want->len,
               "%s: payload gives the JSON", name);
        ok(tp.nlive <= 1, "%s: no temporary blocks left (%zu)", name,
           tp.nlive);

    } else {
        printf("#   error: %s\n", err.text);
    }

    test_pool_reset(&tp);
    free(hdr.data);
}


/* "key=value" lines; the values point into the buffer */

static int
hdr_get(cap_str_t *hdr, const char *key, cap_str_t *value)
{
    size_t        n;
    cap_uchar_t  *p, *end, *nl;

    n = strlen(key);
    p = hdr->data;
    end = hdr->data + hdr->len;

    while (p < end) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }

        if ((size_t) (nl - p) > n && memcmp(p, key, n) == 0 && p[n] == '=')
        {
            value->data = p + n + 1;
            value->len = nl - p - n - 1;
            return 1;
        }

        p = nl + 1;
    }

    return 0;
}


/* base64 */

static void
test_base64(void)
{
    size_t       i;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp;

    static const struct {
        const char  *in;
        const char  *out;
        size_t       len;
    } good[] = {
        { "",              "",        0 },
        { "TWFu",          "Man",     3 },
        { "TWE=",          "Ma",      2 },
        { "TWE",           "Ma",      2 },
        { "TQ==",          "M",       1 },
        { "TQ",            "M",       1 },
        { "TQ=",           "M",       1 },
        { "TWFuTWFu",      "ManMan",  6 },
        { "TW\r\nFu",      "Man",     3 },
        { "\nTWFu\n",      "Man",     3 },
        { "+/8=",          "\xfb\xff", 2 },
        { " /8=",          "\xfb\xff", 2 },
        { "-_8",           "\xfb\xff", 2 },
        { "AAAA",          "\0\0\0",  3 },
        { "====",          "",        0 },
    };

    static const char  *bad[] = {
        "T", "TWFuT", "TW=u", "TWFu!", "TW.u", "TWFu\t", "TWF\x80",
        "TW\0u", "=TWF", "TQ==TQ==",
    };

    pool_init(&tp, 1);

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (is_int(decode_base64(&tp, good[i].in, &out, &err), CAP_OK,
                   "base64 \"%s\" decodes", good[i].in))
        {
            is_mem(out.data, out.len, good[i].out, good[i].len,
                   "base64 \"%s\"", good[i].in);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.code = CAP_E_NONE;
        is_int(cap_base64_decode(&tp.pool, (cap_uchar_t *) bad[i],
                                 i == 7 ? 4 : strlen(bad[i]), &out, &err),
               CAP_ERROR, "base64 bad #%zu fails", i);
        is_int(err.code, CAP_E_DECODE, "base64 bad #%zu: decode error", i);
        ok(has_text(&err, "failed to decode request: invalid base64"),
           "base64 bad #%zu: text \"%s\"", i, err.text);
    }

    test_pool_reset(&tp);
    is_int(tp.live, 0, "base64: pool empty");

    /* failures free their buffer */

    pool_init(&tp, 1);
    (void) decode_base64(&tp, "TWFu!", &out, &err);
    is_int(tp.live, 0, "base64: a failure leaves nothing");
    test_pool_reset(&tp);
}


static void
test_base64_strict(void)
{
    size_t       i;
    cap_uchar_t  buf[300];

    ok(!cap_base64_is_strict((cap_uchar_t *) "", 0), "strict: empty no");
    ok(cap_base64_is_strict((cap_uchar_t *) "TWFu", 4), "strict: TWFu");
    ok(cap_base64_is_strict((cap_uchar_t *) "TQ==", 4), "strict: TQ==");
    ok(cap_base64_is_strict((cap_uchar_t *) "+/+/", 4), "strict: +/+/");
    ok(!cap_base64_is_strict((cap_uchar_t *) "TWF", 3), "strict: len 3");
    ok(!cap_base64_is_strict((cap_uchar_t *) "TWFuT", 5), "strict: len 5");
    ok(!cap_base64_is_strict((cap_uchar_t *) "-_AA", 4), "strict: url no");
    ok(!cap_base64_is_strict((cap_uchar_t *) "TW u", 4), "strict: space");
    ok(!cap_base64_is_strict((cap_uchar_t *) "{\"a\"", 4), "strict: json");
    ok(!cap_base64_is_strict((cap_uchar_t *) "TW\nu", 4), "strict: LF");

    /* only the first 128 bytes are looked at */

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = 'A';
    }

    buf[128] = '!';
    ok(cap_base64_is_strict(buf, 132), "strict: bad byte 129 ignored");

    buf[127] = '!';
    ok(!cap_base64_is_strict(buf, 132), "strict: bad byte 128 counts");
}


/* forms */

static void
test_url_decode(void)
{
    size_t       i;
    cap_str_t    out;
    test_pool_t  tp;

    static const struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "",              "" },
        { "abc",           "abc" },
        { "a+b",           "a b" },
        { "a%20b",         "a b" },
        { "%41%4a%4A%6b",  "AJJk" },
        { "%2B%2b",        "++" },
        { "%",             "%" },
        { "%4",            "%4" },
        { "a%4",           "a%4" },
        { "%zz",           "%zz" },
        { "%4z",           "%4z" },
        { "%%41",          "%A" },
        { "100%",          "100%" },
        { "%C3%A9",        "\xc3\xa9" },
        { "+%2B+",         " + " },
    };

    pool_init(&tp, 1);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (is_int(cap_url_decode(&tp.pool, (cap_uchar_t *) cases[i].in,
                                  strlen(cases[i].in), &out),
                   CAP_OK, "url \"%s\" decodes", cases[i].in))
        {
            is_str(out.data, out.len, cases[i].out, "url \"%s\"",
                   cases[i].in);
        }
    }

    is_int(cap_url_decode(&tp.pool, (cap_uchar_t *) "%00", 3, &out), CAP_OK,
           "url %%00 decodes");
    is_mem(out.data, out.len, "\0", 1, "url %%00 is a NUL byte");

    tp.fail_at = tp.nallocs + 1;
    is_int(cap_url_decode(&tp.pool, (cap_uchar_t *) "a", 1, &out),
           CAP_ERROR, "url: no memory fails");

    test_pool_reset(&tp);
}


static void
test_form(void)
{
    size_t      i;
    cap_str_t   v;

    static const struct {
        const char  *body;
        const char  *name;
        const char  *value;     /* NULL: not found */
    } cases[] = {
        { "data=abc&compression=lz64",   "data",        "abc" },
        { "data=abc&compression=lz64",   "compression", "lz64" },
        { "ver=1&data=x%2By&_=2",        "data",        "x%2By" },
        { "xdata=1&data=2",              "data",        "2" },
        { "xdata=1",                     "data",        NULL },
        { "data",                        "data",        NULL },
        { "data&x=1",                    "data",        NULL },
        { "data=",                       "data",        "" },
        { "data=&x=1",                   "data",        "" },
        { "a=1&&data=x",                 "data",        "x" },
        { "dat=1",                       "data",        NULL },
        { "a=1&data",                    "data",        NULL },
        { "data=1&data=2",               "data",        "1" },
        { "a=1&",                        "data",        NULL },
        { "&",                           "data",        NULL },
        { "",                            "data",        NULL },
        { "data==",                      "data",        "=" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v.data = NULL;
        v.len = 0;

        if (cases[i].value == NULL) {
            is_int(cap_form_field((cap_uchar_t *) cases[i].body,
                                  strlen(cases[i].body), cases[i].name, &v),
                   0, "form \"%s\": no %s", cases[i].body, cases[i].name);
            continue;
        }

        if (is_int(cap_form_field((cap_uchar_t *) cases[i].body,
                                  strlen(cases[i].body), cases[i].name, &v),
                   1, "form \"%s\": %s found", cases[i].body,
                   cases[i].name))
        {
            is_str(v.data, v.len, cases[i].value, "form \"%s\": %s value",
                   cases[i].body, cases[i].name);
        }
    }

    ok(cap_form_looks_like((cap_uchar_t *) "data=x", 6), "looks: data=");
    ok(cap_form_looks_like((cap_uchar_t *) "ver=1", 5), "looks: ver=");
    ok(cap_form_looks_like((cap_uchar_t *) "_=1", 3), "looks: _=");
    ok(cap_form_looks_like((cap_uchar_t *) "ip=1", 4), "looks: ip=");
    ok(cap_form_looks_like((cap_uchar_t *) "compression=x", 13),
       "looks: compression=");
    ok(!cap_form_looks_like((cap_uchar_t *) "data", 4), "looks: data no");
    ok(!cap_form_looks_like((cap_uchar_t *) "{\"data=\"", 8),
       "looks: json no");
    ok(!cap_form_looks_like((cap_uchar_t *) "x=1&data=2", 10),
       "looks: x= no");
    ok(!cap_form_looks_like((cap_uchar_t *) "", 0), "looks: empty no");

    ok(cap_gzip_is_magic((cap_uchar_t *) "\x1f\x8b\x08", 3), "magic: yes");
    ok(cap_gzip_is_magic((cap_uchar_t *) "\x1f\x8b\x08\x00", 4),
       "magic: yes, longer");
    ok(!cap_gzip_is_magic((cap_uchar_t *) "\x1f\x8b", 2), "magic: short");
    ok(!cap_gzip_is_magic((cap_uchar_t *) "\x1f\x8b\x09", 3),
       "magic: method 9");
    ok(!cap_gzip_is_magic((cap_uchar_t *) "\x78\x9c\x01", 3),
       "magic: zlib is not");
}


static void
test_compression(void)
{
    size_t  i;

    static const struct {
        const char         *s;
        cap_compression_t   c;
    } cases[] = {
        { "gzip",         CAP_COMPRESSION_GZIP },
        { "GZIP",         CAP_COMPRESSION_GZIP },
        { "gzip-js",      CAP_COMPRESSION_GZIP },
        { "Gzip-JS",      CAP_COMPRESSION_GZIP },
        { " gzip ",       CAP_COMPRESSION_GZIP },
        { "lz64",         CAP_COMPRESSION_LZ64 },
        { "LZ64",         CAP_COMPRESSION_LZ64 },
        { "lz-string",    CAP_COMPRESSION_LZ64 },
        { "LZ-String",    CAP_COMPRESSION_LZ64 },
        { "base64",       CAP_COMPRESSION_BASE64 },
        { "Base64",       CAP_COMPRESSION_BASE64 },
        { "b64",          CAP_COMPRESSION_BASE64 },
        { "B64",          CAP_COMPRESSION_BASE64 },
        { "",             CAP_COMPRESSION_NONE },
        { "br",           CAP_COMPRESSION_NONE },
        { "deflate",      CAP_COMPRESSION_NONE },
        { "gzip2",        CAP_COMPRESSION_NONE },
        { "gzi",          CAP_COMPRESSION_NONE },
        { "gzip,br",      CAP_COMPRESSION_NONE },
        { "lz",           CAP_COMPRESSION_NONE },
        { "identity",     CAP_COMPRESSION_NONE },
        { "base64x",      CAP_COMPRESSION_NONE },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(cap_compression_parse((cap_uchar_t *) cases[i].s,
                                     strlen(cases[i].s)),
               cases[i].c, "compression \"%s\"", cases[i].s);
    }

    is_int(cap_compression_parse(NULL, 0), CAP_COMPRESSION_NONE,
           "compression: NULL, 0");
}


/* gzip */

static void
test_gzip_errors(void)
{
    int           rc;
    size_t        len, i;
    cap_str_t     out;
    cap_error_t   err;
    cap_uchar_t  *gz, *buf;
    test_pool_t   tp;

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 0,
                    &gz);
    if (!ok(len > 18, "made a gzip of %zu bytes", len)) {
        return;
    }

    buf = malloc(len + 64);
    if (buf == NULL) {
        free(gz);
        return;
    }

    pool_init(&tp, 1);

    rc = cap_gzip_inflate(&tp.pool, gz, len, DEFAULT_MAX, &out, &err);
    if (is_int(rc, CAP_OK, "gzip: inflates")) {
        is_str(out.data, out.len, json_text, "gzip: the text");
    }

    test_pool_reset(&tp);

    /* corrupt deflate data: a bad block type */

    memcpy(buf, gz, len);
    buf[10] = 0xff;
    rc = cap_gzip_inflate(&tp.pool, buf, len, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip corrupt: fails");
    is_int(err.code, CAP_E_DECODE, "gzip corrupt: decode error");
    ok(has_text(&err, "failed to decode request: invalid gzip data"),
       "gzip corrupt: text \"%s\"", err.text);
    is_int(tp.live, 0, "gzip corrupt: nothing left");
    test_pool_reset(&tp);

    /* a CRC that does not match */

    memcpy(buf, gz, len);
    buf[len - 8] ^= 0x55;
    rc = cap_gzip_inflate(&tp.pool, buf, len, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip bad crc: fails");
    is_int(err.code, CAP_E_DECODE, "gzip bad crc: decode error");
    ok(has_text(&err, "incorrect data check"), "gzip bad crc: zlib's text "
       "\"%s\"", err.text);
    is_int(tp.live, 0, "gzip bad crc: nothing left");
    test_pool_reset(&tp);

    /* a wrong ISIZE: zlib checks the length */

    memcpy(buf, gz, len);
    buf[len - 1] ^= 0x01;
    rc = cap_gzip_inflate(&tp.pool, buf, len, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip bad isize: fails");
    is_int(err.code, CAP_E_DECODE, "gzip bad isize: decode error");
    test_pool_reset(&tp);

    /* truncated at every length */

    for (i = 0; i < len; i++) {
        err.code = CAP_E_NONE;
        rc = cap_gzip_inflate(&tp.pool, gz, i, DEFAULT_MAX, &out, &err);
        if (rc != CAP_ERROR || err.code != CAP_E_DECODE || tp.live != 0) {
            break;
        }

        test_pool_reset(&tp);
    }

    is_int(i, len, "gzip truncated to 0..%zu bytes: all decode errors",
           len - 1);
    test_pool_reset(&tp);

    /* trailing garbage, zero padding, a second member */

    memcpy(buf, gz, len);
    memcpy(buf + len, "garbage", 7);
    rc = cap_gzip_inflate(&tp.pool, buf, len + 7, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip trailing garbage: fails");
    is_int(err.code, CAP_E_DECODE, "gzip trailing garbage: decode error");
    ok(has_text(&err, "trailing garbage"), "gzip trailing garbage: \"%s\"",
       err.text);
    is_int(tp.live, 0, "gzip trailing garbage: nothing left");
    test_pool_reset(&tp);

    memset(buf + len, 0, 64);
    buf[len + 63] = 1;
    rc = cap_gzip_inflate(&tp.pool, buf, len + 64, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip zeros then a byte: fails");
    is_int(err.code, CAP_E_DECODE, "gzip zeros then a byte: decode error");
    test_pool_reset(&tp);

    buf[len + 63] = 0;
    rc = cap_gzip_inflate(&tp.pool, buf, len + 64, DEFAULT_MAX, &out, &err);
    if (is_int(rc, CAP_OK, "gzip zero padding: ignored")) {
        is_str(out.data, out.len, json_text, "gzip zero padding: the text");
    }

    test_pool_reset(&tp);

    memcpy(buf + len, "\x1f\x8b", 2);
    rc = cap_gzip_inflate(&tp.pool, buf, len + 2, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip truncated second member: fails");
    is_int(err.code, CAP_E_DECODE, "gzip truncated second member: decode");
    test_pool_reset(&tp);

    /* not compressed at all */

    rc = cap_gzip_inflate(&tp.pool, (cap_uchar_t *) json_text,
                          sizeof(json_text) - 1, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "gzip of plain text: fails");
    is_int(err.code, CAP_E_DECODE, "gzip of plain text: decode error");
    is_int(tp.live, 0, "gzip of plain text: nothing left");
    test_pool_reset(&tp);

    rc = cap_gzip_inflate(&tp.pool, (cap_uchar_t *) "", 0, DEFAULT_MAX, &out,
                          &err);
    is_int(rc, CAP_ERROR, "gzip of nothing: fails");
    is_int(err.code, CAP_E_DECODE, "gzip of nothing: decode error");
    test_pool_reset(&tp);

    free(buf);
    free(gz);

    /* a zlib stream */

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 1,
                    &gz);
    rc = cap_gzip_inflate(&tp.pool, gz, len, DEFAULT_MAX, &out, &err);
    if (is_int(rc, CAP_OK, "zlib stream: inflates")) {
        is_str(out.data, out.len, json_text, "zlib stream: the text");
    }

    test_pool_reset(&tp);

    rc = cap_gzip_inflate(&tp.pool, gz, len - 1, DEFAULT_MAX, &out, &err);
    is_int(rc, CAP_ERROR, "zlib truncated: fails");
    is_int(err.code, CAP_E_DECODE, "zlib truncated: decode error");
    test_pool_reset(&tp);

    free(gz);
}


static void
test_gzip_limits(void)
{
    int           rc;
    size_t        len;
    cap_str_t     out;
    cap_error_t   err;
    cap_uchar_t  *gz, *zeros;
    test_pool_t   tp;

    zeros = calloc(1, MB);
    if (zeros == NULL) {
        return;
    }

    len = gzip_make(zeros, MB, 1, 0, &gz);

    pool_init(&tp, 1);

    rc = cap_gzip_inflate(&tp.pool, gz, len, MB, &out, &err);
    if (is_int(rc, CAP_OK, "1 MB of zeros with max 1 MB: inflates")) {
        is_mem(out.data, out.len, zeros, MB, "1 MB of zeros: the zeros");
        ok(tp.peak <= MB + 1 + ZLIB_STATE, "1 MB of zeros: peak %zu",
           tp.peak);
        is_int(tp.nlive, 1, "1 MB of zeros: one block left");
    }

    test_pool_reset(&tp);

    rc = cap_gzip_inflate(&tp.pool, gz, len, MB - 1, &out, &err);
    is_int(rc, CAP_ERROR, "1 MB of zeros with max 1 MB - 1: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "1 MB - 1: body too large");
    is_str(err.text, strlen(err.text),
           "decoded request body exceeds 1048575 bytes", "1 MB - 1: text");
    test_pool_reset(&tp);

    /* a faked ISIZE: 0, so the buffer grows from its minimum */

    gz[len - 4] = gz[len - 3] = gz[len - 2] = gz[len - 1] = 0;

    rc = cap_gzip_inflate(&tp.pool, gz, len, 2 * MB, &out, &err);
    is_int(rc, CAP_ERROR, "faked ISIZE: fails at the end");
    is_int(err.code, CAP_E_DECODE, "faked ISIZE: zlib checks the length");
    is_int(tp.live, 0, "faked ISIZE: nothing left");
    ok(tp.peak <= 4 * KB + ZLIB_STATE, "faked ISIZE: peak %zu", tp.peak);
    test_pool_reset(&tp);

    free(gz);
    free(zeros);
}


static void
test_gzip_bomb(void)
{
    int             rc;
    size_t          len;
    cap_str_t       out;
    cap_error_t     err;
    cap_uchar_t    *gz, *zeros, *b64;
    test_pool_t     tp;
    cap_payload_t   pl;

    zeros = calloc(1, MB);
    if (zeros == NULL) {
        return;
    }

    /* 50 MB of zeros take about 50 KB */

    len = gzip_make(zeros, MB, 50, 0, &gz);
    ok(len < 100 * KB, "bomb: 50 MB of zeros gzip to %zu bytes", len);

    pool_init(&tp, 1);

    rc = cap_gzip_inflate(&tp.pool, gz, len, MB, &out, &err);
    is_int(rc, CAP_ERROR, "bomb: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "bomb: body too large");
    ok(has_text(&err, "decoded request body exceeds 1048576 bytes"),
       "bomb: text \"%s\"", err.text);
    ok(tp.peak <= MB + MB / 10 + ZLIB_STATE,
       "bomb: peak allocation %zu <= 1.1 MB + zlib", tp.peak);
    ok(tp.total <= MB + MB / 10 + ZLIB_STATE,
       "bomb: total allocation %zu <= 1.1 MB + zlib", tp.total);
    is_int(tp.live, 0, "bomb: nothing left");
    test_pool_reset(&tp);

    /* the same with the ISIZE faked down to 100 bytes */

    gz[len - 4] = 100;
    gz[len - 3] = gz[len - 2] = gz[len - 1] = 0;

    rc = cap_gzip_inflate(&tp.pool, gz, len, MB, &out, &err);
    is_int(rc, CAP_ERROR, "bomb, faked ISIZE: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "bomb, faked ISIZE: too large");
    ok(tp.peak <= 4 * KB + ZLIB_STATE,
       "bomb, faked ISIZE: peak %zu <= 4 KB + zlib (counted, not stored)",
       tp.peak);
    is_int(tp.live, 0, "bomb, faked ISIZE: nothing left");
    test_pool_reset(&tp);

    free(gz);

    /* through the pipeline, raw and in base64 */

    len = gzip_make(zeros, MB, 50, 0, &gz);

    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    pl.max_size = MB;

    rc = cap_payload_decode(&tp.pool, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline bomb: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "pipeline bomb: too large");
    ok(tp.peak <= MB + MB / 10 + ZLIB_STATE,
       "pipeline bomb: peak %zu <= 1.1 MB + zlib", tp.peak);
    is_int(tp.live, 0, "pipeline bomb: nothing left");
    test_pool_reset(&tp);

    pl.body.len = b64_encode(gz, len, &b64);
    pl.body.data = b64;

    rc = cap_payload_decode(&tp.pool, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline base64 bomb: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "pipeline base64 bomb: too large");
    ok(tp.peak <= MB + MB / 10 + len + ZLIB_STATE,
       "pipeline base64 bomb: peak %zu <= 1.1 MB + its gzip + zlib",
       tp.peak);
    is_int(tp.live, 0, "pipeline base64 bomb: nothing left");
    test_pool_reset(&tp);

    free(b64);
    free(gz);
    free(zeros);
}


/* lz-string streams written bit by bit */

static void
test_lz64_streams(void)
{
    int          rc;
    size_t       i, n, k;
    uint32_t     acc;
    unsigned     nbits, bits;
    cap_buf_t    b, want;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp, bp;

    static const struct {
        const char  *name;
        uint32_t     codes[12];      /* value, width pairs; 0, 0 ends */
        const char  *out;
        size_t       len;
    } streams[] = {
        { "surrogate pair",
          { 1, 2, 0xd83d, 16, 1, 3, 0xde00, 16, 2, 3, 0, 0 },
          "\xf0\x9f\x98\x80", 4 },
        { "lone high surrogate at the end",
          { 1, 2, 0xd800, 16, 2, 3, 0, 0 },
          "\xef\xbf\xbd", 3 },
        { "lone low surrogate",
          { 1, 2, 0xdc00, 16, 0, 3, 'x', 8, 2, 3, 0, 0 },
          "\xef\xbf\xbdx", 4 },
        { "high surrogate then a letter",
          { 1, 2, 0xd83d, 16, 0, 3, 'a', 8, 2, 3, 0, 0 },
          "\xef\xbf\xbd" "a", 4 },
        { "the entry being added (KwKwK)",
          { 0, 2, 'a', 8, 4, 3, 2, 3, 0, 0 },
          "aaa", 3 },
        { "a NUL character",
          { 0, 2, 0, 8, 2, 3, 0, 0 },
          "\0", 1 },
        { "the end at once",
          { 2, 2, 0, 0 },
          "", 0 },
        { "16-bit ASCII",
          { 1, 2, 'A', 16, 3, 3, 2, 3, 0, 0 },
          "AA", 2 },
    };

    pool_init(&bp, 1);
    pool_init(&tp, 1);

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        (void) cap_buf_init(&b, &bp.pool, 64, 0);
        acc = 0;
        nbits = 0;

        for (k = 0; streams[i].codes[k + 1] != 0; k += 2) {
            lz_put(&b, &acc, &nbits, streams[i].codes[k],
                   streams[i].codes[k + 1]);
        }

        lz_end(&b, &acc, &nbits);

        rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
        if (is_int(rc, CAP_OK, "lz64 %s: decodes (%.*s)", streams[i].name,
                   (int) b.len, b.data))
        {
            is_mem(out.data, out.len, streams[i].out, streams[i].len,
                   "lz64 %s", streams[i].name);
        }

        /* what follows the end code is not read, but must be base64 */

        (void) cap_buf_append_literal(&b, "AAAA");
        rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
        if (is_int(rc, CAP_OK, "lz64 %s: more after the end",
                   streams[i].name))
        {
            is_mem(out.data, out.len, streams[i].out, streams[i].len,
                   "lz64 %s: more after the end ignored", streams[i].name);
        }

        (void) cap_buf_append_literal(&b, "!");
        rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
        is_int(rc, CAP_ERROR, "lz64 %s: not base64 after the end",
               streams[i].name);
    }

    /* many 16-bit literals: the code width grows to 14 bits */

    n = 5000;

    (void) cap_buf_init(&b, &bp.pool, 64, 0);
    (void) cap_buf_init(&want, &bp.pool, 64, 0);

    bits = lz_literals(&b, &want, n);

    ok(bits == 14, "lz64 literals: %u bits at the end", bits);

    rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
    if (is_int(rc, CAP_OK, "lz64 %zu literals: decodes", n)) {
        is_mem(out.data, out.len, want.data, want.len,
               "lz64 %zu literals: the text", n);
    }

    rc = decode_lz64(&tp, b.data, b.len, want.len - 1, &out, &err);
    is_int(rc, CAP_ERROR, "lz64 literals, max - 1: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "lz64 literals: too large");
    ok(has_text(&err, "decoded request body exceeds"),
       "lz64 literals: text \"%s\"", err.text);

    test_pool_reset(&tp);

    /* a bomb: each code the entry being added, one unit longer */

    n = 3000;

    (void) cap_buf_init(&b, &bp.pool, 64, 0);
    lz_bomb(&b, n);

    /* 1 + 2 + 3 + ... + (n + 1) */

    rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
    if (is_int(rc, CAP_OK, "lz64 bomb of %zu bytes: decodes", b.len)) {
        is_int(out.len, (n + 1) * (n + 2) / 2, "lz64 bomb: its length");
        ok(memspn_a(out.data, out.len), "lz64 bomb: all a");
        ok(tp.peak <= out.len + 128 * KB, "lz64 bomb: peak %zu",
           tp.peak);
    }

    test_pool_reset(&tp);

    rc = decode_lz64(&tp, b.data, b.len, MB, &out, &err);
    is_int(rc, CAP_ERROR, "lz64 bomb, max 1 MB: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "lz64 bomb, max 1 MB: too large");
    ok(tp.peak <= 128 * KB, "lz64 bomb, max 1 MB: peak %zu, the output is "
       "counted, not stored", tp.peak);
    is_int(tp.live, 0, "lz64 bomb: nothing left");

    test_pool_reset(&tp);
    test_pool_reset(&bp);
}


static int
memspn_a(const cap_uchar_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != 'a') {
            return 0;
        }
    }

    return 1;
}


static void
test_lz64_errors(void)
{
    int          rc;
    size_t       i, k;
    uint32_t     acc;
    unsigned     nbits;
    cap_buf_t    b;
    cap_str_t    out;
    cap_error_t  err;
    test_pool_t  tp, bp;

    static const struct {
        const char  *name;
        uint32_t     codes[10];
    } streams[] = {
        { "a code past the dictionary",  { 0, 2, 'a', 8, 5, 3, 0, 0 } },
        { "a code far past it",          { 0, 2, 'a', 8, 7, 3, 0, 0 } },
        { "first code 3",                { 3, 2, 0, 0 } },
        { "no end code",                 { 0, 2, 'a', 8, 3, 3, 0, 0 } },
    };

    static const char  *bad[] = {
        "", "!", "IZA!", "IZA-", "IZA_", "IZ\tA", "IZ\nA", "A",
    };

    pool_init(&bp, 1);
    pool_init(&tp, 1);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.code = CAP_E_NONE;
        rc = decode_lz64(&tp, (cap_uchar_t *) bad[i], strlen(bad[i]),
                         DEFAULT_MAX, &out, &err);
        is_int(rc, CAP_ERROR, "lz64 bad #%zu fails", i);
        is_int(err.code, CAP_E_DECODE, "lz64 bad #%zu: decode error", i);
        ok(has_text(&err, "failed to decode request: "),
           "lz64 bad #%zu: text \"%s\"", i, err.text);
        is_int(tp.live, 0, "lz64 bad #%zu: nothing left", i);
    }

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        (void) cap_buf_init(&b, &bp.pool, 64, 0);
        acc = 0;
        nbits = 0;

        for (k = 0; streams[i].codes[k + 1] != 0; k += 2) {
            lz_put(&b, &acc, &nbits, streams[i].codes[k],
                   streams[i].codes[k + 1]);
        }

        lz_end(&b, &acc, &nbits);

        err.code = CAP_E_NONE;
        rc = decode_lz64(&tp, b.data, b.len, DEFAULT_MAX, &out, &err);
        is_int(rc, CAP_ERROR, "lz64 %s: fails", streams[i].name);
        is_int(err.code, CAP_E_DECODE, "lz64 %s: decode error (%s)",
               streams[i].name, err.text);
        is_int(tp.live, 0, "lz64 %s: nothing left", streams[i].name);
    }

    test_pool_reset(&tp);
    test_pool_reset(&bp);
}


/* the pipeline */

static void
test_payload(void)
{
    int             rc;
    size_t          len, n;
    cap_str_t       out;
    cap_error_t     err;
    cap_uchar_t    *gz, *b64, *body;
    test_pool_t     tp;
    cap_payload_t   pl;

    static const char  spaced_json[] = "{\"e\":\">>>>>>\",\"n\":\"???\"}";

    pool_init(&tp, 1);

    /* plain JSON passes through, without a copy */

    payload_init(&pl, json_text);
    pl.content_type = str("application/json");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline json: ok")) {
        is_str(out.data, out.len, json_text, "pipeline json: the text");
        ok(out.data == pl.body.data, "pipeline json: points to the body");
        is_int(tp.nlive, 0, "pipeline json: nothing allocated");
    }

    test_pool_reset(&tp);

    /* gzip, no hint, no Content-Type */

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 0,
                    &gz);

    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline gzip, no hint: ok")) {
        is_str(out.data, out.len, json_text, "pipeline gzip, no hint");
        is_int(tp.nlive, 1, "pipeline gzip: one block left");
    }

    test_pool_reset(&tp);

    /* gzip-js in the query, Content-Encoding: gzip */

    pl.query_compression = str("gzip-js");
    pl.content_type = str("text/plain");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline gzip-js: ok")) {
        is_str(out.data, out.len, json_text, "pipeline gzip-js");
    }

    test_pool_reset(&tp);

    pl.query_compression = str("");
    pl.content_type = str("application/json");
    pl.content_encoding = str("gzip");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline Content-Encoding gzip: ok")) {
        is_str(out.data, out.len, json_text, "pipeline Content-Encoding");
    }

    test_pool_reset(&tp);

    /* truncated and corrupt gzip */

    pl.body.len = len - 3;
    err.code = CAP_E_NONE;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline truncated gzip: fails");
    is_int(err.code, CAP_E_DECODE, "pipeline truncated gzip: decode error");
    ok(has_text(&err, "failed to decode request: invalid gzip data"),
       "pipeline truncated gzip: text \"%s\"", err.text);
    is_int(tp.live, 0, "pipeline truncated gzip: nothing left");
    test_pool_reset(&tp);

    pl.body.len = len;
    gz[12] ^= 0xff;
    gz[13] ^= 0xff;
    err.code = CAP_E_NONE;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline corrupt gzip: fails");
    is_int(err.code, CAP_E_DECODE, "pipeline corrupt gzip: decode error");
    is_int(tp.live, 0, "pipeline corrupt gzip: nothing left");
    test_pool_reset(&tp);
    gz[12] ^= 0xff;
    gz[13] ^= 0xff;

    /* whole-body base64, and base64 of gzip */

    n = b64_encode((cap_uchar_t *) json_text, sizeof(json_text) - 1, &b64);
    payload_init(&pl, NULL);
    pl.body.data = b64;
    pl.body.len = n;
    pl.content_type = str("text/plain");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline whole-body base64: ok")) {
        is_str(out.data, out.len, json_text, "pipeline whole-body base64");
        is_int(tp.nlive, 1, "pipeline base64: one block left");
    }

    test_pool_reset(&tp);
    free(b64);

    n = b64_encode(gz, len, &b64);
    pl.body.data = b64;
    pl.body.len = n;
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline base64 of gzip: ok")) {
        is_str(out.data, out.len, json_text, "pipeline base64 of gzip");
        is_int(tp.nlive, 1, "pipeline base64 of gzip: one block left");
    }

    test_pool_reset(&tp);

    /* in a form, urlencoded */

    body = malloc(n * 3 + 64);
    if (body != NULL) {
        size_t  i, j;

        j = sprintf((char *) body, "ver=1.2&data=");

        for (i = 0; i < n; i++) {
            if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=') {
                j += sprintf((char *) body + j, "%%%02X", b64[i]);

            } else {
                body[j++] = b64[i];
            }
        }

        j += sprintf((char *) body + j, "&_=1700000000000");

        payload_init(&pl, NULL);
        pl.body.data = body;
        pl.body.len = j;
        pl.content_type = str("application/x-www-form-urlencoded");
        rc = decode_payload(&tp, &pl, &out, &err);
        if (is_int(rc, CAP_OK, "pipeline form of base64 gzip: ok")) {
            is_str(out.data, out.len, json_text, "pipeline form of gzip");
            is_int(tp.nlive, 1, "pipeline form: one block left");
        }

        test_pool_reset(&tp);
        free(body);
    }

    free(b64);

    /* a form where the "+" of base64 became spaces */

    n = b64_encode((cap_uchar_t *) spaced_json, sizeof(spaced_json) - 1,
                   &b64);
    ok(memchr(b64, '+', n) != NULL, "spaced: base64 has a +: %.*s",
       (int) n, b64);

    body = malloc(n + 64);
    if (body != NULL) {
        size_t  i, j;

        j = sprintf((char *) body, "data=");

        for (i = 0; i < n; i++) {
            body[j++] = b64[i];
        }

        j += sprintf((char *) body + j, "&compression=base64");

        payload_init(&pl, NULL);
        pl.body.data = body;
        pl.body.len = j;
        rc = decode_payload(&tp, &pl, &out, &err);
        if (is_int(rc, CAP_OK, "pipeline form, + as spaces: ok")) {
            is_str(out.data, out.len, spaced_json,
                   "pipeline form, + as spaces");
        }

        test_pool_reset(&tp);
        free(body);
    }

    free(b64);
    free(gz);

    /* query data */

    payload_init(&pl, "ignored");
    pl.query_data = str("%7B%22a%22%3A%22b+c%22%7D");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline query data: ok")) {
        is_str(out.data, out.len, "{\"a\":\"b c\"}", "pipeline query data");
    }

    test_pool_reset(&tp);

    n = b64_encode((cap_uchar_t *) json_text, sizeof(json_text) - 1, &b64);
    payload_init(&pl, NULL);
    pl.query_data.data = b64;
    pl.query_data.len = n;
    pl.query_compression = str("base64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline query base64: ok")) {
        is_str(out.data, out.len, json_text, "pipeline query base64");
        is_int(tp.nlive, 1, "pipeline query base64: one block left");
    }

    test_pool_reset(&tp);
    free(b64);

    /* lz64: "aaa" in the query compression=lz64 and in a form */

    payload_init(&pl, "IYo=");
    pl.query_compression = str("lz64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline lz64 by query: ok")) {
        is_str(out.data, out.len, "aaa", "pipeline lz64 by query");
    }

    test_pool_reset(&tp);

    payload_init(&pl, "compression=lz-string&data=IYo=");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline lz64 by form: ok")) {
        is_str(out.data, out.len, "aaa", "pipeline lz64 by form");
    }

    test_pool_reset(&tp);

    payload_init(&pl, "IYo=");
    pl.query_data = str("IYo=");
    pl.content_encoding = str("lz64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "pipeline lz64 by Content-Encoding: ok")) {
        is_str(out.data, out.len, "aaa", "pipeline lz64, query data");
    }

    test_pool_reset(&tp);
}


static void
test_payload_errors(void)
{
    int             rc;
    size_t          i, len;
    cap_str_t       out;
    cap_error_t     err;
    cap_uchar_t    *gz, big[200];
    test_pool_t     tp;
    cap_payload_t   pl;

    static const struct {
        const char      *body;
        const char      *type;
        const char      *qc;
        const char      *ce;
        cap_err_code_t   code;
        const char      *text;
    } cases[] = {
        { "", NULL, NULL, NULL, CAP_E_EMPTY,
          "failed to decode request: empty payload" },
        { "", "application/json", "gzip", "gzip", CAP_E_EMPTY,
          "failed to decode request: empty payload" },
        { "ver=1&_=2", NULL, NULL, NULL, CAP_E_EMPTY,
          "failed to decode request: no data in form" },
        { "x=1", "application/x-www-form-urlencoded", NULL, NULL,
          CAP_E_EMPTY, "failed to decode request: no data in form" },
        { "", "application/x-www-form-urlencoded", NULL, NULL,
          CAP_E_EMPTY, "failed to decode request: no data in form" },
        { "data=&compression=gzip", NULL, NULL, NULL, CAP_E_EMPTY,
          "failed to decode request: empty payload" },
        { json_text, "application/json", "gzip-js", NULL, CAP_E_DECODE,
          "failed to decode request: invalid gzip data" },
        { json_text, NULL, NULL, "gzip", CAP_E_DECODE,
          "failed to decode request: invalid gzip data" },
        { json_text, NULL, "lz64", NULL, CAP_E_DECODE,
          "failed to decode request: invalid lz64 data" },
        { json_text, NULL, "base64", NULL, CAP_E_DECODE,
          "failed to decode request: invalid base64" },
        { "data=e30%3D!&compression=b64", NULL, NULL, NULL, CAP_E_DECODE,
          "failed to decode request: invalid base64" },
        { "\x1f\x8b\x08garbage", NULL, NULL, NULL, CAP_E_DECODE,
          "failed to decode request: invalid gzip data" },
        { "AAAA", NULL, "lz64", NULL, CAP_E_DECODE,
          "failed to decode request: invalid lz64 data" },
        { "Q===", NULL, "lz64", NULL, CAP_E_EMPTY,
          "failed to decode request: empty payload" },
        { "====", NULL, NULL, NULL, CAP_E_EMPTY,
          "failed to decode request: empty payload" },
    };

    pool_init(&tp, 1);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        payload_init(&pl, cases[i].body);

        if (cases[i].type != NULL) {
            pl.content_type = str(cases[i].type);
        }

        if (cases[i].qc != NULL) {
            pl.query_compression = str(cases[i].qc);
        }

        if (cases[i].ce != NULL) {
            pl.content_encoding = str(cases[i].ce);
        }

        err.code = BAD_CODE;
        rc = decode_payload(&tp, &pl, &out, &err);

        is_int(rc, CAP_ERROR, "pipeline error #%zu: fails", i);
        is_int(err.code, cases[i].code, "pipeline error #%zu: %s", i,
               cap_error_name(cases[i].code));
        ok(has_text(&err, cases[i].text), "pipeline error #%zu: \"%s\"", i,
           err.text);
        is_int(tp.live, 0, "pipeline error #%zu: nothing left", i);
        test_pool_reset(&tp);
    }

    /* the gzip of nothing */

    len = gzip_make((cap_uchar_t *) "", 0, 1, 0, &gz);
    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline gzip of nothing: fails");
    is_int(err.code, CAP_E_EMPTY, "pipeline gzip of nothing: empty");
    is_int(tp.live, 0, "pipeline gzip of nothing: nothing left");
    test_pool_reset(&tp);
    free(gz);

    /* limits: the payload itself and each decoded stage */

    payload_init(&pl, json_text);
    pl.max_size = sizeof(json_text) - 2;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline json over max: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "pipeline json over max: 413");
    test_pool_reset(&tp);

    pl.max_size = sizeof(json_text) - 1;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_OK, "pipeline json at max: ok");
    test_pool_reset(&tp);

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 4, 0,
                    &gz);
    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    pl.max_size = 4 * (sizeof(json_text) - 1) - 1;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline gzip over max: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "pipeline gzip over max: 413");
    ok(has_text(&err, "decoded request body exceeds"),
       "pipeline gzip over max: \"%s\"", err.text);
    is_int(tp.live, 0, "pipeline gzip over max: nothing left");
    test_pool_reset(&tp);

    pl.max_size++;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_OK, "pipeline gzip at max: ok");
    is_int(out.len, pl.max_size, "pipeline gzip at max: all of it");
    test_pool_reset(&tp);
    free(gz);

    payload_init(&pl, "IYo=");
    pl.query_compression = str("lz64");
    pl.max_size = 2;
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline lz64 over max: fails");
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "pipeline lz64 over max: 413");
    is_int(tp.live, 0, "pipeline lz64 over max: nothing left");
    test_pool_reset(&tp);

    /* strict base64 by its first 128 bytes, broken later */

    memset(big, 'A', sizeof(big));
    big[150] = '!';
    payload_init(&pl, NULL);
    pl.body.data = big;
    pl.body.len = sizeof(big);
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "pipeline base64 broken after 128: fails");
    is_int(err.code, CAP_E_DECODE, "pipeline base64 broken: decode error");
    is_int(tp.live, 0, "pipeline base64 broken: nothing left");
    test_pool_reset(&tp);
}


static void
test_payload_hints(void)
{
    int             rc;
    size_t          len, n, zlen;
    cap_str_t       out;
    cap_error_t     err;
    cap_uchar_t    *z, *gz, *b64, body[512];
    test_pool_t     tp;
    cap_payload_t   pl;

    pool_init(&tp, 1);

    zlen = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 1,
                     &z);

    /* the first non-empty hint wins, even if unknown */

    payload_init(&pl, NULL);
    pl.body.data = z;
    pl.body.len = zlen;
    pl.content_encoding = str("gzip");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "hint Content-Encoding on zlib: ok")) {
        is_str(out.data, out.len, json_text, "hint Content-Encoding: zlib");
    }

    test_pool_reset(&tp);

    pl.query_compression = str("foo");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "hint unknown query value: ok")) {
        is_mem(out.data, out.len, z, zlen,
               "hint unknown query value beats Content-Encoding");
    }

    test_pool_reset(&tp);

    pl.query_compression = str("gzip%2Djs");
    pl.content_encoding = str("");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "hint urlencoded query value: ok")) {
        is_str(out.data, out.len, json_text, "hint gzip%%2Djs");
    }

    test_pool_reset(&tp);

    /* a form's hint beats Content-Encoding; the query's beats both */

    n = b64_encode((cap_uchar_t *) json_text, sizeof(json_text) - 1, &b64);
    len = snprintf((char *) body, sizeof(body),
                   "compression=b64&data=%.*s", (int) n, b64);

    payload_init(&pl, NULL);
    pl.body.data = body;
    pl.body.len = len;
    pl.content_encoding = str("lz64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "hint form over Content-Encoding: ok")) {
        is_str(out.data, out.len, json_text, "hint form b64");
    }

    test_pool_reset(&tp);

    len = snprintf((char *) body, sizeof(body),
                   "compression=lz64&data=%.*s", (int) n, b64);
    pl.body.len = len;
    pl.query_compression = str("base64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "hint query over form: ok")) {
        is_str(out.data, out.len, json_text, "hint query base64");
    }

    test_pool_reset(&tp);

    /* "eyJ" as lz-string: its first code is 2, the end (so says JS too) */

    pl.query_compression = str("");
    rc = decode_payload(&tp, &pl, &out, &err);
    is_int(rc, CAP_ERROR, "hint form lz64 on base64 JSON: fails");
    is_int(err.code, CAP_E_EMPTY, "hint form lz64: empty result");
    test_pool_reset(&tp);

    /* Content-Type makes a form, with parameters, in any case */

    len = snprintf((char *) body, sizeof(body), "x=1&data=%.*s", (int) n,
                   b64);

    payload_init(&pl, NULL);
    pl.body.data = body;
    pl.body.len = len;
    pl.content_type = str("Application/X-WWW-Form-Urlencoded;charset=utf-8");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "form type with parameters: ok")) {
        is_str(out.data, out.len, json_text, "form type with parameters");
    }

    test_pool_reset(&tp);

    pl.content_type = str(" application/x-www-form-urlencoded ; a=b");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "form type with spaces: ok")) {
        is_str(out.data, out.len, json_text, "form type with spaces");
    }

    test_pool_reset(&tp);

    pl.content_type = str("application/x-www-form-urlencodedx");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "not a form type: ok")) {
        is_mem(out.data, out.len, body, len, "not a form type: as it is");
    }

    test_pool_reset(&tp);

    pl.content_type = str("text/plain");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "text/plain, not like a form: ok")) {
        is_mem(out.data, out.len, body, len, "text/plain: as it is");
    }

    test_pool_reset(&tp);

    /* query data: the body is not looked at */

    payload_init(&pl, "data=e30%3D");
    pl.query_data = str("%7B%7D");
    pl.content_type = str("application/x-www-form-urlencoded");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "query data over form: ok")) {
        is_str(out.data, out.len, "{}", "query data over form");
    }

    test_pool_reset(&tp);

    /* gzip magic before any hint; only gzip is inflated after base64 */

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 0,
                    &gz);
    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    pl.query_compression = str("lz64");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "gzip magic over lz64 hint: ok")) {
        is_str(out.data, out.len, json_text, "gzip magic over lz64 hint");
    }

    test_pool_reset(&tp);

    /* axios (rudder-sdk-node) labels a gzip body as a form */

    payload_init(&pl, NULL);
    pl.body.data = gz;
    pl.body.len = len;
    pl.content_type = str("application/x-www-form-urlencoded");
    pl.content_encoding = str("gzip");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "gzip labelled a form: ok")) {
        is_str(out.data, out.len, json_text, "gzip labelled a form: inflated");
    }

    test_pool_reset(&tp);

    free(b64);
    n = b64_encode(gz, len, &b64);
    payload_init(&pl, NULL);
    pl.body.data = b64;
    pl.body.len = n;
    pl.content_encoding = str("gzip");
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "gzip hint on base64 of gzip: ok")) {
        is_str(out.data, out.len, json_text, "gzip hint on base64 of gzip");
    }

    test_pool_reset(&tp);
    free(b64);

    n = b64_encode(z, zlen, &b64);
    payload_init(&pl, NULL);
    pl.body.data = b64;
    pl.body.len = n;
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "base64 of zlib: ok")) {
        is_mem(out.data, out.len, z, zlen, "base64 of zlib: not inflated");
    }

    test_pool_reset(&tp);

    free(b64);
    free(gz);
    free(z);
}


/* every allocation that can fail fails once */

static void
test_nomem(void)
{
    int             rc, i;
    size_t          len, n, at;
    cap_str_t       out;
    cap_error_t     err;
    cap_buf_t       b, want;
    cap_uchar_t    *gz, *b64, *zeros, body[512];
    test_pool_t     tp, bp;
    cap_payload_t   pl[5];

    static const char  *names[] = {
        "gzip", "gzip, wrong ISIZE", "base64 of gzip", "form lz64", "query data"
    };

    zeros = calloc(1, 300 * KB);
    if (zeros == NULL) {
        return;
    }

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 0,
                    &gz);
    n = b64_encode(gz, len, &b64);

    payload_init(&pl[0], NULL);
    pl[0].body.data = gz;
    pl[0].body.len = len;

    /* the last member's ISIZE is 1: inflated twice */

    payload_init(&pl[1], NULL);
    pl[1].body.len = gzip_two(zeros, 300 * KB, &pl[1].body.data);

    payload_init(&pl[2], NULL);
    pl[2].body.data = b64;
    pl[2].body.len = n;

    payload_init(&pl[3], "compression=lz64&data=IYo=");

    payload_init(&pl[4], NULL);
    (void) snprintf((char *) body, sizeof(body), "%.*s", (int) n, b64);
    pl[4].query_data = str((char *) body);
    pl[4].query_compression = str("b%36%34");

    pool_init(&tp, 1);

    for (i = 0; i < 5; i++) {
        for (at = 1; at < 1000; at++) {
            tp.fail_at = at;
            tp.nallocs = 0;
            err.code = CAP_E_NONE;

            rc = cap_payload_decode(&tp.pool, &pl[i], &out, &err);

            if (rc == CAP_OK || err.code != CAP_E_NOMEM || tp.live != 0) {
                break;
            }

            test_pool_reset(&tp);
        }

        nomem_report(names[i], rc, at, &err, &tp);
        test_pool_reset(&tp);
    }

    /* lz-string: the dictionary and the entry buffer grow */

    pool_init(&bp, 1);

    for (i = 0; i < 2; i++) {
        (void) cap_buf_init(&b, &bp.pool, 64, 0);
        (void) cap_buf_init(&want, &bp.pool, 64, 0);

        if (i == 0) {
            (void) lz_literals(&b, &want, 2000);

        } else {
            lz_bomb(&b, 300);
        }

        for (at = 1; at < 1000; at++) {
            tp.fail_at = at;
            tp.nallocs = 0;
            err.code = CAP_E_NONE;

            rc = cap_lz64_decode(&tp.pool, b.data, b.len, DEFAULT_MAX, &out,
                                 &err);

            if (rc == CAP_OK || err.code != CAP_E_NOMEM || tp.live != 0) {
                break;
            }

            test_pool_reset(&tp);
        }

        nomem_report(i == 0 ? "lz64 literals" : "lz64 long entries", rc, at,
                     &err, &tp);

        if (i == 0 && rc == CAP_OK) {
            is_mem(out.data, out.len, want.data, want.len,
                   "nomem lz64 literals: the text");
        }

        test_pool_reset(&tp);
    }

    test_pool_reset(&bp);

    tp.fail_at = 0;

    free(pl[1].body.data);
    free(b64);
    free(gz);
    free(zeros);
}


static void
nomem_report(const char *name, int rc, size_t at, cap_error_t *err,
    test_pool_t *tp)
{
    if (is_int(rc, CAP_OK, "nomem %s: succeeds once allocation %zu does "
               "not fail", name, at))
    {
        ok(at > 1, "nomem %s: %zu allocations failed one by one, each "
           "with no memory and nothing left", name, at - 1);

    } else {
        printf("#   error %s: %s, live %zu\n", cap_error_name(err->code),
               err->text, tp->live);
    }
}


/* a pool without free(), as nginx's pool may be */

static void
test_no_free(void)
{
    int             rc;
    size_t          len, n;
    cap_str_t       out;
    cap_error_t     err;
    cap_uchar_t    *gz, *b64, *zeros;
    test_pool_t     tp;
    cap_payload_t   pl;

    zeros = calloc(1, MB);
    if (zeros == NULL) {
        return;
    }

    pool_init(&tp, 0);

    /* the ISIZE hint is wrong: 256 bytes, then the exact size */

    len = gzip_two(zeros, 300 * KB, &gz);

    rc = cap_gzip_inflate(&tp.pool, gz, len, MB, &out, &err);
    if (is_int(rc, CAP_OK, "no free: a growing buffer")) {
        ok(out.len == 300 * KB + 1 && memcmp(out.data, zeros, 300 * KB) == 0
           && out.data[300 * KB] == 'x', "no free: the zeros and x");
        ok(tp.total <= 300 * KB + 1 + 256 + ZLIB_STATE,
           "no free: %zu allocated in all", tp.total);
    }

    free(gz);
    test_pool_reset(&tp);

    len = gzip_make((cap_uchar_t *) json_text, sizeof(json_text) - 1, 1, 0,
                    &gz);
    n = b64_encode(gz, len, &b64);

    payload_init(&pl, NULL);
    pl.body.data = b64;
    pl.body.len = n;
    rc = decode_payload(&tp, &pl, &out, &err);
    if (is_int(rc, CAP_OK, "no free: base64 of gzip")) {
        is_str(out.data, out.len, json_text, "no free: the text");
    }

    test_pool_reset(&tp);
    free(gz);
    free(b64);

    len = gzip_make(zeros, MB, 50, 0, &gz);
    rc = cap_gzip_inflate(&tp.pool, gz, len, MB, &out, &err);
    is_int(err.code, CAP_E_BODY_TOO_LARGE, "no free: bomb too large");
    ok(tp.total <= MB + MB / 10 + ZLIB_STATE,
       "no free: bomb allocated %zu in all", tp.total);
    test_pool_reset(&tp);
    free(gz);

    free(zeros);
}


/* helpers */

static size_t
gzip_make(const cap_uchar_t *in, size_t len, size_t repeat, int zlib,
    cap_uchar_t **out)
{
    int           rc, flush;
    size_t        size, i, n;
    z_stream      z;
    cap_uchar_t  *buf;

    memset(&z, 0, sizeof(z_stream));

    if (deflateInit2(&z, 9, Z_DEFLATED, zlib ? 15 : 15 + 16, 9,
                     Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        abort();
    }

    size = 4096;
    n = 0;
    buf = malloc(size);
    if (buf == NULL) {
        abort();
    }

    for (i = 0; i < repeat; i++) {
        z.next_in = (Bytef *) in;
        z.avail_in = len;
        flush = (i == repeat - 1) ? Z_FINISH : Z_NO_FLUSH;

        for ( ;; ) {
            if (n == size) {
                size *= 2;
                buf = realloc(buf, size);
                if (buf == NULL) {
                    abort();
                }
            }

            z.next_out = buf + n;
            z.avail_out = size - n;

            rc = deflate(&z, flush);
            if (rc == Z_STREAM_ERROR) {
                abort();
            }

            n = size - z.avail_out;

            if (flush == Z_FINISH ? rc == Z_STREAM_END
                                  : (z.avail_in == 0 && z.avail_out != 0))
            {
                break;
            }
        }
    }

    deflateEnd(&z);

    *out = buf;

    return n;
}


/* a gzip member of "len" zeros and another of one byte: a small ISIZE */

static size_t
gzip_two(const cap_uchar_t *zeros, size_t len, cap_uchar_t **out)
{
    size_t        n1, n2;
    cap_uchar_t  *a, *b;

    n1 = gzip_make(zeros, len, 1, 0, &a);
    n2 = gzip_make((cap_uchar_t *) "x", 1, 1, 0, &b);

    a = realloc(a, n1 + n2);
    if (a == NULL) {
        abort();
    }

    memcpy(a + n1, b, n2);
    free(b);

    *out = a;

    return n1 + n2;
}


static size_t
b64_encode(const cap_uchar_t *in, size_t len, cap_uchar_t **out)
{
    size_t        i;
    uint32_t      v;
    cap_uchar_t  *d;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    *out = malloc(len / 3 * 4 + 5);
    if (*out == NULL) {
        abort();
    }

    d = *out;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
        *d++ = alphabet[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = '=';
        *d++ = '=';

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
        *d++ = '=';
    }

    *d = '\0';

    return d - *out;
}


/* "width" bits of "value", least significant first, 6 to a digit */

static void
lz_put(cap_buf_t *b, uint32_t *acc, unsigned *nbits, uint32_t value,
    unsigned width)
{
    unsigned  i;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (i = 0; i < width; i++) {
        *acc = (*acc << 1) | ((value >> i) & 1);

        if (++*nbits == 6) {
            (void) cap_buf_append_char(b, alphabet[*acc]);
            *acc = 0;
            *nbits = 0;
        }
    }
}


static void
lz_end(cap_buf_t *b, uint32_t *acc, unsigned *nbits)
{
    while (*nbits != 0) {
        lz_put(b, acc, nbits, 0, 1);
    }

    while (b->len % 4 != 0) {
        (void) cap_buf_append_char(b, '=');
    }
}


/* 16-bit literals from U+4E00 on, then the first entry again */

static unsigned
lz_literals(cap_buf_t *b, cap_buf_t *want, size_t n)
{
    size_t    k;
    uint32_t  acc, enlarge, u;
    unsigned  nbits, bits;

    acc = 0;
    nbits = 0;

    lz_put(b, &acc, &nbits, 1, 2);
    lz_put(b, &acc, &nbits, 0x4e00, 16);
    (void) cap_buf_append_literal(want, "\xe4\xb8\x80");

    bits = 3;
    enlarge = 4;

    for (k = 1; k < n; k++) {
        u = 0x4e00 + (uint32_t) k;

        lz_put(b, &acc, &nbits, 1, bits);
        lz_put(b, &acc, &nbits, u, 16);

        /* the literal's entry and the new one */

        if (--enlarge == 0) {
            enlarge = 1u << bits;
            bits++;
        }

        if (--enlarge == 0) {
            enlarge = 1u << bits;
            bits++;
        }

        (void) cap_buf_append_char(want, 0xe0 | (u >> 12));
        (void) cap_buf_append_char(want, 0x80 | ((u >> 6) & 0x3f));
        (void) cap_buf_append_char(want, 0x80 | (u & 0x3f));
    }

    lz_put(b, &acc, &nbits, 3, bits);
    (void) cap_buf_append_literal(want, "\xe4\xb8\x80");

    if (--enlarge == 0) {
        bits++;
    }

    lz_put(b, &acc, &nbits, 2, bits);
    lz_end(b, &acc, &nbits);

    return bits;
}


/* "a", then n codes, each the entry being added: (n + 1)(n + 2) / 2 */

static void
lz_bomb(cap_buf_t *b, size_t n)
{
    size_t    k;
    uint32_t  acc, enlarge;
    unsigned  nbits, bits;

    acc = 0;
    nbits = 0;

    lz_put(b, &acc, &nbits, 0, 2);
    lz_put(b, &acc, &nbits, 'a', 8);

    bits = 3;
    enlarge = 4;

    for (k = 0; k < n; k++) {
        lz_put(b, &acc, &nbits, 4 + (uint32_t) k, bits);

        if (--enlarge == 0) {
            enlarge = 1u << bits;
            bits++;
        }
    }

    lz_put(b, &acc, &nbits, 2, bits);
    lz_end(b, &acc, &nbits);
}


static int
decode_base64(test_pool_t *tp, const char *s, cap_str_t *out,
    cap_error_t *err)
{
    return cap_base64_decode(&tp->pool, (cap_uchar_t *) s, strlen(s), out,
                             err);
}


static int
decode_lz64(test_pool_t *tp, const cap_uchar_t *s, size_t len, size_t max,
    cap_str_t *out, cap_error_t *err)
{
    return cap_lz64_decode(&tp->pool, s, len, max, out, err);
}


static int
decode_payload(test_pool_t *tp, cap_payload_t *in, cap_str_t *out,
    cap_error_t *err)
{
    int  rc;

    rc = cap_payload_decode(&tp->pool, in, out, err);

    if (rc == CAP_OK && out->len == 0) {
        printf("# an empty result without an error\n");
        return CAP_ERROR;
    }

    return rc;
}


static int
has_text(cap_error_t *err, const char *text)
{
    return strstr(err->text, text) != NULL;
}


static void
payload_init(cap_payload_t *in, const char *body)
{
    memset(in, 0, sizeof(cap_payload_t));

    if (body != NULL) {
        in->body = str(body);
    }

    in->max_size = DEFAULT_MAX;
}


static cap_str_t
str(const char *s)
{
    cap_str_t  r;

    r.data = (cap_uchar_t *) s;
    r.len = strlen(s);

    return r;
}
