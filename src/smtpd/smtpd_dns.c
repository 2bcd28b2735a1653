/* smtpd_dns - client names (reverse and verified) via the hosts file and evdns; see smtpd_dns.h. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "smtpd/smtpd_dns.h"

#define SMTPD_DNS_LINE_MAX 1024
#define SMTPD_DNS_QUERY_TIMEOUT "5"     /* seconds per try; caller bounds */
#define SMTPD_DNS_QUERY_ATTEMPTS "2"

struct smtpd_dns_host {
    struct netaddr addr;
    char   *name;
};

struct smtpd_dns {
    struct event_base *base;
    struct evdns_base *evdns;
    struct smtpd_dns_host *hosts;
    size_t  nhosts;
    struct smtpd_dns_req *live;        /* every request not yet freed */
};

struct smtpd_dns_req {
    struct smtpd_dns *dns;
    struct netaddr addr;
    char    addr_text[NETADDR_TEXT_MAX];       /* for logs */
    smtpd_dns_fn *fn;                  /* NULL once cancelled */
    void   *arg;
    struct event *finish;              /* deferred completion */
    struct evdns_request *ptr_q;       /* PTR query in flight */
    struct evdns_getaddrinfo_request *fwd_q;   /* forward lookup in flight */
    int     finished;                  /* the answer is final */
    char    name[SMTPD_DNS_NAME_MAX + 1];      /* verified name */
    char    reverse[SMTPD_DNS_NAME_MAX + 1];   /* PTR name */
    enum smtpd_dns_status name_status;
    enum smtpd_dns_status reverse_status;
    struct smtpd_dns_req *prev, *next;
};

/* smtpd_dns_status_name - "ok", "temporary failure", ... for logs */
const char *
smtpd_dns_status_name(enum smtpd_dns_status status)
{
    switch (status) {
    case SMTPD_DNS_OK:
        return "ok";
    case SMTPD_DNS_TEMP:
        return "temporary failure";
    case SMTPD_DNS_PERM:
        return "no such name";
    default:
        return "no answer";
    }
}

/* smtpd_dns_valid_name - LDH labels of 1-63 octets, at most 255 in all */
int
smtpd_dns_valid_name(const char *name)
{
    size_t  label = 0, total = 0;
    const unsigned char *p;

    if (name == NULL || *name == '\0')
        return 0;
    for (p = (const unsigned char *) name; *p; p++) {
        if (++total > SMTPD_DNS_NAME_MAX)
            return 0;
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
        } else if (isalnum(*p) || *p == '-' || *p == '_') {
            if (label == 0 && *p == '-')
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* smtpd_dns_load_hosts - read "ADDR NAME ..." lines, first name per address */
static void
smtpd_dns_load_hosts(struct smtpd_dns *dns, const char *path)
{
    FILE   *fp;
    char    line[SMTPD_DNS_LINE_MAX];
    char   *p, *addr_text, *name;
    struct netaddr addr;
    size_t  i, alloc = 0;
    int     dup;

    if (path == NULL || (fp = fopen(path, "re")) == NULL) {
        if (path != NULL)
            log_warn("dns: open %s: %m", path);
        return;
    }
    while (fgets(line, sizeof(line), fp) != NULL
           && dns->nhosts < SMTPD_DNS_HOSTS_MAX) {
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            int     c;

            /* an over-long line: skip the rest of it */
            while ((c = getc(fp)) != EOF && c != '\n')
                 /* void */ ;
            continue;
        }
        if ((p = strchr(line, '#')) != NULL)
            *p = '\0';
        p = line;
        while (isspace((unsigned char) *p))
            p++;
        addr_text = p;
        while (*p && !isspace((unsigned char) *p))
            p++;
        if (*p == '\0')
            continue;
        *p++ = '\0';
        while (isspace((unsigned char) *p))
            p++;
        name = p;
        while (*p && !isspace((unsigned char) *p))
            p++;
        *p = '\0';
        if (*name == '\0' || netaddr_parse(&addr, addr_text) < 0
            || !smtpd_dns_valid_name(name))
            continue;
        for (dup = 0, i = 0; i < dns->nhosts && !dup; i++)
            dup = netaddr_equal(&dns->hosts[i].addr, &addr);
        if (dup)
            continue;
        if (dns->nhosts == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            dns->hosts = xrealloc_array(dns->hosts, alloc, sizeof(*dns->hosts));
        }
        dns->hosts[dns->nhosts].addr = addr;
        dns->hosts[dns->nhosts].name = xstrdup(name);
        dns->nhosts++;
    }
    fclose(fp);
}

/*
 * smtpd_dns_new - resolver for base's loop. hosts_file may be NULL or
 * empty (none); resolv_conf NULL or empty means /etc/resolv.conf. The
 * hosts file is given to evdns too, for the forward lookups, instead
 * of the one resolv.conf parsing would load, so that a test's hosts
 * file is the only one.
 */
struct smtpd_dns *
smtpd_dns_new(struct event_base *base, const char *hosts_file,
              const char *resolv_conf)
{
    struct smtpd_dns *dns = xcalloc(1, sizeof(*dns));
    int     err;

    if (hosts_file != NULL && *hosts_file == '\0')
        hosts_file = NULL;
    if (resolv_conf == NULL || *resolv_conf == '\0')
        resolv_conf = "/etc/resolv.conf";
    dns->base = base;
    smtpd_dns_load_hosts(dns, hosts_file);
    dns->evdns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns->evdns == NULL) {
        log_warn("dns: cannot make a resolver; client names come only"
                 " from %s", hosts_file ? hosts_file : "(no hosts file)");
        return dns;
    }
    /* on failure evdns falls back to a name server on 127.0.0.1 */
    err = evdns_base_resolv_conf_parse(dns->evdns, DNS_OPTION_NAMESERVERS
                                       | DNS_OPTION_SEARCH | DNS_OPTION_MISC,
                                       resolv_conf);
    if (err != 0)
        log_warn("dns: %s: %s (error %d); using what is left", resolv_conf,
                 err == 1 ? "cannot open" : err == 6 ? "no name server"
                 : "cannot read", err);
    if (hosts_file != NULL && evdns_base_load_hosts(dns->evdns, hosts_file) != 0)
        log_warn("dns: %s: cannot load for forward lookups", hosts_file);
    (void) evdns_base_set_option(dns->evdns, "timeout:",
                                 SMTPD_DNS_QUERY_TIMEOUT);
    (void) evdns_base_set_option(dns->evdns, "attempts:",
                                 SMTPD_DNS_QUERY_ATTEMPTS);
    return dns;
}

/* smtpd_dns_hosts_name - the hosts file's name for addr, or NULL */
const char *
smtpd_dns_hosts_name(const struct smtpd_dns *dns, const struct netaddr *addr)
{
    struct netaddr plain;
    size_t  i;

    (void) netaddr_unmap(&plain, addr);
    for (i = 0; i < dns->nhosts; i++)
        if (netaddr_equal(&dns->hosts[i].addr, &plain)
            || netaddr_equal(&dns->hosts[i].addr, addr))
            return dns->hosts[i].name;
    return NULL;
}

/* smtpd_dns_req_free - unlink and release a request */
static void
smtpd_dns_req_free(struct smtpd_dns_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        req->dns->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    event_free(req->finish);
    free(req);
}

/* smtpd_dns_finish_event - deliver the answer from the loop */
static void
smtpd_dns_finish_event(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_dns_req *req = arg;
    smtpd_dns_fn *fn = req->fn;
    void   *fn_arg = req->arg;
    char    name[SMTPD_DNS_NAME_MAX + 1];
    char    reverse[SMTPD_DNS_NAME_MAX + 1];
    struct smtpd_dns_answer a;

    (void) fd;
    (void) what;
    memcpy(name, req->name, sizeof(name));
    memcpy(reverse, req->reverse, sizeof(reverse));
    a.name = name;
    a.reverse_name = reverse;
    a.name_status = req->name_status;
    a.reverse_status = req->reverse_status;
    smtpd_dns_req_free(req);
    if (fn != NULL)
        fn(fn_arg, &a);
}

/*
 * smtpd_dns_finish - the answer is final: schedule the callback. A
 * name that is not OK is "unknown", whatever was found on the way.
 */
static void
smtpd_dns_finish(struct smtpd_dns_req *req, enum smtpd_dns_status name_status,
                 enum smtpd_dns_status reverse_status)
{
    req->name_status = name_status;
    req->reverse_status = reverse_status;
    if (reverse_status != SMTPD_DNS_OK)
        (void) str_copy(req->reverse, sizeof(req->reverse), SMTPD_DNS_UNKNOWN);
    if (name_status != SMTPD_DNS_OK)
        (void) str_copy(req->name, sizeof(req->name), SMTPD_DNS_UNKNOWN);
    req->finished = 1;
    event_active(req->finish, EV_TIMEOUT, 0);
}

/* smtpd_dns_forward_status - an evdns_getaddrinfo() failure, classified */
static enum smtpd_dns_status
smtpd_dns_forward_status(int result)
{
    switch (result) {
    case EVUTIL_EAI_NONAME:
#ifdef EVUTIL_EAI_NODATA
    case EVUTIL_EAI_NODATA:
#endif
        return SMTPD_DNS_PERM;
    default:
        return SMTPD_DNS_TEMP;
    }
}

/* smtpd_dns_forward_done - does the PTR name lead back to the address */
static void
smtpd_dns_forward_done(int result, struct evutil_addrinfo *res, void *arg)
{
    struct smtpd_dns_req *req = arg;
    struct evutil_addrinfo *ai;
    struct netaddr got, want, got_plain;
    int     match = 0;
    enum smtpd_dns_status status;

    req->fwd_q = NULL;
    (void) netaddr_unmap(&want, &req->addr);
    if (result == 0) {
        for (ai = res; ai != NULL && !match; ai = ai->ai_next) {
            if (netaddr_from_sockaddr(&got, NULL, ai->ai_addr,
                                      (socklen_t) ai->ai_addrlen) < 0)
                continue;
            (void) netaddr_unmap(&got_plain, &got);
            match = netaddr_equal(&got_plain, &want);
        }
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    /* a name that leads elsewhere is a definite no, as in Postfix */
    status = match ? SMTPD_DNS_OK : result == 0 ? SMTPD_DNS_PERM
        : smtpd_dns_forward_status(result);
    smtpd_dns_finish(req, status, SMTPD_DNS_OK);
}

/* smtpd_dns_ptr_done - got the PTR answer: confirm it forward */
static void
smtpd_dns_ptr_done(int result, char type, int count, int ttl,
                   void *addresses, void *arg)
{
    struct smtpd_dns_req *req = arg;
    struct evutil_addrinfo hints;
    const char *ptr;
    struct evdns_getaddrinfo_request *q;
    enum smtpd_dns_status status;

    (void) ttl;
    req->ptr_q = NULL;
    if (req->fn == NULL) {
        smtpd_dns_finish(req, SMTPD_DNS_TEMP, SMTPD_DNS_TEMP);
        return;
    }
    if (result != DNS_ERR_NONE) {
        status = result == DNS_ERR_NOTEXIST ? SMTPD_DNS_PERM : SMTPD_DNS_TEMP;
        smtpd_dns_finish(req, status, status);
        return;
    }
    if (type != DNS_PTR || count < 1 || addresses == NULL) {
        smtpd_dns_finish(req, SMTPD_DNS_PERM, SMTPD_DNS_PERM);
        return;
    }
    ptr = *(const char **) addresses;
    if (!smtpd_dns_valid_name(ptr)
        || str_copy(req->name, sizeof(req->name), ptr) < 0) {
        log_info("dns: address %s: PTR name \"%.64s\" is not a valid host"
                 " name", req->addr_text, ptr);
        smtpd_dns_finish(req, SMTPD_DNS_PERM, SMTPD_DNS_PERM);
        return;
    }
    (void) str_copy(req->reverse, sizeof(req->reverse), ptr);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* may call smtpd_dns_forward_done() before it returns (then NULL) */
    q = evdns_getaddrinfo(req->dns->evdns, req->name, NULL, &hints,
                          smtpd_dns_forward_done, req);
    if (!req->finished)
        req->fwd_q = q;
}

/* smtpd_dns_lookup - start finding addr's verified name */
struct smtpd_dns_req *
smtpd_dns_lookup(struct smtpd_dns *dns, const struct netaddr *addr,
                 smtpd_dns_fn *fn, void *arg)
{
    struct smtpd_dns_req *req = xcalloc(1, sizeof(*req));
    const char *hosts_name;
    struct netaddr plain;
    struct in_addr in4;
    struct in6_addr in6;

    req->dns = dns;
    req->addr = *addr;
    req->fn = fn;
    req->arg = arg;
    req->finish = event_new(dns->base, -1, 0, smtpd_dns_finish_event, req);
    if (req->finish == NULL)
        log_fatal("dns: event_new failed");
    req->next = dns->live;
    if (dns->live)
        dns->live->prev = req;
    dns->live = req;

    (void) netaddr_unmap(&plain, addr);
    if (netaddr_format(&plain, req->addr_text, sizeof(req->addr_text)) < 0)
        (void) str_copy(req->addr_text, sizeof(req->addr_text), "unknown");
    if ((hosts_name = smtpd_dns_hosts_name(dns, addr)) != NULL) {
        (void) str_copy(req->name, sizeof(req->name), hosts_name);
        (void) str_copy(req->reverse, sizeof(req->reverse), hosts_name);
        smtpd_dns_finish(req, SMTPD_DNS_OK, SMTPD_DNS_OK);
        return req;
    }
    if (dns->evdns == NULL) {
        smtpd_dns_finish(req, SMTPD_DNS_TEMP, SMTPD_DNS_TEMP);
    } else if (plain.family == AF_INET) {
        memcpy(&in4, plain.bytes, 4);
        req->ptr_q = evdns_base_resolve_reverse(dns->evdns, &in4, 0,
                                                smtpd_dns_ptr_done, req);
    } else {
        memcpy(&in6, plain.bytes, 16);
        req->ptr_q = evdns_base_resolve_reverse_ipv6(dns->evdns, &in6, 0,
                                                     smtpd_dns_ptr_done, req);
    }
    if (req->ptr_q == NULL && !req->finished)
        smtpd_dns_finish(req, SMTPD_DNS_TEMP, SMTPD_DNS_TEMP);
    return req;
}

/*
 * smtpd_dns_cancel - the caller stops waiting. The request lives on
 * until evdns lets go of it (its callbacks still hold the pointer), but
 * the caller's function is never called.
 */
void
smtpd_dns_cancel(struct smtpd_dns_req *req)
{
    if (req != NULL)
        req->fn = NULL;
}

/*
 * smtpd_dns_free - end everything. Queries still in flight are
 * cancelled (evdns answers a cancel through the loop, which we run
 * once without waiting), then whatever is left is freed.
 */
struct smtpd_dns *
smtpd_dns_free(struct smtpd_dns *dns)
{
    struct smtpd_dns_req *req;
    size_t  i;

    if (dns == NULL)
        return NULL;
    for (req = dns->live; req != NULL; req = req->next) {
        req->fn = NULL;
        if (req->fwd_q != NULL)
            evdns_getaddrinfo_cancel(req->fwd_q);
        if (req->ptr_q != NULL)
            evdns_cancel_request(dns->evdns, req->ptr_q);
    }
    (void) event_base_loop(dns->base, EVLOOP_NONBLOCK);
    if (dns->evdns != NULL)
        evdns_base_free(dns->evdns, 0);
    while (dns->live != NULL)
        smtpd_dns_req_free(dns->live);
    for (i = 0; i < dns->nhosts; i++)
        free(dns->hosts[i].name);
    free(dns->hosts);
    free(dns);
    return NULL;
}
