/*
 * NAME
 *     smtpd_proxy - the PROXY protocol header of HAProxy, versions 1 and 2
 * SYNOPSIS
 *     #include "smtpd/smtpd_proxy.h"
 *
 *     r = smtpd_proxy_parse(buf, len, &hdr, &consumed, why);
 *     switch (r) {
 *     case SMTPD_PROXY_NEED_MORE:  wait for more bytes, call again
 *     case SMTPD_PROXY_OK:         hdr holds the client; drop consumed bytes
 *     case SMTPD_PROXY_BAD:        why->data says what is wrong; hang up
 *     }
 *     kind = smtpd_proxy_protocol(p->smtpd_upstream_proxy_protocol);
 * DESCRIPTION
 *     A load balancer that speaks the PROXY protocol (HAProxy's
 *     send-proxy and send-proxy-v2, most cloud balancers) starts every
 *     connection it opens to us with one header naming the client it
 *     accepted: source and destination address and port. Nothing else
 *     comes before it, and SMTP may follow at once in the same packet.
 *
 *     smtpd_proxy_parse() is the parser alone: it looks at the first
 *     len bytes received and returns
 *       SMTPD_PROXY_NEED_MORE  the bytes are a proper beginning of a
 *                              header (or empty): read more and retry;
 *       SMTPD_PROXY_OK         a whole valid header; *consumed is its
 *                              length and *out its content. Bytes after
 *                              the header are not looked at: they belong
 *                              to SMTP;
 *       SMTPD_PROXY_BAD        not a header, or a broken one; the reason
 *                              is appended to why. It is decided as soon
 *                              as the bytes seen prove it, so garbage is
 *                              refused on its first packet.
 *
 *     Version 1 is one text line, at most SMTPD_PROXY_V1_MAX (107)
 *     bytes with the CRLF:
 *         PROXY TCP4 192.0.2.1 198.51.100.2 50000 25\r\n
 *         PROXY TCP6 2001:db8::1 2001:db8::2 50000 25\r\n
 *         PROXY UNKNOWN[ anything printable]\r\n
 *     Fields are separated by exactly one space; an address must be of
 *     its family (dotted quad for TCP4, RFC 4291 text for TCP6; no
 *     brackets, tags or zone ids); a port is 0 to 65535 in decimal
 *     without sign or leading zero. Only printable ASCII may come before
 *     the CRLF.
 *
 *     Version 2 is binary: the 12-byte signature, a version (2) and
 *     command byte, a family and transport byte, a 16-bit length in
 *     network order, then that many bytes: the addresses, and optional
 *     TLVs that are skipped unread. Command PROXY needs family AF_INET
 *     or AF_INET6 over STREAM; its length must cover the addresses and
 *     may exceed them by at most SMTPD_PROXY_V2_TLV_MAX bytes. Command
 *     LOCAL (a balancer's own health check) takes any defined family
 *     (usually AF_UNSPEC), whose address block is ignored as the
 *     specification says, and at most SMTPD_PROXY_V2_BLOCK_MAX bytes.
 *
 *     hdr->local is set for v2 LOCAL and v1 UNKNOWN: the connection's
 *     own addresses stand, and hdr's addresses are zero. Otherwise
 *     hdr->src and hdr->dst are AF_INET or AF_INET6 netaddrs (an
 *     IPv4-mapped IPv6 address stays AF_INET6, as netaddr_parse() and
 *     netaddr_from_sockaddr() leave it) and the ports are host order.
 *
 *     smtpd_proxy_protocol() names the protocol a service asks for in
 *     smtpd_upstream_proxy_protocol: SMTPD_PROXY_NONE for an empty
 *     value, SMTPD_PROXY_HAPROXY for "haproxy", SMTPD_PROXY_UNSUPPORTED
 *     for anything else.
 * RULES
 *     Pure: no allocation except what why takes, no logging, no state
 *     between calls. Each call parses from the start of buf; the caller
 *     keeps at most SMTPD_PROXY_MAX bytes for it (a longer header is
 *     BAD before it gets there).
 * DIAGNOSTICS
 *     On BAD, why gets one line without CR or LF, such as "not a PROXY
 *     protocol header" or "v2: unsupported version 3".
 * SEE ALSO
 *     smtpd/smtpd_session.h, util/netaddr.h, HAProxy's
 *     doc/proxy-protocol.txt, Postfix smtpd_upstream_proxy_protocol
 */
#ifndef DOPPEL_SMTPD_SMTPD_PROXY_H
#define DOPPEL_SMTPD_SMTPD_PROXY_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"

#define SMTPD_PROXY_V1_MAX 107          /* v1 line with CRLF */
#define SMTPD_PROXY_V2_FIXED 16         /* v2 signature, bytes 13-16 */
#define SMTPD_PROXY_V2_ADDR_MAX 216     /* the largest address block (unix) */
#define SMTPD_PROXY_V2_TLV_MAX 4096     /* TLV bytes after the addresses */
#define SMTPD_PROXY_V2_BLOCK_MAX (SMTPD_PROXY_V2_ADDR_MAX \
                                  + SMTPD_PROXY_V2_TLV_MAX)
#define SMTPD_PROXY_MAX (SMTPD_PROXY_V2_FIXED + SMTPD_PROXY_V2_BLOCK_MAX)

enum smtpd_proxy_result {
    SMTPD_PROXY_NEED_MORE,             /* a beginning: read more */
    SMTPD_PROXY_OK,                    /* a whole header */
    SMTPD_PROXY_BAD,                   /* refused; see why */
};

enum smtpd_proxy_kind {
    SMTPD_PROXY_NONE,                  /* smtpd_upstream_proxy_protocol = */
    SMTPD_PROXY_HAPROXY,               /* ... = haproxy */
    SMTPD_PROXY_UNSUPPORTED,           /* anything else */
};

struct smtpd_proxy_hdr {
    int     version;                   /* 1 or 2 */
    int     local;                     /* LOCAL or UNKNOWN: keep the peer */
    struct netaddr src;                /* the client */
    struct netaddr dst;                /* the address it connected to */
    unsigned src_port;
    unsigned dst_port;
};

enum smtpd_proxy_result smtpd_proxy_parse(const unsigned char *buf,
                                          size_t len,
                                          struct smtpd_proxy_hdr *out,
                                          size_t *consumed,
                                          struct dstr *why);
enum smtpd_proxy_kind smtpd_proxy_protocol(const char *value);

#endif
