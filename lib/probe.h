/* probe: parse untrusted bytes in a sandboxed helper process, never in the daemon.
 *
 * A recorder's filesystem (The Sleuth Kit) and a stored recording (libavformat) are
 * parsed by evidock-probe (daemon/evidock-probe.c), which gets the input as an
 * already-open read-only fd 3, runs without capabilities, groups (when started as root)
 * or open(2), under a seccomp filter and rlimits, and answers on fd 4 (probe_msg.h).
 * This module starts it (fork + exec, in its own process group, ambient capabilities
 * cleared before exec), waits for it up to a wall-clock deadline, reads an answer of at
 * most EVD_PROBE_MSG_MAX bytes and decodes it into the usual structs. A helper that
 * crashes, hangs, says too much or answers nonsense is killed and the call fails with
 * a reason for people ("probe crashed: signal 11 (SIGSEGV)", "probe timed out after
 * 300 s", "the probe's answer is malformed: ..."); the daemon goes on.
 *
 * The program: $EVIDOCK_PROBE when set (tests put a misbehaving one there), else
 * "evidock-probe" in the directory of /proc/self/exe (the build tree, or SBINDIR after
 * `make install`). $EVIDOCK_PROBE_DEADLINE_MS, when set, replaces the deadlines.
 *
 * At most max_running helpers run at once (others wait their turn), each with at most
 * 256 MiB of address space (RLIMIT_AS, set by the helper). About 150 MiB of that are
 * the libraries' file mappings, shared with the daemon, so each helper can hold about
 * 100 MiB of its own: 4 of them and the daemon stay under the unit's MemoryMax=512M.
 * Besides those, up to max_running listers started ahead and as many media helpers may
 * wait for work, about 5 MiB of their own each while they wait.
 * Everything here blocks: call it off the event loop. */
#ifndef EVD_PROBE_H
#define EVD_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "source.h"

#define EVD_PROBE_MAX_RUNNING 4   /* helpers at once, default */
#define EVD_PROBE_LIST_MS 300000  /* deadline of a listing */
#define EVD_PROBE_MEDIA_MS 180000 /* of a media probe (media.h stops at 120 s itself) */
#define EVD_PROBE_PROGRAM "evidock-probe"
#define EVD_PROBE_SERVE_FILES 1024 /* media probes by one helper before a fresh one */

struct evd_probes;

/* A pool allowing max_running helpers at once (0: EVD_PROBE_MAX_RUNNING). *ret is
 * freed with evd_probes_free once no call is in flight. */
int evd_probes_new(unsigned max_running, struct evd_probes **ret);
void evd_probes_free(struct evd_probes *p);

/* List the recorder at node (a block device or an image; borrowed) as evd_source_list
 * would, in the helper. On success *ret_src is a mapped source on node (source.h:
 * evd_source_open_mapped, extents checked against the device) and *ret_list its files
 * (paths, sizes, times; extents moved into the source), and, when ret_deleted is not
 * NULL, *ret_deleted the deleted recordings the helper found (source_deleted.h; checked;
 * the caller owns it; NULL when none were reported). Errors: the helper's own
 * (-EMEDIUMTYPE, -EUCLEAN, -E2BIG, ... with its text), -EBADMSG (nonsense), -ECHILD
 * (crashed or failed), -ETIMEDOUT, -EMSGSIZE (answer too long), -ENOENT (no helper),
 * -ENOEXEC (the helper could not be started). */
int evd_probe_list(struct evd_probes *p, const char *node, const char *const *exts, size_t n_exts,
                   struct evd_source **ret_src, struct evd_source_list **ret_list,
                   json_t **ret_deleted, struct evd_err *err);

/* A dock is coming whose disk is yet to appear: start a lister for a listing with exts
 * ahead of its device (unless max_running wait already), and media helpers until
 * max_running of them wait or run. evd_probe_list then hands the device to a lister
 * that is linked and ready, and the copies' media probes find helpers waiting, instead
 * of each paying a helper's start (tens of milliseconds: the libraries of The Sleuth
 * Kit and libavformat) once the dock's copy could begin. Each lister still lists one
 * device and ends; one started for other extensions (the configuration changed since)
 * or any helper that ended while it waited is dropped, never given work. Errors are
 * left for the calls that need the helpers to meet and report. Blocks (fork and exec):
 * call it off the event loop. */
void evd_probes_prepare(struct evd_probes *p, const char *const *exts, size_t n_exts);

/* Whether an error of evd_probe_list says the input made the helper misbehave
 * (-ECHILD, -ETIMEDOUT, -EBADMSG, -EMSGSIZE: a helper's own error answers never carry
 * these codes), rather than the station or a filesystem it could not read. */
bool evd_probe_blames_input(int r);

/* Probe the stored object open on fd (borrowed, read-only) as evd_media_probe would, in
 * the helper: *ret_media (json_decref) on success. Errors as for evd_probe_list.
 * Starting a helper (loading libavformat and its codecs) costs tens of milliseconds, so
 * a media helper ("evidock-probe media-serve") takes one fd after another over a socket
 * (SCM_RIGHTS) and answers each; it is replaced after EVD_PROBE_SERVE_FILES files and
 * after any failure. The price: a file that took over a helper could make it lie about
 * the next files' media facts (never their bytes or hashes) until it is replaced. */
int evd_probe_media(struct evd_probes *p, int fd, json_t **ret_media, struct evd_err *err);

#endif
