/*
 * test_table_pcre - pcre: tables: flags, delimiters, negation, nested
 * if..endif, $N substitution, match limits, and every load-time error
 * with its line number.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_pcre.h"
#include "testutil.h"

#define DATA_DIR "tests/unit/data/"

/* parse - a table from a string, failing the test if it is refused */
static struct table_pcre *
parse(const char *text)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct table_pcre *t = table_pcre_parse("t", text, strlen(text), errors);

    if (t == NULL)
        fail_msg("refused: %s", errors->data);
    assert_int_equal(errors->len, 0);
    dstr_free(errors);
    return t;
}

/* test_table_pcre_lookup - keys against one table with every feature */
static void
test_table_pcre_lookup(void **state)
{
    static const char table[] =
        "# comment\n"
        "/^exact$/              exact\n"
        "/^Case$/i              case-sensitive\n"
        "#(i toggles the default case-insensitivity off)\n"
        "/^(\\w+)@(example\\.com)$/ user=$1 domain=${2} cost=$$5\n"
        "|^pipe/slash$|         pipe delimiter\n"
        "/^esc\\/aped$/          escaped delimiter\n"
        "/^ a b c $/x            extended\n"
        "/^line2$/m             multi-line\n"
        "/^dot.all$/s           dotall\n"
        "if /^in-block/\n"
        "if !/-skip$/\n"
        "/-(one|two)$/          block $1\n"
        "endif\n"
        "/.*/                   block fallback\n"
        "endif\n"
        "/^(opt)(ional)?$/      [$1][$2]\n"
        "!/^z/                  not z\n"
        "/^zz$/                 unreachable for other keys\n"
        "/^z(.)/                z then $1\n"
        "  continued\n";
    static const struct {
        const char *key;
        const char *value;             /* NULL: not found */
    } cases[] = {
        {"exact", "exact"},
        {"EXACT", "exact"},
        {"Case", "case-sensitive"},
        {"joe@example.com", "user=joe domain=example.com cost=$5"},
        {"Joe@Example.COM", "user=Joe domain=Example.COM cost=$5"},
        {"pipe/slash", "pipe delimiter"},
        {"esc/aped", "escaped delimiter"},
        {"abc", "extended"},
        {"line1\nline2", "multi-line"},
        {"dot\nall", "dotall"},
        {"in-block-one", "block one"},
        {"in-block-two-skip", "block fallback"},
        {"in-block-three", "block fallback"},
        {"opt", "[opt][]"},
        {"optional", "[opt][ional]"},
        {"anything", "not z"},
        {"zq", "z then q continued"},
        {"z", NULL},
    };
    struct table_pcre *t = parse(table);
    struct dstr *value = dstr_new(16, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum table_status s = table_pcre_lookup(t, cases[i].key, value);

        if (cases[i].value == NULL) {
            if (s != TABLE_NOTFOUND)
                fail_msg("%s: found \"%s\"", cases[i].key, value->data);
        } else {
            if (s != TABLE_FOUND)
                fail_msg("%s: %s", cases[i].key, table_status_name(s));
            assert_string_equal(value->data, cases[i].value);
        }
    }
    /* a case-sensitive pattern misses the other case */
    table_pcre_free(t);
    t = parse("/^Case$/i x\n");
    assert_int_equal(table_pcre_lookup(t, "case", value), TABLE_NOTFOUND);
    assert_int_equal(table_pcre_count(t), 1);
    table_pcre_free(t);
    dstr_free(value);
}

/* test_table_pcre_limits - runaway backtracking and long values are errors */
static void
test_table_pcre_limits(void **state)
{
    struct table_pcre *t = parse("/^(a+)+$/ never\n/(.*)/ $1$1$1$1\n");
    struct dstr *value = dstr_new(16, 64);
    char    key[64];

    (void) state;
    testutil_log_start();
    memset(key, 'a', sizeof(key) - 2);
    key[sizeof(key) - 2] = 'b';
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(table_pcre_lookup(t, key, value), TABLE_ERROR);
    assert_true(testutil_logged("pcre table: line 1: matching"));
    assert_int_equal(table_pcre_lookup(t, "0123456789abcdefg", value),
                     TABLE_ERROR);
    assert_true(testutil_logged("line 2: value longer than 64 bytes"));
    assert_int_equal(table_pcre_lookup(t, "0123456789", value), TABLE_FOUND);
    assert_int_equal(value->len, 40);
    testutil_log_stop();
    table_pcre_free(t);
    dstr_free(value);
}

/* test_table_pcre_errors - each mistake alone, with its line */
static void
test_table_pcre_errors(void **state)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"/(/ x\n", "t:1: bad regular expression /(/: missing closing"
         " parenthesis at offset 1"},
        {"\n/a x\n", "t:2: pattern has no closing '/'"},
        {"/a/ x\n/b/z y\n", "t:2: unknown flag 'z'"},
        {"/a/\n", "t:1: pattern has no value"},
        {"/(a)/ $2\n", "t:1: $2 in the value, but the pattern has 1 group"},
        {"/a/ $1\n", "t:1: $1 in the value, but the pattern has 0 groups"},
        {"!/(a)/ $1\n", "t:1: $1 in the value of a negated pattern"},
        {"/a/ $b\n", "t:1: \"$\" in the value must be followed by"},
        {"/a/ cost $\n", "t:1: \"$\" in the value must be followed by"},
        {"/(a)/ ${1\n", "t:1: \"${\" without a closing \"}\""},
        {"endif\n", "t:1: \"endif\" without \"if\""},
        {"if /a/\n", "t:1: \"if\" without \"endif\""},
        {"if /a/ x\nendif\n", "t:1: text after the pattern of \"if\""},
        {"if a\nendif\n", "t:1: expected a pattern such as /regex/"},
        {"abc x\n", "t:1: expected /pattern/, \"if\" or \"endif\", not \"abc\""},
        {"!\n", "t:1: expected a pattern such as /regex/ after \"!\""},
        {"\\a\\ x\n", "t:1: expected a pattern such as /regex/"},
        {"/a/ x\nendif y\n", "t:2: text after \"endif\""},
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dstr *e = dstr_new(64, 65536);

        assert_null(table_pcre_parse("t", cases[i].text, strlen(cases[i].text),
                                     e));
        if (strstr(e->data, cases[i].error) == NULL)
            fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].error,
                     e->data);
        dstr_free(e);
    }
}

/* test_table_pcre_deep - nesting is bounded */
static void
test_table_pcre_deep(void **state)
{
    struct dstr *text = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *e = dstr_new(64, 65536);
    int     i;

    (void) state;
    for (i = 0; i < TABLE_PCRE_DEPTH_MAX + 1; i++)
        (void) dstr_append_str(text, "if /x/\n");
    assert_null(table_pcre_parse("t", text->data, text->len, e));
    assert_non_null(strstr(e->data, "t:101: \"if\" nested deeper than 100"));
    dstr_free(text);
    dstr_free(e);
}

/* read_data - a file of tests/unit/data */
static char *
read_data(const char *name, size_t *len)
{
    char    path[256];
    FILE   *fp;
    char   *buf = calloc(1, 65536);

    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    if ((fp = fopen(path, "r")) == NULL)
        fail_msg("%s: %m", path);
    *len = fread(buf, 1, 65535, fp);
    fclose(fp);
    return buf;
}

/* test_table_pcre_golden - every error of a broken file, byte for byte */
static void
test_table_pcre_golden(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    size_t  len, reflen;
    char   *in = read_data("table_pcre_errors.in", &len);
    char   *ref = read_data("table_pcre_errors.ref", &reflen);

    (void) state;
    assert_null(table_pcre_parse("table_pcre_errors.in", in, len, errors));
    assert_string_equal(errors->data, ref);
    free(in);
    free(ref);
    dstr_free(errors);
}

/* test_table_pcre_open - from a file through the registry; raw keys */
static void
test_table_pcre_open(void **state)
{
    static const char text[] = "/^Mixed$/i exact case\n/^mixed$/ any case\n";
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(16, 1024);
    char   *dir = testutil_tmpdir();
    char   *path = testutil_write_file(dir, "p.pcre", text, strlen(text));
    struct dstr *spec = dstr_new(64, 4096);
    struct table *t;

    (void) state;
    (void) dstr_appendf(spec, "pcre:%s", path);
    assert_non_null(t = table_open(spec->data, errors));
    /* the key reaches the pattern unfolded */
    assert_int_equal(table_lookup(t, "Mixed", value), TABLE_FOUND);
    assert_string_equal(value->data, "exact case");
    assert_int_equal(table_lookup(t, "MIXED", value), TABLE_FOUND);
    assert_string_equal(value->data, "any case");
    table_free(t);
    assert_null(table_pcre_open("/nonexistent/p.pcre", errors));
    assert_non_null(strstr(errors->data, "/nonexistent/p.pcre: cannot open"));
    testutil_rmtree(dir);
    free(dir);
    free(path);
    dstr_free(spec);
    dstr_free(value);
    dstr_free(errors);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_pcre_lookup),
        cmocka_unit_test(test_table_pcre_limits),
        cmocka_unit_test(test_table_pcre_errors),
        cmocka_unit_test(test_table_pcre_deep),
        cmocka_unit_test(test_table_pcre_golden),
        cmocka_unit_test(test_table_pcre_open),
    };

    return cmocka_run_group_tests_name("table_pcre", tests, NULL, NULL);
}
