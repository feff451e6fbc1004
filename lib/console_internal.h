/* console_internal: what the web console's source files share (console.c serves and
 * signs in; console_office.c has the office's pages: export, access register,
 * compliance, audit, admin). Not for anyone else.
 *
 * The daemon connection pool: evidockd admits at most 16 connections per non-admin uid
 * (control.h), and the console is one uid however many people use it. So at most
 * EVD_CONSOLE_CTL_MAX requests go to the daemon at once (the board's poller has one
 * more of its own); a request past that waits up to EVD_CONSOLE_CTL_WAIT_MS for a
 * connection to come free, else the page says the station is busy (503). Connections
 * are kept for reuse at most EVD_CONSOLE_CTL_IDLE_S, well within the daemon's 120 s
 * idle limit. */
#ifndef EVD_CONSOLE_INTERNAL_H
#define EVD_CONSOLE_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "console.h"
#include "console_pages.h"
#include "ctlclient.h"
#include "web.h"

#define EVD_CONSOLE_CTL_MAX 12
#define EVD_CONSOLE_CTL_WAIT_MS 30000
#define EVD_CONSOLE_CTL_IDLE_S 60
#define EVD_CONSOLE_DOWNLOADS_MAX 64 /* files made for downloads, all sessions */
#define EVD_CONSOLE_DOWNLOAD_TTL_S 3600

/* A file the daemon wrote for a person (an export's volume, an access's copy): an
 * unnamed file (O_TMPFILE in the spool folder, else memfd) kept for its session until
 * it is fetched once or an hour passes. */
struct evd_console_download {
        char id[EVD_WEB_ID_LEN + 1];  /* the URL's, random */
        char sid[EVD_WEB_ID_LEN + 1]; /* the session it belongs to */
        char name[256];               /* the file name the browser is given (UTF-8) */
        int fd;                       /* owned; -1 for a free slot */
        int64_t expires;
};

struct evd_console {
        struct MHD_Daemon *mhd;
        char *socket_path, *case_pattern, *spool;
        char *cert_pem, *key_pem;
        bool tls, loopback;
        const struct evd_console_asset *assets;
        size_t n_assets;
        int poll_ms;
        struct evd_web_sessions *sessions;
        /* The board: the poller's latest answer, for the listeners. */
        pthread_t poller;
        bool poller_started;
        pthread_mutex_t lock;
        pthread_cond_t wake;    /* the poller: listeners came, or stop */
        pthread_cond_t changed; /* listeners: a new board, or stop */
        bool stopping;
        int listeners;
        uint64_t gen;
        char *board; /* JSON text, owned */
        /* The daemon connections of requests (under pool_lock). */
        pthread_mutex_t pool_lock;
        pthread_cond_t pool_free;
        unsigned pool_busy; /* connections lent out */
        struct evd_ctl *idle[EVD_CONSOLE_CTL_MAX];
        int64_t idle_since[EVD_CONSOLE_CTL_MAX];
        size_t n_idle;
        unsigned pool_peak; /* the most lent out at once, for tests and the log */
        /* Downloads waiting (under pool_lock too). */
        struct evd_console_download downloads[EVD_CONSOLE_DOWNLOADS_MAX];
};

/* What a handler found about the request. */
struct ctx {
        struct evd_console *c;
        struct MHD_Connection *conn;
        const char *method, *path;
        enum evd_page page;
        char param[65];
        struct evd_page_view view;
        bool signed_in;
        struct evd_web_session session;
        struct evd_web_form form; /* the query, then the posted fields */
        struct evd_buf out;
        char cookie[3][200]; /* Set-Cookie headers to send ("" for none) */
};

/* ---- console.c ---- */

/* Queue resp (taken; NULL: x->out as the body) with the security headers. */
enum MHD_Result evd_console_respond(struct ctx *x, unsigned status, const char *ctype,
                                    const char *location, struct MHD_Response *resp);
enum MHD_Result evd_console_html(struct ctx *x, unsigned status);
enum MHD_Result evd_console_redirect(struct ctx *x, const char *to);
enum MHD_Result evd_console_message(struct ctx *x, unsigned status, enum evd_msg title,
                                    const char *line);
/* The daemon's refusal r as a page (403, 404, 400, 502). */
enum MHD_Result evd_console_failed(struct ctx *x, int r, const struct evd_err *err);

/* A pooled connection to the daemon: 0 and *ret, or -EBUSY after the wait. Give it
 * back with evd_console_ctl_put (a broken one is closed there). */
int evd_console_ctl_get(struct evd_console *c, struct evd_ctl **ret, struct evd_err *err);
void evd_console_ctl_put(struct evd_console *c, struct evd_ctl *ctl);

/* Ask the daemon with token (NULL for none): the daemon decides. */
int evd_console_ask_as(struct ctx *x, const char *token, const char *cmd, const json_t *args,
                       json_t **ret, struct evd_err *err);
/* Ask as the signed-in person (their token), or as nobody. */
int evd_console_ask(struct ctx *x, const char *cmd, const json_t *args, json_t **ret,
                    struct evd_err *err);

/* ---- console_office.c ---- */

/* The handlers of the office's pages (export, access, compliance, audit, admin, the
 * signed-in board's status and downloads); false when page is not one of them. */
bool evd_console_office(struct ctx *x, enum MHD_Result *ret);

/* Close every download (at stop). */
void evd_console_downloads_free(struct evd_console *c);

#endif
