/* disclose: who may approve a disclosure or a copy of a secret item (第二十九条), and
 * what a disclosure disc's audit history keeps. */
#include "disclose.h"

#include <errno.h>
#include <string.h>

#include "args.h"
#include "label.h"

int evd_disclose_parse(const json_t *args, const struct evd_conf *conf, const char *approver,
                       const char *what, struct evd_disclose *ret, struct evd_err *err)
{
        struct evd_disclose d = { .purpose = EVD_PURPOSE_INTERNAL };
        int r;

        if ((r = evd_arg_string(args, "purpose", false, &d.purpose, err)) < 0 ||
            (r = evd_arg_string(args, "security_approver", false, &d.security_approver, err)) < 0)
                return r;
        if (!d.purpose)
                d.purpose = EVD_PURPOSE_INTERNAL;
        if (strcmp(d.purpose, EVD_PURPOSE_INTERNAL) != 0 &&
            strcmp(d.purpose, EVD_PURPOSE_DISCLOSURE) != 0)
                return evd_err_set(err, -EINVAL,
                                   "--purpose '%.40s' is neither internal nor disclosure",
                                   d.purpose);
        if (d.security_approver &&
            (r = evd_label_check_text("security approver", d.security_approver, 128, false, err)) <
                    0)
                return r;
        d.disclosure = strcmp(d.purpose, EVD_PURPOSE_DISCLOSURE) == 0;
        if (d.disclosure && conf->n_heads == 0)
                return evd_err_set(err, -EPERM,
                                   "%s refused (第二十九条): a disclosure needs the approval of a "
                                   "head, and [roles] heads lists nobody",
                                   what);
        if (d.disclosure && !evd_conf_listed(conf->heads, conf->n_heads, approver))
                return evd_err_set(err, -EPERM,
                                   "%s refused (第二十九条): a disclosure needs the approval of a "
                                   "head; approver %s is not listed in [roles] heads",
                                   what, approver);
        *ret = d;
        return 0;
}

int evd_disclose_check_secret(const struct evd_disclose *d, const struct evd_conf *conf,
                              const json_t *item, const char *what, struct evd_err *err)
{
        long long id = (long long)json_integer_value(json_object_get(item, "id"));

        if (!json_is_true(json_object_get(item, "secret")))
                return 0;
        if (!d->security_approver)
                return evd_err_set(err, -EPERM,
                                   "%s refused (第二十九条, 涉密): item %lld is marked secret; it "
                                   "needs --security-approver, one listed in [roles] security",
                                   what, id);
        if (!evd_conf_listed(conf->security, conf->n_security, d->security_approver))
                return evd_err_set(err, -EPERM,
                                   "%s refused (第二十九条, 涉密): item %lld is marked secret and "
                                   "security approver %s is not listed in [roles] security",
                                   what, id, d->security_approver);
        return 0;
}

static bool case_in(const char *c, const json_t *cases)
{
        size_t i;
        json_t *v;

        json_array_foreach(cases, i, v)
        {
                if (json_is_string(v) && strcmp(json_string_value(v), c) == 0)
                        return true;
        }
        return false;
}

/* A case number named by o (borrowed) under one of the keys cases are kept under, and
 * not in cases. */
static bool names_other_case(const json_t *o, const json_t *cases)
{
        static const char *const keys[] = { "case_no", "case" };

        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                const char *c = json_string_value(json_object_get(o, keys[k]));

                if (c && c[0] && !case_in(c, cases))
                        return true;
        }
        return false;
}

bool evd_disclose_keeps(const json_t *entry, const json_t *cases)
{
        const json_t *d = json_object_get(entry, "details");
        const char *ev = json_string_value(json_object_get(entry, "event")) ?: "";

        if (strcmp(ev, "item.accessed") == 0)
                return false;
        /* A label's old and new values, evidence in a case, anything else naming one. */
        return !names_other_case(d, cases) && !names_other_case(json_object_get(d, "old"), cases) &&
               !names_other_case(json_object_get(d, "new"), cases) &&
               !names_other_case(json_object_get(d, "labels"), cases);
}
