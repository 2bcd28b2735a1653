/*
 * test_table_cidr - cidr: tables: first match wins, IPv4 and IPv6,
 * negation, nested if..endif, and every error with its line number.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_cidr.h"
#include "testutil.h"

#define DATA_DIR "tests/unit/data/"

/* parse - a table from a string, failing the test if it is refused */
static struct table_cidr *
parse(const char *text)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct table_cidr *t = table_cidr_parse("t", text, strlen(text), errors);

    if (t == NULL)
        fail_msg("refused: %s", errors->data);
    assert_int_equal(errors->len, 0);
    dstr_free(errors);
    return t;
}

/* refuse - the errors a bad table gets, and that it gets refused */
static char *
refuse(const char *text)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct table_cidr *t = table_cidr_parse("t", text, strlen(text), errors);

    assert_null(t);
    assert_true(errors->len > 0);
    return dstr_steal(errors);
}

/* test_table_cidr_lookup - keys against one table with every feature */
static void
test_table_cidr_lookup(void **state)
{
    static const char table[] =
        "# clients\n"
        "192.0.2.1          host one\n"
        "192.0.2.0/24       net\n"
        "192.0.2.0/25       never: the /24 comes first\n"
        "[2001:db8::1]      v6 host\n"
        "2001:db8::/32      v6 net\n"
        "if 10.0.0.0/8\n"
        "if !10.1.0.0/16\n"
        "10.2.0.0/16        ten two\n"
        "endif\n"
        "10.1.2.0/24        ten one\n"
        "0.0.0.0/0          inside ten\n"
        "endif\n"
        "!198.51.100.0/24   not in 198.51.100\n"
        "!2001:db8::/32     v6 outside 2001:db8::/32\n"
        "198.51.100.7       past both negations\n"
        "::/0               any v6\n"
        "203.0.113.5        multi\n"
        "   line value\n";
    static const struct {
        const char *key;
        const char *value;             /* NULL: not found */
    } cases[] = {
        {"192.0.2.1", "host one"},
        {"[192.0.2.1]", "host one"},
        {"192.0.2.2", "net"},
        {"192.0.2.3", "net"},
        {"::ffff:192.0.2.9", "net"},
        {"2001:db8::1", "v6 host"},
        {"IPv6:2001:DB8::1", "v6 host"},
        {"2001:db8:0:0::2", "v6 net"},
        {"2001:db9::1", "v6 outside 2001:db8::/32"},     /* !v4 rules skip v6 keys */
        {"::ffff:11.0.0.1", "not in 198.51.100"},
        {"10.2.3.4", "ten two"},
        {"10.1.2.3", "ten one"},
        {"10.1.3.3", "inside ten"},
        {"10.3.0.1", "inside ten"},
        {"11.0.0.1", "not in 198.51.100"},
        {"198.51.100.7", "past both negations"},
        {"203.0.113.5", "not in 198.51.100"},
        {"not an address", NULL},
        {"", NULL},
        {"192.0.2.1 ", NULL},
    };
    struct table_cidr *t = parse(table);
    struct dstr *value = dstr_new(16, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum table_status s = table_cidr_lookup(t, cases[i].key, value);

        if (cases[i].value == NULL) {
            if (s != TABLE_NOTFOUND)
                fail_msg("%s: found \"%s\"", cases[i].key, value->data);
        } else {
            if (s != TABLE_FOUND)
                fail_msg("%s: %s", cases[i].key, table_status_name(s));
            assert_string_equal(value->data, cases[i].value);
        }
    }
    /* the continuation line joins the value with one space */
    t = table_cidr_free(t);
    t = parse("203.0.113.5 multi\n   line value\n");
    assert_int_equal(table_cidr_lookup(t, "203.0.113.5", value), TABLE_FOUND);
    assert_string_equal(value->data, "multi line value");
    assert_int_equal(table_cidr_count(t), 1);
    table_cidr_free(t);
    dstr_free(value);
}

/* test_table_cidr_value_limit - a value the caller cannot hold is an error */
static void
test_table_cidr_value_limit(void **state)
{
    struct table_cidr *t = parse("0.0.0.0/0 a rather long value\n");
    struct dstr *value = dstr_new(4, 8);

    (void) state;
    testutil_log_start();
    assert_int_equal(table_cidr_lookup(t, "192.0.2.1", value), TABLE_ERROR);
    assert_true(testutil_logged("value longer than 8 bytes"));
    testutil_log_stop();
    table_cidr_free(t);
    dstr_free(value);
}

/* test_table_cidr_errors - each mistake alone, with its line */
static void
test_table_cidr_errors(void **state)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"10.0.0.1/8 x\n", "t:1: \"10.0.0.1/8\": address has bits set"},
        {"\n\n10.0.0.0/8\n", "t:3: \"10.0.0.0/8\" has no value"},
        {"endif\n", "t:1: \"endif\" without \"if\""},
        {"# c\nif 10.0.0.0/8\n", "t:2: \"if\" without \"endif\""},
        {"if 10.0.0.0/8 x\nendif\n", "t:1: text after \"if 10.0.0.0/8\""},
        {"ENDIF\n", "t:1: \"endif\" without \"if\""},
        {"!x y\n", "t:1: \"x\": not an IPv4 or IPv6 network"},
        {"  10.0.0.0/8 x\n", "t:1: line starts with white space"},
        {"10.0.0.0/8 x\0y\n", "t:1: file contains a NUL byte"},
        {"if !foo\nendif\n", "t:1: \"foo\": not an IPv4"},
    };
    size_t  i;
    char   *errors;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dstr *e = dstr_new(64, 65536);
        size_t  len = strlen(cases[i].text);

        if (strstr(cases[i].error, "NUL") != NULL)
            len = 16;
        assert_null(table_cidr_parse("t", cases[i].text, len, e));
        if (strstr(e->data, cases[i].error) == NULL)
            fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].error,
                     e->data);
        dstr_free(e);
    }
    errors = refuse("if 10.0.0.0/8\nif 10.0.0.0/9\nendif\n");
    assert_string_equal(errors, "t:1: \"if\" without \"endif\"\n");
    free(errors);
}

/* test_table_cidr_many_errors - the first 20 are shown, the rest counted */
static void
test_table_cidr_many_errors(void **state)
{
    struct dstr *text = dstr_new(64, DSTR_UNLIMITED);
    char   *errors;
    int     i;

    (void) state;
    for (i = 0; i < 25; i++)
        (void) dstr_append_str(text, "bad x\n");
    errors = refuse(text->data);
    assert_non_null(strstr(errors, "t:20: \"bad\""));
    assert_null(strstr(errors, "t:21:"));
    assert_non_null(strstr(errors, "t: 5 more errors not shown\n"));
    free(errors);
    dstr_free(text);
}

/* test_table_cidr_deep - if nesting is bounded */
static void
test_table_cidr_deep(void **state)
{
    struct dstr *text = dstr_new(64, DSTR_UNLIMITED);
    char   *errors;
    int     i;

    (void) state;
    for (i = 0; i < TABLE_CIDR_DEPTH_MAX + 1; i++)
        (void) dstr_append_str(text, "if 0.0.0.0/0\n");
    errors = refuse(text->data);
    assert_non_null(strstr(errors, "t:101: \"if\" nested deeper than 100"));
    free(errors);
    dstr_free(text);
}

/* read_data - a file of tests/unit/data, NUL-terminated */
static char *
read_data(const char *name, size_t *len)
{
    char    path[256];
    FILE   *fp;
    char   *buf = calloc(1, 65536);

    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    if ((fp = fopen(path, "r")) == NULL)
        fail_msg("%s: %m", path);
    *len = fread(buf, 1, 65535, fp);
    fclose(fp);
    return buf;
}

/* test_table_cidr_golden - every error of a broken file, byte for byte */
static void
test_table_cidr_golden(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    size_t  len, reflen;
    char   *in = read_data("table_cidr_errors.in", &len);
    char   *ref = read_data("table_cidr_errors.ref", &reflen);

    (void) state;
    assert_null(table_cidr_parse("table_cidr_errors.in", in, len, errors));
    assert_string_equal(errors->data, ref);
    free(in);
    free(ref);
    dstr_free(errors);
}

/* test_table_cidr_open - from a file, through the registry, and missing */
static void
test_table_cidr_open(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(16, 1024);
    char   *dir = testutil_tmpdir();
    char   *path = testutil_write_file(dir, "c.cidr", "10.0.0.0/8 ten\n", 15);
    struct dstr *spec = dstr_new(64, 4096);
    struct table *t;

    (void) state;
    (void) dstr_appendf(spec, "cidr:%s", path);
    t = table_open(spec->data, errors);
    assert_non_null(t);
    assert_int_equal(table_lookup(t, "10.9.8.7", value), TABLE_FOUND);
    assert_string_equal(value->data, "ten");
    assert_int_equal(table_lookup(t, "11.9.8.7", value), TABLE_NOTFOUND);
    table_free(t);
    assert_null(table_cidr_open("/nonexistent/c.cidr", errors));
    assert_non_null(strstr(errors->data, "/nonexistent/c.cidr: cannot open"));
    testutil_rmtree(dir);
    free(dir);
    free(path);
    dstr_free(spec);
    dstr_free(value);
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_cidr_lookup),
        cmocka_unit_test(test_table_cidr_value_limit),
        cmocka_unit_test(test_table_cidr_errors),
        cmocka_unit_test(test_table_cidr_many_errors),
        cmocka_unit_test(test_table_cidr_deep),
        cmocka_unit_test(test_table_cidr_golden),
        cmocka_unit_test(test_table_cidr_open),
    };

    return cmocka_run_group_tests_name("table_cidr", tests, NULL, NULL);
}
