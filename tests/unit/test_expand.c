/* test_expand - unit tests for conf/expand: every form, every error. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/expand.h"
#include "testutil.h"

/* a flat table of names for the lookup callback */
static const char *const vars[][2] = {
    {"host", "mx.example.com"},
    {"empty", ""},
    {"stress", "yes"},
    {"nested", "$host/x"},
    {"loop_a", "$loop_b"},
    {"loop_b", "$loop_a"},
    {"deep", "$deep1"},
    {"deep1", "$deep"},
    {NULL, NULL},
};

static int active[16];

/* flat_enter - plain lookup with a simple loop check */
static int
flat_enter(void *ctx, const char *name, const char **raw, struct dstr *why)
{
    int     i;

    (void) ctx;
    *raw = NULL;
    for (i = 0; vars[i][0] != NULL; i++) {
        if (strcmp(vars[i][0], name) == 0) {
            if (active[i]) {
                (void) dstr_appendf(why, "loop at $%s", name);
                return -1;
            }
            active[i] = 1;
            *raw = vars[i][1];
            return 0;
        }
    }
    return 0;
}

/* flat_leave - end of a name's expansion */
static void
flat_leave(void *ctx, const char *name)
{
    int     i;

    (void) ctx;
    for (i = 0; vars[i][0] != NULL; i++)
        if (strcmp(vars[i][0], name) == 0)
            active[i] = 0;
}

static const struct expand_source flat = {flat_enter, flat_leave, NULL};

/* expand_ok - expand and compare */
static void
expand_ok(const char *raw, const char *want)
{
    struct dstr *out = dstr_new(16, 4096), *why = dstr_new(16, 4096);

    memset(active, 0, sizeof(active));
    if (expand_value(raw, &flat, out, why) != 0)
        fail_msg("\"%s\": unexpected error: %s", raw, why->data);
    if (strcmp(out->data, want) != 0)
        fail_msg("\"%s\": got \"%s\", want \"%s\"", raw, out->data, want);
    dstr_free(out);
    dstr_free(why);
}

/* expand_bad - expect an error containing text */
static void
expand_bad(const char *raw, const char *text)
{
    struct dstr *out = dstr_new(16, 4096), *why = dstr_new(16, 4096);

    memset(active, 0, sizeof(active));
    if (expand_value(raw, &flat, out, why) == 0)
        fail_msg("\"%s\": expected an error, got \"%s\"", raw, out->data);
    if (strstr(why->data, text) == NULL)
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", raw, why->data, text);
    dstr_free(out);
    dstr_free(why);
}

/* test_expand_forms - every syntax form */
static void
test_expand_forms(void **state)
{
    (void) state;
    expand_ok("plain text", "plain text");
    expand_ok("$host", "mx.example.com");
    expand_ok("${host}", "mx.example.com");
    expand_ok("$(host)", "mx.example.com");
    expand_ok("a $host b", "a mx.example.com b");
    expand_ok("$host.", "mx.example.com.");
    expand_ok("x${host}y", "xmx.example.comy");
    expand_ok("$nested", "mx.example.com/x");
    expand_ok("$unset", "");
    expand_ok("$$host", "$host");
    expand_ok("${host?set}", "set");
    expand_ok("${empty?set}", "");
    expand_ok("${unset?set}", "");
    expand_ok("${host:unset}", "");
    expand_ok("${empty:unset}", "unset");
    expand_ok("$(empty:unset)", "unset");
    expand_ok("$(host?set)", "set");
    expand_ok("${stress?{10}:{300}}s", "10s");
    expand_ok("${empty?{10}:{300}}s", "300s");
    expand_ok("${stress?{10}}", "10");
    expand_ok("${empty?{10}}", "");
    expand_ok("${empty:{20}}", "20");
    expand_ok("${stress ? {a} : {b}}", "a");
    expand_ok("${stress?{$host}:{none}}", "mx.example.com");
    expand_ok("${stress?{x{y}z}}", "x{y}z");
    expand_ok("${stress?$host}", "mx.example.com");
}

/* test_expand_errors - malformed references and loops */
static void
test_expand_errors(void **state)
{
    (void) state;
    expand_bad("$", "must be followed by a name");
    expand_bad("a $ b", "must be followed by a name");
    expand_bad("${host", "without a matching");
    expand_bad("$(host", "without a matching");
    expand_bad("${}", "not a valid reference");
    expand_bad("${ho-st}", "not a valid reference");
    expand_bad("${stress?{a}:b}", "bad conditional");
    expand_bad("${stress?{a}x}", "bad conditional");
    expand_bad("$loop_a", "loop");
    expand_bad("$deep", "loop");
}

/* deep_enter - an endless chain of distinct names */
static int
deep_enter(void *ctx, const char *name, const char **raw, struct dstr *why)
{
    (void) ctx;
    (void) name;
    (void) why;
    *raw = "${again}";
    return 0;
}

/* test_expand_depth - depth is bounded without a loop detector */
static void
test_expand_depth(void **state)
{
    static const struct expand_source src = {deep_enter, flat_leave, NULL};
    struct dstr *out = dstr_new(16, 4096), *why = dstr_new(16, 4096);

    (void) state;
    assert_int_equal(expand_value("$x", &src, out, why), -1);
    assert_non_null(strstr(why->data, "nested more than"));
    dstr_free(out);
    dstr_free(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_forms),
        cmocka_unit_test(test_expand_errors),
        cmocka_unit_test(test_expand_depth),
    };

    return cmocka_run_group_tests_name("expand", tests, NULL, NULL);
}
