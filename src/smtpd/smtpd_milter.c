/* smtpd_milter - a session's milters: connections, stages, replies, failure; see smtpd_milter.h. */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_milter_edit.h"
#include "smtpd/smtpd_milter_proto.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"
#include "smtpd/smtpd_xclient.h"

#define MILTER_REPLY_REJECT   "550 5.7.1 Command rejected"
#define MILTER_REPLY_TEMPFAIL "451 4.7.1 Service unavailable - try again later"
#define MILTER_REPLY_DOWN     "550 5.7.1 Service unavailable"
#define MILTER_REPLY_SHUTDOWN "421 4.7.0 Server closing connection"
#define MILTER_REPLY_CONFIG \
    "451 4.3.5 Server configuration problem - try again later"
#define MILTER_REPLY_READ     "451 4.3.0 Error: queue file read error"
#define MILTER_REPLY_TOO_BIG  "552 5.3.4 Error: message file too big"
#define MILTER_REPLY_MAX      4096      /* a milter's SMTP reply, normalized */
#define MILTER_MACROS_MAX     64        /* names in one macro list */
#define MILTER_WHY_MAX        512

/* The protocol steps each version defines, as Postfix offers them. */
#define MILTER_V2_STEPS (SMTPD_MILTER_P_NOCONNECT | SMTPD_MILTER_P_NOHELO \
        | SMTPD_MILTER_P_NOMAIL | SMTPD_MILTER_P_NORCPT \
        | SMTPD_MILTER_P_NOBODY | SMTPD_MILTER_P_NOHDRS \
        | SMTPD_MILTER_P_NOEOH)
#define MILTER_V3_STEPS (MILTER_V2_STEPS | SMTPD_MILTER_P_NOUNKNOWN)
#define MILTER_V4_STEPS (MILTER_V3_STEPS | SMTPD_MILTER_P_NODATA)
#define MILTER_V6_STEPS (MILTER_V4_STEPS | SMTPD_MILTER_P_SKIP \
        | SMTPD_MILTER_P_NR_HDR | SMTPD_MILTER_P_NR_CONN \
        | SMTPD_MILTER_P_NR_HELO | SMTPD_MILTER_P_NR_MAIL \
        | SMTPD_MILTER_P_NR_RCPT | SMTPD_MILTER_P_NR_DATA \
        | SMTPD_MILTER_P_NR_UNKN | SMTPD_MILTER_P_NR_EOH \
        | SMTPD_MILTER_P_NR_BODY | SMTPD_MILTER_P_HDR_LEADSPC)
#define MILTER_KNOWN_STEPS 0x001fffffu

enum milter_state {
    MS_NEW,                            /* no connection yet */
    MS_CONNECTING,                     /* connect() running */
    MS_NEGOTIATING,                    /* OPTNEG sent */
    MS_READY,                          /* negotiated, no connect event yet */
    MS_ENVELOPE,                       /* talking */
    MS_ACCEPT_CON,                     /* accepted the connection: done */
    MS_REJECT_CON,                     /* rejected it: def_reply for all */
    MS_ACCEPT_MSG,                     /* accepted the message: wait */
    MS_ERROR,                          /* failed: its default action */
};

enum milter_def {
    DEF_ACCEPT,
    DEF_REJECT,
    DEF_TEMPFAIL,
    DEF_QUARANTINE,
    DEF_BAD,                           /* not a known action */
};

/* What one milter does in the running stage, in order. */
enum milter_phase {
    PH_CONNECT,                        /* its connect event, if not sent */
    PH_EVENT,                          /* the stage's event */
    PH_HEADERS,                        /* EOM: header fields */
    PH_EOH,
    PH_BODY,
    PH_EOB,
    PH_END,                            /* nothing more to send */
};

enum milter_step {
    STEP_WAIT,                         /* for I/O: a callback goes on */
    STEP_AGAIN,                        /* look at this milter again */
    STEP_NEXT,                         /* this milter is done: the next */
    STEP_STOP,                         /* a final verdict: end the stage */
};

struct milter {
    struct smtpd_milters *ms;
    size_t  index;
    struct smtpd_milter_conf conf;
    enum milter_state state;
    struct bufferevent *bev;
    struct event *timer;
    const char *waiting;               /* what the timer waits for */
    long long wait_ms;
    uint32_t offered;                  /* the steps we offered */
    uint32_t version, actions, pflags; /* negotiated */
    char   *symlist[SMTPD_MILTER_PROTO_STAGES];
    char   *def_reply;                 /* REJECT_CON, ERROR: the reply */
    int     def_hold;                  /* ERROR: quarantine */
    int     in_mail;                   /* ABORT due at the end */
    int     awaiting;                  /* a reply is due */
    int     event;                     /* ... to this command */
    unsigned replies;                  /* packets for it so far */
    int     write_wait;                /* output full: wait for it */
};

struct smtpd_milters {
    struct session *s;
    struct event_base *base;
    struct milter *m;
    size_t  count;

    /* the running stage */
    int     running;
    enum smtpd_milter_stage stage;
    size_t  cur;                       /* the milter being asked */
    enum milter_phase phase;
    size_t  hstep;                     /* EOM: next header field */
    long long body_pos;                /* EOM: body bytes sent */
    int     mdone;                     /* cur is done with the stage */
    int     stop;                      /* a final verdict is in */
    smtpd_milter_fn *done;
    void   *done_arg;
    struct smtpd_milter_args args;
    char   *arg;                       /* copies of the arguments */
    char  **esmtp;
    struct event *finish;
    int     finishing;                 /* finish is active */
    enum smtpd_milter_action action;
    struct dstr *reply;
    int     close;
    const char *decider;

    /* the transaction */
    char   *queue_id;
    char   *mail_addr;
    char   *rcpt_addr;
    char   *hold;                      /* quarantine reason */
    int     discard;
    struct smtpd_milter_mods *mods;
    struct smtpd_milter_hdrs hdrs;
    size_t  body_off;
    size_t  mark;                      /* mods->count before cur's EOB */
    struct dstr *new_body;             /* cur's REPLBODY */
    int     body_overflow;

    struct dstr *out;                  /* a packet being built */
    struct dstr *cmd;
    struct dstr *val;
    char   *chunk;
    char    daemon_addr[NETADDR_TEXT_MAX];
    unsigned daemon_port;
    int     daemon_known;
};

static void stage_run(struct smtpd_milters *ms);

/* smtpd_milter_stage_name - a stage for logs */
const char *
smtpd_milter_stage_name(enum smtpd_milter_stage stage)
{
    switch (stage) {
    case SMTPD_MILTER_CONNECT:
        return "CONNECT";
    case SMTPD_MILTER_HELO:
        return "HELO";
    case SMTPD_MILTER_MAIL:
        return "MAIL";
    case SMTPD_MILTER_RCPT:
        return "RCPT";
    case SMTPD_MILTER_DATA:
        return "DATA";
    case SMTPD_MILTER_UNKNOWN:
        return "UNKNOWN";
    case SMTPD_MILTER_EOM:
        return "END-OF-MESSAGE";
    }
    return "?";
}

/* smtpd_milter_action_name - an action for logs */
const char *
smtpd_milter_action_name(enum smtpd_milter_action action)
{
    switch (action) {
    case SMTPD_MILTER_CONTINUE:
        return "continue";
    case SMTPD_MILTER_ACCEPT:
        return "accept";
    case SMTPD_MILTER_REJECT:
        return "reject";
    case SMTPD_MILTER_TEMPFAIL:
        return "tempfail";
    case SMTPD_MILTER_DISCARD:
        return "discard";
    case SMTPD_MILTER_QUARANTINE:
        return "quarantine";
    }
    return "?";
}

/* ------------------------------------------------------------ settings */

/* milter_def_parse - a default action by name */
static enum milter_def
milter_def_parse(const char *name)
{
    if (str_eq_nocase(name, "accept"))
        return DEF_ACCEPT;
    if (str_eq_nocase(name, "reject"))
        return DEF_REJECT;
    if (str_eq_nocase(name, "tempfail"))
        return DEF_TEMPFAIL;
    if (str_eq_nocase(name, "quarantine"))
        return DEF_QUARANTINE;
    return DEF_BAD;
}

/*
 * smtpd_milter_endpoint - the socket address of inet:HOST:PORT,
 * inet:PORT@HOST, unix:PATH or local:PATH. HOST is an address (IPv6 in
 * brackets with the first form) or localhost: names would need a
 * resolver that blocks.
 */
int
smtpd_milter_endpoint(const char *endpoint, struct sockaddr_storage *ss,
                      socklen_t *len, struct dstr *why)
{
    struct sockaddr_un *sun = (struct sockaddr_un *) ss;
    char    host[256], port_buf[16];
    const char *rest, *port_text, *host_text, *colon, *at;
    size_t  host_len, port_len;
    long long port;
    struct netaddr addr;

    memset(ss, 0, sizeof(*ss));
    if (strncmp(endpoint, "unix:", 5) == 0
        || strncmp(endpoint, "local:", 6) == 0) {
        rest = jail_path(strchr(endpoint, ':') + 1);
        if (*rest == '\0' || strlen(rest) >= sizeof(sun->sun_path)) {
            dstr_appendf(why, "%s: bad socket path", endpoint);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, rest, strlen(rest) + 1);
        *len = (socklen_t) sizeof(*sun);
        return 0;
    }
    if (strncmp(endpoint, "inet:", 5) != 0) {
        dstr_appendf(why, "%s: expected inet:HOST:PORT or unix:PATH",
                     endpoint);
        return -1;
    }
    rest = endpoint + 5;
    if ((at = strchr(rest, '@')) != NULL) {    /* Sendmail: PORT@HOST */
        port_text = rest;
        port_len = (size_t) (at - rest);
        host_text = at + 1;
        host_len = strlen(host_text);
    } else if (*rest == '[') {                 /* [IPv6]:PORT */
        if ((colon = strchr(rest, ']')) == NULL || colon[1] != ':')
            goto bad;
        host_text = rest + 1;
        host_len = (size_t) (colon - host_text);
        port_text = colon + 2;
        port_len = strlen(port_text);
    } else {                                    /* HOST:PORT */
        if ((colon = strrchr(rest, ':')) == NULL)
            goto bad;
        host_text = rest;
        host_len = (size_t) (colon - rest);
        port_text = colon + 1;
        port_len = strlen(port_text);
    }
    if (host_len == 0 || host_len >= sizeof(host) || port_len == 0
        || port_len >= sizeof(port_buf))
        goto bad;
    memcpy(host, host_text, host_len);
    host[host_len] = '\0';
    memcpy(port_buf, port_text, port_len);
    port_buf[port_len] = '\0';
    if (units_parse_int(port_buf, &port) < 0)
        goto bad;
    if (port < 1 || port > 65535)
        goto bad;
    if (strcasecmp(host, "localhost") == 0)
        (void) str_copy(host, sizeof(host), "127.0.0.1");
    if (netaddr_parse(&addr, host) < 0) {
        dstr_appendf(why, "%s: host must be an IP address or localhost",
                     endpoint);
        return -1;
    }
    if (netaddr_to_sockaddr(&addr, (unsigned) port, ss, len) < 0)
        goto bad;
    return 0;
  bad:
    dstr_appendf(why, "%s: expected inet:HOST:PORT, inet:PORT@HOST or"
                 " unix:PATH", endpoint);
    return -1;
}

/* conf_trim - a copy of [p, p+n) without surrounding blanks */
static char *
conf_trim(const char *p, size_t n)
{
    while (n > 0 && isspace((unsigned char) *p)) {
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char) p[n - 1]))
        n--;
    return xstrndup(p, n);
}

/* conf_setting - one name=value of a "{ ... }" group */
static int
conf_setting(struct smtpd_milter_conf *c, const char *name,
             const char *value, struct dstr *why)
{
    long long *t = NULL, v;

    if (strcmp(name, "connect_timeout") == 0)
        t = &c->connect_timeout;
    else if (strcmp(name, "command_timeout") == 0)
        t = &c->command_timeout;
    else if (strcmp(name, "content_timeout") == 0)
        t = &c->content_timeout;
    if (t != NULL) {
        if (units_parse_time(value, 's', &v) < 0 || v < 100
            || v > 3600 * 1000LL) {
            dstr_appendf(why, "%s: \"%s\" is not a time from 100ms to 1h",
                         name, value);
            return -1;
        }
        *t = v;
        return 0;
    }
    if (strcmp(name, "default_action") == 0) {
        if (milter_def_parse(value) == DEF_BAD) {
            dstr_appendf(why, "default_action: \"%s\" is not accept,"
                         " reject, tempfail or quarantine", value);
            return -1;
        }
        free(c->default_action);
        c->default_action = xstrdup(value);
        return 0;
    }
    if (strcmp(name, "protocol") == 0) {
        if (units_parse_int(value, &v) < 0 || (v != 2 && v != 3 && v != 4
                                               && v != 6)) {
            dstr_appendf(why, "protocol: \"%s\" is not 2, 3, 4 or 6", value);
            return -1;
        }
        c->protocol = v;
        return 0;
    }
    dstr_appendf(why, "unknown milter setting \"%s\" (use connect_timeout,"
                 " command_timeout, content_timeout, default_action or"
                 " protocol)", name);
    return -1;
}

/*
 * smtpd_milter_conf_parse - an smtpd_milters item: an endpoint, or
 * "{ endpoint, name=value, ... }" as Postfix writes per-milter settings.
 */
int
smtpd_milter_conf_parse(const char *item, struct smtpd_milter_conf *c,
                        struct dstr *why)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char   *inner, *piece, *eq;
    const char *p, *comma;
    size_t  n = strlen(item);
    int     ret = 0;

    memset(c, 0, sizeof(*c));
    c->connect_timeout = c->command_timeout = c->content_timeout = -1;
    inner = conf_trim(item, n);
    if (inner[0] == '{') {
        n = strlen(inner);
        if (n < 2 || inner[n - 1] != '}') {
            dstr_appendf(why, "\"%s\": unbalanced { }", item);
            free(inner);
            return -1;
        }
        for (p = inner + 1; ret == 0 && p < inner + n - 1; p = comma + 1) {
            if ((comma = memchr(p, ',', (size_t) (inner + n - 1 - p))) == NULL)
                comma = inner + n - 1;
            piece = conf_trim(p, (size_t) (comma - p));
            if (*piece == '\0') {
                /* an empty piece: ", ," or a trailing comma */
            } else if ((eq = strchr(piece, '=')) == NULL) {
                if (c->endpoint != NULL) {
                    dstr_appendf(why, "\"%s\": two endpoints", item);
                    ret = -1;
                } else {
                    c->endpoint = xstrdup(piece);
                }
            } else {
                char   *name = conf_trim(piece, (size_t) (eq - piece));
                char   *value = conf_trim(eq + 1, strlen(eq + 1));

                ret = conf_setting(c, name, value, why);
                free(name);
                free(value);
            }
            free(piece);
        }
        free(inner);
    } else {
        c->endpoint = inner;
    }
    if (ret == 0 && c->endpoint == NULL) {
        dstr_appendf(why, "\"%s\": no milter endpoint", item);
        ret = -1;
    }
    if (ret == 0 && smtpd_milter_endpoint(c->endpoint, &ss, &len, why) < 0)
        ret = -1;
    if (ret < 0)
        smtpd_milter_conf_free(c);
    return ret;
}

/* smtpd_milter_conf_free - release what conf_parse made */
void
smtpd_milter_conf_free(struct smtpd_milter_conf *c)
{
    free(c->endpoint);
    free(c->default_action);
    memset(c, 0, sizeof(*c));
}

/* smtpd_milter_check - is an smtpd_milters value usable; errors say why */
int
smtpd_milter_check(const char *value, struct dstr *errors)
{
    struct param_list list = {0, NULL};
    struct smtpd_milter_conf c;
    size_t  i;
    int     ret = 0;

    if (param_list_split(value, &list, errors) < 0)
        return -1;
    for (i = 0; i < list.count; i++) {
        if (smtpd_milter_conf_parse(list.items[i], &c, errors) < 0) {
            (void) dstr_append_str(errors, "\n");
            ret = -1;
        } else {
            smtpd_milter_conf_free(&c);
        }
    }
    if (list.count > SMTPD_MILTER_MAX) {
        dstr_appendf(errors, "more than %d milters\n", SMTPD_MILTER_MAX);
        ret = -1;
    }
    param_list_free(&list);
    return ret;
}

/* ------------------------------------------------------------ logging */

/* milter_log - a line about a milter of this session */
static void __attribute__((format(printf, 3, 4)))
milter_log(struct milter *m, enum log_level level, const char *fmt, ...)
{
    char    text[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    smtpd_session_log(m->ms->s, level, "milter %s: %s", m->conf.endpoint,
                      text);
}

/* milter_timeout - a timeout of m: its own setting or the personality's */
static long long
milter_timeout(const struct milter *m, long long own, long long dflt)
{
    (void) m;
    return own >= 0 ? own : dflt;
}

/* milter_def - m's default action */
static enum milter_def
milter_def(const struct milter *m)
{
    const char *name = m->conf.default_action
        ? m->conf.default_action : m->ms->s->p->milter_default_action;

    return milter_def_parse(name);
}

/* milter_def_text - m's default action for logs */
static const char *
milter_def_text(const struct milter *m)
{
    return m->conf.default_action
        ? m->conf.default_action : m->ms->s->p->milter_default_action;
}

/* ------------------------------------------------------------ connection */

/* milter_close - drop m's connection and timer, no QUIT */
static void
milter_close(struct milter *m)
{
    if (m->bev != NULL) {
        bufferevent_free(m->bev);
        m->bev = NULL;
    }
    if (m->timer != NULL)
        evtimer_del(m->timer);
    m->awaiting = 0;
    m->write_wait = 0;
}

/*
 * milter_fail - m broke: close it, log why, and let its default action
 * stand for the rest of the session. Changes it asked for in this
 * message are forgotten. The caller runs the stage on.
 */
static void __attribute__((format(printf, 2, 3)))
milter_fail(struct milter *m, const char *fmt, ...)
{
    struct smtpd_milters *ms = m->ms;
    char    why[MILTER_WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    milter_log(m, LOG_LEVEL_WARN, "%s; default action %s", why,
               milter_def_text(m));
    milter_close(m);
    m->state = MS_ERROR;
    m->in_mail = 0;
    free(m->def_reply);
    m->def_reply = NULL;
    m->def_hold = 0;
    switch (milter_def(m)) {
    case DEF_ACCEPT:
        break;
    case DEF_REJECT:
        m->def_reply = xstrdup(MILTER_REPLY_DOWN);
        break;
    case DEF_TEMPFAIL:
        m->def_reply = xstrdup(MILTER_REPLY_TEMPFAIL);
        break;
    case DEF_QUARANTINE:
        m->def_hold = 1;
        break;
    case DEF_BAD:
        milter_log(m, LOG_LEVEL_WARN, "unknown default action \"%s\"",
                   milter_def_text(m));
        m->def_reply = xstrdup(MILTER_REPLY_CONFIG);
        break;
    }
    /* what it changed in this message does not count */
    if (ms->running && ms->stage == SMTPD_MILTER_EOM
        && ms->cur == m->index && ms->mods != NULL) {
        smtpd_milter_mods_truncate(ms->mods, ms->mark);
        ms->new_body = dstr_free(ms->new_body);
        ms->body_overflow = 0;
    }
}

/* milter_arm - wait for what, at most ms milliseconds */
static void
milter_arm(struct milter *m, const char *what, long long ms)
{
    struct timeval tv;

    m->waiting = what;
    m->wait_ms = ms;
    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
    evtimer_add(m->timer, &tv);
}

/* milter_timer_cb - whatever m was waiting for took too long */
static void
milter_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct milter *m = arg;
    struct smtpd_milters *ms = m->ms;

    (void) fd;
    (void) what;
    milter_fail(m, "%s timeout after %lld ms", m->waiting, m->wait_ms);
    stage_run(ms);
}

/* milter_write - queue bytes for m */
static int
milter_write(struct milter *m, const struct dstr *d)
{
    if (d->len == 0)
        return 0;
    if (bufferevent_write(m->bev, d->data, d->len) < 0) {
        milter_fail(m, "write: out of buffer memory");
        return -1;
    }
    return 0;
}

/* milter_offer - the protocol steps we offer with version v */
static uint32_t
milter_offer(long long v)
{
    if (v <= 2)
        return MILTER_V2_STEPS;
    if (v == 3)
        return MILTER_V3_STEPS;
    if (v <= 5)
        return MILTER_V4_STEPS;
    return MILTER_V6_STEPS;
}

/* milter_version - the version we offer m */
static uint32_t
milter_version(const struct milter *m)
{
    long long v = m->conf.protocol ? m->conf.protocol
        : m->ms->s->p->milter_protocol;

    if (v < 2)
        v = 2;
    if (v > SMTPD_MILTER_PROTO_VERSION)
        v = SMTPD_MILTER_PROTO_VERSION;
    return (uint32_t) v;
}

static void milter_read_cb(struct bufferevent *bev, void *arg);
static void milter_write_cb(struct bufferevent *bev, void *arg);
static void milter_event_cb(struct bufferevent *bev, short what, void *arg);

/* milter_negotiate - the connection is up: offer version, actions, steps */
static void
milter_negotiate(struct milter *m)
{
    struct smtpd_milters *ms = m->ms;

    m->state = MS_NEGOTIATING;
    dstr_reset(ms->out);
    (void) smtpd_milter_proto_optneg(ms->out, milter_version(m),
                                     SMTPD_MILTER_A_ALL, m->offered);
    (void) milter_write(m, ms->out);
}

/*
 * milter_connect - start connecting to m; the connect timeout covers
 * the connection and the negotiation. 0, or -1 when m failed already.
 */
static int
milter_connect(struct milter *m)
{
    struct smtpd_milters *ms = m->ms;
    struct sockaddr_storage ss;
    socklen_t len;
    struct dstr *why = dstr_new(64, MILTER_WHY_MAX);

    if (smtpd_milter_endpoint(m->conf.endpoint, &ss, &len, why) < 0) {
        milter_fail(m, "%s", why->data);
        dstr_free(why);
        return -1;
    }
    dstr_free(why);
    m->offered = milter_offer(milter_version(m));
    m->bev = bufferevent_socket_new(ms->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (m->bev == NULL) {
        milter_fail(m, "cannot make a socket");
        return -1;
    }
    bufferevent_setcb(m->bev, milter_read_cb, milter_write_cb,
                      milter_event_cb, m);
    bufferevent_setwatermark(m->bev, EV_WRITE, SMTPD_MILTER_OUTPUT_HIGH / 2,
                             0);
    (void) bufferevent_enable(m->bev, EV_READ | EV_WRITE);
    m->state = MS_CONNECTING;
    milter_arm(m, "connect", milter_timeout(m, m->conf.connect_timeout,
                                             ms->s->p->milter_connect_timeout));
    if (bufferevent_socket_connect(m->bev, (struct sockaddr *) &ss,
                                   (int) len) < 0) {
        milter_fail(m, "connect: %s",
                    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return -1;
    }
    return 0;
}

/* milter_event_cb - connected, or the connection broke */
static void
milter_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct milter *m = arg;
    struct smtpd_milters *ms = m->ms;
    int     err = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_CONNECTED) {
        milter_negotiate(m);
        return;
    }
    if (what & BEV_EVENT_EOF)
        milter_fail(m, "%s", m->state == MS_CONNECTING
                    ? "connection refused" : "connection closed by milter");
    else
        milter_fail(m, "%s: %s", m->state == MS_CONNECTING ? "connect"
                    : "read/write", evutil_socket_error_to_string(err));
    stage_run(ms);
}

/* milter_write_cb - output drained below the watermark: go on sending */
static void
milter_write_cb(struct bufferevent *bev, void *arg)
{
    struct milter *m = arg;

    (void) bev;
    if (!m->write_wait)
        return;
    m->write_wait = 0;
    evtimer_del(m->timer);
    stage_run(m->ms);
}

/* ------------------------------------------------------------ macros */

/* macro_norm - a macro name without its braces, into buf */
static const char *
macro_norm(const char *name, size_t len, char *buf, size_t size)
{
    if (len >= 2 && name[0] == '{' && name[len - 1] == '}') {
        name++;
        len -= 2;
    }
    if (len >= size)
        len = size - 1;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

/* macro_daemon - the server end of the client's connection */
static void
macro_daemon(struct smtpd_milters *ms)
{
    struct session *s = ms->s;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct netaddr addr;
    struct bufferevent *bev = s->plain ? s->plain : s->bev;

    if (ms->daemon_known)
        return;
    ms->daemon_known = 1;
    if (s->xclient != NULL && s->xclient->dest_addr[0]) {
        (void) str_copy(ms->daemon_addr, sizeof(ms->daemon_addr),
                        s->xclient->dest_addr);
        ms->daemon_port = s->xclient->dest_port;
        return;
    }
    if (bev == NULL || getsockname(bufferevent_getfd(bev),
                                   (struct sockaddr *) &ss, &len) < 0
        || netaddr_from_sockaddr(&addr, &ms->daemon_port,
                                 (struct sockaddr *) &ss, len) < 0) {
        ms->daemon_port = 0;
        return;
    }
    (void) netaddr_unmap(&addr, &addr);
    if (netaddr_format(&addr, ms->daemon_addr, sizeof(ms->daemon_addr)) < 0)
        ms->daemon_addr[0] = '\0';
}

/* macro_resolve - {client_resolve}: what the name lookup found */
static const char *
macro_resolve(const struct session *s)
{
    switch (s->name_status) {
    case SMTPD_DNS_OK:
        return "OK";
    case SMTPD_DNS_TEMP:
        return "TEMP";
    case SMTPD_DNS_PERM:
        return s->reverse_name && strcmp(s->reverse_name, "unknown")
            ? "FORGED" : "FAIL";
    default:
        return NULL;
    }
}

/*
 * macro_value - the value of one macro (name without braces) into v;
 * 0 if it has none now (then it is not sent).
 */
static int
macro_value(struct smtpd_milters *ms, const char *name, struct dstr *v)
{
    struct session *s = ms->s;
    const struct params *p = s->p;
    const char *val = NULL, *login;

    dstr_reset(v);
    if (strcmp(name, "j") == 0) {
        val = smtpd_server_hostname(p);
    } else if (strcmp(name, "_") == 0) {
        (void) dstr_appendf(v, "%s [%s]", s->reverse_name ? s->reverse_name
                            : s->name, s->addr_text);
        return 1;
    } else if (strcmp(name, "daemon_name") == 0) {
        val = p->milter_macro_daemon_name;
    } else if (strcmp(name, "daemon_addr") == 0
               || strcmp(name, "daemon_port") == 0) {
        macro_daemon(ms);
        if (ms->daemon_addr[0] == '\0')
            return 0;
        if (name[7] == 'a')
            val = ms->daemon_addr;
        else
            (void) dstr_appendf(v, "%u", ms->daemon_port);
    } else if (strcmp(name, "v") == 0) {
        val = p->milter_macro_v;
    } else if (strcmp(name, "client_addr") == 0) {
        val = s->addr_text;
    } else if (strcmp(name, "client_port") == 0) {
        (void) dstr_appendf(v, "%u", s->port);
    } else if (strcmp(name, "client_name") == 0) {
        val = s->name;
    } else if (strcmp(name, "client_ptr") == 0) {
        val = s->reverse_name ? s->reverse_name : s->name;
    } else if (strcmp(name, "client_resolve") == 0) {
        val = macro_resolve(s);
    } else if (strcmp(name, "i") == 0) {
        val = ms->queue_id;
    } else if (strcmp(name, "auth_authen") == 0) {
        val = smtpd_xclient_login(s);
    } else if (strcmp(name, "auth_type") == 0) {
        login = smtpd_xclient_login(s);
        val = login ? "XCLIENT" : NULL;
    } else if (strcmp(name, "mail_addr") == 0) {
        val = ms->mail_addr;
    } else if (strcmp(name, "mail_host") == 0) {
        val = ms->mail_addr && *ms->mail_addr
            ? mailaddr_domain(ms->mail_addr) : NULL;
    } else if (strcmp(name, "mail_mailer") == 0) {
        val = ms->mail_addr && *ms->mail_addr ? "smtp" : NULL;
    } else if (strcmp(name, "rcpt_addr") == 0) {
        val = ms->rcpt_addr;
    } else if (strcmp(name, "rcpt_host") == 0) {
        val = ms->rcpt_addr ? mailaddr_domain(ms->rcpt_addr) : NULL;
    } else if (strcmp(name, "rcpt_mailer") == 0) {
        val = ms->rcpt_addr ? "smtp" : NULL;
    } else if (strcmp(name, "tls_version") == 0) {
        val = s->tls ? s->tls->protocol : NULL;
    } else if (strcmp(name, "cipher") == 0) {
        val = s->tls ? s->tls->cipher : NULL;
    } else if (strcmp(name, "cipher_bits") == 0) {
        if (s->tls == NULL)
            return 0;
        (void) dstr_appendf(v, "%d", s->tls->bits);
    } else if (strcmp(name, "stress") == 0) {
        val = s->pers->stress ? "yes" : "";
    } else if (strcmp(name, "personality") == 0) {
        val = s->pers->name;
    } else if (strcmp(name, "client_class") == 0) {
        val = s->pers->class_name;
    } else {
        return 0;
    }
    if (val != NULL)
        (void) dstr_append_str(v, val);
    else if (v->len == 0)
        return 0;
    return 1;
}

/* macro_list - the names sent with command cmd to m */
static const char *
macro_list(const struct milter *m, int cmd)
{
    const struct params *p = m->ms->s->p;
    int     stage = smtpd_milter_proto_macro_stage(
        cmd == SMTPD_MILTER_C_HEADER ? SMTPD_MILTER_C_EOH
        : cmd == SMTPD_MILTER_C_BODY ? SMTPD_MILTER_C_BODYEOB : cmd);

    if (stage >= 0 && m->symlist[stage] != NULL)
        return m->symlist[stage];
    switch (cmd) {
    case SMTPD_MILTER_C_CONNECT:
        return p->milter_connect_macros;
    case SMTPD_MILTER_C_HELO:
        return p->milter_helo_macros;
    case SMTPD_MILTER_C_MAIL:
        return p->milter_mail_macros;
    case SMTPD_MILTER_C_RCPT:
        return p->milter_rcpt_macros;
    case SMTPD_MILTER_C_DATA:
        return p->milter_data_macros;
    case SMTPD_MILTER_C_HEADER:
    case SMTPD_MILTER_C_EOH:
        return p->milter_end_of_header_macros;
    case SMTPD_MILTER_C_BODY:
    case SMTPD_MILTER_C_BODYEOB:
        return p->milter_end_of_data_macros;
    case SMTPD_MILTER_C_UNKNOWN:
        return p->milter_unknown_command_macros;
    default:
        return "";
    }
}

/*
 * macro_encode - the MACRO packet for command cmd: the stage's list and
 * doppel's three, each with a value now. Values go into ms->val one
 * after the other (NUL-separated); pointers are taken when it is full.
 */
static void
macro_encode(struct smtpd_milters *ms, struct milter *m, int cmd,
             struct dstr *out)
{
    static const char *const ours[] = {"{stress}", "{personality}",
                                       "{client_class}"};
    struct smtpd_milter_proto_macro mac[MILTER_MACROS_MAX + 3];
    const char *names[MILTER_MACROS_MAX + 3];
    size_t  offs[MILTER_MACROS_MAX + 3];
    size_t  n = 0, i, j, len;
    const char *list = macro_list(m, cmd), *p, *start;
    char    norm[128], other[128];
    struct dstr *v = dstr_new(64, SMTPD_MILTER_MACRO_VALUE_MAX);
    char    name_buf[MILTER_MACROS_MAX + 3][128];

    dstr_reset(ms->val);
    for (p = list ? list : ""; n < MILTER_MACROS_MAX;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        for (start = p; *p && *p != ' ' && *p != '\t' && *p != ','; p++)
            /* void */ ;
        len = (size_t) (p - start);
        if (len >= sizeof(name_buf[0]))
            continue;
        memcpy(name_buf[n], start, len);
        name_buf[n][len] = '\0';
        names[n] = name_buf[n];
        n++;
    }
    for (i = 0; i < 3; i++) {
        (void) macro_norm(ours[i], strlen(ours[i]), norm, sizeof(norm));
        for (j = 0; j < n; j++)
            if (strcmp(macro_norm(names[j], strlen(names[j]), other,
                                  sizeof(other)), norm) == 0)
                break;
        if (j == n)
            names[n++] = ours[i];
    }
    /* values, then the pairs that have one */
    for (i = j = 0; i < n; i++) {
        (void) macro_norm(names[i], strlen(names[i]), norm, sizeof(norm));
        if (!macro_value(ms, norm, v))
            continue;
        offs[j] = ms->val->len;
        (void) dstr_append(ms->val, v->data, v->len + 1);
        mac[j].name = names[i];
        j++;
    }
    for (i = 0; i < j; i++)
        mac[i].value = ms->val->data + offs[i];
    if (smtpd_milter_proto_macro(out, cmd, mac, j) < 0)
        milter_log(m, LOG_LEVEL_WARN, "%s macros too long: not sent",
                   smtpd_milter_proto_code_name(cmd));
    dstr_free(v);
}

/* ------------------------------------------------------------ events */

/*
 * milter_event - the macros of command cmd and, unless m negotiated the
 * step away, the command itself from ms->cmd. Returns 1 when a reply
 * is due, 0 when not, -1 when m failed. A step outside the protocol
 * version we offered is not sent at all.
 */
static int
milter_event(struct smtpd_milters *ms, struct milter *m, int cmd,
             uint32_t skip, uint32_t noreply, int macros)
{
    long long t;

    if (skip != 0 && (skip & m->offered) == 0)
        return 0;
    dstr_reset(ms->out);
    if (macros)
        macro_encode(ms, m, cmd, ms->out);
    if ((skip & m->pflags) == 0)
        (void) dstr_append(ms->out, ms->cmd->data, ms->cmd->len);
    if (milter_write(m, ms->out) < 0)
        return -1;
    if ((skip & m->pflags) != 0 || (noreply & m->pflags) != 0)
        return 0;
    m->awaiting = 1;
    m->event = cmd;
    m->replies = 0;
    t = ms->stage == SMTPD_MILTER_EOM
        ? milter_timeout(m, m->conf.content_timeout,
                         ms->s->p->milter_content_timeout)
        : milter_timeout(m, m->conf.command_timeout,
                         ms->s->p->milter_command_timeout);
    milter_arm(m, "read", t);
    return 1;
}

/* event_connect - the connect event of the session's client */
static int
event_connect(struct smtpd_milters *ms, struct milter *m)
{
    struct session *s = ms->s;
    struct netaddr plain;
    char    host[300], addr[NETADDR_TEXT_MAX];
    int     family = SMTPD_MILTER_FAMILY_UNKNOWN;

    if (s->name != NULL && strcmp(s->name, "unknown") != 0)
        (void) str_copy(host, sizeof(host), s->name);
    else
        (void) snprintf(host, sizeof(host), "[%s]", s->addr_text);
    (void) str_copy(addr, sizeof(addr), s->addr_text);
    if (s->addr.family == AF_INET || s->addr.family == AF_INET6) {
        if (netaddr_unmap(&plain, &s->addr))
            (void) netaddr_format(&plain, addr, sizeof(addr));
        family = plain.family == AF_INET ? SMTPD_MILTER_FAMILY_INET
            : SMTPD_MILTER_FAMILY_INET6;
    }
    dstr_reset(ms->cmd);
    (void) smtpd_milter_proto_connect(ms->cmd, host, family, s->port, addr);
    m->state = MS_ENVELOPE;
    return milter_event(ms, m, SMTPD_MILTER_C_CONNECT,
                        SMTPD_MILTER_P_NOCONNECT, SMTPD_MILTER_P_NR_CONN, 1);
}

/* event_envelope - MAIL or RCPT: "<address>" and the parameters */
static int
event_envelope(struct smtpd_milters *ms, struct milter *m, int cmd)
{
    struct dstr *q = dstr_new(64, DSTR_UNLIMITED);
    const char *addr = ms->arg ? ms->arg : "";
    int     rc;

    if (mailaddr_quote(q, addr) < 0) {
        dstr_reset(q);
        (void) dstr_append_str(q, addr);
    }
    dstr_reset(ms->cmd);
    if (cmd == SMTPD_MILTER_C_MAIL) {
        (void) smtpd_milter_proto_mail(ms->cmd, q->data,
                                       (const char *const *) ms->esmtp,
                                       ms->args.nesmtp);
        m->in_mail = 1;
        rc = milter_event(ms, m, cmd, SMTPD_MILTER_P_NOMAIL,
                          SMTPD_MILTER_P_NR_MAIL, 1);
    } else {
        (void) smtpd_milter_proto_rcpt(ms->cmd, q->data,
                                       (const char *const *) ms->esmtp,
                                       ms->args.nesmtp);
        rc = milter_event(ms, m, cmd, SMTPD_MILTER_P_NORCPT,
                          SMTPD_MILTER_P_NR_RCPT, 1);
    }
    dstr_free(q);
    return rc;
}

/* event_stage - the one event of a stage other than EOM */
static int
event_stage(struct smtpd_milters *ms, struct milter *m)
{
    const char *arg = ms->arg ? ms->arg : "";

    switch (ms->stage) {
    case SMTPD_MILTER_CONNECT:
        return event_connect(ms, m);
    case SMTPD_MILTER_HELO:
        dstr_reset(ms->cmd);
        (void) smtpd_milter_proto_helo(ms->cmd, arg);
        return milter_event(ms, m, SMTPD_MILTER_C_HELO, SMTPD_MILTER_P_NOHELO,
                            SMTPD_MILTER_P_NR_HELO, 1);
    case SMTPD_MILTER_MAIL:
        return event_envelope(ms, m, SMTPD_MILTER_C_MAIL);
    case SMTPD_MILTER_RCPT:
        return event_envelope(ms, m, SMTPD_MILTER_C_RCPT);
    case SMTPD_MILTER_DATA:
        dstr_reset(ms->cmd);
        (void) smtpd_milter_proto_simple(ms->cmd, SMTPD_MILTER_C_DATA);
        return milter_event(ms, m, SMTPD_MILTER_C_DATA, SMTPD_MILTER_P_NODATA,
                            SMTPD_MILTER_P_NR_DATA, 1);
    case SMTPD_MILTER_UNKNOWN:
        dstr_reset(ms->cmd);
        if (smtpd_milter_proto_unknown(ms->cmd, arg) < 0)
            return 0;
        return milter_event(ms, m, SMTPD_MILTER_C_UNKNOWN,
                            SMTPD_MILTER_P_NOUNKNOWN,
                            SMTPD_MILTER_P_NR_UNKN, 1);
    case SMTPD_MILTER_EOM:
        break;
    }
    return 0;
}

/* body_read - the next chunk of the body as the milters left it */
static ssize_t
body_read(struct smtpd_milters *ms, char *buf, size_t size)
{
    const struct dstr *b = ms->mods->body;
    size_t  n;

    if (b != NULL) {
        if ((size_t) ms->body_pos >= b->len)
            return 0;
        n = b->len - (size_t) ms->body_pos;
        if (n > size)
            n = size;
        memcpy(buf, b->data + ms->body_pos, n);
        return (ssize_t) n;
    }
    return ms->args.read(ms->args.read_arg,
                         (long long) ms->body_off + ms->body_pos, buf, size);
}

/* milter_verdict - a final answer for the stage */
static void
milter_verdict(struct smtpd_milters *ms, struct milter *m,
               enum smtpd_milter_action action, const char *reply)
{
    ms->action = action;
    dstr_reset(ms->reply);
    if (reply != NULL)
        (void) dstr_append_str(ms->reply, reply);
    ms->close = reply != NULL && strncmp(reply, "421", 3) == 0;
    ms->decider = m ? m->conf.endpoint : NULL;
    ms->stop = 1;
}

/*
 * events_eom - the message for m: header fields, end of header, body
 * chunks, end of message; as far as it can go without waiting.
 */
static enum milter_step
events_eom(struct smtpd_milters *ms, struct milter *m)
{
    struct smtpd_milter_hdr *hd;
    struct dstr *v;
    ssize_t n;
    size_t  room;
    int     rc;

    for (;;) {
        if (ms->stop)
            return STEP_STOP;
        if (ms->mdone || m->state != MS_ENVELOPE)
            return STEP_AGAIN;
        if (m->awaiting)
            return STEP_WAIT;
        if (evbuffer_get_length(bufferevent_get_output(m->bev))
            > SMTPD_MILTER_OUTPUT_HIGH) {
            m->write_wait = 1;
            milter_arm(m, "write",
                       milter_timeout(m, m->conf.content_timeout,
                                      ms->s->p->milter_content_timeout));
            return STEP_WAIT;
        }
        rc = 0;
        switch (ms->phase) {
        case PH_HEADERS:
            if ((m->pflags & SMTPD_MILTER_P_NOHDRS)
                || ms->hstep >= ms->hdrs.count) {
                ms->phase = PH_EOH;
                continue;
            }
            hd = &ms->hdrs.item[ms->hstep++];
            if (hd->hidden
                || strlen(hd->name) + 2 >= SMTPD_MILTER_PROTO_DATA_MAX)
                continue;               /* ours, or a name too long */
            v = dstr_new(hd->raw_len + 1, DSTR_UNLIMITED);
            smtpd_milter_edit_value(hd, (m->pflags
                                         & SMTPD_MILTER_P_HDR_LEADSPC) != 0, v);
            room = SMTPD_MILTER_PROTO_DATA_MAX - strlen(hd->name) - 2;
            dstr_reset(ms->cmd);
            (void) smtpd_milter_proto_header(ms->cmd, hd->name, v->data,
                                             v->len < room ? v->len : room);
            dstr_free(v);
            rc = milter_event(ms, m, SMTPD_MILTER_C_HEADER,
                              SMTPD_MILTER_P_NOHDRS, SMTPD_MILTER_P_NR_HDR, 1);
            break;
        case PH_EOH:
            ms->phase = PH_BODY;
            if (m->pflags & SMTPD_MILTER_P_NOEOH)
                continue;
            dstr_reset(ms->cmd);
            (void) smtpd_milter_proto_simple(ms->cmd, SMTPD_MILTER_C_EOH);
            rc = milter_event(ms, m, SMTPD_MILTER_C_EOH, SMTPD_MILTER_P_NOEOH,
                              SMTPD_MILTER_P_NR_EOH, 1);
            break;
        case PH_BODY:
            if (m->pflags & SMTPD_MILTER_P_NOBODY) {
                ms->phase = PH_EOB;
                continue;
            }
            if ((n = body_read(ms, ms->chunk, SMTPD_MILTER_PROTO_CHUNK)) < 0) {
                milter_verdict(ms, NULL, SMTPD_MILTER_TEMPFAIL,
                               MILTER_REPLY_READ);
                log_error("%s: milter: reading the message: %m",
                          ms->queue_id ? ms->queue_id : "message");
                return STEP_STOP;
            }
            if (n == 0) {
                ms->phase = PH_EOB;
                continue;
            }
            ms->body_pos += n;
            dstr_reset(ms->cmd);
            (void) smtpd_milter_proto_body(ms->cmd, ms->chunk, (size_t) n);
            rc = milter_event(ms, m, SMTPD_MILTER_C_BODY, SMTPD_MILTER_P_NOBODY,
                              SMTPD_MILTER_P_NR_BODY, 1);
            break;
        case PH_EOB:
            ms->phase = PH_END;
            ms->mark = ms->mods->count;
            ms->new_body = dstr_free(ms->new_body);
            ms->body_overflow = 0;
            dstr_reset(ms->cmd);
            (void) smtpd_milter_proto_simple(ms->cmd, SMTPD_MILTER_C_BODYEOB);
            rc = milter_event(ms, m, SMTPD_MILTER_C_BODYEOB, 0, 0, 1);
            break;
        default:
            return STEP_NEXT;
        }
        if (rc < 0)
            return STEP_AGAIN;
    }
}

/*
 * milter_step - move m on in the running stage: connect it, send what
 * is next, or take its standing answer.
 */
static enum milter_step
milter_step(struct smtpd_milters *ms, struct milter *m)
{
    int     rc;

    if (ms->stop)
        return STEP_STOP;
    switch (m->state) {
    case MS_NEW:
        (void) milter_connect(m);
        return STEP_AGAIN;
    case MS_CONNECTING:
    case MS_NEGOTIATING:
        return STEP_WAIT;
    case MS_ERROR:
        if (m->def_reply != NULL) {
            milter_verdict(ms, m, m->def_reply[0] == '4'
                           ? SMTPD_MILTER_TEMPFAIL : SMTPD_MILTER_REJECT,
                           m->def_reply);
            return STEP_STOP;
        }
        if (m->def_hold && ms->hold == NULL)
            ms->hold = xstrdup("milter unavailable");
        return STEP_NEXT;
    case MS_REJECT_CON:
        milter_verdict(ms, m, m->def_reply[0] == '4'
                       ? SMTPD_MILTER_TEMPFAIL : SMTPD_MILTER_REJECT,
                       m->def_reply);
        return STEP_STOP;
    case MS_ACCEPT_CON:
        return STEP_NEXT;
    case MS_ACCEPT_MSG:
        if (ms->stage != SMTPD_MILTER_HELO
            && ms->stage != SMTPD_MILTER_CONNECT)
            return STEP_NEXT;
        m->state = MS_ENVELOPE;
        break;
    case MS_READY:
    case MS_ENVELOPE:
        break;
    }
    if (m->awaiting || m->write_wait)
        return STEP_WAIT;
    if (ms->mdone)
        return STEP_NEXT;
    if (ms->phase == PH_CONNECT) {
        ms->phase = ms->stage == SMTPD_MILTER_EOM ? PH_HEADERS : PH_EVENT;
        /* a milter new to this client hears of it first */
        if (m->state == MS_READY || ms->stage == SMTPD_MILTER_CONNECT) {
            if (ms->stage == SMTPD_MILTER_CONNECT)
                ms->phase = PH_END;
            rc = event_connect(ms, m);
            return rc == 1 ? STEP_WAIT : STEP_AGAIN;
        }
    }
    if (ms->phase == PH_EVENT) {
        ms->phase = PH_END;
        rc = event_stage(ms, m);
        return rc == 1 ? STEP_WAIT : STEP_AGAIN;
    }
    if (ms->stage == SMTPD_MILTER_EOM && ms->phase != PH_END)
        return events_eom(ms, m);
    return STEP_NEXT;
}

/* ------------------------------------------------------------ replies */

/*
 * reply_text - a milter's SMTP reply as we send it: "%%" is "%" (Sendmail
 * reads the text as a format), and a line without an enhanced status
 * code gets X.7.1.
 */
static void
reply_text(const char *in, struct dstr *out)
{
    const char *p = in, *eol;
    size_t  n;

    dstr_reset(out);
    for (;;) {
        /* "ddd" and its separator, then the text of the line */
        (void) dstr_append(out, p, 3);
        (void) dstr_append_char(out, p[3] == '-' ? '-' : ' ');
        p += p[3] ? 4 : 3;
        if (!(isdigit((unsigned char) p[0]) && p[1] == '.'))
            (void) dstr_appendf(out, "%c.7.1 %s", in[0],
                                *p ? "" : "Command rejected");
        eol = strstr(p, "\r\n");
        n = eol ? (size_t) (eol - p) : strlen(p);
        for (; n > 0; p++, n--) {
            if (*p == '%' && n > 1 && p[1] == '%') {
                p++;
                n--;
            }
            (void) dstr_append_char(out, *p);
        }
        if (eol == NULL)
            return;
        (void) dstr_append_str(out, "\r\n");
        p = eol + 2;
    }
}

/* stage_is_connect - CONNECT or HELO: verdicts about the whole session */
static int
stage_is_connect(const struct smtpd_milters *ms, const struct milter *m)
{
    return ms->stage == SMTPD_MILTER_CONNECT || ms->stage == SMTPD_MILTER_HELO
        || m->event == SMTPD_MILTER_C_CONNECT;
}

/* eob_commit - m's end-of-message changes stand: later milters see them */
static void
eob_commit(struct smtpd_milters *ms)
{
    size_t  i;

    for (i = ms->mark; i < ms->mods->count; i++)
        smtpd_milter_edit_header(&ms->hdrs, &ms->mods->ops[i]);
    if (ms->new_body != NULL) {
        dstr_free(ms->mods->body);
        ms->mods->body = ms->new_body;
        ms->new_body = NULL;
    }
    ms->mark = ms->mods->count;
}

/* reply_mod - a change requested at the end of the message */
static int
reply_mod(struct smtpd_milters *ms, struct milter *m,
          const struct smtpd_milter_proto_reply *r)
{
    static const struct {
        int     code;
        uint32_t action;
        enum smtpd_milter_edit_op op;
    } table[] = {
        {SMTPD_MILTER_R_ADDHEADER, SMTPD_MILTER_A_ADDHDRS,
         SMTPD_MILTER_EDIT_ADDHDR},
        {SMTPD_MILTER_R_INSHEADER, SMTPD_MILTER_A_ADDHDRS,
         SMTPD_MILTER_EDIT_INSHDR},
        {SMTPD_MILTER_R_CHGHEADER, SMTPD_MILTER_A_CHGHDRS,
         SMTPD_MILTER_EDIT_CHGHDR},
        {SMTPD_MILTER_R_ADDRCPT, SMTPD_MILTER_A_ADDRCPT,
         SMTPD_MILTER_EDIT_ADDRCPT},
        {SMTPD_MILTER_R_ADDRCPT_PAR, SMTPD_MILTER_A_ADDRCPT_PAR,
         SMTPD_MILTER_EDIT_ADDRCPT},
        {SMTPD_MILTER_R_DELRCPT, SMTPD_MILTER_A_DELRCPT,
         SMTPD_MILTER_EDIT_DELRCPT},
        {SMTPD_MILTER_R_CHGFROM, SMTPD_MILTER_A_CHGFROM,
         SMTPD_MILTER_EDIT_CHGFROM},
        {SMTPD_MILTER_R_REPLBODY, SMTPD_MILTER_A_CHGBODY, 0},
        {SMTPD_MILTER_R_QUARANTINE, SMTPD_MILTER_QUARANTINE, 0},
    };
    size_t  i;
    const char *value;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == r->code)
            break;
    if (i == sizeof(table) / sizeof(table[0]))
        return 0;                       /* not a change */
    if (m->event != SMTPD_MILTER_C_BODYEOB) {
        milter_fail(m, "unexpected %s reply after %s",
                    smtpd_milter_proto_code_name(r->code),
                    smtpd_milter_proto_code_name(m->event));
        return -1;
    }
    if ((m->actions & table[i].action) == 0) {
        milter_fail(m, "%s without negotiating it",
                    smtpd_milter_proto_code_name(r->code));
        return -1;
    }
    switch (r->code) {
    case SMTPD_MILTER_R_REPLBODY:
        if (ms->new_body == NULL)
            ms->new_body = dstr_new(r->data_len + 1,
                                    (size_t) ms->s->p->message_size_limit);
        if (!ms->body_overflow
            && dstr_append(ms->new_body, r->data, r->data_len) < 0) {
            ms->body_overflow = 1;
            milter_log(m, LOG_LEVEL_WARN, "replacement body exceeds"
                       " message_size_limit");
        }
        return 1;
    case SMTPD_MILTER_R_QUARANTINE:
        free(ms->hold);
        ms->hold = xstrdup(*r->name ? r->name : "quarantined by milter");
        return 1;
    default:
        value = r->code == SMTPD_MILTER_R_ADDRCPT_PAR
            || r->code == SMTPD_MILTER_R_CHGFROM ? r->args : r->value;
        if (smtpd_milter_mods_add(ms->mods, table[i].op, r->index, r->name,
                                  value, (m->pflags
                                          & SMTPD_MILTER_P_HDR_LEADSPC) != 0)
            < 0) {
            milter_fail(m, "too many changes");
            return -1;
        }
        return 1;
    }
}

/* milter_optneg - the milter's side of the negotiation */
static void
milter_optneg(struct milter *m, const struct smtpd_milter_proto_reply *r)
{
    uint32_t mine = milter_version(m);
    int     i;

    if (r->code != SMTPD_MILTER_R_OPTNEG) {
        milter_fail(m, "unexpected %s reply in the negotiation",
                    smtpd_milter_proto_code_name(r->code));
        return;
    }
    if (r->version < 2 || r->version > mine) {
        milter_fail(m, "protocol version %lu conflicts with ours (%lu)",
                    (unsigned long) r->version, (unsigned long) mine);
        return;
    }
    if ((r->actions & ~SMTPD_MILTER_A_ALL) != 0) {
        milter_fail(m, "requested actions 0x%lx beyond ours (0x%x)",
                    (unsigned long) r->actions, SMTPD_MILTER_A_ALL);
        return;
    }
    m->version = r->version;
    m->actions = r->actions;
    m->pflags = r->protocol & MILTER_KNOWN_STEPS;
    for (i = 0; i < SMTPD_MILTER_PROTO_STAGES; i++) {
        free(m->symlist[i]);
        m->symlist[i] = r->symlist[i] ? xstrdup(r->symlist[i]) : NULL;
    }
    m->state = MS_READY;
    evtimer_del(m->timer);
}

/*
 * milter_eob_final - a milter's final answer to the end of the message:
 * keep its changes, unless the replaced body outgrew the limit (then
 * the message is refused). 0, or -1 after that verdict.
 */
static int
milter_eob_final(struct smtpd_milters *ms, struct milter *m)
{
    if (m->event != SMTPD_MILTER_C_BODYEOB)
        return 0;
    if (ms->body_overflow) {
        milter_verdict(ms, m, SMTPD_MILTER_REJECT, MILTER_REPLY_TOO_BIG);
        return -1;
    }
    eob_commit(ms);
    return 0;
}

/*
 * milter_reply - one packet from m. Returns 0 when handled, -1 when m
 * failed (its connection is gone).
 */
static int
milter_reply(struct smtpd_milters *ms, struct milter *m,
             const struct smtpd_milter_proto_reply *r)
{
    struct dstr *text;
    int     rc;

    if (m->state == MS_NEGOTIATING) {
        milter_optneg(m, r);
        return m->state == MS_ERROR ? -1 : 0;
    }
    if (!m->awaiting) {
        milter_fail(m, "unexpected %s reply",
                    smtpd_milter_proto_code_name(r->code));
        return -1;
    }
    if (++m->replies > SMTPD_MILTER_REPLIES_MAX) {
        milter_fail(m, "too many replies to %s",
                    smtpd_milter_proto_code_name(m->event));
        return -1;
    }
    if ((rc = reply_mod(ms, m, r)) != 0)
        return rc < 0 ? -1 : 0;
    if (r->code == SMTPD_MILTER_R_PROGRESS) {
        milter_arm(m, m->waiting, m->wait_ms);
        return 0;
    }
    /* a final answer to the event */
    m->awaiting = 0;
    evtimer_del(m->timer);
    if (m->event == SMTPD_MILTER_C_BODYEOB)
        m->in_mail = 0;
    switch (r->code) {
    case SMTPD_MILTER_R_CONTINUE:
        (void) milter_eob_final(ms, m);
        break;
    case SMTPD_MILTER_R_SKIP:
        if (m->event == SMTPD_MILTER_C_BODY)
            ms->phase = PH_EOB;
        else if (m->event == SMTPD_MILTER_C_HEADER)
            ms->phase = PH_EOH;
        break;
    case SMTPD_MILTER_R_ACCEPT:
        if (milter_eob_final(ms, m) < 0)
            break;
        m->state = stage_is_connect(ms, m) ? MS_ACCEPT_CON : MS_ACCEPT_MSG;
        ms->mdone = 1;
        break;
    case SMTPD_MILTER_R_DISCARD:
        if (stage_is_connect(ms, m)) {
            milter_fail(m, "DISCARD is not allowed at %s",
                        smtpd_milter_proto_code_name(m->event));
            return -1;
        }
        m->state = MS_ACCEPT_MSG;
        ms->discard = 1;
        milter_verdict(ms, m, SMTPD_MILTER_DISCARD, NULL);
        break;
    case SMTPD_MILTER_R_REJECT:
    case SMTPD_MILTER_R_TEMPFAIL:
    case SMTPD_MILTER_R_REPLYCODE:
    case SMTPD_MILTER_R_SHUTDOWN:
    case SMTPD_MILTER_R_CONN_FAIL:
        text = dstr_new(64, MILTER_REPLY_MAX);
        if (r->code == SMTPD_MILTER_R_REPLYCODE)
            reply_text(r->value, text);
        else
            (void) dstr_set_str(text, r->code == SMTPD_MILTER_R_REJECT
                                ? MILTER_REPLY_REJECT
                                : r->code == SMTPD_MILTER_R_TEMPFAIL
                                ? MILTER_REPLY_TEMPFAIL
                                : MILTER_REPLY_SHUTDOWN);
        milter_verdict(ms, m, text->data[0] == '4' ? SMTPD_MILTER_TEMPFAIL
                       : SMTPD_MILTER_REJECT, text->data);
        /* at CONNECT or HELO, and with 421, it answers the session */
        if (stage_is_connect(ms, m) || ms->close) {
            free(m->def_reply);
            m->def_reply = xstrdup(text->data);
            m->state = MS_REJECT_CON;
        }
        dstr_free(text);
        break;
    default:
        milter_fail(m, "unexpected %s reply after %s",
                    smtpd_milter_proto_code_name(r->code),
                    smtpd_milter_proto_code_name(m->event));
        return -1;
    }
    return 0;
}

/* milter_read_cb - packets from m */
static void
milter_read_cb(struct bufferevent *bev, void *arg)
{
    struct milter *m = arg;
    struct smtpd_milters *ms = m->ms;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, MILTER_WHY_MAX);
    size_t  len, n, used;
    const unsigned char *p;
    int     rc;

    while ((len = evbuffer_get_length(in)) >= 4 && m->bev != NULL) {
        n = len < 4 + SMTPD_MILTER_PROTO_REPLY_MAX
            ? len : 4 + SMTPD_MILTER_PROTO_REPLY_MAX;
        if ((p = evbuffer_pullup(in, (ev_ssize_t) n)) == NULL)
            break;
        rc = smtpd_milter_proto_decode(p, n, &used, &r, why);
        if (rc == 0)
            break;
        if (rc < 0) {
            milter_fail(m, "protocol error: %s", why->data);
            break;
        }
        if (milter_reply(ms, m, &r) < 0)
            break;                      /* bev is gone */
        (void) evbuffer_drain(in, used);
    }
    dstr_free(why);
    stage_run(ms);
}

/* ------------------------------------------------------------ stages */

/* stage_finish_cb - in the loop: tell the caller */
static void
stage_finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_milters *ms = arg;
    struct smtpd_milter_result r;
    smtpd_milter_fn *done = ms->done;
    void   *done_arg = ms->done_arg;

    (void) fd;
    (void) what;
    memset(&r, 0, sizeof(r));
    r.action = ms->action;
    if (r.action == SMTPD_MILTER_REJECT || r.action == SMTPD_MILTER_TEMPFAIL) {
        r.reply = ms->reply->data;
        r.close = ms->close;
    }
    r.milter = ms->decider;
    if (ms->stage == SMTPD_MILTER_EOM) {
        if (r.action == SMTPD_MILTER_CONTINUE && ms->discard)
            r.action = SMTPD_MILTER_DISCARD;
        if ((r.action == SMTPD_MILTER_CONTINUE
             || r.action == SMTPD_MILTER_ACCEPT) && ms->hold != NULL) {
            r.action = SMTPD_MILTER_QUARANTINE;
            r.quarantine = ms->hold;
        }
        r.mods = ms->mods;
    }
    ms->running = 0;
    ms->finishing = 0;
    done(done_arg, &r);                 /* may free ms */
}

/* stage_reset_milter - before the next milter's turn */
static void
stage_reset_milter(struct smtpd_milters *ms)
{
    ms->phase = PH_CONNECT;
    ms->hstep = 0;
    ms->body_pos = 0;
    ms->mdone = 0;
    if (ms->mods != NULL)
        ms->mark = ms->mods->count;
}

/*
 * stage_run - go through the milters from the current one until one
 * waits for I/O or all are done; then finish from the loop. Called after
 * every callback; does nothing when no stage runs.
 */
static void
stage_run(struct smtpd_milters *ms)
{
    enum milter_step step;
    unsigned guard = 0;

    if (!ms->running || ms->finishing)
        return;
    while (ms->cur < ms->count && !ms->stop) {
        if (++guard > 100000)
            log_panic("%s: no progress", __func__);
        step = milter_step(ms, &ms->m[ms->cur]);
        if (step == STEP_WAIT)
            return;
        if (step == STEP_AGAIN)
            continue;
        if (step == STEP_STOP)
            break;
        ms->cur++;
        stage_reset_milter(ms);
    }
    ms->finishing = 1;
    event_active(ms->finish, EV_TIMEOUT, 1);
}

/* eom_load - read and split the header part of the message */
static int
eom_load(struct smtpd_milters *ms)
{
    char   *buf = xmalloc(SMTPD_MILTER_EDIT_HEADER_MAX);
    size_t  len = 0;
    ssize_t n;
    int     sep;

    smtpd_milter_edit_hdrs_free(&ms->hdrs);
    while (len < SMTPD_MILTER_EDIT_HEADER_MAX) {
        n = ms->args.read(ms->args.read_arg, (long long) len, buf + len,
                          SMTPD_MILTER_EDIT_HEADER_MAX - len);
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    smtpd_milter_edit_parse(&ms->hdrs, buf, len,
                            len < SMTPD_MILTER_EDIT_HEADER_MAX,
                            ms->args.hidden, &ms->body_off, &sep);
    free(buf);
    return 0;
}

/* smtpd_milter_stage - run one stage through every milter; done later */
void
smtpd_milter_stage(struct smtpd_milters *ms, enum smtpd_milter_stage stage,
                   const struct smtpd_milter_args *args,
                   smtpd_milter_fn *done, void *arg)
{
    static const struct smtpd_milter_args none;
    size_t  i;

    if (ms->running)
        log_panic("%s: a stage is running already", __func__);
    if (args == NULL)
        args = &none;
    ms->running = 1;
    ms->stage = stage;
    ms->done = done;
    ms->done_arg = arg;
    ms->args = *args;
    ms->cur = 0;
    ms->stop = 0;
    ms->action = SMTPD_MILTER_CONTINUE;
    ms->close = 0;
    ms->decider = NULL;
    dstr_reset(ms->reply);
    stage_reset_milter(ms);
    free(ms->arg);
    ms->arg = args->arg ? xstrdup(args->arg) : NULL;
    if (ms->esmtp != NULL) {
        for (i = 0; ms->esmtp[i]; i++)
            free(ms->esmtp[i]);
        free(ms->esmtp);
    }
    ms->esmtp = xcalloc(args->nesmtp + 1, sizeof(*ms->esmtp));
    for (i = 0; i < args->nesmtp; i++)
        ms->esmtp[i] = xstrdup(args->esmtp[i]);
    if (args->queue_id != NULL) {
        free(ms->queue_id);
        ms->queue_id = xstrdup(args->queue_id);
    }
    if (stage == SMTPD_MILTER_MAIL) {
        free(ms->mail_addr);
        ms->mail_addr = xstrdup(ms->arg ? ms->arg : "");
    } else if (stage == SMTPD_MILTER_RCPT) {
        free(ms->rcpt_addr);
        ms->rcpt_addr = xstrdup(ms->arg ? ms->arg : "");
    } else if (stage == SMTPD_MILTER_EOM) {
        if (ms->mods == NULL)
            ms->mods = smtpd_milter_mods_new(
                (size_t) ms->s->p->message_size_limit);
        if (ms->discard) {
            milter_verdict(ms, NULL, SMTPD_MILTER_DISCARD, NULL);
        } else if (args->read == NULL || eom_load(ms) < 0) {
            log_error("%s: milter: reading the message: %m",
                      ms->queue_id ? ms->queue_id : "message");
            milter_verdict(ms, NULL, SMTPD_MILTER_TEMPFAIL,
                           MILTER_REPLY_READ);
        }
    }
    stage_run(ms);
}

/* smtpd_milter_take_mods - the EOM changes are the caller's now */
struct smtpd_milter_mods *
smtpd_milter_take_mods(struct smtpd_milters *ms)
{
    struct smtpd_milter_mods *mods = ms->mods;

    ms->mods = NULL;
    return mods;
}

/*
 * milters_close_busy - close the milters that owe an answer or are
 * still connecting: their stage is over. They start anew next time.
 */
static void
milters_close_busy(struct smtpd_milters *ms)
{
    size_t  i;
    struct milter *m;

    for (i = 0; i < ms->count; i++) {
        m = &ms->m[i];
        if (m->awaiting || m->write_wait || m->state == MS_CONNECTING
            || m->state == MS_NEGOTIATING) {
            milter_close(m);
            if (m->state != MS_ERROR)
                m->state = MS_NEW;
            m->in_mail = 0;
        }
    }
}

/*
 * smtpd_milter_cancel - forget the running stage; done is not called.
 * A milter that owed an answer, or was connecting, is closed: answers
 * in flight would be taken for the next event's. It connects again
 * (and hears of the client again) at the next stage.
 */
void
smtpd_milter_cancel(struct smtpd_milters *ms)
{
    if (!ms->running)
        return;
    ms->running = 0;
    ms->finishing = 0;
    event_del(ms->finish);
    milters_close_busy(ms);
    ms->new_body = dstr_free(ms->new_body);
}

/*
 * smtpd_milter_interrupt - the session died: end a running stage now.
 * Milters that owed an answer are closed; done is called soon, from the
 * loop, with TEMPFAIL, so the caller cleans up as after any answer.
 */
void
smtpd_milter_interrupt(struct smtpd_milters *ms)
{
    if (!ms->running || ms->finishing)
        return;
    milters_close_busy(ms);
    milter_verdict(ms, NULL, SMTPD_MILTER_TEMPFAIL,
                   "421 4.4.2 Error: session ended");
    ms->finishing = 1;
    event_active(ms->finish, EV_TIMEOUT, 1);
}

/* smtpd_milter_abort - the transaction is over: ABORT, forget it */
void
smtpd_milter_abort(struct smtpd_milters *ms)
{
    size_t  i;
    struct milter *m;

    smtpd_milter_cancel(ms);
    dstr_reset(ms->out);
    (void) smtpd_milter_proto_simple(ms->out, SMTPD_MILTER_C_ABORT);
    for (i = 0; i < ms->count; i++) {
        m = &ms->m[i];
        if (m->in_mail && m->bev != NULL)
            (void) milter_write(m, ms->out);
        m->in_mail = 0;
        if (m->state == MS_ACCEPT_MSG)
            m->state = MS_ENVELOPE;
    }
    free(ms->mail_addr);
    free(ms->rcpt_addr);
    free(ms->hold);
    free(ms->queue_id);
    ms->mail_addr = ms->rcpt_addr = ms->hold = ms->queue_id = NULL;
    ms->discard = 0;
    ms->mods = smtpd_milter_mods_free(ms->mods);
    smtpd_milter_edit_hdrs_free(&ms->hdrs);
}

/* smtpd_milter_new - the milters of s's personality, not yet connected */
struct smtpd_milters *
smtpd_milter_new(struct session *s)
{
    const struct param_list *list = &s->p->smtpd_milters;
    struct smtpd_milters *ms;
    struct dstr *why;
    size_t  i, n = list->count;

    if (n == 0)
        return NULL;
    if (n > SMTPD_MILTER_MAX) {
        smtpd_session_log(s, LOG_LEVEL_WARN, "milter: only the first %d of"
                          " %zu smtpd_milters are used", SMTPD_MILTER_MAX, n);
        n = SMTPD_MILTER_MAX;
    }
    ms = xcalloc(1, sizeof(*ms));
    ms->s = s;
    ms->base = s->srv->base;
    ms->m = xcalloc(n, sizeof(*ms->m));
    ms->count = n;
    ms->finish = event_new(ms->base, -1, 0, stage_finish_cb, ms);
    ms->reply = dstr_new(64, MILTER_REPLY_MAX);
    ms->out = dstr_new(256, DSTR_UNLIMITED);
    ms->cmd = dstr_new(256, DSTR_UNLIMITED);
    ms->val = dstr_new(256, DSTR_UNLIMITED);
    ms->chunk = xmalloc(SMTPD_MILTER_PROTO_CHUNK);
    why = dstr_new(64, 1024);
    for (i = 0; i < n; i++) {
        struct milter *m = &ms->m[i];

        m->ms = ms;
        m->index = i;
        m->timer = evtimer_new(ms->base, milter_timer_cb, m);
        dstr_reset(why);
        if (smtpd_milter_conf_parse(list->items[i], &m->conf, why) < 0) {
            m->conf.endpoint = xstrdup(list->items[i]);
            milter_fail(m, "bad setting: %s", why->data);
        }
    }
    dstr_free(why);
    return ms;
}

/*
 * milter_quit - ABORT (in a transaction) and QUIT if they go out at once,
 * then close: a session that ends waits for nobody.
 */
static void
milter_quit(struct milter *m)
{
    static const char abort_quit[] = {0, 0, 0, 1, SMTPD_MILTER_C_ABORT,
                                      0, 0, 0, 1, SMTPD_MILTER_C_QUIT};
    const char *p = m->in_mail ? abort_quit : abort_quit + 5;
    size_t  n = m->in_mail ? 10 : 5;
    evutil_socket_t fd;

    if (m->bev != NULL && m->state != MS_CONNECTING
        && m->state != MS_NEGOTIATING
        && evbuffer_get_length(bufferevent_get_output(m->bev)) == 0
        && (fd = bufferevent_getfd(m->bev)) >= 0)
        (void) send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    m->in_mail = 0;
    milter_close(m);
}

/* smtpd_milter_free - QUIT and close every milter; returns NULL */
struct smtpd_milters *
smtpd_milter_free(struct smtpd_milters *ms)
{
    size_t  i;
    int     j;

    if (ms == NULL)
        return NULL;
    smtpd_milter_cancel(ms);
    for (i = 0; i < ms->count; i++) {
        struct milter *m = &ms->m[i];

        milter_quit(m);
        if (m->timer != NULL)
            event_free(m->timer);
        for (j = 0; j < SMTPD_MILTER_PROTO_STAGES; j++)
            free(m->symlist[j]);
        free(m->def_reply);
        smtpd_milter_conf_free(&m->conf);
    }
    smtpd_milter_abort(ms);             /* the transaction's state */
    free(ms->m);
    event_free(ms->finish);
    free(ms->arg);
    if (ms->esmtp != NULL) {
        for (i = 0; ms->esmtp[i]; i++)
            free(ms->esmtp[i]);
        free(ms->esmtp);
    }
    dstr_free(ms->reply);
    dstr_free(ms->out);
    dstr_free(ms->cmd);
    dstr_free(ms->val);
    free(ms->chunk);
    free(ms);
    return NULL;
}
