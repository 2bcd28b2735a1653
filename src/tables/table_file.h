/*
 * NAME
 *     table_file - what the readers of text table files share
 * SYNOPSIS
 *     #include "tables/table_file.h"
 * DESCRIPTION
 *     cidr and pcre tables and the source of an lmdb table are text
 *     files with the logical lines of main.cf: '#' comment lines and
 *     blank lines are skipped, a line that starts with white space
 *     continues the previous one (conf/cfparse.h reads them).
 *
 *     table_file_parse() reads path (at most CFPARSE_FILE_MAX bytes)
 *     and calls fn once per logical line with its first line number.
 *     table_file_error() reports one problem as "FILE:LINE: message";
 *     after TABLE_FILE_ERRORS_MAX problems the rest are only counted,
 *     and table_file_finish() says how many were not shown.
 *
 *     table_file_word() cuts the first white-space separated word off
 *     *p (NUL-terminating it in place) and leaves *p at the next word
 *     or at the end; table_file_trim() drops trailing white space.
 *
 *     For the rule lists of cidr and pcre tables: table_file_rule()
 *     appends one zeroed element of size bytes to *rules (count, alloc
 *     kept by the caller), or reports "more than MAX rules" and returns
 *     NULL. table_file_endif() checks an "endif" line (rest is what
 *     followed the word) against the open "if" blocks and returns the
 *     rule index of the "if" it closes, or -1 after reporting why not.
 * RULES
 *     A struct table_file lives on the caller's stack for one parse.
 * DIAGNOSTICS
 *     table_file_finish() returns -1 if any error was reported, else 0.
 * SEE ALSO
 *     conf/cfparse.h
 */
#ifndef DOPPEL_TABLES_TABLE_FILE_H
#define DOPPEL_TABLES_TABLE_FILE_H

#include <stddef.h>

#include "util/dstr.h"

#define TABLE_FILE_ERRORS_MAX 20        /* problems shown per file */

struct table_file;

typedef void table_file_line_fn(struct table_file *f, int line, char *text);

struct table_file {
    const char *file;                  /* name used in messages */
    struct dstr *errors;               /* where messages go */
    int     nerrors;                   /* problems reported */
    void   *context;                   /* the reader's own state */
    table_file_line_fn *fn;            /* set by table_file_parse*() */
};

void    table_file_init(struct table_file *f, const char *file,
                        struct dstr *errors, void *context);
int     table_file_parse(struct table_file *f, const char *path,
                         table_file_line_fn *fn);
int     table_file_parse_buffer(struct table_file *f, const char *buf,
                                size_t len, table_file_line_fn *fn);
void    table_file_error(struct table_file *f, int line, const char *fmt, ...)
            __attribute__((format(printf, 3, 4)));
int     table_file_finish(struct table_file *f);
char   *table_file_word(char **p);
void   *table_file_rule(struct table_file *f, int line, void **rules,
                        size_t *count, size_t *alloc, size_t size,
                        size_t max);
long    table_file_endif(struct table_file *f, int line, const char *rest,
                         const size_t *open, int *depth);
void    table_file_trim(char *s);

#endif
