/*
 * NAME
 *     master_service - listening sockets and the services of a generation
 * SYNOPSIS
 *     #include "master/master_service.h"
 *
 *     fd = master_service_bind(def, why);
 *     n = master_service_build(m, conf, &services, errors);
 *     services = master_service_free(services, n);
 * DESCRIPTION
 *     master_service_bind() makes the listening socket of one service:
 *     inet host:port (IPv4, or IPv6 for a bracketed or colon address;
 *     "*" or an empty host is every address, dual stack), or a unix
 *     socket path (a stale socket file is removed; the socket gets mode
 *     0666, the directory decides who may connect). Sockets are
 *     non-blocking, close-on-exec, SO_REUSEADDR, backlog
 *     MASTER_SERVICE_BACKLOG.
 *
 *     master_service_build() makes the services of a new generation for
 *     conf: a service whose LISTEN and type are unchanged takes over
 *     the socket of the current one (no connection is refused during a
 *     reload), others are bound afresh; each gets a scoreboard slot
 *     (the same one as before for an unchanged LISTEN) and its worker
 *     program. Either every service is ready or nothing changed: on an
 *     error the new sockets are closed and the old services keep theirs.
 *
 *     master_service_program() is the worker program for PROGRAM:
 *     $DOPPEL_<PROGRAM>_PROGRAM (e.g. DOPPEL_SMTPD_PROGRAM, for tests),
 *     else doppel-PROGRAM next to doppel-master.
 * RULES
 *     After a successful build, the caller moves ownership with
 *     master_service_adopt(): unchanged sockets move to the new
 *     services; the old services' other sockets are closed.
 * DIAGNOSTICS
 *     "FILE:LINE: LISTEN: cannot bind: reason" in *errors, and -1.
 */
#ifndef DOPPEL_MASTER_MASTER_SERVICE_H
#define DOPPEL_MASTER_MASTER_SERVICE_H

#include <stddef.h>

#include "util/dstr.h"
#include "conf/conf.h"
#include "master/master.h"

#define MASTER_SERVICE_BACKLOG 1024

int     master_service_bind(const struct service_def *def, struct dstr *why);
int     master_service_build(struct master *m, const struct conf *conf,
                             struct master_service **out, struct dstr *errors);
void    master_service_adopt(struct master *m, struct master_service *svcs,
                             size_t n);
struct master_service *master_service_free(struct master_service *svcs,
                                           size_t n);
char   *master_service_program(const char *self_dir, const char *program);

#endif
