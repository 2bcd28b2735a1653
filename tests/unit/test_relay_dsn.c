/* test_relay_dsn - unit tests for relay/relay_dsn. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "relay/relay_dsn.h"
#include "relay/relay_transport.h"
#include "testutil.h"

/* test_wanted - NOTIFY and the null sender */
static void
test_wanted(void **state)
{
    struct queue_file_env env;
    struct queue_file_rcpt r = {"u@x", 0, NULL};

    (void) state;
    memset(&env, 0, sizeof(env));
    env.sender = "s@y";
    assert_true(relay_dsn_wanted(&env, &r));
    r.notify = QUEUE_FILE_NOTIFY_FAILURE | QUEUE_FILE_NOTIFY_DELAY;
    assert_true(relay_dsn_wanted(&env, &r));
    r.notify = QUEUE_FILE_NOTIFY_SUCCESS;
    assert_false(relay_dsn_wanted(&env, &r));
    r.notify = QUEUE_FILE_NOTIFY_NEVER;
    assert_false(relay_dsn_wanted(&env, &r));
    r.notify = 0;
    env.sender = "";
    assert_false(relay_dsn_wanted(&env, &r));
    r.notify = QUEUE_FILE_NOTIFY_SUCCESS;
    assert_false(relay_dsn_success_wanted(&env, &r));
    env.sender = "s@y";
    assert_true(relay_dsn_success_wanted(&env, &r));
    r.notify = QUEUE_FILE_NOTIFY_FAILURE;
    assert_false(relay_dsn_success_wanted(&env, &r));
}

/* test_format_success - a success report: delivered, headers only */
static void
test_format_success(void **state)
{
    struct queue_file_rcpt er = {"ok@x.example", QUEUE_FILE_NOTIFY_SUCCESS,
        NULL};
    struct queue_file_env env;
    struct relay_rcpt r, *list[1] = {&r};
    struct dstr *out = dstr_new(1024, 1024 * 1024);
    int     full;

    (void) state;
    memset(&env, 0, sizeof(env));
    memcpy(env.id, "1K12ZGWHXE0000PFQ112", QUEUE_ID_SIZE);
    env.sender = "s@y.example";
    env.rcpt = &er;
    env.rcpt_count = 1;
    memset(&r, 0, sizeof(r));
    r.address = "ok@x.example";
    relay_rcpt_set(&r, RELAY_RCPT_SENT, "2.0.0", "maildir", 0, "delivered");
    r.action = "delivered";
    assert_int_equal(relay_dsn_format(out, "mx.test", &env, list, 1,
                                      1700000100, &full), 0);
    assert_int_equal(full, 0);
    assert_non_null(strstr(out->data, "Subject: Successful Mail Delivery"
                           " Report\r\n"));
    assert_non_null(strstr(out->data, "Action: delivered\r\nStatus: 2.0.0"));
    assert_null(strstr(out->data, "Action: failed"));
    assert_non_null(strstr(out->data, "Content-Type: text/rfc822-headers"));
    dstr_free(out);
}

/* test_format - the parts and fields of RFC 3464 */
static void
test_format(void **state)
{
    struct queue_file_rcpt er[2] = {
        {"bad@x.example", 0, "rfc822;orig+2Bbad@x.example"},
        {"gone@x.example", 0, NULL},
    };
    struct queue_file_env env;
    struct relay_rcpt r1, r2;
    struct relay_rcpt *failed[2] = {&r1, &r2};
    struct dstr *out = dstr_new(1024, 1024 * 1024);
    int     full;

    (void) state;
    memset(&env, 0, sizeof(env));
    memcpy(env.id, "1K12ZGWHXE0000PFQ112", QUEUE_ID_SIZE);
    env.sender = "s@y.example";
    env.envid = "env+2Did";
    env.rcpt = er;
    env.rcpt_count = 2;
    env.arrival_us = 1700000000LL * 1000000;
    env.size = 100;
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    r1.index = 0;
    r1.address = "bad@x.example";
    relay_rcpt_set(&r1, RELAY_RCPT_BOUNCE, "5.1.1", "mx[10.0.0.1]:25", 1,
                   "550 5.1.1 no such user");
    r2.index = 1;
    r2.address = "gone@x.example";
    relay_rcpt_set(&r2, RELAY_RCPT_BOUNCE, "4.4.1", NULL, 0,
                   "connect to mx: refused");
    assert_int_equal(relay_dsn_format(out, "mx.test", &env, failed, 2,
                                      1700000100, &full), 0);
    assert_int_equal(full, 1);
    assert_non_null(strstr(out->data, "From: MAILER-DAEMON@mx.test"));
    assert_non_null(strstr(out->data, "To: <s@y.example>\r\n"));
    assert_non_null(strstr(out->data, "Content-Type: multipart/report;"
                           " report-type=delivery-status;\r\n\tboundary=\""
                           "1K12ZGWHXE0000PFQ112.mx.test/doppel\"\r\n"));
    assert_non_null(strstr(out->data, "\r\n--1K12ZGWHXE0000PFQ112.mx.test/"
                           "doppel\r\nContent-Description: Delivery report\r\n"
                           "Content-Type: message/delivery-status\r\n\r\n"
                           "Reporting-MTA: dns; mx.test\r\n"));
    assert_non_null(strstr(out->data, "Original-Envelope-Id: env-id\r\n"));
    assert_non_null(strstr(out->data, "\r\n\r\nFinal-Recipient: rfc822;"
                           " bad@x.example\r\nOriginal-Recipient: rfc822;"
                           "orig+bad@x.example\r\nAction: failed\r\n"
                           "Status: 5.1.1\r\nRemote-MTA: dns; mx[10.0.0.1]:25"
                           "\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user"
                           "\r\n"));
    assert_non_null(strstr(out->data, "Final-Recipient: rfc822;"
                           " gone@x.example\r\nAction: failed\r\n"
                           "Status: 4.4.1\r\nDiagnostic-Code: X-Doppel;"
                           " connect to mx: refused\r\n"));
    assert_non_null(strstr(out->data, "Content-Type: message/rfc822\r\n"));
    assert_null(strstr(out->data, "\n\n"));    /* no bare LF lines */

    /* RET=HDRS: headers only */
    dstr_truncate(out, 0);
    env.ret = QUEUE_FILE_RET_HDRS;
    env.envid = NULL;
    assert_int_equal(relay_dsn_format(out, "mx.test", &env, failed, 1,
                                      1700000100, &full), 0);
    assert_int_equal(full, 0);
    assert_non_null(strstr(out->data, "Content-Type: text/rfc822-headers\r\n"));
    assert_null(strstr(out->data, "Original-Envelope-Id"));
    assert_null(strstr(out->data, "gone@x.example"));
    dstr_free(out);
}

/* test_queue - the notice is a queued message from <> to the sender */
static void
test_queue(void **state)
{
    char   *dir = testutil_tmpdir(), qdir[1024], p[2048], id[QUEUE_ID_SIZE];
    struct dstr *why = dstr_new(64, 4096);
    struct queue_file_rcpt rcpt = {"bad@x.example", 0, NULL};
    struct queue_file_env env;
    struct queue_file *qf;
    struct queue_file_reader *r, *b;
    const struct queue_file_env *benv;
    struct relay_rcpt rr, *failed[1] = {&rr};
    static char buf[65536];
    ssize_t n;

    (void) state;
    (void) snprintf(qdir, sizeof(qdir), "%s/q", dir);
    assert_int_equal(queue_dirs_create(qdir, why), 0);
    memset(&env, 0, sizeof(env));
    env.sender = "s@y.example";
    env.rcpt = &rcpt;
    env.rcpt_count = 1;
    env.ret = QUEUE_FILE_RET_HDRS;
    qf = queue_file_create(qdir, NULL, "Received: x\r\n", 13, why);
    assert_int_equal(queue_file_append(qf, "Subject: hi\r\n\r\nsecret body\r\n",
                                       28), 0);
    (void) snprintf(p, sizeof(p), "%s/incoming/%s", qdir, queue_file_id(qf));
    assert_int_equal(queue_file_commit(qf, &env, why), 0);
    r = queue_file_read_open(p, why);
    assert_non_null(r);
    memset(&rr, 0, sizeof(rr));
    rr.address = "bad@x.example";
    relay_rcpt_set(&rr, RELAY_RCPT_BOUNCE, "5.1.1", "h", 1, "550 no");
    assert_int_equal(relay_dsn_queue(qdir, "mx.test", r, failed, 1, id, why),
                     0);
    assert_true(queue_id_valid(id));
    (void) snprintf(p, sizeof(p), "%s/incoming/%s", qdir, id);
    b = queue_file_read_open(p, why);
    assert_non_null(b);
    benv = queue_file_read_env(b);
    assert_string_equal(benv->sender, "");
    assert_int_equal(benv->rcpt_count, 1);
    assert_string_equal(benv->rcpt[0].address, "s@y.example");
    n = queue_file_read_content(b, buf, sizeof(buf) - 1, why);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\r\nReceived: x\r\nSubject: hi\r\n\r\n--"));
    assert_null(strstr(buf, "secret body"));   /* RET=HDRS */
    assert_non_null(strstr(buf, "/doppel--\r\n"));
    (void) queue_file_read_close(b);
    (void) queue_file_read_close(r);
    dstr_free(why);
    testutil_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_success),
        cmocka_unit_test(test_queue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
