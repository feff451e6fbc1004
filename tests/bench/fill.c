/* fill: a station catalogue of N realistic items, written through libevidock's own API
 * (catalog.h, audit.h, item.h, recorder.h) in batched transactions, for the catalogue
 * bench (tests/bench/catalog.sh; issue 16). 200 recorders with their handlers, 300
 * handlers, 5,000 cases, recording times over two years, nine in ten items labelled,
 * a tenth held or marked evidence, three audit entries per item (stored, labelled,
 * viewed), and each item's source (recorder, path, size, mtime) indexed as ingest
 * indexes it. No objects are stored: run the daemon on it with [scrub] interval = off.
 *
 *   fill STATE_DIR N */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "backlog.h"
#include "casefile.h"
#include "catalog.h"
#include "conf.h"
#include "item.h"
#include "recorder.h"

#define RECORDERS 200
#define HANDLERS 300
#define CASES 5000
#define BATCH 10000
#define START 1704067200 /* 2024-01-01T00:00:00Z */
#define SPAN (2 * 365 * 86400)

struct fill {
        struct evd_conf conf;
        uint64_t rng, from, to;
};

static uint64_t rnd(struct fill *f)
{
        f->rng ^= f->rng << 13;
        f->rng ^= f->rng >> 7;
        f->rng ^= f->rng << 17;
        return f->rng;
}

static int put_recorders(struct evd_txn *txn, void *p)
{
        (void)p;
        for (int i = 0; i < RECORDERS; i++) {
                char serial[16], hid[16], hname[32], since[EVD_TIME_STR];
                json_t *rec;
                int r;

                (void)snprintf(serial, sizeof(serial), "BWC%05d", i);
                (void)snprintf(hid, sizeof(hid), "H%03d", i % HANDLERS);
                (void)snprintf(hname, sizeof(hname), "inspector %03d", i % HANDLERS);
                evd_time_format(START - 86400, since);
                rec = json_pack("{ss ss ss s[{ss ss ss}]}", "serial", serial, "registered_at",
                                since, "last_seen", since, "assignments", "handler_id", hid,
                                "handler_name", hname, "since", since);
                r = rec ? evd_recorder_put(txn, rec) : -ENOMEM;
                json_decref(rec);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const struct evd_actor station = { .uid = 0, .name = "station" };
static const struct evd_actor clerk = { .uid = 1000, .name = "clerk" };

static int audit3(struct evd_txn *txn, const json_t *item, uint64_t id)
{
        char subject[EVD_AUDIT_SUBJECT_MAX];
        json_t *d = json_pack("{sI sO sO}", "id", (json_int_t)id, "sha256",
                              json_object_get(item, "sha256"), "recorder",
                              json_object_get(item, "recorder"));
        int r;

        if (!d)
                return -ENOMEM;
        /* What the ledger replays (ledger.c): the protective state the record starts with. */
        (void)json_object_set(d, "labels", json_object_get(item, "labels"));
        (void)json_object_set(d, "retain_until", json_object_get(item, "retain_until"));
        if (json_is_true(json_object_get(item, "hold")))
                (void)json_object_set_new(d, "hold", json_true());
        if (json_is_true(json_object_get(item, "evidence")))
                (void)json_object_set_new(d, "evidence", json_true());
        evd_audit_item_subject(subject, id);
        r = evd_audit_append(txn, &station, "item.stored", subject, d, NULL);
        if (r == 0) {
                json_t *l = json_pack("{sI sO}", "id", (json_int_t)id, "new",
                                      json_object_get(item, "labels"));

                r = l ? evd_audit_append(txn, &clerk, "item.labelled", subject, l, NULL) : -ENOMEM;
                json_decref(l);
        }
        if (r == 0)
                r = evd_audit_append(txn, &clerk, "item.viewed", subject, d, NULL);
        json_decref(d);
        return r;
}

static json_t *make_item(struct fill *f, uint64_t i)
{
        uint8_t sha[EVD_SHA256_LEN] = { 0 };
        char path[64], rec[16], cs[48], h[16];
        int64_t t = START + (int64_t)(rnd(f) % SPAN);
        struct evd_original o = { .path = path, .size = 20000000 + rnd(f) % 400000000, .mtime = t };
        json_t *media =
                json_pack("{ss sf s[] sn ss}", "container", "mov,mp4,m4a,3gp,3g2,mj2", "duration_s",
                          300.0, "streams", "creation_time", "integrity", "ok");
        json_t *item, *labels;
        int n = (int)(rnd(f) % RECORDERS);

        for (int k = 0; k < 8; k++)
                sha[k] = (uint8_t)(i >> (8 * k));
        sha[8] = (uint8_t)rnd(f);
        (void)snprintf(path, sizeof(path), "DCIM/100MEDIA/VID_%08llu.MP4", (unsigned long long)i);
        o.path_len = strlen(path);
        (void)snprintf(rec, sizeof(rec), "BWC%05d", n);
        item = evd_item_new(rec, &o, sha, o.size, t + 86400, &f->conf, NULL, media);
        json_decref(media);
        if (!item)
                return NULL;
        labels = json_object_get(item, "labels");
        (void)snprintf(h, sizeof(h), "inspector %03d", n % HANDLERS);
        (void)json_object_set_new(labels, "handler", json_string(h));
        (void)json_object_set_new(labels, "handler_id", json_string(h + 10));
        if (rnd(f) % 10) { /* nine in ten labelled */
                (void)snprintf(cs, sizeof(cs), "X罚〔2025〕%d号", (int)(rnd(f) % CASES));
                (void)json_object_set_new(labels, "case_no", json_string(cs));
                (void)json_object_set_new(labels, "party", json_string("当事人"));
        }
        if (rnd(f) % 10 == 0)
                (void)json_object_set_new(item, rnd(f) % 2 ? "hold" : "evidence", json_true());
        return item;
}

static int put_source(struct evd_txn *txn, const json_t *item, uint64_t id)
{
        const char *path = json_string_value(json_object_get(item, "original_path"));
        int64_t mtime = 0;

        (void)evd_time_parse(json_string_value(json_object_get(item, "original_mtime")), &mtime);
        return evd_catalog_source_put(
                txn, json_string_value(json_object_get(item, "recorder")), path, strlen(path),
                (uint64_t)json_integer_value(json_object_get(item, "size")), mtime, id);
}

static int put_items(struct evd_txn *txn, void *p)
{
        struct fill *f = p;

        for (uint64_t i = f->from; i < f->to; i++) {
                json_t *item = make_item(f, i);
                uint64_t id;
                int r = item ? evd_catalog_item_put(txn, item) : -ENOMEM;

                if (r == 0) {
                        id = (uint64_t)json_integer_value(json_object_get(item, "id"));
                        r = audit3(txn, item, id);
                }
                if (r == 0) /* as ingest: the original's (recorder, path, size, mtime) */
                        r = put_source(txn, item, id);
                json_decref(item);
                if (r < 0)
                        return r;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct fill f = { .rng = 0x9e3779b97f4a7c15ull };
        struct evd_catalog *c = NULL;
        struct evd_err err = { 0 };
        char dir[4096];
        uint64_t n;

        if (argc != 3 || (n = strtoull(argv[2], NULL, 10)) == 0) {
                fprintf(stderr, "usage: fill STATE_DIR N\n");
                return 2;
        }
        evd_conf_defaults(&f.conf);
        (void)mkdir(argv[1], 0750);
        (void)snprintf(dir, sizeof(dir), "%s/catalog", argv[1]);
        /* As the station's first start on the empty catalogue: the records it keeps as
         * items change (the archive's backlog, the cases' stage gaps) are then kept from
         * the first item on, and the timed start does not build them. */
        if (evd_catalog_open(dir, 0, &c, &err) < 0 || evd_backlog_ready(c, &err) < 0 ||
            evd_casefile_stage_ready(c, f.conf.gap_tolerance_s, &err) < 0 ||
            evd_catalog_write(c, put_recorders, &f, &err) < 0)
                goto fail;
        for (f.from = 0; f.from < n; f.from = f.to) {
                f.to = f.from + BATCH < n ? f.from + BATCH : n;
                if (evd_catalog_write(c, put_items, &f, &err) < 0)
                        goto fail;
        }
        evd_catalog_free(c);
        return 0;
fail:
        fprintf(stderr, "fill: %s\n", err.text);
        evd_catalog_free(c);
        return 1;
}
