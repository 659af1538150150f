
/*
 * Unit tests of the spool (src/spool/), in a directory under /tmp:
 * names and payloads; framing; round trips across rotations, with
 * their positions; the segments left for the next sync, and a sync in
 * two steps; staged records and their flush, and random runs of them;
 * following a segment being written; a tail torn at every length; a
 * byte changed at every offset; garbage between
 * records; bad file headers; the maximum payload; cursors and their
 * torn slots; the owner lock against a live, an exited and a killed
 * process; listing, removal and the removal rule; a full disk (a file
 * size limit).  Prints the throughput (not checked).
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "spool/cap_spool.h"


#define MAXR  4096


typedef struct {
    size_t            n;
    size_t            idx[MAXR];
    cap_spool_pos_t   start[MAXR];
    cap_spool_pos_t   end[MAXR];
    int               rc;
    int               bad;
    uint64_t          corrupt;
    uint64_t          skipped;
    uint64_t          torn_offset;
    uint64_t          torn_bytes;
} got_t;


typedef struct {
    cap_uchar_t      *data;
    size_t            len;
    size_t            nrec;
    uint64_t          bound[64];        /* record starts, then the end */
} image_t;


typedef union blk_u  blk_t;

union blk_u {
    blk_t            *next;
    long double       align_ld;
    long long         align_ll;
    void             *align_p;
};


static void *heap_alloc(void *data, size_t size);
static void heap_free(void *data, void *p);
static void *arena_alloc(void *data, size_t size);
static void arena_reset(void);
static void subdir(const char *name, char *path, cap_spool_dir_t *dir);
static size_t rec_text(size_t i, cap_uchar_t *buf);
static int append_rec(cap_spool_writer_t *w, size_t i, cap_spool_pos_t *start,
    cap_spool_pos_t *end, cap_error_t *err);
static int append_rec_staged(cap_spool_writer_t *w, size_t i,
    cap_spool_pos_t *start, cap_spool_pos_t *end, cap_error_t *err);
static int put_rec(cap_spool_writer_t *w, size_t i, int staged,
    cap_spool_pos_t *start, cap_spool_pos_t *end, cap_error_t *err);
static int check_payload(cap_str_t *payload, size_t *idx);
static int read_reader(cap_spool_reader_t *r, got_t *g);
static void read_fd(int fd, const cap_str_t *writer, uint64_t seq, got_t *g);
static void read_log(cap_spool_dir_t *dir, const cap_str_t *writer, got_t *g);
static void make_image(const char *name, size_t nrec, image_t *img);
static void put_image(int fd, const cap_uchar_t *p, size_t n);
static uint64_t file_size(cap_spool_dir_t *dir, const char *name);
static void test_names(void);
static void test_payload(void);
static void test_framing(void);
static void test_roundtrip(void);
static void test_leaving(void);
static void test_stage(void);
static void test_stage_random(void);
static void test_follow(void);
static void test_torn(void);
static void test_flips(void);
static void test_garbage(void);
static void test_file_header(void);
static void test_max_payload(void);
static void test_cursors(void);
static void test_lock(void);
static void test_list(void);
static void test_removable(void);
static void test_full(void);
static void test_speed(void);


static char          tmp[64] = "/tmp/cap_spool_XXXXXX";
static blk_t        *blocks;
static cap_pool_t    heap = { heap_alloc, heap_free, NULL };
static cap_pool_t    arena = { arena_alloc, NULL, NULL };

static cap_str_t     w1 = cap_string("1234-1700000000000");
static cap_str_t     w2 = cap_string("other_writer");

static cap_str_t     dests[] = {
    cap_string("local"), cap_string("posthog"), cap_string("segment-eu")
};

static const char    pattern[] = "abcCRecxyz{}[]:,0123456789 CReCR";

/* names that are not the spool's, in the listing's test */
static const char   *junk[] = {
    "foo", "1234-1700000000000-12.seg", "a-000000000000000G.seg",
    "a-000000000000000A.seg", "a.b.c.cur", ".cur", "x.lock.seg",
    "-0000000000000001.seg", "a b.lock", NULL
};


int
main(void)
{
    char  cmd[128];

    if (mkdtemp(tmp) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    test_names();
    test_payload();
    test_framing();
    test_roundtrip();
    test_leaving();
    test_stage();
    test_stage_random();
    test_follow();
    test_torn();
    test_flips();
    test_garbage();
    test_file_header();
    test_max_payload();
    test_cursors();
    test_lock();
    test_list();
    test_removable();
    test_full();
    test_speed();

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);

    if (system(cmd) != 0) {
        printf("# could not remove %s\n", tmp);
    }

    arena_reset();

    return tap_done();
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


static void *
arena_alloc(void *data, size_t size)
{
    blk_t  *b;

    b = malloc(sizeof(blk_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = blocks;
    blocks = b;

    return b + 1;
}


static void
arena_reset(void)
{
    blk_t  *b, *next;

    for (b = blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    blocks = NULL;
}


/* a fresh directory for one test, opened; "path" must outlive "dir" */

static void
subdir(const char *name, char *path, cap_spool_dir_t *dir)
{
    cap_error_t  err;

    snprintf(path, 128, "%s/%s", tmp, name);

    if (mkdir(path, 0700) == -1
        || cap_spool_dir_open(dir, path, &err) != CAP_OK)
    {
        printf("Bail out! %s: %s\n", path, strerror(errno));
        exit(1);
    }
}


/*
 * The text of record "i": one or two JSON lines of varying lengths,
 * some with "CRec" and 'C's inside (false starts for a resync).
 */

static size_t
rec_text(size_t i, cap_uchar_t *buf)
{
    size_t  n, k, pad;

    n = sprintf((char *) buf, "{\"i\":%zu,\"s\":\"", i);
    pad = (i * 37) % 300;

    for (k = 0; k < pad; k++) {
        buf[n++] = pattern[(i + k) % (sizeof(pattern) - 1)];
    }

    n += sprintf((char *) buf + n, "\"}\n");

    if (i % 5 == 0) {
        n += sprintf((char *) buf + n, "{\"second\":%zu}\n", i);
    }

    return n;
}


static int
append_rec(cap_spool_writer_t *w, size_t i, cap_spool_pos_t *start,
    cap_spool_pos_t *end, cap_error_t *err)
{
    return put_rec(w, i, 0, start, end, err);
}


static int
append_rec_staged(cap_spool_writer_t *w, size_t i, cap_spool_pos_t *start,
    cap_spool_pos_t *end, cap_error_t *err)
{
    return put_rec(w, i, 1, start, end, err);
}


/* record "i" for 1 to 3 destinations: appended, or staged */

static int
put_rec(cap_spool_writer_t *w, size_t i, int staged, cap_spool_pos_t *start,
    cap_spool_pos_t *end, cap_error_t *err)
{
    size_t       nd;
    cap_str_t    parts[2];
    cap_uchar_t  names[256], text[1024];

    nd = 1 + i % 3;

    parts[0].data = names;
    parts[0].len = cap_spool_names_write(names, dests, nd) - names;
    parts[1].data = text;
    parts[1].len = rec_text(i, text);

    if (staged) {
        return cap_spool_stage(w, parts, 2, start, end, err);
    }

    return cap_spool_append(w, parts, 2, start, end, err);
}


/* the record's index, when its payload is exactly record idx's */

static int
check_payload(cap_str_t *payload, size_t *idx)
{
    size_t               i, len;
    cap_uchar_t          text[1024];
    cap_spool_payload_t  pl;

    if (cap_spool_payload_decode(payload->data, payload->len, &pl)
        != CAP_OK
        || sscanf((char *) pl.text.data, "{\"i\":%zu,", &i) != 1)
    {
        return CAP_ERROR;
    }

    len = rec_text(i, text);

    if (pl.ndests != 1 + i % 3 || pl.text.len != len
        || memcmp(pl.text.data, text, len) != 0)
    {
        return CAP_ERROR;
    }

    for (len = 0; len < pl.ndests; len++) {
        if (pl.dests[len].len != dests[len].len
            || memcmp(pl.dests[len].data, dests[len].data,
                      dests[len].len) != 0)
        {
            return CAP_ERROR;
        }
    }

    *idx = i;

    return CAP_OK;
}


/* every record up to END, TORN or an error; adds to "g" */

static int
read_reader(cap_spool_reader_t *r, got_t *g)
{
    int                 rc;
    size_t              idx;
    cap_error_t         err;
    cap_spool_record_t  rec;

    for ( ;; ) {
        rc = cap_spool_read(r, &rec, &err);

        if (rc != CAP_OK) {
            break;
        }

        if (check_payload(&rec.payload, &idx) != CAP_OK) {
            g->bad++;
            continue;
        }

        if (g->n < MAXR) {
            g->idx[g->n] = idx;
            g->start[g->n] = rec.start;
            g->end[g->n] = rec.end;
            g->n++;
        }
    }

    if (rc == CAP_ERROR) {
        printf("# read: %s\n", err.text);
    }

    g->rc = rc;
    g->corrupt = r->corrupt;
    g->skipped = r->skipped;
    g->torn_offset = r->torn_offset;
    g->torn_bytes = r->torn_bytes;

    return rc;
}


static void
read_fd(int fd, const cap_str_t *writer, uint64_t seq, got_t *g)
{
    cap_spool_reader_t  r;

    memset(g, 0, sizeof(got_t));

    cap_spool_reader_init(&r, dup(fd), writer, seq, 0, 64 * 1024, &heap);
    read_reader(&r, g);
    cap_spool_reader_close(&r);
}


/* every segment of a writer, in order; counters summed */

static void
read_log(cap_spool_dir_t *dir, const cap_str_t *writer, got_t *g)
{
    size_t              i;
    cap_error_t         err;
    cap_spool_list_t    list;
    cap_spool_reader_t  r;

    memset(g, 0, sizeof(got_t));

    if (cap_spool_list(dir, writer, &arena, &list, &err) != CAP_OK) {
        printf("# list: %s\n", err.text);
        g->rc = CAP_ERROR;
        return;
    }

    for (i = 0; list.nlogs && i < list.logs[0].nsegs; i++) {
        if (cap_spool_reader_open(&r, dir, writer, list.logs[0].segs[i].seq,
                                  0, 64 * 1024, &heap, &err)
            != CAP_OK)
        {
            printf("# open: %s\n", err.text);
            g->rc = CAP_ERROR;
            return;
        }

        r.corrupt = g->corrupt;
        r.skipped = g->skipped;

        read_reader(&r, g);
        cap_spool_reader_close(&r);

        if (g->rc == CAP_ERROR) {
            return;
        }
    }
}


/*
 * With conf.sync, a segment left by a rotation waits, open, for the next
 * sync (at most CAP_SPOOL_LEAVING of them); cap_spool_sync_take() hands
 * them over with the current one and the directory, and
 * cap_spool_sync_run() syncs and closes them.
 */

static void
test_leaving(void)
{
    int                  rc, bad, over, closed, fds[CAP_SPOOL_LEAVING + 1];
    char                 path[128];
    size_t               i, k, nfds, rotations;
    uint64_t             seq;
    cap_error_t          err;
    cap_spool_dir_t      dir;
    cap_spool_pos_t      start, end;
    cap_spool_conf_t     conf = { 16 * 1024, 64 * 1024, 1, 0 };
    cap_spool_writer_t   w;
    cap_spool_syncset_t  set;
    static got_t         g;

    subdir("leaving", path, &dir);

    rc = cap_spool_writer_open(&w, &dir, &w1, &conf, &err);
    is_int(rc, CAP_OK, "a syncing writer opens");
    ok(!cap_spool_sync_pending(&w), "nothing to sync before an append");
    is_int(cap_spool_sync_take(&w, &set, &err), CAP_SPOOL_END,
           "nor to take");

    bad = 0;
    over = 0;
    rotations = 0;
    seq = 0;

    for (i = 0; rotations < CAP_SPOOL_LEAVING + 2; i++) {
        rc = append_rec(&w, i, &start, &end, &err);
        bad += (rc != CAP_OK);

        if (seq && start.seq != seq) {
            rotations++;

            over += (w.nleaving != (rotations < CAP_SPOOL_LEAVING
                                    ? rotations : CAP_SPOOL_LEAVING));

            for (k = 0; k < w.nleaving; k++) {
                bad += (fcntl(w.leaving[k], F_GETFD) == -1);
            }

            /* the oldest left first */

            bad += (w.leaving_seq[w.nleaving - 1] != start.seq - 1);
        }

        seq = start.seq;
    }

    is_int(bad, 0, "appends across %zu rotations, the segments left open",
           rotations);
    is_int(over, 0, "one left per rotation, at most %d", CAP_SPOOL_LEAVING);
    ok(cap_spool_sync_pending(&w), "a sync is pending");

    nfds = w.nleaving + 1;

    rc = cap_spool_sync_take(&w, &set, &err);
    is_int(rc, CAP_OK, "it is taken");
    is_int(set.nfds, nfds, "with the segments left and the current one");
    ok(set.dir != -1, "and the directory (new segments)");
    ok(w.nleaving == 0 && !cap_spool_sync_pending(&w),
       "the writer has nothing left to sync");

    memcpy(fds, set.fds, nfds * sizeof(int));

    is_int(cap_spool_sync_run(&set), 0, "the taken sync runs");

    closed = 0;

    for (k = 0; k < nfds; k++) {
        closed += (fcntl(fds[k], F_GETFD) == -1 && errno == EBADF);
    }

    is_int(closed, nfds, "and closes what it was given");
    ok(set.nfds == 0 && set.dir == -1, "the set is empty after it");
    ok(fcntl(w.fd, F_GETFD) != -1, "the writer's segment stays open");

    /* a sync in the loop covers what is left at a rotation too */

    seq = w.seq;

    for (i = 0; w.seq == seq || w.offset < 4096; i++) {
        (void) append_rec(&w, i, &start, &end, &err);
    }

    is_int(w.nleaving, 1, "one more rotation leaves one segment");
    is_int(cap_spool_sync(&w, &err), CAP_OK, "a sync in one step");
    ok(w.nleaving == 0 && !cap_spool_sync_pending(&w), "leaves nothing");

    (void) append_rec(&w, 0, &start, &end, &err);
    seq = w.seq;

    for (i = 0; w.seq == seq; i++) {
        (void) append_rec(&w, i, &start, &end, &err);
    }

    is_int(cap_spool_writer_close(&w, &err), CAP_OK,
           "a writer closes with a segment left");
    is_int(w.nleaving, 0, "and closes it too");

    read_log(&dir, &w1, &g);
    ok(g.rc == CAP_SPOOL_END && g.corrupt == 0 && g.bad == 0,
       "every segment reads back whole (%zu records)", g.n);

    /* without conf.sync, nothing waits */

    conf.sync = 0;

    rc = cap_spool_writer_open(&w, &dir, &w2, &conf, &err);
    seq = 0;

    for (i = 0; rc == CAP_OK && w.segments < 4; i++) {
        rc = append_rec(&w, i, &start, &end, &err);
    }

    ok(rc == CAP_OK && w.nleaving == 0,
       "a writer that does not sync leaves no segment open");

    (void) cap_spool_writer_close(&w, &err);
    cap_spool_dir_close(&dir);
}


/*
 * Staged records: given their positions at once, in the file only once
 * flushed, all of a flush in one write; AGAIN when the stage is full
 * or the segment has reached its size; a record larger than the stage
 * written at once; a flush that fails leaves nothing and the next
 * record starts a new segment.
 */

static void
test_stage(void)
{
    int                 rc, bad, again, seen_big;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i, n, staged;
    uint64_t            before, seq;
    cap_str_t           part;
    cap_uchar_t         big[9000];
    cap_error_t         err;
    struct rlimit       saved, lim;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end, prev;
    cap_spool_conf_t    conf = { 16 * 1024, 64 * 1024, 0, 8 * 1024 };
    cap_spool_writer_t  w;
    static got_t        g;

    subdir("stage", path, &dir);

    rc = cap_spool_writer_open(&w, &dir, &w1, &conf, &err);
    is_int(rc, CAP_OK, "a writer with a stage opens");

    rc = append_rec(&w, 0, &start, &end, &err);
    is_int(rc, CAP_OK, "an append");

    /* staged: positions at once, the file unchanged until the flush */

    cap_spool_segment_name(seg, &w1, 1);
    before = file_size(&dir, seg);
    prev = end;
    bad = 0;
    n = 1;

    for (i = 1; i <= 3; i++) {
        rc = append_rec_staged(&w, i, &start, &end, &err);
        bad += (rc != CAP_OK || cap_spool_pos_cmp(&start, &prev) != 0);
        prev = end;
        n++;
    }

    is_int(bad, 0, "staged records follow each other");
    ok(file_size(&dir, seg) == before && w.offset == before,
       "and are not in the file yet");

    staged = w.staged;

    is_int(cap_spool_flush(&w, &err), CAP_OK, "a flush");
    ok(file_size(&dir, seg) == before + staged
       && w.offset == end.offset && w.staged == 0,
       "writes them all, up to the last one's end");
    is_int(cap_spool_flush(&w, &err), CAP_OK, "a flush of nothing");

    /* many: AGAIN when the stage is full or the segment has its size */

    again = 0;
    seen_big = 0;
    seq = w.seq;

    memset(big, 'b', sizeof(big));

    for (i = 4; i < 200; i++) {
        if (i % 50 == 0) {

            /* larger than the stage: written at once, after the rest */

            part.data = big;
            part.len = sizeof(big);

            rc = cap_spool_stage(&w, &part, 1, &start, &end, &err);

            if (rc == CAP_SPOOL_AGAIN) {
                again++;
                bad += (cap_spool_flush(&w, &err) != CAP_OK);
                rc = cap_spool_stage(&w, &part, 1, &start, &end, &err);
            }

            bad += (rc != CAP_OK || w.staged != 0
                    || w.offset != end.offset);
            seen_big++;
            continue;
        }

        rc = append_rec_staged(&w, i, &start, &end, &err);

        if (rc == CAP_SPOOL_AGAIN) {
            again++;
            bad += (cap_spool_flush(&w, &err) != CAP_OK);
            rc = append_rec_staged(&w, i, &start, &end, &err);
        }

        bad += (rc != CAP_OK || w.staged > conf.stage_size);
        n++;
    }

    is_int(bad, 0, "records staged, flushed when AGAIN, and %d larger than "
           "the stage written at once", seen_big);
    ok(again >= 5 && w.seq > seq + 1, "AGAIN %d times, across %d segments",
       again, (int) (w.seq - seq) + 1);

    is_int(cap_spool_writer_close(&w, &err), CAP_OK,
           "a close flushes what is staged");

    read_log(&dir, &w1, &g);
    ok(g.rc == CAP_SPOOL_END && g.corrupt == 0 && g.n == n
       && g.bad == seen_big,
       "the log reads back, every record whole, the large ones too "
       "(%zu)", g.n);

    /* a flush that fails */

    subdir("stage_full", path, &dir);
    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    for (i = 0; i < 3; i++) {
        append_rec(&w, i, &start, &end, &err);
    }

    for (i = 3; i < 6; i++) {
        rc = append_rec_staged(&w, i, &start, &end, &err);
    }

    signal(SIGXFSZ, SIG_IGN);
    fflush(stdout);
    getrlimit(RLIMIT_FSIZE, &saved);

    before = w.offset;
    seq = w.seq;
    lim = saved;
    lim.rlim_cur = before + 100;

    setrlimit(RLIMIT_FSIZE, &lim);
    rc = cap_spool_flush(&w, &err);
    setrlimit(RLIMIT_FSIZE, &saved);

    cap_spool_segment_name(seg, &w1, seq);
    ok(rc == CAP_SPOOL_FULL && w.full == 1 && w.staged == 0
       && w.offset == before && file_size(&dir, seg) == before,
       "a flush over the file size limit is FULL, and leaves nothing");
    ok(!cap_spool_writer_live(&w),
       "the writer will not append to that segment again");

    rc = append_rec_staged(&w, 6, &start, &end, &err);
    ok(rc == CAP_OK && start.seq == seq + 1
       && start.offset == CAP_SPOOL_FILE_HEADER
       && cap_spool_writer_live(&w),
       "the next record starts a new segment, which is live");
    ok(end.offset > 0 && cap_spool_flush(&w, &err) == CAP_OK,
       "and is flushed");

    cap_spool_writer_close(&w, &err);

    read_log(&dir, &w1, &g);
    ok(g.n == 4 && g.corrupt == 0 && g.rc == CAP_SPOOL_END
       && g.idx[3] == 6, "the log has the records written, nothing else");

    signal(SIGXFSZ, SIG_DFL);
    cap_spool_dir_close(&dir);
}


/*
 * Random runs of appends, stages and flushes, with random segment and
 * stage sizes: each record goes right after the one before, or starts
 * the next segment once that one has its size; every record reads back
 * where its positions said, with its payload, in order, and nothing
 * else is in the log.
 */

#define RUNS     60
#define RECS     300

static void
test_stage_random(void)
{
    int                  rc, bad, again;
    char                 path[128], name[32];
    size_t               run, i, k, len, nrec, got;
    uint32_t             x;
    cap_str_t            part;
    cap_error_t          err;
    cap_spool_dir_t      dir;
    cap_spool_conf_t     conf;
    cap_spool_list_t     list;
    cap_spool_reader_t   r;
    cap_spool_record_t   rec;
    cap_spool_writer_t   w;
    static cap_uchar_t   data[RECS][5000];
    static size_t        lens[RECS];
    static cap_spool_pos_t  starts[RECS], ends[RECS];

    x = 88172645u;
    bad = 0;
    again = 0;

#define RND()  (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)

    for (run = 0; run < RUNS; run++) {
        snprintf(name, sizeof(name), "random%zu", run);
        subdir(name, path, &dir);

        conf.segment_size = 4096 + RND() % (60 * 1024);
        conf.max_payload = 64 * 1024;
        conf.sync = 0;
        conf.stage_size = (RND() % 4 == 0) ? 0 : RND() % (32 * 1024);

        if (cap_spool_writer_open(&w, &dir, &w1, &conf, &err) != CAP_OK) {
            bad++;
            cap_spool_dir_close(&dir);
            continue;
        }

        for (i = 0; i < RECS; i++) {
            len = RND() % 5000;

            for (k = 0; k < len; k++) {
                data[i][k] = (cap_uchar_t) RND();
            }

            lens[i] = len;
            part.data = data[i];
            part.len = len;

            switch (RND() % 8) {

            case 0:
                rc = cap_spool_append(&w, &part, 1, &starts[i], &ends[i],
                                      &err);
                break;

            default:
                rc = cap_spool_stage(&w, &part, 1, &starts[i], &ends[i],
                                     &err);

                if (rc == CAP_SPOOL_AGAIN) {
                    again++;
                    bad += (cap_spool_flush(&w, &err) != CAP_OK);
                    rc = cap_spool_stage(&w, &part, 1, &starts[i], &ends[i],
                                         &err);
                }
            }

            bad += (rc != CAP_OK);

            /* right after the one before, or a new segment after its size */

            if (i > 0 && starts[i].seq == ends[i - 1].seq) {
                bad += (starts[i].offset != ends[i - 1].offset
                        || ends[i - 1].offset >= conf.segment_size);

            } else if (i > 0) {
                bad += (starts[i].seq != ends[i - 1].seq + 1
                        || starts[i].offset != CAP_SPOOL_FILE_HEADER
                        || ends[i - 1].offset < conf.segment_size);
            }

            if (RND() % 5 == 0) {
                bad += (cap_spool_flush(&w, &err) != CAP_OK);
            }
        }

        bad += (cap_spool_writer_close(&w, &err) != CAP_OK);

        /* read it all back, in order */

        nrec = 0;
        got = 0;

        if (cap_spool_list(&dir, &w1, &arena, &list, &err) != CAP_OK
            || list.nlogs != 1)
        {
            bad++;
            cap_spool_dir_close(&dir);
            continue;
        }

        for (k = 0; k < list.logs[0].nsegs; k++) {
            if (cap_spool_reader_open(&r, &dir, &w1, list.logs[0].segs[k].seq,
                                      0, 64 * 1024, &heap, &err)
                != CAP_OK)
            {
                bad++;
                break;
            }

            while ((rc = cap_spool_read(&r, &rec, &err)) == CAP_OK) {
                got++;

                if (nrec < RECS
                    && (cap_spool_pos_cmp(&rec.start, &starts[nrec]) != 0
                        || cap_spool_pos_cmp(&rec.end, &ends[nrec]) != 0
                        || rec.payload.len != lens[nrec]
                        || memcmp(rec.payload.data, data[nrec],
                                  lens[nrec]) != 0))
                {
                    bad++;
                }

                nrec++;
            }

            bad += (rc != CAP_SPOOL_END || r.corrupt != 0);
            cap_spool_reader_close(&r);
        }

        bad += (got != RECS);

        cap_spool_dir_close(&dir);
        arena_reset();
    }

#undef RND

    is_int(bad, 0, "%d random runs of %d records appended, staged and "
           "flushed: each read back at its positions, whole, in order",
           RUNS, RECS);
    ok(again > 100, "AGAIN %d times among them", again);
}


/*
 * A segment of "nrec" records, written by the writer in its own
 * directory, and read back into memory with its record boundaries.
 */

static void
make_image(const char *name, size_t nrec, image_t *img)
{
    int                 fd;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i;
    struct stat         st;
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 1 << 30, 1 << 20, 0, 0 };
    cap_spool_writer_t  w;

    subdir(name, path, &dir);

    if (cap_spool_writer_open(&w, &dir, &w1, &conf, &err) != CAP_OK) {
        printf("Bail out! %s\n", err.text);
        exit(1);
    }

    img->nrec = nrec;

    for (i = 0; i < nrec; i++) {
        if (append_rec(&w, i, &start, &end, &err) != CAP_OK) {
            printf("Bail out! %s\n", err.text);
            exit(1);
        }

        img->bound[i] = start.offset;
        img->bound[i + 1] = end.offset;
    }

    cap_spool_writer_close(&w, &err);

    cap_spool_segment_name(seg, &w1, 1);

    fd = openat(dir.fd, seg, O_RDONLY);

    if (fd == -1 || fstat(fd, &st) == -1) {
        printf("Bail out! %s: %s\n", seg, strerror(errno));
        exit(1);
    }

    img->len = st.st_size;
    img->data = arena_alloc(NULL, img->len);

    if (pread(fd, img->data, img->len, 0) != (ssize_t) img->len) {
        printf("Bail out! read %s\n", seg);
        exit(1);
    }

    close(fd);
    cap_spool_dir_close(&dir);
}


static void
put_image(int fd, const cap_uchar_t *p, size_t n)
{
    if (ftruncate(fd, 0) == -1
        || (n && pwrite(fd, p, n, 0) != (ssize_t) n))
    {
        printf("Bail out! scratch: %s\n", strerror(errno));
        exit(1);
    }
}


static uint64_t
file_size(cap_spool_dir_t *dir, const char *name)
{
    struct stat  st;

    if (fstatat(dir->fd, name, &st, 0) == -1) {
        return (uint64_t) -1;
    }

    return st.st_size;
}


static void
test_names(void)
{
    char  long_name[80];

    memset(long_name, 'a', sizeof(long_name));

    ok(cap_spool_name_valid((cap_uchar_t *) "1234-1700000000000", 18),
       "a pid and a time are a writer id");
    ok(cap_spool_name_valid((cap_uchar_t *) "Post_hog-2", 10),
       "letters, digits, '_' and '-' are a name");
    ok(cap_spool_name_valid((cap_uchar_t *) long_name, 64),
       "64 characters are a name");
    ok(!cap_spool_name_valid((cap_uchar_t *) long_name, 65),
       "65 are not");
    ok(!cap_spool_name_valid((cap_uchar_t *) "", 0), "empty is not a name");
    ok(!cap_spool_name_valid((cap_uchar_t *) "a.b", 3), "nor one with '.'");
    ok(!cap_spool_name_valid((cap_uchar_t *) "a/b", 3), "nor one with '/'");
    ok(!cap_spool_name_valid((cap_uchar_t *) "a b", 3), "nor one with ' '");
    ok(!cap_spool_name_valid((cap_uchar_t *) "caf\xc3\xa9", 5),
       "nor one with UTF-8");
}


static void
test_payload(void)
{
    size_t               i, n;
    cap_str_t            many[CAP_SPOOL_DESTS_MAX + 1], bad[1];
    cap_uchar_t          buf[8192], *p;
    cap_spool_payload_t  pl;

    n = cap_spool_names_size(dests, 3);
    is_int(n, 2 + 6 + 8 + 11, "the names of three destinations");

    p = cap_spool_names_write(buf, dests, 3);
    is_int(p - buf, n, "are written in that size");
    is_mem(buf, n, "\x03\x00\x05local\x07posthog\x0asegment-eu", n,
           "as count, then length and name each");

    memcpy(p, "{\"a\":1}\n{\"b\":2}\n", 16);

    ok(cap_spool_payload_decode(buf, n + 16, &pl) == CAP_OK,
       "a payload decodes");
    is_int(pl.ndests, 3, "with its three destinations");
    is_str(pl.dests[2].data, pl.dests[2].len, "segment-eu",
           "the last of them");
    is_str(pl.text.data, pl.text.len, "{\"a\":1}\n{\"b\":2}\n",
           "and its text");
    ok(pl.text.data == buf + n, "pointing into the payload");

    for (i = 0; i <= CAP_SPOOL_DESTS_MAX; i++) {
        many[i] = dests[i % 3];
    }

    n = cap_spool_names_size(many, CAP_SPOOL_DESTS_MAX);
    p = cap_spool_names_write(buf, many, CAP_SPOOL_DESTS_MAX);
    *p++ = '\n';

    ok(n > 0 && cap_spool_payload_decode(buf, n + 1, &pl) == CAP_OK
       && pl.ndests == CAP_SPOOL_DESTS_MAX,
       "64 destinations are the most");
    is_int(cap_spool_names_size(many, CAP_SPOOL_DESTS_MAX + 1), 0,
           "65 are refused");
    is_int(cap_spool_names_size(many, 0), 0, "no destination is refused");

    bad[0] = (cap_str_t) cap_string("a.b");
    is_int(cap_spool_names_size(bad, 1), 0, "an invalid name is refused");

    ok(cap_spool_payload_decode((cap_uchar_t *) "", 0, &pl) != CAP_OK
       && cap_spool_payload_decode((cap_uchar_t *) "\x01", 1, &pl) != CAP_OK,
       "no payload is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x00\x00x\n", 4, &pl)
       != CAP_OK, "no destination is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x41\x00\x01z\n", 5, &pl)
       != CAP_OK, "65 destinations are not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x09zz\n", 6, &pl)
       != CAP_OK, "a name past the end is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x00x\n", 5, &pl)
       != CAP_OK, "an empty name is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x01.x\n", 6, &pl)
       != CAP_OK, "an invalid name is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x01z", 4, &pl)
       != CAP_OK, "no text is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x01z{}", 6, &pl)
       != CAP_OK, "a text without its last newline is not one");
    ok(cap_spool_payload_decode((cap_uchar_t *) "\x01\x00\x01z\n", 5, &pl)
       == CAP_OK && pl.text.len == 1, "a newline is a text");
}


static void
test_framing(void)
{
    int          bad;
    size_t       i, bit;
    uint32_t     len, crc, max;
    cap_uchar_t  h[CAP_SPOOL_FILE_HEADER];

    cap_spool_record_header(h, 1000, 0xdeadbeef);

    ok(memcmp(h, "CRec\xe8\x03\x00\x00\xef\xbe\xad\xde", 12) == 0,
       "a record header: magic, length and CRC in little-endian");
    ok(cap_spool_record_check(h, 1000, &len, &crc) == CAP_OK
       && len == 1000 && crc == 0xdeadbeef, "checks with its values");
    ok(cap_spool_record_check(h, 999, &len, &crc) != CAP_OK,
       "not over the maximum");

    bad = 0;

    for (i = 0; i < CAP_SPOOL_RECORD_HEADER; i++) {
        for (bit = 0; bit < 8; bit++) {
            h[i] ^= 1 << bit;
            bad += (cap_spool_record_check(h, 1 << 30, &len, &crc) == CAP_OK);
            h[i] ^= 1 << bit;
        }
    }

    is_int(bad, 0, "every bit flipped in a record header is seen");

    cap_spool_file_header(h, &w1, 7, 65536);

    ok(memcmp(h, "CAPSPOOL\x01\x00\x00\x00\x00\x00\x01\x00"
                 "\x07\x00\x00\x00\x00\x00\x00\x00", 24) == 0,
       "a file header: magic, version, maximum payload, seq");
    ok(cap_spool_file_header_check(h, cap_crc32c(0, w1.data, w1.len), 7,
                                   &max) == CAP_OK && max == 65536,
       "checks for its writer and seq");
    ok(cap_spool_file_header_check(h, cap_crc32c(0, w1.data, w1.len), 8,
                                   &max) != CAP_OK,
       "not for another seq");
    ok(cap_spool_file_header_check(h, cap_crc32c(0, w2.data, w2.len), 7,
                                   &max) != CAP_OK,
       "nor for another writer");

    bad = 0;

    for (i = 0; i < CAP_SPOOL_FILE_HEADER; i++) {
        for (bit = 0; bit < 8; bit++) {
            h[i] ^= 1 << bit;
            bad += (cap_spool_file_header_check(h,
                        cap_crc32c(0, w1.data, w1.len), 7, &max) == CAP_OK);
            h[i] ^= 1 << bit;
        }
    }

    is_int(bad, 0, "every bit flipped in a file header is seen");
}


static void
test_roundtrip(void)
{
    int                 rc, bad, rotations;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i, n;
    uint64_t            total;
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end, prev;
    cap_spool_list_t    list;
    cap_spool_conf_t    conf = { 16 * 1024, 64 * 1024, 1, 0 };
    cap_spool_writer_t  w;
    static got_t        g;
    static cap_spool_pos_t  starts[MAXR], ends[MAXR];

    subdir("roundtrip", path, &dir);

    rc = cap_spool_writer_open(&w, &dir, &w1, &conf, &err);
    is_int(rc, CAP_OK, "a writer opens");
    is_int(w.seq, 0, "with no segment yet");
    is_int(file_size(&dir, "1234-1700000000000.lock"), 0,
           "and its lock file");

    n = 3000;
    bad = 0;
    rotations = 0;
    prev.seq = 0;
    prev.offset = 0;

    for (i = 0; i < n; i++) {
        if (append_rec(&w, i, &start, &end, &err) != CAP_OK) {
            printf("# append %zu: %s\n", i, err.text);
            bad++;
            break;
        }

        starts[i] = start;
        ends[i] = end;

        if (i == 0) {
            bad += (start.seq != 1 || start.offset != CAP_SPOOL_FILE_HEADER);

        } else if (start.seq == prev.seq) {
            /* right after the previous one, which had not reached it */
            bad += (start.offset != prev.offset
                    || prev.offset >= conf.segment_size);

        } else {
            /* a new segment, after one that reached the size */
            rotations++;
            bad += (start.seq != prev.seq + 1
                    || start.offset != CAP_SPOOL_FILE_HEADER
                    || prev.offset < conf.segment_size);
        }

        bad += (end.seq != start.seq || end.offset <= start.offset);
        prev = end;
    }

    is_int(bad, 0, "3000 appends, each right after the previous one, "
           "a new segment only after the size");
    ok(rotations > 10, "across %d rotations", rotations);
    is_int(w.records, n, "the writer counts the records");
    is_int(w.segments, rotations + 1, "and the segments");
    is_int(w.seq, rotations + 1, "its current segment is the last");

    is_int(cap_spool_sync(&w, &err), CAP_OK, "sync");
    is_int(cap_spool_writer_close(&w, &err), CAP_OK, "close");

    rc = cap_spool_list(&dir, NULL, &arena, &list, &err);

    ok(rc == CAP_OK && list.nlogs == 1 && list.logs[0].lock
       && list.logs[0].nsegs == (size_t) rotations + 1,
       "the directory lists one log with its lock and its segments");

    bad = 0;
    total = 0;

    for (i = 0; rc == CAP_OK && i < list.logs[0].nsegs; i++) {
        bad += (list.logs[0].segs[i].seq != i + 1);
        total += list.logs[0].segs[i].size;
    }

    /* the size of each segment is the end of its last record */

    for (i = 0; i < n; i++) {
        if (i + 1 == n || starts[i + 1].seq != starts[i].seq) {
            cap_spool_segment_name(seg, &w1, starts[i].seq);
            bad += (file_size(&dir, seg) != ends[i].offset);
        }
    }

    is_int(bad, 0, "sorted by seq, each as long as its records");
    is_int(total, w.bytes, "the bytes written are the segments' sizes");
    is_int(list.bytes, total, "which the list sums");

    read_log(&dir, &w1, &g);

    is_int(g.n, n, "every record is read back");
    is_int(g.bad, 0, "with its payload");
    is_int(g.corrupt, 0, "none corrupt");

    bad = 0;

    for (i = 0; i < g.n; i++) {
        bad += (g.idx[i] != i
                || cap_spool_pos_cmp(&g.start[i], &starts[i]) != 0
                || cap_spool_pos_cmp(&g.end[i], &ends[i]) != 0);
    }

    is_int(bad, 0, "in order, at the positions the writer gave");

    /* the same id again: after the segments it already has */

    rc = cap_spool_writer_open(&w, &dir, &w1, &conf, &err);
    ok(rc == CAP_OK && w.seq == (uint64_t) rotations + 1,
       "a writer of the same id continues after its last seq");

    rc = append_rec(&w, n, &start, &end, &err);
    ok(rc == CAP_OK && start.seq == (uint64_t) rotations + 2,
       "in a new segment");

    cap_spool_writer_close(&w, &err);

    /* an open error names the file */

    conf.segment_size = 0;
    rc = cap_spool_writer_open(&w, &dir, &w2, &conf, &err);
    is_int(rc, CAP_ERROR, "a segment size of 0 is refused");

    conf.segment_size = 4096;
    rc = cap_spool_writer_open(&w, &dir, &dests[0], &conf, &err);
    ok(rc == CAP_OK, "another writer in the same directory");
    cap_spool_writer_close(&w, &err);

    {
        cap_spool_dir_t  missing;

        rc = cap_spool_dir_open(&missing, "/tmp/cap_spool_missing/dir",
                                &err);
        ok(rc == CAP_ERROR && err.code == CAP_E_UNAVAILABLE
           && strstr(err.text, "No such file") != NULL,
           "a missing directory is an error: %s", err.text);
    }

    arena_reset();
    cap_spool_dir_close(&dir);
}


static void
test_follow(void)
{
    int                 fd, rc;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i, tlen;
    uint64_t            at;
    cap_str_t           parts[2];
    cap_uchar_t         names[64], text[1024], rec[1200];
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 1 << 20, 1 << 20, 0, 0 };
    cap_spool_writer_t  w;
    cap_spool_reader_t  r;
    static got_t        g;

    subdir("follow", path, &dir);
    memset(&g, 0, sizeof(got_t));

    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    for (i = 0; i < 10; i++) {
        append_rec(&w, i, &start, &end, &err);
    }

    rc = cap_spool_reader_open(&r, &dir, &w1, 1, 0, 1 << 20, &heap, &err);
    is_int(rc, CAP_OK, "a reader opens the current segment");

    read_reader(&r, &g);
    ok(g.n == 10 && g.rc == CAP_SPOOL_END, "reads 10 records, then END");

    read_reader(&r, &g);
    ok(g.n == 10 && g.rc == CAP_SPOOL_END, "END again, nothing new");

    for (i = 10; i < 15; i++) {
        append_rec(&w, i, &start, &end, &err);
    }

    read_reader(&r, &g);
    ok(g.n == 15 && g.rc == CAP_SPOOL_END && g.idx[14] == 14,
       "5 more appended are read after END");

    at = end.offset;
    cap_spool_writer_close(&w, &err);

    /* a record being written, by hand: its bytes arrive in pieces */

    parts[0].data = names;
    parts[0].len = cap_spool_names_write(names, dests, 1 + 15 % 3) - names;
    parts[1].data = text;
    parts[1].len = rec_text(15, text);
    tlen = parts[0].len + parts[1].len;

    memcpy(rec + CAP_SPOOL_RECORD_HEADER, names, parts[0].len);
    memcpy(rec + CAP_SPOOL_RECORD_HEADER + parts[0].len, text, parts[1].len);
    cap_spool_record_header(rec, tlen,
                            cap_crc32c(0, rec + CAP_SPOOL_RECORD_HEADER,
                                       tlen));

    cap_spool_segment_name(seg, &w1, 1);
    fd = openat(dir.fd, seg, O_WRONLY);

    rc = (pwrite(fd, rec, 7, at) == 7);
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_TORN && g.torn_offset == at
       && g.torn_bytes == 7, "7 bytes of a header: TORN at its start");

    rc = (pwrite(fd, rec + 7, 30, at + 7) == 30);
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_TORN && g.torn_offset == at
       && g.torn_bytes == 37, "a header and part of its payload: TORN");

    rc = (pwrite(fd, rec + 37, 16 + tlen - 37, at + 37)
          == (ssize_t) (16 + tlen - 37));
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_END && g.n == 16 && g.idx[15] == 15
       && g.corrupt == 0, "the whole record is read once it is there");

    /*
     * The writer cuts a record it could not write whole, and writes
     * another in its place: what the reader saw of the first is gone.
     */

    rc = (pwrite(fd, rec, 37, g.end[15].offset) == 37);
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_TORN && g.torn_bytes == 37,
       "a second record begins: TORN");

    rc = (ftruncate(fd, g.end[15].offset) == 0);
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_END && g.n == 16, "cut back: END");

    parts[1].len = rec_text(16, text);
    parts[0].len = cap_spool_names_write(names, dests, 1 + 16 % 3) - names;
    tlen = parts[0].len + parts[1].len;

    memcpy(rec + CAP_SPOOL_RECORD_HEADER, names, parts[0].len);
    memcpy(rec + CAP_SPOOL_RECORD_HEADER + parts[0].len, text, parts[1].len);
    cap_spool_record_header(rec, tlen,
                            cap_crc32c(0, rec + CAP_SPOOL_RECORD_HEADER,
                                       tlen));

    rc = (pwrite(fd, rec, 16 + tlen, g.end[15].offset)
          == (ssize_t) (16 + tlen));
    read_reader(&r, &g);
    ok(rc && g.rc == CAP_SPOOL_END && g.n == 17 && g.idx[16] == 16
       && g.corrupt == 0, "another record written there is read whole");

    close(fd);
    cap_spool_reader_close(&r);

    /* a reader from a cursor's offset */

    rc = cap_spool_reader_open(&r, &dir, &w1, 1, g.start[12].offset, 1 << 20,
                               &heap, &err);
    memset(&g, 0, sizeof(got_t));
    read_reader(&r, &g);
    ok(rc == CAP_OK && g.n == 5 && g.idx[0] == 12 && g.rc == CAP_SPOOL_END,
       "a reader from an offset starts there");
    cap_spool_reader_close(&r);

    rc = cap_spool_reader_open(&r, &dir, &w1, 9, 0, 1 << 20, &heap, &err);
    is_int(rc, CAP_SPOOL_NOENT, "a missing segment is NOENT");

    cap_spool_dir_close(&dir);
}


static void
test_torn(void)
{
    int              fd, bad;
    char             path[128];
    size_t           len, k, want;
    image_t          img;
    cap_spool_dir_t  dir;
    static got_t     g, g2;

    make_image("torn", 20, &img);
    subdir("torn-scratch", path, &dir);

    fd = openat(dir.fd, "scratch", O_RDWR | O_CREAT, 0600);

    bad = 0;

    for (len = 0; len <= img.len; len++) {
        put_image(fd, img.data, len);
        read_fd(fd, &w1, 1, &g);

        want = 0;

        for (k = 1; k <= img.nrec; k++) {
            want += (img.bound[k] <= len);
        }

        if (g.n != want || g.bad || g.corrupt || g.skipped) {
            printf("# at %zu: %zu records (%zu), corrupt %llu\n", len, g.n,
                   want, (unsigned long long) g.corrupt);
            bad++;
            continue;
        }

        if (len == 0 || len == img.bound[want]) {
            bad += (g.rc != CAP_SPOOL_END);

        } else if (len < CAP_SPOOL_FILE_HEADER) {
            bad += (g.rc != CAP_SPOOL_TORN || g.torn_offset != 0
                    || g.torn_bytes != len);

        } else {
            bad += (g.rc != CAP_SPOOL_TORN
                    || g.torn_offset != img.bound[want]
                    || g.torn_bytes != len - img.bound[want]);
        }
    }

    is_int(bad, 0, "a segment cut at each of its %zu lengths: the whole "
           "records, then END or TORN where the cut one starts", img.len);

    /* the same reader, once the rest is there */

    bad = 0;

    for (len = 0; len <= img.len; len += 7) {
        cap_spool_reader_t  r;

        put_image(fd, img.data, len);

        memset(&g2, 0, sizeof(got_t));
        cap_spool_reader_init(&r, dup(fd), &w1, 1, 0, 1 << 20, &heap);
        read_reader(&r, &g2);

        put_image(fd, img.data, img.len);
        read_reader(&r, &g2);
        cap_spool_reader_close(&r);

        bad += (g2.n != img.nrec || g2.rc != CAP_SPOOL_END || g2.corrupt
                || g2.bad || g2.idx[img.nrec - 1] != img.nrec - 1);
    }

    is_int(bad, 0, "and read on when the rest arrives: every record");

    close(fd);
    cap_spool_dir_close(&dir);
}


static void
test_flips(void)
{
    int              fd, bad, m;
    char             path[128];
    size_t           off, k, i, j, dam;
    image_t          img;
    cap_uchar_t      masks[3] = { 0x01, 0x80, 0xff };
    cap_spool_dir_t  dir;
    static got_t     g;

    make_image("flips", 12, &img);
    subdir("flips-scratch", path, &dir);

    fd = openat(dir.fd, "scratch", O_RDWR | O_CREAT, 0600);

    bad = 0;

    for (off = 0; off < img.len; off++) {
        for (m = 0; m < 3; m++) {
            img.data[off] ^= masks[m];
            put_image(fd, img.data, img.len);
            img.data[off] ^= masks[m];

            read_fd(fd, &w1, 1, &g);

            if (off < CAP_SPOOL_FILE_HEADER) {
                bad += (g.n != img.nrec || g.corrupt != 1
                        || g.skipped != CAP_SPOOL_FILE_HEADER);
                continue;
            }

            for (dam = 0; img.bound[dam + 1] <= off; dam++) {
                /* void */
            }

            if (g.n != img.nrec - 1 || g.corrupt != 1 || g.bad
                || g.rc != CAP_SPOOL_END
                || g.skipped != img.bound[dam + 1] - img.bound[dam])
            {
                printf("# byte %zu ^ %02x: %zu records, corrupt %llu, "
                       "skipped %llu\n", off, masks[m], g.n,
                       (unsigned long long) g.corrupt,
                       (unsigned long long) g.skipped);
                bad++;
                continue;
            }

            for (i = 0, k = 0; k < img.nrec; k++) {
                if (k != dam) {
                    bad += (g.idx[i] != k
                            || g.start[i].offset != img.bound[k]);
                    i++;
                }
            }
        }
    }

    is_int(bad, 0, "a byte changed at each of %zu offsets (3 ways): that "
           "record alone is skipped, counted once, the rest in order",
           img.len);

    /* two records damaged, one in its header, one in its payload */

    bad = 0;

    for (i = 0; i + 1 < img.nrec; i++) {
        j = i + 1 + (i * 5) % (img.nrec - i - 1);

        img.data[img.bound[i] + 5] ^= 0x10;
        img.data[img.bound[j + 1] - 2] ^= 0x10;
        put_image(fd, img.data, img.len);
        img.data[img.bound[i] + 5] ^= 0x10;
        img.data[img.bound[j + 1] - 2] ^= 0x10;

        read_fd(fd, &w1, 1, &g);

        bad += (g.n != img.nrec - 2 || g.corrupt != (j == i + 1 ? 1 : 2)
                || g.skipped != img.bound[i + 1] - img.bound[i]
                                + img.bound[j + 1] - img.bound[j]);
    }

    is_int(bad, 0, "two damaged records: both skipped (one event when "
           "they are adjacent)");

    close(fd);
    cap_spool_dir_close(&dir);
}


static void
test_garbage(void)
{
    int              fd, bad, kind;
    char             path[128];
    size_t           glen, at, i;
    image_t          img;
    uint32_t         x;
    cap_uchar_t     *buf, garbage[600];
    cap_spool_dir_t  dir;
    static got_t     g;

    make_image("garbage", 10, &img);
    subdir("garbage-scratch", path, &dir);

    fd = openat(dir.fd, "scratch", O_RDWR | O_CREAT, 0600);
    buf = malloc(img.len + sizeof(garbage));

    bad = 0;
    x = 12345;

    for (kind = 0; kind < 4; kind++) {
        for (glen = 1; glen < sizeof(garbage); glen += 37) {

            for (i = 0; i < glen; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;

                switch (kind) {
                case 0:
                    garbage[i] = (cap_uchar_t) x;
                    break;
                case 1:
                    garbage[i] = "CRec"[i % 4];
                    break;
                case 2:
                    garbage[i] = (i % 3) ? 'C' : 0;
                    break;
                default:
                    garbage[i] = 0;
                }
            }

            /* a header that holds, over bytes that do not */

            if (kind == 0 && glen > 40) {
                cap_spool_record_header(garbage + 8, 100, 0x12345678);
            }

            at = img.bound[4];

            memcpy(buf, img.data, at);
            memcpy(buf + at, garbage, glen);
            memcpy(buf + at + glen, img.data + at, img.len - at);
            put_image(fd, buf, img.len + glen);

            read_fd(fd, &w1, 1, &g);

            if (g.n != img.nrec || g.bad || g.skipped != glen
                || g.corrupt != 1 || g.rc != CAP_SPOOL_END)
            {
                printf("# garbage %d of %zu: %zu records, corrupt %llu, "
                       "skipped %llu\n", kind, glen, g.n,
                       (unsigned long long) g.corrupt,
                       (unsigned long long) g.skipped);
                bad++;
            }

            /* and at the end of the file */

            memcpy(buf, img.data, img.len);
            memcpy(buf + img.len, garbage, glen);
            put_image(fd, buf, img.len + glen);

            read_fd(fd, &w1, 1, &g);

            if (g.n != img.nrec || g.corrupt > 1
                || g.skipped + g.torn_bytes != glen
                || (g.rc == CAP_SPOOL_TORN) != (g.torn_bytes != 0))
            {
                printf("# tail garbage %d of %zu: %zu records, corrupt "
                       "%llu, skipped %llu, torn %llu\n", kind, glen, g.n,
                       (unsigned long long) g.corrupt,
                       (unsigned long long) g.skipped,
                       (unsigned long long) g.torn_bytes);
                bad++;
            }
        }
    }

    is_int(bad, 0, "garbage between records (random, magics, 'C's, "
           "zeros, a false header): resynchronised, one event, every "
           "record; at the end: skipped or torn");

    free(buf);
    close(fd);
    cap_spool_dir_close(&dir);
}


static void
test_file_header(void)
{
    int              fd;
    char             path[128];
    image_t          img;
    cap_uchar_t      h[CAP_SPOOL_FILE_HEADER];
    cap_spool_dir_t  dir;
    static got_t     g;

    make_image("header", 10, &img);
    subdir("header-scratch", path, &dir);

    fd = openat(dir.fd, "scratch", O_RDWR | O_CREAT, 0600);

    put_image(fd, img.data, img.len);

    read_fd(fd, &w1, 1, &g);
    ok(g.n == 10 && g.corrupt == 0, "a good file header");

    read_fd(fd, &w1, 2, &g);
    ok(g.n == 10 && g.corrupt == 1 && g.skipped == CAP_SPOOL_FILE_HEADER,
       "one of another seq (a renamed file) is a corruption event, "
       "its records are read");

    read_fd(fd, &w2, 1, &g);
    ok(g.n == 10 && g.corrupt == 1, "so is one of another writer");

    memcpy(h, img.data, sizeof(h));
    memset(img.data, 0, sizeof(h));
    put_image(fd, img.data, img.len);

    read_fd(fd, &w1, 1, &g);
    ok(g.n == 10 && g.corrupt == 1 && g.rc == CAP_SPOOL_END,
       "and one of zeros");

    /* a version this reader does not know, with a CRC that holds */

    memcpy(img.data, h, sizeof(h));
    img.data[8] = 2;
    img.data[28] = 0;
    {
        uint32_t  crc;

        crc = cap_crc32c(0, img.data, 28);
        img.data[28] = (cap_uchar_t) crc;
        img.data[29] = (cap_uchar_t) (crc >> 8);
        img.data[30] = (cap_uchar_t) (crc >> 16);
        img.data[31] = (cap_uchar_t) (crc >> 24);
    }

    put_image(fd, img.data, img.len);
    read_fd(fd, &w1, 1, &g);
    ok(g.corrupt == 1 && g.n == 10, "a version 2 header is not trusted");

    memcpy(img.data, h, sizeof(h));
    put_image(fd, img.data, 0);
    read_fd(fd, &w1, 1, &g);
    ok(g.rc == CAP_SPOOL_END && g.n == 0 && g.corrupt == 0,
       "an empty file (created, no header yet) is END");

    close(fd);
    cap_spool_dir_close(&dir);
}


static void
test_max_payload(void)
{
    int                 rc, fd;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i, sizes[4] = { 1 << 20, 100, 3 << 20, 200 };
    uint64_t            before;
    cap_str_t           part;
    cap_uchar_t        *big, h[CAP_SPOOL_FILE_HEADER];
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 1 << 30, 1000, 0, 0 };
    cap_spool_writer_t  w;
    cap_spool_reader_t  r;
    cap_spool_record_t  rec;

    subdir("max", path, &dir);

    big = malloc(4 << 20);
    memset(big, 'x', 4 << 20);

    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    part.data = big;
    part.len = 1000;
    rc = cap_spool_append(&w, &part, 1, &start, &end, &err);
    is_int(rc, CAP_OK, "a payload of the maximum is taken");

    before = w.offset;
    part.len = 1001;
    rc = cap_spool_append(&w, &part, 1, &start, &end, &err);
    ok(rc == CAP_ERROR && err.code == CAP_E_BODY_TOO_LARGE,
       "one byte more is refused: %s", err.text);
    ok(w.offset == before && w.records == 1, "and nothing is written");

    cap_spool_writer_close(&w, &err);

    /* records larger than the read buffer */

    conf.max_payload = 4 << 20;
    cap_spool_writer_open(&w, &dir, &w2, &conf, &err);

    for (i = 0; i < 4; i++) {
        part.len = sizes[i];
        big[0] = (cap_uchar_t) i;
        cap_spool_append(&w, &part, 1, &start, &end, &err);
    }

    cap_spool_writer_close(&w, &err);

    rc = cap_spool_reader_open(&r, &dir, &w2, 1, 0, 1000, &heap, &err);

    for (i = 0; i < 4 && rc == CAP_OK; i++) {
        rc = cap_spool_read(&r, &rec, &err);

        if (rc != CAP_OK || rec.payload.len != sizes[i]
            || rec.payload.data[0] != i)
        {
            rc = CAP_ERROR;
        }
    }

    ok(rc == CAP_OK && cap_spool_read(&r, &rec, &err) == CAP_SPOOL_END,
       "records of 1 MB and 3 MB are read (the file's maximum counts, "
       "not the reader's)");
    ok(r.size <= CAP_SPOOL_READ_BUF, "the large buffer is freed at END");
    cap_spool_reader_close(&r);

    /* a file header that says less than the records are */

    cap_spool_segment_name(seg, &w2, 1);
    fd = openat(dir.fd, seg, O_RDWR);
    cap_spool_file_header(h, &w2, 1, 500);
    rc = (pwrite(fd, h, sizeof(h), 0) == sizeof(h));
    close(fd);

    {
        static got_t  g;

        memset(&g, 0, sizeof(got_t));
        cap_spool_reader_open(&r, &dir, &w2, 1, 0, 1000, &heap, &err);

        i = 0;

        while (cap_spool_read(&r, &rec, &err) == CAP_OK) {
            i++;
            g.n = rec.payload.len;
        }

        ok(rc && i == 2 && g.n == 200 && r.corrupt == 2,
           "over the file's maximum: counted as corrupt, the small ones "
           "read");
        cap_spool_reader_close(&r);
    }

    free(big);
    cap_spool_dir_close(&dir);
}


static void
test_cursors(void)
{
    int                 rc, fd;
    char                path[128];
    cap_uchar_t         s[CAP_SPOOL_CURSOR_SLOT];
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     p1 = { 1, 100 }, p2 = { 1, 200 }, p3 = { 2, 32 };
    cap_spool_pos_t     p4 = { 3, 64 }, zero = { 0, 0 };
    cap_spool_cursor_t  c;

    subdir("cursors", path, &dir);

    rc = cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    is_int(rc, CAP_SPOOL_NOENT, "a missing cursor is NOENT without create");

    rc = cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 1, &err);
    ok(rc == CAP_OK && cap_spool_pos_cmp(&c.pos, &zero) == 0 && !c.corrupt,
       "a new cursor is at {0, 0}");
    is_int(file_size(&dir, "1234-1700000000000.posthog.cur"), 4096 + 32,
           "its file has both slots, a block apart");

    rc = cap_spool_cursor_store(&c, &p1, 0, &err);
    rc |= cap_spool_cursor_store(&c, &p2, 1, &err);
    rc |= cap_spool_cursor_store(&c, &p3, 0, &err);
    is_int(rc, CAP_OK, "three stores");
    cap_spool_cursor_close(&c);

    rc = cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    ok(rc == CAP_OK && cap_spool_pos_cmp(&c.pos, &p3) == 0,
       "the last is loaded");

    /* the next store, torn: the first 20 bytes of its slot */

    cap_spool_cursor_slot(s, c.gen + 1, &p4);
    fd = c.fd;
    rc = (pwrite(fd, s, 20, c.slot ? 0 : 4096) == 20);
    cap_spool_cursor_close(&c);

    rc &= (cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err)
           == CAP_OK);
    ok(rc && cap_spool_pos_cmp(&c.pos, &p3) == 0 && !c.corrupt,
       "a torn store leaves the previous position");

    rc = cap_spool_cursor_store(&c, &p4, 0, &err);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    ok(rc == CAP_OK && cap_spool_pos_cmp(&c.pos, &p4) == 0,
       "and the next store is taken");

    /* the slot of the current position damaged: the one before it */

    memset(s, 0xee, sizeof(s));
    rc = (pwrite(c.fd, s, 10, c.slot ? 4096 : 0) == 10);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    ok(rc && cap_spool_pos_cmp(&c.pos, &p3) == 0,
       "a damaged current slot gives the position before it");

    /* both */

    rc = (pwrite(c.fd, s, 32, 0) == 32 && pwrite(c.fd, s, 32, 4096) == 32);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    ok(rc && c.corrupt && cap_spool_pos_cmp(&c.pos, &zero) == 0,
       "both damaged: {0, 0} and corrupt (the log is delivered again)");

    rc = cap_spool_cursor_store(&c, &p2, 1, &err);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w1, &dests[1], 0, &err);
    ok(rc == CAP_OK && !c.corrupt && cap_spool_pos_cmp(&c.pos, &p2) == 0,
       "a store after that is loaded");
    cap_spool_cursor_close(&c);

    /* an empty file: created by a process that died at once */

    fd = openat(dir.fd, "1234-1700000000000.local.cur", O_CREAT | O_WRONLY,
                0600);
    close(fd);

    rc = cap_spool_cursor_open(&c, &dir, &w1, &dests[0], 0, &err);
    ok(rc == CAP_OK && cap_spool_pos_cmp(&c.pos, &zero) == 0 && !c.corrupt
       && file_size(&dir, "1234-1700000000000.local.cur") == 4096 + 32,
       "an empty cursor file is a new cursor");
    cap_spool_cursor_close(&c);

    rc = cap_spool_cursor_remove(&dir, &w1, &dests[0], &err);
    rc |= cap_spool_cursor_remove(&dir, &w1, &dests[0], &err);
    ok(rc == CAP_OK && file_size(&dir, "1234-1700000000000.local.cur")
                       == (uint64_t) -1, "a cursor is removed (twice)");

    rc = cap_spool_cursor_open(&c, &dir, &w1, &w2, 1, &err);
    cap_spool_cursor_close(&c);
    rc |= cap_spool_cursor_open(&c, &dir, &w1,
                                &(cap_str_t) cap_string("a.b"), 1, &err);
    is_int(rc, CAP_ERROR, "an invalid destination name is refused");

    cap_spool_dir_close(&dir);
}


static void
test_lock(void)
{
    int                 rc, fd, round, status, up[2], down[2];
    char                path[128], c;
    pid_t               pid;
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 1 << 20, 1 << 20, 0, 0 };
    cap_spool_writer_t  w;
    static got_t        g;

    subdir("lock", path, &dir);

    for (round = 0; round < 2; round++) {
        if (pipe(up) == -1 || pipe(down) == -1) {
            printf("Bail out! pipe: %s\n", strerror(errno));
            exit(1);
        }

        fflush(stdout);

        pid = fork();

        if (pid == 0) {
            /* round 0: a live adopter; round 1: a writer, then killed */

            if (round == 0) {
                rc = cap_spool_adopt_try(&dir, &w2, &fd, &err);

            } else {
                rc = cap_spool_writer_open(&w, &dir, &w2, &conf, &err);
                rc |= append_rec(&w, 0, &start, &end, &err);
                rc |= append_rec(&w, 1, &start, &end, &err);
            }

            c = (rc == CAP_OK) ? 'L' : 'E';

            if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1) {
                _exit(2);
            }

            _exit(0);
        }

        rc = (read(up[0], &c, 1) == 1 && c == 'L');
        ok(rc, "round %d: the child holds the lock", round);

        rc = cap_spool_adopt_try(&dir, &w2, &fd, &err);
        ok(rc == CAP_SPOOL_BUSY, "adoption fails while it lives: %s",
           err.text);

        rc = cap_spool_writer_open(&w, &dir, &w2, &conf, &err);
        is_int(rc, CAP_SPOOL_BUSY, "so does a writer of the same id");

        if (round == 0) {
            c = 'x';
            rc = (write(down[1], &c, 1) == 1);

        } else {
            rc = (kill(pid, SIGKILL) == 0);
        }

        rc &= (waitpid(pid, &status, 0) == pid);
        ok(rc, round ? "the child is killed (SIGKILL)" : "the child exits");

        rc = cap_spool_adopt_try(&dir, &w2, &fd, &err);
        is_int(rc, CAP_OK, "then the log is adopted");

        if (round == 1) {
            read_log(&dir, &w2, &g);
            ok(g.n == 2 && g.idx[1] == 1, "with the dead writer's records");

            rc = cap_spool_segment_remove(&dir, &w2, 1, &err);
            is_int(rc, CAP_OK, "which are removed once delivered");
        }

        cap_spool_unlock(&dir, &w2, fd, round == 1);

        close(up[0]);
        close(up[1]);
        close(down[0]);
        close(down[1]);
    }

    is_int(file_size(&dir, "other_writer.lock"), (uint64_t) -1,
           "the lock file is removed with the log");

    rc = cap_spool_adopt_try(&dir, &w2, &fd, &err);
    is_int(rc, CAP_OK, "and a lock can be taken again");
    cap_spool_unlock(&dir, &w2, fd, 1);

    arena_reset();
    cap_spool_dir_close(&dir);
}


static void
test_list(void)
{
    int                 rc, fd, bad;
    char                path[128];
    size_t              i;
    uint64_t            usage, seq;
    cap_error_t         err;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_log_t    *log;
    cap_spool_list_t    list;
    cap_spool_conf_t    conf = { 1000, 1 << 20, 0, 0 };
    cap_spool_cursor_t  c;
    cap_spool_writer_t  w;

    subdir("list", path, &dir);

    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    for (i = 0; i < 20; i++) {
        append_rec(&w, i, &start, &end, &err);
    }

    cap_spool_cursor_open(&c, &dir, &w1, &dests[2], 1, &err);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w1, &dests[0], 1, &err);
    cap_spool_cursor_close(&c);
    cap_spool_cursor_open(&c, &dir, &w2, &dests[1], 1, &err);
    cap_spool_cursor_close(&c);

    fd = openat(dir.fd, "other_writer-00000000000000ff.seg",
                O_CREAT | O_WRONLY, 0600);
    rc = (write(fd, "12345", 5) == 5);
    close(fd);
    fd = openat(dir.fd, "other_writer-0000000000000010.seg",
                O_CREAT | O_WRONLY, 0600);
    close(fd);

    for (i = 0; junk[i]; i++) {
        fd = openat(dir.fd, junk[i], O_CREAT | O_WRONLY, 0600);
        close(fd);
    }

    rc &= (mkdirat(dir.fd, "zz-0000000000000001.seg", 0700) == 0);

    rc &= (cap_spool_list(&dir, NULL, &arena, &list, &err) == CAP_OK);
    ok(rc && list.nlogs == 2, "two logs listed, other files ignored");

    log = &list.logs[0];
    ok(log->writer.len == w1.len && memcmp(log->writer.data, w1.data,
                                           w1.len) == 0
       && log->lock && log->nsegs == w.seq && log->ndests == 2,
       "the first: its lock, its %llu segments, two cursors",
       (unsigned long long) w.seq);

    bad = 0;

    for (i = 0; i < log->nsegs; i++) {
        bad += (log->segs[i].seq != i + 1);
    }

    ok(bad == 0 && log->dests[0].len == 5
       && memcmp(log->dests[0].data, "local", 5) == 0
       && memcmp(log->dests[1].data, "segment-eu", 10) == 0,
       "in order of seq, and of destination name");

    log = &list.logs[1];
    ok(log->writer.len == w2.len && !log->lock && log->nsegs == 2
       && log->segs[0].seq == 0x10 && log->segs[1].seq == 0xff
       && log->segs[1].size == 5 && log->ndests == 1,
       "the second: no lock, segments 0x10 and 0xff, one cursor");

    rc = cap_spool_usage(&dir, &usage, &err);
    ok(rc == CAP_OK && usage == list.bytes && usage == w.bytes + 5,
       "the usage is the sum of the segments (%llu bytes)",
       (unsigned long long) usage);

    rc = cap_spool_list(&dir, &w2, &arena, &list, &err);
    ok(rc == CAP_OK && list.nlogs == 1 && list.logs[0].nsegs == 2,
       "a list of one writer");

    rc = cap_spool_last_seq(&dir, &w2, &seq, &err);
    ok(rc == CAP_OK && seq == 0xff, "its last seq");

    rc = cap_spool_last_seq(&dir, &dests[0], &seq, &err);
    ok(rc == CAP_OK && seq == 0, "none for a writer without segments");

    rc = cap_spool_segment_remove(&dir, &w2, 0x10, &err);
    rc |= cap_spool_segment_remove(&dir, &w2, 0x10, &err);
    rc |= cap_spool_list(&dir, &w2, &arena, &list, &err);
    ok(rc == CAP_OK && list.logs[0].nsegs == 1,
       "a segment is removed (twice)");

    cap_spool_writer_close(&w, &err);

    arena_reset();
    cap_spool_dir_close(&dir);
}


static void
test_removable(void)
{
    cap_spool_seg_t  segs[] = { { 3, 1000 }, { 4, 2000 }, { 5, 500 } };
    cap_spool_pos_t  c[3];

    c[0] = (cap_spool_pos_t) { 4, 100 };
    c[1] = (cap_spool_pos_t) { 5, 32 };

    is_int(cap_spool_removable(segs, 3, c, 2, 5), 1,
           "cursors in 4 and 5: segment 3 goes");

    c[0] = (cap_spool_pos_t) { 3, 1000 };
    is_int(cap_spool_removable(segs, 3, c, 2, 5), 1,
           "a cursor at the end of a finished segment has passed it");
    is_int(cap_spool_removable(segs, 3, c, 2, 3), 0,
           "not when it is the writer's current one");

    c[0] = (cap_spool_pos_t) { 3, 999 };
    is_int(cap_spool_removable(segs, 3, c, 2, 5), 0,
           "nor before its end");

    c[0] = (cap_spool_pos_t) { 0, 0 };
    is_int(cap_spool_removable(segs, 3, c, 2, 0), 0,
           "a cursor at {0, 0} keeps everything");

    c[0] = (cap_spool_pos_t) { 6, 0 };
    c[1] = (cap_spool_pos_t) { 5, 500 };
    c[2] = (cap_spool_pos_t) { 9, 0 };
    is_int(cap_spool_removable(segs, 3, c, 3, 0), 3,
           "a gone writer's log, read to its end: all of it");
    is_int(cap_spool_removable(segs, 3, c, 3, 5), 2,
           "a live writer's: all but its current segment");
    is_int(cap_spool_removable(segs, 3, NULL, 0, 5), 2,
           "no cursor: all but the current segment");
}


static void
test_full(void)
{
    int                 rc, fd;
    char                path[128], seg[CAP_SPOOL_FILE_NAME_LEN];
    size_t              i;
    uint64_t            before, seq;
    cap_str_t           part;
    cap_uchar_t         data[2000];
    cap_error_t         err;
    struct rlimit       saved, lim;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 1 << 20, 1 << 20, 0, 0 };
    cap_spool_writer_t  w;
    cap_spool_reader_t  r;
    static got_t        g;

    subdir("full", path, &dir);

    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    for (i = 0; i < 3; i++) {
        append_rec(&w, i, &start, &end, &err);
    }

    /* the process's file size limit stands in for a full disk */

    signal(SIGXFSZ, SIG_IGN);
    fflush(stdout);
    getrlimit(RLIMIT_FSIZE, &saved);

    before = w.offset;
    lim = saved;
    lim.rlim_cur = before + 100;

    memset(data, 'y', sizeof(data));
    part.data = data;
    part.len = 500;

    setrlimit(RLIMIT_FSIZE, &lim);
    rc = cap_spool_append(&w, &part, 1, &start, &end, &err);
    setrlimit(RLIMIT_FSIZE, &saved);

    ok(rc == CAP_SPOOL_FULL && err.code == CAP_E_UNAVAILABLE,
       "a record over the file size limit is FULL: %s", err.text);

    cap_spool_segment_name(seg, &w1, 1);
    ok(w.full == 1 && w.offset == before && !w.broken
       && file_size(&dir, seg) == before,
       "counted, and the part written is cut off");

    rc = append_rec(&w, 3, &start, &end, &err);
    ok(rc == CAP_OK && start.offset == before,
       "the next append goes where the refused one was");

    /* the limit met by a new segment's file header */

    w.conf.segment_size = w.offset;
    seq = w.seq;

    lim.rlim_cur = 10;
    setrlimit(RLIMIT_FSIZE, &lim);
    rc = append_rec(&w, 4, &start, &end, &err);
    setrlimit(RLIMIT_FSIZE, &saved);

    cap_spool_segment_name(seg, &w1, seq + 1);
    ok(rc == CAP_SPOOL_FULL && w.full == 2 && w.seq == seq
       && file_size(&dir, seg) == (uint64_t) -1,
       "a new segment that cannot take its header is FULL, and removed");

    rc = append_rec(&w, 4, &start, &end, &err);
    ok(rc == CAP_OK && start.seq == seq + 1
       && start.offset == CAP_SPOOL_FILE_HEADER,
       "then made again when there is room");

    cap_spool_writer_close(&w, &err);

    read_log(&dir, &w1, &g);
    ok(g.n == 5 && g.corrupt == 0 && g.rc == CAP_SPOOL_END && g.idx[4] == 4,
       "the log has every accepted record and nothing else");

    /* what a failed cut would leave: a torn tail in a finished segment */

    cap_spool_segment_name(seg, &w1, 1);
    fd = openat(dir.fd, seg, O_WRONLY | O_APPEND);
    rc = (write(fd, "CRec\x10\x00", 6) == 6);
    close(fd);

    memset(&g, 0, sizeof(got_t));
    rc &= (cap_spool_reader_open(&r, &dir, &w1, 1, 0, 1 << 20, &heap, &err)
           == CAP_OK);
    read_reader(&r, &g);
    cap_spool_reader_close(&r);

    ok(rc && g.n == 4 && g.corrupt == 0 && g.rc == CAP_SPOOL_TORN
       && g.torn_bytes == 6, "a tail left behind is TORN, not corrupt");

    signal(SIGXFSZ, SIG_DFL);
    cap_spool_dir_close(&dir);
}


static void
test_speed(void)
{
    int                 rc;
    char                path[128];
    size_t              i, n, bytes;
    double              s;
    uint64_t            seq;
    cap_str_t           parts[2];
    cap_uchar_t         names[64], text[400];
    cap_error_t         err;
    struct timespec     t0, t1;
    cap_spool_dir_t     dir;
    cap_spool_pos_t     start, end;
    cap_spool_conf_t    conf = { 64 << 20, 1 << 20, 0, 0 };
    cap_spool_writer_t  w;
    cap_spool_reader_t  r;
    cap_spool_record_t  rec;

    subdir("speed", path, &dir);

    cap_spool_writer_open(&w, &dir, &w1, &conf, &err);

    parts[0].data = names;
    parts[0].len = cap_spool_names_write(names, dests, 2) - names;
    parts[1].data = text;
    parts[1].len = sizeof(text);
    memset(text, 'z', sizeof(text));
    text[sizeof(text) - 1] = '\n';

    n = 200000;
    rc = CAP_OK;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n && rc == CAP_OK; i++) {
        rc = cap_spool_append(&w, parts, 2, &start, &end, &err);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("# append: %zu records of %zu bytes in %.2f s: %.0f records/s, "
           "%.0f MB/s (no sync)\n", n, parts[0].len + parts[1].len, s,
           n / s, w.bytes / s / 1e6);

    bytes = 0;
    i = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (seq = 1; seq <= w.seq; seq++) {
        if (cap_spool_reader_open(&r, &dir, &w1, seq, 0, 1 << 20, &heap,
                                  &err) != CAP_OK)
        {
            break;
        }

        while (cap_spool_read(&r, &rec, &err) == CAP_OK) {
            bytes += rec.payload.len;
            i++;
        }

        cap_spool_reader_close(&r);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    ok(i == n, "%zu records read back", i);

    printf("# read: %.0f records/s, %.0f MB/s (page cache)\n", i / s,
           bytes / s / 1e6);

    n = 200;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n && rc != CAP_ERROR; i++) {
        rc = cap_spool_append(&w, parts, 2, &start, &end, &err);
        rc |= cap_spool_sync(&w, &err);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("# append + fdatasync each: %.0f records/s\n", n / s);

    cap_spool_writer_close(&w, &err);
    cap_spool_dir_close(&dir);
}
