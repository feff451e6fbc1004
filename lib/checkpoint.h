/* checkpoint: signed seals over the audit log.
 *
 * Every EVD_CHECKPOINT_ENTRIES entries or EVD_CHECKPOINT_MINUTES minutes the daemon
 * signs the last entry's seq and hash with the station key (a detached CMS signature,
 * as on discs) and stores the checkpoint in the catalogue, with an audit entry
 * "audit.checkpoint", and in the journal. The chain alone shows an edited entry only
 * while its successors are left alone; a checkpoint also catches history rewritten
 * and re-chained, or cut short, before it: the entry it names must still be there with
 * the hash it signed. Copies of the checkpoints kept elsewhere (the journal, a remote
 * tier) catch checkpoints deleted with the log. */
#ifndef EVD_CHECKPOINT_H
#define EVD_CHECKPOINT_H

#include <jansson.h>
#include <openssl/types.h>
#include <stdbool.h>

#include "audit.h"
#include "catalog.h"
#include "keys.h"

#define EVD_CHECKPOINT_ENTRIES 1000
#define EVD_CHECKPOINT_MINUTES 60

/* Whether a checkpoint is due now: new entries since the last one, and either
 * EVD_CHECKPOINT_ENTRIES of them or EVD_CHECKPOINT_MINUTES since it (force: any new
 * entry at all). */
bool evd_checkpoint_due(struct evd_catalog *catalog, int64_t now, bool force);

/* Sign the audit log's head and store the checkpoint with its audit entry. *ret
 * (caller owns, may be NULL) gets {seq, head, time, cert_sha256}. */
int evd_checkpoint_make(struct evd_catalog *catalog, const struct evd_keys *keys,
                        const char *station, const struct evd_actor *actor, json_t **ret,
                        struct evd_err *err);

/* The text a checkpoint record ({station, seq, head, time}) signs, into out (n bytes):
 * what `openssl cms -verify -binary -content` checks its signature over. */
int evd_checkpoint_text_of(const json_t *cp, char *out, size_t n);

/* Check every checkpoint in txn against cert (borrowed; NULL: signatures are not
 * checked, only the hashes): its signature over its text, and that the audit entry it
 * names exists with the hash it sealed. *ret_count and *ret_latest get the number of
 * checkpoints and the latest one's seq. -EBADMSG naming the first bad one. */
int evd_checkpoint_verify(struct evd_txn *txn, X509 *cert, uint64_t *ret_count,
                          uint64_t *ret_latest, struct evd_err *err);

/* The seals as the log must show them. Every "audit.checkpoint" entry must have its
 * signed record and every record its entry (with the same head); once the station is
 * sealing (from its first "keys.created" or checkpoint entry, or from the first entry
 * when key_expected), no stretch of the log may run past EVD_CHECKPOINT_SLACK_ENTRIES
 * entries, and the unsealed tail not past EVD_CHECKPOINT_SLACK_MINUTES of entry times,
 * without a checkpoint. *ret_sealing says whether the station is sealing. -EBADMSG
 * naming the first problem. One streaming pass: only checkpoint and key entries are
 * parsed. */
#define EVD_CHECKPOINT_SLACK_ENTRIES (2 * EVD_CHECKPOINT_ENTRIES) /* the timer's lag */
#define EVD_CHECKPOINT_SLACK_MINUTES (2 * EVD_CHECKPOINT_MINUTES)
int evd_checkpoint_verify_log(struct evd_txn *txn, bool key_expected, bool *ret_sealing,
                              struct evd_err *err);

/* Every checkpoint, oldest first: [{seq, head, time, cert_sha256, signature}] (caller
 * owns), for copies kept away from the station (evidockctl audit checkpoints). */
int evd_checkpoint_list(struct evd_txn *txn, json_t **ret);

/* Each anchor ({seq, head}: a checkpoint kept elsewhere) must still be in the log:
 * entry seq with hash head. -EBADMSG naming the first that is not. */
int evd_checkpoint_check_anchors(struct evd_txn *txn, const json_t *anchors, struct evd_err *err);

#endif
