/* Purge (第二十六条, 第二十八条): the only way an object leaves the store. An item is
 * deleted only after its retain_until plus the grace period, never while held or
 * marked as evidence, and never when its record disagrees with what the audit log
 * says it must hold (ledger.h): a record edited behind the station's back raises an
 * alarm (audit "catalog.alarm", META "catalog_alarms", shown by status) instead. The catalogue
 * records the purge (and its audit entry) before the object is unlinked, so a crash in between
 * leaves an orphan object, never an item without its object. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "jscan.h"
#include "label.h"
#include "ledger.h"
#include "log.h"
#include "policy.h"
#include "station_internal.h"

#define PURGE_MAX 100000
#define DRY_RUN_LISTED 1000 /* eligible items a dry run names; it counts them all */

struct scan_ctx {
        const struct evd_conf *conf;
        struct evd_ledger *ledger;
        json_t *tampered; /* [{id, error}]: records that disagree with the log */
        int64_t now;
        json_t *eligible; /* [{id, sha256, size, retain_until}], the first listed_max */
        size_t listed_max;
        bool dry_run;          /* count past listed_max */
        json_int_t n_eligible; /* a dry run's count */
        json_t *kept;          /* {reason: count} */
};

/* Count by kind of reason, without the date in it. */
static void count_kept(struct scan_ctx *c, const char *why)
{
        const char *kind = strncmp(why, "kept until", 10) == 0 ? "within retention" : why;
        json_t *n = json_object_get(c->kept, kind);

        (void)json_object_set_new(c->kept, kind, json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* scan_item on the record's text, where that is certain: a record the policy keeps is
 * counted, one past listing in a dry run that agrees with the log is counted; the rest
 * (to list, to purge, or unusual text) is parsed for scan_item. */
static int scan_item_quick(const char *text, size_t n, void *p)
{
        static const char *const keys[] = { "evidence", "hold", "purged", "retain_until" };
        struct scan_ctx *c = p;
        struct evd_jscan_span f[4];
        struct evd_policy_protection prot;
        char until[64], buf[128];
        const char *why;
        uint64_t id;
        int r;

        if (evd_jscan_valid_fields(text, n, keys, 4, f) < 0)
                return EVD_CATALOG_PARSE;
        r = evd_jscan_string(f[3], until, sizeof(until));
        if (r == EVD_JSCAN_UNSURE)
                return EVD_CATALOG_PARSE;
        prot = (struct evd_policy_protection){ .purged = f[2].p != NULL,
                                               .hold = evd_jscan_is_true(f[1]),
                                               .evidence = evd_jscan_is_true(f[0]),
                                               .retain_until = r == 0 ? until : NULL };
        why = evd_policy_purge_blocker_of(&prot, c->conf, c->now, buf, sizeof(buf));
        if (why) {
                count_kept(c, why);
                return 0;
        }
        if (!c->dry_run || json_array_size(c->eligible) < c->listed_max ||
            evd_ledger_check_raw(c->ledger, text, n, &id) != 0)
                return EVD_CATALOG_PARSE;
        c->n_eligible++;
        return 0;
}

static int scan_item(json_t *item, void *p)
{
        struct scan_ctx *c = p;
        char buf[128];
        const char *why = evd_policy_purge_blocker(item, c->conf, c->now, buf, sizeof(buf));
        char bad[512];

        if (!why && evd_ledger_check(c->ledger, item, bad, sizeof(bad)) < 0) {
                why = "record disagrees with the audit log";
                (void)json_array_append_new(
                        c->tampered,
                        json_pack("{sO ss}", "id", json_object_get(item, "id"), "error", bad));
        }
        if (why) {
                count_kept(c, why);
                return 0;
        }
        c->n_eligible++;
        if (json_array_size(c->eligible) >= c->listed_max)
                return c->dry_run ? 0 : 1; /* a purge takes PURGE_MAX at a time */
        return json_array_append_new(c->eligible,
                                     json_pack("{sO sO sO sO}", "id", json_object_get(item, "id"),
                                               "sha256", json_object_get(item, "sha256"), "size",
                                               json_object_get(item, "size"), "retain_until",
                                               json_object_get(item, "retain_until"))) < 0
                       ? -ENOMEM
                       : 0;
}

struct purge_one {
        const struct evd_actor *actor;
        const struct evd_conf *conf;
        uint64_t id;
        int64_t now;
        const char *approver, *reason;
        bool done;
        bool keep_object; /* another live item holds the same bytes */
};

/* Mark one item purged, checking again inside the transaction: it may have been put
 * on hold since the scan. */
static int purge_txn(struct evd_txn *txn, void *p)
{
        struct purge_one *c = p;
        json_t *item = NULL, *details;
        char buf[128], now[EVD_TIME_STR], subject[EVD_AUDIT_SUBJECT_MAX];
        int r;

        c->done = false;
        r = evd_catalog_item_get(txn, c->id, &item);
        if (r < 0)
                return r;
        if (evd_policy_purge_blocker(item, c->conf, c->now, buf, sizeof(buf))) {
                json_decref(item);
                return 0;
        }
        evd_time_format(c->now, now);
        (void)json_object_set_new(item, "purged",
                                  json_pack("{ss ss ss ss}", "at", now, "by", c->actor->name,
                                            "approver", c->approver, "reason", c->reason));
        details = json_pack("{sI sO sO sO ss ss}", "id", (json_int_t)c->id, "sha256",
                            json_object_get(item, "sha256"), "size", json_object_get(item, "size"),
                            "retain_until", json_object_get(item, "retain_until"), "approver",
                            c->approver, "reason", c->reason);
        r = details ? evd_catalog_item_put(txn, item) : -ENOMEM;
        /* The object goes only when no live item references it any more. */
        if (r == 0) {
                uint64_t other;
                int rr = evd_catalog_item_by_sha(
                        txn, json_string_value(json_object_get(item, "sha256")) ?: "", &other);

                c->keep_object = rr == 0 && other != c->id;
                if (c->keep_object)
                        (void)json_object_set_new(details, "object_kept_for",
                                                  json_integer((json_int_t)other));
        }
        evd_audit_item_subject(subject, c->id);
        if (r == 0)
                r = evd_audit_append(txn, c->actor, "item.purged", subject, details, NULL);
        json_decref(details);
        json_decref(item);
        c->done = r == 0;
        return r;
}

/* The items the scan found edited behind the log: one audit entry, and the list in
 * META "catalog_alarms" for status (an empty list clears it). */
static int alarm_txn(struct evd_txn *txn, void *p)
{
        json_t *tampered = p, *d;
        int r = evd_catalog_json_put(txn, EVD_DB_META, "catalog_alarms", tampered);

        if (r < 0 || json_array_size(tampered) == 0)
                return r;
        d = json_pack("{sO ss}", "items", tampered, "action", "not purged");
        r = d ? evd_audit_append(txn, &evd_station_actor, "catalog.alarm", "", d, NULL) : -ENOMEM;
        json_decref(d);
        return r;
}

/* Scan every item in one snapshot with the audit log replayed beside it. */
static int scan_all(struct evd_station *s, struct scan_ctx *c, struct evd_err *err)
{
        struct evd_txn txn;
        int r = evd_catalog_read_begin(s->catalog, &txn);

        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_ledger_replay(&txn, &c->ledger, NULL, err);
        if (r == 0) {
                r = evd_catalog_items_each_quick(&txn, scan_item_quick, scan_item, c);
                if (r < 0)
                        (void)evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        evd_catalog_read_end(&txn);
        evd_ledger_free(c->ledger);
        c->ledger = NULL;
        if (r == 0 && json_array_size(c->tampered) > 0)
                evd_log_warning("purge: %zu item record(s) disagree with the audit log; not "
                                "purged",
                                json_array_size(c->tampered));
        return r < 0 ? r : evd_catalog_write(s->catalog, alarm_txn, c->tampered, err);
}

int evd_station_purge(struct evd_station *s, const struct evd_actor *actor, const char *approver,
                      const char *reason, bool dry_run, json_t **ret, struct evd_err *err)
{
        struct evd_conf conf;
        struct scan_ctx scan = { .conf = &conf,
                                 .now = evd_clock_now(),
                                 .dry_run = dry_run,
                                 .listed_max = dry_run ? DRY_RUN_LISTED : PURGE_MAX };
        json_t *purged = json_array(), *failed = json_array(), *e, *summary;
        size_t i;
        int r;

        if (!actor) /* the automatic purge: the station itself */
                actor = &evd_station_actor;
        evd_station_conf(s, &conf);
        scan.eligible = json_array();
        scan.kept = json_object();
        scan.tampered = json_array();
        if (!purged || !failed || !scan.eligible || !scan.kept || !scan.tampered) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = scan_all(s, &scan, err);
        if (r < 0)
                goto out;
        if (dry_run) {
                /* The count, and the first DRY_RUN_LISTED by name: a reply that does not grow
                 * with the catalogue. */
                summary = json_pack("{sO sO sI}", "eligible", scan.eligible, "kept", scan.kept,
                                    "eligible_count", scan.n_eligible);
                e = json_pack("{sI ss ss}", "eligible", scan.n_eligible, "approver", approver,
                              "reason", reason);
                (void)evd_station_audit(s, actor, "purge.dry_run", "", e);
                json_decref(e);
                *ret = summary;
                r = summary ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        json_array_foreach(scan.eligible, i, e)
        {
                struct purge_one one = { .actor = actor,
                                         .conf = &conf,
                                         .now = scan.now,
                                         .id = (uint64_t)json_integer_value(
                                                 json_object_get(e, "id")),
                                         .approver = approver,
                                         .reason = reason };
                uint8_t sha[EVD_SHA256_LEN];
                struct evd_err perr = { 0 };

                if (evd_unhex(json_string_value(json_object_get(e, "sha256")) ?: "", sha,
                              sizeof(sha)) < 0)
                        continue;
                /* No ingest of the same bytes between the commit and the unlink. */
                evd_store_lock(s->store, sha);
                r = evd_catalog_write(s->catalog, purge_txn, &one, &perr);
                if (r == 0 && one.done && !one.keep_object)
                        r = evd_store_purge(s->store, sha, &perr);
                evd_store_unlock(s->store, sha);
                if (r < 0) {
                        (void)json_object_set_new(e, "error", json_string(perr.text));
                        (void)json_array_append(failed, e);
                } else if (one.done) {
                        (void)json_array_append(purged, e);
                }
        }
        *ret = json_pack("{sO sO sO sO}", "purged", purged, "failed", failed, "kept", scan.kept,
                         "tampered", scan.tampered);
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(purged);
        json_decref(failed);
        json_decref(scan.eligible);
        json_decref(scan.kept);
        json_decref(scan.tampered);
        return r;
}

int evd_cmd_purge(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        const char *approver = NULL, *reason = NULL;
        bool dry_run = false;
        int r;

        if ((r = evd_arg_string(args, "approver", true, &approver, err)) < 0 ||
            (r = evd_label_check_text("approver", approver, 128, false, err)) < 0 ||
            (r = evd_arg_string(args, "reason", true, &reason, err)) < 0 ||
            (r = evd_label_check_text("reason", reason, EVD_LABEL_TEXT_MAX, true, err)) < 0 ||
            (r = evd_arg_bool(args, "dry_run", &dry_run, err)) < 0)
                return r;
        return evd_station_purge(ud, evd_request_actor(req), approver, reason, dry_run, ret, err);
}
