/* metafail: an LD_PRELOAD fault for the e2e tests. Once the file named by
 * EVD_METAFAIL_TRIGGER exists, a short write (under 4 KiB: LMDB's meta page update,
 * never a page of data) to a file named data.mdb fails with EIO, as a disk that
 * fails at that moment would. LMDB then refuses every transaction (MDB_PANIC) until
 * the environment is opened again: what the daemon must notice and restart from. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int failing(int fd, size_t len)
{
        const char *trigger = getenv("EVD_METAFAIL_TRIGGER");
        char link[64], path[PATH_MAX];
        ssize_t n;

        if (len >= 4096 || !trigger || access(trigger, F_OK) != 0)
                return 0;
        (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof(path) - 1);
        if (n < 9)
                return 0;
        path[n] = '\0';
        return strcmp(path + n - 9, "/data.mdb") == 0;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off);

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
        static ssize_t (*real)(int, const void *, size_t, off_t);

        if (failing(fd, len)) {
                errno = EIO;
                return -1;
        }
        if (!real)
                real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
        return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
        return pwrite(fd, buf, len, off);
}
