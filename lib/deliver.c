#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DELIVER_FDS_MAX 8 /* room for a peer that sends more than one: all are closed */

static int64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for sock to be readable until deadline (ms, monotonic). */
static int wait_readable(int sock, int64_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = sock, .events = POLLIN };
                int64_t left = deadline - mono_ms();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/* The fds of msg's SCM_RIGHTS messages into fds (n of them; the rest closed). */
static size_t take_fds(struct msghdr *msg, int *fds, size_t max)
{
        size_t n = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
                        if (n < max)
                                fds[n++] = fd;
                        else
                                (void)close(fd);
                }
        }
        return n;
}

int evd_deliver_receive(int sock, int timeout_ms, int *ret_fd, struct evd_err *err)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * DELIVER_FDS_MAX)];
        } u;
        char byte = 0;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        int fds[DELIVER_FDS_MAX];
        size_t nfds;
        ssize_t n;
        int r;

        *ret_fd = -1;
        if (sock < 0)
                return evd_err_set(err, -EBADF, "no connection to receive the output on");
        r = wait_readable(sock, mono_ms() + timeout_ms);
        if (r == -ETIMEDOUT)
                return evd_err_set(err, r, "the client sent no output file within %d s",
                                   timeout_ms / 1000);
        if (r < 0)
                return evd_err_set(err, r, "control socket: %s", strerror(-r));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return evd_err_set(err, -errno, "control socket: %s", strerror(errno));
        nfds = take_fds(&msg, fds, DELIVER_FDS_MAX);
        if (n == 1 && byte == 'F' && nfds == 1 && !(msg.msg_flags & MSG_CTRUNC)) {
                *ret_fd = fds[0];
                return 0;
        }
        for (size_t i = 0; i < nfds; i++)
                (void)close(fds[i]);
        if (n == 0)
                return evd_err_set(err, -ECONNRESET, "the client went away");
        if (byte == 'N' && nfds == 0)
                return evd_err_set(err, -ECANCELED, "the client could not create its output file");
        return evd_err_set(err, -EBADMSG, "the client's answer is not one output file descriptor");
}

int evd_deliver_send(int sock, int fd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
        char byte = fd >= 0 ? 'F' : 'N';
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (fd >= 0) {
                struct cmsghdr *c;

                memset(&u, 0, sizeof(u));
                msg.msg_control = u.buf;
                msg.msg_controllen = sizeof(u.buf);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(fd));
        }
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

int evd_deliver_check_output(int fd, bool need_read, const char *what, struct evd_err *err)
{
        struct stat st;
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fstat(fd, &st) < 0)
                return evd_err_set(err, -EBADF, "%s: the descriptor sent is not usable", what);
        if (!S_ISREG(st.st_mode))
                return evd_err_set(err, -EINVAL, "%s: the descriptor sent is not a regular file",
                                   what);
        if ((fl & O_ACCMODE) == O_RDONLY || (need_read && (fl & O_ACCMODE) != O_RDWR))
                return evd_err_set(err, -EBADF, "%s: the file is not open for %s", what,
                                   need_read ? "reading and writing" : "writing");
        if (fl & O_APPEND)
                return evd_err_set(err, -EINVAL, "%s: the file is open for appending", what);
        if (st.st_size != 0)
                return evd_err_set(err, -ENOTEMPTY,
                                   "%s: the file sent is not empty; an output never replaces "
                                   "anything",
                                   what);
        return 0;
}

bool evd_deliver_peer_gone(int sock)
{
        struct pollfd p = { .fd = sock, .events = POLLRDHUP };

        if (sock < 0)
                return true;
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}
