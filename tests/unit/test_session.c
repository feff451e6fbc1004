/* Unit tests for the session table and the failed sign-in counters (lib/session.c),
 * with the clock given by the test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

#define T0 1800000000

static struct evd_sessions *table(size_t max, size_t per_account)
{
        struct evd_sessions *ss = NULL;

        assert_int_equal(
                evd_sessions_new(max, per_account, EVD_SESSION_IDLE_S, EVD_SESSION_ABSOLUTE_S, &ss),
                0);
        return ss;
}

static int check(struct evd_sessions *ss, const char *token, int64_t now, char *name,
                 enum evd_role *role)
{
        return evd_sessions_check(ss, token, now, name, EVD_SESSION_NAME_MAX, role);
}

static void start_and_check(void **state)
{
        struct evd_sessions *ss = table(8, 4);
        char tok[EVD_SESSION_TOKEN_HEX], tok2[EVD_SESSION_TOKEN_HEX], name[EVD_SESSION_NAME_MAX];
        enum evd_role role = EVD_ROLE_NONE;
        int64_t expires = 0;

        (void)state;
        assert_int_equal(evd_sessions_start(ss, "张三", EVD_ROLE_CLERK, T0, tok, &expires), 0);
        assert_int_equal(strlen(tok), 64);
        assert_int_equal(expires, T0 + EVD_SESSION_ABSOLUTE_S);
        assert_int_equal(evd_sessions_start(ss, "张三", EVD_ROLE_CLERK, T0, tok2, NULL), 0);
        assert_string_not_equal(tok, tok2); /* random, never the same */
        assert_int_equal(check(ss, tok, T0 + 1, name, &role), 0);
        assert_string_equal(name, "张三");
        assert_int_equal(role, EVD_ROLE_CLERK);
        /* Not a token: wrong length, not hex, one digit off, upper case. */
        assert_int_equal(check(ss, "", T0, name, &role), -ENOENT);
        assert_int_equal(check(ss, "zz", T0, name, &role), -ENOENT);
        tok2[0] = tok2[0] == '0' ? '1' : '0';
        assert_int_equal(check(ss, tok2, T0, name, &role), -ENOENT);
        tok2[0] = tok[0];
        memcpy(tok2, tok, sizeof(tok));
        for (char *p = tok2; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        if (strcmp(tok2, tok) != 0)
                assert_int_equal(check(ss, tok2, T0, name, &role), -ENOENT);
        /* A name too long for the table is refused. */
        char longname[EVD_SESSION_NAME_MAX + 1];

        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(evd_sessions_start(ss, longname, EVD_ROLE_ADMIN, T0, tok2, NULL), -EINVAL);
        evd_sessions_free(ss);
}

static void idle_and_absolute_expiry(void **state)
{
        struct evd_sessions *ss = table(8, 4);
        char tok[EVD_SESSION_TOKEN_HEX], name[EVD_SESSION_NAME_MAX];
        enum evd_role role;
        int64_t t = T0;

        (void)state;
        /* Idle: used every 29 minutes it lives on, up to the absolute end. */
        assert_int_equal(evd_sessions_start(ss, "a", EVD_ROLE_ADMIN, t, tok, NULL), 0);
        while (t + 29 * 60 < T0 + EVD_SESSION_ABSOLUTE_S) {
                t += 29 * 60;
                assert_int_equal(check(ss, tok, t, name, &role), 0);
        }
        assert_int_equal(check(ss, tok, T0 + EVD_SESSION_ABSOLUTE_S, name, &role), -ETIMEDOUT);
        /* Gone once found expired. */
        assert_int_equal(check(ss, tok, T0 + EVD_SESSION_ABSOLUTE_S, name, &role), -ENOENT);
        /* Idle for 30 minutes: ended. */
        assert_int_equal(evd_sessions_start(ss, "a", EVD_ROLE_ADMIN, T0, tok, NULL), 0);
        assert_int_equal(check(ss, tok, T0 + EVD_SESSION_IDLE_S - 1, name, &role), 0);
        assert_int_equal(check(ss, tok, T0 + 2 * EVD_SESSION_IDLE_S - 1, name, &role), -ETIMEDOUT);
        assert_int_equal(evd_sessions_count(ss, T0), 0);
        evd_sessions_free(ss);
}

static void revocation(void **state)
{
        struct evd_sessions *ss = table(8, 4);
        char a1[EVD_SESSION_TOKEN_HEX], a2[EVD_SESSION_TOKEN_HEX], b[EVD_SESSION_TOKEN_HEX];
        char name[EVD_SESSION_NAME_MAX];
        enum evd_role role;

        (void)state;
        assert_int_equal(evd_sessions_start(ss, "张三", EVD_ROLE_CLERK, T0, a1, NULL), 0);
        assert_int_equal(evd_sessions_start(ss, "张三", EVD_ROLE_CLERK, T0, a2, NULL), 0);
        assert_int_equal(evd_sessions_start(ss, "李四", EVD_ROLE_ARCHIVIST, T0, b, NULL), 0);
        assert_int_equal(evd_sessions_end(ss, a1), 0);
        assert_int_equal(evd_sessions_end(ss, a1), -ENOENT);
        assert_int_equal(check(ss, a1, T0, name, &role), -ENOENT);
        assert_int_equal(check(ss, a2, T0, name, &role), 0);
        assert_int_equal(evd_sessions_end_account(ss, "张三"), 1);
        assert_int_equal(check(ss, a2, T0, name, &role), -ENOENT);
        assert_int_equal(check(ss, b, T0, name, &role), 0);
        assert_string_equal(name, "李四");
        assert_int_equal(role, EVD_ROLE_ARCHIVIST);
        assert_int_equal(evd_sessions_end_account(ss, "nobody"), 0);
        assert_int_equal(evd_sessions_count(ss, T0), 1);
        evd_sessions_free(ss);
}

static void bounded(void **state)
{
        struct evd_sessions *ss = table(6, 3);
        char tok[10][EVD_SESSION_TOKEN_HEX], name[EVD_SESSION_NAME_MAX], acct[16];
        enum evd_role role;

        (void)state;
        /* One account: its oldest session ends to make room, the table does not grow. */
        for (int i = 0; i < 10; i++)
                assert_int_equal(
                        evd_sessions_start(ss, "flood", EVD_ROLE_CLERK, T0 + i, tok[i], NULL), 0);
        assert_int_equal(evd_sessions_count(ss, T0 + 10), 3);
        assert_int_equal(check(ss, tok[6], T0 + 10, name, &role), -ENOENT);
        for (int i = 7; i < 10; i++)
                assert_int_equal(check(ss, tok[i], T0 + 10, name, &role), 0);
        /* Many accounts: full is full, until a session ends or expires. */
        for (int i = 0; i < 3; i++) {
                (void)snprintf(acct, sizeof(acct), "u%d", i);
                assert_int_equal(evd_sessions_start(ss, acct, EVD_ROLE_CLERK, T0, tok[i], NULL), 0);
        }
        assert_int_equal(evd_sessions_start(ss, "late", EVD_ROLE_CLERK, T0, tok[3], NULL), -EBUSY);
        assert_int_equal(evd_sessions_end(ss, tok[0]), 0);
        assert_int_equal(evd_sessions_start(ss, "late", EVD_ROLE_CLERK, T0, tok[3], NULL), 0);
        assert_int_equal(evd_sessions_start(ss, "later", EVD_ROLE_CLERK,
                                            T0 + EVD_SESSION_IDLE_S + 20, tok[4], NULL),
                         0);
        assert_int_equal(evd_sessions_count(ss, T0 + EVD_SESSION_IDLE_S + 20), 1);
        evd_sessions_free(ss);
        assert_int_equal(evd_sessions_new(0, 1, 1, 1, &ss), -EINVAL);
}

static void failures(void **state)
{
        struct evd_failures f = { 0 };
        int64_t t = T0;

        (void)state;
        for (int i = 0; i < EVD_LOGIN_FAILURES_MAX - 1; i++)
                assert_false(evd_failures_note(&f, t++));
        assert_false(evd_failures_locked(&f, t));
        assert_true(evd_failures_note(&f, t));
        assert_true(evd_failures_locked(&f, t));
        assert_true(evd_failures_locked(&f, t + EVD_LOGIN_LOCKOUT_S - 1));
        assert_false(evd_failures_locked(&f, t + EVD_LOGIN_LOCKOUT_S));
        /* Failures spread wider than the window never lock. */
        f = (struct evd_failures){ 0 };
        for (int i = 0; i < 20; i++) {
                assert_false(evd_failures_note(&f, T0 + (int64_t)i * EVD_LOGIN_WINDOW_S / 4));
                assert_false(evd_failures_locked(&f, T0 + (int64_t)i * EVD_LOGIN_WINDOW_S / 4));
        }
}

static void throttle(void **state)
{
        struct evd_throttle *t = NULL;
        bool locked = false;
        char key[32];

        (void)state;
        assert_int_equal(evd_throttle_new(4, &t), 0);
        for (int i = 0; i < EVD_LOGIN_FAILURES_MAX; i++)
                assert_int_equal(evd_throttle_fail(t, "192.0.2.1", T0, &locked), 0);
        assert_true(locked);
        assert_true(evd_throttle_locked(t, "192.0.2.1", T0 + 1));
        assert_false(evd_throttle_locked(t, "192.0.2.2", T0 + 1));
        assert_false(evd_throttle_locked(t, "192.0.2.1", T0 + EVD_LOGIN_LOCKOUT_S));
        /* A flood of keys: the table stays at 4, a locked key is kept, the rest cycle. */
        assert_int_equal(evd_throttle_fail(t, "192.0.2.1", T0 + 2, NULL), 0);
        for (int i = 0; i < 1000; i++) {
                (void)snprintf(key, sizeof(key), "198.51.100.%d", i);
                assert_int_equal(evd_throttle_fail(t, key, T0 + 3, NULL), 0);
        }
        assert_true(evd_throttle_locked(t, "192.0.2.1", T0 + 4));
        /* All locked: counting more keys is refused, not grown. */
        for (int k = 0; k < 3; k++) {
                (void)snprintf(key, sizeof(key), "203.0.113.%d", k);
                for (int i = 0; i < EVD_LOGIN_FAILURES_MAX; i++)
                        assert_int_equal(evd_throttle_fail(t, key, T0 + 5, NULL), 0);
        }
        assert_int_equal(evd_throttle_fail(t, "203.0.113.200", T0 + 5, NULL), -EBUSY);
        assert_int_equal(evd_throttle_fail(t, "203.0.113.200", T0 + 5 + EVD_LOGIN_LOCKOUT_S, NULL),
                         0);
        /* Hostile key: too long for a client address. */
        char longkey[200];

        memset(longkey, '1', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        assert_int_equal(evd_throttle_fail(t, longkey, T0, NULL), -EINVAL);
        assert_false(evd_throttle_locked(t, longkey, T0));
        evd_throttle_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(start_and_check), cmocka_unit_test(idle_and_absolute_expiry),
                cmocka_unit_test(revocation),      cmocka_unit_test(bounded),
                cmocka_unit_test(failures),        cmocka_unit_test(throttle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
