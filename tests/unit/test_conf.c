/*
 * test_conf - loading a configuration directory: both files, classes
 * found from parameter names, per-service personalities, warnings for
 * unknown names, and clear errors for missing or broken files.
 */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "conf/conf.h"
#include "testutil.h"

static char *dir;

/* setup - capture logs, fresh directory */
static int
setup(void **state)
{
    (void) state;
    testutil_log_start();
    dir = testutil_tmpdir();
    return 0;
}

/* teardown - remove the directory */
static int
teardown(void **state)
{
    (void) state;
    testutil_rmtree(dir);
    free(dir);
    testutil_log_stop();
    return 0;
}

/* write - put a file into the test directory */
static void
write_file(const char *name, const char *text)
{
    free(testutil_write_file(dir, name, text, strlen(text)));
}

/* test_conf_load - both files, services with their own personalities */
static void
test_conf_load(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct conf *c = NULL;
    const struct personality *p;

    (void) state;
    write_file("doppel.cf",
               "myhostname = mx.example.com\n"
               "smtpd_timeout = 60s\n"
               "stress_smtpd_timeout = 2s\n"
               "vip_smtpd_timeout = 600s\n");
    write_file("services.cf",
               "127.0.0.1:2525 inet 1 smtpd\n"
               "127.0.0.1:2526 inet 1 smtpd -p stress\n"
               "  -o smtpd_authorized_xclient_hosts=127.0.0.0/8\n"
               "  -o stress_smtpd_timeout=1s\n");
    assert_int_equal(conf_load(dir, &c, errors), 0);
    assert_string_equal(errors->data, "");
    assert_int_equal(c->services->count, 2);
    /* classes: built-in ones and vip, found from vip_smtpd_timeout */
    assert_string_equal(c->classes[0], "preferred");
    assert_string_equal(c->classes[c->nclasses - 1], "vip");
    assert_int_equal(conf_params(c, CONF_NO_SERVICE, "default", 0)
                     ->smtpd_timeout, 60000);
    assert_int_equal(conf_params(c, CONF_NO_SERVICE, "default", 1)
                     ->smtpd_timeout, 2000);
    assert_int_equal(conf_params(c, CONF_NO_SERVICE, "vip", 1)
                     ->smtpd_timeout, 600000);
    assert_int_equal(conf_params(c, 1, "default", 1)->smtpd_timeout, 1000);
    assert_int_equal(conf_params(c, 1, "default", 0)->smtpd_timeout, 60000);
    assert_int_equal(conf_params(c, 1, NULL, 0)
                     ->smtpd_authorized_xclient_hosts.count, 1);
    assert_int_equal(conf_params(c, 0, NULL, 0)
                     ->smtpd_authorized_xclient_hosts.count, 0);
    p = conf_personality(c, 1, "default", 1);
    assert_string_equal(p->name, "stress");
    assert_int_equal(c->services->items[1].force, SERVICE_FORCE_STRESS);
    assert_false(testutil_logged("warning"));
    conf_free(c);
    dstr_free(errors);
}

/* test_conf_warnings - unknown names get the nearest known one */
static void
test_conf_warnings(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct conf *c = NULL;

    (void) state;
    write_file("doppel.cf",
               "smtpd_timout = 10s\n"
               "stress_queue_directory = /tmp\n"
               "vip_mail_owner = nobody\n"
               "my_macro = example.org\n"
               "myorigin = $my_macro\n"
               "completely_unrelated_thing = 1\n");
    assert_int_equal(conf_load(dir, &c, errors), 0);
    assert_true(testutil_logged("doppel.cf:1: unknown parameter smtpd_timout"
                                " (did you mean smtpd_timeout?)"));
    assert_true(testutil_logged("doppel.cf:2: stress_queue_directory:"
                                " queue_directory is not a per-session"
                                " parameter"));
    assert_true(testutil_logged("doppel.cf:3: vip_mail_owner: mail_owner is"
                                " not a per-session parameter"));
    assert_false(testutil_logged("my_macro"));
    assert_true(testutil_logged("doppel.cf:6: unknown parameter"
                                " completely_unrelated_thing"));
    assert_string_equal(conf_params(c, CONF_NO_SERVICE, NULL, 0)->myorigin,
                        "example.org");
    conf_free(c);
    dstr_free(errors);
}

/*
 * test_conf_restriction_classes - class names are the user's: no
 * "unknown parameter" warning for them, but one for a class that
 * smtpd_restriction_classes does not list.
 */
static void
test_conf_restriction_classes(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct conf *c = NULL;
    const struct params *p;

    (void) state;
    write_file("doppel.cf",
               "smtpd_restriction_classes = strict\n"
               "strict = reject_unauth_destination, reject\n"
               "forgotten = permit\n");
    write_file("services.cf", "127.0.0.1:2525 inet 1 smtpd\n"
               "  -o strict=permit\n");
    assert_int_equal(conf_load(dir, &c, errors), 0);
    assert_string_equal(errors->data, "");
    assert_false(testutil_logged("strict"));
    assert_true(testutil_logged("doppel.cf:3: unknown parameter forgotten"));
    p = conf_params(c, CONF_NO_SERVICE, NULL, 1);
    assert_int_equal(p->restriction_class_lists[0].count, 2);
    p = conf_params(c, 0, NULL, 0);
    assert_int_equal(p->restriction_class_lists[0].count, 1);
    assert_string_equal(p->restriction_class_lists[0].items[0], "permit");
    c = conf_free(c);
    write_file("doppel.cf", "smtpd_restriction_classes = strict\n");
    write_file("services.cf", "");
    assert_int_equal(conf_load(dir, &c, errors), -1);
    assert_non_null(strstr(errors->data, "restriction class strict has no"
                           " definition"));
    dstr_free(errors);
}

/* test_conf_errors - missing and broken files */
static void
test_conf_errors(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct conf *c = NULL;

    (void) state;
    /* no doppel.cf */
    assert_int_equal(conf_load(dir, &c, errors), -1);
    assert_null(c);
    assert_non_null(strstr(errors->data, "doppel.cf: cannot open"));
    /* doppel.cf alone is enough */
    dstr_reset(errors);
    write_file("doppel.cf", "myhostname = a.example\n");
    assert_int_equal(conf_load(dir, &c, errors), 0);
    assert_int_equal(c->services->count, 0);
    c = conf_free(c);
    /* a broken services.cf and a broken value: both reported */
    write_file("services.cf", "127.0.0.1:25 inet 1 smtpd -o smtpd_timeout=fast\n");
    assert_int_equal(conf_load(dir, &c, errors), -1);
    assert_non_null(strstr(errors->data, "services.cf:1: smtpd_timeout:"
                           " \"fast\" is not a time"));
    dstr_reset(errors);
    write_file("services.cf", "127.0.0.1:25 inet many smtpd\n");
    write_file("doppel.cf", "smtpd_hard_error_limit = -5\n");
    assert_int_equal(conf_load(dir, &c, errors), -1);
    assert_non_null(strstr(errors->data, "services.cf:1: workers \"many\""));
    dstr_reset(errors);
    write_file("services.cf", "");
    assert_int_equal(conf_load(dir, &c, errors), -1);
    assert_non_null(strstr(errors->data, "doppel.cf:1: smtpd_hard_error_limit:"
                           " \"-5\" is below the minimum 1"));
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_warnings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_restriction_classes, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
