/* cidr - networks in CIDR notation and mynetworks-style lists; see cidr.h. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"

#define CIDR_WHY_SHOW 60                /* bytes of bad input quoted back */

struct cidr_list_entry {
    struct cidr net;
    int     negate;                    /* "!net": a match means no */
};

struct cidr_list {
    struct cidr_list_entry *entries;
    size_t  count;
};

/* cidr_why - replace *why with '"shown": reason' (why may be NULL) */
static void
    __attribute__((format(printf, 3, 4)))
cidr_why(struct dstr *why, const char *shown, const char *fmt, ...)
{
    va_list ap;
    size_t  len;

    if (why == NULL)
        return;
    len = strlen(shown);
    dstr_reset(why);
    if (len > CIDR_WHY_SHOW)
        (void) dstr_appendf(why, "\"%.*s...\": ", CIDR_WHY_SHOW, shown);
    else
        (void) dstr_appendf(why, "\"%s\": ", shown);
    va_start(ap, fmt);
    (void) dstr_vappendf(why, fmt, ap);
    va_end(ap);
}

/* cidr_max_prefix - 32 or 128 */
static int
cidr_max_prefix(const struct netaddr *addr)
{
    return (int) netaddr_len(addr) * 8;
}

/* cidr_mask - clear every bit after the first prefix bits */
static void
cidr_mask(unsigned char *bytes, size_t len, int prefix)
{
    size_t  i = (size_t) prefix / 8;

    if (i >= len)
        return;
    bytes[i] &= (unsigned char) (0xff00 >> (prefix % 8));
    memset(bytes + i + 1, 0, len - i - 1);
}

/* cidr_prefix_equal - do a and b agree in their first prefix bits */
static int
cidr_prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    size_t  whole = (size_t) prefix / 8;
    unsigned char mask;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (prefix % 8 == 0)
        return 1;
    mask = (unsigned char) (0xff00 >> (prefix % 8));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* cidr_parse_length - 1 to 3 decimal digits, no sign; -1 if not */
static int
cidr_parse_length(const char *s)
{
    size_t  len = strlen(s);
    int     value = 0;
    size_t  i;

    if (len == 0 || len > 3)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

/*
 * cidr_parse_shown - parse text; errors quote shown (the whole list
 * item, with its "!", so the administrator recognises it).
 */
static int
cidr_parse_shown(struct cidr *net, const char *text, const char *shown,
                 struct dstr *why)
{
    char    buf[CIDR_ITEM_MAX + 1];
    char    good[CIDR_TEXT_MAX];
    char   *slash;
    const char *addr_text;
    struct cidr masked;
    size_t  len = strlen(text);
    int     max;

    memset(net, 0, sizeof(*net));
    if (len == 0) {
        cidr_why(why, shown, "empty network (use 10.0.0.0/8 or "
                 "[2001:db8::]/32)");
        return -1;
    }
    if (len > CIDR_ITEM_MAX) {
        cidr_why(why, shown, "too long for a network (at most %d bytes)",
                 CIDR_ITEM_MAX);
        return -1;
    }
    memcpy(buf, text, len + 1);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    addr_text = buf[0] == '[' ? buf + 1 : buf;
    if (str_prefix_nocase(addr_text, "IPv6:")
        || netaddr_parse(&net->addr, buf) < 0) {
        cidr_why(why, shown, "not an IPv4 or IPv6 network (use 10.0.0.0/8 "
                 "or [2001:db8::]/32)");
        return -1;
    }
    max = cidr_max_prefix(&net->addr);
    if (slash == NULL) {
        net->prefix = max;
        return 0;
    }
    net->prefix = cidr_parse_length(slash + 1);
    if (net->prefix < 0 || net->prefix > max) {
        cidr_why(why, shown, "bad prefix length \"%s\" (use 0 to %d)",
                 slash + 1, max);
        return -1;
    }
    masked = *net;
    cidr_mask(masked.addr.bytes, netaddr_len(&masked.addr), masked.prefix);
    if (memcmp(masked.addr.bytes, net->addr.bytes,
               sizeof(net->addr.bytes)) != 0) {
        (void) cidr_format(&masked, good, sizeof(good));
        cidr_why(why, shown, "address has bits set beyond the /%d prefix "
                 "(use %s)", net->prefix, good);
        return -1;
    }
    return 0;
}

/* cidr_parse - one network: address/length or a bare address */
int
cidr_parse(struct cidr *net, const char *text, struct dstr *why)
{
    return cidr_parse_shown(net, text, text, why);
}

/*
 * cidr_match - is addr inside net. Mapped IPv4 addresses are reduced
 * to IPv4 on both sides first, so a dual-stack socket's view of an
 * IPv4 client meets IPv4 networks (see the header).
 */
int
cidr_match(const struct cidr *net, const struct netaddr *addr)
{
    struct netaddr a;
    struct cidr n = *net;

    (void) netaddr_unmap(&a, addr);
    if (n.prefix >= 96 && netaddr_unmap(&n.addr, &n.addr))
        n.prefix -= 96;
    if (a.family != n.addr.family || n.prefix < 0
        || n.prefix > cidr_max_prefix(&n.addr))
        return 0;
    return cidr_prefix_equal(a.bytes, n.addr.bytes, n.prefix);
}

/* cidr_format - "address/length" into buf[size]; -1 if it does not fit */
int
cidr_format(const struct cidr *net, char *buf, size_t size)
{
    char    addr[NETADDR_TEXT_MAX];
    int     n;

    if (size == 0)
        return -1;
    buf[0] = '\0';
    if (netaddr_format(&net->addr, addr, sizeof(addr)) < 0)
        return -1;
    n = snprintf(buf, size, "%s/%d", addr, net->prefix);
    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* cidr_list_parse - list of optionally negated networks, all or nothing */
int
cidr_list_parse(struct cidr_list **listp, char *const *items, size_t count,
                struct dstr *why)
{
    struct cidr_list *list = xmalloc(sizeof(*list));
    struct cidr_list_entry *e;
    const char *text;
    size_t  i;

    list->entries = xcalloc(count, sizeof(*list->entries));
    list->count = 0;
    *listp = NULL;
    for (i = 0; i < count; i++) {
        e = list->entries + list->count;
        text = items[i];
        e->negate = text[0] == '!';
        if (e->negate)
            text++;
        if (e->negate && text[0] == '!') {
            cidr_why(why, items[i], "one \"!\" is enough (use !10.0.0.0/8)");
            cidr_list_free(list);
            return -1;
        }
        if (cidr_parse_shown(&e->net, text, items[i], why) < 0) {
            cidr_list_free(list);
            return -1;
        }
        list->count++;
    }
    *listp = list;
    return 0;
}

/* cidr_list_match - first network containing addr decides; 0 if none */
int
cidr_list_match(const struct cidr_list *list, const struct netaddr *addr)
{
    size_t  i;

    if (list == NULL)
        return 0;
    for (i = 0; i < list->count; i++)
        if (cidr_match(&list->entries[i].net, addr))
            return !list->entries[i].negate;
    return 0;
}

/* cidr_list_count - number of networks in the list */
size_t
cidr_list_count(const struct cidr_list *list)
{
    return list != NULL ? list->count : 0;
}

/* cidr_list_free - release the list; returns NULL */
struct cidr_list *
cidr_list_free(struct cidr_list *list)
{
    if (list != NULL) {
        free(list->entries);
        free(list);
    }
    return NULL;
}
