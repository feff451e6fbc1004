/* item: a stored recording as the catalog keeps it: one JSON object with the field
 * names of the command contract (DESIGN.md), built here and nowhere else.
 *
 * One item per distinct content: the same bytes found again (another path or
 * recorder) are recorded in the item's "occurrences", not stored twice. */
#ifndef EVD_ITEM_H
#define EVD_ITEM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "conf.h"
#include "original.h"
#include "util.h"

/* Set obj[key] to the path bytes: the exact string when they are valid UTF-8,
 * otherwise an escaped display form plus obj[key + "_b64"] holding the exact bytes. */
int evd_item_set_path(json_t *obj, const char *key, const char *bytes, size_t len);

/* A new item (caller owns) for an original just stored from recorder; NULL on
 * out-of-memory. media (borrowed, may be NULL) is the probe of the stored copy. The
 * recording time comes from the container's creation time, else the file name
 * (conf's filename_time_patterns, station local time), else the file's mtime, and
 * "time_source" says which. The deadline counts conf's deadline_working_days in cal
 * (borrowed, may be NULL: Monday-Friday). The id is assigned by the catalog. */
json_t *evd_item_new(const char *recorder, const struct evd_original *orig,
                     const uint8_t sha256[EVD_SHA256_LEN], uint64_t size, int64_t now,
                     const struct evd_conf *conf, const struct evd_calendar *cal,
                     const json_t *media);

/* The recording time in a file name per pattern ("YYYYMMDD_HHMMSS": YYYY year, the MM
 * after YYYY month, DD day, HH hour, the MM after HH minute, SS second, anything else
 * literal), found anywhere in the base name, as local time. -ENOENT when absent. */
int evd_item_filename_time(const char *name, size_t len, const char *pattern, int64_t *ret);

/* An occurrence record {recorder, original_path, size, mtime, seen_at} (caller owns). */
json_t *evd_item_occurrence(const char *recorder, const struct evd_original *orig, int64_t now);

/* Whether recorder + path are the item's first occurrence or one of its others. */
bool evd_item_has_occurrence(const json_t *item, const json_t *occurrence);

/* The probe's verdict on the stored copy (media.h: "ok", "truncated", "corrupt",
 * "not-media"), borrowed from item; NULL when it was not probed. */
const char *evd_item_integrity(const json_t *item);

struct evd_txn;

/* A damaged item (truncated, corrupt, not media) waits in the catalogue's list (one
 * META key an item) for a note that says what happened; status warns about each until
 * then. flag adds item when its verdict is not ok; noted takes id off the list;
 * unnoted is the first max of the list in id order ({"id": verdict}, caller owns, an
 * empty object when none or unreadable) with how many there are in *ret_total. */
int evd_item_integrity_flag(struct evd_txn *txn, const json_t *item);
int evd_item_integrity_noted(struct evd_txn *txn, uint64_t id);
json_t *evd_item_integrity_unnoted(struct evd_txn *txn, size_t max, size_t *ret_total);

/* Bytes of new items stored per UTC day, the last 14 days kept: add counts size at now;
 * rate is the mean per day over the days days before now (0 when none). */
int evd_item_daily_add(struct evd_txn *txn, int64_t now, uint64_t size);
uint64_t evd_item_daily_rate(struct evd_txn *txn, int64_t now, int days);

#endif
