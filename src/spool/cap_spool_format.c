
/*
 * The bytes of the spool: record headers, payloads, segment file
 * headers, cursor slots and file names (docs/spool.md).  No I/O here.
 * Integers are little-endian, written and read a byte at a time.
 */


#include <inttypes.h>
#include <stdio.h>

#include "cap_spool.h"


static void cap_spool_put32(cap_uchar_t *p, uint32_t v);
static void cap_spool_put64(cap_uchar_t *p, uint64_t v);
static uint32_t cap_spool_get32(const cap_uchar_t *p);
static uint64_t cap_spool_get64(const cap_uchar_t *p);


static const cap_uchar_t  cap_spool_record_magic[4] = { 'C', 'R', 'e', 'c' };
static const cap_uchar_t  cap_spool_cursor_magic[4] = { 'C', 'C', 'u', 'r' };
static const cap_uchar_t  cap_spool_file_magic[8] = {
    'C', 'A', 'P', 'S', 'P', 'O', 'O', 'L'
};


int
cap_spool_pos_cmp(const cap_spool_pos_t *a, const cap_spool_pos_t *b)
{
    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }

    if (a->offset != b->offset) {
        return a->offset < b->offset ? -1 : 1;
    }

    return 0;
}


int
cap_spool_name_valid(const cap_uchar_t *p, size_t len)
{
    size_t       i;
    cap_uchar_t  c;

    if (len == 0 || len > CAP_SPOOL_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


size_t
cap_spool_names_size(const cap_str_t *dests, size_t n)
{
    size_t  i, size;

    if (n == 0 || n > CAP_SPOOL_DESTS_MAX) {
        return 0;
    }

    size = 2;

    for (i = 0; i < n; i++) {
        if (!cap_spool_name_valid(dests[i].data, dests[i].len)) {
            return 0;
        }

        size += 1 + dests[i].len;
    }

    return size;
}


cap_uchar_t *
cap_spool_names_write(cap_uchar_t *p, const cap_str_t *dests, size_t n)
{
    size_t  i;

    *p++ = (cap_uchar_t) (n & 0xff);
    *p++ = (cap_uchar_t) (n >> 8);

    for (i = 0; i < n; i++) {
        *p++ = (cap_uchar_t) dests[i].len;
        memcpy(p, dests[i].data, dests[i].len);
        p += dests[i].len;
    }

    return p;
}


int
cap_spool_payload_decode(cap_uchar_t *p, size_t len, cap_spool_payload_t *pl)
{
    size_t        i, n, l;
    cap_uchar_t  *end;

    if (len < 2) {
        return CAP_ERROR;
    }

    end = p + len;
    n = (size_t) p[0] | (size_t) p[1] << 8;
    p += 2;

    if (n == 0 || n > CAP_SPOOL_DESTS_MAX) {
        return CAP_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (p == end) {
            return CAP_ERROR;
        }

        l = *p++;

        if (l > (size_t) (end - p) || !cap_spool_name_valid(p, l)) {
            return CAP_ERROR;
        }

        pl->dests[i].len = l;
        pl->dests[i].data = p;
        p += l;
    }

    if (p == end || end[-1] != '\n') {
        return CAP_ERROR;
    }

    pl->ndests = n;
    pl->text.len = end - p;
    pl->text.data = p;

    return CAP_OK;
}


void
cap_spool_record_header(cap_uchar_t *h, uint32_t len, uint32_t crc)
{
    memcpy(h, cap_spool_record_magic, 4);
    cap_spool_put32(h + 4, len);
    cap_spool_put32(h + 8, crc);
    cap_spool_put32(h + 12, cap_crc32c(0, h, 12));
}


int
cap_spool_record_check(const cap_uchar_t *h, uint32_t max, uint32_t *len,
    uint32_t *crc)
{
    uint32_t  n;

    if (memcmp(h, cap_spool_record_magic, 4) != 0
        || cap_spool_get32(h + 12) != cap_crc32c(0, h, 12))
    {
        return CAP_ERROR;
    }

    n = cap_spool_get32(h + 4);

    if (n > max) {
        return CAP_ERROR;
    }

    *len = n;
    *crc = cap_spool_get32(h + 8);

    return CAP_OK;
}


void
cap_spool_file_header(cap_uchar_t *h, const cap_str_t *writer, uint64_t seq,
    uint32_t max)
{
    memcpy(h, cap_spool_file_magic, 8);
    cap_spool_put32(h + 8, CAP_SPOOL_VERSION);
    cap_spool_put32(h + 12, max);
    cap_spool_put64(h + 16, seq);
    cap_spool_put32(h + 24, cap_crc32c(0, writer->data, writer->len));
    cap_spool_put32(h + 28, cap_crc32c(0, h, 28));
}


int
cap_spool_file_header_check(const cap_uchar_t *h, uint32_t writer_crc,
    uint64_t seq, uint32_t *max)
{
    uint32_t  n;

    if (memcmp(h, cap_spool_file_magic, 8) != 0
        || cap_spool_get32(h + 28) != cap_crc32c(0, h, 28)
        || cap_spool_get32(h + 8) != CAP_SPOOL_VERSION
        || cap_spool_get64(h + 16) != seq
        || cap_spool_get32(h + 24) != writer_crc)
    {
        return CAP_ERROR;
    }

    n = cap_spool_get32(h + 12);

    if (n > CAP_SPOOL_PAYLOAD_LIMIT) {
        return CAP_ERROR;
    }

    *max = n;

    return CAP_OK;
}


void
cap_spool_cursor_slot(cap_uchar_t *s, uint64_t gen, const cap_spool_pos_t *pos)
{
    memcpy(s, cap_spool_cursor_magic, 4);
    cap_spool_put64(s + 4, gen);
    cap_spool_put64(s + 12, pos->seq);
    cap_spool_put64(s + 20, pos->offset);
    cap_spool_put32(s + 28, cap_crc32c(0, s, 28));
}


int
cap_spool_cursor_slot_check(const cap_uchar_t *s, uint64_t *gen,
    cap_spool_pos_t *pos)
{
    if (memcmp(s, cap_spool_cursor_magic, 4) != 0
        || cap_spool_get32(s + 28) != cap_crc32c(0, s, 28))
    {
        return CAP_ERROR;
    }

    *gen = cap_spool_get64(s + 4);
    pos->seq = cap_spool_get64(s + 12);
    pos->offset = cap_spool_get64(s + 20);

    return CAP_OK;
}


size_t
cap_spool_segment_name(char *buf, const cap_str_t *writer, uint64_t seq)
{
    return snprintf(buf, CAP_SPOOL_FILE_NAME_LEN, "%.*s-%016" PRIx64 ".seg",
                    (int) writer->len, (char *) writer->data, seq);
}


size_t
cap_spool_cursor_name(char *buf, const cap_str_t *writer,
    const cap_str_t *dest)
{
    return snprintf(buf, CAP_SPOOL_FILE_NAME_LEN, "%.*s.%.*s.cur",
                    (int) writer->len, (char *) writer->data,
                    (int) dest->len, (char *) dest->data);
}


size_t
cap_spool_lock_name(char *buf, const cap_str_t *writer)
{
    return snprintf(buf, CAP_SPOOL_FILE_NAME_LEN, "%.*s.lock",
                    (int) writer->len, (char *) writer->data);
}


static void
cap_spool_put32(cap_uchar_t *p, uint32_t v)
{
    p[0] = (cap_uchar_t) v;
    p[1] = (cap_uchar_t) (v >> 8);
    p[2] = (cap_uchar_t) (v >> 16);
    p[3] = (cap_uchar_t) (v >> 24);
}


static void
cap_spool_put64(cap_uchar_t *p, uint64_t v)
{
    cap_spool_put32(p, (uint32_t) v);
    cap_spool_put32(p + 4, (uint32_t) (v >> 32));
}


static uint32_t
cap_spool_get32(const cap_uchar_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static uint64_t
cap_spool_get64(const cap_uchar_t *p)
{
    return (uint64_t) cap_spool_get32(p)
           | (uint64_t) cap_spool_get32(p + 4) << 32;
}
