/*
 * test_anvil - unit tests for global/anvil: counts, windows, exhaustion,
 * processes sharing the table, a dead or stopped lock holder.
 */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "global/anvil.h"
#include "testutil.h"

#define TEST_UNIT 1000                  /* ms: the fake time unit */
#define TEST_CHILDREN 6
#define TEST_PER_CHILD 3000

/* test_setup - capture log lines */
static int
test_setup(void **state)
{
    (void) state;
    testutil_log_start();
    return 0;
}

/* test_teardown - forget them */
static int
test_teardown(void **state)
{
    (void) state;
    testutil_log_stop();
    return 0;
}

/* test_key - a key for an address text and a service name */
static struct anvil_key
test_key(const char *addr, const char *service)
{
    struct anvil_key k;

    memset(&k, 0, sizeof(k));
    assert_int_equal(netaddr_parse(&k.addr, addr), 0);
    k.service = anvil_service_id(service);
    return k;
}

/* test_key_n - the n-th of many distinct IPv6 keys */
static struct anvil_key
test_key_n(unsigned n)
{
    struct anvil_key k = test_key("2001:db8::", "smtp");

    k.addr.bytes[12] = (unsigned char) (n >> 24);
    k.addr.bytes[13] = (unsigned char) (n >> 16);
    k.addr.bytes[14] = (unsigned char) (n >> 8);
    k.addr.bytes[15] = (unsigned char) n;
    return k;
}

/* test_new - a table, never NULL */
static struct anvil *
test_new(size_t entries)
{
    struct dstr *why = dstr_new(64, 1024);
    struct anvil *a = anvil_create(entries, why);

    assert_non_null(a);
    assert_int_equal(why->len, 0);
    dstr_free(why);
    return a;
}

/* test_attach_copy - attach through a dup of the master's fd */
static struct anvil *
test_attach_copy(struct anvil *a)
{
    struct dstr *why = dstr_new(64, 1024);
    struct anvil *w = anvil_attach(dup(anvil_fd(a)), why);

    assert_non_null(w);
    assert_int_equal(why->len, 0);
    dstr_free(why);
    return w;
}

/* test_anvil_attach - a worker's mapping sees the master's counts */
static void
test_anvil_attach(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_DEFAULT), *w;
    struct anvil_key k = test_key("192.0.2.1", "127.0.0.1:25");
    struct anvil_stats st;
    uint32_t count, rate;
    int32_t lease;

    (void) state;
    w = test_attach_copy(a);
    lease = anvil_connect(w, &k, 3, 1000, TEST_UNIT, &count, &rate);
    assert_true(lease >= 0);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    assert_int_equal(anvil_count(a, &k), 1);
    anvil_stats(a, &st);
    assert_int_equal(st.entries, ANVIL_ENTRIES_DEFAULT);
    assert_int_equal(st.leases, ANVIL_ENTRIES_DEFAULT);
    assert_int_equal(st.entries_used, 1);
    assert_int_equal(st.leases_used, 1);
    anvil_disconnect(a, lease, 3);
    assert_int_equal(anvil_count(w, &k), 0);
    assert_null(anvil_free(w));
    assert_null(anvil_free(a));
    assert_null(anvil_free(NULL));
}

/* test_anvil_attach_refused - wrong size, bad header, not a file */
static void
test_anvil_attach_refused(void **state)
{
    struct dstr *why = dstr_new(64, 1024);
    struct anvil *a = test_new(64);
    uint32_t *magic;
    int     fd, p[2];

    (void) state;
    fd = memfd_create("junk", 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_null(anvil_attach(fd, why));
    assert_non_null(strstr(why->data, "not an anvil table"));
    close(fd);

    /* a real table with its magic broken */
    fd = dup(anvil_fd(a));
    magic = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(magic != MAP_FAILED);
    *magic ^= 1;
    dstr_reset(why);
    assert_null(anvil_attach(fd, why));
    assert_non_null(strstr(why->data, "version"));
    *magic ^= 1;
    munmap(magic, 4096);
    close(fd);

    assert_int_equal(pipe(p), 0);
    dstr_reset(why);
    assert_null(anvil_attach(p[0], why));
    close(p[0]);
    close(p[1]);
    dstr_reset(why);
    assert_null(anvil_attach(-1, why));
    assert_non_null(strstr(why->data, "fd -1"));
    dstr_free(why);
    anvil_free(a);
}

/* test_anvil_counts - per client and service; leases are exact */
static void
test_anvil_counts(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_DEFAULT);
    struct anvil_key k = test_key("192.0.2.1", "a"),
        other = test_key("192.0.2.2", "a"), k_b = test_key("192.0.2.1", "b"),
        k6 = test_key("2001:db8::1", "a");
    uint32_t count, rate;
    int32_t l[4];
    int     i;

    (void) state;
    for (i = 0; i < 3; i++) {
        l[i] = anvil_connect(a, &k, 0, 10, TEST_UNIT, &count, &rate);
        assert_true(l[i] >= 0);
        assert_int_equal(count, i + 1);
        assert_int_equal(rate, i + 1);
    }
    /* another client, the same client on another service, IPv6 */
    l[3] = anvil_connect(a, &other, 0, 10, TEST_UNIT, &count, &rate);
    assert_int_equal(count, 1);
    assert_int_equal(rate, 1);
    anvil_disconnect(a, l[3], 0);
    assert_true(anvil_connect(a, &k_b, 0, 10, TEST_UNIT, &count, &rate) >= 0);
    assert_int_equal(count, 1);
    assert_true(anvil_connect(a, &k6, 1, 10, TEST_UNIT, &count, &rate) >= 0);
    assert_int_equal(count, 1);
    assert_int_equal(anvil_count(a, &k), 3);
    assert_int_equal(anvil_count(a, &other), 0);

    /* a lease is only released by its own slot, and only once */
    anvil_disconnect(a, l[0], 7);
    assert_int_equal(anvil_count(a, &k), 3);
    anvil_disconnect(a, l[0], 0);
    assert_int_equal(anvil_count(a, &k), 2);
    anvil_disconnect(a, l[0], 0);
    assert_int_equal(anvil_count(a, &k), 2);
    anvil_disconnect(a, ANVIL_NO_LEASE, 0);
    anvil_disconnect(a, ANVIL_ENTRIES_DEFAULT + 5, 0);
    anvil_disconnect(NULL, l[1], 0);
    assert_int_equal(anvil_count(a, &k), 2);

    /* the rate still counts every connection of the window */
    assert_true(anvil_connect(a, &k, 0, 20, TEST_UNIT, &count, &rate) >= 0);
    assert_int_equal(count, 3);
    assert_int_equal(rate, 4);

    /* service ids: stable, distinct, 0 for none */
    assert_int_equal(anvil_service_id(NULL), 0);
    assert_int_equal(anvil_service_id("x"), anvil_service_id("x"));
    assert_true(anvil_service_id("127.0.0.1:25")
                != anvil_service_id("127.0.0.1:26"));
    anvil_free(a);
}

/* test_anvil_window - one fixed window per client, from its first event */
static void
test_anvil_window(void **state)
{
    struct anvil *a = test_new(64);
    struct anvil_key k = test_key("198.51.100.7", "smtp");
    uint32_t count, rate;
    int32_t lease;

    (void) state;
    lease = anvil_connect(a, &k, 0, 5000, TEST_UNIT, &count, &rate);
    assert_int_equal(rate, 1);
    assert_int_equal(anvil_message(a, &k, 5100, TEST_UNIT), 1);
    assert_int_equal(anvil_message(a, &k, 5200, TEST_UNIT), 2);
    assert_int_equal(anvil_rcpt(a, &k, 5300, TEST_UNIT, 1), 1);
    assert_int_equal(anvil_rcpt(a, &k, 5300, TEST_UNIT, 4), 5);
    anvil_disconnect(a, lease, 0);
    assert_true(anvil_connect(a, &k, 0, 5999, TEST_UNIT, &count, &rate) >= 0);
    assert_int_equal(rate, 2);          /* the last ms of the window */
    assert_int_equal(count, 1);

    /* the unit is over: every rate starts again; the count does not */
    assert_int_equal(anvil_message(a, &k, 6000, TEST_UNIT), 1);
    assert_int_equal(anvil_rcpt(a, &k, 6001, TEST_UNIT, 1), 1);
    assert_int_equal(anvil_count(a, &k), 1);
    assert_true(anvil_connect(a, &k, 0, 6500, TEST_UNIT, &count, &rate) >= 0);
    assert_int_equal(rate, 1);
    assert_int_equal(count, 2);

    /* a window starts at the first event after the last one ended */
    assert_int_equal(anvil_message(a, &k, 9000, TEST_UNIT), 1);
    assert_int_equal(anvil_message(a, &k, 9999, TEST_UNIT), 2);
    assert_int_equal(anvil_message(a, &k, 10000, TEST_UNIT), 1);

    /* a shorter unit (a reload) takes effect at once */
    assert_int_equal(anvil_message(a, &k, 10001, 100000), 2);
    assert_int_equal(anvil_message(a, &k, 10002, 100000), 3);
    assert_int_equal(anvil_message(a, &k, 10003, 10), 1);

    /* counters saturate instead of wrapping */
    assert_int_equal(anvil_rcpt(a, &k, 10004, 10, UINT32_MAX - 1),
                     UINT32_MAX - 1);
    assert_int_equal(anvil_rcpt(a, &k, 10005, 10, 5), UINT32_MAX);
    anvil_free(a);
}

/*
 * test_anvil_full - a small table: idle entries are taken over first,
 * then, with every slot holding connections, clients are not counted
 * (fail open) and that is logged once; freed entries are used again.
 */
static void
test_anvil_full(void **state)
{
    struct anvil *a = test_new(10);     /* rounded up to the minimum */
    struct anvil_stats st;
    int32_t lease[4 * ANVIL_ENTRIES_MIN];
    uint32_t count, rate;
    unsigned i, held = 0, first_full = 0;
    struct anvil_key k;

    (void) state;
    /* idle entries with live windows: nothing is ever refused */
    for (i = 0; i < 4 * ANVIL_ENTRIES_MIN; i++) {
        k = test_key_n(i);
        assert_int_equal(anvil_message(a, &k, 100, TEST_UNIT), 1);
    }
    anvil_stats(a, &st);
    assert_int_equal(st.entries, ANVIL_ENTRIES_MIN);
    assert_true(st.evictions >= 3 * ANVIL_ENTRIES_MIN);
    assert_int_equal(st.full, 0);

    /* connections held: sooner or later a client finds no room */
    for (i = 0; i < 4 * ANVIL_ENTRIES_MIN; i++) {
        k = test_key_n(1000 + i);
        lease[i] = anvil_connect(a, &k, 2, 200, TEST_UNIT, &count, &rate);
        if (lease[i] >= 0) {
            assert_int_equal(count, 1);
            held++;
        } else {
            assert_int_equal(count, 0);        /* fail open */
            assert_int_equal(rate, 0);
            if (first_full == 0)
                first_full = i;
        }
    }
    assert_true(first_full > 0);
    assert_true(held <= ANVIL_ENTRIES_MIN);
    assert_true(held > ANVIL_ENTRIES_MIN / 2);
    anvil_stats(a, &st);
    assert_int_equal(st.leases_used, held);
    assert_true(st.full >= 4 * ANVIL_ENTRIES_MIN - held);
    assert_true(testutil_logged("warning: anvil: table full (64 entries)"));
    /* once per process */
    assert_null(strstr(strstr(testutil_log_text(), "table full") + 1,
                       "table full"));
    k = test_key_n(1000 + first_full);
    assert_int_equal(anvil_count(a, &k), 0);

    /* released, and the windows over: every client fits again */
    for (i = 0; i < 4 * ANVIL_ENTRIES_MIN; i++)
        anvil_disconnect(a, lease[i], 2);
    anvil_stats(a, &st);
    assert_int_equal(st.leases_used, 0);
    for (i = 0; i < ANVIL_ENTRIES_MIN / 2; i++) {
        k = test_key_n(5000 + i);
        assert_true(anvil_connect(a, &k, 2, 5000, TEST_UNIT, &count,
                                  &rate) >= 0);
        assert_int_equal(count, 1);
    }
    anvil_free(a);
}

/* test_anvil_worker_gone - a dead worker's connections are dropped */
static void
test_anvil_worker_gone(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_DEFAULT);
    struct anvil_key k = test_key("203.0.113.9", "smtp");
    uint32_t count, rate;
    int32_t mine;
    pid_t   pid;
    int     status, i;

    (void) state;
    mine = anvil_connect(a, &k, 1, 100, TEST_UNIT, &count, &rate);
    assert_true(mine >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct dstr *why = dstr_new(64, 1024);
        struct anvil *w = anvil_attach(dup(anvil_fd(a)), why);

        if (w == NULL)
            _exit(2);
        for (i = 0; i < 5; i++)
            if (anvil_connect(w, &k, 7, 100, TEST_UNIT, &count, &rate) < 0)
                _exit(3);
        raise(SIGKILL);                 /* no disconnect, no cleanup */
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(anvil_count(a, &k), 6);
    assert_int_equal(anvil_worker_gone(a, 7), 5);
    assert_int_equal(anvil_count(a, &k), 1);
    assert_int_equal(anvil_worker_gone(a, 7), 0);      /* twice */
    assert_int_equal(anvil_worker_gone(NULL, 7), 0);
    anvil_disconnect(a, mine, 1);
    assert_int_equal(anvil_count(a, &k), 0);
    anvil_free(a);
}

/*
 * test_anvil_processes - forked children hammer one client through
 * their own mappings; every connection is counted in the rate, and
 * what they still hold is exactly what they did not release.
 */
static void
test_anvil_processes(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_DEFAULT);
    struct anvil_key k = test_key("192.0.2.77", "smtp");
    pid_t   pids[TEST_CHILDREN];
    uint32_t count, rate;
    int     i, status;

    (void) state;
    for (i = 0; i < TEST_CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct dstr *why = dstr_new(64, 1024);
            struct anvil *w = anvil_attach(dup(anvil_fd(a)), why);
            int32_t l;
            int     j;

            if (w == NULL)
                _exit(2);
            for (j = 0; j < TEST_PER_CHILD; j++) {
                if ((l = anvil_connect(w, &k, (size_t) i, 100, 1000000,
                                       &count, &rate)) < 0)
                    _exit(3);
                if (anvil_message(w, &k, 100, 1000000) == 0)
                    _exit(4);
                anvil_disconnect(w, l, (size_t) i);
            }
            (void) anvil_connect(w, &k, (size_t) i, 100, 1000000, &count,
                                 &rate);
            _exit(0);
        }
    }
    for (i = 0; i < TEST_CHILDREN; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(anvil_count(a, &k), TEST_CHILDREN);
    assert_true(anvil_connect(a, &k, 99, 100, 1000000, &count, &rate) >= 0);
    assert_int_equal(count, TEST_CHILDREN + 1);
    assert_int_equal(rate, TEST_CHILDREN * (TEST_PER_CHILD + 1) + 1);
    assert_int_equal(anvil_message(a, &k, 100, 1000000),
                     TEST_CHILDREN * TEST_PER_CHILD + 1);
    for (i = 0; i < TEST_CHILDREN; i++)
        assert_int_equal(anvil_worker_gone(a, (size_t) i), 1);
    assert_int_equal(anvil_count(a, &k), 1);
    anvil_free(a);
}

/*
 * The next two tests need a child that is inside the lock. anvil logs
 * "table full" while it holds the lock, so a child whose log capture
 * kills (or stops) itself on that line dies (or sleeps) holding it.
 */
static int test_capture_signal;

/* test_capture_die - the capture of such a child */
static void
test_capture_die(enum log_level level, const char *line)
{
    (void) level;
    if (strstr(line, "table full") != NULL)
        raise(test_capture_signal);
}

/* test_fill - fill a minimal table with held connections; a key that no
 * longer fits */
static struct anvil_key
test_fill(struct anvil *a)
{
    uint32_t count, rate;
    struct anvil_key k;
    unsigned i;

    for (i = 0; i < 8 * ANVIL_ENTRIES_MIN; i++) {
        k = test_key_n(i);
        if (anvil_connect(a, &k, 1, 100, TEST_UNIT, &count, &rate) < 0)
            return k;
    }
    fail_msg("the table never filled");
    return k;
}

/* test_child_in_lock - fork a child that signals itself inside the lock */
static pid_t
test_child_in_lock(struct anvil *a, const struct anvil_key *full, int sig)
{
    pid_t   pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct dstr *why = dstr_new(64, 1024);
        struct anvil *w = anvil_attach(dup(anvil_fd(a)), why);
        uint32_t count, rate;

        if (w == NULL)
            _exit(2);
        test_capture_signal = sig;
        log_set_capture(test_capture_die);
        (void) anvil_connect(w, full, 5, 100, TEST_UNIT, &count, &rate);
        _exit(0);
    }
    return pid;
}

/* test_anvil_owner_dead - a process killed holding the lock */
static void
test_anvil_owner_dead(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_MIN);
    struct anvil_key full = test_fill(a), k = test_key_n(0);
    struct anvil_stats before, after;
    uint32_t count, rate;
    pid_t   pid;
    int     status;

    (void) state;
    anvil_stats(a, &before);
    assert_int_equal(before.repairs, 0);
    pid = test_child_in_lock(a, &full, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* the next caller takes over the lock and repairs */
    assert_int_equal(anvil_count(a, &k), 1);
    assert_true(testutil_logged("a process died holding the table lock"));
    anvil_stats(a, &after);
    assert_int_equal(after.repairs, 1);
    assert_int_equal(after.leases_used, before.leases_used);
    assert_int_equal(anvil_worker_gone(a, 1), before.leases_used);
    assert_true(anvil_connect(a, &full, 1, 100, TEST_UNIT, &count,
                              &rate) >= 0);
    assert_int_equal(count, 1);
    anvil_stats(a, &after);
    assert_int_equal(after.repairs, 1);         /* only once */
    anvil_free(a);
}

/* test_anvil_lock_timeout - a stopped holder: fail open, do not wait */
static void
test_anvil_lock_timeout(void **state)
{
    struct anvil *a = test_new(ANVIL_ENTRIES_MIN);
    struct anvil_key full = test_fill(a), k = test_key_n(0);
    struct timespec t0, t1;
    uint32_t count = 9, rate = 9;
    int32_t lease;
    long long ms;
    pid_t   pid;
    int     status;

    (void) state;
    pid = test_child_in_lock(a, &full, SIGSTOP);
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    assert_true(WIFSTOPPED(status));

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(anvil_connect(a, &k, 1, 100, TEST_UNIT, &count, &rate),
                     ANVIL_NO_LEASE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(count, 0);
    assert_int_equal(rate, 0);
    assert_true(ms >= ANVIL_LOCK_TIMEOUT_MS - 20);
    assert_true(ms < ANVIL_LOCK_TIMEOUT_MS + 2000);
    assert_true(testutil_logged("anvil: lock: Connection timed out"));
    assert_int_equal(anvil_message(a, &k, 100, TEST_UNIT), 0);

    /* it wakes up, finishes and lets go: back to normal */
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lease = anvil_connect(a, &k, 1, 100, TEST_UNIT, &count, &rate);
    assert_int_equal(count, 2);         /* test_fill() holds one */
    assert_int_equal(rate, 2);
    anvil_disconnect(a, lease, 1);      /* (no lease if fill took all) */
    anvil_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_anvil_attach, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_attach_refused, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_counts, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_window, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_full, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_worker_gone, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_processes, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_owner_dead, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_anvil_lock_timeout, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
