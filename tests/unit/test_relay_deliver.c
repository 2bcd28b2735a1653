/* test_relay_deliver - unit tests for relay/relay_deliver: attempts and settling. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "tables/table.h"
#include "relay/relay_deliver.h"
#include "relay/relay_queue.h"
#include "testutil.h"

static unsigned put_notify;             /* NOTIFY of every recipient put */

struct fixture {
    char   *dir;
    char    qdir[1024];
    char    transport[1200];
    struct params p;
    struct dstr *why;
};

/* setup - a queue and params with a maildir default */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dir = testutil_tmpdir();
    (void) snprintf(f->qdir, sizeof(f->qdir), "%s/queue", f->dir);
    (void) snprintf(f->transport, sizeof(f->transport), "maildir:%s/mail",
                    f->dir);
    f->why = dstr_new(128, 4096);
    if (queue_dirs_create(f->qdir, f->why) < 0)
        fail_msg("queue_dirs_create: %s", f->why->data);
    f->p.relay_transport = f->transport;
    f->p.myhostname = (char *) "mx.test";
    f->p.minimal_backoff_time = 300000;
    f->p.maximal_backoff_time = 4000000;
    f->p.maximal_queue_lifetime = 86400000;
    f->p.bounce_queue_lifetime = 86400000;
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
    testutil_rmtree(f->dir);
    free(f->dir);
    dstr_free(f->why);
    free(f);
    return 0;
}

/* put_active - a message already taken into active/ */
static void
put_active(struct fixture *f, const char *sender, const char *const *rcpts,
           size_t n, long long arrival_us, char *id)
{
    struct queue_file_rcpt qr[4];
    struct queue_file_env env;
    struct queue_file *qf;
    size_t  i;

    memset(&env, 0, sizeof(env));
    memset(qr, 0, sizeof(qr));
    for (i = 0; i < n; i++) {
        qr[i].address = rcpts[i];
        qr[i].notify = put_notify;
    }
    env.sender = sender;
    env.rcpt = qr;
    env.rcpt_count = n;
    env.arrival_us = arrival_us;
    qf = queue_file_create(f->qdir, NULL, NULL, 0, f->why);
    assert_non_null(qf);
    assert_int_equal(queue_file_append(qf, "Subject: t\r\n\r\nhi\r\n", 18), 0);
    memcpy(id, queue_file_id(qf), QUEUE_ID_SIZE);
    assert_int_equal(queue_file_commit(qf, &env, f->why), 0);
    assert_int_equal(relay_queue_take(f->qdir, "incoming", id, f->why), 1);
}

/* count - files in QDIR/SUB */
static int
count(struct fixture *f, const char *sub)
{
    char    p[2048];
    DIR    *d;
    struct dirent *de;
    int     n = 0;

    (void) snprintf(p, sizeof(p), "%s/%s", f->qdir, sub);
    if ((d = opendir(p)) == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        n += queue_id_valid(de->d_name);
    closedir(d);
    return n;
}

/* maps_of - a transport_maps table list from inline text */
static struct table_list *
maps_of(const char *spec)
{
    struct param_list pl = {0, NULL};
    struct table_list *tl = NULL;
    struct dstr *e = dstr_new(64, 4096);

    assert_int_equal(param_list_split(spec, &pl, e), 0);
    assert_int_equal(table_list_open(&tl, &pl, e), 0);
    param_list_free(&pl);
    dstr_free(e);
    return tl;
}

/* test_all_done - maildir and discard: the file goes, lines are logged */
static void
test_all_done(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpts[] = {"a@m.example", "b@trash.example"};
    struct table_list *maps = maps_of("inline:{ trash.example=discard }");
    struct relay_job *job;
    char    id[QUEUE_ID_SIZE], line[256];

    put_active(f, "s@y.example", rcpts, 2, 0, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_non_null(job);
    assert_int_equal(job->ndest, 2);
    assert_int_equal(relay_deliver_run(job), 0);
    job = relay_deliver_free(job);
    assert_int_equal(count(f, "active"), 0);
    assert_int_equal(count(f, "deferred"), 0);
    (void) snprintf(line, sizeof(line), "%s: to=<a@m.example>, relay=maildir,",
                    id);
    assert_true(testutil_logged(line));
    assert_true(testutil_logged("dsn=2.0.0, status=sent (delivered to maildir"));
    assert_true(testutil_logged("to=<b@trash.example>, relay=none,"));
    assert_true(testutil_logged("status=sent (discarded)"));
    (void) snprintf(line, sizeof(line), "%s: removed", id);
    assert_true(testutil_logged(line));
    maps = table_list_free(maps);
}

/* test_partial_defer - one recipient waits, in a rewritten file */
static void
test_partial_defer(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpts[] = {"a@m.example", "b@broken.example"};
    struct table_list *maps = maps_of("inline:{ broken.example="
                                      "maildir:/proc/nonexistent/x }");
    struct relay_job *job;
    struct queue_file_reader *r;
    char    id[QUEUE_ID_SIZE], p[2048];

    put_active(f, "s@y.example", rcpts, 2, 0, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_non_null(job);
    assert_int_equal(relay_deliver_run(job), 1);
    job = relay_deliver_free(job);
    assert_int_equal(count(f, "active"), 0);
    assert_int_equal(count(f, "deferred"), 1);
    assert_true(testutil_logged("to=<b@broken.example>, relay=maildir"));
    assert_true(testutil_logged("status=deferred (maildir"));
    (void) snprintf(p, sizeof(p), "%s/deferred/%s", f->qdir, id);
    r = queue_file_read_open(p, f->why);
    assert_non_null(r);
    assert_int_equal(queue_file_read_env(r)->rcpt_count, 1);
    assert_string_equal(queue_file_read_env(r)->rcpt[0].address,
                        "b@broken.example");
    (void) queue_file_read_close(r);
    maps = table_list_free(maps);
}

/* test_expired_bounce - too old: a DSN to the sender, the file goes */
static void
test_expired_bounce(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpts[] = {"b@broken.example"};
    struct table_list *maps = maps_of("inline:{ broken.example="
                                      "maildir:/proc/nonexistent/x }");
    struct relay_job *job;
    char    id[QUEUE_ID_SIZE];

    put_active(f, "s@y.example", rcpts, 1, 1000000000LL * 1000000, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_int_equal(relay_deliver_run(job), 0);
    job = relay_deliver_free(job);
    assert_true(testutil_logged("status=expired, returned to sender"));
    assert_false(testutil_logged("status=deferred"));  /* one line, not two */
    assert_true(testutil_logged("sender non-delivery notification: "));
    assert_int_equal(count(f, "active"), 0);
    assert_int_equal(count(f, "deferred"), 0);
    assert_int_equal(count(f, "incoming"), 1);  /* the bounce */
    maps = table_list_free(maps);
}

/* test_null_sender - never bounced */
static void
test_null_sender(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpts[] = {"b@broken.example"};
    struct table_list *maps = maps_of("inline:{ broken.example="
                                      "maildir:/proc/nonexistent/x }");
    struct relay_job *job;
    char    id[QUEUE_ID_SIZE];

    put_active(f, "", rcpts, 1, 1000000000LL * 1000000, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_int_equal(relay_deliver_run(job), 0);
    job = relay_deliver_free(job);
    assert_true(testutil_logged("status=expired, dropped"));
    assert_true(testutil_logged("undeliverable mail from <> not returned"));
    assert_false(testutil_logged("non-delivery notification"));
    assert_int_equal(count(f, "incoming"), 0);
    assert_int_equal(count(f, "active"), 0);
    maps = table_list_free(maps);
}

/* test_notify - SUCCESS gets a report, NEVER silences a failure */
static void
test_notify(void **state)
{
    struct fixture *f = *state;
    static const char *const ok[] = {"a@m.example"};
    static const char *const bad[] = {"b@broken.example"};
    struct table_list *maps = maps_of("inline:{ broken.example="
                                      "maildir:/proc/nonexistent/x }");
    struct relay_job *job;
    char    id[QUEUE_ID_SIZE];

    put_notify = QUEUE_FILE_NOTIFY_SUCCESS;
    put_active(f, "s@y.example", ok, 1, 0, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_int_equal(relay_deliver_run(job), 0);
    job = relay_deliver_free(job);
    assert_true(testutil_logged("sender delivery status notification: "));
    assert_int_equal(count(f, "incoming"), 1);

    put_notify = QUEUE_FILE_NOTIFY_NEVER;
    put_active(f, "s@y.example", bad, 1, 1000000000LL * 1000000, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_int_equal(relay_deliver_run(job), 0);
    job = relay_deliver_free(job);
    put_notify = 0;
    assert_false(testutil_logged("non-delivery notification"));
    assert_int_equal(count(f, "incoming"), 1);  /* still only the report */
    maps = table_list_free(maps);
}

/* test_bad_transport - a broken map value defers, never guesses */
static void
test_bad_transport(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpts[] = {"b@odd.example"};
    struct table_list *maps = maps_of("inline:{ odd.example=uucp:x }");
    struct relay_job *job;
    char    id[QUEUE_ID_SIZE];

    put_active(f, "s@y.example", rcpts, 1, 0, id);
    job = relay_deliver_prepare(f->qdir, id, &f->p, maps, f->why);
    assert_int_equal(job->ndest, 0);
    assert_int_equal(relay_deliver_run(job), 1);
    job = relay_deliver_free(job);
    assert_true(testutil_logged("dsn=4.3.5, status=deferred (mail transport"
                                " unavailable"));
    assert_int_equal(count(f, "deferred"), 1);
    maps = table_list_free(maps);
}

/* test_corrupt - a refused file goes to corrupt/ */
static void
test_corrupt(void **state)
{
    struct fixture *f = *state;
    char    p[2048];
    FILE   *fp;

    (void) snprintf(p, sizeof(p), "%s/active/00000000001000001002", f->qdir);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("doppel-queue 1\ngarbage", fp);
    fclose(fp);
    assert_null(relay_deliver_prepare(f->qdir, "00000000001000001002", &f->p,
                                      NULL, f->why));
    assert_int_equal(count(f, "corrupt"), 1);
    assert_true(testutil_logged("00000000001000001002: moved to corrupt"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_defer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_bounce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_transport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
