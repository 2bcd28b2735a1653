/* test_smtpd_history - unit tests for smtpd/smtpd_history: the store off the loop. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <lmdb.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"
#include "global/client_history.h"
#include "smtpd/smtpd_history.h"
#include "helper_history.h"
#include "testutil.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

struct fixture {
    char   *dir;
    char   *data;
    struct params p;
    struct event_base *base;
    pid_t   child;                     /* killed by teardown if still set */
};

/* One lookup's outcome. */
struct answer {
    int     calls;
    int     found;
    struct client_history_rec rec;
};

/* setup - a temp data_directory, default parameters, an event base */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dir = testutil_tmpdir();
    f->data = history_test_store(f->dir, &f->p, 0);
    f->base = event_base_new();
    assert_non_null(f->base);
    testutil_log_start();
    *state = f;
    return 0;
}

/* teardown - remove everything */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    testutil_log_stop();
    history_test_reap(&f->child);       /* a test failed with it running */
    event_base_free(f->base);
    testutil_rmtree(f->dir);
    free(f->dir);
    free(f->data);
    free(f);
    return 0;
}

/* got - the lookup callback */
static void
got(void *arg, const struct client_history_rec *rec)
{
    struct answer *a = arg;

    a->calls++;
    a->found = rec != NULL;
    if (rec != NULL)
        a->rec = *rec;
}

/* mono_ms - the monotonic clock */
static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_until - turn the loop until *calls reaches want, at most ms */
static void
run_until(struct event_base *base, const int *calls, int want, long long ms)
{
    long long end = mono_ms() + ms;
    struct timeval tick = {0, 10000};

    while (*calls < want && mono_ms() < end) {
        (void) event_base_loopexit(base, &tick);
        (void) event_base_loop(base, EVLOOP_ONCE);
    }
}

/* run_for - turn the loop for ms */
static void
run_for(struct event_base *base, long long ms)
{
    int     never = 0;

    run_until(base, &never, 1, ms);
}

/* count_lines - how many captured log lines contain text */
static int
count_lines(const char *text)
{
    const char *p = testutil_log_text();
    int     n = 0;

    while ((p = strstr(p, text)) != NULL) {
        n++;
        p += strlen(text);
    }
    return n;
}

/* addr - parse or fail */
static struct netaddr
addr(const char *text)
{
    struct netaddr a;

    assert_int_equal(netaddr_parse(&a, text), 0);
    return a;
}

/* new_history - smtpd_history_new() or fail */
static struct smtpd_history *
new_history(struct fixture *f)
{
    struct dstr *why = dstr_new(64, 4096);
    struct smtpd_history *h = smtpd_history_new(f->base, &f->p, why);

    if (h == NULL)
        fail_msg("smtpd_history_new: %s", why->data);
    dstr_free(why);
    return h;
}

/* test_smtpd_history_lookup - events in, answers out, later, once */
static void
test_smtpd_history_lookup(void **state)
{
    struct fixture *f = *state;
    struct smtpd_history *h = new_history(f);
    struct netaddr c1 = addr("192.0.2.1"), c2 = addr("192.0.2.2");
    struct netaddr v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2::99");
    struct answer a1, a2, a3;

    memset(&a1, 0, sizeof(a1));
    memset(&a2, 0, sizeof(a2));
    memset(&a3, 0, sizeof(a3));
    smtpd_history_event(h, &c1, CLIENT_HISTORY_CONNECT);
    smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    smtpd_history_event(h, &v6a, CLIENT_HISTORY_EARLY_TALK);
    /* a lookup sees every event queued before it */
    assert_non_null(smtpd_history_lookup(h, &c1, got, &a1));
    assert_non_null(smtpd_history_lookup(h, &c2, got, &a2));
    assert_non_null(smtpd_history_lookup(h, &v6b, got, &a3));
    assert_int_equal(a1.calls, 0);      /* never from within lookup */
    run_until(f->base, &a3.calls, 1, 5000);
    run_until(f->base, &a1.calls, 1, 5000);
    run_until(f->base, &a2.calls, 1, 5000);
    assert_int_equal(a1.calls, 1);
    assert_true(a1.found);
    assert_int_equal(a1.rec.connections, 1);
    assert_int_equal(a1.rec.messages, 3);
    assert_string_equal(client_history_class(&a1.rec, &f->p,
                                             client_history_now()), "known");
    assert_int_equal(a2.calls, 1);
    assert_false(a2.found);
    assert_int_equal(a3.calls, 1);
    assert_true(a3.found);              /* the same /64 */
    assert_int_equal(a3.rec.early_talks, 1);
    run_for(f->base, 50);
    assert_int_equal(a1.calls, 1);      /* exactly once, no late timeout */
    assert_int_equal(smtpd_history_dropped(h), 0);
    assert_int_equal(smtpd_history_late(h), 0);
    h = smtpd_history_free(h);
}

/* test_smtpd_history_persist - free writes what is queued */
static void
test_smtpd_history_persist(void **state)
{
    struct fixture *f = *state;
    struct smtpd_history *h = new_history(f);
    struct netaddr c1 = addr("::ffff:192.0.2.5");
    struct client_history *store;
    struct client_history_rec r;
    struct dstr *why = dstr_new(64, 4096);
    int     i;

    for (i = 0; i < 100; i++)
        smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    smtpd_history_event(h, &c1, CLIENT_HISTORY_TIMEOUT);
    h = smtpd_history_free(h);

    store = client_history_open(&f->p, CLIENT_HISTORY_RDONLY, why);
    assert_non_null(store);
    assert_int_equal(client_history_get(store, "192.0.2.5", client_history_now(),
                                        &r), CLIENT_HISTORY_FOUND);
    assert_int_equal(r.messages, 100);
    assert_int_equal(r.timeouts, 1);
    store = client_history_close(store);
    dstr_free(why);
}

/* stored_messages - what another reader of the store sees, or -1 */
static long long
stored_messages(struct fixture *f, const char *key)
{
    struct dstr *why = dstr_new(64, 4096);
    struct client_history *store;
    struct client_history_rec r;
    long long n = -1;

    store = client_history_open(&f->p, CLIENT_HISTORY_RDONLY, why);
    if (store != NULL && client_history_get(store, key, client_history_now(),
                                            &r) == CLIENT_HISTORY_FOUND)
        n = r.messages;
    store = client_history_close(store);
    dstr_free(why);
    return n;
}

/*
 * test_smtpd_history_write_due - with no lookup to wake it, the thread
 * still writes an event within SMTPD_HISTORY_WRITE_MS (it used to
 * sleep until its next sweep, ten minutes away)
 */
static void
test_smtpd_history_write_due(void **state)
{
    struct fixture *f = *state;
    struct smtpd_history *h = new_history(f);
    struct netaddr c1 = addr("192.0.2.6");
    long long start, end;

    run_for(f->base, 100);              /* the thread is asleep */
    smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    start = mono_ms();
    end = start + 20 * SMTPD_HISTORY_WRITE_MS;
    while (stored_messages(f, "192.0.2.6") != 1 && mono_ms() < end)
        run_for(f->base, 50);
    assert_int_equal(stored_messages(f, "192.0.2.6"), 1);
    h = smtpd_history_free(h);
}

/* test_smtpd_history_cancel - a cancelled lookup never calls back */
static void
test_smtpd_history_cancel(void **state)
{
    struct fixture *f = *state;
    struct smtpd_history *h = new_history(f);
    struct netaddr c1 = addr("192.0.2.1");
    struct smtpd_history_req *req;
    struct answer a1, a2;

    memset(&a1, 0, sizeof(a1));
    memset(&a2, 0, sizeof(a2));
    req = smtpd_history_lookup(h, &c1, got, &a1);
    smtpd_history_cancel(req);
    (void) smtpd_history_lookup(h, &c1, got, &a2);
    run_until(f->base, &a2.calls, 1, 5000);
    assert_int_equal(a2.calls, 1);
    run_for(f->base, 50);
    assert_int_equal(a1.calls, 0);

    /* free with a lookup outstanding: no callback, nothing leaks */
    (void) smtpd_history_lookup(h, &c1, got, &a1);
    h = smtpd_history_free(h);
    assert_int_equal(a1.calls, 0);
}

/*
 * lock_holder - the child: take the store's write lock, say so, hold
 * it until told (or killed).
 */
static void
lock_holder(const char *path, int said_fd, int wait_fd)
{
    MDB_env *env;
    MDB_txn *txn;
    char    c;

    if (mdb_env_create(&env) != 0
        || mdb_env_set_mapsize(env, CLIENT_HISTORY_MAP_MIN) != 0
        || mdb_env_open(env, path, MDB_NOSUBDIR, 0600) != 0
        || mdb_txn_begin(env, NULL, 0, &txn) != 0)
        _exit(2);
    (void) !write(said_fd, "L", 1);
    (void) !read(wait_fd, &c, 1);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    _exit(0);
}

/*
 * test_smtpd_history_full - a stuck store never blocks the loop: events
 * beyond the queue are dropped and counted, lookups time out or are
 * refused, and what was queued is written once the store moves again.
 */
static void
test_smtpd_history_full(void **state)
{
    struct fixture *f = *state;
    struct smtpd_history *h;
    struct netaddr c1 = addr("192.0.2.1");
    struct answer *many, last;
    struct dstr *path = dstr_new(64, 4096);
    int     said[2], go[2], i, calls, status, refused;
    const int fired = 3 * SMTPD_HISTORY_EVENTS_MAX;
    long long start;
    pid_t   pid;
    char    c;

    (void) dstr_appendf(path, "%s/%s", f->data, CLIENT_HISTORY_FILE);
    assert_int_equal(pipe(said), 0);
    assert_int_equal(pipe(go), 0);
    if ((pid = fork()) == 0) {
        close(said[0]);
        close(go[1]);
        lock_holder(path->data, said[1], go[0]);
    }
    assert_true(pid > 0);
    f->child = pid;
    close(said[1]);
    close(go[0]);
    assert_int_equal(read(said[0], &c, 1), 1);
    h = new_history(f);

    /*
     * Once the thread has taken the first event off the queue, it is
     * stuck writing it and takes nothing more.
     */
    smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    for (i = 0; i < 500 && smtpd_history_queued(h) > 0; i++)
        usleep(10000);
    assert_int_equal(smtpd_history_queued(h), 0);

    start = mono_ms();
    for (i = 0; i < fired; i++)
        smtpd_history_event(h, &c1, CLIENT_HISTORY_MESSAGE);
    assert_true(mono_ms() - start < 1000);      /* never waited */
    assert_int_equal(smtpd_history_dropped(h),
                     fired - SMTPD_HISTORY_EVENTS_MAX);
    assert_int_equal(smtpd_history_queued(h), SMTPD_HISTORY_EVENTS_MAX);
    assert_int_equal(count_lines("dropping events"), 1);

    many = calloc(SMTPD_HISTORY_LOOKUPS_MAX + 1, sizeof(*many));
    for (i = 0; i < SMTPD_HISTORY_LOOKUPS_MAX + 1; i++)
        (void) smtpd_history_lookup(h, &c1, got, &many[i]);
    /* the one beyond the queue is answered at once, "unknown" */
    run_until(f->base, &many[SMTPD_HISTORY_LOOKUPS_MAX].calls, 1, 500);
    assert_int_equal(many[SMTPD_HISTORY_LOOKUPS_MAX].calls, 1);
    assert_false(many[SMTPD_HISTORY_LOOKUPS_MAX].found);
    assert_int_equal(many[0].calls, 0);
    /* the others time out */
    start = mono_ms();
    run_until(f->base, &many[SMTPD_HISTORY_LOOKUPS_MAX - 1].calls, 1, 5000);
    assert_true(mono_ms() - start >= SMTPD_HISTORY_LOOKUP_TIMEOUT_MS - 600);
    run_for(f->base, 50);
    for (i = 0, calls = 0; i < SMTPD_HISTORY_LOOKUPS_MAX; i++)
        calls += many[i].calls == 1 && !many[i].found;
    assert_int_equal(calls, SMTPD_HISTORY_LOOKUPS_MAX);
    assert_int_equal(smtpd_history_late(h), SMTPD_HISTORY_LOOKUPS_MAX);

    /* the store moves again: every queued event is written */
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    f->child = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /*
     * Until the thread takes the old lookups off the queue (after the
     * write it was stuck in), a new one is refused: try again.
     */
    for (refused = 0; refused < 200; refused++) {
        memset(&last, 0, sizeof(last));
        (void) smtpd_history_lookup(h, &c1, got, &last);
        run_until(f->base, &last.calls, 1, 5000);
        assert_int_equal(last.calls, 1);
        if (last.found)
            break;
        run_for(f->base, 20);
    }
    assert_true(last.found);
    assert_int_equal(smtpd_history_late(h), SMTPD_HISTORY_LOOKUPS_MAX);
    assert_int_equal(smtpd_history_dropped(h),
                     fired - SMTPD_HISTORY_EVENTS_MAX + 1 + refused);
    assert_int_equal(last.rec.messages, 1 + SMTPD_HISTORY_EVENTS_MAX);
    run_for(f->base, 50);
    for (i = 0; i < SMTPD_HISTORY_LOOKUPS_MAX + 1; i++)
        assert_int_equal(many[i].calls, 1);     /* late answers are dropped */
    h = smtpd_history_free(h);
    free(many);
    close(said[0]);
    close(go[1]);
    dstr_free(path);
}

/* test_smtpd_history_open_error - a bad store is refused with the reason */
static void
test_smtpd_history_open_error(void **state)
{
    struct fixture *f = *state;
    struct dstr *why = dstr_new(64, 4096);

    f->p.data_directory = "/nonexistent/doppel";
    assert_null(smtpd_history_new(f->base, &f->p, why));
    assert_non_null(strstr(why->data, "/nonexistent/doppel/client_history.lmdb"));
    f->p.client_history_backend = "memcache";
    assert_null(smtpd_history_new(f->base, &f->p, why));
    assert_non_null(strstr(why->data, "client_history_backend"));
    dstr_free(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_smtpd_history_lookup, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_history_write_due, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_history_persist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_history_cancel, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_history_full, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_history_open_error, setup,
                                        teardown),
    };

    if (evthread_use_pthreads() < 0)
        return 1;
    return cmocka_run_group_tests_name("smtpd_history", tests, NULL, NULL);
}
