
/*
 * Unit tests of cap_crc32c: the check value, RFC 3720's vectors (B.4),
 * a bit-at-a-time reference at every length and alignment (and the
 * tables for the longer inputs of the interleaved stripes), the same
 * CRC whatever the split of the input, and the residue of a message
 * followed by its CRC.  Prints the throughput (not checked).
 */


#include <stdio.h>
#include <time.h>

#include "tap.h"
#include "spool/cap_spool.h"


static uint32_t bitwise(const cap_uchar_t *p, size_t n);
static void test_vectors(void);
static void test_reference(void);
static void test_splits(void);
static void test_residue(void);
static void test_speed(void);


int
main(void)
{
    test_vectors();
    test_reference();
    test_splits();
    test_residue();
    test_speed();

    return tap_done();
}


/* the definition: one bit at a time through the reflected polynomial */

static uint32_t
bitwise(const cap_uchar_t *p, size_t n)
{
    int       k;
    uint32_t  crc;

    crc = 0xffffffff;

    while (n--) {
        crc ^= *p++;

        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78 : 0);
        }
    }

    return ~crc;
}


static void
test_vectors(void)
{
    int          i;
    char         hex[16];
    cap_uchar_t  buf[32];

    snprintf(hex, sizeof(hex), "%08x", cap_crc32c(0, "123456789", 9));
    is_str(hex, strlen(hex), "e3069283",
           "\"123456789\" gives the check value");
    is_int(cap_crc32c(0, NULL, 0), 0, "no bytes give 0");
    is_int(cap_crc32c(0x12345678, "", 0), 0x12345678,
           "no bytes leave a CRC as it was");
    is_int(cap_crc32c(0, "a", 1), 0xc1d04330, "\"a\"");

    memset(buf, 0, sizeof(buf));
    is_int(cap_crc32c(0, buf, 32), 0x8a9136aa, "RFC 3720: 32 bytes of 0");

    memset(buf, 0xff, sizeof(buf));
    is_int(cap_crc32c(0, buf, 32), 0x62a8ab43,
           "RFC 3720: 32 bytes of 0xff");

    for (i = 0; i < 32; i++) {
        buf[i] = (cap_uchar_t) i;
    }

    is_int(cap_crc32c(0, buf, 32), 0x46dd794e,
           "RFC 3720: 32 bytes ascending");

    for (i = 0; i < 32; i++) {
        buf[i] = (cap_uchar_t) (31 - i);
    }

    is_int(cap_crc32c(0, buf, 32), 0x113fdb5c,
           "RFC 3720: 32 bytes descending");
}


static void
test_reference(void)
{
    int          bad;
    size_t       i, n, align;
    uint32_t     x;
    cap_uchar_t  data[6200];
    size_t       edges[] = { 1535, 1536, 1537, 1543, 1544, 3071, 3072, 3073,
                             4608, 4615, 6143, 6144, 6151 };

    x = 2463534242u;

    for (i = 0; i < sizeof(data); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (cap_uchar_t) x;
    }

    bad = 0;

    for (align = 0; align < 8; align++) {
        for (n = 0; n <= 1024; n++) {
            if (cap_crc32c(0, data + align, n) != bitwise(data + align, n)) {
                if (bad++ < 5) {
                    printf("# %zu bytes at +%zu differ\n", n, align);
                }
            }
        }
    }

    ok(bad == 0, "lengths 0 to 1024 at 8 alignments agree with the "
       "bit-at-a-time definition");

    /* the tables, whichever of the two cap_crc32c() uses here */

    bad = 0;

    for (align = 0; align < 8; align++) {
        for (n = 0; n <= 1024; n++) {
            if (cap_crc32c_tables(0, data + align, n)
                != bitwise(data + align, n))
            {
                bad++;
            }
        }
    }

    ok(bad == 0, "and so do the tables alone");

    /* inputs long enough for the interleaved stripes of SSE 4.2 */

    bad = 0;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        for (align = 0; align < 8; align++) {
            n = edges[i];

            if (cap_crc32c(0, data + align, n) != bitwise(data + align, n)) {
                if (bad++ < 5) {
                    printf("# %zu bytes at +%zu differ\n", n, align);
                }
            }
        }
    }

    ok(bad == 0, "lengths at the edges of 1, 2 and 3 blocks of stripes "
       "agree with the definition");

    bad = 0;

    for (align = 0; align < 8; align++) {
        for (n = 1025; n <= 6144; n++) {
            if (cap_crc32c(0, data + align, n)
                != cap_crc32c_tables(0, data + align, n))
            {
                if (bad++ < 5) {
                    printf("# %zu bytes at +%zu differ\n", n, align);
                }
            }
        }
    }

    ok(bad == 0, "lengths 1025 to 6144 at 8 alignments agree with the "
       "tables");
}


static void
test_splits(void)
{
    int          bad;
    size_t       i, cut, step;
    uint32_t     one, crc;
    cap_uchar_t  data[3333];

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (cap_uchar_t) (i * 7 + 3);
    }

    one = cap_crc32c(0, data, sizeof(data));
    bad = 0;

    for (cut = 0; cut <= sizeof(data); cut++) {
        crc = cap_crc32c(0, data, cut);
        crc = cap_crc32c(crc, data + cut, sizeof(data) - cut);

        bad += (crc != one);
    }

    ok(bad == 0, "two updates, split anywhere, give the one-shot CRC");

    bad = 0;

    for (step = 1; step <= 40; step++) {
        crc = 0;

        for (cut = 0; cut < sizeof(data); cut += step) {
            crc = cap_crc32c(crc, data + cut, step < sizeof(data) - cut
                                              ? step : sizeof(data) - cut);
        }

        bad += (crc != one);
    }

    ok(bad == 0, "updates of 1 to 40 bytes give the one-shot CRC");
}


/* the message and its CRC (little-endian) have the CRC 0x48674bc7 */

static void
test_residue(void)
{
    int          bad;
    size_t       n;
    uint32_t     crc;
    cap_uchar_t  data[64 + 4];

    bad = 0;

    for (n = 0; n <= 64; n++) {
        memset(data, (int) n, n);

        crc = cap_crc32c(0, data, n);
        data[n] = (cap_uchar_t) crc;
        data[n + 1] = (cap_uchar_t) (crc >> 8);
        data[n + 2] = (cap_uchar_t) (crc >> 16);
        data[n + 3] = (cap_uchar_t) (crc >> 24);

        bad += (cap_crc32c(0, data, n + 4) != 0x48674bc7);
    }

    ok(bad == 0, "a message followed by its CRC has the residue 0x48674bc7");
}


static void
test_speed(void)
{
    int              i;
    double           s;
    uint32_t         crc;
    cap_uchar_t     *data;
    struct timespec  t0, t1;

    data = malloc(1024 * 1024);
    if (data == NULL) {
        return;
    }

    memset(data, 0x5a, 1024 * 1024);

    crc = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < 64; i++) {
        crc = cap_crc32c(crc, data, 1024 * 1024);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);

    s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("# crc32c: %.0f MB/s (crc %08x; this build's flags)\n",
           64 / s, crc);

    free(data);
}
