#include "label.h"

#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <string.h>

#include "name.h"

int evd_label_check_text(const char *what, const char *text, size_t max, bool multiline,
                         struct evd_err *err)
{
        size_t len = strlen(text);

        if (len == 0)
                return evd_err_set(err, -EINVAL, "%s is empty", what);
        if (len > max)
                return evd_err_set(err, -EINVAL, "%s is longer than %zu bytes", what, max);
        if (!evd_name_is_utf8(text, len))
                return evd_err_set(err, -EINVAL, "%s is not valid UTF-8", what);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)text[i];

                if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f)
                        return evd_err_set(err, -EINVAL, "%s holds a control character", what);
        }
        return 0;
}

int evd_label_check_case(const struct evd_conf *conf, const char *case_no, struct evd_err *err)
{
        regex_t re;
        int r;

        r = evd_label_check_text("case number", case_no, EVD_LABEL_CASE_MAX, false, err);
        if (r < 0)
                return r;
        if (regcomp(&re, conf->case_pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return evd_err_set(err, -EINVAL, "case_pattern does not compile");
        r = regexec(&re, case_no, 0, NULL, 0);
        regfree(&re);
        if (r != 0)
                return evd_err_set(err, -EINVAL,
                                   "case number '%s' does not look like one (expected e.g. "
                                   "X罚〔2026〕17号; [labels] case_pattern)",
                                   case_no);
        return 0;
}

static bool is_space(uint32_t cp)
{
        return cp == ' ' || cp == '\t' || cp == 0x3000;
}

static bool is_open_bracket(uint32_t cp)
{
        static const uint32_t open[] = { '[', '(', 0xff08, 0x3010, 0xff3b, 0x3014, 0xfe5d, 0x3016 };

        for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
                if (cp == open[i])
                        return true;
        return false;
}

static bool is_close_bracket(uint32_t cp)
{
        static const uint32_t close[] = {
                ']', ')', 0xff09, 0x3011, 0xff3d, 0x3015, 0xfe5e, 0x3017
        };

        for (size_t i = 0; i < sizeof(close) / sizeof(close[0]); i++)
                if (cp == close[i])
                        return true;
        return false;
}

/* UTF-8 of cp into out[*len..outsz); false when it does not fit. */
static bool put_utf8(uint32_t cp, char *out, size_t outsz, size_t *len)
{
        unsigned char b[4];
        size_t n;

        if (cp < 0x80) {
                b[0] = (unsigned char)cp;
                n = 1;
        } else if (cp < 0x800) {
                b[0] = (unsigned char)(0xc0 | (cp >> 6));
                b[1] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                b[0] = (unsigned char)(0xe0 | (cp >> 12));
                b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                b[2] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                b[0] = (unsigned char)(0xf0 | (cp >> 18));
                b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                b[3] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        if (*len + n >= outsz)
                return false;
        memcpy(out + *len, b, n);
        *len += n;
        return true;
}

int evd_label_normalise_case(const struct evd_conf *conf, const char *case_no, char *out,
                             size_t outsz, struct evd_err *err)
{
        uint32_t cps[EVD_LABEL_CASE_MAX];
        size_t n = 0, len = strlen(case_no), first = 0, last, olen = 0;
        int r;

        r = evd_label_check_text("case number", case_no, EVD_LABEL_CASE_MAX, false, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < len;) { /* valid UTF-8: checked above */
                size_t k = evd_name_utf8_next((const unsigned char *)case_no + i, len - i, &cps[n]);

                if (cps[n] >= 0xff10 && cps[n] <= 0xff19) /* full-width digits */
                        cps[n] = '0' + (cps[n] - 0xff10);
                n++;
                i += k;
        }
        while (first < n && is_space(cps[first]))
                first++;
        last = n;
        while (last > first && is_space(cps[last - 1]))
                last--;
        for (size_t i = first; i + 5 < last; i++) {
                bool year = is_open_bracket(cps[i]) && is_close_bracket(cps[i + 5]);

                for (size_t d = 1; year && d <= 4; d++)
                        year = cps[i + d] >= '0' && cps[i + d] <= '9';
                if (year) {
                        cps[i] = 0x3014;     /* 〔 */
                        cps[i + 5] = 0x3015; /* 〕 */
                }
        }
        for (size_t i = first; i < last; i++)
                if (!put_utf8(cps[i], out, outsz, &olen))
                        return evd_err_set(err, -ENAMETOOLONG, "case number is too long");
        out[olen] = '\0';
        return evd_label_check_case(conf, out, err);
}
