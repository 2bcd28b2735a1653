/* test_units - unit tests for util/units: every unit and every error. */

#include <limits.h>
#include <string.h>

#include "util/units.h"
#include "testutil.h"

/* test_units_int - signed decimal integers, white space, range */
static void
test_units_int(void **state)
{
    static const struct {
        const char *text;
        long long value;
    } good[] = {
        {"0", 0}, {"42", 42}, {"-42", -42}, {"+42", 42}, {" 7 ", 7},
        {"\t7\n", 7}, {"007", 7},
        {"9223372036854775807", LLONG_MAX},
        {"-9223372036854775808", LLONG_MIN},
    };
    static const char *const bad[] = {
        "", " ", "abc", "10q", "1 0", "0x10", "- 5", "+", "-", "1.5", "1e3",
        "--1", "+-1", "9223372036854775808", "-9223372036854775809",
        "99999999999999999999999",
    };
    long long v;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 12345;
        if (units_parse_int(good[i].text, &v) != 0 || v != good[i].value)
            fail_msg("int \"%s\": %lld", good[i].text, v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (units_parse_int(bad[i], &v) != -1)
            fail_msg("int accepted \"%s\"", bad[i]);
}

/* test_units_time - every unit, the default unit, in milliseconds */
static void
test_units_time(void **state)
{
    static const struct {
        const char *text;
        int     unit;
        long long ms;
    } good[] = {
        {"10ms", 's', 10},
        {"10s", 's', 10000},
        {"5m", 's', 300000},
        {"2h", 's', 7200000},
        {"1d", 's', 86400000},
        {"1w", 's', 604800000},
        {"10", 's', 10000},
        {"10", 'm', 600000},
        {"3", 'h', 10800000},
        {"2", 'd', 172800000},
        {"1", 'w', 604800000},
        {"0", 's', 0},
        {"0s", 's', 0},
        {"+5s", 's', 5000},
        {" 300s ", 's', 300000},
        {"10s", 'x', 10000},           /* a unit given needs no default */
        {"15250284452w", 's', 15250284452LL * 604800000},
    };
    static const struct {
        const char *text;
        int     unit;
    } bad[] = {
        {"10q", 's'}, {"10 s", 's'}, {"10S", 's'}, {"10Ms", 's'},
        {"-1s", 's'}, {"-1", 's'}, {"s", 's'}, {"", 's'}, {" ", 's'},
        {"10sec", 's'}, {"10s5", 's'}, {"1.5h", 's'}, {"10m s", 's'},
        {"10ss", 's'}, {"10mss", 's'}, {"0x10s", 's'},
        {"10", 'x'}, {"10", 0}, {"10", 'M'},
        {"15250284453w", 's'},      /* overflow in the multiplication */
        {"9223372036854775807s", 's'},
        {"9223372036854775807", 's'},
        {"99999999999999999999s", 's'},    /* overflow in the number */
    };
    long long ms;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ms = -1;
        if (units_parse_time(good[i].text, good[i].unit, &ms) != 0
            || ms != good[i].ms)
            fail_msg("time \"%s\" ('%c'): %lld, want %lld", good[i].text,
                     good[i].unit, ms, good[i].ms);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (units_parse_time(bad[i].text, bad[i].unit, &ms) != -1)
            fail_msg("time accepted \"%s\"", bad[i].text);
    assert_int_equal(units_parse_time("9223372036854775807ms", 's', &ms), 0);
    assert_true(ms == LLONG_MAX);
}

/* test_units_size - bytes and binary multiples */
static void
test_units_size(void **state)
{
    static const struct {
        const char *text;
        long long bytes;
    } good[] = {
        {"0", 0}, {"1024", 1024}, {"10b", 10}, {"10B", 10},
        {"1k", 1024}, {"1K", 1024}, {"1kb", 1024}, {"1KB", 1024},
        {"2m", 2097152}, {"2M", 2097152}, {"2mb", 2097152},
        {"3g", 3221225472LL}, {"3G", 3221225472LL}, {" 5k ", 5120},
        {"8589934591g", 8589934591LL * 1073741824},
        {"9223372036854775807", LLONG_MAX},
    };
    static const char *const bad[] = {
        "", "k", "10q", "10 k", "10k b", "-1", "-1k", "1t", "1kk", "1bk",
        "1.5k", "10bb", "0x10", "8589934592g", "9223372036854775807k",
        "9223372036854775808",
    };
    long long v;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -1;
        if (units_parse_size(good[i].text, &v) != 0 || v != good[i].bytes)
            fail_msg("size \"%s\": %lld", good[i].text, v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (units_parse_size(bad[i], &v) != -1)
            fail_msg("size accepted \"%s\"", bad[i]);
}

/* test_units_bool - every spelling, any case; everything else refused */
static void
test_units_bool(void **state)
{
    static const struct {
        const char *text;
        int     value;
    } good[] = {
        {"yes", 1}, {"YES", 1}, {"Yes", 1}, {"true", 1}, {"TRUE", 1},
        {"on", 1}, {"On", 1}, {"1", 1}, {" yes ", 1},
        {"no", 0}, {"NO", 0}, {"false", 0}, {"False", 0}, {"off", 0},
        {"OFF", 0}, {"0", 0}, {"\tno\n", 0},
    };
    static const char *const bad[] = {
        "", " ", "y", "n", "2", "-1", "01", "yes no", "maybe", "truely",
        "falsefalse", "ja", "nein", "yes!", "o", "of",
    };
    int     v;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -1;
        if (units_parse_bool(good[i].text, &v) != 0 || v != good[i].value)
            fail_msg("bool \"%s\": %d", good[i].text, v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (units_parse_bool(bad[i], &v) != -1)
            fail_msg("bool accepted \"%s\"", bad[i]);
}

/* test_units_ratio - fractions and percentages within 0..1 */
static void
test_units_ratio(void **state)
{
    static const struct {
        const char *text;
        double  value;
    } good[] = {
        {"0", 0.0}, {"1", 1.0}, {"0.7", 0.7}, {".5", 0.5}, {"1.", 1.0},
        {"1.000", 1.0}, {"70%", 0.7}, {"100%", 1.0}, {"0%", 0.0},
        {"0.7%", 0.007}, {" 0.5 ", 0.5}, {"33.3%", 0.333},
    };
    static const char *const bad[] = {
        "", " ", "1.5", "2", "101%", "100.1%", "-0.1", "+0.5", "-0%",
        "0x1", "1e-1", "0x.8", "5e-1", ".", "%", ".%", "70 %", "70%%",
        "70% %", "nan", "inf", "infinity", "1..", "0.5.1", "0,5", "70q",
        "seventy",
    };
    double  v;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -1;
        if (units_parse_ratio(good[i].text, &v) != 0)
            fail_msg("ratio refused \"%s\"", good[i].text);
        assert_true(v > good[i].value - 1e-9 && v < good[i].value + 1e-9);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (units_parse_ratio(bad[i], &v) != -1)
            fail_msg("ratio accepted \"%s\"", bad[i]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_int),
        cmocka_unit_test(test_units_time),
        cmocka_unit_test(test_units_size),
        cmocka_unit_test(test_units_bool),
        cmocka_unit_test(test_units_ratio),
    };

    return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
