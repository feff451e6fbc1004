/* restore: a dead station rebuilt from the archive (see remote.h).
 *
 * The audit log comes back only as far as the archive sealed it, checked (chain,
 * seals, signatures) before anything is written; the items from their records (the
 * newest locked version of each, ids kept; see evd_remote_warnings); each object (its
 * oldest version, the one replication locked) downloaded into the store's tmp/,
 * re-hashed against the item's sha256 and published. Everything that cannot come
 * back is named in the report. The catalogue is written in one transaction, with an
 * audit entry "station.restored" that continues the restored chain (and, metadata
 * only, the restore_pending marker of scrub.h, which `--objects` clears). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "catalog.h"
#include "clock.h"
#include "remote.h"
#include "s3.h"
#include "scrub.h"
#include "store.h"

struct restore {
        const struct evd_conf *conf;
        struct evd_remote *rm;
        json_t *audit, *items, *missing, *report;
        uint64_t objects, bytes;
        bool metadata_only;
        struct evd_err *err;
};

static int item_cmp(const void *a, const void *b)
{
        json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
        json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));

        return x < y ? -1 : x > y;
}

static void miss(struct restore *rs, const json_t *item, const char *why)
{
        (void)json_array_append_new(
                rs->missing, json_pack("{sO sO ss}", "id", json_object_get(item, "id"), "sha256",
                                       json_object_get(item, "sha256"), "why", why));
}

/* One object from the archive into the store, re-hashed. */
static int fetch_object(struct restore *rs, struct evd_store *store, const json_t *item)
{
        const char *hex = json_string_value(json_object_get(item, "sha256")) ?: "";
        uint8_t want[EVD_SHA256_LEN], got[EVD_SHA256_LEN];
        char key[EVD_S3_KEY_MAX], tmp[EVD_STORE_TMPNAME_MAX], vid[EVD_S3_VERSION_MAX];
        struct evd_err e = { 0 };
        uint64_t size = 0;
        bool existed;
        int fd, r;

        if (evd_unhex(hex, want, sizeof(want)) < 0) {
                miss(rs, item, "its record has no valid sha256");
                return 0;
        }
        if (evd_store_open_object(store, want, &fd) == 0) {
                close(fd); /* another item with the same bytes brought it */
                return 0;
        }
        (void)snprintf(key, sizeof(key), "%s/objects/%.2s/%.2s/%s", evd_remote_prefix(rs->rm), hex,
                       hex + 2, hex);
        if (evd_remote_version(rs->rm, key, vid, &e) < 0) {
                miss(rs, item, e.text);
                return 0;
        }
        r = evd_store_tmp_create(store, &fd, tmp);
        if (r < 0)
                return evd_err_set(rs->err, r, "store: %s", strerror(-r));
        r = evd_s3_get(evd_remote_s3(rs->rm), key, vid, fd, 0, got, &size, &e);
        if (r == 0 && memcmp(got, want, sizeof(got)) != 0)
                r = evd_err_set(&e, -EBADMSG, "the archive's copy does not hash to its sha256");
        if (r == 0 && fsync(fd) < 0)
                r = evd_err_set(&e, -errno, "fsync: %s", strerror(errno));
        close(fd);
        if (r == 0)
                r = evd_store_publish(store, tmp, want, &existed, NULL, &e);
        else
                evd_store_tmp_discard(store, tmp);
        if (r < 0) {
                miss(rs, item, e.text);
                return r == -ENOSPC ? evd_err_set(rs->err, r, "%s", e.text) : 0;
        }
        rs->objects++;
        rs->bytes += size;
        return 0;
}

static int fetch_objects(struct restore *rs)
{
        struct evd_store *store = NULL;
        json_t *item;
        size_t i;
        int r = evd_store_open(rs->conf->state_dir, &store, rs->err);

        json_array_foreach(rs->items, i, item)
        {
                if (r < 0)
                        break;
                if (!json_object_get(item, "purged"))
                        r = fetch_object(rs, store, item);
        }
        evd_store_free(store);
        return r;
}

static int put_raw(struct evd_txn *txn, enum evd_db db, uint64_t seq, const char *text)
{
        uint8_t key[8];
        MDB_val k = { 8, key }, v = { strlen(text), (void *)text };

        evd_be64_put(key, seq);
        return evd_txn_put(txn, db, &k, &v, MDB_NOOVERWRITE);
}

/* Whether the restored log holds the audit.checkpoint entry that announces cp. */
static bool announced(const json_t *audit, const json_t *cp)
{
        const json_t *entries = json_object_get(audit, "entries");
        json_int_t seq = json_integer_value(json_object_get(cp, "seq"));
        const json_t *e = json_array_get(entries, (size_t)seq); /* entry seq + 1 */

        return e &&
               strcmp(json_string_value(json_object_get(e, "event")) ?: "", "audit.checkpoint") ==
                       0 &&
               json_integer_value(json_object_get(json_object_get(e, "details"), "seq")) == seq;
}

static uint64_t live_count(const json_t *items)
{
        const json_t *item;
        uint64_t n = 0;
        size_t i;

        json_array_foreach(items, i, item)
        {
                if (!json_object_get(item, "purged"))
                        n++;
        }
        return n;
}

/* The marker that objects are still to come (scrub.h): set with their count, updated to
 * what is still missing, or gone once nothing is. Only a metadata-only restore sets it. */
static int mark_pending(struct evd_txn *txn, uint64_t objects, bool set)
{
        MDB_val k = { strlen(EVD_RESTORE_PENDING_KEY), (void *)EVD_RESTORE_PENDING_KEY };
        char now[EVD_TIME_STR];
        json_t *mark = NULL;
        int r;

        if (!set && evd_catalog_json_get(txn, EVD_DB_META, EVD_RESTORE_PENDING_KEY, &mark) < 0)
                return 0; /* not pending: a retry after a full restore sets nothing */
        if (objects == 0) {
                json_decref(mark);
                return evd_txn_del(txn, EVD_DB_META, &k, NULL);
        }
        if (!mark) {
                evd_time_format(evd_clock_now(), now);
                mark = json_pack("{ss}", "since", now);
        }
        if (!mark)
                return -ENOMEM;
        (void)json_object_set_new(mark, "objects", json_integer((json_int_t)objects));
        r = evd_catalog_json_put(txn, EVD_DB_META, EVD_RESTORE_PENDING_KEY, mark);
        json_decref(mark);
        return r;
}

static int write_fn(struct evd_txn *txn, void *p)
{
        struct restore *rs = p;
        const json_t *lines = json_object_get(rs->audit, "lines");
        json_t *e, *item;
        uint64_t seq;
        uint8_t h[EVD_SHA256_LEN];
        size_t i;
        int r = 0;

        if (evd_audit_head(txn, &seq, h) < 0 || seq != 0)
                return evd_err_set(rs->err, -EEXIST,
                                   "the station's catalogue is not empty: restore only into an "
                                   "empty state directory");
        json_array_foreach(json_object_get(rs->audit, "entries"), i, e)
        {
                r = put_raw(txn, EVD_DB_AUDIT,
                            (uint64_t)json_integer_value(json_object_get(e, "seq")),
                            json_string_value(json_array_get(lines, i)));
                if (r < 0)
                        return r;
        }
        json_array_foreach(json_object_get(rs->audit, "checkpoints"), i, e)
        {
                char *text;

                if (!announced(rs->audit, e))
                        continue; /* its audit.checkpoint entry was never sealed: the archive
                                   * keeps this seal (verify --remote checks it) */
                text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);

                r = text ? put_raw(txn, EVD_DB_CHECKPOINTS,
                                   (uint64_t)json_integer_value(json_object_get(e, "seq")), text)
                         : -ENOMEM;
                free(text);
                if (r < 0)
                        return r;
        }
        json_array_foreach(rs->items, i, item)
        {
                uint8_t last[8];
                MDB_val k = { strlen("next_item_id"), (void *)"next_item_id" }, v = { 8, last };
                json_t *copy = json_deep_copy(item);

                /* the next id handed out is this item's own */
                evd_be64_put(last, (uint64_t)json_integer_value(json_object_get(item, "id")) - 1);
                (void)json_object_del(copy, "id");
                r = copy ? evd_txn_put(txn, EVD_DB_META, &k, &v, 0) : -ENOMEM;
                if (r == 0)
                        r = evd_catalog_item_put(txn, copy);
                json_decref(copy);
                if (r < 0)
                        return r;
        }
        struct evd_actor actor = { .uid = (uint32_t)getuid() };

        (void)snprintf(actor.name, sizeof(actor.name), "restore");
        r = evd_audit_append(txn, &actor, "station.restored", "", rs->report, NULL);
        return r == 0 && rs->metadata_only ? mark_pending(txn, live_count(rs->items), true) : r;
}

static int load_items(struct restore *rs)
{
        json_t *all = NULL, *item;
        size_t i;
        int r = evd_remote_items(rs->rm, evd_remote_prefix(rs->rm), NULL, &all, rs->err);
        json_t **v;

        if (r < 0)
                return r;
        v = calloc(json_array_size(all) + 1, sizeof(json_t *));
        if (!v) {
                json_decref(all);
                return evd_err_set(rs->err, -ENOMEM, "out of memory");
        }
        json_array_foreach(all, i, item)
        {
                (void)json_object_del(item, "station");
                v[i] = item;
        }
        qsort((void *)v, json_array_size(all), sizeof(json_t *), item_cmp);
        rs->items = json_array();
        for (i = 0; i < json_array_size(all); i++)
                if (json_integer_value(json_object_get(v[i], "id")) > 0)
                        (void)json_array_append(rs->items, v[i]);
        free(v);
        json_decref(all);
        return 0;
}

static int collect_item(json_t *item, void *p)
{
        return json_array_append(p, item) < 0 ? -ENOMEM : 0;
}

static int objects_audit_fn(struct evd_txn *txn, void *p)
{
        struct restore *rs = p;
        struct evd_actor actor = { .uid = (uint32_t)getuid() };
        int r;

        (void)snprintf(actor.name, sizeof(actor.name), "restore");
        r = evd_audit_append(txn, &actor, "station.objects_restored", "", rs->report, NULL);
        return r == 0 ? mark_pending(txn, json_array_size(rs->missing), false) : r;
}

/* The objects a restored catalogue names and the store lacks, from the archive. */
static int restore_objects(struct restore *rs, struct evd_catalog *cat)
{
        struct evd_item_filter f = { 0 };
        int r;

        rs->items = json_array();
        r = evd_catalog_items_snapshot(cat, &f, collect_item, rs->items);
        if (r < 0)
                return evd_err_set(rs->err, r, "catalogue: %s", strerror(-r));
        r = fetch_objects(rs);
        if (r < 0)
                return r;
        rs->report = json_pack("{sI sI sI sO so}", "items", (json_int_t)json_array_size(rs->items),
                               "objects", (json_int_t)rs->objects, "bytes", (json_int_t)rs->bytes,
                               "missing", rs->missing, "warnings",
                               json_deep_copy(evd_remote_warnings(rs->rm)));
        return rs->report ? evd_catalog_write(cat, objects_audit_fn, rs, rs->err)
                          : evd_err_set(rs->err, -ENOMEM, "out of memory");
}

int evd_restore(const struct evd_conf *conf, struct evd_remote *rm, X509 *trusted,
                const struct evd_restore_opts *opts, json_t **ret, struct evd_err *err)
{
        struct restore rs = { .conf = conf,
                              .rm = rm,
                              .missing = json_array(),
                              .metadata_only = opts->metadata_only,
                              .err = err };
        struct evd_catalog *cat = NULL;
        char dir[EVD_CONF_PATH_MAX + 16];
        int r;

        if (mkdir(conf->state_dir, 0750) < 0 && errno != EEXIST)
                return evd_err_set(err, -errno, "%s: %s", conf->state_dir, strerror(errno));
        (void)snprintf(dir, sizeof(dir), "%s/catalog", conf->state_dir);
        if (opts->objects_only) {
                r = evd_catalog_open(dir, 0, &cat, err);
                if (r == 0)
                        r = restore_objects(&rs, cat);
                evd_catalog_free(cat);
                json_decref(rs.items);
                json_decref(rs.missing);
                if (r < 0) {
                        json_decref(rs.report);
                        return err->code ? r : evd_err_set(err, r, "restore: %s", strerror(-r));
                }
                *ret = rs.report;
                return 0;
        }
        r = evd_remote_audit(rm, trusted, &rs.audit, err);
        if (r == 0)
                r = load_items(&rs);
        if (r == 0)
                r = evd_catalog_open(dir, 0, &cat, err);
        if (r == 0 && !opts->metadata_only)
                r = fetch_objects(&rs);
        if (r == 0) {
                rs.report = json_pack("{sO sO sO sI sI sI sb sO so}", "audit_entries",
                                      json_object_get(rs.audit, "sealed_through"), "segments",
                                      json_object_get(rs.audit, "segments"), "cert_sha256",
                                      json_object_get(rs.audit, "cert_sha256"), "items",
                                      (json_int_t)json_array_size(rs.items), "objects",
                                      (json_int_t)rs.objects, "bytes", (json_int_t)rs.bytes,
                                      "metadata_only", opts->metadata_only, "missing", rs.missing,
                                      "warnings", json_deep_copy(evd_remote_warnings(rm)));
                r = rs.report ? evd_catalog_write(cat, write_fn, &rs, err)
                              : evd_err_set(err, -ENOMEM, "out of memory");
        }
        if (r == 0)
                (void)json_object_set_new(
                        rs.report, "note",
                        json_string("the audit log is restored as far as the archive sealed "
                                    "it; entries after its last seal were never archived. The "
                                    "station's signing key is not in the archive: put back its "
                                    "backup into the state directory's keys/ (or keys init for "
                                    "a new identity) before verify --audit"));
        evd_catalog_free(cat);
        json_decref(rs.audit);
        json_decref(rs.items);
        json_decref(rs.missing);
        if (r < 0) {
                json_decref(rs.report);
                return err->code ? r : evd_err_set(err, r, "restore: %s", strerror(-r));
        }
        *ret = rs.report;
        return 0;
}
