/*
 * NAME
 *     master_run - start, reload and stop the master; status for the CLI
 * SYNOPSIS
 *     #include "master/master_run.h"
 *
 *     m = master_run_new(base, config_dir, conf, foreground);
 *     master_run_start(m);            fatal on failure
 *     event_base_dispatch(base);
 *     master_run_reload(m, errors);   -1: refused, old config in force
 *     master_run_stop(m);             graceful, with a deadline
 *     master_run_status(m, body);
 *     m = master_run_free(m);
 * DESCRIPTION
 *     master_run_start() makes the scoreboard, binds every service,
 *     opens the control socket and metrics, starts the workers, and
 *     installs the signal events (TERM and INT stop, HUP reloads, CHLD
 *     reaps) and the stress tick.
 *
 *     master_run_reload() compiles the configuration directory first
 *     (conf_load), then builds the new generation's services (binding
 *     only what is new); if either fails the running configuration
 *     stays, the errors are logged and returned in *errors. If it
 *     succeeds the new workers start, then the old ones get SIGTERM:
 *     they stop accepting and exit when their last session ends, so
 *     no open session is dropped.
 *
 *     master_run_stop() closes the listeners, tells every worker to
 *     drain (SIGTERM), and after master_shutdown_timeout sends SIGQUIT
 *     (sessions get 421 and end), then SIGKILL MASTER_KILL_GRACE_MS
 *     later. The loop ends when the last worker is gone.

 * RULES
 *     One master per process.
 */
#ifndef DOPPEL_MASTER_MASTER_RUN_H
#define DOPPEL_MASTER_MASTER_RUN_H

#include <stdint.h>

#include "util/dstr.h"
#include "conf/conf.h"
#include "master/master.h"

struct event_base;

struct master *master_run_new(struct event_base *base, const char *config_dir,
                              struct conf *conf, int foreground);
void    master_run_start(struct master *m);
int     master_run_reload(struct master *m, struct dstr *errors);
void    master_run_stop(struct master *m);
int     master_run_status(struct master *m, struct dstr *body);
struct master *master_run_free(struct master *m);

#endif
