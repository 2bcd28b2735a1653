/* units - numbers, times, sizes and booleans from configuration text. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/units.h"

/* units_skip_space - past leading white space */
static const char *
units_skip_space(const char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    return s;
}

/* units_only_space - is the rest of s white space */
static int
units_only_space(const char *s)
{
    return *units_skip_space(s) == '\0';
}

/* units_number - decimal integer at s; *end after it; -1 on none or overflow */
static int
units_number(const char *s, long long *value, const char **end)
{
    char   *ep;

    s = units_skip_space(s);
    if (!isdigit((unsigned char) *s) && !((*s == '-' || *s == '+')
                                          && isdigit((unsigned char) s[1])))
        return -1;
    errno = 0;
    *value = strtoll(s, &ep, 10);
    if (errno == ERANGE)
        return -1;
    *end = ep;
    return 0;
}

/* units_parse_int - whole string is one integer */
int
units_parse_int(const char *s, long long *value)
{
    const char *end;

    if (units_number(s, value, &end) < 0 || !units_only_space(end))
        return -1;
    return 0;
}

/* units_multiply - *value *= factor, -1 on overflow */
static int
units_multiply(long long *value, long long factor)
{
    if (*value > 0 ? *value > LLONG_MAX / factor : *value < LLONG_MIN / factor)
        return -1;
    *value *= factor;
    return 0;
}

/* units_time_factor - milliseconds per unit; 0 if not a unit */
static long long
units_time_factor(const char *u, size_t len)
{
    static const struct {
        const char *name;
        long long ms;
    } table[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
        {"d", 86400000}, {"w", 604800000},
    };
    size_t  i;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, u, len) == 0)
            return table[i].ms;
    return 0;
}

/* units_parse_time - number with optional unit, in milliseconds */
int
units_parse_time(const char *s, int default_unit, long long *ms)
{
    const char *end, *u;
    char    dflt[2] = {(char) default_unit, 0};
    long long factor;
    size_t  len;

    if (units_number(s, ms, &end) < 0 || *ms < 0)
        return -1;
    u = end;
    len = 0;
    while (isalpha((unsigned char) u[len]))
        len++;
    if (!units_only_space(u + len))
        return -1;
    factor = len ? units_time_factor(u, len) : units_time_factor(dflt, 1);
    if (factor == 0)
        return -1;
    return units_multiply(ms, factor);
}

/* units_parse_size - bytes with optional k, m or g (binary) */
int
units_parse_size(const char *s, long long *bytes)
{
    const char *end;
    long long factor = 1;

    if (units_number(s, bytes, &end) < 0 || *bytes < 0)
        return -1;
    switch (tolower((unsigned char) *end)) {
    case 'k':
        factor = 1024LL;
        end++;
        break;
    case 'm':
        factor = 1024LL * 1024;
        end++;
        break;
    case 'g':
        factor = 1024LL * 1024 * 1024;
        end++;
        break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (!units_only_space(end))
        return -1;
    return units_multiply(bytes, factor);
}

/* units_parse_bool - yes/no and friends */
int
units_parse_bool(const char *s, int *value)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    char    word[8];
    size_t  len, i;

    s = units_skip_space(s);
    for (len = 0; s[len] && !isspace((unsigned char) s[len]); len++)
        if (len + 1 >= sizeof(word))
            return -1;
    if (!units_only_space(s + len))
        return -1;
    memcpy(word, s, len);
    word[len] = '\0';
    for (i = 0; i < 4; i++) {
        if (str_eq_nocase(word, yes[i])) {
            *value = 1;
            return 0;
        }
        if (str_eq_nocase(word, no[i])) {
            *value = 0;
            return 0;
        }
    }
    return -1;
}

/*
 * units_parse_ratio - 0.7 or 70%, within 0..1. Only plain decimals:
 * strtod() alone would also take "0x1", "1e-1" and "0x.8".
 */
int
units_parse_ratio(const char *s, double *value)
{
    char   *end;
    size_t  i, digits = 0, dots = 0;

    s = units_skip_space(s);
    for (i = 0; isdigit((unsigned char) s[i]) || s[i] == '.'; i++) {
        if (s[i] == '.')
            dots++;
        else
            digits++;
    }
    if (digits == 0 || dots > 1)
        return -1;
    errno = 0;
    *value = strtod(s, &end);
    if (errno == ERANGE || !isfinite(*value) || end != s + i)
        return -1;
    if (*end == '%') {
        *value /= 100.0;
        end++;
    }
    if (!units_only_space(end) || *value < 0 || *value > 1)
        return -1;
    return 0;
}
