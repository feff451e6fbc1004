/* sequence: gaps in a recorder's file numbering. Where a recorder numbers its files
 * ([ingest] sequence_pattern), a number missing between two stored clips of one folder
 * means a recording may have been deleted or never made: 第七条 asks for every
 * interruption to be explained. Each gap is flagged on both neighbouring items
 * ("sequence_gaps") and kept in META "sequence_gaps" for status until a note on either
 * neighbour explains it. */
#ifndef EVD_SEQUENCE_H
#define EVD_SEQUENCE_H

#include "audit.h"

/* A clip recorded this much (seconds) before the clip numbered ahead of it makes its
 * clock suspect. */
#define EVD_SEQUENCE_CLOCK_BACK 3600
#include "catalog.h"

/* Recompute recorder's gaps in txn with pattern (a regex whose group 1 is the number;
 * "" does nothing), updating the items whose flags changed (audited) and META.
 * *ret_gaps (may be NULL) gets the number of gaps. */
int evd_sequence_check(struct evd_txn *txn, const char *recorder, const char *pattern,
                       const struct evd_actor *actor, int *ret_gaps);

/* Unexplained gaps of every recorder (caller owns): [{recorder, folder, missing_from,
 * missing_to, before_id, after_id}]. */
json_t *evd_sequence_unexplained(struct evd_txn *txn);

#endif
