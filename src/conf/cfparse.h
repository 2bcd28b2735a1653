/*
 * NAME
 *     cfparse - read a file in Postfix main.cf syntax into name/value pairs
 * SYNOPSIS
 *     #include "conf/cfparse.h"
 * DESCRIPTION
 *     cfparse_file() reads "name = value" lines: '#' starts a comment
 *     line, a line that starts with white space continues the previous
 *     one, blank lines are ignored, white space around '=' and at the
 *     end of a value is dropped. Values are kept unexpanded; expansion
 *     of $name is conf/expand.h's job. A later definition of a name
 *     replaces an earlier one (Postfix does the same), keeping the later
 *     line number.
 *
 *     cfparse_set() adds or replaces one pair, as services.cf -o does.
 *
 *     cfparse_lines() is the logical-line reader both configuration
 *     files share: it calls fn once per logical line (comments and blank
 *     lines dropped, continuation lines joined with one space) with the
 *     number of the line where it starts. cfparse_read() loads a file
 *     (bounded by CFPARSE_FILE_MAX) for it.
 * RULES
 *     A table owns its strings; cfparse_free() returns NULL. Each entry
 *     remembers the file and line it came from, for FILE:LINE errors.
 * DIAGNOSTICS
 *     Errors are appended to *errors as "FILE:LINE: message\n" and the
 *     call returns -1: an unreadable file, a line without '=', a name
 *     that is not [A-Za-z0-9_], a NUL byte, a line longer than
 *     CFPARSE_LINE_MAX, a file larger than CFPARSE_FILE_MAX.
 */
#ifndef DOPPEL_CONF_CFPARSE_H
#define DOPPEL_CONF_CFPARSE_H

#include <stddef.h>

#include "util/dstr.h"

#define CFPARSE_LINE_MAX (64 * 1024)    /* one logical line */
#define CFPARSE_FILE_MAX (16 * 1024 * 1024)
#define CFPARSE_NAME_MAX 128

struct cf_entry {
    char   *name;
    char   *value;                     /* raw, unexpanded */
    const char *file;                  /* points into the table */
    int     line;
    int     used;                      /* set by the loader: referenced */
};

struct cf_table {
    struct cf_entry *entries;
    size_t  count;
    size_t  alloc;
    char  **files;                     /* file names entries point at */
    size_t  nfiles;
};

struct cf_table *cfparse_new(void);
struct cf_table *cfparse_free(struct cf_table *t);
int     cfparse_file(struct cf_table *t, const char *path, struct dstr *errors);
int     cfparse_buffer(struct cf_table *t, const char *file, const char *buf,
                       size_t len, struct dstr *errors);
void    cfparse_set(struct cf_table *t, const char *name, const char *value,
                    const char *file, int line);
struct cf_entry *cfparse_get(const struct cf_table *t, const char *name);
int     cfparse_valid_name(const char *name, size_t len);

typedef int cfparse_line_fn(void *context, int line, char *text,
                            struct dstr *errors);
int     cfparse_lines(const char *file, const char *buf, size_t len,
                      cfparse_line_fn *fn, void *context,
                      struct dstr *errors);
struct dstr *cfparse_read(const char *path, struct dstr *errors);

#endif
