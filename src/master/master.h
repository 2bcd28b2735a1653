/*
 * NAME
 *     master - the state that the parts of doppel-master share
 * SYNOPSIS
 *     #include "master/master.h"
 * DESCRIPTION
 *     struct master is the one running master: its configuration, the
 *     services of the current generation (each with its listening
 *     socket, scoreboard slot, supervision and stress state), the list
 *     of worker processes of every generation still alive, and the
 *     scoreboard. The parts work on it:
 *
 *         master_service.c  listening sockets, services of a generation
 *         master_spawn.c    fork/exec, privileges, reaping, back-off
 *         master_stress.c   the stress state machine
 *         master_control.c  the control socket (doppel stop/reload/status)
 *         master_metrics.c  Prometheus text over HTTP
 *         master_run.c      start, reload, shutdown, the ticks
 *         master.c          main(): options, pidfile, daemon
 * RULES
 *     Only master_run.c replaces m->conf and m->services, and only
 *     between event callbacks. Workers never point into a struct conf:
 *     a reload frees the old one while old workers drain.
 *     Times named *_mono are CLOCK_MONOTONIC ms (timers); *_ms without
 *     it are wall-clock ms (what people read).
 * SEE ALSO
 *     doppel-master(8), global/scoreboard.h, global/master_proto.h
 */
#ifndef DOPPEL_MASTER_MASTER_H
#define DOPPEL_MASTER_MASTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "global/scoreboard.h"

/*
 * Supervision constants. The restart back-off doubles from the minimum
 * to the maximum; a worker that stayed up MASTER_WORKER_STABLE_MS is
 * forgiven its earlier crashes. (Administrators have not needed to tune
 * these in Postfix either; master_shutdown_timeout is a parameter.)
 */
#define MASTER_BACKOFF_MIN_MS 100       /* first restart after a crash */
#define MASTER_BACKOFF_MAX_MS 30000     /* master_worker_restart_max_backoff */
#define MASTER_WORKER_STABLE_MS 10000   /* uptime that forgives old crashes */
#define MASTER_CRASH_WINDOW_MS 60000    /* crash loop: this many crashes */
#define MASTER_CRASH_LOOP_COUNT 5       /* ... within the window */
#define MASTER_KILL_GRACE_MS 2000       /* SIGQUIT to SIGKILL */
#define MASTER_TICK_MS 50               /* stress checks: raise within 100 ms */
#define MASTER_CONTROL_TIMEOUT_S 10     /* a control client's whole exchange */
#define MASTER_CONTROL_CLIENTS_MAX 32

struct anvil;
struct event_base;
struct event;
struct master_control;
struct master_metrics;

struct master_service {
    const struct service_def *def;     /* points into m->conf */
    const struct params *p;            /* the service, default class, normal */
    size_t  index;                     /* in conf->services */
    size_t  slot;                      /* in the scoreboard */
    int     fd;                        /* listening socket */
    char   *program;                   /* path of the worker program */
    /* supervision */
    unsigned failures;                 /* consecutive crashes */
    int64_t crash_mono[MASTER_CRASH_LOOP_COUNT];       /* ring of crash times */
    unsigned crash_next;
    int     crash_loop;                /* logged as a crash loop */
    int64_t restart_at_mono;           /* 0: no restart pending */
    struct event *restart_ev;
    /* stress */
    int     logged_stress;             /* the state last logged */
    int64_t low_since_mono;            /* load low since then; 0: not low */
    int64_t clear_at_ms;               /* wall clock of the pending clear */
};

struct master_worker {
    struct master_worker *next;
    pid_t   pid;
    size_t  wslot;                     /* in the scoreboard */
    size_t  slot;                      /* service slot */
    size_t  index;                     /* service index in its generation */
    uint64_t generation;
    int64_t started_mono;
    int     retiring;                  /* told to drain (SIGTERM) */
    char   *label;                     /* service LISTEN, for the log */
};

struct master {
    struct event_base *base;
    char   *config_dir;
    char   *run_dir;
    char   *self_dir;                  /* where doppel-master lives */
    struct conf *conf;
    struct master_service *services;
    size_t  nservices;
    struct scoreboard *sb;
    struct anvil *anvil;               /* per-client limits, for smtpd */
    struct master_worker *workers;
    size_t  nworkers;
    uint64_t generation;
    int     foreground;
    int     stopping;
    int     drop;                      /* run workers as uid/gid */
    uid_t   uid;
    gid_t   gid;
    int64_t started_ms;
    int64_t reload_ms;
    uint64_t reload_failures;
    int64_t shutdown_timeout_ms;
    struct event *tick_ev;
    struct event *deadline_ev;
    int     deadline_stage;            /* 0 TERM sent, 1 QUIT sent, 2 KILL */
    struct master_control *control;
    struct master_metrics *metrics;
};

#endif
