/* smtpd_server - a worker's listeners, shared resources and sessions; see smtpd_server.h. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_queue.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"

#define SMTPD_HOSTS_FILE "/etc/hosts"

struct smtpd_listener {
    struct smtpd_server *srv;
    struct evconnlistener *l;
    size_t  service;
    enum smtpd_stress stress;          /* AUTO, or forced */
    int     auto_stress;               /* AUTO: the master's state */
    struct smtpd_listener *next;
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
    struct dstr *why;

    srv->base = base;
    srv->conf = conf;
    srv->p = p = conf_params(conf, CONF_NO_SERVICE,
                             PERSONALITY_DEFAULT_CLASS, 0);
    if (p == NULL)
        log_panic("%s: no base personality", __func__);
    if (p->smtpd_peername_lookup)
        srv->dns = smtpd_dns_new(base, SMTPD_HOSTS_FILE);
    /* XXX one TLS context per worker, from the main file: a service's
     * -o smtpd_tls_cert_file is not honoured yet */
    if (p->smtpd_tls_cert_file && *p->smtpd_tls_cert_file) {
        why = dstr_new(128, 2048);
        srv->tls = smtpd_tls_new(p->smtpd_tls_cert_file,
                                 p->smtpd_tls_key_file
                                 && *p->smtpd_tls_key_file
                                 ? p->smtpd_tls_key_file
                                 : p->smtpd_tls_cert_file, why);
        if (srv->tls == NULL)
            log_fatal("smtpd_tls_cert_file %s: %s", p->smtpd_tls_cert_file,
                      why->data);
        dstr_free(why);
    }
    srv->queue = smtpd_queue_new(base, (int) p->smtpd_queue_threads);
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

    (void) evl;
    if (srv->stopping) {
        close(fd);
        return;
    }
    /* XXX the client classifier comes later: every client is "default" */
    if (netaddr_from_sockaddr(&addr, NULL, sa, (socklen_t) salen) < 0)
        memset(&addr, 0, sizeof(addr));
    if (smtpd_master_admit(srv, l->service, PERSONALITY_DEFAULT_CLASS, &addr,
                           fd, &stress) < 0)
        return;                         /* refused with 421 4.3.2 */
    if (l->stress != SMTPD_STRESS_AUTO)
        stress = l->stress == SMTPD_STRESS_ON;
    pers = conf_personality(srv->conf, l->service, PERSONALITY_DEFAULT_CLASS,
                            stress);
    if (pers == NULL)
        log_panic("%s: no personality for service %zu", __func__, l->service);
    (void) smtpd_session_new(srv, fd, sa, (socklen_t) salen, l->service,
                             pers);
}

/* smtpd_server_accept_error - log, and keep listening */
static void
smtpd_server_accept_error(struct evconnlistener *evl, void *arg)
{
    (void) evl;
    (void) arg;
    log_warn("smtpd: accept: %m");
}

/* smtpd_server_listen - accept on a listening socket for a service */
int
smtpd_server_listen(struct smtpd_server *srv, int fd, size_t service,
                    enum smtpd_stress stress)
{
    struct smtpd_listener *l = xcalloc(1, sizeof(*l));

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
        s->flags |= SESSION_F_DEAD;
        smtpd_session_end(s);
    }
    smtpd_master_detach(srv);
    smtpd_check_flush();
    srv->queue = smtpd_queue_free(srv->queue);
    srv->dns = smtpd_dns_free(srv->dns);
    srv->tls = smtpd_tls_free(srv->tls);
    if (srv->sessions != NULL)
        log_warn("smtpd: %zu session(s) left at exit", srv->nsessions);
    free(srv);
    return NULL;
}
