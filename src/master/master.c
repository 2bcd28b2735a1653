/*
 * doppel-master - bind the services, supervise the workers, own the
 * stress state machine, answer the doppel command.
 *
 * usage: doppel-master [-c DIR] [-f]
 *
 * SECURITY
 *     Started as root, the master keeps root only to bind listening
 *     sockets (ports below 1024) and to fork: every child drops to
 *     mail_owner (setgroups, setresgid, setresuid, then a check that
 *     setuid(0) fails) before it executes a worker, and a mail_owner
 *     that is root is refused. Started by anyone else, everything runs
 *     as that user. The master trusts its configuration directory and
 *     its own executable's directory (where it finds the workers); it
 *     reads nothing from the network itself except HTTP requests on the
 *     metrics address (answered with numbers, whatever they say) and
 *     control requests on a unix socket of mode 0600 in run_directory.
 *     Workers talk to it only through the shared scoreboard, whose
 *     every index the master checks before it uses it.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/master_proto.h"
#include "master/master.h"
#include "master/master_run.h"

#define MASTER_READY_TIMEOUT_S 60       /* the daemon's parent waits this long */

/* master_usage - the synopsis, and exit */
static void
master_usage(void)
{
    fprintf(stderr, "usage: doppel-master [-c DIR] [-f]\n"
            "  -c DIR  configuration directory (default %s)\n"
            "  -f      foreground: log to standard error\n", CONF_DEFAULT_DIR);
    exit(2);
}

/* master_pidfile - lock run_dir/master.pid or say who holds it */
static int
master_pidfile(const char *path)
{
    char    buf[32];
    ssize_t n;
    int     fd;

    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        log_fatal("%s: open: %m", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            log_fatal("%s: lock: %m", path);
        n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        log_fatal("already running (pid %s, %s)", *buf ? buf : "?", path);
    }
    return fd;
}

/* master_pidfile_write - our pid into the locked file */
static void
master_pidfile_write(int fd, const char *path)
{
    char    buf[32];
    int     len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());

    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) len, 0) != len)
        log_fatal("%s: write: %m", path);
}

/*
 * master_daemon - fork into the background. The parent waits on a pipe
 * until the child says it is serving (or dies), so "doppel start" can
 * report a failure with the right exit status; until then the child
 * still logs to the terminal.
 */
static int
master_daemon(void)
{
    int     p[2];
    char    c;
    pid_t   pid;
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) < 0)
        log_fatal("pipe: %m");
    if ((pid = fork()) < 0)
        log_fatal("fork: %m");
    if (pid > 0) {
        close(p[1]);
        alarm(MASTER_READY_TIMEOUT_S);
        do
            n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        log_fatal("setsid: %m");
    return p[1];
}

/* master_detach - ready: tell the parent, leave the terminal, use syslog */
static void
master_detach(int ready_fd)
{
    int     null;

    if (write(ready_fd, "1", 1) != 1)
        log_warn("cannot tell the parent we are ready: %m");
    close(ready_fd);
    log_open("doppel/master", LOG_SINK_SYSLOG);
    if ((null = open("/dev/null", O_RDWR)) >= 0) {
        (void) dup2(null, 0);
        (void) dup2(null, 1);
        (void) dup2(null, 2);
        if (null > 2)
            close(null);
    }
}

int
main(int argc, char **argv)
{
    struct dstr *errors;
    struct conf *conf = NULL;
    struct event_base *base;
    struct master *m;
    const char *dir = CONF_DEFAULT_DIR;
    char    real[PATH_MAX];
    struct dstr *pidpath;
    int     ch, foreground = 0, pidfd, ready = -1;

    log_open("doppel/master", LOG_SINK_STDERR);
    event_set_log_callback(log_libevent);
    while ((ch = getopt(argc, argv, "c:fh")) != -1) {
        switch (ch) {
        case 'c':
            dir = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        default:
            master_usage();
        }
    }
    if (optind != argc)
        master_usage();
    if (realpath(dir, real) == NULL)
        log_fatal("%s: %m", dir);
    errors = dstr_new(256, DSTR_UNLIMITED);
    if (conf_load(real, &conf, errors) < 0) {
        fputs(errors->data, stderr);
        log_fatal("configuration in %s refused", real);
    }
    dstr_free(errors);

    pidpath = dstr_new(64, DSTR_UNLIMITED);
    {
        const char *run = conf_params(conf, CONF_NO_SERVICE,
                                      PERSONALITY_DEFAULT_CLASS, 0)->run_directory;

        if (mkdir(run, 0755) < 0 && errno != EEXIST)
            log_fatal("run_directory %s: %m", run);
        dstr_appendf(pidpath, "%s/%s", run, MASTER_PROTO_PIDFILE);
    }
    pidfd = master_pidfile(pidpath->data);
    if (!foreground)
        ready = master_daemon();
    master_pidfile_write(pidfd, pidpath->data);

    if ((base = event_base_new()) == NULL)
        log_fatal("event_base_new failed");
    m = master_run_new(base, real, conf, foreground);
    master_run_start(m);
    if (!foreground)
        master_detach(ready);
    event_base_dispatch(base);

    m = master_run_free(m);
    event_base_free(base);
    unlink(pidpath->data);
    close(pidfd);
    dstr_free(pidpath);
    log_info("stopped");
    return 0;
}
