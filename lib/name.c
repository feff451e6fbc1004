#include "name.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

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

/* Code point ranges of East Asian Wide (W) and Fullwidth (F) characters, in order. */
static const struct {
        uint32_t lo, hi;
} wide[] = {
        { 0x1100, 0x115f },   { 0x2e80, 0x303e },   { 0x3041, 0x33ff },   { 0x3400, 0x4dbf },
        { 0x4e00, 0x9fff },   { 0xa000, 0xa4cf },   { 0xa960, 0xa97f },   { 0xac00, 0xd7a3 },
        { 0xf900, 0xfaff },   { 0xfe10, 0xfe19 },   { 0xfe30, 0xfe6f },   { 0xff00, 0xff60 },
        { 0xffe0, 0xffe6 },   { 0x1f300, 0x1f64f }, { 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd },
        { 0x30000, 0x3fffd },
};

static int cp_width(uint32_t cp)
{
        if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) ||
            (cp >= 0xfe00 && cp <= 0xfe0f))
                return 0;
        for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]) && cp >= wide[i].lo; i++)
                if (cp <= wide[i].hi)
                        return 2;
        return 1;
}

size_t evd_name_display_width(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t width = 0;

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = evd_name_utf8_next(p + i, len - i, &cp);

                if (n == 0) { /* an invalid byte */
                        width++;
                        i++;
                        continue;
                }
                width += (size_t)cp_width(cp);
                i += n;
        }
        return width;
}

/* The code points of s (at most max; an invalid byte counts as one), into cps. */
static size_t code_points(const char *s, uint32_t *cps, size_t max)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t len = strlen(s), n = 0;

        for (size_t i = 0; i < len && n < max;) {
                size_t k = evd_name_utf8_next(p + i, len - i, &cps[n]);

                if (k == 0) {
                        cps[n] = p[i];
                        k = 1;
                }
                i += k;
                n++;
        }
        return n;
}

size_t evd_name_distance(const char *a, const char *b)
{
        uint32_t ca[EVD_NAME_DISTANCE_MAX], cb[EVD_NAME_DISTANCE_MAX];
        size_t na = code_points(a, ca, EVD_NAME_DISTANCE_MAX);
        size_t nb = code_points(b, cb, EVD_NAME_DISTANCE_MAX);
        size_t row[EVD_NAME_DISTANCE_MAX + 1];

        for (size_t j = 0; j <= nb; j++)
                row[j] = j;
        for (size_t i = 1; i <= na; i++) {
                size_t diag = row[0];

                row[0] = i;
                for (size_t j = 1; j <= nb; j++) {
                        size_t up = row[j], best = diag + (ca[i - 1] != cb[j - 1]);

                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        diag = up;
                        row[j] = best;
                }
        }
        return row[nb];
}

bool evd_name_is_near(const char *typed, const char *known)
{
        uint32_t cps[EVD_NAME_DISTANCE_MAX];
        size_t n = code_points(typed, cps, EVD_NAME_DISTANCE_MAX);
        size_t d = evd_name_distance(typed, known);

        if (d == 0)
                return false;
        /* a different case is a slip; one slip in a short word, two in a longer one */
        return strcasecmp(typed, known) == 0 || d <= (n > 6 ? 2u : 1u);
}
