/* ledger: records checked from their stored text (evd_ledger_check_raw) agree only
 * when the parsed check would agree; an edit written to fool a plain reading of the
 * text (a key twice, a key spelt with an escape, the old value inside a string, a
 * truncated record) is left to evd_ledger_check, which names it as before. Audit
 * entries read from their text likewise: an unusual one is parsed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "audit.h"
#include "catalog.h"
#include "ledger.h"
#include "testutil.h"
#include "util.h"

static const struct evd_actor clerk = { .uid = 1000, .name = "clerk" };

#define RECORD_HEAD "{\"id\":1,\"evidence\":false,\"media\":{\"duration_s\":300.0},"
#define LABELS "\"labels\":{\"case_no\":\"X\xe7\xbd\x9a\"}"
#define RETAIN "\"retain_until\":\"2030-01-01T00:00:00Z\""

static int fill(struct evd_txn *txn, void *p)
{
        uint8_t next[8];
        MDB_val k = { 12, "next_item_id" }, v = { 8, next };
        char subject[EVD_AUDIT_SUBJECT_MAX];
        /* hostile entry: "id" twice, the parsed reading (the last) names item 2 */
        static const char odd[] = "{\"details\":{\"id\":1,\"id\":2},\"event\":\"item.held\"}";
        uint8_t key[8];
        MDB_val ak = { 8, key }, av = { sizeof(odd) - 1, (void *)odd };
        json_t *d = json_pack("{sI sb s{ss} ss}", "id", (json_int_t)1, "hold", 1, "labels",
                              "case_no", "X\xe7\xbd\x9a", "retain_until", "2030-01-01T00:00:00Z");
        int r;

        (void)p;
        evd_be64_put(next, 1);
        evd_audit_item_subject(subject, 1);
        r = evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
        if (r == 0)
                r = evd_audit_append(txn, &clerk, "item.stored", subject, d, NULL);
        evd_be64_put(key, 2);
        if (r == 0)
                r = evd_txn_put(txn, EVD_DB_AUDIT, &ak, &av, MDB_APPEND);
        json_decref(d);
        return r;
}

/* The quick check's answer on text, and the parsed check's (why: its words, or ""). */
static void check(const struct evd_ledger *l, const char *text, int want_quick,
                  const char *want_why)
{
        uint64_t id = 0;
        json_t *item = json_loads(text, 0, NULL);
        char why[512] = "";

        assert_int_equal(evd_ledger_check_raw(l, text, strlen(text), &id), want_quick);
        if (want_quick == 0)
                assert_int_equal(id, 1);
        if (!want_why) {
                assert_null(item); /* not JSON: the scan reports it */
                return;
        }
        assert_non_null(item);
        assert_int_equal(evd_ledger_check(l, item, why, sizeof(why)), want_why[0] ? -EBADMSG : 0);
        assert_non_null(strstr(why, want_why));
        json_decref(item);
}

static void records(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c = NULL;
        struct evd_ledger *l = NULL;
        struct evd_err err = { 0 };
        struct evd_txn txn;
        uint64_t entries = 0;
        json_t *bad = json_array();

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_catalog_write(c, fill, NULL, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &txn), 0);
        assert_int_equal(evd_ledger_replay(&txn, &l, &entries, &err), 0);
        evd_catalog_read_end(&txn);
        assert_int_equal(entries, 2);
        /* the odd entry was parsed: jansson's reading (item 2) is the one kept */
        assert_int_equal(evd_ledger_missing(l, bad), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(bad, 0), "id")), 2);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(bad, 0), "error")),
                               "audit entry 2: names an item the catalogue never had"));

        /* agreeing records, however their text is spelt */
        check(l, RECORD_HEAD "\"hold\":true," LABELS "," RETAIN "}", 0, "");
        check(l,
              "{\"retain_until\":\"2030-01-01T08:00:00+08:00\",\"labels\":{\"case_no\":"
              "\"X\\u7f5a\"},\"hold\":true,\"id\":1}",
              0, "");
        /* a key twice: jansson keeps the last */
        check(l,
              RECORD_HEAD "\"hold\":true,\"note\":\"\\\"hold\\\":true\",\"hold\":false," LABELS
                          "," RETAIN "}",
              1, "hold is false, the audit log says true");
        /* a key spelt with an escape */
        check(l, RECORD_HEAD "\"hold\":true,\"ho\\u006cd\":false," LABELS "," RETAIN "}", 1,
              "hold is false, the audit log says true");
        /* the old label inside a string beside the new one */
        check(l,
              RECORD_HEAD "\"hold\":true,\"labels\":{\"case_no\":\"X1\",\"x\":\"\\\"case_no\\\":"
                          "\\\"X\xe7\xbd\x9a\\\"\"}," RETAIN "}",
              1, "labels differ from the audit log's");
        /* an escape the quick reading leaves to jansson, which finds them equal */
        check(l,
              RECORD_HEAD "\"hold\":true," LABELS
                          ",\"retain_until\":\"2030-01-01T00:00:00\\u005a\"}",
              1, "");
        /* purged, a null one included; an id that is not an integer */
        check(l, RECORD_HEAD "\"hold\":true," LABELS "," RETAIN ",\"purged\":null}", 1,
              "the record says purged, the audit log does not");
        check(l, "{\"id\":1.0,\"hold\":true," LABELS "," RETAIN "}", 1,
              "no item.stored entry in the audit log");
        check(l, "{\"id\":2,\"hold\":true," LABELS "," RETAIN "}", 1,
              "no item.stored entry in the audit log");
        /* a retention moved, a number past 64 bits, truncated */
        check(l, RECORD_HEAD "\"hold\":true," LABELS ",\"retain_until\":\"2026-01-01T00:00:00Z\"}",
              1, "retain_until is 2026-01-01T00:00:00Z, the audit log says 2030-01-01T00:00:00Z");
        check(l, RECORD_HEAD "\"hold\":true," LABELS "," RETAIN ",\"n\":99999999999999999999}", 1,
              NULL);
        check(l, RECORD_HEAD "\"hold\":true," LABELS "," RETAIN, 1, NULL);

        json_decref(bad);
        evd_ledger_free(l);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(records),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
