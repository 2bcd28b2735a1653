/* xalloc - allocation wrappers that fail loudly; see xalloc.h. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/* xmalloc - malloc or die; a zero size still returns a unique pointer */
void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        log_fatal("out of memory allocating %zu bytes", size);
    return p;
}

/* xcalloc - zeroed array of n elements, multiplication checked */
void *
xcalloc(size_t n, size_t size)
{
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        log_fatal("allocation overflow: %zu * %zu", n, size);
    /* zero bytes: one byte, not n (or size) bytes of a 0 * size request */
    p = n == 0 || size == 0 ? calloc(1, 1) : calloc(n, size);
    if (p == NULL)
        log_fatal("out of memory allocating %zu * %zu bytes", n, size);
    return p;
}

/* xrealloc - realloc or die */
void *
xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        log_fatal("out of memory reallocating %zu bytes", size);
    return p;
}

/* xrealloc_array - realloc of n elements, multiplication checked */
void *
xrealloc_array(void *ptr, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        log_fatal("allocation overflow: %zu * %zu", n, size);
    return xrealloc(ptr, n * size);
}

/* xstrdup - copy a NUL-terminated string */
char *
xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

/* xstrndup - copy at most n bytes of s and terminate the copy */
char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* xmemdup - copy n bytes */
void *
xmemdup(const void *src, size_t n)
{
    void *p = xmalloc(n);

    if (n > 0)                          /* src may be NULL when n is 0 */
        memcpy(p, src, n);
    return p;
}
