/*
 * NAME
 *     netaddr - IPv4 and IPv6 addresses as values
 * SYNOPSIS
 *     #include "util/netaddr.h"
 * DESCRIPTION
 *     A struct netaddr holds one address in network byte order: family
 *     AF_INET uses bytes[0..3], AF_INET6 all 16. It is a plain value:
 *     copy it with '=', compare it with netaddr_compare().
 *
 *     netaddr_parse() and netaddr_parse_n() read the forms a mail server
 *     meets: "192.0.2.1", "2001:db8::1", the SMTP address literals
 *     "[192.0.2.1]", "[2001:db8::1]" and "[IPv6:2001:db8::1]", and the
 *     XCLIENT/XFORWARD form "IPv6:2001:db8::1" (the "IPv6:" tag in any
 *     case). Nothing else: no white space, no zone ids ("%eth0"), no
 *     short or octal IPv4 forms ("10.1", "010.0.0.1"), and an IPv4
 *     address after "IPv6:" is refused.
 *
 *     An IPv4-mapped IPv6 address (::ffff:192.0.2.1) stays AF_INET6 as
 *     written; netaddr_unmap() gives the IPv4 address it stands for.
 *     netaddr_format() writes the canonical text of inet_ntop(3)
 *     ("2001:db8::1", "::ffff:192.0.2.1"), without brackets or tag,
 *     into a buffer of at least NETADDR_TEXT_MAX bytes.
 *
 *     netaddr_unmap() copies in to out (they may be the same struct)
 *     and returns 1 if it turned a mapped address into AF_INET, else 0.
 *     netaddr_compare() orders by family, then bytes (memcmp-like);
 *     it does not unmap, so ::ffff:192.0.2.1 differs from 192.0.2.1.
 *
 *     netaddr_from_sockaddr() and netaddr_to_sockaddr() convert to and
 *     from the socket API. An IPv6 scope id is not kept.
 * RULES
 *     Every function that fills a struct netaddr zeroes the bytes it
 *     does not use, so two equal addresses are equal byte for byte.
 *     Functions that take a struct netaddr expect one filled by this
 *     module (family AF_INET or AF_INET6).
 * DIAGNOSTICS
 *     Functions that can fail return 0 on success and -1 on bad input
 *     or a buffer too small; they never log. After -1 the output is
 *     unspecified.
 * SEE ALSO
 *     util/cidr.h, inet_pton(3), RFC 5321 section 4.1.3 (address
 *     literals), RFC 4291 section 2.5.5.2 (IPv4-mapped addresses)
 */
#ifndef DOPPEL_UTIL_NETADDR_H
#define DOPPEL_UTIL_NETADDR_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define NETADDR_TEXT_MAX 46            /* INET6_ADDRSTRLEN, with the NUL */

struct netaddr {
    int     family;                    /* AF_INET or AF_INET6 */
    unsigned char bytes[16];           /* network order; unused bytes 0 */
};

int     netaddr_parse(struct netaddr *addr, const char *text);
int     netaddr_parse_n(struct netaddr *addr, const char *text, size_t len);
int     netaddr_format(const struct netaddr *addr, char *buf, size_t size);
size_t  netaddr_len(const struct netaddr *addr);
int     netaddr_is_mapped(const struct netaddr *addr);
int     netaddr_unmap(struct netaddr *out, const struct netaddr *in);
int     netaddr_compare(const struct netaddr *a, const struct netaddr *b);
int     netaddr_equal(const struct netaddr *a, const struct netaddr *b);
int     netaddr_from_sockaddr(struct netaddr *addr, unsigned *port,
                              const struct sockaddr *sa, socklen_t salen);
int     netaddr_to_sockaddr(const struct netaddr *addr, unsigned port,
                            struct sockaddr_storage *ss, socklen_t *salen);

#endif
