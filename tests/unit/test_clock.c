/* test_clock - unit tests for util/clock: units and monotonicity. */

#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "testutil.h"

/* test_clock_real - milliseconds since the epoch, agreeing with time() */
static void
test_clock_real(void **state)
{
    long long before = (long long) time(NULL) * 1000;
    long long ms = clock_real_ms();
    long long after = (long long) time(NULL) * 1000 + 1000;

    (void) state;
    assert_true(ms >= before && ms < after);
}

/* test_clock_mono - never goes back; measures a sleep in milliseconds */
static void
test_clock_mono(void **state)
{
    long long a, b, last;
    int     i;

    (void) state;
    last = clock_mono_ms();
    for (i = 0; i < 10000; i++) {
        long long now = clock_mono_ms();

        assert_true(now >= last);
        last = now;
    }
    a = clock_mono_ms();
    assert_int_equal(usleep(50 * 1000), 0);
    b = clock_mono_ms();
    assert_true(b - a >= 50);
    assert_true(b - a < 5000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_real),
        cmocka_unit_test(test_clock_mono),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
