#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>

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

static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        return evd_pread_full(*(int *)ctx, buf, len, (off_t)off);
}

int evd_sha256_fd(int fd, uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size)
{
        struct evd_reader reader = { fd_pread, &fd };

        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return evd_sha256_reader(&reader, NULL, ret_sha256, ret_size);
}
