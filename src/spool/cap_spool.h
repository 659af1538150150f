
/*
 * The spool: a crash-safe log on disk under the destinations.
 *
 * Every process that accepts events ("a writer", with an id unique to
 * its lifetime) appends records to its own segment files in one
 * directory, and holds a lock on its log while it lives.  Each
 * destination keeps a cursor per writer: the position up to which that
 * writer's log is done for it.  A segment is removed once every cursor
 * has passed it.  A log whose lock can be taken belongs to a process
 * that is gone: whoever takes the lock adopts it and delivers what is
 * left.  Records carry checksums; a reader skips and counts what fails
 * them, and reports an incomplete tail, but never fails on them.
 *
 * The format and the rules are in docs/spool.md.  Only system calls
 * here (open, writev, pread, fdatasync, flock, readdir): the caller
 * decides when to call what, and with which timers.
 */


#ifndef _CAP_SPOOL_H_INCLUDED_
#define _CAP_SPOOL_H_INCLUDED_


#include "../core/cap_core.h"


/* results, besides CAP_OK and CAP_ERROR */
#define CAP_SPOOL_END              1   /* no more records, for now */
#define CAP_SPOOL_TORN             2   /* the file ends inside a record */
#define CAP_SPOOL_AGAIN            3   /* flush what is staged first */
#define CAP_SPOOL_FULL            -2   /* no space, quota or size limit */
#define CAP_SPOOL_BUSY            -3   /* the log's owner is alive */
#define CAP_SPOOL_NOENT           -4   /* no such file */


#define CAP_SPOOL_NAME_MAX        64   /* writer ids, destination names */
#define CAP_SPOOL_DESTS_MAX       64   /* destinations of one record */
#define CAP_SPOOL_PARTS_MAX        8   /* pieces of one payload */

#define CAP_SPOOL_FILE_HEADER     32
#define CAP_SPOOL_RECORD_HEADER   16
#define CAP_SPOOL_CURSOR_SLOT     32

/*
 * The largest payload a segment may declare.  Below 0x0a000000 on
 * purpose: the length field of a header read from JSON text ('\n' or
 * bytes of 0x20 and above) is at least that, so resynchronising never
 * finds a header in the records' text (docs/spool.md).
 */
#define CAP_SPOOL_PAYLOAD_LIMIT   (128 * 1024 * 1024)

#define CAP_SPOOL_READ_BUF        (64 * 1024)

/* room for any file name of the spool, with its NUL */
#define CAP_SPOOL_FILE_NAME_LEN   (2 * CAP_SPOOL_NAME_MAX + 32)


/*
 * A position in a writer's log: a segment and a byte offset in it.
 * Positions are ordered by seq, then offset; {0, 0} is before all.
 */
typedef struct {
    uint64_t            seq;
    uint64_t            offset;
} cap_spool_pos_t;


int cap_spool_pos_cmp(const cap_spool_pos_t *a, const cap_spool_pos_t *b);


/*
 * CRC32C (Castagnoli, reflected, 0x82F63B78), with the pre- and
 * post-inversion: cap_crc32c(0, "123456789", 9) == 0xe3069283, and
 * cap_crc32c(cap_crc32c(0, a, n), b, m) is the CRC of a then b.
 */
uint32_t cap_crc32c(uint32_t crc, const void *data, size_t len);

/* the same with the tables alone, whatever the processor (for tests) */
uint32_t cap_crc32c_tables(uint32_t crc, const void *data, size_t len);


/* a writer id or a destination name: 1 to 64 of [A-Za-z0-9_-] */
int cap_spool_name_valid(const cap_uchar_t *p, size_t len);


/*
 * The payload of one record, as the capture module writes it: the
 * destinations it is for, then the canonical records (JSON lines).
 *
 *     u16 LE count, count x (u8 length, name), text
 *
 * cap_spool_names_size() is the size of the part before the text (0
 * when there are no names, more than CAP_SPOOL_DESTS_MAX, or an invalid
 * one); cap_spool_names_write() writes it and returns its end.  The
 * writer takes the names and the text as two parts of one payload, so
 * the text is not copied.
 *
 * cap_spool_payload_decode() points into "p": CAP_ERROR when the names
 * are not as above or the text is empty or does not end in '\n'.
 */
typedef struct {
    size_t              ndests;
    cap_str_t           dests[CAP_SPOOL_DESTS_MAX];
    cap_str_t           text;
} cap_spool_payload_t;


size_t cap_spool_names_size(const cap_str_t *dests, size_t n);
cap_uchar_t *cap_spool_names_write(cap_uchar_t *p, const cap_str_t *dests,
    size_t n);
int cap_spool_payload_decode(cap_uchar_t *p, size_t len,
    cap_spool_payload_t *pl);


/*
 * Framing, for the reader, the writer and the tests.  A record header:
 * "CRec", payload length, payload CRC, CRC of the 12 bytes before it
 * (u32 LE each).  cap_spool_record_check() is CAP_OK when the magic and
 * the header CRC hold and the length is at most "max".
 */
void cap_spool_record_header(cap_uchar_t *h, uint32_t len, uint32_t crc);
int cap_spool_record_check(const cap_uchar_t *h, uint32_t max, uint32_t *len,
    uint32_t *crc);


/*
 * A segment's file header: "CAPSPOOL", version, the writer's maximum
 * payload, the segment's seq, CRC of the writer id, CRC of the 28 bytes
 * before it.  The check is CAP_OK when all of them hold for this seq
 * and the CRC of this writer id, and sets "max".
 */
#define CAP_SPOOL_VERSION  1

void cap_spool_file_header(cap_uchar_t *h, const cap_str_t *writer,
    uint64_t seq, uint32_t max);
int cap_spool_file_header_check(const cap_uchar_t *h, uint32_t writer_crc,
    uint64_t seq, uint32_t *max);


/*
 * A cursor slot: "CCur", generation (u64 LE), seq, offset, CRC of the
 * 28 bytes before it.
 */
void cap_spool_cursor_slot(cap_uchar_t *s, uint64_t gen,
    const cap_spool_pos_t *pos);
int cap_spool_cursor_slot_check(const cap_uchar_t *s, uint64_t *gen,
    cap_spool_pos_t *pos);


/*
 * File names in the directory (with a NUL; the length is returned):
 *     <writer>-<seq as 16 lowercase hex digits>.seg   a segment
 *     <writer>.<destination>.cur                      a cursor
 *     <writer>.lock                                   the owner's lock
 * The names must be valid (cap_spool_name_valid()).
 */
size_t cap_spool_segment_name(char *buf, const cap_str_t *writer,
    uint64_t seq);
size_t cap_spool_cursor_name(char *buf, const cap_str_t *writer,
    const cap_str_t *dest);
size_t cap_spool_lock_name(char *buf, const cap_str_t *writer);


/*
 * The directory, opened once by each process (the caller creates it).
 * "path" is used in error texts and must outlive the handle.
 */
typedef struct {
    int                 fd;
    const char         *path;
} cap_spool_dir_t;


int cap_spool_dir_open(cap_spool_dir_t *dir, const char *path,
    cap_error_t *err);
void cap_spool_dir_close(cap_spool_dir_t *dir);


/*
 * The writer: the log of this process.
 *
 * cap_spool_writer_open() takes the log's lock (CAP_SPOOL_BUSY when
 * another live process holds it) and continues after the highest seq
 * of this id already in the directory.  The first segment is created
 * by the first append.
 *
 * cap_spool_append() writes one record, header and payload ("nparts"
 * pieces, at most CAP_SPOOL_PARTS_MAX, at most conf.max_payload bytes
 * in all) with one writev(), and gives the positions of its first byte
 * and of the byte after it.  Before it writes, it starts a new segment
 * when the current one has reached conf.segment_size (so a record is
 * never split: the one that crosses the size ends its segment).  On
 * CAP_SPOOL_FULL (ENOSPC, EDQUOT, EFBIG) or CAP_ERROR nothing of the
 * record stays: what was written is truncated back, and if that fails,
 * the segment is left with its incomplete tail and the next append
 * starts a new one.  A payload over the maximum is CAP_ERROR with
 * CAP_E_BODY_TOO_LARGE; other failures have CAP_E_UNAVAILABLE or
 * CAP_E_NOMEM.
 *
 * cap_spool_sync() makes every record appended so far durable: the
 * current segment's data (fdatasync) and the directory entries of new
 * segments (fsync of the directory).  With conf.sync set, a segment the
 * writer leaves for a new one with records not yet synced is kept open
 * ("leaving") for the next sync, so that a sync covers the records
 * before a rotation too and a rotation itself never waits for the
 * disk (unless CAP_SPOOL_LEAVING segments already wait: the oldest is
 * then synced at once).  Without conf.sync the writer never syncs.
 *
 * cap_spool_sync_take() is the same sync in two steps, for a caller
 * that runs the system calls in another thread: it hands over what is
 * to be synced, the descriptors of the segments left and duplicates of
 * the current one's and the directory's (CAP_SPOOL_END when nothing
 * is), and the writer counts it as synced; cap_spool_sync_run() then
 * syncs and closes them all, touching nothing else, and returns 0 or
 * the errno of the first failure.  Records appended after the take are
 * the next sync's.  cap_spool_sync_pending() tells whether a sync has
 * anything to do.
 *
 * cap_spool_stage() is cap_spool_append() in two steps: it frames the
 * record into the writer's stage (conf.stage_size bytes, allocated by
 * the open) and gives its positions as if it were written, and
 * cap_spool_flush() writes everything staged with one write().  One
 * large write costs the kernel less per byte than several small ones
 * (the page cache takes it in larger folios).  A staged record is not
 * in the file, for a reader or after a crash, until it is flushed.
 * CAP_SPOOL_AGAIN: the record does not fit with what is staged (the
 * stage is full, or the segment has reached its size): flush, then
 * stage it again.  A record larger than the stage is written at once,
 * as by cap_spool_append().  A flush that fails leaves nothing of what
 * was staged (what was written is cut back, as for an append), and
 * the positions it had given are never used: the next record starts a
 * new segment, so that they are past that segment's end.
 * cap_spool_append() flushes what is staged before it writes.
 *
 * cap_spool_writer_close() syncs when conf.sync is set, closes the
 * segment and releases the lock: the log is then an orphan that any
 * process may adopt (and should, when it is not fully delivered).
 *
 * "seq" is the current segment, the one that must not be removed while
 * the writer lives (before the first append: the highest seq this id
 * already has in the directory, normally 0).  cap_spool_writer_live()
 * is 0 when the writer will not append to it again (it is closed, or a
 * write failed: the next record starts a new segment); it is then
 * "offset" bytes long, and may go once every cursor has passed it.
 */
typedef struct {
    uint64_t            segment_size;
    uint32_t            max_payload;
    unsigned            sync:1;
    size_t              stage_size;     /* 0: no stage */
} cap_spool_conf_t;


#define CAP_SPOOL_LEAVING   4


typedef struct {
    cap_spool_dir_t    *dir;
    cap_spool_conf_t    conf;
    cap_str_t           id;
    int                 fd;
    int                 lock;

    int                 leaving[CAP_SPOOL_LEAVING];  /* to be synced */
    uint64_t            leaving_seq[CAP_SPOOL_LEAVING];
    size_t              nleaving;

    uint64_t            seq;
    uint64_t            offset;         /* written */

    cap_uchar_t        *stage;
    size_t              staged;         /* bytes after "offset" */
    uint64_t            staged_records;

    uint64_t            bytes;          /* written, file headers too */
    uint64_t            records;
    uint64_t            segments;       /* created */
    uint64_t            full;           /* appends refused for space */

    unsigned            dirty:1;        /* data since the last sync */
    unsigned            dir_dirty:1;    /* a new segment since then */
    unsigned            broken:1;       /* the next starts a segment */

    cap_uchar_t         id_data[CAP_SPOOL_NAME_MAX];
} cap_spool_writer_t;


int cap_spool_writer_open(cap_spool_writer_t *w, cap_spool_dir_t *dir,
    const cap_str_t *id, const cap_spool_conf_t *conf, cap_error_t *err);
int cap_spool_append(cap_spool_writer_t *w, const cap_str_t *parts,
    size_t nparts, cap_spool_pos_t *start, cap_spool_pos_t *end,
    cap_error_t *err);
int cap_spool_stage(cap_spool_writer_t *w, const cap_str_t *parts,
    size_t nparts, cap_spool_pos_t *start, cap_spool_pos_t *end,
    cap_error_t *err);
int cap_spool_flush(cap_spool_writer_t *w, cap_error_t *err);
int cap_spool_sync(cap_spool_writer_t *w, cap_error_t *err);
int cap_spool_writer_close(cap_spool_writer_t *w, cap_error_t *err);


typedef struct {
    int                 fds[CAP_SPOOL_LEAVING + 1];  /* fdatasync */
    size_t              nfds;
    int                 dir;            /* fsync; -1: not needed */
} cap_spool_syncset_t;


int cap_spool_writer_live(const cap_spool_writer_t *w);
int cap_spool_sync_pending(const cap_spool_writer_t *w);
int cap_spool_sync_take(cap_spool_writer_t *w, cap_spool_syncset_t *s,
    cap_error_t *err);
int cap_spool_sync_run(cap_spool_syncset_t *s);


/*
 * The reader of one segment, from an offset (a cursor's, or 0 for the
 * first record).  It may follow a segment that is still being written.
 *
 * cap_spool_read() gives the next record whose header and payload CRCs
 * hold:
 *   CAP_OK           "rec": its positions and its payload, which points
 *                    into the reader's buffer until the next call;
 *   CAP_SPOOL_END    every byte up to the end of the file is taken (as
 *                    records or as counted corruption);
 *   CAP_SPOOL_TORN   the file ends inside a record (or a file header):
 *                    "torn_offset" and "torn_bytes" say where and how
 *                    much; the reader stays there;
 *   CAP_ERROR        a read or an allocation failed ("err").
 * After END or TORN the next call reads the file again from where it
 * stopped, so a writer's later appends are found.
 *
 * A record that fails a check (its header's, or its payload's) starts
 * a resynchronisation: the reader goes on byte by byte to the next
 * header that holds and whose payload does too; the bytes between are
 * one corruption event.  A bad file header is one too, and the records
 * are then read with the "max_payload" given here instead of the
 * file's.  "skipped" counts every byte not delivered in a record, the
 * bad file header's too: at END, the file's size is the offset read
 * from, plus the records, plus "skipped" (plus "torn_bytes" at TORN).
 *
 * cap_spool_reader_open() opens <writer>-<seq>.seg in the directory
 * (CAP_SPOOL_NOENT when it is not there); cap_spool_reader_init() takes
 * an open file descriptor instead (the reader closes it).  "pool" gives
 * the buffer, CAP_SPOOL_READ_BUF bytes and more for larger records.
 */
typedef struct {
    cap_spool_pos_t     start;
    cap_spool_pos_t     end;
    cap_str_t           payload;
} cap_spool_record_t;


typedef struct {
    cap_pool_t         *pool;
    int                 fd;
    uint64_t            seq;
    uint32_t            writer_crc;
    uint32_t            max_payload;    /* the file's, or the default */

    uint64_t            off;            /* the next byte to look at */
    uint64_t            pos;            /* the file offset of buf[0] */
    cap_uchar_t        *buf;
    size_t              len;
    size_t              size;

    uint64_t            torn_offset;
    uint64_t            torn_bytes;

    uint64_t            records;
    uint64_t            corrupt;        /* corruption events */
    uint64_t            skipped;        /* bytes not delivered */

    unsigned            header:1;       /* the file header is checked */
    unsigned            bad_header:1;
    unsigned            resync:1;
    unsigned            eof:1;
} cap_spool_reader_t;


int cap_spool_reader_open(cap_spool_reader_t *r, cap_spool_dir_t *dir,
    const cap_str_t *writer, uint64_t seq, uint64_t offset,
    uint32_t max_payload, cap_pool_t *pool, cap_error_t *err);
int cap_spool_reader_init(cap_spool_reader_t *r, int fd,
    const cap_str_t *writer, uint64_t seq, uint64_t offset,
    uint32_t max_payload, cap_pool_t *pool);
int cap_spool_read(cap_spool_reader_t *r, cap_spool_record_t *rec,
    cap_error_t *err);
void cap_spool_reader_close(cap_spool_reader_t *r);


/*
 * A destination's cursor in one writer's log: <writer>.<dest>.cur, two
 * 32-byte slots (at 0 and at 4096, in different blocks) each with a
 * generation and a CRC.  A store writes the slot that does not hold the
 * current position, with pwrite(), so a torn store leaves the other;
 * load takes the valid slot of the higher generation.
 *
 * cap_spool_cursor_open() loads the position ({0, 0} for a new cursor;
 * also {0, 0}, with "corrupt" set, when neither slot is valid: the log
 * is then delivered again from its start).  Without "create", a missing
 * file is CAP_SPOOL_NOENT.  A new file gets both slots at once (and the
 * directory is synced), so later stores allocate nothing.
 *
 * cap_spool_cursor_store() writes "pos" (fdatasync when "sync"); on
 * failure the cursor keeps its previous position.  Only the owner of
 * the writer's lock stores its cursors.
 */
typedef struct {
    cap_spool_dir_t    *dir;
    int                 fd;
    uint64_t            gen;
    cap_spool_pos_t     pos;
    unsigned            slot:1;         /* the one holding "pos" */
    unsigned            corrupt:1;
    char                name[CAP_SPOOL_FILE_NAME_LEN];
} cap_spool_cursor_t;


int cap_spool_cursor_open(cap_spool_cursor_t *c, cap_spool_dir_t *dir,
    const cap_str_t *writer, const cap_str_t *dest, unsigned create,
    cap_error_t *err);
int cap_spool_cursor_store(cap_spool_cursor_t *c, const cap_spool_pos_t *pos,
    unsigned sync, cap_error_t *err);
void cap_spool_cursor_close(cap_spool_cursor_t *c);
int cap_spool_cursor_remove(cap_spool_dir_t *dir, const cap_str_t *writer,
    const cap_str_t *dest, cap_error_t *err);


/*
 * Ownership of a log: flock(LOCK_EX) on <writer>.lock, which the
 * kernel releases when its process dies in any way (kill -9 too).
 *
 * cap_spool_adopt_try() takes the lock without waiting: CAP_OK and
 * "*fd" when it is free (the owner is gone and the caller now owns the
 * log), CAP_SPOOL_BUSY when a live process holds it.  The writer takes
 * its own lock with it.  cap_spool_unlock() releases it; with "remove"
 * it first removes the lock file (once the log has no segment and no
 * cursor left).  The lock is not inherited by exec'd programs; a fork
 * shares it, so take it in the process that uses it.
 */
int cap_spool_adopt_try(cap_spool_dir_t *dir, const cap_str_t *writer,
    int *fd, cap_error_t *err);
void cap_spool_unlock(cap_spool_dir_t *dir, const cap_str_t *writer, int fd,
    unsigned remove);


/*
 * The logs in the directory: every writer with a segment, a cursor or a
 * lock file; its segments sorted by seq, with their sizes; the
 * destinations of its cursors.  With "writer", only that one.  In the
 * pool.  Other files are ignored.  "bytes" is the sum of the segments'
 * sizes (for a limit on the directory), as is cap_spool_usage()'s,
 * which allocates nothing.  cap_spool_last_seq() is the highest seq of
 * a writer (0 when it has none).
 */
typedef struct {
    uint64_t            seq;
    uint64_t            size;
} cap_spool_seg_t;


typedef struct {
    cap_str_t           writer;
    cap_spool_seg_t    *segs;
    size_t              nsegs;
    cap_str_t          *dests;
    size_t              ndests;
    unsigned            lock:1;
} cap_spool_log_t;


typedef struct {
    cap_spool_log_t    *logs;
    size_t              nlogs;
    uint64_t            bytes;
} cap_spool_list_t;


int cap_spool_list(cap_spool_dir_t *dir, const cap_str_t *writer,
    cap_pool_t *pool, cap_spool_list_t *list, cap_error_t *err);
int cap_spool_usage(cap_spool_dir_t *dir, uint64_t *bytes, cap_error_t *err);
int cap_spool_last_seq(cap_spool_dir_t *dir, const cap_str_t *writer,
    uint64_t *seq, cap_error_t *err);
int cap_spool_segment_remove(cap_spool_dir_t *dir, const cap_str_t *writer,
    uint64_t seq, cap_error_t *err);


/*
 * Which segments may go: the number of leading segments of "segs"
 * (sorted by seq) that every cursor has passed.  A cursor passes a
 * segment when it is in a later one, or at or past the segment's size
 * in it and the segment is not "current" (the live writer's, which may
 * still grow; 0 when the writer is gone).  With no cursor, every
 * segment but the current one.
 */
size_t cap_spool_removable(const cap_spool_seg_t *segs, size_t nsegs,
    const cap_spool_pos_t *cursors, size_t ncursors, uint64_t current);


/* used by the files of src/spool/: an error with errno's text */
int cap_spool_sys_error(cap_error_t *err, cap_spool_dir_t *dir,
    const char *call, const char *name, int e);


#endif /* _CAP_SPOOL_H_INCLUDED_ */
