/* master_spawn - fork and exec workers, drop privileges, reap, back off. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/anvil.h"
#include "global/master_proto.h"
#include "global/queue_dirs.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_spawn.h"

#define MSP_ARGV_MAX 12

/* master_spawn_now_mono - monotonic ms */
int64_t
master_spawn_now_mono(void)
{
    return clock_mono_ms();
}

/* master_spawn_now_ms - wall clock ms */
int64_t
master_spawn_now_ms(void)
{
    return clock_real_ms();
}

/* master_spawn_backoff_ms - the delay before restart number "failures" */
int64_t
master_spawn_backoff_ms(unsigned failures)
{
    int64_t delay = MASTER_BACKOFF_MIN_MS;
    unsigned i;

    for (i = 1; i < failures && delay < MASTER_BACKOFF_MAX_MS; i++)
        delay *= 2;
    return delay < MASTER_BACKOFF_MAX_MS ? delay : MASTER_BACKOFF_MAX_MS;
}

/* master_spawn_user - whom workers run as: mail_owner as root, else us */
int
master_spawn_user(struct master *m, const char *user, struct dstr *why)
{
    struct passwd *pw;

    if (geteuid() != 0) {
        m->drop = 0;
        m->uid = getuid();
        m->gid = getgid();
        return 0;
    }
    errno = 0;
    if ((pw = getpwnam(user)) == NULL) {
        dstr_appendf(why, "mail_owner %s: %s", user,
                     errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        dstr_appendf(why, "mail_owner %s has uid %ld gid %ld: workers must"
                     " not run as root (use an unprivileged user such as"
                     " doppel)", user, (long) pw->pw_uid, (long) pw->pw_gid);
        return -1;
    }
    m->drop = 1;
    m->uid = pw->pw_uid;
    m->gid = pw->pw_gid;
    return 0;
}

/* msp_child_fail - tell stderr (if anyone listens) and exit 127 */
static void
msp_child_fail(const char *what)
{
    char    buf[256];
    int     len;

    len = snprintf(buf, sizeof(buf), "doppel-master: worker: %s: %s\n", what,
                   strerror(errno));
    if (len > 0)
        (void) !write(2, buf, (size_t) len < sizeof(buf) ? (size_t) len
                      : sizeof(buf) - 1);
    _exit(127);
}

/*
 * msp_child - in the child, between fork and exec.
 *
 * Only async-signal-safe calls: the master is single-threaded, but
 * libevent may hold locks in its allocator state, so nothing here
 * allocates. The descriptors are first moved above the fixed numbers
 * so that dup2 onto 3, 4 and 5 cannot clobber one another. Only smtpd
 * workers get the per-client limits table (fd 5): nothing else needs
 * to write in it. An smtpd worker with smtpd_chroot keeps one
 * capability, CAP_SYS_CHROOT, across the change to mail_owner and the
 * exec; it drops it once in its jail (util/jail).
 */
static void
msp_child(const struct master *m, const struct master_service *svc,
          char *const argv[], pid_t master_pid)
{
    sigset_t all;
    int     sig, lfd, sfd, afd = -1, null, last;
    int     smtpd = strcmp(svc->def->program, "smtpd") == 0;
    int     anvil = m->anvil != NULL && smtpd;
    int     jailed = smtpd && svc->p->smtpd_chroot;

    (void) setsid();
    for (sig = 1; sig < NSIG; sig++)
        (void) signal(sig, SIG_DFL);
    sigemptyset(&all);
    (void) sigprocmask(SIG_SETMASK, &all, NULL);
    if ((lfd = fcntl(svc->fd, F_DUPFD, 10)) < 0
        || (sfd = fcntl(scoreboard_fd(m->sb), F_DUPFD, 10)) < 0
        || (anvil && (afd = fcntl(anvil_fd(m->anvil), F_DUPFD, 10)) < 0))
        msp_child_fail("dup");
    if (dup2(lfd, MASTER_PROTO_LISTEN_FD) < 0
        || dup2(sfd, MASTER_PROTO_SCOREBOARD_FD) < 0
        || (anvil && dup2(afd, MASTER_PROTO_ANVIL_FD) < 0))
        msp_child_fail("dup2");
    last = anvil ? MASTER_PROTO_ANVIL_FD : MASTER_PROTO_SCOREBOARD_FD;
    if ((null = open("/dev/null", O_RDWR)) < 0)
        msp_child_fail("/dev/null");
    (void) dup2(null, 0);
    (void) dup2(m->foreground ? 2 : null, 1);
    if (!m->foreground)
        (void) dup2(null, 2);
    if (close_range((unsigned) last + 1, ~0U, 0) < 0) {
        int     fd;

        for (fd = last + 1; fd < 65536; fd++)
            (void) close(fd);
    }
    if (m->drop) {
        if (setgroups(1, &m->gid) < 0)
            msp_child_fail("setgroups");
        if (setresgid(m->gid, m->gid, m->gid) < 0)
            msp_child_fail("setresgid");
        if (jailed && jail_grant_prepare() < 0)
            msp_child_fail("keep CAP_SYS_CHROOT");
        if (setresuid(m->uid, m->uid, m->uid) < 0)
            msp_child_fail("setresuid");
        if (jailed && jail_grant_finish() < 0)
            msp_child_fail("grant CAP_SYS_CHROOT");
        if (setuid(0) == 0 || geteuid() == 0) {
            errno = EPERM;
            msp_child_fail("privileges were not dropped");
        }
        /* no set-uid program or file capability can raise it again */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
            msp_child_fail("no_new_privs");
    }
    /* after the uid change, which clears it */
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(0);                      /* the master is already gone */
    execv(argv[0], argv);
    msp_child_fail(argv[0]);
}

/* msp_start - fork and exec one worker of svc; 0 or -1 */
static int
msp_start(struct master *m, struct master_service *svc)
{
    struct master_worker *w;
    char    index[32], wslot_text[32], *argv[MSP_ARGV_MAX];
    pid_t   pid, self = getpid();
    int     wslot, argc = 0;

    if ((wslot = scoreboard_worker_free_slot(m->sb)) < 0) {
        log_error("service %s: no free worker slot (%d workers)",
                  svc->def->listen, SCOREBOARD_WORKERS_MAX);
        return -1;
    }
    snprintf(index, sizeof(index), "%zu", svc->index);
    snprintf(wslot_text, sizeof(wslot_text), "%d", wslot);
    argv[argc++] = svc->program;
    argv[argc++] = "-c";
    argv[argc++] = m->config_dir;
    argv[argc++] = "--master";
    argv[argc++] = "--service";
    argv[argc++] = index;
    argv[argc++] = "--worker";
    argv[argc++] = wslot_text;
    if (m->foreground)
        argv[argc++] = "--foreground";
    argv[argc] = NULL;

    /* the slot is claimed before fork, so the child finds it filled */
    scoreboard_worker_start(m->sb, (size_t) wslot, self, svc->slot,
                            m->generation);
    if ((pid = fork()) < 0) {
        log_error("service %s: fork: %m", svc->def->listen);
        scoreboard_worker_reap(m->sb, (size_t) wslot);
        return -1;
    }
    if (pid == 0)
        msp_child(m, svc, argv, self);
    w = xcalloc(1, sizeof(*w));
    w->pid = pid;
    w->wslot = (size_t) wslot;
    w->slot = svc->slot;
    w->index = svc->index;
    w->generation = m->generation;
    w->started_mono = master_spawn_now_mono();
    w->label = xstrdup(svc->def->listen);
    w->next = m->workers;
    m->workers = w;
    m->nworkers++;
    log_debug("service %s: worker pid %ld started (slot %d, generation %llu)",
              svc->def->listen, (long) pid, wslot,
              (unsigned long long) m->generation);
    return 0;
}

/* master_spawn_count - live workers of service index in a generation */
size_t
master_spawn_count(const struct master *m, size_t index, uint64_t generation)
{
    const struct master_worker *w;
    size_t  n = 0;

    for (w = m->workers; w != NULL; w = w->next)
        if (w->generation == generation && w->index == index && !w->retiring)
            n++;
    return n;
}

/* msp_restart_event - a service's back-off ended */
static void
msp_restart_event(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;

    (void) fd;
    (void) what;
    master_spawn_fill(m);
}

/* msp_arm - wake up at svc->restart_at_mono */
static void
msp_arm(struct master *m, struct master_service *svc, int64_t now)
{
    struct timeval tv;
    int64_t delay = svc->restart_at_mono - now;

    if (svc->restart_ev == NULL)
        svc->restart_ev = evtimer_new(m->base, msp_restart_event, m);
    if (delay < 0)
        delay = 0;
    tv.tv_sec = (time_t) (delay / 1000);
    tv.tv_usec = (suseconds_t) (delay % 1000) * 1000;
    evtimer_add(svc->restart_ev, &tv);
}

/* master_spawn_fill - start the missing workers whose time has come */
void
master_spawn_fill(struct master *m)
{
    int64_t now = master_spawn_now_mono();
    size_t  i, have;
    int     want;

    if (m->stopping)
        return;
    for (i = 0; i < m->nservices; i++) {
        struct master_service *svc = &m->services[i];

        if (svc->restart_at_mono > now) {
            msp_arm(m, svc, now);
            continue;
        }
        svc->restart_at_mono = 0;
        have = master_spawn_count(m, svc->index, m->generation);
        want = svc->def->workers;
        while ((int) have < want) {
            if (msp_start(m, svc) < 0) {
                svc->failures++;
                svc->restart_at_mono = now
                    + master_spawn_backoff_ms(svc->failures);
                msp_arm(m, svc, now);
                break;
            }
            have++;
        }
    }
}

/* msp_crash - count a crash of svc; schedule its restart; log */
static void
msp_crash(struct master *m, struct master_service *svc,
          const struct master_worker *w, const char *how, int64_t now)
{
    unsigned window = 0, i;
    int64_t delay;

    if (now - w->started_mono >= MASTER_WORKER_STABLE_MS)
        svc->failures = 0;
    svc->failures++;
    svc->crash_mono[svc->crash_next] = now;
    svc->crash_next = (svc->crash_next + 1) % MASTER_CRASH_LOOP_COUNT;
    for (i = 0; i < MASTER_CRASH_LOOP_COUNT; i++)
        if (svc->crash_mono[i] != 0
            && now - svc->crash_mono[i] < MASTER_CRASH_WINDOW_MS)
            window++;
    delay = master_spawn_backoff_ms(svc->failures);
    if (svc->restart_at_mono < now + delay)
        svc->restart_at_mono = now + delay;
    scoreboard_count(m->sb, svc->slot, SCOREBOARD_RESTARTS);
    if (window >= MASTER_CRASH_LOOP_COUNT) {
        if (!svc->crash_loop)
            log_warn("service %s: crash loop: %u worker failures within"
                     " %ds; restarts throttled (back-off up to %ds)",
                     svc->def->listen, window, MASTER_CRASH_WINDOW_MS / 1000,
                     MASTER_BACKOFF_MAX_MS / 1000);
        svc->crash_loop = 1;
    } else if (svc->crash_loop && window <= 1) {
        log_info("service %s: crash loop over", svc->def->listen);
        svc->crash_loop = 0;
    }
    log_warn("service %s: worker pid %ld %s; restart in %lldms",
             svc->def->listen, (long) w->pid, how, (long long) delay);
}

/* msp_service_of - the current service a worker belongs to, or NULL */
static struct master_service *
msp_service_of(struct master *m, const struct master_worker *w)
{
    if (w->generation != m->generation || w->index >= m->nservices)
        return NULL;
    return &m->services[w->index];
}

/*
 * msp_clean_tmp - a worker that died may have been receiving a message:
 * its file in tmp/ was never acknowledged, so it goes now.
 */
static void
msp_clean_tmp(const struct master *m, const struct master_worker *w)
{
    const char *queue = conf_params(m->conf, CONF_NO_SERVICE, NULL,
                                    0)->queue_directory;
    struct dstr *why = dstr_new(64, 1024);
    int     n = queue_dirs_clean_pid(queue, (long) w->pid, why);

    if (n > 0)
        log_info("worker pid %ld: removed %d unfinished queue file(s) from"
                 " tmp/", (long) w->pid, n);
    else if (n < 0)
        log_warn("worker pid %ld: cleaning tmp/: %s", (long) w->pid,
                 why->data);
    dstr_free(why);
}

/* msp_reaped - one child is gone: account and decide */
static void
msp_reaped(struct master *m, struct master_worker *w, int status)
{
    struct master_service *svc = msp_service_of(m, w);
    int64_t now = master_spawn_now_mono(), held;
    char    how[64];
    size_t  n;

    held = scoreboard_worker_reap(m->sb, w->wslot);
    if ((n = anvil_worker_gone(m->anvil, w->wslot)) > 0)
        log_info("service %s: worker pid %ld: released %zu per-client"
                 " connection count(s)", w->label, (long) w->pid, n);
    msp_clean_tmp(m, w);
    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "exited with status %d",
                 WEXITSTATUS(status));
    if (held > 0)
        log_info("service %s: worker pid %ld %s with %lld sessions open",
                 w->label, (long) w->pid, how, (long long) held);
    if (m->stopping || svc == NULL || w->retiring) {
        log_debug("service %s: worker pid %ld %s (retired)", w->label,
                  (long) w->pid, how);
        return;
    }
    /* a clean exit is a retirement (max_use); a fast one is a crash */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0
        && now - w->started_mono >= MASTER_BACKOFF_MAX_MS / 30) {
        log_info("service %s: worker pid %ld exited; replacing it", w->label,
                 (long) w->pid);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == MASTER_PROTO_EXIT_CONFIG) {
        log_error("service %s: worker pid %ld refused the configuration;"
                  " retry in %ds", w->label, (long) w->pid,
                  MASTER_BACKOFF_MAX_MS / 1000);
        svc->restart_at_mono = now + MASTER_BACKOFF_MAX_MS;
        return;
    }
    msp_crash(m, svc, w, how, now);
}

/* master_spawn_reap - collect every exited child, then refill */
void
master_spawn_reap(struct master *m)
{
    struct master_worker **pp, *w;
    pid_t   pid;
    int     status, n;

    for (n = 0; n < SCOREBOARD_WORKERS_MAX * 2; n++) {
        if ((pid = waitpid(-1, &status, WNOHANG)) <= 0)
            break;
        for (pp = &m->workers; (w = *pp) != NULL; pp = &w->next)
            if (w->pid == pid)
                break;
        if (w == NULL)
            continue;                  /* not a worker (a helper) */
        *pp = w->next;
        m->nworkers--;
        msp_reaped(m, w, status);
        free(w->label);
        free(w);
    }
    master_spawn_fill(m);
}

/*
 * master_spawn_signal - signal the workers of generations below
 * "below" (UINT64_MAX: all); SIGTERM and SIGQUIT mark them retiring.
 */
size_t
master_spawn_signal(struct master *m, int sig, uint64_t below)
{
    struct master_worker *w;
    size_t  n = 0;

    for (w = m->workers; w != NULL; w = w->next) {
        if (w->generation >= below)
            continue;
        if (sig == SIGTERM || sig == SIGQUIT)
            w->retiring = 1;
        if (kill(w->pid, sig) == 0)
            n++;
    }
    return n;
}
