/*
 * dstr - growable byte strings with a hard limit; see dstr.h.
 *
 * Growth doubles the allocation, capped just above the limit, so a
 * string never holds much more memory than its limit allows.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"

/* dstr_new - empty string with room for initial bytes, capped at limit */
struct dstr *
dstr_new(size_t initial, size_t limit)
{
    struct dstr *d = xmalloc(sizeof(*d));

    if (limit > DSTR_UNLIMITED)
        limit = DSTR_UNLIMITED;
    if (initial > limit)
        initial = limit;
    d->cap = initial + 1;
    d->data = xmalloc(d->cap);
    d->data[0] = '\0';
    d->len = 0;
    d->limit = limit;
    return d;
}

/* dstr_free - release the string; returns NULL */
struct dstr *
dstr_free(struct dstr *d)
{
    if (d != NULL) {
        free(d->data);
        free(d);
    }
    return NULL;
}

/* dstr_reserve - make room for n more bytes; -1 past the limit */
static int
dstr_reserve(struct dstr *d, size_t n)
{
    size_t  need, cap;

    if (n > d->limit - d->len)
        return -1;
    need = d->len + n + 1;
    if (need <= d->cap)
        return 0;
    cap = d->cap;
    while (cap < need)
        cap = cap < DSTR_UNLIMITED / 2 ? cap * 2 : need;
    if (cap > d->limit + 1)
        cap = d->limit + 1;
    d->data = xrealloc(d->data, cap);
    d->cap = cap;
    return 0;
}

/*
 * dstr_append - append n bytes. The bytes may come from d itself
 * (dstr_append(d, d->data, d->len), or dstr_set() of a part of d):
 * growth may move the buffer, so remember where they were relative
 * to it, and copy with memmove.
 */
int
dstr_append(struct dstr *d, const void *p, size_t n)
{
    uintptr_t src = (uintptr_t) p, base = (uintptr_t) d->data;
    int     inside = n > 0 && src >= base && src < base + d->cap;
    size_t  offset = inside ? (size_t) (src - base) : 0;

    if (dstr_reserve(d, n) < 0)
        return -1;
    if (inside)
        p = d->data + offset;
    if (n > 0)
        memmove(d->data + d->len, p, n);
    d->len += n;
    d->data[d->len] = '\0';
    return 0;
}

/* dstr_append_str - append a C string */
int
dstr_append_str(struct dstr *d, const char *s)
{
    return dstr_append(d, s, strlen(s));
}

/* dstr_append_char - append one byte */
int
dstr_append_char(struct dstr *d, int c)
{
    char    ch = (char) c;

    return dstr_append(d, &ch, 1);
}

/* dstr_vappendf - append formatted text; all or nothing */
int
dstr_vappendf(struct dstr *d, const char *fmt, va_list ap)
{
    va_list ap2;
    int     n;

    va_copy(ap2, ap);
    n = vsnprintf(d->data + d->len, d->cap - d->len, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        d->data[d->len] = '\0';
        return -1;
    }
    if ((size_t) n >= d->cap - d->len) {
        if (dstr_reserve(d, (size_t) n) < 0) {
            d->data[d->len] = '\0';
            return -1;
        }
        va_copy(ap2, ap);
        (void) vsnprintf(d->data + d->len, d->cap - d->len, fmt, ap2);
        va_end(ap2);
    } else if ((size_t) n > d->limit - d->len) {
        d->data[d->len] = '\0';
        return -1;
    }
    d->len += (size_t) n;
    return 0;
}

/* dstr_appendf - printf-style append */
int
dstr_appendf(struct dstr *d, const char *fmt, ...)
{
    va_list ap;
    int     ret;

    va_start(ap, fmt);
    ret = dstr_vappendf(d, fmt, ap);
    va_end(ap);
    return ret;
}

/* dstr_set - replace the content */
int
dstr_set(struct dstr *d, const void *p, size_t n)
{
    if (n > d->limit)
        return -1;
    d->len = 0;
    return dstr_append(d, p, n);
}

/* dstr_set_str - replace the content with a C string */
int
dstr_set_str(struct dstr *d, const char *s)
{
    return dstr_set(d, s, strlen(s));
}

/* dstr_truncate - shorten to len bytes (no-op if already shorter) */
void
dstr_truncate(struct dstr *d, size_t len)
{
    if (len < d->len) {
        d->len = len;
        d->data[len] = '\0';
    }
}

/* dstr_consume - drop n bytes from the front */
void
dstr_consume(struct dstr *d, size_t n)
{
    if (n >= d->len) {
        dstr_truncate(d, 0);
        return;
    }
    memmove(d->data, d->data + n, d->len - n);
    d->len -= n;
    d->data[d->len] = '\0';
}

/* dstr_steal - take the buffer as a C string and free the dstr */
char   *
dstr_steal(struct dstr *d)
{
    char   *s = d->data;

    free(d);
    return s;
}
