
/*
 * The reader of a segment: records whose checksums hold, in order;
 * corruption skipped and counted; an incomplete tail reported and read
 * again later, so that a segment still being written can be followed.
 *
 * The buffer holds the file's bytes from "pos"; "off" is the next byte
 * to look at.  Reads are pread()s of as much as the buffer takes, and
 * the buffer grows only when a record that the file has whole is
 * larger: a header that claims a large payload at the end of a file
 * costs no memory.
 */


#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cap_spool.h"


static int cap_spool_file_start(cap_spool_reader_t *r, cap_error_t *err);
static int cap_spool_fill(cap_spool_reader_t *r, size_t need,
    cap_error_t *err);
static int cap_spool_grow(cap_spool_reader_t *r, size_t need);
static void cap_spool_skip(cap_spool_reader_t *r, cap_uchar_t *p,
    size_t have);
static int cap_spool_stop(cap_spool_reader_t *r, int rc, size_t have);


static const cap_uchar_t  cap_spool_magic[4] = { 'C', 'R', 'e', 'c' };


int
cap_spool_reader_open(cap_spool_reader_t *r, cap_spool_dir_t *dir,
    const cap_str_t *writer, uint64_t seq, uint64_t offset,
    uint32_t max_payload, cap_pool_t *pool, cap_error_t *err)
{
    int   fd;
    char  name[CAP_SPOOL_FILE_NAME_LEN];

    r->fd = -1;
    r->buf = NULL;

    if (!cap_spool_name_valid(writer->data, writer->len)) {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id");
    }

    cap_spool_segment_name(name, writer, seq);

    fd = openat(dir->fd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno == ENOENT) {
            cap_error_set(err, CAP_E_UNAVAILABLE, "spool: no segment "
                          "\"%s/%s\"", dir->path, name);
            return CAP_SPOOL_NOENT;
        }

        return cap_spool_sys_error(err, dir, "open", name, errno);
    }

    return cap_spool_reader_init(r, fd, writer, seq, offset, max_payload,
                                 pool);
}


int
cap_spool_reader_init(cap_spool_reader_t *r, int fd, const cap_str_t *writer,
    uint64_t seq, uint64_t offset, uint32_t max_payload, cap_pool_t *pool)
{
    memset(r, 0, sizeof(cap_spool_reader_t));

    if (max_payload > CAP_SPOOL_PAYLOAD_LIMIT) {
        max_payload = CAP_SPOOL_PAYLOAD_LIMIT;
    }

    r->pool = pool;
    r->fd = fd;
    r->seq = seq;
    r->writer_crc = cap_crc32c(0, writer->data, writer->len);
    r->max_payload = max_payload;

    if (offset < CAP_SPOOL_FILE_HEADER) {
        offset = CAP_SPOOL_FILE_HEADER;
    }

    r->off = offset;
    r->pos = offset;

    return CAP_OK;
}


void
cap_spool_reader_close(cap_spool_reader_t *r)
{
    if (r->fd != -1) {
        (void) close(r->fd);
        r->fd = -1;
    }

    if (r->buf != NULL) {
        cap_free(r->pool, r->buf);
        r->buf = NULL;
    }
}


int
cap_spool_read(cap_spool_reader_t *r, cap_spool_record_t *rec,
    cap_error_t *err)
{
    int           rc;
    size_t        have, size;
    uint32_t      len, crc;
    cap_uchar_t  *p;

    /* this call reads the file again, whatever an earlier one saw */

    r->eof = 0;

    if (!r->header) {
        rc = cap_spool_file_start(r, err);
        if (rc != CAP_OK) {
            return rc;
        }
    }

    for ( ;; ) {
        if (cap_spool_fill(r, CAP_SPOOL_RECORD_HEADER, err) != CAP_OK) {
            return CAP_ERROR;
        }

        p = r->buf + (r->off - r->pos);
        have = r->len - (size_t) (r->off - r->pos);

        if (have < CAP_SPOOL_RECORD_HEADER) {
            if (have == 0) {
                return cap_spool_stop(r, CAP_SPOOL_END, 0);
            }

            /* the start of a header, the rest not written yet */

            if (memcmp(p, cap_spool_magic, have < 4 ? have : 4) == 0) {
                return cap_spool_stop(r, CAP_SPOOL_TORN, have);
            }

            cap_spool_skip(r, p, have);
            continue;
        }

        if (cap_spool_record_check(p, r->max_payload, &len, &crc) != CAP_OK)
        {
            cap_spool_skip(r, p, have);
            continue;
        }

        size = CAP_SPOOL_RECORD_HEADER + (size_t) len;

        if (have < size) {
            if (cap_spool_fill(r, size, err) != CAP_OK) {
                return CAP_ERROR;
            }

            p = r->buf + (r->off - r->pos);
            have = r->len - (size_t) (r->off - r->pos);

            if (have < size) {
                return cap_spool_stop(r, CAP_SPOOL_TORN, have);
            }
        }

        if (cap_crc32c(0, p + CAP_SPOOL_RECORD_HEADER, len) != crc) {

            /*
             * The header holds, the payload does not: its length is not
             * trusted either.  When only the payload is damaged, the
             * scan ends where the length says (no header can be read
             * in JSON text); when the length is what is wrong (a CRC
             * collision) or the record's tail was written over, the
             * scan still finds the next record.
             */

            cap_spool_skip(r, p, have);
            continue;
        }

        r->resync = 0;
        r->records++;

        rec->start.seq = r->seq;
        rec->start.offset = r->off;
        rec->payload.data = p + CAP_SPOOL_RECORD_HEADER;
        rec->payload.len = len;

        r->off += size;

        rec->end.seq = r->seq;
        rec->end.offset = r->off;

        return CAP_OK;
    }
}


/*
 * The file header, once it is all there: it gives the maximum payload.
 * A bad one is a corruption event, and the records are read with the
 * caller's maximum (their own CRCs still decide).
 */

static int
cap_spool_file_start(cap_spool_reader_t *r, cap_error_t *err)
{
    size_t       got;
    ssize_t      n;
    uint32_t     max;
    cap_uchar_t  h[CAP_SPOOL_FILE_HEADER];

    got = 0;

    while (got < CAP_SPOOL_FILE_HEADER) {
        n = pread(r->fd, h + got, CAP_SPOOL_FILE_HEADER - got, (off_t) got);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return cap_error_set(err, CAP_E_UNAVAILABLE, "spool: pread() "
                                 "failed (%d: %s)", errno, strerror(errno));
        }

        if (n == 0) {
            break;
        }

        got += n;
    }

    if (got < CAP_SPOOL_FILE_HEADER) {
        if (got == 0) {
            return CAP_SPOOL_END;
        }

        r->torn_offset = 0;
        r->torn_bytes = got;

        return CAP_SPOOL_TORN;
    }

    r->header = 1;

    if (cap_spool_file_header_check(h, r->writer_crc, r->seq, &max)
        == CAP_OK)
    {
        r->max_payload = max;

    } else {
        r->bad_header = 1;
        r->corrupt++;
        r->skipped += CAP_SPOOL_FILE_HEADER;
    }

    return CAP_OK;
}


/*
 * Makes the buffer hold "need" bytes from "off", or all that the file
 * has: the bytes before "off" go, the buffer grows if "need" is larger,
 * and pread() fills it.  Once the end of the file is met, this call of
 * cap_spool_read() does not read again.
 */

static int
cap_spool_fill(cap_spool_reader_t *r, size_t need, cap_error_t *err)
{
    size_t   have;
    ssize_t  n;

    have = r->len - (size_t) (r->off - r->pos);

    if (have >= need || r->eof) {
        return CAP_OK;
    }

    if (r->off != r->pos) {
        if (have) {
            memmove(r->buf, r->buf + (r->off - r->pos), have);
        }

        r->pos = r->off;
        r->len = have;
    }

    if (need > r->size && cap_spool_grow(r, need) != CAP_OK) {
        return cap_error_set(err, CAP_E_NOMEM, "spool: out of memory");
    }

    while (r->len < need) {
        n = pread(r->fd, r->buf + r->len, r->size - r->len,
                  (off_t) (r->pos + r->len));

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return cap_error_set(err, CAP_E_UNAVAILABLE, "spool: pread() "
                                 "failed (%d: %s)", errno, strerror(errno));
        }

        if (n == 0) {
            r->eof = 1;
            break;
        }

        r->len += n;
    }

    return CAP_OK;
}


static int
cap_spool_grow(cap_spool_reader_t *r, size_t need)
{
    size_t        size, limit;
    cap_uchar_t  *buf;

    limit = CAP_SPOOL_RECORD_HEADER + (size_t) r->max_payload;

    size = r->size ? r->size * 2 : CAP_SPOOL_READ_BUF;

    if (size < need) {
        size = need;
    }

    if (size > limit && need <= limit) {
        size = limit;
    }

    buf = cap_alloc(r->pool, size);
    if (buf == NULL) {
        return CAP_ERROR;
    }

    if (r->len) {
        memcpy(buf, r->buf, r->len);
    }

    cap_free(r->pool, r->buf);

    r->buf = buf;
    r->size = size;

    return CAP_OK;
}


/*
 * The bytes at "p" do not start a record: a corruption event begins
 * (unless one is going on), and the reader moves to the next byte that
 * may start a header, the next 'C'.
 */

static void
cap_spool_skip(cap_spool_reader_t *r, cap_uchar_t *p, size_t have)
{
    size_t        n;
    cap_uchar_t  *c;

    if (!r->resync) {
        r->resync = 1;
        r->corrupt++;
    }

    c = memchr(p + 1, 'C', have - 1);
    n = c ? (size_t) (c - p) : have;

    r->off += n;
    r->skipped += n;
}


/*
 * END or TORN: the buffer is dropped, so that the next call reads the
 * file again (a writer may have cut an incomplete record and written
 * another in its place); a buffer grown for a large record goes too.
 */

static int
cap_spool_stop(cap_spool_reader_t *r, int rc, size_t have)
{
    if (rc == CAP_SPOOL_TORN) {
        r->torn_offset = r->off;
        r->torn_bytes = have;
    }

    r->pos = r->off;
    r->len = 0;

    if (r->size > CAP_SPOOL_READ_BUF && r->pool->free != NULL) {
        cap_free(r->pool, r->buf);
        r->buf = NULL;
        r->size = 0;
    }

    return rc;
}
