#include "backlog.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "util.h"

/* Is (flag, pos) in by_flag? */
static int has(struct evd_txn *txn, const char *flag, uint8_t pos[EVD_CATALOG_POS_LEN])
{
        MDB_val k = { strlen(flag), (void *)flag }, v = { EVD_CATALOG_POS_LEN, pos };
        MDB_cursor *cur;
        int rc;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_FLAG), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH);
        mdb_cursor_close(cur);
        return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : evd_mdb_errno(rc);
}

/* Put (flag, pos) in by_flag or take it out; returns 1 when that changed anything. */
static int set(struct evd_txn *txn, const char *flag, uint8_t pos[EVD_CATALOG_POS_LEN], bool on)
{
        MDB_val k = { strlen(flag), (void *)flag }, v = { EVD_CATALOG_POS_LEN, pos };
        int was = has(txn, flag, pos), r;

        if (was < 0 || was == on)
                return was < 0 ? was : 0;
        r = on ? evd_txn_put(txn, EVD_DB_BY_FLAG, &k, &v, 0)
               : evd_txn_del(txn, EVD_DB_BY_FLAG, &k, &v);
        return r < 0 ? r : 1;
}

static int note_item(struct evd_txn *txn, uint64_t id, const json_t *item, const json_t *rec)
{
        const char *at = json_string_value(json_object_get(item, "ingested_at"));
        const char *state = json_string_value(json_object_get(rec, "state"));
        bool pending = !state || (strcmp(state, "confirmed") != 0 && strcmp(state, "purged") != 0);
        int64_t size = (int64_t)json_integer_value(json_object_get(item, "size")), t = 0;
        uint8_t pos[EVD_CATALOG_POS_LEN];
        int r;

        if (!at || evd_time_parse(at, &t) < 0)
                t = 0;
        evd_catalog_pos_put(pos, t, id);
        r = set(txn, EVD_BACKLOG_FLAG, pos, pending);
        if (r == 1)
                r = evd_catalog_counter_add(txn, EVD_BACKLOG_BYTES, pending ? size : -size, NULL);
        if (r >= 0)
                r = set(txn, EVD_BACKLOG_FAILING, pos,
                        json_is_string(json_object_get(rec, "last_error")));
        return r < 0 ? r : 0;
}

int evd_backlog_note(struct evd_txn *txn, uint64_t id, const json_t *rec)
{
        json_t *item = NULL;
        int r = evd_catalog_item_get(txn, id, &item);

        if (r == 0)
                r = note_item(txn, id, item, rec);
        json_decref(item);
        return r;
}

struct fill {
        struct evd_txn *txn;
        int r;
};

static int fill_each(json_t *item, void *p)
{
        struct fill *f = p;
        uint64_t id = (uint64_t)json_integer_value(json_object_get(item, "id"));
        char key[24];
        json_t *rec = NULL;

        (void)snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
        if (evd_catalog_json_get(f->txn, EVD_DB_REPLICATION, key, &rec) < 0)
                rec = NULL;
        f->r = note_item(f->txn, id, item, rec);
        json_decref(rec);
        return f->r;
}

static int fill_txn(struct evd_txn *txn, void *unused)
{
        MDB_val k = { strlen(EVD_BACKLOG_READY), EVD_BACKLOG_READY }, v;
        struct evd_item_filter all = { 0 };
        struct fill f = { .txn = txn };
        uint8_t one[8];
        int r;

        (void)unused;
        if (mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &k, &v) == 0)
                return 0;
        r = evd_catalog_items_each(txn, &all, fill_each, &f);
        if (r < 0)
                return r;
        evd_be64_put(one, 1);
        v = (MDB_val){ sizeof(one), one };
        return evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
}

int evd_backlog_ready(struct evd_catalog *catalog, struct evd_err *err)
{
        return evd_catalog_write(catalog, fill_txn, NULL, err);
}

/* How many entries flag has, and the first one's time. */
static int flag_count(struct evd_txn *txn, const char *flag, uint64_t *ret_n, int64_t *ret_first)
{
        MDB_val k = { strlen(flag), (void *)flag }, v;
        MDB_cursor *cur;
        size_t n = 0;
        int rc;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_FLAG), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (rc == 0)
                rc = mdb_cursor_count(cur, &n);
        if (rc == 0 && ret_first && v.mv_size == EVD_CATALOG_POS_LEN)
                *ret_first = evd_catalog_pos_time(v.mv_data);
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
                return evd_mdb_errno(rc);
        *ret_n = n;
        return 0;
}

int evd_backlog_get(struct evd_txn *txn, struct evd_backlog *ret)
{
        MDB_val k = { strlen(EVD_BACKLOG_BYTES), EVD_BACKLOG_BYTES }, v;
        struct evd_backlog b = { 0 };
        MDB_stat st;
        int r;

        r = evd_mdb_errno(mdb_stat(txn->txn, evd_txn_dbi(txn, EVD_DB_ITEMS), &st));
        if (r == 0)
                r = flag_count(txn, EVD_BACKLOG_FLAG, &b.pending, &b.oldest);
        if (r == 0)
                r = flag_count(txn, EVD_BACKLOG_FAILING, &b.failing, NULL);
        if (r < 0)
                return r;
        b.items = st.ms_entries;
        if (b.pending && mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &k, &v) == 0 &&
            v.mv_size == 8)
                b.pending_bytes = evd_be64_get(v.mv_data);
        *ret = b;
        return 0;
}
