/* disclose: 第二十九条 on access and export. Recordings are internal material: a
 * disclosure (--purpose disclosure) needs the approval of a head listed in [roles]
 * heads; an item marked 涉密 (secret) is copied or exported only with a security
 * approver listed in [roles] security. A disclosure disc's audit history leaves out the
 * access register and what concerns other cases.
 *
 * Every string in struct evd_disclose is borrowed from the request's arguments and
 * lives as long as they do. */
#ifndef EVD_DISCLOSE_H
#define EVD_DISCLOSE_H

#include <jansson.h>
#include <stdbool.h>

#include "conf.h"
#include "err.h"

#define EVD_PURPOSE_INTERNAL "internal"
#define EVD_PURPOSE_DISCLOSURE "disclosure"

struct evd_disclose {
        const char *purpose;           /* EVD_PURPOSE_INTERNAL or EVD_PURPOSE_DISCLOSURE */
        bool disclosure;               /* purpose is a disclosure */
        const char *security_approver; /* NULL when not given */
};

/* Read "purpose" (default internal) and "security_approver" from args into *ret, and
 * check that a disclosure's approver (borrowed) is one of conf's heads. -EINVAL for a
 * bad purpose, -EPERM for an approver not listed, with err saying which rule. what
 * ("access", "export") names the request in messages. */
int evd_disclose_parse(const json_t *args, const struct evd_conf *conf, const char *approver,
                       const char *what, struct evd_disclose *ret, struct evd_err *err);

/* A copy or export of item (borrowed) when it is marked secret needs d's security
 * approver, listed in conf's security: -EPERM otherwise, err naming the item. */
int evd_disclose_check_secret(const struct evd_disclose *d, const struct evd_conf *conf,
                              const json_t *item, const char *what, struct evd_err *err);

/* Whether a disclosure disc keeps the audit entry (borrowed) in its history: not an
 * access-register entry (item.accessed), not an entry naming a case outside cases (a
 * borrowed array of case numbers). */
bool evd_disclose_keeps(const json_t *entry, const json_t *cases);

#endif
