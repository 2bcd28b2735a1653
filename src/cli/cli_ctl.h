/*
 * NAME
 *     cli_ctl - "doppel start|stop|reload|status": control the master
 * SYNOPSIS
 *     #include "cli/cli_ctl.h"
 *
 *     doppel [-c DIR] start [-f]
 *     doppel [-c DIR] stop [-t SECONDS]
 *     doppel [-c DIR] reload
 *     doppel [-c DIR] status [--json]
 * DESCRIPTION
 *     start executes doppel-master (found as $DOPPEL_MASTER_PROGRAM,
 *     else next to this program, else in ../libexec/doppel/), with -f
 *     in the foreground (systemd, make run); without -f the master
 *     becomes a daemon and start returns when it serves, or fails with
 *     its error. The other commands read run_directory from the
 *     configuration and talk to the master over its control socket
 *     (global/master_proto.h): stop asks for a graceful stop and waits
 *     (at most -t seconds, default 60) for the master to exit; reload
 *     prints the errors when the master refuses the new configuration
 *     (exit 1: the old one stays in force); status prints one row per
 *     service: open/limit, stress on or off, since when and why,
 *     sessions per personality, workers; --json prints the same as one
 *     JSON object for scripts.
 * DIAGNOSTICS
 *     Exit 0 done, 1 failed (the master is not running, refused, timed
 *     out), 2 usage.
 */
#ifndef DOPPEL_CLI_CLI_CTL_H
#define DOPPEL_CLI_CLI_CTL_H

#include "util/dstr.h"
#include "global/master_proto.h"

#define CLI_CTL_TIMEOUT_MS 30000        /* a reply from the master */
#define CLI_CTL_STOP_WAIT_S 60

int     cli_ctl_start_main(int argc, char **argv);
int     cli_ctl_stop_main(int argc, char **argv);
int     cli_ctl_reload_main(int argc, char **argv);
int     cli_ctl_status_main(int argc, char **argv);
void    cli_ctl_status_table(struct dstr *out,
                             const struct master_proto_status *st,
                             long long now_ms);
void    cli_ctl_status_json(struct dstr *out,
                            const struct master_proto_status *st);

#endif
