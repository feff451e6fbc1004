#include "jscan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNSURE EVD_JSCAN_UNSURE

static const char *skip_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

static int hex4(const char *p, const char *end, uint32_t *ret)
{
        uint32_t v = 0;

        if (end - p < 4)
                return UNSURE;
        for (int i = 0; i < 4; i++) {
                char c = p[i];

                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (uint32_t)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (uint32_t)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (uint32_t)(c - 'A' + 10);
                else
                        return UNSURE;
        }
        *ret = v;
        return 0;
}

/* One escape after the backslash at *pp: its code point, *pp past it. jansson refuses
 * \u0000 and lone surrogates: unsure. */
static int escape(const char **pp, const char *end, uint32_t *ret)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *p = *pp + 1, *at;
        uint32_t cp, lo;

        if (p >= end)
                return UNSURE;
        if (*p != 'u') {
                if (*p == '\0' || !(at = strchr(from, *p)))
                        return UNSURE;
                *ret = (unsigned char)to[at - from];
                *pp = p + 1;
                return 0;
        }
        if (hex4(p + 1, end, &cp) < 0 || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return UNSURE;
        p += 5;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                        return UNSURE;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
        }
        *ret = cp;
        *pp = p;
        return 0;
}

/* One UTF-8 sequence at *pp (its first byte >= 0x80), as jansson checks it. */
static int utf8(const char **pp, const char *end, uint32_t *ret)
{
        const unsigned char *p = (const unsigned char *)*pp;
        unsigned int len;
        uint32_t cp;

        if (p[0] >= 0xC2 && p[0] <= 0xDF) {
                len = 2;
                cp = p[0] & 0x1Fu;
        } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
                len = 3;
                cp = p[0] & 0x0Fu;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                len = 4;
                cp = p[0] & 0x07u;
        } else {
                return UNSURE;
        }
        if ((size_t)(end - *pp) < len)
                return UNSURE;
        for (unsigned int i = 1; i < len; i++) {
                if ((p[i] & 0xC0u) != 0x80u)
                        return UNSURE;
                cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return UNSURE;
        *ret = cp;
        *pp += len;
        return 0;
}

/* A byte that stands for itself in a JSON string: printable ASCII but '"' and '\\'. */
static inline bool plain(unsigned char c)
{
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Past the bytes from p that stand for themselves, eight at a time where it can. */
static const char *plain_run(const char *p, const char *end)
{
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

        while (end - p >= 8) {
                uint64_t w, quote, slash;

                memcpy(&w, p, 8);
                quote = w ^ (ones * '"');
                slash = w ^ (ones * '\\');
                if ((((w - ones * 0x20) & ~w) | w | ((quote - ones) & ~quote) |
                     ((slash - ones) & ~slash)) &
                    highs)
                        break;
                p += 8;
        }
        while (p < end && plain((unsigned char)*p))
                p++;
        return p;
}

/* Past the closing quote of the string at p, in text found valid. */
static const char *string_end(const char *p, const char *end)
{
        const char *q = p + 1, *b;

        while ((q = memchr(q, '"', (size_t)(end - q)))) {
                for (b = q; b > p + 1 && b[-1] == '\\';)
                        b--;
                if ((q - b) % 2 == 0)
                        return q + 1;
                q++;
        }
        return end;
}

/* The end of the value at p in text already found valid: strings by their closing
 * quote, containers by counting brackets (safe on any text: never past end). */
static const char *skip_value(const char *p, const char *end)
{
        int depth = 0;

        do {
                if (p >= end)
                        return end;
                switch (*p) {
                case '"':
                        p = string_end(p, end);
                        break;
                case '{':
                case '[':
                        depth++;
                        p++;
                        break;
                case '}':
                case ']':
                        depth--;
                        p++;
                        break;
                case ',':
                case ':':
                case ' ':
                case '\t':
                case '\n':
                case '\r':
                        p++;
                        break;
                default: /* a number or a literal */
                        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
                               *p != '\t' && *p != '\n' && *p != '\r')
                                p++;
                        break;
                }
        } while (depth > 0);
        return p > end ? end : p;
}

/* A string at p (its opening quote): the end past its closing quote, or NULL. */
static const char *scan_string(const char *p, const char *end)
{
        uint32_t cp;

        for (p++; p < end;) {
                unsigned char c;

                p = plain_run(p, end);
                if (p >= end)
                        break;
                c = (unsigned char)*p;
                if (c == '"')
                        return p + 1;
                if (c < 0x20)
                        return NULL;
                if (c == '\\') {
                        if (escape(&p, end, &cp) < 0)
                                return NULL;
                } else if (c >= 0x80) {
                        if (utf8(&p, end, &cp) < 0)
                                return NULL;
                } else {
                        p++;
                }
        }
        return NULL;
}

/* A number: an integer (*ret, when ret is not NULL: then a real is refused), or a
 * real without an exponent and of at most REAL_DIGITS digits, which strtod reads
 * without overflow. Others (exponents, integers past 64 bits) are unsure: jansson
 * refuses some of them. */
#define REAL_DIGITS 30
static const char *scan_number(const char *p, const char *end, int64_t *ret)
{
        bool neg = p < end && *p == '-';
        const char *digits;
        uint64_t mag = 0, limit;
        bool big = false;

        if (neg)
                p++;
        digits = p;
        if (p >= end || *p < '0' || *p > '9')
                return NULL;
        if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
                return NULL;
        limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
                unsigned int d = (unsigned int)(*p - '0');

                if (mag > (limit - d) / 10)
                        big = true;
                else
                        mag = mag * 10 + d;
        }
        if (p < end && (*p == 'e' || *p == 'E'))
                return NULL;
        if (p < end && *p == '.') {
                if (ret || ++p >= end || *p < '0' || *p > '9')
                        return NULL;
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
                if ((p < end && (*p == 'e' || *p == 'E')) || p - digits > REAL_DIGITS + 1)
                        return NULL;
                return p;
        }
        if (big)
                return NULL;
        if (ret)
                *ret = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag)
                           : (int64_t)mag;
        return p;
}

static const char *literal(const char *p, const char *end, const char *word)
{
        size_t n = strlen(word);

        return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* One value at p (no leading blanks): the end past it, or NULL when unsure. */
static const char *scan_value(const char *p, const char *end, int depth)
{
        char close;

        if (p >= end)
                return NULL;
        switch (*p) {
        case '"':
                return scan_string(p, end);
        case 't':
                return literal(p, end, "true");
        case 'f':
                return literal(p, end, "false");
        case 'n':
                return literal(p, end, "null");
        case '{':
        case '[':
                break;
        default:
                return scan_number(p, end, NULL);
        }
        if (depth >= EVD_JSCAN_DEPTH)
                return NULL;
        close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
                return p + 1;
        for (;;) {
                if (close == '}') {
                        if (p >= end || *p != '"' || !(p = scan_string(p, end)))
                                return NULL;
                        p = skip_ws(p, end);
                        if (p >= end || *p != ':')
                                return NULL;
                        p = skip_ws(p + 1, end);
                }
                if (!(p = scan_value(p, end, depth + 1)))
                        return NULL;
                p = skip_ws(p, end);
                if (p < end && *p == close)
                        return p + 1;
                if (p >= end || *p != ',')
                        return NULL;
                p = skip_ws(p + 1, end);
        }
}

int evd_jscan_valid(const char *text, size_t n)
{
        const char *end = text + n, *p = skip_ws(text, end);

        if (p >= end || (*p != '{' && *p != '['))
                return UNSURE;
        p = scan_value(p, end, 0);
        return p && skip_ws(p, end) == end ? 0 : UNSURE;
}

#define NOT_WANTED (-2)

/* Which of keys key (a member's name without quotes) is: its index, or NOT_WANTED;
 * UNSURE when the name is written with escapes (it might be one). */
static int wanted(struct evd_jscan_span key, const char *const *keys, size_t n_keys)
{
        if (memchr(key.p, '\\', key.n))
                return UNSURE;
        for (size_t i = 0; i < n_keys; i++) /* key holds no NUL (a control byte) */
                if (key.n && keys[i][0] == key.p[0] && strncmp(keys[i], key.p, key.n) == 0 &&
                    keys[i][key.n] == '\0')
                        return (int)i;
        return NOT_WANTED;
}

int evd_jscan_valid_fields(const char *text, size_t n, const char *const *keys, size_t n_keys,
                           struct evd_jscan_span *vals)
{
        const char *end = text + n, *p = skip_ws(text, end), *k, *v;
        int i;

        for (size_t j = 0; j < n_keys; j++)
                vals[j] = (struct evd_jscan_span){ NULL, 0 };
        if (p >= end || *p != '{')
                return UNSURE;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}')
                return skip_ws(p + 1, end) == end ? 0 : UNSURE;
        for (;;) {
                if (p >= end || *p != '"' || !(p = scan_string(k = p, end)))
                        return UNSURE;
                i = wanted((struct evd_jscan_span){ k + 1, (size_t)(p - k - 2) }, keys, n_keys);
                if (i == UNSURE || (i >= 0 && vals[i].p))
                        return UNSURE; /* an escaped name, or one twice */
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                        return UNSURE;
                v = skip_ws(p + 1, end);
                if (!(p = scan_value(v, end, 1)))
                        return UNSURE;
                if (i >= 0)
                        vals[i] = (struct evd_jscan_span){ v, (size_t)(p - v) };
                p = skip_ws(p, end);
                if (p < end && *p == '}')
                        return skip_ws(p + 1, end) == end ? 0 : UNSURE;
                if (p >= end || *p != ',')
                        return UNSURE;
                p = skip_ws(p + 1, end);
        }
}

/* The members of a valid object, one at a time: key (without quotes) and value. *pp
 * starts past the '{'; 1 for a member, 0 at the end. */
static int next_member(const char **pp, const char *end, struct evd_jscan_span *key,
                       struct evd_jscan_span *val)
{
        const char *p = skip_ws(*pp, end), *k;

        if (p < end && *p == ',')
                p = skip_ws(p + 1, end);
        if (p >= end || *p != '"')
                return 0;
        k = p;
        p = skip_value(p, end);
        if (p - k < 2)
                return 0;
        *key = (struct evd_jscan_span){ k + 1, (size_t)(p - k - 2) };
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
                return 0;
        p = skip_ws(p + 1, end);
        val->p = p;
        p = skip_value(p, end);
        if (p <= val->p)
                return 0;
        val->n = (size_t)(p - val->p);
        *pp = p;
        return 1;
}

int evd_jscan_fields(struct evd_jscan_span obj, const char *const *keys, size_t n_keys,
                     struct evd_jscan_span *vals)
{
        const char *p, *end = obj.p + obj.n;
        struct evd_jscan_span k, v;

        for (size_t i = 0; i < n_keys; i++)
                vals[i] = (struct evd_jscan_span){ NULL, 0 };
        if (!evd_jscan_is_object(obj))
                return UNSURE;
        p = obj.p + 1;
        while (next_member(&p, end, &k, &v)) {
                int i = wanted(k, keys, n_keys);

                if (i == UNSURE || (i >= 0 && vals[i].p))
                        return UNSURE; /* an escaped name, or one twice */
                if (i >= 0)
                        vals[i] = v;
        }
        return 0;
}

bool evd_jscan_is_true(struct evd_jscan_span v)
{
        return v.p && v.n == 4 && memcmp(v.p, "true", 4) == 0;
}

bool evd_jscan_is_null(struct evd_jscan_span v)
{
        return v.p && v.n == 4 && memcmp(v.p, "null", 4) == 0;
}

bool evd_jscan_is_string(struct evd_jscan_span v)
{
        return v.p && v.n >= 2 && v.p[0] == '"';
}

bool evd_jscan_is_object(struct evd_jscan_span v)
{
        return v.p && v.n >= 2 && v.p[0] == '{';
}

int evd_jscan_int(struct evd_jscan_span v, int64_t *ret)
{
        const char *end;

        if (!v.p || v.n == 0 || (v.p[0] != '-' && (v.p[0] < '0' || v.p[0] > '9')))
                return -EINVAL;
        end = scan_number(v.p, v.p + v.n, ret);
        return end == v.p + v.n ? 0 : -EINVAL;
}

int evd_jscan_string(struct evd_jscan_span v, char *buf, size_t n)
{
        if (!evd_jscan_is_string(v))
                return -EINVAL;
        if (memchr(v.p, '\\', v.n) || v.n - 2 >= n)
                return UNSURE;
        memcpy(buf, v.p + 1, v.n - 2);
        buf[v.n - 2] = '\0';
        return 0;
}

struct out {
        char *p;
        size_t cap, len;
        bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
        if (o->full || o->cap - o->len < n) {
                o->full = true;
                return;
        }
        memcpy(o->p + o->len, s, n);
        o->len += n;
}

/* "\\uXXXX", upper-case as jansson writes it. */
static void put_u(struct out *o, uint32_t u)
{
        static const char hex[] = "0123456789ABCDEF";
        char seq[6] = {
                '\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15], hex[u & 15]
        };

        put(o, seq, sizeof(seq));
}

/* One code point as jansson writes it with JSON_ENSURE_ASCII. */
static void put_cp(struct out *o, uint32_t cp)
{
        static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
        const char *at;
        char c = (char)cp;

        if (cp < 0x80 && cp != 0 && (at = memchr(from, (int)cp, sizeof(from) - 1))) {
                put(o, "\\", 1);
                put(o, &to[at - from], 1);
                return;
        }
        if (cp >= 0x20 && cp < 0x80) {
                put(o, &c, 1);
                return;
        }
        if (cp < 0x10000) {
                put_u(o, cp);
        } else {
                put_u(o, 0xD800 + ((cp - 0x10000) >> 10));
                put_u(o, 0xDC00 + ((cp - 0x10000) & 0x3FF));
        }
}

static int put_string(struct out *o, struct evd_jscan_span s)
{
        const char *p = s.p + 1, *end = s.p + s.n - 1;
        uint32_t cp;

        put(o, "\"", 1);
        while (p < end) {
                unsigned char c = (unsigned char)*p;

                if (c == '\\') {
                        if (escape(&p, end, &cp) < 0)
                                return UNSURE;
                } else if (c >= 0x80) {
                        if (utf8(&p, end, &cp) < 0)
                                return UNSURE;
                } else {
                        cp = c;
                        p++;
                }
                put_cp(o, cp);
        }
        put(o, "\"", 1);
        return 0;
}

struct member {
        struct evd_jscan_span key, val;
};

static int key_cmp(const void *a, const void *b)
{
        const struct member *x = a, *y = b;
        int c = memcmp(x->key.p, y->key.p, x->key.n < y->key.n ? x->key.n : y->key.n);

        return c ? c : (x->key.n > y->key.n) - (x->key.n < y->key.n);
}

static int put_value(struct out *o, struct evd_jscan_span v, int depth);

static int put_object(struct out *o, struct evd_jscan_span v, int depth)
{
        struct member m[EVD_JSCAN_MEMBERS];
        const char *p = v.p + 1, *end = v.p + v.n;
        size_t n = 0;

        while (n < EVD_JSCAN_MEMBERS && next_member(&p, end, &m[n].key, &m[n].val)) {
                /* Keys sort as jansson sorts them (bytes) only when written plainly. */
                if (memchr(m[n].key.p, '\\', m[n].key.n))
                        return UNSURE;
                n++;
        }
        if (n == EVD_JSCAN_MEMBERS && *skip_ws(p, end) != '}')
                return UNSURE;
        if (n)
                qsort(m, n, sizeof(*m), key_cmp);
        put(o, "{", 1);
        for (size_t i = 0; i < n; i++) {
                if (i && key_cmp(&m[i - 1], &m[i]) == 0)
                        return UNSURE; /* jansson keeps the last */
                if (i)
                        put(o, ",", 1);
                if (put_string(o, (struct evd_jscan_span){ m[i].key.p - 1, m[i].key.n + 2 }) < 0 ||
                    (put(o, ":", 1), put_value(o, m[i].val, depth + 1)) < 0)
                        return UNSURE;
        }
        put(o, "}", 1);
        return 0;
}

static int put_array(struct out *o, struct evd_jscan_span v, int depth)
{
        const char *p = skip_ws(v.p + 1, v.p + v.n), *end = v.p + v.n, *q;
        bool first = true;

        put(o, "[", 1);
        while (p < end && *p != ']') {
                if (*p == ',')
                        p = skip_ws(p + 1, end);
                q = skip_value(p, end);
                if (q <= p)
                        return UNSURE;
                if (!first)
                        put(o, ",", 1);
                first = false;
                if (put_value(o, (struct evd_jscan_span){ p, (size_t)(q - p) }, depth + 1) < 0)
                        return UNSURE;
                p = skip_ws(q, end);
        }
        put(o, "]", 1);
        return 0;
}

static int put_value(struct out *o, struct evd_jscan_span v, int depth)
{
        char num[24];
        int64_t i;
        int n;

        if (depth >= EVD_JSCAN_DEPTH || v.n == 0)
                return UNSURE;
        switch (v.p[0]) {
        case '{':
                return put_object(o, v, depth);
        case '[':
                return put_array(o, v, depth);
        case '"':
                return put_string(o, v);
        case 't':
        case 'f':
        case 'n':
                put(o, v.p, v.n);
                return 0;
        default:
                if (evd_jscan_int(v, &i) < 0)
                        return UNSURE;
                n = snprintf(num, sizeof(num), "%lld", (long long)i);
                put(o, num, (size_t)n);
                return 0;
        }
}

int evd_jscan_canonical(struct evd_jscan_span v, char *out, size_t cap, size_t *ret_len)
{
        struct out o = { .p = out, .cap = cap };
        const char *end;

        if (!v.p)
                return UNSURE;
        end = scan_value(v.p, v.p + v.n, 0);
        if (end != v.p + v.n || put_value(&o, v, 0) < 0 || o.full)
                return UNSURE;
        *ret_len = o.len;
        return 0;
}
