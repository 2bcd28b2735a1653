/*
 * NAME
 *     dstr - growable byte strings with a hard size limit
 * SYNOPSIS
 *     #include "util/dstr.h"
 * DESCRIPTION
 *     The one dynamic string type of doppel. A dstr holds len bytes
 *     plus an uncounted NUL, so d->data is always a C string (which may
 *     contain NUL bytes of its own when built from binary input).
 *     Every dstr has a limit: an operation that would make len exceed
 *     it changes nothing and returns -1. Input from the network is
 *     read into dstrs whose limit is the protocol's line limit, so an
 *     over-long line is detected, never silently truncated.
 *     DSTR_UNLIMITED is for strings that doppel builds itself.
 * RULES
 *     The caller owns what dstr_new() returns; dstr_free() returns NULL.
 *     The fields are public for reading; change them only through
 *     these functions. dstr_append() and dstr_set() may take bytes of
 *     the same string; a dstr_appendf() argument must not point into it.
 * DIAGNOSTICS
 *     Out of memory is fatal, so no dstr call returns NULL.
 * SEE ALSO
 *     util/xalloc.h
 */
#ifndef DOPPEL_UTIL_DSTR_H
#define DOPPEL_UTIL_DSTR_H

#include <stdarg.h>
#include <stddef.h>

#define DSTR_UNLIMITED ((size_t) -1 / 2)

struct dstr {
    char   *data;                      /* always NUL-terminated */
    size_t  len;                       /* bytes in use, without the NUL */
    size_t  cap;                       /* bytes allocated, with the NUL */
    size_t  limit;                     /* len never exceeds this */
};

struct dstr *dstr_new(size_t initial, size_t limit);
struct dstr *dstr_free(struct dstr *d);
int     dstr_append(struct dstr *d, const void *p, size_t n);
int     dstr_append_str(struct dstr *d, const char *s);
int     dstr_append_char(struct dstr *d, int c);
int     dstr_appendf(struct dstr *d, const char *fmt, ...)
            __attribute__((format(printf, 2, 3)));
int     dstr_vappendf(struct dstr *d, const char *fmt, va_list ap)
            __attribute__((format(printf, 2, 0)));
int     dstr_set(struct dstr *d, const void *p, size_t n);
int     dstr_set_str(struct dstr *d, const char *s);
void    dstr_truncate(struct dstr *d, size_t len);
void    dstr_consume(struct dstr *d, size_t n);
char   *dstr_steal(struct dstr *d);

#define dstr_reset(d) dstr_truncate((d), 0)

#endif
