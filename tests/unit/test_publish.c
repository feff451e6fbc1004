/* publish: a finished file gets its name, never replacing one; the link() fallback
 * where the file system refuses RENAME_NOREPLACE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "publish.h"
#include "testutil.h"

/* The test binary's renameat2 stands in for libc's (the library is linked statically,
 * so its calls land here): with refuse set it answers RENAME_NOREPLACE as a file system
 * without that flag does, EINVAL (ENOSYS for a kernel without the call). */
static struct {
        int refuse; /* 0, EINVAL or ENOSYS */
        int calls;
} fake;

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
        fake.calls++;
        if (fake.refuse && (flags & RENAME_NOREPLACE)) {
                errno = fake.refuse;
                return -1;
        }
        return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

struct world {
        char *dir;
        char tmp[600], final[600];
};

static int setup(void **state)
{
        struct world *w = calloc(1, sizeof(*w));

        if (!w)
                return -1;
        w->dir = tu_tempdir();
        (void)snprintf(w->tmp, sizeof(w->tmp), "%s/.file.partial", w->dir);
        (void)snprintf(w->final, sizeof(w->final), "%s/file", w->dir);
        tu_write(w->tmp, "new", 3);
        fake.refuse = 0;
        fake.calls = 0;
        *state = w;
        return 0;
}

static int teardown(void **state)
{
        struct world *w = *state;

        tu_rmtree(w->dir);
        free(w);
        return 0;
}

static void assert_content(const char *path, const char *want)
{
        char buf[64] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        assert_true(fd >= 0);
        n = read(fd, buf, sizeof(buf) - 1);
        (void)close(fd);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, want);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static void test_publishes(void **state)
{
        struct world *w = *state;
        bool named = false;

        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), 0);
        assert_true(named);
        assert_content(w->final, "new");
        assert_false(exists(w->tmp));
        assert_int_equal(fake.calls, 1);
}

static void test_refuses_to_replace(void **state)
{
        struct world *w = *state;
        bool named = true;

        tu_write(w->final, "original", 8);
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), -EEXIST);
        assert_false(named);
        assert_content(w->final, "original");
        assert_content(w->tmp, "new"); /* left for the caller */
}

/* A dangling symbolic link at the final name is a name taken: nothing is written
 * through it. */
static void test_refuses_dangling_symlink(void **state)
{
        struct world *w = *state;
        char target[700];

        (void)snprintf(target, sizeof(target), "%s/elsewhere", w->dir);
        assert_int_equal(symlink(target, w->final), 0);
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, NULL), -EEXIST);
        assert_false(exists(target));
        assert_content(w->tmp, "new");
}

static void test_relative_to_dirfd(void **state)
{
        struct world *w = *state;
        int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool named = false;

        assert_true(dfd >= 0);
        assert_int_equal(evd_publish(dfd, ".file.partial", w->final, &named), 0);
        assert_true(named);
        (void)close(dfd);
        assert_content(w->final, "new");
        assert_false(exists(w->tmp));
}

/* A final name without a directory lies in the current one. */
static void test_in_current_directory(void **state)
{
        struct world *w = *state;
        int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(here >= 0);
        assert_int_equal(chdir(w->dir), 0);
        assert_int_equal(evd_publish(AT_FDCWD, ".file.partial", "file", NULL), 0);
        assert_int_equal(fchdir(here), 0);
        (void)close(here);
        assert_content(w->final, "new");
}

static void test_fallback_publishes(void **state)
{
        struct world *w = *state;
        bool named = false;

        fake.refuse = EINVAL;
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), 0);
        assert_true(named);
        assert_int_equal(fake.calls, 1);
        assert_content(w->final, "new");
        assert_false(exists(w->tmp)); /* linked, then unlinked */

        /* A kernel without renameat2 takes the same way. */
        tu_write(w->tmp, "two", 3);
        (void)snprintf(w->final, sizeof(w->final), "%s/file2", w->dir);
        fake.refuse = ENOSYS;
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, NULL), 0);
        assert_content(w->final, "two");
        assert_false(exists(w->tmp));
}

static void test_fallback_refuses_to_replace(void **state)
{
        struct world *w = *state;
        bool named = true;

        fake.refuse = EINVAL;
        tu_write(w->final, "original", 8);
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), -EEXIST);
        assert_false(named);
        assert_int_equal(fake.calls, 1);
        assert_content(w->final, "original");
        assert_content(w->tmp, "new");
}

static void test_errors(void **state)
{
        struct world *w = *state;
        char nowhere[700];
        bool named = true;

        (void)snprintf(nowhere, sizeof(nowhere), "%s/no/such/dir/file", w->dir);
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, nowhere, &named), -ENOENT);
        assert_false(named);
        assert_content(w->tmp, "new");
        assert_int_equal(unlink(w->tmp), 0);
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), -ENOENT);
        assert_false(named);
        assert_false(exists(w->final));
        fake.refuse = EINVAL; /* the fallback reports the same */
        assert_int_equal(evd_publish(AT_FDCWD, w->tmp, w->final, &named), -ENOENT);
        assert_false(exists(w->final));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_publishes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_to_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_dangling_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_relative_to_dirfd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_in_current_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fallback_publishes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fallback_refuses_to_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
