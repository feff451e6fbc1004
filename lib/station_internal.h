/* station_internal: what the station's command files (station.c, cmd_*.c) share.
 * Not for use outside the station. */
#ifndef EVD_STATION_INTERNAL_H
#define EVD_STATION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "args.h"
#include "calendar.h"
#include "scrub.h"
#include "station.h"

#define IMPORTS_MAX 32

/* cmd_keys.c: the signing key and certificate of conf ([signing], or the station's own
 * in STATE_DIR/keys/); *ret (evd_keys_free) only on success. */
struct evd_keys;
int evd_station_keys_load(const struct evd_conf *conf, struct evd_keys **ret, struct evd_err *err);

/* For status: {key, cert, fingerprint, subject} (caller owns); a warning goes into
 * warnings (may be NULL) when there is no usable key. */
json_t *evd_station_signing_status(const struct evd_conf *conf, json_t *warnings);

/* An import in progress, for status and for its waiting request. */
struct import {
        struct evd_ingest_job *job;
        char dir[EVD_PATH_MAX];
        bool done;
        pthread_cond_t done_cond;
};

struct evd_docks; /* dock.h */

struct evd_station {
        pthread_mutex_t lock; /* conf, imports */
        struct evd_conf conf;
        struct evd_store *store;
        struct evd_catalog *catalog;
        struct evd_ingest *ingest;
        struct evd_calendar *calendar; /* loaded at start; a reload keeps it */
        struct evd_scrub *scrub;       /* NULL when [scrub] interval = off */
        atomic_bool cancel_exports;    /* set at stop: running exports give up */
        atomic_int exports_running;    /* each holds a pool thread: bounded */
        struct import *imports[IMPORTS_MAX];
        struct evd_docks *docks; /* set by evd_docks_new, cleared by evd_docks_free */
        bool stopping;
};

/* Look for gaps in recorder's file numbering again (after an ingest or a note). */
void evd_station_sequence_check(struct evd_station *s, const char *recorder);

/* An item by id ("17") or sha256 prefix (12+ hex digits), with err saying why not. */
int evd_resolve_item(struct evd_txn *txn, const char *ref, uint64_t *ret_id, struct evd_err *err);

/* Commands of cmd_records.c (the evd_control_command run signature). */
#define EVD_CMD(name)                                                                              \
        int name(void *ud, struct evd_request *req, const json_t *args, json_t **ret,              \
                 struct evd_err *err)
EVD_CMD(evd_cmd_recorder_add);
EVD_CMD(evd_cmd_recorder_assign);
EVD_CMD(evd_cmd_recorder_list);
EVD_CMD(evd_cmd_label);
EVD_CMD(evd_cmd_note);
EVD_CMD(evd_cmd_hold);
EVD_CMD(evd_cmd_release);
EVD_CMD(evd_cmd_evidence);
EVD_CMD(evd_cmd_export);    /* cmd_export.c */
EVD_CMD(evd_cmd_keys_init); /* cmd_keys.c */
EVD_CMD(evd_cmd_access);
EVD_CMD(evd_cmd_access_log);
EVD_CMD(evd_cmd_purge);
EVD_CMD(evd_cmd_report);
EVD_CMD(evd_cmd_replicated);  /* cmd_replication.c */
EVD_CMD(evd_cmd_replication); /* cmd_replication.c */

/* cmd_replication.c: {enabled, pending, pending_bytes, oldest_pending_s, ...} (caller
 * owns); an alarm past alarm_after also goes into warnings (may be NULL). */
#define EVD_S3_VERSION_LEN 256
json_t *evd_station_replication_status(struct evd_station *s, const struct evd_conf *conf,
                                       bool with_items, json_t *warnings);

#endif
