/*
 * test_table_inline - inline: and static: tables: syntax, folding,
 * braces for text with spaces, and refused specifications.
 */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_inline.h"
#include "tables/table_static.h"
#include "testutil.h"

/* lookup - value of key in spec through table_open(), or NULL */
static char *
lookup(const char *spec, const char *key)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(16, 4096);
    struct table *t = table_open(spec, errors);
    char   *ret = NULL;

    if (t == NULL)
        fail_msg("%s: %s", spec, errors->data);
    if (table_lookup(t, key, value) == TABLE_FOUND)
        ret = dstr_steal(value);
    else
        dstr_free(value);
    table_free(t);
    dstr_free(errors);
    return ret;
}

/* test_table_inline_lookup - pairs, braces, folding, misses */
static void
test_table_inline_lookup(void **state)
{
    static const struct {
        const char *spec;
        const char *key;
        const char *value;             /* NULL: not found */
    } cases[] = {
        {"inline:{a=1}", "a", "1"},
        {"inline:{ a=1, b=2 }", "b", "2"},
        {"inline:{a=1 b=2,,c=3}", "c", "3"},
        {"inline:{ { key = text with spaces }, x=y }", "key",
         "text with spaces"},
        {"inline:{ {k=a=b} }", "k", "a=b"},
        {"inline:{ Mixed.Case=Value }", "mixed.case", "Value"},
        {"inline:{ mixed.case=Value }", "MIXED.CASE", "Value"},
        {"inline:{ 192.0.2.1=preferred }", "192.0.2.1", "preferred"},
        {"inline:{ a=1 }", "b", NULL},
        {"inline:{}", "a", NULL},
        {"inline:{ a=1 }", "", NULL},
    };
    size_t  i;
    char   *v;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = lookup(cases[i].spec, cases[i].key);
        if (cases[i].value == NULL && v != NULL)
            fail_msg("%s %s: found \"%s\"", cases[i].spec, cases[i].key, v);
        if (cases[i].value != NULL) {
            if (v == NULL)
                fail_msg("%s %s: not found", cases[i].spec, cases[i].key);
            assert_string_equal(v, cases[i].value);
        }
        free(v);
    }
}

/* test_table_inline_errors - refused specifications and why */
static void
test_table_inline_errors(void **state)
{
    static const struct {
        const char *spec;
        const char *error;
    } cases[] = {
        {"inline:a=1", "inline:a=1: expected inline:{ key=value, ... }"},
        {"inline:{a=1", "expected inline:{"},
        {"inline:{ a }", "\"a\" is not key=value"},
        {"inline:{ a = 1 }", "\"a\" is not key=value"},
        {"inline:{ =1 }", "\"=1\": empty key"},
        {"inline:{ a= }", "\"a=\": empty value"},
        {"inline:{ {a=1}x }", "text after \"}\""},
        {"inline:{ a=1, A=2 }", "duplicate key \"a\""},
        {"inline:{ {a=1 }", "unbalanced { }"},
        {"static:", "the table has no name"},
        {"static:{ }", "empty value"},
        {"static:{ a", "\"{\" without a closing \"}\""},
        {"static:a}", "\"}\" without an opening \"{\""},
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dstr *e = dstr_new(64, 65536);

        assert_null(table_open(cases[i].spec, e));
        if (strstr(e->data, cases[i].error) == NULL)
            fail_msg("%s: want \"%s\", got \"%s\"", cases[i].spec,
                     cases[i].error, e->data);
        assert_int_equal(e->data[e->len - 1], '\n');
        dstr_free(e);
    }
}

/* test_table_static - every key, any case, text with spaces */
static void
test_table_static(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(4, 8);
    struct table_static *t;
    char   *v;

    (void) state;
    v = lookup("static:REJECT", "anything");
    assert_string_equal(v, "REJECT");
    free(v);
    v = lookup("static:{ REJECT go, away }", "");
    assert_string_equal(v, "REJECT go, away");
    free(v);
    assert_non_null(t = table_static_open("{ much longer than 8 }", errors));
    testutil_log_start();
    assert_int_equal(table_static_lookup(t, "k", value), TABLE_ERROR);
    testutil_log_stop();
    table_static_free(t);
    dstr_free(value);
    dstr_free(errors);
}

/* test_table_inline_count - the pairs are all there */
static void
test_table_inline_count(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct table_inline *t = table_inline_open("{ a=1, b=2, {c = 3} }", errors);

    (void) state;
    assert_non_null(t);
    assert_int_equal(table_inline_count(t), 3);
    table_inline_free(t);
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_inline_lookup),
        cmocka_unit_test(test_table_inline_errors),
        cmocka_unit_test(test_table_static),
        cmocka_unit_test(test_table_inline_count),
    };

    return cmocka_run_group_tests_name("table_inline", tests, NULL, NULL);
}
