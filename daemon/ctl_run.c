/* ctl_run: how evidockctl's commands run: most send one request and print its result
 * (ctl_run_request); audit --follow keeps asking for new entries; verify-disc checks
 * an exported disc in the client itself, without evidockd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "disc.h"
#include "err.h"
#include "station.h"

int ctl_run_request(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        char wire[64], why[128];
        json_t *result = NULL;
        int rc;

        if (!ctx->json)
                ctl_station_zone(ctx);
        ctx->args = args;
        rc = ctl_request(ctx, ctl_command_wire(cmd, wire, sizeof(wire)), args, &result);
        if (rc == 0 && ctx->json) {
                ctl_put_json(ctx->out, result);
                if (cmd->failed && cmd->failed(result, why, sizeof(why)))
                        rc = 1; /* the document says why */
        } else if (rc == 0) {
                rc = cmd->print(ctx, result);
                if (rc == 0 && cmd->failed && cmd->failed(result, why, sizeof(why))) {
                        fprintf(stderr, "evidockctl: %s\n", why);
                        rc = 1;
                }
        }
        json_decref(result);
        return rc;
}

/* ---- audit --follow: the entries as they come, until interrupted ---- */

static int follow_audit(struct ctl *ctx, json_t *args)
{
        if (!ctx->json)
                ctl_station_zone(ctx);
        (void)json_object_set_new(args, "limit", json_integer(EVD_ITEMS_PAGE_MAX));
        for (;;) {
                json_t *page = NULL, *items, *e, *last;
                bool more;
                size_t i;

                if (ctl_request(ctx, "audit", args, &page) != 0)
                        return 1;
                items = json_object_get(page, "items");
                last = json_array_get(items, json_array_size(items) - 1);
                if (last) { /* the cursor from now on: --since chose only the start */
                        (void)json_object_del(args, "since");
                        (void)json_object_set(args, "after", json_object_get(last, "seq"));
                }
                if (ctx->json) {
                        json_array_foreach(items, i, e)
                        {
                                char *text = json_dumps(e, JSON_COMPACT);

                                if (text)
                                        fprintf(ctx->out, "%s\n", text);
                                free(text);
                        }
                } else {
                        (void)ctl_print_audit(ctx, items);
                }
                fflush(ctx->out);
                more = json_is_integer(json_object_get(page, "next"));
                json_decref(page);
                if (!more) /* caught up: wait for new entries */
                        (void)sleep(1);
        }
}

/* ---- verify --anchors: checkpoints kept elsewhere, read here ---- */

#define ANCHORS_MAX 2500 /* what one request line holds */

/* The anchors file: what `audit checkpoints` prints (SEQ HEAD ... per line) or its
 * --json form. */
static json_t *read_anchors(const char *path, char *why, size_t n)
{
        json_t *out = json_array(), *j;
        char line[4096];
        FILE *f = fopen(path, "re");
        int c;

        if (!f || !out) {
                (void)snprintf(why, n, "%s: %s", path, strerror(errno));
                goto fail;
        }
        c = fgetc(f);
        (void)ungetc(c, f);
        if (c == '[') {
                json_t *list = json_loadf(f, 0, NULL);
                size_t i;

                json_array_foreach(list, i, j)
                {
                        (void)json_array_append_new(
                                out, json_pack("{sO sO}", "seq", json_object_get(j, "seq"), "head",
                                               json_object_get(j, "head")));
                }
                json_decref(list);
        } else {
                while (fgets(line, sizeof(line), f)) {
                        char head[65], *end;
                        long long seq;

                        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
                                continue;
                        errno = 0;
                        seq = strtoll(line, &end, 10);
                        if (errno || end == line || sscanf(end, " %64s", head) != 1) {
                                (void)snprintf(why, n, "%s: not a checkpoint line: %.40s", path,
                                               line);
                                goto fail;
                        }
                        (void)json_array_append_new(
                                out, json_pack("{sI ss}", "seq", (json_int_t)seq, "head", head));
                }
        }
        (void)fclose(f);
        f = NULL;
        if (json_array_size(out) == 0 || json_array_size(out) > ANCHORS_MAX) {
                (void)snprintf(why, n, "%s: %s", path,
                               json_array_size(out) ? "more than 2500 checkpoints (keep the newest)"
                                                    : "no checkpoints in it");
                goto fail;
        }
        return out;
fail:
        if (f)
                (void)fclose(f);
        json_decref(out);
        return NULL;
}

int ctl_run_verify(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        const char *path = json_string_value(json_object_get(args, "anchors"));
        char why[512];
        json_t *anchors;

        if (!path)
                return ctl_run_request(ctx, cmd, args);
        anchors = read_anchors(path, why, sizeof(why));
        if (!anchors) {
                ctl_say(cmd, "%s", why);
                return 1;
        }
        (void)json_object_set_new(args, "anchors", anchors);
        return ctl_run_request(ctx, cmd, args);
}

/* ---- items: pages of the daemon's results ---- */

/* --limit and --after as the daemon takes them (whole numbers); 2 after saying why. */
static int number_arg(const struct ctl_command *cmd, json_t *args, const char *key, long long max)
{
        const char *text = json_string_value(json_object_get(args, key));
        char *end = NULL;
        long long v;

        if (!text)
                return 0;
        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno || end == text || *end || v < 1 || v > max) {
                ctl_say(cmd, "--%s takes a whole number from 1 to %lld", key, max);
                return 2;
        }
        (void)json_object_set_new(args, key, json_integer(v));
        return 0;
}

/* Every page of wire's answer, one after the other: with --json one array written as
 * the pages come (neither side holds more than a page), else the table of them all. */
static int all_pages(struct ctl *ctx, const struct ctl_command *cmd, const char *wire, json_t *args)
{
        json_t *all = ctx->json ? NULL : json_array(), *next = NULL;
        const char *cursor =
                json_is_true(json_object_get(args, "newest_first")) ? "before" : "after";
        bool first = true;
        int rc = 0;

        (void)json_object_set_new(args, "limit", json_integer(EVD_ITEMS_PAGE_MAX));
        do {
                json_t *page = NULL, *items, *it;
                size_t i;

                if (next)
                        (void)json_object_set(args, cursor, next);
                rc = ctl_request(ctx, wire, args, &page);
                if (rc != 0)
                        break;
                if (ctx->json && !next)
                        fputs("[", ctx->out); /* once the first page came */
                items = json_object_get(page, "items");
                json_array_foreach(items, i, it)
                {
                        char *text = ctx->json ? json_dumps(it, JSON_COMPACT) : NULL;

                        if (text)
                                fprintf(ctx->out, "%s\n%s", first ? "" : ",", text);
                        else if (all)
                                (void)json_array_append(all, it);
                        free(text);
                        first = false;
                }
                json_decref(next);
                next = json_incref(json_object_get(page, "next"));
                json_decref(page);
        } while (json_is_integer(next));
        json_decref(next);
        if (ctx->json && rc == 0)
                fputs(first ? "]\n" : "\n]\n", ctx->out);
        else if (rc == 0)
                rc = cmd->print(ctx, all);
        json_decref(all);
        return rc;
}

/* items, audit, access-log (station.h): without --limit, --after and --before every
 * page in turn (newest first with --newest-first); with one of them the one page
 * asked for, and on stderr how to ask for the next. */
static int run_pages(struct ctl *ctx, const struct ctl_command *cmd, const char *wire,
                     const char *what, json_t *args)
{
        bool back = json_object_get(args, "before") ||
                    json_is_true(json_object_get(args, "newest_first"));
        json_t *page = NULL, *next;
        int rc;

        if ((rc = number_arg(cmd, args, "limit", EVD_ITEMS_PAGE_MAX)) != 0 ||
            (rc = number_arg(cmd, args, "after", INT64_MAX)) != 0 ||
            (rc = number_arg(cmd, args, "before", INT64_MAX)) != 0)
                return rc;
        if (back && json_object_get(args, "after")) {
                ctl_say(cmd, "--after reads oldest first, --before and --newest-first newest "
                             "first: give one of them");
                return 2;
        }
        if (!ctx->json)
                ctl_station_zone(ctx); /* times shown in the station's zone */
        ctx->args = args;
        if (!json_object_get(args, "limit") && !json_object_get(args, "after") &&
            !json_object_get(args, "before"))
                return all_pages(ctx, cmd, wire, args);
        /* One page: the next one is asked for with --after (--before newest first). */
        rc = ctl_request(ctx, wire, args, &page);
        if (rc != 0)
                return rc;
        next = json_object_get(page, "next");
        if (ctx->json) {
                ctl_put_json(ctx->out, page);
        } else {
                rc = cmd->print(ctx, json_object_get(page, "items"));
                if (rc == 0 && json_is_integer(next))
                        fprintf(stderr, "evidockctl: more %s: ask again with --%s %lld\n", what,
                                back ? "before" : "after", (long long)json_integer_value(next));
        }
        json_decref(page);
        return rc;
}

int ctl_run_items(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        return run_pages(ctx, cmd, "items", "items", args);
}

int ctl_run_access_log(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        return run_pages(ctx, cmd, "access-log", "entries", args);
}

int ctl_run_audit(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        bool follow = json_is_true(json_object_get(args, "follow"));

        (void)json_object_del(args, "follow");
        if (follow && (json_object_get(args, "limit") || json_object_get(args, "after") ||
                       json_object_get(args, "before") || json_object_get(args, "newest_first"))) {
                ctl_say(cmd, "--follow takes none of --limit, --after, --before, --newest-first");
                return 2;
        }
        return follow ? follow_audit(ctx, args) : run_pages(ctx, cmd, "audit", "entries", args);
}

/* ---- verify-disc: in the client itself, so that it needs no daemon ---- */

static const char *const verdict_names[] = {
        [EVD_DISC_OK] = "OK",           [EVD_DISC_MISMATCH] = "MISMATCH",
        [EVD_DISC_MISSING] = "MISSING", [EVD_DISC_EXTRA] = "EXTRA",
        [EVD_DISC_BAD] = "BAD",
};

struct disc_check {
        struct ctl *ctx;
        json_t *files; /* the verdicts for --json */
};

static void on_verdict(void *opaque, const char *path, enum evd_disc_verdict verdict,
                       const char *detail)
{
        struct disc_check *dc = opaque;
        FILE *out = dc->ctx->out;

        if (dc->ctx->json) {
                char *shown = ctl_escaped(path, strlen(path));

                (void)json_array_append_new(
                        dc->files, json_pack("{ss ss ss}", "path", shown ? shown : "?", "verdict",
                                             verdict_names[verdict], "detail", detail));
                free(shown);
                return;
        }
        fprintf(out, "%-8s ", verdict_names[verdict]);
        ctl_put_safe(path, out);
        if (verdict != EVD_DISC_OK) {
                fprintf(out, ": ");
                ctl_put_safe(detail, out);
        }
        fprintf(out, "\n");
}

/* The check's document for --json; takes files. */
static void put_disc_json(FILE *out, int r, json_t *files, const struct evd_disc_summary *sum)
{
        json_t *doc = json_pack(
                "{sb so s{sI sI sI sI sb ss* ss ss ss}}", "ok", r == 0, "files", files, "summary",
                "files_checked", (json_int_t)sum->files_checked, "problems",
                (json_int_t)sum->problems, "payload_files", (json_int_t)sum->payload_files,
                "payload_bytes", (json_int_t)sum->payload_bytes, "signature_ok", sum->signature_ok,
                "cert",
                sum->cert_source == EVD_DISC_CERT_GIVEN      ? "given"
                : sum->cert_source == EVD_DISC_CERT_EMBEDDED ? "embedded"
                                                             : NULL,
                "cert_sha256", sum->cert_sha256, "volume_id", sum->volume_id, "note", sum->note);

        ctl_put_json(out, doc);
        json_decref(doc);
}

static void put_disc_summary(FILE *out, int r, const struct evd_disc_summary *sum)
{
        char size[32];

        fprintf(out, "volume %s: %llu recording(s), %s; %llu file(s) hashed\n", sum->volume_id,
                (unsigned long long)sum->payload_files, ctl_human_size(sum->payload_bytes, size),
                (unsigned long long)sum->files_checked);
        if (sum->note[0]) {
                fprintf(out, "signature: ");
                ctl_put_safe(sum->note, out);
                fprintf(out, "\n");
        }
        fprintf(out, "%s\n",
                r == 0 ? "disc OK: every file matches and the signature is valid" : "disc FAILED");
}

int ctl_run_verify_disc(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        const char *path = json_string_value(json_object_get(args, "image"));
        const char *cert = json_string_value(json_object_get(args, "cert"));
        struct disc_check dc = { .ctx = ctx, .files = json_array() };
        struct evd_disc_summary sum = { 0 };
        struct evd_err err = { 0 };
        int r;

        (void)cmd;
        r = evd_disc_verify(path, cert, on_verdict, &dc, &sum, &err);
        if (r < 0 && r != -EBADMSG) {
                fprintf(stderr, "evidockctl: %s\n", err.text);
                json_decref(dc.files);
                return 1;
        }
        if (ctx->json) {
                put_disc_json(ctx->out, r, dc.files, &sum);
        } else {
                json_decref(dc.files);
                put_disc_summary(ctx->out, r, &sum);
        }
        if (r < 0) {
                fprintf(stderr, "evidockctl: ");
                ctl_put_safe(err.text, stderr);
                fprintf(stderr, "\n");
                return 1;
        }
        return 0;
}
