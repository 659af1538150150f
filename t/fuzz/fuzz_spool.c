
/*
 * libFuzzer target of the spool's reader.  The input becomes the bytes
 * of a segment file (in a memfd), which a reader reads to its end, in
 * one go and again in two steps (the file cut at a point, then whole,
 * as when following a writer).  The first byte selects the mode:
 *
 *   0  the input is the file;
 *   1  a valid file header, then the input;
 *   2  a valid segment of records whose sizes the input gives, then
 *      bytes changed where the input says, and maybe cut;
 *   3  the same segment with the input spliced in at some offset.
 *
 * and checks:
 *   - cap_spool_read() ends (END or TORN, never an error), and again
 *     with the same answer and nothing new;
 *   - every record it gives has a header that holds and a payload of
 *     that CRC, at its place in the file, after the previous record;
 *   - every byte is accounted for: file header, records, skipped and
 *     torn bytes add up to the file's size;
 *   - the two-step reading gives the same records and counters;
 *   - modes 2 and 3: the records before the first damage are all
 *     there; with one changed byte, every record but the one it is in,
 *     one corruption event, and that record's size skipped;
 *   - cap_spool_payload_decode() on every payload, without a crash.
 *
 * The second byte sets where the two-step reading cuts the file.
 */


#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool/cap_spool.h"


#define MAXR         4096
#define MAXIMG       (256 * 1024)
#define DEFAULT_MAX  4096
#define FILE_MAX     2048


typedef struct {
    size_t       n;
    uint64_t     start[MAXR];
    uint64_t     end[MAXR];
    int          rc;
    uint64_t     corrupt;
    uint64_t     skipped;
    uint64_t     torn_offset;
    uint64_t     torn_bytes;
} run_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *heap_alloc(void *data, size_t size);
static void heap_free(void *data, void *p);
static void fail(const char *what);
static void put(const cap_uchar_t *p, size_t n);
static void run(size_t split, run_t *out);
static void check_record(size_t visible, cap_spool_reader_t *r,
    cap_spool_record_t *rec, run_t *out);
static void same(run_t *a, run_t *b);
static size_t build(const uint8_t *data, size_t size, size_t *used);


static int           memfd = -1;
static cap_pool_t    heap = { heap_alloc, heap_free, NULL };
static cap_str_t     writer = cap_string("fuzz-1");
static cap_uchar_t   img[MAXIMG];
static size_t        img_len;
static uint64_t      bound[MAXR + 1];
static size_t        nrec;
static run_t         one, two;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    i, k, used, split, at, damaged, nflips, off, first;
    unsigned  mode, cut;

    if (memfd == -1) {
        memfd = memfd_create("fuzz_spool", MFD_CLOEXEC);
        if (memfd == -1) {
            fail("memfd_create");
        }
    }

    if (size < 2) {
        return 0;
    }

    mode = data[0] % 4;
    split = data[1];
    data += 2;
    size -= 2;

    nrec = 0;
    damaged = (size_t) -1;
    nflips = 0;
    first = (size_t) -1;
    cut = 0;

    switch (mode) {

    case 0:
        if (size > MAXIMG) {
            return 0;
        }

        memcpy(img, data, size);
        img_len = size;
        break;

    case 1:
        if (size > MAXIMG - CAP_SPOOL_FILE_HEADER) {
            return 0;
        }

        cap_spool_file_header(img, &writer, 1, FILE_MAX);
        memcpy(img + CAP_SPOOL_FILE_HEADER, data, size);
        img_len = CAP_SPOOL_FILE_HEADER + size;
        break;

    case 2:
        img_len = build(data, size, &used);
        data += used;
        size -= used;

        /* a cut, then (offset u16, xor u8) changes */

        if (size && data[0] != 0xff) {
            img_len = img_len * data[0] / 255;
            first = img_len;
            cut = 1;
        }

        data += (size != 0);
        size -= (size != 0);

        for (i = 0; i + 3 <= size && i < 8 * 3; i += 3) {
            if (img_len == 0 || data[i + 2] == 0) {
                continue;
            }

            off = ((size_t) data[i] << 8 | data[i + 1]) % img_len;
            img[off] ^= data[i + 2];
            nflips++;
            damaged = off;

            if (off < first) {
                first = off;
            }
        }

        break;

    default: /* 3 */
        img_len = build(data, size, &used);
        data += used;
        size -= used;

        if (size < 2 || img_len + size - 2 > MAXIMG) {
            break;
        }

        at = ((size_t) data[0] << 8 | data[1]) % (img_len + 1);
        memmove(img + at + size - 2, img + at, img_len - at);
        memcpy(img + at, data + 2, size - 2);
        img_len += size - 2;
        first = at;
        break;
    }

    run(img_len, &one);

    split = img_len * split / 255;
    run(split, &two);

    same(&one, &two);

    if (mode < 2) {
        return 0;
    }

    /* every record before the first damage (or cut) is there */

    for (k = 0; k < nrec && bound[k + 1] <= first; k++) {
        if (k >= one.n || one.start[k] != bound[k]) {
            fail("a record before any damage is missing");
        }
    }

    if (mode != 2 || nflips != 1 || cut) {
        return 0;
    }

    /* one byte changed, the whole segment there */

    if (damaged < CAP_SPOOL_FILE_HEADER) {
        if (one.n != nrec || one.corrupt != 1
            || one.skipped != CAP_SPOOL_FILE_HEADER)
        {
            fail("a changed file header lost records");
        }

        return 0;
    }

    for (k = 0; bound[k + 1] <= damaged; k++) {
        /* void */
    }

    /*
     * When the damaged record is the last, its final bytes may be the
     * start of a header ('C', "CR", ...): a torn tail, as far as the
     * reader can tell.
     */

    if (one.n != nrec - 1 || one.corrupt != 1
        || one.skipped + one.torn_bytes != bound[k + 1] - bound[k]
        || (one.rc != CAP_SPOOL_END
            && (one.rc != CAP_SPOOL_TORN || k + 1 != nrec)))
    {
        fprintf(stderr, "fuzz_spool: byte %zu of record %zu: %zu of %zu "
                "records, corrupt %llu, skipped %llu\n", damaged, k, one.n,
                nrec, (unsigned long long) one.corrupt,
                (unsigned long long) one.skipped);
        fail("one changed byte: not exactly its record skipped");
    }

    for (i = 0; i < one.n; i++) {
        if (one.start[i] != bound[i < k ? i : i + 1]) {
            fail("one changed byte: the other records not in order");
        }
    }

    return 0;
}


static void *
heap_alloc(void *data, size_t size)
{
    return malloc(size);
}


static void
heap_free(void *data, void *p)
{
    free(p);
}


static void
fail(const char *what)
{
    size_t  i;

    fprintf(stderr, "fuzz_spool: %s\nfile of %zu bytes:\n", what, img_len);

    for (i = 0; i < img_len && i < 4096; i++) {
        fprintf(stderr, "%02x", img[i]);
    }

    fprintf(stderr, "\n");

    abort();
}


static void
put(const cap_uchar_t *p, size_t n)
{
    if (ftruncate(memfd, 0) == -1
        || (n && pwrite(memfd, p, n, 0) != (ssize_t) n))
    {
        fail("cannot write the memfd");
    }
}


/* the file cut at "split" first, when that is before its end */

static void
run(size_t split, run_t *out)
{
    int                  rc, again, fd;
    size_t               calls, visible, accounted;
    uint64_t             corrupt, skipped;
    cap_error_t          err;
    cap_spool_reader_t   r;
    cap_spool_record_t   rec;

    memset(out, 0, sizeof(run_t));

    visible = split < img_len ? split : img_len;
    put(img, visible);

    fd = dup(memfd);
    if (fd == -1) {
        fail("dup");
    }

    cap_spool_reader_init(&r, fd, &writer, 1, 0, DEFAULT_MAX, &heap);

    calls = 0;

    for ( ;; ) {
        rc = cap_spool_read(&r, &rec, &err);

        if (++calls > img_len + 8) {
            fail("cap_spool_read does not end");
        }

        if (rc == CAP_OK) {
            check_record(visible, &r, &rec, out);
            continue;
        }

        if (rc != CAP_SPOOL_END && rc != CAP_SPOOL_TORN) {
            fprintf(stderr, "fuzz_spool: %d: %s\n", rc, err.text);
            fail("cap_spool_read failed");
        }

        if (visible < img_len) {
            visible = img_len;
            put(img, visible);
            continue;
        }

        break;
    }

    corrupt = r.corrupt;
    skipped = r.skipped;

    again = cap_spool_read(&r, &rec, &err);

    if (again != rc || r.corrupt != corrupt || r.skipped != skipped) {
        fail("a second read at the end is not the same");
    }

    out->rc = rc;
    out->corrupt = r.corrupt;
    out->skipped = r.skipped;

    if (rc == CAP_SPOOL_TORN) {
        out->torn_offset = r.torn_offset;
        out->torn_bytes = r.torn_bytes;

        if (r.torn_offset + r.torn_bytes != img_len) {
            fail("a torn tail that does not reach the end of the file");
        }
    }

    /* every byte: file header, records, skipped, torn */

    accounted = out->skipped + out->torn_bytes;

    if (r.header && !r.bad_header) {
        accounted += CAP_SPOOL_FILE_HEADER;
    }

    if (r.header && img_len < CAP_SPOOL_FILE_HEADER) {
        fail("a file header where the file is too short");
    }

    for (calls = 0; calls < out->n; calls++) {
        accounted += out->end[calls] - out->start[calls];
    }

    if (accounted != img_len) {
        fprintf(stderr, "fuzz_spool: %zu bytes accounted, %zu in the file\n",
                accounted, img_len);
        fail("bytes unaccounted for");
    }

    cap_spool_reader_close(&r);
}


static void
check_record(size_t visible, cap_spool_reader_t *r, cap_spool_record_t *rec,
    run_t *out)
{
    size_t               i;
    uint32_t             len, crc;
    const cap_uchar_t   *h;
    cap_spool_payload_t  pl;

    if (rec->start.seq != 1 || rec->end.seq != 1
        || rec->start.offset < CAP_SPOOL_FILE_HEADER
        || rec->end.offset > visible
        || rec->end.offset != rec->start.offset + CAP_SPOOL_RECORD_HEADER
                              + rec->payload.len
        || (out->n && rec->start.offset < out->end[out->n - 1]))
    {
        fail("a record out of place");
    }

    h = img + rec->start.offset;

    if (cap_spool_record_check(h, r->max_payload, &len, &crc) != CAP_OK
        || len != rec->payload.len
        || cap_crc32c(0, h + CAP_SPOOL_RECORD_HEADER, len) != crc
        || memcmp(rec->payload.data, h + CAP_SPOOL_RECORD_HEADER, len) != 0)
    {
        fail("a record whose checksums do not hold");
    }

    if (cap_spool_payload_decode(rec->payload.data, rec->payload.len, &pl)
        == CAP_OK)
    {
        for (i = 0; i < pl.ndests; i++) {
            if (!cap_spool_name_valid(pl.dests[i].data, pl.dests[i].len)) {
                fail("a payload decoded with an invalid name");
            }
        }

        if (pl.text.len == 0 || pl.text.data[pl.text.len - 1] != '\n') {
            fail("a payload decoded with a bad text");
        }
    }

    if (out->n == MAXR) {
        fail("too many records");
    }

    out->start[out->n] = rec->start.offset;
    out->end[out->n] = rec->end.offset;
    out->n++;
}


static void
same(run_t *a, run_t *b)
{
    size_t  i;

    if (a->n != b->n || a->rc != b->rc || a->corrupt != b->corrupt
        || a->skipped != b->skipped || a->torn_offset != b->torn_offset
        || a->torn_bytes != b->torn_bytes)
    {
        fprintf(stderr, "fuzz_spool: one go: %zu records, rc %d, corrupt "
                "%llu, skipped %llu; two steps: %zu, %d, %llu, %llu\n",
                a->n, a->rc, (unsigned long long) a->corrupt,
                (unsigned long long) a->skipped, b->n, b->rc,
                (unsigned long long) b->corrupt,
                (unsigned long long) b->skipped);
        fail("reading in two steps differs");
    }

    for (i = 0; i < a->n; i++) {
        if (a->start[i] != b->start[i] || a->end[i] != b->end[i]) {
            fail("reading in two steps gives other records");
        }
    }
}


/*
 * A segment: a byte for the number of records, then one per record for
 * its size (4 bytes each); payloads of printable bytes with "CRec" and
 * 'C's in them, as JSON text could have: slices of one pattern, made
 * once (a loop per byte here would cost more than the reader).
 */

static size_t
build(const uint8_t *data, size_t size, size_t *used)
{
    size_t              i, k, n, len, at;
    static cap_uchar_t  pattern[1024 + 64];

    if (pattern[0] == 0) {
        for (k = 0; k < sizeof(pattern); k++) {
            pattern[k] = (k % 11 == 0) ? 'C' : (cap_uchar_t) (' ' + k % 95);
        }

        for (k = 40; k + 4 < sizeof(pattern); k += 97) {
            memcpy(pattern + k, "CRec", 4);
        }
    }

    *used = 0;
    at = CAP_SPOOL_FILE_HEADER;

    cap_spool_file_header(img, &writer, 1, FILE_MAX);
    bound[0] = at;

    if (size == 0) {
        nrec = 0;
        return at;
    }

    n = 1 + data[0] % 32;
    data++;
    *used = 1;

    for (i = 0; i < n; i++) {
        len = (*used < size) ? (size_t) data[i] * 4 : 10 * i;
        *used += (*used < size);

        memcpy(img + at + CAP_SPOOL_RECORD_HEADER, pattern + i % 61, len);

        cap_spool_record_header(img + at, (uint32_t) len,
                                cap_crc32c(0, img + at
                                              + CAP_SPOOL_RECORD_HEADER,
                                           len));

        at += CAP_SPOOL_RECORD_HEADER + len;
        bound[i + 1] = at;
    }

    nrec = n;

    return at;
}
