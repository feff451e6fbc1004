/* ctl_remote: the commands that read the archive (remote.h) in the client itself, with
 * the [replication] section and credentials of the configuration (-c FILE): evidockd
 * never reaches the network. `verify --remote` compares the station's audit log (asked
 * of evidockd) with the archive's sealed segments; `remote list` finds item records
 * of any station in the bucket; `restore --from-remote` rebuilds a station whose
 * state directory is empty. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "keys.h"
#include "remote.h"
#include "station.h"

static int load_conf(struct ctl *ctx, struct evd_conf *conf)
{
        struct evd_err err = { 0 };

        if (evd_conf_load(ctx->conf_path ? ctx->conf_path : EVD_CONF_DEFAULT_PATH, conf, &err) <
            0) {
                fprintf(stderr, "evidockctl: %s\n", err.text);
                return 1;
        }
        return 0;
}

/* The station's own certificate when this user can read it (then the archive's seals
 * must be its signatures); NULL to trust the one the archive keeps. */
static X509 *station_cert(const struct evd_conf *conf)
{
        char path[EVD_CONF_PATH_MAX + 32];
        struct evd_err err = { 0 };
        X509 *cert = NULL;

        if (conf->signing_cert[0])
                (void)snprintf(path, sizeof(path), "%s", conf->signing_cert);
        else
                (void)snprintf(path, sizeof(path), "%s/keys/" EVD_KEYS_CERT_FILE, conf->state_dir);
        if (evd_keys_cert_load(path, &cert, &err) < 0)
                return NULL;
        return cert;
}

static int open_remote(struct ctl *ctx, const json_t *args, struct evd_conf *conf,
                       struct evd_remote **ret)
{
        struct evd_err err = { 0 };

        if (load_conf(ctx, conf))
                return 1;
        if (evd_remote_open(conf, json_string_value(json_object_get(args, "credentials")), NULL,
                            ret, &err) < 0) {
                fprintf(stderr, "evidockctl: the archive: %s\n", err.text);
                return 1;
        }
        return 0;
}

/* The station's whole audit log, page by page (station.h). */
static int local_audit(struct ctl *ctx, json_t **ret)
{
        json_t *all = json_array(), *next = NULL;

        do {
                json_t *args = json_pack("{sI}", "limit", (json_int_t)EVD_ITEMS_PAGE_MAX);
                json_t *page = NULL, *e;
                size_t i;
                int rc;

                if (next)
                        (void)json_object_set(args, "after", next);
                rc = ctl_request(ctx, "audit", args, &page);
                json_decref(args);
                json_decref(next);
                next = NULL;
                if (rc) {
                        json_decref(all);
                        return rc;
                }
                json_array_foreach(json_object_get(page, "items"), i, e)
                {
                        (void)json_array_append(all, e);
                }
                next = json_incref(json_object_get(page, "next"));
                json_decref(page);
        } while (json_is_integer(next));
        json_decref(next);
        *ret = all;
        return 0;
}

void ctl_print_remote_warnings(FILE *out, const json_t *warnings)
{
        const json_t *w;
        size_t i;

        json_array_foreach(warnings, i, w)
        {
                fprintf(out, "archive: warning: ");
                ctl_put_safe(json_string_value(w) ?: "?", out);
                fputc('\n', out);
        }
}

/* {ok, sealed_through, segments, cert_sha256, compared, first_difference, warnings} or
 * {ok, error, warnings}. */
static json_t *verify_remote(struct ctl *ctx, const json_t *args)
{
        struct evd_remote *rm = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        json_t *remote = NULL, *local = NULL, *out = NULL;
        X509 *cert;
        int r;

        if (open_remote(ctx, args, &conf, &rm))
                return NULL;
        cert = station_cert(&conf);
        r = evd_remote_audit(rm, cert, &remote, &err);
        X509_free(cert);
        if (r < 0) {
                out = json_pack("{sb ss sO}", "ok", 0, "error", err.text, "warnings",
                                evd_remote_warnings(rm));
                evd_remote_free(rm);
                return out;
        }
        if (local_audit(ctx, &local) == 0 && evd_remote_audit_compare(remote, local, &out) == 0) {
                (void)json_object_set(out, "segments", json_object_get(remote, "segments"));
                (void)json_object_set(out, "cert_sha256", json_object_get(remote, "cert_sha256"));
                (void)json_object_set_new(out, "warnings", json_deep_copy(evd_remote_warnings(rm)));
        }
        evd_remote_free(rm);
        json_decref(local);
        json_decref(remote);
        return out;
}

int ctl_run_verify_remote(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        bool remote = json_is_true(json_object_get(args, "remote"));
        bool local_parts = json_is_true(json_object_get(args, "store")) ||
                           json_is_true(json_object_get(args, "audit"));
        json_t *result = NULL, *part;
        char why[128];
        int rc = 0;

        (void)json_object_del(args, "remote");
        (void)json_object_del(args, "credentials");
        if (!remote)
                return ctl_run_verify(ctx, cmd, args); /* --anchors, or one request */
        if (json_object_get(args, "anchors")) {
                ctl_say(cmd, "--anchors and --remote are checked in two runs");
                return 2;
        }
        if (local_parts && ctl_request(ctx, "verify", args, &result) != 0)
                return 1;
        if (!result)
                result = json_pack("{sb}", "ok", 1);
        part = verify_remote(ctx, args);
        if (!part) {
                json_decref(result);
                return 1;
        }
        if (!json_is_true(json_object_get(part, "ok")))
                (void)json_object_set_new(result, "ok", json_false());
        (void)json_object_set_new(result, "remote", part);
        if (ctx->json)
                ctl_put_json(ctx->out, result);
        else
                rc = ctl_print_verify(ctx, result);
        if (rc == 0 && ctl_verify_failed(result, why, sizeof(why))) {
                if (!ctx->json)
                        fprintf(stderr, "evidockctl: %s\n", why);
                rc = 1;
        }
        json_decref(result);
        return rc;
}

/* ---- remote list ---- */

int ctl_run_remote_list(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        static const struct ctl_col cols[] = { { "STATION", 12, false }, { "ID", 6, true },
                                               { "CASE", 24, false },    { "SHA256", 16, false },
                                               { "SIZE", 10, true },     { "RECORDED", 0, false } };
        struct evd_remote *rm = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        json_t *items = NULL, *it;
        size_t i;
        int r;

        (void)cmd;
        if (open_remote(ctx, args, &conf, &rm))
                return 1;
        (void)setenv("TZ", conf.timezone, 1); /* times in the station's zone */
        tzset();
        r = evd_remote_items(rm, json_string_value(json_object_get(args, "station")),
                             json_string_value(json_object_get(args, "case")), &items, &err);
        ctl_print_remote_warnings(stderr, evd_remote_warnings(rm));
        evd_remote_free(rm);
        if (r < 0) {
                fprintf(stderr, "evidockctl: remote list: %s\n", err.text);
                return 1;
        }
        if (ctx->json) {
                ctl_put_json(ctx->out, items);
                json_decref(items);
                return 0;
        }
        ctl_table_head(ctx->out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(items, i, it)
        {
                char id[24], sha[17], size[32], local[EVD_TIME_LOCAL_STR];

                (void)snprintf(id, sizeof(id), "%lld",
                               (long long)json_integer_value(json_object_get(it, "id")));
                (void)snprintf(sha, sizeof(sha), "%.16s",
                               json_string_value(json_object_get(it, "sha256")) ?: "");
                ctl_table_cell(ctx->out, &cols[0],
                               json_string_value(json_object_get(it, "station")));
                ctl_table_text(ctx->out, &cols[1], id);
                ctl_table_cell(ctx->out, &cols[2],
                               json_string_value(
                                       json_object_get(json_object_get(it, "labels"), "case_no")));
                ctl_table_cell(ctx->out, &cols[3], sha);
                ctl_table_text(
                        ctx->out, &cols[4],
                        ctl_human_size((uint64_t)json_integer_value(json_object_get(it, "size")),
                                       size));
                ctl_table_text(
                        ctx->out, &cols[5],
                        ctl_local_time(json_string_value(json_object_get(it, "recorded_at")) ?: "",
                                       local));
                fputc('\n', ctx->out);
        }
        json_decref(items);
        return 0;
}

/* ---- restore ---- */

int ctl_run_restore(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        struct evd_restore_opts opts = {
                .metadata_only = json_is_true(json_object_get(args, "metadata_only")),
                .objects_only = json_is_true(json_object_get(args, "objects")),
        };
        struct evd_remote *rm = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        json_t *report = NULL;
        X509 *cert;
        int r;

        (void)cmd;
        if (!json_is_true(json_object_get(args, "from_remote"))) {
                fprintf(stderr, "evidockctl: restore: only --from-remote is known\n");
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "evidockctl: restore: an administrator's work: run it as root, "
                                "with evidockd stopped\n");
                return 1;
        }
        if (open_remote(ctx, args, &conf, &rm))
                return 1;
        cert = json_string_value(json_object_get(args, "cert")) ? NULL : station_cert(&conf);
        if (!cert && json_string_value(json_object_get(args, "cert")) &&
            evd_keys_cert_load(json_string_value(json_object_get(args, "cert")), &cert, &err) < 0) {
                fprintf(stderr, "evidockctl: restore: %s\n", err.text);
                evd_remote_free(rm);
                return 1;
        }
        r = evd_restore(&conf, rm, cert, &opts, &report, &err);
        X509_free(cert);
        evd_remote_free(rm);
        if (r < 0) {
                fprintf(stderr, "evidockctl: restore: %s\n", err.text);
                return 1;
        }
        if (ctx->json) {
                ctl_put_json(ctx->out, report);
        } else {
                ctl_put_fields(ctx->out, report, 0);
        }
        r = json_array_size(json_object_get(report, "missing")) ? 1 : 0;
        if (r)
                fprintf(stderr, "evidockctl: restore: some recordings could not be restored\n");
        json_decref(report);
        return r;
}

/* ---- replication ---- */

int ctl_print_replication(struct ctl *ctx, const json_t *r)
{
        const json_t *last = json_object_get(r, "last_reconciliation"), *a, *rec;
        FILE *out = ctx->out;
        char size[32], at[EVD_TIME_LOCAL_STR];
        size_t i;
        long long age = (long long)json_integer_value(json_object_get(r, "oldest_pending_s"));

        if (!json_is_true(json_object_get(r, "enabled"))) {
                fprintf(out, "replication: off (no [replication] section)\n");
                return 0;
        }
        fprintf(out, "archive: ");
        ctl_put_safe(json_string_value(json_object_get(r, "endpoint")) ?: "?", out);
        fprintf(out, " bucket ");
        ctl_put_safe(json_string_value(json_object_get(r, "bucket")) ?: "?", out);
        fprintf(out, "\nitems: %lld, confirmed in the archive %lld\n",
                (long long)json_integer_value(json_object_get(r, "items")),
                (long long)json_integer_value(json_object_get(r, "confirmed")));
        fprintf(out, "lag: %lld item(s), %s pending; oldest pending for %lld h %02lld min\n",
                (long long)json_integer_value(json_object_get(r, "pending")),
                ctl_human_size((uint64_t)json_integer_value(json_object_get(r, "pending_bytes")),
                               size),
                age / 3600, age % 3600 / 60);
        fprintf(out, "failing: %lld item(s) whose last attempt failed\n",
                (long long)json_integer_value(json_object_get(r, "failing")));
        if (json_is_object(last))
                fprintf(out,
                        "last reconciliation: %s: %lld object(s) listed, %lld item(s) checked, "
                        "%lld re-hashed, %zu problem(s), %zu extra\n",
                        ctl_local_time(json_string_value(json_object_get(last, "at")) ?: "?", at),
                        (long long)json_integer_value(json_object_get(last, "objects")),
                        (long long)json_integer_value(json_object_get(last, "checked")),
                        (long long)json_integer_value(json_object_get(last, "sampled")),
                        json_array_size(json_object_get(last, "problems")),
                        json_array_size(json_object_get(last, "extra")));
        else
                fprintf(out, "last reconciliation: none yet\n");
        json_array_foreach(json_object_get(last, "problems"), i, a)
        {
                fprintf(out,
                        "  item %lld: ", (long long)json_integer_value(json_object_get(a, "item")));
                ctl_put_safe(json_string_value(json_object_get(a, "why")) ?: "?", out);
                fputc('\n', out);
        }
        json_array_foreach(json_object_get(r, "alarms"), i, a)
        {
                ctl_put_safe(json_string_value(a) ?: "?", out);
                fputc('\n', out);
        }
        json_array_foreach(json_object_get(r, "records"), i, rec)
        {
                fprintf(out, "  item %lld: %s",
                        (long long)json_integer_value(json_object_get(rec, "item")),
                        json_string_value(json_object_get(rec, "state")) ?: "?");
                if (json_is_string(json_object_get(rec, "last_error"))) {
                        fprintf(out, " (");
                        ctl_put_safe(json_string_value(json_object_get(rec, "last_error")), out);
                        fprintf(out, ")");
                }
                fputc('\n', out);
        }
        return 0;
}

bool ctl_replication_failed(const json_t *result, char *why, size_t n)
{
        if (json_array_size(json_object_get(result, "alarms")) == 0)
                return false;
        (void)snprintf(why, n, "replication has an alarm");
        return true;
}
