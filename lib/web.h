/* web: the pieces of an HTTP front end that do not need a server: HTML escaping, URL
 * and form decoding, cookies, a route table, the sign-in sessions in flight with their
 * CSRF tokens, and the listen address. The web console (console.c) serves with
 * libmicrohttpd and uses these for everything it decides; they are tested and fuzzed
 * on their own.
 *
 * Every string that reaches a page goes through evd_web_text (or evd_web_attr): names
 * come from recorders and are hostile. */
#ifndef EVD_WEB_H
#define EVD_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"

/* ---- escaping and encoding ---- */

/* Append s HTML-escaped (& < > " ' and control characters), usable in text and in
 * double-quoted attributes. Invalid UTF-8 bytes become U+FFFD. */
int evd_web_text(struct evd_buf *b, const char *s);

/* Append s percent-encoded for a URL query value or path segment (RFC 3986 unreserved
 * characters kept). */
int evd_web_urlencode(struct evd_buf *b, const char *s);

/* Decode n bytes of percent-encoding (and '+' as space when plus) into out (size
 * bytes, NUL-terminated). -EINVAL for a bad escape, a NUL byte or invalid UTF-8;
 * -ENAMETOOLONG when it does not fit. */
int evd_web_urldecode(const char *in, size_t n, bool plus, char *out, size_t size);

/* A Content-Disposition value for an attachment named name (UTF-8): an ASCII fallback
 * plus RFC 5987 filename*=UTF-8''... */
int evd_web_content_disposition(struct evd_buf *b, const char *name);

/* ---- forms and cookies ---- */

#define EVD_WEB_FORM_MAX 256   /* fields in one form */
#define EVD_WEB_BODY_MAX 65536 /* bytes in a posted form */
#define EVD_WEB_VALUE_MAX 4096 /* bytes in one decoded value */

struct evd_web_field {
        char *name, *value; /* owned by the form */
};

struct evd_web_form {
        struct evd_web_field f[EVD_WEB_FORM_MAX];
        size_t n;
};

/* Parse application/x-www-form-urlencoded text (n bytes) into form (zeroed by the
 * caller; release with evd_web_form_free). -EINVAL for a bad field, -E2BIG for too
 * many; form is left empty on error. */
int evd_web_form_parse(const char *text, size_t n, struct evd_web_form *form);

/* Add one decoded field (copied). */
int evd_web_form_add(struct evd_web_form *form, const char *name, const char *value);

/* The first value of name (borrowed), or NULL. */
const char *evd_web_form_get(const struct evd_web_form *form, const char *name);

/* The i-th value of name (borrowed) counting from 0, or NULL: for checkboxes. */
const char *evd_web_form_get_nth(const struct evd_web_form *form, const char *name, size_t i);

void evd_web_form_free(struct evd_web_form *form);

/* The value of cookie name in a Cookie header into out (size bytes): 0, -ENOENT, or
 * -ENAMETOOLONG. */
int evd_web_cookie(const char *header, const char *name, char *out, size_t size);

/* ---- routing ---- */

/* A pattern is a path; a segment "*" matches one segment of 1-64 characters from
 * [A-Za-z0-9._-]. */
struct evd_web_route {
        const char *method; /* "GET", "POST" */
        const char *pattern;
        int id;
};

/* The id of the route for method and path; the matched "*" segment (if any) into
 * param (param_size bytes). -ENOENT when no pattern matches the path, -EOPNOTSUPP when
 * one does but not with this method (405). */
int evd_web_route(const struct evd_web_route *table, size_t n, const char *method, const char *path,
                  char *param, size_t param_size);

/* ---- sessions ---- */

#define EVD_WEB_ID_LEN 43 /* 32 random bytes, base64url without padding */
#define EVD_WEB_TOKEN_MAX 256
#define EVD_WEB_USER_MAX 128

/* One signed-in person: the console's opaque id (the cookie), the CSRF token its
 * forms carry, and the daemon's token that every forwarded request carries. */
struct evd_web_session {
        char id[EVD_WEB_ID_LEN + 1];
        char csrf[EVD_WEB_ID_LEN + 1];
        char token[EVD_WEB_TOKEN_MAX];
        char user[EVD_WEB_USER_MAX];
        char role[16];
        int64_t created, used; /* seconds */
};

struct evd_web_sessions;

/* A table of at most max sessions: each ends idle_s after its last use or absolute_s
 * after sign-in. *ret (evd_web_sessions_free) only on success. Thread-safe. */
int evd_web_sessions_new(size_t max, int64_t idle_s, int64_t absolute_s,
                         struct evd_web_sessions **ret);
void evd_web_sessions_free(struct evd_web_sessions *ss);

/* Start a session for token/user/role at now, with fresh random id and CSRF token;
 * a copy into *ret. -EBUSY when the table is full of live sessions. */
int evd_web_session_add(struct evd_web_sessions *ss, const char *token, const char *user,
                        const char *role, int64_t now, struct evd_web_session *ret);

/* The live session of id (a copy into *ret), marking it used at now; -ENOENT for an
 * unknown or expired id (an expired one is removed). */
int evd_web_session_get(struct evd_web_sessions *ss, const char *id, int64_t now,
                        struct evd_web_session *ret);

/* End the session of id; its copy into *ret (may be NULL) so that the caller can log
 * out at the daemon. -ENOENT when there is none. */
int evd_web_session_remove(struct evd_web_sessions *ss, const char *id,
                           struct evd_web_session *ret);

/* Live sessions now (expired ones are dropped). */
size_t evd_web_sessions_count(struct evd_web_sessions *ss, int64_t now);

/* True when given equals expected (constant time in the length of expected); false
 * for NULL or empty. */
bool evd_web_token_equal(const char *expected, const char *given);

/* EVD_WEB_ID_LEN random characters (getrandom) into out (EVD_WEB_ID_LEN + 1 bytes). */
int evd_web_random_id(char *out);

/* ---- listening ---- */

/* Parse "HOST:PORT" or "[V6]:PORT" (numeric addresses, or "localhost") into *ret;
 * *loopback when it is a loopback address. -EINVAL otherwise. */
int evd_web_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                         bool *loopback);

#endif
