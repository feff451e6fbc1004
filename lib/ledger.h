/* ledger: what the audit log says each item's record must hold.
 *
 * The catalogue's item records are only as good as the log that recorded every change
 * to them: a record edited with the daemon stopped (a hold lifted, a retention date
 * moved earlier) looks like any other. evd_ledger_replay reads the log once, in seq
 * order, and keeps for every item what protects it: whether it was stored, held,
 * marked as evidence, purged, its retain_until and (as a hash) its labels, from the
 * entries that set them ("item.stored" carries the initial state; item.held,
 * item.released, item.evidence, item.labelled, item.noted and item.purged change it;
 * any item.* entry's "retain_until" moves it). Memory is one small slot per item id
 * (about 24 bytes; ids are dense), whatever the log's length: the pass streams. Only
 * entries whose raw text names an "item." event are read, and those from their text
 * (jscan.h) unless it is unusual, when they are parsed.
 *
 * evd_ledger_check then compares one record with the log's account; evd_ledger_missing
 * names items the log stored whose records are gone.
 *
 * Ownership: the ledger belongs to the caller (evd_ledger_free); transactions and
 * items passed in are borrowed. */
#ifndef EVD_LEDGER_H
#define EVD_LEDGER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"

struct evd_ledger;

/* Replay the audit log in txn. *ret only on success. *ret_entries (may be NULL) gets
 * the number of entries read. An entry naming an item beyond the catalogue's last id
 * is counted in the ledger's problems (evd_ledger_problems), not an error. */
int evd_ledger_replay(struct evd_txn *txn, struct evd_ledger **ret, uint64_t *ret_entries,
                      struct evd_err *err);

void evd_ledger_free(struct evd_ledger *ledger);

/* Compare item (a catalogue record) with the log: 0 when they agree; -EBADMSG with
 * why (n bytes) naming the first difference ("hold is false, the audit log says
 * true"). */
int evd_ledger_check(const struct evd_ledger *ledger, const json_t *item, char *why, size_t n);

/* evd_ledger_check on a record's stored bytes rec[0..n), without parsing it: 0 when
 * they certainly agree (rec is then JSON that jansson reads as a record that agrees,
 * its id in *ret_id); 1 when the caller must parse the record and call
 * evd_ledger_check, which names the difference (or finds none). */
int evd_ledger_check_raw(const struct evd_ledger *ledger, const char *rec, size_t n,
                         uint64_t *ret_id);

/* Mark id as seen in the catalogue (evd_ledger_missing reports the others). */
void evd_ledger_seen(struct evd_ledger *ledger, uint64_t id);

/* Append {id, error} to bad for every item the log stored whose record was not
 * seen, and for every problem found while replaying. Returns how many. */
size_t evd_ledger_missing(const struct evd_ledger *ledger, json_t *bad);

#endif
