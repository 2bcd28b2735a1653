/*
 * NAME
 *     smtpd_dns - find a client's verified name without blocking the loop
 * SYNOPSIS
 *     #include "smtpd/smtpd_dns.h"
 *
 *     dns = smtpd_dns_new(base, "/etc/hosts");
 *     req = smtpd_dns_lookup(dns, &addr, got_name, session);
 *     ...  got_name(session, "mail.example.com") or (session, "unknown")
 *     smtpd_dns_cancel(req);              (before it answered: never calls)
 *     dns = smtpd_dns_free(dns);
 * DESCRIPTION
 *     The name of a client is what Postfix calls the verified name: the
 *     PTR name of its address, kept only when that name resolves back
 *     to the same address; otherwise "unknown".
 *
 *     The hosts file is read once, at smtpd_dns_new(): an address it
 *     lists is answered from it (the first name on the line), with no
 *     query at all, so loopback clients are named offline. Other
 *     addresses are looked up with libevent's evdns: a PTR query, then
 *     a forward lookup of the name (which also consults the hosts file).
 *     A name that is not a syntactically valid host name is "unknown".
 *
 *     The callback always runs later from the event loop, never from
 *     within smtpd_dns_lookup(), so the caller's state is consistent.
 * RULES
 *     The caller bounds the wait with its own timer and then calls
 *     smtpd_dns_cancel(); after that the callback is not called and the
 *     request must not be used. A request is freed by this module after
 *     its callback returns (or after cancel). smtpd_dns_free() ends any
 *     request still out without calling it back.
 * DIAGNOSTICS
 *     An unreadable hosts file or resolver configuration is logged as a
 *     warning; lookups then answer "unknown" or rely on what is left.
 * SEE ALSO
 *     evdns(3), hosts(5), util/netaddr.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_DNS_H
#define DOPPEL_SMTPD_SMTPD_DNS_H

#include "util/netaddr.h"

#define SMTPD_DNS_NAME_MAX 255
#define SMTPD_DNS_UNKNOWN "unknown"
#define SMTPD_DNS_HOSTS_MAX 10000       /* hosts file entries kept */

struct event_base;
struct smtpd_dns;
struct smtpd_dns_req;

typedef void smtpd_dns_fn(void *arg, const char *name);

struct smtpd_dns *smtpd_dns_new(struct event_base *base,
                                const char *hosts_file);
struct smtpd_dns *smtpd_dns_free(struct smtpd_dns *dns);
struct smtpd_dns_req *smtpd_dns_lookup(struct smtpd_dns *dns,
                                       const struct netaddr *addr,
                                       smtpd_dns_fn *fn, void *arg);
void    smtpd_dns_cancel(struct smtpd_dns_req *req);
const char *smtpd_dns_hosts_name(const struct smtpd_dns *dns,
                                 const struct netaddr *addr);
int     smtpd_dns_valid_name(const char *name);

#endif
