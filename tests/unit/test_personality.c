/*
 * test_personality - the lookup order of DESIGN.md for every (class,
 * stress) pair, built-in stress defaults, the self-reference fix,
 * service overrides and per-personality errors.
 */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/cfparse.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "testutil.h"

static char *const classes[] = {"preferred", "suspect"};

/* a compiled set points into its tables: they live until the next one */
static struct cf_table *main_table, *ovr;

/* release_tables - free the tables of the last compile() */
static int
release_tables(void **state)
{
    (void) state;
    main_table = cfparse_free(main_table);
    ovr = cfparse_free(ovr);
    return 0;
}

/* compile - a set from doppel.cf text (and -o overrides text) */
static struct personality_set *
compile(const char *main_cf, const char *override_cf, struct dstr *errors)
{
    struct personality_set *set = NULL;

    release_tables(NULL);
    main_table = cfparse_new();

    assert_int_equal(cfparse_buffer(main_table, "doppel.cf", main_cf,
                                    strlen(main_cf), errors), 0);
    if (override_cf != NULL) {
        ovr = cfparse_new();
        assert_int_equal(cfparse_buffer(ovr, "services.cf", override_cf,
                                        strlen(override_cf), errors), 0);
    }
    (void) personality_compile(main_table, ovr, classes, 2, NULL, &set, errors);
    return set;
}

/* timeout_s - smtpd_timeout of a personality, in seconds */
static long long
timeout_s(const struct personality_set *set, const char *cls, int stress)
{
    return personality_get(set, cls, stress)->params.smtpd_timeout / 1000;
}

/* test_builtin_defaults - no configuration: the table's two columns */
static void
test_builtin_defaults(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set = compile("myhostname = mx.example.com\n",
                                          NULL, errors);
    const struct params *n, *s;

    (void) state;
    assert_non_null(set);
    n = &personality_get(set, "default", 0)->params;
    s = &personality_get(set, "default", 1)->params;
    assert_int_equal(n->smtpd_timeout, 300000);
    assert_int_equal(s->smtpd_timeout, 10000);
    assert_int_equal(n->smtpd_hard_error_limit, 20);
    assert_int_equal(s->smtpd_hard_error_limit, 1);
    assert_int_equal(n->smtpd_junk_command_limit, 100);
    assert_int_equal(s->smtpd_junk_command_limit, 1);
    assert_int_equal(n->smtpd_per_request_deadline, 0);
    assert_int_equal(s->smtpd_per_request_deadline, 1);
    assert_string_equal(n->smtpd_banner, "mx.example.com ESMTP doppel");
    assert_string_equal(n->mydomain, "example.com");
    assert_int_equal(n->mydestination.count, 3);
    assert_string_equal(n->mydestination.items[1], "localhost.example.com");
    assert_string_equal(personality_get(set, "default", 1)->name, "stress");
    personality_free(set);
    dstr_free(errors);
}

/*
 * test_lookup_order - each name in the order of DESIGN.md wins over the
 * ones after it, and is skipped when unset.
 */
static void
test_lookup_order(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set;

    (void) state;
    /* all five levels set: each personality picks its first */
    set = compile("smtpd_timeout = 100s\n"
                  "stress_smtpd_timeout = 5s\n"
                  "preferred_smtpd_timeout = 200s\n"
                  "preferred_stress_smtpd_timeout = 50s\n", NULL, errors);
    assert_non_null(set);
    assert_int_equal(timeout_s(set, "default", 0), 100);
    assert_int_equal(timeout_s(set, "default", 1), 5);
    assert_int_equal(timeout_s(set, "preferred", 0), 200);
    assert_int_equal(timeout_s(set, "preferred", 1), 50);
    /* a class without its own values behaves like default */
    assert_int_equal(timeout_s(set, "suspect", 0), 100);
    assert_int_equal(timeout_s(set, "suspect", 1), 5);
    /* an unknown class falls back to default */
    assert_int_equal(timeout_s(set, "nosuchclass", 1), 5);
    assert_string_equal(personality_get(set, "nosuchclass", 1)->class_name,
                        "default");
    personality_free(set);

    /* CLASS_X, no CLASS_stress_X: the class keeps its value under stress */
    set = compile("smtpd_timeout = 100s\nstress_smtpd_timeout = 5s\n"
                  "preferred_smtpd_timeout = 200s\n", NULL, errors);
    assert_int_equal(timeout_s(set, "preferred", 1), 200);
    personality_free(set);

    /* X set, stress_X not: X in both personalities (the proposal) */
    set = compile("smtpd_timeout = 45s\n", NULL, errors);
    assert_int_equal(timeout_s(set, "default", 0), 45);
    assert_int_equal(timeout_s(set, "default", 1), 45);
    personality_free(set);

    /* only stress_X: normal keeps the built-in default */
    set = compile("stress_smtpd_timeout = 7s\n", NULL, errors);
    assert_int_equal(timeout_s(set, "default", 0), 300);
    assert_int_equal(timeout_s(set, "default", 1), 7);
    assert_int_equal(timeout_s(set, "preferred", 1), 7);
    personality_free(set);

    /* the pseudo-parameter stress, Postfix style */
    set = compile("smtpd_timeout = ${stress?{10}:{300}}s\n", NULL, errors);
    assert_int_equal(timeout_s(set, "default", 0), 300);
    assert_int_equal(timeout_s(set, "default", 1), 10);
    personality_free(set);
    assert_string_equal(errors->data, "");
    dstr_free(errors);
}

/*
 * test_self_reference_fix - the proposal's anomaly: $smtpd_Y inside a
 * value resolves through the same personality.
 */
static void
test_self_reference_fix(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set;

    (void) state;
    set = compile("smtpd_hard_error_limit = 20\n"
                  "stress_smtpd_hard_error_limit = 1\n"
                  "smtpd_soft_error_limit = $smtpd_hard_error_limit\n",
                  NULL, errors);
    assert_non_null(set);
    assert_int_equal(personality_get(set, "default", 0)
                     ->params.smtpd_soft_error_limit, 20);
    assert_int_equal(personality_get(set, "default", 1)
                     ->params.smtpd_soft_error_limit, 1);
    /* classes too */
    personality_free(set);
    set = compile("smtpd_hard_error_limit = 20\n"
                  "suspect_smtpd_hard_error_limit = 2\n"
                  "smtpd_soft_error_limit = $smtpd_hard_error_limit\n",
                  NULL, errors);
    assert_int_equal(personality_get(set, "suspect", 0)
                     ->params.smtpd_soft_error_limit, 2);
    assert_int_equal(personality_get(set, "preferred", 0)
                     ->params.smtpd_soft_error_limit, 20);
    personality_free(set);

    /* a direct self-reference means the next definition down */
    set = compile("smtpd_timeout = 60s\n"
                  "stress_smtpd_timeout = $smtpd_timeout\n"
                  "smtpd_helo_restrictions = reject_invalid_helo_hostname\n"
                  "stress_smtpd_helo_restrictions = $smtpd_helo_restrictions,"
                  " reject_non_fqdn_helo_hostname\n", NULL, errors);
    assert_non_null(set);
    assert_int_equal(timeout_s(set, "default", 1), 60);
    assert_int_equal(personality_get(set, "default", 1)
                     ->params.smtpd_helo_restrictions.count, 2);
    assert_int_equal(personality_get(set, "default", 0)
                     ->params.smtpd_helo_restrictions.count, 1);
    personality_free(set);

    /* X = $X, nothing below: the built-in default */
    set = compile("smtpd_timeout = $smtpd_timeout\n", NULL, errors);
    assert_int_equal(timeout_s(set, "default", 0), 300);
    assert_int_equal(timeout_s(set, "default", 1), 10);
    personality_free(set);
    assert_string_equal(errors->data, "");
    dstr_free(errors);
}

/* test_overrides - services.cf -o joins the same order, name by name */
static void
test_overrides(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set;

    (void) state;
    set = compile("smtpd_timeout = 100s\nstress_smtpd_timeout = 9s\n",
                  "smtpd_timeout = 30s\n", errors);
    assert_int_equal(timeout_s(set, "default", 0), 30);
    assert_int_equal(timeout_s(set, "default", 1), 9);
    personality_free(set);
    set = compile("smtpd_timeout = 100s\n", "stress_smtpd_timeout = 2s\n",
                  errors);
    assert_int_equal(timeout_s(set, "default", 0), 100);
    assert_int_equal(timeout_s(set, "default", 1), 2);
    personality_free(set);
    assert_string_equal(errors->data, "");
    dstr_free(errors);
}

/* compile_error - expect an error line containing text */
static void
compile_error(const char *main_cf, const char *text)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set = compile(main_cf, NULL, errors);

    if (set != NULL)
        fail_msg("expected \"%s\" to be refused", main_cf);
    if (strstr(errors->data, text) == NULL)
        fail_msg("errors \"%s\" lack \"%s\"", errors->data, text);
    dstr_free(errors);
}

/* test_value_errors - typed checks with FILE:LINE and the right advice */
static void
test_value_errors(void **state)
{
    (void) state;
    compile_error("# comment\n\nsmtpd_timeout = 10q\n",
                  "doppel.cf:3: smtpd_timeout: \"10q\" is not a time (use ms,"
                  " s, m, h, d or w)");
    compile_error("smtpd_hard_error_limit = lots\n",
                  "doppel.cf:1: smtpd_hard_error_limit: \"lots\" is not a"
                  " whole number");
    compile_error("smtpd_hard_error_limit = 0\n", "is below the minimum 1");
    compile_error("smtpd_timeout = 2h\n", "is above the maximum 3600000ms");
    compile_error("smtpd_helo_required = maybe\n",
                  "\"maybe\" is not a boolean (use yes or no)");
    compile_error("message_size_limit = 10 parsecs\n", "is not a size");
    compile_error("master_stress_clear_ratio = 1.5\n", "is not a ratio");
    compile_error("smtpd_client_class_maps = classes.cidr\n",
                  "is not a table (use type:name");
    compile_error("a = $b\nb = $a\nmyorigin = $a\n", "reference loop:");
    compile_error("myorigin = ${oops\n", "without a matching");
    /* only the stress personality is broken: it is named */
    compile_error("stress_smtpd_timeout = soon\n",
                  "doppel.cf:1: stress_smtpd_timeout: \"soon\" is not a time");
    compile_error("stress_smtpd_timeout = soon\n", "[personality default/stress]");
}

/* test_off_and_units - "off" times and other units */
static void
test_off_and_units(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set;
    const struct params *p;

    (void) state;
    set = compile("master_stress_evict_idle = off\nsmtpd_timeout = 2m\n"
                  "message_size_limit = 20m\nmaster_stress_clear_ratio = 50%\n"
                  "smtpd_error_sleep_time = 250ms\n", NULL, errors);
    assert_non_null(set);
    p = &personality_get(set, "default", 0)->params;
    assert_int_equal(p->master_stress_evict_idle, -1);
    assert_int_equal(p->smtpd_timeout, 120000);
    assert_int_equal(p->message_size_limit, 20 * 1024 * 1024);
    assert_true(p->master_stress_clear_ratio > 0.49
                && p->master_stress_clear_ratio < 0.51);
    assert_int_equal(p->smtpd_error_sleep_time, 250);
    personality_free(set);
    dstr_free(errors);
}

/* test_class_valid - class names are words no parameter starts with */
static void
test_class_valid(void **state)
{
    (void) state;
    assert_true(personality_class_valid("preferred", 9));
    assert_true(personality_class_valid("vip2", 4));
    assert_false(personality_class_valid("smtpd", 5));
    assert_false(personality_class_valid("master", 6));
    assert_false(personality_class_valid("queue", 5));
    assert_false(personality_class_valid("stress", 6));
    assert_false(personality_class_valid("default", 7));
    assert_false(personality_class_valid("Upper", 5));
    assert_false(personality_class_valid("", 0));
}

/* class_list - the list of restriction class cls in a personality */
static const struct param_list *
class_list(const struct personality_set *set, int stress, const char *cls)
{
    const struct params *p = &personality_get(set, "default", stress)->params;
    size_t  i;

    for (i = 0; i < p->smtpd_restriction_classes.count; i++)
        if (strcmp(p->smtpd_restriction_classes.items[i], cls) == 0)
            return &p->restriction_class_lists[i];
    fail_msg("no restriction class %s", cls);
    return NULL;
}

/*
 * test_restriction_classes - user-defined lists, expanded per
 * personality: "$smtpd_X" inside a class reads the stress X under stress.
 */
static void
test_restriction_classes(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set;
    const struct param_list *l;

    (void) state;
    set = compile("smtpd_restriction_classes = strict, loose\n"
                  "strict = reject_unauth_destination, $smtpd_data_restrictions"
                  "\n"
                  "loose = permit\n"
                  "smtpd_data_restrictions = reject_unauth_pipelining\n"
                  "stress_smtpd_data_restrictions = reject\n", NULL, errors);
    assert_string_equal(errors->data, "");
    assert_non_null(set);
    l = class_list(set, 0, "strict");
    assert_int_equal(l->count, 2);
    assert_string_equal(l->items[0], "reject_unauth_destination");
    assert_string_equal(l->items[1], "reject_unauth_pipelining");
    l = class_list(set, 1, "strict");
    assert_int_equal(l->count, 2);
    assert_string_equal(l->items[1], "reject");
    l = class_list(set, 1, "loose");
    assert_int_equal(l->count, 1);
    assert_string_equal(l->items[0], "permit");
    assert_non_null(personality_get(set, "suspect", 1)
                    ->params.restriction_class_lists);
    personality_free(set);

    /* none: an empty array, still allocated */
    set = compile("myhostname = a.example\n", NULL, errors);
    assert_non_null(set);
    assert_int_equal(personality_get(set, "default", 0)
                     ->params.smtpd_restriction_classes.count, 0);
    assert_non_null(personality_get(set, "default", 0)
                    ->params.restriction_class_lists);
    personality_free(set);

    /* a -o override may define the class a service uses */
    set = compile("smtpd_restriction_classes = strict\nstrict = reject\n",
                  "strict = permit_mynetworks, reject\n", errors);
    assert_non_null(set);
    assert_int_equal(class_list(set, 0, "strict")->count, 2);
    personality_free(set);
    assert_string_equal(errors->data, "");
    dstr_free(errors);

    compile_error("x = 1\nsmtpd_restriction_classes = strict\n",
                  "doppel.cf:2: smtpd_restriction_classes: restriction class"
                  " strict has no definition (add a line \"strict ="
                  " restrictions\")");
    compile_error("smtpd_restriction_classes = myorigin\n",
                  "doppel.cf:1: smtpd_restriction_classes: myorigin is a"
                  " parameter; a restriction class needs a name of its own");
    compile_error("smtpd_restriction_classes = a, a\na = reject\n",
                  "smtpd_restriction_classes: a is listed twice");
    compile_error("smtpd_restriction_classes = a\na = reject {\n",
                  "doppel.cf:2: a: unbalanced { }");
    compile_error("smtpd_restriction_classes = a\na = $nowhere_${x\n",
                  "doppel.cf:2: a:");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_builtin_defaults, release_tables),
        cmocka_unit_test_teardown(test_lookup_order, release_tables),
        cmocka_unit_test_teardown(test_self_reference_fix, release_tables),
        cmocka_unit_test_teardown(test_overrides, release_tables),
        cmocka_unit_test_teardown(test_value_errors, release_tables),
        cmocka_unit_test_teardown(test_off_and_units, release_tables),
        cmocka_unit_test_teardown(test_class_valid, release_tables),
        cmocka_unit_test_teardown(test_restriction_classes, release_tables),
    };

    return cmocka_run_group_tests_name("personality", tests, NULL, NULL);
}
