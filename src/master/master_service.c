/* master_service - bind listeners; build a generation's services; hand sockets over. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_service.h"

#include <event2/event.h>

/* msv_bind_unix - a unix listening socket at path */
static int
msv_bind_unix(const char *path, struct dstr *why)
{
    struct sockaddr_un sun;
    struct stat st;
    int     fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) < 0) {
        dstr_append_str(why, "socket path too long");
        return -1;
    }
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);                  /* stale: we hold the pidfile lock */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dstr_appendf(why, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0
        || chmod(path, 0666) < 0
        || listen(fd, MASTER_SERVICE_BACKLOG) < 0) {
        dstr_appendf(why, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* msv_bind_addr - one inet socket for one address */
static int
msv_bind_addr(const struct sockaddr *sa, socklen_t len, int dual,
              struct dstr *why)
{
    int     fd, on = 1, off = 0;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dstr_appendf(why, "socket: %s", strerror(errno));
        return -1;
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (sa->sa_family == AF_INET6)
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &off : &on,
                          sizeof(on));
    if (bind(fd, sa, len) < 0 || listen(fd, MASTER_SERVICE_BACKLOG) < 0) {
        dstr_appendf(why, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* master_service_bind - the listening socket of one service */
int
master_service_bind(const struct service_def *def, struct dstr *why)
{
    struct addrinfo hints, *res = NULL;
    const char *host;
    int     err, fd;

    if (def->type == SERVICE_UNIX)
        return msv_bind_unix(def->path, why);
    host = def->host;
    if (host == NULL || *host == 0 || strcmp(host, "*") == 0) {
        /* every address: IPv6 dual stack, else IPv4 (no IPv6 kernel) */
        struct sockaddr_in6 sin6;
        struct sockaddr_in sin;
        struct dstr *why6 = dstr_new(64, 1024);

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        if ((err = getaddrinfo(NULL, def->port, &hints, &res)) != 0) {
            dstr_appendf(why, "port %s: %s", def->port, gai_strerror(err));
            dstr_free(why6);
            return -1;
        }
        memset(&sin6, 0, sizeof(sin6));
        memset(&sin, 0, sizeof(sin));
        sin6.sin6_family = AF_INET6;
        sin.sin_family = AF_INET;
        sin6.sin6_port = sin.sin_port = res->ai_family == AF_INET6
            ? ((struct sockaddr_in6 *) res->ai_addr)->sin6_port
            : ((struct sockaddr_in *) res->ai_addr)->sin_port;
        freeaddrinfo(res);
        fd = msv_bind_addr((struct sockaddr *) &sin6, sizeof(sin6), 1, why6);
        if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
            fd = msv_bind_addr((struct sockaddr *) &sin, sizeof(sin), 0, why);
        else if (fd < 0)
            dstr_append_str(why, why6->data);
        dstr_free(why6);
        return fd;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((err = getaddrinfo(host, def->port, &hints, &res)) != 0) {
        dstr_appendf(why, "%s", gai_strerror(err));
        return -1;
    }
    fd = msv_bind_addr(res->ai_addr, res->ai_addrlen, 0, why);
    freeaddrinfo(res);
    return fd;
}

/* master_service_program - $DOPPEL_X_PROGRAM, else doppel-X beside us */
char   *
master_service_program(const char *self_dir, const char *program)
{
    struct dstr *d = dstr_new(64, DSTR_UNLIMITED);
    const char *env, *p;

    dstr_append_str(d, "DOPPEL_");
    for (p = program; *p; p++)
        dstr_append_char(d, isalnum((unsigned char) *p)
                         ? toupper((unsigned char) *p) : '_');
    dstr_append_str(d, "_PROGRAM");
    if ((env = getenv(d->data)) != NULL && *env != 0) {
        dstr_free(d);
        return xstrdup(env);
    }
    dstr_reset(d);
    dstr_appendf(d, "%s/doppel-%s", self_dir, program);
    return dstr_steal(d);
}

/* msv_same - the same socket: LISTEN and type */
static int
msv_same(const struct service_def *a, const struct service_def *b)
{
    return a->type == b->type && strcmp(a->listen, b->listen) == 0;
}

/* master_service_free - close nothing, free the array (sockets are moved
 * or closed by the caller) */
struct master_service *
master_service_free(struct master_service *svcs, size_t n)
{
    size_t  i;

    if (svcs == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (svcs[i].restart_ev != NULL)
            event_free(svcs[i].restart_ev);
        free(svcs[i].program);
    }
    free(svcs);
    return NULL;
}

/* master_service_build - the services of a new generation, or nothing */
int
master_service_build(struct master *m, const struct conf *conf,
                     struct master_service **out, struct dstr *errors)
{
    unsigned char reserved[SCOREBOARD_SERVICES_MAX];
    struct master_service *svcs;
    struct dstr *why = dstr_new(64, 1024);
    size_t  i, j, n = conf->services->count;
    int     slot, failed = 0;

    *out = NULL;
    if (n > SCOREBOARD_SERVICES_MAX) {
        dstr_appendf(errors, "%s: %zu services; at most %d are supported\n",
                     conf->services_path, n, SCOREBOARD_SERVICES_MAX);
        dstr_free(why);
        return -1;
    }
    memset(reserved, 0, sizeof(reserved));
    svcs = xcalloc(n ? n : 1, sizeof(*svcs));
    for (i = 0; i < n; i++) {
        struct master_service *s = &svcs[i];
        const struct service_def *def = &conf->services->items[i];

        s->def = def;
        s->index = i;
        s->fd = -1;
        s->p = conf_params(conf, i, PERSONALITY_DEFAULT_CLASS, 0);
        s->program = master_service_program(m->self_dir, def->program);
        for (j = 0; j < m->nservices; j++) {
            if (msv_same(m->services[j].def, def)) {
                s->fd = m->services[j].fd;
                s->logged_stress = m->services[j].logged_stress;
                s->low_since_mono = m->services[j].low_since_mono;
                s->clear_at_ms = m->services[j].clear_at_ms;
                break;
            }
        }
        if (s->fd < 0) {
            dstr_reset(why);
            if ((s->fd = master_service_bind(def, why)) < 0) {
                dstr_appendf(errors, "%s:%d: %s: cannot listen: %s\n",
                             def->file ? def->file : conf->services_path,
                             def->line, def->listen, why->data);
                failed = 1;
                break;
            }
        }
        if ((slot = scoreboard_service_find(m->sb, def->listen)) < 0
            || reserved[slot])
            slot = scoreboard_service_free_slot(m->sb, reserved);
        if (slot < 0) {
            dstr_appendf(errors, "%s:%d: %s: no free scoreboard slot (old"
                         " workers still drain)\n", conf->services_path,
                         def->line, def->listen);
            failed = 1;
            i++;                       /* its socket is closed below */
            break;
        }
        reserved[slot] = 1;
        s->slot = (size_t) slot;
    }
    if (failed) {
        /* close what this build bound; leave the current services alone */
        for (j = 0; j < i && j < n; j++) {
            int     borrowed = 0;
            size_t  k;

            for (k = 0; k < m->nservices; k++)
                if (svcs[j].fd == m->services[k].fd)
                    borrowed = 1;
            if (svcs[j].fd >= 0 && !borrowed)
                close(svcs[j].fd);
        }
        master_service_free(svcs, n);
        dstr_free(why);
        return -1;
    }
    dstr_free(why);
    *out = svcs;
    return (int) n;
}

/*
 * master_service_adopt - make svcs the current services: set up their
 * scoreboard slots, release slots no service uses any more, close the
 * sockets only the old services held.
 */
void
master_service_adopt(struct master *m, struct master_service *svcs, size_t n)
{
    struct timespec ts;
    int64_t now_ms;
    size_t  i, j;
    int     keep;

    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (j = 0; j < m->nservices; j++) {
        keep = 0;
        for (i = 0; i < n; i++)
            if (svcs[i].slot == m->services[j].slot)
                keep = 1;
        if (!keep)
            scoreboard_service_release(m->sb, m->services[j].slot);
        keep = 0;
        for (i = 0; i < n; i++)
            if (svcs[i].fd == m->services[j].fd)
                keep = 1;
        if (!keep && m->services[j].fd >= 0) {
            close(m->services[j].fd);
            if (m->services[j].def->type == SERVICE_UNIX)
                unlink(m->services[j].def->path);
        }
    }
    for (i = 0; i < n; i++) {
        const struct params *p = svcs[i].p;

        if (scoreboard_service_setup(m->sb, svcs[i].slot, svcs[i].def->listen,
                                     p->smtpd_client_limit,
                                     p->smtpd_client_reserve,
                                     svcs[i].def->force, now_ms) < 0)
            log_panic("%s: scoreboard slot %zu refused %s", __func__,
                      svcs[i].slot, svcs[i].def->listen);
    }
    m->services = master_service_free(m->services, m->nservices);
    m->services = svcs;
    m->nservices = n;
}
