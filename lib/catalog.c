#include "catalog.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog_internal.h"
#include "item_record.h"
#include "name.h"

/* LMDB keys are at most 511 bytes: longer index strings are keyed by their hash. */
#define INDEX_KEY_MAX 256

static const char *const db_names[EVD_DB_COUNT] = {
        [EVD_DB_META] = "meta",
        [EVD_DB_ITEMS] = "items",
        [EVD_DB_BY_SHA] = "by_sha",
        [EVD_DB_BY_SOURCE] = "by_source",
        [EVD_DB_BY_RECORDER] = "by_recorder",
        [EVD_DB_BY_CASE] = "by_case",
        [EVD_DB_BY_HANDLER] = "by_handler",
        [EVD_DB_BY_TIME] = "by_time",
        [EVD_DB_AUDIT] = "audit",
        [EVD_DB_RECORDERS] = "recorders",
        [EVD_DB_DOCKS] = "docks",
        [EVD_DB_CHECKPOINTS] = "checkpoints",
        [EVD_DB_REPLICATION] = "replication",
        [EVD_DB_ACCOUNTS] = "accounts",
        [EVD_DB_BY_FLAG] = "by_flag",
        [EVD_DB_BY_CASE_STAGE] = "by_case_stage",
};

static bool db_is_index(enum evd_db db)
{
        return db == EVD_DB_BY_RECORDER || db == EVD_DB_BY_CASE || db == EVD_DB_BY_HANDLER ||
               db == EVD_DB_BY_TIME || db == EVD_DB_BY_FLAG || db == EVD_DB_BY_CASE_STAGE;
}

/* A write waiting for a group commit (evd_catalog_write_grouped). */
struct group_req {
        struct group_req *next;
        int (*fn)(struct evd_txn *, void *);
        void *ctx;
        struct evd_err *err;
        int result;
        bool done;
};

struct evd_catalog {
        MDB_env *env;
        MDB_dbi dbi[EVD_DB_COUNT];
        /* Held shared by every transaction, exclusively to grow the map (LMDB wants no
         * transaction open in the process while the map size changes). */
        pthread_rwlock_t grow;
        /* Group commits: writes queued while a batch commits go in the next one. */
        pthread_mutex_t group_lock;
        pthread_cond_t group_done;
        struct group_req *queue, **queue_tail;
        bool committing;
        void (*after_commit)(void *userdata, size_t n);
        void *after_commit_userdata;
};

int evd_mdb_errno(int rc)
{
        switch (rc) {
        case MDB_SUCCESS:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_MAP_FULL:
                return -ENOSPC;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_BAD_VALSIZE:
                return -E2BIG;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

void evd_be64_put(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                out[i] = (uint8_t)v;
}

uint64_t evd_be64_get(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | in[i];
        return v;
}

MDB_dbi evd_txn_dbi(const struct evd_txn *txn, enum evd_db db)
{
        return txn->catalog->dbi[db];
}

int evd_txn_put(struct evd_txn *txn, enum evd_db db, MDB_val *key, MDB_val *val, unsigned flags)
{
        int rc = mdb_put(txn->txn, txn->catalog->dbi[db], key, val, flags);

        if (rc == MDB_MAP_FULL)
                txn->map_full = true;
        return evd_mdb_errno(rc);
}

int evd_txn_del(struct evd_txn *txn, enum evd_db db, MDB_val *key, MDB_val *val)
{
        int rc = mdb_del(txn->txn, txn->catalog->dbi[db], key, val);

        return rc == MDB_NOTFOUND ? 0 : evd_mdb_errno(rc);
}

/* Open the databases and check the schema: 0, or 1 when the catalogue is of schema 1
 * and must be re-indexed (reindex); schema 2 becomes 3 as it is. */
static int check_schema(struct evd_catalog *c, struct evd_err *err)
{
        MDB_txn *txn;
        MDB_val key = { 6, "schema" }, val;
        uint8_t buf[8];
        bool old = false;
        int rc;

        rc = mdb_txn_begin(c->env, NULL, 0, &txn);
        if (rc)
                return evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
        for (int i = 0; i < EVD_DB_COUNT; i++) {
                unsigned flags = MDB_CREATE;

                if (db_is_index((enum evd_db)i))
                        flags |= MDB_DUPSORT | MDB_DUPFIXED;
                rc = mdb_dbi_open(txn, db_names[i], flags, &c->dbi[i]);
                if (rc)
                        goto fail;
        }
        rc = mdb_get(txn, c->dbi[EVD_DB_META], &key, &val);
        if (rc == MDB_NOTFOUND) {
                evd_be64_put(buf, EVD_CATALOG_SCHEMA);
                val = (MDB_val){ sizeof(buf), buf };
                rc = mdb_put(txn, c->dbi[EVD_DB_META], &key, &val, 0);
                if (rc)
                        goto fail;
        } else if (rc) {
                goto fail;
        } else if (val.mv_size == 8 && evd_be64_get(val.mv_data) == 1) {
                old = true;
        } else if (val.mv_size == 8 && evd_be64_get(val.mv_data) == 2) {
                /* 2 to 3: items stored whole are read as they are; only the mark moves
                 * on, so that an evidockd of schema 2 refuses the new records' form */
                evd_be64_put(buf, EVD_CATALOG_SCHEMA);
                val = (MDB_val){ sizeof(buf), buf };
                rc = mdb_put(txn, c->dbi[EVD_DB_META], &key, &val, 0);
                if (rc)
                        goto fail;
        } else if (val.mv_size != 8 || evd_be64_get(val.mv_data) != EVD_CATALOG_SCHEMA) {
                mdb_txn_abort(txn);
                return evd_err_set(err, -EPROTO,
                                   "catalog schema version %llu is not the %d this station "
                                   "reads",
                                   val.mv_size == 8 ? (unsigned long long)evd_be64_get(val.mv_data)
                                                    : 0ull,
                                   EVD_CATALOG_SCHEMA);
        }
        rc = mdb_txn_commit(txn);
        if (rc)
                return evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
        return old ? 1 : 0;
fail:
        mdb_txn_abort(txn);
        return evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
}

/* evidock-replicate (its own user, in the station's group) reads the catalogue with
 * evd_catalog_open_readonly: data.mdb 0640, and lock.mdb 0660 because an LMDB reader
 * must take a slot in the lock file's reader table. MDB_NOLOCK readers were the other
 * way, and an unsafe one: without a slot the writer reuses pages a reader is still
 * reading. A group member can at worst disturb the lock table (stall writes), never
 * change a record: that is a denial of service the replicator could also do by not
 * replicating. Whatever the umask. */
static void share_readonly(const char *dir)
{
        char path[PATH_MAX];
        struct stat st;

        if (stat(dir, &st) == 0) /* a set-group-ID bit stays: the group follows */
                (void)chmod(dir, (st.st_mode & S_ISGID) | 0750);
        if (evd_snprintf(path, sizeof(path), "%s/data.mdb", dir) == 0)
                (void)chmod(path, 0640);
        if (evd_snprintf(path, sizeof(path), "%s/lock.mdb", dir) == 0)
                (void)chmod(path, 0660);
}

static int reindex(struct evd_txn *txn, void *unused);

int evd_catalog_open(const char *dir, uint64_t map_bytes, struct evd_catalog **ret,
                     struct evd_err *err)
{
        struct evd_catalog *c;
        MDB_envinfo info;
        int rc, r;

        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return evd_err_set(err, -errno, "%s: %s", dir, strerror(errno));
        c = calloc(1, sizeof(*c));
        if (!c)
                return evd_err_set(err, -ENOMEM, "out of memory");
        pthread_rwlock_init(&c->grow, NULL);
        pthread_mutex_init(&c->group_lock, NULL);
        pthread_cond_init(&c->group_done, NULL);
        c->queue_tail = &c->queue;
        rc = mdb_env_create(&c->env);
        if (rc) {
                r = evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
                free(c);
                return r;
        }
        (void)mdb_env_set_maxdbs(c->env, EVD_DB_COUNT + 4);
        (void)mdb_env_set_maxreaders(c->env, 256);
        rc = mdb_env_set_mapsize(c->env, map_bytes ? map_bytes : EVD_CATALOG_MAP_INITIAL);
        if (!rc)
                rc = mdb_env_open(c->env, dir, MDB_NOTLS, 0640);
        if (rc) {
                r = evd_err_set(err, evd_mdb_errno(rc), "catalog %s: %s", dir, mdb_strerror(rc));
                goto fail;
        }
        share_readonly(dir);
        /* An existing environment may have grown past the size asked for. */
        if (mdb_env_info(c->env, &info) == 0 && info.me_mapsize < EVD_CATALOG_MAP_INITIAL &&
            !map_bytes)
                (void)mdb_env_set_mapsize(c->env, EVD_CATALOG_MAP_INITIAL);
        r = check_schema(c, err);
        if (r == 1)
                r = evd_catalog_write(c, reindex, NULL, err);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        evd_catalog_free(c);
        return r;
}

int evd_catalog_open_readonly(const char *dir, struct evd_catalog **ret, struct evd_err *err)
{
        struct evd_catalog *c = calloc(1, sizeof(*c));
        MDB_txn *txn = NULL;
        int rc, i;

        if (!c)
                return evd_err_set(err, -ENOMEM, "out of memory");
        pthread_rwlock_init(&c->grow, NULL);
        pthread_mutex_init(&c->group_lock, NULL);
        pthread_cond_init(&c->group_done, NULL);
        c->queue_tail = &c->queue;
        rc = mdb_env_create(&c->env);
        if (!rc) {
                (void)mdb_env_set_maxdbs(c->env, EVD_DB_COUNT + 4);
                (void)mdb_env_set_maxreaders(c->env, 256);
                rc = mdb_env_open(c->env, dir, MDB_RDONLY | MDB_NOTLS, 0640);
        }
        if (!rc)
                rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
        for (i = 0; !rc && i < EVD_DB_COUNT; i++) {
                unsigned flags = db_is_index((enum evd_db)i) ? MDB_DUPSORT | MDB_DUPFIXED : 0;

                rc = mdb_dbi_open(txn, db_names[i], flags, &c->dbi[i]);
        }
        if (!rc) {
                rc = mdb_txn_commit(txn); /* keeps the dbi handles */
                txn = NULL;
        }
        if (txn)
                mdb_txn_abort(txn);
        if (rc) {
                int r = evd_err_set(err, evd_mdb_errno(rc), "catalog %s (read-only): %s%s", dir,
                                    mdb_strerror(rc),
                                    rc == MDB_NOTFOUND ? " (not made by this evidockd)" : "");

                evd_catalog_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void evd_catalog_free(struct evd_catalog *catalog)
{
        if (!catalog)
                return;
        if (catalog->env)
                mdb_env_close(catalog->env);
        pthread_rwlock_destroy(&catalog->grow);
        pthread_cond_destroy(&catalog->group_done);
        pthread_mutex_destroy(&catalog->group_lock);
        free(catalog);
}

int evd_catalog_read_begin(struct evd_catalog *catalog, struct evd_txn *ret)
{
        MDB_txn *txn;
        int rc;

        pthread_rwlock_rdlock(&catalog->grow);
        rc = mdb_txn_begin(catalog->env, NULL, MDB_RDONLY, &txn);
        if (rc == MDB_MAP_RESIZED) { /* another process grew the map: adopt its size */
                pthread_rwlock_unlock(&catalog->grow);
                pthread_rwlock_wrlock(&catalog->grow);
                (void)mdb_env_set_mapsize(catalog->env, 0);
                pthread_rwlock_unlock(&catalog->grow);
                pthread_rwlock_rdlock(&catalog->grow);
                rc = mdb_txn_begin(catalog->env, NULL, MDB_RDONLY, &txn);
        }
        if (rc) {
                int r = evd_mdb_errno(rc);

                pthread_rwlock_unlock(&catalog->grow);
                return r < 0 ? r : -EIO; /* never 0 without a transaction */
        }
        *ret = (struct evd_txn){ .catalog = catalog, .txn = txn };
        return 0;
}

bool evd_catalog_failed(struct evd_catalog *catalog)
{
        MDB_txn *txn;
        int rc;

        pthread_rwlock_rdlock(&catalog->grow);
        rc = mdb_txn_begin(catalog->env, NULL, MDB_RDONLY, &txn);
        if (rc == 0)
                mdb_txn_abort(txn);
        pthread_rwlock_unlock(&catalog->grow);
        return rc == MDB_PANIC;
}

void evd_catalog_read_end(struct evd_txn *txn)
{
        if (!txn->txn)
                return;
        mdb_txn_abort(txn->txn);
        txn->txn = NULL;
        pthread_rwlock_unlock(&txn->catalog->grow);
}

static int grow(struct evd_catalog *catalog, struct evd_err *err)
{
        MDB_envinfo info;
        int rc;

        pthread_rwlock_wrlock(&catalog->grow);
        rc = mdb_env_info(catalog->env, &info);
        if (!rc && info.me_mapsize * 2 > EVD_CATALOG_MAP_MAX)
                rc = MDB_MAP_FULL;
        if (!rc)
                rc = mdb_env_set_mapsize(catalog->env, info.me_mapsize * 2);
        pthread_rwlock_unlock(&catalog->grow);
        if (rc)
                return evd_err_set(err, evd_mdb_errno(rc), "catalog cannot grow: %s",
                                   mdb_strerror(rc));
        return 0;
}

int evd_catalog_write(struct evd_catalog *catalog, int (*fn)(struct evd_txn *, void *), void *ctx,
                      struct evd_err *err)
{
        for (int attempt = 0;; attempt++) {
                struct evd_txn t = { .catalog = catalog, .write = true };
                int rc, r;

                pthread_rwlock_rdlock(&catalog->grow);
                rc = mdb_txn_begin(catalog->env, NULL, 0, &t.txn);
                if (rc) {
                        pthread_rwlock_unlock(&catalog->grow);
                        return evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
                }
                r = fn(&t, ctx);
                if (r < 0) {
                        mdb_txn_abort(t.txn);
                        pthread_rwlock_unlock(&catalog->grow);
                        if (!t.map_full || attempt >= 10) {
                                if (err && err->code == 0)
                                        (void)evd_err_set(err, r, "catalog: %s", strerror(-r));
                                return r;
                        }
                } else {
                        rc = mdb_txn_commit(t.txn);
                        pthread_rwlock_unlock(&catalog->grow);
                        if (rc == 0)
                                return r;
                        if (rc != MDB_MAP_FULL || attempt >= 10)
                                return evd_err_set(err, evd_mdb_errno(rc),
                                                   "catalog commit failed: %s", mdb_strerror(rc));
                }
                evd_err_clear(err);
                r = grow(catalog, err);
                if (r < 0)
                        return r;
        }
}

/* One durable transaction for a batch: each write in a nested transaction of its own,
 * so that one that fails leaves the others. 0, or 1 when the map is full (grow and run
 * the batch again), or <0 when the commit itself failed (every write in it failed). */
static int run_batch(struct evd_catalog *c, struct group_req *batch)
{
        MDB_txn *parent = NULL;
        int rc;

        pthread_rwlock_rdlock(&c->grow);
        rc = mdb_txn_begin(c->env, NULL, 0, &parent);
        for (struct group_req *q = batch; q && !rc; q = q->next) {
                struct evd_txn t = { .catalog = c, .write = true };

                rc = mdb_txn_begin(c->env, parent, 0, &t.txn);
                if (rc)
                        break;
                evd_err_clear(q->err);
                q->result = q->fn(&t, q->ctx);
                if (t.map_full) {
                        mdb_txn_abort(t.txn);
                        rc = MDB_MAP_FULL;
                } else if (q->result < 0) {
                        mdb_txn_abort(t.txn);
                        if (q->err && q->err->code == 0)
                                (void)evd_err_set(q->err, q->result, "catalog: %s",
                                                  strerror(-q->result));
                } else {
                        rc = mdb_txn_commit(t.txn);
                }
        }
        if (!rc)
                rc = mdb_txn_commit(parent);
        else if (parent && rc != MDB_SUCCESS)
                mdb_txn_abort(parent);
        pthread_rwlock_unlock(&c->grow);
        if (rc == MDB_MAP_FULL)
                return 1;
        return rc ? evd_mdb_errno(rc) : 0;
}

static void commit_batch(struct evd_catalog *c, struct group_req *batch)
{
        struct evd_err err = { 0 };
        size_t n = 0;
        int r;

        for (int attempt = 0;; attempt++) {
                r = run_batch(c, batch);
                if (r != 1)
                        break;
                if (attempt >= 10 || grow(c, &err) < 0) {
                        r = err.code ? err.code : -ENOSPC;
                        break;
                }
        }
        for (struct group_req *q = batch; q; q = q->next, n++)
                if (r < 0 && q->result >= 0) {
                        q->result = r;
                        if (q->err)
                                (void)evd_err_set(q->err, r, "catalog commit failed: %s",
                                                  strerror(-r));
                }
        if (r == 0 && c->after_commit)
                c->after_commit(c->after_commit_userdata, n);
}

int evd_catalog_write_grouped(struct evd_catalog *c, int (*fn)(struct evd_txn *, void *), void *ctx,
                              struct evd_err *err)
{
        struct group_req req = { .fn = fn, .ctx = ctx, .err = err };

        /* req lives on this stack while queued: it is taken off the queue (by whoever
         * leads its batch) before done is set, and this returns only when done. */
        pthread_mutex_lock(&c->group_lock);
        *c->queue_tail = &req;
        // cppcheck-suppress autoVariables
        c->queue_tail = &req.next;
        while (!req.done) {
                struct group_req *batch;

                if (c->committing) {
                        pthread_cond_wait(&c->group_done, &c->group_lock);
                        continue;
                }
                /* Lead: commit everything queued, this write among it. */
                c->committing = true;
                batch = c->queue;
                c->queue = NULL;
                c->queue_tail = &c->queue;
                pthread_mutex_unlock(&c->group_lock);
                commit_batch(c, batch);
                pthread_mutex_lock(&c->group_lock);
                for (struct group_req *q = batch; q; q = q->next)
                        q->done = true;
                c->committing = false;
                pthread_cond_broadcast(&c->group_done);
        }
        pthread_mutex_unlock(&c->group_lock);
        return req.result;
}

void evd_catalog_set_after_commit(struct evd_catalog *c, void (*fn)(void *, size_t), void *userdata)
{
        c->after_commit = fn;
        c->after_commit_userdata = userdata;
}

int evd_catalog_stat(struct evd_catalog *catalog, uint64_t *ret_items, uint64_t *ret_map_bytes)
{
        struct evd_txn t = { 0 };
        MDB_envinfo info;
        MDB_stat st;
        int r;

        r = evd_catalog_read_begin(catalog, &t);
        if (r < 0)
                return r;
        r = evd_mdb_errno(mdb_stat(t.txn, catalog->dbi[EVD_DB_ITEMS], &st));
        if (r == 0 && mdb_env_info(catalog->env, &info) == 0) {
                *ret_items = st.ms_entries;
                *ret_map_bytes = info.me_mapsize;
        }
        evd_catalog_read_end(&t);
        return r;
}

int evd_catalog_counter_add(struct evd_txn *txn, const char *name, int64_t delta, uint64_t *ret)
{
        MDB_val key = { strlen(name), (void *)name }, val;
        uint8_t buf[8];
        uint64_t v = 0;
        int rc, r;

        rc = mdb_get(txn->txn, txn->catalog->dbi[EVD_DB_META], &key, &val);
        if (rc == 0 && val.mv_size == 8)
                v = evd_be64_get(val.mv_data);
        else if (rc && rc != MDB_NOTFOUND)
                return evd_mdb_errno(rc);
        v = delta < 0 && (uint64_t)-delta > v ? 0 : v + (uint64_t)delta;
        evd_be64_put(buf, v);
        val = (MDB_val){ sizeof(buf), buf };
        r = evd_txn_put(txn, EVD_DB_META, &key, &val, 0);
        if (r < 0)
                return r;
        if (ret)
                *ret = v;
        return 0;
}

int evd_catalog_next_id(struct evd_txn *txn, const char *name, uint64_t *ret)
{
        return evd_catalog_counter_add(txn, name, 1, ret);
}

int evd_catalog_json_get(struct evd_txn *txn, enum evd_db db, const char *key, json_t **ret)
{
        MDB_val k = { strlen(key), (void *)key }, v;
        json_t *j;
        int rc;

        rc = mdb_get(txn->txn, txn->catalog->dbi[db], &k, &v);
        if (rc)
                return evd_mdb_errno(rc);
        j = json_loadb(v.mv_data, v.mv_size, JSON_DISABLE_EOF_CHECK, NULL);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}

int evd_catalog_json_put(struct evd_txn *txn, enum evd_db db, const char *key, const json_t *val)
{
        MDB_val k = { strlen(key), (void *)key }, v;
        char *text;
        int r;

        if (k.mv_size == 0 || k.mv_size > INDEX_KEY_MAX)
                return -EINVAL;
        text = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        v = (MDB_val){ strlen(text), text };
        r = evd_txn_put(txn, db, &k, &v, 0);
        free(text);
        return r;
}

/* ---- items ---- */

int evd_catalog_item_get(struct evd_txn *txn, uint64_t id, json_t **ret)
{
        uint8_t idkey[8];
        MDB_val k = { 8, idkey }, v;
        json_t *j;
        int rc;

        evd_be64_put(idkey, id);
        rc = mdb_get(txn->txn, txn->catalog->dbi[EVD_DB_ITEMS], &k, &v);
        if (rc)
                return evd_mdb_errno(rc);
        j = evd_item_record_decode(v.mv_data, v.mv_size);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}

/* The string an index is keyed by: the value itself, or "#" + sha256 when long. */
static void index_key(const char *s, char *out, size_t n)
{
        size_t len = strlen(s);

        if (len < INDEX_KEY_MAX && len < n) {
                memcpy(out, s, len + 1);
        } else {
                uint8_t md[EVD_SHA256_LEN];

                (void)EVP_Digest(s, len, md, NULL, EVP_sha256(), NULL);
                out[0] = '#';
                evd_hex(md, sizeof(md), out + 1);
        }
}

static const char *label(const json_t *item, const char *name)
{
        return json_string_value(json_object_get(json_object_get(item, "labels"), name));
}

static bool is_unlabeled(const json_t *item)
{
        return !label(item, "case_no") || !label(item, "party");
}

/* When the item was recorded; INT64_MIN when it does not say. */
static int64_t item_time(const json_t *item)
{
        const char *rec = json_string_value(json_object_get(item, "recorded_at"));
        int64_t t;

        return rec && evd_time_parse(rec, &t) == 0 ? t : INT64_MIN;
}

#define POS_LEN EVD_CATALOG_POS_LEN

void evd_catalog_pos_put(uint8_t out[EVD_CATALOG_POS_LEN], int64_t t, uint64_t id)
{
        evd_be64_put(out, (uint64_t)t ^ (1ull << 63));
        evd_be64_put(out + 8, id);
}

int64_t evd_catalog_pos_time(const uint8_t pos[EVD_CATALOG_POS_LEN])
{
        return (int64_t)(evd_be64_get(pos) ^ (1ull << 63));
}

/* Add or remove (del) the secondary index entries of item. */
static int index_item(struct evd_txn *txn, const json_t *item, uint64_t id, bool del)
{
        const char *strs[5] = { json_string_value(json_object_get(item, "recorder")),
                                label(item, "case_no"), label(item, "handler"),
                                is_unlabeled(item) ? "unlabeled" : NULL,
                                json_is_true(json_object_get(item, "late")) ? "late" : NULL };
        const enum evd_db dbs[5] = { EVD_DB_BY_RECORDER, EVD_DB_BY_CASE, EVD_DB_BY_HANDLER,
                                     EVD_DB_BY_FLAG, EVD_DB_BY_FLAG };
        const char *sha = json_string_value(json_object_get(item, "sha256"));
        int64_t t = item_time(item);
        uint8_t idval[8], shakey[EVD_SHA256_LEN], tkey[8], pos[POS_LEN];
        MDB_val v = { 8, idval }, pv = { POS_LEN, pos }, k;
        int r;

        evd_be64_put(idval, id);
        evd_catalog_pos_put(pos, t, id);
        for (int i = 0; i < 5; i++) {
                char key[EVD_SHA256_HEX + 1 > INDEX_KEY_MAX ? EVD_SHA256_HEX + 1 : INDEX_KEY_MAX];

                if (!strs[i] || !strs[i][0])
                        continue;
                index_key(strs[i], key, sizeof(key));
                k = (MDB_val){ strlen(key), key };
                r = del ? evd_txn_del(txn, dbs[i], &k, &pv) : evd_txn_put(txn, dbs[i], &k, &pv, 0);
                if (r < 0)
                        return r;
        }
        /* Every item, those without a recording time first: the unfiltered pages. */
        memcpy(tkey, pos, 8);
        k = (MDB_val){ 8, tkey };
        r = del ? evd_txn_del(txn, EVD_DB_BY_TIME, &k, &v)
                : evd_txn_put(txn, EVD_DB_BY_TIME, &k, &v, 0);
        if (r < 0)
                return r;
        /* A purged item's content may be stored again as a new item. */
        if (sha && !json_object_get(item, "purged") &&
            evd_unhex(sha, shakey, sizeof(shakey)) == 0) {
                k = (MDB_val){ sizeof(shakey), shakey };
                r = del ? evd_txn_del(txn, EVD_DB_BY_SHA, &k, NULL)
                        : evd_txn_put(txn, EVD_DB_BY_SHA, &k, &v, 0);
                if (r < 0)
                        return r;
        }
        return evd_catalog_stage_index(txn, item, id, del); /* the cases' stage gaps */
}

/* A new item is one the archive has not confirmed (backlog.h). */
static int backlog_join(struct evd_txn *txn, const json_t *item, uint64_t id)
{
        const char *at = json_string_value(json_object_get(item, "ingested_at"));
        uint8_t pos[POS_LEN];
        MDB_val k = { strlen(EVD_BACKLOG_FLAG), EVD_BACKLOG_FLAG }, v = { POS_LEN, pos };
        int64_t t = 0;
        int r;

        if (!at || evd_time_parse(at, &t) < 0)
                t = 0;
        evd_catalog_pos_put(pos, t, id);
        r = evd_txn_put(txn, EVD_DB_BY_FLAG, &k, &v, 0);
        if (r == 0)
                r = evd_catalog_counter_add(
                        txn, EVD_BACKLOG_BYTES,
                        (int64_t)json_integer_value(json_object_get(item, "size")), NULL);
        return r;
}

/* Schema 1 to 2: every index made again from the items, in the write transaction that
 * records the new schema (a crash leaves schema 1, and it runs again). */
static int reindex(struct evd_txn *txn, void *unused)
{
        static const enum evd_db dbs[] = { EVD_DB_BY_SHA,       EVD_DB_BY_RECORDER, EVD_DB_BY_CASE,
                                           EVD_DB_BY_HANDLER,   EVD_DB_BY_TIME,     EVD_DB_BY_FLAG,
                                           EVD_DB_BY_CASE_STAGE };
        MDB_val k = { 6, "schema" }, v;
        uint8_t ver[8];
        MDB_cursor *cur;
        int rc, r = 0;

        (void)unused;
        for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
                rc = mdb_drop(txn->txn, txn->catalog->dbi[dbs[i]], 0);
                if (rc)
                        return evd_mdb_errno(rc);
        }
        rc = mdb_cursor_open(txn->txn, txn->catalog->dbi[EVD_DB_ITEMS], &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *item = evd_item_record_decode(v.mv_data, v.mv_size);

                r = item && k.mv_size == 8 ? index_item(txn, item, evd_be64_get(k.mv_data), false)
                                           : -EBADMSG;
                json_decref(item);
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        /* The backlog went with by_flag: evd_backlog_ready makes it again. */
        k = (MDB_val){ strlen(EVD_BACKLOG_READY), EVD_BACKLOG_READY };
        if ((r = evd_txn_del(txn, EVD_DB_META, &k, NULL)) < 0 && r != -ENOENT)
                return r;
        evd_be64_put(ver, EVD_CATALOG_SCHEMA);
        k = (MDB_val){ 6, "schema" };
        v = (MDB_val){ sizeof(ver), ver };
        return evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
}

int evd_catalog_item_put(struct evd_txn *txn, json_t *item)
{
        json_t *idj = json_object_get(item, "id"), *old = NULL;
        uint8_t idkey[8];
        MDB_val k = { 8, idkey }, v;
        uint64_t id = 0;
        char *text;
        bool is_new;
        int r = -ENOENT;

        /* An id with no record behind it was handed out by a transaction that did not
         * commit (a retry after the map grew): such an item is new. */
        if (json_is_integer(idj)) {
                id = (uint64_t)json_integer_value(idj);
                r = evd_catalog_item_get(txn, id, &old);
                if (r == 0) {
                        r = index_item(txn, old, id, true);
                        json_decref(old);
                        if (r < 0)
                                return r;
                } else if (r != -ENOENT) {
                        return r;
                }
        }
        is_new = r == -ENOENT;
        if (is_new) {
                r = evd_catalog_next_id(txn, "next_item_id", &id);
                if (r < 0)
                        return r;
                if (json_object_set_new(item, "id", json_integer((json_int_t)id)) < 0)
                        return -ENOMEM;
        }
        r = index_item(txn, item, id, false);
        if (r == 0 && is_new)
                r = backlog_join(txn, item, id);
        if (r < 0)
                return r;
        text = evd_item_record_encode(item);
        if (!text)
                return -ENOMEM;
        evd_be64_put(idkey, id);
        v = (MDB_val){ strlen(text), text };
        /* A new id is above every stored one: appended, LMDB fills each leaf page
         * instead of splitting it in half (a third fewer item pages). An id that is
         * not the highest (a catalogue restored with an older counter) is refused
         * with -EEXIST, and goes in by an ordinary put. */
        r = evd_txn_put(txn, EVD_DB_ITEMS, &k, &v, is_new ? MDB_APPEND : 0);
        if (r == -EEXIST && is_new)
                r = evd_txn_put(txn, EVD_DB_ITEMS, &k, &v, 0);
        free(text);
        return r;
}

int evd_catalog_item_by_sha(struct evd_txn *txn, const char *hex, uint64_t *ret_id)
{
        uint8_t prefix[EVD_SHA256_LEN] = { 0 };
        size_t len = strlen(hex), nbytes = len / 2;
        MDB_cursor *cur;
        MDB_val k, v;
        uint64_t found = 0;
        int matches = 0, rc;

        if (len < 12 || len > 64 || !evd_is_hex(hex, 12))
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                char c = hex[i];
                int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

                prefix[i / 2] |= (uint8_t)(i % 2 ? d : d << 4);
        }
        rc = mdb_cursor_open(txn->txn, txn->catalog->dbi[EVD_DB_BY_SHA], &cur);
        if (rc)
                return evd_mdb_errno(rc);
        k = (MDB_val){ sizeof(prefix), prefix };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size == EVD_SHA256_LEN) {
                const uint8_t *key = k.mv_data;

                if (memcmp(key, prefix, nbytes) != 0 ||
                    (len % 2 && (key[nbytes] & 0xf0) != prefix[nbytes]))
                        break;
                if (++matches > 1)
                        break;
                found = evd_be64_get(v.mv_data);
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (matches == 0)
                return -ENOENT;
        if (matches > 1)
                return -EEXIST;
        *ret_id = found;
        return 0;
}

/* Sources are keyed by the hash of (recorder, path, size, mtime): paths can be
 * longer than an LMDB key. */
static void source_key(const char *recorder, const void *path, size_t path_len, uint64_t size,
                       int64_t mtime, uint8_t out[EVD_SHA256_LEN])
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t num[16];

        evd_be64_put(num, size);
        evd_be64_put(num + 8, (uint64_t)mtime);
        if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(md, recorder, strlen(recorder) + 1) ||
            !EVP_DigestUpdate(md, path, path_len) || !EVP_DigestUpdate(md, "", 1) ||
            !EVP_DigestUpdate(md, num, sizeof(num)) || !EVP_DigestFinal_ex(md, out, NULL))
                memset(out, 0, EVD_SHA256_LEN);
        EVP_MD_CTX_free(md);
}

int evd_catalog_source_get(struct evd_txn *txn, const char *recorder, const void *path,
                           size_t path_len, uint64_t size, int64_t mtime, uint64_t *ret_id)
{
        uint8_t key[EVD_SHA256_LEN];
        MDB_val k = { sizeof(key), key }, v;
        int rc;

        source_key(recorder, path, path_len, size, mtime, key);
        rc = mdb_get(txn->txn, txn->catalog->dbi[EVD_DB_BY_SOURCE], &k, &v);
        if (rc)
                return evd_mdb_errno(rc);
        if (v.mv_size != 8)
                return -EBADMSG;
        *ret_id = evd_be64_get(v.mv_data);
        return 0;
}

int evd_catalog_source_put(struct evd_txn *txn, const char *recorder, const void *path,
                           size_t path_len, uint64_t size, int64_t mtime, uint64_t id)
{
        uint8_t key[EVD_SHA256_LEN], idval[8];
        MDB_val k = { sizeof(key), key }, v = { 8, idval };

        source_key(recorder, path, path_len, size, mtime, key);
        evd_be64_put(idval, id);
        return evd_txn_put(txn, EVD_DB_BY_SOURCE, &k, &v, 0);
}

static bool item_matches(const json_t *item, const struct evd_item_filter *f)
{
        const char *rec = json_string_value(json_object_get(item, "recorded_at"));
        const char *deadline = json_string_value(json_object_get(item, "deadline"));
        bool unlabeled = is_unlabeled(item);
        int64_t t;

        if (f->case_no &&
            (!label(item, "case_no") || strcmp(label(item, "case_no"), f->case_no) != 0))
                return false;
        if (f->handler &&
            (!label(item, "handler") || strcmp(label(item, "handler"), f->handler) != 0))
                return false;
        if (f->recorder) {
                const char *r = json_string_value(json_object_get(item, "recorder"));

                if (!r || strcmp(r, f->recorder) != 0)
                        return false;
        }
        if (f->session &&
            (uint64_t)json_integer_value(json_object_get(item, "dock_session")) != f->session)
                return false;
        if (f->late && !json_is_true(json_object_get(item, "late")))
                return false;
        if (f->integrity &&
            strcmp(json_string_value(json_object_get(json_object_get(item, "media"), "integrity"))
                           ?: "",
                   f->integrity) != 0)
                return false;
        if (f->unlabeled && !unlabeled)
                return false;
        if (f->overdue) {
                if (!unlabeled || !deadline || evd_time_parse(deadline, &t) < 0 || f->now <= t)
                        return false;
        }
        if (f->has_since || f->has_until) {
                if (!rec || evd_time_parse(rec, &t) < 0)
                        return false;
                if ((f->has_since && t < f->since) || (f->has_until && t > f->until))
                        return false;
        }
        return true;
}

static int visit(struct evd_txn *txn, uint64_t id, const struct evd_item_filter *f,
                 int (*each)(json_t *, void *), void *ctx)
{
        json_t *item = NULL;
        int r = evd_catalog_item_get(txn, id, &item);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = item_matches(item, f) ? each(item, ctx) : 0;
        json_decref(item);
        return r;
}

/* A walk over an ordered index from a position. */
struct walk {
        struct evd_txn *txn;
        const struct evd_item_filter *f;
        int (*each)(json_t *, void *);
        void *ctx;
        uint8_t from[POS_LEN]; /* the first place wanted */
        bool after;            /* ... but not the item at exactly from (the cursor's) */
};

/* Is (t, id) at pos before the walk's start, or past its until? -1, 1, or 0 to visit. */
static int out_of_range(const struct walk *w, const uint8_t pos[POS_LEN])
{
        int c = memcmp(pos, w->from, POS_LEN);

        if (c < 0 || (c == 0 && w->after))
                return -1;
        if (w->f->has_until && evd_catalog_pos_time(pos) > w->f->until)
                return 1;
        return 0;
}

/* Walk the (time, id) entries under one key of an ordered index. */
static int walk_index(struct walk *w, enum evd_db db, const char *value)
{
        char key[EVD_SHA256_HEX + 1 > INDEX_KEY_MAX ? EVD_SHA256_HEX + 1 : INDEX_KEY_MAX];
        MDB_cursor *cur;
        MDB_val k, v = { POS_LEN, w->from };
        int rc, r = 0;

        index_key(value, key, sizeof(key));
        k = (MDB_val){ strlen(key), key };
        rc = mdb_cursor_open(w->txn->txn, w->txn->catalog->dbi[db], &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
                int range;

                if (v.mv_size != POS_LEN) {
                        r = -EBADMSG;
                        break;
                }
                range = out_of_range(w, v.mv_data);
                if (range > 0)
                        break;
                if (range == 0)
                        r = visit(w->txn, evd_be64_get((const uint8_t *)v.mv_data + 8), w->f,
                                  w->each, w->ctx);
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND && rc != 0)
                r = evd_mdb_errno(rc);
        return r < 0 ? r : 0;
}

/* Walk every item in recording-time order (by_time: time -> ids). */
static int walk_time(struct walk *w)
{
        uint8_t tkey[8], pos[POS_LEN];
        MDB_cursor *cur;
        MDB_val k = { 8, tkey }, v;
        int rc, r = 0;

        memcpy(tkey, w->from, 8);
        rc = mdb_cursor_open(w->txn->txn, w->txn->catalog->dbi[EVD_DB_BY_TIME], &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                int range;

                if (k.mv_size != 8 || v.mv_size != 8) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(pos, k.mv_data, 8);
                memcpy(pos + 8, v.mv_data, 8);
                range = out_of_range(w, pos);
                if (range > 0)
                        break;
                if (range == 0)
                        r = visit(w->txn, evd_be64_get(v.mv_data), w->f, w->each, w->ctx);
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND && rc != 0)
                r = evd_mdb_errno(rc);
        return r < 0 ? r : 0;
}

/* The index that serves the filter, most selective first. */
static int walk(struct walk *w)
{
        const struct evd_item_filter *f = w->f;

        if (f->recorder)
                return walk_index(w, EVD_DB_BY_RECORDER, f->recorder);
        if (f->case_no)
                return walk_index(w, EVD_DB_BY_CASE, f->case_no);
        if (f->handler)
                return walk_index(w, EVD_DB_BY_HANDLER, f->handler);
        if (f->unlabeled || f->overdue)
                return walk_index(w, EVD_DB_BY_FLAG, "unlabeled");
        if (f->late)
                return walk_index(w, EVD_DB_BY_FLAG, "late");
        return walk_time(w);
}

/* Start at since (or the first), or just after item after_id when that is later. */
static int walk_start(struct walk *w, uint64_t after_id)
{
        uint8_t cursor[POS_LEN];

        evd_catalog_pos_put(w->from, w->f->has_since ? w->f->since : INT64_MIN, 0);
        w->after = false;
        if (after_id) {
                json_t *item = NULL;
                int r = evd_catalog_item_get(w->txn, after_id, &item);

                if (r < 0)
                        return r;
                evd_catalog_pos_put(cursor, item_time(item), after_id);
                json_decref(item);
                if (memcmp(cursor, w->from, POS_LEN) >= 0) {
                        memcpy(w->from, cursor, POS_LEN);
                        w->after = true;
                }
        }
        return 0;
}

int evd_catalog_items_page(struct evd_txn *txn, const struct evd_item_filter *filter,
                           uint64_t after_id, int (*each)(json_t *item, void *ctx), void *ctx)
{
        struct walk w = { .txn = txn, .f = filter, .each = each, .ctx = ctx };
        int r = walk_start(&w, after_id);

        return r < 0 ? r : walk(&w);
}

int evd_catalog_items_each(struct evd_txn *txn, const struct evd_item_filter *filter,
                           int (*each)(json_t *item, void *ctx), void *ctx)
{
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        if (filter->recorder || filter->case_no || filter->handler || filter->unlabeled ||
            filter->overdue || filter->late || filter->has_since)
                return evd_catalog_items_page(txn, filter, 0, each, ctx);
        rc = mdb_cursor_open(txn->txn, txn->catalog->dbi[EVD_DB_ITEMS], &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *item = evd_item_record_decode(v.mv_data, v.mv_size);

                if (!item) {
                        r = -EBADMSG;
                        break;
                }
                r = item_matches(item, filter) ? each(item, ctx) : 0;
                json_decref(item);
        }
        mdb_cursor_close(cur);
        return r < 0 ? r : 0;
}

int evd_catalog_items_snapshot(struct evd_catalog *catalog, const struct evd_item_filter *filter,
                               int (*each)(json_t *item, void *ctx), void *ctx)
{
        struct evd_txn txn;
        int r = evd_catalog_read_begin(catalog, &txn);

        if (r < 0)
                return r;
        r = evd_catalog_items_each(&txn, filter, each, ctx);
        evd_catalog_read_end(&txn);
        return r;
}
