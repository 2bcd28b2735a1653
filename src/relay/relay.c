/*
 * relay - doppel-relay, the delivery agent: main, scheduler, threads.
 *
 * SECURITY
 *     doppel-relay reads queue files (written by doppel-smtpd from
 *     network input: every field is checked by the queue file reader,
 *     and addresses are quoted before they go on the wire) and talks
 *     to next hops that are no more trusted than SMTP clients (every
 *     reply is read with a length limit and a timer). It trusts its
 *     configuration directory. Under the master it runs as mail_owner
 *     without privileges; it writes only into queue_directory and into
 *     the directories of maildir: transports.
 *
 * USAGE
 *     doppel-relay -c DIR [--foreground]
 *     doppel-relay -c DIR --master --service INDEX --worker WSLOT
 *                  [--foreground]
 *
 *     One relay per queue (a lock on queue_directory/relay.lock). The
 *     scheduler thread scans incoming/ and the due part of deferred/
 *     every queue_run_delay (at once when a connection arrives on the
 *     service socket, fd 3 under the master), takes files by renaming
 *     them into active/, chooses transports, and hands each message to
 *     one of relay_threads delivery threads when every destination it
 *     needs is below default_destination_concurrency_limit. Blocking
 *     I/O with timers on the delivery threads is the chosen model: a
 *     slow next hop holds only the threads delivering to it, and the
 *     concurrency limit keeps it from taking them all.
 *
 *     SIGTERM: take nothing new, put messages not yet started back into
 *     incoming/, finish deliveries under way, exit 0. SIGQUIT: exit at
 *     once (what is in active/ goes back to incoming/ at the next
 *     start). SIGHUP is ignored: the master replaces the relay on
 *     reload.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/services.h"
#include "global/master_proto.h"
#include "global/queue_dirs.h"
#include "global/queue_id.h"
#include "tables/table.h"
#include "relay/relay_deliver.h"
#include "relay/relay_queue.h"
#include "relay/relay_smtp.h"
#include "relay/relay_transport.h"

#define RELAY_PROGNAME "doppel/relay"
#define RELAY_JOBS_PER_THREAD 4         /* messages in memory per thread */
#define RELAY_LOCK_POLL_MS 200          /* retry of the queue lock */
#define RELAY_LOCK_EXTRA_MS 10000       /* beyond the old relay's deadline */

/* A message the relay holds (its file is in active/). */
struct relay_slot {
    struct relay_job *job;
    int     running;                   /* handed to a thread */
    int     finished;                  /* the thread is done with it */
};

/* The scheduler's state, shared with the delivery threads. */
struct relay_state {
    const struct params *p;
    struct table_list *maps;
    const char *qdir;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct relay_slot *slots;          /* fixed array of nslots */
    size_t  nslots;
    size_t  nheld;                     /* slots in use */
    struct relay_slot **ready;         /* queue for the threads */
    size_t  nready;
    int     quit;                      /* threads: exit when idle */
    int     wake[2];                   /* self-pipe: a job finished */
    char  **dkeys;                     /* destinations with deliveries */
    size_t *dcount;
    size_t  ndest;
};

static volatile sig_atomic_t relay_sig_term;
static volatile sig_atomic_t relay_sig_quit;
static int relay_sig_pipe[2] = {-1, -1};

/* relay_usage - how to call us */
static void
relay_usage(void)
{
    fprintf(stderr, "usage: doppel-relay -c DIR [--foreground]\n"
            "       doppel-relay -c DIR --master --service INDEX --worker"
            " WSLOT [--foreground]\n");
    exit(2);
}

/* relay_on_signal - only a flag and a byte into the self-pipe */
static void
relay_on_signal(int sig)
{
    int     saved = errno;
    char    c = 's';

    if (sig == SIGQUIT)
        relay_sig_quit = 1;
    else
        relay_sig_term = 1;
    if (relay_sig_pipe[1] >= 0)
        (void) write(relay_sig_pipe[1], &c, 1);
    errno = saved;
}

/* relay_refuse - the configuration cannot be used */
static void
relay_refuse(int under_master, const char *what)
{
    if (under_master) {
        log_error("configuration refused: %s", what);
        exit(MASTER_PROTO_EXIT_CONFIG);
    }
    log_fatal("%s", what);
}

/* relay_thread - take a ready message, deliver it, report back */
static void *
relay_thread(void *arg)
{
    struct relay_state *st = arg;
    struct relay_slot *slot;
    char    c = 'd';

    for (;;) {
        pthread_mutex_lock(&st->lock);
        while (st->nready == 0 && !st->quit)
            pthread_cond_wait(&st->work, &st->lock);
        if (st->nready == 0) {
            pthread_mutex_unlock(&st->lock);
            return NULL;
        }
        slot = st->ready[0];
        memmove(st->ready, st->ready + 1, (st->nready - 1) * sizeof(*st->ready));
        st->nready--;
        pthread_mutex_unlock(&st->lock);

        (void) relay_deliver_run(slot->job);

        pthread_mutex_lock(&st->lock);
        slot->finished = 1;
        pthread_mutex_unlock(&st->lock);
        (void) write(st->wake[1], &c, 1);
    }
}

/* relay_dest - the counter of a destination (created at 0) */
static size_t *
relay_dest(struct relay_state *st, const char *key)
{
    size_t  i;

    for (i = 0; i < st->ndest; i++)
        if (strcmp(st->dkeys[i], key) == 0)
            return &st->dcount[i];
    st->dkeys = xrealloc_array(st->dkeys, st->ndest + 1, sizeof(char *));
    st->dcount = xrealloc_array(st->dcount, st->ndest + 1, sizeof(size_t));
    st->dkeys[st->ndest] = xstrdup(key);
    st->dcount[st->ndest] = 0;
    return &st->dcount[st->ndest++];
}

/* relay_held - is ID in memory (waiting or running)? */
static int
relay_held(const struct relay_state *st, const char *id)
{
    size_t  i;

    for (i = 0; i < st->nslots; i++)
        if (st->slots[i].job != NULL && strcmp(st->slots[i].job->id, id) == 0)
            return 1;
    return 0;
}

/* relay_reap - release the slots of finished deliveries */
static void
relay_reap(struct relay_state *st)
{
    struct relay_slot *s;
    size_t  i, j;

    pthread_mutex_lock(&st->lock);
    for (i = 0; i < st->nslots; i++) {
        s = &st->slots[i];
        if (s->job == NULL || !s->finished)
            continue;
        for (j = 0; j < s->job->ndest; j++)
            (*relay_dest(st, s->job->dests[j]))--;
        s->job = relay_deliver_free(s->job);
        s->running = s->finished = 0;
        st->nheld--;
    }
    pthread_mutex_unlock(&st->lock);
}

/* relay_running - deliveries handed to threads and not finished */
static size_t
relay_running(const struct relay_state *st)
{
    size_t  i, n = 0;

    for (i = 0; i < st->nslots; i++)
        n += st->slots[i].job != NULL && st->slots[i].running;
    return n;
}

/* relay_dispatch - start waiting messages whose destinations have room */
static void
relay_dispatch(struct relay_state *st)
{
    struct relay_slot *s;
    size_t  i, j, running;
    int     room;

    pthread_mutex_lock(&st->lock);
    running = relay_running(st);
    for (i = 0; i < st->nslots && running < (size_t) st->p->relay_threads;
         i++) {
        s = &st->slots[i];
        if (s->job == NULL || s->running)
            continue;
        room = 1;
        for (j = 0; j < s->job->ndest; j++)
            if (*relay_dest(st, s->job->dests[j])
                >= (size_t) st->p->default_destination_concurrency_limit)
                room = 0;
        if (!room)
            continue;
        for (j = 0; j < s->job->ndest; j++)
            (*relay_dest(st, s->job->dests[j]))++;
        s->running = 1;
        running++;
        st->ready[st->nready++] = s;
        pthread_cond_signal(&st->work);
    }
    pthread_mutex_unlock(&st->lock);
}

/* relay_take_from - take due messages of one directory into free slots */
static void
relay_take_from(struct relay_state *st, const char *sub, time_t not_after)
{
    struct dstr *why = dstr_new(256, 4096);
    char    (*ids)[QUEUE_ID_SIZE];
    struct relay_job *job;
    size_t  i, k, room = st->nslots - st->nheld;
    int     n, rc;

    if (room == 0) {
        dstr_free(why);
        return;
    }
    /* a few extra: some IDs may be held already */
    ids = xcalloc(room + 16, QUEUE_ID_SIZE);
    n = relay_queue_scan(st->qdir, sub, not_after, ids, room + 16, why);
    if (n < 0)
        log_error("queue: scan: %s", why->data);
    for (i = 0; n > 0 && i < (size_t) n && st->nheld < st->nslots; i++) {
        if (relay_held(st, ids[i]))
            continue;                  /* a rewrite of ours in flight */
        dstr_truncate(why, 0);
        if ((rc = relay_queue_take(st->qdir, sub, ids[i], why)) <= 0) {
            if (rc < 0)
                log_error("queue: %s", why->data);
            continue;
        }
        dstr_truncate(why, 0);
        job = relay_deliver_prepare(st->qdir, ids[i], st->p, st->maps, why);
        if (job == NULL)
            continue;
        pthread_mutex_lock(&st->lock);
        for (k = 0; k < st->nslots && st->slots[k].job != NULL; k++)
            ;
        st->slots[k].job = job;
        st->slots[k].running = st->slots[k].finished = 0;
        st->nheld++;
        pthread_mutex_unlock(&st->lock);
    }
    free(ids);
    dstr_free(why);
}

/*
 * relay_put_back - at stop, forget messages not started; their files stay
 * in active/ and relay_queue_recover() returns them to incoming/ once the
 * threads are gone.
 */
static void
relay_put_back(struct relay_state *st)
{
    size_t  i;

    pthread_mutex_lock(&st->lock);
    for (i = 0; i < st->nslots; i++) {
        struct relay_slot *s = &st->slots[i];

        if (s->job == NULL || s->running)
            continue;
        s->job = relay_deliver_free(s->job);
        st->nheld--;
    }
    pthread_mutex_unlock(&st->lock);
}

/* relay_accept_wake - a poke on the service socket means "scan now" */
static void
relay_accept_wake(int fd)
{
    int     c, n;

    for (n = 0; n < 64; n++) {
        if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
            return;
        close(c);
    }
}

/* relay_drain - empty a self-pipe */
static void
relay_drain(int fd)
{
    char    buf[256];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* relay_pipe - a non-blocking close-on-exec pipe */
static void
relay_pipe(int fds[2])
{
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        log_fatal("relay: pipe: %m");
}

/* relay_check_params - what the relay needs to be usable */
static int
relay_check_params(const struct params *p, struct table_list **maps,
                   struct dstr *errors)
{
    struct relay_transport t;
    const char *lvl = p->smtp_tls_security_level;

    if (relay_transport_parse(p->relay_transport, &t, errors) < 0) {
        (void) dstr_append_str(errors, " in relay_transport");
        return -1;
    }
    if (strcmp(lvl, "none") != 0 && strcmp(lvl, "may") != 0
        && strcmp(lvl, "encrypt") != 0) {
        (void) dstr_appendf(errors, "smtp_tls_security_level: \"%s\" is not"
                            " a level (use none, may or encrypt)", lvl);
        return -1;
    }
    if (*p->queue_directory == '\0') {
        (void) dstr_append_str(errors, "queue_directory is empty");
        return -1;
    }
    return table_list_open(maps, &p->transport_maps, errors);
}

/*
 * relay_wait_lock - the queue lock. On reload the master starts the new
 * relay before the old one has drained, so under the master we wait for
 * the old one (bounded by its shutdown deadline) instead of failing.
 */
static int
relay_wait_lock(const struct params *p, int under_master,
                struct dstr *errors)
{
    struct timespec pause = {0, RELAY_LOCK_POLL_MS * 1000000L};
    long long waited = 0, limit;
    int     fd;

    limit = under_master ? p->master_shutdown_timeout + RELAY_LOCK_EXTRA_MS
        : 0;
    for (;;) {
        dstr_truncate(errors, 0);
        if ((fd = relay_queue_lock(p->queue_directory, errors)) >= 0
            || errno != EWOULDBLOCK || waited >= limit)
            return fd;
        if (waited == 0)
            log_info("relay: waiting for the previous relay to finish");
        (void) nanosleep(&pause, NULL);
        waited += RELAY_LOCK_POLL_MS;
    }
}

/* main - arguments, configuration, lock, recovery, then the scheduler loop */
int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        MASTER_PROTO_WORKER_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *dir = CONF_DEFAULT_DIR;
    struct master_proto_worker wk;
    int     foreground = 0, c, lock_fd, listen_fd = -1;
    size_t  service = CONF_NO_SERVICE, i;
    struct conf *conf = NULL;
    struct dstr *errors;
    struct relay_state st;
    pthread_t *threads;
    struct sigaction sa;
    struct pollfd pfd[3];
    long long next_scan = 0, now;
    struct timespec ts;
    int     nfd, moved;

    master_proto_worker_init(&wk);
    while ((c = getopt_long(argc, argv, "c:f", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            dir = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        default:
            if (master_proto_worker_option(&wk, c, optarg) <= 0)
                relay_usage();
        }
    }
    if (optind != argc || !master_proto_worker_complete(&wk))
        relay_usage();
    log_open(RELAY_PROGNAME, foreground || !wk.under_master ? LOG_SINK_STDERR
             : LOG_SINK_SYSLOG);

    errors = dstr_new(1024, 64 * 1024);
    if (conf_load(dir, &conf, errors) < 0)
        relay_refuse(wk.under_master, errors->data);
    if (wk.under_master) {
        service = (size_t) wk.service;
        if (conf->services == NULL || service >= conf->services->count
            || strcmp(conf->services->items[service].program, "relay") != 0)
            relay_refuse(1, "service index does not name a relay service");
        if (conf->services->items[service].workers != 1)
            relay_refuse(1, "a relay service runs exactly 1 worker");
        listen_fd = MASTER_PROTO_LISTEN_FD;
        close(MASTER_PROTO_SCOREBOARD_FD);     /* the relay has no sessions */
    }
    memset(&st, 0, sizeof(st));
    st.p = conf_params(conf, service, NULL, 0);
    st.qdir = st.p->queue_directory;
    if (relay_check_params(st.p, &st.maps, errors) < 0)
        relay_refuse(wk.under_master, errors->data);
    if (relay_smtp_init(errors) < 0)
        log_fatal("tls: %s", errors->data);
    if (!wk.under_master && queue_dirs_create(st.qdir, errors) < 0)
        log_fatal("queue %s: %s", st.qdir, errors->data);
    if (queue_dirs_check(st.qdir, errors) < 0)
        relay_refuse(wk.under_master, errors->data);
    if ((lock_fd = relay_wait_lock(st.p, wk.under_master, errors)) < 0)
        relay_refuse(wk.under_master, errors->data);
    dstr_truncate(errors, 0);
    if ((moved = relay_queue_recover(st.qdir, errors)) < 0)
        log_fatal("queue %s: recover active: %s", st.qdir, errors->data);
    if (moved > 0)
        log_info("queue: %d messages of an interrupted run back to incoming",
                 moved);

    relay_pipe(relay_sig_pipe);
    relay_pipe(st.wake);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = relay_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.work, NULL);
    st.nslots = (size_t) st.p->relay_threads * RELAY_JOBS_PER_THREAD;
    st.slots = xcalloc(st.nslots, sizeof(*st.slots));
    st.ready = xcalloc(st.nslots, sizeof(*st.ready));
    threads = xcalloc((size_t) st.p->relay_threads, sizeof(*threads));
    for (i = 0; i < (size_t) st.p->relay_threads; i++)
        if (pthread_create(&threads[i], NULL, relay_thread, &st) != 0)
            log_fatal("relay: pthread_create: %m");
    log_info("relay: started: queue %s, %lld threads, default transport %s",
             st.qdir, st.p->relay_threads, st.p->relay_transport);

    while (!relay_sig_quit) {
        relay_reap(&st);
        if (relay_sig_term) {
            relay_put_back(&st);
            pthread_mutex_lock(&st.lock);
            c = st.nheld == 0;
            pthread_mutex_unlock(&st.lock);
            if (c)
                break;
        } else {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            now = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            if (now >= next_scan) {
                relay_take_from(&st, QUEUE_DIRS_INCOMING, 0);
                relay_take_from(&st, QUEUE_DIRS_DEFERRED, time(NULL));
                next_scan = now + st.p->queue_run_delay;
            }
            relay_dispatch(&st);
        }
        nfd = 0;
        pfd[nfd].fd = relay_sig_pipe[0];
        pfd[nfd++].events = POLLIN;
        pfd[nfd].fd = st.wake[0];
        pfd[nfd++].events = POLLIN;
        if (listen_fd >= 0 && !relay_sig_term) {
            pfd[nfd].fd = listen_fd;
            pfd[nfd++].events = POLLIN;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (poll(pfd, (nfds_t) nfd, next_scan > now ? (int) (next_scan - now)
                 : 0) > 0) {
            if (pfd[0].revents)
                relay_drain(relay_sig_pipe[0]);
            if (pfd[1].revents)
                relay_drain(st.wake[0]);
            if (nfd > 2 && pfd[2].revents) {
                relay_accept_wake(listen_fd);
                next_scan = 0;
            }
        }
    }
    if (relay_sig_quit) {
        log_info("relay: quit: deliveries under way are cut short");
        _exit(0);
    }
    pthread_mutex_lock(&st.lock);
    st.quit = 1;
    pthread_cond_broadcast(&st.work);
    pthread_mutex_unlock(&st.lock);
    for (i = 0; i < (size_t) st.p->relay_threads; i++)
        pthread_join(threads[i], NULL);
    /* messages that were held but never started are in active/ */
    dstr_truncate(errors, 0);
    (void) relay_queue_recover(st.qdir, errors);
    log_info("relay: stopped");
    free(threads);
    free(st.slots);
    free(st.ready);
    for (i = 0; i < st.ndest; i++)
        free(st.dkeys[i]);
    free(st.dkeys);
    free(st.dcount);
    st.maps = table_list_free(st.maps);
    close(lock_fd);
    dstr_free(errors);
    conf = conf_free(conf);
    return 0;
}
