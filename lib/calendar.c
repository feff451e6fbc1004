#include "calendar.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "name.h"
#include "util.h"

enum day_kind {
        DAY_PLAIN = 0, /* Monday-Friday works, Saturday and Sunday rest */
        DAY_HOLIDAY,
        DAY_WORKDAY,
};

#define ORIGIN_MAX 200 /* bytes of a file name kept to say where a year was declared */
#define QUOTE_MAX 44   /* bytes of a bad token quoted back in a message */

/* The longest reasons must fit: the caller's buffer is fixed in the API. */
_Static_assert(sizeof("adjusted workday: ") + EVD_CALENDAR_NAME_MAX <= EVD_CALENDAR_REASON_MAX,
               "reason buffer too small for a name");
_Static_assert(sizeof("weekday (no calendar for 9999: Monday-Friday assumed)") <=
                       EVD_CALENDAR_REASON_MAX,
               "reason buffer too small for an unknown year");
_Static_assert(EVD_CALENDAR_ENTRIES_MAX <= 256, "entry index is a uint8_t");

/* One declared year: what each of its days is, and the names of its statements. */
struct cal_year {
        int year;
        int decl_line;           /* line of its 'year' statement */
        char origin[ORIGIN_MAX]; /* file that declared it, for messages */
        uint8_t kind[366];       /* enum day_kind, by day of the year (0-based) */
        uint8_t entry[366];      /* index into names */
        int line[366];           /* line that declared the day, for messages */
        int n_entries;
        char names[EVD_CALENDAR_ENTRIES_MAX][EVD_CALENDAR_NAME_MAX + 1];
};

struct evd_calendar {
        pthread_rwlock_t lock; /* queries read; a year added at run time writes */
        int n_years;
        struct cal_year *years[EVD_CALENDAR_YEARS_MAX]; /* ascending by year, owned */
};

/* One file being read. Its years stay here until the whole file is good. */
struct parser {
        const struct evd_calendar *cal; /* years already loaded, for duplicates */
        const char *name;               /* the file, for messages */
        int line;
        int n_years;
        struct cal_year *years[EVD_CALENDAR_YEARS_MAX]; /* in declaration order, owned */
        struct evd_err *err;
};

/* ---- dates ---- */

static bool is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static bool date_exists(int y, int m, int d)
{
        return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m);
}

/* 0 for 1 January. */
static int day_of_year(int y, int m, int d)
{
        static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };

        return before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1). */
static int64_t day_number(int y, int m, int d)
{
        /* Days from 0001-01-01 to 1970-01-01. */
        const int64_t epoch = 365 * 1969 + 1969 / 4 - 1969 / 100 + 1969 / 400;
        int64_t py = y - 1;

        return 365 * py + py / 4 - py / 100 + py / 400 + day_of_year(y, m, d) - epoch;
}

/* 0 Sunday .. 6 Saturday. 1970-01-01 was a Thursday. */
static int weekday(int64_t dn)
{
        return (int)(((dn % 7) + 7 + 4) % 7);
}

static bool is_weekend(int wd)
{
        return wd == 0 || wd == 6;
}

static const char *weekday_name(int wd)
{
        static const char *const names[7] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday" };

        return names[wd];
}

static void next_day(int *y, int *m, int *d)
{
        if (*d < month_days(*y, *m)) {
                (*d)++;
        } else if (*m < 12) {
                (*m)++;
                *d = 1;
        } else {
                (*y)++;
                *m = 1;
                *d = 1;
        }
}

/* Exactly n ASCII digits at s into *ret. */
static bool take_digits(const char *s, int n, int *ret)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

int evd_calendar_parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day)
{
        int y, m, d;

        if (!s || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        if (!take_digits(s, 4, &y) || !take_digits(s + 5, 2, &m) || !take_digits(s + 8, 2, &d))
                return -EINVAL;
        if (!date_exists(y, m, d))
                return -EINVAL;
        *ret_year = y;
        *ret_month = m;
        *ret_day = d;
        return 0;
}

/* ---- lookups ---- */

static const struct cal_year *find_year(const struct evd_calendar *cal, int year)
{
        if (!cal)
                return NULL;
        for (int i = 0; i < cal->n_years; i++)
                if (cal->years[i]->year == year)
                        return cal->years[i];
        return NULL;
}

/* Whether y-m-d (wd its weekday) is worked; *ret_known and, for a declared holiday or
 * workday, *ret_kind and *ret_name (borrowed from cal) say why. */
static bool is_working(const struct evd_calendar *cal, int y, int m, int d, int wd, bool *ret_known,
                       enum day_kind *ret_kind, const char **ret_name)
{
        const struct cal_year *yr = find_year(cal, y);
        int doy;

        *ret_kind = DAY_PLAIN;
        *ret_name = NULL;
        *ret_known = yr != NULL;
        if (!yr)
                return !is_weekend(wd);
        doy = day_of_year(y, m, d);
        *ret_kind = yr->kind[doy];
        if (*ret_kind == DAY_PLAIN)
                return !is_weekend(wd);
        *ret_name = yr->names[yr->entry[doy]];
        return *ret_kind == DAY_WORKDAY;
}

/* Queries hold the read lock; the lock is not const, the calendar's content is. */
static void read_lock(const struct evd_calendar *cal)
{
        if (cal)
                (void)pthread_rwlock_rdlock((pthread_rwlock_t *)&cal->lock);
}

static void read_unlock(const struct evd_calendar *cal)
{
        if (cal)
                (void)pthread_rwlock_unlock((pthread_rwlock_t *)&cal->lock);
}

bool evd_calendar_covers(const struct evd_calendar *cal, int year)
{
        bool r;

        read_lock(cal);
        r = find_year(cal, year) != NULL;
        read_unlock(cal);
        return r;
}

int evd_calendar_years(const struct evd_calendar *cal, int *years, int max)
{
        int n;

        if (!cal)
                return 0;
        read_lock(cal);
        for (int i = 0; i < cal->n_years && i < max; i++)
                years[i] = cal->years[i]->year;
        n = cal->n_years;
        read_unlock(cal);
        return n;
}

static int day_locked(const struct evd_calendar *cal, int year, int month, int day,
                      struct evd_calendar_day *ret)
{
        struct evd_calendar_day out = { 0 };
        enum day_kind kind;
        const char *name;
        int wd, r;

        if (!date_exists(year, month, day))
                return -EINVAL;
        wd = weekday(day_number(year, month, day));
        out.working_day = is_working(cal, year, month, day, wd, &out.known, &kind, &name);
        if (!out.known)
                r = evd_snprintf(out.reason, sizeof(out.reason),
                                 "%s (no calendar for %d: Monday-Friday assumed)",
                                 is_weekend(wd) ? "weekend" : "weekday", year);
        else if (kind == DAY_HOLIDAY)
                r = evd_snprintf(out.reason, sizeof(out.reason), "holiday: %s", name);
        else if (kind == DAY_WORKDAY)
                r = evd_snprintf(out.reason, sizeof(out.reason), "adjusted workday: %s", name);
        else
                r = evd_snprintf(out.reason, sizeof(out.reason), "%s",
                                 is_weekend(wd) ? "weekend" : "weekday");
        if (r < 0)
                return r;
        *ret = out;
        return 0;
}

int evd_calendar_day(const struct evd_calendar *cal, int year, int month, int day,
                     struct evd_calendar_day *ret)
{
        int r;

        read_lock(cal);
        r = day_locked(cal, year, month, day, ret);
        read_unlock(cal);
        return r;
}

static int deadline_locked(const struct evd_calendar *cal, int64_t recorded_at, int n_working_days,
                           int64_t *ret_deadline, bool *ret_known)
{
        /* Days without work can only run on inside declared years; past them Monday-Friday
         * holds. So this many days always reach the deadline; it only guards the loop. */
        const int search_max = (EVD_CALENDAR_YEARS_MAX + 3) * 366;
        time_t t = (time_t)recorded_at;
        struct tm tm, midnight = { 0 };
        bool known = true;
        long long year;
        int y, m, d, wd, count = 0;
        time_t end;

        if (n_working_days < 1 || n_working_days > EVD_CALENDAR_DEADLINE_MAX)
                return -EINVAL;
        if ((int64_t)t != recorded_at || !localtime_r(&t, &tm))
                return -ERANGE;
        year = (long long)tm.tm_year + 1900;
        if (year < 1 || year > 9999)
                return -ERANGE;
        y = (int)year;
        m = tm.tm_mon + 1;
        d = tm.tm_mday;
        wd = weekday(day_number(y, m, d));
        for (int i = 0; count < n_working_days; i++) {
                enum day_kind kind;
                const char *name;
                bool day_known;

                if (i >= search_max)
                        return -ERANGE;
                next_day(&y, &m, &d);
                wd = (wd + 1) % 7;
                if (y > 9999)
                        return -ERANGE;
                if (is_working(cal, y, m, d, wd, &day_known, &kind, &name))
                        count++;
                if (!day_known)
                        known = false;
        }
        /* The deadline day ends the instant before the next local midnight. mktime with
         * tm_isdst -1 finds that midnight's offset itself (or the first instant of the
         * day, where a clock change skips midnight). */
        next_day(&y, &m, &d);
        midnight.tm_year = y - 1900;
        midnight.tm_mon = m - 1;
        midnight.tm_mday = d;
        midnight.tm_isdst = -1;
        errno = 0;
        end = mktime(&midnight);
        if (end == (time_t)-1 && errno != 0)
                return -ERANGE;
        *ret_deadline = (int64_t)end - 1;
        *ret_known = known;
        return 0;
}

int evd_calendar_deadline(const struct evd_calendar *cal, int64_t recorded_at, int n_working_days,
                          int64_t *ret_deadline, bool *ret_known)
{
        int r;

        read_lock(cal);
        r = deadline_locked(cal, recorded_at, n_working_days, ret_deadline, ret_known);
        read_unlock(cal);
        return r;
}

/* ---- reading calendar files ---- */

/* Copy the UTF-8 string s into out (n bytes) whole, or cut at a character boundary and
 * marked with "...", so that messages stay valid UTF-8. */
static void clip(const char *s, char *out, size_t n)
{
        size_t len = strlen(s), k;

        if (len < n) {
                memcpy(out, s, len + 1);
                return;
        }
        k = n - 4;
        while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
                k--;
        memcpy(out, s, k);
        memcpy(out + k, "...", 4);
}

static int bad(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Refuse the file at the current line: "name:line: reason". Returns -EINVAL. */
static int bad(struct parser *p, const char *fmt, ...)
{
        char reason[EVD_ERR_TEXT_MAX];
        va_list ap;

        va_start(ap, fmt);
        /* A cut reason still names the problem; the line number is what matters most. */
        (void)vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        return evd_err_set(p->err, -EINVAL, "%s:%d: %s", p->name, p->line, reason);
}

static struct cal_year *parser_year(struct parser *p, int year)
{
        for (int i = 0; i < p->n_years; i++)
                if (p->years[i]->year == year)
                        return p->years[i];
        return NULL;
}

/* "year YYYY" */
static int parse_year(struct parser *p, const char *arg)
{
        const struct cal_year *old;
        struct cal_year *yr;
        int y;

        if (strlen(arg) != 4 || !take_digits(arg, 4, &y))
                return bad(p, "'year' takes one four-digit year, e.g. 'year 2026'");
        if (y < EVD_CALENDAR_YEAR_MIN || y > EVD_CALENDAR_YEAR_MAX)
                return bad(p, "year %d is outside %d..%d", y, EVD_CALENDAR_YEAR_MIN,
                           EVD_CALENDAR_YEAR_MAX);
        old = parser_year(p, y);
        if (old)
                return bad(p, "year %d is already declared on line %d", y, old->decl_line);
        old = find_year(p->cal, y);
        if (old)
                return bad(p, "year %d is already declared at %s:%d (one file per year)", y,
                           old->origin, old->decl_line);
        if (p->n_years + (p->cal ? p->cal->n_years : 0) >= EVD_CALENDAR_YEARS_MAX)
                return bad(p, "too many years: at most %d in all calendar files",
                           EVD_CALENDAR_YEARS_MAX);
        yr = calloc(1, sizeof(*yr));
        if (!yr)
                return evd_err_set(p->err, -ENOMEM, "%s:%d: out of memory", p->name, p->line);
        yr->year = y;
        yr->decl_line = p->line;
        clip(p->name, yr->origin, sizeof(yr->origin));
        p->years[p->n_years++] = yr;
        return 0;
}

/* "holiday DATE[..DATE] NAME" or "workday DATE[..DATE] NAME" */
static int parse_days(struct parser *p, const char *keyword, char *arg, enum day_kind kind)
{
        char quote[QUOTE_MAX], *name, *dots, *first = arg, *last;
        int y0, m0, d0, y1, m1, d1, y, m, d, wd;
        struct cal_year *cur = NULL;
        int64_t dn0, dn1;
        int entry = 0;

        name = arg + strcspn(arg, " \t");
        if (*name) {
                *name++ = '\0';
                name += strspn(name, " \t");
        }
        if (!*first || !*name)
                return bad(p, "'%s' takes a date or a range and a name, e.g. '%s'", keyword,
                           kind == DAY_HOLIDAY ? "holiday 2026-10-01..2026-10-07 国庆节"
                                               : "workday 2026-10-10 国庆节调休");
        dots = strstr(first, "..");
        last = first;
        if (dots) {
                *dots = '\0';
                last = dots + 2;
        }
        if (evd_calendar_parse_date(first, &y0, &m0, &d0) < 0) {
                clip(first, quote, sizeof(quote));
                return bad(p, "'%s' is not a date (YYYY-MM-DD, a day that exists)", quote);
        }
        if (evd_calendar_parse_date(last, &y1, &m1, &d1) < 0) {
                clip(last, quote, sizeof(quote));
                return bad(p, "'%s' is not a date (YYYY-MM-DD, a day that exists)", quote);
        }
        if (strlen(name) > EVD_CALENDAR_NAME_MAX)
                return bad(p, "name is longer than %d bytes", EVD_CALENDAR_NAME_MAX);
        dn0 = day_number(y0, m0, d0);
        dn1 = day_number(y1, m1, d1);
        if (dn1 < dn0)
                return bad(p, "range %s..%s ends before it starts", first, last);
        if (dn1 - dn0 >= EVD_CALENDAR_RANGE_MAX)
                return bad(p, "range %s..%s is longer than %d days", first, last,
                           EVD_CALENDAR_RANGE_MAX);

        y = y0, m = m0, d = d0;
        wd = weekday(dn0);
        for (int64_t dn = dn0; dn <= dn1; dn++, next_day(&y, &m, &d), wd = (wd + 1) % 7) {
                struct cal_year *yr = parser_year(p, y);
                int doy;

                if (!yr)
                        return bad(p,
                                   "%04d-%02d-%02d is in %d, which this file does not declare "
                                   "(put 'year %d' above this line)",
                                   y, m, d, y, y);
                if (kind == DAY_WORKDAY && !is_weekend(wd))
                        return bad(p,
                                   "%04d-%02d-%02d is a %s, a working day anyway: 'workday' is "
                                   "for a Saturday or Sunday that is worked",
                                   y, m, d, weekday_name(wd));
                doy = day_of_year(y, m, d);
                if (yr->kind[doy] != DAY_PLAIN)
                        return bad(p, "%04d-%02d-%02d is already declared %s on line %d", y, m, d,
                                   yr->kind[doy] == DAY_HOLIDAY ? "a holiday" : "a workday",
                                   yr->line[doy]);
                if (yr != cur) {
                        /* A range across New Year gives each year its own entry. */
                        if (yr->n_entries >= EVD_CALENDAR_ENTRIES_MAX)
                                return bad(p,
                                           "too many holiday and workday lines for %d (at most %d)",
                                           y, EVD_CALENDAR_ENTRIES_MAX);
                        entry = yr->n_entries++;
                        memcpy(yr->names[entry], name, strlen(name) + 1);
                        cur = yr;
                }
                yr->kind[doy] = (uint8_t)kind;
                yr->entry[doy] = (uint8_t)entry;
                yr->line[doy] = p->line;
        }
        return 0;
}

/* One line, NUL-terminated, known to be UTF-8 without control characters but tabs. */
static int parse_line(struct parser *p, char *s)
{
        char quote[QUOTE_MAX], *keyword, *arg, *hash;
        size_t len;

        hash = strchr(s, '#');
        if (hash)
                *hash = '\0';
        len = strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                s[--len] = '\0';
        s += strspn(s, " \t");
        if (!*s)
                return 0;
        keyword = s;
        arg = s + strcspn(s, " \t");
        if (*arg) {
                *arg++ = '\0';
                arg += strspn(arg, " \t");
        }
        if (strcmp(keyword, "year") == 0)
                return parse_year(p, arg);
        if (strcmp(keyword, "holiday") == 0)
                return parse_days(p, keyword, arg, DAY_HOLIDAY);
        if (strcmp(keyword, "workday") == 0)
                return parse_days(p, keyword, arg, DAY_WORKDAY);
        clip(keyword, quote, sizeof(quote));
        return bad(p, "unknown statement '%s' (expected 'year', 'holiday' or 'workday')", quote);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
        char buf[EVD_CALENDAR_LINE_MAX + 1];
        size_t pos = 0;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) /* a byte order mark */
                pos = 3;
        while (pos < len) {
                const char *s = text + pos;
                const char *nl = memchr(s, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - s) : len - pos;
                int r;

                pos += nl ? n + 1 : n;
                p->line++;
                if (n > 0 && s[n - 1] == '\r') /* CRLF line ends */
                        n--;
                if (n > EVD_CALENDAR_LINE_MAX)
                        return bad(p, "line is longer than %d bytes", EVD_CALENDAR_LINE_MAX);
                if (memchr(s, '\0', n))
                        return bad(p, "line holds a NUL byte");
                if (!evd_name_is_utf8(s, n))
                        return bad(p, "line is not valid UTF-8");
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)s[i];

                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return bad(p, "line holds control character 0x%02x", c);
                }
                memcpy(buf, s, n);
                buf[n] = '\0';
                r = parse_line(p, buf);
                if (r < 0)
                        return r;
        }
        if (p->n_years == 0)
                return evd_err_set(p->err, -EINVAL,
                                   "%s: declares no year (a calendar file needs a 'year "
                                   "YYYY' line before its days)",
                                   p->name);
        return 0;
}

/* Move the parser's years into cal, keeping cal ascending. */
static void merge(struct evd_calendar *cal, struct parser *p)
{
        for (int i = 0; i < p->n_years; i++) {
                struct cal_year *yr = p->years[i];
                int k = cal->n_years;

                while (k > 0 && cal->years[k - 1]->year > yr->year) {
                        cal->years[k] = cal->years[k - 1];
                        k--;
                }
                cal->years[k] = yr;
                cal->n_years++;
                p->years[i] = NULL;
        }
        p->n_years = 0;
}

int evd_calendar_add_text(struct evd_calendar *cal, const char *name, const char *text, size_t len,
                          struct evd_err *err)
{
        struct parser p = { .cal = cal, .name = name, .err = err };
        int r;

        if (!cal || !name || (!text && len > 0))
                return evd_err_set(err, -EINVAL, "calendar: bad arguments");
        if (len > EVD_CALENDAR_FILE_MAX)
                return evd_err_set(err, -EFBIG, "%s: larger than %d bytes, too big for a calendar",
                                   name, EVD_CALENDAR_FILE_MAX);
        (void)pthread_rwlock_wrlock(&cal->lock);
        r = parse_text(&p, text ? text : "", len);
        if (r == 0)
                merge(cal, &p);
        (void)pthread_rwlock_unlock(&cal->lock);
        for (int i = 0; i < p.n_years; i++)
                free(p.years[i]);
        return r;
}

int evd_calendar_add_file(struct evd_calendar *cal, const char *path, struct evd_err *err)
{
        struct stat st;
        ssize_t n;
        char *buf;
        int fd, r;

        if (!cal || !path)
                return evd_err_set(err, -EINVAL, "calendar: bad arguments");
        /* O_NONBLOCK: a FIFO in the configuration must not hang the daemon at open. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0) {
                r = evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
                goto close_fd;
        }
        if (!S_ISREG(st.st_mode)) {
                r = evd_err_set(err, -EINVAL, "%s: not a regular file", path);
                goto close_fd;
        }
        if (st.st_size > EVD_CALENDAR_FILE_MAX) {
                r = evd_err_set(err, -EFBIG, "%s: larger than %d bytes, too big for a calendar",
                                path, EVD_CALENDAR_FILE_MAX);
                goto close_fd;
        }
        buf = malloc(EVD_CALENDAR_FILE_MAX + 1);
        if (!buf) {
                r = evd_err_set(err, -ENOMEM, "%s: out of memory", path);
                goto close_fd;
        }
        /* Read one byte past the limit: the file may have grown since fstat. */
        n = evd_read_full(fd, buf, EVD_CALENDAR_FILE_MAX + 1);
        if (n < 0)
                r = evd_err_set(err, (int)n, "%s: %s", path, strerror((int)-n));
        else
                r = evd_calendar_add_text(cal, path, buf, (size_t)n, err);
        free(buf);
close_fd:
        (void)close(fd);
        return r;
}

int evd_calendar_new(struct evd_calendar **ret)
{
        struct evd_calendar *cal = calloc(1, sizeof(*cal));

        if (!cal)
                return -ENOMEM;
        if (pthread_rwlock_init(&cal->lock, NULL) != 0) {
                free(cal);
                return -ENOMEM;
        }
        *ret = cal;
        return 0;
}

void evd_calendar_free(struct evd_calendar *cal)
{
        if (!cal)
                return;
        for (int i = 0; i < cal->n_years; i++)
                free(cal->years[i]);
        (void)pthread_rwlock_destroy(&cal->lock);
        free(cal);
}

int evd_calendar_load(const char *const *paths, int n_paths, struct evd_calendar **ret,
                      struct evd_err *err)
{
        struct evd_calendar *cal;
        int r;

        if (n_paths < 0 || (n_paths > 0 && !paths))
                return evd_err_set(err, -EINVAL, "calendar: bad arguments");
        r = evd_calendar_new(&cal);
        if (r < 0)
                return evd_err_set(err, r, "calendar: out of memory");
        for (int i = 0; i < n_paths; i++) {
                r = evd_calendar_add_file(cal, paths[i], err);
                if (r < 0) {
                        evd_calendar_free(cal);
                        return r;
                }
        }
        *ret = cal;
        return 0;
}
