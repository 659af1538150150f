
/*
 * Unit tests of the JSON tree: cap_json_parse(), cap_json_get(),
 * cap_json_set(), cap_json_new*() and the serialiser.
 */


#include "tap.h"
#include "pool.h"
#include "json/cap_json.h"


static cap_json_t *parse(const char *text, size_t len, cap_error_t *err);
static cap_json_t *parse_str(const char *text, cap_error_t *err);
static int write_json(cap_json_t *v, cap_str_t *out);
static int utf8_valid(const cap_uchar_t *p, size_t len);
static const char *esc(const char *s, size_t len);
static void round_trip(const char *in, const char *want);
static void rejects(const char *text, size_t len, const char *name);
static void test_types(void);
static void test_escapes(void);
static void test_surrogates(void);
static void test_numbers(void);
static void test_depth(void);
static void test_utf8(void);
static void test_invalid(void);
static void test_get(void);
static void test_set(void);
static void test_new(void);
static void test_write_string(void);
static void test_bounded(void);


/* every block is freed at the end of a case */
static test_pool_t  tp = TEST_POOL(tp, test_pool_free);


int
main(void)
{
    test_types();
    test_escapes();
    test_surrogates();
    test_numbers();
    test_depth();
    test_utf8();
    test_invalid();
    test_get();
    test_set();
    test_new();
    test_write_string();
    test_bounded();

    return tap_done();
}


/* the text is copied into a block of its exact size: no NUL after it */

static cap_json_t *
parse(const char *text, size_t len, cap_error_t *err)
{
    cap_uchar_t  *p;

    memset(err, 0, sizeof(cap_error_t));

    p = test_pool_alloc(&tp, len ? len : 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, text, len);

    return cap_json_parse(&tp.pool, p, len, err);
}


static cap_json_t *
parse_str(const char *text, cap_error_t *err)
{
    return parse(text, strlen(text), err);
}


static int
write_json(cap_json_t *v, cap_str_t *out)
{
    cap_buf_t  b;

    out->len = 0;
    out->data = NULL;

    if (cap_buf_init(&b, &tp.pool, 16, 0) != CAP_OK
        || cap_json_write(&b, v) != CAP_OK)
    {
        return CAP_ERROR;
    }

    out->data = b.data;
    out->len = b.len;

    return CAP_OK;
}


/* strict UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF */

static int
utf8_valid(const cap_uchar_t *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  c, min;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            c &= 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            c &= 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            c &= 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i - 1 < n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


static const char *
esc(const char *s, size_t len)
{
    size_t       i, n;
    static char  buf[4][256];
    static int   k;
    char        *out;

    out = buf[k++ & 3];

    for (i = 0, n = 0; i < len && n < sizeof(buf[0]) - 8; i++) {
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f) {
            n += snprintf(out + n, 8, "\\x%02x", (unsigned char) s[i]);

        } else {
            out[n++] = s[i];
        }
    }

    out[n] = '\0';

    return out;
}


/* in -> want, and want parses back to itself */

static void
round_trip(const char *in, const char *want)
{
    cap_str_t     out, again;
    cap_json_t   *v;
    cap_error_t   err;

    v = parse_str(in, &err);

    if (!ok(v != NULL, "parse %s", esc(in, strlen(in)))) {
        printf("#   %s\n", err.text);
        return;
    }

    if (!is_int(write_json(v, &out), CAP_OK, "write %s",
                esc(in, strlen(in))))
    {
        return;
    }

    is_str(out.data, out.len, want, "%s -> %s", esc(in, strlen(in)),
           esc(want, strlen(want)));

    v = parse((char *) out.data, out.len, &err);

    if (!ok(v != NULL, "the output of %s parses", esc(in, strlen(in)))) {
        return;
    }

    write_json(v, &again);

    is_mem(again.data, again.len, out.data, out.len,
           "the output of %s is stable", esc(in, strlen(in)));
}


static void
rejects(const char *text, size_t len, const char *name)
{
    cap_json_t   *v;
    cap_error_t   err;

    v = parse(text, len, &err);

    ok(v == NULL, "reject %s: %s", name, esc(text, len));
    is_int(err.code, CAP_E_PARSE, "%s: CAP_E_PARSE (%s)", name, err.text);
}


static void
test_types(void)
{
    cap_json_t   *root, *v;
    cap_error_t   err;

    static const char  *same[] = {
        "null", "true", "false", "0", "-12", "\"\"", "\"s\"", "[]", "{}",
        "[null,true,false,1,\"x\",[],{}]",
        ("{\"n\":null,\"f\":false,\"t\":true,\"i\":-12,\"d\":1.50e3,"
         "\"s\":\"x\",\"a\":[1,[],{}],\"o\":{\"k\":\"v\"},\"e\":\"\"}"),
        "[[[[]]],{\"\":{\"\":[]}}]",
    };

    size_t  i;

    for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        round_trip(same[i], same[i]);
    }

    round_trip(" \t\r\n{ \"a\" : [ 1 , 2 , { } ] , \"b\" : null } \n",
               "{\"a\":[1,2,{}],\"b\":null}");

    /* the tree itself */

    root = parse_str("{\"n\":null,\"f\":false,\"t\":true,\"i\":-12,"
                     "\"d\":1.50e3,\"s\":\"x\",\"a\":[1,[],{}],"
                     "\"o\":{\"k\":\"v\"}}", &err);

    if (ok(root != NULL, "parse an object of every type")) {
        is_int(root->type, CAP_JSON_OBJECT, "root is an object");
        is_int(root->count, 8, "8 members");

        v = cap_json_get_literal(root, "n");
        ok(v != NULL && v->type == CAP_JSON_NULL, "n is null");

        v = cap_json_get_literal(root, "f");
        ok(v != NULL && v->type == CAP_JSON_FALSE, "f is false");

        v = cap_json_get_literal(root, "t");
        ok(v != NULL && v->type == CAP_JSON_TRUE, "t is true");

        v = cap_json_get_literal(root, "i");
        if (ok(v != NULL && v->type == CAP_JSON_NUMBER, "i is a number")) {
            is_str(v->str.data, v->str.len, "-12", "i is -12");
        }

        v = cap_json_get_literal(root, "d");
        if (ok(v != NULL && v->type == CAP_JSON_NUMBER, "d is a number")) {
            is_str(v->str.data, v->str.len, "1.50e3", "d is 1.50e3");
        }

        v = cap_json_get_literal(root, "s");
        if (ok(v != NULL && v->type == CAP_JSON_STRING, "s is a string")) {
            is_str(v->str.data, v->str.len, "x", "s is x");
            is_str(v->key.data, v->key.len, "s", "its key is s");
        }

        v = cap_json_get_literal(root, "a");
        if (ok(v != NULL && v->type == CAP_JSON_ARRAY, "a is an array")) {
            is_int(v->count, 3, "a has 3 elements");
            ok(v->first != NULL && v->first->type == CAP_JSON_NUMBER
               && v->first->next != NULL
               && v->first->next->type == CAP_JSON_ARRAY
               && v->first->next->count == 0
               && v->last == v->first->next->next
               && v->last->type == CAP_JSON_OBJECT
               && v->last->count == 0 && v->last->next == NULL,
               "a is [number, [], {}]");
        }

        v = cap_json_get_literal(root, "o");
        if (ok(v != NULL && v->type == CAP_JSON_OBJECT, "o is an object")) {
            v = cap_json_get_literal(v, "k");
            ok(v != NULL && v->type == CAP_JSON_STRING
               && v->str.len == 1 && v->str.data[0] == 'v', "o.k is v");
        }
    }

    root = parse_str("\"top\"", &err);
    ok(root != NULL && root->type == CAP_JSON_STRING && root->str.len == 3
       && memcmp(root->str.data, "top", 3) == 0, "a top-level string");

    root = parse_str("42", &err);
    ok(root != NULL && root->type == CAP_JSON_NUMBER && root->str.len == 2
       && memcmp(root->str.data, "42", 2) == 0, "a top-level number");

    test_pool_reset(&tp);
}


static void
test_escapes(void)
{
    cap_str_t     out;
    cap_json_t   *v, *k;
    cap_error_t   err;

    static const char  in[] =
        "\"a\\\"b\\\\c\\nd\\u0000e\\u00e9f\\ud83d\\ude00g\\/h\\t\\r\\b\\f"
        "\\u20AC\\u001f\"";

    static const char  decoded[] =
        "a\"b\\c\nd\0e\xc3\xa9" "f\xf0\x9f\x98\x80" "g/h\t\r\b\f"
        "\xe2\x82\xac\x1f";

    static const char  encoded[] =
        "\"a\\\"b\\\\c\\nd\\u0000e\xc3\xa9" "f\xf0\x9f\x98\x80"
        "g/h\\t\\r\\b\\f\xe2\x82\xac\\u001f\"";

    v = parse_str(in, &err);

    if (ok(v != NULL && v->type == CAP_JSON_STRING, "parse escapes")) {
        is_mem(v->str.data, v->str.len, decoded, sizeof(decoded) - 1,
               "escapes decode to their bytes");

        if (is_int(write_json(v, &out), CAP_OK, "write escapes")) {
            is_mem(out.data, out.len, encoded, sizeof(encoded) - 1,
                   "escapes re-encode");
            ok(utf8_valid(out.data, out.len), "the output is UTF-8");
        }
    }

    round_trip(in, encoded);

    round_trip("\"\\u0041\\u00C9\\u00e9\"", "\"A\xc3\x89\xc3\xa9\"");
    round_trip("\"\\ud834\\udd1e\"", "\"\xf0\x9d\x84\x9e\"");
    round_trip("\"\\uDBFF\\uDFFF\"", "\"\xf4\x8f\xbf\xbf\"");
    round_trip("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
               "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    round_trip("\"\x7f\"", "\"\\u007f\"");

    /* keys are unescaped too */

    v = parse_str("{\"k\\u00e9y\":1,\"a\\\"b\":2,\"n\\u0000l\":3}", &err);

    if (ok(v != NULL, "parse escaped keys")) {
        k = cap_json_get(v, "k\xc3\xa9y", 4);
        ok(k != NULL && k->str.len == 1 && k->str.data[0] == '1',
           "get the unescaped key k\\u00e9y");

        k = cap_json_get(v, "a\"b", 3);
        ok(k != NULL && k->str.len == 1 && k->str.data[0] == '2',
           "get the unescaped key a\\\"b");

        k = cap_json_get(v, "n\0l", 3);
        ok(k != NULL && k->str.len == 1 && k->str.data[0] == '3',
           "get the key with a NUL");

        if (is_int(write_json(v, &out), CAP_OK, "write escaped keys")) {
            is_str(out.data, out.len,
                   "{\"k\xc3\xa9y\":1,\"a\\\"b\":2,\"n\\u0000l\":3}",
                   "escaped keys re-encode");
        }
    }

    test_pool_reset(&tp);
}


/*
 * Surrogate escapes that are not pairs: rejected, or decoded to valid
 * UTF-8 (U+FFFD), never to the bytes of a surrogate or to a character
 * made of a surrogate and the next escape.
 */

static void
test_surrogates(void)
{
    size_t        i;
    cap_str_t     out;
    cap_json_t   *v;
    cap_error_t   err;

    static const char  *lone[] = {
        "\"\\udc00\"",
        "\"\\ud800\"",
        "\"\\ud800x\"",
        "\"x\\udfff\"",
        "\"\\ude00\\ud83d\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"",
    };

    for (i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
        v = parse_str(lone[i], &err);

        if (v == NULL) {
            is_int(err.code, CAP_E_PARSE, "%s rejected", lone[i]);
            continue;
        }

        ok(utf8_valid(v->str.data, v->str.len),
           "%s decodes to valid UTF-8 (got %s)", lone[i],
           esc((char *) v->str.data, v->str.len));

        if (write_json(v, &out) == CAP_OK) {
            ok(utf8_valid(out.data, out.len),
               "%s re-encodes as valid JSON (got %s)", lone[i],
               esc((char *) out.data, out.len));
        }
    }

    v = parse_str("\"\\ud800\\u0041\"", &err);
    if (v != NULL) {
        ok(v->str.len > 0 && v->str.data[v->str.len - 1] == 'A',
           "\\ud800\\u0041 keeps its A (got %s)",
           esc((char *) v->str.data, v->str.len));
    }

    test_pool_reset(&tp);
}


static void
test_numbers(void)
{
    size_t        i;
    cap_json_t   *v;
    cap_error_t   err;

    static const char  *numbers[] = {
        "1.50e3", "-0", "0", "-0.0", "1E+2", "1e-07", "0.000",
        "12345678901234567890123456789", "3.141592653589793238462643",
        "-9223372036854775809", "1.7976931348623157e309", "2E0",
    };

    static const char  *bad[] = {
        "01", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "NaN",
        "Infinity", "-", "1.5.2",
    };

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        round_trip(numbers[i], numbers[i]);

        v = parse_str(numbers[i], &err);
        ok(v != NULL && v->type == CAP_JSON_NUMBER, "%s is a number",
           numbers[i]);
    }

    round_trip("[1.50e3,-0,{\"n\":2.000}]", "[1.50e3,-0,{\"n\":2.000}]");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rejects(bad[i], strlen(bad[i]), "a bad number");
    }

    test_pool_reset(&tp);
}


static void
test_depth(void)
{
    size_t        n, i, p;
    char         *text;
    cap_str_t     out;
    cap_json_t   *v;
    cap_error_t   err;

    text = malloc(8 * (CAP_JSON_MAX_DEPTH + 2) + 16);
    if (text == NULL) {
        ok(0, "malloc");
        return;
    }

    /* arrays */

    for (n = CAP_JSON_MAX_DEPTH - 1; n <= CAP_JSON_MAX_DEPTH + 1; n++) {
        for (i = 0; i < n; i++) {
            text[i] = '[';
            text[2 * n - 1 - i] = ']';
        }

        v = parse(text, 2 * n, &err);

        if (n <= CAP_JSON_MAX_DEPTH) {
            if (ok(v != NULL, "%zu nested arrays parse", n)) {
                ok(write_json(v, &out) == CAP_OK
                   && out.len == 2 * n && memcmp(out.data, text, 2 * n) == 0,
                   "%zu nested arrays are written back", n);
            }

        } else {
            ok(v == NULL, "%zu nested arrays are rejected", n);
            is_int(err.code, CAP_E_PARSE, "%zu nested arrays: CAP_E_PARSE",
                   n);
        }
    }

    /* objects, {"a":{"a":...1...}} */

    for (n = CAP_JSON_MAX_DEPTH; n <= CAP_JSON_MAX_DEPTH + 1; n++) {
        for (i = 0; i < n; i++) {
            memcpy(text + 5 * i, "{\"a\":", 5);
            text[5 * n + 1 + i] = '}';
        }

        text[5 * n] = '1';

        v = parse(text, 6 * n + 1, &err);

        if (n <= CAP_JSON_MAX_DEPTH) {
            if (ok(v != NULL, "%zu nested objects parse", n)) {
                ok(write_json(v, &out) == CAP_OK
                   && out.len == 6 * n + 1
                   && memcmp(out.data, text, 6 * n + 1) == 0,
                   "%zu nested objects are written back", n);
            }

        } else {
            ok(v == NULL, "%zu nested objects are rejected", n);
            is_int(err.code, CAP_E_PARSE, "%zu nested objects: CAP_E_PARSE",
                   n);
        }
    }

    /* mixed: [{"a":[{"a":[...]}]}] */

    n = CAP_JSON_MAX_DEPTH + 1;

    for (i = 0, p = 0; i < n; i++) {
        if (i % 2 == 0) {
            text[p++] = '[';

        } else {
            memcpy(text + p, "{\"a\":", 5);
            p += 5;
        }
    }

    for (i = n; i > 0; i--) {
        text[p++] = ((i - 1) % 2 == 0) ? ']' : '}';
    }

    v = parse(text, p, &err);
    ok(v == NULL && err.code == CAP_E_PARSE,
       "%zu nested arrays and objects: CAP_E_PARSE", n);

    /* one level less parses */

    v = parse(text + 1, p - 2, &err);
    ok(v != NULL, "%zu nested objects and arrays parse", n - 1);

    free(text);

    test_pool_reset(&tp);
}


static void
test_utf8(void)
{
    size_t  i;

    static const struct {
        const char  *text;
        const char  *name;
    } bad[] = {
        { "\"\x80\"",                   "a lone continuation byte" },
        { "\"a\xbf" "b\"",              "a continuation byte inside" },
        { "\"\xe9\"",                   "Latin-1 e acute" },
        { "\"\xc3\"",                   "a truncated 2-byte sequence" },
        { "\"\xe2\x82\"",               "a truncated 3-byte sequence" },
        { "\"\xf0\x9f\x98\"",           "a truncated 4-byte sequence" },
        { "\"\xc3" "a\"",               "a lead byte before ASCII" },
        { "\"\xff\"",                   "0xff" },
        { "\"\xfe\"",                   "0xfe" },
        { "\"\xc0\x80\"",               "an overlong NUL" },
        { "\"\xc1\xbf\"",               "an overlong 2-byte sequence" },
        { "\"\xe0\x80\xaf\"",           "an overlong 3-byte sequence" },
        { "\"\xf0\x80\x80\xaf\"",       "an overlong 4-byte sequence" },
        { "\"\xed\xa0\x80\"",           "an encoded high surrogate" },
        { "\"\xed\xbf\xbf\"",           "an encoded low surrogate" },
        { "\"\xf4\x90\x80\x80\"",       "beyond U+10FFFF" },
        { "\"\xf5\x80\x80\x80\"",       "a 0xf5 lead byte" },
        { "\"\xf8\x88\x80\x80\x80\"",   "a 5-byte sequence" },
        { "{\"\x80\":1}",               "in a key" },
        { "{\"k\xc0\xaf\":1}",          "an overlong slash in a key" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rejects(bad[i].text, strlen(bad[i].text), bad[i].name);
    }

    round_trip("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
               "\xf4\x8f\xbf\xbf\"",
               "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
               "\xf4\x8f\xbf\xbf\"");

    test_pool_reset(&tp);
}


static void
test_invalid(void)
{
    size_t  i;

    static const struct {
        const char  *text;
        size_t       len;
        const char  *name;
    } bad[] = {
        { "{} x",          4, "trailing garbage" },
        { "[1]]",          4, "a trailing bracket" },
        { "1 2",           3, "two numbers" },
        { "{}{}",          4, "two objects" },
        { "\"a\"\"b\"",    6, "two strings" },
        { "[1]\0",         4, "a trailing NUL" },
        { "{\"a\":1},",    8, "a trailing comma" },
        { "null x",        6, "garbage after null" },
        { "",              0, "nothing" },
        { " \n",           2, "only whitespace" },
        { "[1,]",          4, "a comma before ]" },
        { "{\"a\":1,}",    8, "a comma before }" },
        { "{'a':1}",       7, "single quotes" },
        { "{a:1}",         5, "a bare key" },
        { "{\"a\"}",       5, "a key without value" },
        { "{\"a\" 1}",     7, "a missing colon" },
        { "{1:1}",         5, "a number key" },
        { "[",             1, "an open array" },
        { "{\"a\":",       5, "an open object" },
        { "\"abc",         4, "an open string" },
        { "\"a\x01\"",     4, "a raw control character" },
        { "\"a\nb\"",      5, "a raw newline" },
        { "\"\\x41\"",     6, "a \\x escape" },
        { "\"\\u00g1\"",   8, "a bad \\u escape" },
        { "\"\\u00\"",     6, "a short \\u escape" },
        { "nul",           3, "nul" },
        { "True",          4, "True" },
        { "/* c */ 1",     9, "a comment" },
        { "[1] // c",      8, "a line comment" },
        { "\xef\xbb\xbf{}", 5, "a byte order mark" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rejects(bad[i].text, bad[i].len, bad[i].name);
    }

    round_trip("[1] \t\r\n", "[1]");

    test_pool_reset(&tp);
}


static void
test_get(void)
{
    cap_str_t     out;
    cap_json_t   *root, *v;
    cap_error_t   err;

    root = parse_str("{\"a\":1,\"b\":2,\"a\":3,\"ab\":4,\"\":5}", &err);

    if (!ok(root != NULL, "parse duplicate keys")) {
        return;
    }

    is_int(root->count, 5, "duplicates are kept as members");

    v = cap_json_get_literal(root, "a");
    if (ok(v != NULL, "get a")) {
        is_str(v->str.data, v->str.len, "3", "the last a wins");
    }

    v = cap_json_get_literal(root, "b");
    ok(v != NULL && v->str.len == 1 && v->str.data[0] == '2', "get b");

    v = cap_json_get_literal(root, "");
    ok(v != NULL && v->str.len == 1 && v->str.data[0] == '5',
       "get the empty key");

    ok(cap_json_get_literal(root, "c") == NULL, "get a missing key");
    ok(cap_json_get(root, "abc", 2) != NULL
       && cap_json_get(root, "abc", 2)->str.data[0] == '4',
       "the length bounds the key");
    ok(cap_json_get(NULL, "a", 1) == NULL, "get on NULL");
    ok(cap_json_get(root->first, "a", 1) == NULL, "get on a number");

    root = parse_str("[{\"a\":1}]", &err);
    ok(root != NULL && cap_json_get_literal(root, "a") == NULL,
       "get on an array");

    root = parse_str("{\"a\":1,\"b\":2,\"a\":3}", &err);
    if (root != NULL) {
        write_json(root, &out);
        is_str(out.data, out.len, "{\"a\":1,\"b\":2,\"a\":3}",
               "duplicate keys are written back as they came");
    }

    test_pool_reset(&tp);
}


static void
test_set(void)
{
    cap_str_t     out;
    cap_json_t   *root, *v, *s, *o;
    cap_error_t   err;

    root = parse_str("{\"a\":1,\"b\":{\"c\":2},\"d\":3}", &err);

    if (!ok(root != NULL, "parse an object to set")) {
        return;
    }

    s = cap_json_new_string(&tp.pool, (cap_uchar_t *) "x", 1);

    v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "b", 1, s);
    ok(v != NULL && v == cap_json_get_literal(root, "b"),
       "set b returns the member");
    is_int(root->count, 3, "replacing keeps the count");
    write_json(root, &out);
    is_str(out.data, out.len, "{\"a\":1,\"b\":\"x\",\"d\":3}",
           "set replaces in place");

    v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "e", 1, s);
    ok(v != NULL && root->last == v && v->next == NULL,
       "a new member is the last");
    is_int(root->count, 4, "appending counts");
    write_json(root, &out);
    is_str(out.data, out.len, "{\"a\":1,\"b\":\"x\",\"d\":3,\"e\":\"x\"}",
           "set appends a new key");

    v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "d", 1, s);
    v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "f", 1, s);
    write_json(root, &out);
    is_str(out.data, out.len,
           "{\"a\":1,\"b\":\"x\",\"d\":\"x\",\"e\":\"x\",\"f\":\"x\"}",
           "replacing the last but one keeps what follows");

    ok(s->next == NULL && s->key.len == 0, "the value itself is unchanged");

    /* a container value: the node is copied, the children shared */

    o = parse_str("{\"k\":[1,2]}", &err);
    if (o != NULL) {
        v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "a", 1, o);
        write_json(root, &out);
        is_str(out.data, out.len,
               "{\"a\":{\"k\":[1,2]},\"b\":\"x\",\"d\":\"x\",\"e\":\"x\","
               "\"f\":\"x\"}", "set an object value");
        is_str(v->key.data, v->key.len, "a", "it keeps its key");
    }

    /* duplicates: the last one (the one get sees) is replaced */

    root = parse_str("{\"a\":1,\"z\":0,\"a\":2}", &err);
    if (root != NULL) {
        cap_json_set(&tp.pool, root, (cap_uchar_t *) "a", 1, s);
        write_json(root, &out);
        is_str(out.data, out.len, "{\"a\":1,\"z\":0,\"a\":\"x\"}",
               "set replaces the last of duplicates");
    }

    /* an empty object */

    root = cap_json_new(&tp.pool, CAP_JSON_OBJECT);
    if (ok(root != NULL && root->count == 0, "a new object")) {
        write_json(root, &out);
        is_str(out.data, out.len, "{}", "it is {}");

        v = cap_json_set(&tp.pool, root, (cap_uchar_t *) "k\"", 2, s);
        ok(v != NULL && root->first == v && root->last == v,
           "set on an empty object");
        write_json(root, &out);
        is_str(out.data, out.len, "{\"k\\\"\":\"x\"}",
               "the new key is escaped when written");
    }

    test_pool_reset(&tp);
}


static void
test_new(void)
{
    cap_str_t    out;
    cap_json_t  *v, *a;

    static const struct {
        cap_json_type_t   type;
        const char       *text;
    } types[] = {
        { CAP_JSON_NULL,   "null" },
        { CAP_JSON_FALSE,  "false" },
        { CAP_JSON_TRUE,   "true" },
        { CAP_JSON_ARRAY,  "[]" },
        { CAP_JSON_OBJECT, "{}" },
    };

    size_t  i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        v = cap_json_new(&tp.pool, types[i].type);

        if (ok(v != NULL && v->type == types[i].type
               && v->first == NULL && v->next == NULL && v->count == 0,
               "new %s", types[i].text))
        {
            write_json(v, &out);
            is_str(out.data, out.len, types[i].text, "it is written as %s",
                   types[i].text);
        }
    }

    v = cap_json_new_string(&tp.pool, (cap_uchar_t *) "a\0b", 3);
    if (ok(v != NULL && v->type == CAP_JSON_STRING && v->str.len == 3,
           "new string"))
    {
        write_json(v, &out);
        is_str(out.data, out.len, "\"a\\u0000b\"", "it is written escaped");
    }

    /* an object holding an array holding them */

    a = cap_json_new(&tp.pool, CAP_JSON_OBJECT);
    v = cap_json_new(&tp.pool, CAP_JSON_ARRAY);

    if (a != NULL && v != NULL) {
        cap_json_set(&tp.pool, a, (cap_uchar_t *) "l", 1, v);
        write_json(a, &out);
        is_str(out.data, out.len, "{\"l\":[]}", "new values nest");
    }

    test_pool_reset(&tp);
}


static void
test_write_string(void)
{
    size_t        i;
    cap_buf_t     b;
    cap_json_t   *v;
    cap_uchar_t   all[128];
    cap_error_t   err;

    static const char  want[] =
        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
        "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
        "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
        " !\\\"#$%&'()*+,-./0123456789:;<=>?"
        "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_"
        "`abcdefghijklmnopqrstuvwxyz{|}~\\u007f\"";

    for (i = 0; i < 128; i++) {
        all[i] = (cap_uchar_t) i;
    }

    if (cap_buf_init(&b, &tp.pool, 0, 0) != CAP_OK) {
        ok(0, "buffer");
        return;
    }

    is_int(cap_json_write_string(&b, all, 128), CAP_OK,
           "write every ASCII byte");
    is_str(b.data, b.len, want, "ASCII is escaped as JSON requires");

    v = parse((char *) b.data, b.len, &err);
    ok(v != NULL && v->type == CAP_JSON_STRING && v->str.len == 128
       && memcmp(v->str.data, all, 128) == 0,
       "and parses back to the same bytes");

    b.len = 0;
    cap_json_write_string(&b, (cap_uchar_t *) "", 0);
    is_str(b.data, b.len, "\"\"", "the empty string");

    b.len = 0;
    cap_json_write_string(&b, (cap_uchar_t *) "\xc3\xa9/", 3);
    is_str(b.data, b.len, "\"\xc3\xa9/\"",
           "UTF-8 and / are written as they are");

    test_pool_reset(&tp);
}


static void
test_bounded(void)
{
    cap_buf_t     b;
    cap_json_t   *v;
    cap_error_t   err;

    v = parse_str("{\"a\":\"0123456789\"}", &err);

    if (!ok(v != NULL, "parse for a bounded buffer")) {
        return;
    }

    cap_buf_init(&b, &tp.pool, 4, 18);
    is_int(cap_json_write(&b, v), CAP_OK, "18 bytes fit in 18");
    is_str(b.data, b.len, "{\"a\":\"0123456789\"}", "and are written");

    cap_buf_init(&b, &tp.pool, 4, 17);
    is_int(cap_json_write(&b, v), CAP_ERROR, "18 bytes do not fit in 17");
    ok(b.overflow, "the buffer overflowed");
    ok(b.len <= 17, "and holds at most 17 bytes");

    test_pool_reset(&tp);
}
