/* Station commands on records: the recorder registry, labels, notes, holds and
 * evidence marks. Each change is one catalogue transaction with its audit entries,
 * all items of a request or none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "casefile.h"
#include "item.h"
#include "name.h"
#include "clock.h"
#include "label.h"
#include "policy.h"
#include "recorder.h"
#include "station_internal.h"

#define EDIT_ITEMS_MAX 10000

static int check_handler(const char *what, const char *v, struct evd_err *err)
{
        return evd_label_check_text(what, v, EVD_HANDLER_MAX, false, err);
}

static int collect_id(json_t *item, void *p)
{
        json_t *ids = p;

        if (json_array_size(ids) >= EDIT_ITEMS_MAX)
                return -E2BIG;
        return json_array_append(ids, json_object_get(item, "id")) < 0 ? -ENOMEM : 0;
}

/* ---- recorders ---- */

struct recorder_ctx {
        const struct evd_actor *actor;
        const char *serial, *handler_id, *handler_name, *model, *unit;
        int64_t since;
        bool add;
        bool unchanged; /* assign: the recorder has this holder from since already */
        struct evd_err *err;
};

/* Whether rec lists the assignment c would add: same holder, same start. */
static bool has_assignment(const json_t *rec, const struct recorder_ctx *c)
{
        const json_t *a;
        size_t i;

        json_array_foreach(json_object_get(rec, "assignments"), i, a)
        {
                int64_t t;

                if (evd_time_parse(json_string_value(json_object_get(a, "since")) ?: "", &t) == 0 &&
                    t == c->since &&
                    strcmp(json_string_value(json_object_get(a, "handler_id")) ?: "",
                           c->handler_id) == 0 &&
                    strcmp(json_string_value(json_object_get(a, "handler_name")) ?: "",
                           c->handler_name) == 0)
                        return true;
        }
        return false;
}

/* Set item's handler to whoever held its recorder (rec) when it was recorded, unless a
 * clerk named the handler by hand; an item changed is put and audited (old and new).
 * Returns 0 (also when unchanged) or -errno. */
static int rederive_one(struct evd_txn *txn, const struct evd_actor *actor, const json_t *rec,
                        json_t *item)
{
        json_t *labels = json_object_get(item, "labels"), *details;
        const json_t *a;
        const char *old_name, *old_id;
        char subject[EVD_AUDIT_SUBJECT_MAX];
        int64_t t;
        int r;

        if (!json_is_object(labels) || json_is_true(json_object_get(labels, "handler_by_hand")) ||
            evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "", &t) < 0)
                return 0;
        a = evd_recorder_assignment_at(rec, t);
        old_name = json_string_value(json_object_get(labels, "handler"));
        old_id = json_string_value(json_object_get(labels, "handler_id"));
        if (!a || (old_id &&
                   strcmp(old_id, json_string_value(json_object_get(a, "handler_id")) ?: "") == 0))
                return 0;
        details = json_pack("{sO s{ss* ss*} s{sO sO}}", "id", json_object_get(item, "id"), "old",
                            "handler", old_name, "handler_id", old_id, "new", "handler",
                            json_object_get(a, "handler_name"), "handler_id",
                            json_object_get(a, "handler_id"));
        (void)json_object_set(labels, "handler", json_object_get(a, "handler_name"));
        (void)json_object_set(labels, "handler_id", json_object_get(a, "handler_id"));
        r = details ? evd_catalog_item_put(txn, item) : -ENOMEM;
        evd_audit_item_subject(subject, (uint64_t)json_integer_value(json_object_get(item, "id")));
        if (r == 0)
                r = evd_audit_append(txn, actor, "item.handler_rederived", subject, details, NULL);
        json_decref(details);
        return r;
}

/* A backdated assignment: the recorder's items recorded from then on get their handler
 * again (rederive_one). */
static int rederive_handlers(struct evd_txn *txn, struct recorder_ctx *c, const json_t *rec)
{
        struct evd_item_filter f = { .recorder = c->serial, .has_since = true, .since = c->since };
        json_t *ids = json_array(), *idj;
        size_t i;
        int r = ids ? evd_catalog_items_each(txn, &f, collect_id, ids) : -ENOMEM;

        json_array_foreach(ids, i, idj)
        {
                json_t *item = NULL;

                if (r < 0)
                        break;
                r = evd_catalog_item_get(txn, (uint64_t)json_integer_value(idj), &item);
                if (r == 0)
                        r = rederive_one(txn, c->actor, rec, item);
                json_decref(item);
        }
        json_decref(ids);
        return r;
}

static int recorder_fn(struct evd_txn *txn, void *p)
{
        struct recorder_ctx *c = p;
        json_t *rec = NULL, *details;
        char now[EVD_TIME_STR];
        int r;

        r = evd_recorder_get(txn, c->serial, &rec);
        if (c->add && r == 0) {
                json_decref(rec);
                return evd_err_set(c->err, -EEXIST,
                                   "recorder %s is registered already (use "
                                   "'recorder assign' to change its handler)",
                                   c->serial);
        }
        if (!c->add && r == -ENOENT)
                return evd_err_set(c->err, -ENOENT, "recorder %s is not registered", c->serial);
        if (r < 0 && r != -ENOENT)
                return r;
        c->unchanged = !c->add && has_assignment(rec, c);
        if (c->unchanged) { /* a repeated assign: nothing to write, nothing to audit */
                json_decref(rec);
                return 0;
        }
        if (c->add) {
                evd_time_format(evd_clock_now(), now);
                rec = json_pack("{ss ss* ss* ss s[]}", "serial", c->serial, "model", c->model,
                                "unit", c->unit, "registered_at", now, "assignments");
                if (!rec)
                        return -ENOMEM;
        }
        r = evd_recorder_add_assignment(rec, c->handler_id, c->handler_name, c->since);
        if (r == 0)
                r = evd_recorder_put(txn, rec);
        if (r == 0 && !c->add)
                r = rederive_handlers(txn, c, rec);
        details = json_pack("{ss ss ss ss* ss*}", "serial", c->serial, "handler_id", c->handler_id,
                            "handler_name", c->handler_name, "model", c->model, "unit", c->unit);
        if (r == 0 && details)
                r = evd_audit_append(txn, c->actor, c->add ? "recorder.added" : "recorder.assigned",
                                     c->serial, details, NULL);
        json_decref(details);
        json_decref(rec);
        return r;
}

static int recorder_change(struct evd_station *s, struct evd_request *req, const json_t *args,
                           bool add, json_t **ret, struct evd_err *err)
{
        struct recorder_ctx c = { .actor = evd_request_actor(req), .add = add, .err = err };
        bool has_since = false;
        int r;

        if ((r = evd_arg_string(args, "serial", true, &c.serial, err)) < 0 ||
            (r = evd_arg_serial(c.serial, err)) < 0 ||
            (r = evd_arg_string(args, "handler_id", true, &c.handler_id, err)) < 0 ||
            (r = check_handler("handler id", c.handler_id, err)) < 0 ||
            (r = evd_arg_string(args, "handler_name", true, &c.handler_name, err)) < 0 ||
            (r = check_handler("handler name", c.handler_name, err)) < 0 ||
            (r = evd_arg_string(args, "model", false, &c.model, err)) < 0 ||
            (r = evd_arg_string(args, "unit", false, &c.unit, err)) < 0 ||
            (r = evd_arg_time(args, "since", &has_since, &c.since, err)) < 0)
                return r;
        if ((c.model && (r = check_handler("model", c.model, err)) < 0) ||
            (c.unit && (r = check_handler("unit", c.unit, err)) < 0))
                return r;
        if (!has_since)
                c.since = evd_clock_now();
        r = evd_catalog_write(s->catalog, recorder_fn, &c, err);
        if (r < 0)
                return r;
        if (c.unchanged) { /* the holder it has already, for the client to say so */
                char since[EVD_TIME_STR];

                evd_time_format(c.since, since);
                *ret = json_pack("{ss sb s{ss ss ss}}", "serial", c.serial, "changed", 0,
                                 "held_already", "handler_id", c.handler_id, "handler_name",
                                 c.handler_name, "since", since);
        } else {
                *ret = json_pack("{ss sb}", "serial", c.serial, "changed", 1);
        }
        return *ret ? 0 : -ENOMEM;
}

int evd_cmd_recorder_add(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                         struct evd_err *err)
{
        return recorder_change(ud, req, args, true, ret, err);
}

int evd_cmd_recorder_assign(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                            struct evd_err *err)
{
        return recorder_change(ud, req, args, false, ret, err);
}

int evd_cmd_recorder_list(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                          struct evd_err *err)
{
        struct evd_station *s = ud;
        json_t *out = json_array();
        struct evd_conf conf;
        struct evd_txn txn;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r;

        (void)req;
        (void)args;
        pthread_mutex_lock(&s->lock);
        conf = s->conf;
        pthread_mutex_unlock(&s->lock);
        if (!out)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                json_decref(out);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        rc = mdb_cursor_open(txn.txn, evd_txn_dbi(&txn, EVD_DB_RECORDERS), &cur);
        if (rc == 0) {
                for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
                     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);

                        /* 第七条: a clock found too far fast is to be reset. */
                        if (rec)
                                (void)json_object_set_new(
                                        rec, "clock_off",
                                        json_boolean(evd_recorder_clock_off(rec, &conf)));
                        if (rec)
                                (void)json_array_append_new(out, rec);
                }
                mdb_cursor_close(cur);
        }
        if (rc != MDB_NOTFOUND)
                r = evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
        evd_catalog_read_end(&txn);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

/* ---- item edits ---- */

/* What one kind of edit does to one item; fills details with what changed. Returns 0,
 * 1 when the item is already as asked (details["unchanged"] says how; nothing is
 * written), or -errno with err saying why. A details["warning"] goes to the reply. */
typedef int (*edit_fn)(struct evd_txn *txn, json_t *item, const void *ctx, json_t *details,
                       struct evd_err *err);

struct edit {
        const struct evd_actor *actor;
        const struct evd_conf *conf;
        const char *event;
        edit_fn apply;
        const void *ctx;
        json_t *refs; /* item references (strings) */
        const char *recorder;
        uint64_t session; /* a dock session's items */
        bool has_since, has_until;
        int64_t since, until;
        json_t *done;      /* ids changed */
        json_t *unchanged; /* [{id, why}] already as asked */
        json_t *warnings;  /* for the reply */
        json_t *cases;     /* case numbers the edited items were or are in: {no: true} */
        struct evd_err *err;
};

/* The ids an edit applies to: the listed items, or a recorder's in a time range. */
static int select_ids(struct evd_txn *txn, struct edit *e, json_t *ids)
{
        json_t *ref;
        size_t i;
        int r;

        if (e->recorder || e->session) {
                struct evd_item_filter f = { .recorder = e->recorder,
                                             .session = e->session,
                                             .has_since = e->has_since,
                                             .since = e->since,
                                             .has_until = e->has_until,
                                             .until = e->until };

                r = evd_catalog_items_each(txn, &f, collect_id, ids);
                if (r == -E2BIG)
                        return evd_err_set(e->err, r, "more than %d items selected",
                                           EDIT_ITEMS_MAX);
                return r;
        }
        json_array_foreach(e->refs, i, ref)
        {
                uint64_t id;

                if (!json_is_string(ref))
                        return evd_err_set(e->err, -EINVAL, "items must be strings");
                r = evd_resolve_item(txn, json_string_value(ref), &id, e->err);
                if (r < 0)
                        return r;
                if (json_array_append_new(ids, json_integer((json_int_t)id)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* What an edit would do, for the refusal of a purged item. */
static const char *edit_verb(const char *event)
{
        static const char *const verbs[][2] = {
                { "item.held", "hold" },     { "item.released", "release" },
                { "item.evidence", "mark" }, { "item.labelled", "label" },
                { "item.noted", "note" },    { "item.recorder_corrected", "fix" },
        };

        for (size_t i = 0; i < EVD_ARRAY_SIZE(verbs); i++)
                if (strcmp(event, verbs[i][0]) == 0)
                        return verbs[i][1];
        return "change";
}

/* A purged item is a record of what was, not an item to edit: refused when named
 * (1), skipped when a range selected it (0 with *skip). */
static int check_purged(const struct edit *e, const json_t *item, uint64_t id, bool *skip)
{
        const json_t *purged = json_object_get(item, "purged");
        const char *at = json_string_value(json_object_get(purged, "at"));

        *skip = false;
        if (!purged)
                return 0;
        if (e->recorder || e->session) {
                *skip = true;
                return 0;
        }
        return evd_err_set(e->err, -ENOENT, "item %llu was purged on %.10s: nothing to %s",
                           (unsigned long long)id, at ? at : "?", edit_verb(e->event));
}

/* Remember item's case: an edit there may open or close a gap within a stage. */
static void note_case(struct edit *e, const json_t *item)
{
        const char *no =
                json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));

        if (no && e->cases)
                (void)json_object_set_new(e->cases, no, json_true());
}

/* The stage gaps of the cases the edit touched, worked out again in its transaction
 * (casefile.h): the cases' entries in the stage index only. */
static int recheck_stage_gaps(struct evd_txn *txn, struct edit *e)
{
        return evd_casefile_stage_recheck(txn, e->cases, e->conf->gap_tolerance_s);
}

/* One item's edit in txn: applied, its retention kept right, put and audited. */
static int edit_one(struct evd_txn *txn, struct edit *e, json_t *idj)
{
        json_t *item = NULL, *details = json_object(), *v;
        char subject[EVD_AUDIT_SUBJECT_MAX];
        uint64_t id = (uint64_t)json_integer_value(idj);
        bool skip = false;
        int r;

        r = details ? evd_catalog_item_get(txn, id, &item) : -ENOMEM;
        if (r == 0)
                r = check_purged(e, item, id, &skip);
        if (r == 0 && skip)
                goto out;
        note_case(e, item);
        if (r == 0)
                r = e->apply(txn, item, e->ctx, details, e->err);
        note_case(e, item);
        if ((v = json_object_get(details, "warning")) != NULL) {
                (void)json_array_append(e->warnings, v);
                (void)json_object_del(details, "warning");
        }
        if (r == 1) {
                r = json_array_append_new(e->unchanged,
                                          json_pack("{sI sO}", "id", (json_int_t)id, "why",
                                                    json_object_get(details, "unchanged"))) < 0
                            ? -ENOMEM
                            : 0;
                goto out;
        }
        if (r == 0 && evd_policy_update_retention(item, e->conf) > 0)
                (void)json_object_set(details, "retain_until",
                                      json_object_get(item, "retain_until"));
        if (r == 0)
                r = evd_catalog_item_put(txn, item);
        evd_audit_item_subject(subject, id);
        if (r == 0 && json_object_set_new(details, "id", json_integer((json_int_t)id)) == 0)
                r = evd_audit_append(txn, e->actor, e->event, subject, details, NULL);
        if (r == 0)
                r = json_array_append(e->done, idj) < 0 ? -ENOMEM : 0;
out:
        json_decref(item);
        json_decref(details);
        return r;
}

static int edit_fn_txn(struct evd_txn *txn, void *p)
{
        struct edit *e = p;
        json_t *ids = json_array(), *idj;
        size_t i;
        int r;

        json_array_clear(e->done);
        json_array_clear(e->unchanged);
        json_array_clear(e->warnings);
        json_object_clear(e->cases);
        r = ids ? select_ids(txn, e, ids) : -ENOMEM;
        if (r == 0 && json_array_size(ids) == 0)
                r = evd_err_set(e->err, -ENOENT, "no items selected");
        json_array_foreach(ids, i, idj)
        {
                if (r < 0)
                        break;
                r = edit_one(txn, e, idj);
        }
        if (r == 0 && json_array_size(e->done) == 0 && json_array_size(e->unchanged) == 0)
                r = evd_err_set(e->err, -ENOENT,
                                "no items selected (the items in range were purged)");
        if (r == 0)
                r = recheck_stage_gaps(txn, e);
        json_decref(ids);
        return r;
}

static int run_edit(struct evd_station *s, struct evd_request *req, const json_t *args,
                    const char *event, edit_fn apply, const void *ctx, json_t **ret,
                    struct evd_err *err)
{
        struct evd_conf conf;
        struct edit e = { .actor = evd_request_actor(req),
                          .conf = &conf,
                          .event = event,
                          .apply = apply,
                          .ctx = ctx,
                          .err = err };
        int r;

        evd_station_conf(s, &conf);
        e.refs = json_object_get(args, "items");
        if ((r = evd_arg_string(args, "recorder", false, &e.recorder, err)) < 0 ||
            (r = evd_arg_time(args, "since", &e.has_since, &e.since, err)) < 0 ||
            (r = evd_arg_time(args, "until", &e.has_until, &e.until, err)) < 0)
                return r;
        if (json_object_get(args, "session")) {
                const char *sess = NULL;
                char *end;

                if ((r = evd_arg_string(args, "session", false, &sess, err)) < 0)
                        return r;
                e.session = strtoull(sess, &end, 10);
                if (!sess[0] || *end || e.session == 0)
                        return evd_err_set(err, -EINVAL, "--session takes a dock session number");
        }
        if (e.refs && !json_is_array(e.refs))
                return evd_err_set(err, -EINVAL, "\"items\" must be a list");
        if (!e.recorder && !e.session && json_array_size(e.refs) == 0)
                return evd_err_set(
                        err, -EINVAL,
                        "name the items, a dock session, or a recorder and a time range");
        if (json_array_size(e.refs) > EDIT_ITEMS_MAX)
                return evd_err_set(err, -E2BIG, "more than %d items", EDIT_ITEMS_MAX);
        e.done = json_array();
        e.unchanged = json_array();
        e.warnings = json_array();
        e.cases = json_object();
        r = e.done && e.unchanged && e.warnings && e.cases
                    ? evd_catalog_write(s->catalog, edit_fn_txn, &e, err)
                    : evd_err_set(err, -ENOMEM, "out of memory");
        json_decref(e.cases);
        if (r < 0) {
                json_decref(e.done);
                json_decref(e.unchanged);
                json_decref(e.warnings);
                return r;
        }
        *ret = json_pack("{so so so}", "items", e.done, "unchanged", e.unchanged, "warnings",
                         e.warnings);
        return 0;
}

/* ---- labels ---- */

struct label_ctx {
        const char *case_no, *party, *handler, *stage;
        char case_buf[EVD_LABEL_CASE_MAX * 2];
        char handler_name[EVD_HANDLER_MAX + 1]; /* the registered holder: name and id */
        char handler_id[EVD_HANDLER_MAX + 1];
};

static json_t *copy_labels(const json_t *item)
{
        return json_deep_copy(json_object_get(item, "labels"));
}

/* A warning when item, on a disc exported already, is given another case number: the
 * disc keeps what it was exported with. */
static void warn_exported(const json_t *item, const char *case_no, json_t *details)
{
        const json_t *exports = json_object_get(item, "exports"), *last;
        const char *old =
                json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));
        char w[EVD_LABEL_CASE_MAX * 3 + 160];

        if (json_array_size(exports) == 0 || (old && strcmp(old, case_no) == 0))
                return;
        last = json_array_get(exports, json_array_size(exports) - 1);
        (void)snprintf(w, sizeof(w),
                       "item %lld is on %zu exported disc(s) (the last made %s) labelled %s; "
                       "those discs keep the old label",
                       (long long)json_integer_value(json_object_get(item, "id")),
                       json_array_size(exports),
                       json_string_value(json_object_get(last, "time")) ?: "?",
                       old ? old : "without a case");
        (void)json_object_set_new(details, "warning", json_string(w));
        (void)json_object_set_new(details, "on_exported_discs",
                                  json_integer((json_int_t)json_array_size(exports)));
}

static int apply_label(struct evd_txn *txn, json_t *item, const void *p, json_t *details,
                       struct evd_err *err)
{
        const struct label_ctx *c = p;
        json_t *labels = json_object_get(item, "labels"), *old = copy_labels(item);
        const char *old_stage = json_string_value(json_object_get(item, "stage"));
        bool stage_changed = c->stage && (!old_stage || strcmp(old_stage, c->stage) != 0);

        (void)txn;
        (void)err;
        if (!json_is_object(labels) || !old) {
                json_decref(old);
                return -EBADMSG;
        }
        if (c->case_no) {
                warn_exported(item, c->case_no, details);
                (void)json_object_set_new(labels, "case_no", json_string(c->case_no));
        }
        if (c->party)
                (void)json_object_set_new(labels, "party", json_string(c->party));
        if (c->handler) {
                (void)json_object_set_new(labels, "handler", json_string(c->handler));
                (void)json_object_set_new(labels, "handler_id", json_string(c->handler_id));
                (void)json_object_set_new(labels, "handler_by_hand", json_true());
        }
        if (json_equal(old, labels) && !stage_changed) {
                json_decref(old);
                (void)json_object_set_new(details, "unchanged", json_string("labelled so already"));
                return 1;
        }
        if (stage_changed) {
                (void)json_object_set(details, "old_stage",
                                      json_object_get(item, "stage") ?: json_null());
                (void)json_object_set_new(item, "stage", json_string(c->stage));
                (void)json_object_set_new(details, "stage", json_string(c->stage));
        }
        /* 第二十五条: labelled within the same deadline; the first labelling counts, and a
         * late one stays visible. */
        if (c->case_no && !json_is_string(json_object_get(item, "labelled_at"))) {
                char now[EVD_TIME_STR];
                int64_t due;

                evd_time_format(evd_clock_now(), now);
                (void)json_object_set_new(item, "labelled_at", json_string(now));
                if (evd_time_parse(json_string_value(json_object_get(item, "deadline")) ?: "",
                                   &due) == 0)
                        (void)json_object_set_new(item, "label_late",
                                                  json_boolean(evd_clock_now() > due));
                (void)json_object_set(details, "label_late", json_object_get(item, "label_late"));
        }
        (void)json_object_set_new(details, "old", old);
        (void)json_object_set_new(details, "new", copy_labels(item));
        return 0;
}

/* Every holder the registry knows, appended to out as [id, name] pairs. */
static int holders(struct evd_catalog *catalog, json_t *out, struct evd_err *err)
{
        struct evd_txn txn;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = evd_catalog_read_begin(catalog, &txn);

        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        rc = mdb_cursor_open(txn.txn, evd_txn_dbi(&txn, EVD_DB_RECORDERS), &cur);
        for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL), *a;
                size_t i;

                json_array_foreach(json_object_get(rec, "assignments"), i, a)
                {
                        (void)json_array_append_new(
                                out, json_pack("[OO]", json_object_get(a, "handler_id"),
                                               json_object_get(a, "handler_name")));
                }
                json_decref(rec);
        }
        if (rc != MDB_NOTFOUND)
                r = evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
        else
                mdb_cursor_close(cur);
        evd_catalog_read_end(&txn);
        return r;
}

/* The handler given to label: a registered holder by name or id, made the name with its
 * id in c; refused with the nearest names otherwise. */
static int resolve_handler(struct evd_station *s, struct label_ctx *c, struct evd_err *err)
{
        json_t *list = json_array(), *h;
        char near[512] = "";
        size_t i;
        int r = list ? holders(s->catalog, list, err) : -ENOMEM;

        json_array_foreach(list, i, h)
        {
                const char *id = json_string_value(json_array_get(h, 0)) ?: "";
                const char *name = json_string_value(json_array_get(h, 1)) ?: "";

                if (r < 0)
                        break;
                if (strcmp(c->handler, name) == 0 || strcmp(c->handler, id) == 0) {
                        (void)snprintf(c->handler_name, sizeof(c->handler_name), "%s", name);
                        (void)snprintf(c->handler_id, sizeof(c->handler_id), "%s", id);
                        c->handler = c->handler_name;
                        r = 1;
                        break;
                }
                if ((evd_name_is_near(c->handler, name) || evd_name_is_near(c->handler, id)) &&
                    !strstr(near, name) &&
                    strlen(near) + strlen(name) + strlen(id) + 8 < sizeof(near))
                        (void)snprintf(near + strlen(near), sizeof(near) - strlen(near),
                                       "%s%s (%s)", near[0] ? ", " : "", name, id);
        }
        if (r == 1) {
                r = 0;
        } else if (r == 0) {
                r = near[0] ? evd_err_set(
                                      err, -ENOENT,
                                      "handler %s is not a registered holder (did you mean %s?)",
                                      c->handler, near)
                            : evd_err_set(err, -ENOENT,
                                          "handler %s is not a registered holder (recorder list "
                                          "shows them; recorder add or assign registers one)",
                                          c->handler);
        }
        json_decref(list);
        return r;
}

int evd_cmd_label(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct label_ctx c = { 0 };
        struct evd_conf conf;
        int r;

        evd_station_conf(s, &conf);
        if ((r = evd_arg_string(args, "stage", false, &c.stage, err)) < 0)
                return r;
        if (c.stage && !evd_conf_listed(conf.stages, conf.n_stages, c.stage))
                return evd_err_set(err, -EINVAL, "'%s' is not a stage ([labels] stages)", c.stage);
        if ((r = evd_arg_string(args, "case", false, &c.case_no, err)) < 0 ||
            (r = evd_arg_string(args, "party", false, &c.party, err)) < 0 ||
            (r = evd_arg_string(args, "handler", false, &c.handler, err)) < 0)
                return r;
        if (!c.case_no && !c.party && !c.handler && !c.stage)
                return evd_err_set(err, -EINVAL,
                                   "give --case, --party, --handler or --stage (or several)");
        if (c.case_no) {
                r = evd_label_normalise_case(&conf, c.case_no, c.case_buf, sizeof(c.case_buf), err);
                if (r < 0)
                        return r;
                c.case_no = c.case_buf;
        }
        if ((c.party &&
             (r = evd_label_check_text("party", c.party, EVD_LABEL_PARTY_MAX, false, err)) < 0) ||
            (c.handler && (r = check_handler("handler", c.handler, err)) < 0) ||
            (c.handler && (r = resolve_handler(s, &c, err)) < 0))
                return r;
        r = run_edit(s, req, args, "item.labelled", apply_label, &c, ret, err);
        if (r == 0 && c.case_no)
                (void)json_object_set_new(*ret, "case_no", json_string(c.case_no));
        return r;
}

/* ---- notes ---- */

struct note_ctx {
        const char *text, *by;
};

static int apply_note(struct evd_txn *txn, json_t *item, const void *p, json_t *details,
                      struct evd_err *err)
{
        const struct note_ctx *c = p;
        json_t *notes = json_object_get(item, "notes");
        char now[EVD_TIME_STR];
        int r;

        (void)err;
        /* a note says what happened to a damaged recording: status stops warning */
        r = evd_item_integrity_noted(txn,
                                     (uint64_t)json_integer_value(json_object_get(item, "id")));
        if (r < 0)
                return r;
        if (!json_is_array(notes))
                return -EBADMSG;
        evd_time_format(evd_clock_now(), now);
        if (json_array_append_new(
                    notes, json_pack("{ss ss ss}", "time", now, "by", c->by, "text", c->text)) < 0)
                return -ENOMEM;
        (void)json_object_set_new(details, "text", json_string(c->text));
        return 0;
}

/* A note may explain a gap in the numbering: look again for the items' recorders. */
static void recheck_sequences(struct evd_station *s, const json_t *result)
{
        json_t *idj, *item;
        struct evd_txn txn;
        size_t i;

        json_array_foreach(json_object_get(result, "items"), i, idj)
        {
                char recorder[EVD_ARG_SERIAL_MAX] = "";

                if (evd_catalog_read_begin(s->catalog, &txn) < 0)
                        return;
                if (evd_catalog_item_get(&txn, (uint64_t)json_integer_value(idj), &item) == 0) {
                        (void)snprintf(recorder, sizeof(recorder), "%s",
                                       json_string_value(json_object_get(item, "recorder")) ?: "");
                        json_decref(item);
                }
                evd_catalog_read_end(&txn);
                if (recorder[0])
                        evd_station_sequence_check(s, recorder);
        }
}

int evd_cmd_note(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                 struct evd_err *err)
{
        struct note_ctx c = { .by = evd_request_actor(req)->name };
        int r;

        if ((r = evd_arg_string(args, "text", true, &c.text, err)) < 0 ||
            (r = evd_label_check_text("note", c.text, EVD_LABEL_TEXT_MAX, true, err)) < 0)
                return r;
        r = run_edit(ud, req, args, "item.noted", apply_note, &c, ret, err);
        if (r == 0)
                recheck_sequences(ud, *ret);
        return r;
}

/* ---- holds and evidence ---- */

struct mark_ctx {
        const char *field; /* "hold" or "evidence" */
        bool on, also;
        const char *reason, *case_no, *by;
        char now[EVD_TIME_STR];
        char case_buf[EVD_LABEL_CASE_MAX * 2];
};

/* Whether item is marked evidence in case_no already. */
static bool in_case(const json_t *item, const char *case_no)
{
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(item, "evidence_cases"), i, v)
        {
                if (strcmp(json_string_value(v) ?: "", case_no) == 0)
                        return true;
        }
        return false;
}

/* Evidence in c->case_no: refused for an item labelled with another case unless --also
 * says it serves a second case. */
static int mark_evidence(json_t *item, const struct mark_ctx *c, json_t *details,
                         struct evd_err *err)
{
        const char *label =
                json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));
        json_t *cases = json_object_get(item, "evidence_cases");
        long long id = (long long)json_integer_value(json_object_get(item, "id"));

        if (in_case(item, c->case_no) && json_is_true(json_object_get(item, "evidence"))) {
                (void)json_object_set_new(details, "unchanged",
                                          json_string("evidence in that case already"));
                return 1;
        }
        if (label && strcmp(label, c->case_no) != 0 && !c->also)
                return evd_err_set(err, -EINVAL,
                                   "item %lld is labelled with case %s, not %s; add --also if it "
                                   "is evidence in a second case",
                                   id, label, c->case_no);
        if (!json_is_array(cases)) {
                cases = json_array();
                (void)json_object_set_new(item, "evidence_cases", cases);
        }
        if (!in_case(item, c->case_no))
                (void)json_array_append_new(cases, json_string(c->case_no));
        (void)json_object_set_new(details, "case_no", json_string(c->case_no));
        return 0;
}

static int apply_mark(struct evd_txn *txn, json_t *item, const void *p, json_t *details,
                      struct evd_err *err)
{
        const struct mark_ctx *c = p;
        bool was = json_is_true(json_object_get(item, c->field));
        int r;

        (void)txn;
        (void)json_object_set_new(details, "was", json_boolean(was));
        if (c->case_no) {
                r = mark_evidence(item, c, details, err);
                if (r != 0)
                        return r;
        } else if (was == c->on) {
                (void)json_object_set_new(details, "unchanged",
                                          json_string(c->on ? "held already" : "not held"));
                return 1;
        }
        (void)json_object_set_new(item, c->field, json_boolean(c->on));
        if (c->reason)
                (void)json_object_set_new(details, "reason", json_string(c->reason));
        if (strcmp(c->field, "hold") == 0 && c->on)
                (void)json_object_set_new(
                        item, "hold_info",
                        json_pack("{ss ss ss}", "by", c->by, "time", c->now, "reason", c->reason));
        else if (strcmp(c->field, "hold") == 0)
                (void)json_object_del(item, "hold_info");
        return 0;
}

static int mark(void *ud, struct evd_request *req, const json_t *args, const char *field, bool on,
                const char *event, json_t **ret, struct evd_err *err)
{
        struct mark_ctx c = { .field = field, .on = on, .by = evd_request_actor(req)->name };
        struct evd_conf conf;
        int r;

        evd_station_conf(ud, &conf);
        evd_time_format(evd_clock_now(), c.now);
        if (strcmp(field, "evidence") == 0) {
                if ((r = evd_arg_string(args, "case", true, &c.case_no, err)) < 0 ||
                    (r = evd_arg_bool(args, "also", &c.also, err)) < 0 ||
                    (r = evd_label_normalise_case(&conf, c.case_no, c.case_buf, sizeof(c.case_buf),
                                                  err)) < 0)
                        return r;
                c.case_no = c.case_buf;
        } else if ((r = evd_arg_string(args, "reason", true, &c.reason, err)) < 0 ||
                   (r = evd_label_check_text("reason", c.reason, EVD_LABEL_TEXT_MAX, true, err)) <
                           0) {
                return r;
        }
        r = run_edit(ud, req, args, event, apply_mark, &c, ret, err);
        if (r == 0 && c.case_no)
                (void)json_object_set_new(*ret, "case_no", json_string(c.case_no));
        return r;
}

int evd_cmd_hold(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                 struct evd_err *err)
{
        return mark(ud, req, args, "hold", true, "item.held", ret, err);
}

int evd_cmd_release(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                    struct evd_err *err)
{
        return mark(ud, req, args, "hold", false, "item.released", ret, err);
}

/* 涉密 (第二十九条: secrets follow the secrecy rules): copies and exports of the item
 * then need an approver listed in [roles] security. */
int evd_cmd_secret(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        return mark(ud, req, args, "secret", true, "item.secret", ret, err);
}

int evd_cmd_evidence(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        return mark(ud, req, args, "evidence", true, "item.evidence", ret, err);
}

/* ---- correcting an item's recorder ---- */

struct fix_ctx {
        const char *serial, *reason;
        const struct evd_actor *actor;
};

static int apply_recorder(struct evd_txn *txn, json_t *item, const void *p, json_t *details,
                          struct evd_err *err)
{
        const struct fix_ctx *c = p;
        const char *old = json_string_value(json_object_get(item, "recorder"));
        json_t *rec = NULL;
        int r;

        if (old && strcmp(old, c->serial) == 0) {
                (void)json_object_set_new(details, "unchanged",
                                          json_string("from that recorder already"));
                return 1;
        }
        r = evd_recorder_get(txn, c->serial, &rec);
        if (r == -ENOENT)
                return evd_err_set(err, r, "recorder %s is not registered", c->serial);
        if (r < 0)
                return r;
        (void)json_object_set_new(details, "old", json_pack("{ss*}", "recorder", old));
        (void)json_object_set_new(details, "new", json_pack("{ss}", "recorder", c->serial));
        (void)json_object_set_new(details, "reason", json_string(c->reason));
        (void)json_object_set_new(item, "recorder", json_string(c->serial));
        /* the holder follows the recorder, unless a clerk named one by hand */
        {
                json_t *labels = json_object_get(item, "labels");
                const json_t *a;
                int64_t t;

                if (json_is_object(labels) &&
                    !json_is_true(json_object_get(labels, "handler_by_hand")) &&
                    evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "",
                                   &t) == 0 &&
                    (a = evd_recorder_assignment_at(rec, t)) != NULL) {
                        (void)json_object_set(labels, "handler",
                                              json_object_get(a, "handler_name"));
                        (void)json_object_set(labels, "handler_id",
                                              json_object_get(a, "handler_id"));
                }
        }
        json_decref(rec);
        return 0;
}

int evd_cmd_item_recorder(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                          struct evd_err *err)
{
        struct fix_ctx c = { .actor = evd_request_actor(req) };
        json_t *a = json_deep_copy(args);
        int r;

        if ((r = evd_arg_string(args, "to", true, &c.serial, err)) < 0 ||
            (r = evd_arg_serial(c.serial, err)) < 0 ||
            (r = evd_arg_string(args, "reason", true, &c.reason, err)) < 0 ||
            (r = evd_label_check_text("reason", c.reason, EVD_LABEL_TEXT_MAX, true, err)) < 0) {
                json_decref(a);
                return r;
        }
        /* only the items named: not a recorder's items in a range */
        (void)json_object_del(a, "recorder");
        (void)json_object_del(a, "session");
        r = a ? run_edit(ud, req, a, "item.recorder_corrected", apply_recorder, &c, ret, err)
              : evd_err_set(err, -ENOMEM, "out of memory");
        json_decref(a);
        return r;
}
