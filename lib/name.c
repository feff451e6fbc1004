#include "name.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

size_t evd_name_utf8_next(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
        uint32_t cp;
        size_t n;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return s[0] ? 1 : 0;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

bool evd_name_is_utf8(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        uint32_t cp;

        while (i < len) {
                size_t n = evd_name_utf8_next(p + i, len - i, &cp);

                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

int evd_name_escape(const char *s, size_t len, char *out, size_t outsz)
{
        static const char digits[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0, o = 0;
        uint32_t cp;

        if (outsz < 4) {
                if (outsz > 0)
                        out[0] = '\0';
                return len == 0 ? 0 : -ENAMETOOLONG;
        }
        while (i < len) {
                char piece[8];
                size_t plen, n = evd_name_utf8_next(p + i, len - i, &cp);

                if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
                        unsigned char c = p[i];

                        piece[0] = '\\';
                        if (c == '\n' || c == '\r' || c == '\t') {
                                piece[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                                plen = 2;
                        } else if (n == 2) {
                                /* A C1 control: escape both of its bytes. */
                                piece[1] = 'x';
                                piece[2] = digits[c >> 4];
                                piece[3] = digits[c & 0xf];
                                piece[4] = '\\';
                                piece[5] = 'x';
                                piece[6] = digits[p[i + 1] >> 4];
                                piece[7] = digits[p[i + 1] & 0xf];
                                plen = 8;
                                i++;
                        } else {
                                piece[1] = 'x';
                                piece[2] = digits[c >> 4];
                                piece[3] = digits[c & 0xf];
                                plen = 4;
                        }
                        i++;
                } else if (cp == '\\') {
                        piece[0] = piece[1] = '\\';
                        plen = 2;
                        i++;
                } else {
                        memcpy(piece, p + i, n);
                        plen = n;
                        i += n;
                }
                if (o + plen + 1 > outsz) {
                        memcpy(out + (o > outsz - 4 ? outsz - 4 : o), "...", 4);
                        return -ENAMETOOLONG;
                }
                memcpy(out + o, piece, plen);
                o += plen;
        }
        out[o] = '\0';
        return (int)o;
}
