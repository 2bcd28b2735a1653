/*
 * NAME
 *     testutil - shared helpers for the cmocka unit tests
 * SYNOPSIS
 *     #include "testutil.h"
 * DESCRIPTION
 *     testutil_log_start() captures every log line in memory (and keeps
 *     them off standard error, which belongs to TAP); testutil_logged()
 *     asks whether a line containing a text was logged.
 *
 *     TESTUTIL_EXPECT_FATAL(stmt) runs stmt and asserts that it called
 *     log_fatal() (or log_panic()): the fatal hook longjmps back here.
 *
 *     testutil_tmpdir() makes a fresh directory under $TMPDIR and
 *     testutil_write_file() fills a file in it, for file parsers.
 * RULES
 *     Call testutil_log_stop() in teardown; it frees the captured lines.
 */
#ifndef DOPPEL_TESTUTIL_H
#define DOPPEL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

extern jmp_buf testutil_fatal_jump;
extern int testutil_fatal_armed;

void    testutil_log_start(void);
void    testutil_log_stop(void);
int     testutil_logged(const char *text);
const char *testutil_log_text(void);
char   *testutil_tmpdir(void);
char   *testutil_write_file(const char *dir, const char *name,
                            const char *content, size_t len);
void    testutil_rmtree(const char *dir);

#define TESTUTIL_EXPECT_FATAL(stmt) do { \
        testutil_fatal_armed = 1; \
        if (setjmp(testutil_fatal_jump) == 0) { \
            stmt; \
            testutil_fatal_armed = 0; \
            fail_msg("expected a fatal error from: %s", #stmt); \
        } \
        testutil_fatal_armed = 0; \
    } while (0)

#endif
