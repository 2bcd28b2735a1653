/*
 * NAME
 *     master_stress - the stress state machine of one service
 * SYNOPSIS
 *     #include "master/master_stress.h"
 *
 *     change = master_stress_update(sb, svc, now_mono, now_ms);
 * DESCRIPTION
 *     Called every MASTER_TICK_MS for every service of the current
 *     generation. busy is the larger of the open sessions now and the
 *     peak since the last tick (scoreboard_peak_take()), so a burst
 *     between ticks is not missed.
 *
 *     Raise: busy >= smtpd_client_limit - smtpd_client_reserve turns
 *     stress on (a worker may have done so already, see
 *     global/scoreboard.h); either way the transition is logged once:
 *     "service L: all N client slots busy; stress on".
 *     Clear: while on, when busy has stayed <= master_stress_clear_ratio
 *     x limit at every tick for master_stress_clear_delay, stress goes
 *     off and that is logged with the counts. Any tick above the ratio
 *     restarts the delay.
 *     A service with -p stress or -p normal never changes; its state is
 *     set by scoreboard_service_setup().
 * RULES
 *     The limits come from the scoreboard slot (written at start and
 *     reload); ratio and delay from svc->p.
 * DIAGNOSTICS
 *     Returns 1 when it turned stress on or logged a worker's raise, -1
 *     when it cleared, 0 otherwise.
 */
#ifndef DOPPEL_MASTER_MASTER_STRESS_H
#define DOPPEL_MASTER_MASTER_STRESS_H

#include <stdint.h>

#include "global/scoreboard.h"
#include "master/master.h"

int     master_stress_update(struct scoreboard *sb, struct master_service *svc,
                             int64_t now_mono, int64_t now_ms);

#endif
