/* catalog scan: every item record in id order, for the passes that read the whole
 * catalogue (verify, purge, the replicator's batches): records offered as their
 * stored text first (evd_catalog_items_each_quick), or decoded a bounded number at a
 * time from an id on (evd_catalog_items_from). Kept apart from catalog.c, which
 * holds the catalogue's transactions and indexes. */
#include <errno.h>
#include <lmdb.h>

#include "catalog.h"
#include "item_record.h"

int evd_catalog_items_each_quick(struct evd_txn *txn,
                                 int (*quick)(const char *text, size_t n, void *ctx),
                                 int (*each)(json_t *item, void *ctx), void *ctx)
{
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_ITEMS), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *item;

                r = quick(v.mv_data, v.mv_size, ctx);
                if (r != EVD_CATALOG_PARSE)
                        continue;
                item = evd_item_record_decode(v.mv_data, v.mv_size);
                if (!item) {
                        r = -EBADMSG;
                        break;
                }
                r = each(item, ctx);
                json_decref(item);
        }
        mdb_cursor_close(cur);
        return r < 0 ? r : 0;
}

int evd_catalog_items_from(struct evd_txn *txn, uint64_t from_id, size_t max,
                           int (*each)(json_t *item, void *ctx), void *ctx, uint64_t *ret_next)
{
        uint8_t key[8];
        MDB_cursor *cur;
        MDB_val k = { 8, key }, v;
        uint64_t next = 0;
        size_t n = 0;
        int rc, r = 0;

        evd_be64_put(key, from_id);
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_ITEMS), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *item;

                if (n == max) {
                        next = evd_be64_get(k.mv_data);
                        break;
                }
                item = evd_item_record_decode(v.mv_data, v.mv_size);
                if (!item) {
                        r = -EBADMSG;
                        break;
                }
                r = each(item, ctx);
                json_decref(item);
                n++;
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (ret_next)
                *ret_next = next;
        return 0;
}
