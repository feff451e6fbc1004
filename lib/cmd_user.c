/* Station commands for the web console's people: accounts kept in the catalogue
 * (EVD_DB_ACCOUNTS, keyed by name) and sign-in.
 *
 *   user.add {name, role}        user.passwd {name, password}     (admin)
 *   user.disable {name}          user.list                        (admin)
 *   login {user, password, client} -> {token, role, expires}      (anyone)
 *   logout (the request's own token)                              (anyone)
 *
 * An account's record: {name, role, password (yescrypt hash, or null before the first
 * passwd), disabled, created, changed, failures {count, since, locked_until}}. The hash
 * never leaves this file: not in replies, not in the audit log, never logged. Every
 * change commits with its audit entry (invariant 2). Hashing runs on the pool thread
 * of the request, never on the loop. Sessions and failures per client address are kept
 * in memory (session.h); a session's requests are audited as "web:NAME". */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "label.h"
#include "name.h"
#include "session.h"
#include "station_internal.h"

#define USER_NAME_MAX 48 /* bytes: "web:" and the name fit an actor's name */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define CLIENT_MAX 63
#define THROTTLE_CLIENTS 4096
#define BAD_LOGIN "wrong name or password"

/* Checked against when there is no hash to check (no such account, no password yet),
 * so that every failed sign-in costs the same: yescrypt with the default cost, of a
 * password nobody has. */
static const char DUMMY_HASH[] =
        "$y$j9T$ykOvqMbclyXMFoIfC12IH/$7iJulmdHbgfl7SnzauuZefGk6SUFVLMMHeBeaXUKmh7";

struct evd_users {
        struct evd_sessions *sessions;
        struct evd_throttle *clients;
};

int evd_station_users_new(struct evd_users **ret)
{
        struct evd_users *u = calloc(1, sizeof(*u));
        int r = -ENOMEM;

        if (!u)
                return r;
        r = evd_sessions_new(EVD_SESSIONS_MAX, EVD_SESSIONS_PER_ACCOUNT, EVD_SESSION_IDLE_S,
                             EVD_SESSION_ABSOLUTE_S, &u->sessions);
        if (r == 0)
                r = evd_throttle_new(THROTTLE_CLIENTS, &u->clients);
        if (r < 0) {
                evd_station_users_free(u);
                return r;
        }
        *ret = u;
        return 0;
}

void evd_station_users_free(struct evd_users *u)
{
        if (!u)
                return;
        evd_sessions_free(u->sessions);
        evd_throttle_free(u->clients);
        free(u);
}

int evd_station_token(void *station, const char *token, struct evd_actor *actor,
                      enum evd_role *role)
{
        struct evd_station *s = station;
        char name[USER_NAME_MAX + 1];
        int r;

        if (!s->users)
                return -ENOENT;
        r = evd_sessions_check(s->users->sessions, token, evd_clock_now(), name, sizeof(name),
                               role);
        if (r == 0)
                (void)snprintf(actor->name, sizeof(actor->name), "web:%s", name);
        return r;
}

static int role_parse(const char *name, enum evd_role *ret)
{
        for (enum evd_role r = EVD_ROLE_CLERK; r <= EVD_ROLE_ADMIN; r++)
                if (strcmp(evd_role_name(r), name) == 0) {
                        *ret = r;
                        return 0;
                }
        return -EINVAL;
}

static int name_arg(const json_t *args, const char *key, const char **ret, struct evd_err *err)
{
        int r = evd_arg_string(args, key, true, ret, err);

        return r < 0 ? r : evd_label_check_text("account name", *ret, USER_NAME_MAX, false, err);
}

static void time_now(char out[EVD_TIME_STR])
{
        evd_time_format(evd_clock_now(), out);
}

/* ---- changes: one record and its audit entry in one transaction ---- */

enum change { CHANGE_ADD, CHANGE_PASSWORD, CHANGE_DISABLE };

struct change_ctx {
        enum change what;
        const struct evd_actor *actor;
        const char *name;
        enum evd_role role; /* add */
        const char *hash;   /* password */
        struct evd_err *err;
};

static int change_apply(struct evd_txn *txn, void *p)
{
        static const char *const events[] = { "user.added", "user.password", "user.disabled" };
        struct change_ctx *c = p;
        char subject[USER_NAME_MAX + 8], now[EVD_TIME_STR];
        json_t *rec = NULL, *details;
        int r = evd_catalog_json_get(txn, EVD_DB_ACCOUNTS, c->name, &rec);

        time_now(now);
        if (c->what == CHANGE_ADD) {
                if (r == 0) {
                        json_decref(rec);
                        return evd_err_set(c->err, -EEXIST, "account %s exists already", c->name);
                }
                rec = json_pack("{ss ss sn sb ss ss s{si si si}}", "name", c->name, "role",
                                evd_role_name(c->role), "password", "disabled", 0, "created", now,
                                "changed", now, "failures", "count", 0, "since", 0, "locked_until",
                                0);
                details = json_pack("{ss ss}", "name", c->name, "role", evd_role_name(c->role));
        } else {
                if (r < 0)
                        return evd_err_set(c->err, r, "no account %s", c->name);
                if (c->what == CHANGE_PASSWORD) {
                        (void)json_object_set_new(rec, "password", json_string(c->hash));
                        /* A new password from an admin also lifts a lockout. */
                        (void)json_object_set_new(
                                rec, "failures",
                                json_pack("{si si si}", "count", 0, "since", 0, "locked_until", 0));
                } else {
                        (void)json_object_set_new(rec, "disabled", json_true());
                }
                (void)json_object_set_new(rec, "changed", json_string(now));
                details = json_pack("{ss}", "name", c->name);
        }
        (void)snprintf(subject, sizeof(subject), "user:%s", c->name);
        r = rec && details ? evd_catalog_json_put(txn, EVD_DB_ACCOUNTS, c->name, rec) : -ENOMEM;
        if (r == 0)
                r = evd_audit_append(txn, c->actor, events[c->what], subject, details, NULL);
        json_decref(rec);
        json_decref(details);
        return r;
}

static int change(struct evd_station *s, struct change_ctx *c, json_t **ret, struct evd_err *err)
{
        int r;

        c->err = err;
        r = evd_catalog_write(s->catalog, change_apply, c, err);
        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        /* A disabled account, or one with a new password, is signed out everywhere. */
        if (c->what != CHANGE_ADD)
                (void)evd_sessions_end_account(s->users->sessions, c->name);
        *ret = json_pack("{ss}", "name", c->name);
        return 0;
}

int evd_cmd_user_add(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct change_ctx c = { .what = CHANGE_ADD, .actor = evd_request_actor(req) };
        const char *role;
        int r;

        if ((r = name_arg(args, "name", &c.name, err)) < 0 ||
            (r = evd_arg_string(args, "role", true, &role, err)) < 0)
                return r;
        if (role_parse(role, &c.role) < 0)
                return evd_err_set(err, -EINVAL, "role must be clerk, archivist or admin");
        return change(ud, &c, ret, err);
}

/* The password of args: PASSWORD_MIN to PASSWORD_MAX bytes of UTF-8, no NUL. */
static int password_arg(const json_t *args, const char **ret, struct evd_err *err)
{
        const json_t *p = json_object_get(args, "password");
        size_t len = json_string_length(p);

        if (!json_is_string(p))
                return evd_err_set(err, -EINVAL, "missing argument \"password\"");
        *ret = json_string_value(p);
        if (len < PASSWORD_MIN || len > PASSWORD_MAX || strlen(*ret) != len)
                return evd_err_set(err, -EINVAL, "a password has %d to %d bytes", PASSWORD_MIN,
                                   PASSWORD_MAX);
        return 0;
}

int evd_cmd_user_passwd(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                        struct evd_err *err)
{
        struct change_ctx c = { .what = CHANGE_PASSWORD, .actor = evd_request_actor(req) };
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data *cd = NULL;
        const char *password = NULL, *hash;
        int r;

        if ((r = name_arg(args, "name", &c.name, err)) < 0 ||
            (r = password_arg(args, &password, err)) < 0)
                return r;
        if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
                return evd_err_set(err, -errno ? -errno : -EIO, "cannot make a salt");
        cd = calloc(1, sizeof(*cd));
        if (!cd)
                return evd_err_set(err, -ENOMEM, "out of memory");
        hash = crypt_r(password, salt, cd);
        if (!hash || hash[0] != '$') {
                r = evd_err_set(err, -EIO, "cannot hash the password");
                goto out;
        }
        c.hash = hash;
        r = change(ud, &c, ret, err);
out:
        OPENSSL_cleanse(cd, sizeof(*cd));
        free(cd);
        return r;
}

int evd_cmd_user_disable(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                         struct evd_err *err)
{
        struct change_ctx c = { .what = CHANGE_DISABLE, .actor = evd_request_actor(req) };
        int r;

        if ((r = name_arg(args, "name", &c.name, err)) < 0)
                return r;
        return change(ud, &c, ret, err);
}

static bool record_locked(const json_t *rec, int64_t now)
{
        const json_t *f = json_object_get(rec, "failures");
        struct evd_failures fl = {
                .locked_until = json_integer_value(json_object_get(f, "locked_until")),
        };

        return evd_failures_locked(&fl, now);
}

int evd_cmd_user_list(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        int64_t now = evd_clock_now();
        json_t *out = json_array();
        struct evd_txn txn;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int r, rc;

        (void)req;
        (void)args;
        if (!out)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                json_decref(out);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        rc = mdb_cursor_open(txn.txn, evd_txn_dbi(&txn, EVD_DB_ACCOUNTS), &cur);
        for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);

                if (rec)
                        (void)json_array_append_new(
                                out, json_pack("{sO sO sO sb sO sO sb}", "name",
                                               json_object_get(rec, "name"), "role",
                                               json_object_get(rec, "role"), "disabled",
                                               json_object_get(rec, "disabled"), "has_password",
                                               json_is_string(json_object_get(rec, "password")),
                                               "created", json_object_get(rec, "created"),
                                               "changed", json_object_get(rec, "changed"), "locked",
                                               record_locked(rec, now)));
                json_decref(rec);
        }
        if (cur)
                mdb_cursor_close(cur);
        evd_catalog_read_end(&txn);
        if (rc != MDB_NOTFOUND) {
                json_decref(out);
                return evd_err_set(err, evd_mdb_errno(rc), "catalog: %s", mdb_strerror(rc));
        }
        *ret = out;
        return 0;
}

/* ---- sign-in ---- */

struct login_ctx {
        const struct evd_actor *caller;
        const char *user, *client, *user_shown;
        bool password_ok; /* the password matched the hash read before the transaction */
        bool client_locked;
        int64_t now;
        bool ok;         /* out: signed in */
        char role[16];   /* out: the account's role */
        const char *why; /* out, for the audit log only */
};

/* The account's failure counter in rec. */
static void failures_get(const json_t *rec, struct evd_failures *f)
{
        const json_t *j = json_object_get(rec, "failures");

        f->count = (int)json_integer_value(json_object_get(j, "count"));
        f->since = json_integer_value(json_object_get(j, "since"));
        f->locked_until = json_integer_value(json_object_get(j, "locked_until"));
}

static int failures_put(json_t *rec, const struct evd_failures *f)
{
        return json_object_set_new(rec, "failures",
                                   json_pack("{si sI sI}", "count", f->count, "since",
                                             (json_int_t)f->since, "locked_until",
                                             (json_int_t)f->locked_until));
}

/* Decide in the write transaction, so that parallel sign-ins to one account count
 * every failure: record the failure (or clear the count) and the audit entry. */
static int login_apply(struct evd_txn *txn, void *p)
{
        struct login_ctx *c = p;
        char subject[USER_NAME_MAX * 4 + 8];
        struct evd_failures f = { 0 };
        struct evd_actor actor = *c->caller;
        json_t *rec = NULL, *details;
        bool locked;
        int r;

        c->ok = false;
        c->why = "no such account";
        if (evd_catalog_json_get(txn, EVD_DB_ACCOUNTS, c->user, &rec) == 0) {
                failures_get(rec, &f);
                locked = evd_failures_locked(&f, c->now);
                c->why = json_is_true(json_object_get(rec, "disabled")) ? "disabled"
                         : locked                                       ? "account locked"
                         : c->client_locked                             ? "client locked"
                         : !c->password_ok                              ? "wrong password"
                                                                        : NULL;
                c->ok = !c->why;
                if (c->ok) {
                        f = (struct evd_failures){ 0 };
                        (void)snprintf(c->role, sizeof(c->role), "%s",
                                       json_string_value(json_object_get(rec, "role")) ?: "");
                } else if (!locked) {
                        (void)evd_failures_note(&f, c->now);
                }
                if ((r = failures_put(rec, &f)) < 0 ||
                    (r = evd_catalog_json_put(txn, EVD_DB_ACCOUNTS, c->user, rec)) < 0) {
                        json_decref(rec);
                        return r;
                }
        }
        if (c->ok)
                (void)snprintf(actor.name, sizeof(actor.name), "web:%s", c->user);
        (void)snprintf(subject, sizeof(subject), "user:%s", c->user_shown);
        details = c->ok ? json_pack("{ss}", "client", c->client)
                        : json_pack("{ss ss sb}", "client", c->client, "reason", c->why, "locked",
                                    evd_failures_locked(&f, c->now));
        r = details ? evd_audit_append(txn, &actor, c->ok ? "user.login" : "user.login_failed",
                                       subject, details, NULL)
                    : -ENOMEM;
        json_decref(details);
        json_decref(rec);
        return r;
}

/* Whether password matches the stored hash of user; the same yescrypt work is done
 * when there is no account or no hash, so that the time does not tell. */
static bool password_matches(struct evd_station *s, const char *user, const char *password)
{
        const char *stored = NULL, *got;
        struct crypt_data *cd;
        struct evd_txn txn;
        json_t *rec = NULL;
        bool ok = false;

        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                (void)evd_catalog_json_get(&txn, EVD_DB_ACCOUNTS, user, &rec);
                evd_catalog_read_end(&txn);
        }
        stored = json_string_value(json_object_get(rec, "password"));
        cd = calloc(1, sizeof(*cd));
        if (cd) {
                got = crypt_r(password, stored ? stored : DUMMY_HASH, cd);
                ok = stored && got && strlen(got) == strlen(stored) &&
                     CRYPTO_memcmp(got, stored, strlen(stored)) == 0;
                OPENSSL_cleanse(cd, sizeof(*cd));
                free(cd);
        }
        json_decref(rec);
        return ok;
}

/* The client address: printable ASCII (an IPv4 or IPv6 address as the console sends
 * it); without one (absent or empty), the unix caller stands for it. */
static int client_arg(const json_t *args, const struct evd_actor *caller, char *out, size_t n,
                      struct evd_err *err)
{
        const char *client = NULL;
        int r = evd_arg_string(args, "client", false, &client, err);

        if (r < 0)
                return r;
        if (!client || !client[0]) {
                (void)snprintf(out, n, "uid:%u", (unsigned)caller->uid);
                return 0;
        }
        if (strlen(client) > CLIENT_MAX)
                return evd_err_set(err, -EINVAL, "client must be an address");
        for (const char *p = client; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return evd_err_set(err, -EINVAL, "client must be an address");
        (void)snprintf(out, n, "%s", client);
        return 0;
}

int evd_cmd_login(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct login_ctx c = { .caller = evd_request_actor(req), .now = evd_clock_now() };
        char client[CLIENT_MAX + 1], shown[USER_NAME_MAX * 4 + 1], token[EVD_SESSION_TOKEN_HEX];
        char expires[EVD_TIME_STR];
        const char *password = NULL;
        enum evd_role role;
        int64_t until;
        int r;

        if ((r = evd_arg_string(args, "user", true, &c.user, err)) < 0 ||
            (r = evd_arg_string(args, "password", true, &password, err)) < 0 ||
            (r = client_arg(args, c.caller, client, sizeof(client), err)) < 0)
                return r;
        c.client = client;
        /* A name that cannot be an account is still a failed sign-in like any other. */
        (void)evd_name_escape(c.user, strlen(c.user), shown, sizeof(shown));
        c.user_shown = shown;
        if (strlen(c.user) > USER_NAME_MAX || strlen(password) > PASSWORD_MAX)
                c.user = "";
        /* A locked address made its own failures: it is answered without the hashing,
         * so that guessing from it costs the station nothing more. */
        c.client_locked = evd_throttle_locked(s->users->clients, client, c.now);
        c.password_ok = !c.client_locked && password_matches(s, c.user, password);
        r = evd_catalog_write(s->catalog, login_apply, &c, err);
        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        if (!c.ok) {
                /* Counting fails open when the table is full: the account's own count
                 * still holds. */
                if (!c.client_locked)
                        (void)evd_throttle_fail(s->users->clients, client, c.now, NULL);
                return evd_err_set(err, -EACCES, BAD_LOGIN);
        }
        if (role_parse(c.role, &role) < 0)
                return evd_err_set(err, -EIO, "account %s has no valid role", c.user);
        r = evd_sessions_start(s->users->sessions, c.user, role, c.now, token, &until);
        if (r < 0)
                return evd_err_set(err, r, "too many people signed in: try again later");
        evd_time_format(until, expires);
        *ret = json_pack("{ss ss ss si}", "token", token, "role", c.role, "expires", expires,
                         "idle_timeout_s", EVD_SESSION_IDLE_S);
        OPENSSL_cleanse(token, sizeof(token));
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

static int logout_apply(struct evd_txn *txn, void *p)
{
        const struct evd_actor *actor = p;
        char subject[EVD_ACTOR_NAME_MAX + 8];

        /* The actor is "web:NAME": the subject is the account, "user:NAME". */
        (void)snprintf(subject, sizeof(subject), "user:%s",
                       strncmp(actor->name, "web:", 4) == 0 ? actor->name + 4 : actor->name);
        return evd_audit_append(txn, actor, "user.logout", subject, NULL, NULL);
}

int evd_cmd_logout(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        const char *token = evd_request_token(req);
        int r;

        (void)args;
        (void)ret;
        /* Nothing to end: no token, or one already expired (the request then ran with no
         * role), is not an error. */
        if (!token || evd_request_role(req) == EVD_ROLE_NONE ||
            evd_sessions_end(s->users->sessions, token) < 0)
                return 0;
        r = evd_catalog_write(s->catalog, logout_apply, (void *)evd_request_actor(req), err);
        return r < 0 && !err->code ? evd_err_set(err, r, "catalog: %s", strerror(-r)) : r;
}
