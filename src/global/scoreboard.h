/*
 * NAME
 *     scoreboard - shared memory that the master and its workers count in
 * SYNOPSIS
 *     #include "global/scoreboard.h"
 *
 *     master:  sb = scoreboard_create();
 *              scoreboard_service_setup(sb, slot, "127.0.0.1:25", 100, 0,
 *                                       SERVICE_FORCE_AUTO, now_ms);
 *              scoreboard_worker_start(sb, wslot, pid, slot, generation);
 *              scoreboard_service_read(sb, slot, &view);
 *              scoreboard_stress_set(sb, slot, 1, SCOREBOARD_REASON_FULL, now_ms);
 *              scoreboard_worker_reap(sb, wslot);
 *     worker:  sb = scoreboard_attach(4, why);   (fd 4, see master_proto.h)
 *              stress = scoreboard_stress_get(sb, slot);
 *              n = scoreboard_session_open(sb, slot, wslot, stress, cls);
 *              scoreboard_session_close(sb, slot, wslot, stress, cls);
 *              scoreboard_count(sb, slot, SCOREBOARD_MESSAGES);
 * DESCRIPTION
 *     One memfd, mapped MAP_SHARED by the master and every worker, holds
 *     a versioned header (magic, version, size, capacities, a config
 *     generation), SCOREBOARD_SERVICES_MAX service slots and
 *     SCOREBOARD_WORKERS_MAX worker slots. Capacities are fixed, so the
 *     mapping never grows and a reload never remaps: a service keeps its
 *     slot (and its counters and stress state) across reloads as long as
 *     its LISTEN is unchanged.
 *
 *     A service slot holds the sessions open now (in total, by stress
 *     personality, and by client class: scoreboard_class_slot() maps a
 *     class name to its slot: 0 is "default" (and any unknown name), the
 *     other classes of conf->classes follow in their order, and the last
 *     slot also counts every class beyond it ("other")), the
 *     peak of open sessions since the master last looked, monotonic
 *     counters (enum scoreboard_counter), the limits the master wrote
 *     (smtpd_client_limit, the stress threshold limit - reserve, the
 *     -p force), and the stress state. A worker slot holds the same
 *     session counts for one worker process, so that when a worker dies
 *     with sessions open the master subtracts exactly what it held.
 *
 *     The stress state of a service is one 64-bit word: on/off, the
 *     reason, and the wall-clock time of the last transition in ms. It
 *     is read and changed with one atomic load or compare-and-swap, so a
 *     reader never sees "on" with the time of the previous "off".
 * RULES
 *     Every field is updated with __atomic builtins; nothing is locked,
 *     so a worker that dies at any instruction leaves the board usable.
 *     The protocol of the stress flag:
 *
 *     - Raise: scoreboard_session_open() raises the flag itself, with
 *       one compare-and-swap, when the open count it produced reaches
 *       the threshold on an auto service: a worker sees saturation the
 *       instant it happens, with no message to the master. The master
 *       also checks every tick (master_stress.c, 50 ms) and raises if
 *       a worker did not (an older worker binary), so saturation is
 *       flagged within one tick in the worst case. The master logs each
 *       transition the first time it sees it.
 *     - Clear: only the master clears (hysteresis needs a clock and
 *       memory). session_open() records the peak open count with an
 *       atomic max; the master swaps the peak out each tick, so a burst
 *       between two ticks still counts as load and restarts the clear
 *       delay.
 *     - Races: two workers racing to raise: one CAS wins, the transition
 *       is counted once. A raise racing with the master's clear: the
 *       clear CAS fails (the word changed) or the raise comes after it;
 *       either way the flag ends "on" when the service is full. A worker
 *       that read "off" just before a raise gives its new session the
 *       normal personality; it is tightened when the worker next polls
 *       (workers poll the flag at every accept and at least every
 *       SCOREBOARD_POLL_MS).
 *     - Counts may be momentarily off by the sessions of a worker that
 *       is being reaped; scoreboard_worker_reap() runs only after
 *       waitpid(), when the worker can no longer write.
 *     Slot numbers are checked: out-of-range slots are ignored by the
 *     worker calls (a counter is never written outside the map) and
 *     refused by the master calls.
 * DIAGNOSTICS
 *     scoreboard_attach() returns NULL and says why in *why when the fd
 *     is not a scoreboard of this version and size. scoreboard_create()
 *     failing is fatal (no memfd, no memory).
 * SEE ALSO
 *     global/master_proto.h (how workers get fd 4), memfd_create(2)
 */
#ifndef DOPPEL_GLOBAL_SCOREBOARD_H
#define DOPPEL_GLOBAL_SCOREBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"

#define SCOREBOARD_MAGIC 0x44505342u    /* "DPSB" */
#define SCOREBOARD_VERSION 1u
#define SCOREBOARD_SERVICES_MAX 64
#define SCOREBOARD_WORKERS_MAX 1024
#define SCOREBOARD_CLASSES 8            /* class slots; the last is "other" */
#define SCOREBOARD_LISTEN_MAX 128       /* with the NUL */
#define SCOREBOARD_POLL_MS 50           /* how often workers read the flag */
#define SCOREBOARD_DEFAULT_CLASS "default"

enum scoreboard_counter {
    SCOREBOARD_CONNECTIONS,            /* accepted from the kernel */
    SCOREBOARD_MESSAGES,               /* messages accepted (250 after DATA) */
    SCOREBOARD_REJECTS,                /* 4xx/5xx replies to commands */
    SCOREBOARD_TIMEOUTS,               /* sessions ended by a timer */
    SCOREBOARD_FULL,                   /* 421 at once: every slot busy */
    SCOREBOARD_EVICTIONS,              /* idle sessions ended for a newcomer */
    SCOREBOARD_TRANSITIONS,            /* stress on or off */
    SCOREBOARD_RESTARTS,               /* workers restarted by the master */
    SCOREBOARD_COUNTERS,
};

enum scoreboard_reason {
    SCOREBOARD_REASON_START,           /* off since the service started */
    SCOREBOARD_REASON_FULL,            /* on: all ordinary slots busy */
    SCOREBOARD_REASON_FORCED,          /* -p stress or -p normal */
    SCOREBOARD_REASON_CLEARED,         /* off: load stayed low long enough */
    SCOREBOARD_REASON_RELOAD,          /* off: a reload made it auto */
    SCOREBOARD_REASONS,
};

/* A consistent copy of one service slot, for the master and status. */
struct scoreboard_view {
    char    listen[SCOREBOARD_LISTEN_MAX];
    int     in_use;
    int     force;                     /* enum service_force */
    int64_t limit;                     /* smtpd_client_limit */
    int64_t threshold;                 /* limit - reserve: stress raise */
    int64_t open;
    int64_t by_stress[2];              /* [0] normal, [1] stress */
    int64_t by_class[SCOREBOARD_CLASSES];
    uint64_t counters[SCOREBOARD_COUNTERS];
    int     stress;
    enum scoreboard_reason reason;
    int64_t since_ms;                  /* wall clock of the last transition */
};

struct scoreboard;

/* both sides */
struct scoreboard *scoreboard_create(void);
struct scoreboard *scoreboard_attach(int fd, struct dstr *why);
struct scoreboard *scoreboard_detach(struct scoreboard *sb);
int     scoreboard_fd(const struct scoreboard *sb);
uint64_t scoreboard_generation(const struct scoreboard *sb);
size_t  scoreboard_class_slot(char *const *classes, size_t nclasses,
                              const char *name);
const char *scoreboard_class_name(char *const *classes, size_t nclasses,
                                  size_t slot);
const char *scoreboard_reason_name(enum scoreboard_reason reason);
const char *scoreboard_counter_name(enum scoreboard_counter counter);

/* workers */
int64_t scoreboard_session_open(struct scoreboard *sb, size_t slot,
                                size_t wslot, int stress, size_t class_slot);
void    scoreboard_session_close(struct scoreboard *sb, size_t slot,
                                 size_t wslot, int stress, size_t class_slot);
void    scoreboard_session_move(struct scoreboard *sb, size_t slot,
                                size_t wslot, int from, int to,
                                size_t from_class, size_t to_class);
void    scoreboard_count(struct scoreboard *sb, size_t slot,
                         enum scoreboard_counter counter);
int     scoreboard_stress_get(const struct scoreboard *sb, size_t slot);
int64_t scoreboard_open(const struct scoreboard *sb, size_t slot);
int64_t scoreboard_limit(const struct scoreboard *sb, size_t slot);
int     scoreboard_worker_service(const struct scoreboard *sb, size_t wslot,
                                  size_t *slot);

/* the master */
int     scoreboard_service_setup(struct scoreboard *sb, size_t slot,
                                 const char *listen, int64_t limit,
                                 int64_t reserve, int force, int64_t now_ms);
void    scoreboard_service_release(struct scoreboard *sb, size_t slot);
int     scoreboard_service_find(const struct scoreboard *sb,
                                const char *listen);
int     scoreboard_service_free_slot(const struct scoreboard *sb,
                                     const unsigned char *reserved);
int     scoreboard_service_read(const struct scoreboard *sb, size_t slot,
                                struct scoreboard_view *out);
int64_t scoreboard_peak_take(struct scoreboard *sb, size_t slot);
int     scoreboard_stress_set(struct scoreboard *sb, size_t slot, int on,
                              enum scoreboard_reason reason, int64_t now_ms);
void    scoreboard_generation_set(struct scoreboard *sb, uint64_t generation);
int     scoreboard_worker_start(struct scoreboard *sb, size_t wslot,
                                int pid, size_t slot, uint64_t generation);
int     scoreboard_worker_free_slot(const struct scoreboard *sb);
int64_t scoreboard_worker_sessions(const struct scoreboard *sb, size_t wslot);
int64_t scoreboard_worker_reap(struct scoreboard *sb, size_t wslot);

#endif
