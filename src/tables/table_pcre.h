/*
 * NAME
 *     table_pcre - pcre: tables, PCRE2 patterns to values (pcre_table(5))
 * SYNOPSIS
 *     #include "tables/table_pcre.h"
 * DESCRIPTION
 *     A pcre table is a text file of rules applied in order to the
 *     whole key; the first that matches gives the value:
 *
 *         /pattern/flags value        the key matches
 *         !/pattern/flags value       the key does not match
 *         if /pattern/flags           the rules up to the matching
 *         if !/pattern/flags          "endif" apply only if the key
 *         endif                       matches (does not); they nest
 *
 *     The delimiter is the first character of the pattern, any
 *     character that is not a letter, digit, white space or '\'; a
 *     backslash before it keeps it in the pattern. Flags toggle PCRE2
 *     options: i (case-insensitive; on by default), m (multi-line),
 *     s (dot matches newline), x (extended), A (anchored), E ($ only
 *     at the very end), U (ungreedy); X is accepted and does nothing
 *     (PCRE2 has no "extra" option). '#' starts a comment line and a
 *     line that starts with white space continues the previous one.
 *
 *     In a value, $1 or ${1} is the text the first group matched
 *     (empty when it did not take part), $$ is one '$'. Every pattern
 *     is compiled and every $N checked against its pattern when the
 *     table is read, so a bad expression is a FILE:LINE error at start
 *     or reload, never a miss at run time.
 *
 *     Matching treats keys as bytes (no UTF-8 mode) and is bounded by
 *     TABLE_PCRE_MATCH_LIMIT and TABLE_PCRE_DEPTH_LIMIT: a pattern that
 *     backtracks past them is a lookup error, not a miss and not a
 *     stalled worker.
 *
 *     table_pcre_parse() reads a table from memory, table_pcre_open()
 *     from a file. table_pcre_type is the registry row.
 * RULES
 *     The caller owns the table; table_pcre_free() returns NULL. A
 *     table holds its match data, so one thread uses it at a time.
 * DIAGNOSTICS
 *     Every bad line is reported as "FILE:LINE: message\n" in *errors
 *     and the table is refused: NULL. table_pcre_lookup() logs and
 *     returns TABLE_ERROR when PCRE2 gives up or the value would pass
 *     value->limit.
 * SEE ALSO
 *     tables/table.h, pcre2api(3), Postfix pcre_table(5)
 */
#ifndef DOPPEL_TABLES_TABLE_PCRE_H
#define DOPPEL_TABLES_TABLE_PCRE_H

#include <stddef.h>

#include "util/dstr.h"
#include "tables/table.h"

#define TABLE_PCRE_RULES_MAX 100000     /* rules in one file */
#define TABLE_PCRE_DEPTH_MAX 100        /* nested if..endif */
#define TABLE_PCRE_MATCH_LIMIT 1000000  /* pcre2_set_match_limit() */
#define TABLE_PCRE_DEPTH_LIMIT 10000    /* pcre2_set_depth_limit() */
#define TABLE_PCRE_HEAP_LIMIT 20000     /* KiB, pcre2_set_heap_limit() */

struct table_pcre;

struct table_pcre *table_pcre_open(const char *path, struct dstr *errors);
struct table_pcre *table_pcre_parse(const char *file, const char *buf,
                                    size_t len, struct dstr *errors);
enum table_status table_pcre_lookup(struct table_pcre *t, const char *key,
                                    struct dstr *value);
size_t  table_pcre_count(const struct table_pcre *t);
struct table_pcre *table_pcre_free(struct table_pcre *t);

extern const struct table_type table_pcre_type;

#endif
