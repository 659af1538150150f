
/*
 * Cursors: where a destination is in a writer's log.  Stored in place,
 * in one of two slots of a small file: no rename and no new file per
 * update, one pwrite() of 32 bytes.
 */


#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cap_spool.h"


/*
 * The second slot is a block away from the first: a write torn by a
 * power failure, or a sector that cannot be read back, damages one.
 */
#define CAP_SPOOL_SLOT_OFFSET(n)  ((off_t) (n) * 4096)


static int cap_spool_cursor_init(cap_spool_cursor_t *c, unsigned created,
    cap_error_t *err);
static int cap_spool_cursor_load(cap_spool_cursor_t *c, cap_error_t *err);
static int cap_spool_pwrite(int fd, const cap_uchar_t *p, size_t n,
    off_t off);


int
cap_spool_cursor_open(cap_spool_cursor_t *c, cap_spool_dir_t *dir,
    const cap_str_t *writer, const cap_str_t *dest, unsigned create,
    cap_error_t *err)
{
    int          e, rc;
    unsigned     created;
    struct stat  st;

    c->dir = dir;
    c->fd = -1;
    c->gen = 0;
    c->pos.seq = 0;
    c->pos.offset = 0;
    c->slot = 0;
    c->corrupt = 0;

    if (!cap_spool_name_valid(writer->data, writer->len)
        || !cap_spool_name_valid(dest->data, dest->len))
    {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id or destination name");
    }

    cap_spool_cursor_name(c->name, writer, dest);

    created = 0;

    c->fd = openat(dir->fd, c->name, O_RDWR | O_CLOEXEC);

    if (c->fd == -1 && errno == ENOENT && create) {
        c->fd = openat(dir->fd, c->name,
                       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        created = 1;
    }

    if (c->fd == -1) {
        if (errno == ENOENT) {
            cap_error_set(err, CAP_E_UNAVAILABLE, "spool: no cursor "
                          "\"%s/%s\"", dir->path, c->name);
            return CAP_SPOOL_NOENT;
        }

        return cap_spool_sys_error(err, dir, "open", c->name, errno);
    }

    if (fstat(c->fd, &st) == -1) {
        e = errno;
        cap_spool_cursor_close(c);
        return cap_spool_sys_error(err, dir, "fstat", c->name, e);
    }

    /* empty: just created, or its creator died before the first write */

    rc = (st.st_size == 0) ? cap_spool_cursor_init(c, created, err)
                           : cap_spool_cursor_load(c, err);

    if (rc != CAP_OK) {
        cap_spool_cursor_close(c);
    }

    return rc;
}


int
cap_spool_cursor_store(cap_spool_cursor_t *c, const cap_spool_pos_t *pos,
    unsigned sync, cap_error_t *err)
{
    int          e;
    unsigned     slot;
    cap_uchar_t  s[CAP_SPOOL_CURSOR_SLOT];

    slot = !c->slot;

    cap_spool_cursor_slot(s, c->gen + 1, pos);

    e = cap_spool_pwrite(c->fd, s, CAP_SPOOL_CURSOR_SLOT,
                         CAP_SPOOL_SLOT_OFFSET(slot));
    if (e != 0) {
        return cap_spool_sys_error(err, c->dir, "pwrite", c->name, e);
    }

    if (sync && fdatasync(c->fd) == -1) {
        return cap_spool_sys_error(err, c->dir, "fdatasync", c->name, errno);
    }

    c->gen++;
    c->slot = slot;
    c->pos = *pos;

    return CAP_OK;
}


void
cap_spool_cursor_close(cap_spool_cursor_t *c)
{
    if (c->fd != -1) {
        (void) close(c->fd);
        c->fd = -1;
    }
}


int
cap_spool_cursor_remove(cap_spool_dir_t *dir, const cap_str_t *writer,
    const cap_str_t *dest, cap_error_t *err)
{
    char  name[CAP_SPOOL_FILE_NAME_LEN];

    if (!cap_spool_name_valid(writer->data, writer->len)
        || !cap_spool_name_valid(dest->data, dest->len))
    {
        return cap_error_set(err, CAP_E_UNAVAILABLE,
                             "spool: invalid writer id or destination name");
    }

    cap_spool_cursor_name(name, writer, dest);

    if (unlinkat(dir->fd, name, 0) == -1 && errno != ENOENT) {
        return cap_spool_sys_error(err, dir, "unlink", name, errno);
    }

    return CAP_OK;
}


/*
 * Both slots at once, {0, 0} in generations 0 and 1: the file has its
 * two blocks from the start, and a store never needs a new one (which
 * could fail on a full disk).
 */

static int
cap_spool_cursor_init(cap_spool_cursor_t *c, unsigned created,
    cap_error_t *err)
{
    int          e;
    cap_uchar_t  s[CAP_SPOOL_CURSOR_SLOT];

    cap_spool_cursor_slot(s, 0, &c->pos);

    e = cap_spool_pwrite(c->fd, s, CAP_SPOOL_CURSOR_SLOT,
                         CAP_SPOOL_SLOT_OFFSET(0));

    if (e == 0) {
        cap_spool_cursor_slot(s, 1, &c->pos);

        e = cap_spool_pwrite(c->fd, s, CAP_SPOOL_CURSOR_SLOT,
                             CAP_SPOOL_SLOT_OFFSET(1));
    }

    if (e == 0 && fdatasync(c->fd) == -1) {
        e = errno;
    }

    if (e != 0) {
        return cap_spool_sys_error(err, c->dir, "pwrite", c->name, e);
    }

    if (created && fsync(c->dir->fd) == -1) {
        return cap_spool_sys_error(err, c->dir, "fsync", NULL, errno);
    }

    c->gen = 1;
    c->slot = 1;

    return CAP_OK;
}


static int
cap_spool_cursor_load(cap_spool_cursor_t *c, cap_error_t *err)
{
    int              e;
    ssize_t          n;
    unsigned         i, valid;
    uint64_t         gen;
    cap_uchar_t      s[CAP_SPOOL_CURSOR_SLOT];
    cap_spool_pos_t  pos;

    e = 0;
    valid = 0;

    for (i = 0; i < 2; i++) {
        n = pread(c->fd, s, CAP_SPOOL_CURSOR_SLOT, CAP_SPOOL_SLOT_OFFSET(i));

        if (n == -1) {
            e = errno;
            continue;
        }

        if (n != CAP_SPOOL_CURSOR_SLOT
            || cap_spool_cursor_slot_check(s, &gen, &pos) != CAP_OK)
        {
            continue;
        }

        if (!valid || gen > c->gen) {
            valid = 1;
            c->gen = gen;
            c->pos = pos;
            c->slot = i;
        }
    }

    if (valid) {
        return CAP_OK;
    }

    /* a slot that could not be read might have been the good one */

    if (e != 0) {
        return cap_spool_sys_error(err, c->dir, "pread", c->name, e);
    }

    c->corrupt = 1;
    c->gen = 0;
    c->pos.seq = 0;
    c->pos.offset = 0;
    c->slot = 1;

    return CAP_OK;
}


static int
cap_spool_pwrite(int fd, const cap_uchar_t *p, size_t n, off_t off)
{
    ssize_t  rc;

    while (n) {
        rc = pwrite(fd, p, n, off);

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            return errno;
        }

        if (rc == 0) {
            return EIO;
        }

        p += rc;
        n -= rc;
        off += rc;
    }

    return 0;
}
