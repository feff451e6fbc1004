/* The archive's backlog: the items the central archive has not confirmed, kept as
 * the catalogue changes so that status answers from it without reading every item.
 * A new item joins it when catalogued (catalog.c); a replication record written for
 * an item (cmd_replication.c) moves it in or out. The set is in the catalogue's
 * by_flag index; its keys and counters are named in catalog.h. */
#ifndef EVIDOCK_BACKLOG_H
#define EVIDOCK_BACKLOG_H

#include <jansson.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"

struct evd_backlog {
        uint64_t items;         /* every item in the catalogue */
        uint64_t pending;       /* not confirmed by the archive */
        uint64_t pending_bytes; /* their sizes' sum */
        int64_t oldest;         /* ingested_at of the oldest pending item; 0 none */
        uint64_t failing;       /* items whose last replication attempt failed */
};

/* Fill the set from the items and their replication records when the catalogue
 * predates it (one write transaction, a pass over every item); a no-op after. */
int evd_backlog_ready(struct evd_catalog *catalog, struct evd_err *err);

/* After item id's replication record rec (borrowed) is written in txn: the item is
 * pending unless rec's state is "confirmed" (or "purged": an item purged before
 * it was copied, whose record alone went up), failing while rec has a last_error. */
int evd_backlog_note(struct evd_txn *txn, uint64_t id, const json_t *rec);

/* The backlog's figures, from the set's own entries. */
int evd_backlog_get(struct evd_txn *txn, struct evd_backlog *ret);

#endif
