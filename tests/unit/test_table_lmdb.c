/*
 * test_table_lmdb - lmdb: tables: build like postmap (folded keys, the
 * first duplicate kept, nothing written from a bad source), lookups,
 * and atomic rebuilds while a reader has the database open.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_lmdb.h"
#include "testutil.h"

static char *dir;

/* setup - capture logs, fresh directory */
static int
setup(void **state)
{
    (void) state;
    testutil_log_start();
    dir = testutil_tmpdir();
    return 0;
}

/* teardown - remove the directory */
static int
teardown(void **state)
{
    (void) state;
    testutil_rmtree(dir);
    free(dir);
    testutil_log_stop();
    return 0;
}

/* source - write the source file; returns its path */
static char *
source(const char *text)
{
    return testutil_write_file(dir, "access", text, strlen(text));
}

/* build - build, failing the test on errors; returns the key count */
static size_t
build(const char *path)
{
    struct dstr *errors = dstr_new(64, 65536);
    size_t  count = 0;

    if (table_lmdb_build(path, &count, errors) < 0)
        fail_msg("build: %s", errors->data);
    dstr_free(errors);
    return count;
}

/* expect - one lookup through the generic interface */
static void
expect(struct table *t, const char *key, const char *want)
{
    struct dstr *value = dstr_new(16, 4096);
    enum table_status s = table_lookup(t, key, value);

    if (want == NULL) {
        if (s != TABLE_NOTFOUND)
            fail_msg("%s: %s \"%s\"", key, table_status_name(s), value->data);
    } else {
        if (s != TABLE_FOUND)
            fail_msg("%s: %s", key, table_status_name(s));
        assert_string_equal(value->data, want);
    }
    dstr_free(value);
}

/* open_spec - "lmdb:PATH" through table_open() */
static struct table *
open_spec(const char *path)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *spec = dstr_new(64, 4096);
    struct table *t;

    (void) dstr_appendf(spec, "lmdb:%s", path);
    if ((t = table_open(spec->data, errors)) == NULL)
        fail_msg("open: %s", errors->data);
    dstr_free(spec);
    dstr_free(errors);
    return t;
}

/* test_table_lmdb_build - postmap's rules, looked up through table_open */
static void
test_table_lmdb_build(void **state)
{
    char   *path = source("# access map\n"
                          "User@Example.COM   REJECT no such user\n"
                          "example.net        OK\n"
                          "user@example.com   DUPLICATE\n"
                          "192.0.2.1          DEFER  try\n"
                          "   later\n"
                          "\n"
                          "trailing   spaces   \n");
    struct table *t;

    (void) state;
    assert_int_equal(build(path), 4);
    assert_true(testutil_logged("access:4: duplicate key \"user@example.com\":"
                                " the first value is kept"));
    t = open_spec(path);
    expect(t, "user@example.com", "REJECT no such user");
    expect(t, "USER@EXAMPLE.COM", "REJECT no such user");
    expect(t, "Example.Net", "OK");
    expect(t, "192.0.2.1", "DEFER  try later");
    expect(t, "trailing", "spaces");
    expect(t, "example.org", NULL);
    expect(t, "", NULL);
    table_free(t);
    free(path);
}

/* test_table_lmdb_errors - a bad source is refused with its lines */
static void
test_table_lmdb_errors(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *longkey = dstr_new(64, 4096);
    struct table *t;
    char   *path = source("good OK\n");
    struct stat before, after;
    char    db[4096];

    (void) state;
    assert_int_equal(build(path), 1);
    snprintf(db, sizeof(db), "%s.lmdb", path);
    assert_int_equal(stat(db, &before), 0);
    free(path);

    (void) dstr_append_str(longkey, "ok OK\n\n");
    while (longkey->len < 600)
        (void) dstr_append_char(longkey, 'k');
    (void) dstr_append_str(longkey, " OK\nnovalue\n");
    path = source(longkey->data);
    assert_int_equal(table_lmdb_build(path, NULL, errors), -1);
    assert_non_null(strstr(errors->data, "access:3: key is longer than 511"
                           " bytes\n"));
    assert_non_null(strstr(errors->data, "access:4: \"novalue\" has no value"
                           " (use \"key value\")\n"));
    /* the old database is untouched, and no temp file is left */
    assert_int_equal(stat(db, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    t = open_spec(path);
    expect(t, "good", "OK");
    expect(t, "ok", NULL);
    table_free(t);

    dstr_reset(errors);
    assert_int_equal(table_lmdb_build("/nonexistent/access", NULL, errors), -1);
    assert_non_null(strstr(errors->data, "/nonexistent/access: cannot open"));
    dstr_reset(errors);
    assert_null(table_lmdb_open("/nonexistent/access", errors));
    assert_non_null(strstr(errors->data, "/nonexistent/access.lmdb: no such"
                           " file (build it with \"doppel map build\")"));
    dstr_free(longkey);
    dstr_free(errors);
    free(path);
}

/* test_table_lmdb_not_lmdb - junk in place of a database is named */
static void
test_table_lmdb_not_lmdb(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    char   *junk = testutil_write_file(dir, "x.lmdb", "junk junk junk\n", 15);
    char    src[4096];

    (void) state;
    snprintf(src, sizeof(src), "%s/x", dir);
    assert_null(table_lmdb_open(src, errors));
    assert_non_null(strstr(errors->data, "x.lmdb: "));
    assert_non_null(strstr(errors->data, "doppel map build"));
    free(junk);
    dstr_free(errors);
}

/*
 * test_table_lmdb_rebuild - a reader keeps answering from the database
 * it has while the builder replaces it, then sees the new one; a broken
 * replacement is refused with a warning and the old answers stay.
 */
static void
test_table_lmdb_rebuild(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(16, 4096);
    struct table_lmdb *reader, *lazy;
    char   *path = source("key old\ngone here\n");
    char    db[4096];
    char   *junk;
    int     i;

    (void) state;
    build(path);
    assert_non_null(reader = table_lmdb_open(path, errors));
    assert_non_null(lazy = table_lmdb_open(path, errors));
    table_lmdb_set_recheck(reader, 0);
    table_lmdb_set_recheck(lazy, 3600 * 1000);
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
    assert_string_equal(value->data, "old");

    /* rebuild several times; every answer is wholly old or wholly new */
    for (i = 0; i < 5; i++) {
        char    text[64];

        free(path);
        snprintf(text, sizeof(text), "key new%d\n", i);
        path = source(text);
        build(path);
        assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
        snprintf(text, sizeof(text), "new%d", i);
        assert_string_equal(value->data, text);
        assert_int_equal(table_lmdb_lookup(reader, "gone", value),
                         TABLE_NOTFOUND);
        /* the reader that does not look yet still has the old file */
        assert_int_equal(table_lmdb_lookup(lazy, "key", value), TABLE_FOUND);
        assert_string_equal(value->data, "old");
        assert_int_equal(table_lmdb_lookup(lazy, "gone", value), TABLE_FOUND);
    }
    assert_true(testutil_logged("reopened"));

    /* junk renamed over the database: the reader keeps what it has */
    junk = testutil_write_file(dir, "junk", "not lmdb at all\n", 16);
    snprintf(db, sizeof(db), "%s.lmdb", path);
    assert_int_equal(rename(junk, db), 0);
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
    assert_string_equal(value->data, "new4");
    assert_true(testutil_logged("keeping the old database"));

    /* a value longer than the caller's limit is an error, not a miss */
    free(path);
    path = source("key a-value-longer-than-eight\n");
    build(path);
    dstr_free(value);
    value = dstr_new(4, 8);
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_ERROR);

    table_lmdb_free(reader);
    table_lmdb_free(lazy);
    free(junk);
    free(path);
    dstr_free(value);
    dstr_free(errors);
}

static char replaced_source[4096];
static int replaced_calls;

/* note_replaced - the hook: remember who called */
static void
note_replaced(const char *src)
{
    snprintf(replaced_source, sizeof(replaced_source), "%s", src);
    replaced_calls++;
}

/*
 * test_table_lmdb_out_of_sight - a reader that cannot see the file by
 * name (as in a chroot) learns of a replacement once, and goes on with
 * the database it has
 */
static void
test_table_lmdb_out_of_sight(void **state)
{
    struct dstr *errors = dstr_new(64, 65536);
    struct dstr *value = dstr_new(16, 4096);
    struct table_lmdb *reader;
    char   *path = source("key old\n");
    char    db[4096], moved[4200];

    (void) state;
    replaced_calls = 0;
    table_lmdb_on_replaced(note_replaced);
    build(path);
    assert_non_null(reader = table_lmdb_open(path, errors));
    table_lmdb_set_recheck(reader, 0);
    snprintf(db, sizeof(db), "%s.lmdb", path);

    /* out of sight but still linked (moved away): nothing to tell */
    snprintf(moved, sizeof(moved), "%s.moved", db);
    assert_int_equal(rename(db, moved), 0);
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
    assert_int_equal(replaced_calls, 0);
    assert_int_equal(rename(moved, db), 0);
    free(path);
    path = source("key new\n");
    build(path);                        /* renamed over: old file unlinked */
    assert_int_equal(unlink(db), 0);    /* and the new one out of sight */
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
    assert_string_equal(value->data, "old");
    assert_int_equal(replaced_calls, 1);
    assert_string_equal(replaced_source, path);
    assert_int_equal(table_lmdb_lookup(reader, "key", value), TABLE_FOUND);
    assert_int_equal(replaced_calls, 1);        /* once per table */

    table_lmdb_on_replaced(NULL);
    table_lmdb_free(reader);
    free(path);
    dstr_free(value);
    dstr_free(errors);
}

/* test_table_lmdb_large - the map grows past its first guess */
static void
test_table_lmdb_large(void **state)
{
    struct dstr *text = dstr_new(1 << 20, DSTR_UNLIMITED);
    struct table *t;
    char   *path;
    int     i;

    (void) state;
    for (i = 0; i < 20000; i++)
        (void) dstr_appendf(text, "k%d v%d\n", i, i);
    path = source(text->data);
    assert_int_equal(build(path), 20000);
    t = open_spec(path);
    expect(t, "k0", "v0");
    expect(t, "k19999", "v19999");
    expect(t, "k20000", NULL);
    table_free(t);
    free(path);
    dstr_free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table_lmdb_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_lmdb_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_lmdb_not_lmdb, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_lmdb_rebuild, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_lmdb_out_of_sight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_lmdb_large, setup, teardown),
    };

    return cmocka_run_group_tests_name("table_lmdb", tests, NULL, NULL);
}
