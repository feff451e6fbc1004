/* catalog_stage: the case index by stage, from which a case's stage gaps (casefile.h) are
 * worked out without reading its items. For every item with a case number, a stage and
 * a recording time, LMDB database by_case_stage holds under the key sha256(case number)
 * (32 bytes) + stage the 25-byte value (start, end, id, noted): start and end as
 * evd_catalog_pos_put keys them (8 bytes each, in time order), the id big-endian, noted
 * 1 when the item has a note. So a case's clips of one stage are one key's values in
 * (start, end, id) order, the order evd_casefile_timeline sorts them in, and a case's
 * stages are the keys under its 32-byte prefix. evd_catalog_item_put keeps it with the
 * other indexes (the old item's entry out, the new one's in: catalog_internal.h). */
#ifndef EVD_CATALOG_STAGE_H
#define EVD_CATALOG_STAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"

#define EVD_CATALOG_STAGE_VAL_LEN 25

/* Index every stored item (a catalogue from before the index: its first start). */
int evd_catalog_stage_build(struct evd_txn *txn);

/* case_no's unexplained stage gaps, in evd_casefile_timeline's order and form, into
 * *ret (caller owns; [] when none): reads the case's entries in the index only. */
int evd_catalog_stage_gaps(struct evd_txn *txn, const char *case_no, int64_t tolerance,
                           json_t **ret);

#endif
