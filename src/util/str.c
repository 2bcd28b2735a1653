/* str - small string helpers; see str.h. */

#include <string.h>
#include <strings.h>

#include "util/str.h"

#define STR_DISTANCE_MAX 64             /* longer names: no suggestion */

/* str_copy - copy src into dst[size]; -1 (and dst empty) if it does not fit */
int
str_copy(char *dst, size_t size, const char *src)
{
    size_t  len = strlen(src);

    if (size == 0)
        return -1;
    if (len >= size) {
        dst[0] = '\0';
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

/* str_eq_nocase - ASCII case-insensitive equality */
int
str_eq_nocase(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* str_prefix_nocase - does s start with prefix, ignoring ASCII case */
int
str_prefix_nocase(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * str_distance - Levenshtein distance between two short strings.
 * Strings longer than STR_DISTANCE_MAX compare as "far" (SIZE_MAX / 2),
 * which keeps the work bounded for hostile input.
 */
size_t
str_distance(const char *a, const char *b)
{
    size_t  la = strlen(a), lb = strlen(b);
    size_t  row[STR_DISTANCE_MAX + 1];
    size_t  i, j, prev, cur;

    if (la > STR_DISTANCE_MAX || lb > STR_DISTANCE_MAX)
        return (size_t) -1 / 2;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            cur = row[j];
            row[j] = prev + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < row[j])
                row[j] = row[j - 1] + 1;
            if (cur + 1 < row[j])
                row[j] = cur + 1;
            prev = cur;
        }
    }
    return row[lb];
}
