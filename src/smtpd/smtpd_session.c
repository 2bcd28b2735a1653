/* smtpd_session - the SMTP session: state, timers, input, replies; see smtpd_session.h. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "global/client_history.h"
#include "smtpd/smtpd_classify.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_message.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_proxy.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"
#include "smtpd/smtpd_xclient.h"

#define SESSION_REPLY_MAX 1024          /* one reply line, without CRLF */
#define SESSION_LINE_BUF (4096 + SESSION_LINE_ALLOWANCE_MAX + 2)

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_run(struct session *s);
static void session_greet_now(struct session *s);
static void session_early_talker(struct session *s);
static void session_timer_cb(evutil_socket_t fd, short what, void *arg);
static void session_vreply(struct session *s, int count, const char *fmt,
                           va_list ap) __attribute__((format(printf, 3, 0)));

/* smtpd_session_now - monotonic milliseconds */
long long
smtpd_session_now(void)
{
    return clock_mono_ms();
}

/* session_verb - the last command, for "after VERB" logs */
static const char *
session_verb(const struct session *s)
{
    if (s->state == SESSION_LOOKUP)
        return "CONNECT";
    return s->last_verb ? s->last_verb : "CONNECT";
}

/* smtpd_session_log - a line about this session: "NAME[ADDR]: ..." */
void
smtpd_session_log(struct session *s, enum log_level level,
                  const char *fmt, ...)
{
    char    text[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_msg(level, "%s[%s]: after %s: %s", s->name, s->addr_text,
            session_verb(s), text);
}

/* smtpd_session_log_reject - a refusal in Postfix's words */
void
smtpd_session_log_reject(struct session *s, const char *what,
                         const char *verb, const char *reply,
                         const char *from, const char *to)
{
    const char *id = smtpd_message_id(s);
    size_t  len = strcspn(reply, "\r\n");

    if (from == NULL)
        from = s->sender;
    if (to == NULL && s->rcpt_count > 0)
        to = s->rcpt[s->rcpt_count - 1].addr;
    log_info("%s: %s: %s from %s[%s]: %.*s;%s%s%s%s%s%s proto=%s%s%s%s",
             *id ? id : "NOQUEUE", what, verb, s->name, s->addr_text,
             (int) len, reply, from ? " from=<" : "", from ? from : "",
             from ? ">" : "", to ? " to=<" : "", to ? to : "", to ? ">" : "",
             (s->flags & SESSION_F_EHLO) ? "ESMTP" : "SMTP",
             s->helo ? " helo=<" : "", s->helo ? s->helo : "",
             s->helo ? ">" : "");
}

/*
 * smtpd_session_arm - (re)start the session's one timer from its
 * personality and state. Called on every state change, after reads,
 * and when the personality changes.
 */
void
smtpd_session_arm(struct session *s)
{
    const struct params *p = s->p;
    long long now = smtpd_session_now(), deadline, base;
    long long t = p->smtpd_timeout;
    struct timeval tv;

    if (s->flags & SESSION_F_DEAD)
        return;
    if (s->flags & SESSION_F_JOB) {
        evtimer_del(s->timer);
        return;
    }
    base = s->last_read > s->wait_start ? s->last_read : s->wait_start;
    if (s->flags & SESSION_F_SLEEP) {
        deadline = s->sleep_until;
    } else {
        switch (s->state) {
        case SESSION_LOOKUP:
            deadline = s->state_start + p->smtpd_peername_lookup_timeout;
            break;
        case SESSION_PAUSE:
            deadline = s->connected + p->smtpd_greet_pause;
            break;
        case SESSION_PROXY:
            /* a value we do not know: the timer ends the session now */
            deadline = s->state_start
                + (smtpd_proxy_protocol(p->smtpd_upstream_proxy_protocol)
                   == SMTPD_PROXY_HAPROXY ? p->smtpd_upstream_proxy_timeout
                   : 0);
            break;
        case SESSION_TLS:
            deadline = s->state_start + p->smtpd_starttls_timeout;
            break;
        case SESSION_CLOSING:
            deadline = s->state_start + t;
            if (s->plain != s->bev && now + SESSION_CLOSE_POLL_MS < deadline)
                deadline = now + SESSION_CLOSE_POLL_MS;
            break;
        case SESSION_DATA:
        case SESSION_BDAT:
            if (p->smtpd_per_request_deadline)
                deadline = s->wait_start + t
                    + s->data_bytes * 1000 / p->smtpd_min_data_rate;
            else
                deadline = base + t;
            break;
        case SESSION_COMMAND:
        default:
            deadline = (p->smtpd_per_request_deadline ? s->wait_start : base)
                + t;
            break;
        }
    }
    if (deadline < now)
        deadline = now;
    tv.tv_sec = (time_t) ((deadline - now) / 1000);
    tv.tv_usec = (suseconds_t) ((deadline - now) % 1000 * 1000);
    evtimer_add(s->timer, &tv);
}

/* smtpd_session_set_state - enter a state; its timer starts now */
void
smtpd_session_set_state(struct session *s, enum session_state state)
{
    s->state = state;
    s->state_start = s->wait_start = smtpd_session_now();
    smtpd_session_arm(s);
}

/*
 * smtpd_session_set_personality - swap the personality of a live
 * session. The wait in progress is measured again with the new limits
 * (a session idle for 8s under a new 5s timeout ends now).
 */
void
smtpd_session_set_personality(struct session *s,
                              const struct personality *pers)
{
    if (pers == NULL || pers == s->pers)
        return;
    smtpd_master_session_move(s, s->pers, pers);
    s->pers = pers;
    s->p = &pers->params;
    if (s->state != SESSION_CLOSING)
        smtpd_session_arm(s);
}

/* session_vreply - format one reply line and queue it */
static void
session_vreply(struct session *s, int count, const char *fmt, va_list ap)
{
    char    buf[SESSION_REPLY_MAX + 2];
    int     n;

    if (s->state == SESSION_CLOSING || (s->flags & SESSION_F_DEAD))
        return;
    n = vsnprintf(buf, SESSION_REPLY_MAX, fmt, ap);
    if (n < 0)
        return;
    if (n >= SESSION_REPLY_MAX)
        n = SESSION_REPLY_MAX - 1;
    buf[n++] = '\r';
    buf[n++] = '\n';
    (void) bufferevent_write(s->bev, buf, (size_t) n);
    if (count && (buf[0] == '4' || buf[0] == '5')) {
        s->error_count++;
        smtpd_master_count(s->srv, s->service, SCOREBOARD_REJECTS);
    }
}

/* smtpd_session_reply - queue a reply; 4xx and 5xx count as errors */
void
smtpd_session_reply(struct session *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    session_vreply(s, 1, fmt, ap);
    va_end(ap);
}

/* smtpd_session_reply_nocount - queue a reply that is not the client's error */
void
smtpd_session_reply_nocount(struct session *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    session_vreply(s, 0, fmt, ap);
    va_end(ap);
}

/* smtpd_session_close - stop reading; free once the last reply is out */
void
smtpd_session_close(struct session *s)
{
    if (s->state == SESSION_CLOSING)
        return;
    (void) bufferevent_disable(s->bev, EV_READ);
    smtpd_session_set_state(s, SESSION_CLOSING);
    smtpd_master_session_close(s);
    smtpd_limits_disconnect(s);
}

/*
 * smtpd_session_reset_transaction - forget MAIL, RCPT and BDAT state.
 * XFORWARD attributes come before MAIL and belong to the transaction:
 * they go when one ends (a sender was set), not when MAIL starts one.
 */
void
smtpd_session_reset_transaction(struct session *s)
{
    size_t  i;

    if (s->sender != NULL) {
        smtpd_xclient_forward_reset(s);
        if (s->milters != NULL)
            smtpd_milter_abort(s->milters);
    }
    free(s->sender);
    s->sender = NULL;
    s->queue_id[0] = '\0';
    free(s->mail_envid);
    s->mail_envid = NULL;
    s->mail_flags = 0;
    s->mail_size = 0;
    s->mail_body = 0;
    s->mail_ret = 0;
    for (i = 0; i < s->rcpt_count; i++) {
        free(s->rcpt[i].addr);
        free(s->rcpt[i].orcpt);
    }
    free(s->rcpt);
    s->rcpt = NULL;
    s->rcpt_count = s->rcpt_alloc = 0;
    s->bdat_remaining = 0;
    s->bdat_last = 0;
    s->bdat_error = NULL;
    dstr_free(s->prepend);
    s->prepend = NULL;
}

/* session_log_disconnect - Postfix's one line with command counts */
static void
session_log_disconnect(struct session *s)
{
    struct dstr *line = dstr_new(128, LOG_LINE_MAX);
    unsigned long ok = 0, total = 0;
    const char *name;
    size_t  i;

    for (i = 0; i < SESSION_COUNTERS; i++) {
        if (s->cmd_total[i] == 0 || (name = smtpd_cmd_counter_name(i)) == NULL)
            continue;
        ok += s->cmd_ok[i];
        total += s->cmd_total[i];
        if (s->cmd_ok[i] == s->cmd_total[i])
            (void) dstr_appendf(line, " %s=%lu", name, s->cmd_ok[i]);
        else
            (void) dstr_appendf(line, " %s=%lu/%lu", name, s->cmd_ok[i],
                                s->cmd_total[i]);
    }
    if (ok == total)
        (void) dstr_appendf(line, " commands=%lu", total);
    else
        (void) dstr_appendf(line, " commands=%lu/%lu", ok, total);
    log_info("disconnect from %s[%s]%s", s->name, s->addr_text, line->data);
    dstr_free(line);
}

/*
 * smtpd_session_free - the only place a session is freed. With a queue
 * job outstanding, or a queue file still open (which takes a job to
 * remove), it only marks the session dead: the job's end calls
 * smtpd_session_end(), which comes back here.
 */
static void
smtpd_session_free(struct session *s)
{
    s->flags |= SESSION_F_DEAD;
    if (s->milters != NULL)
        smtpd_milter_interrupt(s->milters);    /* a waiting stage ends now */
    if (s->flags & SESSION_F_JOB)
        return;
    if (smtpd_message_free(s) < 0)
        return;                         /* removal of the file started */
    if (s->dns != NULL)
        smtpd_dns_cancel(s->dns);
    smtpd_classify_cancel(s->classify);
    if (s->state != SESSION_LOOKUP && s->state != SESSION_PROXY)
        session_log_disconnect(s);
    smtpd_master_session_close(s);
    smtpd_limits_disconnect(s);
    smtpd_server_remove(s->srv, s);
    event_free(s->timer);
    s->milters = smtpd_milter_free(s->milters);
    bufferevent_free(s->bev);          /* TLS: frees the plain one too */
    smtpd_session_reset_transaction(s);
    smtpd_xclient_free(s);
    free(s->helo);
    free(s->tls);
    free(s->proxy);
    free(s->name);
    free(s->reverse_name);
    free(s);
}

/*
 * smtpd_session_end - the last call of every callback into a session:
 * a closing session whose output has drained, or a dead one, is freed.
 */
void
smtpd_session_end(struct session *s)
{
    if (s->state == SESSION_CLOSING && !(s->flags & SESSION_F_DEAD)) {
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0
            && evbuffer_get_length(bufferevent_get_output(s->plain)) == 0)
            s->flags |= SESSION_F_DEAD;
        else if (s->plain != s->bev)
            smtpd_session_arm(s);       /* poll the socket's buffer */
    }
    if (s->flags & SESSION_F_DEAD)
        smtpd_session_free(s);
}

/*
 * session_milter_connected - the milters heard of the client: greet. A
 * milter that rejected the connection answers every later command (the
 * milter client keeps its reply), as Postfix does; a 421 ends it now.
 */
static void
session_milter_connected(void *arg, const struct smtpd_milter_result *r)
{
    struct session *s = arg;

    s->flags &= ~SESSION_F_JOB;
    if (!(s->flags & SESSION_F_DEAD) && s->state != SESSION_CLOSING) {
        if (r->action == SMTPD_MILTER_REJECT
            || r->action == SMTPD_MILTER_TEMPFAIL)
            smtpd_session_log_reject(s, "milter-reject", "CONNECT",
                                     r->reply, NULL, NULL);
        smtpd_session_set_state(s, SESSION_COMMAND);
        if (r->close) {
            smtpd_session_reply_nocount(s, "%s", r->reply);
            smtpd_session_close(s);
        } else {
            smtpd_session_reply_nocount(s, "220 %s", s->p->smtpd_banner);
            session_run(s);
        }
    }
    smtpd_session_end(s);
}

/* session_greet_now - log and greet; the milters hear of the client first */
static void
session_greet_now(struct session *s)
{
    log_info("connect from %s[%s]%s%s", s->name, s->addr_text,
             strcmp(s->pers->class_name, PERSONALITY_DEFAULT_CLASS) != 0
             ? " class=" : "",
             strcmp(s->pers->class_name, PERSONALITY_DEFAULT_CLASS) != 0
             ? s->pers->class_name : "");
    smtpd_session_set_state(s, SESSION_COMMAND);
    if (s->milters == NULL && (s->milters = smtpd_milter_new(s)) != NULL) {
        s->flags |= SESSION_F_JOB;      /* no input, no timer meanwhile */
        smtpd_session_arm(s);
        smtpd_milter_stage(s->milters, SMTPD_MILTER_CONNECT, NULL,
                           session_milter_connected, s);
        return;
    }
    smtpd_session_reply_nocount(s, "220 %s", s->p->smtpd_banner);
    session_run(s);
}

/*
 * session_greet - the client's name is known: classify again by name,
 * then greet, or first wait out smtpd_greet_pause (counted from the
 * connection) to see whether the client talks before its turn.
 */
static void
session_greet(struct session *s)
{
    smtpd_session_classify(s);
    if (s->p->smtpd_greet_pause > 0
        && smtpd_session_now() < s->connected + s->p->smtpd_greet_pause) {
        smtpd_session_set_state(s, SESSION_PAUSE);
        if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
            session_early_talker(s);
        return;
    }
    session_greet_now(s);
}

/*
 * session_early_talker - the client sent something before the greeting
 * (with smtpd_greet_pause set): remember it, then either refuse
 * (smtpd_early_talker_action = reject) or go on as a suspect.
 */
static void
session_early_talker(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    const struct personality *pers;
    char    first[64];
    ev_ssize_t got;

    if (s->flags & SESSION_F_EARLY)
        return;
    s->flags |= SESSION_F_EARLY;
    got = evbuffer_copyout(in, first, sizeof(first) - 1);
    first[got > 0 ? (size_t) got : 0] = '\0';
    first[strcspn(first, "\r\n")] = '\0';
    log_info("early talker from %s[%s] after %lld ms: %zu byte(s): %s",
             s->name, s->addr_text, smtpd_session_now() - s->connected,
             evbuffer_get_length(in), first);
    smtpd_session_history(s, CLIENT_HISTORY_EARLY_TALK);
    if (strcmp(s->p->smtpd_early_talker_action, "suspect") == 0) {
        pers = conf_personality(s->srv->conf, s->service,
                                CLIENT_HISTORY_SUSPECT, s->pers->stress);
        if (pers != NULL)
            smtpd_session_set_personality(s, pers);
        return;                         /* the pause goes on */
    }
    smtpd_session_reply_nocount(s, "554 5.5.1 %s Error: talking before the"
                                " greeting", smtpd_server_hostname(s->p));
    smtpd_session_close(s);
}

/*
 * smtpd_session_classify - name the client's class again (its name or
 * its address changed, or its history arrived) and take that class's
 * personality, keeping the stress state.
 */
void
smtpd_session_classify(struct session *s)
{
    const char *name;
    const struct personality *pers;

    if (s->flags & SESSION_F_EARLY)
        return;                         /* an early talker stays suspect */
    name = smtpd_classify_name(s->srv->classify, s->p, &s->addr,
                               s->addr_text, s->name);
    if (strcmp(name, s->pers->class_name) == 0)
        return;
    pers = conf_personality(s->srv->conf, s->service, name, s->pers->stress);
    if (pers == NULL)
        return;
    log_info("%s[%s]: client class %s", s->name, s->addr_text, name);
    smtpd_session_set_personality(s, pers);
}

/* smtpd_session_history - record what the client did */
void
smtpd_session_history(struct session *s, int event)
{
    smtpd_classify_event(s->srv->classify, s->p, &s->addr,
                         (enum client_history_event) event);
}

/* session_classified - the client's history arrived */
static void
session_classified(void *arg)
{
    struct session *s = arg;

    s->classify = NULL;
    if (s->state != SESSION_CLOSING && !(s->flags & SESSION_F_DEAD))
        smtpd_session_classify(s);
    if (s->state == SESSION_LOOKUP && s->dns == NULL)
        session_greet(s);
    smtpd_session_end(s);
}

/* session_dns_done - the name lookup answered */
static void
session_dns_done(void *arg, const struct smtpd_dns_answer *a)
{
    struct session *s = arg;

    s->dns = NULL;
    free(s->name);
    s->name = xstrdup(a->name);
    free(s->reverse_name);
    s->reverse_name = xstrdup(a->reverse_name);
    s->name_status = a->name_status;
    s->reverse_status = a->reverse_status;
    if (s->state == SESSION_LOOKUP && s->classify == NULL)
        session_greet(s);
    smtpd_session_end(s);
}

/*
 * session_lookup - the client's address is final: find its name, then
 * greet. Anything keyed on the client's address belongs from here on,
 * not at accept time: behind a balancer the accepted address is the
 * balancer's until the PROXY header has been read.
 */
static void
session_lookup(struct session *s)
{
    smtpd_session_classify(s);
    if (smtpd_proxy_protocol(s->p->smtpd_upstream_proxy_protocol)
        != SMTPD_PROXY_NONE && smtpd_master_admit_session(s) < 0)
        return;                         /* 421 4.3.2: no slot for it */
    if (smtpd_limits_connect(s) < 0)
        return;                         /* 421 4.7.0: too many connections */
    smtpd_session_history(s, CLIENT_HISTORY_CONNECT);
    /* the greeting waits for the name and the history, in parallel */
    smtpd_classify_cancel(s->classify);
    s->classify = smtpd_classify_refresh(s->srv->classify, s->p, &s->addr,
                                         session_classified, s);
    if (s->srv->dns != NULL && s->p->smtpd_peername_lookup)
        s->dns = smtpd_dns_lookup(s->srv->dns, &s->addr, session_dns_done, s);
    if (s->dns != NULL || s->classify != NULL)
        smtpd_session_set_state(s, SESSION_LOOKUP);
    else
        session_greet(s);
}

/*
 * session_proxy_fail - no usable PROXY header: log why and hang up
 * without a word, as Postfix does. A greeting would only help a client
 * that reached the service around the balancer, which it must not.
 */
static void
session_proxy_fail(struct session *s, const char *why)
{
    log_warn("haproxy read: %s from [%s]", why, s->addr_text);
    s->flags |= SESSION_F_DEAD;
}

/*
 * session_proxy_unsupported - smtpd_upstream_proxy_protocol names a
 * protocol we do not speak: every connection fails, and says why.
 */
static void
session_proxy_unsupported(struct session *s)
{
    struct dstr *why = dstr_new(64, 512);

    (void) dstr_appendf(why, "unsupported smtpd_upstream_proxy_protocol"
                        " \"%.64s\" (use haproxy, or leave it empty)",
                        s->p->smtpd_upstream_proxy_protocol);
    session_proxy_fail(s, why->data);
    dstr_free(why);
}

/*
 * session_proxy_input - state PROXY: try the input received so far.
 * Only the header's own bytes are taken from the buffer: SMTP commands
 * pipelined behind it stay there for the session. On success the
 * header's source becomes the client before anything looks at it: the
 * name lookup, the greeting, logs, restrictions, policy, XCLIENT
 * authorization and the Received: header all see the real client. A
 * LOCAL (v2) or UNKNOWN (v1) header keeps the connection's address.
 */
static void
session_proxy_input(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t  avail = evbuffer_get_length(in), consumed;
    char    via[NETADDR_TEXT_MAX], dst[NETADDR_TEXT_MAX];
    unsigned via_port = s->port;
    struct smtpd_proxy_hdr hdr;
    struct netaddr plain;
    enum smtpd_proxy_result r;
    struct dstr *why;
    unsigned char *buf;

    if (smtpd_proxy_protocol(s->p->smtpd_upstream_proxy_protocol)
        != SMTPD_PROXY_HAPROXY) {
        session_proxy_unsupported(s);
        return;
    }
    if (avail > SMTPD_PROXY_MAX)
        avail = SMTPD_PROXY_MAX;        /* the parser decides within it */
    if (avail == 0 || (buf = evbuffer_pullup(in, (ev_ssize_t) avail)) == NULL)
        return;
    why = dstr_new(64, 256);
    r = smtpd_proxy_parse(buf, avail, &hdr, &consumed, why);
    if (r != SMTPD_PROXY_OK) {
        if (r == SMTPD_PROXY_BAD)
            session_proxy_fail(s, why->data);
        dstr_free(why);
        return;
    }
    dstr_free(why);
    (void) evbuffer_drain(in, consumed);
    if (hdr.local) {
        log_info("proxy-accept: [%s]:%u: PROXY v%d %s: the connection's"
                 " address stands", s->addr_text, s->port, hdr.version,
                 hdr.version == 1 ? "UNKNOWN" : "LOCAL");
    } else {
        (void) str_copy(via, sizeof(via), s->addr_text);
        s->addr = hdr.src;
        s->port = hdr.src_port;
        (void) netaddr_unmap(&plain, &s->addr);
        if (netaddr_format(&plain, s->addr_text, sizeof(s->addr_text)) < 0)
            (void) str_copy(s->addr_text, sizeof(s->addr_text), "unknown");
        (void) netaddr_unmap(&plain, &hdr.dst);
        if (netaddr_format(&plain, dst, sizeof(dst)) < 0)
            (void) str_copy(dst, sizeof(dst), "unknown");
        s->proxy = xmalloc(sizeof(*s->proxy));
        *s->proxy = hdr;
        log_info("proxy-accept: [%s]:%u to [%s]:%u via [%s]:%u (PROXY v%d)",
                 s->addr_text, s->port, dst, hdr.dst_port, via, via_port,
                 hdr.version);
    }
    session_lookup(s);
}

/* smtpd_session_new - a connection was accepted: start its session */
struct session *
smtpd_session_new(struct smtpd_server *srv, int fd, const struct sockaddr *sa,
                  socklen_t salen, size_t service,
                  const struct personality *pers)
{
    struct session *s = xcalloc(1, sizeof(*s));
    struct netaddr plain;
    int     on = 1;

    /*
     * A reply that waits for a queue thread (354, the 250 after the dot)
     * follows earlier ones in a segment of its own: with Nagle it would
     * wait for the client's delayed ACK of those, 40 ms each message.
     */
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    s->srv = srv;
    s->id = ++srv->next_id;
    s->connected = smtpd_session_now();
    s->service = service;
    s->pers = pers;
    s->p = &pers->params;
    if (netaddr_from_sockaddr(&s->addr, &s->port, sa, salen) < 0) {
        memset(&s->addr, 0, sizeof(s->addr));
        s->addr.family = AF_INET;
    }
    (void) netaddr_unmap(&plain, &s->addr);
    if (netaddr_format(&plain, s->addr_text, sizeof(s->addr_text)) < 0)
        (void) str_copy(s->addr_text, sizeof(s->addr_text), "unknown");
    s->name = xstrdup(SMTPD_DNS_UNKNOWN);
    s->reverse_name = xstrdup(SMTPD_DNS_UNKNOWN);
    s->bev = s->plain = bufferevent_socket_new(srv->base, fd,
                                               BEV_OPT_CLOSE_ON_FREE);
    s->timer = evtimer_new(srv->base, session_timer_cb, s);
    if (s->bev == NULL || s->timer == NULL)
        log_fatal("smtpd: cannot make a bufferevent or timer");
    bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
                      session_event_cb, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_MAX);
    (void) bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    smtpd_server_add(srv, s);
    smtpd_master_session_open(s);

    s->last_verb = NULL;
    if (smtpd_proxy_protocol(s->p->smtpd_upstream_proxy_protocol)
        != SMTPD_PROXY_NONE) {
        /* behind a balancer: its header names the client (first) */
        smtpd_session_set_state(s, SESSION_PROXY);
        return s;
    }
    session_lookup(s);
    return s;
}

/* session_timeout - the client took too long: 421 and close */
static void
session_timeout(struct session *s)
{
    log_info("timeout after %s from %s[%s]", session_verb(s), s->name,
             s->addr_text);
    smtpd_session_history(s, CLIENT_HISTORY_TIMEOUT);
    smtpd_master_count(s->srv, s->service, SCOREBOARD_TIMEOUTS);
    smtpd_session_reply_nocount(s, "421 4.4.2 %s Error: timeout exceeded",
                                smtpd_server_hostname(s->p));
    smtpd_session_close(s);
}

/* session_timer_cb - the session's one timer fired */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void) fd;
    (void) what;
    if (s->flags & SESSION_F_SLEEP) {
        /* the tarpit delay is over: the held command goes on */
        s->flags &= ~SESSION_F_SLEEP;
        s->flags |= SESSION_F_SLEPT;
        smtpd_session_arm(s);
        session_run(s);
    } else {
        switch (s->state) {
        case SESSION_PROXY:
            if (smtpd_proxy_protocol(s->p->smtpd_upstream_proxy_protocol)
                == SMTPD_PROXY_HAPROXY)
                session_proxy_fail(s, "time limit exceeded");
            else
                session_proxy_unsupported(s);
            break;
        case SESSION_LOOKUP:
            smtpd_dns_cancel(s->dns);
            s->dns = NULL;
            smtpd_classify_cancel(s->classify);
            s->classify = NULL;
            session_greet(s);
            break;
        case SESSION_PAUSE:
            session_greet_now(s);
            break;
        case SESSION_CLOSING:
            if (smtpd_session_now() >= s->state_start + s->p->smtpd_timeout)
                s->flags |= SESSION_F_DEAD;
            break;
        case SESSION_TLS:
            log_info("timeout after STARTTLS from %s[%s]", s->name,
                     s->addr_text);
            s->flags |= SESSION_F_DEAD;
            break;
        default:
            session_timeout(s);
            break;
        }
    }
    smtpd_session_end(s);
}

/*
 * session_read_line - take one command line from the input, if a whole
 * one is there. Returns 1 when it consumed something (a line handled,
 * or part of an over-long line thrown away with its reply), else 0.
 *
 * Only LF ends a line; the CR before it is removed. A line ending in a
 * bare LF, or holding a bare CR, is refused and the session ended when
 * smtpd_forbid_bare_newline is on; otherwise it is accepted as Postfix
 * does. The line is read with a limit: past it the bytes are thrown
 * away up to the next LF (SESSION_F_SKIP) and the line is refused.
 */
static int
session_read_line(struct session *s)
{
    static char line[SESSION_LINE_BUF];
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t  avail = evbuffer_get_length(in), max, len;
    struct evbuffer_ptr end, lf;
    int     bare_lf, bare_cr;

    if (avail == 0)
        return 0;
    max = (size_t) s->p->smtpd_command_line_limit + SESSION_LINE_ALLOWANCE_MAX;
    if (max > sizeof(line))
        max = sizeof(line);
    if (evbuffer_ptr_set(in, &end, avail < max ? avail : max,
                         EVBUFFER_PTR_SET) < 0)
        return 0;
    lf = evbuffer_search_range(in, "\n", 1, NULL, &end);
    if (s->flags & SESSION_F_SKIP) {
        if (lf.pos < 0) {
            (void) evbuffer_drain(in, avail < max ? avail : max);
            return avail >= max;
        }
        (void) evbuffer_drain(in, (size_t) lf.pos + 1);
        s->flags &= ~SESSION_F_SKIP;
        s->commands++;
        smtpd_session_reply(s, "500 5.5.2 Error: line too long");
        return 1;
    }
    if (lf.pos < 0) {
        if (avail < max)
            return 0;                   /* wait for the rest */
        (void) evbuffer_drain(in, max);
        s->flags |= SESSION_F_SKIP;
        return 1;
    }
    len = (size_t) lf.pos + 1;
    if (evbuffer_remove(in, line, len) != (int) len)
        log_panic("%s: evbuffer_remove short", __func__);
    len--;                              /* the LF */
    bare_lf = (len == 0 || line[len - 1] != '\r');
    if (!bare_lf)
        len--;
    bare_cr = memchr(line, '\r', len) != NULL;
    line[len] = '\0';
    if ((bare_lf || bare_cr) && s->p->smtpd_forbid_bare_newline) {
        log_info("%s after %s from %s[%s]",
                 bare_lf ? "bare <LF> received" : "bare <CR> received",
                 session_verb(s), s->name, s->addr_text);
        smtpd_session_reply(s, "521 5.5.2 %s Error: bare <%s> received",
                            smtpd_server_hostname(s->p),
                            bare_lf ? "LF" : "CR");
        smtpd_session_close(s);
        return 1;
    }
    smtpd_cmd_execute(s, line, len, (size_t) lf.pos + 1);
    return 1;
}

/*
 * session_command - one step in state COMMAND: the tarpit, one line,
 * then the hard error limit. Returns 1 if it made progress.
 */
static int
session_command(struct session *s)
{
    const struct params *p = s->p;
    int     progress;

    if (s->error_count >= (unsigned long) p->smtpd_soft_error_limit
        && p->smtpd_error_sleep_time > 0 && !(s->flags & SESSION_F_SLEPT)
        && evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
        /* the tarpit: answer the next command later; serve others now */
        s->flags |= SESSION_F_SLEEP;
        s->sleep_until = smtpd_session_now() + p->smtpd_error_sleep_time;
        smtpd_session_arm(s);
        return 0;
    }
    if ((progress = session_read_line(s)) == 0)
        return 0;
    if (!(s->flags & SESSION_F_SKIP))
        s->flags &= ~SESSION_F_SLEPT;
    if (s->state == SESSION_COMMAND)
        s->wait_start = smtpd_session_now();   /* the next request starts */
    if (s->error_count >= (unsigned long) s->p->smtpd_hard_error_limit
        && s->state != SESSION_CLOSING) {
        log_info("too many errors after %s from %s[%s]", session_verb(s),
                 s->name, s->addr_text);
        smtpd_session_history(s, CLIENT_HISTORY_ERROR);
        smtpd_session_reply_nocount(s, "421 4.7.0 %s Error: too many errors",
                                    smtpd_server_hostname(s->p));
        smtpd_session_close(s);
    }
    if (s->state == SESSION_COMMAND)
        smtpd_session_arm(s);
    return progress;
}

/*
 * session_run - process input until it runs out or the session must
 * wait (queue job, tarpit, TLS, unread replies, closing).
 */
static void
session_run(struct session *s)
{
    int     progress;

    do {
        if (s->flags & (SESSION_F_JOB | SESSION_F_SLEEP | SESSION_F_DEAD))
            return;
        if (evbuffer_get_length(bufferevent_get_output(s->bev))
            > SESSION_OUTPUT_MAX) {
            s->flags |= SESSION_F_OUTFULL;
            return;
        }
        switch (s->state) {
        case SESSION_COMMAND:
            progress = session_command(s);
            break;
        case SESSION_DATA:
        case SESSION_BDAT:
            progress = smtpd_message_input(s);
            break;
        default:
            return;
        }
    } while (progress);
}

/* smtpd_session_resume - an asynchronous step ended: go on with input */
void
smtpd_session_resume(struct session *s)
{
    smtpd_session_arm(s);
    session_run(s);
}

/* session_read_cb - the client sent something */
static void
session_read_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void) bev;
    s->last_read = smtpd_session_now();
    if (s->state == SESSION_PROXY)
        session_proxy_input(s);
    else if ((s->state == SESSION_LOOKUP || s->state == SESSION_PAUSE)
             && s->p->smtpd_greet_pause > 0)
        session_early_talker(s);
    else if (s->state == SESSION_COMMAND || s->state == SESSION_DATA
        || s->state == SESSION_BDAT) {
        session_run(s);
        if (s->state != SESSION_CLOSING)
            smtpd_session_arm(s);
    }
    smtpd_session_end(s);
}

/* session_write_cb - all queued output went to the socket */
static void
session_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void) bev;
    if (s->flags & SESSION_F_OUTFULL) {
        s->flags &= ~SESSION_F_OUTFULL;
        session_run(s);
    }
    smtpd_session_end(s);
}

/* session_tls_ready - the handshake is done: start over, as RFC 3207 says */
static void
session_tls_ready(struct session *s)
{
    s->flags |= SESSION_F_TLS;
    s->tls = xcalloc(1, sizeof(*s->tls));
    (void) smtpd_tls_describe(s->bev, s->tls);
    log_info("Anonymous TLS connection established from %s[%s]: %s with"
             " cipher %s (%d/%d bits)", s->name, s->addr_text,
             s->tls->protocol, s->tls->cipher, s->tls->bits,
             s->tls->alg_bits);
    free(s->helo);
    s->helo = NULL;
    s->flags &= ~SESSION_F_EHLO;
    smtpd_session_reset_transaction(s);
    smtpd_session_set_state(s, SESSION_COMMAND);
    session_run(s);
}

/* session_event_cb - connected (TLS), end of file, error, write timeout */
static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void) bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state == SESSION_TLS)
            session_tls_ready(s);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (s->state == SESSION_TLS) {
            struct dstr *why = dstr_new(64, 1024);

            (void) smtpd_tls_error(why);
            log_info("SSL_accept error from %s[%s]: %s", s->name,
                     s->addr_text, why->len ? why->data : "lost connection");
            dstr_free(why);
        } else if (s->state == SESSION_PROXY) {
            if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
                session_proxy_fail(s, "lost connection within the header");
            else
                log_info("haproxy read: lost connection before the header"
                         " from [%s]", s->addr_text);
        } else if (s->state != SESSION_CLOSING) {
            log_info("lost connection after %s from %s[%s]", session_verb(s),
                     s->name, s->addr_text);
        }
        s->flags |= SESSION_F_DEAD;
    }
    smtpd_session_end(s);
}

/*
 * smtpd_session_start_tls - after "220 Ready to start TLS" is queued:
 * discard pipelined plaintext and wrap the socket in TLS.
 */
int
smtpd_session_start_tls(struct session *s)
{
    struct bufferevent *tls_bev;
    size_t  discarded;

    tls_bev = smtpd_tls_start(smtpd_server_tls(s->srv, s->service),
                              s->srv->base, s->plain, &discarded);
    if (tls_bev == NULL) {
        smtpd_session_log(s, LOG_LEVEL_ERROR, "cannot start TLS");
        smtpd_session_close(s);
        return -1;
    }
    if (discarded > 0)
        log_info("%s[%s]: discarded %zu byte(s) of plaintext pipelined"
                 " after STARTTLS", s->name, s->addr_text, discarded);
    s->bev = tls_bev;
    bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
                      session_event_cb, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_MAX);
    (void) bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    smtpd_session_set_state(s, SESSION_TLS);
    return 0;
}
