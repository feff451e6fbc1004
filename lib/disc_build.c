/* disc_build: the image of a bag (disc.h, evd_disc_build): payload files streamed into
 * libisofs and checked against their known hashes on the way, the file system tree,
 * and the image written, hashed and published. */
#include "disc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "name.h"
#include "publish.h"

#define IMAGE_CHUNK (32u * 2048)  /* image reads from libisofs, hashed and written */
#define PROGRESS_EVERY (8u << 20) /* bytes between progress calls */
#define FIFO_BLOCKS 4096          /* libisofs ring buffer: 8 MiB */
#define EVD_FS_ID 0x45564431u     /* "EVD1": file system id of our streams */

/* ---- image streams: payload files and tag files, read by libisofs ---- */

struct build;

struct src {
        struct build *b;
        ino_t ino;          /* our stream id: fixes the order of data in the image */
        const char *path;   /* payload file on disk, or NULL for a tag file */
        const uint8_t *mem; /* tag file bytes */
        uint64_t size;
        const uint8_t *want; /* payload: expected SHA-256 */
        const char *disc_path;
        /* while open */
        int fd;
        uint64_t pos;      /* bytes handed to libisofs */
        uint64_t file_pos; /* bytes read from the file and hashed */
        EVP_MD_CTX *md;
        uint8_t *rbuf;
        size_t rlen, roff;
        bool checked;
};

struct build {
        const struct evd_disc_spec *spec;
        struct src *srcs;
        size_t nsrc;
        atomic_bool failed;
        int fail_code;
        char fail_text[EVD_ERR_TEXT_MAX];
};

/* Record the first failure seen in the libisofs writer thread. */
__attribute__((format(printf, 3, 4))) static void build_fail(struct build *b, int code,
                                                             const char *fmt, ...)
{
        va_list ap;

        if (atomic_load(&b->failed))
                return;
        b->fail_code = code;
        va_start(ap, fmt);
        (void)vsnprintf(b->fail_text, sizeof(b->fail_text), fmt, ap);
        va_end(ap);
        atomic_store(&b->failed, true);
}

static void src_release(struct src *s)
{
        if (s->fd >= 0)
                (void)close(s->fd);
        s->fd = -1;
        EVP_MD_CTX_free(s->md);
        s->md = NULL;
        free(s->rbuf);
        s->rbuf = NULL;
}

static int src_open(IsoStream *stream)
{
        struct src *s = stream->data;
        struct stat st;

        s->pos = s->file_pos = 0;
        s->rlen = s->roff = 0;
        s->checked = false;
        if (!s->path)
                return ISO_SUCCESS;
        src_release(s);
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->fd < 0) {
                build_fail(s->b, -errno, "%s: cannot open %s: %s", s->disc_path, s->path,
                           strerror(errno));
                return ISO_FILE_CANT_WRITE;
        }
        if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->size) {
                build_fail(s->b, -EBADMSG, "%s: %s is %lld bytes, the catalog says %" PRIu64,
                           s->disc_path, s->path, (long long)st.st_size, s->size);
                src_release(s);
                return ISO_FILE_CANT_WRITE;
        }
        (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        s->md = EVP_MD_CTX_new();
        s->rbuf = malloc(EVD_DISC_READ_CHUNK);
        if (!s->md || !s->rbuf || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
                build_fail(s->b, -ENOMEM, "out of memory");
                src_release(s);
                return ISO_OUT_OF_MEM;
        }
        return ISO_SUCCESS;
}

/* Read the next chunk of the payload file, hash it, and check the hash at the end. */
static int src_refill(struct src *s)
{
        size_t want = s->size - s->file_pos < EVD_DISC_READ_CHUNK ? (size_t)(s->size - s->file_pos)
                                                                  : EVD_DISC_READ_CHUNK;
        ssize_t n = evd_read_full(s->fd, s->rbuf, want);

        if (n < 0) {
                build_fail(s->b, (int)n, "%s: read error in %s: %s", s->disc_path, s->path,
                           strerror((int)-n));
                return -1;
        }
        if ((size_t)n < want) {
                build_fail(s->b, -EBADMSG, "%s: %s ended after %" PRIu64 " of %" PRIu64 " bytes",
                           s->disc_path, s->path, s->file_pos + (uint64_t)n, s->size);
                return -1;
        }
        if (EVP_DigestUpdate(s->md, s->rbuf, (size_t)n) != 1) {
                build_fail(s->b, -EIO, "SHA-256 failed");
                return -1;
        }
        s->file_pos += (uint64_t)n;
        s->rlen = (size_t)n;
        s->roff = 0;
        if (s->file_pos == s->size) {
                uint8_t got[EVP_MAX_MD_SIZE];
                unsigned int glen = 0;

                if (EVP_DigestFinal_ex(s->md, got, &glen) != 1 || glen != EVD_SHA256_LEN) {
                        build_fail(s->b, -EIO, "SHA-256 failed");
                        return -1;
                }
                if (memcmp(got, s->want, EVD_SHA256_LEN) != 0) {
                        char hg[EVD_SHA256_HEX], hw[EVD_SHA256_HEX];

                        evd_hex(got, EVD_SHA256_LEN, hg);
                        evd_hex(s->want, EVD_SHA256_LEN, hw);
                        build_fail(s->b, -EBADMSG,
                                   "%s: %s has SHA-256 %s, the catalog says %s: not exported",
                                   s->disc_path, s->path, hg, hw);
                        return -1;
                }
                s->checked = true;
        }
        return 0;
}

static int src_read(IsoStream *stream, void *buf, size_t count)
{
        struct src *s = stream->data;
        size_t done = 0;

        if (atomic_load(&s->b->failed))
                return ISO_CANCELED;
        if (!s->path) {
                size_t n = s->size - s->pos < count ? (size_t)(s->size - s->pos) : count;

                memcpy(buf, s->mem + s->pos, n);
                s->pos += n;
                return (int)n;
        }
        while (done < count && s->pos < s->size) {
                size_t n;

                if (s->roff == s->rlen && src_refill(s) < 0)
                        return ISO_FILE_READ_ERROR;
                n = s->rlen - s->roff < count - done ? s->rlen - s->roff : count - done;
                memcpy((uint8_t *)buf + done, s->rbuf + s->roff, n);
                s->roff += n;
                s->pos += n;
                done += n;
        }
        return (int)done;
}

static int src_close(IsoStream *stream)
{
        struct src *s = stream->data;

        if (s->path && !s->checked && !atomic_load(&s->b->failed))
                build_fail(s->b, -EIO, "%s: %s was not read to its end", s->disc_path, s->path);
        src_release(s);
        return ISO_SUCCESS;
}

static off_t src_get_size(IsoStream *stream)
{
        return (off_t)((struct src *)stream->data)->size;
}

static int src_is_repeatable(IsoStream *stream)
{
        (void)stream;
        return 1;
}

static void src_get_id(IsoStream *stream, unsigned int *fs_id, dev_t *dev_id, ino_t *ino_id)
{
        *fs_id = EVD_FS_ID;
        *dev_id = 0;
        *ino_id = ((struct src *)stream->data)->ino;
}

static void src_free(IsoStream *stream)
{
        (void)stream; /* struct src belongs to the build */
}

static int src_update_size(IsoStream *stream)
{
        (void)stream;
        return ISO_SUCCESS;
}

static IsoStream *src_get_input_stream(IsoStream *stream, int flag)
{
        (void)stream;
        (void)flag;
        return NULL;
}

static int src_clone(IsoStream *old_stream, IsoStream **new_stream, int flag)
{
        (void)old_stream;
        (void)new_stream;
        (void)flag;
        return ISO_STREAM_NO_CLONE;
}

static IsoStreamIface src_class = {
        .version = 4,
        .type = { 'u', 's', 'e', 'r' },
        .open = src_open,
        .close = src_close,
        .get_size = src_get_size,
        .read = src_read,
        .is_repeatable = src_is_repeatable,
        .get_id = src_get_id,
        .free = src_free,
        .update_size = src_update_size,
        .get_input_stream = src_get_input_stream,
        .cmp_ino = NULL,
        .clone_stream = src_clone,
};

/* Add one file node under dir; libisofs takes the stream's reference. */
static int add_file(IsoDir *dir, const char *name, struct src *s)
{
        IsoStream *stream = malloc(sizeof(*stream));
        IsoFile *file;
        int r;

        if (!stream)
                return ISO_OUT_OF_MEM;
        stream->class = &src_class;
        stream->refcount = 1;
        stream->data = s;
        r = iso_tree_add_new_file(dir, name, stream, &file);
        if (r < 0)
                iso_stream_unref(stream);
        /* On success the new file node holds the stream's only reference. */
        return r; /* NOLINT(clang-analyzer-unix.Malloc) */
}

/* ---- the tree ---- */

/* Find or make data/<dir> for a payload path "data/<dir>/<name>". */
static int data_subdir(IsoDir *data, const char *disc_path, IsoDir **ret_dir, const char **ret_name)
{
        const char *rec = disc_path + 5, *slash = strchr(rec, '/');
        char dname[EVD_DISC_NAME_BYTES + 1];
        IsoNode *node = NULL;
        size_t len;
        int r;

        if (!slash || (len = (size_t)(slash - rec)) > EVD_DISC_NAME_BYTES)
                return ISO_WRONG_ARG_VALUE;
        memcpy(dname, rec, len);
        dname[len] = '\0';
        r = iso_dir_get_node(data, dname, &node);
        if (r == 1 && node && iso_node_get_type(node) == LIBISO_DIR) {
                *ret_dir = (IsoDir *)node;
        } else {
                r = iso_tree_add_new_dir(data, dname, ret_dir);
                if (r < 0)
                        return r;
        }
        *ret_name = slash + 1;
        return ISO_SUCCESS;
}

static void set_write_opts(IsoWriteOpts *o, time_t t)
{
        struct tm tm;
        char uuid[17] = "";

        (void)iso_write_opts_set_iso_level(o, 3);
        (void)iso_write_opts_set_rockridge(o, 1);
        (void)iso_write_opts_set_joliet(o, 1);
        (void)iso_write_opts_set_joliet_longer_paths(o, 1);
        (void)iso_write_opts_set_joliet_long_names(o, 1);
        (void)iso_write_opts_set_output_charset(o, "UTF-8");
        (void)iso_write_opts_set_hardlinks(o, 0);
        /* Rock Ridge 1.10 (as mkisofs writes it) without file serial numbers: libisofs
         * numbers directories in the order of their addresses in memory, which would
         * make two builds in one process differ. Every reader we know takes 1.10. */
        (void)iso_write_opts_set_rrip_version_1_10(o, 1);
        (void)iso_write_opts_set_rrip_1_10_px_ino(o, 0);
        (void)iso_write_opts_set_aaip(o, 0);
        (void)iso_write_opts_set_record_md5(o, 0, 0);
        (void)iso_write_opts_set_replace_mode(o, 2, 2, 2, 2);
        /* Directories writable by their owner: an unpacked tree ("." included, which
         * bsdtar gives the root's mode) can be cleaned up without chmod. */
        (void)iso_write_opts_set_default_dir_mode(o, S_IFDIR | 0755);
        (void)iso_write_opts_set_default_file_mode(o, S_IFREG | 0444);
        (void)iso_write_opts_set_default_uid(o, 0);
        (void)iso_write_opts_set_default_gid(o, 0);
        (void)iso_write_opts_set_replace_timestamps(o, 2);
        (void)iso_write_opts_set_default_timestamp(o, t);
        (void)iso_write_opts_set_dir_rec_mtime(o, 7);
        (void)iso_write_opts_set_always_gmt(o, 1);
        if (gmtime_r(&t, &tm))
                (void)strftime(uuid, sizeof(uuid), "%Y%m%d%H%M%S00", &tm);
        (void)iso_write_opts_set_pvd_times(o, t, t, 0, 0, uuid);
        (void)iso_write_opts_set_fifo_size(o, FIFO_BLOCKS);
}

/* ---- writing ---- */

/* Pull the image out of the burn source, hash it and write it to fd, IMAGE_CHUNK bytes
 * at a time: small enough to stay in the CPU cache between the copy out of libisofs,
 * the hash and the write (1 MiB writes cost three times the system time here).
 *
 * Reads are whole 2048-byte blocks and never go past the size libisofs announced. The
 * burn source drops a request it cannot fill completely when the image ends
 * (found in testing: 64 KiB reads silently lost an image's tail): asking for no more than
 * what remains avoids that, and an image shorter or longer than announced is an error
 * here, never silent. Reading one block at a time instead costs a lock hand-off with
 * the writer thread per 2048 bytes and made exports 2.6 times slower. */
static int pump_image(struct build *b, struct burn_source *bs, uint64_t size, int fd,
                      uint8_t ret_sha[EVD_SHA256_LEN], struct evd_err *err)
{
        const struct evd_disc_spec *spec = b->spec;
        uint8_t *chunk = malloc(IMAGE_CHUNK);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint64_t done = 0, next_progress = 0;
        unsigned char tail[EVD_DISC_BLOCK];
        unsigned int mdlen = 0;
        int r = 0, st;

        if (!chunk || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        while (done < size) {
                size_t want = size - done < IMAGE_CHUNK ? (size_t)(size - done) : IMAGE_CHUNK;
                int n = bs->read_xt(bs, chunk, (int)want);

                if (n < 0 || (size_t)n != want || atomic_load(&b->failed))
                        break;
                if (EVP_DigestUpdate(md, chunk, want) != 1) {
                        r = evd_err_set(err, -EIO, "SHA-256 failed");
                        goto out;
                }
                r = evd_write_full(fd, chunk, want);
                if (r < 0) {
                        r = evd_err_set(err, r, "writing the image: %s", strerror(-r));
                        goto out;
                }
                done += want;
                if (spec->cancel && atomic_load(spec->cancel)) {
                        r = evd_err_set(err, -ECANCELED, "export cancelled");
                        goto out;
                }
                if (spec->progress && (done >= next_progress || done == size)) {
                        spec->progress(spec->progress_ctx, done, size);
                        next_progress = done + PROGRESS_EVERY;
                }
        }
        if (atomic_load(&b->failed)) {
                r = evd_err_set(err, b->fail_code, "%s", b->fail_text);
                goto out;
        }
        if (done != size) {
                r = evd_err_set(err, -EIO,
                                "image generation stopped after %" PRIu64 " of %" PRIu64 " bytes",
                                done, size);
                goto out;
        }
        /* Wait for the writer thread to close the stream, then ask how it ended. */
        if (bs->read_xt(bs, tail, EVD_DISC_BLOCK) != 0) {
                r = evd_err_set(err, -EIO, "image longer than announced");
                goto out;
        }
        st = iso_ring_buffer_get_status(bs, NULL, NULL);
        if (st == 3 || st == 7 || atomic_load(&b->failed)) {
                r = evd_err_set(err, b->fail_code ? b->fail_code : -EIO, "%s",
                                b->fail_text[0] ? b->fail_text : "image generation failed");
                goto out;
        }
        if (EVP_DigestFinal_ex(md, ret_sha, &mdlen) != 1 || mdlen != EVD_SHA256_LEN)
                r = evd_err_set(err, -EIO, "SHA-256 failed");
out:
        EVP_MD_CTX_free(md);
        free(chunk);
        return r;
}

static int exists_fail(struct evd_err *err, const char *out_path)
{
        return evd_err_set(err, -EEXIST, "%s exists already; an image never replaces a file",
                           out_path);
}

/* One stream per file, in the order of their data on the disc: the tag files first,
 * then the recordings. */
static int make_sources(struct build *b, const struct evd_disc_bag *bag, struct evd_err *err)
{
        const struct evd_disc_spec *spec = b->spec;

        b->nsrc = bag->ntags + spec->n_items;
        b->srcs = calloc(b->nsrc, sizeof(*b->srcs));
        if (!b->srcs)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < b->nsrc; i++) {
                struct src *s = &b->srcs[i];

                s->b = b;
                s->ino = (ino_t)(i + 1);
                s->fd = -1;
                if (i < bag->ntags) {
                        s->mem = bag->tags[i].data;
                        s->size = bag->tags[i].len;
                        s->disc_path = bag->tags[i].name;
                } else {
                        const struct evd_disc_item *it = &spec->items[i - bag->ntags];

                        s->path = it->src_path;
                        s->size = it->size;
                        s->want = it->sha256;
                        s->disc_path = it->disc_path;
                }
        }
        return 0;
}

/* The file system tree: tag files in the root, recordings under data/<recorder>/. */
static int make_tree(struct build *b, const char *volid, IsoImage **ret_image, struct evd_err *err)
{
        IsoDir *root, *data;
        int r;

        r = iso_image_new(volid, ret_image);
        if (r < 0) {
                *ret_image = NULL;
                return evd_disc_iso_fail(err, -ENOMEM, "libisofs", r);
        }
        iso_image_set_ignore_aclea(*ret_image, 3);
        iso_image_set_application_id(*ret_image, "EVIDOCK");
        iso_image_set_data_preparer_id(*ret_image, "EVIDOCK");
        root = iso_image_get_root(*ret_image);
        r = iso_tree_add_new_dir(root, "data", &data);
        for (size_t i = 0; r >= 0 && i < b->nsrc; i++) {
                struct src *s = &b->srcs[i];
                IsoDir *parent = root;
                const char *name = s->disc_path;

                if (s->path)
                        r = data_subdir(data, s->disc_path, &parent, &name);
                if (r >= 0)
                        r = add_file(parent, name, s);
                if (r < 0) {
                        char shown[EVD_NAME_ESCAPED_MAX(EVD_DISC_PATH_MAX)];

                        (void)evd_name_escape(s->disc_path, strlen(s->disc_path), shown,
                                              sizeof(shown));
                        return evd_disc_iso_fail(err, -EINVAL, shown, r);
                }
        }
        if (r < 0)
                return evd_disc_iso_fail(err, -EIO, "libisofs", r);
        return 0;
}

/* Stop libisofs's writer thread, wait for it and free the burn source. */
static void burn_source_free(struct build *b, struct burn_source *bs)
{
        atomic_store(&b->failed, true);
        if (bs->cancel)
                (void)bs->cancel(bs);
        bs->free_data(bs);
        free(bs);
}

/* Lay out the image, write it to fd (the temporary file tmp) and sync it. */
static int write_image(struct build *b, IsoImage *image, IsoWriteOpts *opts, int fd,
                       const char *tmp, struct evd_disc_result *ret, struct evd_err *err)
{
        const struct evd_disc_spec *spec = b->spec;
        struct burn_source *bs = NULL;
        uint64_t size;
        int r;

        r = iso_image_create_burn_source(image, opts, &bs);
        if (r < 0)
                return evd_disc_iso_fail(err, -EIO, "libisofs cannot lay out the image", r);
        size = (uint64_t)bs->get_size(bs);
        if (size % EVD_DISC_BLOCK != 0) {
                r = evd_err_set(err, -EIO, "libisofs announced %" PRIu64 " bytes", size);
                goto out;
        }
        if (spec->capacity && size > spec->capacity) {
                r = evd_err_set(err, -EFBIG,
                                "the image would be %" PRIu64 " bytes; the medium holds %" PRIu64,
                                size, spec->capacity);
                goto out;
        }
        r = pump_image(b, bs, size, fd, ret->sha256, err);
        if (r < 0)
                goto out;
        bs->free_data(bs);
        free(bs);
        bs = NULL;
        ret->size = size;
        if (fsync(fd) < 0) {
                r = -errno;
                r = evd_err_set(err, r, "%s: fsync: %s", tmp, strerror(-r));
        }
out:
        if (bs)
                burn_source_free(b, bs);
        return r;
}

/* Write the image to a temporary file beside out_path (tmp, "...XXXXXX" to fill) and
 * give it its name, never replacing a file. */
static int write_and_publish(struct build *b, IsoImage *image, IsoWriteOpts *opts, char *tmp,
                             const char *out_path, struct evd_disc_result *ret, struct evd_err *err)
{
        bool named = false;
        int fd, r;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                return evd_err_set(err, r, "%s: %s", tmp, strerror(-r));
        }
        (void)fchmod(fd, 0644);
        r = write_image(b, image, opts, fd, tmp, ret, err);
        if (close(fd) < 0 && r == 0) {
                r = -errno;
                r = evd_err_set(err, r, "%s: %s", out_path, strerror(-r));
        }
        if (r == 0) {
                r = evd_publish(AT_FDCWD, tmp, out_path, &named);
                if (r == -EEXIST)
                        r = exists_fail(err, out_path);
                else if (r < 0)
                        r = evd_err_set(err, r, "%s: %s", out_path, strerror(-r));
        }
        if (!named)
                (void)unlink(tmp);
        return r;
}

/* Build into out_fd (>= 0, named shown in messages), or else at out_path by way of tmp. */
static int build(const struct evd_disc_spec *spec, int out_fd, const char *shown, char *tmp,
                 const char *out_path, struct evd_disc_result *ret, struct evd_err *err)
{
        struct evd_disc_bag bag = { 0 };
        struct build b = { .spec = spec };
        struct evd_disc_result res = { 0 };
        IsoImage *image = NULL;
        IsoWriteOpts *opts = NULL;
        bool entered = false, nowtime = false;
        time_t t = (time_t)spec->extraction_time;
        int r;

        r = evd_disc_assign_names(spec->items, spec->n_items, err);
        if (r < 0)
                return r;
        evd_disc_volume_id(spec->volume_id ? spec->volume_id : "", res.volume_id);
        r = evd_disc_bag_make(&bag, spec, res.volume_id, err);
        if (r < 0)
                goto out;
        r = make_sources(&b, &bag, err);
        if (r < 0)
                goto out;

        r = evd_disc_enter(err);
        if (r < 0)
                goto out;
        entered = true;
        /* libisofs stamps new nodes and the image with "now": make it the extraction
         * time, so that nothing of the wall clock gets into the image. */
        (void)iso_nowtime(&t, 1);
        nowtime = true;
        r = make_tree(&b, res.volume_id, &image, err);
        if (r < 0)
                goto out;
        r = iso_write_opts_new(&opts, 0);
        if (r < 0) {
                r = evd_disc_iso_fail(err, -ENOMEM, "libisofs", r);
                goto out;
        }
        set_write_opts(opts, t);
        if (out_fd >= 0)
                r = write_image(&b, image, opts, out_fd, shown, &res, err);
        else if (tmp && out_path)
                r = write_and_publish(&b, image, opts, tmp, out_path, &res, err);
        else
                r = evd_err_set(err, -EINVAL, "no file to write the image into");
        if (r == 0 && ret)
                *ret = res;
out:
        iso_write_opts_free(opts);
        if (image)
                iso_image_unref(image);
        if (nowtime) {
                time_t dummy = 0;

                (void)iso_nowtime(&dummy, 2);
        }
        if (entered)
                evd_disc_leave();
        for (size_t i = 0; b.srcs && i < b.nsrc; i++)
                src_release(&b.srcs[i]);
        free(b.srcs);
        evd_disc_bag_free(&bag);
        return r;
}

int evd_disc_build(const struct evd_disc_spec *spec, const char *out_path,
                   struct evd_disc_result *ret, struct evd_err *err)
{
        char tmp[EVD_DISC_PATH_BUF];
        struct stat st;
        int r;

        r = evd_disc_bag_check(spec, err);
        if (r < 0)
                return r;
        if (evd_snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", out_path) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "%s: path too long", out_path);
        /* Fail early; the publish at the end refuses to replace it anyway. */
        if (lstat(out_path, &st) == 0)
                return exists_fail(err, out_path);
        return build(spec, -1, NULL, tmp, out_path, ret, err);
}

int evd_disc_build_fd(const struct evd_disc_spec *spec, int fd, const char *shown,
                      struct evd_disc_result *ret, struct evd_err *err)
{
        int r = evd_disc_bag_check(spec, err);

        if (r < 0)
                return r;
        return build(spec, fd, shown, NULL, NULL, ret, err);
}
