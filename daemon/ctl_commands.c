/* ctl_commands: evidockctl's command table. A row says how a command is called (its
 * words, positionals and options), what --format accepts, how it runs (one request to
 * evidockd, or in the client) and how its result is printed and judged. --help lists
 * the rows in this order. */
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "ctl.h"
#include "name.h"
#include "util.h"

#define ITEMS_ARG(lo, hi)                                                                          \
        {                                                                                          \
                "items", CTL_ARG_LIST, (lo), (hi)                                                  \
        }

static const struct ctl_command commands[] = {
        { .verb = "status", .usage = "status", .print = ctl_print_status },
        { .verb = "import",
          .usage = "import DIR --recorder SERIAL [--allow-unregistered]",
          .pos = { "dir", CTL_ARG_PATH, 1, 1 },
          .opts = { { "recorder", "recorder", CTL_ARG_STRING, true },
                    { "allow-unregistered", "allow_unregistered", CTL_ARG_FLAG, false } },
          .print = ctl_print_import,
          .failed = ctl_import_failed },
        { .verb = "items",
          .usage = "items [--case C] [--recorder S] [--handler H] [--late] [--unlabeled] "
                   "[--overdue]\n"
                   "                 [--integrity truncated|corrupt|not-media] [--since TIME] "
                   "[--until TIME] [--limit N] [--after ID]",
          .opts = { { "case", "case", CTL_ARG_STRING, false },
                    { "recorder", "recorder", CTL_ARG_STRING, false },
                    { "handler", "handler", CTL_ARG_STRING, false },
                    { "late", "late", CTL_ARG_FLAG, false },
                    { "unlabeled", "unlabeled", CTL_ARG_FLAG, false },
                    { "overdue", "overdue", CTL_ARG_FLAG, false },
                    { "integrity", "integrity", CTL_ARG_STRING, false },
                    { "since", "since", CTL_ARG_STRING, false },
                    { "until", "until", CTL_ARG_STRING, false },
                    { "limit", "limit", CTL_ARG_STRING, false },
                    { "after", "after", CTL_ARG_STRING, false } },
          .run = ctl_run_items,
          .print = ctl_print_items },
        { .verb = "show",
          .usage = "show ITEM",
          .pos = { "item", CTL_ARG_STRING, 1, 1 },
          .print = ctl_print_fields },
        { .verb = "audit",
          .sub = "checkpoints",
          .usage = "audit checkpoints",
          .print = ctl_print_checkpoints },
        { .verb = "audit",
          .usage = "audit [--since TIME] [--item ITEM] [--follow] [--limit N] [--after SEQ | "
                   "--before SEQ | --newest-first] [--event E] [--actor A] [--text T]",
          .opts = { { "since", "since", CTL_ARG_STRING, false },
                    { "item", "item", CTL_ARG_STRING, false },
                    { "follow", "follow", CTL_ARG_FLAG, false },
                    { "limit", "limit", CTL_ARG_STRING, false },
                    { "after", "after", CTL_ARG_STRING, false },
                    { "before", "before", CTL_ARG_STRING, false },
                    { "newest-first", "newest_first", CTL_ARG_FLAG, false },
                    { "event", "event", CTL_ARG_STRING, false },
                    { "actor", "actor", CTL_ARG_STRING, false },
                    { "text", "text", CTL_ARG_STRING, false } },
          .run = ctl_run_audit,
          .print = ctl_print_audit },
        { .verb = "calendar",
          .sub = "import",
          .usage = "calendar import FILE",
          .pos = { "file", CTL_ARG_PATH, 1, 1 },
          .run = ctl_run_calendar_import,
          .print = ctl_print_fields },
        { .verb = "calendar",
          .usage = "calendar DATE",
          .pos = { "date", CTL_ARG_STRING, 1, 1 },
          .print = ctl_print_calendar },
        { .verb = "recorder",
          .sub = "add",
          .usage = "recorder add SERIAL --handler-id ID --handler-name NAME [--model M] "
                   "[--unit U]",
          .pos = { "serial", CTL_ARG_STRING, 1, 1 },
          .opts = { { "handler-id", "handler_id", CTL_ARG_STRING, true },
                    { "handler-name", "handler_name", CTL_ARG_STRING, true },
                    { "model", "model", CTL_ARG_STRING, false },
                    { "unit", "unit", CTL_ARG_STRING, false },
                    { "since", "since", CTL_ARG_STRING, false } },
          .print = ctl_print_done },
        { .verb = "recorder",
          .sub = "assign",
          .usage = "recorder assign SERIAL --handler-id ID --handler-name NAME [--since TIME]",
          .pos = { "serial", CTL_ARG_STRING, 1, 1 },
          .opts = { { "handler-id", "handler_id", CTL_ARG_STRING, true },
                    { "handler-name", "handler_name", CTL_ARG_STRING, true },
                    { "since", "since", CTL_ARG_STRING, false } },
          .print = ctl_print_done },
        { .verb = "recorder",
          .sub = "list",
          .usage = "recorder list",
          .print = ctl_print_recorders },
        { .verb = "recorder",
          .sub = "fix",
          .usage = "recorder fix ITEM... --to SERIAL --reason R",
          .pos = ITEMS_ARG(1, -1),
          .opts = { { "to", "to", CTL_ARG_STRING, true },
                    { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "user",
          .sub = "add",
          .usage = "user add NAME --role clerk|archivist|admin",
          .pos = { "name", CTL_ARG_STRING, 1, 1 },
          .opts = { { "role", "role", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "user",
          .sub = "passwd",
          .usage = "user passwd NAME   (asks for it; one line of stdin when not a terminal)",
          .pos = { "name", CTL_ARG_STRING, 1, 1 },
          .local = true,
          .run = ctl_run_user_passwd,
          .print = ctl_print_done },
        { .verb = "user",
          .sub = "disable",
          .usage = "user disable NAME",
          .pos = { "name", CTL_ARG_STRING, 1, 1 },
          .print = ctl_print_done },
        { .verb = "user", .sub = "list", .usage = "user list", .print = ctl_print_users },
        { .verb = "label",
          .usage = "label (ITEM... | --session N | --recorder S [--since T] [--until T])\n"
                   "                 [--case C] [--party P] [--handler NAME_OR_ID] [--stage S]",
          .pos = ITEMS_ARG(0, -1),
          .opts = { { "case", "case", CTL_ARG_STRING, false },
                    { "party", "party", CTL_ARG_STRING, false },
                    { "handler", "handler", CTL_ARG_STRING, false },
                    { "stage", "stage", CTL_ARG_STRING, false },
                    { "recorder", "recorder", CTL_ARG_STRING, false },
                    { "session", "session", CTL_ARG_STRING, false },
                    { "since", "since", CTL_ARG_STRING, false },
                    { "until", "until", CTL_ARG_STRING, false } },
          .print = ctl_print_done },
        { .verb = "note",
          .usage = "note ITEM --text TEXT",
          .pos = ITEMS_ARG(1, 1),
          .opts = { { "text", "text", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "hold",
          .usage = "hold ITEM... --reason R",
          .pos = ITEMS_ARG(1, -1),
          .opts = { { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "release",
          .usage = "release ITEM... --reason R",
          .pos = ITEMS_ARG(1, -1),
          .opts = { { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "evidence",
          .usage = "evidence ITEM... --case C [--also]",
          .pos = ITEMS_ARG(1, -1),
          .opts = { { "case", "case", CTL_ARG_STRING, true },
                    { "also", "also", CTL_ARG_FLAG, false } },
          .print = ctl_print_done },
        { .verb = "verify",
          .usage = "verify [--store] [--audit] [--anchors FILE] [--remote [--credentials FILE]]",
          .opts = { { "store", "store", CTL_ARG_FLAG, false },
                    { "audit", "audit", CTL_ARG_FLAG, false },
                    { "anchors", "anchors", CTL_ARG_PATH, false },
                    { "remote", "remote", CTL_ARG_FLAG, false },
                    { "credentials", "credentials", CTL_ARG_PATH, false } },
          .run = ctl_run_verify_remote,
          .print = ctl_print_verify,
          .failed = ctl_verify_failed },
        { .verb = "export",
          .usage = "export (--case C | ITEM...) --maker M --extractor E --approver A --reason R\n"
                   "                  -o OUT.iso [--media cd|dvd|dvd-dl|bd25|bd50|BYTES] "
                   "[--time TIME]\n"
                   "                  [--purpose internal|disclosure] [--security-approver NAME]",
          .pos = ITEMS_ARG(0, -1),
          .opts = { { "case", "case", CTL_ARG_STRING, false },
                    { "maker", "maker", CTL_ARG_STRING, true },
                    { "extractor", "extractor", CTL_ARG_STRING, true },
                    { "approver", "approver", CTL_ARG_STRING, true },
                    { "reason", "reason", CTL_ARG_STRING, true },
                    { "o", "out", CTL_ARG_NEWPATH, true },
                    { "output", "out", CTL_ARG_NEWPATH, false },
                    { "media", "media", CTL_ARG_STRING, false },
                    { "time", "time", CTL_ARG_STRING, false },
                    { "purpose", "purpose", CTL_ARG_STRING, false },
                    { "security-approver", "security_approver", CTL_ARG_STRING, false } },
          .run = ctl_run_deliver,
          .print = ctl_print_export },
        { .verb = "verify-disc",
          .usage = "verify-disc ISO_OR_DEVICE [--cert CERT]",
          .pos = { "image", CTL_ARG_PATH, 1, 1 },
          .opts = { { "cert", "cert", CTL_ARG_PATH, false } },
          .local = true,
          .run = ctl_run_verify_disc },
        { .verb = "keys", .sub = "init", .usage = "keys init", .print = ctl_print_keys },
        { .verb = "keys", .sub = "show", .usage = "keys show", .print = ctl_print_keys },
        { .verb = "access",
          .usage = "access ITEM --requester NAME --approver NAME --reason R [--copy-to DIR]\n"
                   "                  [--purpose internal|disclosure] [--security-approver NAME]",
          .pos = { "item", CTL_ARG_STRING, 1, 1 },
          .opts = { { "requester", "requester", CTL_ARG_STRING, true },
                    { "approver", "approver", CTL_ARG_STRING, true },
                    { "reason", "reason", CTL_ARG_STRING, true },
                    { "copy-to", "copy_to", CTL_ARG_PATH, false },
                    { "purpose", "purpose", CTL_ARG_STRING, false },
                    { "security-approver", "security_approver", CTL_ARG_STRING, false } },
          .run = ctl_run_deliver,
          .print = ctl_print_access },
        { .verb = "access-log",
          .usage = "access-log [--since TIME] [--until TIME] [--limit N] [--after SEQ | "
                   "--before SEQ | --newest-first] [--actor A] [--text T] "
                   "[--format table|csv|json]",
          .opts = { { "since", "since", CTL_ARG_STRING, false },
                    { "until", "until", CTL_ARG_STRING, false },
                    { "limit", "limit", CTL_ARG_STRING, false },
                    { "after", "after", CTL_ARG_STRING, false },
                    { "before", "before", CTL_ARG_STRING, false },
                    { "newest-first", "newest_first", CTL_ARG_FLAG, false },
                    { "actor", "actor", CTL_ARG_STRING, false },
                    { "text", "text", CTL_ARG_STRING, false },
                    { "format", "format", CTL_ARG_STRING, false } },
          .formats = CTL_FMT_TABLE | CTL_FMT_CSV | CTL_FMT_JSON,
          .run = ctl_run_access_log,
          .print = ctl_print_access_log },
        { .verb = "purge",
          .usage = "purge [--dry-run] --approver A --reason R",
          .opts = { { "dry-run", "dry_run", CTL_ARG_FLAG, false },
                    { "approver", "approver", CTL_ARG_STRING, true },
                    { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_purge },
        { .verb = "clean",
          .usage = "clean [--dry-run] --approver A --reason R",
          .opts = { { "dry-run", "dry_run", CTL_ARG_FLAG, false },
                    { "approver", "approver", CTL_ARG_STRING, true },
                    { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_clean },
        { .verb = "trip",
          .sub = "add",
          .usage = "trip add (--handler ID | --recorder SERIAL) --from DATE --to DATE\n"
                   "                    --kind continuous|away|remote [--note TEXT]",
          .opts = { { "handler", "handler", CTL_ARG_STRING, false },
                    { "recorder", "recorder", CTL_ARG_STRING, false },
                    { "from", "from", CTL_ARG_STRING, true },
                    { "to", "to", CTL_ARG_STRING, true },
                    { "kind", "kind", CTL_ARG_STRING, true },
                    { "note", "note", CTL_ARG_STRING, false } },
          .print = ctl_print_fields },
        { .verb = "trip", .sub = "list", .usage = "trip list", .print = ctl_print_trips },
        { .verb = "trip",
          .sub = "end",
          .usage = "trip end ID --returned DATE",
          .pos = { "id", CTL_ARG_STRING, 1, 1 },
          .opts = { { "returned", "returned", CTL_ARG_STRING, true } },
          .print = ctl_print_fields },
        { .verb = "case",
          .sub = "close",
          .usage = "case close CASE --ended DATE",
          .pos = { "case", CTL_ARG_STRING, 1, 1 },
          .opts = { { "ended", "ended", CTL_ARG_STRING, true } },
          .print = ctl_print_fields },
        { .verb = "case",
          .sub = "filed",
          .usage = "case filed CASE --ref ARCHIVE_NO",
          .pos = { "case", CTL_ARG_STRING, 1, 1 },
          .opts = { { "ref", "ref", CTL_ARG_STRING, true } },
          .print = ctl_print_fields },
        { .verb = "case",
          .sub = "list",
          .usage = "case list [--open | --due | --overdue]",
          .opts = { { "open", "open", CTL_ARG_FLAG, false },
                    { "due", "due", CTL_ARG_FLAG, false },
                    { "overdue", "overdue", CTL_ARG_FLAG, false } },
          .print = ctl_print_cases },
        { .verb = "case",
          .sub = "show",
          .usage = "case show CASE",
          .pos = { "case", CTL_ARG_STRING, 1, 1 },
          .print = ctl_print_case_show },
        { .verb = "case",
          .sub = "timeline",
          .usage = "case timeline CASE",
          .pos = { "case", CTL_ARG_STRING, 1, 1 },
          .print = ctl_print_timeline },
        { .verb = "secret",
          .usage = "secret ITEM... --reason R",
          .pos = ITEMS_ARG(1, -1),
          .opts = { { "reason", "reason", CTL_ARG_STRING, true } },
          .print = ctl_print_done },
        { .verb = "replication",
          .usage = "replication [--items]",
          .opts = { { "items", "items", CTL_ARG_FLAG, false } },
          .print = ctl_print_replication,
          .failed = ctl_replication_failed },
        { .verb = "remote",
          .sub = "list",
          .usage = "remote list [--station S] [--case C] [--credentials FILE]",
          .opts = { { "station", "station", CTL_ARG_STRING, false },
                    { "case", "case", CTL_ARG_STRING, false },
                    { "credentials", "credentials", CTL_ARG_PATH, false } },
          .local = true,
          .run = ctl_run_remote_list },
        { .verb = "restore",
          .usage = "restore --from-remote [--metadata-only | --objects] [--cert CERT] "
                   "[--credentials FILE]",
          .opts = { { "from-remote", "from_remote", CTL_ARG_FLAG, true },
                    { "metadata-only", "metadata_only", CTL_ARG_FLAG, false },
                    { "objects", "objects", CTL_ARG_FLAG, false },
                    { "cert", "cert", CTL_ARG_PATH, false },
                    { "credentials", "credentials", CTL_ARG_PATH, false } },
          .local = true,
          .run = ctl_run_restore },
        { .verb = "report",
          .usage = "report [--year YYYY | --from DATE --to DATE] [--format table|csv|html|json]",
          .opts = { { "year", "year", CTL_ARG_STRING, false },
                    { "from", "from", CTL_ARG_STRING, false },
                    { "to", "to", CTL_ARG_STRING, false },
                    { "format", "format", CTL_ARG_STRING, false } },
          .formats = CTL_FMT_TABLE | CTL_FMT_CSV | CTL_FMT_HTML | CTL_FMT_JSON,
          .print = ctl_print_report },
};

const struct ctl_command *ctl_command_find(int argc, char **argv, int *ret_words)
{
        for (size_t k = 0; k < EVD_ARRAY_SIZE(commands); k++) {
                const struct ctl_command *c = &commands[k];

                if (argc < 1 || strcmp(c->verb, argv[0]) != 0)
                        continue;
                if (!c->sub) {
                        *ret_words = 1;
                        return c;
                }
                if (argc >= 2 && strcmp(c->sub, argv[1]) == 0) {
                        *ret_words = 2;
                        return c;
                }
        }
        return NULL;
}

/* The nearest of the words (n of them, NULL ones skipped) to typed by edit distance,
 * when it is near enough to be a slip; NULL otherwise. */
static const char *nearest(const char *typed, const char *const *words, size_t n)
{
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; i < n; i++) {
                size_t d;

                if (!words[i] || !evd_name_is_near(typed, words[i]))
                        continue;
                d = evd_name_distance(typed, words[i]);
                if (d < best_d) {
                        best = words[i];
                        best_d = d;
                }
        }
        return best;
}

void ctl_command_unknown(int argc, char **argv, FILE *out)
{
        const char *words[EVD_ARRAY_SIZE(commands)];
        char subs[256] = "";
        const char *near;
        size_t n = 0;

        for (size_t k = 0; k < EVD_ARRAY_SIZE(commands); k++)
                if (strcmp(commands[k].verb, argv[0]) == 0) {
                        words[n++] = commands[k].sub;
                        (void)evd_snprintf(subs + strlen(subs), sizeof(subs) - strlen(subs), "%s%s",
                                           subs[0] ? ", " : "", commands[k].sub);
                }
        if (n > 0) { /* a known verb: the sub-command is what is wrong */
                if (argc < 2) {
                        fprintf(out, "evidockctl %s: which one? (%s)\n", argv[0], subs);
                        return;
                }
                fprintf(out, "evidockctl %s: unknown sub-command '%s'", argv[0], argv[1]);
                near = nearest(argv[1], words, n);
                if (near)
                        fprintf(out, " (did you mean '%s %s'?)", argv[0], near);
                fprintf(out, "; %s takes %s\n", argv[0], subs);
                return;
        }
        for (size_t k = 0; k < EVD_ARRAY_SIZE(commands); k++)
                words[k] = commands[k].verb;
        fprintf(out, "evidockctl: unknown command '%s'", argv[0]);
        near = nearest(argv[0], words, EVD_ARRAY_SIZE(commands));
        if (near)
                fprintf(out, " (did you mean '%s'?)", near);
        fprintf(out, "; 'evidockctl --help' lists the commands\n");
}

const char *ctl_command_name(const struct ctl_command *c, char *buf, size_t n)
{
        (void)snprintf(buf, n, "%s%s%s", c->verb, c->sub ? " " : "", c->sub ? c->sub : "");
        return buf;
}

const char *ctl_command_wire(const struct ctl_command *c, char *buf, size_t n)
{
        (void)snprintf(buf, n, "%s%s%s", c->verb, c->sub ? "." : "", c->sub ? c->sub : "");
        return buf;
}

void ctl_usage(FILE *out)
{
        fprintf(out, "Usage: evidockctl [--socket PATH | -c FILE] [--json] COMMAND [ARGS]\n"
                     "Talk to evidockd, the evidence docking station daemon.\n\nCommands:\n");
        for (size_t i = 0; i < EVD_ARRAY_SIZE(commands); i++)
                fprintf(out, "  evidockctl %s\n", commands[i].usage);
        fprintf(out, "\nOptions:\n"
                     "  --socket PATH  the daemon's control socket\n"
                     "  -c FILE        take control_socket from this configuration\n"
                     "                 (default " EVD_CONF_DEFAULT_PATH ")\n"
                     "  --json         print one JSON document instead of a table\n"
                     "  -h, --help     this help;  --version  the version\n\n"
                     "ITEM is an item id or a sha256 prefix of at least 12 hex digits.\n"
                     "export writes OUT.iso; when --media splits the export into volumes\n"
                     "(each a complete signed bag), they are OUT-1.iso, OUT-2.iso, ...\n"
                     "--time sets the extraction time written on the disc (default now): the\n"
                     "same items and time give the same image, byte for byte.\n"
                     "verify-disc checks an image or a disc drive (/dev/sr0) by itself, without\n"
                     "evidockd; --cert checks the signature against that certificate instead\n"
                     "of the one on the disc.\n"
                     "TIME is a date (2026-11-20: that whole day), a time (2026-11-20 09:15) in\n"
                     "the station's time zone, or RFC 3339 with an offset (2026-11-20T01:15:00Z).\n"
                     "Times are shown in the station's time zone with its offset; --json keeps\n"
                     "RFC 3339 UTC.\n"
                     "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n");
}
