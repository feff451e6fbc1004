/* calendar: whether a date is a working day, and why; which calendars the station
 * loads (the configured files, or else the installed ones and those imported); calendar
 * import, which installs a new year without a restart; the status warnings of a year
 * without a calendar. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "clock.h"
#include "log.h"
#include "station_internal.h"

#define CAL_DIR_FILES_MAX 64 /* calendar files read from one folder */
#define CAL_NAME_SHOWN 120   /* bytes of the caller's file name kept for messages */

int evd_cmd_calendar(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_calendar_day day;
        const char *date = NULL;
        int y, m, d, r;

        (void)req;
        if ((r = evd_arg_string(args, "date", true, &date, err)) < 0)
                return r;
        if (evd_calendar_parse_date(date, &y, &m, &d) < 0)
                return evd_err_set(err, -EINVAL, "'%s' is not a date (YYYY-MM-DD)", date);
        r = evd_calendar_day(s->calendar, y, m, d, &day);
        if (r < 0)
                return evd_err_set(err, r, "%s: outside the calendar", date);
        *ret = json_pack("{ss sb ss sb}", "date", date, "working_day", day.working_day, "reason",
                         day.reason, "known", day.known);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

/* ---- loading ---- */

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The calendar files in dir (prefix, ".txt") in name order, into names (owned, free
 * each); how many, or -errno when dir cannot be read. */
static int list_files(const char *dir, const char *prefix, char **names, int max)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (!d)
                return -errno;
        while ((e = readdir(d)) != NULL && n < max) {
                size_t len = strlen(e->d_name);

                if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 5 ||
                    strcmp(e->d_name + len - 4, ".txt") != 0)
                        continue;
                names[n] = strdup(e->d_name);
                if (names[n])
                        n++;
        }
        (void)closedir(d);
        qsort(names, (size_t)n, sizeof(*names), cmp_names);
        return n;
}

/* Where the installed calendars are: the build tree's config/calendar when the daemon
 * runs from a build tree (its program lies in a folder beside config/calendar), else
 * SYSCONFDIR/evidock/calendar. */
static void installed_dir(char *out, size_t n)
{
        char exe[PATH_MAX], tree[PATH_MAX + 32];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        struct stat st;
        char *slash;

        if (len > 0) {
                exe[len] = '\0';
                slash = strrchr(exe, '/');
                if (slash) {
                        *slash = '\0';
                        (void)snprintf(tree, sizeof(tree), "%s/../config/calendar", exe);
                        if (stat(tree, &st) == 0 && S_ISDIR(st.st_mode) &&
                            realpath(tree, exe) != NULL) {
                                (void)snprintf(out, n, "%s", exe);
                                return;
                        }
                }
        }
        (void)snprintf(out, n, "%s/evidock/calendar", EVD_SYSCONFDIR);
}

/* Every calendar file in dir with prefix. Installed files must be good (fatal); an
 * imported one (strict false) whose year is loaded already (installed since) is
 * skipped with a log line. */
static int load_dir(struct evd_calendar *cal, const char *dir, const char *prefix, bool strict,
                    struct evd_err *err)
{
        char *names[CAL_DIR_FILES_MAX] = { 0 }, path[EVD_PATH_MAX];
        int n = list_files(dir, prefix, names, CAL_DIR_FILES_MAX), r = 0;

        if (n == -ENOENT)
                return 0;
        if (n < 0)
                return strict ? evd_err_set(err, n, "%s: %s", dir, strerror(-n)) : 0;
        for (int i = 0; i < n; i++) {
                if (r == 0 && evd_snprintf(path, sizeof(path), "%s/%s", dir, names[i]) == 0) {
                        struct evd_err e = { 0 };

                        r = evd_calendar_add_file(cal, path, strict ? err : &e);
                        if (r < 0 && !strict) {
                                evd_log_warning("imported calendar skipped: %s", e.text);
                                r = 0;
                        }
                }
                free(names[i]);
        }
        return r;
}

int evd_station_calendar_load(struct evd_station *s, struct evd_err *err)
{
        char dir[EVD_PATH_MAX];
        int years[1], r = 0;

        if (s->conf.calendar_set) {
                for (int i = 0; r == 0 && i < s->conf.n_calendar_files; i++)
                        r = evd_calendar_add_file(s->calendar, s->conf.calendar_files[i], err);
        } else {
                installed_dir(s->calendar_dir, sizeof(s->calendar_dir));
                r = load_dir(s->calendar, s->calendar_dir, "cn-", true, err);
        }
        if (r == 0 && evd_snprintf(dir, sizeof(dir), "%s/calendar", s->conf.state_dir) == 0)
                r = load_dir(s->calendar, dir, "", false, err);
        if (r == 0 && evd_calendar_years(s->calendar, years, 1) == 0)
                evd_log_warning("no working-day calendar found (%s): deadlines assume "
                                "Monday to Friday; install one with evidockctl calendar import",
                                s->conf.calendar_set ? "[calendar] files" : s->calendar_dir);
        return r;
}

/* ---- calendar import ---- */

struct import_ctx {
        const struct evd_actor *actor;
        json_t *details;
};

static int audit_import(struct evd_txn *txn, void *p)
{
        struct import_ctx *c = p;

        return evd_audit_append(txn, c->actor, "calendar.imported", "calendar", c->details, NULL);
}

/* text (len bytes) into STATE_DIR/calendar/name, whole or not at all. */
static int store_file(const struct evd_station *s, const char *name, const char *text, size_t len,
                      char *path, size_t n, struct evd_err *err)
{
        char dir[EVD_PATH_MAX], tmp[EVD_PATH_MAX + 8];
        int fd, r;

        if (evd_snprintf(dir, sizeof(dir), "%s/calendar", s->conf.state_dir) < 0 ||
            evd_snprintf(path, n, "%s/%s", dir, name) < 0 ||
            evd_snprintf(tmp, sizeof(tmp), "%s.tmp", path) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "state_dir: path too long");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return evd_err_set(err, -errno, "%s: %s", dir, strerror(errno));
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return evd_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        r = evd_write_full(fd, text, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        (void)close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r == 0)
                r = evd_fsync_dir(dir);
        if (r < 0) {
                (void)unlink(tmp);
                return evd_err_set(err, r, "%s: %s", path, strerror(-r));
        }
        return 0;
}

/* The years text declares, checked whole and against the station's calendar: into
 * years[], their count into *ret_n. Errors name the caller's file and line. */
static int check_text(struct evd_station *s, const char *name, const char *text, size_t len,
                      int *years, int *ret_n, struct evd_err *err)
{
        struct evd_calendar *scratch = NULL;
        int n, r = evd_calendar_new(&scratch);

        if (r < 0)
                return evd_err_set(err, r, "out of memory");
        r = evd_calendar_add_text(scratch, name, text, len, err);
        n = r == 0 ? evd_calendar_years(scratch, years, EVD_CALENDAR_YEARS_MAX) : 0;
        evd_calendar_free(scratch);
        for (int i = 0; r == 0 && i < n; i++)
                if (evd_calendar_covers(s->calendar, years[i]))
                        r = evd_err_set(err, -EEXIST,
                                        "%s: the calendar for %d is loaded already; a year is "
                                        "declared by one file only",
                                        name, years[i]);
        *ret_n = n;
        return r;
}

int evd_cmd_calendar_import(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                            struct evd_err *err)
{
        struct evd_station *s = ud;
        struct import_ctx c = { .actor = evd_request_actor(req) };
        const char *name = NULL, *text = NULL;
        char shown[CAL_NAME_SHOWN], file[32], path[EVD_PATH_MAX];
        int years[EVD_CALENDAR_YEARS_MAX] = { 0 }, n = 0, r;
        json_t *list;
        size_t len;

        if ((r = evd_arg_string(args, "name", true, &name, err)) < 0 ||
            (r = evd_arg_string(args, "text", true, &text, err)) < 0)
                return r;
        /* The file travels in the request: the daemon never opens a path of the caller's;
         * its name only stands for it in messages. */
        (void)snprintf(shown, sizeof(shown), "%s", name);
        for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        len = json_string_length(json_object_get(args, "text"));
        pthread_mutex_lock(&s->lock); /* one import at a time: check, store, add */
        r = check_text(s, shown, text, len, years, &n, err);
        if (r == 0)
                (void)snprintf(file, sizeof(file), "cn-%d.txt", years[0]);
        if (r == 0)
                r = store_file(s, file, text, len, path, sizeof(path), err);
        list = json_array();
        for (int i = 0; list && i < n; i++)
                (void)json_array_append_new(list, json_integer(years[i]));
        c.details = r == 0 && list ? json_pack("{ss sO ss sI}", "file", shown, "years", list,
                                               "stored", path, "bytes", (json_int_t)len)
                                   : NULL;
        if (r == 0 && !c.details)
                r = evd_err_set(err, -ENOMEM, "out of memory");
        if (r == 0)
                r = evd_catalog_write(s->catalog, audit_import, &c, err);
        if (r < 0 && c.details)
                (void)unlink(path);
        if (r == 0)
                r = evd_calendar_add_text(s->calendar, shown, text, len, err);
        pthread_mutex_unlock(&s->lock);
        if (r == 0)
                evd_log_notice("calendar %s imported by %s: %s", shown, c.actor->name, path);
        *ret = r == 0 ? json_incref(c.details) : NULL;
        json_decref(c.details);
        json_decref(list);
        return r;
}

/* ---- status ---- */

void evd_station_calendar_warnings(struct evd_station *s, json_t *warnings)
{
        time_t now = (time_t)evd_clock_now();
        int year, years[1];
        struct tm tm;
        char w[400];

        if (!localtime_r(&now, &tm))
                return;
        year = tm.tm_year + 1900;
        if (evd_calendar_years(s->calendar, years, 1) == 0)
                (void)snprintf(
                        w, sizeof(w),
                        "no working-day calendar for any year (none in %.120s): Monday-Friday "
                        "assumed for deadlines; install one with evidockctl calendar "
                        "import FILE",
                        s->conf.calendar_set ? "[calendar] files" : s->calendar_dir);
        else if (!evd_calendar_covers(s->calendar, year))
                (void)snprintf(w, sizeof(w),
                               "no working-day calendar for %d: Monday-Friday assumed for "
                               "deadlines; install it with evidockctl calendar import FILE",
                               year);
        else if (tm.tm_mon >= 10 && !evd_calendar_covers(s->calendar, year + 1))
                (void)snprintf(w, sizeof(w),
                               "no working-day calendar for %d yet: install it with evidockctl "
                               "calendar import FILE once the State Council publishes it "
                               "(deadlines from 1 January would assume Monday-Friday)",
                               year + 1);
        else
                return;
        (void)json_array_append_new(warnings, json_string(w));
}
