/* netaddr - IPv4/IPv6 addresses: parse, format, sockaddr; see netaddr.h. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util/netaddr.h"

/*
 * The longest text we accept is "[IPv6:" + 45 characters of IPv6 with
 * an embedded IPv4 part + "]" = 52; anything much longer is not an
 * address, and refusing it early keeps the copy below bounded.
 */
#define NETADDR_PARSE_MAX 64
#define NETADDR_TAG "IPv6:"
#define NETADDR_TAG_LEN (sizeof(NETADDR_TAG) - 1)

/* the first 12 bytes of an IPv4-mapped IPv6 address (RFC 4291 2.5.5.2) */
static const unsigned char netaddr_mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* netaddr_parse - address from a C string */
int
netaddr_parse(struct netaddr *addr, const char *text)
{
    return netaddr_parse_n(addr, text, strlen(text));
}

/*
 * netaddr_parse_n - address from len bytes of text.
 *
 * The token usually comes straight off the wire (XCLIENT ADDR=, an
 * EHLO address literal), so it is counted, not NUL-terminated, and may
 * hold anything: a NUL inside it is an error, not an early end.
 */
int
netaddr_parse_n(struct netaddr *addr, const char *text, size_t len)
{
    char    buf[NETADDR_PARSE_MAX + 1];
    char   *p, *end;
    int     tagged = 0;

    memset(addr, 0, sizeof(*addr));
    if (len == 0 || len > NETADDR_PARSE_MAX || memchr(text, '\0', len))
        return -1;
    memcpy(buf, text, len);
    p = buf;
    end = buf + len;
    if (*p == '[') {
        if (len < 2 || end[-1] != ']')
            return -1;
        p++;
        end--;
    }
    *end = '\0';
    if ((size_t) (end - p) >= NETADDR_TAG_LEN
        && strncasecmp(p, NETADDR_TAG, NETADDR_TAG_LEN) == 0) {
        p += NETADDR_TAG_LEN;
        tagged = 1;
    }
    if (tagged || strchr(p, ':') != NULL) {
        if (inet_pton(AF_INET6, p, addr->bytes) != 1)
            return -1;
        addr->family = AF_INET6;
    } else {
        if (inet_pton(AF_INET, p, addr->bytes) != 1)
            return -1;
        addr->family = AF_INET;
    }
    return 0;
}

/* netaddr_format - canonical text into buf[size] */
int
netaddr_format(const struct netaddr *addr, char *buf, size_t size)
{
    if (size == 0)
        return -1;
    buf[0] = '\0';
    if (addr->family != AF_INET && addr->family != AF_INET6)
        return -1;
    if (size > NETADDR_TEXT_MAX)
        size = NETADDR_TEXT_MAX;
    if (inet_ntop(addr->family, addr->bytes, buf, (socklen_t) size) == NULL) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* netaddr_len - bytes used by the family: 4, 16, or 0 if unknown */
size_t
netaddr_len(const struct netaddr *addr)
{
    switch (addr->family) {
    case AF_INET:
        return 4;
    case AF_INET6:
        return 16;
    default:
        return 0;
    }
}

/* netaddr_is_mapped - is this an IPv4-mapped IPv6 address */
int
netaddr_is_mapped(const struct netaddr *addr)
{
    return addr->family == AF_INET6
        && memcmp(addr->bytes, netaddr_mapped_prefix,
                  sizeof(netaddr_mapped_prefix)) == 0;
}

/* netaddr_unmap - out = in, as IPv4 if in is mapped; 1 if it was */
int
netaddr_unmap(struct netaddr *out, const struct netaddr *in)
{
    unsigned char v4[4];

    if (!netaddr_is_mapped(in)) {
        if (out != in)
            *out = *in;
        return 0;
    }
    memcpy(v4, in->bytes + 12, 4);      /* in and out may be one struct */
    memset(out, 0, sizeof(*out));
    out->family = AF_INET;
    memcpy(out->bytes, v4, 4);
    return 1;
}

/* netaddr_compare - order by family, then by address bytes */
int
netaddr_compare(const struct netaddr *a, const struct netaddr *b)
{
    size_t  len;

    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    len = netaddr_len(a);
    return len ? memcmp(a->bytes, b->bytes, len) : 0;
}

/* netaddr_equal - same family and address */
int
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
    return netaddr_compare(a, b) == 0;
}

/*
 * netaddr_from_sockaddr - address (and port if wanted) of a socket
 * address. The sockaddr is copied into a typed local first: the
 * caller's buffer need not be aligned for the family's struct.
 */
int
netaddr_from_sockaddr(struct netaddr *addr, unsigned *port,
                      const struct sockaddr *sa, socklen_t salen)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    memset(addr, 0, sizeof(*addr));
    if (sa == NULL || salen < (socklen_t) sizeof(sa->sa_family))
        return -1;
    switch (sa->sa_family) {
    case AF_INET:
        if (salen < (socklen_t) sizeof(sin))
            return -1;
        memcpy(&sin, sa, sizeof(sin));
        addr->family = AF_INET;
        memcpy(addr->bytes, &sin.sin_addr, 4);
        if (port != NULL)
            *port = ntohs(sin.sin_port);
        return 0;
    case AF_INET6:
        if (salen < (socklen_t) sizeof(sin6))
            return -1;
        memcpy(&sin6, sa, sizeof(sin6));
        addr->family = AF_INET6;
        memcpy(addr->bytes, &sin6.sin6_addr, 16);
        if (port != NULL)
            *port = ntohs(sin6.sin6_port);
        return 0;
    default:
        return -1;
    }
}

/* netaddr_to_sockaddr - socket address for addr and port; its length */
int
netaddr_to_sockaddr(const struct netaddr *addr, unsigned port,
                    struct sockaddr_storage *ss, socklen_t *salen)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    memset(ss, 0, sizeof(*ss));
    if (port > 65535)
        return -1;
    switch (addr->family) {
    case AF_INET:
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((unsigned short) port);
        memcpy(&sin.sin_addr, addr->bytes, 4);
        memcpy(ss, &sin, sizeof(sin));
        *salen = (socklen_t) sizeof(sin);
        return 0;
    case AF_INET6:
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((unsigned short) port);
        memcpy(&sin6.sin6_addr, addr->bytes, 16);
        memcpy(ss, &sin6, sizeof(sin6));
        *salen = (socklen_t) sizeof(sin6);
        return 0;
    default:
        return -1;
    }
}
