/* replicate: copies items into an S3 Object Lock archive (see replicate.h). */
#include "replicate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "catalog.h"
#include "clock.h"
#include "policy.h"
#include "s3.h"

#define RETRIES_MAX 4096
#define PARALLEL_MAX 16
#define BACKOFF_MAX_S 300
#define LOCK_MARGIN_S 86400 /* the least a lock set now runs: the server refuses a past date */

struct retry {
        uint64_t id;
        int attempts;
        uint64_t next_ns; /* monotonic */
};

struct evd_replicate {
        struct evd_conf conf;
        char prefix[EVD_CONF_NAME_MAX];
        struct evd_s3 *s3;                    /* workers[0] */
        struct evd_s3 *workers[PARALLEL_MAX]; /* [replication] parallel connections */
        size_t n_workers;
        pthread_mutex_t ctl_lock; /* the control socket, between workers */
        pthread_mutex_t lock;     /* retries, between workers */
        struct evd_catalog *catalog;
        size_t last_txnid;
        uint64_t audit_sealed;      /* the last audit entry sealed in the archive */
        uint64_t next_reconcile_ns; /* monotonic; 0: after the first pass */
        int ctl;                    /* the control socket, -1 when not connected */
        struct retry retries[RETRIES_MAX];
        size_t n_retries;
};

/* ---------------------------------------------------------------- credentials */

static int parse_credentials(FILE *f, const char *path, char *ak, char *sk, struct evd_err *err)
{
        char line[EVD_REPLICATE_SECRET_MAX + 32];

        ak[0] = sk[0] = '\0';
        while (fgets(line, sizeof(line), f)) {
                char *eq = strchr(line, '='), *v, *end;

                if (line[0] == '#' || !eq)
                        continue;
                v = eq + 1;
                while (*v == ' ')
                        v++;
                end = v + strcspn(v, "\r\n");
                while (end > v && end[-1] == ' ')
                        end--;
                *end = '\0';
                while (eq > line && eq[-1] == ' ')
                        eq--;
                *eq = '\0';
                if (strlen(v) >= EVD_REPLICATE_SECRET_MAX)
                        return evd_err_set(err, -EINVAL, "%s: %s too long", path, line);
                if (strcmp(line, "access_key") == 0)
                        memcpy(ak, v, strlen(v) + 1); /* fits: checked above */
                else if (strcmp(line, "secret_key") == 0)
                        memcpy(sk, v, strlen(v) + 1);
        }
        explicit_bzero(line, sizeof(line));
        if (!ak[0] || !sk[0])
                return evd_err_set(err, -EINVAL, "%s: needs access_key = ... and secret_key = ...",
                                   path);
        return 0;
}

int evd_replicate_credentials(const struct evd_conf *conf, char *ret_access, char *ret_secret,
                              struct evd_err *err)
{
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char path[EVD_CONF_PATH_MAX + 8];
        bool configured = conf->repl.credentials[0] != '\0';
        struct stat st;
        FILE *f;
        int fd, r;

        if (configured)
                (void)snprintf(path, sizeof(path), "%s", conf->repl.credentials);
        else if (dir && *dir)
                (void)snprintf(path, sizeof(path), "%s/s3", dir);
        else
                return evd_err_set(err, -ENOENT,
                                   "no S3 credentials: set [replication] credentials, or pass "
                                   "them with systemd LoadCredential=s3:...");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return evd_err_set(err, -errno, "credentials %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return evd_err_set(err, -EPERM, "credentials %s: not a regular file", path);
        }
        /* systemd's credentials directory is the service's own; a configured file must
         * be root's (or the caller's own: read-only keys for `remote list`) and kept
         * from everyone else */
        if (configured && ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077))) {
                close(fd);
                return evd_err_set(err, -EPERM,
                                   "credentials %s: refused: must be owned by root and readable "
                                   "by its owner only (mode %04o, owner uid %u); chmod 600",
                                   path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
        }
        f = fdopen(fd, "r");
        if (!f) {
                close(fd);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        r = parse_credentials(f, path, ret_access, ret_secret, err);
        fclose(f);
        return r;
}

/* ---------------------------------------------------------------- setup */

int evd_replicate_new(const struct evd_conf *conf, const char *access_key, const char *secret_key,
                      struct evd_replicate **ret, struct evd_err *err)
{
        struct evd_replicate *r = calloc(1, sizeof(*r));
        int rc;

        if (!r)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r->conf = *conf;
        r->ctl = -1;
        r->audit_sealed = UINT64_MAX;
        (void)snprintf(r->prefix, sizeof(r->prefix), "%s",
                       conf->repl.prefix[0] ? conf->repl.prefix : conf->name);
        struct evd_s3_config cfg = {
                .endpoint = conf->repl.endpoint,
                .bucket = conf->repl.bucket,
                .region = conf->repl.region,
                .access_key = access_key,
                .secret_key = secret_key,
                .ca_file = conf->repl.ca_file,
                .part_size = (uint64_t)conf->repl.part_size_mb << 20,
        };

        pthread_mutex_init(&r->ctl_lock, NULL);
        pthread_mutex_init(&r->lock, NULL);
        r->n_workers = conf->repl.parallel < 1              ? 1
                       : conf->repl.parallel > PARALLEL_MAX ? PARALLEL_MAX
                                                            : (size_t)conf->repl.parallel;
        /* bandwidth_mb caps what all connections send together: curl caps each one */
        cfg.max_send_bps = (uint64_t)conf->repl.bandwidth_mb * 1000000 / r->n_workers;
        for (size_t i = 0; i < r->n_workers; i++) {
                rc = evd_s3_new(&cfg, &r->workers[i], err);
                if (rc < 0) {
                        evd_replicate_free(r);
                        return rc;
                }
        }
        r->s3 = r->workers[0];
        *ret = r;
        return 0;
}

void evd_replicate_free(struct evd_replicate *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_workers; i++)
                evd_s3_free(r->workers[i]);
        evd_catalog_free(r->catalog);
        if (r->ctl >= 0)
                close(r->ctl);
        pthread_mutex_destroy(&r->ctl_lock);
        pthread_mutex_destroy(&r->lock);
        free(r);
}

int evd_replicate_check_bucket(struct evd_replicate *r, struct evd_err *err)
{
        struct evd_s3_lock lock = { .mode = EVD_S3_MODE_COMPLIANCE,
                                    .retain_until = evd_clock_now() + 86400 };
        struct evd_s3_body body = { .fd = -1, .data = "evidock lock check\n", .size = 19 };
        struct evd_s3_object o;
        char key[EVD_CONF_NAME_MAX + 64];
        bool versioning, locking;
        int rc;

        if ((rc = evd_s3_bucket_versioning(r->s3, &versioning, err)) < 0 ||
            (rc = evd_s3_bucket_object_lock(r->s3, &locking, err)) < 0) {
                char why[EVD_ERR_TEXT_MAX];

                if (rc != -EPROTO)
                        return rc;
                memcpy(why, err->text, sizeof(why));
                return evd_err_set(err, -EPROTO,
                                   "endpoint %s refused: its TLS certificate cannot be verified "
                                   "(%s); for a private CA set [replication] ca_file",
                                   r->conf.repl.endpoint, why);
        }
        if (!versioning || !locking)
                return evd_err_set(err, -EPERM,
                                   "bucket %s refused: %s%s%s; replication needs a bucket made "
                                   "with Object Lock",
                                   r->conf.repl.bucket, versioning ? "" : "versioning is off",
                                   !versioning && !locking ? " and " : "",
                                   locking ? "" : "Object Lock is not enabled");
        (void)snprintf(key, sizeof(key), "%s/lock-check/%lld", r->prefix,
                       (long long)evd_clock_now());
        rc = evd_s3_put(r->s3, key, &body, &lock, &o, err);
        if (rc < 0)
                return rc == -EINVAL || rc == -EIO
                               ? evd_err_set(err, -EPERM,
                                             "bucket %s refused: a COMPLIANCE object could not "
                                             "be stored: %s",
                                             r->conf.repl.bucket, err->text)
                               : rc;
        rc = evd_s3_delete(r->s3, key, o.version_id, err);
        if (rc == 0)
                return evd_err_set(err, -EPERM,
                                   "bucket %s refused: it deleted an object under COMPLIANCE "
                                   "retention; it cannot keep recordings safe",
                                   r->conf.repl.bucket);
        if (rc != -EACCES)
                return rc;
        evd_err_clear(err);
        return 0;
}

/* ---------------------------------------------------------------- evidockd */

static int ctl_connect(struct evd_replicate *r, struct evd_err *err)
{
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = 60 };
        int fd;

        if (r->ctl >= 0)
                return 0;
        if (evd_snprintf(a.sun_path, sizeof(a.sun_path), "%s", r->conf.control_socket) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "control socket path too long");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return evd_err_set(err, -errno, "socket: %s", strerror(errno));
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                int e = errno;

                close(fd);
                return evd_err_set(err, -e, "evidockd at %s: %s", a.sun_path, strerror(e));
        }
        r->ctl = fd;
        return 0;
}

/* Send {"cmd": cmd, "args": args} and wait for its final line. */
static int report_cmd_locked(struct evd_replicate *r, const char *cmd, json_t *args,
                             struct evd_err *err);

/* One request at a time on the one control socket, whichever worker asks. */
static int report_cmd(struct evd_replicate *r, const char *cmd, json_t *args, struct evd_err *err)
{
        int rc;

        pthread_mutex_lock(&r->ctl_lock);
        rc = report_cmd_locked(r, cmd, args, err);
        pthread_mutex_unlock(&r->ctl_lock);
        return rc;
}

static int report_cmd_locked(struct evd_replicate *r, const char *cmd, json_t *args,
                             struct evd_err *err)
{
        json_t *req = json_pack("{ss sO}", "cmd", cmd, "args", args), *reply;
        char *line = req ? json_dumps(req, JSON_COMPACT) : NULL, buf[4096];
        size_t len = 0;
        int rc = ctl_connect(r, err);

        json_decref(req);
        if (!line)
                return rc < 0 ? rc : evd_err_set(err, -ENOMEM, "out of memory");
        if (rc == 0 &&
            (evd_write_full(r->ctl, line, strlen(line)) < 0 || evd_write_full(r->ctl, "\n", 1) < 0))
                rc = evd_err_set(err, -EPIPE, "evidockd went away");
        free(line);
        while (rc == 0) { /* progress lines never come for this command: one line */
                ssize_t k = read(r->ctl, buf + len, sizeof(buf) - 1 - len);
                char *nl;

                if (k <= 0) {
                        rc = evd_err_set(err, -EPIPE, "evidockd went away");
                        break;
                }
                len += (size_t)k;
                buf[len] = '\0';
                nl = strchr(buf, '\n');
                if (!nl) {
                        if (len == sizeof(buf) - 1)
                                rc = evd_err_set(err, -EPROTO, "evidockd: reply too long");
                        continue;
                }
                *nl = '\0';
                reply = json_loads(buf, 0, NULL);
                if (!json_is_true(json_object_get(reply, "ok")))
                        rc = evd_err_set(err, -EPERM, "evidockd refused the report: %s",
                                         json_string_value(json_object_get(reply, "error")) ?: buf);
                json_decref(reply);
                if (nl + 1 != buf + len)
                        rc = rc ? rc : evd_err_set(err, -EPROTO, "evidockd: unexpected lines");
                break;
        }
        if (rc < 0 && r->ctl >= 0) {
                close(r->ctl);
                r->ctl = -1;
                r->audit_sealed = UINT64_MAX;
        }
        return rc;
}

static int report(struct evd_replicate *r, json_t *args, struct evd_err *err)
{
        return report_cmd(r, "replicated", args, err);
}

int evd_replicate_report_bucket(struct evd_replicate *r, const char *refused, struct evd_err *err)
{
        json_t *args = refused ? json_pack("{ss}", "refused", refused) : json_object();
        int rc;

        if (!args)
                return evd_err_set(err, -ENOMEM, "out of memory");
        rc = report_cmd(r, "bucket-checked", args, err);
        json_decref(args);
        return rc;
}

/* Reconcile when due (after the first pass, then every [replication] reconcile), and
 * report the findings: evidockd audits them and queues each problem item again. */
static int reconcile_when_due(struct evd_replicate *r, struct evd_err *err)
{
        uint64_t now = evd_clock_mono_ns();
        int64_t every = r->conf.repl.reconcile_s;
        size_t sample;
        json_t *found = NULL;
        int rc;

        if (!every || (r->next_reconcile_ns && now < r->next_reconcile_ns))
                return 0;
        sample = r->conf.repl.sample_per_day
                         ? (size_t)(((int64_t)r->conf.repl.sample_per_day * every + 86399) / 86400)
                         : 0;
        rc = evd_replicate_reconcile(r->s3, r->catalog, r->prefix, sample, &found, err);
        if (rc == 0) {
                rc = report_cmd(r, "reconciled", found, err);
                json_decref(found);
        }
        if (rc == 0)
                r->next_reconcile_ns = now + (uint64_t)every * 1000000000ull;
        return rc;
}

/* ---------------------------------------------------------------- one item */

struct want {
        uint64_t id;
        json_t *item, *rec; /* owned; rec may be NULL */
        int64_t until;
        bool hold;
        char record_sha[EVD_SHA256_HEX];
        char *record; /* the item's JSON as uploaded */
};

static void want_free(struct want *w)
{
        json_decref(w->item);
        json_decref(w->rec);
        free(w->record);
}

/* The lock one item asks of its object: its retain_until (permanent: the longest the
 * server keeps) and a legal hold when held, evidence or permanent. */
static void item_lock(const json_t *item, int64_t *ret_until, bool *ret_hold)
{
        const char *until = json_string_value(json_object_get(item, "retain_until"));

        *ret_until = EVD_S3_RETAIN_MAX;
        if (until && evd_time_parse(until, ret_until) == 0 && *ret_until > EVD_S3_RETAIN_MAX)
                *ret_until = EVD_S3_RETAIN_MAX;
        *ret_hold = !until || json_is_true(json_object_get(item, "hold")) ||
                    json_is_true(json_object_get(item, "evidence"));
}

/* Items with the same bytes share one object: its lock is the longest retain-until of
 * them all and a legal hold while any of them asks for one (a release of one item
 * never clears the hold another still needs). Sorted by sha for bsearch. */
struct objlock {
        char sha[EVD_SHA256_HEX];
        int64_t until;
        bool hold;
};

static int objlock_cmp(const void *a, const void *b)
{
        return strcmp(((const struct objlock *)a)->sha, ((const struct objlock *)b)->sha);
}

/* A retain-until to set now: until, or a day from now when that is sooner (an item
 * copied or extended after its date; the server refuses a date in the past). */
static int64_t lock_floor(int64_t until)
{
        int64_t least = evd_clock_now() + LOCK_MARGIN_S;

        return until < least ? least : until;
}

/* The lock of a record version: its item's (at least a day from now); a purged item's
 * record, the archive's note of the purge, is kept as long as the audit log. */
static void record_lock(const struct evd_replicate *r, const struct want *w,
                        struct evd_s3_lock *ret)
{
        const struct evd_period *keep = &r->conf.repl.audit_retention;
        int64_t t;

        *ret = (struct evd_s3_lock){ EVD_S3_MODE_COMPLIANCE, lock_floor(w->until), w->hold };
        if (!json_object_get(w->item, "purged"))
                return;
        if (keep->permanent || evd_policy_add_period(evd_clock_now(), keep, &t) < 0 ||
            t > EVD_S3_RETAIN_MAX)
                t = EVD_S3_RETAIN_MAX;
        if (t > ret->retain_until)
                ret->retain_until = t;
}

/* What the archive should hold for item; true when rec is not that yet. */
static bool want_of(struct want *w, const struct objlock *locks, size_t n_locks)
{
        uint8_t sha[EVD_SHA256_LEN];
        const char *rs = json_string_value(json_object_get(w->rec, "state"));
        struct objlock key = { 0 }, *shared;

        item_lock(w->item, &w->until, &w->hold);
        (void)snprintf(key.sha, sizeof(key.sha), "%s",
                       json_string_value(json_object_get(w->item, "sha256")) ?: "");
        shared = n_locks ? bsearch(&key, locks, n_locks, sizeof(*locks), objlock_cmp) : NULL;
        if (shared) {
                w->until = shared->until > w->until ? shared->until : w->until;
                w->hold = w->hold || shared->hold;
        }
        w->record = json_dumps(w->item, JSON_COMPACT | JSON_SORT_KEYS);
        if (!w->record)
                return false;
        (void)EVP_Digest(w->record, strlen(w->record), sha, NULL, EVP_sha256(), NULL);
        evd_hex(sha, sizeof(sha), w->record_sha);
        int64_t had = 0;

        if (rs && strcmp(rs, "purged") == 0) /* only its record went up: in step with it? */
                return strcmp(json_string_value(json_object_get(w->rec, "record_sha256")) ?: "",
                              w->record_sha) != 0;
        if (!rs || strcmp(rs, "confirmed") != 0)
                return true;
        (void)evd_time_parse(json_string_value(json_object_get(w->rec, "retain_until")) ?: "",
                             &had);
        return had < w->until || json_is_true(json_object_get(w->rec, "legal_hold")) != w->hold ||
               strcmp(json_string_value(json_object_get(w->rec, "record_sha256")) ?: "",
                      w->record_sha) != 0;
}

/* The object: adopt a copy already there (a kill -9 after its upload, or another item
 * with the same bytes) when its ETag is ours, else upload; then the lock in step. */
static int put_object(struct evd_replicate *r, struct evd_s3 *s3, struct want *w, const char *key,
                      struct evd_s3_object *o, int64_t *ret_until, struct evd_err *err)
{
        const char *sha = json_string_value(json_object_get(w->item, "sha256")) ?: "";
        uint8_t shab[EVD_SHA256_LEN];
        char path[EVD_CONF_PATH_MAX + 100], etag[EVD_S3_ETAG_MAX];
        struct evd_s3_lock lock = { EVD_S3_MODE_COMPLIANCE, lock_floor(w->until), w->hold };
        struct stat st;
        int fd, rc;

        if (evd_unhex(sha, shab, sizeof(shab)) < 0)
                return evd_err_set(err, -EINVAL, "item %" PRIu64 ": no sha256", w->id);
        (void)snprintf(path, sizeof(path), "%s/objects/%.2s/%.2s/%s", r->conf.state_dir, sha,
                       sha + 2, sha);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                rc = evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return rc;
        }
        struct evd_s3_body body = { .fd = fd, .size = (uint64_t)st.st_size, .sha256 = shab };

        rc = evd_s3_head(s3, key, NULL, o, err);
        if (rc == 0 && o->size == body.size && evd_s3_etag_of(s3, &body, etag) == 0 &&
            strcmp(etag, o->etag) == 0) {
                enum evd_s3_mode mode;
                int64_t until;
                bool hold;

                rc = evd_s3_get_retention(s3, key, o->version_id, &mode, &until, err);
                *ret_until = until;
                if (rc == 0 && (mode != EVD_S3_MODE_COMPLIANCE || until < w->until)) {
                        *ret_until = lock.retain_until;
                        rc = evd_s3_set_retention(s3, key, o->version_id, EVD_S3_MODE_COMPLIANCE,
                                                  lock.retain_until, err);
                }
                if (rc == 0)
                        rc = evd_s3_get_legal_hold(s3, key, o->version_id, &hold, err);
                if (rc == 0 && hold != w->hold)
                        rc = evd_s3_set_legal_hold(s3, key, o->version_id, w->hold, err);
        } else if (rc == 0 || rc == -ENOENT) {
                evd_err_clear(err);
                *ret_until = lock.retain_until;
                rc = evd_s3_put(s3, key, &body, &lock, o, err);
        }
        close(fd);
        return rc;
}

/* The object in step with w: a copy confirmed before keeps its version (its retention
 * extended, its hold set or cleared); else it is uploaded or adopted. *ret_until: the
 * retain-until it has now. */
static int sync_object(struct evd_replicate *r, struct evd_s3 *s3, struct want *w, const char *key,
                       struct evd_s3_object *o, int64_t *ret_until, struct evd_err *err)
{
        const char *have = json_string_value(json_object_get(w->rec, "version_id"));
        const char *rs = json_string_value(json_object_get(w->rec, "state"));
        int64_t had = 0;
        int rc = 0;

        if (!rs || strcmp(rs, "confirmed") != 0 || !have || !*have)
                return put_object(r, s3, w, key, o, ret_until, err);
        (void)evd_time_parse(json_string_value(json_object_get(w->rec, "retain_until")) ?: "",
                             &had);
        (void)snprintf(o->version_id, sizeof(o->version_id), "%s", have);
        (void)snprintf(o->etag, sizeof(o->etag), "%s",
                       json_string_value(json_object_get(w->rec, "etag")) ?: "");
        *ret_until = had;
        if (had < w->until) { /* a label or evidence extended it: never shortened */
                *ret_until = lock_floor(w->until);
                rc = evd_s3_set_retention(s3, key, have, EVD_S3_MODE_COMPLIANCE, *ret_until, err);
        }
        if (rc == 0 && json_is_true(json_object_get(w->rec, "legal_hold")) != w->hold)
                rc = evd_s3_set_legal_hold(s3, key, have, w->hold, err);
        return rc;
}

/* One item in step with the archive, and reported. An item purged before its object
 * was ever confirmed is not uploaded (its object is gone): only its record goes up,
 * reported as state "purged", which takes it out of the backlog. */
static int do_item(struct evd_replicate *r, struct evd_s3 *s3, struct want *w, struct evd_err *err)
{
        const char *sha = json_string_value(json_object_get(w->item, "sha256")) ?: "";
        const char *rs = json_string_value(json_object_get(w->rec, "state"));
        char key[EVD_CONF_NAME_MAX + 120], rkey[EVD_CONF_NAME_MAX + 64], until_s[EVD_TIME_STR];
        struct evd_s3_object o = { 0 }, ro = { 0 };
        struct evd_s3_lock lock;
        bool record_only =
                json_object_get(w->item, "purged") && (!rs || strcmp(rs, "confirmed") != 0);
        int64_t until = w->until;
        int rc = 0;

        (void)snprintf(key, sizeof(key), "%s/objects/%.2s/%.2s/%s", r->prefix, sha, sha + 2, sha);
        (void)snprintf(rkey, sizeof(rkey), "%s/items/%" PRIu64 ".json", r->prefix, w->id);
        if (!record_only)
                rc = sync_object(r, s3, w, key, &o, &until, err);
        if (rc == 0 && strcmp(json_string_value(json_object_get(w->rec, "record_sha256")) ?: "",
                              w->record_sha) != 0) {
                struct evd_s3_body body = { .fd = -1,
                                            .data = w->record,
                                            .size = strlen(w->record),
                                            .content_type = "application/json" };

                record_lock(r, w, &lock);
                rc = evd_s3_put(s3, rkey, &body, &lock, &ro, err);
        } else if (rc == 0) {
                (void)snprintf(ro.version_id, sizeof(ro.version_id), "%s",
                               json_string_value(json_object_get(w->rec, "record_version")) ?: "");
        }
        if (rc < 0)
                return rc;
        evd_time_format(until, until_s);
        json_t *args =
                record_only
                        ? json_pack("{sI ss ss ss}", "item", (json_int_t)w->id, "state", "purged",
                                    "record_sha256", w->record_sha, "record_version", ro.version_id)
                        : json_pack("{sI ss ss ss ss ss sb ss ss}", "item", (json_int_t)w->id,
                                    "state", "confirmed", "key", key, "version_id", o.version_id,
                                    "etag", o.etag, "retain_until", until_s, "legal_hold", w->hold,
                                    "record_sha256", w->record_sha, "record_version",
                                    ro.version_id);

        if (!args)
                return evd_err_set(err, -ENOMEM, "out of memory");
        rc = report(r, args, err);
        json_decref(args);
        return rc;
}

/* ---------------------------------------------------------------- the pass */

static struct retry *retry_of(struct evd_replicate *r, uint64_t id, bool make)
{
        for (size_t i = 0; i < r->n_retries; i++)
                if (r->retries[i].id == id)
                        return &r->retries[i];
        if (!make || r->n_retries == RETRIES_MAX)
                return NULL;
        r->retries[r->n_retries] = (struct retry){ .id = id };
        return &r->retries[r->n_retries++];
}

static void retry_clear(struct evd_replicate *r, uint64_t id)
{
        struct retry *t = retry_of(r, id, false);

        if (t)
                *t = r->retries[--r->n_retries];
}

/* Back off 2^attempts seconds (at most BACKOFF_MAX_S), times 0.5 to 1.5 at random. */
static void retry_later(struct evd_replicate *r, uint64_t id)
{
        struct retry *t = retry_of(r, id, true);
        uint16_t rnd = 0;
        uint64_t base;

        if (!t)
                return;
        t->attempts++;
        base = t->attempts >= 9 ? BACKOFF_MAX_S : (1u << t->attempts);
        if (base > BACKOFF_MAX_S)
                base = BACKOFF_MAX_S;
        (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
        t->next_ns = evd_clock_mono_ns() + base * 500000000ull + base * 1000000000ull * rnd / 65536;
}

static bool unreachable(int rc)
{
        return rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ETIMEDOUT ||
               rc == -EHOSTUNREACH || rc == -EAGAIN || rc == -EPROTO || rc == -EPIPE;
}

struct collect {
        struct evd_txn *txn;
        struct want *wants;
        size_t n, cap;
        struct objlock *locks;
        size_t n_locks, cap_locks;
};

static int lock_each(json_t *item, void *p)
{
        struct collect *c = p;
        struct objlock l = { 0 };

        if (json_object_get(item, "purged"))
                return 0;
        (void)snprintf(l.sha, sizeof(l.sha), "%s",
                       json_string_value(json_object_get(item, "sha256")) ?: "");
        item_lock(item, &l.until, &l.hold);
        if (c->n_locks == c->cap_locks) {
                size_t cap = c->cap_locks ? c->cap_locks * 2 : 256;
                struct objlock *n = realloc(c->locks, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                c->locks = n;
                c->cap_locks = cap;
        }
        c->locks[c->n_locks++] = l;
        return 0;
}

/* Sort the locks and merge those of one object. */
static void locks_merge(struct collect *c)
{
        size_t out = 0;

        if (c->n_locks == 0) /* qsort may not be given NULL, even for no elements */
                return;
        qsort(c->locks, c->n_locks, sizeof(*c->locks), objlock_cmp);
        for (size_t i = 0; i < c->n_locks; i++) {
                struct objlock *l = &c->locks[i];

                if (out && strcmp(c->locks[out - 1].sha, l->sha) == 0) {
                        struct objlock *m = &c->locks[out - 1];

                        m->until = l->until > m->until ? l->until : m->until;
                        m->hold = m->hold || l->hold;
                } else {
                        c->locks[out++] = *l;
                }
        }
        c->n_locks = out;
}

static int collect_each(json_t *item, void *p)
{
        struct collect *c = p;
        char key[24];
        struct want w = { .id = (uint64_t)json_integer_value(json_object_get(item, "id")) };

        (void)snprintf(key, sizeof(key), "%" PRIu64, w.id);
        w.item = json_incref(item);
        if (evd_catalog_json_get(c->txn, EVD_DB_REPLICATION, key, &w.rec) < 0)
                w.rec = NULL;
        if (!want_of(&w, c->locks, c->n_locks)) {
                want_free(&w);
                return 0;
        }
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                struct want *n = realloc(c->wants, cap * sizeof(*n));

                if (!n) {
                        want_free(&w);
                        return -ENOMEM;
                }
                c->wants = n;
                c->cap = cap;
        }
        c->wants[c->n++] = w;
        return 0;
}

/* The catalogue, opened when evidockd has made it (the replicator may start first). */
static int open_catalog(struct evd_replicate *r, struct evd_err *err)
{
        char dir[EVD_CONF_PATH_MAX + 16];

        if (r->catalog)
                return 0;
        (void)snprintf(dir, sizeof(dir), "%s/catalog", r->conf.state_dir);
        return evd_catalog_open_readonly(dir, &r->catalog, err);
}

bool evd_replicate_has_work(struct evd_replicate *r)
{
        struct evd_txn txn;
        size_t id = 0;
        uint64_t now = evd_clock_mono_ns();

        if (!r->catalog)
                return true;
        if (evd_catalog_read_begin(r->catalog, &txn) == 0) {
                id = mdb_txn_id(txn.txn);
                evd_catalog_read_end(&txn);
        }
        if (id != r->last_txnid)
                return true;
        if (r->conf.repl.reconcile_s && now >= r->next_reconcile_ns)
                return true;
        for (size_t i = 0; i < r->n_retries; i++)
                if (r->retries[i].next_ns <= now)
                        return true;
        return false;
}

/* The items of one pass, shared by the workers: each takes the next. */
struct work {
        struct evd_replicate *r;
        struct collect *c;
        atomic_size_t next, done;
        atomic_bool stop;
        int rc; /* under r->lock: what ends the pass */
        struct evd_err err;
};

struct worker {
        struct work *wk;
        struct evd_s3 *s3;
        pthread_t thread;
};

/* After a failure (under r->lock): back off, audit the 1st, 2nd, 4th... attempt, and
 * stop the pass when the endpoint or evidockd is away. */
static void failed(struct work *wk, struct want *w, int rc, const struct evd_err *e)
{
        struct evd_replicate *r = wk->r;
        struct retry *t;

        if ((rc == -EPIPE || rc == -ECONNREFUSED || rc == -ENOENT) && strstr(e->text, "evidockd")) {
                wk->rc = rc; /* the station: try again soon */
                wk->err = *e;
                atomic_store(&wk->stop, true);
                return;
        }
        retry_later(r, w->id);
        t = retry_of(r, w->id, false);
        if (t && (t->attempts & (t->attempts - 1)) == 0) {
                json_t *args = json_pack("{sI ss ss}", "item", (json_int_t)w->id, "state", "failed",
                                         "error", e->text);
                struct evd_err e2;

                if (args)
                        (void)report(r, args, &e2);
                json_decref(args);
        }
        wk->err = *e;
        if (unreachable(rc)) { /* the endpoint is away: the whole pass waits */
                wk->rc = rc;
                atomic_store(&wk->stop, true);
        }
}

static void *worker_main(void *p)
{
        struct worker *wr = p;
        struct work *wk = wr->wk;
        struct evd_replicate *r = wk->r;

        while (!atomic_load(&wk->stop)) {
                size_t i = atomic_fetch_add(&wk->next, 1);
                struct want *w;
                struct retry *t;
                struct evd_err e = { 0 };
                bool due;
                int rc;

                if (i >= wk->c->n)
                        break;
                w = &wk->c->wants[i];
                pthread_mutex_lock(&r->lock);
                t = retry_of(r, w->id, false);
                due = !t || t->next_ns <= evd_clock_mono_ns();
                pthread_mutex_unlock(&r->lock);
                if (!due)
                        continue;
                rc = do_item(r, wr->s3, w, &e);
                pthread_mutex_lock(&r->lock);
                if (rc == 0) {
                        retry_clear(r, w->id);
                        atomic_fetch_add(&wk->done, 1);
                } else {
                        failed(wk, w, rc, &e);
                }
                pthread_mutex_unlock(&r->lock);
        }
        return NULL;
}

/* The pass's items over [replication] parallel connections at once. */
static int run_workers(struct evd_replicate *r, struct collect *c, size_t *ret_done,
                       struct evd_err *err)
{
        struct work wk = { .r = r, .c = c };
        struct worker ws[PARALLEL_MAX];
        size_t n = r->n_workers < c->n ? r->n_workers : c->n, started = 0;

        for (size_t i = 0; i < n; i++) {
                ws[i] = (struct worker){ .wk = &wk, .s3 = r->workers[i] };
                if (i > 0 && pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
                        break;
                started = i + 1;
        }
        if (n)
                (void)worker_main(&ws[0]); /* this thread is the first worker */
        for (size_t i = 1; i < started; i++)
                (void)pthread_join(ws[i].thread, NULL);
        *ret_done = atomic_load(&wk.done);
        if (wk.err.code)
                *err = wk.err;
        return wk.rc;
}

int evd_replicate_pass(struct evd_replicate *r, size_t *ret_done, size_t *ret_waiting,
                       struct evd_err *err)
{
        struct evd_item_filter f = { 0 };
        struct collect c = { 0 };
        struct evd_txn txn;
        size_t done = 0;
        int rc = open_catalog(r, err);

        *ret_done = *ret_waiting = 0;
        if (rc < 0)
                return rc;
        rc = evd_catalog_read_begin(r->catalog, &txn);
        if (rc < 0)
                return evd_err_set(err, rc, "catalogue: %s", strerror(-rc));
        r->last_txnid = mdb_txn_id(txn.txn);
        c.txn = &txn;
        rc = evd_catalog_items_each(&txn, &f, lock_each, &c);
        if (rc >= 0) {
                locks_merge(&c);
                rc = evd_catalog_items_each(&txn, &f, collect_each, &c);
        }
        evd_catalog_read_end(&txn); /* no snapshot held over the network */
        if (rc >= 0)
                rc = run_workers(r, &c, &done, err);
        for (size_t i = 0; i < c.n; i++)
                want_free(&c.wants[i]);
        free(c.wants);
        free(c.locks);
        if (rc == 0) {
                size_t segs = 0;

                rc = evd_replicate_audit(r->s3, r->catalog, r->prefix,
                                         &r->conf.repl.audit_retention, &r->audit_sealed, &segs,
                                         err);
                if (rc == 0 && segs)
                        r->last_txnid = 0; /* more may be due: look again */
        }
        if (rc == 0 && c.n == done)
                rc = reconcile_when_due(r, err);
        *ret_done = done;
        *ret_waiting = c.n - done;
        return rc < 0 ? rc : 0;
}
