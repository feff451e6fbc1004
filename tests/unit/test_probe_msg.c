/* probe_msg: the sandboxed parser's answers, encoded and decoded; every malformed or
 * lying answer is refused with a reason, and a helper's text is escaped. Also the
 * mapped source's checks of the extents against the device (source.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe_msg.h"

static char *dump(json_t *msg)
{
        char *s = json_dumps(msg, JSON_COMPACT);

        assert_non_null(s);
        json_decref(msg);
        return s;
}

static struct evd_source_list *sample(void)
{
        struct evd_source_list *l = calloc(1, sizeof(*l));
        struct evd_source_file *f;

        assert_non_null(l);
        l->files = calloc(2, sizeof(*l->files));
        assert_non_null(l->files);
        l->n = 2;
        f = &l->files[0];
        f->path = strdup("DCIM/\xe8\xa7\x86\xff.MP4"); /* not UTF-8 */
        f->path_len = strlen(f->path);
        f->size = 10000;
        f->mtime = 1795166100;
        f->inum = 40;
        f->extents = calloc(2, sizeof(*f->extents));
        f->extents[0] = (struct evd_source_extent){ .file_off = 0, .dev_off = 4096, .len = 8192 };
        f->extents[1] = (struct evd_source_extent){ .file_off = 8192, .len = 1808, .zero = true };
        f->n_extents = 2;
        f = &l->files[1];
        f->path = strdup("B.MOV");
        f->path_len = 5;
        f->size = 3;
        f->inum = 41;
        f->ambiguous = true;
        f->error = strdup("filesystem damaged: inode 41 lies past the end");
        return l;
}

static void round_trip(void **state)
{
        struct evd_source_list *in = sample(), *out = NULL;
        struct evd_err err = { 0 };
        unsigned parts = 0;
        char *s = dump(evd_probe_msg_listing(in, 1));

        (void)state;
        assert_int_equal(evd_probe_msg_listing_decode(s, strlen(s), &out, &parts, &err), 0);
        assert_int_equal(parts, 1);
        assert_int_equal(out->n, 2);
        assert_int_equal(out->files[0].path_len, in->files[0].path_len);
        assert_memory_equal(out->files[0].path, in->files[0].path, in->files[0].path_len);
        assert_int_equal(out->files[0].size, 10000);
        assert_int_equal(out->files[0].mtime, 1795166100);
        assert_int_equal(out->files[0].n_extents, 2);
        assert_true(out->files[0].extents[1].zero);
        assert_int_equal(out->files[0].extents[0].dev_off, 4096);
        assert_null(out->files[0].error);
        assert_true(out->files[1].ambiguous);
        assert_string_equal(out->files[1].error, in->files[1].error);
        free(s);
        evd_source_list_free(in);
        evd_source_list_free(out);
}

static void decode_list(const char *s, int want, const char *text)
{
        struct evd_source_list *out = NULL;
        struct evd_err err = { 0 };
        unsigned parts = 0;

        assert_int_equal(evd_probe_msg_listing_decode(s, strlen(s), &out, &parts, &err), want);
        assert_null(out);
        if (text && !strstr(err.text, text))
                fail_msg("\"%s\" lacks \"%s\"", err.text, text);
}

#define FILE0 "{\"path_hex\":\"41\",\"size\":1,\"mtime\":0,\"partition\":0,\"inum\":1,"
#define LIST(files) "{\"v\":1,\"partitions\":1,\"files\":[" files "]}"

static void malformed(void **state)
{
        (void)state;
        decode_list("", -EBADMSG, "not JSON");
        decode_list("[1]", -EBADMSG, "version");
        decode_list("{\"v\":2,\"partitions\":1,\"files\":[]}", -EBADMSG, "version");
        decode_list("{\"v\":1,\"partitions\":0,\"files\":[]}", -EBADMSG, "not a listing");
        decode_list("{\"v\":1,\"partitions\":17,\"files\":[]}", -EBADMSG, "not a listing");
        decode_list("{\"v\":1,\"v\":1,\"partitions\":1,\"files\":[]}", -EBADMSG, "not JSON");
        decode_list(LIST(FILE0 "\"ambiguous\":false,\"extents\":[[0,0,1]]}"), -EBADMSG, "extent");
        decode_list(LIST(FILE0 "\"ambiguous\":false,\"extents\":[[0,-1,1,0]]}"), -EBADMSG,
                    "extent");
        decode_list(LIST(FILE0 "\"ambiguous\":false,\"extents\":[[0,0,1,2]]}"), -EBADMSG, "extent");
        decode_list(LIST(FILE0 "\"ambiguous\":0,\"extents\":[]}"), -EBADMSG, "shape");
        decode_list(LIST(FILE0 "\"ambiguous\":false}"), -EBADMSG, "shape");
        decode_list(LIST("{\"path_hex\":\"4100\",\"size\":1,\"mtime\":0,\"partition\":0,"
                         "\"inum\":1,\"ambiguous\":false,\"extents\":[]}"),
                    -EBADMSG, "NUL");
        decode_list(LIST("{\"path_hex\":\"\",\"size\":1,\"mtime\":0,\"partition\":0,"
                         "\"inum\":1,\"ambiguous\":false,\"extents\":[]}"),
                    -EBADMSG, "path");
        decode_list(LIST("{\"path_hex\":\"41\",\"size\":1,\"mtime\":0,\"partition\":1,"
                         "\"inum\":1,\"ambiguous\":false,\"extents\":[]}"),
                    -EBADMSG, "partition");
        decode_list(LIST("{\"path_hex\":\"41\",\"size\":-1,\"mtime\":0,\"partition\":0,"
                         "\"inum\":1,\"ambiguous\":false,\"extents\":[]}"),
                    -EBADMSG, "size");
}

static void helper_errors(void **state)
{
        struct evd_source_list *out = NULL;
        struct evd_err err = { 0 };
        unsigned parts;
        char *s = dump(evd_probe_msg_error(-EUCLEAN, "filesystem damaged:\n\x1b[31m red"));

        (void)state;
        assert_int_equal(evd_probe_msg_listing_decode(s, strlen(s), &out, &parts, &err), -EUCLEAN);
        assert_null(strchr(err.text, '\x1b'));
        assert_null(strchr(err.text, '\n'));
        assert_non_null(strstr(err.text, "filesystem damaged"));
        free(s);
        /* A code that is no errno, or one that would pass for ours, becomes -EIO. */
        decode_list("{\"v\":1,\"error\":5,\"text\":\"x\"}", -EIO, "x");
        decode_list("{\"v\":1,\"error\":-74,\"text\":\"x\"}", -EIO, "x");
        decode_list("{\"v\":1,\"error\":-99999,\"text\":\"x\"}", -EIO, "x");
        /* Nor the codes that blame a misbehaving helper (probe.h): ECHILD, ETIMEDOUT,
         * EMSGSIZE. */
        decode_list("{\"v\":1,\"error\":-10,\"text\":\"x\"}", -EIO, "x");
        decode_list("{\"v\":1,\"error\":-110,\"text\":\"x\"}", -EIO, "x");
        decode_list("{\"v\":1,\"error\":-90,\"text\":\"x\"}", -EIO, "x");
        decode_list("{\"v\":1,\"error\":-5}", -EBADMSG, "code and a text");
        decode_list("{\"v\":1,\"error\":-117,\"text\":\"\"}", -EUCLEAN, "no reason");
}

static void media_answers(void **state)
{
        static const char ok[] =
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1.0,\"streams\":"
                "[{\"index\":0,\"type\":\"video\",\"codec\":\"h264\",\"width\":160,"
                "\"height\":120,\"frame_rate\":25.0}],\"creation_time\":"
                "\"2026-11-20T09:15:00Z\",\"integrity\":\"ok\",\"integrity_reason\":null,"
                "\"log\":[]}}";
        static const char *const bad[] = {
                "{\"v\":1,\"media\":{}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1.0,\"streams\":[],"
                "\"creation_time\":null,\"integrity\":\"fine\",\"integrity_reason\":null,"
                "\"log\":[]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":-1,\"streams\":[],"
                "\"creation_time\":null,\"integrity\":\"ok\",\"integrity_reason\":null,"
                "\"log\":[]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1,\"streams\":[],"
                "\"creation_time\":\"yesterday\",\"integrity\":\"ok\",\"integrity_reason\":"
                "null,\"log\":[]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1,\"streams\":[],"
                "\"creation_time\":null,\"integrity\":\"corrupt\",\"integrity_reason\":null,"
                "\"log\":[]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1,\"streams\":[],"
                "\"creation_time\":null,\"integrity\":\"ok\",\"integrity_reason\":null,"
                "\"log\":[\"\\u001b[2J\"]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1,\"streams\":"
                "[{\"index\":0,\"type\":\"video\",\"codec\":\"h264\",\"evil\":1}],"
                "\"creation_time\":null,\"integrity\":\"ok\",\"integrity_reason\":null,"
                "\"log\":[]}}",
                "{\"v\":1,\"media\":{\"container\":\"mp4\",\"duration_s\":1,\"streams\":[],"
                "\"creation_time\":null,\"integrity\":\"ok\",\"integrity_reason\":null,"
                "\"log\":[],\"extra\":1}}",
        };
        struct evd_err err = { 0 };
        json_t *m = NULL;

        (void)state;
        assert_int_equal(evd_probe_msg_media_decode(ok, strlen(ok), &m, &err), 0);
        assert_string_equal(json_string_value(json_object_get(m, "container")), "mp4");
        json_decref(m);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                m = NULL;
                assert_int_equal(evd_probe_msg_media_decode(bad[i], strlen(bad[i]), &m, &err),
                                 -EBADMSG);
                assert_null(m);
        }
}

/* The daemon's side: a lying lister's extents never reach a read. */
static void mapped_checks(void **state)
{
        char path[] = "/tmp/test_probe_msg.XXXXXX";
        int fd = mkstemp(path);
        struct evd_source *src = NULL;
        struct evd_err err = { 0 };
        struct evd_source_list *l;

        (void)state;
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        (void)close(fd);
        l = sample();
        assert_int_equal(evd_source_open_mapped(path, 1, l, &src, &err), 0);
        evd_source_free(src);
        evd_source_list_free(l);

        l = sample(); /* past the end of the 1 MiB device */
        l->files[0].extents[0].dev_off = (1 << 20) - 4096;
        assert_int_equal(evd_source_open_mapped(path, 1, l, &src, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "past the end of the device"));
        evd_source_list_free(l);

        l = sample(); /* not covering the size */
        l->files[0].size = 20000;
        assert_int_equal(evd_source_open_mapped(path, 1, l, &src, &err), -EBADMSG);
        evd_source_list_free(l);

        l = sample(); /* the same inode twice */
        l->files[1].inum = 40;
        assert_int_equal(evd_source_open_mapped(path, 1, l, &src, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "twice"));
        evd_source_list_free(l);
        (void)unlink(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(round_trip),    cmocka_unit_test(malformed),
                cmocka_unit_test(helper_errors), cmocka_unit_test(media_answers),
                cmocka_unit_test(mapped_checks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
