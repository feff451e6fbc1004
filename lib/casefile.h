/* casefile: what the station knows of a case file (案卷, 第二十五条 first paragraph):
 * when the enforcement act ended, the file's due date 30 days later, and its archive
 * reference once formed; and the coverage of the case's recordings on one time axis,
 * stage by stage (第十七条: recorded without interruption).
 *
 * Records live in META under "case:" + the case number, as {case_no, ended, due,
 * closed_at, closed_by, filed_ref, filed_at, filed_by}; ended and due are local dates.
 * A case with labelled items and no record is open. */
#ifndef EVD_CASEFILE_H
#define EVD_CASEFILE_H

#include <jansson.h>
#include <stdint.h>

#include "catalog.h"

#define EVD_CASEFILE_DAYS 30 /* from the act's end to the file's due date */

/* The record of case_no; *ret (caller owns) only on success, -ENOENT when none. */
int evd_casefile_get(struct evd_txn *txn, const char *case_no, json_t **ret);

/* Store rec (borrowed) under its case_no. */
int evd_casefile_put(struct evd_txn *txn, const json_t *rec);

/* each(rec, ctx) for every case record (borrowed during the call), in case number
 * order; each returns 0 to go on, >0 to stop, <0 on error (returned). Only cases
 * closed or filed have a record: it reads those, not the items. */
int evd_casefile_each_record(struct evd_txn *txn, int (*each)(const json_t *rec, void *ctx),
                             void *ctx);

/* The case numbers known, from the records and the items' labels, sorted, without
 * repeats (caller owns). */
int evd_casefile_numbers(struct evd_txn *txn, json_t **ret);

/* "open", "closed", "filed" or "overdue" (closed, not filed, past the end of its due
 * day at now) for rec (borrowed, may be NULL: open). */
const char *evd_casefile_state(const json_t *rec, int64_t now);

/* The timeline of a case's items (borrowed list): {clips: [{id, start, end, stage,
 * recorder, handler, lane}] by start, lanes counting from 0 so that overlapping clips
 * sit side by side; gaps: [{stage, after_id, before_id, from, to, seconds, explained}]
 * for every hole longer than tolerance seconds between the end (start + duration) of
 * one clip and the start of the next within one stage, explained when either clip
 * has a note}. Caller owns; NULL without memory. */
json_t *evd_casefile_timeline(const json_t *items, int64_t tolerance);

/* Work out case_no's unexplained stage gaps again (its clips in the by_case_stage
 * index, catalog_stage.h: no item is read) and keep them in META "stage_gaps" as
 * {case_no: [gap]}, the case dropped when it has none: status and the report read that,
 * never every item. Called in the transaction of every edit that can move a gap (a
 * label, a stage, a note). */
int evd_casefile_stage_check(struct evd_txn *txn, const char *case_no, int64_t tolerance);

/* evd_casefile_stage_check for every case named by a key of cases (borrowed), with one
 * read and at most one write of META "stage_gaps". */
int evd_casefile_stage_recheck(struct evd_txn *txn, const json_t *cases, int64_t tolerance);

/* At start: a catalogue from before by_case_stage was kept (META "stage_index") has
 * its items indexed once, and one from before "stage_gaps" was kept gets it worked out
 * once, case by case; afterwards this reads two keys. */
int evd_casefile_stage_ready(struct evd_catalog *catalog, int64_t tolerance, struct evd_err *err);

/* Every case's unexplained stage gaps, {case_no: [gap]} (caller owns; {} when none). */
json_t *evd_casefile_stage_gaps(struct evd_txn *txn);

#endif
