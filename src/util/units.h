/*
 * NAME
 *     units - parse configuration values: numbers, times, sizes, booleans
 * SYNOPSIS
 *     #include "util/units.h"
 * DESCRIPTION
 *     units_parse_int() takes an optionally signed decimal integer.
 *     units_parse_time() takes a number with an optional unit: ms, s,
 *     m, h, d or w; a bare number uses default_unit ('s', 'm', ...).
 *     The result is in milliseconds. units_parse_size() takes bytes,
 *     optionally with k, m or g (binary multiples). units_parse_bool()
 *     takes yes/no (also true/false, on/off, 1/0), any case.
 *     units_parse_ratio() takes 0.7 or 70%.
 * RULES
 *     The whole string must be consumed: "10q" and "10 s" are errors.
 *     Leading and trailing white space is allowed. Overflow is an error.
 * DIAGNOSTICS
 *     Each returns 0 or -1; it never logs. The caller words the error
 *     (it knows the file, line and parameter name).
 */
#ifndef DOPPEL_UTIL_UNITS_H
#define DOPPEL_UTIL_UNITS_H

int     units_parse_int(const char *s, long long *value);
int     units_parse_time(const char *s, int default_unit, long long *ms);
int     units_parse_size(const char *s, long long *bytes);
int     units_parse_bool(const char *s, int *value);
int     units_parse_ratio(const char *s, double *value);

#endif
