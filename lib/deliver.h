/* deliver: files handed over a unix socket (SCM_RIGHTS), so that the daemon writes
 * what its caller asked for without ever opening or naming a path of the caller's.
 *
 * The client creates its output itself (O_CREAT|O_EXCL|O_NOFOLLOW, its own umask) and
 * sends the descriptor as one byte 'F' carrying exactly one fd; it sends the byte 'N'
 * (no fd) when it could not make the file. The receiving side checks the descriptor
 * before it writes a byte into it: a regular file, empty, open for writing (and for
 * reading when asked), not O_APPEND. The protocol around it ("need_fd" progress lines)
 * is control.h's; README "The control protocol" documents it. */
#ifndef EVD_DELIVER_H
#define EVD_DELIVER_H

#include <stdbool.h>

#include "err.h"

#define EVD_DELIVER_WAIT_MS 60000 /* for the client's answer to a "need_fd" line */

/* Wait up to timeout_ms for the answer on sock and take it: *ret_fd (close-on-exec,
 * the caller's to close) on 'F' with one fd. -ECANCELED on 'N', -ECONNRESET when the
 * peer went away, -ETIMEDOUT, -EBADMSG for anything else (fds sent with it closed). */
int evd_deliver_receive(int sock, int timeout_ms, int *ret_fd, struct evd_err *err);

/* Send fd (borrowed) as the answer 'F' on sock, or 'N' when fd < 0. 0 or -errno. */
int evd_deliver_send(int sock, int fd);

/* Check a received output: a regular file, empty, open for writing (and reading when
 * need_read), not appending. -EBADF/-EINVAL/-ENOTEMPTY with a reason naming what. */
int evd_deliver_check_output(int fd, bool need_read, const char *what, struct evd_err *err);

/* Whether the peer of sock has hung up (or shut down its side); never blocks. */
bool evd_deliver_peer_gone(int sock);

#endif
