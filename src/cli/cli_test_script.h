/*
 * NAME
 *     cli_test_script - the "doppel test" script language: parser to steps
 * SYNOPSIS
 *     #include "cli/cli_test_script.h"
 *
 *     struct cli_test_parse_opts opts = CLI_TEST_PARSE_OPTS_INIT;
 *     struct cli_test_script *s;
 *     if (cli_test_script_parse_file(&s, "relay.dt", &opts, err) < 0)
 *         fputs(err->data, stderr);    // "relay.dt:7: message"
 *     ...
 *     s = cli_test_script_free(s);
 * DESCRIPTION
 *     A script is read line by line. Statements (docs/doppel-test.md
 *     is the reference): set, include, timeout, time-limit, connect,
 *     use, close, send, raw, pipeline...end, expect, expect-close,
 *     xclient, starttls, data, body, sleep, repeat...end,
 *     if...else...end. Variables ($name, ${name}; $$ is a dollar),
 *     includes, repeat and if are resolved here, so the result is a
 *     flat list of steps that cli_test_run executes in order.
 *
 *     Each step keeps the file and line it came from and its
 *     statement text (variables expanded) for reports. Regular
 *     expressions are compiled here, so a bad one is a script error.
 *
 *     cli_test_script_parse_buf() parses a script held in memory;
 *     includes and "data file" go through opts->load when it is set
 *     (tests and the fuzzer), else through the file system.
 * RULES
 *     The caller owns the script; cli_test_script_free() returns NULL.
 *     Parsing stops at the first error. A script is never executed in
 *     part because of a parse error: it either parses whole or not.
 *     Limits: CLI_TEST_LINE_MAX bytes a line, CLI_TEST_FILE_MAX bytes a
 *     file, CLI_TEST_INCLUDE_DEPTH nested includes, CLI_TEST_REPEAT_MAX
 *     repetitions, CLI_TEST_STEPS_MAX steps in all, CLI_TEST_VARS_MAX
 *     variables.
 * DIAGNOSTICS
 *     -1 with "FILE:LINE: message\n" in err (a missing top-level file is
 *     "FILE: cannot open: reason"); never logs.
 * SEE ALSO
 *     cli/cli_test_run.h, docs/doppel-test.md, util/xtext.h
 */
#ifndef DOPPEL_CLI_CLI_TEST_SCRIPT_H
#define DOPPEL_CLI_CLI_TEST_SCRIPT_H

#include <stddef.h>

#include "util/dstr.h"

#define CLI_TEST_LINE_MAX 4096          /* a script line, after expansion */
#define CLI_TEST_FILE_MAX (16 * 1024 * 1024)   /* a script or body file */
#define CLI_TEST_INCLUDE_DEPTH 8
#define CLI_TEST_REPEAT_MAX 10000
#define CLI_TEST_STEPS_MAX 100000
#define CLI_TEST_VARS_MAX 256
#define CLI_TEST_CODES_MAX 8            /* alternatives in "expect 250|251" */
#define CLI_TEST_WAIT_MAX_MS (3600LL * 1000)   /* timeout, within, sleep */
#define CLI_TEST_LIMIT_MAX_MS (24LL * 3600 * 1000)     /* time-limit */
#define CLI_TEST_SMTP_LINE_MAX 1000     /* RFC 5321 command line, CRLF too */
#define CLI_TEST_DEFAULT_TIMEOUT_MS 10000
#define CLI_TEST_DEFAULT_LIMIT_MS 300000

enum cli_test_op {
    CLI_TEST_OP_CONNECT,                /* connect [ADDR] [tls] [as NAME] */
    CLI_TEST_OP_USE,                    /* use NAME */
    CLI_TEST_OP_CLOSE,                  /* close */
    CLI_TEST_OP_SEND,                   /* send, pipeline, raw */
    CLI_TEST_OP_EXPECT,                 /* expect CODE [ENH] [/RE/] */
    CLI_TEST_OP_EXPECT_CLOSE,           /* expect-close */
    CLI_TEST_OP_XCLIENT,                /* xclient ATTR=VALUE... */
    CLI_TEST_OP_STARTTLS,               /* starttls */
    CLI_TEST_OP_DATA,                   /* DATA, 354, then the body */
    CLI_TEST_OP_BODY,                   /* the body alone */
    CLI_TEST_OP_SLEEP,                  /* sleep DURATION */
};

/* what a reply must look like */
struct cli_test_expect {
    char    codes[CLI_TEST_CODES_MAX][4];      /* "250", "4xx", "25x" */
    int     ncodes;
    char    enh[24];                   /* "5.7.1", "" for any */
    void   *re;                        /* pcre2_code *, NULL for none */
    int     negate;                    /* !/RE/: must not match */
    char   *re_text;                   /* as written, for reports */
};

struct cli_test_step {
    enum cli_test_op op;
    const char *file;                  /* owned by the script */
    unsigned line;
    char   *text;                      /* the statement, expanded */
    char   *data;                      /* bytes to send; connect: ADDR */
    size_t  len;                       /* of data */
    char   *name;                      /* connect ... as NAME; use NAME */
    int     tls;                       /* connect ... tls */
    char   *xattrs;                    /* xclient: "ADDR NAME", for checks */
    struct cli_test_expect expect;
    unsigned timeout_ms;               /* bound of this step's waits */
};

struct cli_test_script {
    char   *name;                      /* as given to the parser */
    struct cli_test_step *steps;
    size_t  nsteps;
    size_t  cap;
    char  **files;                     /* every file read, for step->file */
    size_t  nfiles;
    unsigned time_limit_ms;            /* the whole script */
};

/* reads path into out; 0, or -1 with a reason (no FILE:LINE) in err */
typedef int cli_test_load_fn(void *ctx, const char *path, struct dstr *out,
                             struct dstr *err);

struct cli_test_parse_opts {
    unsigned timeout_ms;               /* default bound of each wait */
    unsigned time_limit_ms;            /* default whole-script bound */
    const char *const *defines;        /* "NAME=VALUE"..., NULL-terminated */
    cli_test_load_fn *load;            /* NULL: the file system */
    void   *load_ctx;
};

#define CLI_TEST_PARSE_OPTS_INIT \
    { CLI_TEST_DEFAULT_TIMEOUT_MS, CLI_TEST_DEFAULT_LIMIT_MS, NULL, NULL, NULL }

int     cli_test_script_parse_file(struct cli_test_script **out,
                                   const char *path,
                                   const struct cli_test_parse_opts *opts,
                                   struct dstr *err);
int     cli_test_script_parse_buf(struct cli_test_script **out,
                                  const char *name, const char *buf,
                                  size_t len,
                                  const struct cli_test_parse_opts *opts,
                                  struct dstr *err);
struct cli_test_script *cli_test_script_free(struct cli_test_script *s);
int     cli_test_script_checks(const struct cli_test_step *step);

#endif
