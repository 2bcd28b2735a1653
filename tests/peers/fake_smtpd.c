/*
 * fake_smtpd - a stand-in worker that speaks the worker side of the
 * master contract (global/master_proto.h), for the master's tests.
 *
 * usage: fake_smtpd -c DIR --master --service INDEX --worker WSLOT
 *                   [--foreground]
 *
 * It accepts on fd 3 and counts in the scoreboard on fd 4 exactly as
 * doppel-smtpd must: a session per connection, stress read at accept
 * and every SCOREBOARD_POLL_MS, open sessions tightened (timer re-armed
 * with the stress smtpd_timeout) when stress turns on, eviction of its
 * longest-idle session when full and stressed, "421 4.3.2" when full,
 * SIGTERM drains, SIGQUIT ends sessions with 421. The dialogue is just
 * enough for tests: "220" greeting; QUIT -> 221; NOOP -> 250; STRESS ->
 * "250 stress=yes|no"; anything else -> 502 (a reject).
 *
 * SECURITY
 *     A test program: runs as whatever the master made it.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/master_proto.h"
#include "global/scoreboard.h"

#define FAKE_LINE_MAX 1000
#define FAKE_ACCEPT_BURST 64

struct fake_session {
    struct fake_session *next;
    struct bufferevent *bev;
    struct event *timer;
    int     stress;
    int64_t last_input;                /* monotonic ms */
    int     closing;
};

static struct event_base *fake_base;
static struct conf *fake_conf;
static struct scoreboard *fake_sb;
static struct fake_session *fake_sessions;
static struct event *fake_accept_ev;
static size_t fake_slot, fake_wslot, fake_index;
static int fake_stress;                /* last seen */
static int fake_draining;

/* fake_now - monotonic ms */
static int64_t
fake_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fake_params - the personality of a session */
static const struct params *
fake_params(int stress)
{
    return conf_params(fake_conf, fake_index, PERSONALITY_DEFAULT_CLASS,
                       stress);
}

/* fake_arm - the session's timer: timeout after its last input */
static void
fake_arm(struct fake_session *s)
{
    int64_t left = fake_params(s->stress)->smtpd_timeout
        - (fake_now() - s->last_input);
    struct timeval tv;

    if (left < 0)
        left = 0;
    tv.tv_sec = (time_t) (left / 1000);
    tv.tv_usec = (suseconds_t) (left % 1000) * 1000;
    evtimer_add(s->timer, &tv);
}

/* fake_maybe_exit - a draining worker ends with its last session */
static void
fake_maybe_exit(void)
{
    if (fake_draining && fake_sessions == NULL)
        event_base_loopexit(fake_base, NULL);
}

/* fake_free - the only place a session ends */
static void
fake_free(struct fake_session *s)
{
    struct fake_session **pp;

    for (pp = &fake_sessions; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    scoreboard_session_close(fake_sb, fake_slot, fake_wslot, s->stress, 0);
    event_free(s->timer);
    bufferevent_free(s->bev);
    free(s);
    fake_maybe_exit();
}

/* fake_written - close a session once its last reply is out */
static void
fake_written(struct bufferevent *bev, void *arg)
{
    (void) bev;
    fake_free(arg);
}

/* fake_end - send a last line, then close */
static void
fake_end(struct fake_session *s, const char *line)
{
    s->closing = 1;
    evtimer_del(s->timer);
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setcb(s->bev, NULL, fake_written, NULL, s);
    bufferevent_write(s->bev, line, strlen(line));
}

/* fake_timeout - the session's timer fired */
static void
fake_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    scoreboard_count(fake_sb, fake_slot, SCOREBOARD_TIMEOUTS);
    fake_end(arg, "421 4.4.2 fake Error: timeout exceeded\r\n");
}

/* fake_read - commands */
static void
fake_read(struct bufferevent *bev, void *arg)
{
    struct fake_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char   *line;
    size_t  len;

    while (!s->closing
           && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
        s->last_input = fake_now();
        fake_arm(s);
        if (strcasecmp(line, "QUIT") == 0)
            fake_end(s, "221 2.0.0 Bye\r\n");
        else if (strcasecmp(line, "NOOP") == 0)
            bufferevent_write(bev, "250 2.0.0 Ok\r\n", 14);
        else if (strcasecmp(line, "STRESS") == 0)
            evbuffer_add_printf(bufferevent_get_output(bev),
                                "250 stress=%s\r\n", s->stress ? "yes" : "no");
        else {
            scoreboard_count(fake_sb, fake_slot, SCOREBOARD_REJECTS);
            bufferevent_write(bev, "502 5.5.2 Error: command not"
                              " recognized\r\n", 41);
        }
        free(line);
    }
    if (!s->closing && evbuffer_get_length(in) > FAKE_LINE_MAX)
        fake_end(s, "500 5.5.2 Line too long\r\n");
}

/* fake_event - EOF or error from the client */
static void
fake_event(struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    (void) what;
    fake_free(arg);
}

/* fake_evict - end the longest-idle session (at least evict_idle) */
static int
fake_evict(void)
{
    const struct params *p = fake_params(1);
    struct fake_session *s, *best = NULL;
    int64_t now = fake_now();

    if (p->master_stress_evict_idle < 0)
        return -1;
    for (s = fake_sessions; s != NULL; s = s->next)
        if (!s->closing && now - s->last_input >= p->master_stress_evict_idle
            && (best == NULL || s->last_input <= best->last_input))
            best = s;
    if (best == NULL)
        return -1;
    scoreboard_count(fake_sb, fake_slot, SCOREBOARD_EVICTIONS);
    fake_end(best, "421 4.3.2 fake All server ports are busy\r\n");
    return 0;
}

/* fake_admit - a new connection: a session, or 421 */
static void
fake_admit(int fd)
{
    struct fake_session *s;
    int64_t open = scoreboard_open(fake_sb, fake_slot);
    int     stress = scoreboard_stress_get(fake_sb, fake_slot);

    scoreboard_count(fake_sb, fake_slot, SCOREBOARD_CONNECTIONS);
    if (open >= scoreboard_limit(fake_sb, fake_slot)
        && (!stress || fake_evict() < 0)) {
        static const char full[] = "421 4.3.2 fake All server ports are"
            " busy\r\n";

        scoreboard_count(fake_sb, fake_slot, SCOREBOARD_FULL);
        (void) !write(fd, full, sizeof(full) - 1);
        close(fd);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->stress = stress;
    s->last_input = fake_now();
    s->bev = bufferevent_socket_new(fake_base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->timer = evtimer_new(fake_base, fake_timeout, s);
    s->next = fake_sessions;
    fake_sessions = s;
    scoreboard_session_open(fake_sb, fake_slot, fake_wslot, stress, 0);
    bufferevent_setcb(s->bev, fake_read, NULL, fake_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    evbuffer_add_printf(bufferevent_get_output(s->bev),
                        "220 fake.doppel ESMTP %s\r\n",
                        stress ? "stress" : "normal");
    fake_arm(s);
}

/* fake_accept - fd 3 is readable */
static void
fake_accept(evutil_socket_t lfd, short what, void *arg)
{
    int     fd, n;

    (void) what;
    (void) arg;
    for (n = 0; n < FAKE_ACCEPT_BURST; n++) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;                     /* EAGAIN: another worker got it */
        fake_admit(fd);
    }
}

/* fake_poll - follow the stress flag; tighten open sessions */
static void
fake_poll(evutil_socket_t fd, short what, void *arg)
{
    struct fake_session *s;
    int     stress = scoreboard_stress_get(fake_sb, fake_slot);

    (void) fd;
    (void) what;
    (void) arg;
    if (stress == fake_stress)
        return;
    fake_stress = stress;
    if (!fake_params(stress)->master_stress_tighten_sessions || !stress)
        return;
    for (s = fake_sessions; s != NULL; s = s->next) {
        if (s->closing || s->stress)
            continue;
        scoreboard_session_move(fake_sb, fake_slot, fake_wslot, 0, 1, 0, 0);
        s->stress = 1;
        fake_arm(s);
    }
}

/* fake_signal - TERM drains, QUIT ends every session now */
static void
fake_signal(evutil_socket_t sig, short what, void *arg)
{
    struct fake_session *s, *next;

    (void) what;
    (void) arg;
    if (!fake_draining) {
        fake_draining = 1;
        event_del(fake_accept_ev);
        close(MASTER_PROTO_LISTEN_FD);
    }
    if (sig == SIGQUIT)
        for (s = fake_sessions; s != NULL; s = next) {
            next = s->next;
            if (!s->closing)
                fake_end(s, "421 4.3.2 fake Service shutting down\r\n");
        }
    fake_maybe_exit();
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        MASTER_PROTO_WORKER_OPTIONS,
        {"foreground", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct dstr *why = dstr_new(256, DSTR_UNLIMITED);
    struct timeval poll_tv = {0, SCOREBOARD_POLL_MS * 1000};
    struct event *poll_ev, *term_ev, *quit_ev, *hup_ev;
    const char *dir = NULL;
    int     ch, foreground = 0;
    struct master_proto_worker wk;

    master_proto_worker_init(&wk);
    while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            dir = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        default:
            if (master_proto_worker_option(&wk, ch, optarg) <= 0)
                return 2;
        }
    }
    if (!wk.under_master || !master_proto_worker_complete(&wk))
        return 2;
    fake_index = (size_t) wk.service;
    fake_wslot = (size_t) wk.worker;
    log_open("doppel/fake-smtpd", foreground ? LOG_SINK_STDERR
             : LOG_SINK_SYSLOG);
    if (dir == NULL || conf_load(dir, &fake_conf, why) < 0) {
        log_error("configuration refused: %s", why->data);
        return MASTER_PROTO_EXIT_CONFIG;
    }
    if ((fake_sb = scoreboard_attach(MASTER_PROTO_SCOREBOARD_FD, why)) == NULL)
        log_fatal("%s", why->data);
    if (scoreboard_worker_service(fake_sb, fake_wslot, &fake_slot) < 0)
        log_fatal("worker slot %zu is not mine", fake_wslot);
    if (fake_index >= fake_conf->services->count)
        return MASTER_PROTO_EXIT_CONFIG;
    fake_base = event_base_new();
    fake_accept_ev = event_new(fake_base, MASTER_PROTO_LISTEN_FD,
                               EV_READ | EV_PERSIST, fake_accept, NULL);
    event_add(fake_accept_ev, NULL);
    poll_ev = event_new(fake_base, -1, EV_PERSIST, fake_poll, NULL);
    event_add(poll_ev, &poll_tv);
    term_ev = evsignal_new(fake_base, SIGTERM, fake_signal, NULL);
    quit_ev = evsignal_new(fake_base, SIGQUIT, fake_signal, NULL);
    hup_ev = evsignal_new(fake_base, SIGHUP, fake_signal, NULL);
    event_add(term_ev, NULL);
    event_add(quit_ev, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    fake_stress = scoreboard_stress_get(fake_sb, fake_slot);
    event_base_dispatch(fake_base);
    while (fake_sessions != NULL)
        fake_free(fake_sessions);
    event_free(poll_ev);
    event_free(term_ev);
    event_free(quit_ev);
    event_free(hup_ev);
    event_free(fake_accept_ev);
    event_base_free(fake_base);
    fake_sb = scoreboard_detach(fake_sb);
    conf_free(fake_conf);
    dstr_free(why);
    return 0;
}
