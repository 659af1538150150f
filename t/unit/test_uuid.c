
/*
 * Unit tests of cap_uuid_parse(), cap_uuid_v7() and cap_uuid_reseed().
 */


#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"
#include "core/cap_uuid.h"


#define NUUIDS  100000
#define NFORK   64


typedef struct {
    const char  *text;
    const char  *canonical;
} vector_t;


static int parse(const char *s, cap_uchar_t *out);
static int v7_ok(const cap_uchar_t *u);
static uint64_t v7_ts(const cap_uchar_t *u);
static int cmp(const void *a, const void *b);
static void fork_uuids(int reseed, cap_msec_t now, cap_uchar_t *parent,
    cap_uchar_t *child);
static void test_parse(void);
static void test_v7(void);
static void test_monotonic(void);
static void test_clock(void);
static void test_fork(void);


static const vector_t  valid[] = {
    { "01890a5d-ac96-774b-bcce-b302099a8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "01890A5D-AC96-774B-BCCE-B302099A8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "01890a5D-Ac96-774b-BcCe-b302099A8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "{01890a5d-ac96-774b-bcce-b302099a8057}",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "{01890A5D-AC96-774B-BCCE-B302099A8057}",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "urn:uuid:01890a5d-ac96-774b-bcce-b302099a8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "URN:UUID:01890A5D-AC96-774B-BCCE-B302099A8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "01890a5dac96774bbcceb302099a8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "01890A5DAC96774BBCCEB302099A8057",
      "01890a5d-ac96-774b-bcce-b302099a8057" },
    { "00000000-0000-0000-0000-000000000000",
      "00000000-0000-0000-0000-000000000000" },
    { "00000000000000000000000000000000",
      "00000000-0000-0000-0000-000000000000" },
    { "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "ffffffff-ffff-ffff-ffff-ffffffffffff" },
    { "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
      "ffffffff-ffff-ffff-ffff-ffffffffffff" },
    { "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
      "6ba7b810-9dad-11d1-80b4-00c04fd430c8" },
    { "123e4567-e89b-12d3-a456-426614174000",
      "123e4567-e89b-12d3-a456-426614174000" },

    /* syntax only: any version and variant */
    { "0123456789abcdef0123456789ABCDEF",
      "01234567-89ab-cdef-0123-456789abcdef" },
};


static const char  *invalid[] = {
    "",
    "-",
    "0",
    "01890a5d-ac96-774b-bcce-b302099a805",
    "01890a5d-ac96-774b-bcce-b302099a80577",
    "01890a5d-ac96-774b-bcce-b302099a805g",
    "g1890a5d-ac96-774b-bcce-b302099a8057",
    "01890a5d-ac96-774b-bcce-b302099a805 ",
    " 01890a5d-ac96-774b-bcce-b302099a8057",
    "01890a5dac96-774b-bcce-b302099a8057-",
    "01890a5d-ac96774b-bcce-b302099a8057-",
    "01890a5d0ac96-774b-bcce-b302099a8057",
    "01890a5-dac96-774b-bcce-b302099a8057",
    "01890a5d-ac9-6774b-bcce-b302099a8057",
    "01890a5d-ac96-774-bbcce-b302099a8057",
    "01890a5d-ac96-774b-bcc-eb302099a8057",
    "01890a5d_ac96_774b_bcce_b302099a8057",
    "01890a5d-ac96-774b-bcce+b302099a8057",
    "01890a5d-ac96-774b-bcce-b302099a8057\n",
    "--------------------------------0000",
    "------------------------------------",
    "01890a5dac96774bbcceb302099a805",
    "01890a5dac96774bbcceb302099a80577",
    "01890a5dac96774bbcceb302099a805z",
    "01890a5d-ac96774bbcceb302099a8057",
    "0x890a5dac96774bbcceb302099a8057",
    "+1890a5dac96774bbcceb302099a8057",
    "{01890a5d-ac96-774b-bcce-b302099a8057",
    "01890a5d-ac96-774b-bcce-b302099a8057}",
    "(01890a5d-ac96-774b-bcce-b302099a8057)",
    "[01890a5d-ac96-774b-bcce-b302099a8057]",
    "}01890a5d-ac96-774b-bcce-b302099a8057{",
    "{{01890a5d-ac96-774b-bcce-b302099a8057}}",
    "{01890a5dac96774bbcceb302099a8057}",
    "{01890a5d-ac96-774b-bcce-b302099a805g}",
    "{01890a5dXac96-774b-bcce-b302099a8057}",
    "urn:uuid:01890a5dac96774bbcceb302099a8057",
    "urn:uuid:{01890a5d-ac96-774b-bcce-b302099a8057}",
    "urn:uuid:01890a5d-ac96-774b-bcce-b302099a805",
    "urn:uuid:01890a5d-ac96-774b-bcce-b302099a805g",
    "urn:uuid 01890a5d-ac96-774b-bcce-b302099a8057",
    "urn-uuid:01890a5d-ac96-774b-bcce-b302099a8057",
    "uuid:urn:01890a5d-ac96-774b-bcce-b302099a8057",
    "urn:guid:01890a5d-ac96-774b-bcce-b302099a8057",
    "urn:uuid:-01890a5d-ac96-774b-bcce-b302099a805",
    "\357\274\2201890a5d-ac96-774b-bcce-b302099a80",
    "01890a5d-ac96-774b-bcce-b302099a8057xxxxxxxxx",
    "not a uuid",
    "null",
};


static cap_uchar_t  uuids[NUUIDS][CAP_UUID_LEN];


int
main(void)
{
    test_parse();
    test_v7();
    test_monotonic();
    test_clock();
    test_fork();

    return tap_done();
}


static void
test_parse(void)
{
    size_t       i;
    cap_uchar_t  out[CAP_UUID_LEN + 1];

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        memset(out, 'x', sizeof(out));

        if (!is_int(parse(valid[i].text, out), CAP_OK, "parse \"%s\"",
                    valid[i].text))
        {
            continue;
        }

        is_mem(out, CAP_UUID_LEN, valid[i].canonical, CAP_UUID_LEN,
               "\"%s\" is %s", valid[i].text, valid[i].canonical);
        is_int(out[CAP_UUID_LEN], 'x', "36 bytes written");
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        is_int(parse(invalid[i], out), CAP_ERROR, "reject \"%s\"",
               esc(invalid[i]));
    }

    /* NULs are not hex digits */

    is_int(cap_uuid_parse((cap_uchar_t *) "01890a5d-ac96-774b-bcce-b302099a"
                          "\0\0\0\0", 36, out), CAP_ERROR,
           "reject embedded NULs");

    is_int(cap_uuid_parse((cap_uchar_t *) "01890a5d-ac96-774b-bcce-b302099a8057"
                          "junk", 36, out), CAP_OK,
           "the length bounds the text");
}


static void
test_v7(void)
{
    int          bad;
    size_t       i;
    cap_uchar_t  u[CAP_UUID_LEN], out[CAP_UUID_LEN];

    static const cap_msec_t  nows[] = {
        0, 1, 1704164645678LL, 4102444800000LL, 0xffffffffffffLL
    };

    for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        cap_uuid_reseed();
        cap_uuid_v7(nows[i], u);

        printf("# %lld: %.36s\n", (long long) nows[i], u);

        ok(v7_ok(u), "v7 for %lld: version 7, variant 10",
           (long long) nows[i]);
        is_int(v7_ts(u), nows[i], "v7 for %lld: the timestamp",
               (long long) nows[i]);
        ok(cap_uuid_parse(u, CAP_UUID_LEN, out) == CAP_OK
           && memcmp(u, out, CAP_UUID_LEN) == 0,
           "v7 for %lld: parses back to itself", (long long) nows[i]);
    }

    /* a negative time counts as 0 */

    cap_uuid_reseed();
    cap_uuid_v7(-5, u);
    ok(v7_ok(u) && v7_ts(u) == 0, "a negative time gives timestamp 0");

    /* each new millisecond restarts at "now" */

    cap_uuid_reseed();
    bad = 0;

    for (i = 0; i < 10000; i++) {
        cap_uuid_v7(1704164645678LL + i, u);

        if (!v7_ok(u) || v7_ts(u) != 1704164645678ULL + i) {
            bad++;
        }
    }

    is_int(bad, 0, "10000 uuids in 10000 ms carry their timestamp");
}


static void
test_monotonic(void)
{
    int          bad, dup;
    size_t       i;
    uint64_t     ts;
    cap_uchar_t  out[CAP_UUID_LEN];

    static cap_uchar_t  sorted[NUUIDS][CAP_UUID_LEN];

    cap_uuid_reseed();

    for (i = 0; i < NUUIDS; i++) {
        cap_uuid_v7(1704164645678LL, uuids[i]);
    }

    bad = 0;

    for (i = 0; i < NUUIDS; i++) {
        if (!v7_ok(uuids[i])
            || cap_uuid_parse(uuids[i], CAP_UUID_LEN, out) != CAP_OK
            || memcmp(out, uuids[i], CAP_UUID_LEN) != 0)
        {
            bad++;
        }
    }

    is_int(bad, 0, "%d uuids are valid v7", NUUIDS);

    bad = 0;

    for (i = 1; i < NUUIDS; i++) {
        if (memcmp(uuids[i - 1], uuids[i], CAP_UUID_LEN) >= 0) {
            if (bad++ < 5) {
                printf("# %.36s >= %.36s\n", uuids[i - 1], uuids[i]);
            }
        }
    }

    is_int(bad, 0, "%d uuids of the same ms are strictly increasing",
           NUUIDS);

    /* unique, even without the ordering */

    memcpy(sorted, uuids, sizeof(uuids));
    qsort(sorted, NUUIDS, CAP_UUID_LEN, cmp);

    dup = 0;

    for (i = 1; i < NUUIDS; i++) {
        if (memcmp(sorted[i - 1], sorted[i], CAP_UUID_LEN) == 0) {
            dup++;
        }
    }

    is_int(dup, 0, "%d uuids are unique", NUUIDS);

    /*
     * a counter overflow moves into the next millisecond: at least 2048
     * and at most 4096 uuids per millisecond
     */

    ts = v7_ts(uuids[NUUIDS - 1]);

    ok(v7_ts(uuids[0]) == 1704164645678ULL, "the first has the timestamp");
    ok(ts >= 1704164645678ULL + NUUIDS / 4096
       && ts <= 1704164645678ULL + NUUIDS / 2048,
       "the last is %llu ms ahead", (unsigned long long)
       (ts - 1704164645678ULL));

    /* the same time again, after the burst: still increasing */

    cap_uuid_v7(1704164645678LL, out);
    ok(memcmp(uuids[NUUIDS - 1], out, CAP_UUID_LEN) < 0,
       "the same time after the burst still increases");
}


static void
test_clock(void)
{
    cap_uchar_t  a[CAP_UUID_LEN], b[CAP_UUID_LEN];

    /* a clock going back a little: still increasing */

    cap_uuid_reseed();
    cap_uuid_v7(1704164645678LL, a);
    cap_uuid_v7(1704164645677LL, b);

    ok(memcmp(a, b, CAP_UUID_LEN) < 0, "1 ms back still increases");
    is_int(v7_ts(b), 1704164645678LL, "1 ms back keeps the last timestamp");

    cap_uuid_v7(1704164635678LL, a);
    ok(memcmp(b, a, CAP_UUID_LEN) < 0, "10 s back still increases");

    /* a clock going back a lot: restart at the new time */

    cap_uuid_v7(1704164645678LL - 3600000, b);
    is_int(v7_ts(b), 1704164645678LL - 3600000,
           "1 h back restarts at the new time");

    /* reseed forgets the last timestamp */

    cap_uuid_v7(1704164645678LL, a);
    cap_uuid_reseed();
    cap_uuid_v7(1704164645677LL, b);
    is_int(v7_ts(b), 1704164645677LL, "reseed forgets the last timestamp");
}


static void
test_fork(void)
{
    int          i, j, same, prefix;
    cap_uchar_t  parent[NFORK][CAP_UUID_LEN], child[NFORK][CAP_UUID_LEN];

    /* with cap_uuid_reseed() in the child */

    fork_uuids(1, 1704164645678LL, &parent[0][0], &child[0][0]);

    same = 0;
    prefix = 0;

    for (i = 0; i < NFORK; i++) {
        if (!v7_ok(child[i]) || v7_ts(child[i]) < 1704164645678ULL) {
            same++;
        }

        for (j = 0; j < NFORK; j++) {
            if (memcmp(parent[i], child[j], CAP_UUID_LEN) == 0) {
                same++;
            }

            /* rand_b: the last 16 hex digits */
            if (memcmp(parent[i] + 20, child[j] + 20, 16) == 0) {
                prefix++;
            }
        }
    }

    is_int(same, 0, "after fork and reseed the child's uuids differ");
    is_int(prefix, 0, "and share no random bits of rand_b");

    /*
     * the control: without cap_uuid_reseed() the child repeats the
     * parent's buffered bytes (until the buffer is used up), which is
     * what the reseed is for
     */

    fork_uuids(0, 1704164645678LL, &parent[0][0], &child[0][0]);

    same = 0;

    for (i = 0; i < 16; i++) {
        if (memcmp(parent[i], child[i], CAP_UUID_LEN) == 0) {
            same++;
        }
    }

    is_int(same, 16, "without reseed the child repeats the parent");
}


/*
 * fills the random buffer, forks, and makes NFORK uuids in both; the
 * child's come back through a pipe
 */

static void
fork_uuids(int reseed, cap_msec_t now, cap_uchar_t *parent,
    cap_uchar_t *child)
{
    int          i, fd[2], status;
    pid_t        pid;
    size_t       n;
    ssize_t      r;
    cap_uchar_t  u[CAP_UUID_LEN];

    cap_uuid_reseed();
    cap_uuid_v7(now, u);

    if (pipe(fd) == -1) {
        perror("pipe");
        exit(2);
    }

    fflush(stdout);

    pid = fork();

    if (pid == -1) {
        perror("fork");
        exit(2);
    }

    if (pid == 0) {
        close(fd[0]);

        if (reseed) {
            cap_uuid_reseed();
        }

        for (i = 0; i < NFORK; i++) {
            cap_uuid_v7(now, u);

            if (write(fd[1], u, CAP_UUID_LEN) != CAP_UUID_LEN) {
                _exit(1);
            }
        }

        _exit(0);
    }

    close(fd[1]);

    for (i = 0; i < NFORK; i++) {
        cap_uuid_v7(now, parent + i * CAP_UUID_LEN);
    }

    for (n = 0; n < NFORK * CAP_UUID_LEN; n += r) {
        r = read(fd[0], child + n, NFORK * CAP_UUID_LEN - n);

        if (r <= 0) {
            perror("read");
            exit(2);
        }
    }

    close(fd[0]);

    if (waitpid(pid, &status, 0) != pid
        || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    {
        fprintf(stderr, "the child failed\n");
        exit(2);
    }
}


/* parses a copy of exactly the length of the text, for ASan */

static int
parse(const char *s, cap_uchar_t *out)
{
    int           rc;
    size_t        len;
    cap_uchar_t  *p;

    len = strlen(s);

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }

    memcpy(p, s, len);
    rc = cap_uuid_parse(p, len, out);
    free(p);

    return rc;
}


/* lowercase hex, hyphens, version 7, variant 10 */

static int
v7_ok(const cap_uchar_t *u)
{
    return uuid_text(u) && u[14] == '7'
           && (u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
}


/* the first 48 bits */

static uint64_t
v7_ts(const cap_uchar_t *u)
{
    int       i;
    uint64_t  ts;

    ts = 0;

    for (i = 0; i < 13; i++) {
        if (i == 8) {
            continue;
        }

        ts = ts << 4 | (uint64_t) (u[i] <= '9' ? u[i] - '0' : u[i] - 'a' + 10);
    }

    return ts;
}


static int
cmp(const void *a, const void *b)
{
    return memcmp(a, b, CAP_UUID_LEN);
}
