
/*
 * Unit tests of cap_time_parse() and cap_time_format().
 */


#define _GNU_SOURCE
#include <time.h>

#include "tap.h"
#include "util.h"
#include "core/cap_time.h"


#define MS_DAY  86400000LL


typedef struct {
    const char  *text;
    cap_msec_t   ms;
} vector_t;


static int parse(const char *s, cap_msec_t *ms);
static int parse_len(const char *s, size_t len, cap_msec_t *ms);
static size_t format(cap_msec_t ms, char *out);
static uint64_t rnd(void);
static void test_valid(void);
static void test_invalid(void);
static void test_format(void);
static void test_extremes(void);
static void test_round_trip(void);
static void test_gmtime(void);
static void test_every_day(void);


/*
 * Expected values from `date -u -d TEXT +%s` and `+%N` (GNU date); note
 * that `+%s%3N` is wrong before 1970: -1 ms prints "-1999".
 */

static const vector_t  valid[] = {
    { "2024-01-02T03:04:05Z",             1704164645000LL },
    { "2024-01-02T03:04:05.678Z",         1704164645678LL },
    { "2000-02-29T23:59:59.999Z",         951868799999LL },
    { "1969-12-31T23:59:59.999Z",         -1LL },
    { "1969-07-20T20:17:40.5Z",           -14182939500LL },
    { "1900-01-01T00:00:00Z",             -2208988800000LL },
    { "0001-01-01T00:00:00Z",             -62135596800000LL },
    { "0000-01-01T00:00:00Z",             -62167219200000LL },
    { "0000-03-01T00:00:00Z",             -62162035200000LL },
    { "1583-10-15T00:00:00Z",             -12187756800000LL },
    { "1600-03-01T00:00:00Z",             -11670912000000LL },
    { "1901-12-13T20:45:52Z",             -2147483648000LL },
    { "9999-12-31T23:59:59.999Z",         253402300799999LL },
    { "2038-01-19T03:14:08Z",             2147483648000LL },
    { "2106-02-07T06:28:16Z",             4294967296000LL },
    { "2100-03-01T00:00:00Z",             4107542400000LL },
    { "1970-01-01T00:00:00Z",             0LL },
    { "1970-01-01T00:00:00.000Z",         0LL },

    /* offsets */
    { "2024-02-29T12:00:00+01:00",        1709204400000LL },
    { "2024-02-29T12:00:00+0100",         1709204400000LL },
    { "2024-02-29T12:00:00+01",           1709204400000LL },
    { "2024-01-02T03:04:05-05:30",        1704184445000LL },
    { "2024-01-02T03:04:05-0530",         1704184445000LL },
    { "2024-01-02 03:04:05.123456+0530",  1704144845123LL },
    { "2024-12-31T23:59:59.999-23:59",    1735775939999LL },
    { "2024-01-02T03:04:05+00:00",        1704164645000LL },
    { "2024-01-02T03:04:05-00:00",        1704164645000LL },
    { "2024-01-02T03:04:05z",             1704164645000LL },
    { "1970-01-01T00:00:00+23:59",        -86340000LL },
    { "0000-01-01T00:00:00+01:00",        -62167222800000LL },

    /* separators, no offset, a date alone */
    { "2024-01-02t03:04:05Z",             1704164645000LL },
    { "2024-01-02 03:04:05Z",             1704164645000LL },
    { "2024-01-02T03:04:05",              1704164645000LL },
    { "2024-01-02T03:04:05.678",          1704164645678LL },
    { "2024-01-02",                       1704153600000LL },
    { "1969-12-31",                       -86400000LL },

    /* fractions of 1 to 9 digits, truncated */
    { "2024-01-02T03:04:05.1Z",           1704164645100LL },
    { "2024-01-02T03:04:05.12Z",          1704164645120LL },
    { "2024-01-02T03:04:05.123Z",         1704164645123LL },
    { "2024-01-02T03:04:05.1239Z",        1704164645123LL },
    { "2024-01-02T03:04:05.123999Z",      1704164645123LL },
    { "2024-01-02T03:04:05.999999999Z",   1704164645999LL },
    { "2024-01-02T03:04:05.000000001Z",   1704164645000LL },
    { "1969-12-31T23:59:59.9999+00:00",   -1LL },

    /* leap years and month ends */
    { "2000-02-29",                       951782400000LL },
    { "2024-02-29",                       1709164800000LL },
    { "2400-02-29",                       13574563200000LL },
    { "2023-04-30",                       1682812800000LL },
    { "2023-12-31",                       1703980800000LL },

    /* a leap second stays at :59 */
    { "2016-12-31T23:59:60Z",             1483228799000LL },
    { "2016-12-31T23:59:60.5Z",           1483228799500LL },

    /* ranges */
    { "2024-01-02T23:59:59Z",             1704239999000LL },
    { "2024-01-02T00:00:00Z",             1704153600000LL },
};


static const char  *invalid[] = {
    "",
    " ",
    "2024",
    "2024-01",
    "2024-1-02",
    "2024-01-2",
    "24-01-02",
    "20240102",
    "2024/01/02",
    "2024-01-02T",
    "2024-01-02 ",
    "2024-01-02Z",
    "2024-01-02x03:04:05Z",
    "2024-01-02T03:04Z",
    "2024-01-02T03:04",
    "2024-01-02T3:04:05Z",
    "2024-01-02T03:4:05Z",
    "2024-01-02T03:04:5Z",
    "2024-01-02T03-04-05Z",
    "2024-01-02T030405Z",
    "2024-01-02T03:04:05.Z",
    "2024-01-02T03:04:05.",
    "2024-01-02T03:04:05.1234567890Z",
    "2024-01-02T03:04:05,123Z",
    "2024-01-02T03:04:05.12aZ",
    "2024-01-02T03:04:05ZZ",
    "2024-01-02T03:04:05Z ",
    "2024-01-02T03:04:05 Z",
    "2024-01-02T03:04:05 ",
    "2024-01-02T03:04:05x",
    "2024-01-02T03:04:05UTC",
    "2024-01-02T03:04:05+",
    "2024-01-02T03:04:05+1",
    "2024-01-02T03:04:05+1:00",
    "2024-01-02T03:04:05+01:",
    "2024-01-02T03:04:05+01:0",
    "2024-01-02T03:04:05+010",
    "2024-01-02T03:04:05+01:000",
    "2024-01-02T03:04:05+01000",
    "2024-01-02T03:04:05+01:00Z",
    "2024-01-02T03:04:05+24:00",
    "2024-01-02T03:04:05+99",
    "2024-01-02T03:04:05+01:60",
    "2024-01-02T03:04:05+01;00",
    "2024-01-02T03:04:05Z+01:00",
    "2024-00-02",
    "2024-13-02",
    "2024-01-00",
    "2024-01-32",
    "2023-02-29",
    "1900-02-29",
    "2100-02-29",
    "2024-02-30",
    "2024-04-31",
    "2024-06-31",
    "2024-09-31",
    "2024-11-31",
    "2024-01-02T24:00:00Z",
    "2024-01-02T23:60:00Z",
    "2024-01-02T23:59:61Z",
    "2024-01-02T-1:00:00Z",
    "+2024-01-02T03:04:05Z",
    "-2024-01-02T03:04:05Z",
    "12024-01-02T03:04:05Z",
    "+012024-01-02T03:04:05.000Z",
    " 2024-01-02T03:04:05Z",
    "\357\274\222024-01-02",
    "1704164645000",
    "now",
};


typedef struct {
    cap_msec_t   ms;
    const char  *text;
} format_t;


static const format_t  formats[] = {
    { 0LL,                "1970-01-01T00:00:00.000Z" },
    { 1LL,                "1970-01-01T00:00:00.001Z" },
    { -1LL,               "1969-12-31T23:59:59.999Z" },
    { -999LL,             "1969-12-31T23:59:59.001Z" },
    { -1000LL,            "1969-12-31T23:59:59.000Z" },
    { -1001LL,            "1969-12-31T23:59:58.999Z" },
    { -86400000LL,        "1969-12-31T00:00:00.000Z" },
    { -86400001LL,        "1969-12-30T23:59:59.999Z" },
    { -14182939500LL,     "1969-07-20T20:17:40.500Z" },
    { -2208988800000LL,   "1900-01-01T00:00:00.000Z" },
    { -62135596800000LL,  "0001-01-01T00:00:00.000Z" },
    { -62167219200000LL,  "0000-01-01T00:00:00.000Z" },
    { -62162035200000LL,  "0000-03-01T00:00:00.000Z" },
    { 951868799999LL,     "2000-02-29T23:59:59.999Z" },
    { 1704164645678LL,    "2024-01-02T03:04:05.678Z" },
    { 1709164800000LL,    "2024-02-29T00:00:00.000Z" },
    { 2147483648000LL,    "2038-01-19T03:14:08.000Z" },
    { 4294967296000LL,    "2106-02-07T06:28:16.000Z" },
    { 253402300799999LL,  "9999-12-31T23:59:59.999Z" },

    /* beyond 0000-9999: ECMAScript's extended years */
    { 253402300800000LL,  "+010000-01-01T00:00:00.000Z" },
    { -62167219200001LL,  "-000001-12-31T23:59:59.999Z" },
    { 8640000000000000LL, "+275760-09-13T00:00:00.000Z" },
    { -8640000000000000LL, "-271821-04-20T00:00:00.000Z" },
    { 8640000000000001LL, "+275760-09-13T00:00:00.000Z" },
    { INT64_MAX,          "+275760-09-13T00:00:00.000Z" },
    { INT64_MIN,          "-271821-04-20T00:00:00.000Z" },
};


static uint64_t  rnd_state = 0x243f6a8885a308d3ULL;


int
main(void)
{
    test_valid();
    test_invalid();
    test_format();
    test_extremes();
    test_round_trip();
    test_gmtime();
    test_every_day();

    return tap_done();
}


static void
test_valid(void)
{
    size_t      i;
    cap_msec_t  ms;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ms = 42;

        if (!is_int(parse(valid[i].text, &ms), CAP_OK, "parse \"%s\"",
                    valid[i].text))
        {
            continue;
        }

        is_int(ms, valid[i].ms, "\"%s\" is %lld", valid[i].text,
               (long long) valid[i].ms);
    }

    /* the length bounds the text: no NUL needed, the rest ignored */

    ok(parse_len("2024-01-02T03:04:05Zjunk", 20, &ms) == CAP_OK
       && ms == 1704164645000LL, "the length bounds the text");

    ok(parse_len("2024-01-02T03:04:05.678Z", 10, &ms) == CAP_OK
       && ms == 1704153600000LL, "a prefix of 10 bytes is a date");

    ok(parse_len("2024-01-02T03:04:05.678Z", 19, &ms) == CAP_OK
       && ms == 1704164645000LL, "a prefix of 19 bytes has no fraction");
}


static void
test_invalid(void)
{
    size_t      i, len;
    cap_msec_t  ms;

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ms = 42;
        is_int(parse(invalid[i], &ms), CAP_ERROR, "reject \"%s\"",
               esc(invalid[i]));
    }

    /* an embedded NUL */

    is_int(parse_len("2024-01-02T03:04:05\0", 20, &ms), CAP_ERROR,
           "reject an embedded NUL");

    is_int(parse_len("2024-01-02\0", 11, &ms), CAP_ERROR,
           "reject a date followed by NUL");

    /* every truncation of a full timestamp that is not a valid prefix */

    for (len = 0; len < sizeof("2024-01-02T03:04:05.678+01:00") - 1; len++) {
        if (len == 10 || len == 19 || (len >= 21 && len <= 23)
            || len == 26)
        {
            continue;
        }

        is_int(parse_len("2024-01-02T03:04:05.678+01:00", len, &ms),
               CAP_ERROR, "reject the first %zu bytes", len);
    }
}


static void
test_format(void)
{
    size_t  i, n;
    char    buf[64];

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        n = format(formats[i].ms, buf);
        is_str(buf, n, formats[i].text, "format %lld",
               (long long) formats[i].ms);
    }

    is_int(format(1704164645678LL, buf), 24, "the length is 24");
    is_int(CAP_TIME_LEN, 27, "CAP_TIME_LEN is 27");
}


/* every formatted text goes back to the same value */

static void
test_extremes(void)
{
    size_t      i, n, bad;
    char        buf[64];
    cap_msec_t  ms;

    bad = 0;

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        n = format(formats[i].ms, buf);

        if (n != 24) {
            continue;
        }

        if (parse_len(buf, n, &ms) != CAP_OK || ms != formats[i].ms) {
            bad++;
            printf("# %lld -> %.*s -> %lld\n", (long long) formats[i].ms,
                   (int) n, buf, (long long) ms);
        }
    }

    is_int(bad, 0, "the 4-digit years of the format vectors round-trip");
}


static void
test_round_trip(void)
{
    int         i, bad;
    char        buf[64];
    size_t      n;
    cap_msec_t  ms, got, lo, hi;

    /* 1970-01-01 to 2100-01-01 */

    lo = 0;
    hi = 4102444800000LL;
    bad = 0;

    for (i = 0; i < 200000; i++) {
        ms = lo + (cap_msec_t) (rnd() % (uint64_t) (hi - lo));

        n = format(ms, buf);

        if (n != 24 || parse_len(buf, n, &got) != CAP_OK || got != ms) {
            if (bad++ < 5) {
                printf("# %lld -> %.*s -> %lld\n", (long long) ms, (int) n,
                       buf, (long long) got);
            }
        }
    }

    is_int(bad, 0, "200000 random times of 1970-2100 round-trip");

    /* years 0000-9999 */

    lo = -62167219200000LL;
    hi = 253402300800000LL;
    bad = 0;

    for (i = 0; i < 200000; i++) {
        ms = lo + (cap_msec_t) (rnd() % (uint64_t) (hi - lo));

        n = format(ms, buf);

        if (n != 24 || parse_len(buf, n, &got) != CAP_OK || got != ms) {
            if (bad++ < 5) {
                printf("# %lld -> %.*s -> %lld\n", (long long) ms, (int) n,
                       buf, (long long) got);
            }
        }
    }

    is_int(bad, 0, "200000 random times of 0000-9999 round-trip");
}


/* libc as the oracle (the tests may use it, the code may not) */

static void
test_gmtime(void)
{
    int         i, bad;
    char        buf[64], want[64];
    size_t      n;
    time_t      t;
    struct tm   tm;
    cap_msec_t  ms, lo, hi, got;

    lo = -62167219200000LL;
    hi = 253402300800000LL;
    bad = 0;

    for (i = 0; i < 200000; i++) {
        ms = lo + (cap_msec_t) (rnd() % (uint64_t) (hi - lo));

        /* floor */
        t = (time_t) (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));

        if (gmtime_r(&t, &tm) == NULL) {
            bad++;
            continue;
        }

        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int) (ms - (cap_msec_t) t * 1000));

        n = format(ms, buf);

        if (n != strlen(want) || memcmp(buf, want, n) != 0) {
            if (bad++ < 5) {
                printf("# %lld: %.*s, gmtime: %s\n", (long long) ms, (int) n,
                       buf, want);
            }
        }

        /* timegm() the other way */

        if (parse_len(want, 19, &got) != CAP_OK
            || got != (cap_msec_t) timegm(&tm) * 1000)
        {
            if (bad++ < 5) {
                printf("# %s: %lld, timegm: %lld\n", want, (long long) got,
                       (long long) timegm(&tm) * 1000);
            }
        }
    }

    is_int(bad, 0, "200000 random times of 0000-9999 agree with gmtime_r");
}


/*
 * every date of 0000-01-01 to 9999-12-31 follows the previous one
 * (stack buffers here: a heap copy per call is too slow under ASan)
 */

static void
test_every_day(void)
{
    int          y, m, d, mdays, bad, ndays;
    size_t       n;
    cap_msec_t   ms, prev;
    cap_uchar_t  text[48], buf[CAP_TIME_LEN];

    static const int  month_days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    bad = 0;
    ndays = 0;
    prev = -62167219200000LL - MS_DAY;

    for (y = 0; y <= 9999; y++) {
        for (m = 1; m <= 12; m++) {
            mdays = month_days[m - 1];

            if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
                mdays = 29;
            }

            for (d = 1; d <= mdays + 1; d++) {
                snprintf((char *) text, sizeof(text), "%04d-%02d-%02d",
                         y, m, d);

                if (d > mdays) {
                    /* the day after the last one of the month */
                    if (d <= 31 && cap_time_parse(text, 10, &ms) != CAP_ERROR) {
                        if (bad++ < 5) {
                            printf("# %s accepted\n", text);
                        }
                    }

                    continue;
                }

                ndays++;

                if (cap_time_parse(text, 10, &ms) != CAP_OK
                    || ms != prev + MS_DAY)
                {
                    if (bad++ < 5) {
                        printf("# %s: %lld after %lld\n", text,
                               (long long) ms, (long long) prev);
                    }
                }

                n = cap_time_format(ms, buf);

                if (n != 24 || memcmp(buf, text, 10) != 0
                    || memcmp(buf + 10, "T00:00:00.000Z", 14) != 0)
                {
                    if (bad++ < 5) {
                        printf("# %s formats as %.*s\n", text, (int) n, buf);
                    }
                }

                prev = ms;
            }
        }
    }

    is_int(bad, 0, "every day of 0000-9999 parses, follows and formats");
    is_int(ndays, 3652425, "10000 years have 3652425 days");
    is_int(prev, 253402214400000LL, "the last day is 9999-12-31");
}


/* parses a copy of exactly the length of the text, for ASan */

static int
parse(const char *s, cap_msec_t *ms)
{
    return parse_len(s, strlen(s), ms);
}


static int
parse_len(const char *s, size_t len, cap_msec_t *ms)
{
    int           rc;
    cap_uchar_t  *p;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }

    memcpy(p, s, len);
    rc = cap_time_parse(p, len, ms);
    free(p);

    return rc;
}


/* formats into a buffer of exactly CAP_TIME_LEN, for ASan */

static size_t
format(cap_msec_t ms, char *out)
{
    size_t        n;
    cap_uchar_t  *p;

    p = malloc(CAP_TIME_LEN);
    if (p == NULL) {
        abort();
    }

    n = cap_time_format(ms, p);

    if (n > CAP_TIME_LEN) {
        n = CAP_TIME_LEN;
    }

    memcpy(out, p, n);
    free(p);

    return n;
}


/* xorshift64*: deterministic, so that a failure can be replayed */

static uint64_t
rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;

    return rnd_state * 0x2545f4914f6cdd1dULL;
}
