/* item_record: the stored form leaves out the fields an item holds at their first
 * value and reading puts them back, field for field and in order; records written
 * before (or by hand) and items missing a field are read as they are; a record of an
 * unknown version or not an object is refused. Through the catalog too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "conf.h"
#include "item.h"
#include "item_record.h"
#include "testutil.h"

static json_t *new_item(void)
{
        static const uint8_t sha[EVD_SHA256_LEN] = { 0xab, 0xcd };
        struct evd_conf conf;
        struct evd_original o = { .path = "DCIM/视频\xff.MP4", .size = 4096, .mtime = 1764547200 };
        json_t *media = json_pack("{ss sf s[] sn ss}", "container", "mp4", "duration_s", 12.5,
                                  "streams", "creation_time", "integrity", "ok");
        json_t *item;

        evd_conf_defaults(&conf);
        o.path_len = strlen(o.path);
        item = evd_item_new("BWC1", &o, sha, o.size, 1764633600, &conf, NULL, media);
        json_decref(media);
        assert_non_null(item);
        (void)json_object_set_new(item, "id", json_integer(7));
        (void)json_object_set_new(item, "dock_session", json_integer(3));
        return item;
}

/* Stored, read back: the same fields, values and order (its text is the same). */
static void same_after_round_trip(const json_t *item, bool compact)
{
        char *text = evd_item_record_encode(item), *before, *after;
        json_t *back;

        assert_non_null(text);
        assert_int_equal(strncmp(text, "{\"~\":1,", 7) == 0, compact);
        back = evd_item_record_decode(text, strlen(text));
        assert_non_null(back);
        before = json_dumps(item, JSON_COMPACT);
        after = json_dumps(back, JSON_COMPACT);
        assert_string_equal(after, before);
        free(before);
        free(after);
        json_decref(back);
        free(text);
}

static void defaults_left_out_and_put_back(void **state)
{
        json_t *item = new_item();
        char *text, *plain;

        (void)state;
        text = evd_item_record_encode(item);
        plain = json_dumps(item, JSON_COMPACT);
        assert_non_null(text);
        /* what most items hold is not stored: a fifth shorter here */
        assert_null(strstr(text, "\"hold\""));
        assert_null(strstr(text, "\"exports\""));
        assert_null(strstr(text, "\"labelled_at\""));
        assert_non_null(strstr(text, "\"dock_session\":3"));
        assert_true(strlen(text) * 5 < strlen(plain) * 4);
        free(text);
        free(plain);
        same_after_round_trip(item, true);

        /* a value other than the first is stored, and read as it is */
        (void)json_object_set_new(item, "hold", json_true());
        (void)json_object_set_new(item, "stage", json_string("evidence"));
        (void)json_array_append_new(json_object_get(item, "notes"), json_string("n"));
        (void)json_object_set_new(item, "late", json_null());
        same_after_round_trip(item, true);
        json_decref(item);
}

static void other_records_read_as_they_are(void **state)
{
        json_t *item = new_item(), *back;
        const char *legacy = "{\"id\":2,\"sha256\":\"ab\",\"hold\":true,\"extra\":[1]}";
        char *text;

        (void)state;
        /* an item without one of the fields (an old record): stored whole, and no field
         * appears that it did not have */
        (void)json_object_del(item, "secret");
        same_after_round_trip(item, false);
        text = evd_item_record_encode(item);
        back = evd_item_record_decode(text, strlen(text));
        assert_null(json_object_get(back, "secret"));
        json_decref(back);
        free(text);
        json_decref(item);

        back = evd_item_record_decode(legacy, strlen(legacy));
        assert_non_null(back);
        assert_int_equal(json_object_size(back), 4);
        assert_true(json_is_true(json_object_get(back, "hold")));
        json_decref(back);

        /* hostile or foreign records */
        assert_null(evd_item_record_decode("{\"~\":2,\"id\":1}", 15));
        assert_null(evd_item_record_decode("{\"~\":\"1\",\"id\":1}", 17));
        assert_null(evd_item_record_decode("[1,2]", 5));
        assert_null(evd_item_record_decode("{\"id\":", 6));
        back = evd_item_record_decode("{\"~\":1,\"id\":1}", 14);
        assert_non_null(back);
        assert_true(json_is_false(json_object_get(back, "hold")));
        assert_int_equal(json_array_size(json_object_get(back, "exports")), 0);
        assert_null(json_object_get(back, "~"));
        json_decref(back);
}

static int put_fn(struct evd_txn *txn, void *p)
{
        return evd_catalog_item_put(txn, p);
}

static int raw_fn(struct evd_txn *txn, void *p)
{
        uint8_t key[8];
        MDB_val k = { 8, key }, v = { strlen(p), p };

        evd_be64_put(key, 1);
        return evd_txn_put(txn, EVD_DB_ITEMS, &k, &v, 0);
}

static void through_the_catalog(void **state)
{
        char *dir = tu_tempdir(), *want, *got_text;
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        json_t *item = new_item(), *got;
        MDB_val k, v;
        uint8_t key[8];

        (void)state;
        (void)json_object_set_new(item, "id", json_null()); /* new: the catalog numbers it */
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_catalog_write(c, put_fn, item, &err), 0);
        /* stored short, read whole */
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        evd_be64_put(key, 1);
        k = (MDB_val){ 8, key };
        assert_int_equal(mdb_get(t.txn, evd_txn_dbi(&t, EVD_DB_ITEMS), &k, &v), 0);
        assert_memory_equal(v.mv_data, "{\"~\":1,", 7);
        assert_int_equal(evd_catalog_item_get(&t, 1, &got), 0);
        want = json_dumps(item, JSON_COMPACT);
        got_text = json_dumps(got, JSON_COMPACT);
        assert_string_equal(got_text, want);
        free(got_text);
        json_decref(got);
        evd_catalog_read_end(&t);
        /* a record in the old form (every field written out) is read as stored */
        assert_int_equal(evd_catalog_write(c, raw_fn, want, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_catalog_item_get(&t, 1, &got), 0);
        got_text = json_dumps(got, JSON_COMPACT);
        assert_string_equal(got_text, want);
        free(got_text);
        json_decref(got);
        evd_catalog_read_end(&t);
        free(want);
        json_decref(item);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(defaults_left_out_and_put_back),
                cmocka_unit_test(other_records_read_as_they_are),
                cmocka_unit_test(through_the_catalog),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
