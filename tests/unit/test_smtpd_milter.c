/* test_smtpd_milter - unit tests for smtpd/smtpd_milter: the client against a fake milter in the test's loop. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_milter_edit.h"
#include "smtpd/smtpd_milter_proto.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "testutil.h"

#define WAIT_MS 5000                    /* bound of every wait */
#define FAKES 2
#define MSG "Received: from x by mx; now\r\n" \
    "From: <a@example.org>\r\n" \
    "Subject: hello\r\n" \
    "Subject: again\r\n" \
    "\r\n" \
    "line one\r\n" \
    "line two\r\n"

/* ------------------------------------------------------ the fake milter */

struct fake {
    struct evconnlistener *listener;
    unsigned port;
    char    path[108];                 /* unix socket, or "" */
    struct bufferevent *bev;           /* the one connection */
    int     accepts;
    uint32_t version, actions, pflags;
    uint32_t force_version;            /* answer this version whatever */
    const char *symlist_connect;       /* SETSYMLIST for CONNECT, or NULL */
    struct dstr *reply[256];           /* raw reply per command, or NULL */
    int     hang[256];                 /* never answer this command */
    int     close_on[256];             /* close at this command */
    int     garbage_optneg;            /* answer OPTNEG with garbage */
    struct dstr *seen;                 /* what came, one line each */
};

static struct fake fakes[FAKES];

/* put_u32 - a number in network order */
static void
put_u32(struct dstr *d, uint32_t v)
{
    unsigned char b[4] = {(unsigned char) (v >> 24), (unsigned char) (v >> 16),
                          (unsigned char) (v >> 8), (unsigned char) v};

    (void) dstr_append(d, b, 4);
}

/* get_u32 - a number from network order */
static unsigned long
get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *) p;

    return (unsigned long) u[0] << 24 | (unsigned long) u[1] << 16
        | (unsigned long) u[2] << 8 | u[3];
}

/* pkt - append one packet: code and data */
static void
pkt(struct dstr *d, int code, const void *data, size_t len)
{
    put_u32(d, (uint32_t) len + 1);
    (void) dstr_append_char(d, code);
    (void) dstr_append(d, data, len);
}

/* fake_set - the reply bytes for cmd (a list of packets) */
static struct dstr *
fake_set(struct fake *f, int cmd)
{
    if (f->reply[cmd] == NULL)
        f->reply[cmd] = dstr_new(64, DSTR_UNLIMITED);
    return f->reply[cmd];
}

/* fake_simple - reply code (no data) to cmd */
static void
fake_simple(struct fake *f, int cmd, int code)
{
    pkt(fake_set(f, cmd), code, NULL, 0);
}

/* fake_noreply_bit - the NR step of a command */
static uint32_t
fake_noreply_bit(int cmd)
{
    switch (cmd) {
    case 'C':
        return SMTPD_MILTER_P_NR_CONN;
    case 'H':
        return SMTPD_MILTER_P_NR_HELO;
    case 'M':
        return SMTPD_MILTER_P_NR_MAIL;
    case 'R':
        return SMTPD_MILTER_P_NR_RCPT;
    case 'T':
        return SMTPD_MILTER_P_NR_DATA;
    case 'U':
        return SMTPD_MILTER_P_NR_UNKN;
    case 'L':
        return SMTPD_MILTER_P_NR_HDR;
    case 'N':
        return SMTPD_MILTER_P_NR_EOH;
    case 'B':
        return SMTPD_MILTER_P_NR_BODY;
    default:
        return 0;
    }
}

/* fake_strings - NUL-separated strings as "a b c" (NUL ends each) */
static void
fake_strings(struct dstr *out, const char *d, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (d[i] == '\0')
            (void) dstr_append_char(out, i + 1 < len ? ' ' : '\0');
        else if (d[i] == '\n')
            (void) dstr_append_str(out, "\\n");
        else if (d[i] == '\r')
            (void) dstr_append_str(out, "\\r");
        else
            (void) dstr_append_char(out, d[i]);
    }
    if (out->len > 0 && out->data[out->len - 1] == '\0')
        dstr_truncate(out, out->len - 1);
}

/* fake_macros - "MACRO c name=value name=value" */
static void
fake_macros(struct dstr *out, const char *d, size_t len)
{
    size_t  i = 1;
    int     name = 1;

    (void) dstr_appendf(out, "MACRO %c", d[0]);
    while (i < len) {
        const char *s = d + i;
        size_t  n = strnlen(s, len - i);

        (void) dstr_append_str(out, name ? " " : "=");
        (void) dstr_append(out, s, n);
        name = !name;
        i += n + 1;
    }
}

/* fake_packet - one command from the client: record it, answer it */
static void
fake_packet(struct fake *f, int cmd, const char *d, size_t len)
{
    struct dstr *line = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *out = dstr_new(64, DSTR_UNLIMITED);
    unsigned char p[2];

    switch (cmd) {
    case 'O':
        (void) dstr_appendf(line, "OPTNEG %lx %lx %lx", get_u32(d),
                            get_u32(d + 4), get_u32(d + 8));
        if (f->garbage_optneg) {
            pkt(out, 'Z', "x", 1);
            break;
        }
        put_u32(out, 0);                /* length, set below */
        (void) dstr_append_char(out, 'O');
        /* as libmilter: the lower version, unless told otherwise */
        put_u32(out, f->force_version ? f->force_version
                : f->version < get_u32(d) ? f->version
                : (uint32_t) get_u32(d));
        put_u32(out, f->actions);
        put_u32(out, f->pflags);
        if (f->symlist_connect) {
            put_u32(out, SMTPD_MILTER_M_CONNECT);
            (void) dstr_append(out, f->symlist_connect,
                               strlen(f->symlist_connect) + 1);
        }
        {
            struct dstr *fixed = dstr_new(64, DSTR_UNLIMITED);

            put_u32(fixed, (uint32_t) out->len - 4);
            (void) dstr_append(fixed, out->data + 4, out->len - 4);
            (void) dstr_set(out, fixed->data, fixed->len);
            dstr_free(fixed);
        }
        break;
    case 'D':
        fake_macros(line, d, len);
        break;
    case 'C':
        (void) dstr_append_str(line, "CONNECT ");
        (void) dstr_append_str(line, d);
        d += strlen(d) + 1;
        (void) dstr_appendf(line, " %c", d[0]);
        if (d[0] != 'U') {
            memcpy(p, d + 1, 2);
            (void) dstr_appendf(line, " %u %s", (unsigned) (p[0] << 8 | p[1]),
                                d + 3);
        }
        break;
    case 'H':
    case 'M':
    case 'R':
    case 'U':
        (void) dstr_append_str(line, cmd == 'H' ? "HELO " : cmd == 'M'
                               ? "MAIL " : cmd == 'R' ? "RCPT " : "UNKNOWN ");
        fake_strings(line, d, len);
        break;
    case 'L':
        (void) dstr_append_str(line, "HEADER ");
        fake_strings(line, d, len);
        break;
    case 'B':
        (void) dstr_appendf(line, "BODY %zu", len);
        break;
    default:
        (void) dstr_append_str(line, smtpd_milter_proto_code_name(cmd));
        break;
    }
    if (cmd != 'O' && cmd != 'D' && cmd != 'A' && cmd != 'Q' && cmd != 'K') {
        if (f->close_on[cmd]) {
            bufferevent_free(f->bev);
            f->bev = NULL;
        } else if (f->hang[cmd] || (fake_noreply_bit(cmd) & f->pflags)) {
            /* no answer */
        } else if (f->reply[cmd] != NULL) {
            (void) dstr_append(out, f->reply[cmd]->data, f->reply[cmd]->len);
        } else {
            pkt(out, 'c', NULL, 0);
        }
    }
    (void) dstr_append_char(line, '\n');
    (void) dstr_append(f->seen, line->data, line->len);
    if (f->bev != NULL && out->len > 0)
        bufferevent_write(f->bev, out->data, out->len);
    dstr_free(line);
    dstr_free(out);
}

/* fake_read_cb - take whole packets */
static void
fake_read_cb(struct bufferevent *bev, void *arg)
{
    struct fake *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    unsigned char hdr[4];
    uint32_t n;
    char   *p;

    while (f->bev != NULL && evbuffer_get_length(in) >= 5) {
        (void) evbuffer_copyout(in, hdr, 4);
        n = (uint32_t) hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
        if (evbuffer_get_length(in) < 4 + n)
            return;
        p = xmalloc(n + 1);
        (void) evbuffer_drain(in, 4);
        (void) evbuffer_remove(in, p, n);
        p[n] = '\0';
        fake_packet(f, p[0], p + 1, n - 1);
        free(p);
    }
}

/* fake_event_cb - the client went away */
static void
fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fake *f = arg;

    (void) bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        (void) dstr_append_str(f->seen, "CLOSED\n");
        bufferevent_free(f->bev);
        f->bev = NULL;
    }
}

/* fake_accept - a client connection */
static void
fake_accept(struct evconnlistener *l, evutil_socket_t fd,
            struct sockaddr *sa, int salen, void *arg)
{
    struct fake *f = arg;

    (void) sa;
    (void) salen;
    f->accepts++;
    if (f->bev != NULL)
        bufferevent_free(f->bev);
    f->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
                                    BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(f->bev, fake_read_cb, NULL, fake_event_cb, f);
    (void) bufferevent_enable(f->bev, EV_READ | EV_WRITE);
}

/* fake_start - listen on a loopback port (or a unix socket) */
static void
fake_start(struct event_base *base, struct fake *f, const char *path)
{
    struct sockaddr_in sin;
    struct sockaddr_un sun;
    socklen_t len = sizeof(sin);

    f->version = 6;
    f->actions = SMTPD_MILTER_A_ALL & ~SMTPD_MILTER_A_SETSYMLIST;
    f->pflags = 0;
    f->seen = dstr_new(256, DSTR_UNLIMITED);
    if (path != NULL) {
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        (void) snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        (void) snprintf(f->path, sizeof(f->path), "%s", path);
        (void) unlink(path);
        f->listener = evconnlistener_new_bind(base, fake_accept, f,
                                              LEV_OPT_CLOSE_ON_FREE, 8,
                                              (struct sockaddr *) &sun,
                                              sizeof(sun));
        assert_non_null(f->listener);
        return;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->listener = evconnlistener_new_bind(base, fake_accept, f,
                                          LEV_OPT_CLOSE_ON_FREE
                                          | LEV_OPT_REUSEABLE, 8,
                                          (struct sockaddr *) &sin,
                                          sizeof(sin));
    assert_non_null(f->listener);
    assert_int_equal(getsockname(evconnlistener_get_fd(f->listener),
                                 (struct sockaddr *) &sin, &len), 0);
    f->port = ntohs(sin.sin_port);
}

/* fake_stop - close and free everything of a fake */
static void
fake_stop(struct fake *f)
{
    int     i;

    if (f->bev != NULL)
        bufferevent_free(f->bev);
    if (f->listener != NULL)
        evconnlistener_free(f->listener);
    if (f->path[0])
        (void) unlink(f->path);
    for (i = 0; i < 256; i++)
        dstr_free(f->reply[i]);
    dstr_free(f->seen);
    memset(f, 0, sizeof(*f));
}

/* seen - did the fake record this line (or part of one) */
static int
seen(const struct fake *f, const char *text)
{
    return strstr(f->seen->data, text) != NULL;
}

/* ------------------------------------------------------ the session */

static struct event_base *base;
static struct smtpd_server srv;
static struct personality pers;
static struct session sess;
static char *milter_items[FAKES];
static char endpoint[FAKES][160];

struct got {
    int     calls;
    struct smtpd_milter_result r;
    char    reply[1024];
    char    quarantine[256];
};
static struct got got;

/* done_cb - record the stage's result */
static void
done_cb(void *arg, const struct smtpd_milter_result *r)
{
    (void) arg;
    got.calls++;
    got.r = *r;
    (void) snprintf(got.reply, sizeof(got.reply), "%s",
                    r->reply ? r->reply : "");
    (void) snprintf(got.quarantine, sizeof(got.quarantine), "%s",
                    r->quarantine ? r->quarantine : "");
}

/* now_ms - monotonic milliseconds */
static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_stage - one stage; wait (bounded) for done; assert it came once */
static void
run_stage(struct smtpd_milters *ms, enum smtpd_milter_stage stage,
          const struct smtpd_milter_args *args)
{
    long long start = now_ms();
    int     before = got.calls;

    smtpd_milter_stage(ms, stage, args, done_cb, NULL);
    assert_int_equal(got.calls, before);        /* never at once */
    while (got.calls == before && now_ms() - start < WAIT_MS)
        (void) event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(got.calls, before + 1);
}

/* run_for - let the loop run a while (the fake reads what came) */
static void
run_for(long long ms)
{
    long long start = now_ms();
    struct timeval tv = {0, 10000};

    while (now_ms() - start < ms) {
        (void) event_base_loopexit(base, &tv);
        (void) event_base_dispatch(base);
    }
}

struct memsrc {
    const char *data;
    size_t  len;
};

/* mem_read - the pread-like source over memory */
static ssize_t
mem_read(void *arg, long long offset, void *buf, size_t size)
{
    struct memsrc *m = arg;

    if (offset >= (long long) m->len)
        return 0;
    if (size > m->len - (size_t) offset)
        size = m->len - (size_t) offset;
    memcpy(buf, m->data + offset, size);
    return (ssize_t) size;
}

/* set_milters - the session's smtpd_milters: the first n fakes */
static void
set_milters(size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (fakes[i].path[0])
            (void) snprintf(endpoint[i], sizeof(endpoint[i]), "unix:%s",
                            fakes[i].path);
        else
            (void) snprintf(endpoint[i], sizeof(endpoint[i]),
                            "inet:127.0.0.1:%u", fakes[i].port);
        milter_items[i] = endpoint[i];
    }
    pers.params.smtpd_milters.count = n;
    pers.params.smtpd_milters.items = milter_items;
}

/* setup - a loop, a hand-made session, two fakes */
static int
setup(void **state)
{
    struct params *p = &pers.params;
    int     i;

    (void) state;
    testutil_log_start();
    memset(&got, 0, sizeof(got));
    memset(&srv, 0, sizeof(srv));
    memset(&pers, 0, sizeof(pers));
    memset(&sess, 0, sizeof(sess));
    base = event_base_new();
    srv.base = base;
    pers.name = "normal";
    pers.class_name = "default";
    p->myhostname = "mx.example.org";
    p->milter_protocol = 6;
    p->milter_default_action = "tempfail";
    p->milter_connect_timeout = 2000;
    p->milter_command_timeout = 2000;
    p->milter_content_timeout = 2000;
    p->milter_connect_macros = "j {daemon_name} {daemon_addr} v _"
        " {client_addr} {client_name} {client_port}";
    p->milter_helo_macros = "{tls_version} {cipher}";
    p->milter_mail_macros = "i {auth_type} {mail_addr} {mail_host}";
    p->milter_rcpt_macros = "i {rcpt_addr}";
    p->milter_data_macros = "i";
    p->milter_end_of_header_macros = "i";
    p->milter_end_of_data_macros = "i";
    p->milter_unknown_command_macros = "";
    p->milter_macro_daemon_name = "mx-daemon";
    p->milter_macro_v = "doppel";
    p->message_size_limit = 10 * 1024 * 1024;
    sess.srv = &srv;
    sess.pers = &pers;
    sess.p = p;
    sess.name = "client.example";
    sess.reverse_name = "client.example";
    assert_int_equal(netaddr_parse(&sess.addr, "192.0.2.1"), 0);
    (void) snprintf(sess.addr_text, sizeof(sess.addr_text), "192.0.2.1");
    sess.port = 4711;
    for (i = 0; i < FAKES; i++)
        fake_start(base, &fakes[i], NULL);
    set_milters(1);
    return 0;
}

/* teardown - everything closed and freed (ASan checks the rest) */
static int
teardown(void **state)
{
    int     i;

    (void) state;
    for (i = 0; i < FAKES; i++)
        fake_stop(&fakes[i]);
    event_base_free(base);
    testutil_log_stop();
    return 0;
}

/* envelope - CONNECT, HELO, MAIL, RCPT through ms; each continues */
static void
envelope(struct smtpd_milters *ms)
{
    struct smtpd_milter_args a;
    const char *margs[] = {"SIZE=100"};

    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    memset(&a, 0, sizeof(a));
    a.arg = "helo.example";
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    a.arg = "a@example.org";
    a.esmtp = margs;
    a.nesmtp = 1;
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    a.arg = "b@example.net";
    a.esmtp = NULL;
    a.nesmtp = 0;
    run_stage(ms, SMTPD_MILTER_RCPT, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
}

/* eom - DATA and the end of message for MSG (first field hidden) */
static void
eom(struct smtpd_milters *ms, const char *text, size_t len)
{
    static struct memsrc src;
    struct smtpd_milter_args a;

    memset(&a, 0, sizeof(a));
    a.queue_id = "4XyZ1";
    run_stage(ms, SMTPD_MILTER_DATA, &a);
    src.data = text;
    src.len = len;
    a.read = mem_read;
    a.read_arg = &src;
    a.hidden = 1;
    run_stage(ms, SMTPD_MILTER_EOM, &a);
}

/* test_dialog - negotiation, every stage, the macros of each */
static void
test_dialog(void **state)
{
    struct smtpd_milters *ms = smtpd_milter_new(&sess);
    struct fake *f = &fakes[0];
    char    line[256];

    (void) state;
    assert_non_null(ms);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    assert_non_null(got.r.mods);
    assert_int_equal(got.r.mods->count, 0);
    smtpd_milter_abort(ms);
    ms = smtpd_milter_free(ms);
    run_for(50);

    /* version 6, every action, every step of version 6 */
    assert_true(seen(f, "OPTNEG 6 1ff 1ff7ff\n"));
    (void) snprintf(line, sizeof(line), "CONNECT client.example 4 4711"
                    " 192.0.2.1\n");
    assert_true(seen(f, line));
    assert_true(seen(f, "MACRO C j=mx.example.org {daemon_name}=mx-daemon"
                     " v=doppel _=client.example [192.0.2.1]"
                     " {client_addr}=192.0.2.1 {client_name}=client.example"
                     " {client_port}=4711 {stress}= {personality}=normal"
                     " {client_class}=default\n"));
    assert_true(seen(f, "MACRO H {stress}= {personality}=normal"
                     " {client_class}=default\nHELO helo.example\n"));
    assert_true(seen(f, "MACRO M {mail_addr}=a@example.org {mail_host}="
                     "example.org {stress}= {personality}=normal"
                     " {client_class}=default\nMAIL <a@example.org>"
                     " SIZE=100\n"));
    assert_true(seen(f, "MACRO R {rcpt_addr}=b@example.net {stress}="));
    assert_true(seen(f, "RCPT <b@example.net>\n"));
    assert_true(seen(f, "MACRO T i=4XyZ1 {stress}= {personality}=normal"
                     " {client_class}=default\nDATA\n"));
    /* the hidden Received: field is not shown; one space eaten */
    assert_false(seen(f, "HEADER Received"));
    assert_true(seen(f, "MACRO L i=4XyZ1 {stress}= {personality}=normal"
                     " {client_class}=default\nHEADER From <a@example.org>\n"));
    assert_true(seen(f, "HEADER Subject hello\nMACRO L"));
    assert_true(seen(f, "HEADER Subject again\nMACRO N i=4XyZ1 {stress}="));
    assert_true(seen(f, "\nEOH\nMACRO B i=4XyZ1 {stress}="));
    assert_true(seen(f, "\nBODY 20\nMACRO E i=4XyZ1 {stress}= {personality}="
                     "normal {client_class}=default\nBODYEOB\n"));
    /* the message ended properly: no ABORT, then QUIT */
    assert_false(seen(f, "ABORT"));
    assert_true(seen(f, "BODYEOB\nQUIT\n"));
    assert_int_equal(f->accepts, 1);
}

/* test_stress_macros - {stress}=yes, the stress personality's names */
static void
test_stress_macros(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];

    (void) state;
    pers.stress = 1;
    pers.name = "stress";
    pers.class_name = "suspect";
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    ms = smtpd_milter_free(ms);
    run_for(50);
    assert_true(seen(f, "{stress}=yes {personality}=stress"
                     " {client_class}=suspect\nCONNECT"));
    assert_true(seen(f, "{stress}=yes {personality}=stress"
                     " {client_class}=suspect\nHELO"));
    assert_true(seen(f, "{stress}=yes {personality}=stress"
                     " {client_class}=suspect\nBODYEOB"));
    assert_false(seen(f, "{stress}= "));
    /* the message was finished: no ABORT */
    assert_false(seen(f, "ABORT"));
}

/* test_replies_envelope - reject, tempfail, replycode, discard */
static void
test_replies_envelope(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    struct smtpd_milter_args a;
    const char *text;

    (void) state;
    fake_simple(f, 'M', 'r');
    fake_simple(f, 'R', 't');
    text = "554 5.7.1 Custom 100%% sure\0";
    pkt(fake_set(f, 'T'), 'y', text, strlen(text) + 1);
    ms = smtpd_milter_new(&sess);
    memset(&a, 0, sizeof(a));
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    a.arg = "a@b";
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    assert_string_equal(got.reply, "550 5.7.1 Command rejected");
    assert_string_equal(got.r.milter, endpoint[0]);
    smtpd_milter_abort(ms);
    run_stage(ms, SMTPD_MILTER_MAIL, &a);  /* rejected again: not stuck */
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    dstr_free(f->reply['M']);
    f->reply['M'] = NULL;
    smtpd_milter_abort(ms);
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    a.arg = "c@d";
    run_stage(ms, SMTPD_MILTER_RCPT, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_string_equal(got.reply,
                        "451 4.7.1 Service unavailable - try again later");
    assert_int_equal(got.r.close, 0);
    run_stage(ms, SMTPD_MILTER_DATA, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    assert_string_equal(got.reply, "554 5.7.1 Custom 100% sure");
    smtpd_milter_abort(ms);
    run_for(50);
    assert_true(seen(f, "DATA\nABORT\n"));
    ms = smtpd_milter_free(ms);
}

/* test_replies_connect - reject at CONNECT answers every later stage */
static void
test_replies_connect(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    struct smtpd_milter_args a;
    const char *text = "550 go away\0";

    (void) state;
    pkt(fake_set(f, 'C'), 'y', text, strlen(text) + 1);
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    assert_string_equal(got.reply, "550 5.7.1 go away");
    memset(&a, 0, sizeof(a));
    a.arg = "h";
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    assert_string_equal(got.reply, "550 5.7.1 go away");
    ms = smtpd_milter_free(ms);
    run_for(50);
    assert_false(seen(f, "HELO"));

    /* accept at CONNECT: the milter hears nothing more */
    dstr_free(f->reply['C']);
    f->reply['C'] = NULL;
    fake_simple(f, 'C', 'a');
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    ms = smtpd_milter_free(ms);
    run_for(50);
    assert_false(seen(f, "MAIL"));

    /* 421 (SHUTDOWN): tempfail that closes the session */
    dstr_free(f->reply['C']);
    f->reply['C'] = NULL;
    fake_simple(f, 'H', '4');
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    a.arg = "h";
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_string_equal(got.reply, "421 4.7.0 Server closing connection");
    assert_int_equal(got.r.close, 1);
    ms = smtpd_milter_free(ms);

    /* DISCARD at HELO is not allowed: the default action */
    dstr_free(f->reply['H']);
    f->reply['H'] = NULL;
    fake_simple(f, 'H', 'd');
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("DISCARD is not allowed at HELO; default"
                                " action tempfail"));
    ms = smtpd_milter_free(ms);
}

/* test_replies_eom - discard, quarantine, progress, skip */
static void
test_replies_eom(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    char   *big = xmalloc(200000);
    size_t  i;

    (void) state;
    fake_simple(f, 'E', 'd');
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_DISCARD);
    smtpd_milter_abort(ms);

    /* quarantine with a reason, after progress, then continue */
    dstr_free(f->reply['E']);
    f->reply['E'] = NULL;
    pkt(fake_set(f, 'E'), 'p', NULL, 0);
    pkt(fake_set(f, 'E'), 'q', "looks odd", 10);
    pkt(fake_set(f, 'E'), 'c', NULL, 0);
    f->actions |= SMTPD_MILTER_A_QUARANTINE;
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_QUARANTINE);
    assert_string_equal(got.quarantine, "looks odd");
    smtpd_milter_abort(ms);

    /* SKIP after the first body chunk: the rest is not sent */
    memcpy(big, "A: b\r\n\r\n", 8);
    for (i = 8; i < 200000; i++)
        big[i] = i % 80 == 79 ? '\n' : 'x';
    dstr_free(f->reply['E']);
    f->reply['E'] = NULL;
    fake_simple(f, 'B', 's');
    dstr_reset(f->seen);
    envelope(ms);
    eom(ms, big, 200000);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    run_for(20);
    assert_true(seen(f, "BODY 65535\nMACRO E"));
    assert_false(seen(f, "BODY 65535\nMACRO B"));
    assert_true(seen(f, "BODYEOB\n"));
    ms = smtpd_milter_free(ms);
    free(big);
}

/* add_mod - one change packet for the end of message */
static void
add_mod(struct fake *f, int code, uint32_t index, const char *a,
        const char *b)
{
    struct dstr *d = dstr_new(64, DSTR_UNLIMITED);

    if (code == 'm' || code == 'i')
        put_u32(d, index);
    (void) dstr_append(d, a, strlen(a) + 1);
    if (b != NULL)
        (void) dstr_append(d, b, strlen(b) + 1);
    pkt(fake_set(f, 'E'), code, d->data, d->len);
    dstr_free(d);
}

/* str_write - writer into a dstr */
static int
str_write(void *arg, const void *buf, size_t len)
{
    return dstr_append(arg, buf, len);
}

/* test_modifications - every change, in order, applied to the message */
static void
test_modifications(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    struct smtpd_milter_mods *mods;
    struct memsrc src = {MSG, strlen(MSG)};
    struct dstr *out = dstr_new(256, DSTR_UNLIMITED);
    struct smtpd_milter_env env;
    const char *rcpt[] = {"b@example.net"};

    (void) state;
    add_mod(f, 'h', 0, "X-Added", "yes");
    add_mod(f, 'm', 2, "Subject", "changed");
    add_mod(f, 'i', 0, "X-Top", "first");
    add_mod(f, '+', 0, "<new@example.com>", NULL);
    add_mod(f, '2', 0, "<par@example.com>", "NOTIFY=NEVER");
    add_mod(f, '-', 0, "<b@example.net>", NULL);
    add_mod(f, 'e', 0, "<sender@example.com>", NULL);
    pkt(fake_set(f, 'E'), 'b', "NEW BODY\r\n", 10);
    pkt(fake_set(f, 'E'), 'b', "part two\r\n", 10);
    pkt(fake_set(f, 'E'), 'c', NULL, 0);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    mods = smtpd_milter_take_mods(ms);
    assert_ptr_equal(mods, got.r.mods);
    assert_int_equal(mods->count, 7);
    assert_int_equal(mods->ops[0].op, SMTPD_MILTER_EDIT_ADDHDR);
    assert_int_equal(mods->ops[1].op, SMTPD_MILTER_EDIT_CHGHDR);
    assert_int_equal(mods->ops[1].index, 2);
    assert_int_equal(mods->ops[2].op, SMTPD_MILTER_EDIT_INSHDR);
    assert_int_equal(mods->ops[4].op, SMTPD_MILTER_EDIT_ADDRCPT);
    assert_string_equal(mods->ops[4].value, "NOTIFY=NEVER");
    assert_int_equal(mods->ops[6].op, SMTPD_MILTER_EDIT_CHGFROM);
    assert_non_null(mods->body);
    assert_int_equal(mods->body->len, 20);
    assert_true(smtpd_milter_mods_changed(mods));
    assert_int_equal(smtpd_milter_edit_apply(mods, 1, mem_read, &src,
                                             str_write, out, NULL), 0);
    assert_string_equal(out->data, "X-Top: first\r\n"
                        "Received: from x by mx; now\r\n"
                        "From: <a@example.org>\r\n"
                        "Subject: hello\r\n"
                        "Subject: changed\r\n"
                        "X-Added: yes\r\n"
                        "\r\n"
                        "NEW BODY\r\npart two\r\n");
    smtpd_milter_edit_env(mods, rcpt, 1, &env);
    assert_true(env.changed);
    assert_string_equal(env.sender, "sender@example.com");
    assert_int_equal(env.count, 2);
    assert_string_equal(env.rcpt[0].addr, "new@example.com");
    assert_string_equal(env.rcpt[1].addr, "par@example.com");
    smtpd_milter_edit_env_free(&env);
    smtpd_milter_mods_free(mods);
    smtpd_milter_abort(ms);
    ms = smtpd_milter_free(ms);
    dstr_free(out);

    /* a change the milter did not negotiate: the default action */
    f->actions = SMTPD_MILTER_A_ADDHDRS;
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("CHGHEADER without negotiating it"));
    ms = smtpd_milter_free(ms);
}

/* test_two_milters - the second sees the first one's header changes */
static void
test_two_milters(void **state)
{
    struct smtpd_milters *ms;

    (void) state;
    set_milters(2);
    add_mod(&fakes[0], 'h', 0, "X-First", "1");
    add_mod(&fakes[0], 'm', 1, "Subject", "");
    pkt(fake_set(&fakes[0], 'E'), 'c', NULL, 0);
    add_mod(&fakes[1], 'h', 0, "X-Second", "2");
    pkt(fake_set(&fakes[1], 'E'), 'c', NULL, 0);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    assert_int_equal(got.r.mods->count, 3);
    assert_true(seen(&fakes[1], "HEADER X-First 1\n"));
    assert_true(seen(&fakes[1], "HEADER Subject again\n"));
    assert_false(seen(&fakes[1], "HEADER Subject hello\n"));
    assert_true(seen(&fakes[0], "HEADER Subject hello\n"));
    ms = smtpd_milter_free(ms);

    /* the first rejects MAIL: the second does not hear of it */
    fake_simple(&fakes[0], 'M', 'r');
    ms = smtpd_milter_new(&sess);
    dstr_reset(fakes[1].seen);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    {
        struct smtpd_milter_args a;

        memset(&a, 0, sizeof(a));
        a.arg = "x@y";
        run_stage(ms, SMTPD_MILTER_MAIL, &a);
    }
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    run_for(30);
    assert_false(seen(&fakes[1], "MAIL"));
    ms = smtpd_milter_free(ms);
}

/* test_protocol_steps - NO* steps not sent, NR* steps not waited for */
static void
test_protocol_steps(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];

    (void) state;
    f->pflags = SMTPD_MILTER_P_NOHELO | SMTPD_MILTER_P_NR_RCPT
        | SMTPD_MILTER_P_NOHDRS | SMTPD_MILTER_P_NR_BODY
        | SMTPD_MILTER_P_HDR_LEADSPC;
    f->symlist_connect = "j {client_addr}";
    f->actions |= SMTPD_MILTER_A_SETSYMLIST;
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    ms = smtpd_milter_free(ms);
    run_for(50);
    /* macros of a skipped step still go, the step does not */
    assert_true(seen(f, "MACRO H"));
    assert_false(seen(f, "HELO"));
    assert_true(seen(f, "RCPT <b@example.net>\n"));
    assert_false(seen(f, "HEADER"));
    assert_false(seen(f, "MACRO L"));
    assert_true(seen(f, "EOH\n"));
    assert_true(seen(f, "BODY 20\n"));
    /* SETSYMLIST: only what it asked for, and ours */
    assert_true(seen(f, "MACRO C j=mx.example.org {client_addr}=192.0.2.1"
                     " {stress}= {personality}=normal"
                     " {client_class}=default\n"));
    testutil_log_stop();
    testutil_log_start();

    /* HDR_LEADSPC: values keep their space */
    f->pflags = SMTPD_MILTER_P_HDR_LEADSPC | SMTPD_MILTER_P_NR_HDR;
    dstr_reset(f->seen);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    ms = smtpd_milter_free(ms);
    run_for(30);
    assert_true(seen(f, "HEADER Subject  hello\n"));

    /* protocol 2: no DATA step at all */
    pers.params.milter_protocol = 2;
    f->pflags = 0;
    dstr_reset(f->seen);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    ms = smtpd_milter_free(ms);
    run_for(30);
    assert_true(seen(f, "OPTNEG 2 1ff 7f\n"));
    assert_false(seen(f, "MACRO T"));
    assert_false(seen(f, "DATA"));
    assert_true(seen(f, "BODYEOB"));
}

/* test_timeout - a milter that hangs: the default action, logged */
static void
test_timeout(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    struct smtpd_milter_args a;
    long long start;

    (void) state;
    pers.params.milter_command_timeout = 200;
    f->hang['H'] = 1;
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    memset(&a, 0, sizeof(a));
    a.arg = "h";
    start = now_ms();
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_true(now_ms() - start >= 190);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_string_equal(got.reply,
                        "451 4.7.1 Service unavailable - try again later");
    assert_true(testutil_logged("client.example[192.0.2.1]: after CONNECT:"
                                " milter inet:127.0.0.1:"));
    assert_true(testutil_logged("read timeout after 200 ms; default action"
                                " tempfail"));
    /* every later stage: the same, at once */
    a.arg = "x@y";
    start = now_ms();
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(now_ms() - start < 150);
    ms = smtpd_milter_free(ms);

    /* default accept: skipped for the rest of the session */
    pers.params.milter_default_action = "accept";
    dstr_reset(f->seen);
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    a.arg = "h";
    run_stage(ms, SMTPD_MILTER_HELO, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    a.arg = "x@y";
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    run_for(30);
    assert_false(seen(f, "MAIL"));
    ms = smtpd_milter_free(ms);

    /* content timeout at the end of message, per-milter setting */
    pers.params.milter_default_action = "tempfail";
    f->hang['H'] = 0;
    f->hang['E'] = 1;
    (void) snprintf(endpoint[0], sizeof(endpoint[0]), "{ inet:127.0.0.1:%u,"
                    " content_timeout=300ms, default_action=reject }",
                    f->port);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_REJECT);
    assert_string_equal(got.reply, "550 5.7.1 Service unavailable");
    assert_true(testutil_logged("read timeout after 300 ms; default action"
                                " reject"));
    ms = smtpd_milter_free(ms);

    /* quarantine as the default action: the message is held */
    (void) snprintf(endpoint[0], sizeof(endpoint[0]), "{ inet:127.0.0.1:%u,"
                    " content_timeout=200ms, default_action=quarantine }",
                    f->port);
    ms = smtpd_milter_new(&sess);
    envelope(ms);
    eom(ms, MSG, strlen(MSG));
    assert_int_equal(got.r.action, SMTPD_MILTER_QUARANTINE);
    assert_string_equal(got.quarantine, "milter unavailable");
    ms = smtpd_milter_free(ms);
}

/* test_garbage - garbage, a closed connection, a refused connect */
static void
test_garbage(void **state)
{
    struct smtpd_milters *ms;
    struct fake *f = &fakes[0];
    struct smtpd_milter_args a;
    int     fd;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    (void) state;
    pkt(fake_set(f, 'M'), 'Z', "junk", 4);
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    memset(&a, 0, sizeof(a));
    a.arg = "x@y";
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("protocol error: unknown reply code 0x5a;"
                                " default action tempfail"));
    ms = smtpd_milter_free(ms);

    /* an answer before it was asked */
    dstr_free(f->reply['M']);
    f->reply['M'] = NULL;
    pkt(fake_set(f, 'C'), 'c', NULL, 0);
    pkt(fake_set(f, 'C'), 'c', NULL, 0);
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    run_for(30);
    assert_true(testutil_logged("unexpected CONTINUE reply"));
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    ms = smtpd_milter_free(ms);

    /* closed while asked */
    dstr_free(f->reply['C']);
    f->reply['C'] = NULL;
    f->close_on['M'] = 1;
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("connection closed by milter"));
    ms = smtpd_milter_free(ms);

    /* garbage in the negotiation */
    f->close_on['M'] = 0;
    f->garbage_optneg = 1;
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("protocol error: unknown reply code"));
    ms = smtpd_milter_free(ms);

    /* a version newer than ours */
    f->garbage_optneg = 0;
    f->force_version = 7;
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("protocol version 7 conflicts with ours"));
    ms = smtpd_milter_free(ms);

    /* nobody listens: refused */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    (void) snprintf(endpoint[0], sizeof(endpoint[0]), "inet:127.0.0.1:%u",
                    (unsigned) ntohs(sin.sin_port));
    close(fd);
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("connect: Connection refused; default action"
                                " tempfail") || testutil_logged("connection"
                                                                " refused;"));
    ms = smtpd_milter_free(ms);

    /* a bad setting: logged, and the default action */
    (void) snprintf(endpoint[0], sizeof(endpoint[0]), "{ inet:127.0.0.1:1,"
                    " bogus=1 }");
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_true(testutil_logged("unknown milter setting \"bogus\""));
    ms = smtpd_milter_free(ms);
}

/* test_unix_and_cancel - a unix socket; free and cancel in mid-stage */
static void
test_unix_and_cancel(void **state)
{
    struct smtpd_milters *ms;
    char    path[108];
    struct smtpd_milter_args a;

    (void) state;
    fake_stop(&fakes[1]);
    (void) snprintf(path, sizeof(path), "/tmp/doppel-milter-test-%ld.sock",
                    (long) getpid());
    fake_start(base, &fakes[1], path);
    fakes[0].hang['M'] = 1;
    set_milters(2);
    /* order: the inet fake, then the unix one */
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    assert_int_equal(fakes[1].accepts, 1);
    memset(&a, 0, sizeof(a));
    a.arg = "x@y";
    smtpd_milter_stage(ms, SMTPD_MILTER_MAIL, &a, done_cb, NULL);
    run_for(50);
    /* the session dies in mid-stage: no callback, nothing leaks */
    got.calls = 0;
    ms = smtpd_milter_free(ms);
    run_for(50);
    assert_int_equal(got.calls, 0);
    assert_true(seen(&fakes[0], "CLOSED"));

    /* cancel, then go on: the hanging milter is connected again */
    ms = smtpd_milter_new(&sess);
    run_stage(ms, SMTPD_MILTER_CONNECT, NULL);
    smtpd_milter_stage(ms, SMTPD_MILTER_MAIL, &a, done_cb, NULL);
    run_for(50);
    smtpd_milter_cancel(ms);
    fakes[0].hang['M'] = 0;
    run_stage(ms, SMTPD_MILTER_MAIL, &a);
    assert_int_equal(got.r.action, SMTPD_MILTER_CONTINUE);
    assert_true(seen(&fakes[1], "MAIL <x@y>"));

    /* interrupt (the session died): done comes at once, tempfail */
    fakes[0].hang['R'] = 1;
    a.arg = "r@s";
    got.calls = 0;
    smtpd_milter_stage(ms, SMTPD_MILTER_RCPT, &a, done_cb, NULL);
    run_for(50);
    assert_int_equal(got.calls, 0);
    smtpd_milter_interrupt(ms);
    smtpd_milter_interrupt(ms);         /* again: no second callback */
    assert_int_equal(got.calls, 0);     /* from the loop, not now */
    run_for(20);
    assert_int_equal(got.calls, 1);
    assert_int_equal(got.r.action, SMTPD_MILTER_TEMPFAIL);
    assert_string_equal(got.reply, "421 4.4.2 Error: session ended");
    ms = smtpd_milter_free(ms);
    assert_int_equal(fakes[0].accepts, 3);
}

/* test_conf - per-milter settings in Postfix's syntax */
static void
test_conf(void **state)
{
    struct smtpd_milter_conf c;
    struct dstr *why = dstr_new(64, 4096);
    struct sockaddr_storage ss;
    socklen_t len;

    (void) state;
    assert_int_equal(smtpd_milter_conf_parse("inet:127.0.0.1:8891", &c, why),
                     0);
    assert_string_equal(c.endpoint, "inet:127.0.0.1:8891");
    assert_int_equal(c.connect_timeout, -1);
    assert_null(c.default_action);
    smtpd_milter_conf_free(&c);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:[::1]:25 ,"
                                             " connect_timeout = 10s,"
                                             "command_timeout=5,"
                                             " content_timeout=2m,"
                                             " default_action=accept,"
                                             " protocol=4, }", &c, why), 0);
    assert_string_equal(c.endpoint, "inet:[::1]:25");
    assert_int_equal(c.connect_timeout, 10000);
    assert_int_equal(c.command_timeout, 5000);
    assert_int_equal(c.content_timeout, 120000);
    assert_string_equal(c.default_action, "accept");
    assert_int_equal(c.protocol, 4);
    smtpd_milter_conf_free(&c);
    assert_int_equal(smtpd_milter_endpoint("inet:8891@127.0.0.1", &ss, &len,
                                           why), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *) &ss)->sin_port), 8891);
    assert_int_equal(smtpd_milter_endpoint("inet:localhost:1", &ss, &len,
                                           why), 0);
    assert_int_equal(smtpd_milter_endpoint("unix:/run/x.sock", &ss, &len,
                                           why), 0);
    assert_int_equal(ss.ss_family, AF_UNIX);
    assert_int_equal(smtpd_milter_endpoint("local:/run/x.sock", &ss, &len,
                                           why), 0);
    /* refusals, each explained */
    dstr_reset(why);
    assert_int_equal(smtpd_milter_conf_parse("inet:mx.example:25", &c, why),
                     -1);
    assert_non_null(strstr(why->data, "IP address or localhost"));
    assert_int_equal(smtpd_milter_conf_parse("tcp:1.2.3.4:5", &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("inet:1.2.3.4:0", &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("inet:1.2.3.4", &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("unix:", &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:1.2.3.4:5", &c, why),
                     -1);
    assert_int_equal(smtpd_milter_conf_parse("{ protocol=6 }", &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:1.2.3.4:5, protocol=5 }",
                                             &c, why), -1);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:1.2.3.4:5,"
                                             " default_action=maybe }", &c,
                                             why), -1);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:1.2.3.4:5,"
                                             " connect_timeout=10q }", &c,
                                             why), -1);
    assert_int_equal(smtpd_milter_conf_parse("{ inet:1.2.3.4:5, unix:/x }",
                                             &c, why), -1);
    dstr_reset(why);
    assert_int_equal(smtpd_milter_check("inet:127.0.0.1:1, { unix:/a,"
                                        " protocol=2 }", why), 0);
    assert_int_equal(smtpd_milter_check("inet:127.0.0.1:1 foo:bar", why), -1);
    assert_non_null(strstr(why->data, "foo:bar"));
    dstr_free(why);
    assert_string_equal(smtpd_milter_stage_name(SMTPD_MILTER_EOM),
                        "END-OF-MESSAGE");
    assert_string_equal(smtpd_milter_action_name(SMTPD_MILTER_QUARANTINE),
                        "quarantine");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dialog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stress_macros, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replies_envelope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replies_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replies_eom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_milters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_and_cancel, setup,
                                        teardown),
        cmocka_unit_test(test_conf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
