/* clock - milliseconds from the monotonic and the wall clock; see clock.h. */

#include <time.h>

#include "util/clock.h"
#include "util/log.h"

/* clock_ms - one clock in milliseconds */
static long long
clock_ms(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) < 0)
        log_panic("clock_gettime: %m");
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* clock_mono_ms - CLOCK_MONOTONIC in milliseconds */
long long
clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* clock_real_ms - milliseconds since the epoch */
long long
clock_real_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}
