/* table_file - logical lines and FILE:LINE errors for text table files. */

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "tables/table_file.h"

/* table_file_init - a fresh parse of file */
void
table_file_init(struct table_file *f, const char *file, struct dstr *errors,
                void *context)
{
    f->file = file;
    f->errors = errors;
    f->nerrors = 0;
    f->context = context;
    f->fn = NULL;
}

/* table_file_error - report one problem at line, or only count it */
void
table_file_error(struct table_file *f, int line, const char *fmt, ...)
{
    va_list ap;

    if (f->nerrors++ >= TABLE_FILE_ERRORS_MAX)
        return;
    if (line > 0)
        (void) dstr_appendf(f->errors, "%s:%d: ", f->file, line);
    else
        (void) dstr_appendf(f->errors, "%s: ", f->file);
    va_start(ap, fmt);
    (void) dstr_vappendf(f->errors, fmt, ap);
    va_end(ap);
    (void) dstr_append_char(f->errors, '\n');
}

/* table_file_finish - -1 if anything was wrong, with the count of the rest */
int
table_file_finish(struct table_file *f)
{
    if (f->nerrors > TABLE_FILE_ERRORS_MAX)
        (void) dstr_appendf(f->errors, "%s: %d more errors not shown\n",
                            f->file, f->nerrors - TABLE_FILE_ERRORS_MAX);
    return f->nerrors > 0 ? -1 : 0;
}

/* table_file_line - adapter from cfparse_lines() to the reader */
static int
table_file_line(void *context, int line, char *text, struct dstr *errors)
{
    struct table_file *f = context;

    (void) errors;
    table_file_trim(text);
    f->fn(f, line, text);
    return 0;
}

/*
 * table_file_parse_buffer - every logical line of buf to fn. The reader
 * reports through table_file_error(); what cfparse_lines() refuses by
 * itself (a NUL byte, an over-long line, an indented first line) goes
 * to the errors directly, so it is counted here.
 */
int
table_file_parse_buffer(struct table_file *f, const char *buf, size_t len,
                        table_file_line_fn *fn)
{
    f->fn = fn;
    if (cfparse_lines(f->file, buf, len, table_file_line, f, f->errors) < 0)
        f->nerrors++;
    return f->nerrors > 0 ? -1 : 0;
}

/* table_file_parse - read path and parse it */
int
table_file_parse(struct table_file *f, const char *path,
                 table_file_line_fn *fn)
{
    struct dstr *content;
    int     ret;

    if ((content = cfparse_read(path, f->errors)) == NULL) {
        f->nerrors++;
        return -1;
    }
    ret = table_file_parse_buffer(f, content->data, content->len, fn);
    dstr_free(content);
    return ret;
}

/* table_file_word - cut the first word off *p */
char   *
table_file_word(char **p)
{
    char   *s = *p, *word;

    while (*s && isspace((unsigned char) *s))
        s++;
    word = s;
    while (*s && !isspace((unsigned char) *s))
        s++;
    if (*s)
        *s++ = '\0';
    while (*s && isspace((unsigned char) *s))
        s++;
    *p = s;
    return word;
}

/* table_file_trim - drop trailing white space */
void
table_file_trim(char *s)
{
    size_t  n = strlen(s);

    while (n > 0 && isspace((unsigned char) s[n - 1]))
        s[--n] = '\0';
}

/* table_file_rule - one more zeroed rule in a growing array, or NULL */
void   *
table_file_rule(struct table_file *f, int line, void **rules, size_t *count,
                size_t *alloc, size_t size, size_t max)
{
    char   *r;

    if (*count >= max) {
        table_file_error(f, line, "more than %zu rules in one table", max);
        return NULL;
    }
    if (*count == *alloc) {
        *alloc = *alloc ? *alloc * 2 : 16;
        *rules = xrealloc_array(*rules, *alloc, size);
    }
    r = (char *) *rules + (*count)++ * size;
    memset(r, 0, size);
    return r;
}

/* table_file_endif - the "if" an "endif" closes, or -1 and why not */
long
table_file_endif(struct table_file *f, int line, const char *rest,
                 const size_t *open, int *depth)
{
    if (*rest != '\0') {
        table_file_error(f, line, "text after \"endif\": \"%.40s\"", rest);
        return -1;
    }
    if (*depth == 0) {
        table_file_error(f, line, "\"endif\" without \"if\"");
        return -1;
    }
    return (long) open[--*depth];
}
