/* dirsource: the walk stays inside the folder, takes files by extension in any case,
 * notes what it skips, keeps name bytes exactly, and reads through no link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/stat.h>

#include "dirsource.h"
#include "testutil.h"

static char *root;

static void path(char *out, size_t n, const char *rel)
{
        (void)snprintf(out, n, "%s/%s", root, rel);
}

static int setup(void **state)
{
        char p[700];

        (void)state;
        root = tu_tempdir();
        path(p, sizeof(p), "DCIM");
        mkdir(p, 0755);
        path(p, sizeof(p), "DCIM/100MEDIA");
        mkdir(p, 0755);
        path(p, sizeof(p), "DCIM/100MEDIA/A.MP4");
        tu_write(p, "aaaa", 4);
        path(p, sizeof(p), "DCIM/100MEDIA/b.mov");
        tu_write(p, "bb", 2);
        path(p, sizeof(p), "DCIM/100MEDIA/notes.txt");
        tu_write(p, "n", 1);
        path(p, sizeof(p), "DCIM/bad\xff\nname.mp4");
        tu_write(p, "c", 1);
        path(p, sizeof(p), "DCIM/link.mp4");
        assert_int_equal(symlink("/etc/passwd", p), 0);
        path(p, sizeof(p), "DCIM/fifo.mp4");
        assert_int_equal(mkfifo(p, 0644), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        tu_rmtree(root);
        return 0;
}

static ssize_t read_all(const struct evd_original *o, struct evd_dirsource *src, char *buf,
                        size_t n)
{
        struct evd_reader r;
        struct evd_err err = { 0 };
        void *st;
        ssize_t got;

        if (evd_dirsource_ops.open(src, o, &r, &st, &err) < 0)
                return -1;
        got = r.pread(r.ctx, buf, n, 0);
        evd_dirsource_ops.close(src, st);
        return got;
}

static void lists_and_reads(void **state)
{
        struct evd_dirsource *src;
        struct evd_original *files;
        struct evd_conf conf;
        struct evd_err err = { 0 };
        json_t *notes = json_array();
        size_t n;
        char buf[16];

        (void)state;
        evd_conf_defaults(&conf);
        assert_int_equal(evd_dirsource_open(root, &src, &err), 0);
        assert_int_equal(evd_dirsource_list(src, &conf, notes, &files, &n, &err), 0);
        assert_int_equal(n, 3);
        /* Sorted by bytes: "DCIM/100MEDIA/..." before "DCIM/bad...". */
        assert_string_equal(files[0].path, "DCIM/100MEDIA/A.MP4");
        assert_string_equal(files[1].path, "DCIM/100MEDIA/b.mov");
        assert_int_equal(files[2].path_len, strlen("DCIM/bad\xff\nname.mp4"));
        assert_memory_equal(files[2].path, "DCIM/bad\xff\nname.mp4", files[2].path_len);
        assert_int_equal(files[0].size, 4);
        assert_int_equal(json_array_size(notes), 2); /* the link and the FIFO */
        assert_int_equal(read_all(&files[0], src, buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "aaaa", 4);
        assert_int_equal(read_all(&files[2], src, buf, sizeof(buf)), 1);
        evd_originals_free(files, n);
        json_decref(notes);
        evd_dirsource_free(src);
}

static void a_folder_swapped_for_a_link_is_not_followed(void **state)
{
        struct evd_dirsource *src;
        struct evd_original *files;
        struct evd_conf conf;
        struct evd_err err = { 0 };
        json_t *notes = json_array();
        char p[700], q[700], buf[16];
        size_t n;

        (void)state;
        evd_conf_defaults(&conf);
        assert_int_equal(evd_dirsource_open(root, &src, &err), 0);
        assert_int_equal(evd_dirsource_list(src, &conf, notes, &files, &n, &err), 0);
        /* After listing, DCIM/100MEDIA becomes a link to a folder outside. */
        path(p, sizeof(p), "DCIM/100MEDIA");
        path(q, sizeof(q), "DCIM/moved");
        assert_int_equal(rename(p, q), 0);
        assert_int_equal(symlink(q, p), 0);
        assert_int_equal(read_all(&files[0], src, buf, sizeof(buf)), -1);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(rename(q, p), 0);
        assert_int_equal(read_all(&files[0], src, buf, sizeof(buf)), 4);
        evd_originals_free(files, n);
        json_decref(notes);
        evd_dirsource_free(src);
        assert_int_equal(evd_dirsource_open("relative", &src, &err), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(lists_and_reads),
                cmocka_unit_test(a_folder_swapped_for_a_link_is_not_followed),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
