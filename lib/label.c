#include "label.h"

#include <errno.h>
#include <regex.h>
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
