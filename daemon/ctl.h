/* ctl: the parts of evidockctl, the admin client of evidockd. evidockctl.c turns a
 * command line into a run: global options and the command's own arguments
 * (ctl_args.c), found in the command table (ctl_commands.c), sent as one JSON request
 * on the control socket (ctl_session.c) or run in the client itself (ctl_run.c), the
 * result printed for people (ctl_results.c, on the primitives of ctl_print.c) or for
 * scripts (--json). Exit 0 on success, 1 when refused or failed (a one-line reason on
 * stderr), 2 on bad usage.
 *
 * Everything a run needs travels in struct ctl; there are no mutable globals. Strings
 * in struct ctl and the command table are borrowed (argv, literals); json_t results
 * passed to printers are borrowed. */
#ifndef EVD_CTL_H
#define EVD_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

/* What an argument is: CTL_ARG_PATH an existing file, made absolute; CTL_ARG_NEWPATH
 * one to be made (its folder must exist), made absolute; CTL_ARG_LIST (positionals
 * only) each value appended to a JSON array under the key. */
enum ctl_arg_type { CTL_ARG_STRING, CTL_ARG_FLAG, CTL_ARG_PATH, CTL_ARG_NEWPATH, CTL_ARG_LIST };

struct ctl_opt {
        const char *name; /* without "--" ("-" for a one-letter name) */
        const char *key;  /* in the request's args */
        enum ctl_arg_type type;
        bool required;
};

/* The forms of output --format can choose; CTL_FMT_JSON is the same as --json. */
enum ctl_format {
        CTL_FMT_TABLE = 1 << 0,
        CTL_FMT_CSV = 1 << 1,
        CTL_FMT_HTML = 1 << 2,
        CTL_FMT_JSON = 1 << 3,
};

struct ctl_deliver; /* ctl_deliver.c: the files a run makes for evidockd to write */

struct ctl_session {
        int fd;   /* the control socket, -1 when not connected */
        FILE *in; /* its replies (a dup of fd), NULL when not connected */
};

/* One run of the client. */
struct ctl {
        const char *socket;     /* --socket PATH, or NULL */
        const char *conf_path;  /* -c FILE, or NULL */
        bool json;              /* --json (or --format json): one JSON document out */
        enum ctl_format format; /* the human output's form (--format), CTL_FMT_TABLE */
        FILE *out;              /* where results go */
        const json_t *args;     /* the command's arguments, for its printer (borrowed) */
        bool zone_known;        /* TZ is set to the station's zone (ctl_station_zone) */
        struct ctl_session session;
        struct ctl_deliver *deliver; /* during ctl_run_deliver, else NULL */
};

struct ctl_command;

/* Runs a command with its parsed args (which it may change); returns the exit code. */
typedef int ctl_run_fn(struct ctl *ctx, const struct ctl_command *cmd, json_t *args);

/* Prints a result for people; returns the exit code (0, or 1 after saying why). */
typedef int ctl_print_fn(struct ctl *ctx, const json_t *result);

/* Whether a result reports a failure (why: one line for people). */
typedef bool ctl_failed_fn(const json_t *result, char *why, size_t n);

/* A row of the command table: adding a command is one row plus its printer. */
struct ctl_command {
        const char *verb; /* "recorder" */
        const char *sub;  /* "add", or NULL; the request is "verb" or "verb.sub" */
        const char *usage;
        struct {
                const char *key; /* the positionals' key in args, or NULL: none */
                enum ctl_arg_type type;
                int min, max; /* how many; max -1: no limit (type CTL_ARG_LIST) */
        } pos;
        struct ctl_opt opts[14]; /* ended by a zero row */
        unsigned formats;        /* what --format accepts (enum ctl_format), 0: no --format */
        bool local;              /* runs in the client, without evidockd */
        ctl_run_fn *run;         /* NULL: one request, its result printed */
        ctl_print_fn *print;     /* the result for people */
        ctl_failed_fn *failed;   /* NULL, or results that exit 1 (with --json too) */
};

/* ---- ctl_commands.c: the table ---- */

/* The command named by argv (one or two words); *ret_words says how many it took.
 * NULL when there is none. */
const struct ctl_command *ctl_command_find(int argc, char **argv, int *ret_words);

/* Say on out why argv (argc >= 1) names no command: an unknown sub-command of a known
 * verb, or an unknown verb, with the nearest one when it looks like a slip. */
void ctl_command_unknown(int argc, char **argv, FILE *out);

/* "recorder add", for messages. */
const char *ctl_command_name(const struct ctl_command *c, char *buf, size_t n);

/* The request's name on the wire: "recorder.add". */
const char *ctl_command_wire(const struct ctl_command *c, char *buf, size_t n);

void ctl_usage(FILE *out);

/* ---- ctl_args.c: the command line ---- */

/* The options before the command. Returns -1 to go on with argv[*ret_next], else the
 * exit code (after --help, --version or a usage error). */
int ctl_args_global(struct ctl *ctx, int argc, char **argv, int *ret_next);

/* The command's own arguments into args (--json may be among them). Returns 0, 1 (a
 * path that is not there) or 2 (bad usage), after saying why. */
int ctl_args_parse(struct ctl *ctx, const struct ctl_command *c, int argc, char **argv,
                   json_t *args);

/* Take --format from args (removing it) into ctx. Returns 0 or 2 (after saying why). */
int ctl_args_format(struct ctl *ctx, const struct ctl_command *c, json_t *args);

/* "evidockctl <command>: <message>\n" on stderr. */
void ctl_say(const struct ctl_command *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* ---- ctl_session.c: talking to evidockd ---- */

/* Find the socket (--socket, -c, the default configuration) and connect. Returns 0 or
 * 1 after saying why. */
int ctl_connect(struct ctl *ctx);

void ctl_disconnect(struct ctl *ctx);

/* Send one request and wait for its final line, showing progress on a terminal;
 * *ret_result (caller decrefs) on success. Returns 0, or 1 after printing the
 * daemon's reason. */
int ctl_request(struct ctl *ctx, const char *wire, json_t *args, json_t **ret_result);

/* ---- ctl_run.c: how commands run ---- */

/* The default: one request, the result printed (JSON or cmd->print), cmd->failed. */
int ctl_run_request(struct ctl *ctx, const struct ctl_command *cmd, json_t *args);

ctl_run_fn ctl_run_audit, ctl_run_verify_disc, ctl_run_verify;
ctl_run_fn ctl_run_calendar_import; /* ctl_calendar.c: sends the file's text */

/* ---- ctl_remote.c: the archive, read by the client ---- */

ctl_run_fn ctl_run_verify_remote, ctl_run_remote_list, ctl_run_restore;
/* "archive: warning: ..." lines for what the archive's readers found (remote.h). */
void ctl_print_remote_warnings(FILE *out, const json_t *warnings);

/* replication: the archive's state, lag, last reconciliation and alarms. */
ctl_print_fn ctl_print_replication;
ctl_failed_fn ctl_replication_failed;

/* items: every page in turn (its --json an array written as the pages come), or with
 * --limit N / --after ID the one page asked for ({"items", "next"} for --json). */
ctl_run_fn ctl_run_items, ctl_run_access_log;

/* ---- ctl_deliver.c: output files made by the client, passed to evidockd ---- */

/* export -o and access --copy-to: ctl_run_request with the output files made here. */
ctl_run_fn ctl_run_deliver;

/* Answer a "need_fd" progress line: make the file and pass it, or say no. Returns 0,
 * or 1 when the connection failed. */
int ctl_deliver_answer(struct ctl *ctx, const json_t *need);

/* ---- ctl_print.c: output primitives ---- */

/* s (len bytes) with control characters and invalid bytes escaped, and the characters
 * that reorder a line (bidirectional overrides, line separators) as "\u202E", so that a
 * hostile file name cannot move the cursor, forge lines or hide its extension. Caller
 * frees; NULL without memory. */
char *ctl_escaped(const char *s, size_t len);

void ctl_put_safe(const char *s, FILE *out);

/* An original path obj[key]: from its exact bytes when obj has them in key_b64. */
void ctl_put_path(const json_t *obj, const char *key, FILE *out);

/* A JSON value: strings escaped, null (or NULL) as "-", the rest compact JSON. */
void ctl_put_value(const json_t *v, FILE *out);

/* An object's fields, one "key: value" a line, times in the station's zone
 * (ctl_local_time), nested objects indented, lists of objects as "- " blocks. */
void ctl_put_fields(FILE *out, const json_t *obj, int indent);

/* What a CSV document starts with: the UTF-8 byte-order mark, without which Excel on
 * Chinese Windows reads the file as GBK and shows it garbled. */
void ctl_csv_begin(FILE *out);

/* An RFC 3339 UTC time from evidockd ("2026-12-01T01:30:00Z") for people, in the
 * station's time zone (the client takes it from evidockd: ctl_station_zone):
 * "2026-12-01 09:30 (+08:00)" in buf; anything else is returned as it is. */
const char *ctl_local_time(const char *utc, char buf[EVD_TIME_LOCAL_STR]);

/* A CSV field: quoted, quotes doubled, control characters escaped. */
void ctl_put_csv(FILE *out, const char *s);

/* HTML text with control characters and the five special characters escaped. */
void ctl_put_html(FILE *out, const char *s);

/* The document with 2-space indents (any JSON value), and a newline. */
void ctl_put_json(FILE *out, const json_t *doc);

/* n bytes for people: "512 B", "1.5 GiB". Returns buf. */
const char *ctl_human_size(uint64_t n, char buf[32]);

/* A table for people: columns of width characters (0: the last, not padded), cells
 * separated by one space. */
struct ctl_col {
        const char *title;
        int width;
        bool right; /* aligned right */
};

/* The titles of n columns, and a newline. */
void ctl_table_head(FILE *out, const struct ctl_col *cols, size_t n);

/* Make a padded column (col->width > 0) wide enough for s as a cell shows it: a
 * printer passes over its rows once so that long names do not push the row apart. */
void ctl_table_widen(struct ctl_col *col, const char *s);

/* One column's title, padded as its cells are (for tables whose columns vary). */
void ctl_table_head_cell(FILE *out, const struct ctl_col *col);

/* One cell: s escaped (NULL shows "-"), padded to the column, then a space (none after
 * the last column). */
void ctl_table_cell(FILE *out, const struct ctl_col *col, const char *s);

/* One cell of text made by the client or the daemon (numbers, times): not escaped. */
void ctl_table_text(FILE *out, const struct ctl_col *col, const char *s);

/* ---- ctl_annual.c: the compliance report ---- */

/* evd_cmd_report's result (borrowed) for people: a table (CTL_FMT_TABLE), CSV in UTF-8
 * with a byte-order mark, or one self-contained HTML page for the annual assessment
 * (第三十条): no scripts, no external assets, charts as inline SVG whose bars are
 * CTL_ANNUAL_BAR_MAX pixels at the largest value, Chinese headings, laid out for A4.
 * CSV and HTML carry the JSON's numbers unchanged; every name is escaped. */
void ctl_annual_print(FILE *out, const json_t *r, enum ctl_format format);

#define CTL_ANNUAL_BAR_MAX 150

/* ---- ctl_results.c: each command's result for people ---- */

/* Ask evidockd once for the station's time zone and take it as ours (TZ), so that
 * times for people are the station's local times whatever this machine's zone is.
 * Quietly keeps the machine's zone when the daemon does not say. */
void ctl_station_zone(struct ctl *ctx);

ctl_print_fn ctl_print_fields, ctl_print_status, ctl_print_items, ctl_print_audit, ctl_print_verify,
        ctl_print_import, ctl_print_calendar, ctl_print_done, ctl_print_recorders, ctl_print_access,
        ctl_print_access_log, ctl_print_export, ctl_print_keys, ctl_print_purge, ctl_print_report,
        ctl_print_clean;

/* ctl_cases.c: trips, case files and a case's timeline. */
ctl_print_fn ctl_print_trips, ctl_print_cases, ctl_print_case_show, ctl_print_timeline;
ctl_print_fn ctl_print_checkpoints;

ctl_failed_fn ctl_verify_failed, ctl_import_failed;

/* ---- ctl_user.c: the web console's accounts ---- */

ctl_run_fn ctl_run_user_passwd; /* local: reads the password, then connects */
ctl_print_fn ctl_print_users;

#endif
