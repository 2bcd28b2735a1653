/*
 * NAME
 *     str - small helpers for C strings and counted byte ranges
 * SYNOPSIS
 *     #include "util/str.h"
 * DESCRIPTION
 *     str_copy() copies into a fixed buffer and reports truncation
 *     instead of hiding it. str_eq_nocase() and str_prefix_nocase()
 *     compare ASCII case-insensitively (SMTP verbs, parameter values).
 *     str_distance() is the edit distance used to suggest the nearest
 *     known name for a misspelled one.
 * RULES
 *     No function here allocates.
 */
#ifndef DOPPEL_UTIL_STR_H
#define DOPPEL_UTIL_STR_H

#include <stddef.h>

int     str_copy(char *dst, size_t size, const char *src);
int     str_eq_nocase(const char *a, const char *b);
int     str_prefix_nocase(const char *s, const char *prefix);
size_t  str_distance(const char *a, const char *b);

#endif
