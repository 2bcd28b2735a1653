/* test_relay_queue - unit tests for relay/relay_queue. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "relay/relay_queue.h"
#include "testutil.h"

struct fixture {
    char   *dir;
    char    qdir[1024];
    struct dstr *why;
};

/* setup - a fresh queue */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dir = testutil_tmpdir();
    (void) snprintf(f->qdir, sizeof(f->qdir), "%s/queue", f->dir);
    f->why = dstr_new(128, 4096);
    if (queue_dirs_create(f->qdir, f->why) < 0)
        fail_msg("queue_dirs_create: %s", f->why->data);
    *state = f;
    return 0;
}

/* teardown - remove it */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    testutil_rmtree(f->dir);
    free(f->dir);
    dstr_free(f->why);
    free(f);
    return 0;
}

/* put - commit a message with n recipients into incoming/; its ID in id */
static void
put(struct fixture *f, size_t n, char *id)
{
    struct queue_file_rcpt rcpt[3] = {
        {"a@x.example", 0, NULL}, {"b@x.example", 0, "rfc822;b@x.example"},
        {"c@x.example", QUEUE_FILE_NOTIFY_NEVER, NULL},
    };
    struct queue_file_env env;
    struct queue_file *qf;

    memset(&env, 0, sizeof(env));
    env.sender = "s@y.example";
    env.rcpt = rcpt;
    env.rcpt_count = n;
    qf = queue_file_create(f->qdir, NULL, "Received: x\r\n", 13, f->why);
    assert_non_null(qf);
    assert_int_equal(queue_file_append(qf, "Hi\r\n.\r\n", 7), 0);
    memcpy(id, queue_file_id(qf), QUEUE_ID_SIZE);
    assert_int_equal(queue_file_commit(qf, &env, f->why), 0);
}

/* in - is SUB/ID there? */
static int
in(struct fixture *f, const char *sub, const char *id)
{
    char    p[2048];

    (void) snprintf(p, sizeof(p), "%s/%s/%s", f->qdir, sub, id);
    return access(p, F_OK) == 0;
}

/* open_active - a reader on active/ID */
static struct queue_file_reader *
open_active(struct fixture *f, const char *id)
{
    char    p[2048];

    (void) snprintf(p, sizeof(p), "%s/active/%s", f->qdir, id);
    return queue_file_read_open(p, f->why);
}

/* test_backoff - age, clamped */
static void
test_backoff(void **state)
{
    (void) state;
    assert_int_equal(relay_queue_backoff(0, 300000, 4000000), 300000);
    assert_int_equal(relay_queue_backoff(1000000, 300000, 4000000), 1000000);
    assert_int_equal(relay_queue_backoff(99000000, 300000, 4000000), 4000000);
    assert_int_equal(relay_queue_backoff(5000, 1000, 500), 1000);  /* max < min */
}

/* test_take_done - incoming -> active -> gone */
static void
test_take_done(void **state)
{
    struct fixture *f = *state;
    char    id[QUEUE_ID_SIZE], ids[4][QUEUE_ID_SIZE];

    put(f, 1, id);
    assert_int_equal(relay_queue_scan(f->qdir, "incoming", 0, ids, 4, f->why),
                     1);
    assert_string_equal(ids[0], id);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 1);
    assert_true(in(f, "active", id));
    assert_false(in(f, "incoming", id));
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 0);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", "../x", f->why), -1);
    assert_int_equal(relay_queue_done(f->qdir, id, f->why), 0);
    assert_false(in(f, "active", id));
    assert_int_equal(relay_queue_done(f->qdir, id, f->why), -1);
}

/* test_defer_all - the same file waits in deferred/ until retry_at */
static void
test_defer_all(void **state)
{
    struct fixture *f = *state;
    char    id[QUEUE_ID_SIZE], ids[4][QUEUE_ID_SIZE], p[2048];
    struct queue_file_reader *r;
    int     keep[2] = {1, 1};
    struct stat st;
    time_t  later = time(NULL) + 3600;

    put(f, 2, id);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 1);
    r = open_active(f, id);
    assert_non_null(r);
    assert_int_equal(relay_queue_defer(f->qdir, id, r, keep, later,
                                       "a@x.example\t4.4.1\tconnect: refused\n",
                                       f->why), 0);
    r = queue_file_read_close(r);
    assert_true(in(f, "deferred", id));
    assert_false(in(f, "active", id));
    assert_true(in(f, "defer", id));
    (void) snprintf(p, sizeof(p), "%s/deferred/%s", f->qdir, id);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((long long) st.st_mtime, (long long) later);
    /* not due now; due later */
    assert_int_equal(relay_queue_scan(f->qdir, "deferred", time(NULL), ids, 4,
                                      f->why), 0);
    assert_int_equal(relay_queue_scan(f->qdir, "deferred", later, ids, 4,
                                      f->why), 1);
    assert_int_equal(relay_queue_take(f->qdir, "deferred", id, f->why), 1);
    assert_int_equal(relay_queue_done(f->qdir, id, f->why), 0);
    assert_false(in(f, "defer", id));
}

/* test_defer_some - a rewrite keeps only the waiting recipients */
static void
test_defer_some(void **state)
{
    struct fixture *f = *state;
    char    id[QUEUE_ID_SIZE], p[2048], buf[64];
    struct queue_file_reader *r;
    const struct queue_file_env *env;
    int     keep[3] = {0, 1, 0};
    ssize_t n;

    put(f, 3, id);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 1);
    /* what a rewrite killed half-way leaves behind does not stop this one */
    (void) snprintf(p, sizeof(p), "tmp/%s", id);
    free(testutil_write_file(f->qdir, p, "junk", 4));
    r = open_active(f, id);
    assert_non_null(r);
    assert_int_equal(relay_queue_defer(f->qdir, id, r, keep, time(NULL), NULL,
                                       f->why), 0);
    r = queue_file_read_close(r);
    assert_false(in(f, "active", id));
    assert_false(in(f, "incoming", id));
    assert_false(in(f, "tmp", id));
    (void) snprintf(p, sizeof(p), "%s/deferred/%s", f->qdir, id);
    r = queue_file_read_open(p, f->why);
    assert_non_null(r);
    env = queue_file_read_env(r);
    assert_int_equal(env->rcpt_count, 1);
    assert_string_equal(env->rcpt[0].address, "b@x.example");
    assert_string_equal(env->rcpt[0].orcpt, "rfc822;b@x.example");
    assert_string_equal(env->sender, "s@y.example");
    assert_string_equal(env->id, id);
    n = queue_file_read_content(r, buf, sizeof(buf), f->why);
    assert_int_equal(n, 20);
    assert_memory_equal(buf, "Received: x\r\nHi\r\n.\r\n", 20);
    r = queue_file_read_close(r);
}

/* test_recover - active/ goes back; the newer copy of a rewrite wins */
static void
test_recover(void **state)
{
    struct fixture *f = *state;
    char    a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE], c[QUEUE_ID_SIZE];
    char    p1[2048], p2[2048];

    put(f, 1, a);
    put(f, 1, b);
    put(f, 1, c);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", a, f->why), 1);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", b, f->why), 1);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", c, f->why), 1);
    /* b: a rewrite cut short after its commit into incoming/ */
    (void) snprintf(p1, sizeof(p1), "%s/active/%s", f->qdir, b);
    (void) snprintf(p2, sizeof(p2), "%s/incoming/%s", f->qdir, b);
    assert_int_equal(link(p1, p2), 0);
    /* c: a rewrite that reached deferred/ */
    (void) snprintf(p1, sizeof(p1), "%s/active/%s", f->qdir, c);
    (void) snprintf(p2, sizeof(p2), "%s/deferred/%s", f->qdir, c);
    assert_int_equal(link(p1, p2), 0);
    assert_int_equal(relay_queue_recover(f->qdir, f->why), 1);
    assert_true(in(f, "incoming", a));
    assert_true(in(f, "incoming", b));
    assert_false(in(f, "active", b));
    assert_false(in(f, "incoming", c));
    assert_true(in(f, "deferred", c));
    assert_false(in(f, "active", c));
    assert_int_equal(relay_queue_recover(f->qdir, f->why), 0);
}

/* test_scan_skips - names that are not IDs are never listed */
static void
test_scan_skips(void **state)
{
    struct fixture *f = *state;
    char    ids[4][QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];

    free(testutil_write_file(f->qdir, "incoming/README", "x", 1));
    free(testutil_write_file(f->qdir, "incoming/.hidden", "x", 1));
    put(f, 1, id);
    assert_int_equal(relay_queue_scan(f->qdir, "incoming", 0, ids, 4, f->why),
                     1);
    assert_int_equal(relay_queue_scan(f->qdir, "nonexistent", 0, ids, 4,
                                      f->why), -1);
}

/* test_lock - one relay per queue */
static void
test_lock(void **state)
{
    struct fixture *f = *state;
    int     fd, fd2;

    fd = relay_queue_lock(f->qdir, f->why);
    assert_true(fd >= 0);
    fd2 = relay_queue_lock(f->qdir, f->why);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(f->why->data, "another doppel-relay"));
    close(fd);
    fd2 = relay_queue_lock(f->qdir, f->why);
    assert_true(fd2 >= 0);
    close(fd2);
}

/* test_corrupt - kept for a person */
static void
test_corrupt(void **state)
{
    struct fixture *f = *state;
    char    id[QUEUE_ID_SIZE];

    put(f, 1, id);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 1);
    assert_int_equal(relay_queue_corrupt(f->qdir, id, f->why), 0);
    assert_true(in(f, "corrupt", id));
    assert_false(in(f, "active", id));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test_setup_teardown(test_take_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_some, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
