
/*
 * UUIDs: parsing of client uuids into the canonical form, and new
 * RFC 9562 UUIDv7 (48-bit unix milliseconds, a 12-bit counter seeded
 * randomly each millisecond in rand_a, 62 random bits in rand_b).
 *
 * The random bytes come from getrandom(2), a buffer at a time; the
 * state is per process and not thread-safe: cap_uuid_reseed() must be
 * called in every process after fork().
 */


/* getrandom(), O_CLOEXEC and clock_gettime() even with -std=c99 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "cap_uuid.h"


#define CAP_UUID_RANDOM_SIZE  512

/* a clock going back by more than this restarts at the new time */
#define CAP_UUID_MAX_SKEW     10000

#define CAP_UUID_TS_MAX       0xffffffffffffLL


static int cap_uuid_hex(int c);
static void cap_uuid_random(cap_uchar_t *p, size_t n);
static void cap_uuid_refill(void);
static int cap_uuid_urandom(cap_uchar_t *p, size_t n);
static void cap_uuid_mix(cap_uchar_t *p, size_t n);


static const char  cap_uuid_digits[] = "0123456789abcdef";

static cap_uchar_t  cap_uuid_buf[CAP_UUID_RANDOM_SIZE];
static size_t       cap_uuid_pos = CAP_UUID_RANDOM_SIZE;

/* the monotonic state: the last timestamp used (-1: none) and counter */
static cap_msec_t   cap_uuid_last = -1;
static unsigned     cap_uuid_counter;

static uint64_t     cap_uuid_mix_n;


int
cap_uuid_parse(const cap_uchar_t *p, size_t len, cap_uchar_t *out)
{
    int     c, hi, lo;
    size_t  i, n;

    switch (len) {

    case 32:
        break;

    case 36:
        break;

    case 38:
        if (p[0] != '{' || p[37] != '}') {
            return CAP_ERROR;
        }

        p++;
        len = 36;
        break;

    case 45:

        /* any case, without the locale of strncasecmp() */

        for (i = 0; i < 9; i++) {
            c = p[i];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != "urn:uuid:"[i]) {
                return CAP_ERROR;
            }
        }

        p += 9;
        len = 36;
        break;

    default:
        return CAP_ERROR;
    }

    /* 16 bytes as 32 hex digits, hyphens after 4, 6, 8 and 10 bytes */

    for (i = 0, n = 0; i < 16; i++) {

        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (len == 36 && *p++ != '-') {
                return CAP_ERROR;
            }

            out[n++] = '-';
        }

        hi = cap_uuid_hex(*p++);
        lo = cap_uuid_hex(*p++);

        if (hi < 0 || lo < 0) {
            return CAP_ERROR;
        }

        out[n++] = cap_uuid_digits[hi];
        out[n++] = cap_uuid_digits[lo];
    }

    return CAP_OK;
}


void
cap_uuid_v7(cap_msec_t now, cap_uchar_t *out)
{
    int          i, n, seed;
    uint64_t     ts;
    cap_uchar_t  u[16], r[2];

    if (now < 0) {
        now = 0;
    }

    if (cap_uuid_last >= 0
        && now <= cap_uuid_last
        && cap_uuid_last - now <= CAP_UUID_MAX_SKEW)
    {
        /*
         * the same millisecond, or the clock went back a little: the
         * counter goes on, into the next millisecond when it overflows
         */

        seed = (++cap_uuid_counter > 0xfff);

        if (seed) {
            cap_uuid_last++;
        }

    } else {
        cap_uuid_last = now;
        seed = 1;
    }

    if (seed) {

        /*
         * a new millisecond: a random counter with its top bit clear,
         * which leaves at least 2048 values before it overflows
         */

        cap_uuid_random(r, 2);
        cap_uuid_counter = ((r[0] << 8) | r[1]) & 0x7ff;
    }

    ts = (uint64_t) cap_uuid_last & CAP_UUID_TS_MAX;

    u[0] = (cap_uchar_t) (ts >> 40);
    u[1] = (cap_uchar_t) (ts >> 32);
    u[2] = (cap_uchar_t) (ts >> 24);
    u[3] = (cap_uchar_t) (ts >> 16);
    u[4] = (cap_uchar_t) (ts >> 8);
    u[5] = (cap_uchar_t) ts;
    u[6] = (cap_uchar_t) (0x70 | (cap_uuid_counter >> 8));
    u[7] = (cap_uchar_t) cap_uuid_counter;

    cap_uuid_random(u + 8, 8);
    u[8] = (cap_uchar_t) (0x80 | (u[8] & 0x3f));

    for (i = 0, n = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[n++] = '-';
        }

        out[n++] = cap_uuid_digits[u[i] >> 4];
        out[n++] = cap_uuid_digits[u[i] & 0xf];
    }
}


void
cap_uuid_reseed(void)
{
    memset(cap_uuid_buf, 0, CAP_UUID_RANDOM_SIZE);

    cap_uuid_pos = CAP_UUID_RANDOM_SIZE;
    cap_uuid_last = -1;
    cap_uuid_counter = 0;
}


static int
cap_uuid_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static void
cap_uuid_random(cap_uchar_t *p, size_t n)
{
    size_t  k;

    while (n) {
        if (cap_uuid_pos == CAP_UUID_RANDOM_SIZE) {
            cap_uuid_refill();
        }

        k = CAP_UUID_RANDOM_SIZE - cap_uuid_pos;
        if (k > n) {
            k = n;
        }

        memcpy(p, cap_uuid_buf + cap_uuid_pos, k);

        cap_uuid_pos += k;
        p += k;
        n -= k;
    }
}


/*
 * getrandom(2), not blocking: before the kernel's pool is ready (early
 * boot) it fails with EAGAIN and /dev/urandom, which never blocks,
 * gives the bytes; the mix is for when neither works (no /dev in a
 * chroot, seccomp, ENOSYS).
 */

static void
cap_uuid_refill(void)
{
    size_t   n;
    ssize_t  r;

    for (n = 0; n < CAP_UUID_RANDOM_SIZE; /* void */ ) {
        r = getrandom(cap_uuid_buf + n, CAP_UUID_RANDOM_SIZE - n,
                      GRND_NONBLOCK);

        if (r > 0) {
            n += (size_t) r;
            continue;
        }

        if (r == -1 && errno == EINTR) {
            continue;
        }

        break;
    }

    if (n < CAP_UUID_RANDOM_SIZE
        && cap_uuid_urandom(cap_uuid_buf + n, CAP_UUID_RANDOM_SIZE - n)
           != CAP_OK)
    {
        cap_uuid_mix(cap_uuid_buf + n, CAP_UUID_RANDOM_SIZE - n);
    }

    cap_uuid_pos = 0;
}


static int
cap_uuid_urandom(cap_uchar_t *p, size_t n)
{
    int      fd;
    ssize_t  r;

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return CAP_ERROR;
    }

    while (n) {
        r = read(fd, p, n);

        if (r > 0) {
            p += r;
            n -= (size_t) r;
            continue;
        }

        if (r == -1 && errno == EINTR) {
            continue;
        }

        break;
    }

    (void) close(fd);

    return n ? CAP_ERROR : CAP_OK;
}


/*
 * The last resort: not cryptographic, but unique enough between
 * processes and calls, from the clocks, the pid and a counter run
 * through splitmix64.
 */

static void
cap_uuid_mix(cap_uchar_t *p, size_t n)
{
    size_t           i;
    uint64_t         x, z;
    struct timespec  rt, mt;

    (void) clock_gettime(CLOCK_REALTIME, &rt);
    (void) clock_gettime(CLOCK_MONOTONIC, &mt);

    x = (uint64_t) rt.tv_sec * 1000000000 + (uint64_t) rt.tv_nsec;
    x ^= ((uint64_t) mt.tv_sec * 1000000000 + (uint64_t) mt.tv_nsec) << 17;
    x ^= (uint64_t) getpid() << 40;
    x ^= (uint64_t) (uintptr_t) &rt;
    x ^= ++cap_uuid_mix_n * 0xd1342543de82ef95ULL;

    z = 0;

    for (i = 0; i < n; i++) {
        if (i % 8 == 0) {
            x += 0x9e3779b97f4a7c15ULL;
            z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
        }

        p[i] = (cap_uchar_t) (z >> (i % 8 * 8));
    }
}
