#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dio.h"

#define EVD_COPY_WRITEBACK (8u << 20)

/* One block of the ring: empty (ready for the reader) or full (ready for the writer). */
struct slot {
        uint8_t *buf;
        ssize_t len; /* bytes, 0 at the end, -errno on a read error */
        bool full;
};

struct ring {
        const struct evd_reader *reader;
        const atomic_bool *cancel;
        struct slot slots[EVD_COPY_BLOCKS];
        uint64_t start; /* where the reader thread begins */
        bool stop;      /* writer gave up: reader must end */
        pthread_mutex_t lock;
        pthread_cond_t changed;
};

static void *reader_main(void *arg)
{
        struct ring *ring = arg;
        uint64_t off = ring->start;

        for (unsigned i = 0;; i = (i + 1) % EVD_COPY_BLOCKS) {
                struct slot *s = &ring->slots[i];
                ssize_t n;

                pthread_mutex_lock(&ring->lock);
                while (s->full && !ring->stop)
                        pthread_cond_wait(&ring->changed, &ring->lock);
                if (ring->stop) {
                        pthread_mutex_unlock(&ring->lock);
                        return NULL;
                }
                pthread_mutex_unlock(&ring->lock);

                if (ring->cancel && atomic_load(ring->cancel))
                        n = -ECANCELED;
                else
                        n = ring->reader->pread(ring->reader->ctx, s->buf, EVD_COPY_BLOCK, off);

                pthread_mutex_lock(&ring->lock);
                s->len = n;
                s->full = true;
                pthread_cond_broadcast(&ring->changed);
                pthread_mutex_unlock(&ring->lock);
                if (n <= 0)
                        return NULL;
                off += (uint64_t)n;
        }
}

/* Hash one block at off, and write it there unless fd is -1. */
static int consume(EVP_MD_CTX *md, int fd, const uint8_t *buf, size_t len, uint64_t off,
                   _Atomic uint64_t *bytes_done)
{
        int r;

        if (!EVP_DigestUpdate(md, buf, len))
                return -EIO;
        if (fd >= 0 && (r = evd_dio_pwrite(fd, buf, len, off)) < 0)
                return r;
        if (bytes_done)
                atomic_fetch_add(bytes_done, len);
        return 0;
}

/* Stream the reader from ring->start through the ring into md, and into fd unless it is
 * -1; *size counts the bytes. */
static int stream_rest(struct ring *ring, EVP_MD_CTX *md, int fd, uint64_t *size,
                       _Atomic uint64_t *bytes_done)
{
        uint64_t kicked = 0; /* bytes already handed to writeback */
        bool direct = fd < 0 || evd_dio_is_on(fd);
        pthread_t thread;
        int r = 0;

        if (pthread_create(&thread, NULL, reader_main, ring) != 0)
                return -EAGAIN;
        for (unsigned i = 0;; i = (i + 1) % EVD_COPY_BLOCKS) {
                struct slot *s = &ring->slots[i];
                ssize_t n;

                pthread_mutex_lock(&ring->lock);
                while (!s->full)
                        pthread_cond_wait(&ring->changed, &ring->lock);
                n = s->len;
                pthread_mutex_unlock(&ring->lock);
                if (n <= 0) {
                        r = (int)n;
                        break;
                }
                r = consume(md, fd, s->buf, (size_t)n, *size, bytes_done);
                if (r < 0)
                        break;
                *size += (uint64_t)n;
                /* Written through the page cache (no direct I/O here): start writing
                 * back what is written so far, so that the disk works while we copy and
                 * the final fdatasync has little left to wait for. */
                if (*size - kicked >= EVD_COPY_WRITEBACK && !direct) {
                        (void)sync_file_range(fd, (off_t)kicked, (off_t)(*size - kicked),
                                              SYNC_FILE_RANGE_WRITE);
                        kicked = *size;
                }
                pthread_mutex_lock(&ring->lock);
                s->full = false;
                pthread_cond_broadcast(&ring->changed);
                pthread_mutex_unlock(&ring->lock);
        }
        pthread_mutex_lock(&ring->lock);
        ring->stop = true;
        pthread_cond_broadcast(&ring->changed);
        pthread_mutex_unlock(&ring->lock);
        (void)pthread_join(thread, NULL);
        return r;
}

/* SHA-256 of the copy (fd, read through copy) as the disk holds it: read past the page
 * cache where the filesystem allows, through the ring so that reading and hashing
 * overlap. O_DIRECT stays as it ends: the fd is closed next. */
static int hash_copy(struct ring *ring, int fd, const struct evd_reader *copy,
                     uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size)
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint64_t size = 0;
        int r;

        if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(md);
                return -ENOMEM;
        }
        ring->reader = copy;
        ring->cancel = NULL; /* the recorder is not needed any more: finish */
        ring->start = 0;
        ring->stop = false;
        for (unsigned i = 0; i < EVD_COPY_BLOCKS; i++)
                ring->slots[i].full = false;
        (void)evd_dio_set(fd, true);
        r = stream_rest(ring, md, -1, &size, NULL);
        if (r == 0 && !EVP_DigestFinal_ex(md, ret_sha256, NULL))
                r = -EIO;
        EVP_MD_CTX_free(md);
        if (r == 0)
                *ret_size = size;
        return r;
}

int evd_copy_run(struct evd_store *store, const struct evd_reader *reader,
                 enum evd_verify_mode verify, _Atomic uint64_t *bytes_done,
                 const atomic_bool *cancel, struct evd_copy_result *ret, struct evd_err *err)
{
        struct ring ring = { .reader = reader, .cancel = cancel, .start = EVD_COPY_BLOCK };
        uint8_t sha[EVD_SHA256_LEN], again[EVD_SHA256_LEN];
        char tmp_name[EVD_STORE_TMPNAME_MAX];
        EVP_MD_CTX *md = NULL;
        uint64_t size = 0, again_size;
        ssize_t n;
        int fd = -1, r;
        struct evd_reader copy = { evd_fd_pread, &fd }; /* the copy, read back */

        for (unsigned i = 0; i < EVD_COPY_BLOCKS; i++) {
                ring.slots[i].buf = evd_dio_alloc(EVD_COPY_BLOCK);
                if (!ring.slots[i].buf) {
                        r = evd_err_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        pthread_mutex_init(&ring.lock, NULL);
        pthread_cond_init(&ring.changed, NULL);
        md = EVP_MD_CTX_new();
        if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
                r = evd_err_set(err, -EIO, "cannot start SHA-256");
                goto out_sync;
        }
        r = evd_store_tmp_create(store, &fd, tmp_name);
        if (r < 0) {
                r = evd_err_set(err, r, "cannot create a file in the store: %s", strerror(-r));
                goto out_sync;
        }
        /* Write past the page cache where the store's filesystem allows (dio.h). */
        (void)evd_dio_set(fd, true);

        /* The first block is read here: most small files end in it, with no thread. */
        n = reader->pread(reader->ctx, ring.slots[0].buf, EVD_COPY_BLOCK, 0);
        if (n < 0) {
                r = evd_err_set(err, (int)n, "read failed: %s", strerror((int)-n));
                goto out_discard;
        }
        if (n > 0 && (r = consume(md, fd, ring.slots[0].buf, (size_t)n, 0, bytes_done)) < 0) {
                r = evd_err_set(err, r, "write to the store failed: %s", strerror(-r));
                goto out_discard;
        }
        size = (uint64_t)n;
        if ((size_t)n == EVD_COPY_BLOCK) {
                r = stream_rest(&ring, md, fd, &size, bytes_done);
                if (r < 0) {
                        r = evd_err_set(err, r, "copy failed after %llu bytes: %s",
                                        (unsigned long long)size, strerror(-r));
                        goto out_discard;
                }
        }
        if (!EVP_DigestFinal_ex(md, sha, NULL)) {
                r = evd_err_set(err, -EIO, "SHA-256 failed");
                goto out_discard;
        }
        /* A failed fdatasync is final: the pages cannot be trusted, copy again. */
        if (fdatasync(fd) < 0) {
                r = evd_err_set(err, -errno, "syncing the copy failed: %s", strerror(errno));
                goto out_discard;
        }
        /* Drop any cached pages after the sync (before it, dirty pages would stay) and
         * read what the disk really holds. */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (size <= EVD_COPY_BLOCK)
                r = evd_sha256_fd(fd, ring.slots[0].buf, again, &again_size);
        else
                r = hash_copy(&ring, fd, &copy, again, &again_size);
        if (r < 0) {
                r = evd_err_set(err, r, "re-reading the copy failed: %s", strerror(-r));
                goto out_discard;
        }
        if (again_size != size || memcmp(again, sha, sizeof(sha)) != 0) {
                r = evd_err_set(err, -EIO,
                                "the copy read back from disk differs from what "
                                "was written");
                goto out_discard;
        }
        if (verify == EVD_VERIFY_SOURCE_DESTINATION) {
                r = evd_sha256_reader(reader, ring.slots[0].buf, again, &again_size);
                if (r < 0) {
                        r = evd_err_set(err, r, "re-reading the source failed: %s", strerror(-r));
                        goto out_discard;
                }
                if (again_size != size || memcmp(again, sha, sizeof(sha)) != 0) {
                        r = evd_err_set(err, -EIO,
                                        "the source read differently the second "
                                        "time (changing or failing media)");
                        goto out_discard;
                }
        }
        (void)close(fd);
        fd = -1;
        memcpy(ret->sha256, sha, sizeof(sha));
        ret->size = size;
        memcpy(ret->tmp_name, tmp_name, sizeof(tmp_name));
        r = 0;
        goto out_sync;
out_discard:
        (void)close(fd);
        evd_store_tmp_discard(store, tmp_name);
out_sync:
        pthread_cond_destroy(&ring.changed);
        pthread_mutex_destroy(&ring.lock);
out:
        EVP_MD_CTX_free(md);
        for (unsigned i = 0; i < EVD_COPY_BLOCKS; i++)
                free(ring.slots[i].buf);
        return r;
}

int evd_copy_out(int src_fd, int dst_fd, const uint8_t sha256[EVD_SHA256_LEN], struct evd_err *err)
{
        uint8_t *buf = evd_dio_alloc(EVD_COPY_BLOCK), got[EVD_SHA256_LEN];
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint64_t off = 0, size;
        int r = 0;

        if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        for (;;) {
                ssize_t n = evd_pread_full(src_fd, buf, EVD_COPY_BLOCK, (off_t)off);

                if (n < 0) {
                        r = evd_err_set(err, (int)n, "reading the object failed: %s",
                                        strerror((int)-n));
                        goto out;
                }
                if (n == 0)
                        break;
                if (!EVP_DigestUpdate(md, buf, (size_t)n) ||
                    (r = evd_write_full(dst_fd, buf, (size_t)n)) < 0) {
                        r = evd_err_set(err, r ? r : -EIO, "writing the copy failed: %s",
                                        strerror(r ? -r : EIO));
                        goto out;
                }
                off += (uint64_t)n;
        }
        if (!EVP_DigestFinal_ex(md, got, NULL) || memcmp(got, sha256, EVD_SHA256_LEN) != 0) {
                r = evd_err_set(err, -EIO, "the stored object no longer matches its hash");
                goto out;
        }
        if (fdatasync(dst_fd) < 0) {
                r = evd_err_set(err, -errno, "syncing the copy failed: %s", strerror(errno));
                goto out;
        }
        (void)posix_fadvise(dst_fd, 0, 0, POSIX_FADV_DONTNEED);
        r = evd_sha256_fd(dst_fd, buf, got, &size);
        if (r < 0 || size != off || memcmp(got, sha256, EVD_SHA256_LEN) != 0)
                r = evd_err_set(err, -EIO, "the copy read back differs from the original");
out:
        EVP_MD_CTX_free(md);
        free(buf);
        return r;
}
