/* s3xml: a bounded scanner for the fields of S3 XML replies (see s3xml.h). */
#include "s3xml.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static bool is_name_end(char c)
{
        return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* At xml[i] == '<': does a start tag (close == false) or end tag of name begin here?
 * A namespace prefix ("s3:Code") is skipped. On a match, *ret_after is the index just
 * past the tag's name. */
static bool tag_at(const char *xml, size_t len, size_t i, const char *name, bool close,
                   size_t *ret_after)
{
        size_t nlen = strlen(name), p = i + 1;

        if (close) {
                if (p >= len || xml[p] != '/')
                        return false;
                p++;
        } else if (p < len && (xml[p] == '/' || xml[p] == '?' || xml[p] == '!')) {
                return false;
        }
        /* an optional prefix up to a ':' before the first name end */
        for (size_t q = p; q < len && !is_name_end(xml[q]) && q - p < 64; q++) {
                if (xml[q] == ':') {
                        p = q + 1;
                        break;
                }
        }
        if (len - p <= nlen || memcmp(xml + p, name, nlen) != 0 || !is_name_end(xml[p + nlen]))
                return false;
        *ret_after = p + nlen;
        return true;
}

/* The index of the '>' that ends the tag whose name ended at i, or len. */
static size_t tag_end(const char *xml, size_t len, size_t i)
{
        char quote = 0;

        for (; i < len; i++) {
                if (quote) {
                        if (xml[i] == quote)
                                quote = 0;
                } else if (xml[i] == '"' || xml[i] == '\'') {
                        quote = xml[i];
                } else if (xml[i] == '>') {
                        return i;
                }
        }
        return len;
}

bool evd_s3xml_next(const char *xml, size_t len, size_t *pos, const char *name,
                    const char **ret_inner, size_t *ret_inner_len)
{
        size_t i = *pos, after, gt;

        if (!xml || !name || !*name)
                return false;
        for (; i < len; i++) {
                if (xml[i] == '<' && tag_at(xml, len, i, name, false, &after))
                        break;
        }
        if (i >= len)
                return false;
        gt = tag_end(xml, len, after);
        if (gt >= len)
                return false;
        if (xml[gt - 1] == '/') { /* <name/> */
                *ret_inner = xml + gt + 1;
                *ret_inner_len = 0;
                *pos = gt + 1;
                return true;
        }
        size_t start = gt + 1, depth = 1;

        for (size_t j = start; j < len; j++) {
                if (xml[j] != '<')
                        continue;
                if (tag_at(xml, len, j, name, true, &after)) {
                        size_t end = tag_end(xml, len, after);

                        if (end >= len)
                                return false;
                        if (--depth == 0) {
                                *ret_inner = xml + start;
                                *ret_inner_len = j - start;
                                *pos = end + 1;
                                return true;
                        }
                        j = end;
                } else if (tag_at(xml, len, j, name, false, &after)) {
                        size_t end = tag_end(xml, len, after);

                        if (end >= len)
                                return false;
                        if (xml[end - 1] != '/')
                                depth++;
                        j = end;
                }
        }
        return false;
}

/* Append code point cp as UTF-8 to out at *o (n bytes, room for the NUL kept). */
static int put_utf8(uint32_t cp, char *out, size_t n, size_t *o)
{
        char b[4];
        size_t k;

        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return -EINVAL;
        if (cp < 0x80) {
                b[0] = (char)cp;
                k = 1;
        } else if (cp < 0x800) {
                b[0] = (char)(0xC0 | (cp >> 6));
                b[1] = (char)(0x80 | (cp & 0x3F));
                k = 2;
        } else if (cp < 0x10000) {
                b[0] = (char)(0xE0 | (cp >> 12));
                b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[2] = (char)(0x80 | (cp & 0x3F));
                k = 3;
        } else {
                b[0] = (char)(0xF0 | (cp >> 18));
                b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[3] = (char)(0x80 | (cp & 0x3F));
                k = 4;
        }
        if (n - *o <= k)
                return -ENAMETOOLONG;
        memcpy(out + *o, b, k);
        *o += k;
        return 0;
}

/* Decode the reference starting at s[0] == '&' (at most len bytes); *ret_used bytes. */
static int decode_ref(const char *s, size_t len, char *out, size_t n, size_t *o, size_t *ret_used)
{
        static const struct {
                const char *name;
                char c;
        } named[] = {
                { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' }
        };

        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
                size_t l = strlen(named[k].name);

                if (len > l && memcmp(s + 1, named[k].name, l) == 0) {
                        *ret_used = l + 1;
                        return put_utf8((uint8_t)named[k].c, out, n, o);
                }
        }
        if (len < 4 || s[1] != '#')
                return -EINVAL;
        bool hex = s[2] == 'x' || s[2] == 'X';
        size_t i = hex ? 3 : 2, digits = 0;
        uint32_t cp = 0;

        for (; i < len && s[i] != ';'; i++, digits++) {
                char c = s[i];
                uint32_t v;

                if (c >= '0' && c <= '9')
                        v = (uint32_t)(c - '0');
                else if (hex && c >= 'a' && c <= 'f')
                        v = (uint32_t)(c - 'a' + 10);
                else if (hex && c >= 'A' && c <= 'F')
                        v = (uint32_t)(c - 'A' + 10);
                else
                        return -EINVAL;
                if (digits >= 8)
                        return -EINVAL;
                cp = cp * (hex ? 16 : 10) + v;
        }
        if (i >= len || digits == 0)
                return -EINVAL;
        *ret_used = i + 1;
        return put_utf8(cp, out, n, o);
}

int evd_s3xml_text(const char *xml, size_t len, const char *name, char *out, size_t n)
{
        const char *inner;
        size_t inner_len, pos = 0, o = 0;

        if (n == 0)
                return -ENAMETOOLONG;
        out[0] = '\0';
        if (!evd_s3xml_next(xml, len, &pos, name, &inner, &inner_len))
                return -ENOENT;
        for (size_t i = 0; i < inner_len;) {
                char c = inner[i];

                if (c == '<') {
                        out[o] = '\0';
                        return -EINVAL;
                }
                if (c == '&') {
                        size_t used;
                        int r = decode_ref(inner + i, inner_len - i, out, n, &o, &used);

                        if (r < 0) {
                                out[o] = '\0';
                                return r;
                        }
                        i += used;
                        continue;
                }
                if (n - o <= 1) {
                        out[o] = '\0';
                        return -ENAMETOOLONG;
                }
                out[o++] = c;
                i++;
        }
        out[o] = '\0';
        return 0;
}

int evd_s3xml_escape(const char *text, char *out, size_t n)
{
        size_t o = 0;

        if (n == 0)
                return -ENAMETOOLONG;
        for (const char *p = text; *p; p++) {
                const char *rep = NULL;

                switch (*p) {
                case '&':
                        rep = "&amp;";
                        break;
                case '<':
                        rep = "&lt;";
                        break;
                case '>':
                        rep = "&gt;";
                        break;
                case '"':
                        rep = "&quot;";
                        break;
                case '\'':
                        rep = "&apos;";
                        break;
                default:
                        break;
                }
                size_t l = rep ? strlen(rep) : 1;

                if (n - o <= l) {
                        out[o] = '\0';
                        return -ENAMETOOLONG;
                }
                if (rep)
                        memcpy(out + o, rep, l);
                else
                        out[o] = *p;
                o += l;
        }
        out[o] = '\0';
        return 0;
}
