/* cmd_replication: the station's side of replication to the archive (evidock-replicate).
 *
 * `replicated` (replicator role only) records what the replicator confirmed of one item
 * (or why it failed) in the catalogue, with its audit entry in the same transaction:
 * "confirmed" (object and record in the archive, their lock read back), "purged" (an
 * item purged before its object was copied: only its record went up), "pending"
 * (queued again), or a failure.
 * `replication` and status show the state: what is pending (items, bytes, oldest
 * age), and an alarm past [replication] alarm_after. The queue itself is derived from
 * the catalogue (items without a confirmed record), so it survives restarts and kill -9.
 * Replication never holds up anything the station does. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "backlog.h"
#include "catalog.h"
#include "clock.h"
#include "control.h"
#include "station_internal.h"

#define ERROR_MAX 512

static int arg_text(const json_t *args, const char *key, size_t max, const char **ret,
                    struct evd_err *err)
{
        int r = evd_arg_string(args, key, false, ret, err);

        if (r == 0 && *ret && strlen(*ret) > max)
                return evd_err_set(err, -EINVAL, "\"%s\" longer than %zu bytes", key, max);
        if (r == 0 && *ret)
                for (const char *p = *ret; *p; p++)
                        if ((unsigned char)*p < 0x20 || *p == 0x7f)
                                return evd_err_set(err, -EINVAL, "\"%s\" holds a control character",
                                                   key);
        return r;
}

struct replicated_ctx {
        const struct evd_actor *actor;
        uint64_t id;
        json_t *rec; /* the new record: fields from the request */
        struct evd_err *err;
};

static int replicated_txn(struct evd_txn *txn, void *p)
{
        struct replicated_ctx *c = p;
        char key[24], now_s[EVD_TIME_STR];
        json_t *item = NULL, *prev = NULL, *rec = json_deep_copy(c->rec), *details;
        const char *state = json_string_value(json_object_get(c->rec, "state"));
        int r;

        (void)snprintf(key, sizeof(key), "%" PRIu64, c->id);
        r = evd_catalog_item_get(txn, c->id, &item);
        if (r < 0) {
                json_decref(rec);
                return evd_err_set(c->err, r, "item %" PRIu64 ": %s", c->id,
                                   r == -ENOENT ? "no such item" : strerror(-r));
        }
        if (strcmp(state, "purged") == 0 && !json_object_get(item, "purged")) {
                json_decref(item);
                json_decref(rec);
                return evd_err_set(c->err, -EINVAL,
                                   "item %" PRIu64 " is not purged: its object must be copied",
                                   c->id);
        }
        json_decref(item);
        if (evd_catalog_json_get(txn, EVD_DB_REPLICATION, key, &prev) < 0)
                prev = json_object();
        evd_time_format(evd_clock_now(), now_s);
        json_int_t attempts = json_integer_value(json_object_get(prev, "attempts"));

        if (strcmp(state, "failed") == 0) { /* the copy's state stays; the error is noted */
                json_t *keep = json_deep_copy(prev);

                if (!json_object_get(keep, "state")) /* a first attempt that failed */
                        (void)json_object_set_new(keep, "state", json_string("pending"));
                (void)json_object_set(keep, "last_error", json_object_get(c->rec, "error"));
                (void)json_object_set_new(keep, "attempts", json_integer(attempts + 1));
                (void)json_object_set_new(keep, "failed_at", json_string(now_s));
                json_decref(rec);
                rec = keep;
        } else {
                (void)json_object_del(rec, "error");
                (void)json_object_set_new(rec, "attempts", json_integer(attempts + 1));
                (void)json_object_set_new(rec, "last_error", json_null());
                (void)json_object_set_new(rec, "at", json_string(now_s));
        }
        details = json_deep_copy(c->rec);
        r = evd_catalog_json_put(txn, EVD_DB_REPLICATION, key, rec);
        if (r == 0)
                r = evd_backlog_note(txn, c->id, rec);
        if (r == 0)
                r = evd_audit_append(txn, c->actor,
                                     strcmp(state, "failed") == 0 ? "replication-failed"
                                                                  : "replicated",
                                     key, details, NULL);
        if (r < 0)
                evd_err_set(c->err, r, "replication record of item %s: %s", key, strerror(-r));
        json_decref(details);
        json_decref(prev);
        json_decref(rec);
        return r;
}

int evd_cmd_replicated(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                       struct evd_err *err)
{
        static const char *const states[] = { "pending", "confirmed", "purged", "failed" };
        struct evd_station *s = ud;
        const char *state, *version = NULL, *etag = NULL, *until = NULL, *rsha = NULL,
                           *rversion = NULL, *error = NULL, *key = NULL;
        json_t *jid = json_object_get(args, "item");
        bool hold = false, known = false;
        int64_t t;
        int r;

        if (!json_is_integer(jid) || json_integer_value(jid) <= 0)
                return evd_err_set(err, -EINVAL, "\"item\" must be an item id");
        if ((r = evd_arg_string(args, "state", true, &state, err)) < 0 ||
            (r = arg_text(args, "version_id", EVD_S3_VERSION_LEN, &version, err)) < 0 ||
            (r = arg_text(args, "etag", 128, &etag, err)) < 0 ||
            (r = arg_text(args, "key", 1024, &key, err)) < 0 ||
            (r = arg_text(args, "retain_until", 40, &until, err)) < 0 ||
            (r = arg_text(args, "record_sha256", 64, &rsha, err)) < 0 ||
            (r = arg_text(args, "record_version", EVD_S3_VERSION_LEN, &rversion, err)) < 0 ||
            (r = arg_text(args, "error", ERROR_MAX, &error, err)) < 0 ||
            (r = evd_arg_bool(args, "legal_hold", &hold, err)) < 0)
                return r;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(states); i++)
                known = known || strcmp(state, states[i]) == 0;
        if (!known)
                return evd_err_set(err, -EINVAL,
                                   "state '%s' is not pending, confirmed, purged or failed", state);
        if (strcmp(state, "failed") == 0 && !error)
                return evd_err_set(err, -EINVAL, "a failure needs its \"error\"");
        if (strcmp(state, "purged") == 0 ? (!rversion || !*rversion || version)
                                         : strcmp(state, "failed") != 0 && (!version || !*version))
                return evd_err_set(err, -EINVAL, "%s",
                                   strcmp(state, "purged") == 0
                                           ? "a purged item's record needs its record_version "
                                             "and no object version"
                                           : "a copy needs its version_id");
        if (until && evd_time_parse(until, &t) < 0)
                return evd_err_set(err, -EINVAL, "retain_until '%s' is not a time", until);
        if (rsha && !(strlen(rsha) == 64 && evd_is_hex(rsha, 64)))
                return evd_err_set(err, -EINVAL, "record_sha256 is not a SHA-256");
        struct replicated_ctx c = { .actor = evd_request_actor(req),
                                    .id = (uint64_t)json_integer_value(jid),
                                    .err = err };

        c.rec = json_pack("{ss ss* ss* ss* ss* sb ss* ss* ss*}", "state", state, "key", key,
                          "version_id", version, "etag", etag, "retain_until", until, "legal_hold",
                          hold, "record_sha256", rsha, "record_version", rversion, "error", error);
        if (!c.rec)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_catalog_write(s->catalog, replicated_txn, &c, err);
        json_decref(c.rec);
        if (r == 0)
                *ret = json_pack("{sI}", "item", (json_int_t)c.id);
        return r;
}

/* ---- reconciled: what the replicator's reconciliation found ---- */

#define RECONCILE_KEY "reconcile" /* not an item id: the last reconciliation */
#define PROBLEMS_MAX 10000

struct reconciled_ctx {
        const struct evd_actor *actor;
        const json_t *found;
        struct evd_err *err;
};

/* Each problem item back in the queue, with its alarm audited. */
static int requeue(struct evd_txn *txn, const struct evd_actor *actor, const json_t *p)
{
        json_int_t id = json_integer_value(json_object_get(p, "item"));
        char key[24], subject[EVD_AUDIT_SUBJECT_MAX];
        json_t *rec = NULL, *item = NULL, *details;
        int r;

        if (id <= 0 || evd_catalog_item_get(txn, (uint64_t)id, &item) < 0)
                return 0; /* not ours: the report names it, nothing to queue */
        json_decref(item);
        (void)snprintf(key, sizeof(key), "%lld", (long long)id);
        if (evd_catalog_json_get(txn, EVD_DB_REPLICATION, key, &rec) < 0)
                rec = json_object();
        (void)json_object_set_new(rec, "state", json_string("pending"));
        (void)json_object_set(rec, "last_error", json_object_get(p, "why"));
        (void)json_object_set_new(rec, "record_sha256", json_string("")); /* record again */
        r = evd_catalog_json_put(txn, EVD_DB_REPLICATION, key, rec);
        if (r == 0)
                r = evd_backlog_note(txn, (uint64_t)id, rec);
        json_decref(rec);
        details = json_pack("{sO}", "why", json_object_get(p, "why"));
        evd_audit_item_subject(subject, (uint64_t)id);
        if (r == 0)
                r = details ? evd_audit_append(txn, actor, "replication.alarm", subject, details,
                                               NULL)
                            : -ENOMEM;
        json_decref(details);
        return r;
}

static int reconciled_txn(struct evd_txn *txn, void *p)
{
        struct reconciled_ctx *c = p;
        const json_t *problems = json_object_get(c->found, "problems"), *pr;
        json_t *rec, *details;
        char now_s[EVD_TIME_STR];
        size_t i;
        int r = 0;

        json_array_foreach(problems, i, pr)
        {
                if ((r = requeue(txn, c->actor, pr)) < 0)
                        return evd_err_set(c->err, r, "reconciliation: %s", strerror(-r));
        }
        evd_time_format(evd_clock_now(), now_s);
        rec = json_pack("{ss sO sO sO sO sO}", "at", now_s, "objects",
                        json_object_get(c->found, "objects"), "checked",
                        json_object_get(c->found, "checked"), "sampled",
                        json_object_get(c->found, "sampled"), "problems", problems, "extra",
                        json_object_get(c->found, "extra"));
        details = json_pack("{sO sO sO sI sI}", "objects", json_object_get(c->found, "objects"),
                            "checked", json_object_get(c->found, "checked"), "sampled",
                            json_object_get(c->found, "sampled"), "problems",
                            (json_int_t)json_array_size(problems), "extra",
                            (json_int_t)json_array_size(json_object_get(c->found, "extra")));
        r = rec && details ? evd_catalog_json_put(txn, EVD_DB_REPLICATION, RECONCILE_KEY, rec)
                           : -ENOMEM;
        if (r == 0)
                r = evd_audit_append(txn, c->actor, "replication.reconciled", "", details, NULL);
        json_decref(rec);
        json_decref(details);
        return r < 0 ? evd_err_set(c->err, r, "reconciliation: %s", strerror(-r)) : 0;
}

int evd_cmd_reconciled(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                       struct evd_err *err)
{
        struct evd_station *s = ud;
        const json_t *problems = json_object_get(args, "problems"), *extra, *pr;
        struct reconciled_ctx c = { .actor = evd_request_actor(req), .found = args, .err = err };
        size_t i;
        int r;

        extra = json_object_get(args, "extra");
        if (!json_is_array(problems) || json_array_size(problems) > PROBLEMS_MAX ||
            !json_is_array(extra) || json_array_size(extra) > PROBLEMS_MAX ||
            !json_is_integer(json_object_get(args, "objects")) ||
            !json_is_integer(json_object_get(args, "checked")) ||
            !json_is_integer(json_object_get(args, "sampled")))
                return evd_err_set(err, -EINVAL,
                                   "a reconciliation is {objects, checked, sampled, extra: [...], "
                                   "problems: [{item, why}]}");
        json_array_foreach(problems, i, pr)
        {
                const char *why = json_string_value(json_object_get(pr, "why"));

                if (!json_is_integer(json_object_get(pr, "item")) || !why ||
                    strlen(why) > ERROR_MAX)
                        return evd_err_set(err, -EINVAL, "a problem is {item, why}");
        }
        json_array_foreach(extra, i, pr)
        {
                if (!json_is_string(pr) || json_string_length(pr) > 1024)
                        return evd_err_set(err, -EINVAL, "extra keys are strings");
        }
        r = evd_catalog_write(s->catalog, reconciled_txn, &c, err);
        if (r == 0)
                *ret = json_pack("{sI}", "problems", (json_int_t)json_array_size(problems));
        return r;
}

/* ---- bucket-checked: what the replicator's check of the bucket found ---- */

#define BUCKET_KEY "bucket" /* not an item id: the last check of the bucket */

struct bucket_ctx {
        const struct evd_actor *actor;
        const char *refused; /* NULL: the bucket was accepted */
        bool changed;
        struct evd_err *err;
};

/* Kept and audited only when it changes: a refused replicator that systemd starts
 * again every 30 s is one entry, not one each time. */
static int bucket_txn(struct evd_txn *txn, void *p)
{
        struct bucket_ctx *c = p;
        json_t *prev = NULL, *rec, *details;
        const char *was;
        char now_s[EVD_TIME_STR];
        int r;

        if (evd_catalog_json_get(txn, EVD_DB_REPLICATION, BUCKET_KEY, &prev) < 0)
                prev = NULL;
        was = json_string_value(json_object_get(prev, "refused"));
        c->changed = c->refused ? !was || strcmp(was, c->refused) != 0 : was != NULL;
        json_decref(prev);
        if (!c->changed)
                return 0;
        evd_time_format(evd_clock_now(), now_s);
        rec = json_pack("{ss ss*}", "since", now_s, "refused", c->refused);
        details = c->refused ? json_pack("{ss}", "reason", c->refused) : json_object();
        r = rec && details ? evd_catalog_json_put(txn, EVD_DB_REPLICATION, BUCKET_KEY, rec)
                           : -ENOMEM;
        if (r == 0)
                r = evd_audit_append(txn, c->actor,
                                     c->refused ? "replication.bucket-refused"
                                                : "replication.bucket-accepted",
                                     "", details, NULL);
        json_decref(rec);
        json_decref(details);
        return r < 0 ? evd_err_set(c->err, r, "bucket check: %s", strerror(-r)) : 0;
}

int evd_cmd_bucket_checked(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                           struct evd_err *err)
{
        struct evd_station *s = ud;
        struct bucket_ctx c = { .actor = evd_request_actor(req), .err = err };
        int r = arg_text(args, "refused", ERROR_MAX, &c.refused, err);

        if (r < 0)
                return r;
        if (c.refused && !*c.refused)
                return evd_err_set(err, -EINVAL, "\"refused\" needs a reason");
        r = evd_catalog_write(s->catalog, bucket_txn, &c, err);
        if (r == 0)
                *ret = json_pack("{sb}", "changed", c.changed);
        return r;
}

/* The bucket's refusal as an alarm in out (and warnings). */
static void bucket_alarm(struct evd_station *s, const struct evd_conf *conf, json_t *out,
                         json_t *warnings)
{
        struct evd_txn txn;
        json_t *rec = NULL;
        const char *why;
        char w[EVD_ERR_TEXT_MAX + 160];

        if (evd_catalog_read_begin(s->catalog, &txn) < 0)
                return;
        if (evd_catalog_json_get(&txn, EVD_DB_REPLICATION, BUCKET_KEY, &rec) < 0)
                rec = NULL;
        evd_catalog_read_end(&txn);
        why = json_string_value(json_object_get(rec, "refused"));
        if (why) {
                (void)snprintf(w, sizeof(w),
                               "ALARM: the archive bucket %s was refused, nothing is replicated "
                               "(since %s): %s",
                               conf->repl.bucket,
                               json_string_value(json_object_get(rec, "since")) ?: "?", why);
                (void)json_object_set_new(out, "bucket_refused", json_string(why));
                if (!json_is_array(json_object_get(out, "alarms")))
                        (void)json_object_set_new(out, "alarms", json_array());
                (void)json_array_append_new(json_object_get(out, "alarms"), json_string(w));
                if (warnings)
                        (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(rec);
}

/* replication --items: every item's record, in id order. */
static int record_each(json_t *item, void *p)
{
        struct evd_txn *txn = ((void **)p)[0];
        json_t *records = ((void **)p)[1], *rec = NULL;
        json_int_t id = json_integer_value(json_object_get(item, "id"));
        char key[24];

        (void)snprintf(key, sizeof(key), "%lld", (long long)id);
        if (evd_catalog_json_get(txn, EVD_DB_REPLICATION, key, &rec) == 0) {
                (void)json_object_set_new(rec, "item", json_integer(id));
                (void)json_array_append_new(records, rec);
        }
        return 0;
}

json_t *evd_station_replication_status(struct evd_station *s, const struct evd_conf *conf,
                                       bool with_items, json_t *warnings)
{
        struct evd_item_filter f = { 0 };
        struct evd_backlog b = { 0 };
        json_t *records = with_items ? json_array() : NULL;
        int64_t now = evd_clock_now();
        struct evd_txn txn;
        json_t *out;

        if (!conf->repl.on) {
                json_decref(records);
                return json_pack("{sb}", "enabled", 0);
        }
        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                void *ctx[2] = { &txn, records };

                (void)evd_backlog_get(&txn, &b);
                if (records)
                        (void)evd_catalog_items_each(&txn, &f, record_each, ctx);
                evd_catalog_read_end(&txn);
        }
        int64_t age = b.oldest && b.pending ? now - b.oldest : 0;
        json_t *last = NULL;

        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                if (evd_catalog_json_get(&txn, EVD_DB_REPLICATION, RECONCILE_KEY, &last) < 0)
                        last = NULL;
                evd_catalog_read_end(&txn);
        }

        out = json_pack("{sb ss ss sI sI sI sI sI sI sn sn}", "enabled", 1, "endpoint",
                        conf->repl.endpoint, "bucket", conf->repl.bucket, "items",
                        (json_int_t)b.items, "confirmed", (json_int_t)(b.items - b.pending),
                        "pending", (json_int_t)b.pending, "pending_bytes",
                        (json_int_t)b.pending_bytes, "oldest_pending_s", (json_int_t)age, "failing",
                        (json_int_t)b.failing, "last_reconciliation", "alarms");
        if (out && last) {
                size_t problems = json_array_size(json_object_get(last, "problems"));
                size_t extra = json_array_size(json_object_get(last, "extra"));

                (void)json_object_set(out, "last_reconciliation", last);
                if (problems || extra) {
                        char w[256];

                        (void)snprintf(w, sizeof(w),
                                       "ALARM: the reconciliation of %s found %zu item(s) wrong "
                                       "in the archive (queued again) and %zu extra object(s)",
                                       json_string_value(json_object_get(last, "at")) ?: "?",
                                       problems, extra);
                        (void)json_object_set_new(out, "alarms", json_pack("[s]", w));
                        if (warnings)
                                (void)json_array_append_new(warnings, json_string(w));
                }
        }
        json_decref(last);
        if (out && age > conf->repl.alarm_after_s) {
                char w[256];

                (void)snprintf(w, sizeof(w),
                               "ALARM: replication lags: %" PRIu64 " items (%" PRIu64
                               " bytes) not in the archive, the oldest for %lld h (alarm_after "
                               "%lld h)",
                               b.pending, b.pending_bytes, (long long)(age / 3600),
                               (long long)(conf->repl.alarm_after_s / 3600));
                if (!json_is_array(json_object_get(out, "alarms")))
                        (void)json_object_set_new(out, "alarms", json_array());
                (void)json_array_append_new(json_object_get(out, "alarms"), json_string(w));
                if (warnings)
                        (void)json_array_append_new(warnings, json_string(w));
        }
        if (out)
                bucket_alarm(s, conf, out, warnings);
        if (out && records)
                (void)json_object_set_new(out, "records", records);
        else
                json_decref(records);
        return out;
}

int evd_cmd_replication(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                        struct evd_err *err)
{
        struct evd_conf conf;
        bool items = false;
        int r;

        (void)req;
        if ((r = evd_arg_bool(args, "items", &items, err)) < 0)
                return r;
        evd_station_conf(ud, &conf);
        *ret = evd_station_replication_status(ud, &conf, items, NULL);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

void evd_station_replication_summary(struct evd_station *s, const struct evd_conf *conf, char *buf,
                                     size_t n)
{
        json_t *st;

        buf[0] = '\0';
        if (!conf->repl.on)
                return;
        st = evd_station_replication_status(s, conf, false, NULL);
        if (st)
                (void)snprintf(
                        buf, n, "archive: %lld pending (%lld MB), oldest %lld min%s",
                        (long long)json_integer_value(json_object_get(st, "pending")),
                        (long long)(json_integer_value(json_object_get(st, "pending_bytes")) >> 20),
                        (long long)(json_integer_value(json_object_get(st, "oldest_pending_s")) /
                                    60),
                        json_array_size(json_object_get(st, "alarms")) ? ", ALARM" : "");
        json_decref(st);
}
