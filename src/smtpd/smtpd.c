/*
 * smtpd - doppel-smtpd, the SMTP server worker: main, arguments, signals.
 *
 * SECURITY
 *     doppel-smtpd talks to anyone on the network: every byte from a
 *     client is hostile until parsed with a limit (line length, chunk
 *     size, recipients, errors, time). It also reads DNS answers, which
 *     are no more trusted than clients. It trusts its configuration
 *     directory and the listening descriptors the master hands it.
 *     Under the master it runs as mail_owner without privileges (the
 *     master drops them before exec); standalone (for tests) it runs as
 *     whoever starts it and binds its own socket. It writes only into
 *     queue_directory, through global/queue_file, on worker threads.
 *     With smtpd_chroot it opens everything it reads, then chroots into
 *     queue_directory and drops its last capability (util/jail).
 *
 * USAGE
 *     doppel-smtpd -c DIR [--listen HOST:PORT] [--stress|--normal]
 *                  [--foreground]
 *     doppel-smtpd -c DIR --master --service INDEX --worker WSLOT
 *                  [--foreground]
 *
 *     Standalone (for tests): without --listen, every inet smtpd service
 *     of DIR/services.cf is bound; with it, the service whose listen
 *     address matches (its -o and -p apply), else the main file's
 *     personalities alone. Under doppel-master (--master): the listening
 *     socket is fd 3, the scoreboard fd 4 and the per-client limits
 *     table fd 5, as global/master_proto.h says; SIGTERM drains, SIGQUIT
 *     ends sessions with 421. Standalone, the limits table is private.
 */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "conf/services.h"
#include "global/anvil.h"
#include "global/master_proto.h"
#include "global/queue_dirs.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_classify.h"
#include "smtpd/smtpd_proxy.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_server.h"
#include "tables/table_lmdb.h"

#define SMTPD_PROGNAME "doppel/smtpd"
#define SMTPD_BACKLOG 512
#define SMTPD_STOP_GRACE_SEC 5          /* sessions get this long at stop */
#define SMTPD_HOST_MAX 256

static struct smtpd_server *smtpd_srv;
static struct event *smtpd_grace;

/* smtpd_usage - how to call us */
static void
smtpd_usage(void)
{
    fprintf(stderr, "usage: doppel-smtpd -c DIR [--listen HOST:PORT]"
            " [--stress|--normal] [--foreground]\n"
            "       doppel-smtpd -c DIR --master --service INDEX --worker"
            " WSLOT [--foreground]\n");
    exit(2);
}

/* smtpd_split_hostport - "HOST:PORT", "[V6]:PORT", "*:PORT" */
static int
smtpd_split_hostport(const char *text, char *host, size_t hsize, char *port,
                     size_t psize)
{
    const char *colon, *h = text;
    size_t  hlen;

    if (*text == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':')
            return -1;
        h = text + 1;
        hlen = (size_t) (close - h);
        colon = close + 1;
    } else {
        if ((colon = strrchr(text, ':')) == NULL)
            return -1;
        hlen = (size_t) (colon - text);
    }
    if (hlen >= hsize || str_copy(port, psize, colon + 1) < 0 || !*port)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    return 0;
}

/* smtpd_bind - a listening TCP socket for host (empty: any) and port */
static int
smtpd_bind(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int     fd = -1, on = 1, err;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((err = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0)
        log_fatal("listen %s:%s: %s", host, port, gai_strerror(err));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
            && listen(fd, SMTPD_BACKLOG) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        log_fatal("listen %s:%s: %m", *host ? host : "*", port);
    return fd;
}

/* smtpd_find_service - the services.cf entry for a listen address */
static size_t
smtpd_find_service(const struct conf *conf, const char *listen)
{
    char    host[SMTPD_HOST_MAX], port[32];
    size_t  i;
    const struct service_def *sd;

    if (conf->services == NULL)
        return CONF_NO_SERVICE;
    if (smtpd_split_hostport(listen, host, sizeof(host), port,
                             sizeof(port)) < 0)
        return CONF_NO_SERVICE;
    for (i = 0; i < conf->services->count; i++) {
        sd = &conf->services->items[i];
        if (sd->type != SERVICE_INET || strcmp(sd->program, "smtpd") != 0)
            continue;
        if (strcmp(sd->listen, listen) == 0
            || (strcmp(sd->port, port) == 0 && strcmp(sd->host, host) == 0))
            return i;
    }
    return CONF_NO_SERVICE;
}

/* smtpd_stress_of - a service's -p, unless the command line overrides */
static enum smtpd_stress
smtpd_stress_of(const struct conf *conf, size_t service,
                enum smtpd_stress cli)
{
    if (cli != SMTPD_STRESS_AUTO)
        return cli;
    if (service == CONF_NO_SERVICE)
        return SMTPD_STRESS_AUTO;
    switch (conf->services->items[service].force) {
    case SERVICE_FORCE_STRESS:
        return SMTPD_STRESS_ON;
    case SERVICE_FORCE_NORMAL:
        return SMTPD_STRESS_OFF;
    case SERVICE_FORCE_AUTO:
    default:
        return SMTPD_STRESS_AUTO;
    }
}

/*
 * smtpd_config_refused - the configuration cannot be used. Under the
 * master that is its own exit status, which it does not count as a crash.
 */
static void
smtpd_config_refused(int under_master, struct dstr *errors)
{
    if (under_master) {
        log_error("configuration refused: %s", errors->data);
        exit(MASTER_PROTO_EXIT_CONFIG);
    }
    log_fatal("%s", errors->data);
}

/* smtpd_grace_over - sessions had their chance: stop the loop */
static void
smtpd_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) event_base_loopbreak(arg);
}

/* smtpd_signal - SIGTERM/SIGINT: stop accepting, let sessions end */
static void
smtpd_signal(evutil_socket_t sig, short what, void *arg)
{
    struct event_base *base = arg;
    struct timeval tv = {SMTPD_STOP_GRACE_SEC, 0};

    (void) what;
    if (smtpd_srv->master != NULL) {
        /* the master's worker: TERM drains, QUIT ends sessions now */
        if (sig == SIGQUIT) {
            log_info("smtpd: shutting down sessions");
            smtpd_server_stop(smtpd_srv);
        } else if (!smtpd_srv->stopping) {
            log_info("smtpd: draining: no new sessions");
            smtpd_server_drain(smtpd_srv);
        }
        return;
    }
    if (smtpd_srv->stopping) {
        (void) event_base_loopbreak(base);
        return;
    }
    log_info("smtpd: signal %d: stopping", (int) sig);
    smtpd_server_stop(smtpd_srv);
    smtpd_grace = evtimer_new(base, smtpd_grace_over, base);
    if (smtpd_grace != NULL)
        evtimer_add(smtpd_grace, &tv);
}

/* smtpd_loop_done - the loop may end once no session is left */
static void
smtpd_loop_done(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    if (smtpd_srv->stopping && smtpd_srv->nsessions == 0)
        (void) event_base_loopbreak(arg);
}

typedef int smtpd_personality_fn(const struct params *p, void *arg);

/*
 * smtpd_each_personality - fn for every personality of every service
 * (and of the main file), each class, normal and stress; -1 if any
 * call returned -1
 */
static int
smtpd_each_personality(const struct conf *conf, smtpd_personality_fn *fn,
                       void *arg)
{
    size_t  svc, cls, nsvc = conf->services ? conf->services->count : 0;
    int     stress, ret = 0;

    for (svc = 0; svc <= nsvc; svc++)
        for (cls = 0; cls <= conf->nclasses; cls++)
            for (stress = 0; stress < 2; stress++)
                if (fn(conf_params(conf, svc == nsvc ? CONF_NO_SERVICE : svc,
                                   cls == conf->nclasses ? NULL
                                   : conf->classes[cls], stress), arg) < 0)
                    ret = -1;
    return ret;
}

/*
 * smtpd_compile_one - one personality's lists, maps and settings, now:
 * a broken table stops the worker at start, not a session. Every
 * personality of a service shares most of them: each error is reported
 * once.
 */
static int
smtpd_compile_one(const struct params *p, void *arg)
{
    struct dstr *errors = arg;
    struct dstr *mine = dstr_new(128, 65536);
    size_t  i;
    int     ret = 0;

    for (i = 0; i < p->smtpd_milters.count; i++) {
        struct dstr *why = dstr_new(128, 4096);

        if (smtpd_milter_check(p->smtpd_milters.items[i], why) < 0) {
            (void) dstr_appendf(mine, "smtpd_milters: %s", why->data);
            ret = -1;
        }
        dstr_free(why);
    }
    if (smtpd_check_compile(p, mine) < 0
        || smtpd_classify_compile(p, mine) < 0
        || smtpd_limits_compile(p, mine) < 0)
        ret = -1;
    if (smtpd_proxy_protocol(p->smtpd_upstream_proxy_protocol)
        == SMTPD_PROXY_UNSUPPORTED) {
        (void) dstr_appendf(mine, "smtpd_upstream_proxy_protocol: \"%s\":"
                            " use haproxy, or leave it empty\n",
                            p->smtpd_upstream_proxy_protocol);
        ret = -1;
    }
    if (mine->len > 0 && strstr(errors->data, mine->data) == NULL)
        (void) dstr_append_str(errors, mine->data);
    dstr_free(mine);
    return ret;
}

/* smtpd_jail_same_queue - a personality that writes outside the jail */
static int
smtpd_jail_same_queue(const struct params *p, void *arg)
{
    struct dstr *errors = arg;

    if (strcmp(p->queue_directory, jail_path(p->queue_directory)) == 0
        && !strstr(errors->data, p->queue_directory)) {
        (void) dstr_appendf(errors, "smtpd_chroot: queue_directory %s of a"
                            " personality is outside the chroot\n",
                            p->queue_directory);
        return -1;
    }
    return 0;
}

/* smtpd_jail_open_maps - what a personality looks up, opened now */
static int
smtpd_jail_open_maps(const struct params *p, void *arg)
{
    smtpd_classify_prepare(arg, p);
    return 0;
}

/*
 * smtpd_table_replaced - in the chroot, a rebuilt lmdb table cannot be
 * reopened by name: under the master this worker retires once its
 * sessions end, and the one that replaces it opens the new file
 */
static void
smtpd_table_replaced(const char *source)
{
    if (smtpd_srv->master == NULL) {
        log_warn("lmdb table %s was rebuilt: restart doppel-smtpd to read it"
                 " (its chroot hides the new file)", source);
        return;
    }
    log_info("lmdb table %s was rebuilt: this worker retires once its"
             " sessions end, and a new one reads it (its chroot hides the"
             " new file)", source);
    smtpd_server_drain(smtpd_srv);
}

/*
 * smtpd_jail - smtpd_chroot: with every file open (tables, certificates,
 * resolver files, the history store, the syslog socket, the time zone),
 * make queue_directory the root and drop the last capability
 */
static void
smtpd_jail(int under_master, const struct conf *conf)
{
    struct dstr *errors = dstr_new(256, 65536);

    (void) smtpd_each_personality(conf, smtpd_jail_open_maps,
                                  smtpd_srv->classify);
    log_connect();
    tzset();
    if (jail_enter(errors) < 0
        || smtpd_each_personality(conf, smtpd_jail_same_queue, errors) < 0)
        smtpd_config_refused(under_master, errors);
    dstr_free(errors);
    table_lmdb_on_replaced(smtpd_table_replaced);
    log_info("smtpd: chroot %s", jail_root());
}

/*
 * smtpd_anvil - the per-client limits table: under the master the one on
 * MASTER_PROTO_ANVIL_FD that every worker of the host shares; standalone
 * (or if the master's is unusable, which is logged) one of our own, so
 * that the limits then count this process alone.
 */
static void
smtpd_anvil(struct smtpd_server *srv, int under_master, size_t wslot)
{
    struct dstr *why = dstr_new(128, 1024);

    srv->anvil_wslot = wslot;
    if (under_master
        && (srv->anvil = anvil_attach(MASTER_PROTO_ANVIL_FD, why)) == NULL)
        log_warn("%s: per-client limits count this worker alone", why->data);
    if (srv->anvil == NULL) {
        dstr_reset(why);
        if ((srv->anvil = anvil_create(ANVIL_ENTRIES_DEFAULT, why)) == NULL)
            log_fatal("%s", why->data);
    }
    dstr_free(why);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"stress", no_argument, NULL, 'S'},
        {"normal", no_argument, NULL, 'N'},
        {"foreground", no_argument, NULL, 'f'},
        MASTER_PROTO_WORKER_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct master_proto_worker wk;
    const char *dir = CONF_DEFAULT_DIR, *listen_arg = NULL;
    enum smtpd_stress cli_stress = SMTPD_STRESS_AUTO;
    int     foreground = 0, c, fd, nlisten = 0;
    struct conf *conf = NULL;
    const struct params *served;
    struct dstr *errors;
    struct event_base *base;
    struct event *sigterm, *sigint, *tick;
    struct timeval tick_tv = {0, 100 * 1000};
    char    host[SMTPD_HOST_MAX], port[32];
    size_t  service, i;

    master_proto_worker_init(&wk);
    while ((c = getopt_long(argc, argv, "c:l:f", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            dir = optarg;
            break;
        case 'l':
            listen_arg = optarg;
            break;
        case 'S':
            cli_stress = SMTPD_STRESS_ON;
            break;
        case 'N':
            cli_stress = SMTPD_STRESS_OFF;
            break;
        case 'f':
            foreground = 1;
            break;
        default:
            if (master_proto_worker_option(&wk, c, optarg) <= 0)
                smtpd_usage();
        }
    }
    if (optind != argc || !master_proto_worker_complete(&wk)
        || (wk.under_master && listen_arg != NULL))
        smtpd_usage();
    log_open(SMTPD_PROGNAME, foreground ? LOG_SINK_STDERR : LOG_SINK_SYSLOG);
    event_set_log_callback(log_libevent);
    (void) signal(SIGPIPE, SIG_IGN);

    errors = dstr_new(256, 64 * 1024);
    if (conf_load(dir, &conf, errors) < 0)
        smtpd_config_refused(wk.under_master, errors);
    dstr_reset(errors);
    if (queue_dirs_create(conf_params(conf, CONF_NO_SERVICE,
                                      PERSONALITY_DEFAULT_CLASS,
                                      0)->queue_directory, errors) < 0)
        log_fatal("queue_directory: %s", errors->data);
    if (smtpd_each_personality(conf, smtpd_compile_one, errors) < 0)
        smtpd_config_refused(wk.under_master, errors);
    if (wk.under_master)
        service = (size_t) wk.service;
    else if (listen_arg != NULL)
        service = smtpd_find_service(conf, listen_arg);
    else
        service = CONF_NO_SERVICE;
    /* before any thread: a user namespace needs a single-threaded caller */
    served = conf_params(conf, service, PERSONALITY_DEFAULT_CLASS, 0);
    if (served->smtpd_chroot) {
        dstr_append_str(errors, "smtpd_chroot: ");
        if (jail_plan(served->queue_directory, errors) < 0)
            smtpd_config_refused(wk.under_master, errors);
    }
    errors = dstr_free(errors);

    if (evthread_use_pthreads() < 0)
        log_fatal("libevent: no thread support");
    if ((base = event_base_new()) == NULL)
        log_fatal("libevent: cannot make an event base");
    smtpd_srv = smtpd_server_new(base, conf);

    if (wk.under_master) {
        if (smtpd_server_listen(smtpd_srv, MASTER_PROTO_LISTEN_FD, service,
                                service < conf->services->count
                                ? smtpd_stress_of(conf, service, cli_stress)
                                : SMTPD_STRESS_AUTO) < 0)
            log_fatal("listen on fd %d: %m", MASTER_PROTO_LISTEN_FD);
        errors = dstr_new(256, 4096);
        if (smtpd_master_attach(smtpd_srv, service, (size_t) wk.worker,
                                errors) < 0)
            smtpd_config_refused(1, errors);
        errors = dstr_free(errors);
        nlisten++;
    } else if (listen_arg != NULL) {
        if (smtpd_split_hostport(listen_arg, host, sizeof(host), port,
                                 sizeof(port)) < 0)
            log_fatal("--listen %s: use HOST:PORT or [IPV6]:PORT", listen_arg);
        fd = smtpd_bind(host, port);
        if (smtpd_server_listen(smtpd_srv, fd, service,
                                smtpd_stress_of(conf, service,
                                                cli_stress)) < 0)
            log_fatal("listen %s: %m", listen_arg);
        nlisten++;
    } else {
        for (i = 0; conf->services && i < conf->services->count; i++) {
            const struct service_def *sd = &conf->services->items[i];

            if (sd->type != SERVICE_INET || strcmp(sd->program, "smtpd") != 0)
                continue;
            fd = smtpd_bind(sd->host, sd->port);
            if (smtpd_server_listen(smtpd_srv, fd, i,
                                    smtpd_stress_of(conf, i, cli_stress)) < 0)
                log_fatal("listen %s: %m", sd->listen);
            nlisten++;
        }
    }
    if (nlisten == 0)
        log_fatal("nothing to listen on: give --listen HOST:PORT or an"
                  " smtpd service in %s/%s", dir, CONF_SERVICES_FILE);
    smtpd_anvil(smtpd_srv, wk.under_master,
                wk.under_master ? (size_t) wk.worker : 0);
    if (served->smtpd_chroot)
        smtpd_jail(wk.under_master, conf);

    sigterm = evsignal_new(base, SIGTERM, smtpd_signal, base);
    sigint = evsignal_new(base, wk.under_master ? SIGQUIT : SIGINT,
                          smtpd_signal, base);
    if (wk.under_master)
        (void) signal(SIGHUP, SIG_IGN);
    tick = event_new(base, -1, EV_PERSIST, smtpd_loop_done, base);
    if (sigterm == NULL || sigint == NULL || tick == NULL)
        log_fatal("libevent: cannot make signal events");
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evtimer_add(tick, &tick_tv);
    log_info("smtpd: ready (%d listener%s)", nlisten, nlisten == 1 ? "" : "s");

    (void) event_base_dispatch(base);

    event_free(tick);
    event_free(sigterm);
    event_free(sigint);
    if (smtpd_grace != NULL)
        event_free(smtpd_grace);
    smtpd_srv = smtpd_server_free(smtpd_srv);
    event_base_free(base);
    conf = conf_free(conf);
    libevent_global_shutdown();
    log_info("smtpd: stopped");
    return 0;
}
