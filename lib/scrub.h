/* scrub: the fixity check. A background thread re-hashes every stored object on a
 * schedule ([scrub] interval), at a capped rate, yielding while recordings are being
 * copied, so that silent damage is found while it can still be repaired from another
 * copy. Progress survives restarts (META "scrub"); each batch records the items'
 * "checked_at" with one audit entry; a mismatch or a missing object is an alarm: an
 * audit entry "scrub.alarm" and an entry in META "scrub_alarms" that status shows
 * until a later check finds the object whole again. */
#ifndef EVD_SCRUB_H
#define EVD_SCRUB_H

#include <jansson.h>
#include <stdbool.h>

#include "catalog.h"
#include "conf.h"
#include "store.h"

#define EVD_SCRUB_BATCH 64
#define EVD_SCRUB_ALARMS_MAX 1000

struct evd_scrub;

/* Start the thread (nothing runs when conf says off). busy(userdata) is asked before
 * each object; while it is true the scrub waits. Borrowed pointers must outlive it. */
int evd_scrub_start(struct evd_store *store, struct evd_catalog *catalog,
                    const struct evd_conf *conf, bool (*busy)(void *), void *userdata,
                    struct evd_scrub **ret, struct evd_err *err);

/* Stop and join the thread, free; accepts NULL. */
void evd_scrub_stop(struct evd_scrub *scrub);

/* {enabled, running, last_pass_done, checked_this_pass, alarms[]} (caller owns). */
json_t *evd_scrub_status(struct evd_scrub *scrub, struct evd_catalog *catalog);

/* Item id is whole again (repaired): drop its alarm. In a write transaction. */
int evd_scrub_alarm_clear(struct evd_txn *txn, uint64_t id);

/* Another check (verify --store) found item check.id's object damaged or missing:
 * fixity "damaged" on the item and check (borrowed; {id, sha256, ok, error}, gets
 * "time") in the alarms status shows, until a repair or a later check clears it. */
int evd_scrub_mark_damaged(struct evd_txn *txn, json_t *check);

/* META "restore_pending" ({since, objects}): set by `restore --from-remote
 * --metadata-only` in its own transaction, cleared by the `--objects` run that leaves
 * nothing missing. While it is set an absent object is one still to come from the
 * archive, not damage: verify --store lists it apart and neither it nor the scrub
 * records damage for it (an object present but wrong is damage all the same). */
#define EVD_RESTORE_PENDING_KEY "restore_pending"

/* Whether the marker is set (status reads its count and time itself). */
bool evd_scrub_restore_pending(struct evd_catalog *catalog);

#endif
