/*
 * test_table - the generic interface: the type registry, specification
 * errors, key folding by type, and map lists (first match wins, an
 * error stops the search).
 */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "tables/table.h"
#include "testutil.h"

/* test_table_registry - every type is there under its prefix */
static void
test_table_registry(void **state)
{
    static const char *const types[] = {"cidr", "pcre", "lmdb", "inline",
                                        "static"};
    const struct table_type *type;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        assert_non_null(type = table_find_type(types[i], strlen(types[i])));
        assert_string_equal(type->prefix, types[i]);
        assert_non_null(type->open);
        assert_non_null(type->lookup);
        assert_non_null(type->close);
    }
    assert_null(table_find_type("hash", 4));
    assert_null(table_find_type("cidrx", 5));
    assert_null(table_find_type("cid", 3));
    /* Postfix folds keys of indexed tables, not of pattern tables */
    assert_true(table_find_type("lmdb", 4)->flags & TABLE_TYPE_F_FOLD);
    assert_true(table_find_type("inline", 6)->flags & TABLE_TYPE_F_FOLD);
    assert_false(table_find_type("cidr", 4)->flags & TABLE_TYPE_F_FOLD);
    assert_false(table_find_type("pcre", 4)->flags & TABLE_TYPE_F_FOLD);
    assert_string_equal(table_status_name(TABLE_ERROR), "error");
}

/* test_table_spec_errors - bad specifications are named, with a hint */
static void
test_table_spec_errors(void **state)
{
    static const struct {
        const char *spec;
        const char *error;
    } cases[] = {
        {"/etc/doppel/x", "/etc/doppel/x: not a table (use type:name"},
        {"hash:/etc/x", "hash:/etc/x: unknown table type \"hash\" (doppel has"
         " lmdb: instead)\n"},
        {"regexp:/etc/x", "(doppel has pcre: instead)"},
        {"foo:bar", "foo:bar: unknown table type \"foo\" (use cidr:, pcre:,"
         " lmdb:, inline: or static:)\n"},
        {":x", "unknown table type \"\""},
        {"cidr:", "cidr:: the table has no name\n"},
        {"CIDR:/x", "unknown table type \"CIDR\""},
    };
    struct dstr *e = dstr_new(64, 65536);
    struct dstr *big = dstr_new(64, DSTR_UNLIMITED);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(e);
        assert_null(table_open(cases[i].spec, e));
        if (strstr(e->data, cases[i].error) == NULL)
            fail_msg("%s: want \"%s\", got \"%s\"", cases[i].spec,
                     cases[i].error, e->data);
    }
    (void) dstr_append_str(big, "static:");
    while (big->len <= TABLE_SPEC_MAX)
        (void) dstr_append_char(big, 'x');
    dstr_reset(e);
    assert_null(table_open(big->data, e));
    assert_non_null(strstr(e->data, "longer than 4096 bytes"));
    dstr_free(big);
    dstr_free(e);
}

/* test_table_fold - the key reaches lmdb/inline folded, pcre as given */
static void
test_table_fold(void **state)
{
    struct dstr *e = dstr_new(64, 65536);
    struct dstr *v = dstr_new(16, 1024);
    struct table *t;

    (void) state;
    assert_non_null(t = table_open("inline:{ key=found }", e));
    assert_string_equal(table_spec(t), "inline:{ key=found }");
    assert_int_equal(table_lookup(t, "KeY", v), TABLE_FOUND);
    assert_string_equal(v->data, "found");
    table_free(t);
    assert_null(table_free(NULL));
    dstr_free(v);
    dstr_free(e);
}

/* split - a map list as the configuration gives it */
static void
split(const char *value, struct param_list *list)
{
    struct dstr *why = dstr_new(64, 1024);

    if (param_list_split(value, list, why) < 0)
        fail_msg("%s: %s", value, why->data);
    dstr_free(why);
}

/* test_table_list - in order, first match wins, an error stops */
static void
test_table_list(void **state)
{
    struct param_list maps;
    struct table_list *list;
    struct dstr *e = dstr_new(64, 65536);
    struct dstr *v = dstr_new(4, 16);
    const char *which;

    (void) state;
    split("inline:{ a=first }, inline:{ a=second, b=second }"
          " static:{ longer than sixteen bytes } static:never", &maps);
    assert_int_equal(table_list_open(&list, &maps, e), 0);
    assert_int_equal(table_list_count(list), 4);
    assert_int_equal(table_list_lookup(list, "A", v, &which), TABLE_FOUND);
    assert_string_equal(v->data, "first");
    assert_string_equal(which, "inline:{ a=first }");
    assert_int_equal(table_list_lookup(list, "b", v, &which), TABLE_FOUND);
    assert_string_equal(v->data, "second");
    /* the static table cannot fit its value: the search stops there */
    testutil_log_start();
    assert_int_equal(table_list_lookup(list, "c", v, &which), TABLE_ERROR);
    assert_string_equal(which, "static:{ longer than sixteen bytes }");
    testutil_log_stop();
    table_list_free(list);
    param_list_free(&maps);

    split("inline:{ a=1 }", &maps);
    assert_int_equal(table_list_open(&list, &maps, e), 0);
    assert_int_equal(table_list_lookup(list, "z", v, &which), TABLE_NOTFOUND);
    assert_null(which);
    table_list_free(list);
    param_list_free(&maps);

    /* every bad item is reported; nothing is opened */
    split("inline:{ a=1 } hash:x static: inline:{ b }", &maps);
    assert_int_equal(table_list_open(&list, &maps, e), -1);
    assert_null(list);
    assert_non_null(strstr(e->data, "hash:x: unknown table type"));
    assert_non_null(strstr(e->data, "static:: the table has no name"));
    assert_non_null(strstr(e->data, "\"b\" is not key=value"));
    param_list_free(&maps);

    /* an empty list finds nothing */
    split("", &maps);
    assert_int_equal(table_list_open(&list, &maps, e), 0);
    assert_int_equal(table_list_lookup(list, "a", v, NULL), TABLE_NOTFOUND);
    table_list_free(list);
    param_list_free(&maps);
    dstr_free(v);
    dstr_free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_registry),
        cmocka_unit_test(test_table_spec_errors),
        cmocka_unit_test(test_table_fold),
        cmocka_unit_test(test_table_list),
    };

    return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
