/* test_smtpd_cmd - unit tests for smtpd/smtpd_cmd: the tokenizer and counters. */

#include <string.h>

#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_session.h"
#include "testutil.h"

/* split - run the tokenizer on a C string */
static size_t
split(const char *line, const char **arg, size_t *arg_len)
{
    return smtpd_cmd_split(line, strlen(line), arg, arg_len);
}

/* test_smtpd_cmd_split - verb, blanks, argument, trailing blanks */
static void
test_smtpd_cmd_split(void **state)
{
    const char *arg;
    size_t  n, len;

    (void) state;
    n = split("MAIL FROM:<a@b>", &arg, &len);
    assert_int_equal(n, 4);
    assert_int_equal(len, 10);
    assert_memory_equal(arg, "FROM:<a@b>", 10);

    n = split("rcpt \t TO:<x@y> NOTIFY=NEVER  \t", &arg, &len);
    assert_int_equal(n, 4);
    assert_int_equal(len, strlen("TO:<x@y> NOTIFY=NEVER"));
    assert_memory_equal(arg, "TO:<x@y> NOTIFY=NEVER", len);

    n = split("QUIT", &arg, &len);
    assert_int_equal(n, 4);
    assert_int_equal(len, 0);

    n = split("NOOP   ", &arg, &len);
    assert_int_equal(n, 4);
    assert_int_equal(len, 0);

    n = split("", &arg, &len);
    assert_int_equal(n, 0);
    assert_int_equal(len, 0);

    n = split("  leading", &arg, &len);
    assert_int_equal(n, 0);             /* an empty verb: bad syntax */
    assert_int_equal(len, 7);
}

/* test_smtpd_cmd_split_binary - counted, so NUL and high bytes are fine */
static void
test_smtpd_cmd_split_binary(void **state)
{
    const char line[] = "VRFY \0x\xff";
    const char *arg;
    size_t  n, len;

    (void) state;
    n = smtpd_cmd_split(line, sizeof(line) - 1, &arg, &len);
    assert_int_equal(n, 4);
    assert_int_equal(len, 3);
    assert_int_equal(arg[0], '\0');
    assert_int_equal((unsigned char) arg[2], 0xff);
}

/* test_smtpd_cmd_counters - log names for the disconnect line */
static void
test_smtpd_cmd_counters(void **state)
{
    size_t  i, named = 0;
    int     seen_ehlo = 0, seen_quit = 0;
    const char *name;

    (void) state;
    for (i = 0; i < SESSION_COUNTERS; i++) {
        if ((name = smtpd_cmd_counter_name(i)) == NULL)
            continue;
        named++;
        seen_ehlo |= strcmp(name, "ehlo") == 0;
        seen_quit |= strcmp(name, "quit") == 0;
    }
    assert_true(seen_ehlo);
    assert_true(seen_quit);
    assert_string_equal(smtpd_cmd_counter_name(SESSION_COUNTERS - 1),
                        "unknown");
    assert_int_equal(named, 15);        /* fourteen verbs and "unknown" */
    assert_null(smtpd_cmd_counter_name(SESSION_COUNTERS - 2));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtpd_cmd_split),
        cmocka_unit_test(test_smtpd_cmd_split_binary),
        cmocka_unit_test(test_smtpd_cmd_counters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
