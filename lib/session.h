/* session: the sign-in state of the web console's people, in the daemon's memory.
 *
 * A session is started by a good sign-in and named by a random token (32 bytes from
 * getrandom, 64 hex digits) that only the caller sees: the table keeps the token's
 * SHA-256, the account's name and role, and two times. A session ends idle_s after its
 * last use, absolute_s after it started, at logout, or when its account is disabled or
 * gets a new password. The table is bounded: an account has at most per_account
 * sessions (its oldest ends to make room) and the table at most max (a sign-in is then
 * refused until one ends). Sessions live in memory only: a restart of evidockd signs
 * everyone out, which is the safe side, and checking a token on every request then
 * costs no catalogue transaction on the loop.
 *
 * Failed sign-ins are counted with struct evd_failures: limit failures within window_s
 * lock for lockout_s. The daemon keeps one per account (in the account's record) and
 * one per client address in an evd_throttle (memory, bounded).
 *
 * Every function takes the time now, so tests drive the clock. The tables are
 * thread-safe (the loop checks tokens; pool threads start and end sessions). */
#ifndef EVD_SESSION_H
#define EVD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

#define EVD_SESSION_TOKEN_HEX 65 /* 64 hex digits and NUL */
#define EVD_SESSION_NAME_MAX 64  /* an account name with its NUL */
#define EVD_SESSIONS_MAX 1024
#define EVD_SESSIONS_PER_ACCOUNT 16
#define EVD_SESSION_IDLE_S (30 * 60)
#define EVD_SESSION_ABSOLUTE_S (8 * 60 * 60)

struct evd_sessions;

/* A table of at most max sessions, per_account of one account. *ret
 * (evd_sessions_free) only on success. */
int evd_sessions_new(size_t max, size_t per_account, int64_t idle_s, int64_t absolute_s,
                     struct evd_sessions **ret);
void evd_sessions_free(struct evd_sessions *ss);

/* Start a session for account with role at now: its token into ret_token, the time it
 * ends at the latest into *ret_expires (may be NULL). -EBUSY when the table is full of
 * live sessions, -EINVAL for a name longer than EVD_SESSION_NAME_MAX - 1. */
int evd_sessions_start(struct evd_sessions *ss, const char *account, enum evd_role role,
                       int64_t now, char ret_token[EVD_SESSION_TOKEN_HEX], int64_t *ret_expires);

/* The session of token at now: its account name (copied into ret_account, n bytes) and
 * role, and now becomes its last use. -ENOENT for a token not known (malformed, ended,
 * or from before a restart), -ETIMEDOUT for one that expired (it is removed). */
int evd_sessions_check(struct evd_sessions *ss, const char *token, int64_t now, char *ret_account,
                       size_t n, enum evd_role *ret_role);

/* End the session of token (logout); -ENOENT when there is none. */
int evd_sessions_end(struct evd_sessions *ss, const char *token);

/* End every session of account; the number ended. */
size_t evd_sessions_end_account(struct evd_sessions *ss, const char *account);

/* Live sessions at now (expired ones are dropped). */
size_t evd_sessions_count(struct evd_sessions *ss, int64_t now);

/* ---- failed sign-ins ---- */

#define EVD_LOGIN_FAILURES_MAX 5
#define EVD_LOGIN_WINDOW_S (15 * 60)
#define EVD_LOGIN_LOCKOUT_S (5 * 60)

struct evd_failures {
        int count;            /* failures since `since` */
        int64_t since;        /* the first failure of the window */
        int64_t locked_until; /* 0: not locked */
};

/* Whether f is locked at now. */
bool evd_failures_locked(const struct evd_failures *f, int64_t now);

/* Count a failure at now: a failure after the window starts a new one; the
 * EVD_LOGIN_FAILURES_MAX-th in a window locks for EVD_LOGIN_LOCKOUT_S and starts the
 * count again. True when this failure locked. */
bool evd_failures_note(struct evd_failures *f, int64_t now);

/* Failures per key (a client address), in memory, for at most max keys: when full, the
 * key with the oldest window that is not locked is forgotten (-EBUSY if all are). */
struct evd_throttle;

int evd_throttle_new(size_t max, struct evd_throttle **ret);
void evd_throttle_free(struct evd_throttle *t);

/* Whether key is locked at now. */
bool evd_throttle_locked(struct evd_throttle *t, const char *key, int64_t now);

/* Count a failure of key at now (evd_failures_note); *ret_locked (may be NULL) true
 * when it locked. A good sign-in does not forget a client's failures: one account of
 * one's own must not reset the count of guesses at the others. */
int evd_throttle_fail(struct evd_throttle *t, const char *key, int64_t now, bool *ret_locked);

#endif
