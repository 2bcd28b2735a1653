/*
 * NAME
 *     cidr - IPv4 and IPv6 networks, and ordered lists of them
 * SYNOPSIS
 *     #include "util/cidr.h"
 * DESCRIPTION
 *     cidr_parse() reads one network as Postfix's mynetworks and cidr
 *     tables write it: "10.0.0.0/8", "2001:db8::/32", "[2001:db8::]/32"
 *     (brackets around the address only), or a bare address, which is
 *     a network of one host (/32 or /128), also in brackets: "[::1]".
 *     The prefix length is 1 to 3 decimal digits, at most 32 for IPv4
 *     and 128 for IPv6.
 *
 *     Host bits set ("10.1.2.3/8") are an error, not a warning: the
 *     administrator either mistyped the address or the length, and
 *     guessing which is how a relay opens to the world. The reason in
 *     *why suggests the network the text would have meant.
 *
 *     cidr_match() asks whether an address lies in a network. An
 *     IPv4-mapped IPv6 address is the IPv4 host it maps, on both
 *     sides: client ::ffff:10.1.2.3 matches 10.0.0.0/8, and client
 *     10.1.2.3 matches ::ffff:10.0.0.0/104. Otherwise families never
 *     mix: ::/0 matches no IPv4 client in either form.
 *
 *     cidr_format() writes "10.0.0.0/8" or "2001:db8::/32" (no brackets).
 *
 *     A cidr_list is an ordered list of networks, each optionally
 *     negated with a leading "!" as in mynetworks: "!10.1.0.0/16
 *     10.0.0.0/8" is 10/8 except 10.1/16. cidr_list_parse() builds one
 *     from list items (already split by the configuration layer; an
 *     item holds one network, no separators). cidr_list_match() walks
 *     the list in order and the first network that contains the address
 *     decides: 1 if it was positive, 0 if negated; 0 if none matched.
 * RULES
 *     why may be NULL. When it is not, a failing call replaces its
 *     content with the reason, in the form '"TEXT": what is wrong (what
 *     would be right)', and a successful call leaves it alone.
 *     cidr_list_parse() is all or nothing: on error *list is NULL.
 *     The caller owns the list; cidr_list_free() returns NULL.
 * DIAGNOSTICS
 *     Parsers return 0 or -1 and never log. Out of memory is fatal.
 * SEE ALSO
 *     util/netaddr.h, Postfix postconf(5) mynetworks, cidr_table(5)
 */
#ifndef DOPPEL_UTIL_CIDR_H
#define DOPPEL_UTIL_CIDR_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"

#define CIDR_TEXT_MAX (NETADDR_TEXT_MAX + 4)   /* "/128", with the NUL */
#define CIDR_ITEM_MAX 128               /* longest item cidr_parse reads */

struct cidr {
    struct netaddr addr;               /* network address, host bits 0 */
    int     prefix;                    /* 0..32 or 0..128 */
};

struct cidr_list;

int     cidr_parse(struct cidr *net, const char *text, struct dstr *why);
int     cidr_match(const struct cidr *net, const struct netaddr *addr);
int     cidr_format(const struct cidr *net, char *buf, size_t size);

int     cidr_list_parse(struct cidr_list **list, char *const *items,
                        size_t count, struct dstr *why);
int     cidr_list_match(const struct cidr_list *list,
                        const struct netaddr *addr);
size_t  cidr_list_count(const struct cidr_list *list);
struct cidr_list *cidr_list_free(struct cidr_list *list);

#endif
