#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "name.h"

/* ---- escaping and encoding ---- */

int evd_web_text(struct evd_buf *b, const char *s)
{
        size_t len = strlen(s), i = 0;

        while (i < len) {
                const unsigned char c = (unsigned char)s[i];
                uint32_t cp;
                size_t k;

                switch (c) {
                case '&':
                        evd_buf_str(b, "&amp;");
                        i++;
                        continue;
                case '<':
                        evd_buf_str(b, "&lt;");
                        i++;
                        continue;
                case '>':
                        evd_buf_str(b, "&gt;");
                        i++;
                        continue;
                case '"':
                        evd_buf_str(b, "&quot;");
                        i++;
                        continue;
                case '\'':
                        evd_buf_str(b, "&#39;");
                        i++;
                        continue;
                default:
                        break;
                }
                if (c < 0x20 || c == 0x7f) {
                        evd_buf_str(b, c == '\n' || c == '\t' ? (c == '\n' ? "\n" : "\t")
                                                              : "&#xFFFD;");
                        i++;
                        continue;
                }
                k = evd_name_utf8_next((const unsigned char *)s + i, len - i, &cp);
                if (k == 0) {
                        evd_buf_str(b, "&#xFFFD;");
                        i++;
                        continue;
                }
                evd_buf_add(b, s + i, k);
                i += k;
        }
        return b->error;
}

static bool unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
}

int evd_web_urlencode(struct evd_buf *b, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (unreserved(*p))
                        evd_buf_add(b, p, 1);
                else
                        evd_buf_printf(b, "%%%02X", *p);
        }
        return b->error;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int evd_web_urldecode(const char *in, size_t n, bool plus, char *out, size_t size)
{
        size_t o = 0;

        if (size == 0)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < n; i++) {
                char c = in[i];

                if (c == '%') {
                        int hi, lo;

                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = hexval(in[i + 1]);
                        lo = hexval(in[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (char)(hi << 4 | lo);
                        i += 2;
                } else if (c == '+' && plus) {
                        c = ' ';
                }
                if (c == '\0')
                        return -EINVAL;
                if (o + 1 >= size)
                        return -ENAMETOOLONG;
                out[o++] = c;
        }
        out[o] = '\0';
        return evd_name_is_utf8(out, o) || o == 0 ? 0 : -EINVAL;
}

int evd_web_content_disposition(struct evd_buf *b, const char *name)
{
        evd_buf_str(b, "attachment; filename=\"");
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                evd_buf_add(b, unreserved(*p) ? (const char *)p : "_", 1);
        evd_buf_str(b, "\"; filename*=UTF-8''");
        return evd_web_urlencode(b, name);
}

/* ---- forms and cookies ---- */

int evd_web_form_add(struct evd_web_form *form, const char *name, const char *value)
{
        char *n, *v;

        if (form->n >= EVD_WEB_FORM_MAX)
                return -E2BIG;
        n = strdup(name);
        v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        form->f[form->n].name = n;
        form->f[form->n].value = v;
        form->n++;
        return 0;
}

static int add_pair(struct evd_web_form *form, const char *p, size_t n)
{
        const char *eq = memchr(p, '=', n);
        size_t nl = eq ? (size_t)(eq - p) : n;
        char name[256], *value = malloc(EVD_WEB_VALUE_MAX);
        int r;

        if (!value)
                return -ENOMEM;
        r = evd_web_urldecode(p, nl, true, name, sizeof(name));
        if (r == 0)
                r = evd_web_urldecode(eq ? eq + 1 : p + n, eq ? n - nl - 1 : 0, true, value,
                                      EVD_WEB_VALUE_MAX);
        if (r == 0 && name[0] == '\0')
                r = -EINVAL;
        if (r == 0)
                r = evd_web_form_add(form, name, value);
        free(value);
        return r == -ENAMETOOLONG ? -E2BIG : r;
}

int evd_web_form_parse(const char *text, size_t n, struct evd_web_form *form)
{
        size_t i = 0;
        int r;

        if (n > EVD_WEB_BODY_MAX)
                return -E2BIG;
        while (i < n) {
                const char *amp = memchr(text + i, '&', n - i);
                size_t len = amp ? (size_t)(amp - (text + i)) : n - i;

                if (len > 0 && (r = add_pair(form, text + i, len)) < 0) {
                        evd_web_form_free(form);
                        return r;
                }
                i += len + 1;
        }
        return 0;
}

const char *evd_web_form_get_nth(const struct evd_web_form *form, const char *name, size_t nth)
{
        for (size_t i = 0; i < form->n; i++)
                if (strcmp(form->f[i].name, name) == 0 && nth-- == 0)
                        return form->f[i].value;
        return NULL;
}

const char *evd_web_form_get(const struct evd_web_form *form, const char *name)
{
        return evd_web_form_get_nth(form, name, 0);
}

void evd_web_form_free(struct evd_web_form *form)
{
        for (size_t i = 0; i < form->n; i++) {
                free(form->f[i].name);
                free(form->f[i].value);
        }
        form->n = 0;
}

int evd_web_cookie(const char *header, const char *name, char *out, size_t size)
{
        size_t nl = strlen(name);
        const char *p = header;

        while (p && *p) {
                const char *end;
                size_t vl;

                while (*p == ' ' || *p == ';')
                        p++;
                end = strchr(p, ';');
                if (!end)
                        end = p + strlen(p);
                if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
                        vl = (size_t)(end - p) - nl - 1;
                        if (vl + 1 > size)
                                return -ENAMETOOLONG;
                        memcpy(out, p + nl + 1, vl);
                        out[vl] = '\0';
                        return 0;
                }
                p = end;
        }
        return -ENOENT;
}

/* ---- routing ---- */

static bool segment_char(char c)
{
        return unreserved((unsigned char)c) && c != '~';
}

/* Does path match pattern? The "*" segment goes into param. */
static bool match(const char *pattern, const char *path, char *param, size_t param_size)
{
        while (*pattern && *path) {
                if (pattern[0] == '*' && (pattern[1] == '/' || pattern[1] == '\0')) {
                        size_t n = 0;

                        while (path[n] && path[n] != '/') {
                                if (!segment_char(path[n]))
                                        return false;
                                n++;
                        }
                        if (n == 0 || n > 64 || n + 1 > param_size)
                                return false;
                        memcpy(param, path, n);
                        param[n] = '\0';
                        pattern++;
                        path += n;
                        continue;
                }
                if (*pattern != *path)
                        return false;
                pattern++;
                path++;
        }
        return *pattern == '\0' && *path == '\0';
}

int evd_web_route(const struct evd_web_route *table, size_t n, const char *method, const char *path,
                  char *param, size_t param_size)
{
        bool path_known = false;
        char tmp[65];

        for (size_t i = 0; i < n; i++) {
                if (!match(table[i].pattern, path, tmp, sizeof(tmp)))
                        continue;
                path_known = true;
                if (strcmp(table[i].method, method) != 0 &&
                    !(strcmp(method, "HEAD") == 0 && strcmp(table[i].method, "GET") == 0))
                        continue;
                if (param && param_size) {
                        if (strchr(table[i].pattern, '*')) {
                                if (strlen(tmp) + 1 > param_size)
                                        return -ENOENT;
                                memcpy(param, tmp, strlen(tmp) + 1);
                        } else {
                                param[0] = '\0';
                        }
                }
                return table[i].id;
        }
        return path_known ? -EOPNOTSUPP : -ENOENT;
}

/* ---- sessions ---- */

struct evd_web_sessions {
        pthread_mutex_t lock;
        int64_t idle_s, absolute_s;
        size_t max;
        struct evd_web_session *s; /* max slots; id[0] == '\0' when free */
};

int evd_web_sessions_new(size_t max, int64_t idle_s, int64_t absolute_s,
                         struct evd_web_sessions **ret)
{
        struct evd_web_sessions *ss = calloc(1, sizeof(*ss));

        if (!ss || !(ss->s = calloc(max, sizeof(*ss->s)))) {
                free(ss);
                return -ENOMEM;
        }
        pthread_mutex_init(&ss->lock, NULL);
        ss->max = max;
        ss->idle_s = idle_s;
        ss->absolute_s = absolute_s;
        *ret = ss;
        return 0;
}

void evd_web_sessions_free(struct evd_web_sessions *ss)
{
        if (!ss)
                return;
        pthread_mutex_destroy(&ss->lock);
        explicit_bzero(ss->s, ss->max * sizeof(*ss->s));
        free(ss->s);
        free(ss);
}

int evd_web_random_id(char *out)
{
        static const char b64url[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[33] = { 0 };
        size_t got = 0;

        while (got < 32) {
                ssize_t n = getrandom(raw + got, 32 - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        /* 32 bytes = 256 bits: 43 characters of 6 bits (the last holds 4). */
        for (size_t i = 0, bit = 0; i < EVD_WEB_ID_LEN; i++, bit += 6) {
                size_t byte = bit / 8, shift = bit % 8;
                unsigned v = ((unsigned)raw[byte] << 8 | raw[byte + 1]) >> (10 - shift);

                out[i] = b64url[v & 63];
        }
        out[EVD_WEB_ID_LEN] = '\0';
        explicit_bzero(raw, sizeof(raw));
        return 0;
}

static bool expired(const struct evd_web_sessions *ss, const struct evd_web_session *s, int64_t now)
{
        return now - s->used >= ss->idle_s || now - s->created >= ss->absolute_s ||
               now < s->created;
}

static void drop(struct evd_web_session *s)
{
        explicit_bzero(s, sizeof(*s));
}

bool evd_web_token_equal(const char *expected, const char *given)
{
        size_t n, m;
        unsigned char diff = 0;

        if (!expected || !given || !expected[0])
                return false;
        n = strlen(expected);
        m = strnlen(given, n + 1);
        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char)expected[i] ^ (unsigned char)(i < m ? given[i] : 0);
        return diff == 0 && m == n;
}

int evd_web_session_add(struct evd_web_sessions *ss, const char *token, const char *user,
                        const char *role, int64_t now, struct evd_web_session *ret)
{
        struct evd_web_session fresh = { .created = now, .used = now };
        int r = -EBUSY;

        if (strlen(token) >= sizeof(fresh.token) || strlen(user) >= sizeof(fresh.user) ||
            strlen(role) >= sizeof(fresh.role))
                return -ENAMETOOLONG;
        if ((r = evd_web_random_id(fresh.id)) < 0 || (r = evd_web_random_id(fresh.csrf)) < 0)
                return r;
        memcpy(fresh.token, token, strlen(token) + 1);
        memcpy(fresh.user, user, strlen(user) + 1);
        memcpy(fresh.role, role, strlen(role) + 1);
        r = -EBUSY;
        pthread_mutex_lock(&ss->lock);
        for (size_t i = 0; i < ss->max; i++) {
                struct evd_web_session *s = &ss->s[i];

                if (s->id[0] && !expired(ss, s, now))
                        continue;
                *s = fresh;
                *ret = fresh;
                r = 0;
                break;
        }
        pthread_mutex_unlock(&ss->lock);
        explicit_bzero(&fresh, sizeof(fresh));
        return r;
}

static struct evd_web_session *find(struct evd_web_sessions *ss, const char *id)
{
        if (!id || strlen(id) != EVD_WEB_ID_LEN)
                return NULL;
        for (size_t i = 0; i < ss->max; i++)
                if (ss->s[i].id[0] && evd_web_token_equal(ss->s[i].id, id))
                        return &ss->s[i];
        return NULL;
}

int evd_web_session_get(struct evd_web_sessions *ss, const char *id, int64_t now,
                        struct evd_web_session *ret)
{
        struct evd_web_session *s;
        int r = -ENOENT;

        pthread_mutex_lock(&ss->lock);
        s = find(ss, id);
        if (s && expired(ss, s, now)) {
                drop(s);
        } else if (s) {
                s->used = now;
                *ret = *s;
                r = 0;
        }
        pthread_mutex_unlock(&ss->lock);
        return r;
}

int evd_web_session_remove(struct evd_web_sessions *ss, const char *id, struct evd_web_session *ret)
{
        struct evd_web_session *s;
        int r = -ENOENT;

        pthread_mutex_lock(&ss->lock);
        s = find(ss, id);
        if (s) {
                if (ret)
                        *ret = *s;
                drop(s);
                r = 0;
        }
        pthread_mutex_unlock(&ss->lock);
        return r;
}

size_t evd_web_sessions_count(struct evd_web_sessions *ss, int64_t now)
{
        size_t n = 0;

        pthread_mutex_lock(&ss->lock);
        for (size_t i = 0; i < ss->max; i++) {
                if (!ss->s[i].id[0])
                        continue;
                if (expired(ss, &ss->s[i], now))
                        drop(&ss->s[i]);
                else
                        n++;
        }
        pthread_mutex_unlock(&ss->lock);
        return n;
}

/* ---- listening ---- */

int evd_web_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                         bool *loopback)
{
        const char *colon = strrchr(s, ':');
        char host[64], *end;
        size_t hl;
        long port;

        if (!colon || colon == s)
                return -EINVAL;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
                return -EINVAL;
        hl = (size_t)(colon - s);
        if (s[0] == '[') {
                if (hl < 3 || s[hl - 1] != ']')
                        return -EINVAL;
                s++;
                hl -= 2;
        }
        if (hl >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (strcmp(host, "localhost") == 0)
                (void)snprintf(host, sizeof(host), "127.0.0.1");
        memset(ret, 0, sizeof(*ret));
        if (strchr(host, ':')) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret;

                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
                        return -EINVAL;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t)port);
                *ret_len = sizeof(*a);
                *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)ret;

                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t)port);
                *ret_len = sizeof(*a);
                *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        }
        return 0;
}
