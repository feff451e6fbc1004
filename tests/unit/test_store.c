/* store and copy: verified copies, write-once objects, tmp/ hygiene, failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "copy.h"
#include "store.h"
#include "testutil.h"

struct membuf {
        const uint8_t *data;
        size_t len;
        size_t fail_at; /* an EIO once a read reaches this offset (0: never) */
        int calls;
};

static ssize_t mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        struct membuf *m = ctx;

        m->calls++;
        if (m->fail_at && off + len > m->fail_at)
                return -EIO;
        if (off >= m->len)
                return 0;
        if (len > m->len - off)
                len = m->len - off;
        memcpy(buf, m->data + off, len);
        return (ssize_t)len;
}

static void count_call(void *p)
{
        ++*(int *)p;
}

static uint8_t *pattern(size_t len)
{
        uint8_t *p = malloc(len ? len : 1);

        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t)(i * 7 + i / 4096);
        return p;
}

static int count_tmp(const char *dir)
{
        char path[600];
        struct dirent *de;
        int n = 0;
        DIR *d;

        (void)snprintf(path, sizeof(path), "%s/tmp", dir);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Copy len bytes of a pattern and publish them; returns the result. */
static void copy_and_publish(struct evd_store *s, size_t len, struct evd_copy_result *res,
                             bool *existed)
{
        uint8_t *data = pattern(len), want[EVD_SHA256_LEN];
        struct membuf m = { .data = data, .len = len };
        struct evd_reader r = { mem_pread, &m };
        _Atomic uint64_t done = 0;
        int source_done = 0;
        struct evd_copy_opts opts = { .verify = EVD_VERIFY_SOURCE_DESTINATION,
                                      .bytes_done = &done,
                                      .source_done = count_call,
                                      .userdata = &source_done };
        struct evd_err err = { 0 };

        assert_int_equal(evd_copy_run(s, &r, &opts, res, &err), 0);
        assert_int_equal(res->size, len);
        assert_int_equal(done, len);
        assert_int_equal(source_done, 1); /* the source given back once, at its last read */
        (void)EVP_Digest(data, len, want, NULL, EVP_sha256(), NULL);
        assert_memory_equal(res->sha256, want, EVD_SHA256_LEN);
        assert_int_equal(evd_store_publish(s, res->tmp_name, res->sha256, existed, NULL, &err), 0);
        free(data);
}

static void copies_are_verified_and_write_once(void **state)
{
        char *dir = tu_tempdir(), path[700];
        struct evd_store *s;
        struct evd_copy_result res;
        struct evd_err err = { 0 };
        struct stat st;
        bool existed;
        int fd;

        (void)state;
        assert_int_equal(evd_store_open(dir, &s, &err), 0);
        /* Several block sizes: empty, small, either side of the direct I/O unit (a
         * small copy is read back in requests of its size rounded up), a byte short
         * of a block, exactly one block, many blocks plus a bit (the last). */
        size_t sizes[] = {
                0, 1, 4095, 4096, 4097, EVD_COPY_BLOCK - 1, EVD_COPY_BLOCK, 5 * EVD_COPY_BLOCK + 123
        };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                copy_and_publish(s, sizes[i], &res, &existed);
                assert_false(existed);
                assert_int_equal(evd_store_verify_object(s, res.sha256, res.size, &err), 0);
        }
        assert_int_equal(evd_store_object_path(s, res.sha256, path, sizeof(path)), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0444);
        assert_int_equal(st.st_size, 5 * EVD_COPY_BLOCK + 123);
        if (evd_store_immutable(s)) {
                int flags = 0;

                fd = open(path, O_RDONLY);
                assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
                close(fd);
                assert_true(flags & FS_IMMUTABLE_FL);
                assert_int_equal(open(path, O_WRONLY), -1);
                assert_int_equal(errno, EPERM);
                assert_int_equal(unlink(path), -1);
                assert_int_equal(errno, EPERM);
        }
        /* The same content again: the object is kept as it is, the copy dropped. */
        copy_and_publish(s, sizes[3], &res, &existed);
        assert_true(existed);
        assert_int_equal(count_tmp(dir), 0);
        evd_store_free(s);
        tu_rmtree(dir);
}

static void damage_is_found(void **state)
{
        char *dir = tu_tempdir(), path[700], cmd[1500];
        struct evd_store *s;
        struct evd_copy_result res;
        struct evd_err err = { 0 };
        bool existed;
        int fd;

        (void)state;
        assert_int_equal(evd_store_open(dir, &s, &err), 0);
        copy_and_publish(s, 300000, &res, &existed);
        assert_int_equal(evd_store_object_path(s, res.sha256, path, sizeof(path)), 0);
        /* Flip one byte, as a failing disk (or someone with root) would. */
        (void)snprintf(cmd, sizeof(cmd), "chattr -i '%s' 2>/dev/null; chmod 644 '%s'", path, path);
        assert_int_equal(system(cmd), 0);
        fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "X", 1, 1001), 1); /* the pattern holds 0x5f there */
        close(fd);
        assert_int_equal(evd_store_verify_object(s, res.sha256, res.size, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "content differs"));
        assert_int_equal(unlink(path), 0);
        assert_int_equal(evd_store_verify_object(s, res.sha256, res.size, &err), -ENOENT);
        assert_non_null(strstr(err.text, "missing"));
        evd_store_free(s);
        tu_rmtree(dir);
}

static void failed_copies_leave_nothing(void **state)
{
        char *dir = tu_tempdir();
        uint8_t *data = pattern(4 * EVD_COPY_BLOCK);
        struct membuf m = { .data = data,
                            .len = 4 * EVD_COPY_BLOCK,
                            .fail_at = 2 * EVD_COPY_BLOCK + 5 };
        struct evd_reader r = { mem_pread, &m };
        struct evd_store *s;
        struct evd_copy_result res;
        struct evd_err err = { 0 };
        atomic_bool cancel = true;

        (void)state;
        assert_int_equal(evd_store_open(dir, &s, &err), 0);
        assert_int_equal(evd_copy_run(s, &r,
                                      &(struct evd_copy_opts){ .verify = EVD_VERIFY_DESTINATION },
                                      &res, &err),
                         -EIO);
        assert_non_null(strstr(err.text, "copy failed after"));
        assert_int_equal(count_tmp(dir), 0);
        m.fail_at = 0;
        assert_int_equal(evd_copy_run(s, &r,
                                      &(struct evd_copy_opts){ .verify = EVD_VERIFY_DESTINATION,
                                                               .cancel = &cancel },
                                      &res, &err),
                         -ECANCELED);
        assert_int_equal(count_tmp(dir), 0);
        evd_store_free(s);
        free(data);
        tu_rmtree(dir);
}

static void tmp_is_emptied_at_open(void **state)
{
        char *dir = tu_tempdir(), path[700];
        struct evd_store *s;
        struct evd_err err = { 0 };
        char name[EVD_STORE_TMPNAME_MAX];
        int fd;

        (void)state;
        assert_int_equal(evd_store_open(dir, &s, &err), 0);
        assert_int_equal(evd_store_tmp_create(s, &fd, name), 0);
        assert_int_equal(write(fd, "partial", 7), 7);
        close(fd);
        evd_store_free(s);
        (void)snprintf(path, sizeof(path), "%s/tmp/%s", dir, name);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(evd_store_open(dir, &s, &err), 0);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(count_tmp(dir), 0);
        evd_store_free(s);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(copies_are_verified_and_write_once),
                cmocka_unit_test(damage_is_found),
                cmocka_unit_test(failed_copies_leave_nothing),
                cmocka_unit_test(tmp_is_emptied_at_open),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
