/* clock: the station's one source of wall-clock time.
 *
 * Every time the station records comes from here, so that tests can shift it. */
#ifndef EVD_CLOCK_H
#define EVD_CLOCK_H

#include <stdint.h>

/* Seconds since the epoch (UTC). */
int64_t evd_clock_now(void);

/* Monotonic nanoseconds, for rates and timeouts. */
uint64_t evd_clock_mono_ns(void);

#endif
