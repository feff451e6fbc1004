/* label: what a clerk may write on an item (case number 案号, party 当事人, handler
 * 承办人) and what marking it as held or as evidence does, checked before it is
 * stored. Labels are catalogue data: originals are never touched. */
#ifndef EVD_LABEL_H
#define EVD_LABEL_H

#include <jansson.h>
#include <stdbool.h>

#include "conf.h"
#include "err.h"

#define EVD_LABEL_CASE_MAX 256  /* bytes */
#define EVD_LABEL_PARTY_MAX 256 /* bytes */
#define EVD_LABEL_TEXT_MAX 2000 /* bytes in a note or a reason */

/* A case number: non-empty, at most EVD_LABEL_CASE_MAX bytes, matching conf's
 * case_pattern. -EINVAL with a reason otherwise. */
int evd_label_check_case(const struct evd_conf *conf, const char *case_no, struct evd_err *err);

/* The canonical spelling of a case number typed in any of the ways people type it, into
 * out (outsz bytes, NUL-terminated): spaces (ASCII and ideographic) around it dropped,
 * full-width digits made ASCII, and the brackets around the year, whichever of [] ()
 * （） 【】 ［］ 〖〗 ﹝﹞ 〔〕 they are, written 〔〕 as official documents write them;
 * so 硚人社罚[2026]17号 and 硚人社罚〔２０２６〕17号 are one case. Then checked as
 * evd_label_check_case does. -EINVAL with a reason, -ENAMETOOLONG when out is short. */
int evd_label_normalise_case(const struct evd_conf *conf, const char *case_no, char *out,
                             size_t outsz, struct evd_err *err);

/* Free text (what names a field in messages): 1 to max bytes of UTF-8 without control
 * characters (newline and tab allowed when multiline). */
int evd_label_check_text(const char *what, const char *text, size_t max, bool multiline,
                         struct evd_err *err);

#endif
