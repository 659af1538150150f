
/*
 * Time: RFC 3339 / ISO 8601 timestamps to and from milliseconds since
 * the Unix epoch, UTC.  The calendar arithmetic is done here (proleptic
 * Gregorian, H. Hinnant's days-from-civil) rather than with libc's
 * timegm()/mktime(), which depend on the locale and the time zone.
 */


#include "cap_time.h"


#define CAP_TIME_MS_DAY   86400000LL

/* the range of ECMAScript dates: +-100,000,000 days around the epoch */
#define CAP_TIME_MS_MAX   8640000000000000LL


static int cap_time_digits(const cap_uchar_t *p, size_t n, int *v);
static int cap_time_leap(int64_t y);
static int cap_time_month_days(int64_t y, int m);
static int64_t cap_time_days_from_civil(int64_t y, int m, int d);
static void cap_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
static cap_uchar_t *cap_time_put(cap_uchar_t *p, int64_t v, size_t n);


int
cap_time_parse(const cap_uchar_t *p, size_t len, cap_msec_t *ms)
{
    int      year, mon, day, hour, min, sec, msec, oh, om, sign, n;
    size_t   i;
    int64_t  days, off;

    /* the date: YYYY-MM-DD */

    if (len < 10
        || cap_time_digits(p, 4, &year) != CAP_OK
        || p[4] != '-'
        || cap_time_digits(p + 5, 2, &mon) != CAP_OK
        || p[7] != '-'
        || cap_time_digits(p + 8, 2, &day) != CAP_OK)
    {
        return CAP_ERROR;
    }

    if (mon < 1 || mon > 12
        || day < 1 || day > cap_time_month_days(year, mon))
    {
        return CAP_ERROR;
    }

    days = cap_time_days_from_civil(year, mon, day);

    if (len == 10) {
        *ms = days * CAP_TIME_MS_DAY;
        return CAP_OK;
    }

    /* the time: [Tt ]HH:MM:SS */

    if (p[10] != 'T' && p[10] != 't' && p[10] != ' ') {
        return CAP_ERROR;
    }

    if (len < 19
        || cap_time_digits(p + 11, 2, &hour) != CAP_OK
        || p[13] != ':'
        || cap_time_digits(p + 14, 2, &min) != CAP_OK
        || p[16] != ':'
        || cap_time_digits(p + 17, 2, &sec) != CAP_OK)
    {
        return CAP_ERROR;
    }

    if (hour > 23 || min > 59 || sec > 60) {
        return CAP_ERROR;
    }

    /* a leap second: the clock stays at :59 */

    if (sec == 60) {
        sec = 59;
    }

    i = 19;

    /* the fraction: 1 to 9 digits, truncated to milliseconds */

    msec = 0;

    if (i < len && p[i] == '.') {
        i++;

        for (n = 0; i < len && p[i] >= '0' && p[i] <= '9'; n++, i++) {
            if (n < 3) {
                msec = msec * 10 + (p[i] - '0');
            }
        }

        if (n == 0 || n > 9) {
            return CAP_ERROR;
        }

        for ( /* void */ ; n < 3; n++) {
            msec *= 10;
        }
    }

    /* the offset: none, Z, +HH, +HHMM or +HH:MM */

    off = 0;

    if (i < len) {

        if (p[i] == 'Z' || p[i] == 'z') {
            i++;

        } else if (p[i] == '+' || p[i] == '-') {
            sign = (p[i] == '-') ? -1 : 1;
            i++;

            if (len - i < 2 || cap_time_digits(p + i, 2, &oh) != CAP_OK) {
                return CAP_ERROR;
            }

            i += 2;
            om = 0;

            if (i < len) {
                if (p[i] == ':') {
                    i++;
                }

                if (len - i < 2
                    || cap_time_digits(p + i, 2, &om) != CAP_OK)
                {
                    return CAP_ERROR;
                }

                i += 2;
            }

            if (oh > 23 || om > 59) {
                return CAP_ERROR;
            }

            off = sign * ((int64_t) oh * 60 + om) * 60000;

        } else {
            return CAP_ERROR;
        }

        if (i != len) {
            return CAP_ERROR;
        }
    }

    *ms = days * CAP_TIME_MS_DAY
          + (((int64_t) hour * 60 + min) * 60 + sec) * 1000 + msec
          - off;

    return CAP_OK;
}


size_t
cap_time_format(cap_msec_t ms, cap_uchar_t *buf)
{
    int           mon, day;
    int64_t       days, rem, year;
    cap_uchar_t  *p;

    /*
     * beyond the years 0000-9999 it writes ECMAScript's extended years
     * ("+275760-09-13T00:00:00.000Z"), within ECMAScript's range, so
     * that the text fits in CAP_TIME_LEN
     */

    if (ms > CAP_TIME_MS_MAX) {
        ms = CAP_TIME_MS_MAX;

    } else if (ms < -CAP_TIME_MS_MAX) {
        ms = -CAP_TIME_MS_MAX;
    }

    /* floor division: the time of day is never negative */

    days = ms / CAP_TIME_MS_DAY;
    rem = ms % CAP_TIME_MS_DAY;

    if (rem < 0) {
        rem += CAP_TIME_MS_DAY;
        days--;
    }

    cap_time_civil_from_days(days, &year, &mon, &day);

    p = buf;

    if (year < 0) {
        *p++ = '-';
        p = cap_time_put(p, -year, 6);

    } else if (year > 9999) {
        *p++ = '+';
        p = cap_time_put(p, year, 6);

    } else {
        p = cap_time_put(p, year, 4);
    }

    *p++ = '-';
    p = cap_time_put(p, mon, 2);
    *p++ = '-';
    p = cap_time_put(p, day, 2);
    *p++ = 'T';
    p = cap_time_put(p, rem / 3600000, 2);
    *p++ = ':';
    p = cap_time_put(p, rem / 60000 % 60, 2);
    *p++ = ':';
    p = cap_time_put(p, rem / 1000 % 60, 2);
    *p++ = '.';
    p = cap_time_put(p, rem % 1000, 3);
    *p++ = 'Z';

    return p - buf;
}


static int
cap_time_digits(const cap_uchar_t *p, size_t n, int *v)
{
    int  r;

    for (r = 0; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return CAP_ERROR;
        }

        r = r * 10 + (*p - '0');
    }

    *v = r;

    return CAP_OK;
}


static int
cap_time_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


static int
cap_time_month_days(int64_t y, int m)
{
    static const int  days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && cap_time_leap(y)) {
        return 29;
    }

    return days[m - 1];
}


/*
 * Days since 1970-01-01 of a proleptic Gregorian date, with years
 * counted from March so that the leap day ends a year.
 */

static int64_t
cap_time_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;                                  /* [0, 399] */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */

    return era * 146097 + doe - 719468;
}


static void
cap_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;                               /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);        /* [0, 365] */
    mp = (5 * doy + 2) / 153;                             /* [0, 11] */

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


/* "n" decimal digits of v >= 0, zero-padded */

static cap_uchar_t *
cap_time_put(cap_uchar_t *p, int64_t v, size_t n)
{
    size_t  i;

    for (i = n; i; i--) {
        p[i - 1] = (cap_uchar_t) ('0' + v % 10);
        v /= 10;
    }

    return p + n;
}
