/* master_run - the master's life: start, ticks, signals, reload, graceful stop. */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/anvil.h"
#include "global/master_proto.h"
#include "global/queue_dirs.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_control.h"
#include "master/master_metrics.h"
#include "master/master_run.h"
#include "master/master_service.h"
#include "master/master_spawn.h"
#include "master/master_stress.h"

#define MR_SIGNALS 5
#define MR_TMP_MIN_AGE 3600            /* seconds: tmp/ files older are dead */

static struct event *mr_signal_ev[MR_SIGNALS];

/* mr_main_params - the main file's normal personality */
static const struct params *
mr_main_params(const struct conf *conf)
{
    return conf_params(conf, CONF_NO_SERVICE, PERSONALITY_DEFAULT_CLASS, 0);
}

/* mr_self_dir - the directory of our own executable */
static char *
mr_self_dir(void)
{
    char    path[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    if (n <= 0)
        return xstrdup(".");
    path[n] = 0;
    if ((slash = strrchr(path, '/')) == NULL)
        return xstrdup(".");
    *slash = 0;
    return xstrdup(*path ? path : "/");
}

/* master_run_new - a master for conf; nothing bound or started yet */
struct master *
master_run_new(struct event_base *base, const char *config_dir,
               struct conf *conf, int foreground)
{
    struct master *m = xcalloc(1, sizeof(*m));
    struct dstr *why = dstr_new(128, 1024);

    m->base = base;
    m->config_dir = xstrdup(config_dir);
    m->conf = conf;
    m->run_dir = xstrdup(mr_main_params(conf)->run_directory);
    m->self_dir = mr_self_dir();
    m->foreground = foreground;
    m->sb = scoreboard_create();
    /* once per master: the counts outlive reloads, as the workers do */
    if ((m->anvil = anvil_create(ANVIL_ENTRIES_DEFAULT, why)) == NULL)
        log_fatal("%s", why->data);
    dstr_free(why);
    m->started_ms = master_spawn_now_ms();
    m->shutdown_timeout_ms = mr_main_params(conf)->master_shutdown_timeout;
    return m;
}

/* mr_maybe_done - while stopping, end the loop when no worker is left */
static void
mr_maybe_done(struct master *m)
{
    if (m->stopping && m->workers == NULL) {
        log_info("all workers have exited; stopping");
        event_base_loopexit(m->base, NULL);
    }
}

/* mr_tick - the stress machine of every service; finish a stop */
static void
mr_tick(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    int64_t now_mono = master_spawn_now_mono(), now_ms = master_spawn_now_ms();
    size_t  i;

    (void) fd;
    (void) what;
    for (i = 0; i < m->nservices; i++)
        master_stress_update(m->sb, &m->services[i], now_mono, now_ms);
    mr_maybe_done(m);
}

/* mr_signal - TERM/INT stop, HUP reloads, CHLD reaps */
static void
mr_signal(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    struct dstr *errors;

    (void) what;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        log_info("signal %d: stopping", (int) sig);
        master_run_stop(m);
        break;
    case SIGHUP:
        log_info("SIGHUP: reloading %s", m->config_dir);
        errors = dstr_new(256, DSTR_UNLIMITED);
        (void) master_run_reload(m, errors);
        dstr_free(errors);
        break;
    case SIGCHLD:
        master_spawn_reap(m);
        mr_maybe_done(m);
        break;
    default:
        break;
    }
}

/* mr_open_metrics - (re)open the endpoint when the address changed */
static void
mr_open_metrics(struct master *m, const char *listen, int fatal)
{
    struct dstr *why;

    if (m->metrics != NULL
        && strcmp(master_metrics_listen(m->metrics), listen) == 0)
        return;
    m->metrics = master_metrics_close(m->metrics);
    why = dstr_new(64, 1024);
    m->metrics = master_metrics_open(m, listen, why);
    if (m->metrics == NULL && why->len > 0) {
        if (fatal)
            log_fatal("%s", why->data);
        log_error("%s; metrics are off", why->data);
    } else if (m->metrics != NULL)
        log_info("metrics on http://%s/metrics", listen);
    dstr_free(why);
}

/* mr_own_dir - make dir (mode 0700) if missing, owned by the workers */
static int
mr_own_dir(const struct master *m, const char *dir, struct dstr *errors)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        dstr_appendf(errors, "%s: mkdir: %m", dir);
        return -1;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        dstr_appendf(errors, "%s: not a directory", dir);
        return -1;
    }
    if (m->drop && (st.st_uid != m->uid || st.st_gid != m->gid)
        && lchown(dir, m->uid, m->gid) < 0) {
        dstr_appendf(errors, "%s: chown to uid %ld: %m", dir, (long) m->uid);
        return -1;
    }
    return 0;
}

/*
 * mr_prepare_dirs - the queue and data directories belong to the user
 * the workers run as, who cannot create them under a root-owned parent.
 */
static int
mr_prepare_dirs(const struct master *m, const struct conf *conf,
                struct dstr *errors)
{
    const struct params *p = mr_main_params(conf);
    struct dstr *sub = dstr_new(128, 4096);
    size_t  i;
    int     ret = 0;

    if (mr_own_dir(m, p->queue_directory, errors) < 0
        || mr_own_dir(m, p->data_directory, errors) < 0)
        ret = -1;
    for (i = 0; ret == 0 && queue_dirs_all[i] != NULL; i++) {
        dstr_reset(sub);
        dstr_appendf(sub, "%s/%s", p->queue_directory, queue_dirs_all[i]);
        ret = mr_own_dir(m, sub->data, errors);
    }
    dstr_free(sub);
    return ret;
}

/*
 * mr_check_config_owner - warn when mail_owner could rewrite the
 * configuration: a worker taken over must not change what the next
 * reload (run by root) believes
 */
static void
mr_check_config_owner(const struct master *m, const struct conf *conf)
{
    const char *paths[3];
    struct stat st;
    size_t  i;

    if (!m->drop)
        return;
    paths[0] = m->config_dir;
    paths[1] = conf->main_path;
    paths[2] = conf->services_path;
    for (i = 0; i < 3; i++) {
        if (paths[i] == NULL || stat(paths[i], &st) < 0)
            continue;
        if (st.st_uid == m->uid || (st.st_mode & S_IWOTH)
            || (st.st_gid == m->gid && (st.st_mode & S_IWGRP)))
            log_warn("%s is writable by mail_owner %s: a worker taken over"
                     " could rewrite the configuration; make it root's and"
                     " not writable by group or others", paths[i],
                     mr_main_params(conf)->mail_owner);
    }
}

/*
 * mr_clean_tmp - at start, remove what writers that died with an earlier
 * master left in tmp/ (never acknowledged, so garbage). Only files an
 * hour old: workers of the earlier master may still be finishing one.
 */
static void
mr_clean_tmp(const struct conf *conf)
{
    struct dstr *why = dstr_new(64, 1024);
    int     n = queue_dirs_clean_tmp(mr_main_params(conf)->queue_directory,
                                     MR_TMP_MIN_AGE, why);

    if (n > 0)
        log_info("queue: removed %d unfinished file(s) from tmp/", n);
    else if (n < 0)
        log_warn("queue: cleaning tmp/: %s", why->data);
    dstr_free(why);
}

/* master_run_start - bind, listen, start workers; fatal on failure */
void
master_run_start(struct master *m)
{
    static const int sigs[MR_SIGNALS] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, 0};
    struct master_service *svcs;
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct timeval tick = {0, MASTER_TICK_MS * 1000};
    int     n, i;

    if (master_spawn_user(m, mr_main_params(m->conf)->mail_owner, errors) < 0
        || mr_prepare_dirs(m, m->conf, errors) < 0)
        log_fatal("%s", errors->data);
    mr_check_config_owner(m, m->conf);
    mr_clean_tmp(m->conf);
    if ((n = master_service_build(m, m->conf, &svcs, errors)) < 0) {
        if (errors->len > 0 && errors->data[errors->len - 1] == '\n')
            dstr_truncate(errors, errors->len - 1);
        log_fatal("%s", errors->data);
    }
    m->generation = 1;
    scoreboard_generation_set(m->sb, m->generation);
    master_service_adopt(m, svcs, (size_t) n);
    dstr_reset(errors);
    dstr_appendf(errors, "%s/%s", m->run_dir, MASTER_PROTO_SOCKET);
    {
        struct dstr *why = dstr_new(64, 1024);

        if ((m->control = master_control_open(m, errors->data, why)) == NULL)
            log_fatal("control socket: %s", why->data);
        dstr_free(why);
    }
    mr_open_metrics(m, mr_main_params(m->conf)->metrics_listen, 1);
    (void) signal(SIGPIPE, SIG_IGN);
    for (i = 0; sigs[i] != 0; i++) {
        mr_signal_ev[i] = evsignal_new(m->base, sigs[i], mr_signal, m);
        event_add(mr_signal_ev[i], NULL);
    }
    m->tick_ev = event_new(m->base, -1, EV_PERSIST, mr_tick, m);
    event_add(m->tick_ev, &tick);
    master_spawn_fill(m);
    log_info("started: %zu services, configuration %s, workers run as"
             " uid %ld", m->nservices, m->config_dir, (long) m->uid);
    dstr_free(errors);
}

/* mr_log_errors - each line of a refused configuration, logged */
static void
mr_log_errors(const struct dstr *errors)
{
    const char *p = errors->data, *nl;

    while (*p) {
        nl = strchr(p, '\n');
        log_error("reload: %.*s", nl ? (int) (nl - p) : (int) strlen(p), p);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

/*
 * master_run_reload - compile, then switch: see master_run.h.
 *
 * Order matters: the new workers start before the old ones are told
 * to drain, so the shared listening sockets always have a worker.
 */
int
master_run_reload(struct master *m, struct dstr *errors)
{
    struct conf *nc = NULL, *old;
    struct master_service *svcs;
    struct master save = *m;
    int     n;

    if (m->stopping) {
        dstr_append_str(errors, "the master is stopping\n");
        return -1;
    }
    if (conf_load(m->config_dir, &nc, errors) < 0)
        goto refused;
    if (master_spawn_user(m, mr_main_params(nc)->mail_owner, errors) < 0
        || mr_prepare_dirs(m, nc, errors) < 0) {
        dstr_append_char(errors, '\n');
        m->drop = save.drop;
        m->uid = save.uid;
        m->gid = save.gid;
        goto refused;
    }
    mr_check_config_owner(m, nc);
    if ((n = master_service_build(m, nc, &svcs, errors)) < 0) {
        m->drop = save.drop;
        m->uid = save.uid;
        m->gid = save.gid;
        goto refused;
    }
    m->generation++;
    scoreboard_generation_set(m->sb, m->generation);
    master_service_adopt(m, svcs, (size_t) n);
    old = m->conf;
    m->conf = nc;
    conf_free(old);
    m->shutdown_timeout_ms = mr_main_params(nc)->master_shutdown_timeout;
    master_spawn_fill(m);
    master_spawn_signal(m, SIGTERM, m->generation);
    mr_open_metrics(m, mr_main_params(nc)->metrics_listen, 0);
    m->reload_ms = master_spawn_now_ms();
    log_info("reload: generation %llu: %zu services; old workers drain",
             (unsigned long long) m->generation, m->nservices);
    dstr_reset(errors);
    dstr_appendf(errors, "reloaded: generation %llu",
                 (unsigned long long) m->generation);
    return 0;

refused:
    conf_free(nc);
    m->reload_failures++;
    mr_log_errors(errors);
    log_error("reload: configuration in %s refused; the running one stays"
              " in force", m->config_dir);
    return -1;
}

/* mr_deadline - the shutdown took too long: QUIT, then KILL */
static void
mr_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    struct timeval tv = {MASTER_KILL_GRACE_MS / 1000,
        (MASTER_KILL_GRACE_MS % 1000) * 1000};

    (void) fd;
    (void) what;
    switch (m->deadline_stage++) {
    case 0:
        log_warn("shutdown: %zu workers still busy after %lldms; ending"
                 " their sessions", m->nworkers,
                 (long long) m->shutdown_timeout_ms);
        master_spawn_signal(m, SIGQUIT, UINT64_MAX);
        evtimer_add(m->deadline_ev, &tv);
        break;
    case 1:
        log_warn("shutdown: killing %zu workers", m->nworkers);
        master_spawn_signal(m, SIGKILL, UINT64_MAX);
        evtimer_add(m->deadline_ev, &tv);
        break;
    default:
        log_error("shutdown: %zu workers did not go away; exiting anyway",
                  m->nworkers);
        event_base_loopexit(m->base, NULL);
        break;
    }
}

/* master_run_stop - stop accepting; drain; deadline */
void
master_run_stop(struct master *m)
{
    struct timeval tv;
    size_t  i;

    if (m->stopping)
        return;
    m->stopping = 1;
    for (i = 0; i < m->nservices; i++) {
        if (m->services[i].fd >= 0) {
            close(m->services[i].fd);
            if (m->services[i].def->type == SERVICE_UNIX)
                unlink(m->services[i].def->path);
        }
        m->services[i].fd = -1;
        if (m->services[i].restart_ev != NULL)
            evtimer_del(m->services[i].restart_ev);
    }
    log_info("stopping: %zu workers drain (deadline %lldms)", m->nworkers,
             (long long) m->shutdown_timeout_ms);
    master_spawn_signal(m, SIGTERM, UINT64_MAX);
    tv.tv_sec = (time_t) (m->shutdown_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (m->shutdown_timeout_ms % 1000) * 1000;
    m->deadline_ev = evtimer_new(m->base, mr_deadline, m);
    evtimer_add(m->deadline_ev, &tv);
    mr_maybe_done(m);
}

/* master_run_status - the STATUS reply body */
int
master_run_status(struct master *m, struct dstr *body)
{
    struct master_proto_status_head head;
    struct master_proto_service *svcs;
    struct master_worker *w;
    struct scoreboard_view v;
    size_t  i, k;
    int     ret;

    memset(&head, 0, sizeof(head));
    head.nservices = (uint32_t) m->nservices;
    head.pid = (int32_t) getpid();
    head.stopping = (uint32_t) m->stopping;
    head.started_ms = m->started_ms;
    head.reload_ms = m->reload_ms;
    head.generation = m->generation;
    head.reload_failures = m->reload_failures;
    (void) str_copy(head.config_dir, sizeof(head.config_dir), m->config_dir);
    for (k = 0; k < SCOREBOARD_CLASSES; k++) {
        const char *name = scoreboard_class_name(m->conf->classes,
                                                 m->conf->nclasses, k);

        if (name == NULL)
            break;
        (void) str_copy(head.classes[k], sizeof(head.classes[k]), name);
        head.nclasses = (uint32_t) k + 1;
    }
    svcs = xcalloc(m->nservices ? m->nservices : 1, sizeof(*svcs));
    for (i = 0; i < m->nservices; i++) {
        struct master_service *s = &m->services[i];
        struct master_proto_service *o = &svcs[i];

        scoreboard_service_read(m->sb, s->slot, &v);
        (void) str_copy(o->listen, sizeof(o->listen), s->def->listen);
        (void) str_copy(o->program, sizeof(o->program), s->def->program);
        o->index = (uint32_t) s->index;
        o->force = v.force;
        o->stress = (uint32_t) v.stress;
        o->reason = (uint32_t) v.reason;
        o->since_ms = v.since_ms;
        o->open = v.open;
        o->limit = v.limit;
        o->threshold = v.threshold;
        o->by_stress[0] = v.by_stress[0];
        o->by_stress[1] = v.by_stress[1];
        memcpy(o->by_class, v.by_class, sizeof(o->by_class));
        o->clear_at_ms = v.stress ? s->clear_at_ms : 0;
        for (w = m->workers; w != NULL; w = w->next)
            if (w->slot == s->slot)
                o->workers++;
        o->workers_wanted = (uint32_t) s->def->workers;
        memcpy(o->counters, v.counters, sizeof(o->counters));
    }
    ret = master_proto_status_encode(body, &head, svcs);
    free(svcs);
    return ret;
}

/* master_run_free - everything, at exit */
struct master *
master_run_free(struct master *m)
{
    struct master_worker *w;
    size_t  i;

    if (m == NULL)
        return NULL;
    m->control = master_control_close(m->control);
    m->metrics = master_metrics_close(m->metrics);
    for (i = 0; i < MR_SIGNALS; i++)
        if (mr_signal_ev[i] != NULL) {
            event_free(mr_signal_ev[i]);
            mr_signal_ev[i] = NULL;
        }
    if (m->tick_ev != NULL)
        event_free(m->tick_ev);
    if (m->deadline_ev != NULL)
        event_free(m->deadline_ev);
    for (i = 0; i < m->nservices; i++)
        if (m->services[i].fd >= 0)
            close(m->services[i].fd);
    m->services = master_service_free(m->services, m->nservices);
    while ((w = m->workers) != NULL) {
        m->workers = w->next;
        free(w->label);
        free(w);
    }
    m->sb = scoreboard_detach(m->sb);
    m->anvil = anvil_free(m->anvil);
    m->conf = conf_free(m->conf);
    free(m->config_dir);
    free(m->run_dir);
    free(m->self_dir);
    free(m);
    return NULL;
}
