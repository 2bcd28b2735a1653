/*
 * NAME
 *     master_control - the control socket: status, reload, stop
 * SYNOPSIS
 *     #include "master/master_control.h"
 *
 *     m->control = master_control_open(m, path, why);
 *     m->control = master_control_close(m->control);
 * DESCRIPTION
 *     Listens on a unix socket (mode 0600, made under umask 077 so it is
 *     never reachable by others, not even for an instant) and answers
 *     one request per connection with the messages of
 *     global/master_proto.h: STATUS (master_run_status()), RELOAD
 *     (master_run_reload(): the reply carries the errors when refused),
 *     STOP (master_run_stop(), after the reply is sent).
 * RULES
 *     At most MASTER_CONTROL_CLIENTS_MAX connections at once; each has
 *     MASTER_CONTROL_TIMEOUT_S for its whole exchange and may send at
 *     most one header and MASTER_CONTROL_REQUEST_MAX body bytes; a
 *     malformed request closes the connection, logged.
 * DIAGNOSTICS
 *     master_control_open() returns NULL with the reason in *why.
 */
#ifndef DOPPEL_MASTER_MASTER_CONTROL_H
#define DOPPEL_MASTER_MASTER_CONTROL_H

#include "util/dstr.h"
#include "master/master.h"

#define MASTER_CONTROL_REQUEST_MAX 4096

struct master_control *master_control_open(struct master *m, const char *path,
                                           struct dstr *why);
struct master_control *master_control_close(struct master_control *c);

#endif
