/* Station commands of 第二十七条: viewing or copying a recording goes through an
 * administrator and is registered with who asked, who approved, when and why. The
 * register is the audit log itself ("item.accessed" entries); access-log lists it, in
 * pages, in cmd_items.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "copy.h"
#include "deliver.h"
#include "disclose.h"
#include "label.h"
#include "name.h"
#include "station_internal.h"

#define COPY_NAME_MAX 200

struct access_ctx {
        const struct evd_actor *actor;
        uint64_t id;
        json_t *details;
};

static int register_access(struct evd_txn *txn, void *p)
{
        struct access_ctx *c = p;
        char subject[EVD_AUDIT_SUBJECT_MAX];

        evd_audit_item_subject(subject, c->id);
        return evd_audit_append(txn, c->actor, "item.accessed", subject, c->details, NULL);
}

/* "17-CLIP0001.MP4": the item id and the original's base name made safe. */
static void copy_name(const json_t *item, uint64_t id, char *out, size_t n)
{
        const char *path = json_string_value(json_object_get(item, "original_path")) ?: "item";
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char shown[COPY_NAME_MAX];

        (void)evd_name_escape(base, strlen(base), shown, sizeof(shown));
        for (char *p = shown; *p; p++)
                if (*p == '\\' || *p == '/')
                        *p = '_';
        (void)snprintf(out, n, "%llu-%s", (unsigned long long)id, shown);
}

int evd_cmd_access(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        const char *ref = NULL, *requester = NULL, *approver = NULL, *reason = NULL, *dir = NULL;
        struct access_ctx c = { .actor = evd_request_actor(req) };
        struct evd_disclose disc;
        struct evd_conf conf;
        char name[COPY_NAME_MAX + 32], final[EVD_PATH_MAX];
        uint8_t sha[EVD_SHA256_LEN];
        json_t *item = NULL;
        struct evd_txn txn;
        int src = -1, dst = -1, r;

        if ((r = evd_arg_string(args, "item", true, &ref, err)) < 0 ||
            (r = evd_arg_string(args, "requester", true, &requester, err)) < 0 ||
            (r = evd_label_check_text("requester", requester, 128, false, err)) < 0 ||
            (r = evd_arg_string(args, "approver", true, &approver, err)) < 0 ||
            (r = evd_label_check_text("approver", approver, 128, false, err)) < 0 ||
            (r = evd_arg_string(args, "reason", true, &reason, err)) < 0 ||
            (r = evd_label_check_text("reason", reason, EVD_LABEL_TEXT_MAX, true, err)) < 0 ||
            (r = evd_arg_string(args, "copy_to", false, &dir, err)) < 0)
                return r;
        evd_station_conf(s, &conf);
        r = evd_disclose_parse(args, &conf, approver, dir ? "copy" : "access", &disc, err);
        if (r < 0)
                return r;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_resolve_item(&txn, ref, &c.id, err);
        if (r == 0)
                r = evd_catalog_item_get(&txn, c.id, &item);
        evd_catalog_read_end(&txn);
        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        if (json_object_get(item, "purged")) {
                r = evd_err_set(err, -ENOENT, "item %s was purged", ref);
                goto out;
        }
        /* 第二十九条: a secret item is viewed on the station; copied or disclosed only with
         * the security approver. */
        if ((dir || disc.disclosure) &&
            (r = evd_disclose_check_secret(&disc, &conf, item, dir ? "copy" : "access", err)) < 0)
                goto out;
        c.details = json_pack("{sI sO ss ss ss sn ss ss*}", "id", (json_int_t)c.id, "sha256",
                              json_object_get(item, "sha256"), "requester", requester, "approver",
                              approver, "reason", reason, "copy_to", "purpose", disc.purpose,
                              "security_approver", disc.security_approver);
        if (!c.details) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        if (dir) {
                /* The client makes the copy's file (in DIR, named as we say) and passes
                 * it: the daemon never opens a path of the caller's. Copy, verify,
                 * register; a client gone meanwhile gets nothing registered. */
                copy_name(item, c.id, name, sizeof(name));
                if (dir[0] != '/' || evd_snprintf(final, sizeof(final), "%s/%s", dir, name) < 0) {
                        r = evd_err_set(err, -EINVAL, "--copy-to needs an absolute folder path");
                        goto out;
                }
                (void)evd_unhex(json_string_value(json_object_get(item, "sha256")) ?: "", sha,
                                sizeof(sha));
                r = evd_store_open_object(s->store, sha, &src);
                if (r < 0) {
                        r = evd_err_set(err, r, "the item's object cannot be opened: %s",
                                        strerror(-r));
                        goto out;
                }
                r = evd_request_receive_fd(req, json_pack("{ss}", "name", name), &dst, err);
                if (r == 0)
                        r = evd_deliver_check_output(dst, true, final, err);
                if (r == 0)
                        r = evd_copy_out(src, dst, sha, err);
                if (r == 0 && evd_request_client_gone(req))
                        r = evd_err_set(err, -ECONNRESET,
                                        "the client went away; nothing is registered");
                if (r < 0)
                        goto out;
                (void)json_object_set_new(c.details, "copy_to", json_string(final));
        }
        r = evd_catalog_write(s->catalog, register_access, &c, err);
        if (r < 0)
                goto out;
        *ret = json_incref(c.details);
        r = 0;
out:
        if (dst >= 0)
                (void)close(dst);
        if (src >= 0)
                (void)close(src);
        json_decref(c.details);
        json_decref(item);
        return r;
}
