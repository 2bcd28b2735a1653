/* test_services - services.cf lines, options and every error. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/cfparse.h"
#include "conf/services.h"
#include "testutil.h"

/* test_services_lines - the forms a service line may take */
static void
test_services_lines(void **state)
{
    static const char text[] =
        "# the example\n"
        "0.0.0.0:25 inet 2 smtpd\n"
        "127.0.0.1:2526 inet 1 smtpd -p stress\n"
        "    -o smtpd_authorized_xclient_hosts=127.0.0.0/8\n"
        "[::1]:2525 inet - smtpd -pnormal -o { smtpd_banner = hello there }\n"
        "*:587 inet 1 smtpd -o stress_smtpd_timeout=5s\n"
        "2500 inet 1 smtpd\n"
        "/run/doppel/relay.sock unix 1 relay\n";
    struct dstr *errors = dstr_new(64, 4096);
    struct service_list *l;
    const struct service_def *s;

    (void) state;
    l = services_parse_buffer("services.cf", text, sizeof(text) - 1, errors);
    assert_non_null(l);
    assert_string_equal(errors->data, "");
    assert_int_equal(l->count, 6);
    s = &l->items[0];
    assert_string_equal(s->host, "0.0.0.0");
    assert_string_equal(s->port, "25");
    assert_int_equal(s->workers, 2);
    assert_string_equal(s->program, "smtpd");
    assert_int_equal(s->force, SERVICE_FORCE_AUTO);
    assert_int_equal(s->line, 2);
    s = &l->items[1];
    assert_int_equal(s->force, SERVICE_FORCE_STRESS);
    assert_string_equal(cfparse_get(s->overrides,
                                    "smtpd_authorized_xclient_hosts")->value,
                        "127.0.0.0/8");
    assert_int_equal(cfparse_get(s->overrides,
                                 "smtpd_authorized_xclient_hosts")->line, 3);
    s = &l->items[2];
    assert_string_equal(s->host, "::1");
    assert_int_equal(s->workers, 1);
    assert_int_equal(s->force, SERVICE_FORCE_NORMAL);
    assert_string_equal(cfparse_get(s->overrides, "smtpd_banner")->value,
                        "hello there");
    s = &l->items[3];
    assert_string_equal(s->host, "");
    assert_string_equal(cfparse_get(s->overrides, "stress_smtpd_timeout")->value,
                        "5s");
    s = &l->items[4];
    assert_string_equal(s->host, "");
    assert_string_equal(s->port, "2500");
    s = &l->items[5];
    assert_int_equal(s->type, SERVICE_UNIX);
    assert_string_equal(s->path, "/run/doppel/relay.sock");
    assert_string_equal(services_force_name(SERVICE_FORCE_STRESS), "stress");
    services_free(l);
    dstr_free(errors);
}

/* expect_error - a line refused with a message containing want */
static void
expect_error(const char *text, const char *want)
{
    struct dstr *errors = dstr_new(64, 4096);
    struct service_list *l = services_parse_buffer("services.cf", text,
                                                   strlen(text), errors);

    if (l != NULL)
        fail_msg("\"%s\" was accepted", text);
    if (strstr(errors->data, want) == NULL)
        fail_msg("errors \"%s\" lack \"%s\"", errors->data, want);
    dstr_free(errors);
}

/* test_services_errors - every error with its line */
static void
test_services_errors(void **state)
{
    (void) state;
    expect_error("127.0.0.1:25 inet 1\n",
                 "services.cf:1: expected LISTEN TYPE WORKERS PROGRAM");
    expect_error("\n127.0.0.1:25 tcp 1 smtpd\n",
                 "services.cf:2: type \"tcp\" is not inet or unix");
    expect_error("127.0.0.1:99999 inet 1 smtpd\n",
                 "\"99999\" is not a port number (use 1 to 65535)");
    expect_error("127.0.0.1:smtp inet 1 smtpd\n", "is not a port number");
    expect_error("::1:25 inet 1 smtpd\n", "write IPv6 addresses in brackets");
    expect_error("[::1 inet 1 smtpd\n", "is not an address (use [ipv6]:port)");
    expect_error("127.0.0.1:25 inet 0 smtpd\n",
                 "workers \"0\" is not a number from 1 to 256");
    expect_error("127.0.0.1:25 inet 1 sendmail\n",
                 "unknown program \"sendmail\" (use smtpd or relay)");
    expect_error("127.0.0.1:25 inet 1 smtpd -x\n", "unknown option \"-x\"");
    expect_error("127.0.0.1:25 inet 1 smtpd -o\n", "-o needs an argument");
    expect_error("127.0.0.1:25 inet 1 smtpd -o smtpd_timeout\n",
                 "missing \"=\" (use -o name=value)");
    expect_error("127.0.0.1:25 inet 1 smtpd -o bad-name=1\n",
                 "is not a parameter name");
    expect_error("127.0.0.1:25 inet 1 smtpd -p sometimes\n",
                 "-p sometimes: use auto, normal or stress");
    expect_error("127.0.0.1:25 inet 1 smtpd -o {a = b\n",
                 "\"{\" without a matching \"}\"");
    expect_error("127.0.0.1:25 inet 1 smtpd\n127.0.0.1:25 inet 1 smtpd\n",
                 "services.cf:2: \"127.0.0.1:25\" is already defined at line 1");
    expect_error("  -o a=b\n", "services.cf:1: line starts with white space");
}

/* test_services_binary - a NUL byte means this is no text file */
static void
test_services_binary(void **state)
{
    static const char text[] = "127.0.0.1:25 inet 1 smtpd\0\n";
    struct dstr *errors = dstr_new(64, 4096);

    (void) state;
    assert_null(services_parse_buffer("services.cf", text, sizeof(text) - 1,
                                      errors));
    assert_non_null(strstr(errors->data, "services.cf:1: file contains a NUL"));
    dstr_free(errors);
}

/* test_services_file - a missing file is a clear error */
static void
test_services_file(void **state)
{
    struct dstr *errors = dstr_new(64, 4096);

    (void) state;
    assert_null(services_parse_file("/nonexistent/services.cf", errors));
    assert_non_null(strstr(errors->data, "cannot open"));
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services_lines),
        cmocka_unit_test(test_services_errors),
        cmocka_unit_test(test_services_file),
        cmocka_unit_test(test_services_binary),
    };

    return cmocka_run_group_tests_name("services", tests, NULL, NULL);
}
