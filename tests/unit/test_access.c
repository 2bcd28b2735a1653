/*
 * test_access - access(5) results: every action, Postfix's default
 * codes and texts, enhanced status codes of the right class, and the
 * safe 451 answer with a reason for a broken result.
 */

#include <string.h>

#include "util/dstr.h"
#include "tables/access.h"
#include "testutil.h"

/* test_access_parse - table of values and what they mean */
static void
test_access_parse(void **state)
{
    static const struct {
        const char *value;
        enum access_action action;
        int     code;
        const char *dsn;
        const char *text;
        int     code_default;
        int     disconnect;
    } cases[] = {
        {"OK", ACCESS_OK, 0, "", "", 0, 0},
        {"ok trailing text", ACCESS_OK, 0, "", "", 0, 0},
        {"RELAY", ACCESS_OK, 0, "", "", 0, 0},
        {"1700000000", ACCESS_OK, 0, "", "", 0, 0},
        {"450", ACCESS_OK, 0, "", "", 0, 0},
        {"DUNNO", ACCESS_DUNNO, 0, "", "", 0, 0},
        {"dunno whatever", ACCESS_DUNNO, 0, "", "", 0, 0},
        {"REJECT", ACCESS_REJECT, 554, "5.7.1", "Access denied", 1, 0},
        {"reject Go away", ACCESS_REJECT, 554, "5.7.1", "Go away", 1, 0},
        {"REJECT 5.7.25 No PTR", ACCESS_REJECT, 554, "5.7.25", "No PTR", 1, 0},
        {"REJECT 5.1.1", ACCESS_REJECT, 554, "5.1.1", "Access denied", 1, 0},
        {"REJECT 5.7.1234 text", ACCESS_REJECT, 554, "5.7.1",
         "5.7.1234 text", 1, 0},
        {"DEFER", ACCESS_DEFER, 450, "4.7.1", "Access denied", 1, 0},
        {"DEFER 4.3.2 busy", ACCESS_DEFER, 450, "4.3.2", "busy", 1, 0},
        {"DEFER_IF_PERMIT", ACCESS_DEFER_IF_PERMIT, 450, "4.7.1",
         "Service unavailable", 1, 0},
        {"DEFER_IF_REJECT maybe later", ACCESS_DEFER_IF_REJECT, 450, "4.7.1",
         "maybe later", 1, 0},
        {"550 No such user", ACCESS_REJECT, 550, "5.7.1", "No such user", 0, 0},
        {"550 5.1.1 No such user", ACCESS_REJECT, 550, "5.1.1", "No such user",
         0, 0},
        {"451 4.3.0 later", ACCESS_DEFER, 451, "4.3.0", "later", 0, 0},
        {"421 bye", ACCESS_DEFER, 421, "4.7.1", "bye", 0, 1},
        {"521 5.7.1 botnet", ACCESS_REJECT, 521, "5.7.1", "botnet", 0, 1},
        {"HOLD", ACCESS_HOLD, 0, "", "", 0, 0},
        {"HOLD look at it", ACCESS_HOLD, 0, "", "look at it", 0, 0},
        {"DISCARD", ACCESS_DISCARD, 0, "", "", 0, 0},
        {"INFO seen", ACCESS_INFO, 0, "", "seen", 0, 0},
        {"WARN odd client", ACCESS_WARN, 0, "", "odd client", 0, 0},
        {"FILTER smtp:[127.0.0.1]:10025", ACCESS_FILTER, 0, "",
         "smtp:[127.0.0.1]:10025", 0, 0},
        {"REDIRECT abuse@example.com", ACCESS_REDIRECT, 0, "",
         "abuse@example.com", 0, 0},
        {"BCC archive@example.com", ACCESS_BCC, 0, "", "archive@example.com",
         0, 0},
        {"PREPEND X-Client: suspect", ACCESS_PREPEND, 0, "",
         "X-Client: suspect", 0, 0},
        {"preferred", ACCESS_RESTRICTIONS, 0, "", "preferred", 0, 0},
        {"  permit_mynetworks, reject", ACCESS_RESTRICTIONS, 0, "",
         "permit_mynetworks, reject", 0, 0},
        {"OKAY", ACCESS_RESTRICTIONS, 0, "", "OKAY", 0, 0},
    };
    struct access_result r;
    struct dstr *why = dstr_new(64, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (access_parse(cases[i].value, &r, why) != 0)
            fail_msg("\"%s\": refused: %s", cases[i].value, why->data);
        assert_int_equal(why->len, 0);
        if (r.action != cases[i].action)
            fail_msg("\"%s\": %s, want %s", cases[i].value,
                     access_action_name(r.action),
                     access_action_name(cases[i].action));
        assert_int_equal(r.code, cases[i].code);
        assert_string_equal(r.dsn, cases[i].dsn);
        assert_string_equal(r.text, cases[i].text);
        assert_int_equal(r.code_default, cases[i].code_default);
        assert_int_equal(r.disconnect, cases[i].disconnect);
    }
    dstr_free(why);
}

/* test_access_errors - broken results: 451 4.3.5 and a reason */
static void
test_access_errors(void **state)
{
    static const struct {
        const char *value;
        const char *why;
    } cases[] = {
        {"", "empty result"},
        {"   ", "empty result"},
        {"450 5.7.1 mixed", "a 4NN or DEFER reply needs a 4.X.X status"},
        {"550 4.7.1 mixed", "a 5NN or REJECT reply needs a 5.X.X status"},
        {"REJECT 4.7.1 mixed", "a 5NN or REJECT reply needs a 5.X.X status"},
        {"DEFER 5.7.1 mixed", "a 4NN or DEFER reply needs a 4.X.X status"},
        {"DEFER_IF_PERMIT 2.0.0 x", "needs a 4.X.X status"},
        {"250 fine", "a reply code is 4NN or 5NN"},
        {"600 x", "a reply code is 4NN or 5NN"},
        {"4500 x", "a reply code is 4NN or 5NN"},
        {"45 x", "a reply code is 4NN or 5NN"},
        {"FILTER", "FILTER needs transport:destination"},
        {"FILTER nocolon", "FILTER needs transport:destination"},
        {"REDIRECT nobody", "REDIRECT and BCC need user@domain"},
        {"BCC", "REDIRECT and BCC need user@domain"},
        {"PREPEND", "PREPEND needs a header"},
        {"PREPEND no colon", "PREPEND needs a header"},
        {"PREPEND : empty name", "PREPEND needs a header"},
        {"cidr:/etc/x", "a lookup table cannot be an access result"},
    };
    struct access_result r;
    struct dstr *why = dstr_new(64, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(why);
        assert_int_equal(access_parse(cases[i].value, &r, why), -1);
        if (strstr(why->data, cases[i].why) == NULL)
            fail_msg("\"%s\": want \"%s\", got \"%s\"", cases[i].value,
                     cases[i].why, why->data);
        assert_non_null(strstr(why->data, "access result \""));
        assert_int_equal(r.action, ACCESS_DEFER);
        assert_int_equal(r.code, 451);
        assert_string_equal(r.dsn, "4.3.5");
        assert_string_equal(r.text, "Server configuration error");
    }
    dstr_free(why);
}

/* test_access_dsn - the enhanced status code syntax of RFC 3463 */
static void
test_access_dsn(void **state)
{
    static const struct {
        const char *text;
        int     valid;
        size_t  len;
    } cases[] = {
        {"5.7.1", 1, 5}, {"4.7.1 x", 1, 5}, {"2.0.0", 1, 5},
        {"5.123.456 x", 1, 9}, {"5.1234.1", 0, 0}, {"5.1.1234", 0, 0},
        {"3.1.1", 0, 0}, {"5.1", 0, 0}, {"5..1", 0, 0}, {"5.1.", 0, 0},
        {"5.1.1x", 0, 0}, {"", 0, 0}, {"x5.1.1", 0, 0}, {"5.1.1\t", 1, 5},
    };
    size_t  i, len;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = 0;
        if (access_dsn_valid(cases[i].text, &len) != cases[i].valid)
            fail_msg("\"%s\": want %d", cases[i].text, cases[i].valid);
        assert_int_equal(len, cases[i].len);
    }
    assert_string_equal(access_action_name(ACCESS_DEFER_IF_PERMIT),
                        "DEFER_IF_PERMIT");
    assert_string_equal(access_action_name(ACCESS_RESTRICTIONS),
                        "restrictions");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_parse),
        cmocka_unit_test(test_access_errors),
        cmocka_unit_test(test_access_dsn),
    };

    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
