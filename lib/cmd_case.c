/* Station commands on case files (casefile.h): close (the act ended: the file is due
 * 30 days later), filed, list, show and timeline; and the case warnings of status.
 * Case numbers are taken in any of the ways people type them (label.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "casefile.h"
#include "clock.h"
#include "disc.h"
#include "label.h"
#include "station_internal.h"

#define CASE_REF_MAX 128 /* bytes in an archive number */

struct case_ctx {
        const struct evd_actor *actor;
        char case_no[EVD_LABEL_CASE_MAX + 1];
        const char *ended, *ref;
        json_t *rec; /* the record written (owned) */
        struct evd_err *err;
};

static int case_arg(struct evd_station *s, const json_t *args, char *out, struct evd_err *err)
{
        struct evd_conf conf;
        const char *c;
        int r;

        evd_station_conf(s, &conf);
        if ((r = evd_arg_string(args, "case", true, &c, err)) < 0)
                return r;
        return evd_label_normalise_case(&conf, c, out, EVD_LABEL_CASE_MAX + 1, err);
}

/* DATE + days as a local date. */
static int date_plus(const char *date, int days, char out[16])
{
        struct tm tm = { .tm_isdst = -1, .tm_hour = 12 };
        time_t t;

        if (evd_calendar_parse_date(date, &tm.tm_year, &tm.tm_mon, &tm.tm_mday) < 0)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_mday += days;
        t = mktime(&tm);
        if (t == (time_t)-1 || !localtime_r(&t, &tm))
                return -EINVAL;
        (void)strftime(out, 16, "%Y-%m-%d", &tm);
        return 0;
}

static int change_fn(struct evd_txn *txn, void *p)
{
        struct case_ctx *c = p;
        json_t *rec = NULL, *details;
        char now[EVD_TIME_STR], due[16], subject[EVD_LABEL_CASE_MAX + 8];
        int r = evd_casefile_get(txn, c->case_no, &rec);

        if (r == -ENOENT && c->ref)
                return evd_err_set(c->err, -ENOENT,
                                   "case %s is not closed: close it first (case close --ended)",
                                   c->case_no);
        if (r == -ENOENT)
                rec = json_pack("{ss}", "case_no", c->case_no);
        else if (r < 0)
                return r;
        if (!rec)
                return -ENOMEM;
        evd_time_format(evd_clock_now(), now);
        details = json_deep_copy(rec);
        if (c->ended) {
                (void)date_plus(c->ended, EVD_CASEFILE_DAYS, due);
                (void)json_object_set_new(rec, "ended", json_string(c->ended));
                (void)json_object_set_new(rec, "due", json_string(due));
                (void)json_object_set_new(rec, "closed_at", json_string(now));
                (void)json_object_set_new(rec, "closed_by", json_string(c->actor->name));
        } else {
                (void)json_object_set_new(rec, "filed_ref", json_string(c->ref));
                (void)json_object_set_new(rec, "filed_at", json_string(now));
                (void)json_object_set_new(rec, "filed_by", json_string(c->actor->name));
        }
        (void)snprintf(subject, sizeof(subject), "case:%s", c->case_no);
        r = details ? evd_casefile_put(txn, rec) : -ENOMEM;
        if (r == 0) {
                json_t *d = json_pack("{so sO}", "was", details, "now", rec);

                details = NULL;
                r = d ? evd_audit_append(txn, c->actor, c->ended ? "case.closed" : "case.filed",
                                         subject, d, NULL)
                      : -ENOMEM;
                json_decref(d);
        }
        json_decref(details);
        json_decref(c->rec);
        c->rec = rec;
        return r;
}

static int case_change(struct evd_station *s, struct evd_request *req, struct case_ctx *c,
                       json_t **ret, struct evd_err *err)
{
        int r;

        c->actor = evd_request_actor(req);
        c->err = err;
        r = evd_catalog_write(s->catalog, change_fn, c, err);
        if (r == 0)
                (void)json_object_set_new(c->rec, "state",
                                          json_string(evd_casefile_state(c->rec, evd_clock_now())));
        if (r == 0)
                *ret = json_incref(c->rec);
        json_decref(c->rec);
        return r;
}

int evd_cmd_case_close(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                       struct evd_err *err)
{
        struct case_ctx c = { 0 };
        int y, m, d, r;

        if ((r = case_arg(ud, args, c.case_no, err)) < 0 ||
            (r = evd_arg_string(args, "ended", true, &c.ended, err)) < 0)
                return r;
        if (evd_calendar_parse_date(c.ended, &y, &m, &d) < 0)
                return evd_err_set(err, -EINVAL, "--ended takes a date, YYYY-MM-DD");
        return case_change(ud, req, &c, ret, err);
}

int evd_cmd_case_filed(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                       struct evd_err *err)
{
        struct case_ctx c = { 0 };
        int r;

        if ((r = case_arg(ud, args, c.case_no, err)) < 0 ||
            (r = evd_arg_string(args, "ref", true, &c.ref, err)) < 0 ||
            (r = evd_label_check_text("archive number", c.ref, CASE_REF_MAX, false, err)) < 0)
                return r;
        return case_change(ud, req, &c, ret, err);
}

/* {case_no, state, ended, due, filed_ref, items} of one case (caller owns). */
static json_t *case_summary(struct evd_txn *txn, const char *case_no, int64_t now)
{
        json_t *rec = NULL, *out;

        if (evd_casefile_get(txn, case_no, &rec) < 0)
                rec = NULL;
        out = json_pack("{ss ss sO* sO* sO*}", "case_no", case_no, "state",
                        evd_casefile_state(rec, now), "ended", json_object_get(rec, "ended"), "due",
                        json_object_get(rec, "due"), "filed_ref",
                        json_object_get(rec, "filed_ref"));
        json_decref(rec);
        return out;
}

int evd_cmd_case_list(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        bool only_open = false, only_due = false, only_overdue = false;
        json_t *nos = NULL, *out = json_array(), *no;
        int64_t now = evd_clock_now();
        struct evd_txn txn;
        size_t i;
        int r;

        (void)req;
        if ((r = evd_arg_bool(args, "open", &only_open, err)) < 0 ||
            (r = evd_arg_bool(args, "due", &only_due, err)) < 0 ||
            (r = evd_arg_bool(args, "overdue", &only_overdue, err)) < 0)
                goto out;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        r = out ? evd_casefile_numbers(&txn, &nos) : -ENOMEM;
        json_array_foreach(nos, i, no)
        {
                json_t *sum = case_summary(&txn, json_string_value(no), now);
                const char *st = json_string_value(json_object_get(sum, "state")) ?: "";

                /* --due: closed and waiting for its file (overdue or not yet). */
                if ((only_open && strcmp(st, "open") != 0) ||
                    (only_due && strcmp(st, "closed") != 0 && strcmp(st, "overdue") != 0) ||
                    (only_overdue && strcmp(st, "overdue") != 0))
                        json_decref(sum);
                else
                        (void)json_array_append_new(out, sum);
        }
        evd_catalog_read_end(&txn);
        if (r < 0)
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
out:
        json_decref(nos);
        if (r == 0)
                *ret = json_pack("{sO}", "cases", out);
        json_decref(out);
        return r;
}

static int collect_item(json_t *item, void *p)
{
        return json_array_append(p, item) < 0 ? -ENOMEM : 0;
}

/* The case's items and record in one snapshot. */
static int load_case(struct evd_station *s, const char *case_no, json_t **items, json_t **rec,
                     struct evd_err *err)
{
        struct evd_item_filter f = { .case_no = case_no };
        struct evd_txn txn;
        int r;

        *items = json_array();
        *rec = NULL;
        r = *items ? evd_catalog_read_begin(s->catalog, &txn) : -ENOMEM;
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_catalog_items_each(&txn, &f, collect_item, *items);
        if (r == 0 && evd_casefile_get(&txn, case_no, rec) < 0)
                *rec = NULL;
        evd_catalog_read_end(&txn);
        if (r == 0 && json_array_size(*items) == 0 && !*rec)
                r = evd_err_set(err, -ENOENT, "no items and no record of case %s", case_no);
        if (r < 0) {
                json_decref(*items);
                *items = NULL;
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        return 0;
}

int evd_cmd_case_timeline(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                          struct evd_err *err)
{
        struct evd_station *s = ud;
        char case_no[EVD_LABEL_CASE_MAX + 1];
        json_t *items, *rec, *tl;
        struct evd_conf conf;
        int r;

        (void)req;
        evd_station_conf(s, &conf);
        if ((r = case_arg(s, args, case_no, err)) < 0 ||
            (r = load_case(s, case_no, &items, &rec, err)) < 0)
                return r;
        tl = evd_casefile_timeline(items, conf.gap_tolerance_s);
        json_decref(items);
        json_decref(rec);
        if (!tl)
                return evd_err_set(err, -ENOMEM, "out of memory");
        (void)json_object_set_new(tl, "case_no", json_string(case_no));
        (void)json_object_set_new(tl, "gap_tolerance_s", json_integer(conf.gap_tolerance_s));
        *ret = tl;
        return 0;
}

/* The discs the case's items went on, one entry a volume file: whether it is still
 * there and verifies (disc.h; against the certificate on the disc). *ret_ok: there is
 * one and every volume verifies. */
static json_t *case_exports(const json_t *items, bool *ret_ok)
{
        json_t *out = json_array(), *item, *e, *have;
        size_t i, k, j;

        *ret_ok = false;
        json_array_foreach(items, i,
                           item){ json_array_foreach(json_object_get(item, "exports"), k, e){
                const char *path = json_string_value(json_object_get(e, "path"));
        bool seen = false;

        json_array_foreach(out, j, have)
        {
                seen |= path &&
                        strcmp(json_string_value(json_object_get(have, "path")) ?: "", path) == 0;
        }
        if (path && !seen)
                (void)json_array_append_new(out,
                                            json_pack("{ss sO* sO* sO* sO*}", "path", path, "time",
                                                      json_object_get(e, "time"), "volume",
                                                      json_object_get(e, "volume"), "volumes",
                                                      json_object_get(e, "volumes"), "image_sha256",
                                                      json_object_get(e, "image_sha256")));
}
}
*ret_ok = json_array_size(out) > 0;
json_array_foreach(out, j, have)
{
        struct evd_err verr = { 0 };
        const char *path = json_string_value(json_object_get(have, "path"));
        bool exists = access(path, R_OK) == 0;
        bool ok = exists && evd_disc_verify(path, NULL, NULL, NULL, NULL, &verr) == 0;

        (void)json_object_set_new(have, "exists", json_boolean(exists));
        (void)json_object_set_new(have, "verifies", json_boolean(ok));
        if (exists && !ok)
                (void)json_object_set_new(have, "problem", json_string(verr.text));
        *ret_ok &= ok;
}
return out;
}

struct access_scan {
        const json_t *items;
        json_t *out;
};

static int collect_access(json_t *entry, void *p)
{
        struct access_scan *a = p;
        const char *subject = json_string_value(json_object_get(entry, "subject")) ?: "";
        const json_t *item;
        size_t i;

        if (strcmp(json_string_value(json_object_get(entry, "event")) ?: "", "item.accessed") != 0)
                return 0;
        json_array_foreach(a->items, i, item)
        {
                char want[EVD_AUDIT_SUBJECT_MAX];

                evd_audit_item_subject(want,
                                       (uint64_t)json_integer_value(json_object_get(item, "id")));
                if (strcmp(want, subject) == 0)
                        return json_array_append(a->out, entry) < 0 ? -ENOMEM : 0;
        }
        return 0;
}

/* The item.accessed entries about the case's items: the log read for those items'
 * entries only (audit.h), in one snapshot. */
static int scan_accesses(struct evd_station *s, const uint64_t *ids, size_t n,
                         struct access_scan *a)
{
        struct evd_txn txn;
        int r = evd_catalog_read_begin(s->catalog, &txn);

        if (r < 0)
                return r;
        r = evd_audit_each_item(&txn, ids, n, collect_access, a);
        evd_catalog_read_end(&txn);
        return r;
}

/* The parts of an item case show lists. */
static json_t *item_row(const json_t *it)
{
        return json_pack(
                "{sO sO sO sO sO* sO* sO* sO* sO* sO* sO* sO*}", "id", json_object_get(it, "id"),
                "recorded_at", json_object_get(it, "recorded_at"), "recorder",
                json_object_get(it, "recorder"), "labels", json_object_get(it, "labels"), "stage",
                json_object_get(it, "stage"), "hold", json_object_get(it, "hold"), "evidence",
                json_object_get(it, "evidence"), "secret", json_object_get(it, "secret"), "late",
                json_object_get(it, "late"), "deadline_rule", json_object_get(it, "deadline_rule"),
                "label_late", json_object_get(it, "label_late"), "purged",
                json_object_get(it, "purged"));
}

/* Required stages ([labels] required_stages) no item of the case records. */
static json_t *missing_stages(const struct evd_conf *conf, const json_t *items)
{
        json_t *out = json_array(), *it;
        size_t i;

        for (int k = 0; out && k < conf->n_required_stages; k++) {
                bool have = false;

                json_array_foreach(items, i, it)
                {
                        have |= strcmp(json_string_value(json_object_get(it, "stage")) ?: "",
                                       conf->required_stages[k]) == 0;
                }
                if (!have)
                        (void)json_array_append_new(out, json_string(conf->required_stages[k]));
        }
        return out;
}

int evd_cmd_case_show(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        char case_no[EVD_LABEL_CASE_MAX + 1];
        json_t *items, *rec, *rows = json_array(), *holds = json_array(), *tl, *it, *out;
        uint64_t *ids;
        struct access_scan a = { .out = json_array() };
        struct evd_conf conf;
        bool disc_ok;
        size_t i;
        int r;

        (void)req;
        evd_station_conf(s, &conf);
        if ((r = case_arg(s, args, case_no, err)) < 0 ||
            (r = load_case(s, case_no, &items, &rec, err)) < 0)
                goto out;
        a.items = items;
        ids = calloc(json_array_size(items) + 1, sizeof(*ids));
        json_array_foreach(items, i, it)
        {
                (void)json_array_append_new(rows, item_row(it));
                if (json_is_true(json_object_get(it, "hold")))
                        (void)json_array_append(holds, json_object_get(it, "id"));
                if (ids)
                        ids[i] = (uint64_t)json_integer_value(json_object_get(it, "id"));
        }
        r = ids ? scan_accesses(s, ids, json_array_size(items), &a) : -ENOMEM;
        free(ids);
        tl = evd_casefile_timeline(items, conf.gap_tolerance_s);
        out = json_pack("{ss ss sO* sO* sO* sO* so so so sO* so}", "case_no", case_no, "state",
                        evd_casefile_state(rec, evd_clock_now()), "ended",
                        json_object_get(rec, "ended"), "due", json_object_get(rec, "due"),
                        "filed_ref", json_object_get(rec, "filed_ref"), "filed_at",
                        json_object_get(rec, "filed_at"), "items", rows, "holds", holds, "accesses",
                        a.out, "stage_gaps", json_object_get(tl, "gaps"), "missing_stages",
                        missing_stages(&conf, items));
        rows = holds = a.out = NULL;
        if (out) {
                json_t *ex = case_exports(items, &disc_ok);

                (void)json_object_set_new(out, "exports", ex);
                (void)json_object_set_new(out, "disc_export",
                                          json_string(json_array_size(ex) == 0 ? "none"
                                                      : disc_ok                ? "verifies"
                                                                               : "fails"));
        }
        json_decref(tl);
        json_decref(items);
        json_decref(rec);
        if (r == 0 && !out)
                r = evd_err_set(err, -ENOMEM, "out of memory");
        if (r < 0 && !err->code)
                r = evd_err_set(err, r, "audit log: %s", strerror(-r));
        if (r == 0)
                *ret = out;
        else
                json_decref(out);
out:
        json_decref(rows);
        json_decref(holds);
        json_decref(a.out);
        return r;
}

struct case_warn {
        int64_t now;
        json_t *warnings;
};

static int warn_overdue(const json_t *rec, void *p)
{
        struct case_warn *c = p;
        char w[EVD_LABEL_CASE_MAX + 200];

        if (strcmp(evd_casefile_state(rec, c->now), "overdue") != 0)
                return 0;
        (void)snprintf(w, sizeof(w),
                       "case %s: its file was due on %s (the act ended on %s) and is not filed; "
                       "evidockctl case filed --ref",
                       json_string_value(json_object_get(rec, "case_no")),
                       json_string_value(json_object_get(rec, "due")) ?: "?",
                       json_string_value(json_object_get(rec, "ended")) ?: "?");
        return json_array_append_new(c->warnings, json_string(w)) < 0 ? -ENOMEM : 0;
}

/* Only a case with a record (closed or filed) can be overdue: the records are read,
 * not every case number of the items' labels (status reads no item). */
void evd_station_case_warnings(struct evd_station *s, struct evd_txn *txn,
                               const struct evd_conf *conf, json_t *warnings)
{
        struct case_warn c = { .now = evd_clock_now(), .warnings = warnings };

        (void)s;
        (void)conf;
        (void)evd_casefile_each_record(txn, warn_overdue, &c);
}
