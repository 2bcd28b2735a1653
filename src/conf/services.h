/*
 * NAME
 *     services - parse services.cf, the list of services the master runs
 * SYNOPSIS
 *     #include "conf/services.h"
 * DESCRIPTION
 *     One service per line, master.cf style:
 *
 *         LISTEN  TYPE  WORKERS  PROGRAM  [options]
 *
 *     LISTEN is host:port, [ipv6]:port, *:port, or a unix socket path
 *     (TYPE unix); TYPE is inet or unix; WORKERS a positive number (or
 *     '-' for 1); PROGRAM the daemon (smtpd, relay). Options are
 *     "-o name=value" (a parameter override for this service only, which
 *     joins its personality lookup: -o stress_smtpd_timeout=5s is
 *     allowed) and "-p auto|normal|stress" (force the stress
 *     personality on or off). Lines starting with white space continue
 *     the previous line; '#' lines are comments.
 * RULES
 *     services_free() returns NULL.
 * DIAGNOSTICS
 *     "FILE:LINE: message" appended to *errors, and -1.
 */
#ifndef DOPPEL_CONF_SERVICES_H
#define DOPPEL_CONF_SERVICES_H

#include <stddef.h>

#include "conf/cfparse.h"
#include "util/dstr.h"

#define SERVICES_WORKERS_MAX 256

enum service_type {
    SERVICE_INET,
    SERVICE_UNIX,
};

enum service_force {
    SERVICE_FORCE_AUTO,                /* stress follows the master */
    SERVICE_FORCE_NORMAL,              /* never stressed */
    SERVICE_FORCE_STRESS,              /* always stressed (test port) */
};

struct service_def {
    char   *listen;                    /* as written: "127.0.0.1:2526" */
    enum service_type type;
    char   *host;                      /* inet: address, "" for any */
    char   *port;                      /* inet: port number or name */
    char   *path;                      /* unix: socket path */
    int     workers;
    char   *program;
    enum service_force force;
    struct cf_table *overrides;        /* -o name=value */
    const char *file;
    int     line;
};

struct service_list {
    struct service_def *items;
    size_t  count;
    char   *file;
};

struct service_list *services_parse_file(const char *path, struct dstr *errors);
struct service_list *services_parse_buffer(const char *file, const char *buf,
                                           size_t len, struct dstr *errors);
struct service_list *services_free(struct service_list *list);
const char *services_force_name(enum service_force force);

#endif
