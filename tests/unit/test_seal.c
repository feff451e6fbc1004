/* seal: evidock-seal's checks, over a real unix socket to evd_seal_serve in a thread:
 * objects and quarantine are sealed; tmp/, other owners, directories, files outside the
 * state dir reached through a symlink or a hard link, deleted files, requests without an fd or with
 * two, and callers of another uid are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "seal.h"
#include "testutil.h"

struct fx {
        char *dir;
        char state[PATH_MAX];
        char sock[108];
        int lfd;
        pthread_t thread;
};

static void *serve(void *p)
{
        struct fx *fx = p;

        for (;;) {
                int conn = accept(fx->lfd, NULL, NULL);

                if (conn < 0)
                        return NULL;
                (void)evd_seal_serve(conn, fx->state, 5000);
                (void)close(conn);
        }
}

static int setup(void **state)
{
        struct fx *fx = calloc(1, sizeof(*fx));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[PATH_MAX + 32];

        fx->dir = tu_tempdir();
        assert_non_null(realpath(fx->dir, fx->state));
        for (const char *sub = "objects"; sub; sub = strcmp(sub, "objects") == 0 ? "tmp" : NULL) {
                (void)snprintf(path, sizeof(path), "%s/%s", fx->state, sub);
                assert_int_equal(mkdir(path, 0750), 0);
        }
        (void)snprintf(path, sizeof(path), "%s/quarantine", fx->state);
        assert_int_equal(mkdir(path, 0750), 0);
        assert_true(strlen(fx->state) + 11 < sizeof(fx->sock));
        memcpy(fx->sock, fx->state, strlen(fx->state));
        memcpy(fx->sock + strlen(fx->state), "/seal.sock", 11);
        memcpy(sa.sun_path, fx->sock, sizeof(fx->sock));
        fx->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fx->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fx->lfd, 4), 0);
        assert_int_equal(pthread_create(&fx->thread, NULL, serve, fx), 0);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fx *fx = *state;

        (void)shutdown(fx->lfd, SHUT_RDWR);
        (void)close(fx->lfd);
        (void)pthread_join(fx->thread, NULL);
        tu_rmtree(fx->dir);
        free(fx);
        return 0;
}

/* A new file at STATE/rel, opened read-only. */
static int make(struct fx *fx, const char *rel)
{
        char path[PATH_MAX + 64];
        int fd;

        (void)snprintf(path, sizeof(path), "%s/%s", fx->state, rel);
        tu_write(path, "evidence", 8);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static int request(struct fx *fx, int fd, bool on)
{
        struct evd_seal *seal;
        int r;

        assert_int_equal(evd_seal_new(fx->sock, &seal), 0);
        r = evd_seal_request(seal, fd, on);
        evd_seal_free(seal);
        return r;
}

static bool sealed(int fd)
{
        int flags = 0;

        return ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

static void objects_and_quarantine_are_sealed(void **state)
{
        struct fx *fx = *state;
        int fd = make(fx, "objects/obj"), q = make(fx, "quarantine/old");
        int r = request(fx, fd, true);

        /* The flag itself needs a filesystem that has it (ext4, xfs, tmpfs >= 6.0). */
        if (r == -ENOTTY || r == -EOPNOTSUPP) {
                close(fd);
                close(q);
                skip();
        }
        assert_int_equal(r, 0);
        assert_true(sealed(fd));
        assert_int_equal(request(fx, fd, false), 0);
        assert_false(sealed(fd));
        assert_int_equal(request(fx, q, true), 0);
        assert_true(sealed(q));
        assert_int_equal(request(fx, q, false), 0);
        close(fd);
        close(q);
}

static void what_is_not_an_object_is_refused(void **state)
{
        struct fx *fx = *state;
        char path[PATH_MAX + 64], outside[PATH_MAX + 64];
        int fd;

        /* tmp/: copies in flight are not the helper's business. */
        fd = make(fx, "tmp/copy");
        assert_int_equal(request(fx, fd, true), -EPERM);
        close(fd);
        /* The state dir itself, and a folder under objects/. */
        (void)snprintf(path, sizeof(path), "%s/objects/ab", fx->state);
        assert_int_equal(mkdir(path, 0750), 0);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(request(fx, fd, true), -EPERM);
        close(fd);
        /* A file outside, reached through a symlink placed under objects/. */
        (void)snprintf(outside, sizeof(outside), "%s/outside", fx->state);
        tu_write(outside, "key", 3);
        (void)snprintf(path, sizeof(path), "%s/objects/link", fx->state);
        assert_int_equal(symlink(outside, path), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(request(fx, fd, true), -EPERM);
        assert_false(sealed(fd));
        close(fd);
        /* Another file of ours hard-linked into objects/ (the catalogue, say). */
        (void)snprintf(path, sizeof(path), "%s/objects/catalog-link", fx->state);
        assert_int_equal(link(outside, path), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(request(fx, fd, true), -EPERM);
        assert_false(sealed(fd));
        close(fd);
        /* An object unlinked after it was opened: its name is gone. */
        fd = make(fx, "objects/gone");
        (void)snprintf(path, sizeof(path), "%s/objects/gone", fx->state);
        assert_int_equal(unlink(path), 0);
        assert_true(request(fx, fd, true) < 0);
        close(fd);
        /* Another owner's file (as root: the test can chown). */
        if (getuid() == 0) {
                fd = make(fx, "objects/theirs");
                assert_int_equal(fchown(fd, 4242, 4242), 0);
                assert_int_equal(request(fx, fd, true), -EPERM);
                assert_false(sealed(fd));
                close(fd);
        }
}

/* Raw requests: no fd, two fds, a wrong magic. */
static int raw(struct fx *fx, uint32_t magic, int op, const int *fds, int nfds)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct evd_seal_msg m = { magic, op }, reply = { 0 };
        union {
                char buf[CMSG_SPACE(sizeof(int) * 2)];
                struct cmsghdr align;
        } u = { 0 };
        struct iovec iov = { &m, sizeof(m) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        memcpy(sa.sun_path, fx->sock, sizeof(fx->sock));
        assert_int_equal(connect(conn, (struct sockaddr *)&sa, sizeof(sa)), 0);
        if (nfds) {
                struct cmsghdr *c;

                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
        }
        assert_int_equal(sendmsg(conn, &mh, 0), sizeof(m));
        assert_int_equal(read(conn, &reply, sizeof(reply)), sizeof(reply));
        close(conn);
        assert_int_equal(reply.magic, EVD_SEAL_MAGIC);
        return reply.value;
}

static void malformed_requests_are_refused(void **state)
{
        struct fx *fx = *state;
        int fds[2] = { make(fx, "objects/a"), make(fx, "objects/b") };

        assert_int_equal(raw(fx, EVD_SEAL_MAGIC, EVD_SEAL_SET, NULL, 0), -EINVAL);
        assert_int_equal(raw(fx, EVD_SEAL_MAGIC, EVD_SEAL_SET, fds, 2), -EINVAL);
        assert_int_equal(raw(fx, 0x12345678, EVD_SEAL_SET, fds, 1), -EINVAL);
        assert_int_equal(raw(fx, EVD_SEAL_MAGIC, 77, fds, 1), -EINVAL);
        assert_false(sealed(fds[0]) || sealed(fds[1]));
        close(fds[0]);
        close(fds[1]);
}

/* A caller of another uid gets -EPERM, whatever it sends (as root: the child drops to
 * an unprivileged uid; the socket is made connectable for it). */
static void another_uid_is_refused(void **state)
{
        struct fx *fx = *state;
        int fd = make(fx, "objects/c"), status;
        pid_t pid;

        if (getuid() != 0) {
                close(fd);
                skip();
        }
        assert_int_equal(chmod(fx->sock, 0666), 0);
        assert_int_equal(chmod(fx->state, 0755), 0);
        pid = fork();
        if (pid == 0) {
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(3);
                _exit(request(fx, fd, true) == -EPERM ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_false(sealed(fd));
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(objects_and_quarantine_are_sealed, setup, teardown),
                cmocka_unit_test_setup_teardown(what_is_not_an_object_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(malformed_requests_are_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(another_uid_is_refused, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
