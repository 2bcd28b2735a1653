/* test_str - unit tests for util/str: str_copy, case, str_distance. */

#include <string.h>

#include "util/str.h"
#include "testutil.h"

/* test_str_copy - fits, exact fit, one byte too long, empty */
static void
test_str_copy(void **state)
{
    char    buf[6];

    (void) state;
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(str_copy(buf, sizeof(buf), "abc"), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(str_copy(buf, sizeof(buf), "abcde"), 0);
    assert_string_equal(buf, "abcde");
    assert_int_equal(str_copy(buf, sizeof(buf), ""), 0);
    assert_string_equal(buf, "");
}

/* test_str_copy_truncation - too long: -1 and dst empty, never cut */
static void
test_str_copy_truncation(void **state)
{
    char    buf[6];
    char    one[1];

    (void) state;
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(str_copy(buf, sizeof(buf), "abcdef"), -1);
    assert_string_equal(buf, "");
    assert_int_equal(buf[1], 'x');     /* nothing else written */
    assert_int_equal(str_copy(buf, sizeof(buf), "a much longer text"), -1);
    assert_string_equal(buf, "");

    /* size 1 holds only the empty string */
    one[0] = 'x';
    assert_int_equal(str_copy(one, 1, ""), 0);
    assert_int_equal(one[0], '\0');
    assert_int_equal(str_copy(one, 1, "a"), -1);
    assert_int_equal(one[0], '\0');

    /* size 0: nothing may be written at all */
    one[0] = 'x';
    assert_int_equal(str_copy(one, 0, ""), -1);
    assert_int_equal(one[0], 'x');
}

/* test_str_nocase - ASCII case-insensitive equality and prefix */
static void
test_str_nocase(void **state)
{
    static const struct {
        const char *a;
        const char *b;
        int     eq;
        int     prefix;                /* does a start with b */
    } cases[] = {
        {"EHLO", "ehlo", 1, 1},
        {"MaIl FrOm:", "mail from:", 1, 1},
        {"", "", 1, 1},
        {"abc", "", 0, 1},
        {"", "abc", 0, 0},
        {"RCPT TO:<a@b>", "rcpt to:", 0, 1},
        {"rcpt", "RCPT TO:", 0, 0},
        {"helo", "ehlo", 0, 0},
        {"IPv6:::1", "ipv6:", 0, 1},
        {"a[", "A{", 0, 0},             /* '[' and '{' differ by 0x20 */
        {"@", "`", 0, 0},
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (str_eq_nocase(cases[i].a, cases[i].b) != cases[i].eq)
            fail_msg("eq(\"%s\", \"%s\")", cases[i].a, cases[i].b);
        if (str_eq_nocase(cases[i].b, cases[i].a) != cases[i].eq)
            fail_msg("eq(\"%s\", \"%s\")", cases[i].b, cases[i].a);
        if (str_prefix_nocase(cases[i].a, cases[i].b) != cases[i].prefix)
            fail_msg("prefix(\"%s\", \"%s\")", cases[i].a, cases[i].b);
    }
}

/* test_str_distance - edit distances, symmetric */
static void
test_str_distance(void **state)
{
    static const struct {
        const char *a;
        const char *b;
        size_t  d;
    } cases[] = {
        {"", "", 0},
        {"abc", "abc", 0},
        {"", "abc", 3},
        {"kitten", "sitting", 3},
        {"flaw", "lawn", 2},
        {"smtpd_timeout", "smtpd_timout", 1},           /* deletion */
        {"smtpd_timeout", "smtpd_timeoutt", 1},         /* insertion */
        {"smtpd_timeout", "smtpd_timeaut", 1},          /* substitution */
        {"smtpd_timeout", "smtdp_timeout", 2},          /* transposition */
        {"smtpd_timeout", "SMTPD_TIMEOUT", 12},         /* case counts */
        {"stress_smtpd_timeout", "smtpd_timeout", 7},
        {"abc", "xyz", 3},
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (str_distance(cases[i].a, cases[i].b) != cases[i].d)
            fail_msg("distance(\"%s\", \"%s\") = %zu, want %zu", cases[i].a,
                     cases[i].b, str_distance(cases[i].a, cases[i].b),
                     cases[i].d);
        assert_int_equal(str_distance(cases[i].b, cases[i].a), cases[i].d);
    }
}

/* test_str_distance_long - at most 64 bytes; longer compares as far */
static void
test_str_distance_long(void **state)
{
    char    a[66], b[66];
    size_t  far = (size_t) -1 / 2;

    (void) state;
    memset(a, 'a', 64);
    a[64] = '\0';
    memset(b, 'a', 64);
    b[63] = 'b';
    b[64] = '\0';
    assert_int_equal(str_distance(a, b), 1);
    assert_int_equal(str_distance(a, ""), 64);
    a[64] = 'a';
    a[65] = '\0';
    assert_int_equal(str_distance(a, b), far);
    assert_int_equal(str_distance(b, a), far);
    assert_int_equal(str_distance(a, a), far);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_str_copy_truncation),
        cmocka_unit_test(test_str_nocase),
        cmocka_unit_test(test_str_distance),
        cmocka_unit_test(test_str_distance_long),
    };

    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
