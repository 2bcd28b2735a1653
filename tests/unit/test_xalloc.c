/* test_xalloc - unit tests for util/xalloc: sizes, overflow, copies. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "testutil.h"

/*
 * Under AddressSanitizer a failing malloc() would abort the test with
 * a report instead of returning NULL; let it return NULL so that our
 * own out-of-memory path is what we test. Harmless without ASan.
 */
const char *__asan_default_options(void);

/* __asan_default_options - ASan reads this before main() */
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* setup - capture log lines and trap fatal errors */
static int
setup(void **state)
{
    (void) state;
    testutil_log_start();
    return 0;
}

/* teardown - stop capturing */
static int
teardown(void **state)
{
    (void) state;
    testutil_log_stop();
    return 0;
}

/* test_xalloc_malloc - zero size gives distinct pointers; memory usable */
static void
test_xalloc_malloc(void **state)
{
    char   *a, *b;

    (void) state;
    a = xmalloc(0);
    b = xmalloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    free(a);
    free(b);
    a = xmalloc(100);
    memset(a, 'x', 100);
    free(a);
}

/* test_xalloc_calloc - zeroed, zero sizes allowed */
static void
test_xalloc_calloc(void **state)
{
    static const unsigned char zero[64];
    unsigned char *p;

    (void) state;
    p = xcalloc(8, 8);
    assert_memory_equal(p, zero, 64);
    free(p);
    p = xcalloc(0, 8);
    assert_non_null(p);
    free(p);
    p = xcalloc(8, 0);
    assert_non_null(p);
    free(p);
    p = xcalloc(0, 0);
    assert_non_null(p);
    free(p);
    p = xcalloc(SIZE_MAX, 0);          /* 0 bytes: no overflow */
    assert_non_null(p);
    free(p);
}

/* test_xalloc_calloc_overflow - n * size past SIZE_MAX is fatal */
static void
test_xalloc_calloc_overflow(void **state)
{
    void   *volatile p = NULL;

    (void) state;
    TESTUTIL_EXPECT_FATAL(p = xcalloc(SIZE_MAX / 2 + 1, 2));
    assert_true(testutil_logged("fatal: allocation overflow: "));
    TESTUTIL_EXPECT_FATAL(p = xcalloc(2, SIZE_MAX));
    TESTUTIL_EXPECT_FATAL(p = xcalloc(SIZE_MAX, SIZE_MAX));
    TESTUTIL_EXPECT_FATAL(p = xcalloc((size_t) 1 << (sizeof(size_t) * 4),
                                      (size_t) 1 << (sizeof(size_t) * 4)));
    assert_null(p);
    /* exactly SIZE_MAX is no overflow: out of memory instead */
    TESTUTIL_EXPECT_FATAL(p = xcalloc(SIZE_MAX / 5, 5));
    assert_true(testutil_logged("fatal: out of memory allocating"));
}

/* test_xalloc_realloc_array - growth keeps content; overflow is fatal */
static void
test_xalloc_realloc_array(void **state)
{
    int    *v = NULL;
    void   *volatile p = NULL;
    int     i;

    (void) state;
    for (i = 1; i <= 1000; i++) {
        v = xrealloc_array(v, (size_t) i, sizeof(*v));
        v[i - 1] = i;
    }
    for (i = 0; i < 1000; i++)
        assert_int_equal(v[i], i + 1);
    v = xrealloc_array(v, 0, sizeof(*v));
    assert_non_null(v);
    free(v);
    TESTUTIL_EXPECT_FATAL(p = xrealloc_array(NULL, SIZE_MAX / 4 + 1, 4));
    assert_true(testutil_logged("fatal: allocation overflow: "));
    assert_null(p);
}

/* test_xalloc_realloc - NULL acts as malloc; zero size stays valid */
static void
test_xalloc_realloc(void **state)
{
    char   *p;

    (void) state;
    p = xrealloc(NULL, 4);
    memcpy(p, "abc", 4);
    p = xrealloc(p, 4000);
    assert_string_equal(p, "abc");
    p = xrealloc(p, 0);
    assert_non_null(p);
    free(p);
}

/* test_xalloc_out_of_memory - a failing allocation is fatal, not NULL */
static void
test_xalloc_out_of_memory(void **state)
{
    void   *volatile p = NULL;

    (void) state;
    TESTUTIL_EXPECT_FATAL(p = xmalloc(SIZE_MAX - 4096));
    assert_true(testutil_logged("fatal: out of memory allocating"));
    TESTUTIL_EXPECT_FATAL(p = xrealloc(NULL, SIZE_MAX - 4096));
    assert_true(testutil_logged("fatal: out of memory reallocating"));
    assert_null(p);
}

/* test_xalloc_strdup - xstrdup, xstrndup, xmemdup */
static void
test_xalloc_strdup(void **state)
{
    static const char raw[3] = {'a', 'b', 'c'};     /* no NUL */
    char   *s;

    (void) state;
    s = xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = xstrdup("");
    assert_string_equal(s, "");
    free(s);

    s = xstrndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    s = xstrndup("hello", 5);
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hello", 100);        /* n past the end: stops at NUL */
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hello", 0);
    assert_string_equal(s, "");
    free(s);
    s = xstrndup(raw, sizeof(raw));    /* reads no more than n bytes */
    assert_string_equal(s, "abc");
    free(s);
    s = xstrndup("a\0b", 3);
    assert_string_equal(s, "a");
    free(s);

    s = xmemdup("a\0b\0", 4);
    assert_memory_equal(s, "a\0b\0", 4);
    free(s);
    s = xmemdup(NULL, 0);
    assert_non_null(s);
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xalloc_malloc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_calloc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_calloc_overflow, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_realloc_array, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_realloc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_xalloc_strdup, setup, teardown),
    };

    return cmocka_run_group_tests_name("xalloc", tests, NULL, NULL);
}
