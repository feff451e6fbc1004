#include "session.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

#define TOKEN_BYTES 32

struct session {
        bool used;
        uint8_t token_sha[EVD_SHA256_LEN];
        char account[EVD_SESSION_NAME_MAX];
        enum evd_role role;
        int64_t started, last;
};

struct evd_sessions {
        pthread_mutex_t lock;
        size_t max, per_account;
        int64_t idle_s, absolute_s;
        struct session *slots; /* max of them */
};

int evd_sessions_new(size_t max, size_t per_account, int64_t idle_s, int64_t absolute_s,
                     struct evd_sessions **ret)
{
        struct evd_sessions *ss;

        if (max == 0 || per_account == 0 || idle_s <= 0 || absolute_s <= 0)
                return -EINVAL;
        ss = calloc(1, sizeof(*ss));
        if (!ss || !(ss->slots = calloc(max, sizeof(*ss->slots)))) {
                free(ss);
                return -ENOMEM;
        }
        pthread_mutex_init(&ss->lock, NULL);
        ss->max = max;
        ss->per_account = per_account;
        ss->idle_s = idle_s;
        ss->absolute_s = absolute_s;
        *ret = ss;
        return 0;
}

void evd_sessions_free(struct evd_sessions *ss)
{
        if (!ss)
                return;
        OPENSSL_cleanse(ss->slots, ss->max * sizeof(*ss->slots));
        free(ss->slots);
        pthread_mutex_destroy(&ss->lock);
        free(ss);
}

static bool expired(const struct evd_sessions *ss, const struct session *s, int64_t now)
{
        return now - s->last >= ss->idle_s || now - s->started >= ss->absolute_s;
}

static void drop(struct session *s)
{
        OPENSSL_cleanse(s, sizeof(*s));
}

/* Drop the expired sessions. Lock held. */
static void sweep(struct evd_sessions *ss, int64_t now)
{
        for (size_t i = 0; i < ss->max; i++)
                if (ss->slots[i].used && expired(ss, &ss->slots[i], now))
                        drop(&ss->slots[i]);
}

static int token_sha(const char *token, uint8_t out[EVD_SHA256_LEN])
{
        return EVP_Digest(token, strlen(token), out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* A free slot for account, ending its oldest session when it has per_account of them.
 * Lock held. */
static struct session *slot_for(struct evd_sessions *ss, const char *account)
{
        struct session *free_slot = NULL, *oldest = NULL;
        size_t mine = 0;

        for (size_t i = 0; i < ss->max; i++) {
                struct session *s = &ss->slots[i];

                if (!s->used) {
                        free_slot = free_slot ? free_slot : s;
                } else if (strcmp(s->account, account) == 0) {
                        mine++;
                        if (!oldest || s->started < oldest->started)
                                oldest = s;
                }
        }
        if (mine >= ss->per_account) {
                drop(oldest);
                return oldest;
        }
        return free_slot;
}

int evd_sessions_start(struct evd_sessions *ss, const char *account, enum evd_role role,
                       int64_t now, char ret_token[EVD_SESSION_TOKEN_HEX], int64_t *ret_expires)
{
        uint8_t raw[TOKEN_BYTES], sha[EVD_SHA256_LEN];
        struct session *s;
        int r;

        if (strlen(account) >= EVD_SESSION_NAME_MAX)
                return -EINVAL;
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return -EIO;
        evd_hex(raw, sizeof(raw), ret_token);
        OPENSSL_cleanse(raw, sizeof(raw));
        if ((r = token_sha(ret_token, sha)) < 0)
                return r;
        pthread_mutex_lock(&ss->lock);
        sweep(ss, now);
        s = slot_for(ss, account);
        if (s) {
                s->used = true;
                memcpy(s->token_sha, sha, sizeof(sha));
                (void)snprintf(s->account, sizeof(s->account), "%s", account);
                s->role = role;
                s->started = s->last = now;
        }
        pthread_mutex_unlock(&ss->lock);
        if (!s) {
                OPENSSL_cleanse(ret_token, EVD_SESSION_TOKEN_HEX);
                return -EBUSY;
        }
        if (ret_expires)
                *ret_expires = now + ss->absolute_s;
        return 0;
}

/* The slot of token, or NULL. Lock held. */
static struct session *find(struct evd_sessions *ss, const char *token)
{
        uint8_t sha[EVD_SHA256_LEN];

        if (strlen(token) != EVD_SESSION_TOKEN_HEX - 1 || !evd_is_hex(token, 0) ||
            token_sha(token, sha) < 0)
                return NULL;
        for (size_t i = 0; i < ss->max; i++)
                if (ss->slots[i].used &&
                    CRYPTO_memcmp(ss->slots[i].token_sha, sha, sizeof(sha)) == 0)
                        return &ss->slots[i];
        return NULL;
}

int evd_sessions_check(struct evd_sessions *ss, const char *token, int64_t now, char *ret_account,
                       size_t n, enum evd_role *ret_role)
{
        struct session *s;
        int r = 0;

        pthread_mutex_lock(&ss->lock);
        s = find(ss, token);
        if (!s) {
                r = -ENOENT;
        } else if (expired(ss, s, now)) {
                drop(s);
                r = -ETIMEDOUT;
        } else {
                s->last = now > s->last ? now : s->last;
                (void)snprintf(ret_account, n, "%s", s->account);
                *ret_role = s->role;
        }
        pthread_mutex_unlock(&ss->lock);
        return r;
}

int evd_sessions_end(struct evd_sessions *ss, const char *token)
{
        struct session *s;

        pthread_mutex_lock(&ss->lock);
        s = find(ss, token);
        if (s)
                drop(s);
        pthread_mutex_unlock(&ss->lock);
        return s ? 0 : -ENOENT;
}

size_t evd_sessions_end_account(struct evd_sessions *ss, const char *account)
{
        size_t n = 0;

        pthread_mutex_lock(&ss->lock);
        for (size_t i = 0; i < ss->max; i++)
                if (ss->slots[i].used && strcmp(ss->slots[i].account, account) == 0) {
                        drop(&ss->slots[i]);
                        n++;
                }
        pthread_mutex_unlock(&ss->lock);
        return n;
}

size_t evd_sessions_count(struct evd_sessions *ss, int64_t now)
{
        size_t n = 0;

        pthread_mutex_lock(&ss->lock);
        sweep(ss, now);
        for (size_t i = 0; i < ss->max; i++)
                n += ss->slots[i].used;
        pthread_mutex_unlock(&ss->lock);
        return n;
}

/* ---- failed sign-ins ---- */

bool evd_failures_locked(const struct evd_failures *f, int64_t now)
{
        return f->locked_until > now;
}

bool evd_failures_note(struct evd_failures *f, int64_t now)
{
        if (f->count == 0 || now - f->since >= EVD_LOGIN_WINDOW_S || now < f->since) {
                f->count = 0;
                f->since = now;
        }
        if (++f->count < EVD_LOGIN_FAILURES_MAX)
                return false;
        f->count = 0;
        f->locked_until = now + EVD_LOGIN_LOCKOUT_S;
        return true;
}

#define THROTTLE_KEY_MAX 64

struct throttle_entry {
        bool used;
        char key[THROTTLE_KEY_MAX];
        struct evd_failures f;
};

struct evd_throttle {
        pthread_mutex_t lock;
        size_t max;
        struct throttle_entry *entries;
};

int evd_throttle_new(size_t max, struct evd_throttle **ret)
{
        struct evd_throttle *t;

        if (max == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t || !(t->entries = calloc(max, sizeof(*t->entries)))) {
                free(t);
                return -ENOMEM;
        }
        pthread_mutex_init(&t->lock, NULL);
        t->max = max;
        *ret = t;
        return 0;
}

void evd_throttle_free(struct evd_throttle *t)
{
        if (!t)
                return;
        free(t->entries);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

/* Whether an entry still says anything at now: locked, or failures in its window. */
static bool entry_live(const struct throttle_entry *e, int64_t now)
{
        return e->used && (evd_failures_locked(&e->f, now) ||
                           (e->f.count > 0 && now - e->f.since < EVD_LOGIN_WINDOW_S));
}

/* The entry of key, or (make) a slot for it. Lock held. */
static struct throttle_entry *throttle_find(struct evd_throttle *t, const char *key, int64_t now,
                                            bool make)
{
        struct throttle_entry *spare = NULL;

        for (size_t i = 0; i < t->max; i++) {
                struct throttle_entry *e = &t->entries[i];

                if (e->used && strcmp(e->key, key) == 0)
                        return e;
                if (!make || evd_failures_locked(&e->f, now))
                        continue;
                /* Prefer a slot that says nothing any more, then the oldest window. */
                if (!spare || (entry_live(spare, now) && !entry_live(e, now)) ||
                    (entry_live(spare, now) == entry_live(e, now) && e->f.since < spare->f.since))
                        spare = e;
        }
        if (!make || !spare)
                return NULL;
        memset(spare, 0, sizeof(*spare));
        spare->used = true;
        (void)snprintf(spare->key, sizeof(spare->key), "%s", key);
        return spare;
}

bool evd_throttle_locked(struct evd_throttle *t, const char *key, int64_t now)
{
        struct throttle_entry *e;
        bool locked;

        pthread_mutex_lock(&t->lock);
        e = throttle_find(t, key, now, false);
        locked = e && evd_failures_locked(&e->f, now);
        pthread_mutex_unlock(&t->lock);
        return locked;
}

int evd_throttle_fail(struct evd_throttle *t, const char *key, int64_t now, bool *ret_locked)
{
        struct throttle_entry *e;
        bool locked = false;

        if (strlen(key) >= THROTTLE_KEY_MAX)
                return -EINVAL;
        pthread_mutex_lock(&t->lock);
        e = throttle_find(t, key, now, true);
        if (e)
                locked = evd_failures_note(&e->f, now);
        pthread_mutex_unlock(&t->lock);
        if (ret_locked)
                *ret_locked = locked;
        return e ? 0 : -EBUSY;
}
