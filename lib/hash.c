#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>

#include "dio.h"

int evd_sha256_reader(const struct evd_reader *reader, uint8_t *buf,
                      uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size)
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t *own = buf ? NULL : malloc(EVD_HASH_BLOCK);
        uint64_t off = 0;
        int r = 0;

        if (!buf)
                buf = own;
        if (!md || !buf) {
                r = -ENOMEM;
                goto out;
        }
        if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
                r = -EIO;
                goto out;
        }
        for (;;) {
                ssize_t n = reader->pread(reader->ctx, buf, EVD_HASH_BLOCK, off);

                if (n < 0) {
                        r = (int)n;
                        goto out;
                }
                if (n == 0)
                        break;
                if (!EVP_DigestUpdate(md, buf, (size_t)n)) {
                        r = -EIO;
                        goto out;
                }
                off += (uint64_t)n;
        }
        if (!EVP_DigestFinal_ex(md, ret_sha256, NULL)) {
                r = -EIO;
                goto out;
        }
        *ret_size = off;
out:
        free(own);
        EVP_MD_CTX_free(md);
        return r;
}

ssize_t evd_fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        return evd_dio_pread(*(int *)ctx, buf, len, off);
}

int evd_sha256_fd(int fd, uint8_t *buf, uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size)
{
        struct evd_reader reader = { evd_fd_pread, &fd };
        bool was_direct = evd_dio_is_on(fd);
        uint8_t *own = buf ? NULL : evd_dio_alloc(EVD_HASH_BLOCK);
        int r;

        if (!buf)
                buf = own;
        if (!buf)
                return -ENOMEM;
        /* Read what the disk holds, not the page cache, where the filesystem allows. */
        if (evd_dio_set(fd, true) < 0)
                (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        r = evd_sha256_reader(&reader, buf, ret_sha256, ret_size);
        (void)evd_dio_set(fd, was_direct);
        free(own);
        return r;
}
