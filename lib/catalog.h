/* catalog: the station's records in one LMDB environment (STATE_DIR/catalog/).
 *
 * Items are stored as JSON objects with the field names of the command contract
 * (DESIGN.md), keyed by a 64-bit id (the fields most items hold at their first value
 * left out: item_record.h); secondary databases index them by sha256,
 * source (recorder, path, size, mtime), recorder, case number, handler, recording
 * time and flag (unlabeled, late). The recorder, case, handler and flag indexes list
 * each key's items in recording-time order, then id (an item without a recording
 * time first), so that a filtered page is a seek and a walk, whatever the catalogue's
 * size. The audit log (audit.h) lives in the same environment so that a
 * change and its audit entry commit together.
 *
 * Writes go through evd_catalog_write(), which runs a function in a write
 * transaction and commits it durably; when the map is full it aborts, grows the map
 * and runs the function again, so the function must only act through the txn. */
#ifndef EVD_CATALOG_H
#define EVD_CATALOG_H

#include <jansson.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

/* 2: the recorder, case and handler indexes hold (recording time, id), and by_flag
 * lists the unlabeled and the late items; a catalogue of schema 1 is re-indexed when
 * it is opened for writing. 3: item records may leave out fields at their first
 * value (item_record.h); a catalogue of schema 2 is read as it is. */
#define EVD_CATALOG_SCHEMA 3

enum evd_db {
        EVD_DB_META,
        EVD_DB_ITEMS,
        EVD_DB_BY_SHA,
        EVD_DB_BY_SOURCE,
        EVD_DB_BY_RECORDER,
        EVD_DB_BY_CASE,
        EVD_DB_BY_HANDLER,
        EVD_DB_BY_TIME,
        EVD_DB_AUDIT,
        EVD_DB_RECORDERS,
        EVD_DB_DOCKS,
        EVD_DB_CHECKPOINTS,
        EVD_DB_REPLICATION,   /* item id (decimal) -> its copy in the archive (replicate.h) */
        EVD_DB_ACCOUNTS,      /* web console sign-in accounts by name (cmd_user.c) */
        EVD_DB_BY_FLAG,       /* "unlabeled" / "late" -> (recording time, id) */
        EVD_DB_BY_CASE_STAGE, /* (case, stage) -> (start, end, id, noted): catalog_stage.h */
        EVD_DB_COUNT,
};

struct evd_catalog;

/* A transaction: read-only from evd_catalog_read_begin, or the write transaction
 * handed to an evd_catalog_write function. */
struct evd_txn {
        struct evd_catalog *catalog;
        MDB_txn *txn;
        bool write;
        bool map_full; /* a put hit MDB_MAP_FULL: grow and run again */
};

#define EVD_CATALOG_MAP_INITIAL (64ull << 20)
#define EVD_CATALOG_MAP_MAX (1ull << 40)

/* Open (creating) the environment in dir with a map of map_bytes (0: the default;
 * it grows by doubling when full). *ret set only on success. */
int evd_catalog_open(const char *dir, uint64_t map_bytes, struct evd_catalog **ret,
                     struct evd_err *err);

/* Open an environment that evidockd keeps, read-only, from another process
 * (evidock-replicate): nothing is created or written but LMDB's reader table. Every
 * database must exist already. Writes through it fail. */
int evd_catalog_open_readonly(const char *dir, struct evd_catalog **ret, struct evd_err *err);

/* Close; accepts NULL. No transaction may be open. */
void evd_catalog_free(struct evd_catalog *catalog);

/* A read-only snapshot; end it with evd_catalog_read_end. Do not call
 * evd_catalog_write from the same thread while it is open. */
int evd_catalog_read_begin(struct evd_catalog *catalog, struct evd_txn *ret);
void evd_catalog_read_end(struct evd_txn *txn);

/* Whether the catalogue failed for good: LMDB refuses every transaction (MDB_PANIC)
 * after a failed write of its meta page, until the catalogue is opened again. A
 * short read transaction of its own tells. */
bool evd_catalog_failed(struct evd_catalog *catalog);

/* Run fn(txn, ctx) in a write transaction and commit it durably. fn returns 0 to
 * commit, <0 to abort (that value is returned). err is filled on failure. */
int evd_catalog_write(struct evd_catalog *catalog, int (*fn)(struct evd_txn *, void *), void *ctx,
                      struct evd_err *err);

/* evd_catalog_write, but durable together with the writes other threads make at the
 * same moment: while one batch commits, the writes that arrive wait and go in the
 * next, one transaction and one sync for all of them (small files, many copies at
 * once). Each fn runs in a nested transaction of its own: one that fails (<0) leaves
 * the others. Returns only after the batch holding this write is committed (or it
 * failed): a caller acknowledges nothing that could still be lost. fn must act only
 * through the txn (it may run again when the map grows). */
int evd_catalog_write_grouped(struct evd_catalog *catalog, int (*fn)(struct evd_txn *, void *),
                              void *ctx, struct evd_err *err);

/* For tests: fn(userdata, writes) runs on the committing thread after each group
 * commit, before any of its writers returns (kill -9 there: committed, unanswered).
 * Set before any write. */
void evd_catalog_set_after_commit(struct evd_catalog *catalog, void (*fn)(void *, size_t),
                                  void *userdata);

/* The raw handles, for modules that keep their own records here (audit). */
MDB_dbi evd_txn_dbi(const struct evd_txn *txn, enum evd_db db);

/* mdb_put / mdb_del through the txn, noting a full map so that the write is retried
 * after the map grows. Return -errno. */
int evd_txn_put(struct evd_txn *txn, enum evd_db db, MDB_val *key, MDB_val *val, unsigned flags);
int evd_txn_del(struct evd_txn *txn, enum evd_db db, MDB_val *key, MDB_val *val);

/* Translate an LMDB code to -errno (MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL -> -ENOSPC). */
int evd_mdb_errno(int rc);

/* Environment size in use, for status. */
int evd_catalog_stat(struct evd_catalog *catalog, uint64_t *ret_items, uint64_t *ret_map_bytes);

/* Keys stored big-endian so that LMDB's byte order is numeric order. */
void evd_be64_put(uint8_t out[8], uint64_t v);
uint64_t evd_be64_get(const uint8_t in[8]);

/* ---- items ---- */

/* Load item id. *ret (caller owns) set only on success; -ENOENT if none. */
int evd_catalog_item_get(struct evd_txn *txn, uint64_t id, json_t **ret);

/* Store item (borrowed). An item whose "id" is missing, null, or names no stored
 * record is new: an id is assigned and set in it. Otherwise the stored version and
 * its index entries are replaced. */
int evd_catalog_item_put(struct evd_txn *txn, json_t *item);

/* The item whose sha256 is hex (full or a unique prefix of at least 12 digits).
 * -ENOENT none, -EEXIST ambiguous prefix. */
int evd_catalog_item_by_sha(struct evd_txn *txn, const char *hex, uint64_t *ret_id);

/* The item an original (recorder, exact path bytes, size, mtime) was stored as. */
int evd_catalog_source_get(struct evd_txn *txn, const char *recorder, const void *path,
                           size_t path_len, uint64_t size, int64_t mtime, uint64_t *ret_id);
int evd_catalog_source_put(struct evd_txn *txn, const char *recorder, const void *path,
                           size_t path_len, uint64_t size, int64_t mtime, uint64_t id);

/* Which items to list; zero/NULL members do not filter. */
struct evd_item_filter {
        const char *case_no;
        const char *recorder;
        const char *handler;
        bool late;      /* stored after its deadline */
        bool unlabeled; /* no case number or party */
        bool overdue;   /* unlabeled and past its deadline */
        bool has_since, has_until;
        int64_t since, until;  /* recorded_at range, inclusive */
        int64_t now;           /* for overdue */
        uint64_t session;      /* items stored by this dock session (0: any) */
        const char *integrity; /* the probe's verdict (media.h), or NULL: any */
};

/* Call each(item, ctx) for every matching item (borrowed item, valid during the call):
 * in recording-time order, then id, when the filter names a recorder, case, handler,
 * flag or since; in id order otherwise. each returns 0 to go on, >0 to stop, <0 on
 * error. Only the index's own entries are read, never every item. */
int evd_catalog_items_each(struct evd_txn *txn, const struct evd_item_filter *filter,
                           int (*each)(json_t *item, void *ctx), void *ctx);

/* evd_catalog_items_each (every item, in id order) for a caller that can often decide
 * on a record's stored text: quick(text, n, ctx) (borrowed, valid during the call)
 * returns as each does, or EVD_CATALOG_PARSE to have the record parsed and passed to
 * each(item, ctx). */
#define EVD_CATALOG_PARSE 2
int evd_catalog_items_each_quick(struct evd_txn *txn,
                                 int (*quick)(const char *text, size_t n, void *ctx),
                                 int (*each)(json_t *item, void *ctx), void *ctx);

/* A page of matching items in recording-time order, then id (whichever index serves
 * the filter), starting after item after_id (0: from the first); each as above.
 * -ENOENT when after_id names no item. */
int evd_catalog_items_page(struct evd_txn *txn, const struct evd_item_filter *filter,
                           uint64_t after_id, int (*each)(json_t *item, void *ctx), void *ctx);

/* evd_catalog_items_each in a read snapshot of its own. */
int evd_catalog_items_snapshot(struct evd_catalog *catalog, const struct evd_item_filter *filter,
                               int (*each)(json_t *item, void *ctx), void *ctx);

/* Call each(item, ctx) for items with id >= from_id in id order, at most max of
 * them; *ret_next (may be NULL) gets the id after the last one seen (0 at the end). */
int evd_catalog_items_from(struct evd_txn *txn, uint64_t from_id, size_t max,
                           int (*each)(json_t *item, void *ctx), void *ctx, uint64_t *ret_next);

/* ---- small records (recorders, docks, meta) ---- */

/* JSON value under a string key in db; *ret set only on success, -ENOENT if none. */
int evd_catalog_json_get(struct evd_txn *txn, enum evd_db db, const char *key, json_t **ret);
int evd_catalog_json_put(struct evd_txn *txn, enum evd_db db, const char *key, const json_t *val);

/* A counter in META: returns the next value (1, 2, ...) and stores it. */
int evd_catalog_next_id(struct evd_txn *txn, const char *name, uint64_t *ret);

/* Add delta to counter name in META (never below 0); *ret (may be NULL) the new value. */
int evd_catalog_counter_add(struct evd_txn *txn, const char *name, int64_t delta, uint64_t *ret);

/* An item's place in the ordered indexes: (a time, id), big-endian, time biased so
 * that byte order is numeric order. */
#define EVD_CATALOG_POS_LEN 16
void evd_catalog_pos_put(uint8_t out[EVD_CATALOG_POS_LEN], int64_t t, uint64_t id);
int64_t evd_catalog_pos_time(const uint8_t pos[EVD_CATALOG_POS_LEN]);

/* The archive's backlog (backlog.h), kept here because a new item joins it at once:
 * BY_FLAG EVD_BACKLOG_FLAG -> (ingested_at, id) of each item the archive has not
 * confirmed, META EVD_BACKLOG_BYTES their sizes' sum, META EVD_BACKLOG_READY set
 * once the set holds every item's state (a catalogue from before it is filled at
 * the station's start). */
#define EVD_BACKLOG_FLAG "unreplicated"
#define EVD_BACKLOG_FAILING "repl_failing"
#define EVD_BACKLOG_BYTES "unreplicated_bytes"
#define EVD_BACKLOG_READY "backlog"

#endif
