/* smtpd_policy - Postfix policy delegation, the client side; see smtpd_policy.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_message.h"
#include "smtpd/smtpd_policy.h"
#include "smtpd/smtpd_proxy.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"
#include "smtpd/smtpd_xclient.h"

#define POLICY_WHY_MAX 512              /* a reason for the log */
#define POLICY_EXCERPT_MAX 40           /* of a bad reply line, in the log */

/*
 * A request is in one state at a time. Its timer is the attempt's time
 * limit while QUEUED or ACTIVE and the pause before the next attempt
 * while RETRY; in DONE only its finish event is pending.
 */
enum policy_state {
    POLICY_QUEUED,                     /* waiting for a free connection */
    POLICY_ACTIVE,                     /* on a connection */
    POLICY_RETRY,                      /* between two attempts */
    POLICY_DONE,                       /* the answer is being delivered */
};

struct policy_server;

struct policy_conn {
    struct policy_server *srv;
    struct bufferevent *bev;
    struct event *idle;                /* max_idle while no request is out */
    long long born;                    /* ms, monotonic */
    unsigned long uses;                /* requests sent on it */
    int     connected;                 /* the connect completed */
    struct smtpd_policy_req *req;      /* NULL: idle */
    long long max_idle, max_ttl, reuse_limit;   /* of its last request */
    struct policy_conn *prev, *next;
};

struct policy_server {
    struct smtpd_policy *pol;
    char   *name;                      /* as written: "inet:127.0.0.1:9998" */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct policy_conn *conns;
    size_t  nconns;
    struct smtpd_policy_req *whead, *wtail;     /* QUEUED, oldest first */
    size_t  nwait;
    int     kicking;                   /* policy_kick() is running */
    struct policy_server *next;
};

struct smtpd_policy {
    struct event_base *base;
    struct policy_server *servers;
    size_t  nservers;
    struct smtpd_policy_req *live;     /* every request not yet freed */
};

struct smtpd_policy_req {
    struct smtpd_policy *pol;
    struct policy_server *srv;         /* NULL: unusable server name */
    char   *name;                      /* the server, for the log */
    enum policy_state state;
    char   *request;
    size_t  request_len;
    smtpd_policy_fn *fn;
    void   *arg;
    struct event *timer;
    struct event *finish;              /* deferred completion */
    struct policy_conn *conn;          /* while ACTIVE */
    long long attempt;                 /* attempts started */
    int     fresh;                     /* the next attempt: a new connection */
    char   *action;                    /* DONE: what fn gets */
    /* settings, copied from the personality that asked */
    long long timeout, retry_delay, max_idle, max_ttl, reuse_limit, tries;
    char   *default_action;
    struct smtpd_policy_req *prev, *next;       /* pol->live */
    struct smtpd_policy_req *wprev, *wnext;     /* srv wait list */
};

static void policy_kick(struct policy_server *srv);

/* policy_tv - milliseconds as a struct timeval */
static struct timeval
policy_tv(long long ms)
{
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    return tv;
}

/* policy_arm - (re)start an event's timer */
static void
policy_arm(struct event *ev, long long ms)
{
    struct timeval tv = policy_tv(ms);

    if (event_add(ev, &tv) < 0)
        log_panic("%s: event_add failed", __func__);
}

/* policy_duration - "1s" or "1500ms", for the log */
static void
policy_duration(char *buf, size_t size, long long ms)
{
    if (ms % 1000 == 0)
        (void) snprintf(buf, size, "%llds", ms / 1000);
    else
        (void) snprintf(buf, size, "%lldms", ms);
}

/* ------------------------------------------------------ reply parser */

/* policy_excerpt - a printable start of a bad line, for the reason */
static void
policy_excerpt(struct dstr *why, const char *line, size_t len)
{
    size_t  i;

    (void) dstr_append_char(why, '"');
    for (i = 0; i < len && i < POLICY_EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char) line[i];

        (void) dstr_append_char(why, c >= 0x20 && c < 0x7f && c != '"'
                                ? c : '?');
    }
    if (len > POLICY_EXCERPT_MAX)
        (void) dstr_append_str(why, "...");
    (void) dstr_append_char(why, '"');
}

/* policy_garbage - fill why, return -1 */
static int
policy_garbage(struct dstr *why, const char *what, const char *line,
               size_t len)
{
    dstr_reset(why);
    (void) dstr_append_str(why, "garbage reply: ");
    (void) dstr_append_str(why, what);
    if (line != NULL) {
        (void) dstr_append_char(why, ' ');
        policy_excerpt(why, line, len);
    }
    return -1;
}

/*
 * smtpd_policy_parse_reply - the first complete reply in buf. Only
 * complete lines are judged, so input may stop anywhere; limits are
 * checked on partial lines too, so that a server that never sends a
 * newline is garbage as soon as it is too long, not at the timeout.
 */
int
smtpd_policy_parse_reply(const char *buf, size_t len, struct dstr *action,
                         struct dstr *why)
{
    size_t  pos = 0, end, line_len, i;
    const char *line, *nl, *eq;
    int     have_action = 0, empty_action = 0;

    dstr_reset(action);
    dstr_reset(why);
    while (pos < len) {
        line = buf + pos;
        if ((nl = memchr(line, '\n', len - pos)) == NULL) {
            if (len - pos > SMTPD_POLICY_LINE_MAX)
                return policy_garbage(why, "line too long:", line, len - pos);
            if (len > SMTPD_POLICY_REPLY_MAX)
                return policy_garbage(why, "reply too long", NULL, 0);
            return 0;
        }
        end = (size_t) (nl - buf);
        line_len = end - pos;
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (line_len > SMTPD_POLICY_LINE_MAX)
            return policy_garbage(why, "line too long:", line, line_len);
        if (end + 1 > SMTPD_POLICY_REPLY_MAX)
            return policy_garbage(why, "reply too long", NULL, 0);
        if (line_len == 0) {
            if (pos == 0)
                return policy_garbage(why, "empty reply", NULL, 0);
            if (!have_action)
                return policy_garbage(why, "no action attribute", NULL, 0);
            if (empty_action)
                return policy_garbage(why, "empty action", NULL, 0);
            return (int) (end + 1);
        }
        eq = memchr(line, '=', line_len);
        if (eq == NULL || eq == line)
            return policy_garbage(why, "not name=value:", line, line_len);
        if ((size_t) (eq - line) == 6 && memcmp(line, "action", 6) == 0) {
            size_t  vlen = line_len - 7;

            if (dstr_set(action, eq + 1, vlen) < 0)
                return policy_garbage(why, "action too long", NULL, 0);
            for (i = 0; i < action->len; i++) {
                unsigned char c = (unsigned char) action->data[i];

                if (c < 0x20 || c == 0x7f)
                    action->data[i] = '?';
            }
            have_action = 1;
            empty_action = vlen == 0;
        }
        pos = end + 1;
    }
    if (len > SMTPD_POLICY_REPLY_MAX)
        return policy_garbage(why, "reply too long", NULL, 0);
    return 0;
}

/* ------------------------------------------------------ server names */

/*
 * policy_parse_server - inet:HOST:PORT or unix:PATH into a socket
 * address. Host names other than localhost are refused: resolving one
 * would block the worker, and a policy server is a local affair.
 */
static int
policy_parse_server(const char *server, const char *queue_dir,
                    struct sockaddr_storage *ss, socklen_t *len,
                    struct dstr *why)
{
    dstr_reset(why);
    memset(ss, 0, sizeof(*ss));
    if (strncmp(server, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *) ss;
        const char *path = server + 5;
        char    full[2 * sizeof(un->sun_path)];
        int     n;

        if (*path == '\0') {
            (void) dstr_append_str(why, "no socket path after unix:");
            return -1;
        }
        un->sun_family = AF_UNIX;
        if (*path == '/' || queue_dir == NULL || *queue_dir == '\0')
            n = snprintf(full, sizeof(full), "%s", path);
        else
            n = snprintf(full, sizeof(full), "%s/%s", queue_dir, path);
        if (n >= 0 && (size_t) n < sizeof(full))
            n = snprintf(un->sun_path, sizeof(un->sun_path), "%s",
                         jail_path(full));
        if (n < 0 || (size_t) n >= sizeof(un->sun_path)) {
            (void) dstr_appendf(why, "socket path longer than %zu bytes",
                                sizeof(un->sun_path) - 1);
            return -1;
        }
        *len = (socklen_t) sizeof(*un);
        return 0;
    }
    if (strncmp(server, "inet:", 5) == 0) {
        const char *host = server + 5, *colon = strrchr(host, ':');
        char    text[NETADDR_TEXT_MAX + 2];
        struct netaddr addr;
        unsigned long port;
        size_t  hlen;
        char   *endp;

        if (colon == NULL || colon[1] == '\0') {
            (void) dstr_append_str(why, "expected inet:HOST:PORT");
            return -1;
        }
        errno = 0;
        port = strtoul(colon + 1, &endp, 10);
        if (*endp != '\0' || errno != 0 || port == 0 || port > 65535
            || colon[1] < '0' || colon[1] > '9') {
            (void) dstr_appendf(why, "bad port \"%s\"", colon + 1);
            return -1;
        }
        hlen = (size_t) (colon - host);
        if (hlen == 9 && strncasecmp(host, "localhost", 9) == 0) {
            host = "127.0.0.1";
            hlen = strlen(host);
        }
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
            host++, hlen -= 2;
        if (hlen >= sizeof(text) || hlen == 0) {
            (void) dstr_append_str(why, "bad host address");
            return -1;
        }
        memcpy(text, host, hlen);
        text[hlen] = '\0';
        if (netaddr_parse(&addr, text) < 0) {
            (void) dstr_appendf(why, "host \"%s\" is not an IP address or"
                                " localhost", text);
            return -1;
        }
        if (netaddr_to_sockaddr(&addr, (unsigned) port, ss, len) < 0) {
            (void) dstr_append_str(why, "bad host address");
            return -1;
        }
        return 0;
    }
    (void) dstr_append_str(why, "expected inet:HOST:PORT or unix:PATH");
    return -1;
}

/* smtpd_policy_check_server - is this a usable server name */
int
smtpd_policy_check_server(const char *server, struct dstr *why)
{
    struct sockaddr_storage ss;
    socklen_t len;

    return policy_parse_server(server, NULL, &ss, &len, why);
}

/* policy_server_get - the server of that name, made on first use */
static struct policy_server *
policy_server_get(struct smtpd_policy *pol, const char *name,
                  const char *queue_dir, struct dstr *why)
{
    struct policy_server *srv;

    for (srv = pol->servers; srv != NULL; srv = srv->next)
        if (strcmp(srv->name, name) == 0)
            return srv;
    if (pol->nservers >= SMTPD_POLICY_SERVER_MAX) {
        dstr_reset(why);
        (void) dstr_appendf(why, "more than %d policy servers",
                            SMTPD_POLICY_SERVER_MAX);
        return NULL;
    }
    srv = xcalloc(1, sizeof(*srv));
    if (policy_parse_server(name, queue_dir, &srv->addr, &srv->addr_len,
                            why) < 0) {
        free(srv);
        return NULL;
    }
    srv->pol = pol;
    srv->name = xstrdup(name);
    srv->next = pol->servers;
    pol->servers = srv;
    pol->nservers++;
    return srv;
}

/* ------------------------------------------------------- requests */

/* policy_wait_unlink - take a QUEUED request off its server's list */
static void
policy_wait_unlink(struct smtpd_policy_req *req)
{
    struct policy_server *srv = req->srv;

    if (req->wprev)
        req->wprev->wnext = req->wnext;
    else
        srv->whead = req->wnext;
    if (req->wnext)
        req->wnext->wprev = req->wprev;
    else
        srv->wtail = req->wprev;
    req->wprev = req->wnext = NULL;
    srv->nwait--;
}

/* policy_req_free - unlink from the live list and release */
static void
policy_req_free(struct smtpd_policy_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        req->pol->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    event_free(req->timer);
    event_free(req->finish);
    free(req->name);
    free(req->request);
    free(req->action);
    free(req->default_action);
    free(req);
}

/* policy_finish_event - deliver the answer from the loop */
static void
policy_finish_event(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_policy_req *req = arg;
    smtpd_policy_fn *fn = req->fn;
    void   *fn_arg = req->arg;
    char   *action = req->action;

    (void) fd;
    (void) what;
    req->action = NULL;
    policy_req_free(req);
    if (fn != NULL)
        fn(fn_arg, action);
    free(action);
}

/*
 * policy_finish - the answer is final: action, or the default action
 * when why says what went wrong. The request must be off any
 * connection and wait list already.
 */
static void
policy_finish(struct smtpd_policy_req *req, const char *action,
              const char *why)
{
    if (why != NULL) {
        log_warn("policy %s: %s: using default action %s", req->name, why,
                 req->default_action);
        action = req->default_action;
    }
    (void) event_del(req->timer);
    req->state = POLICY_DONE;
    req->action = xstrdup(action);
    event_active(req->finish, EV_TIMEOUT, 0);
}

/* policy_fail - an attempt failed: try again later, or give up */
static void
policy_fail(struct smtpd_policy_req *req, const char *why)
{
    char    delay[32];

    (void) event_del(req->timer);
    if (req->attempt < req->tries) {
        policy_duration(delay, sizeof(delay), req->retry_delay);
        log_warn("policy %s: %s (attempt %lld of %lld); trying again in %s",
                 req->name, why, req->attempt, req->tries, delay);
        req->state = POLICY_RETRY;
        req->fresh = 1;
        policy_arm(req->timer, req->retry_delay);
    } else if (req->tries > 1) {
        char    text[POLICY_WHY_MAX];

        (void) snprintf(text, sizeof(text), "%s (attempt %lld of %lld)",
                        why, req->attempt, req->tries);
        policy_finish(req, NULL, text);
    } else {
        policy_finish(req, NULL, why);
    }
}

/* ---------------------------------------------------- connections */

/* policy_conn_close - end a connection; its request, if any, is not touched */
static void
policy_conn_close(struct policy_conn *conn)
{
    struct policy_server *srv = conn->srv;

    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    srv->nconns--;
    if (conn->req != NULL)
        conn->req->conn = NULL;
    bufferevent_free(conn->bev);
    event_free(conn->idle);
    free(conn);
}

/* policy_conn_fail - the connection failed its request: close, then retry */
static void
policy_conn_fail(struct policy_conn *conn, const char *why)
{
    struct policy_server *srv = conn->srv;
    struct smtpd_policy_req *req = conn->req;

    conn->req = NULL;
    policy_conn_close(conn);
    if (req != NULL) {
        req->conn = NULL;
        policy_fail(req, why);
    }
    policy_kick(srv);
}

/* policy_conn_reusable - may this idle connection take another request */
static int
policy_conn_reusable(const struct policy_conn *conn)
{
    if (conn->reuse_limit > 0
        && conn->uses >= (unsigned long) conn->reuse_limit)
        return 0;
    return clock_mono_ms() - conn->born < conn->max_ttl;
}

/* policy_read - the server's reply, or data it should not have sent */
static void
policy_read(struct bufferevent *bev, void *arg)
{
    struct policy_conn *conn = arg;
    struct policy_server *srv = conn->srv;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t  len = evbuffer_get_length(in);
    struct smtpd_policy_req *req = conn->req;
    struct dstr *action, *why;
    const char *data;
    int     n;

    if (len == 0)
        return;
    if (req == NULL) {
        log_warn("policy %s: data from the server while no request is out;"
                 " closing the connection", srv->name);
        policy_conn_close(conn);
        policy_kick(srv);
        return;
    }
    if ((data = (const char *) evbuffer_pullup(in, (ev_ssize_t) len)) == NULL)
        log_fatal("policy %s: out of memory", srv->name);
    action = dstr_new(64, SMTPD_POLICY_LINE_MAX);
    why = dstr_new(64, POLICY_WHY_MAX);
    n = smtpd_policy_parse_reply(data, len, action, why);
    if (n < 0) {
        policy_conn_fail(conn, why->data);
    } else if (n > 0) {
        (void) evbuffer_drain(in, (size_t) n);
        conn->req = NULL;
        req->conn = NULL;
        if (evbuffer_get_length(in) > 0) {
            log_warn("policy %s: more than one reply; closing the connection",
                     srv->name);
            policy_conn_close(conn);
        } else if (!policy_conn_reusable(conn)) {
            policy_conn_close(conn);
        } else {
            policy_arm(conn->idle, conn->max_idle);
        }
        policy_finish(req, action->data, NULL);
        policy_kick(srv);
    }
    action = dstr_free(action);
    why = dstr_free(why);
}

/* policy_event - connected, or the connection ended */
static void
policy_event(struct bufferevent *bev, short what, void *arg)
{
    struct policy_conn *conn = arg;
    struct policy_server *srv = conn->srv;
    char    why[POLICY_WHY_MAX];
    int     err = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_CONNECTED) {
        conn->connected = 1;
        return;
    }
    if (conn->req == NULL) {
        /* an idle connection the server closed: the usual end */
        policy_conn_close(conn);
        policy_kick(srv);
        return;
    }
    /* XXX errno is read late (callbacks are deferred): usually right */
    if (what & BEV_EVENT_EOF)
        (void) snprintf(why, sizeof(why), "connection closed by the server");
    else
        (void) snprintf(why, sizeof(why), "%s%s%s", conn->connected
                        ? "connection failed" : "cannot connect",
                        err != 0 ? ": " : "",
                        err != 0 ? evutil_socket_error_to_string(err) : "");
    policy_conn_fail(conn, why);
}

/* policy_idle_event - an unused connection timed out */
static void
policy_idle_event(evutil_socket_t fd, short what, void *arg)
{
    struct policy_conn *conn = arg;

    (void) fd;
    (void) what;
    policy_conn_close(conn);
}

/*
 * policy_conn_open - a new connection, connecting. The bufferevent
 * defers its callbacks, so even a connect that fails at once reports
 * from the loop and never into the middle of our own bookkeeping.
 */
static struct policy_conn *
policy_conn_open(struct policy_server *srv, struct dstr *why)
{
    struct policy_conn *conn;
    struct bufferevent *bev;

    bev = bufferevent_socket_new(srv->pol->base, -1, BEV_OPT_CLOSE_ON_FREE
                                 | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        dstr_reset(why);
        (void) dstr_appendf(why, "cannot make a socket: %m");
        return NULL;
    }
    if (bufferevent_socket_connect(bev, (struct sockaddr *) &srv->addr,
                                   (int) srv->addr_len) < 0) {
        int     err = errno;

        bufferevent_free(bev);
        dstr_reset(why);
        errno = err;
        (void) dstr_appendf(why, "cannot connect: %m");
        return NULL;
    }
    conn = xcalloc(1, sizeof(*conn));
    conn->srv = srv;
    conn->bev = bev;
    conn->born = clock_mono_ms();
    conn->idle = evtimer_new(srv->pol->base, policy_idle_event, conn);
    if (conn->idle == NULL)
        log_fatal("policy %s: evtimer_new failed", srv->name);
    bufferevent_setcb(bev, policy_read, NULL, policy_event, conn);
    bufferevent_setwatermark(bev, EV_READ, 0, SMTPD_POLICY_REPLY_MAX + 1);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    conn->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->nconns++;
    return conn;
}

/* policy_conn_idle - an idle connection that may be used, or NULL */
static struct policy_conn *
policy_conn_idle(struct policy_server *srv)
{
    struct policy_conn *conn, *next;

    for (conn = srv->conns; conn != NULL; conn = next) {
        next = conn->next;
        if (conn->req != NULL)
            continue;
        if (policy_conn_reusable(conn))
            return conn;
        policy_conn_close(conn);
    }
    return NULL;
}

/* policy_assign - send a request over a connection */
static void
policy_assign(struct policy_conn *conn, struct smtpd_policy_req *req)
{
    (void) event_del(conn->idle);
    conn->req = req;
    conn->uses++;
    conn->max_idle = req->max_idle;
    conn->max_ttl = req->max_ttl;
    conn->reuse_limit = req->reuse_limit;
    req->conn = conn;
    req->state = POLICY_ACTIVE;
    if (bufferevent_write(conn->bev, req->request, req->request_len) < 0)
        log_fatal("policy %s: out of memory", conn->srv->name);
}

/*
 * policy_kick - hand waiting requests to idle connections, or to new
 * ones while there is room. A connect that fails at once fails that
 * attempt and the loop goes on with the next request; the guard keeps
 * this from recursing through policy_conn_fail().
 */
static void
policy_kick(struct policy_server *srv)
{
    struct smtpd_policy_req *req;
    struct policy_conn *conn;
    struct dstr *why;

    if (srv->kicking || srv->whead == NULL)
        return;
    srv->kicking = 1;
    why = dstr_new(64, POLICY_WHY_MAX);
    while ((req = srv->whead) != NULL) {
        if ((conn = policy_conn_idle(srv)) == NULL
            && srv->nconns >= SMTPD_POLICY_CONN_MAX)
            break;
        policy_wait_unlink(req);
        if (conn == NULL && (conn = policy_conn_open(srv, why)) == NULL) {
            policy_fail(req, why->data);
            continue;
        }
        policy_assign(conn, req);
    }
    why = dstr_free(why);
    srv->kicking = 0;
}

/* policy_dispatch - start an attempt: a connection now, or wait for one */
static void
policy_dispatch(struct smtpd_policy_req *req)
{
    struct policy_server *srv = req->srv;
    struct policy_conn *conn = NULL;
    struct dstr *why;

    req->attempt++;
    policy_arm(req->timer, req->timeout);
    if (!req->fresh && srv->whead == NULL)
        conn = policy_conn_idle(srv);
    req->fresh = 0;
    if (conn == NULL && srv->whead == NULL
        && srv->nconns < SMTPD_POLICY_CONN_MAX) {
        why = dstr_new(64, POLICY_WHY_MAX);
        conn = policy_conn_open(srv, why);
        if (conn == NULL)
            policy_fail(req, why->data);
        why = dstr_free(why);
        if (conn == NULL)
            return;
    }
    if (conn != NULL) {
        policy_assign(conn, req);
        return;
    }
    if (srv->nwait >= SMTPD_POLICY_WAIT_MAX) {
        policy_fail(req, "too many requests waiting for a connection");
        return;
    }
    req->state = POLICY_QUEUED;
    req->wprev = srv->wtail;
    req->wnext = NULL;
    if (srv->wtail)
        srv->wtail->wnext = req;
    else
        srv->whead = req;
    srv->wtail = req;
    srv->nwait++;
}

/* policy_timer_event - an attempt ran out of time, or a retry is due */
static void
policy_timer_event(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_policy_req *req = arg;
    char    why[POLICY_WHY_MAX], limit[32];

    (void) fd;
    (void) what;
    policy_duration(limit, sizeof(limit), req->timeout);
    switch (req->state) {
    case POLICY_QUEUED:
        policy_wait_unlink(req);
        (void) snprintf(why, sizeof(why), "no free connection within %s",
                        limit);
        policy_fail(req, why);
        break;
    case POLICY_ACTIVE:
        (void) snprintf(why, sizeof(why), "no reply within %s", limit);
        if (req->conn != NULL)
            policy_conn_fail(req->conn, why);
        else
            policy_fail(req, why);
        break;
    case POLICY_RETRY:
        policy_dispatch(req);
        break;
    case POLICY_DONE:
        break;
    }
}

/* ------------------------------------------------------- interface */

/* smtpd_policy_new - a client for base's loop, with no connection yet */
struct smtpd_policy *
smtpd_policy_new(struct event_base *base)
{
    struct smtpd_policy *pol = xcalloc(1, sizeof(*pol));

    pol->base = base;
    return pol;
}

/* smtpd_policy_query - send request to server; fn(arg, action) later */
struct smtpd_policy_req *
smtpd_policy_query(struct smtpd_policy *pol, const char *server,
                   const struct params *p, const struct dstr *request,
                   smtpd_policy_fn *fn, void *arg)
{
    struct smtpd_policy_req *req = xcalloc(1, sizeof(*req));
    struct dstr *why;

    req->pol = pol;
    req->name = xstrdup(server);
    req->fn = fn;
    req->arg = arg;
    req->request = xmemdup(request->data, request->len);
    req->request_len = request->len;
    req->timeout = p->smtpd_policy_service_timeout;
    req->retry_delay = p->smtpd_policy_service_retry_delay;
    req->max_idle = p->smtpd_policy_service_max_idle;
    req->max_ttl = p->smtpd_policy_service_max_ttl;
    req->reuse_limit = p->smtpd_policy_service_reuse_count_limit;
    req->tries = p->smtpd_policy_service_try_limit > 0
        ? p->smtpd_policy_service_try_limit : 1;
    req->default_action = xstrdup(p->smtpd_policy_service_default_action);
    req->timer = evtimer_new(pol->base, policy_timer_event, req);
    req->finish = event_new(pol->base, -1, 0, policy_finish_event, req);
    if (req->timer == NULL || req->finish == NULL)
        log_fatal("policy %s: event_new failed", server);
    req->next = pol->live;
    if (pol->live)
        pol->live->prev = req;
    pol->live = req;

    if (request->len < 2 || request->data[request->len - 1] != '\n'
        || request->data[request->len - 2] != '\n') {
        policy_finish(req, NULL, "request not ended by an empty line"
                      " (too long?)");
        return req;
    }
    why = dstr_new(64, POLICY_WHY_MAX);
    req->srv = policy_server_get(pol, server, p->queue_directory, why);
    if (req->srv == NULL)
        policy_finish(req, NULL, why->data);
    else
        policy_dispatch(req);
    why = dstr_free(why);
    return req;
}

/*
 * smtpd_policy_cancel - the caller stops waiting. A request on a
 * connection takes the connection with it: the server's reply to it may
 * be on its way, and a reused connection would hand it to the next
 * request.
 */
void
smtpd_policy_cancel(struct smtpd_policy_req *req)
{
    struct policy_server *srv;

    if (req == NULL)
        return;
    srv = req->srv;
    switch (req->state) {
    case POLICY_QUEUED:
        policy_wait_unlink(req);
        break;
    case POLICY_ACTIVE:
        if (req->conn != NULL) {
            req->conn->req = NULL;
            policy_conn_close(req->conn);
        }
        break;
    case POLICY_RETRY:
    case POLICY_DONE:
        break;
    }
    policy_req_free(req);
    if (srv != NULL)
        policy_kick(srv);
}

/* smtpd_policy_free - close everything; no callback is called */
struct smtpd_policy *
smtpd_policy_free(struct smtpd_policy *pol)
{
    struct policy_server *srv;

    if (pol == NULL)
        return NULL;
    while ((srv = pol->servers) != NULL) {
        pol->servers = srv->next;
        while (srv->conns != NULL)
            policy_conn_close(srv->conns);
        free(srv->name);
        free(srv);
    }
    while (pol->live != NULL)
        policy_req_free(pol->live);
    free(pol);
    return NULL;
}

/* ------------------------------------------------- request builder */

/* policy_attr - append "name=value\n", value cut and without CR or LF */
static void
policy_attr(struct dstr *out, const char *name, const char *value)
{
    char    buf[SMTPD_POLICY_VALUE_MAX];
    size_t  i;

    if (value == NULL)
        value = "";
    for (i = 0; value[i] != '\0' && i < sizeof(buf); i++)
        buf[i] = value[i] == '\n' || value[i] == '\r' ? '?' : value[i];
    (void) dstr_append_str(out, name);
    (void) dstr_append_char(out, '=');
    (void) dstr_append(out, buf, i);
    (void) dstr_append_char(out, '\n');
}

/* policy_attr_num - append "name=NUMBER\n" */
static void
policy_attr_num(struct dstr *out, const char *name, long long value)
{
    char    buf[32];

    (void) snprintf(buf, sizeof(buf), "%lld", value);
    policy_attr(out, name, buf);
}

/* policy_mail_count - MAIL commands so far in the session */
static unsigned long
policy_mail_count(const struct session *s)
{
    static size_t index = SESSION_COUNTERS;
    const char *name;
    size_t  i;

    if (index == SESSION_COUNTERS)
        for (i = 0; i < SESSION_COUNTERS && index == SESSION_COUNTERS; i++)
            if ((name = smtpd_cmd_counter_name(i)) != NULL
                && strcmp(name, "mail") == 0)
                index = i;
    return index < SESSION_COUNTERS ? s->cmd_total[index] : 0;
}

/* policy_local_end - our end of the session: XCLIENT's, or the socket's */
static void
policy_local_end(const struct session *s, char *addr, size_t size,
                 unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct netaddr na;
    evutil_socket_t fd;

    addr[0] = '\0';
    *port = 0;
    fd = s->plain != NULL ? bufferevent_getfd(s->plain) : -1;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *) &ss, &len) == 0
        && netaddr_from_sockaddr(&na, port, (struct sockaddr *) &ss, len) == 0) {
        (void) netaddr_unmap(&na, &na);
        if (netaddr_format(&na, addr, size) < 0)
            addr[0] = '\0';
    }
    if (s->proxy != NULL) {
        /* behind a balancer: the address the client connected to */
        (void) netaddr_unmap(&na, &s->proxy->dst);
        if (netaddr_format(&na, addr, size) < 0)
            addr[0] = '\0';
        *port = s->proxy->dst_port;
    }
    if (s->xclient != NULL && s->xclient->dest_addr[0] != '\0')
        (void) str_copy(addr, size, s->xclient->dest_addr);
    if (s->xclient != NULL && s->xclient->dest_port != 0)
        *port = s->xclient->dest_port;
}

/* policy_state_has_rcpts - DATA and after: recipient_count counts */
static int
policy_state_has_rcpts(const char *state)
{
    return strcmp(state, "DATA") == 0 || strcmp(state, "BDAT") == 0
        || strcmp(state, "END-OF-MESSAGE") == 0;
}

/* smtpd_policy_request - the attribute block for s at state */
void
smtpd_policy_request(const struct session *s, const char *state,
                     const char *rcpt, struct dstr *out)
{
    char    server_addr[NETADDR_TEXT_MAX], instance[64];
    unsigned server_port;
    const char *login = smtpd_xclient_login(s);
    const char *recipient = NULL, *etrn = NULL;
    const char *reverse;
    int     after_rcpt = policy_state_has_rcpts(state);

    dstr_reset(out);
    if (strcmp(state, "ETRN") == 0)
        etrn = rcpt;
    else if (rcpt != NULL)
        recipient = rcpt;
    else if (after_rcpt && s->rcpt_count == 1)
        recipient = s->rcpt[0].addr;
    reverse = s->xclient != NULL && s->xclient->reverse_name != NULL
        ? s->xclient->reverse_name : s->reverse_name != NULL
        ? s->reverse_name : s->name;
    policy_local_end(s, server_addr, sizeof(server_addr), &server_port);
    (void) snprintf(instance, sizeof(instance), "%lx.%lx.%lx",
                    (unsigned long) getpid(), s->id, policy_mail_count(s));

    policy_attr(out, "request", "smtpd_access_policy");
    policy_attr(out, "protocol_state", state);
    policy_attr(out, "protocol_name",
                (s->flags & SESSION_F_EHLO) ? "ESMTP" : "SMTP");
    policy_attr(out, "helo_name", s->helo);
    policy_attr(out, "queue_id", smtpd_message_id(s));
    policy_attr(out, "sender", s->sender);
    policy_attr(out, "recipient", recipient);
    policy_attr_num(out, "recipient_count",
                    after_rcpt ? (long long) s->rcpt_count : 0);
    policy_attr(out, "client_address", s->addr_text);
    policy_attr(out, "client_name", s->name);
    policy_attr(out, "reverse_client_name", reverse);
    policy_attr(out, "instance", instance);
    policy_attr(out, "sasl_method", login != NULL ? "XCLIENT" : "");
    policy_attr(out, "sasl_username", login);
    policy_attr(out, "sasl_sender", "");
    /* at the end of the message its real size, before it SIZE= */
    policy_attr_num(out, "size", smtpd_message_size(s) >= 0
                    ? smtpd_message_size(s)
                    : s->mail_size > 0 ? s->mail_size : 0);
    policy_attr(out, "ccert_subject", "");
    policy_attr(out, "ccert_issuer", "");
    policy_attr(out, "ccert_fingerprint", "");
    policy_attr(out, "ccert_pubkey_fingerprint", "");
    policy_attr(out, "encryption_protocol",
                s->tls != NULL ? s->tls->protocol : "");
    policy_attr(out, "encryption_cipher", s->tls != NULL ? s->tls->cipher : "");
    policy_attr_num(out, "encryption_keysize", s->tls != NULL ? s->tls->bits : 0);
    policy_attr(out, "etrn_domain", etrn);
    policy_attr(out, "stress", s->pers != NULL && s->pers->stress ? "yes" : "");
    policy_attr_num(out, "client_port", s->port);
    policy_attr(out, "policy_context", s->p != NULL
                ? s->p->smtpd_policy_service_policy_context : "");
    policy_attr(out, "server_address", server_addr);
    policy_attr_num(out, "server_port", server_port);
    policy_attr(out, "compatibility_level", SMTPD_POLICY_COMPAT_LEVEL);
    policy_attr(out, "mail_version", SMTPD_POLICY_MAIL_VERSION);
    policy_attr(out, "personality", s->pers != NULL ? s->pers->name : "");
    policy_attr(out, "client_class",
                s->pers != NULL ? s->pers->class_name : "");
    (void) dstr_append_char(out, '\n');
}
