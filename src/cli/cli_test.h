/*
 * NAME
 *     cli_test - "doppel test": the XCLIENT test utility
 * SYNOPSIS
 *     #include "cli/cli_test.h"
 *
 *     doppel test [--server HOST:PORT] [--jobs N] [--tap] [-k] [-v|-q]
 *                 [-D NAME=VALUE]... [--timeout TIME] [--time-limit TIME]
 *                 SCRIPT...
 *     doppel test --matrix NAME=HOST:PORT,NAME=HOST:PORT[,...] ... SCRIPT...
 *     doppel test --check SCRIPT...
 * DESCRIPTION
 *     Runs each script (a scripted SMTP dialog, see cli_test_script.h
 *     and docs/doppel-test.md) against the server, or against every
 *     target of the matrix, up to N at a time, and reports: a PASS/FAIL
 *     line per run with the transcript of each failure, TAP with --tap,
 *     or the matrix table. --check only parses.
 *
 *     Each script sees the variables $server (its target's HOST:PORT,
 *     empty without one) and $target (the matrix name, else "default"),
 *     then the -D definitions.
 * RULES
 *     Exit status: 0 when every run passed, 1 when one failed or a
 *     script did not parse, 2 on a usage error.
 *     At most CLI_TEST_JOBS_MAX jobs, CLI_TEST_TARGETS_MAX targets,
 *     CLI_TEST_DEFINES_MAX definitions.
 * SEE ALSO
 *     cli/cli_test_script.h, cli/cli_test_run.h, cli/cli_test_report.h,
 *     doppel-test(1)
 */
#ifndef DOPPEL_CLI_CLI_TEST_H
#define DOPPEL_CLI_CLI_TEST_H

#define CLI_TEST_JOBS_MAX 64
#define CLI_TEST_TARGETS_MAX 8
#define CLI_TEST_DEFINES_MAX 64
#define CLI_TEST_SCRIPTS_MAX 10000

int     cli_test_main(int argc, char **argv);

#endif
