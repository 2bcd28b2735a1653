/* test_cfparse - main.cf syntax: lines, continuations, comments, errors. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/cfparse.h"
#include "testutil.h"

/* parse - a table from text; asserts the expected return */
static struct cf_table *
parse(const char *text, size_t len, int want, struct dstr *errors)
{
    struct cf_table *t = cfparse_new();

    assert_int_equal(cfparse_buffer(t, "doppel.cf", text, len, errors), want);
    return t;
}

/* value_of - the raw value of name, or NULL */
static const char *
value_of(const struct cf_table *t, const char *name)
{
    const struct cf_entry *e = cfparse_get(t, name);

    return e != NULL ? e->value : NULL;
}

/* test_cfparse_syntax - what a valid file may contain */
static void
test_cfparse_syntax(void **state)
{
    static const char text[] =
        "# a comment\n"
        "\n"
        "myhostname = mx.example.com\n"
        "   # an indented comment does not continue anything\n"
        "smtpd_banner=$myhostname ESMTP\n"
        "mynetworks = 127.0.0.0/8,\n"
        "    [::1]/128\n"
        "\t10.0.0.0/8\r\n"
        "empty =\n"
        "spaces   =   trailing   \n"
        "myhostname = mx2.example.com\n"
        "last = no newline";
    struct dstr *errors = dstr_new(64, 65536);
    struct cf_table *t = parse(text, sizeof(text) - 1, 0, errors);

    (void) state;
    assert_string_equal(errors->data, "");
    assert_string_equal(value_of(t, "myhostname"), "mx2.example.com");
    assert_int_equal(cfparse_get(t, "myhostname")->line, 11);
    assert_string_equal(value_of(t, "smtpd_banner"), "$myhostname ESMTP");
    assert_string_equal(value_of(t, "mynetworks"),
                        "127.0.0.0/8, [::1]/128 10.0.0.0/8");
    assert_int_equal(cfparse_get(t, "mynetworks")->line, 6);
    assert_string_equal(value_of(t, "empty"), "");
    assert_string_equal(value_of(t, "spaces"), "trailing");
    assert_string_equal(value_of(t, "last"), "no newline");
    assert_null(value_of(t, "nothing"));
    assert_string_equal(cfparse_get(t, "last")->file, "doppel.cf");
    cfparse_free(t);
    dstr_free(errors);
}

/* expect_error - text is refused with a message containing want */
static void
expect_error(const char *text, size_t len, const char *want)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct cf_table *t = parse(text, len, -1, errors);

    if (strstr(errors->data, want) == NULL)
        fail_msg("errors \"%s\" lack \"%s\"", errors->data, want);
    cfparse_free(t);
    dstr_free(errors);
}

/* test_cfparse_errors - every error names its line */
static void
test_cfparse_errors(void **state)
{
    char   *big;
    size_t  n = 1024 * 1024;

    (void) state;
    expect_error("a = 1\nno equals sign here\n", 22,
                 "doppel.cf:2: \"no\": missing \"=\" (use name = value)");
    expect_error("  indented = 1\n", 15,
                 "doppel.cf:1: line starts with white space but there is"
                 " nothing to continue");
    expect_error("bad-name = 1\n", 13,
                 "doppel.cf:1: \"bad-name\" is not a valid parameter name");
    expect_error("= 1\n", 4, "doppel.cf:1: \"\" is not a valid parameter name");
    expect_error("a = 1\nb = x\0y\n", 13,
                 "doppel.cf:2: file contains a NUL byte");
    /* a 1 MB line */
    big = malloc(n + 8);
    memcpy(big, "a = ", 4);
    memset(big + 4, 'x', n);
    big[n + 4] = '\n';
    expect_error(big, n + 5, "doppel.cf:1: line is longer than 65536 bytes");
    /* the same through continuation lines */
    memset(big, 'x', n);
    memcpy(big, "a = x\n", 6);
    for (size_t i = 6; i + 80 < n; i += 80) {
        big[i] = ' ';
        big[i + 79] = '\n';
    }
    expect_error(big, n, "doppel.cf:1: line is longer than");
    free(big);
}

/* test_cfparse_files - reading real files */
static void
test_cfparse_files(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct cf_table *t = cfparse_new();
    char   *dir = testutil_tmpdir();
    char   *path = testutil_write_file(dir, "doppel.cf", "x = 1\n", 6);

    (void) state;
    assert_int_equal(cfparse_file(t, path, errors), 0);
    assert_string_equal(value_of(t, "x"), "1");
    assert_int_equal(cfparse_file(t, "/nonexistent/doppel.cf", errors), -1);
    assert_non_null(strstr(errors->data, "/nonexistent/doppel.cf: cannot open:"
                           " No such file or directory"));
    assert_int_equal(cfparse_file(t, dir, errors), -1);
    assert_non_null(strstr(errors->data, "is a directory"));
    testutil_rmtree(dir);
    free(path);
    free(dir);
    cfparse_free(t);
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfparse_syntax),
        cmocka_unit_test(test_cfparse_errors),
        cmocka_unit_test(test_cfparse_files),
    };

    return cmocka_run_group_tests_name("cfparse", tests, NULL, NULL);
}
