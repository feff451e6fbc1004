/* console: the station's web console, an HTTP server (GNU libmicrohttpd) in a process
 * of its own that holds nothing but the sign-in sessions in flight. It speaks to
 * evidockd only over the control socket (ctlclient.h), as any other client: the public
 * board through the no-role `board` command, everything else with the daemon token of
 * the person signed in (`login` gives it; each forwarded request carries it).
 *
 * Threads: libmicrohttpd runs a thread per connection (bounded); one poller thread
 * asks the daemon for `board` every poll_ms on one connection, only while a board page
 * listens (server-sent events), and wakes the listeners when something changed. */
#ifndef EVD_CONSOLE_H
#define EVD_CONSOLE_H

#include <stddef.h>

#include "err.h"

/* A file served under /static/NAME (built into the program). */
struct evd_console_asset {
        const char *name;
        const unsigned char *data;
        size_t len;
};

struct evd_console_options {
        const char *listen;   /* "127.0.0.1:8080"; anything not loopback needs TLS */
        const char *tls_cert; /* PEM files, or NULL */
        const char *tls_key;
        const char *control_socket; /* evidockd's */
        const char *case_pattern;   /* [labels] case_pattern, for the label form */
        const char *spool;          /* a folder for the files made for downloads; "/var/tmp" */
        const struct evd_console_asset *assets; /* borrowed, static */
        size_t n_assets;
        int poll_ms;              /* board poll period while someone watches; 200 */
        unsigned max_connections; /* 64 */
};

struct evd_console;

/* Start serving; *ret (evd_console_stop) only on success. Strings are copied. */
int evd_console_start(const struct evd_console_options *opts, struct evd_console **ret,
                      struct evd_err *err);

/* Stop serving, end the board's listeners, join the threads and free. */
void evd_console_stop(struct evd_console *console);

#endif
