/* clock.h - the two time questions the daemon asks everywhere: how long did this take
 * (monotonic milliseconds, immune to the wall clock being set), and when does a
 * pthread_cond_timedwait that should wait N ms from now give up (an absolute timespec on the
 * clock the condition variable uses). */
#ifndef MIGRATED_CLOCK_H
#define MIGRATED_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* md_clock_mono_ms: CLOCK_MONOTONIC in milliseconds (fractional). */
double md_clock_mono_ms(void);
/* md_clock_deadline: now on clock plus ms (>= 0), normalised, into *ret. */
void md_clock_deadline(clockid_t clock, int64_t ms, struct timespec *ret);
/* md_clock_cond_init: a condition variable whose timed waits count on CLOCK_MONOTONIC, so
 * setting the wall clock neither shortens nor stretches a timeout; wait with a deadline from
 * md_clock_deadline(CLOCK_MONOTONIC, ...). Returns pthread_cond_init's result. */
int md_clock_cond_init(pthread_cond_t *cond);

#endif
