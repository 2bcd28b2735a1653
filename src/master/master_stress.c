/* master_stress - raise and clear stress per service, with hysteresis. */

#include <stdint.h>

#include "util/log.h"
#include "conf/conf.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_stress.h"

/* ms_log_on - the one line for a raise, with the counts */
static void
ms_log_on(const struct master_service *svc, const struct scoreboard_view *v)
{
    if (v->threshold < v->limit)
        log_warn("service %s: all %lld ordinary client slots busy"
                 " (smtpd_client_limit %lld, reserve %lld); stress on"
                 " (open %lld: normal %lld, stress %lld)",
                 svc->def->listen, (long long) v->threshold,
                 (long long) v->limit, (long long) (v->limit - v->threshold),
                 (long long) v->open, (long long) v->by_stress[0],
                 (long long) v->by_stress[1]);
    else
        log_warn("service %s: all %lld client slots busy; stress on"
                 " (open %lld: normal %lld, stress %lld)",
                 svc->def->listen, (long long) v->limit, (long long) v->open,
                 (long long) v->by_stress[0], (long long) v->by_stress[1]);
}

/*
 * master_stress_update - one tick of one service.
 *
 * The clear decision uses the master's monotonic clock, never the wall
 * clock in the scoreboard, so a clock step cannot clear stress early.
 */
int
master_stress_update(struct scoreboard *sb, struct master_service *svc,
                     int64_t now_mono, int64_t now_ms)
{
    struct scoreboard_view v;
    int64_t busy, peak;
    double  clear_level;

    peak = scoreboard_peak_take(sb, svc->slot);
    if (scoreboard_service_read(sb, svc->slot, &v) < 0)
        return 0;
    if (v.force != SERVICE_FORCE_AUTO) {
        svc->logged_stress = v.stress;
        svc->low_since_mono = 0;
        svc->clear_at_ms = 0;
        return 0;
    }
    busy = peak > v.open ? peak : v.open;
    if (!v.stress && v.threshold > 0 && busy >= v.threshold) {
        scoreboard_stress_set(sb, svc->slot, 1, SCOREBOARD_REASON_FULL, now_ms);
        v.stress = 1;
    }
    if (!v.stress) {
        if (svc->logged_stress)        /* someone else cleared it */
            log_info("service %s: stress off (%s)", svc->def->listen,
                     scoreboard_reason_name(v.reason));
        svc->logged_stress = 0;
        svc->low_since_mono = 0;
        svc->clear_at_ms = 0;
        return 0;
    }
    if (!svc->logged_stress) {
        ms_log_on(svc, &v);
        svc->logged_stress = 1;
        svc->low_since_mono = 0;
        svc->clear_at_ms = 0;
        return 1;
    }
    clear_level = svc->p->master_stress_clear_ratio * (double) v.limit;
    if ((double) busy > clear_level) {
        svc->low_since_mono = 0;
        svc->clear_at_ms = 0;
        return 0;
    }
    if (svc->low_since_mono == 0) {
        svc->low_since_mono = now_mono;
        svc->clear_at_ms = now_ms + svc->p->master_stress_clear_delay;
    }
    if (now_mono - svc->low_since_mono < svc->p->master_stress_clear_delay)
        return 0;
    if (scoreboard_stress_set(sb, svc->slot, 0, SCOREBOARD_REASON_CLEARED,
                              now_ms) < 0)
        return 0;
    log_info("service %s: %lld of %lld client slots busy for %lldms"
             " (at or below %.0f); stress off (%llu transitions)",
             svc->def->listen, (long long) busy, (long long) v.limit,
             (long long) (now_mono - svc->low_since_mono), clear_level,
             (unsigned long long) v.counters[SCOREBOARD_TRANSITIONS] + 1);
    svc->logged_stress = 0;
    svc->low_since_mono = 0;
    svc->clear_at_ms = 0;
    return -1;
}
