#include "store.h"

#include "hash.h"
#include "publish.h"
#include "seal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ROOT_MAX 512
#define SHA_LOCKS 256 /* stripes of the per-content lock */

struct evd_store {
        char root[ROOT_MAX];                               /* STATE_DIR */
        char objects[ROOT_MAX];                            /* STATE_DIR/objects */
        char quarantine[ROOT_MAX];                         /* STATE_DIR/quarantine */
        int tmp_fd;                                        /* STATE_DIR/tmp, open */
        enum { SEAL_NONE, SEAL_OWN, SEAL_HELPER } sealing; /* who sets the flag */
        struct evd_seal *helper;                           /* evidock-seal, when SEAL_HELPER */
        pthread_mutex_t tmp_lock;                          /* in_flight */
        char (*in_flight)[EVD_STORE_TMPNAME_MAX];          /* tmp/ names of copies running now */
        size_t n_in_flight, cap_in_flight;
        pthread_mutex_t sha_locks[SHA_LOCKS];
};

/* Folders are 0750 whatever the umask: evidock-replicate reads objects as a member of
 * the station's group (never writing: objects are 0444 and immutable). */
static int share_dir(const char *path)
{
        struct stat st;

        /* keep a set-group-ID bit inherited from the parent: the group follows */
        if (stat(path, &st) < 0 || chmod(path, (st.st_mode & S_ISGID) | 0750) < 0)
                return -errno;
        return 0;
}

static int mkdir_p1(const char *path)
{
        if (mkdir(path, 0750) == 0)
                return share_dir(path);
        return errno == EEXIST ? 0 : -errno;
}

/* The copies in flight (tmp/ names), under tmp_lock: whatever else is in tmp/ is a
 * leftover. */
static int track(struct evd_store *store, const char *name)
{
        if (store->n_in_flight == store->cap_in_flight) {
                size_t cap = store->cap_in_flight ? store->cap_in_flight * 2 : 16;
                void *p = realloc(store->in_flight, cap * EVD_STORE_TMPNAME_MAX);

                if (!p)
                        return -ENOMEM;
                store->in_flight = p;
                store->cap_in_flight = cap;
        }
        (void)snprintf(store->in_flight[store->n_in_flight++], EVD_STORE_TMPNAME_MAX, "%s", name);
        return 0;
}

static bool tracked(const struct evd_store *store, const char *name)
{
        for (size_t i = 0; i < store->n_in_flight; i++)
                if (strcmp(store->in_flight[i], name) == 0)
                        return true;
        return false;
}

static void untrack(struct evd_store *store, const char *name)
{
        pthread_mutex_lock(&store->tmp_lock);
        for (size_t i = 0; i < store->n_in_flight; i++)
                if (strcmp(store->in_flight[i], name) == 0) {
                        memmove(store->in_flight[i], store->in_flight[store->n_in_flight - 1],
                                EVD_STORE_TMPNAME_MAX);
                        store->n_in_flight--;
                        break;
                }
        pthread_mutex_unlock(&store->tmp_lock);
}

/* Set or clear FS_IMMUTABLE_FL on an open object: the one place that decides how (our
 * own ioctl, or evidock-seal's), as probe_immutable found at open. */
static int set_immutable(const struct evd_store *store, int fd, bool on)
{
        switch (store->sealing) {
        case SEAL_OWN:
                return evd_seal_ioctl(fd, on);
        case SEAL_HELPER:
                return evd_seal_request(store->helper, fd, on);
        default:
                return -EOPNOTSUPP;
        }
}

/* Remove everything left in tmp/ by an earlier run: copies that never completed. */
static int empty_tmp(int tmp_fd)
{
        int dfd = dup(tmp_fd);
        struct dirent *de;
        DIR *d;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                (void)close(dfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (unlinkat(tmp_fd, de->d_name, 0) < 0 && errno != ENOENT) {
                        int r = -errno;

                        (void)closedir(d);
                        return r;
                }
        }
        (void)closedir(d);
        return fsync(tmp_fd) < 0 ? -errno : 0;
}

/* Can this filesystem and this process set the immutable flag, itself or through
 * evidock-seal? Try each on a probe file in objects/ (where the helper accepts files; its
 * name is no object's, and a probe left sealed by a crash is cleared first). */
static void probe_immutable(struct evd_store *store)
{
        char path[ROOT_MAX + 16];
        int fd;

        store->sealing = SEAL_NONE;
        if (evd_snprintf(path, sizeof(path), "%s/.seal-probe", store->objects) < 0)
                return;
        fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        if (evd_seal_ioctl(fd, false) == 0 && evd_seal_ioctl(fd, true) == 0) {
                store->sealing = SEAL_OWN;
        } else if (evd_seal_new(evd_seal_socket_path(), &store->helper) == 0) {
                (void)evd_seal_request(store->helper, fd, false);
                if (evd_seal_request(store->helper, fd, true) == 0)
                        store->sealing = SEAL_HELPER;
        }
        (void)set_immutable(store, fd, false);
        (void)close(fd);
        (void)unlink(path);
        if (store->sealing != SEAL_HELPER) {
                evd_seal_free(store->helper);
                store->helper = NULL;
        }
}

int evd_store_open(const char *state_dir, struct evd_store **ret_store, struct evd_err *err)
{
        struct evd_store *s;
        char tmp[ROOT_MAX];
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return evd_err_set(err, -ENOMEM, "out of memory");
        s->tmp_fd = -1;
        pthread_mutex_init(&s->tmp_lock, NULL);
        for (int i = 0; i < SHA_LOCKS; i++)
                pthread_mutex_init(&s->sha_locks[i], NULL);
        if (evd_snprintf(s->root, sizeof(s->root), "%s", state_dir) < 0 ||
            evd_snprintf(s->objects, sizeof(s->objects), "%s/objects", state_dir) < 0 ||
            evd_snprintf(s->quarantine, sizeof(s->quarantine), "%s/quarantine", state_dir) < 0 ||
            evd_snprintf(tmp, sizeof(tmp), "%s/tmp", state_dir) < 0) {
                r = evd_err_set(err, -ENAMETOOLONG, "state_dir too long");
                goto fail;
        }
        if ((r = mkdir_p1(s->root)) < 0 || (r = mkdir_p1(s->objects)) < 0 ||
            (r = mkdir_p1(tmp)) < 0) {
                r = evd_err_set(err, r, "cannot create the store under %s: %s", state_dir,
                                strerror(-r));
                goto fail;
        }
        s->tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->tmp_fd < 0) {
                r = evd_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
                goto fail;
        }
        r = empty_tmp(s->tmp_fd);
        if (r < 0) {
                r = evd_err_set(err, r, "cannot empty %s: %s", tmp, strerror(-r));
                goto fail;
        }
        probe_immutable(s);
        *ret_store = s;
        return 0;
fail:
        evd_store_free(s);
        return r;
}

void evd_store_free(struct evd_store *store)
{
        if (!store)
                return;
        if (store->tmp_fd >= 0)
                (void)close(store->tmp_fd);
        evd_seal_free(store->helper);
        free(store->in_flight);
        pthread_mutex_destroy(&store->tmp_lock);
        for (int i = 0; i < SHA_LOCKS; i++)
                pthread_mutex_destroy(&store->sha_locks[i]);
        free(store);
}

bool evd_store_immutable(const struct evd_store *store)
{
        return store->sealing != SEAL_NONE;
}

int evd_store_free_bytes(const struct evd_store *store, uint64_t *ret_bytes)
{
        struct statvfs st;

        if (fstatvfs(store->tmp_fd, &st) < 0)
                return -errno;
        *ret_bytes = (uint64_t)st.f_bavail * st.f_frsize;
        return 0;
}

int evd_store_tmp_create(struct evd_store *store, int *ret_fd, char *ret_name)
{
        for (int tries = 0; tries < 8; tries++) {
                uint8_t rnd[8];
                char hex[17];
                int fd, saved;

                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -EIO;
                evd_hex(rnd, sizeof(rnd), hex);
                (void)snprintf(ret_name, EVD_STORE_TMPNAME_MAX, "copy-%s", hex);
                /* Tracked before it is created: `clean` never sees it untracked. The
                 * create itself (an inode to allocate, slow on a busy filesystem) runs
                 * outside the lock, so that copies in parallel create in parallel. */
                pthread_mutex_lock(&store->tmp_lock);
                saved = track(store, ret_name);
                pthread_mutex_unlock(&store->tmp_lock);
                if (saved < 0)
                        return saved;
                fd = openat(store->tmp_fd, ret_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                saved = errno;
                if (fd >= 0) {
                        *ret_fd = fd;
                        return 0;
                }
                untrack(store, ret_name);
                if (saved != EEXIST)
                        return -saved;
        }
        return -EEXIST;
}

void evd_store_tmp_discard(struct evd_store *store, const char *name)
{
        (void)unlinkat(store->tmp_fd, name, 0);
        untrack(store, name);
}

int evd_store_object_path(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                          char *buf, size_t n)
{
        char hex[EVD_SHA256_HEX];

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        return evd_snprintf(buf, n, "%s/%.2s/%.2s/%s", store->objects, hex, hex + 2, hex);
}

/* Make objects/ab/ and objects/ab/cd/, syncing each parent that gained an entry. */
static int make_object_dirs(const struct evd_store *store, const char *hex, char *dir, size_t n)
{
        char ab[ROOT_MAX];
        int r;

        if ((r = evd_snprintf(ab, sizeof(ab), "%s/%.2s", store->objects, hex)) < 0 ||
            (r = evd_snprintf(dir, n, "%s/%.2s", ab, hex + 2)) < 0)
                return r;
        if (mkdir(ab, 0750) == 0) {
                if ((r = share_dir(ab)) < 0 || (r = evd_fsync_dir(store->objects)) < 0)
                        return r;
        } else if (errno != EEXIST) {
                return -errno;
        }
        if (mkdir(dir, 0750) == 0) {
                if ((r = share_dir(dir)) < 0 || (r = evd_fsync_dir(ab)) < 0)
                        return r;
        } else if (errno != EEXIST) {
                return -errno;
        }
        return 0;
}

/* Set the immutable flag on a published object, where the store can. */
static int seal(const struct evd_store *store, const char *path)
{
        int fd, r;

        if (store->sealing == SEAL_NONE)
                return 0;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        r = set_immutable(store, fd, true);
        (void)close(fd);
        return r;
}

/* Move a damaged object (path) into quarantine/ under its name and the time, never
 * deleting it: lift the immutable flag, rename, sync both folders, set the flag again
 * on the quarantined copy. Its new path goes to out. */
static int quarantine(const struct evd_store *store, const char *path, const char *hex, char *out,
                      size_t n)
{
        char dir[ROOT_MAX], *slash;
        int fd, r;

        if ((r = mkdir_p1(store->quarantine)) < 0)
                return r;
        for (int i = 0;; i++) {
                if ((r = evd_snprintf(out, n, "%s/%s.%lld.%d", store->quarantine, hex,
                                      (long long)time(NULL), i)) < 0)
                        return r;
                if (access(out, F_OK) < 0 && errno == ENOENT)
                        break;
                if (i > 100)
                        return -EEXIST;
        }
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        r = store->sealing == SEAL_NONE ? 0 : set_immutable(store, fd, false);
        if (r < 0 && r != -ENOTTY && r != -EOPNOTSUPP) {
                (void)close(fd);
                return r;
        }
        if (renameat2(AT_FDCWD, path, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
                r = -errno;
                (void)seal(store, path);
                (void)close(fd);
                return r;
        }
        (void)close(fd);
        memcpy(dir, path, sizeof(dir));
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        if ((r = evd_fsync_dir(dir)) < 0 || (r = evd_fsync_dir(store->quarantine)) < 0)
                return r;
        return seal(store, out);
}

int evd_store_publish(struct evd_store *store, const char *tmp_name,
                      const uint8_t sha256[EVD_SHA256_LEN], bool *ret_existed,
                      char *ret_quarantined, struct evd_err *err)
{
        char hex[EVD_SHA256_HEX], dir[ROOT_MAX], path[ROOT_MAX], moved[EVD_STORE_PATH_MAX] = "";
        bool existed = false, named = false;
        struct evd_err bad = { 0 };
        struct stat st;
        int r;

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        if ((r = make_object_dirs(store, hex, dir, sizeof(dir))) < 0)
                return evd_err_set(err, r, "cannot make object directory: %s", strerror(-r));
        if ((r = evd_snprintf(path, sizeof(path), "%s/%s", dir, hex)) < 0)
                return evd_err_set(err, r, "object path too long");
        if (fchmodat(store->tmp_fd, tmp_name, 0444, 0) < 0)
                return evd_err_set(err, -errno, "chmod %s: %s", tmp_name, strerror(errno));
        for (int attempt = 0;; attempt++) {
                /* An object, once there, is never replaced, unless it is damaged: then
                 * it goes to quarantine/ and this verified copy takes its place. */
                r = evd_publish(store->tmp_fd, tmp_name, path, &named);
                if (r < 0 && r != -EEXIST && !named)
                        return evd_err_set(err, r, "cannot move copy into the store: %s",
                                           strerror(-r));
                if (r != -EEXIST)
                        break;
                /* The object was there already (the same content stored before, or a
                 * crash after rename): it must still hold what its name says. */
                if (stat(path, &st) < 0)
                        return evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
                r = evd_store_verify_object(store, sha256, (uint64_t)st.st_size, &bad);
                if (r == 0) {
                        existed = true;
                        evd_store_tmp_discard(store, tmp_name);
                        r = evd_fsync_dir(dir);
                        break;
                }
                if (r != -EBADMSG || attempt > 0 || !ret_quarantined)
                        return evd_err_set(err, r, "%s", bad.text);
                r = quarantine(store, path, hex, moved, sizeof(moved));
                if (r < 0)
                        return evd_err_set(err, r, "cannot move the damaged object %s aside: %s",
                                           hex, strerror(-r));
        }
        if (r < 0)
                return evd_err_set(err, r, "cannot sync %s: %s", dir, strerror(-r));
        if ((r = seal(store, path)) < 0)
                return evd_err_set(err, r, "cannot set the immutable flag on %s: %s", path,
                                   strerror(-r));
        untrack(store, tmp_name); /* now an object (or removed: the object existed) */
        *ret_existed = existed;
        if (ret_quarantined)
                (void)snprintf(ret_quarantined, EVD_STORE_PATH_MAX, "%s", moved);
        return 0;
}

int evd_store_purge(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                    struct evd_err *err)
{
        char path[ROOT_MAX], dir[ROOT_MAX], *slash;
        int fd, r;

        if ((r = evd_store_object_path(store, sha256, path, sizeof(path))) < 0)
                return evd_err_set(err, r, "object path too long");
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
        r = store->sealing == SEAL_NONE ? 0 : set_immutable(store, fd, false);
        (void)close(fd);
        if (r < 0 && r != -ENOTTY && r != -EOPNOTSUPP)
                return evd_err_set(err, r, "cannot clear the immutable flag of %s: %s", path,
                                   strerror(-r));
        if (unlink(path) < 0)
                return evd_err_set(err, -errno, "cannot delete %s: %s", path, strerror(errno));
        memcpy(dir, path, sizeof(dir));
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        if ((r = evd_fsync_dir(dir)) < 0)
                return evd_err_set(err, r, "cannot sync %s: %s", dir, strerror(-r));
        return 0;
}

int evd_store_open_object(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                          int *ret_fd)
{
        char path[ROOT_MAX];
        int r, fd;

        if ((r = evd_store_object_path(store, sha256, path, sizeof(path))) < 0)
                return r;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int evd_store_verify_object(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                            uint64_t size, struct evd_err *err)
{
        uint8_t got[EVD_SHA256_LEN];
        char hex[EVD_SHA256_HEX], gothex[EVD_SHA256_HEX];
        uint64_t got_size;
        int fd = -1, r;

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        r = evd_store_open_object(store, sha256, &fd);
        if (r < 0)
                return evd_err_set(err, r, "object %s: %s", hex,
                                   r == -ENOENT ? "missing" : strerror(-r));
        /* Read from the disk, not from pages cached since the write. */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        r = evd_sha256_fd(fd, NULL, got, &got_size);
        (void)close(fd);
        if (r < 0)
                return evd_err_set(err, r, "object %s: read failed: %s", hex, strerror(-r));
        if (memcmp(got, sha256, EVD_SHA256_LEN) != 0 || got_size != size) {
                evd_hex(got, EVD_SHA256_LEN, gothex);
                return evd_err_set(err, -EBADMSG,
                                   "object %s: content differs (now sha256 %s, %llu bytes; "
                                   "catalog %llu bytes)",
                                   hex, gothex, (unsigned long long)got_size,
                                   (unsigned long long)size);
        }
        return 0;
}

void evd_store_lock(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN])
{
        pthread_mutex_lock(&store->sha_locks[sha256[0]]);
}

void evd_store_unlock(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN])
{
        pthread_mutex_unlock(&store->sha_locks[sha256[0]]);
}

int evd_store_each_object(const struct evd_store *store,
                          int (*each)(const uint8_t sha256[EVD_SHA256_LEN], void *ctx), void *ctx)
{
        char sub[ROOT_MAX];
        DIR *d1 = opendir(store->objects), *d2, *d3;
        struct dirent *a, *b, *c;
        uint8_t sha[EVD_SHA256_LEN];
        int r = 0;

        if (!d1)
                return -errno;
        while (r == 0 && (a = readdir(d1))) {
                if (strlen(a->d_name) != 2 ||
                    evd_snprintf(sub, sizeof(sub), "%s/%s", store->objects, a->d_name) < 0)
                        continue;
                if (!(d2 = opendir(sub)))
                        continue;
                while (r == 0 && (b = readdir(d2))) {
                        char sub2[ROOT_MAX];

                        if (strlen(b->d_name) != 2 ||
                            evd_snprintf(sub2, sizeof(sub2), "%s/%s", sub, b->d_name) < 0 ||
                            !(d3 = opendir(sub2)))
                                continue;
                        while (r == 0 && (c = readdir(d3))) {
                                if (c->d_name[0] == '.')
                                        continue;
                                if (strlen(c->d_name) != 64 ||
                                    evd_unhex(c->d_name, sha, sizeof(sha)) < 0)
                                        memset(sha, 0, sizeof(sha)); /* not an object name */
                                r = each(sha, ctx);
                        }
                        (void)closedir(d3);
                }
                (void)closedir(d2);
        }
        (void)closedir(d1);
        return r;
}

int evd_store_each_tmp_leftover(struct evd_store *store,
                                int (*each)(const char *name, uint64_t size, int64_t mtime,
                                            void *ctx),
                                void *ctx)
{
        int dfd = dup(store->tmp_fd), r = 0;
        struct dirent *de;
        DIR *d;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                (void)close(dfd);
                return -errno;
        }
        rewinddir(d);
        while (r == 0 && (de = readdir(d))) {
                struct stat st;
                bool busy;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    fstatat(store->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                pthread_mutex_lock(&store->tmp_lock);
                busy = tracked(store, de->d_name);
                pthread_mutex_unlock(&store->tmp_lock);
                if (!busy)
                        r = each(de->d_name, (uint64_t)st.st_size, (int64_t)st.st_mtime, ctx);
        }
        (void)closedir(d);
        return r;
}

int evd_store_tmp_remove_leftover(struct evd_store *store, const char *name)
{
        int r = 0;

        if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return -EINVAL;
        pthread_mutex_lock(&store->tmp_lock);
        if (tracked(store, name))
                r = -EBUSY;
        else if (unlinkat(store->tmp_fd, name, 0) < 0 &&
                 (errno != EISDIR || unlinkat(store->tmp_fd, name, AT_REMOVEDIR) < 0))
                r = -errno;
        pthread_mutex_unlock(&store->tmp_lock);
        if (r == 0 && fsync(store->tmp_fd) < 0)
                r = -errno;
        return r;
}

int evd_store_quarantine(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                         char *ret_path, struct evd_err *err)
{
        char hex[EVD_SHA256_HEX], path[ROOT_MAX];
        int r;

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        if ((r = evd_store_object_path(store, sha256, path, sizeof(path))) < 0)
                return evd_err_set(err, r, "object path too long");
        r = quarantine(store, path, hex, ret_path, EVD_STORE_PATH_MAX);
        if (r < 0)
                return evd_err_set(err, r, "cannot move %s to quarantine: %s", hex, strerror(-r));
        return 0;
}
