/* policy: how long items are kept and by when they must be stored.
 *
 * Retention uses calendar months in the station's local time (the process TZ):
 * Jan 31 + 3 months = Apr 30; Feb 29 + 12 months = Feb 28. */
#ifndef EVD_POLICY_H
#define EVD_POLICY_H

#include <stdint.h>

#include "conf.h"

/* t + period, as local calendar arithmetic (months first, the day clamped to the
 * month's end, then days). -EINVAL for a permanent period (no end). */
int evd_policy_add_period(int64_t t, const struct evd_period *period, int64_t *ret);

#include <jansson.h>

/* Bring item's retain_until up to what conf's retention classes require for it:
 * from its ingested_at, the longest of default, case (when it has a case number) and
 * evidence (when marked); JSON null when any of them is permanent. Never moves it
 * earlier (invariant 4). Returns 1 when it changed, 0 when not, -EINVAL on a broken
 * item. */
int evd_policy_update_retention(json_t *item, const struct evd_conf *conf);

/* Whether item may be purged at now: NULL when it may, else why not ("held",
 * "marked as evidence", "kept permanently", "kept until ... (with grace)", "purged
 * already"), written into buf (n bytes). */
const char *evd_policy_purge_blocker(const json_t *item, const struct evd_conf *conf, int64_t now,
                                     char *buf, size_t n);

#endif
