/* The compliance report: 第二十五条's storage deadline per handler and per recorder
 * (by_handler, by_recorder), and the year's figures that 第三十条's annual assessment
 * asks for, per month and per handler (months, handlers, totals): recordings stored,
 * on time and late by the rule that applied, unlabelled past the deadline, unexplained
 * gaps in file numbering and within a case's stages, clock-suspect recordings, accesses by kind
 * with their approvers, purges, holds, fixity alarms, case files, and the time the station was up.
 *
 * Recordings count in the month of their recording time; events (accesses, purges,
 * holds, alarms) in the month they happened; months are the station's local months.
 * Read are the items recorded in the period (by_time, from their stored text), the log
 * entries that can fall in it (audit.h: the time index; the runs around it from its
 * starts and stops), and, on demand through a small cache, the items an event names
 * (recorded before the period, perhaps). A log without the time index is read whole
 * and the items parsed: the full pass, with the same result. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "casefile.h"
#include "clock.h"
#include "item_record.h"
#include "jscan.h"
#include "trip.h"
#include "station_internal.h"

#define MONTHS_MAX 120 /* ten years in one report */
#define LIST_MAX 200   /* gaps and alarms listed by name (all are counted) */
#define NO_HANDLER ""  /* the key of recordings nobody was assigned to */
#define RULE_DEFAULT "2 working days"
#define FIELD_MAX 256 /* a longer name is read by jansson */

enum counter {
        C_RECORDINGS,
        C_ON_TIME,
        C_LATE,
        C_UNLABELLED_OVERDUE,
        C_GAPS,
        C_STAGE_GAPS,
        C_CLOCK_SUSPECT,
        C_VIEW,
        C_COPY,
        C_EXPORT,
        C_PURGES,
        C_HOLDS,
        C_ALARMS,
        C_CASE_ON_TIME,
        C_CASE_OVERDUE,
        C_TRIPS,
        C_TRIPS_AFTER,
        C_COUNT,
};

/* The names in JSON and CSV (README, "The annual report"). */
static const char *const counter_names[C_COUNT] = {
        "recordings",
        "on_time",
        "late",
        "unlabelled_overdue",
        "sequence_gaps",
        "stage_gaps",
        "clock_suspect",
        "accesses_view",
        "accesses_copy",
        "accesses_export",
        "purges",
        "holds",
        "fixity_alarms",
        "case_files_on_time",
        "case_files_overdue",
        "trips",
        "trips_after_the_fact",
};

struct tally {
        int64_t n[C_COUNT];
};

#define OWNER_SLOTS 4096 /* items whose handler is remembered */
struct owner_slot {
        json_int_t id;
        const char *handler; /* a key of report.owner; NULL: empty */
};

struct report {
        int64_t now, from, to; /* to: the period's last second */
        int year;              /* --year, or 0 */
        int64_t horizon;       /* the end of what can have happened: min(to + 1, now) */
        int base;              /* year * 12 + month - 1 of the first month */
        int n_months;
        int64_t month_start[MONTHS_MAX + 1];
        struct tally months[MONTHS_MAX], total;
        int64_t uptime[MONTHS_MAX];
        json_t *handler_index; /* handler -> index in handlers */
        struct tally *handlers;
        size_t n_handlers, cap_handlers;
        struct evd_txn *txn; /* the snapshot counted */
        json_t *owner;       /* the handlers of items entries were about, by name (their keys) */
        struct owner_slot owners[OWNER_SLOTS];
        json_t *approvers;     /* name -> {accesses_view, accesses_copy, accesses_export} */
        json_t *rules;         /* deadline_rule -> recordings */
        json_t *gaps, *alarms; /* the first LIST_MAX of each */
        json_t *late_trips;    /* trips entered after their first day, the first LIST_MAX */
        json_t *case_handlers; /* case number -> {handler: true} */
        json_t *by_handler, *by_recorder; /* the deadline table: name -> counters */
        bool up;                          /* availability: the daemon was running */
        int64_t up_since, first_start;
        uint64_t last_seq; /* the last log entry that can fall in the period */
        int r;
};

/* ---- periods and months (local time) ---- */

static int64_t local_time(int year, int month0, int day)
{
        struct tm tm = { .tm_year = year - 1900, .tm_mon = month0, .tm_mday = day, .tm_isdst = -1 };

        return (int64_t)mktime(&tm);
}

/* A bound of the period: a bare date is a local day (from its first second, or to its
 * last), anything else RFC 3339. */
static int period_bound(const json_t *args, const char *key, bool end, bool *has, int64_t *ret,
                        struct evd_err *err)
{
        const char *s = json_string_value(json_object_get(args, key));

        if (s && strlen(s) == 10) {
                int64_t t;

                /* evd_arg_time takes it for a valid YYYY-MM-DD or refuses it. */
                if (evd_arg_time(args, key, has, &t, err) < 0)
                        return -EINVAL;
                *ret = local_time((int)strtol(s, NULL, 10), (int)strtol(s + 5, NULL, 10) - 1,
                                  (int)strtol(s + 8, NULL, 10) + (end ? 1 : 0)) -
                       (end ? 1 : 0);
                return 0;
        }
        return evd_arg_time(args, key, has, ret, err);
}

static int set_period(struct report *p, const json_t *args, struct evd_err *err)
{
        const json_t *year = json_object_get(args, "year");
        bool has_from = false, has_to = false;
        struct tm a, b;
        int r;

        if (year) {
                const char *text = json_string_value(year);
                json_int_t y = json_is_integer(year) ? json_integer_value(year)
                               : text && strlen(text) == 4 && strspn(text, "0123456789") == 4
                                       ? strtoll(text, NULL, 10)
                                       : 0;

                if (y < 2000 || y > 2200 || json_object_get(args, "from") ||
                    json_object_get(args, "to"))
                        return evd_err_set(err, -EINVAL,
                                           "--year is a year from 2000 to 2200, without "
                                           "--from or --to");
                p->year = (int)y;
                p->from = local_time((int)y, 0, 1);
                p->to = local_time((int)y + 1, 0, 1) - 1;
        } else {
                if ((r = period_bound(args, "from", false, &has_from, &p->from, err)) < 0 ||
                    (r = period_bound(args, "to", true, &has_to, &p->to, err)) < 0)
                        return r;
                /* Without bounds: this year so far, or from the first day of --to's year. */
                if (!has_to)
                        p->to = p->now;
                if (!has_from) {
                        time_t t = (time_t)p->to;

                        (void)localtime_r(&t, &a);
                        p->from = local_time(a.tm_year + 1900, 0, 1);
                }
        }
        if (p->to < p->from)
                return evd_err_set(err, -EINVAL, "the period ends before it begins");
        p->horizon = p->to + 1 < p->now ? p->to + 1 : p->now;
        (void)localtime_r(&(time_t){ (time_t)p->from }, &a);
        (void)localtime_r(&(time_t){ (time_t)p->to }, &b);
        p->base = (a.tm_year + 1900) * 12 + a.tm_mon;
        p->n_months = (b.tm_year + 1900) * 12 + b.tm_mon - p->base + 1;
        if (p->n_months > MONTHS_MAX)
                return evd_err_set(err, -EINVAL, "a report covers at most %d months", MONTHS_MAX);
        for (int i = 0; i <= p->n_months; i++)
                p->month_start[i] = local_time((p->base + i) / 12, (p->base + i) % 12, 1);
        return 0;
}

/* The month of t in the report, or -1 when t is outside the period. */
static int month_of(const struct report *p, int64_t t)
{
        if (t < p->from || t > p->to)
                return -1;
        for (int i = 0; i < p->n_months; i++)
                if (t < p->month_start[i + 1])
                        return i;
        return -1;
}

static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
        int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;

        return hi > lo ? hi - lo : 0;
}

/* ---- counting ---- */

static struct tally *handler_tally(struct report *p, const char *handler)
{
        json_t *idx = json_object_get(p->handler_index, handler);

        if (idx)
                return &p->handlers[json_integer_value(idx)];
        if (p->n_handlers == p->cap_handlers) {
                size_t cap = p->cap_handlers ? 2 * p->cap_handlers : 16;
                struct tally *more = realloc(p->handlers, cap * sizeof(*more));

                if (!more)
                        return NULL;
                p->handlers = more;
                p->cap_handlers = cap;
        }
        if (json_object_set_new(p->handler_index, handler,
                                json_integer((json_int_t)p->n_handlers)) < 0)
                return NULL;
        memset(&p->handlers[p->n_handlers], 0, sizeof(struct tally));
        return &p->handlers[p->n_handlers++];
}

/* One more of c in month m (and the total); handler may be NULL: counted elsewhere. */
static void add(struct report *p, int m, const char *handler, enum counter c)
{
        struct tally *h;

        if (m < 0)
                return;
        if (handler) {
                h = handler_tally(p, handler);
                if (!h) {
                        p->r = -ENOMEM;
                        return;
                }
                h->n[c]++;
        }
        p->months[m].n[c]++;
        p->total.n[c]++;
}

static void bump_json(json_t *obj, const char *key, const char *field)
{
        json_t *row = json_object_get(obj, key), *v;

        if (!row) {
                row = json_object();
                if (!row || json_object_set_new(obj, key, row) < 0)
                        return;
        }
        v = json_object_get(row, field);
        if (json_is_integer(v)) /* in place: no allocation per item */
                (void)json_integer_set(v, json_integer_value(v) + 1);
        else
                (void)json_object_set_new(row, field, json_integer(1));
}

static void append_bounded(json_t *list, json_t *v)
{
        if (json_array_size(list) < LIST_MAX)
                (void)json_array_append(list, v);
}

/* The deadline table: labelled, on time, overdue per handler and per recorder; late:
 * 1 true, 0 false, -1 neither. */
static void bump_deadline(json_t *table, const char *name, int late, bool labelled, bool overdue)
{
        static const char *const keys[] = { "items",    "on_time",   "late",
                                            "labelled", "unlabeled", "overdue" };
        json_t *row = json_object_get(table, name);

        if (!row) {
                row = json_object();
                for (size_t k = 0; row && k < EVD_ARRAY_SIZE(keys); k++)
                        (void)json_object_set_new(row, keys[k], json_integer(0));
                if (!row || json_object_set_new(table, name, row) < 0)
                        return;
        }
        bump_json(table, name, "items");
        if (late == 1)
                bump_json(table, name, "late");
        else if (late == 0)
                bump_json(table, name, "on_time");
        bump_json(table, name, labelled ? "labelled" : "unlabeled");
        if (overdue)
                bump_json(table, name, "overdue");
}

static void count_gaps(struct report *p, const json_t *item, json_int_t id, int m,
                       const char *handler)
{
        const json_t *gap;
        size_t i;

        json_array_foreach(json_object_get(item, "sequence_gaps"), i, gap)
        {
                /* Each gap sits on the clips either side: count it on the one after. */
                if (json_integer_value(json_object_get(gap, "after_id")) != id ||
                    json_is_true(json_object_get(gap, "explained")))
                        continue;
                add(p, m, handler, C_GAPS);
                append_bounded(p->gaps, (json_t *)gap);
        }
}

/* Whose recordings a case holds, for its case file's row. */
static void note_case_handler(struct report *p, const char *case_no, const char *handler)
{
        json_t *set;

        if (!case_no)
                return;
        set = json_object_get(p->case_handlers, case_no);
        if (!set) {
                set = json_object();
                if (!set || json_object_set_new(p->case_handlers, case_no, set) < 0)
                        return;
        }
        (void)json_object_set_new(set, handler, json_true());
}

/* What the report reads of an item (NULL: absent or not a string). */
struct item_fields {
        const char *handler, *case_no, *party, *deadline, *rule, *recorded_at, *recorder;
        int late; /* 1 true, 0 false, -1 neither */
        bool clock_suspect;
};

/* The item's month, or -1 when it is not counted (recorded outside the period, or
 * without a recording time). */
static int count_fields(struct report *p, const struct item_fields *f)
{
        const char *handler = f->handler;
        bool labelled = f->case_no && f->party, overdue;
        int64_t recorded, due;
        int m;

        if (evd_time_parse(f->recorded_at ?: "", &recorded) < 0 || (m = month_of(p, recorded)) < 0)
                return -1;
        overdue =
                !labelled && f->deadline && evd_time_parse(f->deadline, &due) == 0 && p->now > due;
        bump_deadline(p->by_handler, handler ? handler : "(no handler)", f->late, labelled,
                      overdue);
        bump_deadline(p->by_recorder, f->recorder ?: "?", f->late, labelled, overdue);
        handler = handler ? handler : NO_HANDLER;
        note_case_handler(p, f->case_no, handler);
        add(p, m, handler, C_RECORDINGS);
        if (f->late == 1)
                add(p, m, handler, C_LATE);
        else if (f->late == 0)
                add(p, m, handler, C_ON_TIME);
        if (f->deadline)
                bump_json(p->rules, f->rule ? f->rule : RULE_DEFAULT, "recordings");
        if (overdue)
                add(p, m, handler, C_UNLABELLED_OVERDUE);
        if (f->clock_suspect)
                add(p, m, handler, C_CLOCK_SUSPECT);
        return m;
}

static int count_item(json_t *item, void *ptr)
{
        struct report *p = ptr;
        const json_t *labels = json_object_get(item, "labels"),
                     *late = json_object_get(item, "late");
        struct item_fields f = {
                .handler = json_string_value(json_object_get(labels, "handler")),
                .case_no = json_string_value(json_object_get(labels, "case_no")),
                .party = json_string_value(json_object_get(labels, "party")),
                .deadline = json_string_value(json_object_get(item, "deadline")),
                .rule = json_string_value(json_object_get(item, "deadline_rule")),
                .recorded_at = json_string_value(json_object_get(item, "recorded_at")),
                .recorder = json_string_value(json_object_get(item, "recorder")),
                .late = json_is_true(late)    ? 1
                        : json_is_false(late) ? 0
                                              : -1,
                .clock_suspect = json_is_true(json_object_get(item, "clock_suspect")),
        };
        int m = count_fields(p, &f);

        if (m >= 0)
                count_gaps(p, item, json_integer_value(json_object_get(item, "id")), m,
                           f.handler ? f.handler : NO_HANDLER);
        return p->r;
}

/* A string member into buf: *ret the text, or NULL when absent or not a string; <0 when
 * jansson must read it (escapes, too long). */
static int string_field(struct evd_jscan_span v, char buf[FIELD_MAX], const char **ret)
{
        int r = v.p ? evd_jscan_string(v, buf, FIELD_MAX) : -EINVAL;

        *ret = r == 0 ? buf : NULL;
        return r == -EINVAL ? 0 : r;
}

/* h as a string that lasts as long as the report (a key of p->owner), NULL when out of
 * memory. */
static const char *intern(struct report *p, const char *h)
{
        void *it = json_object_iter_at(p->owner, h);

        if (!it && json_object_set_new(p->owner, h, json_null()) == 0)
                it = json_object_iter_at(p->owner, h);
        return it ? json_object_iter_key(it) : NULL;
}

/* The handler of item id read from its stored text: 0, or <0 when it must be parsed. */
static int quick_owner(struct report *p, uint64_t id, char buf[FIELD_MAX], const char **ret)
{
        static const char *const labels_key[] = { "labels" }, *const handler_key[] = { "handler" };
        struct evd_jscan_span labels, handler = { 0 };
        uint8_t key[8];
        MDB_val k = { 8, key }, v;
        int rc;

        evd_be64_put(key, id);
        rc = mdb_get(p->txn->txn, evd_txn_dbi(p->txn, EVD_DB_ITEMS), &k, &v);
        *ret = NULL;
        if (rc)
                return rc == MDB_NOTFOUND ? 0 : evd_mdb_errno(rc);
        if (evd_jscan_valid_fields(v.mv_data, v.mv_size, labels_key, 1, &labels) < 0 ||
            (evd_jscan_is_object(labels) && evd_jscan_fields(labels, handler_key, 1, &handler) < 0))
                return EVD_JSCAN_UNSURE;
        return string_field(handler, buf, ret);
}

/* The handler of item id (NO_HANDLER when it has none or is not there), looked up in
 * the snapshot and remembered in a small cache (direct-mapped by id). */
static const char *owner_of(struct report *p, json_int_t id)
{
        struct owner_slot *slot = &p->owners[(uint64_t)id % OWNER_SLOTS];
        char buf[FIELD_MAX];
        json_t *item = NULL;
        const char *h = NULL;

        if (slot->handler && slot->id == id)
                return slot->handler;
        if (id > 0 && quick_owner(p, (uint64_t)id, buf, &h) < 0 &&
            evd_catalog_item_get(p->txn, (uint64_t)id, &item) == 0)
                h = json_string_value(json_object_get(json_object_get(item, "labels"), "handler"));
        h = intern(p, h ? h : NO_HANDLER);
        json_decref(item);
        if (!h) {
                p->r = -ENOMEM;
                return NO_HANDLER;
        }
        *slot = (struct owner_slot){ .id = id, .handler = h };
        return h;
}

/* The handler of the item an entry is about ("item:17", or details.id). */
static const char *entry_handler(struct report *p, const json_t *e)
{
        const char *subject = json_string_value(json_object_get(e, "subject")) ?: "";
        json_int_t id = json_integer_value(json_object_get(json_object_get(e, "details"), "id"));

        if (strncmp(subject, "item:", 5) == 0)
                id = strtoll(subject + 5, NULL, 10);
        return owner_of(p, id);
}

/* An export counts once in its month and once for each handler whose recordings it
 * holds. */
static void count_export(struct report *p, int m, const json_t *details)
{
        json_t *seen = json_object();
        const json_t *id;
        size_t i;

        add(p, m, NULL, C_EXPORT);
        json_array_foreach(json_object_get(details, "items"), i, id)
        {
                const char *h = owner_of(p, json_integer_value(id));

                if (seen && !json_object_get(seen, h)) {
                        struct tally *t = handler_tally(p, h);

                        (void)json_object_set_new(seen, h, json_true());
                        if (t)
                                t->n[C_EXPORT]++;
                }
        }
        json_decref(seen);
}

static void count_access(struct report *p, int m, const char *event, const json_t *e)
{
        const json_t *details = json_object_get(e, "details");
        const char *approver = json_string_value(json_object_get(details, "approver")) ?: "";
        enum counter c;

        if (strcmp(event, "export.done") == 0) {
                c = C_EXPORT;
                count_export(p, m, details);
        } else {
                c = json_string_value(json_object_get(details, "copy_to")) ? C_COPY : C_VIEW;
                add(p, m, entry_handler(p, e), c);
        }
        bump_json(p->approvers, approver, counter_names[c]);
}

/* The daemon ran from a to b: add it to the months it covers. */
static void add_uptime(struct report *p, int64_t a, int64_t b)
{
        for (int i = 0; i < p->n_months; i++)
                p->uptime[i] += overlap(
                        a, b, p->month_start[i] > p->from ? p->month_start[i] : p->from,
                        p->month_start[i + 1] < p->horizon ? p->month_start[i + 1] : p->horizon);
}

/* The time of the entry just before e, or fallback. */
static int64_t time_before(struct report *p, const json_t *e, int64_t fallback)
{
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));
        json_t *prev = NULL;
        int64_t t = fallback;

        if (seq > 1 && evd_audit_get(p->txn, (uint64_t)seq - 1, &prev) == 0 &&
            evd_time_parse(json_string_value(json_object_get(prev, "time")) ?: "", &t) < 0)
                t = fallback;
        json_decref(prev);
        return t;
}

/* station.started opens a run, station.stopped closes it; a start with the previous run
 * still open means that run ended without a word (a crash, a power cut): it is taken
 * to have ended at the last entry written before the new start. */
static void track_availability(struct report *p, const json_t *e, const char *event, int64_t t)
{
        if (strcmp(event, "station.started") == 0) {
                if (p->up)
                        add_uptime(p, p->up_since, time_before(p, e, p->up_since));
                if (!p->first_start)
                        p->first_start = t;
                p->up = true;
                p->up_since = t;
        } else if (strcmp(event, "station.stopped") == 0 && p->up) {
                add_uptime(p, p->up_since, t);
                p->up = false;
        }
}

static int count_entry(json_t *e, void *ptr)
{
        struct report *p = ptr;
        const char *event = json_string_value(json_object_get(e, "event")) ?: "";
        int64_t t;
        int m;

        if (evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", &t) < 0)
                return 0;
        track_availability(p, e, event, t);
        if ((m = month_of(p, t)) < 0)
                return 0;
        if (strcmp(event, "item.accessed") == 0 || strcmp(event, "export.done") == 0) {
                count_access(p, m, event, e);
        } else if (strcmp(event, "item.purged") == 0) {
                add(p, m, entry_handler(p, e), C_PURGES);
        } else if (strcmp(event, "item.held") == 0) {
                add(p, m, entry_handler(p, e), C_HOLDS);
        } else if (strcmp(event, "scrub.alarm") == 0) {
                json_t *a = json_pack("{sO? sO? sO?}", "time", json_object_get(e, "time"), "item",
                                      json_object_get(e, "subject"), "details",
                                      json_object_get(e, "details"));

                add(p, m, entry_handler(p, e), C_ALARMS);
                if (a)
                        append_bounded(p->alarms, a);
                json_decref(a);
        }
        return p->r;
}

/* ---- trips and case files (their records in META) ---- */

/* Trips count in the month they began; those entered after their first day
 * (第二十五条's exception claimed late) are also listed. Not per handler: a trip names
 * a handler id or a recorder. */
static int count_trips(struct report *p, struct evd_txn *txn)
{
        json_t *trips = NULL, *t;
        size_t i;
        int r = evd_trip_list(txn, &trips);

        if (r < 0)
                return r;
        json_array_foreach(trips, i, t)
        {
                int64_t from;
                int m;

                if (evd_trip_local(json_string_value(json_object_get(t, "from")) ?: "", 0, &from) <
                            0 ||
                    (m = month_of(p, from)) < 0)
                        continue;
                add(p, m, NULL, C_TRIPS);
                if (json_is_true(json_object_get(t, "after_the_fact"))) {
                        add(p, m, NULL, C_TRIPS_AFTER);
                        append_bounded(p->late_trips, t);
                }
        }
        json_decref(trips);
        return p->r;
}

/* A case file (第二十五条: formed within 30 days of the act's end) counts in the month
 * it was due: on time when filed by the end of its due day, overdue when filed later
 * or still unfiled past it; once for each handler whose recordings the case holds. */
static void count_case(struct report *p, const json_t *rec)
{
        const char *case_no = json_string_value(json_object_get(rec, "case_no")) ?: "";
        const char *filed = json_string_value(json_object_get(rec, "filed_at"));
        const json_t *set = json_object_get(p->case_handlers, case_no), *v;
        int64_t due_end, filed_at;
        enum counter c;
        const char *h;
        int m;

        if (evd_trip_local(json_string_value(json_object_get(rec, "due")) ?: "", 0, &due_end) < 0 ||
            (m = month_of(p, due_end)) < 0)
                return;
        due_end += 24 * 3600; /* the end of the due day (local midnight after it) */
        if (filed && evd_time_parse(filed, &filed_at) == 0)
                c = filed_at < due_end ? C_CASE_ON_TIME : C_CASE_OVERDUE;
        else if (strcmp(evd_casefile_state(rec, p->now), "overdue") == 0)
                c = C_CASE_OVERDUE;
        else
                return; /* not due yet */
        add(p, m, NULL, c);
        json_object_foreach((json_t *)set, h, v)
        {
                struct tally *t = handler_tally(p, h);

                if (t)
                        t->n[c]++;
        }
}

/* Each case file record once (META "case:NO", whose case_no is NO): a labelled case
 * never closed has none (open). Walked directly, not through evd_casefile_numbers,
 * which also reads an item of every case in the index. */
static int count_record(const json_t *rec, void *ptr)
{
        struct report *p = ptr;
        json_t *same = NULL;

        if (evd_casefile_get(p->txn, json_string_value(json_object_get(rec, "case_no")), &same) ==
                    0 &&
            json_equal(same, (json_t *)rec))
                count_case(p, rec);
        json_decref(same);
        return p->r;
}

static int count_cases(struct report *p, struct evd_txn *txn)
{
        return evd_casefile_each_record(txn, count_record, p);
}

/* Unexplained holes within a stage (casefile.h: the list kept per case), each in the
 * month of the clip after it and for that clip's handler. */
static int count_stage_gaps(struct report *p, struct evd_txn *txn)
{
        json_t *all = evd_casefile_stage_gaps(txn), *list, *g;
        const char *case_no;
        size_t i;

        json_object_foreach(all, case_no, list)
        {
                json_array_foreach(list, i, g)
                {
                        int64_t t;
                        int m;

                        if (evd_time_parse(json_string_value(json_object_get(g, "to")) ?: "", &t) <
                                    0 ||
                            t < p->from || t > p->to || (m = month_of(p, t)) < 0)
                                continue;
                        add(p, m, owner_of(p, json_integer_value(json_object_get(g, "before_id"))),
                            C_STAGE_GAPS);
                }
        }
        json_decref(all);
        return p->r;
}

/* ---- the period's items and log entries ---- */

/* An item counted from its stored text (jscan.h), without building it: 0, or 1 when it
 * must be parsed (anything unusual, or sequence gaps to list). */
static int quick_item(struct report *p, const char *text, size_t n)
{
        static const char *const keys[] = { "deadline",      "deadline_rule", "recorded_at",
                                            "recorder",      "labels",        "late",
                                            "clock_suspect", "sequence_gaps", "~" };
        static const char *const label_keys[] = { "handler", "case_no", "party" };
        struct evd_jscan_span v[EVD_ARRAY_SIZE(keys)], l[3] = { { 0 } };
        char buf[7][FIELD_MAX];
        const char **out[7];
        struct item_fields f = { 0 };
        const struct evd_jscan_span *gaps = &v[7], *late = &v[5];

        out[0] = &f.deadline, out[1] = &f.rule, out[2] = &f.recorded_at, out[3] = &f.recorder;
        out[4] = &f.handler, out[5] = &f.case_no, out[6] = &f.party;
        if (evd_jscan_valid_fields(text, n, keys, EVD_ARRAY_SIZE(keys), v) < 0 ||
            (gaps->p && gaps->p[0] == '[' && !(gaps->n == 2 && gaps->p[1] == ']')) ||
            (evd_jscan_is_object(v[4]) &&
             evd_jscan_fields(v[4], label_keys, EVD_ARRAY_SIZE(label_keys), l) < 0))
                return 1;
        for (size_t i = 0; i < 7; i++)
                if (string_field(i < 4 ? v[i] : l[i - 4], buf[i], out[i]) < 0)
                        return 1;
        /* A record that leaves out fields at their first value (item_record.h, "~")
         * holds late false by leaving it out. */
        f.late = evd_jscan_is_true(*late)                                      ? 1
                 : late->p && late->n == 5 && memcmp(late->p, "false", 5) == 0 ? 0
                 : !late->p && v[8].p                                          ? 0
                                                                               : -1;
        f.clock_suspect = evd_jscan_is_true(v[6]);
        (void)count_fields(p, &f);
        return 0;
}

/* The items recorded in the period, in recording-time order, then id (by_time), as
 * evd_catalog_items_each walks them: each read from its text where it can be. */
static int count_items(struct report *p, struct evd_txn *txn)
{
        uint8_t pos[EVD_CATALOG_POS_LEN];
        MDB_cursor *cur;
        MDB_val k, v, ik, iv;
        int rc, r = 0;

        evd_catalog_pos_put(pos, p->from, 0);
        k = (MDB_val){ 8, pos };
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_TIME), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *item;

                if (k.mv_size != 8 || v.mv_size != 8) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(pos, k.mv_data, 8);
                memcpy(pos + 8, v.mv_data, 8);
                if (evd_catalog_pos_time(pos) > p->to)
                        break;
                ik = (MDB_val){ 8, pos + 8 };
                rc = mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_ITEMS), &ik, &iv);
                if (rc) {
                        r = rc == MDB_NOTFOUND ? 0 : evd_mdb_errno(rc);
                        continue;
                }
                if ((r = quick_item(p, iv.mv_data, iv.mv_size)) <= 0) {
                        r = r < 0 ? r : p->r;
                        continue;
                }
                item = evd_item_record_decode(iv.mv_data, iv.mv_size);
                r = item ? count_item(item, p) : -EBADMSG;
                json_decref(item);
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND && rc != 0)
                r = evd_mdb_errno(rc);
        return r;
}

static const char *const counted[] = { "station.started", "station.stopped", "item.accessed",
                                       "export.done",     "item.purged",     "item.held",
                                       "scrub.alarm" };

static int count_entry_in(json_t *e, void *ptr)
{
        struct report *p = ptr;

        if (json_integer_value(json_object_get(e, "seq")) > (json_int_t)p->last_seq)
                return 1;
        return count_entry(e, p);
}

/* The station.started or station.stopped entry nearest seq (audit.h) through
 * count_entry, which tracks the runs (it counts nothing outside the period). */
static int run_near(struct report *p, struct evd_txn *txn, uint64_t seq, bool back)
{
        json_t *e = NULL;
        int r = evd_audit_run_near(txn, seq, back, &e);

        if (r == 0)
                r = count_entry(e, p);
        json_decref(e);
        return r == -ENOENT ? 0 : r;
}

/* The log entries of the period, through the time index (audit.h): the entries
 * [first, last] are all that can fall in the period; the runs are known from the start
 * or stop nearest before first and, when one is still open, the one after last. The
 * first start ever is the first one in the log (availability counts from it).
 * -ENOENT when the log has no time index. */
static int count_log(struct report *p, struct evd_txn *txn)
{
        uint64_t first, last, seq = 0;
        int r = evd_audit_span(txn, p->from, p->to, &first, &last);

        while (r == 0 && !p->first_start) {
                json_t *e = NULL;

                if ((r = evd_audit_run_near(txn, seq, false, &e)) < 0)
                        break;
                seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
                if (strcmp(json_string_value(json_object_get(e, "event")) ?: "",
                           "station.started") == 0)
                        (void)evd_time_parse(json_string_value(json_object_get(e, "time")),
                                             &p->first_start);
                json_decref(e);
        }
        if (r == -ENOENT) /* no start at all */
                r = 0;
        if (r < 0)
                return r;
        p->last_seq = last;
        if ((r = run_near(p, txn, first, true)) < 0 ||
            (first <= last &&
             (r = evd_audit_each_event(txn, first, INT64_MIN, counted, EVD_ARRAY_SIZE(counted),
                                       count_entry_in, p)) < 0))
                return r;
        if (p->up)
                r = run_near(p, txn, last > first - 1 ? last : first - 1, false);
        return r < 0 ? r : p->r;
}

/* The period's items, trips, case files and log entries, in one snapshot. A log without
 * the time index (one begun before it, or restored) is read whole, and the items
 * parsed, as before the index: the full pass the tests compare with. */
static int count_all(struct report *p, struct evd_catalog *catalog, struct evd_err *err)
{
        struct evd_item_filter period = {
                .has_since = true, .since = p->from, .has_until = true, .until = p->to
        };
        uint64_t first, last;
        struct evd_txn txn;
        bool indexed;
        int r = evd_catalog_read_begin(catalog, &txn);

        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        p->txn = &txn;
        indexed = evd_audit_span(&txn, p->from, p->to, &first, &last) == 0;
        r = indexed ? count_items(p, &txn) : evd_catalog_items_each(&txn, &period, count_item, p);
        if (r == 0)
                r = count_trips(p, &txn);
        if (r == 0)
                r = count_cases(p, &txn);
        if (r == 0)
                r = count_stage_gaps(p, &txn);
        if (r < 0)
                (void)evd_err_set(err, r, "catalog: %s", strerror(-r));
        else if ((r = indexed ? count_log(p, &txn)
                              : evd_audit_each_event(&txn, 0, INT64_MIN, counted,
                                                     EVD_ARRAY_SIZE(counted), count_entry, p)) < 0)
                (void)evd_err_set(err, r, "audit log: %s", strerror(-r));
        p->txn = NULL;
        evd_catalog_read_end(&txn);
        return r;
}

/* ---- the result ---- */

static json_t *tally_json(const struct tally *t)
{
        json_t *o = json_object();

        for (int c = 0; o && c < C_COUNT; c++)
                (void)json_object_set_new(o, counter_names[c], json_integer(t->n[c]));
        return o;
}

static json_t *months_json(const struct report *p)
{
        json_t *out = json_array();
        int64_t watched_from = p->first_start > p->from ? p->first_start : p->from;

        for (int i = 0; out && i < p->n_months; i++) {
                json_t *o = tally_json(&p->months[i]);
                int64_t period = p->first_start ? overlap(p->month_start[i], p->month_start[i + 1],
                                                          watched_from, p->horizon)
                                                : 0;
                char name[16];

                (void)snprintf(name, sizeof(name), "%04d-%02d", (p->base + i) / 12,
                               (p->base + i) % 12 + 1);
                (void)json_object_set_new(o, "month", json_string(name));
                (void)json_object_set_new(o, "uptime_s", json_integer(p->uptime[i]));
                (void)json_object_set_new(o, "period_s", json_integer(period));
                /* Percent to two decimals; null for a month not watched at all. */
                (void)json_object_set_new(
                        o, "availability_pct",
                        period ? json_real(round((double)p->uptime[i] * 10000.0 / (double)period) /
                                           100.0)
                               : json_null());
                (void)json_array_append_new(out, o);
        }
        return out;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* obj's keys in byte order (caller frees the array; the names are obj's), NULL-ended. */
static const char **sorted_keys(const json_t *obj, size_t *ret_n)
{
        const char **names = calloc(json_object_size(obj) + 1, sizeof(*names));
        const char *name;
        json_t *v;
        size_t n = 0;

        if (!names)
                return NULL;
        json_object_foreach((json_t *)obj, name, v)
        {
                names[n++] = name;
        }
        qsort(names, n, sizeof(*names), cmp_names);
        *ret_n = n;
        return names;
}

/* Handlers by name, the recordings nobody was assigned to last (handler null). */
static json_t *handlers_json(const struct report *p)
{
        json_t *out = json_array();
        size_t n = 0;
        const char **names = sorted_keys(p->handler_index, &n);

        for (size_t i = 0; out && names && i <= n; i++) {
                /* "" (nobody) sorts first: it goes last. */
                const char *name = i < n ? names[i] : NO_HANDLER;
                json_t *idx = json_object_get(p->handler_index, name), *o;

                if (!idx || (i < n && !name[0]))
                        continue;
                o = tally_json(&p->handlers[json_integer_value(idx)]);
                (void)json_object_set_new(o, "handler", name[0] ? json_string(name) : json_null());
                (void)json_array_append_new(out, o);
        }
        free(names);
        return out;
}

/* {name: counters} into [{key: name, counters...}] sorted by name; pct: with the
 * deadline table's on_time_pct. */
static json_t *rows(const json_t *table, const char *key, bool pct)
{
        json_t *out = json_array();
        size_t n = 0;
        const char **names = sorted_keys(table, &n);

        for (size_t i = 0; out && names && i < n; i++) {
                json_t *r = json_deep_copy(json_object_get(table, names[i]));
                json_int_t items = json_integer_value(json_object_get(r, "items"));
                json_int_t on_time = json_integer_value(json_object_get(r, "on_time"));

                (void)json_object_set_new(r, key, json_string(names[i]));
                if (pct)
                        (void)json_object_set_new(
                                r, "on_time_pct",
                                json_integer(items ? on_time * 100 / items : 100));
                (void)json_array_append_new(out, r);
        }
        free(names);
        return out;
}

static json_t *result_json(struct evd_station *s, const struct report *p, const json_t *args)
{
        char from[EVD_TIME_STR], to[EVD_TIME_STR], now[EVD_TIME_STR], first[16], last[16];
        struct tm tm;
        json_t *out;

        evd_time_format(p->from, from);
        evd_time_format(p->to, to);
        evd_time_format(p->now, now);
        (void)strftime(first, sizeof(first), "%Y-%m-%d", localtime_r(&(time_t){ p->from }, &tm));
        (void)strftime(last, sizeof(last), "%Y-%m-%d", localtime_r(&(time_t){ p->to }, &tm));
        pthread_mutex_lock(&s->lock);
        out = json_pack("{sO? sO? so s{ss ss ss ss} ss ss ss so so so so so so so so so so}",
                        "from", json_object_get(args, "from"), "to", json_object_get(args, "to"),
                        "year", p->year ? json_integer(p->year) : json_null(), "period", "from",
                        from, "to", to, "first_day", first, "last_day", last, "generated_at", now,
                        "station", s->conf.name, "timezone", s->conf.timezone, "months",
                        months_json(p), "handlers", handlers_json(p), "totals",
                        tally_json(&p->total), "approvers", rows(p->approvers, "approver", false),
                        "deadline_rules", rows(p->rules, "rule", false), "sequence_gaps",
                        json_incref(p->gaps), "fixity_alarms", json_incref(p->alarms),
                        "trips_after_the_fact", json_incref(p->late_trips), "by_handler",
                        rows(p->by_handler, "handler", true), "by_recorder",
                        rows(p->by_recorder, "recorder", true));
        pthread_mutex_unlock(&s->lock);
        return out;
}

static void report_done(struct report *p)
{
        json_decref(p->handler_index);
        json_decref(p->owner);
        json_decref(p->approvers);
        json_decref(p->rules);
        json_decref(p->gaps);
        json_decref(p->alarms);
        json_decref(p->late_trips);
        json_decref(p->case_handlers);
        json_decref(p->by_handler);
        json_decref(p->by_recorder);
        free(p->handlers);
        free(p);
}

int evd_cmd_report(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        struct report *p = calloc(1, sizeof(*p));
        int r;

        (void)req;
        if (!p)
                return evd_err_set(err, -ENOMEM, "out of memory");
        p->now = evd_clock_now();
        if ((r = set_period(p, args, err)) < 0)
                goto out;
        p->handler_index = json_object();
        p->owner = json_object();
        p->approvers = json_object();
        p->rules = json_object();
        p->gaps = json_array();
        p->alarms = json_array();
        p->late_trips = json_array();
        p->case_handlers = json_object();
        p->by_handler = json_object();
        p->by_recorder = json_object();
        if (!p->handler_index || !p->owner || !p->approvers || !p->rules || !p->gaps ||
            !p->alarms || !p->late_trips || !p->case_handlers || !p->by_handler ||
            !p->by_recorder) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        if ((r = count_all(p, s->catalog, err)) < 0)
                goto out;
        /* This daemon is answering: its run lasts until now. */
        if (p->up)
                add_uptime(p, p->up_since, p->now);
        *ret = result_json(s, p, args);
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        report_done(p);
        return r;
}
