/* test_scoreboard - unit tests for global/scoreboard: layout, counts, stress, races. */

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/dstr.h"
#include "conf/services.h"
#include "global/scoreboard.h"
#include "testutil.h"

#define TEST_CHILDREN 8
#define TEST_PER_CHILD 20000
#define TEST_NOW 1700000000000LL

/* test_attach_copy - attach through a dup of the master's fd */
static struct scoreboard *
test_attach_copy(struct scoreboard *sb)
{
    struct dstr *why = dstr_new(64, 1024);
    struct scoreboard *w = scoreboard_attach(dup(scoreboard_fd(sb)), why);

    assert_non_null(w);
    assert_int_equal(why->len, 0);
    dstr_free(why);
    return w;
}

/* test_sb_attach - a created board attaches; the same memory is seen */
static void
test_sb_attach(void **state)
{
    struct scoreboard *sb = scoreboard_create(), *w;
    struct scoreboard_view v;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 3, "127.0.0.1:25", 10, 2,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    scoreboard_generation_set(sb, 7);
    w = test_attach_copy(sb);
    assert_int_equal(scoreboard_generation(w), 7);
    assert_int_equal(scoreboard_limit(w, 3), 10);
    assert_int_equal(scoreboard_session_open(w, 3, 0, 0, 0), 1);
    assert_int_equal(scoreboard_open(sb, 3), 1);
    assert_int_equal(scoreboard_service_read(sb, 3, &v), 0);
    assert_string_equal(v.listen, "127.0.0.1:25");
    assert_int_equal(v.threshold, 8);
    assert_int_equal(v.stress, 0);
    assert_int_equal(v.reason, SCOREBOARD_REASON_START);
    assert_int_equal(v.since_ms, TEST_NOW);
    assert_int_equal(scoreboard_service_find(sb, "127.0.0.1:25"), 3);
    assert_int_equal(scoreboard_service_find(sb, "127.0.0.1:26"), -1);
    w = scoreboard_detach(w);
    assert_null(w);
    sb = scoreboard_detach(sb);
}

/* test_sb_attach_refused - wrong size, wrong magic, not a file */
static void
test_sb_attach_refused(void **state)
{
    struct dstr *why = dstr_new(64, 1024);
    struct scoreboard *sb = scoreboard_create();
    uint32_t *magic;
    int     fd, p[2];

    (void) state;
    /* a memfd of the wrong size */
    fd = memfd_create("junk", 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_null(scoreboard_attach(fd, why));
    assert_non_null(strstr(why->data, "size 4096"));
    close(fd);

    /* the right size with a bad magic */
    magic = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                 scoreboard_fd(sb), 0);
    assert_true(magic != MAP_FAILED);
    *magic = 0x12345678;
    dstr_reset(why);
    fd = dup(scoreboard_fd(sb));
    assert_null(scoreboard_attach(fd, why));
    assert_non_null(strstr(why->data, "not a version 1 scoreboard"));
    close(fd);
    *magic = SCOREBOARD_MAGIC;
    ((uint32_t *) magic)[1] = SCOREBOARD_VERSION + 1;
    dstr_reset(why);
    fd = dup(scoreboard_fd(sb));
    assert_null(scoreboard_attach(fd, why));
    close(fd);
    ((uint32_t *) magic)[1] = SCOREBOARD_VERSION;
    munmap(magic, 4096);

    /* a pipe */
    assert_int_equal(pipe(p), 0);
    dstr_reset(why);
    assert_null(scoreboard_attach(p[0], why));
    close(p[0]);
    close(p[1]);

    /* a closed fd */
    dstr_reset(why);
    assert_null(scoreboard_attach(1000, why));
    assert_true(why->len > 0);
    dstr_free(why);
    sb = scoreboard_detach(sb);
}

/* test_sb_counts - by personality and class; bad slots are ignored */
static void
test_sb_counts(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    struct scoreboard_view v;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 0, "a", 100, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    assert_int_equal(scoreboard_worker_start(sb, 5, 1234, 0, 1), 0);
    scoreboard_session_open(sb, 0, 5, 0, 0);
    scoreboard_session_open(sb, 0, 5, 1, 2);
    scoreboard_session_open(sb, 0, 5, 1, 99);  /* "other" class slot */
    scoreboard_session_move(sb, 0, 5, 0, 1, 0, 0);
    scoreboard_session_close(sb, 0, 5, 1, 2);
    scoreboard_count(sb, 0, SCOREBOARD_MESSAGES);
    scoreboard_count(sb, 0, SCOREBOARD_MESSAGES);
    scoreboard_count(sb, 0, SCOREBOARD_COUNTERS);       /* ignored */
    assert_int_equal(scoreboard_session_open(sb, SCOREBOARD_SERVICES_MAX, 0,
                                             0, 0), 0);
    scoreboard_session_close(sb, SCOREBOARD_SERVICES_MAX, 0, 0, 0);
    scoreboard_count(sb, SCOREBOARD_SERVICES_MAX, SCOREBOARD_FULL);
    assert_int_equal(scoreboard_service_read(sb, 0, &v), 0);
    assert_int_equal(v.open, 2);
    assert_int_equal(v.by_stress[0], 0);
    assert_int_equal(v.by_stress[1], 2);
    assert_int_equal(v.by_class[0], 1);
    assert_int_equal(v.by_class[2], 0);
    assert_int_equal(v.by_class[SCOREBOARD_CLASSES - 1], 1);
    assert_int_equal(v.counters[SCOREBOARD_MESSAGES], 2);
    assert_int_equal(scoreboard_worker_sessions(sb, 5), 2);
    assert_int_equal(scoreboard_service_read(sb, SCOREBOARD_SERVICES_MAX, &v),
                     -1);
    assert_string_equal(scoreboard_counter_name(SCOREBOARD_FULL), "full");
    assert_string_equal(scoreboard_reason_name(SCOREBOARD_REASON_CLEARED),
                        "cleared");
    assert_string_equal(scoreboard_reason_name(99), "unknown");
    sb = scoreboard_detach(sb);
}

/* test_sb_classes - names to slots and back; "default" is slot 0 */
static void
test_sb_classes(void **state)
{
    char   *few[] = {"preferred", "default", "known"};
    char   *many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};

    (void) state;
    assert_int_equal(scoreboard_class_slot(few, 3, "default"), 0);
    assert_int_equal(scoreboard_class_slot(few, 3, "preferred"), 1);
    assert_int_equal(scoreboard_class_slot(few, 3, "known"), 2);
    assert_int_equal(scoreboard_class_slot(few, 3, "nosuch"), 0);
    assert_int_equal(scoreboard_class_slot(few, 3, NULL), 0);
    assert_string_equal(scoreboard_class_name(few, 3, 0), "default");
    assert_string_equal(scoreboard_class_name(few, 3, 2), "known");
    assert_null(scoreboard_class_name(few, 3, 3));
    assert_int_equal(scoreboard_class_slot(many, 9, "f"), 6);
    assert_int_equal(scoreboard_class_slot(many, 9, "g"), 7);
    assert_int_equal(scoreboard_class_slot(many, 9, "i"), 7);
    assert_string_equal(scoreboard_class_name(many, 9, 6), "f");
    assert_string_equal(scoreboard_class_name(many, 9, 7), "other");
    assert_string_equal(scoreboard_class_name(many, 7, 7), "g");
    assert_null(scoreboard_class_name(many, 9, 8));
}

/* test_sb_raise - the session that reaches the threshold raises, once */
static void
test_sb_raise(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    struct scoreboard_view v;
    int     i;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 1, "s", 5, 1,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    for (i = 0; i < 3; i++)
        scoreboard_session_open(sb, 1, 0, 0, 0);
    assert_int_equal(scoreboard_stress_get(sb, 1), 0);
    scoreboard_session_open(sb, 1, 0, 0, 0);   /* 4 = limit - reserve */
    assert_int_equal(scoreboard_stress_get(sb, 1), 1);
    scoreboard_session_open(sb, 1, 0, 1, 0);
    assert_int_equal(scoreboard_service_read(sb, 1, &v), 0);
    assert_int_equal(v.stress, 1);
    assert_int_equal(v.reason, SCOREBOARD_REASON_FULL);
    assert_true(v.since_ms > TEST_NOW);       /* the real clock, later */
    assert_int_equal(v.counters[SCOREBOARD_TRANSITIONS], 1);
    /* the peak survives the sessions going away, once */
    for (i = 0; i < 5; i++)
        scoreboard_session_close(sb, 1, 0, 0, 0);
    assert_int_equal(scoreboard_peak_take(sb, 1), 5);
    assert_int_equal(scoreboard_peak_take(sb, 1), 0);
    /* the master clears; setting the same state again is no change */
    assert_int_equal(scoreboard_stress_set(sb, 1, 0, SCOREBOARD_REASON_CLEARED,
                                           TEST_NOW + 5), 1);
    assert_int_equal(scoreboard_stress_set(sb, 1, 0, SCOREBOARD_REASON_CLEARED,
                                           TEST_NOW + 6), 0);
    assert_int_equal(scoreboard_service_read(sb, 1, &v), 0);
    assert_int_equal(v.since_ms, TEST_NOW + 5);
    assert_int_equal(v.reason, SCOREBOARD_REASON_CLEARED);
    assert_int_equal(v.counters[SCOREBOARD_TRANSITIONS], 2);
    sb = scoreboard_detach(sb);
}

/* test_sb_forced - -p stress is on from the start; -p normal never raises */
static void
test_sb_forced(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    struct scoreboard_view v;
    int     i;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 0, "on", 2, 0,
                                              SERVICE_FORCE_STRESS, TEST_NOW), 0);
    assert_int_equal(scoreboard_stress_get(sb, 0), 1);
    assert_int_equal(scoreboard_service_setup(sb, 1, "off", 2, 0,
                                              SERVICE_FORCE_NORMAL, TEST_NOW), 0);
    for (i = 0; i < 4; i++)
        scoreboard_session_open(sb, 1, 0, 0, 0);
    assert_int_equal(scoreboard_stress_get(sb, 1), 0);
    /* a reload makes "on" auto: it starts off, reason reload */
    assert_int_equal(scoreboard_service_setup(sb, 0, "on", 2, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW + 1),
                     0);
    assert_int_equal(scoreboard_service_read(sb, 0, &v), 0);
    assert_int_equal(v.stress, 0);
    assert_int_equal(v.reason, SCOREBOARD_REASON_RELOAD);
    /* a slot with open sessions cannot be renamed */
    assert_int_equal(scoreboard_service_setup(sb, 1, "other", 2, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), -1);
    assert_int_equal(scoreboard_service_setup(sb, 1, "off", 0, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), -1);
    sb = scoreboard_detach(sb);
}

/* test_sb_slots - free service and worker slots; reserved slots skipped */
static void
test_sb_slots(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    unsigned char reserved[SCOREBOARD_SERVICES_MAX] = {0};

    (void) state;
    assert_int_equal(scoreboard_service_free_slot(sb, NULL), 0);
    reserved[0] = 1;
    assert_int_equal(scoreboard_service_free_slot(sb, reserved), 1);
    assert_int_equal(scoreboard_service_setup(sb, 1, "x", 1, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    assert_int_equal(scoreboard_service_free_slot(sb, reserved), 2);
    /* released with a session still open: not free until it closes */
    scoreboard_session_open(sb, 1, 0, 0, 0);
    scoreboard_service_release(sb, 1);
    assert_int_equal(scoreboard_service_find(sb, "x"), -1);
    assert_int_equal(scoreboard_service_free_slot(sb, reserved), 2);
    scoreboard_session_close(sb, 1, 0, 0, 0);
    assert_int_equal(scoreboard_service_free_slot(sb, reserved), 1);

    assert_int_equal(scoreboard_worker_free_slot(sb), 0);
    assert_int_equal(scoreboard_worker_start(sb, 0, 42, 1, 3), 0);
    assert_int_equal(scoreboard_worker_free_slot(sb), 1);
    assert_int_equal(scoreboard_worker_start(sb, SCOREBOARD_WORKERS_MAX, 42,
                                             1, 3), -1);
    assert_int_equal(scoreboard_worker_start(sb, 1, 0, 1, 3), -1);
    sb = scoreboard_detach(sb);
}

/* test_sb_reap - a dead worker's sessions are taken off its service */
static void
test_sb_reap(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    struct scoreboard_view v;
    size_t  slot = 99;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 2, "r", 10, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    assert_int_equal(scoreboard_worker_start(sb, 0, 100, 2, 1), 0);
    assert_int_equal(scoreboard_worker_start(sb, 1, 101, 2, 1), 0);
    assert_int_equal(scoreboard_worker_service(sb, 1, &slot), 0);
    assert_int_equal(slot, 2);
    assert_int_equal(scoreboard_worker_service(sb, 7, &slot), -1);
    scoreboard_session_open(sb, 2, 0, 0, 0);
    scoreboard_session_open(sb, 2, 0, 1, 1);
    scoreboard_session_open(sb, 2, 1, 1, 1);
    assert_int_equal(scoreboard_worker_reap(sb, 0), 2);
    assert_int_equal(scoreboard_service_read(sb, 2, &v), 0);
    assert_int_equal(v.open, 1);
    assert_int_equal(v.by_stress[0], 0);
    assert_int_equal(v.by_stress[1], 1);
    assert_int_equal(v.by_class[0], 0);
    assert_int_equal(v.by_class[1], 1);
    assert_int_equal(scoreboard_worker_free_slot(sb), 0);
    assert_int_equal(scoreboard_worker_reap(sb, 0), 0);        /* twice */
    sb = scoreboard_detach(sb);
}

/*
 * test_sb_concurrent - forked children attach and hammer one service;
 * the totals add up exactly and stress was raised exactly once.
 */
static void
test_sb_concurrent(void **state)
{
    struct scoreboard *sb = scoreboard_create();
    struct scoreboard_view v;
    pid_t   pids[TEST_CHILDREN];
    int     i, status;

    (void) state;
    assert_int_equal(scoreboard_service_setup(sb, 0, "c", TEST_CHILDREN, 0,
                                              SERVICE_FORCE_AUTO, TEST_NOW), 0);
    for (i = 0; i < TEST_CHILDREN; i++) {
        assert_int_equal(scoreboard_worker_start(sb, (size_t) i, 1000 + i, 0,
                                                 1), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct dstr *why = dstr_new(64, 1024);
            struct scoreboard *w = scoreboard_attach(dup(scoreboard_fd(sb)),
                                                     why);
            int     j;

            if (w == NULL)
                _exit(2);
            /* each child ends holding one session, and counts */
            for (j = 0; j < TEST_PER_CHILD; j++) {
                scoreboard_session_open(w, 0, (size_t) i, j & 1, (size_t) j % 3);
                scoreboard_count(w, 0, SCOREBOARD_CONNECTIONS);
                scoreboard_session_close(w, 0, (size_t) i, j & 1,
                                         (size_t) j % 3);
            }
            scoreboard_session_open(w, 0, (size_t) i, 1, 1);
            _exit(0);
        }
    }
    for (i = 0; i < TEST_CHILDREN; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(scoreboard_service_read(sb, 0, &v), 0);
    assert_int_equal(v.open, TEST_CHILDREN);
    assert_int_equal(v.by_stress[0], 0);
    assert_int_equal(v.by_stress[1], TEST_CHILDREN);
    assert_int_equal(v.by_class[0], 0);
    assert_int_equal(v.by_class[1], TEST_CHILDREN);
    assert_int_equal(v.by_class[2], 0);
    assert_int_equal(v.counters[SCOREBOARD_CONNECTIONS],
                     TEST_CHILDREN * TEST_PER_CHILD);
    assert_int_equal(v.stress, 1);
    assert_int_equal(v.counters[SCOREBOARD_TRANSITIONS], 1);
    for (i = 0; i < TEST_CHILDREN; i++)
        assert_int_equal(scoreboard_worker_reap(sb, (size_t) i), 1);
    assert_int_equal(scoreboard_open(sb, 0), 0);
    sb = scoreboard_detach(sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sb_attach),
        cmocka_unit_test(test_sb_attach_refused),
        cmocka_unit_test(test_sb_counts),
        cmocka_unit_test(test_sb_classes),
        cmocka_unit_test(test_sb_raise),
        cmocka_unit_test(test_sb_forced),
        cmocka_unit_test(test_sb_slots),
        cmocka_unit_test(test_sb_reap),
        cmocka_unit_test(test_sb_concurrent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
