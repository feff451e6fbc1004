/* replicate_reconcile: check the archive against the catalogue (see replicate.h).
 *
 * List the station's objects and item records in the bucket and compare with every
 * item the catalogue says is confirmed there: an object or record missing, a size
 * that differs, a retention shorter or a legal hold other than the item's; objects
 * no item knows are extra. Then re-read a sample of objects in full and re-hash them
 * (fixity at the destination). The findings go to evidockd in one report
 * ("reconciled"), which audits each, raises the alarm and puts each problem item back
 * in the queue, so that the next pass uploads it again. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "replicate.h"
#include "s3.h"

#define EXTRA_MAX 100 /* extra keys named in one report */

struct listed {
        char *key;
        uint64_t size;
};

struct listing {
        struct listed *v;
        size_t n, cap;
};

static int list_each(void *ud, const struct evd_s3_entry *e)
{
        struct listing *l = ud;

        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 256;
                struct listed *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n].key = strdup(e->key);
        l->v[l->n].size = e->size;
        return l->v[l->n++].key ? 0 : -ENOMEM;
}

static int listed_cmp(const void *a, const void *b)
{
        return strcmp(((const struct listed *)a)->key, ((const struct listed *)b)->key);
}

static struct listed *find(struct listing *l, const char *key)
{
        struct listed k = { .key = (char *)key };

        return l->n ? bsearch(&k, l->v, l->n, sizeof(*l->v), listed_cmp) : NULL;
}

static void listing_free(struct listing *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].key);
        free(l->v);
}

struct rec_ctx {
        struct evd_s3 *s3;
        const char *prefix;
        struct evd_txn *txn;
        struct listing objects, records;
        bool *known; /* per listed object: some item names it */
        json_t *problems, *confirmed;
        size_t sampled;
        struct evd_err *err;
};

static void problem(struct rec_ctx *c, json_int_t id, const char *why)
{
        (void)json_array_append_new(c->problems, json_pack("{sI ss}", "item", id, "why", why));
}

/* One item the catalogue says is in the archive. */
static int check_item(json_t *item, void *p)
{
        struct rec_ctx *c = p;
        json_int_t id = json_integer_value(json_object_get(item, "id"));
        const char *sha = json_string_value(json_object_get(item, "sha256")) ?: "";
        char key[EVD_S3_KEY_MAX], idkey[24];
        json_t *rec = NULL;
        struct listed *o;

        (void)snprintf(key, sizeof(key), "%s/objects/%.2s/%.2s/%s", c->prefix, sha, sha + 2, sha);
        o = find(&c->objects, key);
        if (o) /* any item's, even one not confirmed yet or purged: not extra */
                c->known[o - c->objects.v] = true;
        (void)snprintf(idkey, sizeof(idkey), "%lld", (long long)id);
        if (evd_catalog_json_get(c->txn, EVD_DB_REPLICATION, idkey, &rec) < 0)
                return 0;
        if (strcmp(json_string_value(json_object_get(rec, "state")) ?: "", "confirmed") != 0) {
                json_decref(rec);
                return 0;
        }
        if (!o)
                problem(c, id, "its object is missing from the archive");
        else if (o->size != (uint64_t)json_integer_value(json_object_get(item, "size")))
                problem(c, id, "its object in the archive has another size");
        (void)snprintf(key, sizeof(key), "%s/items/%lld.json", c->prefix, (long long)id);
        if (o && !find(&c->records, key))
                problem(c, id, "its record is missing from the archive");
        if (o && !json_object_get(item, "purged"))
                (void)json_array_append_new(
                        c->confirmed,
                        json_pack("{sI ss sO sO}", "item", id, "sha256", sha, "retain_until",
                                  json_object_get(rec, "retain_until"), "legal_hold",
                                  json_object_get(rec, "legal_hold")));
        json_decref(rec);
        return 0;
}

/* Each confirmed object's lock as the server has it; a sample re-read in full. */
static int check_remote(struct rec_ctx *c, size_t sample)
{
        json_t *it;
        size_t i, n = json_array_size(c->confirmed);
        int r = 0;

        json_array_foreach(c->confirmed, i, it)
        {
                const char *sha = json_string_value(json_object_get(it, "sha256"));
                json_int_t id = json_integer_value(json_object_get(it, "item"));
                char key[EVD_S3_KEY_MAX], hex[EVD_SHA256_HEX];
                struct evd_s3_object o;
                int64_t want = 0;
                uint32_t rnd = 0;

                (void)snprintf(key, sizeof(key), "%s/objects/%.2s/%.2s/%s", c->prefix, sha, sha + 2,
                               sha);
                r = evd_s3_head(c->s3, key, NULL, &o, c->err);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        return r;
                (void)evd_time_parse(json_string_value(json_object_get(it, "retain_until")) ?: "",
                                     &want);
                if (o.lock.mode != EVD_S3_MODE_COMPLIANCE || o.lock.retain_until < want)
                        problem(c, id, "its object's retention in the archive is shorter");
                else if (o.lock.legal_hold != json_is_true(json_object_get(it, "legal_hold")))
                        problem(c, id, "its object's legal hold in the archive differs");
                (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
                if (sample && (uint64_t)rnd % (n - i) < sample) { /* sample of n, uniform */
                        uint8_t got[EVD_SHA256_LEN];
                        uint64_t size;

                        sample--;
                        c->sampled++;
                        r = evd_s3_get(c->s3, key, NULL, -1, 0, got, &size, c->err);
                        if (r < 0)
                                return r;
                        evd_hex(got, sizeof(got), hex);
                        if (strcmp(hex, sha) != 0)
                                problem(c, id,
                                        "its object in the archive no longer hashes to "
                                        "its sha256");
                }
        }
        return r;
}

int evd_replicate_reconcile(struct evd_s3 *s3, struct evd_catalog *catalog, const char *prefix,
                            size_t sample, json_t **ret, struct evd_err *err)
{
        struct rec_ctx c = { .s3 = s3, .prefix = prefix, .err = err };
        struct evd_item_filter f = { 0 };
        char dir[EVD_S3_KEY_MAX];
        struct evd_txn txn;
        json_t *extra = json_array();
        size_t n_extra = 0;
        int r;

        c.problems = json_array();
        c.confirmed = json_array();
        (void)snprintf(dir, sizeof(dir), "%s/objects/", prefix);
        r = evd_s3_list(s3, dir, list_each, &c.objects, err);
        (void)snprintf(dir, sizeof(dir), "%s/items/", prefix);
        if (r == 0)
                r = evd_s3_list(s3, dir, list_each, &c.records, err);
        if (r == 0) {
                /* An empty listing has no array: qsort may not be given NULL. */
                if (c.objects.n > 1)
                        qsort(c.objects.v, c.objects.n, sizeof(*c.objects.v), listed_cmp);
                if (c.records.n > 1)
                        qsort(c.records.v, c.records.n, sizeof(*c.records.v), listed_cmp);
                c.known = calloc(c.objects.n + 1, sizeof(*c.known));
                r = c.known ? evd_catalog_read_begin(catalog, &txn) : -ENOMEM;
        }
        if (r == 0) {
                c.txn = &txn;
                r = evd_catalog_items_each(&txn, &f, check_item, &c);
                evd_catalog_read_end(&txn); /* nothing held over the network */
                r = r < 0 ? evd_err_set(err, r, "catalogue: %s", strerror(-r)) : 0;
        }
        if (r == 0)
                r = check_remote(&c, sample);
        for (size_t i = 0; r == 0 && i < c.objects.n; i++)
                if (!c.known[i] && n_extra++ < EXTRA_MAX)
                        (void)json_array_append_new(extra, json_string(c.objects.v[i].key));
        if (r == 0)
                *ret = json_pack("{sI sI sI so sO}", "objects", (json_int_t)c.objects.n, "checked",
                                 (json_int_t)json_array_size(c.confirmed), "sampled",
                                 (json_int_t)c.sampled, "extra", extra, "problems", c.problems);
        else
                json_decref(extra);
        listing_free(&c.objects);
        listing_free(&c.records);
        free(c.known);
        json_decref(c.problems);
        json_decref(c.confirmed);
        return r;
}
