/*
 * NAME
 *     clock - milliseconds from the monotonic and the wall clock
 * SYNOPSIS
 *     #include "util/clock.h"
 *
 *     deadline = clock_mono_ms() + timeout;
 *     stamp = clock_real_ms();
 * DESCRIPTION
 *     clock_mono_ms() reads CLOCK_MONOTONIC: for timers, deadlines and
 *     intervals, which must not jump with the wall clock.
 *     clock_real_ms() reads CLOCK_REALTIME: milliseconds since the Unix
 *     epoch, for what is stored or shown to people.
 * RULES
 *     Both are safe in any thread. They never fail on Linux; a failure
 *     would be a broken system and is fatal.
 */
#ifndef DOPPEL_UTIL_CLOCK_H
#define DOPPEL_UTIL_CLOCK_H

long long clock_mono_ms(void);
long long clock_real_ms(void);

#endif
