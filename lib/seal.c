#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define SEAL_TIMEOUT_MS 30000
#define SEAL_PATH_MAX 4096

struct evd_seal {
        pthread_mutex_t lock; /* one request at a time on conn */
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int conn; /* -1 until connected */
};

int evd_seal_ioctl(int fd, bool on)
{
        int flags;

        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return -errno;
        flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
                return -errno;
        return 0;
}

const char *evd_seal_socket_path(void)
{
        const char *p = getenv("EVIDOCK_SEAL_SOCKET");

        return p && *p ? p : EVD_SEAL_SOCKET;
}

int evd_seal_new(const char *socket_path, struct evd_seal **ret)
{
        struct evd_seal *s;

        if (strlen(socket_path) >= sizeof(s->path))
                return -ENAMETOOLONG;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        memcpy(s->path, socket_path, strlen(socket_path) + 1);
        s->conn = -1;
        *ret = s;
        return 0;
}

void evd_seal_free(struct evd_seal *seal)
{
        if (!seal)
                return;
        if (seal->conn >= 0)
                (void)close(seal->conn);
        pthread_mutex_destroy(&seal->lock);
        free(seal);
}

static int seal_connect(struct evd_seal *s)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        memcpy(sa.sun_path, s->path, sizeof(sa.sun_path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                (void)close(fd);
                return r;
        }
        s->conn = fd;
        return 0;
}

/* Send one request with fd attached; -errno. */
static int send_request(int conn, int fd, bool on)
{
        struct evd_seal_msg m = { EVD_SEAL_MAGIC, on ? EVD_SEAL_SET : EVD_SEAL_CLEAR };
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = { &m, sizeof(m) };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *c;
        ssize_t n;

        memset(&u, 0, sizeof(u));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        do
                n = sendmsg(conn, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == (ssize_t)sizeof(m) ? 0 : -EIO;
}

/* Read exactly n bytes within timeout_ms; -ECONNRESET at end of stream. */
static int read_full(int conn, void *buf, size_t n, int timeout_ms)
{
        size_t got = 0;

        while (got < n) {
                struct pollfd p = { .fd = conn, .events = POLLIN };
                ssize_t k;
                int r = poll(&p, 1, timeout_ms);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                k = read(conn, (char *)buf + got, n - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                got += (size_t)k;
        }
        return 0;
}

static int request_once(struct evd_seal *s, int fd, bool on)
{
        struct evd_seal_msg reply = { 0 };
        int r;

        if (s->conn < 0 && (r = seal_connect(s)) < 0)
                return r;
        r = send_request(s->conn, fd, on);
        if (r == 0)
                r = read_full(s->conn, &reply, sizeof(reply), SEAL_TIMEOUT_MS);
        if (r == 0 && reply.magic != EVD_SEAL_MAGIC)
                r = -EPROTO;
        if (r < 0) {
                (void)close(s->conn);
                s->conn = -1;
                return r;
        }
        return reply.value <= 0 && reply.value > -4096 ? reply.value : -EPROTO;
}

int evd_seal_request(struct evd_seal *seal, int fd, bool on)
{
        bool fresh;
        int r;

        pthread_mutex_lock(&seal->lock);
        fresh = seal->conn < 0;
        r = request_once(seal, fd, on);
        /* The helper closes idle connections and may have been restarted: a broken
         * connection is tried once more on a new one (setting a flag twice is harmless). */
        if (!fresh && (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN))
                r = request_once(seal, fd, on);
        pthread_mutex_unlock(&seal->lock);
        return r;
}

/* Under dir/ (dir + "/" a prefix of path, and something after it)? */
static bool under(const char *path, const char *state_dir, const char *sub)
{
        size_t n = strlen(state_dir), m = strlen(sub);

        return strncmp(path, state_dir, n) == 0 && path[n] == '/' &&
               strncmp(path + n + 1, sub, m) == 0 && path[n + 1 + m] == '/' &&
               path[n + 2 + m] != '\0';
}

/* Open path again without following any symlink on the way (openat2; on a kernel
 * without it, O_NOFOLLOW covers the last component and the inode check the rest). */
static int reopen_nofollow(const char *path)
{
        struct open_how how = { .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
        long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

        if (fd < 0 && errno == ENOSYS)
                fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        return fd < 0 ? -errno : (int)fd;
}

int evd_seal_check(const char *state_dir, int fd, uid_t owner)
{
        char link[64], path[SEAL_PATH_MAX];
        struct stat st, again;
        ssize_t n;
        int fd2, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        /* One name only: a hard link into objects/ of another file of ours (the
         * catalogue, say) must not get it sealed. */
        if (!S_ISREG(st.st_mode) || st.st_uid != owner || st.st_nlink != 1)
                return -EPERM;
        (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof(path) - 1);
        if (n < 0)
                return -errno;
        path[n] = '\0';
        if (!under(path, state_dir, "objects") && !under(path, state_dir, "quarantine"))
                return -EPERM;
        if (strstr(path, "/../") || strstr(path, "/./"))
                return -EPERM;
        fd2 = reopen_nofollow(path);
        if (fd2 < 0)
                return fd2 == -ELOOP ? -EPERM : fd2;
        r = fstat(fd2, &again) < 0 ? -errno : 0;
        (void)close(fd2);
        if (r == 0 && (again.st_dev != st.st_dev || again.st_ino != st.st_ino))
                r = -EPERM;
        return r;
}

/* Receive one request: its op and fd (-1 when none or more than one came: all closed). */
static int receive(int conn, struct evd_seal_msg *m, int *ret_fd, int idle_ms)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * 4)];
                struct cmsghdr align;
        } u;
        struct iovec iov = { m, sizeof(*m) };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf) };
        struct pollfd p = { .fd = conn, .events = POLLIN };
        int fds = 0, r;
        ssize_t n;

        *ret_fd = -1;
        do
                r = poll(&p, 1, idle_ms);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
                return r < 0 ? -errno : -ETIMEDOUT;
        n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (fds++ == 0)
                                *ret_fd = fd;
                        else
                                (void)close(fd);
                }
        }
        if (n == 0)
                return -ECONNRESET;
        if (fds != 1 || (mh.msg_flags & MSG_CTRUNC) || n != (ssize_t)sizeof(*m)) {
                if (*ret_fd >= 0)
                        (void)close(*ret_fd);
                *ret_fd = -1;
        }
        return 0;
}

int evd_seal_serve(int conn, const char *state_dir, int idle_ms)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        bool peer_ok;

        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        peer_ok = cred.uid == getuid();
        for (;;) {
                struct evd_seal_msg m = { 0 }, reply = { EVD_SEAL_MAGIC, 0 };
                int fd, r = receive(conn, &m, &fd, idle_ms);

                if (r == -ETIMEDOUT || r == -ECONNRESET)
                        return 0;
                if (r < 0)
                        return r;
                if (!peer_ok)
                        r = -EPERM;
                else if (fd < 0 || m.magic != EVD_SEAL_MAGIC ||
                         (m.value != EVD_SEAL_SET && m.value != EVD_SEAL_CLEAR))
                        r = -EINVAL;
                else
                        r = evd_seal_check(state_dir, fd, getuid());
                if (r == 0)
                        r = evd_seal_ioctl(fd, m.value == EVD_SEAL_SET);
                if (fd >= 0)
                        (void)close(fd);
                reply.value = r;
                if (send(conn, &reply, sizeof(reply), MSG_NOSIGNAL) != (ssize_t)sizeof(reply))
                        return -errno;
                if (!peer_ok)
                        return 0; /* one answer, then the door closes */
        }
}
