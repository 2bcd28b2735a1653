/* helper_testutil - log capture, fatal trapping and temp files for tests. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "testutil.h"

jmp_buf testutil_fatal_jump;
int     testutil_fatal_armed;
static struct dstr *testutil_lines;

/* testutil_capture - keep each log line, newline-separated */
static void
testutil_capture(enum log_level level, const char *line)
{
    (void) level;
    if (testutil_lines != NULL) {
        (void) dstr_append_str(testutil_lines, line);
        (void) dstr_append_char(testutil_lines, '\n');
    }
}

/* testutil_fatal - jump back into TESTUTIL_EXPECT_FATAL, or fail */
static void
testutil_fatal(enum log_level level)
{
    if (testutil_fatal_armed)
        longjmp(testutil_fatal_jump, 1);
    fail_msg("unexpected %s: %s", level == LOG_LEVEL_PANIC ? "panic" : "fatal",
             testutil_log_text());
}

/* testutil_log_start - capture log lines; keep stderr for TAP only */
void
testutil_log_start(void)
{
    testutil_lines = dstr_free(testutil_lines);
    testutil_lines = dstr_new(256, DSTR_UNLIMITED);
    log_set_capture(testutil_capture);
    log_set_fatal_hook(testutil_fatal);
    log_set_level(LOG_LEVEL_DEBUG);
    log_open("test", LOG_SINK_NONE);
}

/* testutil_log_stop - forget captured lines */
void
testutil_log_stop(void)
{
    testutil_lines = dstr_free(testutil_lines);
    log_set_capture(NULL);
}

/* testutil_logged - was a line containing text logged? */
int
testutil_logged(const char *text)
{
    return testutil_lines != NULL && strstr(testutil_lines->data, text) != NULL;
}

/* testutil_log_text - everything captured so far */
const char *
testutil_log_text(void)
{
    return testutil_lines != NULL ? testutil_lines->data : "";
}

/* testutil_tmpdir - a new private directory; caller frees the name */
char   *
testutil_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char   *path;
    struct dstr *d = dstr_new(64, 4096);

    (void) dstr_appendf(d, "%s/doppel-test-XXXXXX", base ? base : "/tmp");
    path = dstr_steal(d);
    if (mkdtemp(path) == NULL)
        fail_msg("mkdtemp %s: %m", path);
    return path;
}

/* testutil_write_file - write dir/name with content; returns the path */
char   *
testutil_write_file(const char *dir, const char *name, const char *content,
                    size_t len)
{
    struct dstr *d = dstr_new(64, 4096);
    FILE   *fp;

    (void) dstr_appendf(d, "%s/%s", dir, name);
    fp = fopen(d->data, "w");
    if (fp == NULL)
        fail_msg("open %s: %m", d->data);
    if (len > 0 && fwrite(content, 1, len, fp) != len)
        fail_msg("write %s: %m", d->data);
    fclose(fp);
    return dstr_steal(d);
}

/* testutil_rmtree - remove a test directory and what is in it */
void
testutil_rmtree(const char *dir)
{
    struct dstr *cmd = dstr_new(64, 8192);

    /* test-owned path under TMPDIR, made by testutil_tmpdir() */
    (void) dstr_appendf(cmd, "rm -rf -- '%s'", dir);
    if (system(cmd->data) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    dstr_free(cmd);
}
