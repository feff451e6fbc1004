/* catalog_internal: what the files of the catalog module share (catalog.c,
 * catalog_*.c): the index entries kept in other files than catalog.c. Every pointer is
 * borrowed for the call. */
#ifndef EVD_CATALOG_INTERNAL_H
#define EVD_CATALOG_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"

/* Add or remove (del) item's by_case_stage entry (catalog_stage.h); nothing for an item
 * without a case number, a stage or a recording time. Called by index_item with the
 * other indexes. */
int evd_catalog_stage_index(struct evd_txn *txn, const json_t *item, uint64_t id, bool del);

#endif
