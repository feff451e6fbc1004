/* Station commands on records: the recorder registry, labels, notes, holds and
 * evidence marks. Each change is one catalogue transaction with its audit entries,
 * all items of a request or none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
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

/* ---- recorders ---- */

struct recorder_ctx {
        const struct evd_actor *actor;
        const char *serial, *handler_id, *handler_name, *model, *unit;
        int64_t since;
        bool add;
        struct evd_err *err;
};

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
        *ret = json_pack("{ss}", "serial", c.serial);
        return 0;
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
        struct evd_txn txn;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r;

        (void)req;
        (void)args;
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

/* What one kind of edit does to one item; fills details with what changed. */
typedef int (*edit_fn)(json_t *item, const void *ctx, json_t *details, struct evd_err *err);

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
        json_t *done; /* ids changed */
        struct evd_err *err;
};

static int collect_id(json_t *item, void *p)
{
        json_t *ids = p;

        if (json_array_size(ids) >= EDIT_ITEMS_MAX)
                return -E2BIG;
        return json_array_append(ids, json_object_get(item, "id")) < 0 ? -ENOMEM : 0;
}

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
                { "item.noted", "note" },
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

static int edit_fn_txn(struct evd_txn *txn, void *p)
{
        struct edit *e = p;
        json_t *ids = json_array(), *idj;
        size_t i;
        int r;

        json_array_clear(e->done);
        r = ids ? select_ids(txn, e, ids) : -ENOMEM;
        if (r == 0 && json_array_size(ids) == 0)
                r = evd_err_set(e->err, -ENOENT, "no items selected");
        json_array_foreach(ids, i, idj)
        {
                json_t *item = NULL, *details = json_object();
                char subject[EVD_AUDIT_SUBJECT_MAX];
                uint64_t id = (uint64_t)json_integer_value(idj);
                bool skip = false;

                if (r < 0)
                        break;
                r = details ? evd_catalog_item_get(txn, id, &item) : -ENOMEM;
                if (r == 0)
                        r = check_purged(e, item, id, &skip);
                if (r == 0 && skip) {
                        json_decref(item);
                        json_decref(details);
                        continue;
                }
                if (r == 0)
                        r = e->apply(item, e->ctx, details, e->err);
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
                json_decref(item);
                json_decref(details);
        }
        if (r == 0 && json_array_size(e->done) == 0)
                r = evd_err_set(e->err, -ENOENT,
                                "no items selected (the items in range were purged)");
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
        if (!e.done)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_catalog_write(s->catalog, edit_fn_txn, &e, err);
        if (r < 0) {
                json_decref(e.done);
                return r;
        }
        *ret = json_pack("{so}", "items", e.done);
        return 0;
}

/* ---- labels ---- */

struct label_ctx {
        const char *case_no, *party, *handler, *stage;
};

static json_t *copy_labels(const json_t *item)
{
        return json_deep_copy(json_object_get(item, "labels"));
}

static int apply_label(json_t *item, const void *p, json_t *details, struct evd_err *err)
{
        const struct label_ctx *c = p;
        json_t *labels = json_object_get(item, "labels"), *old = copy_labels(item);

        (void)err;
        if (!json_is_object(labels) || !old) {
                json_decref(old);
                return -EBADMSG;
        }
        if (c->case_no)
                (void)json_object_set_new(labels, "case_no", json_string(c->case_no));
        if (c->party)
                (void)json_object_set_new(labels, "party", json_string(c->party));
        if (c->handler)
                (void)json_object_set_new(labels, "handler", json_string(c->handler));
        if (c->stage) {
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

int evd_cmd_label(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct label_ctx c = { 0 };
        struct evd_conf conf;
        int r;

        evd_station_conf(s, &conf);
        /* A stage alone may be set on items labelled already. */
        if ((r = evd_arg_string(args, "stage", false, &c.stage, err)) < 0)
                return r;
        if (c.stage && !evd_conf_listed(conf.stages, conf.n_stages, c.stage))
                return evd_err_set(err, -EINVAL, "'%s' is not a stage ([labels] stages)", c.stage);
        if ((r = evd_arg_string(args, "case", !c.stage, &c.case_no, err)) < 0 ||
            (r = evd_arg_string(args, "party", !c.stage || c.case_no, &c.party, err)) < 0 ||
            (c.case_no && (r = evd_label_check_case(&conf, c.case_no, err)) < 0) ||
            (c.party &&
             (r = evd_label_check_text("party", c.party, EVD_LABEL_PARTY_MAX, false, err)) < 0) ||
            (r = evd_arg_string(args, "handler", false, &c.handler, err)) < 0)
                return r;
        if (c.handler && (r = check_handler("handler", c.handler, err)) < 0)
                return r;
        return run_edit(s, req, args, "item.labelled", apply_label, &c, ret, err);
}

/* ---- notes ---- */

struct note_ctx {
        const char *text, *by;
};

static int apply_note(json_t *item, const void *p, json_t *details, struct evd_err *err)
{
        const struct note_ctx *c = p;
        json_t *notes = json_object_get(item, "notes");
        char now[EVD_TIME_STR];

        (void)err;
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
        bool on;
        const char *reason, *case_no;
};

static int apply_mark(json_t *item, const void *p, json_t *details, struct evd_err *err)
{
        const struct mark_ctx *c = p;

        (void)err;
        (void)json_object_set_new(details, "was",
                                  json_boolean(json_is_true(json_object_get(item, c->field))));
        (void)json_object_set_new(item, c->field, json_boolean(c->on));
        if (c->reason)
                (void)json_object_set_new(details, "reason", json_string(c->reason));
        if (c->case_no) {
                json_t *cases = json_object_get(item, "evidence_cases");
                size_t i;
                json_t *v;
                bool have = false;

                if (!json_is_array(cases)) {
                        cases = json_array();
                        (void)json_object_set_new(item, "evidence_cases", cases);
                }
                json_array_foreach(cases, i, v)
                {
                        if (strcmp(json_string_value(v) ?: "", c->case_no) == 0)
                                have = true;
                }
                if (!have)
                        (void)json_array_append_new(cases, json_string(c->case_no));
                (void)json_object_set_new(details, "case_no", json_string(c->case_no));
        }
        return 0;
}

static int mark(void *ud, struct evd_request *req, const json_t *args, const char *field, bool on,
                const char *event, json_t **ret, struct evd_err *err)
{
        struct mark_ctx c = { .field = field, .on = on };
        struct evd_conf conf;
        int r;

        evd_station_conf(ud, &conf);
        if (strcmp(field, "evidence") == 0) {
                if ((r = evd_arg_string(args, "case", true, &c.case_no, err)) < 0 ||
                    (r = evd_label_check_case(&conf, c.case_no, err)) < 0)
                        return r;
        } else if ((r = evd_arg_string(args, "reason", true, &c.reason, err)) < 0 ||
                   (r = evd_label_check_text("reason", c.reason, EVD_LABEL_TEXT_MAX, true, err)) <
                           0) {
                return r;
        }
        return run_edit(ud, req, args, event, apply_mark, &c, ret, err);
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
