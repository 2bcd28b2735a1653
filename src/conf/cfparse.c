/*
 * cfparse - read main.cf-syntax files into name/value tables; see cfparse.h.
 *
 * The whole file is read into memory first (bounded by CFPARSE_FILE_MAX)
 * so that binary junk is found before any line is believed, and every
 * error can name its line.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"

/* cfparse_new - an empty table */
struct cf_table *
cfparse_new(void)
{
    return xcalloc(1, sizeof(struct cf_table));
}

/* cfparse_free - release a table; returns NULL */
struct cf_table *
cfparse_free(struct cf_table *t)
{
    size_t  i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->count; i++) {
        free(t->entries[i].name);
        free(t->entries[i].value);
    }
    for (i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->entries);
    free(t->files);
    free(t);
    return NULL;
}

/* cfparse_file_name - the table's copy of a file name */
static const char *
cfparse_file_name(struct cf_table *t, const char *file)
{
    size_t  i;

    for (i = 0; i < t->nfiles; i++)
        if (strcmp(t->files[i], file) == 0)
            return t->files[i];
    t->files = xrealloc_array(t->files, t->nfiles + 1, sizeof(char *));
    t->files[t->nfiles] = xstrdup(file);
    return t->files[t->nfiles++];
}

/* cfparse_get - the entry for name, or NULL */
struct cf_entry *
cfparse_get(const struct cf_table *t, const char *name)
{
    size_t  i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->count; i++)
        if (strcmp(t->entries[i].name, name) == 0)
            return &t->entries[i];
    return NULL;
}

/* cfparse_set - add or replace name = value */
void
cfparse_set(struct cf_table *t, const char *name, const char *value,
            const char *file, int line)
{
    struct cf_entry *e = cfparse_get(t, name);

    if (e == NULL) {
        if (t->count == t->alloc) {
            t->alloc = t->alloc ? t->alloc * 2 : 32;
            t->entries = xrealloc_array(t->entries, t->alloc,
                                        sizeof(struct cf_entry));
        }
        e = &t->entries[t->count++];
        e->name = xstrdup(name);
    } else {
        free(e->value);
    }
    e->value = xstrdup(value);
    e->file = cfparse_file_name(t, file);
    e->line = line;
    e->used = 0;
}

/* cfparse_valid_name - letters, digits, underscore; bounded length */
int
cfparse_valid_name(const char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len >= CFPARSE_NAME_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char) name[i]) && name[i] != '_')
            return 0;
    return 1;
}

/* cfparse_logical - parse one logical line "name = value" */
struct cfparse_context {
    struct cf_table *table;
    const char *file;                  /* the table's copy */
};

static int
cfparse_logical(void *context, int line, char *text, struct dstr *errors)
{
    struct cfparse_context *ctx = context;
    struct cf_table *t = ctx->table;
    const char *file = ctx->file;
    char   *p = text, *name_end, *value, *end;
    size_t  name_len;

    while (*p && !isspace((unsigned char) *p) && *p != '=')
        p++;
    name_end = p;
    name_len = (size_t) (name_end - text);
    while (isspace((unsigned char) *p))
        p++;
    if (*p != '=') {
        (void) dstr_appendf(errors, "%s:%d: \"%.*s\": missing \"=\" (use"
                            " name = value)\n", file, line,
                            (int) (name_len > 60 ? 60 : name_len), text);
        return -1;
    }
    if (!cfparse_valid_name(text, name_len)) {
        (void) dstr_appendf(errors, "%s:%d: \"%.*s\" is not a valid parameter"
                            " name (use letters, digits and _)\n", file, line,
                            (int) (name_len > 60 ? 60 : name_len), text);
        return -1;
    }
    *name_end = '\0';
    value = p + 1;
    while (isspace((unsigned char) *value))
        value++;
    end = value + strlen(value);
    while (end > value && isspace((unsigned char) end[-1]))
        end--;
    *end = '\0';
    cfparse_set(t, text, value, file, line);
    return 0;
}

/* cfparse_flush - hand a finished logical line to fn */
static int
cfparse_flush(const char *file, int start_line, int too_long,
              struct dstr *logical, cfparse_line_fn *fn, void *context,
              struct dstr *errors)
{
    if (start_line == 0)
        return 0;
    if (too_long) {
        (void) dstr_appendf(errors, "%s:%d: line is longer than %d bytes\n",
                            file, start_line, CFPARSE_LINE_MAX);
        return -1;
    }
    return fn(context, start_line, logical->data, errors);
}

/* cfparse_lines - call fn for each logical line of buf */
int
cfparse_lines(const char *file, const char *buf, size_t len,
              cfparse_line_fn *fn, void *context, struct dstr *errors)
{
    struct dstr *logical = dstr_new(256, CFPARSE_LINE_MAX);
    const char *p = buf, *end = buf + len, *nl, *q;
    int     line = 0, start_line = 0, ret = 0, too_long = 0;
    size_t  n;

    if (memchr(buf, '\0', len) != NULL) {
        for (q = buf, line = 1; *q; q++)
            line += *q == '\n';
        (void) dstr_appendf(errors, "%s:%d: file contains a NUL byte: this is"
                            " not a text file\n", file, line);
        dstr_free(logical);
        return -1;
    }
    while (p < end) {
        line++;
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL)
            nl = end;
        n = (size_t) (nl - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        for (q = p; q < p + n && isspace((unsigned char) *q); q++)
             /* void */ ;
        if (q == p + n || *q == '#') {
            /* blank or comment line: skipped */
        } else if (q != p) {
            /* continuation of the previous logical line */
            if (start_line == 0) {
                (void) dstr_appendf(errors, "%s:%d: line starts with white"
                                    " space but there is nothing to"
                                    " continue (remove the indentation)\n",
                                    file, line);
                ret = -1;
            } else if (!too_long && (dstr_append_char(logical, ' ') < 0
                       || dstr_append(logical, q, (size_t) (p + n - q)) < 0)) {
                too_long = 1;
            }
        } else {
            if (cfparse_flush(file, start_line, too_long, logical, fn,
                              context, errors) < 0)
                ret = -1;
            start_line = line;
            too_long = dstr_set(logical, p, n) < 0;
        }
        p = nl + 1;
    }
    if (cfparse_flush(file, start_line, too_long, logical, fn, context,
                      errors) < 0)
        ret = -1;
    dstr_free(logical);
    return ret;
}

/* cfparse_buffer - parse a whole file's content into t */
int
cfparse_buffer(struct cf_table *t, const char *file, const char *buf,
               size_t len, struct dstr *errors)
{
    struct cfparse_context ctx;

    ctx.table = t;
    ctx.file = cfparse_file_name(t, file);
    return cfparse_lines(file, buf, len, cfparse_logical, &ctx, errors);
}

/* cfparse_read - a whole file in memory, or NULL with the reason */
struct dstr *
cfparse_read(const char *path, struct dstr *errors)
{
    struct dstr *content;
    char    buf[8192];
    ssize_t n;
    int     fd;
    struct stat st;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        (void) dstr_appendf(errors, "%s: cannot open: %m\n", path);
        return NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        (void) dstr_appendf(errors, "%s: is a directory, not a file\n", path);
        close(fd);
        return NULL;
    }
    content = dstr_new(4096, CFPARSE_FILE_MAX);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (dstr_append(content, buf, (size_t) n) < 0) {
            (void) dstr_appendf(errors, "%s: file is larger than %d bytes\n",
                                path, CFPARSE_FILE_MAX);
            close(fd);
            return dstr_free(content);
        }
    }
    if (n < 0) {
        (void) dstr_appendf(errors, "%s: read error: %m\n", path);
        close(fd);
        return dstr_free(content);
    }
    close(fd);
    return content;
}

/* cfparse_file - read and parse path into t */
int
cfparse_file(struct cf_table *t, const char *path, struct dstr *errors)
{
    struct dstr *content = cfparse_read(path, errors);
    int     ret;

    if (content == NULL)
        return -1;
    ret = cfparse_buffer(t, path, content->data, content->len, errors);
    dstr_free(content);
    return ret;
}
