/* log: messages on stderr with "<N>" syslog priority prefixes, which journald reads.
 *
 * Only the daemon and the client log; library code returns errors instead. */
#ifndef EVD_LOG_H
#define EVD_LOG_H

#include <syslog.h>

/* Messages above this priority (e.g. LOG_DEBUG when it is LOG_INFO) are dropped. */
void evd_log_set_max(int priority);

void evd_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define evd_log_err(...) evd_log(LOG_ERR, __VA_ARGS__)
#define evd_log_warning(...) evd_log(LOG_WARNING, __VA_ARGS__)
#define evd_log_notice(...) evd_log(LOG_NOTICE, __VA_ARGS__)
#define evd_log_info(...) evd_log(LOG_INFO, __VA_ARGS__)
#define evd_log_debug(...) evd_log(LOG_DEBUG, __VA_ARGS__)

#endif
