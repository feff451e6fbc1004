/* seal: the immutable flag of stored objects, and the small privileged helper that sets
 * it for a daemon that may not.
 *
 * Under its unit evidockd holds no capability at all. evidock-seal (daemon/evidock-seal.c,
 * socket-activated, running as the daemon's own user with CAP_LINUX_IMMUTABLE alone)
 * sets or clears FS_IMMUTABLE_FL on an object evidockd hands it as an already-open fd
 * over a unix socket (SCM_RIGHTS). The helper trusts nothing in the request: the caller
 * must run as the helper's own uid (SO_PEERCRED); the fd must be a regular file owned by
 * that uid, with one name only (no hard link from elsewhere); the path the kernel names for it must
 * lie under STATE_DIR/objects/ or STATE_DIR/quarantine/, and that path, opened again without
 * following any symlink, must be the same inode on the same filesystem. Messages have a fixed size:
 * a request is {magic, op} plus exactly one fd, a reply {magic, result (0 or -errno)}.
 *
 * The store (store.c) decides which way an object is sealed: its own ioctl when the
 * process has the capability (tests, `make demo`), else the helper, else neither
 * (write-once by permissions only). */
#ifndef EVD_SEAL_H
#define EVD_SEAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define EVD_SEAL_SOCKET "/run/evidock/seal.sock" /* evidock-seal.socket */
#define EVD_SEAL_MAGIC 0x31535645u               /* "EVS1" */

enum evd_seal_op {
        EVD_SEAL_SET = 1,   /* set FS_IMMUTABLE_FL */
        EVD_SEAL_CLEAR = 2, /* clear it (purge, quarantine, clean) */
};

struct evd_seal_msg {
        uint32_t magic;
        int32_t value; /* request: enum evd_seal_op; reply: 0 or -errno */
};

/* Set or clear FS_IMMUTABLE_FL on fd in this process; -errno (-EPERM without the
 * capability, -ENOTTY/-EOPNOTSUPP where the filesystem has no such flag). */
int evd_seal_ioctl(int fd, bool on);

/* The helper's socket: $EVIDOCK_SEAL_SOCKET when set, else EVD_SEAL_SOCKET. Borrowed. */
const char *evd_seal_socket_path(void);

/* A client of the helper at socket_path (copied); it connects on first use and again
 * after the helper closed an idle connection. Thread-safe. *ret only on success. */
struct evd_seal;
int evd_seal_new(const char *socket_path, struct evd_seal **ret);
void evd_seal_free(struct evd_seal *seal); /* accepts NULL */

/* Ask the helper to set (on) or clear the flag on fd (borrowed; the helper gets its own
 * copy). 0, the helper's -errno, or -errno of the connection (-ENOENT, -ECONNREFUSED
 * when no helper listens; -ETIMEDOUT after 30 s without an answer). */
int evd_seal_request(struct evd_seal *seal, int fd, bool on);

/* The helper's side. state_dir must be canonical (realpath). Whether fd may be sealed
 * by a caller running as owner: 0, or -EPERM/-EINVAL/-errno saying why not. */
int evd_seal_check(const char *state_dir, int fd, uid_t owner);

/* Serve one connection until the peer closes it or stays idle for idle_ms: each request
 * checked (evd_seal_check, the peer's SO_PEERCRED uid against our own) and answered.
 * Returns 0 at the end of the connection, -errno when it broke. */
int evd_seal_serve(int conn, const char *state_dir, int idle_ms);

#endif
