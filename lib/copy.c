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

/* One block of the ring. Blocks past the first are allocated only when the reader
 * finds none free: a copy bound by its source (a USB bus) keeps two, one read while
 * the other is written; one bound by the store uses all EVD_COPY_BLOCKS. */
enum slot_state { SLOT_EMPTY, SLOT_FILLING, SLOT_FULL, SLOT_DRAINING };

struct slot {
        uint8_t *buf;
        ssize_t len;  /* bytes, 0 at the end, -errno on a read error */
        uint64_t seq; /* which block of the stream (FILLING, FULL, DRAINING) */
        enum slot_state state;
};

struct ring {
        const struct evd_reader *reader;
        const atomic_bool *cancel;
        struct slot slots[EVD_COPY_BLOCKS];
        unsigned n_slots;    /* blocks it may allocate, at most EVD_COPY_BLOCKS */
        uint64_t start;      /* where the reader thread begins */
        uint64_t next_drain; /* the block the writer takes next */
        bool stop;           /* writer gave up: reader must end */
        pthread_mutex_t lock;
        pthread_cond_t changed;
};

/* An empty block for the reader, allocating one when none is free and the ring is not
 * full yet; NULL when the reader must wait. Lock held. */
static struct slot *slot_to_fill(struct ring *ring)
{
        struct slot *unused = NULL;

        for (unsigned i = 0; i < ring->n_slots; i++) {
                struct slot *s = &ring->slots[i];

                if (s->buf && s->state == SLOT_EMPTY)
                        return s;
                if (!s->buf && !unused)
                        unused = s;
        }
        if (unused && (unused->buf = evd_dio_alloc(EVD_COPY_BLOCK)))
                return unused;
        return NULL;
}

static struct slot *slot_to_drain(struct ring *ring)
{
        for (unsigned i = 0; i < EVD_COPY_BLOCKS; i++) {
                struct slot *s = &ring->slots[i];

                if (s->state == SLOT_FULL && s->seq == ring->next_drain)
                        return s;
        }
        return NULL;
}

static void *reader_main(void *arg)
{
        struct ring *ring = arg;
        uint64_t off = ring->start;

        for (uint64_t seq = 0;; seq++) {
                struct slot *s;
                ssize_t n;

                pthread_mutex_lock(&ring->lock);
                while (!(s = slot_to_fill(ring)) && !ring->stop)
                        pthread_cond_wait(&ring->changed, &ring->lock);
                if (ring->stop) {
                        pthread_mutex_unlock(&ring->lock);
                        return NULL;
                }
                s->state = SLOT_FILLING;
                s->seq = seq;
                pthread_mutex_unlock(&ring->lock);

                if (ring->cancel && atomic_load(ring->cancel))
                        n = -ECANCELED;
                else
                        n = ring->reader->pread(ring->reader->ctx, s->buf, EVD_COPY_BLOCK, off);

                pthread_mutex_lock(&ring->lock);
                s->len = n;
                s->state = SLOT_FULL;
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

        for (unsigned i = 0; i < EVD_COPY_BLOCKS; i++)
                ring->slots[i].state = SLOT_EMPTY;
        ring->next_drain = 0;
        ring->stop = false;
        if (pthread_create(&thread, NULL, reader_main, ring) != 0)
                return -EAGAIN;
        for (;;) {
                struct slot *s;
                ssize_t n;

                pthread_mutex_lock(&ring->lock);
                while (!(s = slot_to_drain(ring)))
                        pthread_cond_wait(&ring->changed, &ring->lock);
                s->state = SLOT_DRAINING;
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
                s->state = SLOT_EMPTY;
                ring->next_drain++;
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
        (void)evd_dio_set(fd, true);
        r = stream_rest(ring, md, -1, &size, NULL);
        if (r == 0 && !EVP_DigestFinal_ex(md, ret_sha256, NULL))
                r = -EIO;
        EVP_MD_CTX_free(md);
        if (r == 0)
                *ret_size = size;
        return r;
}

/* The copy, read back in requests of at most cap bytes. */
struct bounded_fd {
        int fd;
        size_t cap;
};

static ssize_t bounded_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        const struct bounded_fd *b = ctx;

        return evd_dio_pread(b->fd, buf, len < b->cap ? len : b->cap, off);
}

/* SHA-256 of a copy of size bytes that fits one block, read past the page cache where
 * the filesystem allows. Each read asks for the size rounded up to the direct I/O
 * alignment, plus one unit, not a whole block: a direct read past the end of a small
 * file would have the kernel zero the rest of the block in buf (touching every page
 * of it, for every file). A copy longer than size is still read to its end. */
static int hash_small_copy(int fd, uint8_t *buf, uint64_t size, uint8_t ret_sha256[EVD_SHA256_LEN],
                           uint64_t *ret_size)
{
        size_t cap = ((size_t)size + EVD_DIO_ALIGN) & ~(size_t)(EVD_DIO_ALIGN - 1);
        struct bounded_fd b = { fd, cap < EVD_COPY_BLOCK ? cap : EVD_COPY_BLOCK };
        struct evd_reader copy = { bounded_pread, &b };

        (void)evd_dio_set(fd, true);
        return evd_sha256_reader(&copy, buf, ret_sha256, ret_size);
}

/* A crowded copy (a ring of two blocks: one of many at once) gives back the blocks
 * the stream took beyond the first, and re-reads the copy in that one; a copy with
 * the ring to itself re-reads through it, reading and hashing at once. */
static void ring_shrink(struct ring *ring)
{
        if (ring->n_slots == EVD_COPY_BLOCKS)
                return;
        for (unsigned i = 1; i < EVD_COPY_BLOCKS; i++) {
                free(ring->slots[i].buf);
                ring->slots[i].buf = NULL;
        }
}

static void source_done(const struct evd_copy_opts *o)
{
        if (o->source_done)
                o->source_done(o->userdata);
}

int evd_copy_run(struct evd_store *store, const struct evd_reader *reader,
                 const struct evd_copy_opts *opts, struct evd_copy_result *ret, struct evd_err *err)
{
        struct ring ring = { .reader = reader, .cancel = opts->cancel, .start = EVD_COPY_BLOCK };
        _Atomic uint64_t *bytes_done = opts->bytes_done;
        unsigned max_blocks = opts->max_blocks;
        enum evd_verify_mode verify = opts->verify;
        uint8_t sha[EVD_SHA256_LEN], again[EVD_SHA256_LEN];
        char tmp_name[EVD_STORE_TMPNAME_MAX];
        EVP_MD_CTX *md = NULL;
        uint64_t size = 0, again_size = 0;
        ssize_t n;
        int fd = -1, r;
        struct evd_reader copy = { evd_fd_pread, &fd }; /* the copy, read back */

        ring.n_slots =
                max_blocks >= 2 && max_blocks < EVD_COPY_BLOCKS ? max_blocks : EVD_COPY_BLOCKS;
        ring.slots[0].buf = evd_dio_alloc(EVD_COPY_BLOCK); /* the others as needed */
        if (!ring.slots[0].buf) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
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
                ring_shrink(&ring);
        }
        if (verify != EVD_VERIFY_SOURCE_DESTINATION)
                source_done(opts);
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
                r = hash_small_copy(fd, ring.slots[0].buf, size, again, &again_size);
        else if (ring.n_slots < EVD_COPY_BLOCKS)
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
                source_done(opts);
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
