/* remote: reading the archive back (see remote.h). */
#include "remote.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "checkpoint.h"
#include "keys.h"
#include "replicate.h"
#include "s3.h"

#define SEGMENT_MAX (256u << 20)
#define RECORD_MAX (1u << 20)
#define SMALL_MAX (64u << 10)

struct evd_remote {
        struct evd_s3 *s3;
        char prefix[EVD_CONF_NAME_MAX];
        json_t *warnings; /* ["KEY: ...", ...] */
        bool retention_unreadable;
};

int evd_remote_open(const struct evd_conf *conf, const char *credentials, const char *prefix,
                    struct evd_remote **ret, struct evd_err *err)
{
        char ak[EVD_REPLICATE_SECRET_MAX], sk[EVD_REPLICATE_SECRET_MAX];
        struct evd_conf *c = malloc(sizeof(*c));
        struct evd_remote *rm = calloc(1, sizeof(*rm));
        int r;

        if (rm)
                rm->warnings = json_array();
        if (!c || !rm || !rm->warnings) {
                free(c);
                evd_remote_free(rm);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        *c = *conf;
        if (!c->repl.on) {
                r = evd_err_set(err, -ENOENT, "no [replication] section in the configuration");
                goto out;
        }
        if (credentials)
                (void)snprintf(c->repl.credentials, sizeof(c->repl.credentials), "%s", credentials);
        r = evd_replicate_credentials(c, ak, sk, err);
        if (r < 0)
                goto out;
        struct evd_s3_config cfg = { .endpoint = c->repl.endpoint,
                                     .bucket = c->repl.bucket,
                                     .region = c->repl.region,
                                     .access_key = ak,
                                     .secret_key = sk,
                                     .ca_file = c->repl.ca_file };

        r = evd_s3_new(&cfg, &rm->s3, err);
        explicit_bzero(sk, sizeof(sk));
        (void)snprintf(rm->prefix, sizeof(rm->prefix), "%s",
                       prefix              ? prefix
                       : c->repl.prefix[0] ? c->repl.prefix
                                           : c->name);
out:
        free(c);
        if (r < 0) {
                evd_remote_free(rm);
                return r;
        }
        *ret = rm;
        return 0;
}

void evd_remote_free(struct evd_remote *rm)
{
        if (!rm)
                return;
        evd_s3_free(rm->s3);
        json_decref(rm->warnings);
        free(rm);
}

struct evd_s3 *evd_remote_s3(struct evd_remote *rm)
{
        return rm->s3;
}

const char *evd_remote_prefix(const struct evd_remote *rm)
{
        return rm->prefix;
}

const json_t *evd_remote_warnings(const struct evd_remote *rm)
{
        return rm->warnings;
}

/* ---------------------------------------------------------------- versions */

/* The bucket is versioned: whoever holds write credentials can PUT a newer version over
 * a key (or hide it with a delete marker) while the locked one stays underneath. The
 * readers never take "the latest": keys written once (audit segments, certificates,
 * objects) are read at their oldest version, the one replication wrote and locked; an
 * item record, which replication writes again (locked) when its labels or hold change,
 * at its newest version under retention. Everything else found is a warning. */

struct ver {
        char *key;
        char vid[EVD_S3_VERSION_MAX];
        char etag[EVD_S3_ETAG_MAX];
        int64_t ms;
        size_t order;
        bool marker;
};

struct vers {
        struct ver *v;
        size_t n, cap;
        bool (*want)(const char *key, void *ud);
        void *ud;
};

static int ver_add(void *p, const struct evd_s3_version *v)
{
        struct vers *l = p;

        if (l->want && !l->want(v->key, l->ud))
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                struct ver *nv = realloc(l->v, cap * sizeof(*nv));

                if (!nv)
                        return -ENOMEM;
                l->v = nv;
                l->cap = cap;
        }
        struct ver *e = &l->v[l->n];

        e->key = strdup(v->key);
        if (!e->key)
                return -ENOMEM;
        (void)snprintf(e->vid, sizeof(e->vid), "%s", v->version_id);
        (void)snprintf(e->etag, sizeof(e->etag), "%s", v->etag);
        e->ms = v->modified_ms;
        e->order = l->n++;
        e->marker = v->delete_marker;
        return 0;
}

/* By key; a key's versions newest first (the server lists them so: its order breaks
 * a tie in LastModified). */
static int ver_cmp(const void *a, const void *b)
{
        const struct ver *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        if (c)
                return c;
        if (x->ms != y->ms)
                return x->ms > y->ms ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

static void warn(struct evd_remote *rm, const char *key, const char *what, const char *vid)
{
        char text[EVD_S3_KEY_MAX + EVD_S3_VERSION_MAX + 256];

        (void)snprintf(text, sizeof(text), "%s: %s%s%s", key, what, vid ? " " : "", vid ? vid : "");
        (void)json_array_append_new(rm->warnings, json_string(text));
}

/* 1 when the version is under a retention, 0 when not, -1 when that cannot be read (the
 * credentials may not allow it: one warning, and the version is taken as locked). */
static int locked(struct evd_remote *rm, const char *key, const char *vid)
{
        struct evd_err e = { 0 };
        enum evd_s3_mode mode;
        int64_t until;

        if (evd_s3_get_retention(rm->s3, key, vid, &mode, &until, &e) < 0) {
                if (!rm->retention_unreadable)
                        warn(rm, key, "its retention could not be read:", e.text);
                rm->retention_unreadable = true;
                return -1;
        }
        return mode != EVD_S3_MODE_NONE;
}

/* Which of one key's versions v[0..n) (newest first) to read; warnings for the rest
 * (not for a newer copy of the same bytes: a retried upload). */
static const struct ver *choose(struct evd_remote *rm, const struct ver *v, size_t n, bool newest)
{
        const struct ver *pick = NULL, *oldest = NULL;

        for (size_t i = 0; i < n; i++)
                if (v[i].marker)
                        warn(rm, v[i].key,
                             "a delete marker hides it (the locked version is read); marker",
                             v[i].vid);
                else
                        oldest = &v[i];
        if (!oldest)
                return NULL;
        for (size_t i = 0; newest && !pick && i < n; i++) {
                if (v[i].marker)
                        continue;
                if (locked(rm, v[i].key, v[i].vid) != 0)
                        pick = &v[i];
                else if (&v[i] != oldest)
                        warn(rm, v[i].key, "a newer unlocked version exists (ignored): version",
                             v[i].vid);
        }
        if (!pick) {
                pick = oldest;
                if (!newest && locked(rm, oldest->key, oldest->vid) == 0)
                        warn(rm, oldest->key, "its oldest version is not under retention: version",
                             oldest->vid);
                else if (newest)
                        warn(rm, oldest->key, "no version is under retention: version",
                             oldest->vid);
        }
        for (size_t i = 0; !newest && i < n; i++)
                if (!v[i].marker && &v[i] != pick && strcmp(v[i].etag, pick->etag) != 0)
                        warn(rm, v[i].key,
                             locked(rm, v[i].key, v[i].vid) == 0
                                     ? "a newer unlocked version exists (ignored): version"
                                     : "a newer version exists (ignored): version",
                             v[i].vid);
        return pick;
}

/* For every key under prefix that want (NULL: all) accepts, in key order: each(ud, key,
 * version) with the version to read (the oldest, or with newest the newest locked). */
static int each_version(struct evd_remote *rm, const char *prefix, bool newest,
                        bool (*want)(const char *key, void *ud),
                        int (*each)(void *ud, const char *key, const char *vid), void *ud,
                        struct evd_err *err)
{
        struct vers l = { .want = want, .ud = ud };
        int r = evd_s3_list_versions(rm->s3, prefix, ver_add, &l, err);

        if (r == -ENOMEM)
                r = evd_err_set(err, r, "out of memory");
        if (r == 0 && l.n > 1) /* none listed, no array: qsort may not be given NULL */
                qsort(l.v, l.n, sizeof(*l.v), ver_cmp);
        for (size_t i = 0, j; r == 0 && i < l.n; i = j) {
                for (j = i + 1; j < l.n && strcmp(l.v[j].key, l.v[i].key) == 0; j++)
                        ;
                const struct ver *pick = choose(rm, l.v + i, j - i, newest);

                if (pick)
                        r = each(ud, pick->key, pick->vid);
        }
        for (size_t i = 0; i < l.n; i++)
                free(l.v[i].key);
        free(l.v);
        return r;
}

struct one_key {
        const char *key;
        char *vid;
};

static bool exact_key(const char *key, void *ud)
{
        return strcmp(key, ((struct one_key *)ud)->key) == 0;
}

static int copy_vid(void *ud, const char *key, const char *vid)
{
        (void)key;
        (void)snprintf(((struct one_key *)ud)->vid, EVD_S3_VERSION_MAX, "%s", vid);
        return 0;
}

int evd_remote_version(struct evd_remote *rm, const char *key, char vid[EVD_S3_VERSION_MAX],
                       struct evd_err *err)
{
        struct one_key one = { key, vid };
        int r;

        vid[0] = '\0';
        r = each_version(rm, key, false, exact_key, copy_vid, &one, err);
        if (r == 0 && !vid[0])
                r = evd_err_set(err, -ENOENT, "%s: not in the archive", key);
        return r;
}

/* ---------------------------------------------------------------- audit segments */

struct seg {
        uint64_t first, last;
};

struct seg_list {
        const char *dir;
        struct seg *v;
        size_t n, cap;
        json_t *vids; /* key: the version to read */
};

static int seg_each(void *ud, const char *key, const char *vid)
{
        struct seg_list *l = ud;
        uint64_t f, lst;
        const char *ext;

        if (json_object_set_new(l->vids, key, json_string(vid)) < 0)
                return -ENOMEM;
        if (evd_replicate_segment_name(key + strlen(l->dir), &f, &lst, &ext) < 0 ||
            strcmp(ext, "p7s") != 0)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct seg *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = (struct seg){ f, lst };
        return 0;
}

static int seg_cmp(const void *a, const void *b)
{
        const struct seg *x = a, *y = b;

        return x->first < y->first ? -1 : x->first > y->first;
}

struct audit_ctx {
        struct evd_remote *rm;
        const json_t *vids;
        X509 *trusted;
        json_t *out, *entries, *lines, *cps;
        uint64_t next;
        char prev[EVD_SHA256_HEX];
        char cert_fp[EVD_SHA256_HEX];
        struct evd_err *err;
};

/* The entries of one segment: each the next in the chain. */
static int check_entries(struct audit_ctx *a, const struct seg *s, char *text)
{
        char *save = NULL;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *e = json_loads(line, 0, NULL);
                uint8_t h[EVD_SHA256_LEN];
                char hex[EVD_SHA256_HEX];
                uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));

                if (!e || seq != a->next || evd_audit_entry_hash(e, h) < 0) {
                        json_decref(e);
                        return evd_err_set(a->err, -EBADMSG,
                                           "archive audit segment %" PRIu64 "-%" PRIu64
                                           ": entry %" PRIu64 " is missing or unreadable",
                                           s->first, s->last, a->next);
                }
                evd_hex(h, sizeof(h), hex);
                if (strcmp(hex, json_string_value(json_object_get(e, "hash")) ?: "") != 0 ||
                    strcmp(a->prev, json_string_value(json_object_get(e, "prev")) ?: "") != 0) {
                        json_decref(e);
                        return evd_err_set(
                                a->err, -EBADMSG,
                                "archive audit entry %" PRIu64 " does not chain: %s", seq,
                                strcmp(hex, json_string_value(json_object_get(e, "hash")) ?: "")
                                        ? "its hash is wrong"
                                        : "its prev is not the entry before");
                }
                memcpy(a->prev, hex, sizeof(hex));
                (void)json_array_append_new(a->entries, e);
                (void)json_array_append_new(a->lines, json_string(line));
                a->next++;
        }
        if (a->next != s->last + 1)
                return evd_err_set(a->err, -EBADMSG,
                                   "archive audit segment %" PRIu64 "-%" PRIu64
                                   " ends at entry %" PRIu64,
                                   s->first, s->last, a->next - 1);
        return 0;
}

/* One file of a segment, at the version the listing chose. */
static int get_small(const struct audit_ctx *a, const struct seg *s, const char *ext, size_t max,
                     char **ret, size_t *ret_len, struct evd_err *err)
{
        char key[EVD_S3_KEY_MAX];
        const char *vid;

        (void)snprintf(key, sizeof(key), "%s/audit/%" PRIu64 "-%" PRIu64 ".%s", a->rm->prefix,
                       s->first, s->last, ext);
        vid = json_string_value(json_object_get(a->vids, key));
        if (!vid) {
                (void)evd_err_set(err, -EBADMSG,
                                  "archive audit segment %" PRIu64 "-%" PRIu64
                                  ": its .%s is missing",
                                  s->first, s->last, ext);
                return -EBADMSG;
        }
        return evd_s3_get_mem(a->rm->s3, key, vid, max, ret, ret_len, err);
}

/* The certificate a signature names, from the archive. */
static int archive_cert(struct audit_ctx *a, const uint8_t *sig, size_t len, X509 **ret)
{
        char key[EVD_S3_KEY_MAX], fp[EVD_SHA256_HEX], vid[EVD_S3_VERSION_MAX], *pem = NULL;
        X509 *embedded = NULL;
        size_t n;
        int r = evd_keys_cms_signer(sig, len, &embedded);

        if (r < 0)
                return evd_err_set(a->err, -EBADMSG, "a seal's signature names no certificate");
        evd_keys_fingerprint(embedded, fp);
        X509_free(embedded);
        (void)snprintf(key, sizeof(key), "%s/certs/%s.pem", a->rm->prefix, fp);
        r = evd_remote_version(a->rm, key, vid, a->err);
        if (r == 0)
                r = evd_s3_get_mem(a->rm->s3, key, vid, SMALL_MAX, &pem, &n, a->err);
        if (r == 0)
                r = evd_keys_cert_parse(pem, n, ret, a->err);
        free(pem);
        if (r == 0)
                memcpy(a->cert_fp, fp, sizeof(fp));
        return r;
}

/* One "key: value" line of a checkpoint text into out (n bytes); the next line. */
static const char *cp_line(const char *p, const char *key, char *out, size_t n)
{
        size_t k = strlen(key), len;
        const char *nl;

        if (!p || strncmp(p, key, k) != 0 || p[k] != ':' || p[k + 1] != ' ')
                return NULL;
        p += k + 2;
        nl = strchr(p, '\n');
        len = nl ? (size_t)(nl - p) : 0;
        if (!nl || len == 0 || len >= n)
                return NULL;
        memcpy(out, p, len);
        out[len] = '\0';
        return nl + 1;
}

/* The text checkpoint.c signs, read back exactly (anything else is refused). */
static int parse_checkpoint(const char *text, char station[EVD_CONF_NAME_MAX],
                            char head[EVD_SHA256_HEX], char when[EVD_TIME_STR + 8],
                            uint64_t *ret_seq)
{
        static const char first[] = "evidock audit checkpoint\n";
        char seq[24] = "", *end;
        const char *p =
                strncmp(text, first, sizeof(first) - 1) == 0 ? text + sizeof(first) - 1 : NULL;

        p = cp_line(p, "station", station, EVD_CONF_NAME_MAX);
        p = cp_line(p, "seq", seq, sizeof(seq));
        p = cp_line(p, "head", head, EVD_SHA256_HEX);
        p = cp_line(p, "time", when, EVD_TIME_STR + 8);
        if (!p || *p)
                return -EINVAL;
        errno = 0;
        *ret_seq = strtoull(seq, &end, 10);
        return errno || *end || seq[0] < '1' || seq[0] > '9' ? -EINVAL : 0;
}

/* The segment's seal: its checkpoint names the last entry's hash, signed. */
static int check_seal(struct audit_ctx *a, const struct seg *s)
{
        char *text = NULL, *b64 = NULL, station[EVD_CONF_NAME_MAX] = "", head[EVD_SHA256_HEX] = "",
             when[EVD_TIME_STR + 8] = "";
        uint8_t *sig = NULL;
        size_t tlen = 0, slen = 0;
        uint64_t seq = 0;
        X509 *cert = a->trusted;
        int r;

        r = get_small(a, s, "checkpoint", SMALL_MAX, &text, &tlen, a->err);
        if (r == 0)
                r = get_small(a, s, "p7s", SMALL_MAX, (char **)&sig, &slen, a->err);
        if (r < 0)
                goto out;
        if (parse_checkpoint(text, station, head, when, &seq) < 0 || seq != s->last ||
            strcmp(head, a->prev) != 0) {
                r = evd_err_set(a->err, -EBADMSG,
                                "archive audit segment %" PRIu64 "-%" PRIu64
                                ": its checkpoint does not seal its last entry",
                                s->first, s->last);
                goto out;
        }
        if (!cert && (r = archive_cert(a, sig, slen, &cert)) < 0)
                goto out;
        r = evd_keys_cms_verify(sig, slen, text, tlen, cert, NULL, a->err);
        if (r < 0) {
                r = evd_err_set(a->err, -EBADMSG,
                                "archive audit segment %" PRIu64 "-%" PRIu64
                                ": its seal's signature does not verify",
                                s->first, s->last);
                goto out;
        }
        if (!a->trusted)
                evd_keys_fingerprint(cert, a->cert_fp);
        b64 = evd_b64_encode(sig, slen);
        (void)json_array_append_new(a->cps,
                                    json_pack("{sI ss ss ss ss ss}", "seq", (json_int_t)seq, "head",
                                              head, "time", when, "station", station, "cert_sha256",
                                              a->cert_fp, "signature", b64 ? b64 : ""));
out:
        if (cert != a->trusted)
                X509_free(cert);
        free(b64);
        free(text);
        free(sig);
        return r;
}

int evd_remote_audit(struct evd_remote *rm, X509 *trusted, json_t **ret, struct evd_err *err)
{
        char dir[EVD_S3_KEY_MAX];
        struct seg_list l = { .dir = dir, .vids = json_object() };
        struct audit_ctx a = {
                .rm = rm, .vids = l.vids, .trusted = trusted, .next = 1, .err = err
        };
        int r;

        memset(a.prev, '0', EVD_SHA256_HEX - 1);
        a.prev[EVD_SHA256_HEX - 1] = '\0';
        if (trusted)
                evd_keys_fingerprint(trusted, a.cert_fp);
        (void)snprintf(dir, sizeof(dir), "%s/audit/", rm->prefix);
        if (!l.vids)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = each_version(rm, dir, false, NULL, seg_each, &l, err);
        if (r < 0) {
                free(l.v);
                json_decref(l.vids);
                return r;
        }
        if (l.n > 1) /* no segments, no array: qsort may not be given NULL */
                qsort(l.v, l.n, sizeof(*l.v), seg_cmp);
        a.entries = json_array();
        a.lines = json_array();
        a.cps = json_array();
        for (size_t i = 0; r == 0 && i < l.n; i++) {
                char *text = NULL;
                size_t len;

                if (l.v[i].first != a.next) {
                        r = evd_err_set(err, -EBADMSG,
                                        "the archive's audit log has a gap: entries %" PRIu64
                                        " to %" PRIu64 " are in no sealed segment",
                                        a.next, l.v[i].first - 1);
                        break;
                }
                r = get_small(&a, &l.v[i], "jsonl", SEGMENT_MAX, &text, &len, err);
                if (r == 0)
                        r = check_entries(&a, &l.v[i], text);
                free(text);
                if (r == 0)
                        r = check_seal(&a, &l.v[i]);
        }
        free(l.v);
        json_decref(l.vids);
        if (r < 0) {
                json_decref(a.entries);
                json_decref(a.lines);
                json_decref(a.cps);
                return r;
        }
        *ret = json_pack("{so so so sI sI ss}", "entries", a.entries, "lines", a.lines,
                         "checkpoints", a.cps, "sealed_through", (json_int_t)(a.next - 1),
                         "segments", (json_int_t)l.n, "cert_sha256", a.cert_fp);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

/* What differs between two entries with the same seq, for people. */
static void entry_diff(const json_t *mine, const json_t *theirs, char *out, size_t n)
{
        static const char *const fields[] = {
                "time", "event", "subject", "actor", "details", "prev"
        };

        for (size_t i = 0; i < EVD_ARRAY_SIZE(fields); i++)
                if (!json_equal(json_object_get(mine, fields[i]),
                                json_object_get(theirs, fields[i]))) {
                        (void)snprintf(out, n,
                                       "its %s differs from the archive's sealed copy (the "
                                       "archive has event %s): history was rewritten on the "
                                       "station",
                                       fields[i],
                                       json_string_value(json_object_get(theirs, "event")) ?: "?");
                        return;
                }
        (void)snprintf(out, n, "its hash differs from the archive's sealed copy");
}

int evd_remote_audit_compare(const json_t *remote, const json_t *local, json_t **ret)
{
        const json_t *entries = json_object_get(remote, "entries");
        size_t n = json_array_size(entries), i;
        json_t *diff = json_null();
        char why[512];

        for (i = 0; i < n; i++) {
                const json_t *theirs = json_array_get(entries, i), *mine = json_array_get(local, i);
                json_int_t seq = json_integer_value(json_object_get(theirs, "seq"));

                if (!mine || json_integer_value(json_object_get(mine, "seq")) != seq) {
                        diff = json_pack("{sI ss}", "seq", seq, "why",
                                         "the station's log has no such entry (cut short or "
                                         "renumbered); the archive sealed it");
                        break;
                }
                if (!json_equal(json_object_get(mine, "hash"), json_object_get(theirs, "hash")) ||
                    !json_equal(mine, theirs)) {
                        entry_diff(mine, theirs, why, sizeof(why));
                        diff = json_pack("{sI ss}", "seq", seq, "why", why);
                        break;
                }
        }
        *ret = json_pack("{sb sO sI so}", "ok", json_is_null(diff), "sealed_through",
                         json_object_get(remote, "sealed_through"), "compared", (json_int_t)i,
                         "first_difference", diff);
        return *ret ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- item records */

struct items_ctx {
        struct evd_remote *rm;
        const char *case_no;
        json_t *out;
        struct evd_err *err;
};

static bool is_record(const char *key, void *ud)
{
        const char *mark = strstr(key, "/items/");

        (void)ud;
        return mark && !strchr(mark + 7, '/') && strstr(mark, ".json") &&
               (size_t)(mark - key) < EVD_CONF_NAME_MAX;
}

static int item_each(void *ud, const char *key, const char *vid)
{
        struct items_ctx *c = ud;
        const char *mark = strstr(key, "/items/");
        char station[EVD_CONF_NAME_MAX], *text = NULL;
        size_t len;
        json_t *item;
        int r;

        (void)snprintf(station, sizeof(station), "%.*s", (int)(mark - key), key);
        r = evd_s3_get_mem(c->rm->s3, key, vid, RECORD_MAX, &text, &len, c->err);
        if (r < 0)
                return r;
        item = json_loadb(text, len, 0, NULL);
        free(text);
        if (!json_is_object(item)) {
                json_decref(item);
                return 0;
        }
        if (!c->case_no ||
            strcmp(json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"))
                           ?: "",
                   c->case_no) == 0) {
                (void)json_object_set_new(item, "station", json_string(station));
                (void)json_array_append(c->out, item);
        }
        json_decref(item);
        return 0;
}

int evd_remote_items(struct evd_remote *rm, const char *station, const char *case_no, json_t **ret,
                     struct evd_err *err)
{
        char prefix[EVD_S3_KEY_MAX];
        struct items_ctx c = { .rm = rm, .case_no = case_no, .out = json_array(), .err = err };
        int r;

        (void)snprintf(prefix, sizeof(prefix), "%s%s", station ? station : "",
                       station ? "/items/" : "");
        r = each_version(rm, prefix, true, is_record, item_each, &c, err);
        if (r < 0) {
                json_decref(c.out);
                return r;
        }
        *ret = c.out;
        return 0;
}
