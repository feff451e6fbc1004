/* ctl_results: each command's result for people, one printer a command (the command
 * table in ctl_commands.c names them), and the rules for results that exit 1. Every
 * string from evidockd that may hold a name someone chose is escaped. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define INT(obj, key) json_integer_value(json_object_get((obj), (key)))

void ctl_station_zone(struct ctl *ctx)
{
        json_t *args = json_object(), *result = NULL;
        const char *tz;

        if (ctx->zone_known || !args)
                goto out;
        ctx->zone_known = true;
        if (ctl_request(ctx, "timezone", args, &result) != 0)
                goto out;
        tz = STR(result, "timezone");
        if (tz && tz[0]) {
                (void)setenv("TZ", tz, 1);
                tzset();
        }
out:
        json_decref(result);
        json_decref(args);
}

/* One of show's exports a line: when (local), which disc, which case, who. */
static void put_export(FILE *out, const json_t *e)
{
        static const char *const who[][2] = { { "maker", "made by" },
                                              { "extractor", "extracted by" },
                                              { "approver", "approved by" } };
        char local[EVD_TIME_LOCAL_STR];

        fprintf(out, "  - %s: disc ", ctl_local_time(STR(e, "time") ?: "?", local));
        if (STR(e, "volume_id"))
                ctl_put_safe(STR(e, "volume_id"), out);
        else
                fprintf(out, "image %.16s", STR(e, "image_sha256") ?: "?");
        fprintf(out, " (volume %lld of %lld)", INT(e, "volume"), INT(e, "volumes"));
        if (STR(e, "case_no")) {
                fprintf(out, ", case ");
                ctl_put_safe(STR(e, "case_no"), out);
        }
        for (size_t k = 0; k < EVD_ARRAY_SIZE(who); k++) {
                fprintf(out, ", %s ", who[k][1]);
                ctl_put_safe(STR(e, who[k][0]) ?: "?", out);
        }
        fprintf(out, " (audit entry %lld)\n", INT(e, "audit_seq"));
}

/* show: the item's fields, its exports one a line; a retention without end says so. */
int ctl_print_fields(struct ctl *ctx, const json_t *result)
{
        json_t *copy = json_deep_copy(result), *e;
        const json_t *exports = json_object_get(result, "exports");
        size_t i;

        if (copy && json_is_null(json_object_get(copy, "retain_until")))
                (void)json_object_set_new(copy, "retain_until", json_string("permanent"));
        /* an item's exports (who made each disc), not case show's (which discs verify) */
        bool item_exports = json_object_get(json_array_get(exports, 0), "maker") != NULL;

        if (copy && item_exports)
                (void)json_object_del(copy, "exports");
        ctl_put_fields(ctx->out, copy ? copy : result, 0);
        json_decref(copy);
        if (!copy || !item_exports)
                return 0;
        fprintf(ctx->out, "exports:\n");
        json_array_foreach(exports, i, e)
        {
                put_export(ctx->out, e);
        }
        return 0;
}

static void put_dock(FILE *out, const json_t *d)
{
        uint64_t total = (uint64_t)INT(d, "bytes_total"), done = (uint64_t)INT(d, "bytes_done");
        char a[32], b[32];
        const char *kind;
        json_t *n;
        int shown = 0;

        fprintf(out, "dock %lld: recorder ", (long long)INT(d, "session"));
        ctl_put_safe(STR(d, "serial") ?: "", out);
        fprintf(out, " on port %s: %s", STR(d, "port") ?: "?", STR(d, "state") ?: "?");
        if (INT(d, "files_total") > 0)
                fprintf(out, ", %lld of %lld files, %s of %s (%.0f%%), %.1f MB/s",
                        (long long)INT(d, "files_done"), (long long)INT(d, "files_total"),
                        ctl_human_size(done, a), ctl_human_size(total, b),
                        total ? 100.0 * (double)done / (double)total : 100.0,
                        (double)INT(d, "rate_bps") / 1e6);
        json_object_foreach((json_t *)json_object_get(d, "damaged"), kind, n)
        {
                fprintf(out, "%s%lld %s",
                        shown++ ? ", " : "; stored damaged: ", json_integer_value(n), kind);
        }
        if (json_is_true(json_object_get(d, "safe_to_remove")))
                fprintf(out, ": safe to remove");
        if (STR(d, "error")) {
                fprintf(out, ": ");
                ctl_put_safe(STR(d, "error"), out);
        }
        fprintf(out, "\n");
}

/* status: the space left in GB and for how many days at the recent rate, the other
 * fields, one line per dock with its progress, then the warnings one a line. */
int ctl_print_status(struct ctl *ctx, const json_t *result)
{
        static const char *const shown[] = { "docks", "warnings", "free_bytes", "days_left",
                                             "stored_bytes_per_day" };
        json_t *rest = json_deep_copy(result), *d;
        const json_t *warnings = json_object_get(result, "warnings");
        FILE *out = ctx->out;
        size_t i;

        fprintf(out, "free space: %.1f GB", (double)INT(result, "free_bytes") / 1e9);
        if (json_is_integer(json_object_get(result, "days_left")) &&
            INT(result, "days_left") > 3650)
                fprintf(out, ", more than ten years at the recent rate (%.1f GB a day)",
                        (double)INT(result, "stored_bytes_per_day") / 1e9);
        else if (json_is_integer(json_object_get(result, "days_left")))
                fprintf(out, ", about %lld days at the recent rate (%.1f GB a day)",
                        INT(result, "days_left"),
                        (double)INT(result, "stored_bytes_per_day") / 1e9);
        fprintf(out, "\n");
        for (i = 0; i < EVD_ARRAY_SIZE(shown); i++)
                (void)json_object_del(rest, shown[i]);
        ctl_put_fields(out, rest, 0);
        json_decref(rest);
        json_array_foreach(json_object_get(result, "docks"), i, d)
        {
                put_dock(out, d);
        }
        fprintf(out, json_array_size(warnings) ? "warnings:\n" : "warnings: none\n");
        json_array_foreach(warnings, i, d)
        {
                fprintf(out, "  - ");
                ctl_put_safe(json_string_value(d) ?: "?", out);
                fprintf(out, "\n");
        }
        return 0;
}

/* Whole days from deadline (RFC 3339) to now, 0 when not past. */
static long long days_late(const char *deadline)
{
        int64_t t;
        time_t now = time(NULL);

        if (!deadline || evd_time_parse(deadline, &t) < 0 || now <= t)
                return 0;
        return ((long long)now - t + 86399) / 86400;
}

/* items --overdue: who to chase, by when it was due and how late it is now. */
static void put_overdue_row(FILE *out, const struct ctl_col *cols, const json_t *it)
{
        const char *deadline = STR(it, "deadline");
        char local[EVD_TIME_LOCAL_STR], late[32];

        ctl_table_cell(out, &cols[0], STR(json_object_get(it, "labels"), "handler"));
        ctl_table_text(out, &cols[1], ctl_local_time(deadline ?: "-", local));
        (void)snprintf(late, sizeof(late), "%lld", days_late(deadline));
        ctl_table_text(out, &cols[2], late);
}

int ctl_print_items(struct ctl *ctx, const json_t *result)
{
        struct ctl_col cols[] = {
                { "ID", 6, false },
                { "SHA256", 12, false },
                { "SIZE", 10, true },
                { "RECORDED", 25, false },
                { "RECORDER", 16, false },
                { "CASE", 24, false },
                { "ORIGINAL PATH", 0, false },
        };
        struct ctl_col overdue_cols[] = {
                { "HANDLER", 12, false },
                { "DEADLINE", 25, false },
                { "DAYS LATE", 9, true },
        };
        bool overdue = json_is_true(json_object_get(ctx->args, "overdue"));
        FILE *out = ctx->out;
        size_t i;
        json_t *it;

        if (json_array_size(result) == 0) {
                fprintf(out, "no items\n");
                return 0;
        }
        json_array_foreach(result, i, it)
        {
                ctl_table_widen(&cols[4], STR(it, "recorder"));
                ctl_table_widen(&cols[5], STR(json_object_get(it, "labels"), "case_no"));
                ctl_table_widen(&overdue_cols[0], STR(json_object_get(it, "labels"), "handler"));
        }
        for (size_t k = 0; k < EVD_ARRAY_SIZE(cols); k++) {
                if (overdue && k + 1 == EVD_ARRAY_SIZE(cols))
                        for (size_t j = 0; j < EVD_ARRAY_SIZE(overdue_cols); j++)
                                ctl_table_head_cell(out, &overdue_cols[j]);
                ctl_table_head_cell(out, &cols[k]);
        }
        fputc('\n', out);
        json_array_foreach(result, i, it)
        {
                char id[32], sha[13], size[32], local[EVD_TIME_LOCAL_STR];

                (void)snprintf(id, sizeof(id), "%lld", (long long)INT(it, "id"));
                (void)snprintf(sha, sizeof(sha), "%s", STR(it, "sha256") ?: "");
                ctl_table_text(out, &cols[0], id);
                ctl_table_text(out, &cols[1], sha);
                ctl_table_text(out, &cols[2], ctl_human_size((uint64_t)INT(it, "size"), size));
                ctl_table_text(out, &cols[3], ctl_local_time(STR(it, "recorded_at") ?: "-", local));
                ctl_table_cell(out, &cols[4], STR(it, "recorder"));
                ctl_table_cell(out, &cols[5], STR(json_object_get(it, "labels"), "case_no"));
                if (overdue)
                        put_overdue_row(out, overdue_cols, it);
                ctl_put_path(it, "original_path", out);
                fprintf(out, "\n");
        }
        return 0;
}

int ctl_print_audit(struct ctl *ctx, const json_t *result)
{
        FILE *out = ctx->out;
        size_t i;
        json_t *e;

        json_array_foreach(result, i, e)
        {
                char local[EVD_TIME_LOCAL_STR];

                fprintf(out, "%6lld %s ", (long long)INT(e, "seq"),
                        ctl_local_time(STR(e, "time") ?: "", local));
                ctl_put_safe(STR(json_object_get(e, "actor"), "name") ?: "?", out);
                fprintf(out, " %s ", STR(e, "event") ?: "");
                ctl_put_safe(STR(e, "subject") ?: "", out);
                fprintf(out, " ");
                ctl_put_value(json_object_get(e, "details"), out);
                fprintf(out, "\n");
        }
        return 0;
}

/* One line per checkpoint: the format verify --anchors reads back. */
int ctl_print_checkpoints(struct ctl *ctx, const json_t *result)
{
        size_t i;
        json_t *e;

        json_array_foreach(result, i, e)
        {
                char local[EVD_TIME_LOCAL_STR];

                fprintf(ctx->out, "%lld %s %s %s\n", (long long)INT(e, "seq"), STR(e, "head") ?: "",
                        ctl_local_time(STR(e, "time") ?: "?", local), STR(e, "signature") ?: "");
        }
        return 0;
}

/* verify --remote: the archive's sealed audit log against the station's. */
static void ctl_print_verify_remote(FILE *out, const json_t *r)
{
        const json_t *d = json_object_get(r, "first_difference");

        if (STR(r, "error"))
                fprintf(out, "archive: FAILED: %s\n", STR(r, "error"));
        else if (json_is_true(json_object_get(r, "ok")))
                fprintf(out,
                        "archive: ok, the station's log matches the %lld sealed entries in %lld "
                        "segment(s) (certificate %.16s)\n",
                        (long long)INT(r, "sealed_through"), (long long)INT(r, "segments"),
                        STR(r, "cert_sha256") ?: "?");
        else
                fprintf(out, "archive: FAILED: audit entry %lld: %s\n", (long long)INT(d, "seq"),
                        STR(d, "why") ?: "?");
        ctl_print_remote_warnings(out, json_object_get(r, "warnings"));
}

int ctl_print_verify(struct ctl *ctx, const json_t *result)
{
        const json_t *a = json_object_get(result, "audit"), *s = json_object_get(result, "store"),
                     *c;
        FILE *out = ctx->out;
        size_t i;
        json_t *bad;

        if (a) {
                if (json_is_true(json_object_get(a, "ok")))
                        fprintf(out,
                                "audit log: ok, %lld entries chain from the first, %lld "
                                "checkpoints, %lld anchors\n",
                                (long long)INT(a, "entries"), (long long)INT(a, "checkpoints"),
                                (long long)INT(a, "anchors_checked"));
                else
                        fprintf(out, "audit log: FAILED: %s\n", STR(a, "error") ?: "?");
        }
        if (s) {
                char size[32];

                fprintf(out, "store: %s, %lld items checked (%s)\n",
                        json_is_true(json_object_get(s, "ok")) ? "ok" : "FAILED",
                        (long long)INT(s, "items_checked"),
                        ctl_human_size((uint64_t)INT(s, "bytes_checked"), size));
                if (INT(s, "pending_restore") > 0)
                        fprintf(out,
                                "  %lld objects not yet restored from the archive: run restore "
                                "--from-remote --objects\n",
                                (long long)INT(s, "pending_restore"));
                json_array_foreach(json_object_get(s, "stray_objects"), i, bad)
                {
                        fprintf(out, "  object %s: %s\n", STR(bad, "object") ?: "?",
                                STR(bad, "error") ?: "?");
                }
                json_array_foreach(json_object_get(s, "tmp_leftovers"), i, bad)
                {
                        fprintf(out, "  tmp/%s: %s\n", STR(bad, "name") ?: "?",
                                STR(bad, "error") ?: "?");
                }
                json_array_foreach(json_object_get(s, "bad"), i, bad)
                {
                        if (STR(bad, "object"))
                                fprintf(out, "  object %s: %s\n", STR(bad, "object"),
                                        STR(bad, "error") ?: "?");
                        else
                                fprintf(out, "  item %lld: %s\n", (long long)INT(bad, "id"),
                                        STR(bad, "error") ?: "?");
                }
        }
        if ((c = json_object_get(result, "catalog"))) {
                fprintf(out, "catalogue: %s, %lld item records against %lld audit entries\n",
                        json_is_true(json_object_get(c, "ok")) ? "ok" : "FAILED",
                        (long long)INT(c, "items_checked"), (long long)INT(c, "entries_replayed"));
                json_array_foreach(json_object_get(c, "bad"), i, bad)
                {
                        fprintf(out, "  item %lld: ", (long long)INT(bad, "id"));
                        ctl_put_safe(STR(bad, "error") ?: "?", out);
                        fprintf(out, "\n");
                }
        }
        if (json_object_get(result, "remote"))
                ctl_print_verify_remote(out, json_object_get(result, "remote"));
        return 0;
}

bool ctl_verify_failed(const json_t *result, char *why, size_t n)
{
        if (json_is_true(json_object_get(result, "ok")))
                return false;
        (void)snprintf(why, n, "verification failed");
        return true;
}

/* "  stored damaged: 1 truncated, 2 not-media (see items --integrity ...)". */
static void put_damaged(FILE *out, const json_t *damaged)
{
        const char *k;
        json_t *v;
        int n = 0;

        json_object_foreach((json_t *)damaged, k, v)
        {
                fprintf(out, "%s%lld %s", n++ ? ", " : "  stored damaged: ", json_integer_value(v),
                        k);
        }
        if (n)
                fprintf(out, " (items --integrity KIND lists them; note one to say what "
                             "happened)\n");
}

/* what, then the ids of a list, and a newline; nothing for an empty list. */
static void put_ids(FILE *out, const char *what, const json_t *ids)
{
        size_t i;
        json_t *v;

        if (json_array_size(ids) == 0)
                return;
        fprintf(out, "%s", what);
        json_array_foreach(ids, i, v)
        {
                fprintf(out, "%s%lld", i ? " " : "", json_integer_value(v));
        }
        fprintf(out, "\n");
}

int ctl_print_import(struct ctl *ctx, const json_t *r)
{
        FILE *out = ctx->out;
        size_t i;
        json_t *f;

        fprintf(out,
                "%lld files: %lld stored, %lld duplicate content, %lld already stored, %lld "
                "failed",
                INT(r, "files_total"), INT(r, "files_stored"), INT(r, "files_duplicate"),
                INT(r, "files_skipped"), INT(r, "files_failed"));
        if (json_is_true(json_object_get(r, "interrupted")))
                fprintf(out, " (interrupted: %lld not copied)", INT(r, "files_not_copied"));
        fprintf(out, "\n");
        put_damaged(out, json_object_get(r, "damaged"));
        put_ids(out, "new items: ", json_object_get(r, "new_ids"));
        json_array_foreach(json_object_get(r, "failures"), i, f)
        {
                fprintf(out, "  failed: ");
                ctl_put_path(f, "original_path", out);
                fprintf(out, ": %s\n", STR(f, "reason") ?: "?");
        }
        json_array_foreach(json_object_get(r, "skipped_entries"), i, f)
        {
                fprintf(out, "  skipped: ");
                ctl_put_path(f, "path", out);
                fprintf(out, ": %s\n", STR(f, "reason") ?: "?");
        }
        return 0;
}

bool ctl_import_failed(const json_t *r, char *why, size_t n)
{
        long long failed = INT(r, "files_failed");

        if (failed <= 0 && !json_is_true(json_object_get(r, "interrupted")))
                return false;
        (void)snprintf(why, n, "%lld file(s) not stored", failed + INT(r, "files_not_copied"));
        return true;
}

int ctl_print_calendar(struct ctl *ctx, const json_t *r)
{
        fprintf(ctx->out, "%s: %s (%s)\n", STR(r, "date") ?: "?",
                json_is_true(json_object_get(r, "working_day")) ? "working day" : "rest day",
                STR(r, "reason") ?: "?");
        return 0;
}

/* recorder assign repeated: the holder it has from that time already. */
static void put_held_already(FILE *out, const json_t *r)
{
        const json_t *a = json_object_get(r, "held_already");
        char local[EVD_TIME_LOCAL_STR];

        fprintf(out, "nothing changed: recorder ");
        ctl_put_safe(STR(r, "serial") ?: "?", out);
        fprintf(out, " is held by ");
        ctl_put_safe(STR(a, "handler_name") ?: "?", out);
        fprintf(out, " (");
        ctl_put_safe(STR(a, "handler_id") ?: "?", out);
        fprintf(out, ") from %s already\n", ctl_local_time(STR(a, "since") ?: "?", local));
}

int ctl_print_done(struct ctl *ctx, const json_t *r)
{
        const json_t *items = json_object_get(r, "items"), *u;
        FILE *out = ctx->out;
        size_t i;

        if (json_object_get(r, "held_already")) {
                put_held_already(out, r);
                return 0;
        }
        if (STR(r, "case_no")) {
                fprintf(out, "case number: ");
                ctl_put_safe(STR(r, "case_no"), out);
                fprintf(out, "\n");
        }
        if (items && json_array_size(items) == 0 &&
            json_array_size(json_object_get(r, "unchanged")))
                fprintf(out, "nothing changed\n");
        else if (items)
                fprintf(out, "%zu item(s) changed\n", json_array_size(items));
        else
                fprintf(out, "done\n");
        json_array_foreach(json_object_get(r, "unchanged"), i, u)
        {
                fprintf(out, "  item %lld: %s, unchanged\n", INT(u, "id"), STR(u, "why") ?: "?");
        }
        json_array_foreach(json_object_get(r, "warnings"), i, u)
        {
                fprintf(out, "warning: ");
                ctl_put_safe(json_string_value(u) ?: "?", out);
                fprintf(out, "\n");
        }
        return 0;
}

int ctl_print_recorders(struct ctl *ctx, const json_t *r)
{
        struct ctl_col cols[] = {
                { "SERIAL", 20, false },
                { "MODEL", 16, false },
                { "UNIT", 16, false },
                { "HANDLERS (since)", 0, false },
        };
        FILE *out = ctx->out;
        size_t i, k;
        json_t *rec, *a;

        json_array_foreach(r, i, rec)
        {
                ctl_table_widen(&cols[0], STR(rec, "serial"));
                ctl_table_widen(&cols[1], STR(rec, "model"));
                ctl_table_widen(&cols[2], STR(rec, "unit"));
        }
        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(r, i, rec)
        {
                ctl_table_cell(out, &cols[0], STR(rec, "serial"));
                ctl_table_cell(out, &cols[1], STR(rec, "model"));
                ctl_table_cell(out, &cols[2], STR(rec, "unit"));
                json_array_foreach(json_object_get(rec, "assignments"), k, a)
                {
                        fprintf(out, "%s", k ? "; " : "");
                        ctl_put_safe(STR(a, "handler_name") ?: "?", out);
                        fprintf(out, " (");
                        char local[EVD_TIME_LOCAL_STR];

                        ctl_put_safe(STR(a, "handler_id") ?: "?", out);
                        fprintf(out, ", %s)", ctl_local_time(STR(a, "since") ?: "?", local));
                }
                /* 第七条: a clock found fast beyond [usb] clock_tolerance. */
                if (json_is_true(json_object_get(rec, "clock_off"))) {
                        char at[EVD_TIME_LOCAL_STR];

                        fprintf(out, "  CLOCK %lld s FAST at its %s of %s: reset it",
                                INT(rec, "clock_ahead_s"), STR(rec, "clock_checked_by") ?: "dock",
                                ctl_local_time(STR(rec, "clock_checked_at") ?: "?", at));
                }
                fprintf(out, "\n");
        }
        return 0;
}

int ctl_print_access(struct ctl *ctx, const json_t *r)
{
        const char *copy = STR(r, "copy_to");

        fprintf(ctx->out, "access to item %lld registered", INT(r, "id"));
        if (copy) {
                fprintf(ctx->out, "; verified copy: ");
                ctl_put_safe(copy, ctx->out);
        }
        fprintf(ctx->out, "\n");
        return 0;
}

int ctl_print_export(struct ctl *ctx, const json_t *r)
{
        const json_t *vols = json_object_get(r, "volumes");
        FILE *out = ctx->out;
        size_t i;
        json_t *v;

        char local[EVD_TIME_LOCAL_STR];

        fprintf(out, "%lld item(s) exported to %zu image%s (extraction time %s):\n",
                INT(r, "items"), json_array_size(vols), json_array_size(vols) == 1 ? "" : "s",
                ctl_local_time(STR(r, "extraction_time") ?: "?", local));
        json_array_foreach(vols, i, v)
        {
                char size[32];

                fprintf(out, "  ");
                ctl_put_safe(STR(v, "path") ?: "?", out);
                fprintf(out, "\n    sha256 %s, %s, %zu item(s), volume id %s\n",
                        STR(v, "sha256") ?: "?", ctl_human_size((uint64_t)INT(v, "size"), size),
                        json_array_size(json_object_get(v, "items")), STR(v, "volume_id") ?: "?");
        }
        fprintf(out, "registered as audit entry %lld\n", INT(r, "audit_seq"));
        return 0;
}

int ctl_print_keys(struct ctl *ctx, const json_t *r)
{
        FILE *out = ctx->out;

        fprintf(out, "station key: ");
        ctl_put_safe(STR(r, "key") ?: "?", out);
        fprintf(out, "\ncertificate: ");
        ctl_put_safe(STR(r, "cert") ?: "?", out);
        fprintf(out, "\nsubject:     ");
        ctl_put_safe(STR(r, "subject") ?: "?", out);
        fprintf(out, "\nSHA-256 fingerprint: %s\n", STR(r, "fingerprint") ?: "?");
        if (STR(r, "pem")) /* keys show: what verify-disc --cert takes */
                fprintf(out, "%s", STR(r, "pem"));
        return 0;
}

/* clean: what was (or would be) moved to quarantine/ and removed from tmp/; exit 1
 * when anything failed. */
int ctl_print_clean(struct ctl *ctx, const json_t *r)
{
        bool dry = json_is_true(json_object_get(r, "dry_run"));
        FILE *out = ctx->out;
        size_t i;
        json_t *e;

        fprintf(out, "%zu stray object(s) %s quarantine/\n",
                json_array_size(json_object_get(r, "stray_objects")),
                dry ? "would be moved to" : "moved to");
        json_array_foreach(json_object_get(r, "stray_objects"), i, e)
        {
                fprintf(out, "  object %s%s%s\n", STR(e, "object") ?: "?",
                        STR(e, "moved_to") ? " -> " : "", STR(e, "moved_to") ?: "");
        }
        fprintf(out, "%zu tmp leftover(s) %s\n",
                json_array_size(json_object_get(r, "tmp_leftovers")),
                dry ? "would be removed" : "removed");
        json_array_foreach(json_object_get(r, "tmp_leftovers"), i, e)
        {
                char local[EVD_TIME_LOCAL_STR];

                fprintf(out, "  tmp/%s (%lld bytes, %s)\n", STR(e, "name") ?: "?", INT(e, "size"),
                        ctl_local_time(STR(e, "mtime") ?: "?", local));
        }
        json_array_foreach(json_object_get(r, "failed"), i, e)
        {
                fprintf(out, "  FAILED %s %s: %s\n", STR(e, "object") ? "object" : "tmp",
                        STR(e, "object") ?: STR(e, "tmp") ?: "?", STR(e, "error") ?: "?");
        }
        if (json_array_size(json_object_get(r, "failed")) > 0) {
                fprintf(stderr, "evidockctl: some things could not be cleaned\n");
                return 1;
        }
        return 0;
}

/* purge: unlike verify and import, a purge with failed items exits 1 only for people
 * (--json exits 0), as it always has. */
int ctl_print_purge(struct ctl *ctx, const json_t *r)
{
        const json_t *list = json_object_get(r, "eligible");
        FILE *out = ctx->out;
        const char *key;
        size_t i;
        json_t *e, *v;

        if (list) {
                fprintf(out, "%lld item(s) would be purged%s\n", INT(r, "eligible_count"),
                        INT(r, "eligible_count") > (long long)json_array_size(list)
                                ? ", the first of them:"
                                : "");
        } else {
                list = json_object_get(r, "purged");
                fprintf(out, "%zu item(s) purged\n", json_array_size(list));
        }
        json_array_foreach(list, i, e)
        {
                char local[EVD_TIME_LOCAL_STR];

                fprintf(out, "  item %lld %s (retained until %s)\n", INT(e, "id"),
                        STR(e, "sha256") ?: "",
                        ctl_local_time(STR(e, "retain_until") ?: "-", local));
        }
        json_object_foreach((json_t *)json_object_get(r, "kept"), key, v)
        {
                fprintf(out, "  kept: %lld %s\n", json_integer_value(v), key);
        }
        json_array_foreach(json_object_get(r, "failed"), i, e)
        {
                fprintf(out, "  FAILED item %lld: %s\n", INT(e, "id"), STR(e, "error") ?: "?");
        }
        if (json_array_size(json_object_get(r, "failed")) > 0) {
                fprintf(stderr, "evidockctl: some items could not be purged\n");
                return 1;
        }
        return 0;
}
