/*
 * NAME
 *     smtpd_server - one worker's listeners, shared resources and sessions
 * SYNOPSIS
 *     #include "smtpd/smtpd_server.h"
 *
 *     srv = smtpd_server_new(base, conf);
 *     smtpd_server_listen(srv, fd, service, SMTPD_STRESS_AUTO);
 *     event_base_dispatch(base);
 *     smtpd_server_stop(srv);
 *     srv = smtpd_server_free(srv);
 * DESCRIPTION
 *     A server is what the sessions of one worker process share: the
 *     event base, the configuration, the resolver, the TLS context and
 *     the queue writer threads, and the list of open sessions.
 *
 *     smtpd_server_listen() accepts connections on a listening socket
 *     that someone else made (the master passes inherited descriptors;
 *     standalone mode binds its own) for service index service (or
 *     CONF_NO_SERVICE for the main file alone). stress says how new
 *     sessions pick their personality: SMTPD_STRESS_ON or OFF force it
 *     (a service with -p, or --stress/--normal), AUTO follows
 *     smtpd_server_set_stress().
 *
 *     smtpd_server_set_stress() changes the stress state of the AUTO
 *     listeners of a service; with tighten, open sessions of that
 *     service switch to the new personality (smtpd_session_set_personality).
 *
 *     smtpd_server_stop() closes the listeners and ends every session
 *     with "421 4.3.2 Service shutting down"; the loop then ends when
 *     the last one is gone.
 * RULES
 *     One server per event base. smtpd_server_free() after the loop has
 *     returned; it waits for outstanding queue jobs.
 * DIAGNOSTICS
 *     Unusable resources are fatal: the queue directory at
 *     smtpd_server_new(), a service's TLS files (its own
 *     smtpd_tls_cert_file and smtpd_tls_key_file, -o included) at
 *     smtpd_server_listen(); accept errors are logged and retried. Out of
 *     descriptors (EMFILE, ENFILE) or kernel memory, a listener pauses
 *     100 ms, doubling up to 1 s, until accept works again, with one
 *     warning ("accept: Too many open files; pausing accepts for 100
 *     ms") and one info line ("working again after N pause(s)").
 * SEE ALSO
 *     smtpd/smtpd_session.h, conf/conf.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_SERVER_H
#define DOPPEL_SMTPD_SMTPD_SERVER_H

#include <stddef.h>

#include "conf/conf.h"

struct anvil;
struct event_base;
struct session;
struct smtpd_listener;
struct smtpd_master;
struct smtpd_server_tls;
struct smtpd_tls;

enum smtpd_stress {
    SMTPD_STRESS_AUTO,
    SMTPD_STRESS_OFF,
    SMTPD_STRESS_ON,
};

struct smtpd_server {
    struct event_base *base;
    const struct conf *conf;
    const struct params *p;            /* main file, normal: server-wide */
    struct smtpd_dns *dns;
    struct smtpd_server_tls *tls;      /* STARTTLS contexts, by service */
    struct smtpd_queue *queue;
    struct smtpd_policy *policy;       /* policy server connections */
    struct smtpd_classify *classify;   /* client classes and history */
    struct smtpd_listener *listeners;
    struct smtpd_master *master;       /* NULL: a standalone worker */
    struct anvil *anvil;               /* per-client limits table (owned) */
    size_t  anvil_wslot;               /* our worker slot in it */
    struct session *sessions;
    size_t  nsessions;
    unsigned long next_id;
    int     stopping;
};


struct smtpd_server *smtpd_server_new(struct event_base *base,
                                      const struct conf *conf);
struct smtpd_tls *smtpd_server_tls(const struct smtpd_server *srv,
                                   size_t service);
int     smtpd_server_listen(struct smtpd_server *srv, int fd, size_t service,
                            enum smtpd_stress stress);
void    smtpd_server_set_stress(struct smtpd_server *srv, size_t service,
                                int stress, int tighten);
void    smtpd_server_add(struct smtpd_server *srv, struct session *s);
void    smtpd_server_remove(struct smtpd_server *srv, struct session *s);
void    smtpd_server_stop(struct smtpd_server *srv);
void    smtpd_server_drain(struct smtpd_server *srv);
struct smtpd_server *smtpd_server_free(struct smtpd_server *srv);
const char *smtpd_server_hostname(const struct params *p);

#endif
