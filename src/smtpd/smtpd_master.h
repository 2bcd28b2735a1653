/*
 * NAME
 *     smtpd_master - the worker side of the master contract
 * SYNOPSIS
 *     #include "smtpd/smtpd_master.h"
 * DESCRIPTION
 *     When doppel-master starts doppel-smtpd (--master --service INDEX
 *     --worker WSLOT, see global/master_proto.h), this module is the
 *     worker's link to it: the shared scoreboard on fd 4.
 *
 *     smtpd_master_attach() maps the scoreboard and checks that service
 *     INDEX of the configuration the worker loaded is the one the master
 *     gave it. smtpd_master_admit() decides about a new connection: the
 *     stress state it starts in, and whether it gets a slot. When the
 *     service is full: a client of a reserved class takes a reserved
 *     slot; otherwise, if the service is stressed and eviction is on
 *     (master_stress_evict_idle), this worker's session that has waited
 *     longest for its client, and at least that long, is ended with
 *     421 4.3.2 and the newcomer takes its slot; otherwise the newcomer
 *     gets 421 4.3.2 at once. Sessions of smtpd_client_reserve_classes
 *     are never evicted. Behind a balancer (PROXY protocol) admission is
 *     provisional at accept (any free slot) and decided again by
 *     smtpd_master_admit_session() once the header names the client. A client address whose session was evicted may
 *     not evict another for master_stress_evict_penalty: bots that
 *     reconnect the moment they are dropped cannot churn the slots.
 *
 *     Every session is counted open and closed (with its stress state
 *     and class), a personality change (stress or class) moves its count, and events are
 *     counted for status and metrics. A timer reads the stress flag
 *     every SCOREBOARD_POLL_MS and tightens open sessions when it rises
 *     (master_stress_tighten_sessions).
 * RULES
 *     All calls are no-ops in a standalone worker (srv->master NULL).
 * DIAGNOSTICS
 *     smtpd_master_attach() returns -1 with the reason; the caller exits
 *     with MASTER_PROTO_EXIT_CONFIG.
 */
#ifndef DOPPEL_SMTPD_SMTPD_MASTER_H
#define DOPPEL_SMTPD_SMTPD_MASTER_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "global/scoreboard.h"

struct personality;
struct smtpd_server;
struct session;

int     smtpd_master_attach(struct smtpd_server *srv, size_t service,
                            size_t wslot, struct dstr *why);
void    smtpd_master_detach(struct smtpd_server *srv);
int     smtpd_master_admit(struct smtpd_server *srv, size_t service,
                           const char *class_name, const struct netaddr *addr,
                           int fd, int provisional, int *stress);
int     smtpd_master_admit_session(struct session *s);
void    smtpd_master_session_open(struct session *s);
void    smtpd_master_session_close(struct session *s);
void    smtpd_master_session_move(struct session *s,
                                  const struct personality *from,
                                  const struct personality *to);
void    smtpd_master_count(struct smtpd_server *srv, size_t service,
                           enum scoreboard_counter counter);

#endif
