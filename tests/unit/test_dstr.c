/* test_dstr - unit tests for util/dstr: growth, limits, formatting. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "testutil.h"

/* test_dstr_limit - an append past the limit changes nothing */
static void
test_dstr_limit(void **state)
{
    struct dstr *d = dstr_new(4, 8);

    (void) state;
    assert_int_equal(dstr_append(d, "12345678", 8), 0);
    assert_int_equal(dstr_append(d, "9", 1), -1);
    assert_int_equal(d->len, 8);
    assert_string_equal(d->data, "12345678");
    d = dstr_free(d);
    assert_null(d);
}

/* test_dstr_growth - many small appends keep content and NUL */
static void
test_dstr_growth(void **state)
{
    struct dstr *d = dstr_new(1, DSTR_UNLIMITED);
    size_t  i;

    (void) state;
    for (i = 0; i < 10000; i++)
        assert_int_equal(dstr_append_char(d, 'a' + (int) (i % 26)), 0);
    assert_int_equal(d->len, 10000);
    assert_int_equal(d->data[10000], '\0');
    assert_int_equal(d->data[27], 'b');
    dstr_free(d);
}

/* test_dstr_appendf - formatting, including growth and the limit */
static void
test_dstr_appendf(void **state)
{
    struct dstr *d = dstr_new(2, 20);

    (void) state;
    assert_int_equal(dstr_appendf(d, "%s=%d", "abc", 42), 0);
    assert_string_equal(d->data, "abc=42");
    assert_int_equal(dstr_appendf(d, "%s", "this is far too long"), -1);
    assert_string_equal(d->data, "abc=42");
    assert_int_equal(dstr_appendf(d, "%05d", 7), 0);
    assert_string_equal(d->data, "abc=4200007");
    dstr_free(d);
}

/* test_dstr_binary - NUL bytes are content, not terminators */
static void
test_dstr_binary(void **state)
{
    struct dstr *d = dstr_new(0, 100);

    (void) state;
    assert_int_equal(dstr_append(d, "a\0b", 3), 0);
    assert_int_equal(d->len, 3);
    assert_memory_equal(d->data, "a\0b", 3);
    dstr_free(d);
}

/* test_dstr_edit - set, truncate, consume, steal */
static void
test_dstr_edit(void **state)
{
    struct dstr *d = dstr_new(0, 10);
    char   *s;

    (void) state;
    assert_int_equal(dstr_set_str(d, "hello world"), -1);
    assert_int_equal(dstr_set_str(d, "hello"), 0);
    dstr_truncate(d, 3);
    assert_string_equal(d->data, "hel");
    dstr_truncate(d, 10);
    assert_string_equal(d->data, "hel");
    dstr_consume(d, 1);
    assert_string_equal(d->data, "el");
    dstr_consume(d, 5);
    assert_int_equal(d->len, 0);
    assert_int_equal(dstr_append_str(d, "xyz"), 0);
    dstr_reset(d);
    assert_string_equal(d->data, "");
    assert_int_equal(dstr_append_str(d, "kept"), 0);
    s = dstr_steal(d);
    assert_string_equal(s, "kept");
    free(s);
}

/* test_dstr_self - appending a string to itself survives growth */
static void
test_dstr_self(void **state)
{
    struct dstr *d = dstr_new(1, 100);

    (void) state;
    assert_int_equal(dstr_append_str(d, "abc"), 0);
    assert_int_equal(dstr_append(d, d->data, d->len), 0);
    assert_int_equal(dstr_append(d, d->data, d->len), 0);
    assert_string_equal(d->data, "abcabcabcabc");
    assert_int_equal(dstr_set(d, d->data + 3, 6), 0);
    assert_string_equal(d->data, "abcabc");
    dstr_free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dstr_limit),
        cmocka_unit_test(test_dstr_growth),
        cmocka_unit_test(test_dstr_appendf),
        cmocka_unit_test(test_dstr_binary),
        cmocka_unit_test(test_dstr_edit),
        cmocka_unit_test(test_dstr_self),
    };

    return cmocka_run_group_tests_name("dstr", tests, NULL, NULL);
}
