
/*
 * The spool's directory: opening it, the owner locks of logs (and their
 * adoption), listing the logs, removing what is delivered, and the rule
 * of which segments may go.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cap_spool.h"


#define CAP_SPOOL_SEGMENT   1
#define CAP_SPOOL_CURSOR    2
#define CAP_SPOOL_LOCK      3

/* tries to lock a lock file that its owner removes meanwhile */
#define CAP_SPOOL_LOCK_TRIES  8


typedef struct {
    int                 kind;
    cap_str_t           writer;
    cap_str_t           dest;
    uint64_t            seq;
    uint64_t            size;
} cap_spool_entry_t;


typedef int (*cap_spool_scan_pt)(cap_spool_entry_t *e, void *data);


typedef struct {
    cap_pool_t         *pool;
    cap_spool_entry_t  *entries;
    size_t              n;
    size_t              size;
} cap_spool_collect_t;


static int cap_spool_scan(cap_spool_dir_t *dir, const cap_str_t *writer,
    cap_spool_scan_pt handler, void *data, cap_error_t *err);
static int cap_spool_parse(const char *name, cap_spool_entry_t *e);
static int cap_spool_str_eq(const cap_str_t *a, const cap_str_t *b);
static int cap_spool_collect(cap_spool_entry_t *e, void *data);
static int cap_spool_entry_cmp(const void *one, const void *two);
static int cap_spool_build(cap_spool_collect_t *c, cap_spool_list_t *list);
static int cap_spool_add_size(cap_spool_entry_t *e, void *data);
static int cap_spool_max_seq(cap_spool_entry_t *e, void *data);


int
cap_spool_dir_open(cap_spool_dir_t *dir, const char *path, cap_error_t *err)
{
    dir->path = path;
    dir->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dir->fd == -1) {
        return cap_spool_sys_error(err, dir, "open", NULL, errno);
    }

    return CAP_OK;
}


void
cap_spool_dir_close(cap_spool_dir_t *dir)
{
    if (dir->fd != -1) {
        (void) close(dir->fd);
        dir->fd = -1;
    }
}


int
cap_spool_sys_error(cap_error_t *err, cap_spool_dir_t *dir, const char *call,
    const char *name, int e)
{
    cap_error_set(err, CAP_E_UNAVAILABLE, "spool: %s() \"%s%s%s\" failed "
                  "(%d: %s)", call, dir->path, name ? "/" : "",
                  name ? name : "", e, strerror(e));

    if (e == ENOSPC || e == EFBIG
#ifdef EDQUOT
        || e == EDQUOT
#endif
       )
    {
        return CAP_SPOOL_FULL;
    }

    return CAP_ERROR;
}


int
cap_spool_adopt_try(cap_spool_dir_t *dir, const cap_str_t *writer, int *fdp,
    cap_error_t *err)
{
    int          fd, e, i;
    char         name[CAP_SPOOL_FILE_NAME_LEN];
    struct stat  held, named;

    if (!cap_spool_name_valid(writer->data, writer->len)) {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id \"%.*s\"",
                             (int) (writer->len > 80 ? 80 : writer->len),
                             (char *) writer->data);
    }

    cap_spool_lock_name(name, writer);

    for (i = 0; i < CAP_SPOOL_LOCK_TRIES; i++) {
        fd = openat(dir->fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd == -1) {
            return cap_spool_sys_error(err, dir, "open", name, errno);
        }

        if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
            e = errno;
            (void) close(fd);

            if (e == EINTR) {
                continue;
            }

            if (e == EWOULDBLOCK) {
                cap_error_set(err, CAP_E_UNAVAILABLE,
                              "spool: the log of \"%.*s\" is owned by a "
                              "live process", (int) writer->len,
                              (char *) writer->data);
                return CAP_SPOOL_BUSY;
            }

            return cap_spool_sys_error(err, dir, "flock", name, e);
        }

        /*
         * The previous owner may have removed the file (its log was
         * done) between our open and our lock: the lock counts only
         * on the file that still has the name.
         */

        if (fstat(fd, &held) == -1) {
            e = errno;
            (void) close(fd);
            return cap_spool_sys_error(err, dir, "fstat", name, e);
        }

        if (fstatat(dir->fd, name, &named, AT_SYMLINK_NOFOLLOW) == 0
            && named.st_dev == held.st_dev && named.st_ino == held.st_ino)
        {
            *fdp = fd;
            return CAP_OK;
        }

        (void) close(fd);
    }

    return cap_error_set(err, CAP_E_UNAVAILABLE,
                         "spool: the lock file of \"%.*s\" keeps changing",
                         (int) writer->len, (char *) writer->data);
}


void
cap_spool_unlock(cap_spool_dir_t *dir, const cap_str_t *writer, int fd,
    unsigned remove)
{
    char  name[CAP_SPOOL_FILE_NAME_LEN];

    if (fd == -1) {
        return;
    }

    /* removed while still held: nobody locks a file about to vanish */

    if (remove) {
        cap_spool_lock_name(name, writer);
        (void) unlinkat(dir->fd, name, 0);
    }

    (void) close(fd);
}


int
cap_spool_list(cap_spool_dir_t *dir, const cap_str_t *writer,
    cap_pool_t *pool, cap_spool_list_t *list, cap_error_t *err)
{
    int                  rc;
    cap_spool_collect_t  c;

    c.pool = pool;
    c.entries = NULL;
    c.n = 0;
    c.size = 0;

    memset(list, 0, sizeof(cap_spool_list_t));

    rc = cap_spool_scan(dir, writer, cap_spool_collect, &c, err);
    if (rc != CAP_OK) {
        return rc;
    }

    if (c.n > 1) {
        qsort(c.entries, c.n, sizeof(cap_spool_entry_t), cap_spool_entry_cmp);
    }

    if (cap_spool_build(&c, list) != CAP_OK) {
        return cap_error_set(err, CAP_E_NOMEM, "spool: out of memory");
    }

    return CAP_OK;
}


int
cap_spool_usage(cap_spool_dir_t *dir, uint64_t *bytes, cap_error_t *err)
{
    *bytes = 0;

    return cap_spool_scan(dir, NULL, cap_spool_add_size, bytes, err);
}


int
cap_spool_last_seq(cap_spool_dir_t *dir, const cap_str_t *writer,
    uint64_t *seq, cap_error_t *err)
{
    *seq = 0;

    return cap_spool_scan(dir, writer, cap_spool_max_seq, seq, err);
}


int
cap_spool_segment_remove(cap_spool_dir_t *dir, const cap_str_t *writer,
    uint64_t seq, cap_error_t *err)
{
    char  name[CAP_SPOOL_FILE_NAME_LEN];

    if (!cap_spool_name_valid(writer->data, writer->len)) {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id");
    }

    cap_spool_segment_name(name, writer, seq);

    if (unlinkat(dir->fd, name, 0) == -1 && errno != ENOENT) {
        return cap_spool_sys_error(err, dir, "unlink", name, errno);
    }

    return CAP_OK;
}


size_t
cap_spool_removable(const cap_spool_seg_t *segs, size_t nsegs,
    const cap_spool_pos_t *cursors, size_t ncursors, uint64_t current)
{
    size_t                  i, k;
    const cap_spool_seg_t  *s;
    const cap_spool_pos_t  *c;

    for (i = 0; i < nsegs; i++) {
        s = &segs[i];

        if (current != 0 && s->seq >= current) {
            return i;
        }

        for (k = 0; k < ncursors; k++) {
            c = &cursors[k];

            if (c->seq > s->seq
                || (c->seq == s->seq && c->offset >= s->size))
            {
                continue;
            }

            return i;
        }
    }

    return nsegs;
}


/*
 * Calls "handler" for every regular file of the spool in the directory
 * (of "writer" only, when it is given).  A file removed meanwhile is
 * not an error.
 */

static int
cap_spool_scan(cap_spool_dir_t *dir, const cap_str_t *writer,
    cap_spool_scan_pt handler, void *data, cap_error_t *err)
{
    int                 fd, e;
    DIR                *d;
    struct stat         st;
    struct dirent      *de;
    cap_spool_entry_t   ent;

    /* a descriptor of its own: readdir() moves the offset it reads at */

    fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        return cap_spool_sys_error(err, dir, "open", NULL, errno);
    }

    d = fdopendir(fd);
    if (d == NULL) {
        e = errno;
        (void) close(fd);
        return cap_spool_sys_error(err, dir, "fdopendir", NULL, e);
    }

    for ( ;; ) {
        errno = 0;
        de = readdir(d);

        if (de == NULL) {
            e = errno;
            (void) closedir(d);

            if (e != 0) {
                return cap_spool_sys_error(err, dir, "readdir", NULL, e);
            }

            return CAP_OK;
        }

        if (!cap_spool_parse(de->d_name, &ent)) {
            continue;
        }

        if (writer != NULL && !cap_spool_str_eq(&ent.writer, writer)) {
            continue;
        }

        if (fstatat(dir->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            e = errno;

            if (e == ENOENT) {
                continue;
            }

            (void) closedir(d);
            return cap_spool_sys_error(err, dir, "stat", de->d_name, e);
        }

        if (!S_ISREG(st.st_mode)) {
            continue;
        }

        ent.size = st.st_size;

        if (handler(&ent, data) != CAP_OK) {
            (void) closedir(d);
            return cap_error_set(err, CAP_E_NOMEM, "spool: out of memory");
        }
    }
}


/*
 * "<w>-<16 hex>.seg", "<w>.<dest>.cur", "<w>.lock": the kind, or 0.
 * A writer id may hold '-' but not '.', so the seq is the 16 digits
 * before ".seg", and a cursor's names are split at its first '.'.
 */

static int
cap_spool_parse(const char *name, cap_spool_entry_t *e)
{
    size_t       len, i;
    uint64_t     seq;
    cap_uchar_t  c, *p, *dot;

    p = (cap_uchar_t *) name;
    len = strlen(name);

    e->dest.len = 0;
    e->dest.data = NULL;
    e->seq = 0;

    if (len > 4 + 16 + 1 && memcmp(p + len - 4, ".seg", 4) == 0
        && p[len - 4 - 16 - 1] == '-')
    {
        seq = 0;

        for (i = len - 4 - 16; i < len - 4; i++) {
            c = p[i];

            if (c >= '0' && c <= '9') {
                seq = seq << 4 | (c - '0');

            } else if (c >= 'a' && c <= 'f') {
                seq = seq << 4 | (c - 'a' + 10);

            } else {
                return 0;
            }
        }

        e->kind = CAP_SPOOL_SEGMENT;
        e->writer.data = p;
        e->writer.len = len - 4 - 16 - 1;
        e->seq = seq;

    } else if (len > 4 && memcmp(p + len - 4, ".cur", 4) == 0) {
        dot = memchr(p, '.', len - 4);
        if (dot == NULL) {
            return 0;
        }

        e->kind = CAP_SPOOL_CURSOR;
        e->writer.data = p;
        e->writer.len = dot - p;
        e->dest.data = dot + 1;
        e->dest.len = p + len - 4 - (dot + 1);

        if (!cap_spool_name_valid(e->dest.data, e->dest.len)) {
            return 0;
        }

    } else if (len > 5 && memcmp(p + len - 5, ".lock", 5) == 0) {
        e->kind = CAP_SPOOL_LOCK;
        e->writer.data = p;
        e->writer.len = len - 5;

    } else {
        return 0;
    }

    if (!cap_spool_name_valid(e->writer.data, e->writer.len)) {
        return 0;
    }

    return e->kind;
}


static int
cap_spool_str_eq(const cap_str_t *a, const cap_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}


/* the entry, with a copy of its name: readdir() reuses its own */

static int
cap_spool_collect(cap_spool_entry_t *e, void *data)
{
    size_t                size;
    cap_uchar_t          *name;
    cap_spool_entry_t    *entries;
    cap_spool_collect_t  *c;

    c = data;

    if (c->n == c->size) {
        size = c->size ? c->size * 2 : 32;

        entries = cap_alloc(c->pool, size * sizeof(cap_spool_entry_t));
        if (entries == NULL) {
            return CAP_ERROR;
        }

        if (c->n) {
            memcpy(entries, c->entries, c->n * sizeof(cap_spool_entry_t));
        }

        cap_free(c->pool, c->entries);

        c->entries = entries;
        c->size = size;
    }

    /* the writer id starts the name; the destination follows it */

    size = e->dest.len ? (size_t) (e->dest.data - e->writer.data)
                         + e->dest.len
                       : e->writer.len;

    name = cap_strdup(c->pool, e->writer.data, size);
    if (name == NULL) {
        return CAP_ERROR;
    }

    c->entries[c->n] = *e;

    if (e->dest.len) {
        c->entries[c->n].dest.data = name + (e->dest.data - e->writer.data);
    }

    c->entries[c->n].writer.data = name;
    c->n++;

    return CAP_OK;
}


static int
cap_spool_entry_cmp(const void *one, const void *two)
{
    int                       rc;
    size_t                    len;
    const cap_spool_entry_t  *a, *b;

    a = one;
    b = two;

    len = a->writer.len < b->writer.len ? a->writer.len : b->writer.len;

    rc = memcmp(a->writer.data, b->writer.data, len);
    if (rc != 0) {
        return rc;
    }

    if (a->writer.len != b->writer.len) {
        return a->writer.len < b->writer.len ? -1 : 1;
    }

    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }

    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }

    len = a->dest.len < b->dest.len ? a->dest.len : b->dest.len;

    rc = len ? memcmp(a->dest.data, b->dest.data, len) : 0;
    if (rc != 0) {
        return rc;
    }

    return (a->dest.len > b->dest.len) - (a->dest.len < b->dest.len);
}


/* the sorted entries -> one log per writer, pointing into them */

static int
cap_spool_build(cap_spool_collect_t *c, cap_spool_list_t *list)
{
    size_t              i, nlogs, nsegs, ndests;
    cap_str_t          *dests;
    cap_spool_log_t    *log;
    cap_spool_seg_t    *segs;
    cap_spool_entry_t  *e;

    nlogs = 0;
    nsegs = 0;
    ndests = 0;

    for (i = 0; i < c->n; i++) {
        e = &c->entries[i];

        if (i == 0 || !cap_spool_str_eq(&e->writer, &e[-1].writer)) {
            nlogs++;
        }

        nsegs += (e->kind == CAP_SPOOL_SEGMENT);
        ndests += (e->kind == CAP_SPOOL_CURSOR);
    }

    if (nlogs == 0) {
        return CAP_OK;
    }

    list->logs = cap_calloc(c->pool, nlogs * sizeof(cap_spool_log_t));
    segs = nsegs ? cap_alloc(c->pool, nsegs * sizeof(cap_spool_seg_t)) : NULL;
    dests = ndests ? cap_alloc(c->pool, ndests * sizeof(cap_str_t)) : NULL;

    if (list->logs == NULL || (nsegs && segs == NULL)
        || (ndests && dests == NULL))
    {
        return CAP_ERROR;
    }

    log = NULL;

    for (i = 0; i < c->n; i++) {
        e = &c->entries[i];

        if (log == NULL || !cap_spool_str_eq(&e->writer, &log->writer)) {
            log = &list->logs[list->nlogs++];
            log->writer = e->writer;
            log->segs = segs;
            log->dests = dests;
        }

        switch (e->kind) {

        case CAP_SPOOL_SEGMENT:
            segs->seq = e->seq;
            segs->size = e->size;
            segs++;
            log->nsegs++;
            list->bytes += e->size;
            break;

        case CAP_SPOOL_CURSOR:
            *dests++ = e->dest;
            log->ndests++;
            break;

        default: /* CAP_SPOOL_LOCK */
            log->lock = 1;
            break;
        }
    }

    return CAP_OK;
}


static int
cap_spool_add_size(cap_spool_entry_t *e, void *data)
{
    uint64_t  *bytes;

    bytes = data;

    if (e->kind == CAP_SPOOL_SEGMENT) {
        *bytes += e->size;
    }

    return CAP_OK;
}


static int
cap_spool_max_seq(cap_spool_entry_t *e, void *data)
{
    uint64_t  *seq;

    seq = data;

    if (e->kind == CAP_SPOOL_SEGMENT && e->seq > *seq) {
        *seq = e->seq;
    }

    return CAP_OK;
}
