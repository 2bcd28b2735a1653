/* master_control - the control socket of doppel-master: one request, one reply. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "global/master_proto.h"
#include "master/master.h"
#include "master/master_control.h"
#include "master/master_run.h"

struct master_control {
    struct master *m;
    struct evconnlistener *listener;
    char   *path;
    int     clients;
    struct mc_client *list;
};

struct mc_client {
    struct mc_client *next;
    struct master_control *c;
    struct bufferevent *bev;
    int     stop_after;                /* STOP: act once the reply is out */
};

/* mc_client_free - end one control connection */
static void
mc_client_free(struct mc_client *cl)
{
    struct master_control *c = cl->c;
    int     stop = cl->stop_after;
    struct mc_client **pp;

    for (pp = &c->list; *pp != NULL; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    bufferevent_free(cl->bev);
    c->clients--;
    free(cl);
    if (stop)
        master_run_stop(c->m);
}

/* mc_write_done - the reply is out: close */
static void
mc_write_done(struct bufferevent *bev, void *arg)
{
    (void) bev;
    mc_client_free(arg);
}

/* mc_reply - queue one reply; the connection closes when it is sent */
static void
mc_reply(struct mc_client *cl, unsigned type, int status, const char *body,
         size_t len)
{
    struct dstr *out = dstr_new(MASTER_PROTO_HEADER_SIZE + len, DSTR_UNLIMITED);

    if (master_proto_encode(out, (enum master_proto_type) (type
                                                           | MASTER_PROTO_REPLY),
                            status, body, len) < 0) {
        log_error("control: cannot encode a %s reply of %zu bytes",
                  master_proto_type_name(type), len);
        dstr_free(out);
        mc_client_free(cl);
        return;
    }
    bufferevent_disable(cl->bev, EV_READ);
    bufferevent_setcb(cl->bev, NULL, mc_write_done, NULL, cl);
    bufferevent_write(cl->bev, out->data, out->len);
    dstr_free(out);
}

/* mc_dispatch - act on one decoded request */
static void
mc_dispatch(struct mc_client *cl, const struct master_proto_msg *msg)
{
    struct master *m = cl->c->m;
    struct dstr *body = dstr_new(1024, MASTER_PROTO_BODY_MAX);

    switch (msg->type) {
    case MASTER_PROTO_STATUS:
        if (master_run_status(m, body) < 0) {
            dstr_set_str(body, "status too large");
            mc_reply(cl, msg->type, 1, body->data, body->len);
        } else
            mc_reply(cl, msg->type, 0, body->data, body->len);
        break;
    case MASTER_PROTO_RELOAD:
        log_info("reload requested over the control socket");
        if (master_run_reload(m, body) < 0)
            mc_reply(cl, msg->type, 1, body->data, body->len);
        else
            mc_reply(cl, msg->type, 0, body->data, body->len);
        break;
    case MASTER_PROTO_STOP:
        log_info("stop requested over the control socket");
        cl->stop_after = 1;
        mc_reply(cl, msg->type, 0, NULL, 0);
        break;
    default:
        log_warn("control: unexpected message type %u", msg->type);
        mc_client_free(cl);
        break;
    }
    dstr_free(body);
}

/* mc_read - bytes from a client: wait for a whole request */
static void
mc_read(struct bufferevent *bev, void *arg)
{
    struct mc_client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct master_proto_msg msg;
    struct dstr *why = dstr_new(64, 1024);
    size_t  len = evbuffer_get_length(in);
    enum master_proto_result r;
    unsigned char *data;

    if (len > MASTER_PROTO_HEADER_SIZE + MASTER_CONTROL_REQUEST_MAX)
        len = MASTER_PROTO_HEADER_SIZE + MASTER_CONTROL_REQUEST_MAX;
    data = evbuffer_pullup(in, (ev_ssize_t) len);
    r = master_proto_decode(data, len, &msg, why);
    if (r == MASTER_PROTO_OK && (msg.type & MASTER_PROTO_REPLY)) {
        dstr_appendf(why, "a reply (type %u) sent as a request", msg.type);
        r = MASTER_PROTO_BAD;
    }
    if (r == MASTER_PROTO_MORE
        && len >= MASTER_PROTO_HEADER_SIZE + MASTER_CONTROL_REQUEST_MAX) {
        dstr_append_str(why, "request too long");
        r = MASTER_PROTO_BAD;
    }
    if (r == MASTER_PROTO_BAD) {
        log_warn("control: malformed request: %s", why->data);
        mc_client_free(cl);
    } else if (r == MASTER_PROTO_OK) {
        evbuffer_drain(in, msg.consumed);
        mc_dispatch(cl, &msg);
    }
    dstr_free(why);
}

/* mc_event - EOF, error or timeout before a whole request */
static void
mc_event(struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    if (what & BEV_EVENT_TIMEOUT)
        log_warn("control: client timed out");
    mc_client_free(arg);
}

/*
 * mc_peer_refused - the socket's mode already keeps others out; the
 * peer's credentials are checked too, in case the run directory or the
 * socket's mode was changed: only root and the master's own user.
 */
static int
mc_peer_refused(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        log_warn("control: SO_PEERCRED: %m; refusing the client");
        return 1;
    }
    if (cred.uid != 0 && cred.uid != geteuid()) {
        log_warn("control: refusing uid %ld pid %ld", (long) cred.uid,
                 (long) cred.pid);
        return 1;
    }
    return 0;
}

/* mc_accept - a new control connection */
static void
mc_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    struct master_control *c = arg;
    struct timeval tv = {MASTER_CONTROL_TIMEOUT_S, 0};
    struct mc_client *cl;

    (void) l;
    (void) sa;
    (void) salen;
    if (c->clients >= MASTER_CONTROL_CLIENTS_MAX) {
        log_warn("control: %d clients already; refusing one", c->clients);
        close(fd);
        return;
    }
    if (mc_peer_refused(fd)) {
        close(fd);
        return;
    }
    cl = xcalloc(1, sizeof(*cl));
    cl->c = c;
    cl->bev = bufferevent_socket_new(c->m->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(cl->bev, mc_read, NULL, mc_event, cl);
    bufferevent_set_timeouts(cl->bev, &tv, &tv);
    bufferevent_setwatermark(cl->bev, EV_READ, 0,
                             MASTER_PROTO_HEADER_SIZE
                             + MASTER_CONTROL_REQUEST_MAX);
    bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
    c->clients++;
    cl->next = c->list;
    c->list = cl;
}

/* master_control_open - bind the socket (0600) and listen */
struct master_control *
master_control_open(struct master *m, const char *path, struct dstr *why)
{
    struct master_control *c;
    struct sockaddr_un sun;
    mode_t  old;
    int     fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) < 0) {
        dstr_appendf(why, "%s: path too long for a socket", path);
        return NULL;
    }
    (void) unlink(path);               /* stale: we hold the pidfile lock */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dstr_appendf(why, "socket: %s", strerror(errno));
        return NULL;
    }
    old = umask(077);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        dstr_appendf(why, "%s: bind: %s", path, strerror(errno));
        umask(old);
        close(fd);
        return NULL;
    }
    umask(old);
    if (chmod(path, 0600) < 0 || listen(fd, MASTER_CONTROL_CLIENTS_MAX) < 0) {
        dstr_appendf(why, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->m = m;
    c->path = xstrdup(path);
    c->listener = evconnlistener_new(m->base, mc_accept, c,
                                     LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (c->listener == NULL) {
        dstr_appendf(why, "%s: cannot listen", path);
        close(fd);
        unlink(path);
        free(c->path);
        free(c);
        return NULL;
    }
    return c;
}

/* master_control_close - stop listening and remove the socket */
struct master_control *
master_control_close(struct master_control *c)
{
    struct mc_client *cl;

    if (c == NULL)
        return NULL;
    while ((cl = c->list) != NULL) {
        c->list = cl->next;
        bufferevent_free(cl->bev);
        free(cl);
    }
    evconnlistener_free(c->listener);
    unlink(c->path);
    free(c->path);
    free(c);
    return NULL;
}
