/*
 * smtpd_master - the worker side of the master contract; see
 * smtpd_master.h.
 *
 * Admission reads the shared count and the stress flag without a lock:
 * two workers accepting at the same instant may both see one free slot,
 * and the service then holds limit + 1 sessions until one ends. That is
 * the price of never making a worker wait for another; the master's
 * view (and stress) is exact again at the next session close.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/master_proto.h"
#include "global/scoreboard.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"

#define SMTPD_MASTER_PENALTY_SLOTS 4096 /* evicted addresses remembered */

/* an address that was evicted, and until when it may not evict */
struct smtpd_master_penalty {
    struct netaddr addr;
    long long until;                   /* ms, monotonic */
};

struct smtpd_master {
    struct scoreboard *sb;
    size_t  slot;                      /* the service's scoreboard slot */
    size_t  wslot;                     /* this worker's slot */
    size_t  service;                   /* index in conf->services */
    int     stress;                    /* the flag as last seen */
    struct event *poll;
    struct smtpd_master_penalty *penalty;      /* SMTPD_MASTER_PENALTY_SLOTS */
};

/* smtpd_master_penalty_slot - where an address is remembered (a hash) */
static struct smtpd_master_penalty *
smtpd_master_penalty_slot(struct smtpd_master *m, const struct netaddr *a)
{
    unsigned long h = 2166136261UL;
    size_t  i;

    for (i = 0; i < sizeof(a->bytes); i++)
        h = (h ^ a->bytes[i]) * 16777619UL;
    return &m->penalty[h % SMTPD_MASTER_PENALTY_SLOTS];
}

/* smtpd_master_penalized - was this address evicted a moment ago */
static int
smtpd_master_penalized(struct smtpd_master *m, const struct netaddr *a)
{
    const struct smtpd_master_penalty *p = smtpd_master_penalty_slot(m, a);

    return p->until > smtpd_session_now() && netaddr_equal(&p->addr, a);
}

/* smtpd_master_class_slot - the scoreboard slot of a session's class */
static size_t
smtpd_master_class_slot(const struct smtpd_server *srv, const char *name)
{
    return scoreboard_class_slot(srv->conf->classes, srv->conf->nclasses,
                                 name);
}

/* smtpd_master_poll - follow the stress flag; tighten open sessions */
static void
smtpd_master_poll(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_server *srv = arg;
    struct smtpd_master *m = srv->master;
    int     stress = scoreboard_stress_get(m->sb, m->slot);
    const struct params *p;

    (void) fd;
    (void) what;
    if (stress == m->stress)
        return;
    m->stress = stress;
    p = conf_params(srv->conf, m->service, NULL, stress);
    smtpd_server_set_stress(srv, m->service, stress,
                            p->master_stress_tighten_sessions);
}

/* smtpd_master_attach - map the scoreboard; check our service */
int
smtpd_master_attach(struct smtpd_server *srv, size_t service, size_t wslot,
                    struct dstr *why)
{
    struct smtpd_master *m;
    struct scoreboard *sb;
    struct scoreboard_view view;
    struct timeval tv = {0, SCOREBOARD_POLL_MS * 1000};
    size_t  slot;

    if (srv->conf->services == NULL || service >= srv->conf->services->count) {
        (void) dstr_appendf(why, "service %zu is not in services.cf", service);
        return -1;
    }
    if ((sb = scoreboard_attach(MASTER_PROTO_SCOREBOARD_FD, why)) == NULL)
        return -1;
    if (scoreboard_worker_service(sb, wslot, &slot) < 0
        || scoreboard_service_read(sb, slot, &view) < 0) {
        (void) dstr_appendf(why, "worker slot %zu has no service", wslot);
        scoreboard_detach(sb);
        return -1;
    }
    if (strcmp(view.listen, srv->conf->services->items[service].listen) != 0) {
        (void) dstr_appendf(why, "service %zu is \"%s\" in services.cf but"
                            " \"%s\" for the master: the file changed",
                            service, srv->conf->services->items[service].listen,
                            view.listen);
        scoreboard_detach(sb);
        return -1;
    }
    m = xcalloc(1, sizeof(*m));
    m->sb = sb;
    m->slot = slot;
    m->wslot = wslot;
    m->service = service;
    m->stress = scoreboard_stress_get(sb, slot);
    m->penalty = xcalloc(SMTPD_MASTER_PENALTY_SLOTS,
                         sizeof(struct smtpd_master_penalty));
    m->poll = event_new(srv->base, -1, EV_PERSIST, smtpd_master_poll, srv);
    if (m->poll == NULL)
        log_fatal("libevent: cannot make the stress poll event");
    evtimer_add(m->poll, &tv);
    srv->master = m;
    return 0;
}

/* smtpd_master_detach - before the server goes */
void
smtpd_master_detach(struct smtpd_server *srv)
{
    struct smtpd_master *m = srv->master;

    if (m == NULL)
        return;
    event_free(m->poll);
    free(m->penalty);
    scoreboard_detach(m->sb);
    free(m);
    srv->master = NULL;
}

/*
 * smtpd_master_idle_since - since when a session has waited for its
 * client. Between commands that is since the last command was answered,
 * however many bytes of the next one trickled in: a slowloris bot that
 * sends a byte a second never finishes a command, so it looks as idle
 * as it is. During DATA or BDAT, bytes that arrive are progress.
 */
static long long
smtpd_master_idle_since(const struct session *s)
{
    if (s->flags & (SESSION_F_JOB | SESSION_F_SLEEP | SESSION_F_DEAD))
        return -1;                      /* waiting for us, or going */
    switch (s->state) {
    case SESSION_COMMAND:
    case SESSION_TLS:
        return s->wait_start;
    case SESSION_DATA:
    case SESSION_BDAT:
        return s->last_read > s->wait_start ? s->last_read : s->wait_start;
    default:
        return -1;                      /* LOOKUP, CLOSING: not the client */
    }
}

/*
 * smtpd_master_evict - end this worker's longest-idle session of the
 * service, if it has waited at least min_idle ms and its class is not
 * protected; -1 if there is none.
 *
 * Sessions that have not completed a single command are taken first.
 * Bots that reconnect as soon as they are dropped keep every slot
 * young, so that by idle time alone a real client in the middle of its
 * dialog (a few milliseconds between commands) may become the oldest;
 * a slowloris bot never completes a command (under stress the junk and
 * error limits end those that send whole ones), a real client completes
 * its first within one round trip.
 */
static int
smtpd_master_evict(struct smtpd_server *srv, size_t service,
                   long long min_idle, const struct param_list *protected)
{
    struct session *s, *victim = NULL;
    long long now = smtpd_session_now(), since, oldest = 0;

    int     tier, victim_tier = 0;

    for (s = srv->sessions; s != NULL; s = s->next) {
        if (s->service != service
            || param_list_contains(protected, s->pers->class_name))
            continue;
        since = smtpd_master_idle_since(s);
        if (since < 0 || now - since < min_idle)
            continue;
        /* sessions that never completed a command go first */
        tier = s->last_verb != NULL;
        if (victim == NULL || tier < victim_tier
            || (tier == victim_tier && since < oldest)) {
            victim = s;
            oldest = since;
            victim_tier = tier;
        }
    }
    if (victim == NULL)
        return -1;
    if (srv->master != NULL && victim->p->master_stress_evict_penalty > 0) {
        struct smtpd_master_penalty *pen =
            smtpd_master_penalty_slot(srv->master, &victim->addr);

        pen->addr = victim->addr;
        pen->until = now + victim->p->master_stress_evict_penalty;
    }
    smtpd_session_log(victim, LOG_LEVEL_INFO, "evicted after %lld ms idle:"
                      " all client slots busy under stress", now - oldest);
    smtpd_master_count(srv, service, SCOREBOARD_EVICTIONS);
    smtpd_session_reply_nocount(victim, "421 4.3.2 %s Error: all server ports"
                                " are busy and this session was idle",
                                smtpd_server_hostname(victim->p));
    smtpd_session_close(victim);
    smtpd_session_end(victim);
    return 0;
}

/* smtpd_master_refuse - 421 4.3.2 without a session */
static void
smtpd_master_refuse(struct smtpd_server *srv, size_t service, int fd)
{
    struct dstr *line = dstr_new(128, 512);

    smtpd_master_count(srv, service, SCOREBOARD_FULL);
    (void) dstr_appendf(line, "421 4.3.2 %s All server ports are busy\r\n",
                        smtpd_server_hostname(srv->p));
    /* a fresh socket has room for one line; if not, the client is gone */
    (void) !write(fd, line->data, line->len);
    close(fd);
    dstr_free(line);
}

/*
 * smtpd_master_decide - may a client of this class have a slot, with
 * open sessions open now (itself not counted)? 0, possibly after an
 * eviction, or -1.
 */
static int
smtpd_master_decide(struct smtpd_server *srv, size_t service,
                    const char *class_name, const struct netaddr *addr,
                    int64_t open, int stress)
{
    struct smtpd_master *m = srv->master;
    const struct params *p = conf_params(srv->conf, service, class_name,
                                         stress);
    int64_t limit = p->smtpd_client_limit;
    int     reserved = param_list_contains(&p->smtpd_client_reserve_classes,
                                           class_name);

    if (open < limit - p->smtpd_client_reserve || (reserved && open < limit))
        return 0;
    /* full: eviction for a reserved class whatever the idle time */
    if (reserved && smtpd_master_evict(srv, service, 0,
                                       &p->smtpd_client_reserve_classes) == 0)
        return 0;
    if (stress && p->master_stress_evict_idle >= 0
        && !smtpd_master_penalized(m, addr)
        && smtpd_master_evict(srv, service, p->master_stress_evict_idle,
                              &p->smtpd_client_reserve_classes) == 0)
        return 0;
    return -1;
}

/*
 * smtpd_master_admit - a slot and a stress state for a new connection.
 * With provisional (a service behind a balancer, where the client is
 * not known until its PROXY header is read) any free slot, reserved or
 * not, will do and nobody is evicted: smtpd_master_admit_session()
 * decides again for the real client.
 */
int
smtpd_master_admit(struct smtpd_server *srv, size_t service,
                   const char *class_name, const struct netaddr *addr,
                   int fd, int provisional, int *stress)
{
    struct smtpd_master *m = srv->master;
    int64_t open;

    if (m == NULL || service != m->service)
        return 0;
    smtpd_master_count(srv, service, SCOREBOARD_CONNECTIONS);
    *stress = scoreboard_stress_get(m->sb, m->slot);
    open = scoreboard_open(m->sb, m->slot);
    if (provisional
        ? open < conf_params(srv->conf, service, class_name,
                             *stress)->smtpd_client_limit
        : smtpd_master_decide(srv, service, class_name, addr, open,
                              *stress) == 0)
        return 0;
    smtpd_master_refuse(srv, service, fd);
    return -1;
}

/*
 * smtpd_master_admit_session - the real client of a provisionally
 * admitted session is known: may it keep its slot? -1 after 421 4.3.2
 * and the start of the session's end.
 */
int
smtpd_master_admit_session(struct session *s)
{
    struct smtpd_master *m = s->srv->master;

    if (m == NULL || s->service != m->service
        || (s->flags & SESSION_F_UNCOUNTED))
        return 0;
    if (smtpd_master_decide(s->srv, s->service, s->pers->class_name,
                            &s->addr, scoreboard_open(m->sb, m->slot) - 1,
                            s->pers->stress) == 0)
        return 0;
    smtpd_master_count(s->srv, s->service, SCOREBOARD_FULL);
    smtpd_session_reply_nocount(s, "421 4.3.2 %s All server ports are busy",
                                smtpd_server_hostname(s->p));
    smtpd_session_close(s);
    return -1;
}

/* smtpd_master_session_open - count a new session */
void
smtpd_master_session_open(struct session *s)
{
    struct smtpd_master *m = s->srv->master;

    if (m != NULL && s->service == m->service)
        (void) scoreboard_session_open(m->sb, m->slot, m->wslot,
                                       s->pers->stress,
                                       smtpd_master_class_slot(
                                           s->srv, s->pers->class_name));
}

/*
 * smtpd_master_session_close - a session gives up its slot: when it
 * starts closing (it will read nothing more from its client, so a
 * newcomer may have the slot while the last reply goes out), or at the
 * latest when it is freed. Counted once.
 */
void
smtpd_master_session_close(struct session *s)
{
    struct smtpd_master *m = s->srv->master;

    if (m != NULL && s->service == m->service
        && !(s->flags & SESSION_F_UNCOUNTED))
        scoreboard_session_close(m->sb, m->slot, m->wslot, s->pers->stress,
                                 smtpd_master_class_slot(
                                     s->srv, s->pers->class_name));
    s->flags |= SESSION_F_UNCOUNTED;
}

/* smtpd_master_session_move - a session changed personality */
void
smtpd_master_session_move(struct session *s, const struct personality *from,
                          const struct personality *to)
{
    struct smtpd_master *m = s->srv->master;

    if (m != NULL && s->service == m->service
        && !(s->flags & SESSION_F_UNCOUNTED))
        scoreboard_session_move(m->sb, m->slot, m->wslot, from->stress,
                                to->stress,
                                smtpd_master_class_slot(s->srv,
                                                        from->class_name),
                                smtpd_master_class_slot(s->srv,
                                                        to->class_name));
}

/* smtpd_master_count - one event for status and metrics */
void
smtpd_master_count(struct smtpd_server *srv, size_t service,
                   enum scoreboard_counter counter)
{
    struct smtpd_master *m = srv->master;

    if (m != NULL && service == m->service)
        scoreboard_count(m->sb, m->slot, counter);
}
