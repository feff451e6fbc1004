/* station_internal: what the station's command files (station.c, cmd_*.c) share.
 * Not for use outside the station: nothing else includes this header. */
#ifndef EVD_STATION_INTERNAL_H
#define EVD_STATION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "args.h"
#include "calendar.h"
#include "scrub.h"
#include "station.h"

#define IMPORTS_MAX 32
#define EVD_PROGRESS_INTERVAL_MS 500 /* between progress lines of a long request */

/* The station itself as the actor of its own audit entries. */
extern const struct evd_actor evd_station_actor;

/* An import in progress, for status and for its waiting request. */
struct import {
        struct evd_ingest_job *job;
        char dir[EVD_PATH_MAX];
        bool done;
        pthread_cond_t done_cond;
};

/* cmd_user.c: the web console's sessions and failed sign-ins per client, in memory.
 * *ret (evd_station_users_free) only on success. */
struct evd_users;
int evd_station_users_new(struct evd_users **ret);
void evd_station_users_free(struct evd_users *users);

struct evd_station {
        pthread_mutex_t lock; /* conf, imports */
        struct evd_conf conf;
        struct evd_store *store;
        struct evd_catalog *catalog;
        struct evd_ingest *ingest;
        struct evd_calendar *calendar;   /* loaded at start; a reload keeps it */
        char calendar_dir[EVD_PATH_MAX]; /* installed calendars read ("" with [calendar]) */
        struct evd_scrub *scrub;         /* NULL when [scrub] interval = off; under lock */
        atomic_bool cancel_exports;      /* set at stop: running exports give up */
        atomic_int exports_running;      /* each holds a pool thread: bounded */
        struct import *imports[IMPORTS_MAX];
        struct evd_station_docks docks; /* evd_station_set_docks; zero: none */
        struct evd_users *users;        /* cmd_user.c */
        char repl_line[128];            /* STATUS='s archive lag, under lock (cmd_status.c) */
        uint64_t repl_line_ns;          /* when it was counted (monotonic), under lock */
        bool stopping;
        /* Group commits of the catalogue (catalog.h) and the writes in them, for status. */
        _Atomic uint64_t group_commits, grouped_writes;
};

/* {dir, files_total, files_done, files_failed, bytes_total, bytes_done, files_stored}
 * of an import (cmd_import.c); caller owns. */
json_t *evd_station_import_status(struct import *imp);

/* cmd_calendar.c: s->calendar from [calendar] files, or else the installed calendars,
 * and those calendar import stored; a status warning for a year without one (from
 * November: next year's). */
int evd_station_calendar_load(struct evd_station *s, struct evd_err *err);
void evd_station_calendar_warnings(struct evd_station *s, json_t *warnings);

/* Look for gaps in recorder's file numbering again (after an ingest or a note). */
void evd_station_sequence_check(struct evd_station *s, const char *recorder);

/* An item by id ("17") or sha256 prefix (12+ hex digits), with err saying why not. */
int evd_resolve_item(struct evd_txn *txn, const char *ref, uint64_t *ret_id, struct evd_err *err);

/* A status warning while the purge clock check fails, and the last check's time into
 * clock (an object; may be NULL) (cmd_purge_clock.c). */
void evd_station_purge_clock_warning(struct evd_txn *txn, json_t *warnings, json_t *clock);

/* The commands, one family per cmd_*.c (the evd_control_command run signature). */
#define EVD_CMD(name)                                                                              \
        int name(void *ud, struct evd_request *req, const json_t *args, json_t **ret,              \
                 struct evd_err *err)
EVD_CMD(evd_cmd_status);          /* cmd_status.c */
EVD_CMD(evd_cmd_timezone);        /* cmd_status.c: for clients that show local times */
EVD_CMD(evd_cmd_keys_show);       /* cmd_keys.c */
EVD_CMD(evd_cmd_item_recorder);   /* cmd_records.c: correct an item's recorder */
EVD_CMD(evd_cmd_import);          /* cmd_import.c */
EVD_CMD(evd_cmd_items);           /* cmd_items.c */
EVD_CMD(evd_cmd_show);            /* cmd_items.c */
EVD_CMD(evd_cmd_audit);           /* cmd_items.c */
EVD_CMD(evd_cmd_verify);          /* cmd_verify.c */
EVD_CMD(evd_cmd_calendar);        /* cmd_calendar.c */
EVD_CMD(evd_cmd_calendar_import); /* cmd_calendar.c */
EVD_CMD(evd_cmd_recorder_add);    /* cmd_records.c */
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
EVD_CMD(evd_cmd_clean); /* cmd_clean.c: stray objects to quarantine/, tmp/ leftovers */
EVD_CMD(evd_cmd_report);
EVD_CMD(evd_cmd_replicated);  /* cmd_replication.c */
EVD_CMD(evd_cmd_replication); /* cmd_replication.c */
EVD_CMD(evd_cmd_board);       /* cmd_board.c: open to callers with no role */
EVD_CMD(evd_cmd_secret);      /* cmd_records.c */
EVD_CMD(evd_cmd_trip_add);    /* cmd_trip.c */
EVD_CMD(evd_cmd_trip_list);
EVD_CMD(evd_cmd_trip_end);
EVD_CMD(evd_cmd_case_close); /* cmd_case.c */
EVD_CMD(evd_cmd_case_filed);
EVD_CMD(evd_cmd_case_list);
EVD_CMD(evd_cmd_case_show);
EVD_CMD(evd_cmd_case_timeline);

/* cmd_case.c: warnings for status (closed cases past their filing date, unexplained
 * holes in a stage's coverage) appended to warnings. */
void evd_station_case_warnings(struct evd_station *s, struct evd_txn *txn,
                               const struct evd_conf *conf, json_t *warnings);

/* cmd_verify.c: every signed checkpoint, to keep elsewhere */
EVD_CMD(evd_cmd_audit_checkpoints);
EVD_CMD(evd_cmd_reconciled);     /* cmd_replication.c */
EVD_CMD(evd_cmd_bucket_checked); /* cmd_replication.c */

/* cmd_replication.c: {enabled, pending, pending_bytes, oldest_pending_s, ...} (caller
 * owns); an alarm past alarm_after also goes into warnings (may be NULL). */
#define EVD_S3_VERSION_LEN 256
json_t *evd_station_replication_status(struct evd_station *s, const struct evd_conf *conf,
                                       bool with_items, json_t *warnings);
/* "archive: N pending (M MB), oldest T min[, ALARM]" for STATUS=; "" without replication. */
void evd_station_replication_summary(struct evd_station *s, const struct evd_conf *conf, char *buf,
                                     size_t n);
EVD_CMD(evd_cmd_user_add); /* cmd_user.c */
EVD_CMD(evd_cmd_user_passwd);
EVD_CMD(evd_cmd_user_disable);
EVD_CMD(evd_cmd_user_list);
EVD_CMD(evd_cmd_login);
EVD_CMD(evd_cmd_logout);

#endif
