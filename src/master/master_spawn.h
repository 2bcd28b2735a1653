/*
 * NAME
 *     master_spawn - start, reap and restart workers
 * SYNOPSIS
 *     #include "master/master_spawn.h"
 *
 *     master_spawn_user(m, p->mail_owner, why);
 *     master_spawn_fill(m);
 *     master_spawn_reap(m);
 *     master_spawn_signal(m, SIGTERM, generation_below);
 *     delay = master_spawn_backoff_ms(failures);
 * DESCRIPTION
 *     master_spawn_user() decides whom workers run as. Started as root,
 *     the master runs them as mail_owner (a user that must exist and
 *     must not be uid 0); otherwise as the master's own user.
 *
 *     master_spawn_fill() starts the missing workers of every service of
 *     the current generation whose restart time has come, and arms the
 *     service's restart timer for the others.
 *
 *     A worker is started by fork, then in the child: a new session
 *     (setsid; ^C at a terminal reaches only the master), signals reset,
 *     the listening socket on fd 3, the scoreboard on fd 4 and, for
 *     smtpd, the per-client limits table on fd 5 (see
 *     global/master_proto.h), every other descriptor closed, privileges
 *     dropped (setgroups, setresgid, setresuid, then setuid(0) must
 *     fail), PR_SET_PDEATHSIG, exec. A child that cannot do any of it
 *     exits 127 and the master treats that as a crash.
 *
 *     master_spawn_reap() collects every exited child (SIGCHLD), takes
 *     its sessions off the scoreboard and its client connections out of
 *     the limits table (anvil_worker_gone()), and decides: a worker of an old
 *     generation, one told to drain, or any worker while the master
 *     stops, is not restarted; exit MASTER_PROTO_EXIT_CONFIG restarts
 *     after the longest back-off; any other end is a crash: restart
 *     after master_spawn_backoff_ms(consecutive crashes), and
 *     MASTER_CRASH_LOOP_COUNT crashes within MASTER_CRASH_WINDOW_MS are
 *     logged as a crash loop. A worker that ran MASTER_WORKER_STABLE_MS
 *     before it crashed starts the count afresh.
 * RULES
 *     The master never exits because a child died, and never forks in
 *     a tight loop: every restart after a crash waits at least
 *     MASTER_BACKOFF_MIN_MS.
 * DIAGNOSTICS
 *     Fork and exec failures are logged and retried with back-off.
 */
#ifndef DOPPEL_MASTER_MASTER_SPAWN_H
#define DOPPEL_MASTER_MASTER_SPAWN_H

#include <stdint.h>

#include "util/dstr.h"
#include "master/master.h"

int     master_spawn_user(struct master *m, const char *user, struct dstr *why);
void    master_spawn_fill(struct master *m);
void    master_spawn_reap(struct master *m);
size_t  master_spawn_signal(struct master *m, int sig, uint64_t below);
size_t  master_spawn_count(const struct master *m, size_t index,
                           uint64_t generation);
int64_t master_spawn_backoff_ms(unsigned failures);
int64_t master_spawn_now_mono(void);
int64_t master_spawn_now_ms(void);

#endif
