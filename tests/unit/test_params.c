/*
 * test_params - walk the parameter table: defaults parse and lie in
 * bounds, names and fields are unique, every parameter is documented in
 * docs/man/doppel.cf.5, and typed conversion handles each type.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/cfparse.h"
#include "conf/params.h"
#include "testutil.h"

#define MAN_PAGE "docs/man/doppel.cf.5"

/* test_params_defaults - both default columns convert cleanly */
static void
test_params_defaults(void **state)
{
    struct dstr *why = dstr_new(64, 4096);
    struct params p;
    const struct param_def *d;

    (void) state;
    memset(&p, 0, sizeof(p));
    for (d = param_table; d->name != NULL; d++) {
        /* values with $references are checked by test_personality */
        if (strchr(d->dflt, '$') == NULL
            && param_set_value(d, d->dflt, &p, why) < 0)
            fail_msg("%s: default \"%s\": %s", d->name, d->dflt, why->data);
        if (d->stress_dflt != NULL) {
            if (!(d->flags & PARAM_F_SESSION))
                fail_msg("%s: a stress default but not per-session", d->name);
            if (param_set_value(d, d->stress_dflt, &p, why) < 0)
                fail_msg("%s: stress default \"%s\": %s", d->name,
                         d->stress_dflt, why->data);
        }
        if (d->type == PARAM_TIME && d->unit == 0)
            fail_msg("%s: a time without a default unit", d->name);
        if (d->min > d->max)
            fail_msg("%s: min > max", d->name);
        if (d->summary == NULL || d->summary[0] == '\0')
            fail_msg("%s: no summary", d->name);
        if (!cfparse_valid_name(d->name, strlen(d->name)))
            fail_msg("%s: not a valid name", d->name);
    }
    param_free_values(&p);
    dstr_free(why);
}

/* test_params_unique - one row per name and per struct field */
static void
test_params_unique(void **state)
{
    size_t  i, j, n = param_count();

    (void) state;
    assert_true(n > 40);
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) {
            if (strcmp(param_table[i].name, param_table[j].name) == 0)
                fail_msg("%s: declared twice", param_table[i].name);
            if (param_table[i].offset == param_table[j].offset)
                fail_msg("%s and %s share a field", param_table[i].name,
                         param_table[j].name);
        }
    assert_ptr_equal(param_find("smtpd_timeout"), &param_table[0] +
                     (param_find("smtpd_timeout") - param_table));
    assert_null(param_find("smtpd_timeou"));
    assert_string_equal(param_nearest("smtpd_timeou")->name, "smtpd_timeout");
    assert_null(param_nearest("zzzzzzzzzzzzzzzzzz"));
    assert_true(param_is_first_word("smtpd", 5));
    assert_true(param_is_first_word("master", 6));
    assert_false(param_is_first_word("preferred", 9));
}

/* test_params_documented - each name has an entry in the man page */
static void
test_params_documented(void **state)
{
    struct dstr *errors = dstr_new(64, 4096);
    struct dstr *man = cfparse_read(MAN_PAGE, errors);
    struct dstr *entry = dstr_new(64, 4096);
    const struct param_def *d;

    (void) state;
    if (man == NULL)
        fail_msg("%s", errors->data);
    for (d = param_table; d->name != NULL; d++) {
        dstr_reset(entry);
        (void) dstr_appendf(entry, "\n.IP \\fB%s\\fR", d->name);
        if (strstr(man->data, entry->data) == NULL)
            fail_msg("%s: not documented in %s (want a line \".IP \\fB%s\\fR"
                     " ...\")", d->name, MAN_PAGE, d->name);
    }
    dstr_free(entry);
    dstr_free(man);
    dstr_free(errors);
}

/* test_params_lists - list splitting with { } groups */
static void
test_params_lists(void **state)
{
    struct dstr *why = dstr_new(64, 4096);
    struct param_list l;

    (void) state;
    assert_int_equal(param_list_split(" a, b\tc ,,d ", &l, why), 0);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.items[3], "d");
    assert_true(param_list_contains(&l, "C"));
    assert_false(param_list_contains(&l, "e"));
    param_list_free(&l);
    assert_int_equal(param_list_split("cidr:/x, inline:{ a=1, b=2 } static:z",
                                      &l, why), 0);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.items[1], "inline:{ a=1, b=2 }");
    param_list_free(&l);
    assert_int_equal(param_list_split("", &l, why), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(param_list_split("inline:{ a=1", &l, why), -1);
    assert_non_null(strstr(why->data, "unbalanced { }"));
    assert_int_equal(param_list_split("a }", &l, why), -1);
    dstr_free(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_defaults),
        cmocka_unit_test(test_params_unique),
        cmocka_unit_test(test_params_documented),
        cmocka_unit_test(test_params_lists),
    };

    return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
