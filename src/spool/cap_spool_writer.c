
/*
 * The writer of a log: segment files of records, appended with one
 * writev() each or staged and written together, rotated by size, synced
 * on demand.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cap_spool.h"


/* seqs tried past files left by an earlier failed rotation */
#define CAP_SPOOL_CREATE_TRIES  16


static int cap_spool_rotate(cap_spool_writer_t *w, cap_error_t *err);
static int cap_spool_sync_left(cap_spool_writer_t *w, cap_error_t *err);
static int cap_spool_payload_len(cap_spool_writer_t *w,
    const cap_str_t *parts, size_t nparts, size_t *len, cap_error_t *err);
static int cap_spool_writev(int fd, struct iovec *iov, int n,
    size_t *written);
static int cap_spool_writer_error(cap_spool_writer_t *w, cap_error_t *err,
    const char *call, uint64_t seq, int e);


int
cap_spool_writer_open(cap_spool_writer_t *w, cap_spool_dir_t *dir,
    const cap_str_t *id, const cap_spool_conf_t *conf, cap_error_t *err)
{
    int  rc;

    memset(w, 0, sizeof(cap_spool_writer_t));

    w->fd = -1;
    w->lock = -1;

    if (!cap_spool_name_valid(id->data, id->len)) {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id \"%.*s\"",
                             (int) (id->len > 80 ? 80 : id->len),
                             (char *) id->data);
    }

    if (conf->max_payload == 0
        || conf->max_payload > CAP_SPOOL_PAYLOAD_LIMIT
        || conf->segment_size <= CAP_SPOOL_FILE_HEADER)
    {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid segment size or maximum "
                             "payload");
    }

    memcpy(w->id_data, id->data, id->len);
    w->id.data = w->id_data;
    w->id.len = id->len;
    w->dir = dir;
    w->conf = *conf;

    if (conf->stage_size) {
        w->stage = malloc(conf->stage_size);
        if (w->stage == NULL) {
            return cap_error_set(err, CAP_E_NOMEM, "spool: out of memory");
        }
    }

    rc = cap_spool_adopt_try(dir, &w->id, &w->lock, err);
    if (rc != CAP_OK) {
        free(w->stage);
        w->stage = NULL;
        return rc;
    }

    rc = cap_spool_last_seq(dir, &w->id, &w->seq, err);
    if (rc != CAP_OK) {
        cap_spool_unlock(dir, &w->id, w->lock, 0);
        w->lock = -1;
        free(w->stage);
        w->stage = NULL;
        return rc;
    }

    return CAP_OK;
}


int
cap_spool_append(cap_spool_writer_t *w, const cap_str_t *parts,
    size_t nparts, cap_spool_pos_t *start, cap_spool_pos_t *end,
    cap_error_t *err)
{
    int           rc, e;
    size_t        i, len, written;
    uint32_t      crc;
    cap_uchar_t   h[CAP_SPOOL_RECORD_HEADER];
    struct iovec  iov[CAP_SPOOL_PARTS_MAX + 1];

    rc = cap_spool_payload_len(w, parts, nparts, &len, err);
    if (rc != CAP_OK) {
        return rc;
    }

    if (w->staged) {
        rc = cap_spool_flush(w, err);
        if (rc != CAP_OK) {
            return rc;
        }
    }

    if (w->fd == -1 || w->broken || w->offset >= w->conf.segment_size) {
        rc = cap_spool_rotate(w, err);
        if (rc != CAP_OK) {
            w->full += (rc == CAP_SPOOL_FULL);
            return rc;
        }
    }

    crc = 0;

    for (i = 0; i < nparts; i++) {
        crc = cap_crc32c(crc, parts[i].data, parts[i].len);
        iov[i + 1].iov_base = parts[i].data;
        iov[i + 1].iov_len = parts[i].len;
    }

    cap_spool_record_header(h, (uint32_t) len, crc);

    iov[0].iov_base = h;
    iov[0].iov_len = CAP_SPOOL_RECORD_HEADER;

    e = cap_spool_writev(w->fd, iov, (int) nparts + 1, &written);

    if (e != 0) {

        /*
         * Nothing of a refused record may stay: a reader would take
         * the next record's bytes for its payload.  When the tail
         * cannot be cut, the segment ends here (torn) and the next
         * append starts another.
         */

        if (written && ftruncate(w->fd, (off_t) w->offset) == -1) {
            w->broken = 1;
        }

        rc = cap_spool_writer_error(w, err, "writev", w->seq, e);
        w->full += (rc == CAP_SPOOL_FULL);

        return rc;
    }

    start->seq = w->seq;
    start->offset = w->offset;

    w->offset += CAP_SPOOL_RECORD_HEADER + len;
    w->bytes += CAP_SPOOL_RECORD_HEADER + len;
    w->records++;
    w->dirty = 1;

    end->seq = w->seq;
    end->offset = w->offset;

    return CAP_OK;
}


int
cap_spool_stage(cap_spool_writer_t *w, const cap_str_t *parts,
    size_t nparts, cap_spool_pos_t *start, cap_spool_pos_t *end,
    cap_error_t *err)
{
    int           rc;
    size_t        i, len, need;
    uint32_t      crc;
    cap_uchar_t  *p;

    rc = cap_spool_payload_len(w, parts, nparts, &len, err);
    if (rc != CAP_OK) {
        return rc;
    }

    need = CAP_SPOOL_RECORD_HEADER + len;

    if (w->staged
        && (w->staged + need > w->conf.stage_size
            || w->offset + w->staged >= w->conf.segment_size))
    {
        return CAP_SPOOL_AGAIN;
    }

    if (need > w->conf.stage_size) {
        return cap_spool_append(w, parts, nparts, start, end, err);
    }

    if (w->fd == -1 || w->broken || w->offset >= w->conf.segment_size) {
        rc = cap_spool_rotate(w, err);
        if (rc != CAP_OK) {
            w->full += (rc == CAP_SPOOL_FULL);
            return rc;
        }
    }

    p = w->stage + w->staged + CAP_SPOOL_RECORD_HEADER;
    crc = 0;

    for (i = 0; i < nparts; i++) {
        crc = cap_crc32c(crc, parts[i].data, parts[i].len);
        memcpy(p, parts[i].data, parts[i].len);
        p += parts[i].len;
    }

    cap_spool_record_header(w->stage + w->staged, (uint32_t) len, crc);

    start->seq = w->seq;
    start->offset = w->offset + w->staged;

    w->staged += need;
    w->staged_records++;

    end->seq = w->seq;
    end->offset = w->offset + w->staged;

    return CAP_OK;
}


int
cap_spool_flush(cap_spool_writer_t *w, cap_error_t *err)
{
    int           e, rc;
    size_t        written;
    struct iovec  iov;

    if (w->staged == 0) {
        return CAP_OK;
    }

    iov.iov_base = w->stage;
    iov.iov_len = w->staged;

    e = cap_spool_writev(w->fd, &iov, 1, &written);

    if (e != 0) {

        /* the positions given are past what stays: a new segment next */

        if (written && ftruncate(w->fd, (off_t) w->offset) == -1) {
            /* the tail stays, torn, for readers to skip */
        }

        w->broken = 1;
        w->staged = 0;
        w->staged_records = 0;

        rc = cap_spool_writer_error(w, err, "write", w->seq, e);
        w->full += (rc == CAP_SPOOL_FULL);

        return rc;
    }

    w->offset += w->staged;
    w->bytes += w->staged;
    w->records += w->staged_records;
    w->dirty = 1;

    w->staged = 0;
    w->staged_records = 0;

    return CAP_OK;
}


int
cap_spool_sync(cap_spool_writer_t *w, cap_error_t *err)
{
    while (w->nleaving) {
        if (cap_spool_sync_left(w, err) != CAP_OK) {
            return CAP_ERROR;
        }
    }

    if (w->fd != -1 && w->dirty) {
        if (fdatasync(w->fd) == -1) {
            return cap_spool_writer_error(w, err, "fdatasync", w->seq, errno);
        }

        w->dirty = 0;
    }

    if (w->dir_dirty) {
        if (fsync(w->dir->fd) == -1) {
            return cap_spool_sys_error(err, w->dir, "fsync", NULL, errno);
        }

        w->dir_dirty = 0;
    }

    return CAP_OK;
}


int
cap_spool_writer_live(const cap_spool_writer_t *w)
{
    return (w->fd != -1 && !w->broken) || w->staged;
}


int
cap_spool_sync_pending(const cap_spool_writer_t *w)
{
    return w->nleaving || (w->fd != -1 && w->dirty) || w->dir_dirty;
}


int
cap_spool_sync_take(cap_spool_writer_t *w, cap_spool_syncset_t *s,
    cap_error_t *err)
{
    s->nfds = 0;
    s->dir = -1;

    if (!cap_spool_sync_pending(w)) {
        return CAP_SPOOL_END;
    }

    if (w->fd != -1 && w->dirty) {
        s->fds[0] = dup(w->fd);

        if (s->fds[0] == -1) {
            return cap_spool_sys_error(err, w->dir, "dup", NULL, errno);
        }

        s->nfds = 1;
    }

    if (w->dir_dirty) {
        s->dir = dup(w->dir->fd);

        if (s->dir == -1) {
            if (s->nfds) {
                (void) close(s->fds[0]);
                s->nfds = 0;
            }

            return cap_spool_sys_error(err, w->dir, "dup", NULL, errno);
        }
    }

    /* the segments left are handed over as they are */

    memcpy(&s->fds[s->nfds], w->leaving, w->nleaving * sizeof(int));
    s->nfds += w->nleaving;

    w->nleaving = 0;
    w->dirty = 0;
    w->dir_dirty = 0;

    return CAP_OK;
}


int
cap_spool_sync_run(cap_spool_syncset_t *s)
{
    int     e;
    size_t  i;

    e = 0;

    for (i = 0; i < s->nfds; i++) {
        if (fdatasync(s->fds[i]) == -1 && e == 0) {
            e = errno;
        }

        (void) close(s->fds[i]);
    }

    s->nfds = 0;

    if (s->dir != -1) {
        if (fsync(s->dir) == -1 && e == 0) {
            e = errno;
        }

        (void) close(s->dir);
        s->dir = -1;
    }

    return e;
}


int
cap_spool_writer_close(cap_spool_writer_t *w, cap_error_t *err)
{
    int  rc;

    rc = cap_spool_flush(w, err);

    if (w->conf.sync && rc == CAP_OK) {
        rc = cap_spool_sync(w, err);
    }

    free(w->stage);
    w->stage = NULL;

    while (w->nleaving) {
        (void) close(w->leaving[--w->nleaving]);
    }

    if (w->fd != -1) {
        (void) close(w->fd);
        w->fd = -1;
    }

    cap_spool_unlock(w->dir, &w->id, w->lock, 0);
    w->lock = -1;

    return rc;
}


/*
 * Leaves the current segment (kept open for the next sync when the
 * caller syncs and it has records not yet synced) and creates the
 * next, with its file header.  A new segment whose header cannot be
 * written is removed again.
 */

static int
cap_spool_rotate(cap_spool_writer_t *w, cap_error_t *err)
{
    int           fd, e, i, rc;
    char          name[CAP_SPOOL_FILE_NAME_LEN];
    size_t        written;
    uint64_t      seq;
    cap_uchar_t   h[CAP_SPOOL_FILE_HEADER];
    struct iovec  iov;

    if (w->fd != -1) {
        rc = CAP_OK;

        if (w->dirty && w->conf.sync) {

            /* too many wait for a sync: the oldest is synced now */

            if (w->nleaving == CAP_SPOOL_LEAVING) {
                rc = cap_spool_sync_left(w, err);
            }

            w->leaving[w->nleaving] = w->fd;
            w->leaving_seq[w->nleaving] = w->seq;
            w->nleaving++;

        } else {
            (void) close(w->fd);
        }

        w->fd = -1;
        w->dirty = 0;

        if (rc != CAP_OK) {
            return rc;
        }
    }

    seq = w->seq;

    for (i = 0; /* void */; i++) {
        seq++;
        cap_spool_segment_name(name, &w->id, seq);

        fd = openat(w->dir->fd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (fd != -1) {
            break;
        }

        if (errno != EEXIST || i == CAP_SPOOL_CREATE_TRIES) {
            return cap_spool_sys_error(err, w->dir, "open", name, errno);
        }
    }

    cap_spool_file_header(h, &w->id, seq, w->conf.max_payload);

    iov.iov_base = h;
    iov.iov_len = CAP_SPOOL_FILE_HEADER;

    e = cap_spool_writev(fd, &iov, 1, &written);

    if (e != 0) {
        (void) close(fd);

        /* a file left behind makes the next try skip its seq */

        if (unlinkat(w->dir->fd, name, 0) == -1) {
            w->seq = seq;
        }

        return cap_spool_sys_error(err, w->dir, "write", name, e);
    }

    w->fd = fd;
    w->seq = seq;
    w->offset = CAP_SPOOL_FILE_HEADER;
    w->broken = 0;
    w->dirty = 1;
    w->dir_dirty = 1;
    w->segments++;
    w->bytes += CAP_SPOOL_FILE_HEADER;

    return CAP_OK;
}


/* the payload's length, within the writer's maximum */

static int
cap_spool_payload_len(cap_spool_writer_t *w, const cap_str_t *parts,
    size_t nparts, size_t *len, cap_error_t *err)
{
    size_t  i, n;

    if (nparts > CAP_SPOOL_PARTS_MAX) {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: a payload of %zu parts", nparts);
    }

    n = 0;

    for (i = 0; i < nparts; i++) {
        if (parts[i].len > w->conf.max_payload - n) {
            return cap_error_set(err, CAP_E_BODY_TOO_LARGE,
                                 "spool: a record over the maximum payload "
                                 "of %u bytes", w->conf.max_payload);
        }

        n += parts[i].len;
    }

    *len = n;

    return CAP_OK;
}


/* the oldest segment left: synced and closed */

static int
cap_spool_sync_left(cap_spool_writer_t *w, cap_error_t *err)
{
    int       e;
    uint64_t  seq;

    e = 0;
    seq = w->leaving_seq[0];

    if (fdatasync(w->leaving[0]) == -1) {
        e = errno;
    }

    (void) close(w->leaving[0]);

    w->nleaving--;
    memmove(&w->leaving[0], &w->leaving[1], w->nleaving * sizeof(int));
    memmove(&w->leaving_seq[0], &w->leaving_seq[1],
            w->nleaving * sizeof(uint64_t));

    if (e != 0) {
        return cap_spool_writer_error(w, err, "fdatasync", seq, e);
    }

    return CAP_OK;
}


/* all of "iov", through short writes; 0 or the errno of the failure */

static int
cap_spool_writev(int fd, struct iovec *iov, int n, size_t *written)
{
    size_t   k;
    ssize_t  rc;

    *written = 0;

    while (n > 0) {
        rc = writev(fd, iov, n);

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            return errno;
        }

        if (rc == 0) {
            return EIO;
        }

        k = rc;
        *written += k;

        while (n > 0 && k >= iov->iov_len) {
            k -= iov->iov_len;
            iov++;
            n--;
        }

        if (n > 0) {
            iov->iov_base = (cap_uchar_t *) iov->iov_base + k;
            iov->iov_len -= k;
        }
    }

    return 0;
}


static int
cap_spool_writer_error(cap_spool_writer_t *w, cap_error_t *err,
    const char *call, uint64_t seq, int e)
{
    char  name[CAP_SPOOL_FILE_NAME_LEN];

    cap_spool_segment_name(name, &w->id, seq);

    return cap_spool_sys_error(err, w->dir, call, name, e);
}
