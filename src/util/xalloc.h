/*
 * NAME
 *     xalloc - memory allocation that never returns NULL
 * SYNOPSIS
 *     #include "util/xalloc.h"
 * DESCRIPTION
 *     Thin wrappers around malloc(3) and friends. Out of memory is
 *     reported with log_fatal() (the process exits: for a worker that
 *     loses only its own sessions, and the master restarts it).
 *     xcalloc() and xrealloc_array() check the multiplication n * size.
 * RULES
 *     Free with free(3). Destructors elsewhere return NULL so that
 *     "p = thing_free(p);" leaves no dangling pointer.
 * SEE ALSO
 *     util/log.h
 */
#ifndef DOPPEL_UTIL_XALLOC_H
#define DOPPEL_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xrealloc_array(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
