/* test_smtpd_policy - unit tests for smtpd/smtpd_policy: parser, builder, client. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_policy.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_tls.h"
#include "smtpd/smtpd_xclient.h"
#include "testutil.h"

#define DATA_DIR "tests/unit/data/"
#define WAIT_MS 5000                    /* bound of every wait for the loop */

/* ------------------------------------------------------ reply parser */

/* parse - run the parser on a C string */
static int
parse(const char *text, struct dstr *action, struct dstr *why)
{
    return smtpd_policy_parse_reply(text, strlen(text), action, why);
}

/* test_parse_reply - complete, partial and garbage replies */
static void
test_parse_reply(void **state)
{
    struct dstr *action = dstr_new(16, SMTPD_POLICY_LINE_MAX);
    struct dstr *why = dstr_new(16, 1024);
    char   *big;
    size_t  i;

    (void) state;
    assert_int_equal(parse("action=DUNNO\n\n", action, why), 14);
    assert_string_equal(action->data, "DUNNO");
    /* other attributes are ignored; what follows is not consumed */
    assert_int_equal(parse("x=1\naction=REJECT go away now\ny=\n\nnext",
                           action, why),
                     strlen("x=1\naction=REJECT go away now\ny=\n\n"));
    assert_string_equal(action->data, "REJECT go away now");
    /* CRLF tolerated; the last action counts; '=' in the value kept */
    assert_int_equal(parse("action=OK\r\naction=PREPEND X-A: b=c\r\n\r\n",
                           action, why),
                     strlen("action=OK\r\naction=PREPEND X-A: b=c\r\n\r\n"));
    assert_string_equal(action->data, "PREPEND X-A: b=c");
    /* control bytes in the action become '?' */
    assert_true(smtpd_policy_parse_reply("action=450 a\tb\x7f\n\n", 18,
                                         action, why) > 0);
    assert_string_equal(action->data, "450 a?b?");

    /* incomplete: more input needed */
    assert_int_equal(parse("", action, why), 0);
    assert_int_equal(parse("action=DUN", action, why), 0);
    assert_int_equal(parse("action=DUNNO\n", action, why), 0);
    assert_int_equal(parse("action=DUNNO\n\r", action, why), 0);

    /* garbage */
    assert_int_equal(parse("\n", action, why), -1);
    assert_non_null(strstr(why->data, "empty reply"));
    assert_int_equal(parse("foo=bar\n\n", action, why), -1);
    assert_non_null(strstr(why->data, "no action"));
    assert_int_equal(parse("ACTION=OK\n\n", action, why), -1);     /* exact */
    assert_int_equal(parse("action=\n\n", action, why), -1);
    assert_non_null(strstr(why->data, "empty action"));
    assert_int_equal(parse("hello there\n", action, why), -1);
    assert_string_equal(why->data,
                        "garbage reply: not name=value: \"hello there\"");
    assert_int_equal(parse("=OK\n\n", action, why), -1);
    assert_int_equal(parse("220 smtp.example ESMTP\r\n", action, why), -1);

    /* a line too long, whether ended or not */
    big = xmalloc(SMTPD_POLICY_REPLY_MAX + 64);
    memcpy(big, "action=", 7);
    memset(big + 7, 'x', SMTPD_POLICY_LINE_MAX);
    assert_int_equal(smtpd_policy_parse_reply(big, SMTPD_POLICY_LINE_MAX + 7,
                                              action, why), -1);
    assert_non_null(strstr(why->data, "line too long"));
    big[SMTPD_POLICY_LINE_MAX] = '\n';
    big[SMTPD_POLICY_LINE_MAX + 1] = '\n';
    assert_int_equal(smtpd_policy_parse_reply(big, SMTPD_POLICY_LINE_MAX + 2,
                                              action, why),
                     SMTPD_POLICY_LINE_MAX + 2);        /* 4096 bytes: ok */
    assert_int_equal(action->len, SMTPD_POLICY_LINE_MAX - 7);
    /* a reply too long: many short lines and no end */
    for (i = 0; i + 4 <= SMTPD_POLICY_REPLY_MAX + 4; i += 4)
        memcpy(big + i, "a=b\n", 4);
    assert_int_equal(smtpd_policy_parse_reply(big, SMTPD_POLICY_REPLY_MAX,
                                              action, why), 0);
    assert_int_equal(smtpd_policy_parse_reply(big, SMTPD_POLICY_REPLY_MAX + 4,
                                              action, why), -1);
    assert_non_null(strstr(why->data, "reply too long"));
    free(big);
    action = dstr_free(action);
    why = dstr_free(why);
}

/* test_check_server - the names check_policy_service accepts */
static void
test_check_server(void **state)
{
    struct dstr *why = dstr_new(16, 1024);

    (void) state;
    assert_int_equal(smtpd_policy_check_server("inet:127.0.0.1:10023", why), 0);
    assert_int_equal(smtpd_policy_check_server("inet:[::1]:10023", why), 0);
    assert_int_equal(smtpd_policy_check_server("inet:localhost:9998", why), 0);
    assert_int_equal(smtpd_policy_check_server("unix:/run/policy", why), 0);
    assert_int_equal(smtpd_policy_check_server("unix:private/policy", why), 0);
    assert_int_equal(smtpd_policy_check_server("inet:127.0.0.1", why), -1);
    assert_int_equal(smtpd_policy_check_server("inet:127.0.0.1:0", why), -1);
    assert_int_equal(smtpd_policy_check_server("inet:127.0.0.1:x", why), -1);
    assert_int_equal(smtpd_policy_check_server("inet:127.0.0.1:70000", why),
                     -1);
    assert_int_equal(smtpd_policy_check_server("inet:policy.example:1", why),
                     -1);
    assert_non_null(strstr(why->data, "not an IP address"));
    assert_int_equal(smtpd_policy_check_server("unix:", why), -1);
    assert_int_equal(smtpd_policy_check_server("tcp:127.0.0.1:1", why), -1);
    assert_int_equal(smtpd_policy_check_server("127.0.0.1:1", why), -1);
    why = dstr_free(why);
}

/* ------------------------------------------------- request builder */

/* read_file - a whole small file, NUL-terminated */
static char *
read_file(const char *path)
{
    FILE   *fp = fopen(path, "r");
    char   *buf = xmalloc(SMTPD_POLICY_REQUEST_MAX + 1);
    size_t  n;

    assert_non_null(fp);
    n = fread(buf, 1, SMTPD_POLICY_REQUEST_MAX, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* mail_index - the command counter of MAIL */
static size_t
mail_index(void)
{
    size_t  i;
    const char *name;

    for (i = 0; i < SESSION_COUNTERS; i++)
        if ((name = smtpd_cmd_counter_name(i)) != NULL
            && strcmp(name, "mail") == 0)
            return i;
    fail_msg("no counter for MAIL");
    return 0;
}

/* attr - the value of name= in a request, in a static buffer */
static const char *
attr(const char *request, const char *name)
{
    static char value[256];
    char    key[64];
    const char *p, *nl;

    (void) snprintf(key, sizeof(key), "\n%s=", name);
    if ((p = strstr(request, key)) == NULL)
        return NULL;
    p += strlen(key);
    nl = strchr(p, '\n');
    assert_non_null(nl);
    assert_true((size_t) (nl - p) < sizeof(value));
    memcpy(value, p, (size_t) (nl - p));
    value[nl - p] = '\0';
    return value;
}

/*
 * test_request - the attribute block for a hand-made session, byte for
 * byte against tests/unit/data/policy_request.ref (XCLIENT gives the
 * server address there), then what changes with the state and without
 * XCLIENT: the socket's local address, stress empty, no recipient.
 */
static void
test_request(void **state)
{
    struct personality pers;
    struct session s;
    struct smtpd_xclient xc;
    struct smtpd_tls_info tls;
    struct smtpd_rcpt rcpt[2];
    struct dstr *out = dstr_new(256, SMTPD_POLICY_REQUEST_MAX);
    char   *ref, helo[2000];
    struct event_base *base = event_base_new();
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int     lfd, cfd, afd;
    char    port_text[16], pid[32], instance[64];
    struct dstr *expect;

    (void) state;
    memset(&pers, 0, sizeof(pers));
    memset(&s, 0, sizeof(s));
    memset(&xc, 0, sizeof(xc));
    memset(&tls, 0, sizeof(tls));
    memset(rcpt, 0, sizeof(rcpt));
    pers.class_name = "preferred";
    pers.stress = 1;
    pers.name = "stress";
    pers.params.smtpd_policy_service_policy_context = "submission";
    s.pers = &pers;
    s.p = &pers.params;
    s.id = 0x2a;
    (void) snprintf(s.addr_text, sizeof(s.addr_text), "192.0.2.1");
    s.port = 4567;
    s.name = "client.example";
    s.helo = "helo.example\r\nX-Injected: yes";
    s.flags = SESSION_F_EHLO;
    s.sender = "a@b.example";
    s.mail_size = 1234;
    s.cmd_total[mail_index()] = 3;
    (void) snprintf(tls.protocol, sizeof(tls.protocol), "TLSv1.3");
    (void) snprintf(tls.cipher, sizeof(tls.cipher), "TLS_AES_256_GCM_SHA384");
    tls.bits = 256;
    s.tls = &tls;
    xc.login = "joe";
    xc.reverse_name = "reverse.example";
    (void) snprintf(xc.dest_addr, sizeof(xc.dest_addr), "198.51.100.25");
    xc.dest_port = 25;
    s.xclient = &xc;
    rcpt[0].addr = "only@c.example";
    s.rcpt = rcpt;

    smtpd_policy_request(&s, "RCPT", "x@c.example", out);
    ref = read_file(DATA_DIR "policy_request.ref");
    (void) snprintf(pid, sizeof(pid), "%lx", (unsigned long) getpid());
    assert_non_null(strstr(ref, "@PID@"));
    expect = dstr_new(256, SMTPD_POLICY_REQUEST_MAX);
    dstr_append(expect, ref, (size_t) (strstr(ref, "@PID@") - ref));
    dstr_append_str(expect, pid);
    dstr_append_str(expect, strstr(ref, "@PID@") + 5);
    assert_string_equal(out->data, expect->data);
    expect = dstr_free(expect);
    free(ref);

    /* DATA: the only recipient and the count */
    s.rcpt_count = 1;
    smtpd_policy_request(&s, "DATA", NULL, out);
    assert_string_equal(attr(out->data, "protocol_state"), "DATA");
    assert_string_equal(attr(out->data, "recipient"), "only@c.example");
    assert_string_equal(attr(out->data, "recipient_count"), "1");
    rcpt[1].addr = "two@c.example";
    s.rcpt_count = 2;
    smtpd_policy_request(&s, "END-OF-MESSAGE", NULL, out);
    assert_string_equal(attr(out->data, "recipient"), "");
    assert_string_equal(attr(out->data, "recipient_count"), "2");
    smtpd_policy_request(&s, "ETRN", "example.org", out);
    assert_string_equal(attr(out->data, "etrn_domain"), "example.org");
    assert_string_equal(attr(out->data, "recipient"), "");
    assert_string_equal(attr(out->data, "recipient_count"), "0");

    /* a fresh transaction: another instance */
    s.cmd_total[mail_index()] = 4;
    smtpd_policy_request(&s, "RCPT", "x@c.example", out);
    (void) snprintf(instance, sizeof(instance), "%s.2a.4", pid);
    assert_string_equal(attr(out->data, "instance"), instance);

    /* no XCLIENT, no TLS, normal personality, the socket's local end */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &sin, &len), 0);
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    s.plain = bufferevent_socket_new(base, afd, BEV_OPT_CLOSE_ON_FREE);
    s.xclient = NULL;
    s.tls = NULL;
    s.flags = 0;
    s.sender = "";
    s.helo = NULL;
    pers.stress = 0;
    pers.name = "normal";
    pers.class_name = "default";
    memset(helo, 'h', sizeof(helo) - 1);
    helo[sizeof(helo) - 1] = '\0';
    s.helo = helo;
    smtpd_policy_request(&s, "MAIL", NULL, out);
    assert_string_equal(attr(out->data, "server_address"), "127.0.0.1");
    (void) snprintf(port_text, sizeof(port_text), "%u",
                    (unsigned) ntohs(sin.sin_port));
    assert_string_equal(attr(out->data, "server_port"), port_text);
    assert_string_equal(attr(out->data, "stress"), "");
    assert_string_equal(attr(out->data, "personality"), "normal");
    assert_string_equal(attr(out->data, "client_class"), "default");
    assert_string_equal(attr(out->data, "protocol_name"), "SMTP");
    assert_string_equal(attr(out->data, "reverse_client_name"),
                        "client.example");
    assert_string_equal(attr(out->data, "sasl_method"), "");
    assert_string_equal(attr(out->data, "sasl_username"), "");
    assert_string_equal(attr(out->data, "encryption_keysize"), "0");
    assert_string_equal(attr(out->data, "sender"), "");
    assert_string_equal(attr(out->data, "recipient"), "");
    /* a long value is cut, and the block still ends with an empty line */
    assert_non_null(strstr(out->data, "\nhelo_name=hhh"));
    assert_null(strstr(out->data, "\nhelo_name=" "\n"));
    assert_true(strlen(strstr(out->data, "\nhelo_name=")) > 1024);
    assert_memory_equal(out->data + out->len - 2, "\n\n", 2);
    {
        const char *h = strstr(out->data, "\nhelo_name=") + 11;

        assert_int_equal(strchr(h, '\n') - h, SMTPD_POLICY_VALUE_MAX);
    }

    bufferevent_free(s.plain);
    close(cfd);
    close(lfd);
    event_base_free(base);
    out = dstr_free(out);
}

/* --------------------------------------------- a policy server here */

enum fake_mode {
    FAKE_ANSWER,                       /* action=<fake.action> per request */
    FAKE_HANG,                         /* read, never answer */
    FAKE_GARBAGE,                      /* a line that is not name=value */
    FAKE_CLOSE,                        /* close on the first request */
    FAKE_FLOOD,                        /* lines without end, past the limit */
    FAKE_TWICE,                        /* two replies to one request */
    FAKE_CLOSE_AFTER,                  /* answer, then close */
};

#define FAKE_CONNS_MAX (SMTPD_POLICY_CONN_MAX + 8)

/* The server side, run by the same event loop as the client. */
static struct fake {
    struct event_base *base;
    struct evconnlistener *listener;
    enum fake_mode mode;
    const char *action;
    int     accepts;                   /* connections accepted */
    int     requests;                  /* complete requests read */
    int     eofs;                      /* connections the client closed */
    struct bufferevent *conns[FAKE_CONNS_MAX];
    struct dstr *last;                 /* the last request */
    char    unix_path[108];
    unsigned port;
} fake;

/* The client's answers. */
static struct got {
    int     calls;
    char    action[SMTPD_POLICY_LINE_MAX + 1];
    int     in_query;                  /* set while smtpd_policy_query runs */
    int     called_in_query;
} got;

/* got_action - the smtpd_policy_fn of every test */
static void
got_action(void *arg, const char *action)
{
    (void) arg;
    if (got.in_query)
        got.called_in_query = 1;
    got.calls++;
    (void) snprintf(got.action, sizeof(got.action), "%s", action);
}

/* fake_drop - forget a server connection */
static void
fake_drop(struct bufferevent *bev)
{
    int     i;

    for (i = 0; i < FAKE_CONNS_MAX; i++)
        if (fake.conns[i] == bev)
            fake.conns[i] = NULL;
    bufferevent_free(bev);
}

/* fake_read - take requests ("\n\n"-ended), answer as the mode says */
static void
fake_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end;
    char    buf[SMTPD_POLICY_REQUEST_MAX];
    size_t  n;
    int     i;

    (void) arg;
    for (;;) {
        end = evbuffer_search(in, "\n\n", 2, NULL);
        if (end.pos < 0)
            return;
        n = (size_t) end.pos + 2;
        assert_true(n <= sizeof(buf));
        assert_int_equal(evbuffer_remove(in, buf, n), (int) n);
        dstr_set(fake.last, buf, n);
        fake.requests++;
        switch (fake.mode) {
        case FAKE_ANSWER:
            evbuffer_add_printf(bufferevent_get_output(bev), "action=%s\n\n",
                                fake.action);
            break;
        case FAKE_HANG:
            break;
        case FAKE_GARBAGE:
            evbuffer_add_printf(bufferevent_get_output(bev), "I am no policy"
                                " server\n\n");
            break;
        case FAKE_CLOSE:
            fake_drop(bev);
            return;
        case FAKE_FLOOD:
            for (i = 0; i < 5000; i++)
                evbuffer_add_printf(bufferevent_get_output(bev), "a=b\n");
            break;
        case FAKE_TWICE:
            evbuffer_add_printf(bufferevent_get_output(bev),
                                "action=%s\n\naction=OK\n\n", fake.action);
            break;
        case FAKE_CLOSE_AFTER:
            /* the reply straight to the socket, then the end */
            n = (size_t) snprintf(buf, sizeof(buf), "action=%s\n\n",
                                  fake.action);
            assert_int_equal(write(bufferevent_getfd(bev), buf, n),
                             (ssize_t) n);
            fake_drop(bev);
            return;
        }
    }
}

/* fake_event - the client closed a connection */
static void
fake_event(struct bufferevent *bev, short what, void *arg)
{
    (void) arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fake.eofs++;
        fake_drop(bev);
    }
}

/* fake_accept - a new client connection */
static void
fake_accept(struct evconnlistener *l, evutil_socket_t fd,
            struct sockaddr *sa, int salen, void *arg)
{
    struct bufferevent *bev;
    int     i;

    (void) l;
    (void) sa;
    (void) salen;
    (void) arg;
    fake.accepts++;
    bev = bufferevent_socket_new(fake.base, fd, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    for (i = 0; i < FAKE_CONNS_MAX && fake.conns[i] != NULL; i++)
         /* void */ ;
    assert_true(i < FAKE_CONNS_MAX);
    fake.conns[i] = bev;
    bufferevent_setcb(bev, fake_read, NULL, fake_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* fake_start - listen on 127.0.0.1 (port 0: any) or on a unix socket */
static void
fake_start(struct event_base *base, const char *unix_path, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len;

    memset(&ss, 0, sizeof(ss));
    fake.base = base;
    if (unix_path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *) &ss;

        un->sun_family = AF_UNIX;
        (void) snprintf(un->sun_path, sizeof(un->sun_path), "%s", unix_path);
        (void) snprintf(fake.unix_path, sizeof(fake.unix_path), "%s",
                        unix_path);
        len = sizeof(*un);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *) &ss;

        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = htons((unsigned short) port);
        len = sizeof(*in);
    }
    fake.listener = evconnlistener_new_bind(base, fake_accept, NULL,
                                            LEV_OPT_CLOSE_ON_FREE
                                            | LEV_OPT_REUSEABLE, 256,
                                            (struct sockaddr *) &ss, (int) len);
    assert_non_null(fake.listener);
    if (unix_path == NULL) {
        len = sizeof(ss);
        assert_int_equal(getsockname(evconnlistener_get_fd(fake.listener),
                                     (struct sockaddr *) &ss, &len), 0);
        fake.port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
    }
}

/* fake_stop - close the listener and every connection */
static void
fake_stop(void)
{
    int     i;

    for (i = 0; i < FAKE_CONNS_MAX; i++)
        if (fake.conns[i] != NULL)
            fake_drop(fake.conns[i]);
    if (fake.listener != NULL)
        evconnlistener_free(fake.listener);
    fake.listener = NULL;
    if (fake.unix_path[0])
        (void) unlink(fake.unix_path);
    fake.unix_path[0] = '\0';
}

/* fake_open - connections the server still has */
static int
fake_open(void)
{
    int     i, n = 0;

    for (i = 0; i < FAKE_CONNS_MAX; i++)
        n += fake.conns[i] != NULL;
    return n;
}

/* ------------------------------------------------------ the fixture */

static struct fixture {
    struct event_base *base;
    struct event *tick;                /* keeps EVLOOP_ONCE from sleeping long */
    struct smtpd_policy *pol;
    struct params p;
    struct dstr *request;
    char    server[256];
    char   *dir;
} fx;

/* tick - nothing; it only wakes the loop */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* now_ms - monotonic milliseconds */
static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_until - run the loop until *flag >= want, at most ms; the elapsed ms */
static long long
run_until(const int *flag, int want, long long ms)
{
    long long start = now_ms();

    while (*flag < want && now_ms() - start < ms)
        (void) event_base_loop(fx.base, EVLOOP_ONCE);
    return now_ms() - start;
}

/* run_for - run the loop for ms */
static void
run_for(long long ms)
{
    static const int never = 0;

    (void) run_until(&never, 1, ms);
}

/* setup - a loop, a client, a server on a loopback port, fast settings */
static int
setup(void **state)
{
    struct timeval tv = {0, 10000};

    (void) state;
    memset(&fx, 0, sizeof(fx));
    memset(&fake, 0, sizeof(fake));
    memset(&got, 0, sizeof(got));
    testutil_log_start();
    fx.base = event_base_new();
    fx.tick = event_new(fx.base, -1, EV_PERSIST, tick, NULL);
    event_add(fx.tick, &tv);
    fx.pol = smtpd_policy_new(fx.base);
    fx.p.smtpd_policy_service_timeout = 2000;
    fx.p.smtpd_policy_service_max_idle = 300000;
    fx.p.smtpd_policy_service_max_ttl = 1000000;
    fx.p.smtpd_policy_service_reuse_count_limit = 0;
    fx.p.smtpd_policy_service_try_limit = 2;
    fx.p.smtpd_policy_service_retry_delay = 50;
    fx.p.smtpd_policy_service_default_action =
        "451 4.3.5 Server configuration problem";
    fx.p.queue_directory = "/nonexistent";
    fx.request = dstr_new(64, SMTPD_POLICY_REQUEST_MAX);
    dstr_set_str(fx.request, "request=smtpd_access_policy\n"
                 "protocol_state=RCPT\nrecipient=x@example.org\n\n");
    fake.last = dstr_new(64, SMTPD_POLICY_REQUEST_MAX);
    fake.action = "DUNNO";
    fake_start(fx.base, NULL, 0);
    (void) snprintf(fx.server, sizeof(fx.server), "inet:127.0.0.1:%u",
                    fake.port);
    return 0;
}

/* teardown - everything closed and freed (ASan checks the rest) */
static int
teardown(void **state)
{
    (void) state;
    fx.pol = smtpd_policy_free(fx.pol);
    fake_stop();
    event_free(fx.tick);
    event_base_free(fx.base);
    fx.request = dstr_free(fx.request);
    fake.last = dstr_free(fake.last);
    if (fx.dir != NULL) {
        testutil_rmtree(fx.dir);
        free(fx.dir);
    }
    testutil_log_stop();
    return 0;
}

/* query - one request to the fixture's server */
static struct smtpd_policy_req *
query(void)
{
    struct smtpd_policy_req *req;

    got.in_query = 1;
    req = smtpd_policy_query(fx.pol, fx.server, &fx.p, fx.request,
                             got_action, NULL);
    got.in_query = 0;
    return req;
}

/* ----------------------------------------------------- client tests */

/* test_answer - the action arrives later, from the loop, as sent */
static void
test_answer(void **state)
{
    (void) state;
    fake.action = "REJECT go away now";
    (void) query();
    assert_int_equal(got.calls, 0);     /* never from within query */
    run_until(&got.calls, 1, WAIT_MS);
    assert_int_equal(got.calls, 1);
    assert_false(got.called_in_query);
    assert_string_equal(got.action, "REJECT go away now");
    assert_string_equal(fake.last->data, fx.request->data);
    run_for(50);
    assert_int_equal(got.calls, 1);     /* exactly once */
    assert_false(testutil_logged("warning"));
}

/* test_reuse - two requests, one connection */
static void
test_reuse(void **state)
{
    (void) state;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    fake.action = "OK";
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_int_equal(got.calls, 2);
    assert_string_equal(got.action, "OK");
    assert_int_equal(fake.requests, 2);
    assert_int_equal(fake.accepts, 1);
    assert_int_equal(fake.eofs, 0);
}

/* test_parallel - busy connections make new ones; then they are reused */
static void
test_parallel(void **state)
{
    (void) state;
    (void) query();
    (void) query();
    (void) query();
    run_until(&got.calls, 3, WAIT_MS);
    assert_int_equal(got.calls, 3);
    assert_int_equal(fake.accepts, 3);
    (void) query();
    (void) query();
    run_until(&got.calls, 5, WAIT_MS);
    assert_int_equal(got.calls, 5);
    assert_int_equal(fake.accepts, 3);
    assert_int_equal(fake.requests, 5);
}

/* test_reuse_limit - reuse_count_limit = 2: the third request reconnects */
static void
test_reuse_limit(void **state)
{
    int     i;

    (void) state;
    fx.p.smtpd_policy_service_reuse_count_limit = 2;
    for (i = 1; i <= 3; i++) {
        (void) query();
        run_until(&got.calls, i, WAIT_MS);
    }
    assert_int_equal(got.calls, 3);
    assert_int_equal(fake.accepts, 2);
    run_until(&fake.eofs, 1, WAIT_MS);
    assert_int_equal(fake.eofs, 1);     /* the first one, closed by us */
    assert_false(testutil_logged("warning"));
}

/* test_max_idle - an unused connection is closed after max_idle */
static void
test_max_idle(void **state)
{
    long long took;

    (void) state;
    fx.p.smtpd_policy_service_max_idle = 200;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_int_equal(fake_open(), 1);
    took = run_until(&fake.eofs, 1, WAIT_MS);
    assert_int_equal(fake.eofs, 1);
    assert_true(took >= 150 && took < 2000);
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_string_equal(got.action, "DUNNO");
    assert_int_equal(fake.accepts, 2);
}

/* test_max_ttl - a connection older than max_ttl is not reused */
static void
test_max_ttl(void **state)
{
    (void) state;
    fx.p.smtpd_policy_service_max_ttl = 100;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    run_for(150);
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_int_equal(got.calls, 2);
    assert_int_equal(fake.accepts, 2);
}

/* test_garbage - not a reply: retried, then the default action, logged */
static void
test_garbage(void **state)
{
    (void) state;
    fake.mode = FAKE_GARBAGE;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_int_equal(fake.requests, 2);         /* try_limit */
    assert_int_equal(fake.accepts, 2);          /* a fresh connection */
    assert_true(testutil_logged("garbage reply: not name=value: \"I am no"
                                " policy server\""));
    assert_true(testutil_logged("trying again"));
    assert_true(testutil_logged(": using default action 451 4.3.5 Server"
                                " configuration problem"));
    assert_true(testutil_logged(fx.server));
}

/* test_flood - a reply past the size limit is garbage, not a wait */
static void
test_flood(void **state)
{
    long long took;

    (void) state;
    fake.mode = FAKE_FLOOD;
    fx.p.smtpd_policy_service_try_limit = 1;
    (void) query();
    took = run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_true(testutil_logged("reply too long"));
    assert_true(took < fx.p.smtpd_policy_service_timeout);
}

/* test_two_replies - a second reply means the connection is not reused */
static void
test_two_replies(void **state)
{
    (void) state;
    fake.mode = FAKE_TWICE;
    fake.action = "HOLD";
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "HOLD");
    fake.mode = FAKE_ANSWER;
    fake.action = "DUNNO";
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_string_equal(got.action, "DUNNO");
    assert_int_equal(fake.accepts, 2);
    assert_true(testutil_logged("more than one reply"));
}

/* test_server_closes - closed on the request: retried, then default */
static void
test_server_closes(void **state)
{
    (void) state;
    fake.mode = FAKE_CLOSE;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_int_equal(fake.accepts, 2);
    assert_true(testutil_logged("connection closed by the server (attempt 1"
                                " of 2); trying again in 50ms"));
    assert_true(testutil_logged("connection closed by the server (attempt 2"
                                " of 2): using default action"));
}

/* test_closed_while_idle - the server ends an idle connection: no harm */
static void
test_closed_while_idle(void **state)
{
    (void) state;
    fake.mode = FAKE_CLOSE_AFTER;
    fake.action = "OK";
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "OK");
    run_for(50);                        /* the client sees the EOF */
    fake.action = "DUNNO";
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_string_equal(got.action, "DUNNO");
    assert_int_equal(fake.accepts, 2);
    assert_false(testutil_logged("warning"));
}

/* test_timeout - no reply: the default after the timeout, per attempt */
static void
test_timeout(void **state)
{
    long long took;

    (void) state;
    fake.mode = FAKE_HANG;
    fx.p.smtpd_policy_service_timeout = 200;
    (void) query();
    took = run_until(&got.calls, 1, WAIT_MS);
    assert_int_equal(got.calls, 1);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    /* two attempts of 200ms and a 50ms pause */
    assert_true(took >= 440 && took < 2000);
    assert_true(testutil_logged("no reply within 200ms"));
    assert_int_equal(fake.accepts, 2);
    run_until(&fake.eofs, 2, WAIT_MS);
    assert_int_equal(fake.eofs, 2);     /* both closed, not kept */
}

/* test_refused - nobody listens: the default action */
static void
test_refused(void **state)
{
    (void) state;
    fake_stop();
    fx.p.smtpd_policy_service_try_limit = 3;
    (void) query();
    assert_int_equal(got.calls, 0);
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_true(testutil_logged("cannot connect: Connection refused (attempt 3"
                                " of 3): using default action"));
    assert_false(got.called_in_query);
}

/* test_bad_server - an unusable name: the default, later, logged */
static void
test_bad_server(void **state)
{
    (void) state;
    got.in_query = 1;
    (void) smtpd_policy_query(fx.pol, "inet:policy.example:1", &fx.p,
                              fx.request, got_action, NULL);
    got.in_query = 0;
    assert_int_equal(got.calls, 0);
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_true(testutil_logged("policy inet:policy.example:1: host"));
}

/* test_bad_request - a request without its empty line is not sent */
static void
test_bad_request(void **state)
{
    (void) state;
    dstr_set_str(fx.request, "request=smtpd_access_policy\n");
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "451 4.3.5 Server configuration problem");
    assert_int_equal(fake.accepts, 0);
}

/* test_unix - unix:PATH, absolute and relative to queue_directory */
static void
test_unix(void **state)
{
    char    path[200];

    (void) state;
    fake_stop();
    fx.dir = testutil_tmpdir();
    (void) snprintf(path, sizeof(path), "%s/policy", fx.dir);
    fake_start(fx.base, path, 0);
    fake.action = "OK unix";
    (void) snprintf(fx.server, sizeof(fx.server), "unix:%s", path);
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_string_equal(got.action, "OK unix");
    fx.p.queue_directory = fx.dir;
    (void) snprintf(fx.server, sizeof(fx.server), "unix:policy");
    (void) query();
    run_until(&got.calls, 2, WAIT_MS);
    assert_string_equal(got.action, "OK unix");
    assert_int_equal(fake.accepts, 2);
    assert_false(testutil_logged("warning"));
}

/* test_cancel_active - cancelled before the reply: no call, no reuse */
static void
test_cancel_active(void **state)
{
    struct smtpd_policy_req *req;

    (void) state;
    fake.mode = FAKE_HANG;
    req = query();
    run_until(&fake.requests, 1, WAIT_MS);
    assert_int_equal(fake.requests, 1);
    smtpd_policy_cancel(req);
    run_until(&fake.eofs, 1, WAIT_MS);
    assert_int_equal(fake.eofs, 1);     /* that connection is closed */
    fake.mode = FAKE_ANSWER;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_int_equal(got.calls, 1);
    assert_string_equal(got.action, "DUNNO");
    assert_int_equal(fake.accepts, 2);
    smtpd_policy_cancel(NULL);
}

/* test_cancel_mid_reply - half a reply came: still not reused */
static void
test_cancel_mid_reply(void **state)
{
    struct smtpd_policy_req *req;
    int     i;

    (void) state;
    fake.mode = FAKE_HANG;
    req = query();
    run_until(&fake.requests, 1, WAIT_MS);
    for (i = 0; i < FAKE_CONNS_MAX; i++)
        if (fake.conns[i] != NULL)
            evbuffer_add_printf(bufferevent_get_output(fake.conns[i]),
                                "action=RE");
    run_for(50);
    smtpd_policy_cancel(req);
    run_until(&fake.eofs, 1, WAIT_MS);
    assert_int_equal(fake.eofs, 1);
    assert_int_equal(got.calls, 0);
}

/* test_cancel_other_states - at once, answered, while retrying */
static void
test_cancel_other_states(void **state)
{
    struct smtpd_policy_req *req;

    (void) state;
    /* at once: still connecting */
    smtpd_policy_cancel(query());
    /* answered (the default), not yet delivered */
    req = smtpd_policy_query(fx.pol, "unix:", &fx.p, fx.request, got_action,
                             NULL);
    smtpd_policy_cancel(req);
    run_for(50);
    assert_int_equal(got.calls, 0);
    /* waiting to retry */
    fake.mode = FAKE_CLOSE;
    fx.p.smtpd_policy_service_retry_delay = 1000;
    req = query();
    run_until(&fake.requests, 1, WAIT_MS);
    run_for(50);
    assert_true(testutil_logged("trying again"));
    smtpd_policy_cancel(req);
    run_for(1200);
    assert_int_equal(got.calls, 0);
    assert_int_equal(fake.requests, 1);         /* no retry was sent */
}

/* test_free_pending - free with requests out: no callback, no leak */
static void
test_free_pending(void **state)
{
    (void) state;
    fake.mode = FAKE_HANG;
    (void) query();
    (void) query();
    run_until(&fake.requests, 2, WAIT_MS);
    fake.mode = FAKE_CLOSE;
    (void) query();
    fx.pol = smtpd_policy_free(fx.pol);
    run_for(100);
    assert_int_equal(got.calls, 0);
}

/* test_queue - past SMTPD_POLICY_CONN_MAX, requests wait their turn */
static void
test_queue(void **state)
{
    int     i, n = SMTPD_POLICY_CONN_MAX + 4;
    struct smtpd_policy_req *waiting = NULL;

    (void) state;
    for (i = 0; i < n; i++)
        waiting = query();
    smtpd_policy_cancel(waiting);       /* a waiting request goes quietly */
    run_until(&got.calls, n - 1, WAIT_MS);
    run_for(50);
    assert_int_equal(got.calls, n - 1);
    assert_int_equal(fake.accepts, SMTPD_POLICY_CONN_MAX);
    assert_int_equal(fake.requests, n - 1);
    assert_false(testutil_logged("warning"));
}

/* test_queue_timeout - waiting for a connection counts against the time */
static void
test_queue_timeout(void **state)
{
    int     i;

    (void) state;
    fake.mode = FAKE_HANG;
    fx.p.smtpd_policy_service_timeout = 1000;
    fx.p.smtpd_policy_service_try_limit = 1;
    for (i = 0; i < SMTPD_POLICY_CONN_MAX; i++)
        (void) query();
    fx.p.smtpd_policy_service_timeout = 200;
    (void) query();
    run_until(&got.calls, 1, WAIT_MS);
    assert_true(testutil_logged("no free connection within 200ms"));
    run_until(&got.calls, SMTPD_POLICY_CONN_MAX + 1, WAIT_MS);
    assert_int_equal(got.calls, SMTPD_POLICY_CONN_MAX + 1);
    assert_true(testutil_logged("no reply within 1s"));
}

/* test_callback_queries - fn may ask again at once (pipelined RCPTs) */
static int chain_left;

/* chain - the callback that queries again */
static void
chain(void *arg, const char *action)
{
    got_action(arg, action);
    if (--chain_left > 0)
        (void) smtpd_policy_query(fx.pol, fx.server, &fx.p, fx.request,
                                  chain, NULL);
}

/* test_callback_queries - three requests in a row from the callback */
static void
test_callback_queries(void **state)
{
    (void) state;
    chain_left = 3;
    (void) smtpd_policy_query(fx.pol, fx.server, &fx.p, fx.request, chain,
                              NULL);
    run_until(&got.calls, 3, WAIT_MS);
    assert_int_equal(got.calls, 3);
    assert_int_equal(fake.accepts, 1);
    assert_int_equal(fake.requests, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reply),
        cmocka_unit_test(test_check_server),
        cmocka_unit_test(test_request),
        cmocka_unit_test_setup_teardown(test_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_while_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_mid_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_other_states, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_queries, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
