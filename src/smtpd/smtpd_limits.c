/* smtpd_limits - per-client connection and rate limits; see smtpd_limits.h. */

#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/anvil.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"

#define LIMITS_NO_SERVICE "smtp"        /* a service name for the log */

/* what a session counted: its key, and the lease of its connection */
struct smtpd_limits {
    struct anvil_key key;
    int32_t lease;                     /* or ANVIL_NO_LEASE: not counted */
};

/* one personality's exceptions, compiled; keyed by its params pointer */
struct limits_conf {
    const struct params *p;
    struct cidr_list *exceptions;      /* NULL: broken */
    char   *broken;                    /* why, or NULL */
    int     logged;                    /* broken, and said so */
    struct limits_conf *next;
};

static struct limits_conf *limits_cache;

/* limits_conf_get - the compiled exceptions of a personality */
static struct limits_conf *
limits_conf_get(const struct params *p)
{
    const struct param_list *l = &p->smtpd_client_event_limit_exceptions;
    struct limits_conf *lc;
    struct dstr *why;

    for (lc = limits_cache; lc != NULL; lc = lc->next)
        if (lc->p == p)
            return lc;
    lc = xcalloc(1, sizeof(*lc));
    lc->p = p;
    why = dstr_new(128, 4096);
    if (cidr_list_parse(&lc->exceptions, l->items, l->count, why) < 0)
        lc->broken = xstrdup(why->data);
    dstr_free(why);
    lc->next = limits_cache;
    limits_cache = lc;
    return lc;
}

/* smtpd_limits_compile - compile a personality's exceptions now */
int
smtpd_limits_compile(const struct params *p, struct dstr *errors)
{
    const struct limits_conf *lc = limits_conf_get(p);

    if (lc->broken == NULL)
        return 0;
    (void) dstr_appendf(errors, "smtpd_client_event_limit_exceptions: %s\n",
                        lc->broken);
    return -1;
}

/* smtpd_limits_flush - forget compiled lists (configuration reloaded) */
void
smtpd_limits_flush(void)
{
    struct limits_conf *lc;

    while ((lc = limits_cache) != NULL) {
        limits_cache = lc->next;
        cidr_list_free(lc->exceptions);
        free(lc->broken);
        free(lc);
    }
}

/* smtpd_limits_exempt - is addr in p's smtpd_client_event_limit_exceptions */
int
smtpd_limits_exempt(const struct params *p, const struct netaddr *addr)
{
    struct limits_conf *lc = limits_conf_get(p);

    if (lc->broken != NULL) {
        if (!lc->logged)
            log_error("smtpd_client_event_limit_exceptions: %s; no client is"
                      " exempt", lc->broken);
        lc->logged = 1;
        return 0;
    }
    return cidr_list_match(lc->exceptions, addr);
}

/* limits_service - the session's service, for the key and the log */
static const char *
limits_service(const struct session *s)
{
    const struct conf *conf = s->srv->conf;

    if (conf == NULL || conf->services == NULL
        || s->service >= conf->services->count)
        return LIMITS_NO_SERVICE;
    return conf->services->items[s->service].listen;
}

/* limits_key - the session's key now: service and unmapped address */
static void
limits_key(const struct session *s, struct anvil_key *k)
{
    memset(k, 0, sizeof(*k));
    k->service = anvil_service_id(limits_service(s));
    (void) netaddr_unmap(&k->addr, &s->addr);
}

/* limits_applies - a table, and a client that is not exempt */
static int
limits_applies(const struct session *s)
{
    return s->srv->anvil != NULL && !smtpd_limits_exempt(s->p, &s->addr);
}

/* limits_over - did value pass a limit (0: no limit) */
static int
limits_over(long long limit, uint32_t value)
{
    return limit > 0 && (long long) value > limit;
}

/* limits_warn - Postfix's warning for a limit that was passed */
static void
limits_warn(const struct session *s, const char *what, uint32_t value)
{
    log_warn("%s limit exceeded: %u from %s[%s] for service %s", what,
             (unsigned) value, s->name, s->addr_text, limits_service(s));
}

/*
 * smtpd_limits_connect - count the session's client; 421 and close when
 * it has too many connections open or made too many in the time unit
 */
int
smtpd_limits_connect(struct session *s)
{
    const struct params *p = s->p;
    uint32_t count, rate;

    smtpd_limits_disconnect(s);         /* a second call counts anew */
    if (!limits_applies(s))
        return 0;
    s->limits = xcalloc(1, sizeof(*s->limits));
    limits_key(s, &s->limits->key);
    s->limits->lease = anvil_connect(s->srv->anvil, &s->limits->key,
                                     s->srv->anvil_wslot, smtpd_session_now(),
                                     p->anvil_rate_time_unit, &count, &rate);
    if (limits_over(p->smtpd_client_connection_count_limit, count))
        limits_warn(s, "Connection concurrency", count);
    else if (limits_over(p->smtpd_client_connection_rate_limit, rate))
        limits_warn(s, "Connection rate", rate);
    else
        return 0;
    smtpd_session_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                        smtpd_server_hostname(p), s->addr_text);
    smtpd_session_close(s);
    return -1;
}

/* smtpd_limits_disconnect - release the session's connection, once */
void
smtpd_limits_disconnect(struct session *s)
{
    if (s->limits == NULL)
        return;
    anvil_disconnect(s->srv->anvil, s->limits->lease, s->srv->anvil_wslot);
    free(s->limits);
    s->limits = NULL;
}

/*
 * smtpd_limits_xclient - XCLIENT named another client: move the count
 * from the old identity to the new one and check the new one's limits.
 * Nothing changes when the address (or the exemption) stays the same.
 */
int
smtpd_limits_xclient(struct session *s)
{
    struct anvil_key k;

    if (s->srv->anvil == NULL)
        return 0;
    limits_key(s, &k);
    if (s->limits != NULL && memcmp(&k, &s->limits->key, sizeof(k)) == 0)
        return 0;
    return smtpd_limits_connect(s);     /* releases the old identity */
}

/* smtpd_limits_mail - count a MAIL command; 450 when over the rate */
int
smtpd_limits_mail(struct session *s)
{
    struct anvil_key k;
    uint32_t rate;

    if (!limits_applies(s))
        return 0;
    limits_key(s, &k);
    rate = anvil_message(s->srv->anvil, &k, smtpd_session_now(),
                         s->p->anvil_rate_time_unit);
    if (!limits_over(s->p->smtpd_client_message_rate_limit, rate))
        return 0;
    limits_warn(s, "Message delivery request rate", rate);
    smtpd_session_reply(s, "450 4.7.1 Error: too much mail from %s",
                        s->addr_text);
    return -1;
}

/* smtpd_limits_rcpt - count a RCPT command; 450 when over the rate */
int
smtpd_limits_rcpt(struct session *s)
{
    struct anvil_key k;
    uint32_t rate;

    if (!limits_applies(s))
        return 0;
    limits_key(s, &k);
    rate = anvil_rcpt(s->srv->anvil, &k, smtpd_session_now(),
                      s->p->anvil_rate_time_unit, 1);
    if (!limits_over(s->p->smtpd_client_recipient_rate_limit, rate))
        return 0;
    limits_warn(s, "Recipient address rate", rate);
    smtpd_session_reply(s, "450 4.7.1 Error: too many recipients from %s",
                        s->addr_text);
    return -1;
}
