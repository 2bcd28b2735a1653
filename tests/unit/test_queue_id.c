/* test_queue_id - unit tests for global/queue_id: format, order, uniqueness. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "global/queue_id.h"
#include "testutil.h"

#define TEST_MANY       100000         /* IDs in one process */
#define TEST_THREADS    4
#define TEST_PER_THREAD 20000
#define TEST_CHILDREN   8
#define TEST_PER_CHILD  5000

/* test_cmp_id - qsort comparison of fixed-size ID slots */
static int
test_cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* test_assert_unique - sort n IDs and assert no two are equal */
static void
test_assert_unique(char (*ids)[QUEUE_ID_SIZE], size_t n)
{
    qsort(ids, n, QUEUE_ID_SIZE, test_cmp_id);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate queue ID %s", ids[i]);
}

/* test_queue_id_format - length, alphabet, and the fields decode */
static void
test_queue_id_format(void **state)
{
    char    id[QUEUE_ID_SIZE];
    struct queue_id_parts parts;
    struct timeval before;
    struct timeval after;
    long long b;
    long long a;

    (void) state;
    gettimeofday(&before, NULL);
    assert_int_equal(queue_id_new(id, sizeof(id)), 0);
    gettimeofday(&after, NULL);
    assert_int_equal(strlen(id), QUEUE_ID_LEN);
    assert_int_equal(strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
                     QUEUE_ID_LEN);
    assert_true(queue_id_valid(id));
    assert_int_equal(queue_id_parse(id, &parts), 0);
    assert_int_equal(parts.pid, (long) getpid());
    b = (long long) before.tv_sec * 1000000 + before.tv_usec;
    a = (long long) after.tv_sec * 1000000 + after.tv_usec;
    /* The time field may run ahead of the clock by the IDs made so far. */
    assert_true(parts.time_us >= b);
    assert_true(parts.time_us <= a + TEST_MANY * 4);
    assert_true(parts.seq < (1u << 15));
}

/* test_queue_id_small_buffer - refused, not truncated */
static void
test_queue_id_small_buffer(void **state)
{
    char    id[QUEUE_ID_SIZE];

    (void) state;
    memset(id, 'x', sizeof(id));
    errno = 0;
    assert_int_equal(queue_id_new(id, QUEUE_ID_LEN), -1);
    assert_int_equal(errno, ERANGE);
    assert_int_equal(id[0], 'x');
    assert_int_equal(queue_id_new(NULL, 100), -1);
}

/* test_queue_id_valid - what the CLI may pass in */
static void
test_queue_id_valid(void **state)
{
    char    id[QUEUE_ID_SIZE];
    char    bad[QUEUE_ID_SIZE + 2];
    struct queue_id_parts parts;
    static const char *const refused[] = {
        "", "1", "1HKZ3T0B7Q000K7N0A2", "1HKZ3T0B7Q000K7N0A2FF",
        "1hkz3t0b7q000k7n0a2f", "1HKZ3T0B7Q000K7N0A2I", "1HKZ3T0B7Q000K7N0A2L",
        "1HKZ3T0B7Q000K7N0A2O", "1HKZ3T0B7Q000K7N0A2U", "../../etc/passwd",
        "1HKZ3T0B7Q000K7N0A/F", "1HKZ3T0B7Q000K7N0A2 ", " 1HKZ3T0B7Q000K7N0A2",
        "1HKZ3T0B7Q000K7N0A2\n",
    };

    (void) state;
    assert_true(queue_id_valid("1HKZ3T0B7Q000K7N0A2F"));
    assert_true(queue_id_valid("00000000000000000000"));
    assert_true(queue_id_valid("ZZZZZZZZZZZZZZZZZZZZ"));
    assert_false(queue_id_valid(NULL));
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (queue_id_valid(refused[i]))
            fail_msg("accepted \"%s\"", refused[i]);

    /* Every position checked: break each character of a real ID. */
    assert_int_equal(queue_id_new(id, sizeof(id)), 0);
    for (int i = 0; i < QUEUE_ID_LEN; i++) {
        memcpy(bad, id, sizeof(id));
        bad[i] = 'o';
        assert_false(queue_id_valid(bad));
        bad[i] = '\0';
        assert_false(queue_id_valid(bad));
    }
    /* An ID followed by more text is not an ID. */
    memcpy(bad, id, QUEUE_ID_LEN);
    bad[QUEUE_ID_LEN] = 'A';
    bad[QUEUE_ID_LEN + 1] = '\0';
    assert_false(queue_id_valid(bad));

    errno = 0;
    assert_int_equal(queue_id_parse("not-an-id", &parts), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(queue_id_parse("00000000001000001002", &parts), 0);
    assert_int_equal(parts.time_us, 1);
    assert_int_equal(parts.pid, 1);
    assert_int_equal(parts.seq, 2);
    assert_int_equal(queue_id_parse("ZZZZZZZZZZZZZZZZZZZZ", &parts), 0);
    assert_int_equal(parts.time_us, (1LL << 55) - 1);
    assert_int_equal(parts.pid, (1L << 30) - 1);
    assert_int_equal(parts.seq, (1u << 15) - 1);
}

/* test_queue_id_order - one process: strictly increasing, hence unique */
static void
test_queue_id_order(void **state)
{
    char    (*ids)[QUEUE_ID_SIZE] = calloc(TEST_MANY, QUEUE_ID_SIZE);
    struct queue_id_parts p0;
    struct queue_id_parts p1;

    (void) state;
    assert_non_null(ids);
    for (size_t i = 0; i < TEST_MANY; i++)
        assert_int_equal(queue_id_new(ids[i], QUEUE_ID_SIZE), 0);
    for (size_t i = 1; i < TEST_MANY; i++) {
        if (strcmp(ids[i - 1], ids[i]) >= 0)
            fail_msg("%s then %s: not increasing", ids[i - 1], ids[i]);
        assert_int_equal(queue_id_parse(ids[i - 1], &p0), 0);
        assert_int_equal(queue_id_parse(ids[i], &p1), 0);
        assert_true(p1.time_us > p0.time_us);
        assert_int_equal(p1.seq, (p0.seq + 1) & 0x7fff);
    }
    free(ids);
}

struct test_thread {
    pthread_t tid;
    char    (*ids)[QUEUE_ID_SIZE];
};

/* test_thread_main - make TEST_PER_THREAD IDs */
static void *
test_thread_main(void *arg)
{
    struct test_thread *t = arg;

    for (size_t i = 0; i < TEST_PER_THREAD; i++)
        if (queue_id_new(t->ids[i], QUEUE_ID_SIZE) < 0)
            return arg;
    return NULL;
}

/* test_queue_id_threads - threads of one process never collide */
static void
test_queue_id_threads(void **state)
{
    char    (*ids)[QUEUE_ID_SIZE] = calloc(TEST_THREADS * TEST_PER_THREAD,
                                           QUEUE_ID_SIZE);
    struct test_thread t[TEST_THREADS];
    void   *res;

    (void) state;
    assert_non_null(ids);
    for (int i = 0; i < TEST_THREADS; i++) {
        t[i].ids = ids + (size_t) i * TEST_PER_THREAD;
        assert_int_equal(pthread_create(&t[i].tid, NULL, test_thread_main,
                                        &t[i]), 0);
    }
    for (int i = 0; i < TEST_THREADS; i++) {
        assert_int_equal(pthread_join(t[i].tid, &res), 0);
        assert_null(res);
    }
    for (size_t i = 0; i < TEST_THREADS * TEST_PER_THREAD; i++)
        assert_true(queue_id_valid(ids[i]));
    test_assert_unique(ids, TEST_THREADS * TEST_PER_THREAD);
    free(ids);
}

/* test_queue_id_fork - children (same state, other PIDs) never collide */
static void
test_queue_id_fork(void **state)
{
    size_t  total = (TEST_CHILDREN + 1) * TEST_PER_CHILD;
    char    (*ids)[QUEUE_ID_SIZE] = calloc(total, QUEUE_ID_SIZE);
    int     fds[TEST_CHILDREN][2];
    pid_t   pids[TEST_CHILDREN];
    size_t  want = TEST_PER_CHILD * QUEUE_ID_SIZE;
    int     status;

    (void) state;
    assert_non_null(ids);
    /* Make one ID first, so every child inherits a used state. */
    assert_int_equal(queue_id_new(ids[0], QUEUE_ID_SIZE), 0);
    for (int c = 0; c < TEST_CHILDREN; c++) {
        assert_int_equal(pipe(fds[c]), 0);
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            char    (*mine)[QUEUE_ID_SIZE] = calloc(TEST_PER_CHILD,
                                                    QUEUE_ID_SIZE);
            const char *p = (const char *) mine;
            size_t  left = want;
            ssize_t w;

            close(fds[c][0]);
            for (size_t i = 0; i < TEST_PER_CHILD; i++)
                if (mine == NULL || queue_id_new(mine[i], QUEUE_ID_SIZE) < 0)
                    _exit(2);
            while (left > 0 && (w = write(fds[c][1], p, left)) > 0) {
                p += w;
                left -= (size_t) w;
            }
            _exit(left == 0 ? 0 : 3);
        }
        close(fds[c][1]);
    }
    /* The parent goes on making IDs while the children do. */
    for (size_t i = 1; i < TEST_PER_CHILD; i++)
        assert_int_equal(queue_id_new(ids[i], QUEUE_ID_SIZE), 0);
    for (int c = 0; c < TEST_CHILDREN; c++) {
        char   *p = (char *) ids[(size_t) (c + 1) * TEST_PER_CHILD];
        size_t  got = 0;
        ssize_t n;

        while (got < want && (n = read(fds[c][0], p + got, want - got)) > 0)
            got += (size_t) n;
        close(fds[c][0]);
        assert_int_equal(got, want);
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (size_t i = 0; i < total; i++)
        assert_true(queue_id_valid(ids[i]));
    test_assert_unique(ids, total);
    free(ids);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_id_format),
        cmocka_unit_test(test_queue_id_small_buffer),
        cmocka_unit_test(test_queue_id_valid),
        cmocka_unit_test(test_queue_id_order),
        cmocka_unit_test(test_queue_id_threads),
        cmocka_unit_test(test_queue_id_fork),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
