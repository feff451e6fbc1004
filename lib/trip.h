/* trip: field work that moves storage deadlines (第二十五条 third paragraph). Where a
 * handler or a recorder is on continuous work, away from the office or in a remote area
 * and cannot hand recordings over in time, what is recorded during the trip is due by
 * the end of the first working day after the return (or by the usual deadline, if that
 * is later: evd_policy_deadline).
 *
 * Trips live in the catalogue's META under "trips" as one JSON list of
 * {id, handler_id | recorder, from, to, kind, note, returned, added_at, added_by,
 * after_the_fact}: from, to and returned are local dates YYYY-MM-DD; after_the_fact is
 * true when the trip was entered after its first day (allowed, and counted by the
 * report). evd_trip_refresh moves the deadlines a change of trips affects, each move
 * audited. */
#ifndef EVD_TRIP_H
#define EVD_TRIP_H

#include <jansson.h>

#include "audit.h"
#include "calendar.h"
#include "catalog.h"
#include "conf.h"
#include "policy.h"

#define EVD_TRIPS_MAX 4096    /* trips kept in all */
#define EVD_TRIP_MATCH_MAX 16 /* trips one recording may fall in */

/* The trips in txn, a list (caller owns; empty when there are none). */
int evd_trip_list(struct evd_txn *txn, json_t **ret);

/* Store the list (borrowed) in txn. */
int evd_trip_store(struct evd_txn *txn, const json_t *trips);

/* The instants a trip (borrowed) covers and its return day, into *ret; -EINVAL for a
 * broken record. */
int evd_trip_span(const json_t *trip, struct evd_policy_trip *ret);

/* The local day YYYY-MM-DD at hour:00:00 into *ret; -EINVAL for a bad date. */
int evd_trip_local(const char *date, int hour, int64_t *ret);

/* The deadline of item (borrowed) under conf, cal (may be NULL) and trips (borrowed),
 * into *ret: trips match on the item's recorder or its labels' handler_id or handler. */
int evd_trip_item_deadline(const json_t *trips, const json_t *item, const struct evd_conf *conf,
                           const struct evd_calendar *cal, struct evd_policy_deadline *ret);

/* Recompute the deadlines of the items recorded between since and until (and those of
 * recorder, when not NULL: then the time range is ignored) in txn; each item whose
 * deadline or rule changes is stored with an "item.deadline" audit entry by actor. The
 * ids moved are appended to moved (may be NULL). */
int evd_trip_refresh(struct evd_txn *txn, const struct evd_conf *conf,
                     const struct evd_calendar *cal, const char *recorder, int64_t since,
                     int64_t until, const struct evd_actor *actor, json_t *moved);

#endif
