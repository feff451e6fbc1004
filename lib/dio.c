#include "dio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

void *evd_dio_alloc(size_t len)
{
        size_t rounded = (len + EVD_DIO_ALIGN - 1) & ~(size_t)(EVD_DIO_ALIGN - 1);

        return aligned_alloc(EVD_DIO_ALIGN, rounded ? rounded : EVD_DIO_ALIGN);
}

bool evd_dio_aligned(const void *buf, size_t len, uint64_t off)
{
        return (((uintptr_t)buf | (uint64_t)len | off) & (EVD_DIO_ALIGN - 1)) == 0;
}

int evd_dio_set(int fd, bool on)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        if (!!(flags & O_DIRECT) == on)
                return 0;
        flags = on ? flags | O_DIRECT : flags & ~O_DIRECT;
        return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

bool evd_dio_is_on(int fd)
{
        int flags = fcntl(fd, F_GETFL);

        return flags >= 0 && (flags & O_DIRECT);
}

ssize_t evd_dio_pread(int fd, void *buf, size_t len, uint64_t off)
{
        for (;;) {
                ssize_t n;

                if (!evd_dio_aligned(buf, len, off))
                        (void)evd_dio_set(fd, false);
                n = pread(fd, buf, len, (off_t)off);
                if (n >= 0)
                        return n;
                if (errno == EINTR)
                        continue;
                /* A direct read the device refuses is retried buffered. */
                if (errno != EINVAL || !evd_dio_is_on(fd))
                        return -errno;
                (void)evd_dio_set(fd, false);
        }
}

int evd_dio_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
        const char *p = buf;
        bool direct = evd_dio_is_on(fd);

        while (len > 0) {
                size_t chunk = len;
                ssize_t n;

                if (direct) {
                        chunk = len & ~(size_t)(EVD_DIO_ALIGN - 1);
                        if (chunk == 0 || !evd_dio_aligned(p, chunk, off)) {
                                (void)evd_dio_set(fd, false);
                                direct = false;
                                chunk = len;
                        }
                }
                n = pwrite(fd, p, chunk, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EINVAL || !direct)
                                return -errno;
                        (void)evd_dio_set(fd, false);
                        direct = false;
                        continue;
                }
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
        return 0;
}
