
/*
 * A minimal TAP producer for the unit tests of src/.
 */


#ifndef _CAP_TAP_H_INCLUDED_
#define _CAP_TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int  tap_n;
static int  tap_failed;


#define ok(cond, ...)                                                        \
    tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__,    \
               __VA_ARGS__)

#define is_mem(got, glen, want, wlen, ...)                                   \
    tap_is_mem((const char *) (got), (size_t) (glen), (const char *) (want), \
               (size_t) (wlen), __FILE__, __LINE__, __VA_ARGS__)

#define is_str(got, glen, want, ...)                                         \
    tap_is_mem((const char *) (got), (size_t) (glen), (want), strlen(want),  \
               __FILE__, __LINE__, __VA_ARGS__)


static void
tap_vname(const char *fmt, va_list ap)
{
    vprintf(fmt, ap);
    printf("\n");
}



static int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list  ap;

    tap_n++;

    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);

    va_start(ap, fmt);
    tap_vname(fmt, ap);
    va_end(ap);

    if (!cond) {
        tap_failed++;
        printf("#   at %s line %d\n", file, line);
    }

    return cond;
}


static int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    cond = (got == want);
    tap_n++;

    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);

    va_start(ap, fmt);
    tap_vname(fmt, ap);
    va_end(ap);

    if (!cond) {
        tap_failed++;
        printf("#   at %s line %d\n#   got: %lld\n#  want: %lld\n",
               file, line, got, want);
    }

    return cond;
}


static int
tap_is_mem(const char *got, size_t glen, const char *want, size_t wlen,
    const char *file, int line, const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    cond = (got != NULL && glen == wlen && memcmp(got, want, wlen) == 0);
    tap_n++;

    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);

    va_start(ap, fmt);
    tap_vname(fmt, ap);
    va_end(ap);

    if (!cond) {
        tap_failed++;
        printf("#   at %s line %d\n#   got: '%.*s' (%zu)\n#  want: '%.*s'"
               " (%zu)\n", file, line, got ? (int) (glen > 400 ? 400 : glen)
               : 6, got ? got : "(null)", glen,
               (int) (wlen > 400 ? 400 : wlen), want, wlen);
    }

    return cond;
}


static int
tap_done(void)
{
    printf("1..%d\n", tap_n);

    return tap_failed ? 1 : 0;
}


#endif /* _CAP_TAP_H_INCLUDED_ */
