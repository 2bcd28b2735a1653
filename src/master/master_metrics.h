/*
 * NAME
 *     master_metrics - Prometheus text exposition over HTTP
 * SYNOPSIS
 *     #include "master/master_metrics.h"
 *
 *     m->metrics = master_metrics_open(m, p->metrics_listen, why);
 *     master_metrics_format(m, out);
 *     m->metrics = master_metrics_close(m->metrics);
 * DESCRIPTION
 *     Serves GET /metrics (any path works; HEAD too) on metrics_listen
 *     ("host:port" or "[v6addr]:port"; empty: off) with libevent's
 *     evhttp: the text format 0.0.4, one family per counter or gauge,
 *     labelled by service (its LISTEN), personality (normal, stress)
 *     and class:
 *
 *         doppel_sessions{service,personality}       gauge
 *         doppel_sessions_by_class{service,class}    gauge
 *         doppel_client_limit{service}               gauge
 *         doppel_stress{service}                     gauge 0/1
 *         doppel_stress_since_seconds{service}       gauge (unix time)
 *         doppel_stress_transitions_total{service}   counter
 *         doppel_connections_total{service}          counter
 *         doppel_messages_accepted_total{service}    counter
 *         doppel_messages_rejected_total{service}    counter
 *         doppel_timeouts_total{service}             counter
 *         doppel_full_refusals_total{service}        counter (421 4.3.2)
 *         doppel_evictions_total{service}            counter
 *         doppel_worker_restarts_total{service}      counter
 *         doppel_workers{service}                    gauge
 *         doppel_config_generation, doppel_reload_failures_total,
 *         doppel_log_dropped_total
 * RULES
 *     The endpoint is for a loopback or management address: it has no
 *     authentication. Requests have a 10 s timeout and small header and
 *     body limits.
 * DIAGNOSTICS
 *     master_metrics_open() returns NULL with *why set when the address
 *     is bad or cannot be bound, and NULL with *why empty when off.
 */
#ifndef DOPPEL_MASTER_MASTER_METRICS_H
#define DOPPEL_MASTER_MASTER_METRICS_H

#include "util/dstr.h"
#include "master/master.h"

#define MASTER_METRICS_TIMEOUT_S 10

struct master_metrics *master_metrics_open(struct master *m, const char *listen,
                                           struct dstr *why);
struct master_metrics *master_metrics_close(struct master_metrics *mm);
const char *master_metrics_listen(const struct master_metrics *mm);
int     master_metrics_format(struct master *m, struct dstr *out);

#endif
