/* smtpd_history - the history store on its own thread; see smtpd_history.h. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "global/client_history.h"
#include "smtpd/smtpd_history.h"

/*
 * A request lives from smtpd_history_lookup() until both the thread is
 * done with it (in_thread cleared by the loop when it takes the request
 * off the done list) and the caller has its answer or cancelled
 * (finished). Only the loop reads or writes in_thread, finished, fn,
 * arg and timer; the thread writes rec and found before it puts the
 * request on the done list under the lock, and the loop reads them
 * after taking it off under the same lock.
 */
struct smtpd_history_req {
    struct smtpd_history *h;
    char    key[CLIENT_HISTORY_KEY_MAX];
    smtpd_history_fn *fn;
    void   *arg;
    struct event *timer;
    struct client_history_rec rec;     /* thread: the answer */
    int     found;                     /* thread: rec is valid */
    int     in_thread;                 /* loop: not yet back from the thread */
    int     finished;                  /* loop: answered or cancelled */
    struct smtpd_history_req *next;    /* under the lock */
};

struct smtpd_history {
    struct event_base *base;
    struct client_history *store;      /* the thread's alone once started */
    int     ipv6_prefix;
    long long max_entries;
    long long window;                  /* client_suspect_window */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;               /* work arrived, or stop */
    int     stop;
    /* under the lock */
    struct client_history_update *events;      /* ring */
    size_t  ev_head, ev_count;
    long long ev_due;                  /* when the waiting events are written */
    struct smtpd_history_req *todo, *todo_tail;
    size_t  todo_count;
    struct smtpd_history_req *done, *done_tail;
    /* the thread's */
    struct client_history_update *batch;
    /* the loop's */
    struct event *done_ev;
    unsigned long dropped;
    unsigned long late;
    int     full;                      /* the queue-full warning is out */
};

/*
 * smtpd_history_answer - look up each request, with the events taken
 * in the same turn applied on top: they were queued before or with
 * the lookup and are not written yet.
 */
static void
smtpd_history_answer(struct smtpd_history *h, struct smtpd_history_req *reqs,
                     const struct client_history_update *batch, size_t n,
                     long long now)
{
    struct smtpd_history_req *req;
    size_t  i;

    for (req = reqs; req != NULL; req = req->next) {
        req->found = client_history_get(h->store, req->key, now, &req->rec)
            == CLIENT_HISTORY_FOUND;
        for (i = 0; i < n; i++) {
            if (strcmp(batch[i].key, req->key) != 0)
                continue;
            if (!req->found)
                memset(&req->rec, 0, sizeof(req->rec));
            req->found = 1;
            client_history_apply(&req->rec, batch[i].event, batch[i].when,
                                 h->window);
        }
    }
}

/*
 * smtpd_history_thread - the store's owner: take what is queued,
 * answer the lookups, write the events, sweep now and then. When asked
 * to stop it still drains both queues, so no queued event is lost.
 */
static void *
smtpd_history_thread(void *arg)
{
    struct smtpd_history *h = arg;
    struct smtpd_history_req *reqs, *last;
    struct timespec ts;
    long long next_sweep = clock_mono_ms() + SMTPD_HISTORY_SWEEP_MS;
    long long now, wake;
    size_t  n;
    int     stopping, write;

    /* a worker bound for its chroot: no capability in this thread */
    if (jail_thread_start() < 0)
        log_fatal("%s: cannot drop capabilities: %m", __func__);
    pthread_mutex_lock(&h->lock);
    for (;;) {
        for (;;) {
            write = h->ev_count > 0 && (h->stop || h->ev_count
                                        >= SMTPD_HISTORY_EVENTS_MAX / 2
                                        || clock_mono_ms()
                                        >= h->ev_due);
            if (h->stop || h->todo != NULL || write
                || clock_mono_ms() >= next_sweep)
                break;
            wake = h->ev_count > 0 && h->ev_due < next_sweep ? h->ev_due
                : next_sweep;
            ts.tv_sec = (time_t) (wake / 1000);
            ts.tv_nsec = (long) (wake % 1000) * 1000000;
            (void) pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        reqs = h->todo;
        h->todo = h->todo_tail = NULL;
        h->todo_count = 0;
        /* lookups see the waiting events; they are written when due */
        for (n = 0; n < h->ev_count; n++)
            h->batch[n] = h->events[(h->ev_head + n) % SMTPD_HISTORY_EVENTS_MAX];
        if (write)
            h->ev_head = h->ev_count = 0;
        stopping = h->stop && reqs == NULL && n == 0;
        pthread_mutex_unlock(&h->lock);
        if (stopping)
            break;

        now = client_history_now();
        if (reqs != NULL) {
            smtpd_history_answer(h, reqs, h->batch, n, now);
            for (last = reqs; last->next != NULL; last = last->next)
                /* void */ ;
            pthread_mutex_lock(&h->lock);
            if (h->done_tail)
                h->done_tail->next = reqs;
            else
                h->done = reqs;
            h->done_tail = last;
            event_active(h->done_ev, EV_READ, 0);
            pthread_mutex_unlock(&h->lock);
        }
        if (write && n > 0)
            (void) client_history_update(h->store, h->batch, n);
        if (clock_mono_ms() >= next_sweep
            || (write && n > 0 && client_history_entries(h->store)
                > h->max_entries + h->max_entries / 8)) {
            (void) client_history_sweep(h->store, now);
            next_sweep = clock_mono_ms() + SMTPD_HISTORY_SWEEP_MS;
        }
        pthread_mutex_lock(&h->lock);
    }
    return NULL;
}

/* smtpd_history_req_free - release a request */
static void
smtpd_history_req_free(struct smtpd_history_req *req)
{
    if (req->timer != NULL)
        event_free(req->timer);
    free(req);
}

/*
 * smtpd_history_run_done - in the loop: deliver the answers. The
 * request is freed before fn runs, so fn may start new lookups or
 * free what arg points to.
 */
static void
smtpd_history_run_done(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_history *h = arg;
    struct smtpd_history_req *list, *req;
    struct client_history_rec rec;
    smtpd_history_fn *fn;
    void   *fn_arg;
    int     found;

    (void) fd;
    (void) what;
    pthread_mutex_lock(&h->lock);
    list = h->done;
    h->done = h->done_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    while ((req = list) != NULL) {
        list = req->next;
        req->in_thread = 0;
        if (req->finished) {
            smtpd_history_req_free(req);
            continue;
        }
        found = req->found;
        if (found)
            rec = req->rec;
        fn = req->fn;
        fn_arg = req->arg;
        smtpd_history_req_free(req);
        fn(fn_arg, found ? &rec : NULL);
    }
}

/* smtpd_history_timeout - no answer in time: answer "unknown" now */
static void
smtpd_history_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_history_req *req = arg;

    (void) fd;
    (void) what;
    if (req->finished)
        return;
    req->finished = 1;
    req->h->late++;
    /* the request stays until the thread hands it back */
    req->fn(req->arg, NULL);
}

/* smtpd_history_new - open the store, start the thread */
struct smtpd_history *
smtpd_history_new(struct event_base *base, const struct params *p,
                  struct dstr *why)
{
    struct smtpd_history *h = xcalloc(1, sizeof(*h));
    pthread_condattr_t ca;
    sigset_t all, old;
    int     err;

    if ((h->store = client_history_open(p, 0, why)) == NULL) {
        free(h);
        return NULL;
    }
    h->base = base;
    h->ipv6_prefix = (int) p->client_history_ipv6_prefix;
    h->max_entries = p->client_history_max_entries;
    h->window = p->client_suspect_window;
    h->events = xcalloc(SMTPD_HISTORY_EVENTS_MAX, sizeof(*h->events));
    h->batch = xcalloc(SMTPD_HISTORY_EVENTS_MAX, sizeof(*h->batch));
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((h->done_ev = event_new(base, -1, 0, smtpd_history_run_done, h))
        == NULL)
        log_fatal("client history: event_new failed");

    /* signals are the loop's business: the thread takes none */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&h->thread, NULL, smtpd_history_thread, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        if (why != NULL) {
            dstr_reset(why);
            (void) dstr_appendf(why, "client history: start thread: %s",
                                strerror(err));
        }
        event_free(h->done_ev);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        client_history_close(h->store);
        free(h->events);
        free(h->batch);
        free(h);
        return NULL;
    }
    return h;
}

/* smtpd_history_free - write what is queued, stop the thread, free all */
struct smtpd_history *
smtpd_history_free(struct smtpd_history *h)
{
    struct smtpd_history_req *req;

    if (h == NULL)
        return NULL;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    /* the thread drained todo; what is left is on the done list */
    while ((req = h->done) != NULL) {
        h->done = req->next;
        smtpd_history_req_free(req);
    }
    while ((req = h->todo) != NULL) {
        h->todo = req->next;
        smtpd_history_req_free(req);
    }
    event_free(h->done_ev);
    client_history_close(h->store);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h->events);
    free(h->batch);
    free(h);
    return NULL;
}

/* smtpd_history_lookup - ask for a client's record; the answer comes later */
struct smtpd_history_req *
smtpd_history_lookup(struct smtpd_history *h, const struct netaddr *addr,
                     smtpd_history_fn *fn, void *arg)
{
    struct smtpd_history_req *req = xcalloc(1, sizeof(*req));
    struct timeval tv;
    int     refused;

    req->h = h;
    req->fn = fn;
    req->arg = arg;
    req->in_thread = 1;
    if ((req->timer = evtimer_new(h->base, smtpd_history_timeout, req)) == NULL)
        log_fatal("client history: evtimer_new failed");
    tv.tv_sec = SMTPD_HISTORY_LOOKUP_TIMEOUT_MS / 1000;
    tv.tv_usec = (SMTPD_HISTORY_LOOKUP_TIMEOUT_MS % 1000) * 1000;
    evtimer_add(req->timer, &tv);
    refused = client_history_key(addr, h->ipv6_prefix, req->key,
                                 sizeof(req->key)) < 0;
    pthread_mutex_lock(&h->lock);
    if (!refused && h->todo_count < SMTPD_HISTORY_LOOKUPS_MAX) {
        if (h->todo_tail)
            h->todo_tail->next = req;
        else
            h->todo = req;
        h->todo_tail = req;
        h->todo_count++;
        pthread_cond_signal(&h->cond);
    } else {
        /* answered "unknown" by the next turn of the loop */
        req->found = 0;
        if (h->done_tail)
            h->done_tail->next = req;
        else
            h->done = req;
        h->done_tail = req;
        event_active(h->done_ev, EV_READ, 0);
        if (!refused)
            h->dropped++;
    }
    pthread_mutex_unlock(&h->lock);
    return req;
}

/* smtpd_history_cancel - the caller no longer wants the answer */
void
smtpd_history_cancel(struct smtpd_history_req *req)
{
    if (req == NULL || req->finished)
        return;
    req->finished = 1;
    evtimer_del(req->timer);
}

/* smtpd_history_event - queue one event; drop it if the queue is full */
void
smtpd_history_event(struct smtpd_history *h, const struct netaddr *addr,
                    enum client_history_event event)
{
    struct client_history_update u;
    int     queued = 0;

    if (client_history_key(addr, h->ipv6_prefix, u.key, sizeof(u.key)) < 0)
        return;
    u.event = event;
    u.when = client_history_now();
    pthread_mutex_lock(&h->lock);
    if (h->ev_count < SMTPD_HISTORY_EVENTS_MAX) {
        if (h->ev_count == 0) {
            /* the thread may sleep until its sweep: it must wake when due */
            h->ev_due = clock_mono_ms() + SMTPD_HISTORY_WRITE_MS;
            pthread_cond_signal(&h->cond);
        }
        h->events[(h->ev_head + h->ev_count) % SMTPD_HISTORY_EVENTS_MAX] = u;
        if (++h->ev_count == SMTPD_HISTORY_EVENTS_MAX / 2)
            pthread_cond_signal(&h->cond);
        queued = 1;
    }
    pthread_mutex_unlock(&h->lock);
    if (queued) {
        h->full = 0;
        return;
    }
    h->dropped++;
    if (!h->full) {
        log_warn("client history: %d events waiting for the store; dropping"
                 " events until it catches up", SMTPD_HISTORY_EVENTS_MAX);
        h->full = 1;
    }
}

/* smtpd_history_queued - events waiting for the thread */
size_t
smtpd_history_queued(struct smtpd_history *h)
{
    size_t  n;

    pthread_mutex_lock(&h->lock);
    n = h->ev_count;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* smtpd_history_dropped - events and lookups refused because a queue was full */
unsigned long
smtpd_history_dropped(const struct smtpd_history *h)
{
    return h->dropped;
}

/* smtpd_history_late - lookups answered "unknown" for want of time */
unsigned long
smtpd_history_late(const struct smtpd_history *h)
{
    return h->late;
}
