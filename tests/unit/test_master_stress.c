/* test_master_stress - unit tests for master/master_stress and the spawn back-off. */

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_spawn.h"
#include "master/master_stress.h"
#include "testutil.h"

#define T0 1000000                     /* monotonic ms */
#define W0 1700000000000LL             /* wall ms */

struct fixture {
    struct scoreboard *sb;
    struct service_def def;
    struct params p;
    struct master_service svc;
};

/* setup - a limit-10 auto service, ratio 0.5, delay 2s */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    testutil_log_start();
    f->sb = scoreboard_create();
    f->def.listen = "127.0.0.1:25";
    f->p.master_stress_clear_ratio = 0.5;
    f->p.master_stress_clear_delay = 2000;
    f->svc.def = &f->def;
    f->svc.p = &f->p;
    f->svc.slot = 4;
    assert_int_equal(scoreboard_service_setup(f->sb, 4, f->def.listen, 10, 0,
                                              SERVICE_FORCE_AUTO, W0), 0);
    *state = f;
    return 0;
}

/* teardown */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    scoreboard_detach(f->sb);
    free(f);
    testutil_log_stop();
    return 0;
}

/* open_n / close_n - sessions as a worker would count them */
static void
open_n(struct fixture *f, int n)
{
    while (n-- > 0)
        scoreboard_session_open(f->sb, 4, 0, 0, 0);
}

static void
close_n(struct fixture *f, int n)
{
    while (n-- > 0)
        scoreboard_session_close(f->sb, 4, 0, 0, 0);
}

/* test_raise_and_clear - raise at the limit, clear only after the delay */
static void
test_raise_and_clear(void **state)
{
    struct fixture *f = *state;

    open_n(f, 9);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0, W0), 0);
    open_n(f, 1);                      /* the worker raised */
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 1);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 50, W0 + 50), 1);
    assert_true(testutil_logged("warning: service 127.0.0.1:25: all 10 client"
                                " slots busy; stress on"));
    /* logged once */
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 100, W0), 0);
    close_n(f, 5);                     /* 5 = ratio * limit: low */
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 150, W0), 0);
    /* the peak of 10 was taken at the last tick; now it is low */
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 200, W0), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 2100, W0), 0);
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 1);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 2200, W0 + 2200),
                     -1);
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 0);
    assert_true(testutil_logged("stress off"));
}

/* test_burst_restarts_delay - a burst between ticks restarts the delay */
static void
test_burst_restarts_delay(void **state)
{
    struct fixture *f = *state;

    open_n(f, 10);
    master_stress_update(f->sb, &f->svc, T0, W0);
    close_n(f, 10);
    master_stress_update(f->sb, &f->svc, T0 + 50, W0);  /* peak 10 */
    master_stress_update(f->sb, &f->svc, T0 + 100, W0); /* low from here */
    open_n(f, 8);                      /* a burst above the ratio ... */
    close_n(f, 8);                     /* ... gone before the next tick */
    /* the tick at 1000 sees the peak: the delay starts again at 2500 */
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 1000, W0), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 2500, W0), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 4400, W0), 0);
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 1);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 4500, W0), -1);
}

/* test_master_raises - the master raises when no worker did */
static void
test_master_raises(void **state)
{
    struct fixture *f = *state;
    struct scoreboard_view v;

    /* a worker that did not raise: count, then force the flag off */
    assert_int_equal(scoreboard_service_setup(f->sb, 5, "b", 2, 0,
                                              SERVICE_FORCE_AUTO, W0), 0);
    f->svc.slot = 5;
    f->def.listen = "b";
    scoreboard_session_open(f->sb, 5, 0, 0, 0);
    scoreboard_session_open(f->sb, 5, 0, 0, 0);
    scoreboard_stress_set(f->sb, 5, 0, SCOREBOARD_REASON_START, W0);
    assert_int_equal(scoreboard_stress_get(f->sb, 5), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0, W0), 1);
    assert_int_equal(scoreboard_service_read(f->sb, 5, &v), 0);
    assert_int_equal(v.stress, 1);
    assert_int_equal(v.reason, SCOREBOARD_REASON_FULL);
}

/* test_forced - -p stress never clears, -p normal never raises */
static void
test_forced(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(scoreboard_service_setup(f->sb, 4, f->def.listen, 10, 0,
                                              SERVICE_FORCE_STRESS, W0), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0, W0), 0);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0 + 60000, W0), 0);
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 1);
    assert_int_equal(scoreboard_service_setup(f->sb, 4, f->def.listen, 10, 0,
                                              SERVICE_FORCE_NORMAL, W0), 0);
    open_n(f, 12);
    assert_int_equal(master_stress_update(f->sb, &f->svc, T0, W0), 0);
    assert_int_equal(scoreboard_stress_get(f->sb, 4), 0);
}

/* test_backoff - doubles from the minimum, capped */
static void
test_backoff(void **state)
{
    (void) state;
    assert_int_equal(master_spawn_backoff_ms(0), MASTER_BACKOFF_MIN_MS);
    assert_int_equal(master_spawn_backoff_ms(1), MASTER_BACKOFF_MIN_MS);
    assert_int_equal(master_spawn_backoff_ms(2), 2 * MASTER_BACKOFF_MIN_MS);
    assert_int_equal(master_spawn_backoff_ms(4), 8 * MASTER_BACKOFF_MIN_MS);
    assert_int_equal(master_spawn_backoff_ms(30), MASTER_BACKOFF_MAX_MS);
    assert_int_equal(master_spawn_backoff_ms(~0u), MASTER_BACKOFF_MAX_MS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raise_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_restarts_delay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_master_raises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forced, setup, teardown),
        cmocka_unit_test(test_backoff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
