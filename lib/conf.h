/* conf: the station's configuration, read from an INI file with inih and validated.
 *
 * A bad line is refused whole with "file:line: reason"; nothing half-read is used.
 * Every list and string has a limit. */
#ifndef EVD_CONF_H
#define EVD_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* The system configuration folder, set by the build (make SYSCONFDIR=...). */
#ifndef EVD_SYSCONFDIR
#define EVD_SYSCONFDIR "/etc"
#endif
#define EVD_CONF_DEFAULT_PATH EVD_SYSCONFDIR "/evidock/evidock.conf"
#define EVD_CONF_PATH_MAX 512
#define EVD_CONF_NAME_MAX 64
#define EVD_CONF_LIST_MAX 32
#define EVD_CONF_EXT_MAX 16

/* A retention period: whole months (calendar arithmetic) plus days, or permanent. */
struct evd_period {
        bool permanent;
        int months;
        int days;
};

enum evd_verify_mode {
        EVD_VERIFY_DESTINATION,        /* re-read the stored copy from disk */
        EVD_VERIFY_SOURCE_DESTINATION, /* and re-read the source too */
};

struct evd_conf {
        /* [station] */
        char name[EVD_CONF_NAME_MAX];
        char state_dir[EVD_CONF_PATH_MAX];
        char control_socket[EVD_CONF_PATH_MAX];
        char timezone[EVD_CONF_NAME_MAX];
        /* [usb] */
        uint32_t usb_allow[EVD_CONF_LIST_MAX]; /* VID << 16 | PID */
        int n_usb_allow;
        int settle_seconds;
        int64_t clock_tolerance_s; /* a recorder clock found further ahead is reported */
        /* [ingest] */
        char extensions[EVD_CONF_LIST_MAX][EVD_CONF_EXT_MAX]; /* lower case, no dot */
        int n_extensions;
        int parallel_copies;
        enum evd_verify_mode verify;
        char filename_time_patterns[EVD_CONF_LIST_MAX][EVD_CONF_NAME_MAX];
        int n_filename_time_patterns;
        int deadline_working_days;
        int reserve_mb; /* free space the store always keeps: ingest pauses below it */
        char sequence_pattern[EVD_CONF_NAME_MAX]; /* regex, group 1 = file number; "" off */
        /* [retention] */
        struct evd_period retention_default, retention_case, retention_evidence, grace;
        bool purge_auto; /* purge = auto: the daemon purges daily by itself */
        /* [scrub] */
        struct evd_period scrub_interval; /* a full re-check starts this often */
        bool scrub_off;
        int scrub_mb_per_s; /* bandwidth cap */
        /* [labels] */
        char case_pattern[EVD_CONF_PATH_MAX];              /* POSIX extended regex */
        char stages[EVD_CONF_LIST_MAX][EVD_CONF_NAME_MAX]; /* what label --stage accepts */
        int n_stages;
        char required_stages[EVD_CONF_LIST_MAX][EVD_CONF_NAME_MAX]; /* case show lists missing */
        int n_required_stages;
        int64_t gap_tolerance_s; /* a longer hole between clips of one stage is flagged */
        /* [calendar] */
        char calendar_files[EVD_CONF_LIST_MAX][EVD_CONF_PATH_MAX];
        int n_calendar_files;
        bool calendar_set; /* files = was given; without it the installed calendars */
        /* [signing] */
        char signing_key[EVD_CONF_PATH_MAX];
        char signing_cert[EVD_CONF_PATH_MAX];
        /* [roles] */
        char group_clerk[EVD_CONF_NAME_MAX];
        char group_archivist[EVD_CONF_NAME_MAX];
        char group_admin[EVD_CONF_NAME_MAX];
        char group_replicator[EVD_CONF_NAME_MAX];
        char heads[EVD_CONF_LIST_MAX][EVD_CONF_NAME_MAX]; /* may approve a disclosure */
        int n_heads;
        char security[EVD_CONF_LIST_MAX][EVD_CONF_NAME_MAX]; /* may approve copying 涉密 */
        int n_security;
        /* [replication]: off unless the section is there (evidock-replicate) */
        struct evd_conf_replication {
                bool on;
                char endpoint[EVD_CONF_PATH_MAX]; /* https://host[:port]; http on loopback only */
                char bucket[EVD_CONF_NAME_MAX];
                char prefix[EVD_CONF_NAME_MAX]; /* "": the station's name */
                char region[EVD_CONF_NAME_MAX];
                char credentials[EVD_CONF_PATH_MAX]; /* "": $CREDENTIALS_DIRECTORY/s3 */
                char ca_file[EVD_CONF_PATH_MAX];
                int bandwidth_mb;      /* MB/s sent, 0: no cap */
                int parallel;          /* uploads at once */
                int part_size_mb;      /* multipart above this */
                int64_t alarm_after_s; /* an item pending longer raises an alarm */
                int64_t reconcile_s;   /* 0: off */
                int sample_per_day;    /* objects re-read in full per day */
                struct evd_period audit_retention;
        } repl;
        /* [console]: the web console's listener; not loopback needs both TLS files */
        char console_listen[EVD_CONF_NAME_MAX];
        char console_tls_cert[EVD_CONF_PATH_MAX];
        char console_tls_key[EVD_CONF_PATH_MAX];
};

/* Case numbers as written on decisions: a prefix, the year in brackets (〔〕, （）, ()
 * or []), and a number with 号: "X罚〔2026〕17号", "京公（朝）行罚决字〔2026〕123号". */
#define EVD_CONF_CASE_PATTERN                                                                      \
        "^[^[:cntrl:]]{0,120}(〔|（|\\(|\\[)[0-9]{4}(〕|）|\\)|\\])[^[:cntrl:]]{0,120}[0-9]+号$"

/* The minimum any retention class may be: 3 calendar months (第二十六条). */
#define EVD_RETENTION_FLOOR_MONTHS 3

/* Fill conf with the built-in defaults (the same values config/evidock.conf shows). */
void evd_conf_defaults(struct evd_conf *conf);

/* Read path over the defaults into *ret_conf (set only on success). On a bad line:
 * -EINVAL and err says "path:line: reason"; a missing file: -ENOENT. */
int evd_conf_load(const char *path, struct evd_conf *ret_conf, struct evd_err *err);

/* Write the normalised configuration, every key, as an INI file. */
void evd_conf_print(const struct evd_conf *conf, FILE *out);

/* True when ext (any case, without dot) is one of the configured extensions. */
bool evd_conf_wants_extension(const struct evd_conf *conf, const char *ext);

/* True when name is one of list's n names (exact bytes). */
bool evd_conf_listed(const char (*list)[EVD_CONF_NAME_MAX], int n, const char *name);

/* Parse a duration "24 h", "30 min", "2 days", "90 s", "1d" into seconds (> 0). */
int evd_duration_parse(const char *s, int64_t *ret);

/* Parse "6 months", "90 days", "2 years", "6m", "permanent" ... into *ret. */
int evd_period_parse(const char *s, struct evd_period *ret);

/* "6 months", "1 year 10 days", "permanent" into out. */
void evd_period_format(const struct evd_period *p, char *out, size_t n);

#endif
