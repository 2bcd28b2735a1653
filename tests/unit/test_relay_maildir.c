/* test_relay_maildir - unit tests for relay/relay_maildir. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dstr.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "relay/relay_maildir.h"
#include "relay/relay_transport.h"
#include "testutil.h"

/* name_of - relay_maildir_name() as a string (static buffer) */
static const char *
name_of(const char *rcpt)
{
    static char buf[1024];
    struct dstr *d = dstr_new(64, 1024);

    if (relay_maildir_name(d, rcpt) < 0)
        (void) snprintf(buf, sizeof(buf), "(error)");
    else
        (void) snprintf(buf, sizeof(buf), "%s", d->data);
    dstr_free(d);
    return buf;
}

/* test_name - safe directory names */
static void
test_name(void **state)
{
    (void) state;
    assert_string_equal(name_of("Bob@Example.COM"), "bob@example.com");
    assert_string_equal(name_of("a+b-c_d=e@x.y"), "a+b-c_d=e@x.y");
    assert_string_equal(name_of("../../etc@x"), "%2E.%2F..%2Fetc@x");
    assert_string_equal(name_of(".hidden@x"), "%2Ehidden@x");
    assert_string_equal(name_of("a/b@x"), "a%2Fb@x");
    assert_string_equal(name_of("sp ace\"q@x"), "sp%20ace%22q@x");
    assert_string_equal(name_of("\xc3\xa9@x"), "%C3%A9@x");
    assert_string_equal(name_of(""), "(error)");
}

/* test_unique - different names each call */
static void
test_unique(void **state)
{
    char    a[256], b[256];

    (void) state;
    assert_int_equal(relay_maildir_unique(a, sizeof(a)), 0);
    assert_int_equal(relay_maildir_unique(b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
    assert_null(strchr(a, '/'));
    assert_int_equal(relay_maildir_unique(a, 8), -1);
}

/* only_file - the one file in DIR; NULL when not exactly one */
static char *
only_file(const char *dir)
{
    DIR    *d = opendir(dir);
    struct dirent *de;
    char   *found = NULL;
    size_t  n2;
    int     n = 0;

    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        n++;
        free(found);
        n2 = strlen(dir) + strlen(de->d_name) + 2;
        found = malloc(n2);
        (void) snprintf(found, n2, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n != 1) {
        free(found);
        return NULL;
    }
    return found;
}

/* test_deliver - the file in new/ is the headers plus the content, exactly */
static void
test_deliver(void **state)
{
    static const char content[] = "Subject: t\r\n\r\nbare\nlf, NUL \0 and"
        " 8bit \xff\r\n.dot\r\n";
    static const char expect_head[] = "Return-Path: <s@y.example>\r\n"
        "Delivered-To: Bob@X.example\r\nReceived: x\r\n";
    char   *dir = testutil_tmpdir(), qdir[1024], base[1024], p[2048], *file;
    struct dstr *why = dstr_new(64, 4096);
    struct queue_file_rcpt rcpt = {"Bob@X.example", 0, NULL};
    struct queue_file_env env;
    struct queue_file *qf;
    struct queue_file_reader *r;
    struct relay_rcpt rr;
    char    got[1024];
    FILE   *fp;
    size_t  n;

    (void) state;
    (void) snprintf(qdir, sizeof(qdir), "%s/q", dir);
    (void) snprintf(base, sizeof(base), "%s/mail", dir);
    assert_int_equal(queue_dirs_create(qdir, why), 0);
    memset(&env, 0, sizeof(env));
    env.sender = "s@y.example";
    env.rcpt = &rcpt;
    env.rcpt_count = 1;
    qf = queue_file_create(qdir, NULL, "Received: x\r\n", 13, why);
    assert_non_null(qf);
    assert_int_equal(queue_file_append(qf, content, sizeof(content) - 1), 0);
    (void) snprintf(p, sizeof(p), "%s/incoming/%s", qdir, queue_file_id(qf));
    assert_int_equal(queue_file_commit(qf, &env, why), 0);
    r = queue_file_read_open(p, why);
    assert_non_null(r);

    memset(&rr, 0, sizeof(rr));
    rr.address = "Bob@X.example";
    assert_int_equal(relay_maildir_deliver(base, r, &rr), 0);
    assert_int_equal(rr.status, RELAY_RCPT_SENT);
    assert_string_equal(rr.dsn, "2.0.0");
    (void) snprintf(p, sizeof(p), "%s/bob@x.example/new", base);
    file = only_file(p);
    assert_non_null(file);
    fp = fopen(file, "rb");
    assert_non_null(fp);
    n = fread(got, 1, sizeof(got), fp);
    fclose(fp);
    assert_int_equal(n, sizeof(expect_head) - 1 + sizeof(content) - 1);
    assert_memory_equal(got, expect_head, sizeof(expect_head) - 1);
    assert_memory_equal(got + sizeof(expect_head) - 1, content,
                        sizeof(content) - 1);
    free(file);
    (void) snprintf(p, sizeof(p), "%s/bob@x.example/tmp", base);
    file = only_file(p);
    assert_null(file);                 /* nothing left in tmp/ */

    /* a second delivery is a second file */
    assert_int_equal(relay_maildir_deliver(base, r, &rr), 0);
    (void) snprintf(p, sizeof(p), "%s/bob@x.example/new", base);
    assert_null(only_file(p));

    /* a base that cannot be made: deferred, with the reason */
    if (geteuid() != 0) {
        assert_int_equal(relay_maildir_deliver("/proc/nonexistent/mail", r,
                                               &rr), -1);
    } else {
        assert_int_equal(relay_maildir_deliver("/proc/self/nonexistent", r,
                                               &rr), -1);
    }
    assert_int_equal(rr.status, RELAY_RCPT_DEFER);
    assert_non_null(strstr(rr.text, "mkdir"));
    assert_true(rr.dsn[0] == '4');

    (void) queue_file_read_close(r);
    dstr_free(why);
    testutil_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_deliver),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
