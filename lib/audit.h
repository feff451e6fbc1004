/* audit: the append-only, hash-chained log of everything the station does.
 *
 * Each entry is {seq, time, actor{uid,name}, event, subject, details, prev, hash}:
 * seq counts from 1 without gaps; prev is the previous entry's hash (64 zeros for
 * the first); hash is SHA-256 over the canonical encoding of the entry without
 * "hash" (compact JSON, keys sorted, ASCII only). Entries live in the catalog's
 * environment and are appended inside the same write transaction as the change they
 * record (invariant 2), so one never commits without the other. */
#ifndef EVD_AUDIT_H
#define EVD_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"

#define EVD_ACTOR_NAME_MAX 64
#define EVD_AUDIT_SUBJECT_MAX 32 /* "item:" and any 64-bit id, with room */
#define EVD_AUDIT_EVENT_MAX 64   /* an event name's length */
#define EVD_AUDIT_EVENTS_MAX 16  /* events one evd_audit_each_event looks for */

/* Who did it: a unix user through the control socket, or the station itself. */
struct evd_actor {
        uint32_t uid;
        char name[EVD_ACTOR_NAME_MAX];
};

/* Append an entry in txn (a write transaction). details (borrowed, may be NULL) must
 * hold no real numbers. *ret_seq (may be NULL) gets the entry's number. */
int evd_audit_append(struct evd_txn *txn, const struct evd_actor *actor, const char *event,
                     const char *subject, const json_t *details, uint64_t *ret_seq);

/* The subject of an entry about item id: "item:ID", in buf. */
void evd_audit_item_subject(char buf[static EVD_AUDIT_SUBJECT_MAX], uint64_t id);

/* The hash an entry should carry: SHA-256 of its canonical encoding without "hash". */
int evd_audit_entry_hash(const json_t *entry, uint8_t out[EVD_SHA256_LEN]);

/* The last entry's seq and hash (seq 0 and zeros when the log is empty). */
int evd_audit_head(struct evd_txn *txn, uint64_t *ret_seq, uint8_t ret_hash[EVD_SHA256_LEN]);

/* Recompute the chain from the first entry. On success *ret_count is the number of
 * entries; on the first bad entry -EBADMSG and err names it and says what is wrong. */
int evd_audit_verify(struct evd_txn *txn, uint64_t *ret_count, struct evd_err *err);

/* Call each(entry, ctx) for entries with seq >= from_seq and time >= since (borrowed,
 * valid during the call); each returns 0 to go on, >0 to stop, <0 on error. */
int evd_audit_each(struct evd_txn *txn, uint64_t from_seq, int64_t since,
                   int (*each)(json_t *entry, void *ctx), void *ctx);

/* evd_audit_each for the entries whose event is one of events[0..n_events) only
 * (at most EVD_AUDIT_EVENTS_MAX, else -E2BIG); the others are passed over without
 * being parsed, which makes a scan for a few kinds of entry several times faster than
 * parsing each. */
int evd_audit_each_event(struct evd_txn *txn, uint64_t from_seq, int64_t since,
                         const char *const *events, size_t n_events,
                         int (*each)(json_t *entry, void *ctx), void *ctx);

/* The log backward: each(entry, ctx) for entries with seq < before_seq (every entry
 * when before_seq is past the last) and time >= since, newest first; events (NULL:
 * any, else n_events of them as for evd_audit_each_event) picks the kinds. */
int evd_audit_each_back(struct evd_txn *txn, uint64_t before_seq, int64_t since,
                        const char *const *events, size_t n_events,
                        int (*each)(json_t *entry, void *ctx), void *ctx);

/* evd_audit_each (every seq, any time) for entries whose subject may be "item:ID" for
 * an ID in ids[0..n_ids) (in any order): those certainly about other items, or
 * about no item, are passed over unparsed. each sees every entry about these items,
 * and may see a few more (it checks the subject itself). */
int evd_audit_each_item(struct evd_txn *txn, const uint64_t *ids, size_t n_ids,
                        int (*each)(json_t *entry, void *ctx), void *ctx);

/* Entry seq into *ret (json_decref): -ENOENT when there is none, -EBADMSG when it is
 * not JSON. */
int evd_audit_get(struct evd_txn *txn, uint64_t seq, json_t **ret);

/* The time index, for scans of a period (the report): entries are appended in time
 * order except where the clock was set back, so the log is a few stretches each in
 * time order. As entries are appended, META notes each one whose time is before its
 * predecessor's, and each station.started and station.stopped; META
 * EVD_AUDIT_TIMES_KEY holds the seq (8 bytes, big-endian) the notes are complete
 * through. It starts with the first entry and goes on only from the entry before: a
 * log begun before the index, restored from a backup, or appended to by an older
 * evidockd has none or a stale one, and is read whole. */
#define EVD_AUDIT_TIMES_KEY "audit_times"

/* *ret_first: the first seq whose time is at or after from (the head's seq + 1 when
 * none is); *ret_last: the last seq whose time is at or before to (0 when none is); the
 * entries before ret_first are all before from, those after ret_last all after to.
 * -ENOENT when the log has no complete time index (scan it all), -EBADMSG when an entry
 * has no time. */
int evd_audit_span(struct evd_txn *txn, int64_t from, int64_t to, uint64_t *ret_first,
                   uint64_t *ret_last);

/* The station.started or station.stopped entry nearest to seq whose time parses: the
 * last one before seq (back) or the first one after it; *ret (caller owns) set only on
 * success, -ENOENT when there is none. Only with the time index. */
int evd_audit_run_near(struct evd_txn *txn, uint64_t seq, bool back, json_t **ret);

/* evd_audit_each in a read snapshot of its own. */
int evd_audit_each_snapshot(struct evd_catalog *catalog, uint64_t from_seq, int64_t since,
                            int (*each)(json_t *entry, void *ctx), void *ctx);

#endif
