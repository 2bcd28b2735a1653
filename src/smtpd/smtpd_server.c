/* smtpd_server - a worker's listeners, shared resources and sessions; see smtpd_server.h. */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "global/anvil.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_classify.h"
#include "smtpd/smtpd_policy.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_proxy.h"
#include "smtpd/smtpd_queue.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"


/* out of descriptors: accepting pauses this long, doubling up to MAX */
#define SMTPD_ACCEPT_PAUSE_MIN_MS 100
#define SMTPD_ACCEPT_PAUSE_MAX_MS 1000

struct smtpd_listener {
    struct smtpd_server *srv;
    struct evconnlistener *l;
    size_t  service;
    enum smtpd_stress stress;          /* AUTO, or forced */
    int     auto_stress;               /* AUTO: the master's state */
    struct event *pause_ev;            /* re-enables accepting; or NULL */
    unsigned pauses;                   /* pauses in this episode */
    int     pause_ms;                  /* length of the last pause */
    struct smtpd_listener *next;
};

/* one service's STARTTLS context */
struct smtpd_server_tls {
    struct smtpd_server_tls *next;
    size_t  service;
    char   *cert;                      /* NULL: no STARTTLS there */
    char   *key;
    struct smtpd_tls *tls;
    int     owner;                     /* frees tls; else shares one */
};

/* smtpd_server_hostname - myhostname, or "localhost" if it is empty */
const char *
smtpd_server_hostname(const struct params *p)
{
    return p->myhostname && *p->myhostname ? p->myhostname : "localhost";
}

/* smtpd_server_new - shared resources for base's sessions */
struct smtpd_server *
smtpd_server_new(struct event_base *base, const struct conf *conf)
{
    struct smtpd_server *srv = xcalloc(1, sizeof(*srv));
    const struct params *p;

    srv->base = base;
    srv->conf = conf;
    srv->p = p = conf_params(conf, CONF_NO_SERVICE,
                             PERSONALITY_DEFAULT_CLASS, 0);
    if (p == NULL)
        log_panic("%s: no base personality", __func__);
    if (p->smtpd_peername_lookup)
        srv->dns = smtpd_dns_new(base, p->smtpd_dns_hosts_file,
                                 p->smtpd_dns_resolv_conf);
    srv->queue = smtpd_queue_new(base, (int) p->smtpd_queue_threads);
    srv->policy = smtpd_policy_new(base);
    srv->classify = smtpd_classify_new(base, conf, p);
    return srv;
}

/* smtpd_server_add - a new session joins the list */
void
smtpd_server_add(struct smtpd_server *srv, struct session *s)
{
    s->prev = NULL;
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->nsessions++;
}

/* smtpd_server_remove - a session is being freed */
void
smtpd_server_remove(struct smtpd_server *srv, struct session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    srv->nsessions--;
}

/* smtpd_listener_stressed - does a new session on l get stress */
static int
smtpd_listener_stressed(const struct smtpd_listener *l)
{
    switch (l->stress) {
    case SMTPD_STRESS_ON:
        return 1;
    case SMTPD_STRESS_OFF:
        return 0;
    case SMTPD_STRESS_AUTO:
    default:
        return l->auto_stress;
    }
}

/* smtpd_server_accept - a client connected */
static void
smtpd_server_accept(struct evconnlistener *evl, evutil_socket_t fd,
                    struct sockaddr *sa, int salen, void *arg)
{
    struct smtpd_listener *l = arg;
    struct smtpd_server *srv = l->srv;
    const struct personality *pers;
    int     stress = smtpd_listener_stressed(l);
    struct netaddr addr;
    char    text[NETADDR_TEXT_MAX];
    const char *class_name;
    const struct params *base;

    (void) evl;
    if (l->pauses > 0) {
        log_info("smtpd: accept: working again after %u pause(s)",
                 l->pauses);
        l->pauses = 0;
    }
    if (srv->stopping) {
        close(fd);
        return;
    }
    /*
     * The class decides admission (reserved slots, eviction): from the
     * address alone, and what this worker knows of its history. Behind
     * a balancer that address is the balancer's: admission is then
     * provisional, and decided again once the PROXY header named the
     * client (smtpd_master_admit_session).
     */
    if (netaddr_from_sockaddr(&addr, NULL, sa, (socklen_t) salen) < 0
        || netaddr_format(&addr, text, sizeof(text)) < 0) {
        memset(&addr, 0, sizeof(addr));
        (void) str_copy(text, sizeof(text), "unknown");
    }
    base = conf_params(srv->conf, l->service, NULL, 0);
    class_name = smtpd_classify_name(srv->classify, base, &addr, text, NULL);
    if (smtpd_master_admit(srv, l->service, class_name, &addr, fd,
                           smtpd_proxy_protocol(
                               base->smtpd_upstream_proxy_protocol)
                           != SMTPD_PROXY_NONE, &stress) < 0)
        return;                         /* refused with 421 4.3.2 */
    if (l->stress != SMTPD_STRESS_AUTO)
        stress = l->stress == SMTPD_STRESS_ON;
    pers = conf_personality(srv->conf, l->service, class_name, stress);
    if (pers == NULL)
        log_panic("%s: no personality for service %zu", __func__, l->service);
    (void) smtpd_session_new(srv, fd, sa, (socklen_t) salen, l->service,
                             pers);
}

/* smtpd_server_accept_resume - a pause is over: try accepting again */
static void
smtpd_server_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_listener *l = arg;

    (void) fd;
    (void) what;
    if (!l->srv->stopping)
        (void) evconnlistener_enable(l->l);
}

/*
 * smtpd_server_accept_error - accept failed.
 *
 * Out of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM)
 * the pending connection stays in the backlog and the listening socket
 * stays readable: retrying at once would spin the loop and flood the
 * log while nothing can change. So the listener pauses, 100 ms at
 * first and twice as long each time it fails again, up to 1 s; ending
 * sessions free descriptors meanwhile, and the clients wait in the
 * backlog. One warning starts an episode and the first accept that
 * works ends it (smtpd_server_accept). Any other error concerns one
 * connection only: it is logged and accepting goes on.
 */
static void
smtpd_server_accept_error(struct evconnlistener *evl, void *arg)
{
    struct smtpd_listener *l = arg;
    int     err = EVUTIL_SOCKET_ERROR();
    struct timeval tv;

    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        log_warn("smtpd: accept: %s", strerror(err));
        return;
    }
    if (l->pauses == 0)
        l->pause_ms = SMTPD_ACCEPT_PAUSE_MIN_MS;
    else if ((l->pause_ms *= 2) > SMTPD_ACCEPT_PAUSE_MAX_MS)
        l->pause_ms = SMTPD_ACCEPT_PAUSE_MAX_MS;
    if (l->pauses < UINT_MAX)
        l->pauses++;
    if (l->pauses == 1)
        log_warn("smtpd: accept: %s; pausing accepts for %d ms",
                 strerror(err), l->pause_ms);
    if (l->pause_ev == NULL)
        l->pause_ev = evtimer_new(l->srv->base, smtpd_server_accept_resume,
                                  l);
    if (l->pause_ev == NULL) {
        log_error("smtpd: accept: cannot pause: no timer");
        return;
    }
    (void) evconnlistener_disable(evl);
    tv.tv_sec = l->pause_ms / 1000;
    tv.tv_usec = (l->pause_ms % 1000) * 1000;
    (void) evtimer_add(l->pause_ev, &tv);
}

/*
 * smtpd_server_tls_add - the STARTTLS context of a service, from its
 * own smtpd_tls_cert_file and smtpd_tls_key_file (-o applies); services
 * with the same files share one context. Fatal if the files are bad.
 */
static void
smtpd_server_tls_add(struct smtpd_server *srv, size_t service)
{
    const struct params *p = conf_params(srv->conf, service,
                                         PERSONALITY_DEFAULT_CLASS, 0);
    const char *cert = p->smtpd_tls_cert_file;
    const char *key = p->smtpd_tls_key_file;
    struct smtpd_server_tls *e, *same = NULL;
    struct dstr *why;

    for (e = srv->tls; e != NULL; e = e->next) {
        if (e->service == service)
            return;
        if (e->owner && cert && strcmp(e->cert, cert) == 0
            && strcmp(e->key, key && *key ? key : cert) == 0)
            same = e;
    }
    e = xcalloc(1, sizeof(*e));
    e->service = service;
    if (cert != NULL && *cert != '\0') {
        e->cert = xstrdup(cert);
        e->key = xstrdup(key && *key ? key : cert);
        if (same != NULL) {
            e->tls = same->tls;
        } else {
            why = dstr_new(128, 2048);
            if ((e->tls = smtpd_tls_new(e->cert, e->key, why)) == NULL)
                log_fatal("smtpd_tls_cert_file %s: %s", e->cert, why->data);
            dstr_free(why);
            e->owner = 1;
        }
    }
    e->next = srv->tls;
    srv->tls = e;
}

/* smtpd_server_tls - a service's STARTTLS context; NULL: none */
struct smtpd_tls *
smtpd_server_tls(const struct smtpd_server *srv, size_t service)
{
    const struct smtpd_server_tls *e;

    for (e = srv->tls; e != NULL; e = e->next)
        if (e->service == service)
            return e->tls;
    return NULL;
}

/* smtpd_server_tls_free - every context and entry */
static void
smtpd_server_tls_free(struct smtpd_server *srv)
{
    struct smtpd_server_tls *e;

    while ((e = srv->tls) != NULL) {
        srv->tls = e->next;
        if (e->owner)
            (void) smtpd_tls_free(e->tls);
        free(e->cert);
        free(e->key);
        free(e);
    }
}

/* smtpd_server_listen - accept on a listening socket for a service */
int
smtpd_server_listen(struct smtpd_server *srv, int fd, size_t service,
                    enum smtpd_stress stress)
{
    struct smtpd_listener *l = xcalloc(1, sizeof(*l));

    smtpd_server_tls_add(srv, service);
    l->srv = srv;
    l->service = service;
    l->stress = stress;
    (void) evutil_make_socket_nonblocking(fd);
    l->l = evconnlistener_new(srv->base, smtpd_server_accept, l,
                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                              0, fd);
    if (l->l == NULL) {
        free(l);
        return -1;
    }
    evconnlistener_set_error_cb(l->l, smtpd_server_accept_error);
    l->next = srv->listeners;
    srv->listeners = l;
    return 0;
}

/*
 * smtpd_server_set_stress - the master says a service's stress state
 * changed. New sessions of its AUTO listeners follow; with tighten,
 * open sessions of the service switch personality now.
 */
void
smtpd_server_set_stress(struct smtpd_server *srv, size_t service, int stress,
                        int tighten)
{
    struct smtpd_listener *l;
    struct session *s;
    int     is_auto = 0;

    for (l = srv->listeners; l != NULL; l = l->next)
        if (l->service == service && l->stress == SMTPD_STRESS_AUTO) {
            l->auto_stress = stress;
            is_auto = 1;
        }
    if (!tighten || !is_auto)
        return;
    for (s = srv->sessions; s != NULL; s = s->next)
        if (s->service == service && s->pers->stress != stress)
            smtpd_session_set_personality(
                s, conf_personality(srv->conf, service, s->pers->class_name,
                                    stress));
}

/* smtpd_server_free_listeners - stop accepting */
static void
smtpd_server_free_listeners(struct smtpd_server *srv)
{
    struct smtpd_listener *l;

    while ((l = srv->listeners) != NULL) {
        srv->listeners = l->next;
        if (l->pause_ev != NULL)
            event_free(l->pause_ev);
        evconnlistener_free(l->l);
        free(l);
    }
}

/* smtpd_server_drain - no new sessions; open ones finish in their time */
void
smtpd_server_drain(struct smtpd_server *srv)
{
    srv->stopping = 1;
    smtpd_server_free_listeners(srv);
}

/* smtpd_server_stop - no new sessions; tell open ones we are going */
void
smtpd_server_stop(struct smtpd_server *srv)
{
    struct session *s, *next;

    srv->stopping = 1;
    smtpd_server_free_listeners(srv);
    for (s = srv->sessions; s != NULL; s = next) {
        next = s->next;
        if (s->state == SESSION_COMMAND && !(s->flags & SESSION_F_JOB))
            smtpd_session_reply_nocount(s, "421 4.3.2 %s Service shutting"
                                        " down", smtpd_server_hostname(s->p));
        smtpd_session_close(s);
        smtpd_session_end(s);
    }
}

/*
 * smtpd_server_free - after the loop: end what is left. Sessions still
 * open are dropped; queue jobs are waited for (their files removed if
 * unfinished) before the threads stop.
 */
struct smtpd_server *
smtpd_server_free(struct smtpd_server *srv)
{
    struct session *s, *next;

    if (srv == NULL)
        return NULL;
    srv->stopping = 1;
    smtpd_server_free_listeners(srv);
    for (s = srv->sessions; s != NULL; s = next) {
        next = s->next;
        if (s->check != NULL) {
            smtpd_check_cancel(s);      /* ends the session too */
            continue;
        }
        s->flags |= SESSION_F_DEAD;
        smtpd_session_end(s);
    }
    smtpd_master_detach(srv);
    smtpd_check_flush();
    smtpd_limits_flush();
    srv->anvil = anvil_free(srv->anvil);
    srv->queue = smtpd_queue_free(srv->queue);
    srv->policy = smtpd_policy_free(srv->policy);
    srv->classify = smtpd_classify_free(srv->classify);
    srv->dns = smtpd_dns_free(srv->dns);
    smtpd_server_tls_free(srv);
    if (srv->sessions != NULL)
        log_warn("smtpd: %zu session(s) left at exit", srv->nsessions);
    free(srv);
    return NULL;
}
