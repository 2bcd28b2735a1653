/*
 * NAME
 *     cli_test_run - execute a "doppel test" script against one server
 * SYNOPSIS
 *     #include "cli/cli_test_run.h"
 *
 *     struct cli_test_target t = { "default", "127.0.0.1:2525" };
 *     struct cli_test_run_opts o = { 0 };
 *     struct cli_test_result *r = cli_test_run(script, &t, &o);
 *     if (r->status != CLI_TEST_PASS) ... r->message, r->rows ...
 *     r = cli_test_result_free(r);
 * DESCRIPTION
 *     Runs the steps in order over blocking-style I/O: sockets are
 *     non-blocking and every wait is a poll(2) bounded by the step's
 *     timeout and by the script's time limit, whichever comes first.
 *     STARTTLS and "connect ... tls" use OpenSSL without certificate
 *     verification: this is a test client, it checks the dialog.
 *
 *     The result holds one outcome per step (for the matrix), the first
 *     failure as "FILE:LINE: message", and a transcript: one row per
 *     line sent or received, with the expectation beside the reply it
 *     was checked against.
 *
 *     The run stops at the first failed step, unless keep_going is set:
 *     then it stops only where the dialog cannot go on (a timeout, a
 *     closed connection, an I/O error).
 * RULES
 *     The caller ignores SIGPIPE (cli_test_main does). A run touches no
 *     global state, so several may run in parallel threads.
 *     Limits: CLI_TEST_REPLY_LINE_MAX bytes a reply line,
 *     CLI_TEST_REPLY_LINES_MAX lines a reply, CLI_TEST_ROWS_MAX rows of
 *     transcript (later rows are counted, not kept).
 * DIAGNOSTICS
 *     Never logs: everything goes into the result.
 * SEE ALSO
 *     cli/cli_test_script.h, cli/cli_test_report.h
 */
#ifndef DOPPEL_CLI_CLI_TEST_RUN_H
#define DOPPEL_CLI_CLI_TEST_RUN_H

#include <stddef.h>

#include "util/dstr.h"
#include "cli/cli_test_script.h"

#define CLI_TEST_REPLY_LINE_MAX 4096
#define CLI_TEST_REPLY_LINES_MAX 1000
#define CLI_TEST_ROWS_MAX 20000
#define CLI_TEST_SESSIONS_MAX 64
#define CLI_TEST_CELL_MAX 200           /* a transcript cell, escaped */
#define CLI_TEST_DETAIL_MAX 48          /* an outcome's short detail */

struct cli_test_target {
    const char *name;                  /* "default", or a matrix column */
    const char *server;                /* HOST:PORT for a bare connect */
};

struct cli_test_run_opts {
    int     keep_going;                /* continue after a wrong reply */
};

enum cli_test_status {
    CLI_TEST_NOT_RUN,
    CLI_TEST_PASS,
    CLI_TEST_FAIL,
};

/* what one step did, for the matrix table */
struct cli_test_outcome {
    enum cli_test_status status;
    char    detail[CLI_TEST_DETAIL_MAX];       /* "250", "timeout", ... */
};

/* one transcript row: what was sent or expected, what came back */
struct cli_test_row {
    const char *file;                  /* NULL on continuation rows */
    unsigned line;
    char   *left;                      /* "> EHLO x" or "expect 250" */
    char   *right;                     /* a reply line, or NULL */
    const char *mark;                  /* "ok", "FAIL", or NULL */
};

struct cli_test_result {
    enum cli_test_status status;       /* PASS or FAIL */
    struct cli_test_outcome *outcomes; /* one per step */
    size_t  nsteps;
    size_t  nrun;                      /* steps executed */
    size_t  nfailed;                   /* steps failed */
    struct dstr *message;              /* first failure: FILE:LINE: why */
    struct cli_test_row *rows;
    size_t  nrows;
    size_t  rows_dropped;
    unsigned elapsed_ms;
};

struct cli_test_result *cli_test_run(const struct cli_test_script *script,
                                     const struct cli_test_target *target,
                                     const struct cli_test_run_opts *opts);
struct cli_test_result *cli_test_result_error(const char *message);
struct cli_test_result *cli_test_result_free(struct cli_test_result *r);
int     cli_test_run_split_addr(const char *addr, char *host, size_t hsize,
                                char *port, size_t psize);

#endif
