/*
 * NAME
 *     smtpd_dns - find a client's names without blocking the loop
 * SYNOPSIS
 *     #include "smtpd/smtpd_dns.h"
 *
 *     dns = smtpd_dns_new(base, "/etc/hosts", "/etc/resolv.conf");
 *     req = smtpd_dns_lookup(dns, &addr, got_names, session);
 *     ...  got_names(session, answer): answer->name "mail.example.com"
 *          or "unknown", answer->reverse_name, and their status
 *     smtpd_dns_cancel(req);              (before it answered: never calls)
 *     dns = smtpd_dns_free(dns);
 * DESCRIPTION
 *     A client has two names, as in Postfix. The reverse name is the PTR
 *     name of its address. The name (Postfix's verified name) is the
 *     reverse name kept only when it resolves back to the same address;
 *     otherwise "unknown". Each comes with a status: SMTPD_DNS_OK, or
 *     why it is "unknown": SMTPD_DNS_PERM (the DNS said there is no such
 *     name, or the PTR name does not lead back to the address) or
 *     SMTPD_DNS_TEMP (the DNS failed; try again later). A session that
 *     got no answer at all (lookup off, or its timer ran out) keeps
 *     SMTPD_DNS_NONE, which restrictions treat as temporary.
 *
 *     The hosts file is read once, at smtpd_dns_new(): an address it
 *     lists is answered from it (the first name on the line, both names
 *     OK), with no query at all, so loopback clients are named offline.
 *     Other addresses are looked up with libevent's evdns, configured
 *     from resolv_conf (resolv.conf(5) syntax; "nameserver IP:PORT"
 *     works, which is how tests use a DNS server on loopback): a PTR
 *     query, then a forward lookup of the name (which also consults the
 *     hosts file). A PTR name that is not a syntactically valid host
 *     name counts as no name (SMTPD_DNS_PERM).
 *
 *     The callback always runs later from the event loop, never from
 *     within smtpd_dns_lookup(), so the caller's state is consistent.
 *     The answer and its strings live only during the callback.
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
 *     evdns(3), hosts(5), resolv.conf(5), util/netaddr.h
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

enum smtpd_dns_status {
    SMTPD_DNS_NONE,                    /* no answer (yet): not looked up */
    SMTPD_DNS_OK,                      /* the name is good */
    SMTPD_DNS_TEMP,                    /* "unknown": the DNS failed */
    SMTPD_DNS_PERM,                    /* "unknown": the DNS said no */
};

struct smtpd_dns_answer {
    const char *name;                  /* verified name, or "unknown" */
    const char *reverse_name;          /* PTR name, or "unknown" */
    enum smtpd_dns_status name_status;
    enum smtpd_dns_status reverse_status;
};

typedef void smtpd_dns_fn(void *arg, const struct smtpd_dns_answer *answer);

struct smtpd_dns *smtpd_dns_new(struct event_base *base,
                                const char *hosts_file,
                                const char *resolv_conf);
struct smtpd_dns *smtpd_dns_free(struct smtpd_dns *dns);
struct smtpd_dns_req *smtpd_dns_lookup(struct smtpd_dns *dns,
                                       const struct netaddr *addr,
                                       smtpd_dns_fn *fn, void *arg);
void    smtpd_dns_cancel(struct smtpd_dns_req *req);
const char *smtpd_dns_hosts_name(const struct smtpd_dns *dns,
                                 const struct netaddr *addr);
int     smtpd_dns_valid_name(const char *name);
const char *smtpd_dns_status_name(enum smtpd_dns_status status);

#endif
