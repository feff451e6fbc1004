/* Unit tests of lib/dio.c on a real file in $TMPDIR (or /tmp): direct writes and reads
 * give back the bytes, an unaligned end or buffer falls back to buffered I/O for good,
 * and the fd's O_DIRECT flag says which is in use. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dio.h"
#include "testutil.h"

#define BLOCK (1u << 20)

static uint8_t *pattern(size_t len, unsigned seed)
{
        uint8_t *p = malloc(len);

        assert_non_null(p);
        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
        return p;
}

static int open_file(char *dir, const char *name)
{
        char path[600];
        int fd;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        return fd;
}

static void test_alloc_and_aligned(void **state)
{
        uint8_t *p = evd_dio_alloc(100);

        (void)state;
        assert_non_null(p);
        assert_true(evd_dio_aligned(p, 0, 0));
        assert_true(evd_dio_aligned(p, EVD_DIO_ALIGN, 8 * EVD_DIO_ALIGN));
        assert_false(evd_dio_aligned(p + 1, EVD_DIO_ALIGN, 0));
        assert_false(evd_dio_aligned(p, 100, 0));
        assert_false(evd_dio_aligned(p, EVD_DIO_ALIGN, 512));
        free(p);
}

/* Two and a half blocks plus an odd tail: the aligned part goes direct, the tail turns
 * O_DIRECT off; a direct read of the whole gives the bytes back, short at the end. */
static void test_write_then_read(void **state)
{
        char *dir = tu_tempdir();
        size_t len = 2 * BLOCK + BLOCK / 2 + 123;
        uint8_t *want = pattern(len, 7), *buf = evd_dio_alloc(BLOCK), *got = malloc(len);
        int fd = open_file(dir, "copy");
        uint64_t off = 0;
        struct stat st;

        (void)state;
        assert_non_null(buf);
        assert_non_null(got);
        if (evd_dio_set(fd, true) < 0) {
                /* This filesystem does no direct I/O: everything must still work. */
                assert_false(evd_dio_is_on(fd));
        } else {
                assert_true(evd_dio_is_on(fd));
        }
        for (size_t done = 0; done < len;) {
                size_t n = len - done < BLOCK ? len - done : BLOCK;

                memcpy(buf, want + done, n);
                assert_int_equal(evd_dio_pwrite(fd, buf, n, done), 0);
                done += n;
        }
        assert_false(evd_dio_is_on(fd)); /* the tail turned it off */
        assert_int_equal(fdatasync(fd), 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, len);

        (void)evd_dio_set(fd, true);
        for (;;) {
                ssize_t n = evd_dio_pread(fd, buf, BLOCK, off);

                assert_true(n >= 0);
                if (n == 0)
                        break;
                memcpy(got + off, buf, (size_t)n);
                off += (uint64_t)n;
        }
        assert_int_equal(off, len);
        assert_memory_equal(got, want, len);
        (void)close(fd);
        free(want);
        free(buf);
        free(got);
        tu_rmtree(dir);
}

/* Unaligned requests are served buffered, with the same bytes, and leave O_DIRECT off. */
static void test_unaligned_falls_back(void **state)
{
        char *dir = tu_tempdir();
        uint8_t *want = pattern(3 * EVD_DIO_ALIGN, 3), *buf = evd_dio_alloc(4 * EVD_DIO_ALIGN);
        int fd = open_file(dir, "odd");

        (void)state;
        assert_non_null(buf);
        assert_int_equal(evd_dio_pwrite(fd, want, 3 * EVD_DIO_ALIGN, 0), 0);
        if (evd_dio_set(fd, true) == 0) {
                assert_int_equal(evd_dio_pread(fd, buf + 1, 100, 5), 100);
                assert_memory_equal(buf + 1, want + 5, 100);
                assert_false(evd_dio_is_on(fd));
        }
        /* An unaligned write in the middle: buffered, and readable at once. */
        (void)evd_dio_set(fd, true);
        assert_int_equal(evd_dio_pwrite(fd, "abc", 3, 4097), 0);
        assert_false(evd_dio_is_on(fd));
        assert_int_equal(evd_dio_pread(fd, buf, 4, 4096), 4);
        assert_int_equal(buf[0], want[4096]);
        assert_memory_equal(buf + 1, "abc", 3);
        assert_int_equal(evd_dio_pread(fd, buf, EVD_DIO_ALIGN, 3 * EVD_DIO_ALIGN), 0);
        assert_int_equal(evd_dio_pwrite(-1, "x", 1, 0), -EBADF);
        assert_int_equal(evd_dio_pread(-1, buf, 1, 0), -EBADF);
        (void)close(fd);
        free(want);
        free(buf);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alloc_and_aligned),
                cmocka_unit_test(test_write_then_read),
                cmocka_unit_test(test_unaligned_falls_back),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
