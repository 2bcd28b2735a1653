/*
 * NAME
 *     cli_test_report - what "doppel test" prints: summary, TAP, matrix
 * SYNOPSIS
 *     #include "cli/cli_test_report.h"
 * DESCRIPTION
 *     cli_test_report_transcript() prints a run's transcript, one row a
 *     line: where in the script, what was sent or expected, what was
 *     received, and ok/FAIL beside each checked reply. Every output line
 *     starts with prefix ("# " inside TAP).
 *
 *     cli_test_report_human() prints one PASS/FAIL line per run and, for
 *     a failure (or always, with verbose), the message and transcript.
 *     cli_test_report_tap() prints one TAP test point per run, with the
 *     failure as diagnostics. cli_test_report_summary() ends a human
 *     report.
 *
 *     cli_test_report_matrix() prints one table for several targets:
 *     a row per script and per checking step (steps that repeat are
 *     folded into one row), a column per target, each cell "ok CODE",
 *     "FAIL CODE" or "-" (not reached; blank: not in that target's run).
 *     Rows whose cells differ between targets end in "*".
 * RULES
 *     results[i * ntargets + t] is script i against target t; scripts
 *     may be NULL where parsing failed.
 * SEE ALSO
 *     cli/cli_test_run.h, docs/doppel-test.md
 */
#ifndef DOPPEL_CLI_CLI_TEST_REPORT_H
#define DOPPEL_CLI_CLI_TEST_REPORT_H

#include <stdio.h>

#include "cli/cli_test_run.h"
#include "cli/cli_test_script.h"

void    cli_test_report_transcript(FILE *fp, const struct cli_test_result *r,
                                   const char *prefix);
void    cli_test_report_human(FILE *fp, const char *name,
                              const struct cli_test_target *target,
                              const struct cli_test_result *r, int verbose,
                              int quiet);
void    cli_test_report_tap(FILE *fp, unsigned n, const char *name,
                            const struct cli_test_target *target,
                            const struct cli_test_result *r, int verbose);
void    cli_test_report_summary(FILE *fp, unsigned total, unsigned failed,
                                unsigned elapsed_ms);
void    cli_test_report_matrix(FILE *fp, char *const *names, size_t nscripts,
                               const struct cli_test_target *targets,
                               size_t ntargets,
                               struct cli_test_script *const *scripts,
                               struct cli_test_result *const *results);

#endif
