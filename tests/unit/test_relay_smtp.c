/* test_relay_smtp - unit tests for relay/relay_smtp: replies and dialogues. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "relay/relay_smtp.h"
#include "relay/relay_transport.h"
#include "testutil.h"

/* test_parse_reply - codes, enhanced codes, multi-line, junk */
static void
test_parse_reply(void **state)
{
    struct dstr *t = dstr_new(64, 4096);
    char    dsn[16];

    (void) state;
    assert_int_equal(relay_smtp_parse_reply("250 2.1.5 Ok\r\n", 14, dsn,
                                            sizeof(dsn), t), 250);
    assert_string_equal(dsn, "2.1.5");
    assert_string_equal(t->data, "250 2.1.5 Ok");
    assert_int_equal(relay_smtp_parse_reply("550-5.1.1 no\r\n550 5.1.1 user\r\n",
                                            30, dsn, sizeof(dsn), t), 550);
    assert_string_equal(dsn, "5.1.1");
    assert_string_equal(t->data, "550-5.1.1 no 550 5.1.1 user");
    assert_int_equal(relay_smtp_parse_reply("451 try later\n", 14, dsn,
                                            sizeof(dsn), t), 451);
    assert_string_equal(dsn, "4.0.0");
    /* an enhanced code of another class is not taken */
    assert_int_equal(relay_smtp_parse_reply("550 4.1.1 odd\r\n", 15, dsn,
                                            sizeof(dsn), t), 550);
    assert_string_equal(dsn, "5.0.0");
    assert_int_equal(relay_smtp_parse_reply("220\r\n", 5, dsn, sizeof(dsn), t),
                     220);
    assert_int_equal(relay_smtp_parse_reply("25x ok\r\n", 8, dsn, sizeof(dsn),
                                            t), -1);
    assert_int_equal(relay_smtp_parse_reply("250-a\r\n251 b\r\n", 14, dsn,
                                            sizeof(dsn), t), -1);
    assert_int_equal(relay_smtp_parse_reply("999 x\r\n", 7, dsn, sizeof(dsn),
                                            t), -1);
    assert_int_equal(relay_smtp_parse_reply("250*x\r\n", 7, dsn, sizeof(dsn),
                                            t), -1);
    dstr_free(t);
}

/* A scripted next hop on one connection. */
struct fake {
    int     lfd;
    int     nsessions;                 /* to serve; 0 means 1 */
    int     starttls_junk;             /* offer STARTTLS, answer junk */
    int     lmtp;
    int     pipelining;
    char    data[8192];                /* what came after DATA */
    size_t  datalen;
    char    cmds[4096];                /* the commands, one per line */
};

/* fake_line - read one line (without CRLF); -1 at EOF */
static int
fake_line(int fd, char *buf, size_t size, char *in, size_t *inlen)
{
    char   *nl;
    ssize_t n;
    size_t  len;

    for (;;) {
        if ((nl = memchr(in, '\n', *inlen)) != NULL) {
            len = (size_t) (nl - in) + 1;
            if (len >= size)
                return -1;
            memcpy(buf, in, len);
            buf[len] = '\0';
            memmove(in, nl + 1, *inlen - len);
            *inlen -= len;
            return (int) len;
        }
        if (*inlen >= 8192 || (n = read(fd, in + *inlen, 8192 - *inlen)) <= 0)
            return -1;
        *inlen += (size_t) n;
    }
}

/* fake_say - write a reply */
static void
fake_say(int fd, const char *s)
{
    (void) !write(fd, s, strlen(s));
}

/* fake_run - serve one session */
static void *
fake_run(void *arg)
{
    struct fake *f = arg;
    char    line[1100], in[8192];
    size_t  inlen = 0;
    int     fd, nrcpt_ok = 0, i, in_data = 0;
    char    rcpts[8][64];

  again:
    fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    nrcpt_ok = 0;
    in_data = 0;
    inlen = 0;
    fake_say(fd, "220 fake ESMTP\r\n");
    while (fake_line(fd, line, sizeof(line), in, &inlen) > 0) {
        if (in_data) {
            if (strcmp(line, ".\r\n") == 0) {
                in_data = 0;
                for (i = 0; i < (f->lmtp ? nrcpt_ok : 1); i++)
                    fake_say(fd, f->lmtp && strstr(rcpts[i], "later")
                             ? "452 4.2.2 mailbox full\r\n"
                             : "250 2.0.0 Ok: queued\r\n");
                continue;
            }
            if (f->datalen + strlen(line) < sizeof(f->data)) {
                memcpy(f->data + f->datalen, line, strlen(line));
                f->datalen += strlen(line);
            }
            continue;
        }
        if (strlen(f->cmds) + strlen(line) < sizeof(f->cmds))
            memcpy(f->cmds + strlen(f->cmds), line, strlen(line) + 1);
        if (strncmp(line, "EHLO", 4) == 0 && f->starttls_junk) {
            fake_say(fd, "250-fake\r\n250-STARTTLS\r\n250 SIZE 2500\r\n");
        } else if (strncmp(line, "STARTTLS", 8) == 0) {
            fake_say(fd, "220 2.0.0 go ahead\r\nthis is not TLS at all\r\n");
            break;
        } else if (strncmp(line, "EHLO", 4) == 0
                   || strncmp(line, "LHLO", 4) == 0) {
            fake_say(fd, f->pipelining ? "250-fake\r\n250-PIPELINING\r\n"
                     "250-SIZE 1000000\r\n250-DSN\r\n250-XFORWARD NAME ADDR PROTO HELO"
                     " IDENT\r\n250 8BITMIME\r\n"
                     : "250-fake\r\n250 SIZE\r\n");
        } else if (strncmp(line, "MAIL", 4) == 0) {
            fake_say(fd, "250 2.1.0 Ok\r\n");
        } else if (strncmp(line, "RCPT", 4) == 0) {
            if (strstr(line, "bad")) {
                fake_say(fd, "550 5.1.1 <bad>: no such user\r\n");
            } else {
                if (nrcpt_ok < 8)
                    {
                    memset(rcpts[nrcpt_ok], 0, 64);
                    memcpy(rcpts[nrcpt_ok++], line,
                           strlen(line) < 63 ? strlen(line) : 63);
                }
                fake_say(fd, "250 2.1.5 Ok\r\n");
            }
        } else if (strncmp(line, "DATA", 4) == 0) {
            if (nrcpt_ok == 0) {
                fake_say(fd, "554 5.5.1 no valid recipients\r\n");
            } else {
                fake_say(fd, "354 go\r\n");
                in_data = 1;
            }
        } else if (strncmp(line, "QUIT", 4) == 0) {
            fake_say(fd, "221 bye\r\n");
            break;
        } else {
            fake_say(fd, "502 5.5.2 what\r\n");
        }
    }
    close(fd);
    if (--f->nsessions > 0)
        goto again;
    return NULL;
}

/* fixture: a queue file and the params */
struct world {
    char   *dir;
    char    qdir[1024];
    struct queue_file_reader *r;
    struct params p;
    struct dstr *why;
};

/* world_make - a message from s@y to the given recipients */
static void
world_make(struct world *w, const char *const *rcpts, size_t n)
{
    struct queue_file_rcpt qr[8];
    struct queue_file_env env;
    struct queue_file *qf;
    char    path[2048];
    size_t  i;
    static const char body[] = "Subject: x\r\n\r\n.leading dot\r\nend";

    memset(w, 0, sizeof(*w));
    w->dir = testutil_tmpdir();
    w->why = dstr_new(64, 4096);
    (void) snprintf(w->qdir, sizeof(w->qdir), "%s/q", w->dir);
    assert_int_equal(queue_dirs_create(w->qdir, w->why), 0);
    memset(&env, 0, sizeof(env));
    memset(qr, 0, sizeof(qr));
    for (i = 0; i < n; i++)
        qr[i].address = rcpts[i];
    env.sender = "s@y.example";
    env.rcpt = qr;
    env.rcpt_count = n;
    env.body = QUEUE_FILE_BODY_8BITMIME;
    qf = queue_file_create(w->qdir, NULL, NULL, 0, w->why);
    assert_int_equal(queue_file_append(qf, body, sizeof(body) - 1), 0);
    (void) snprintf(path, sizeof(path), "%s/incoming/%s", w->qdir,
                    queue_file_id(qf));
    assert_int_equal(queue_file_commit(qf, &env, w->why), 0);
    w->r = queue_file_read_open(path, w->why);
    assert_non_null(w->r);
    w->p.smtp_connect_timeout = 2000;
    w->p.smtp_helo_timeout = 2000;
    w->p.smtp_mail_timeout = 2000;
    w->p.smtp_rcpt_timeout = 2000;
    w->p.smtp_data_init_timeout = 2000;
    w->p.smtp_data_xfer_timeout = 2000;
    w->p.smtp_data_done_timeout = 2000;
    w->p.smtp_quit_timeout = 2000;
    w->p.smtp_helo_name = (char *) "relay.test";
    w->p.smtp_tls_security_level = (char *) "may";
    w->p.smtp_send_xforward_command = 1;
}

/* world_free - clean up */
static void
world_free(struct world *w)
{
    (void) queue_file_read_close(w->r);
    dstr_free(w->why);
    testutil_rmtree(w->dir);
    free(w->dir);
}

/* listen_inet - a loopback listener; its port in port */
static int
listen_inet(char *port, size_t size)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int     fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    (void) snprintf(port, size, "%u", ntohs(sin.sin_port));
    return fd;
}

/* run_smtp - deliver through a fake with or without pipelining */
static void
run_smtp(int pipelining)
{
    static const char *const rcpts[] = {"a@x.example", "bad@x.example",
        "c@x.example"};
    struct world w;
    struct fake f;
    struct relay_transport t;
    struct relay_rcpt rr[3], *rp[3];
    char    port[16], spec[64];
    pthread_t th;
    size_t  i;

    world_make(&w, rcpts, 3);
    memset(&f, 0, sizeof(f));
    f.pipelining = pipelining;
    f.lfd = listen_inet(port, sizeof(port));
    (void) snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%s", port);
    assert_int_equal(relay_transport_parse(spec, &t, w.why), 0);
    memset(rr, 0, sizeof(rr));
    for (i = 0; i < 3; i++) {
        rr[i].index = i;
        rr[i].address = rcpts[i];
        rp[i] = &rr[i];
    }
    assert_int_equal(pthread_create(&th, NULL, fake_run, &f), 0);
    assert_int_equal(relay_smtp_deliver(&w.p, &t, w.r, rp, 3), -1);
    pthread_join(th, NULL);
    close(f.lfd);
    assert_int_equal(rr[0].status, RELAY_RCPT_SENT);
    assert_string_equal(rr[0].dsn, "2.0.0");
    assert_string_equal(rr[0].text, "250 2.0.0 Ok: queued");
    assert_int_equal(rr[1].status, RELAY_RCPT_BOUNCE);
    assert_string_equal(rr[1].dsn, "5.1.1");
    assert_int_equal(rr[1].remote, 1);
    assert_int_equal(rr[2].status, RELAY_RCPT_SENT);
    assert_non_null(strstr(rr[0].relay, "[127.0.0.1]:"));
    /* dot-stuffed, and CRLF added at the end */
    assert_int_equal(f.datalen, 34);
    assert_memory_equal(f.data, "Subject: x\r\n\r\n..leading dot\r\nend\r\n",
                        f.datalen);
    assert_non_null(strstr(f.cmds, "EHLO relay.test\r\n"));
    if (pipelining) {
        assert_non_null(strstr(f.cmds, "MAIL FROM:<s@y.example> SIZE=31"
                               " BODY=8BITMIME\r\n"));
        assert_non_null(strstr(f.cmds, "XFORWARD NAME=[UNAVAILABLE] IDENT="));
    } else {
        assert_non_null(strstr(f.cmds, "MAIL FROM:<s@y.example> SIZE=31\r\n"));
    }
    world_free(&w);
}

/* test_smtp_pipelining - one write for MAIL, RCPTs and DATA */
static void
test_smtp_pipelining(void **state)
{
    (void) state;
    run_smtp(1);
}

/* test_smtp_plain - one command at a time */
static void
test_smtp_plain(void **state)
{
    (void) state;
    run_smtp(0);
}

/* test_lmtp_unix - one reply per recipient after the dot */
static void
test_lmtp_unix(void **state)
{
    static const char *const rcpts[] = {"a@x.example", "later@x.example",
        "bad@x.example"};
    struct world w;
    struct fake f;
    struct relay_transport t;
    struct relay_rcpt rr[3], *rp[3];
    struct sockaddr_un sun;
    char    spec[1200];
    pthread_t th;
    size_t  i;

    (void) state;
    world_make(&w, rcpts, 3);
    memset(&f, 0, sizeof(f));
    f.lmtp = 1;
    f.pipelining = 1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    (void) snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/lmtp", w.dir);
    f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(f.lfd, (struct sockaddr *) &sun, sizeof(sun)), 0);
    assert_int_equal(listen(f.lfd, 4), 0);
    (void) snprintf(spec, sizeof(spec), "lmtp:unix:%s", sun.sun_path);
    assert_int_equal(relay_transport_parse(spec, &t, w.why), 0);
    memset(rr, 0, sizeof(rr));
    for (i = 0; i < 3; i++) {
        rr[i].index = i;
        rr[i].address = rcpts[i];
        rp[i] = &rr[i];
    }
    assert_int_equal(pthread_create(&th, NULL, fake_run, &f), 0);
    assert_int_equal(relay_smtp_deliver(&w.p, &t, w.r, rp, 3), -1);
    pthread_join(th, NULL);
    close(f.lfd);
    assert_non_null(strstr(f.cmds, "LHLO relay.test\r\n"));
    assert_int_equal(rr[0].status, RELAY_RCPT_SENT);
    assert_int_equal(rr[1].status, RELAY_RCPT_DEFER);
    assert_string_equal(rr[1].dsn, "4.2.2");
    assert_int_equal(rr[2].status, RELAY_RCPT_BOUNCE);
    assert_string_equal(rr[0].relay, sun.sun_path);
    world_free(&w);
}

/* test_connect_refused - everyone deferred with the reason */
static void
test_connect_refused(void **state)
{
    static const char *const rcpts[] = {"a@x.example"};
    struct world w;
    struct relay_transport t;
    struct relay_rcpt rr, *rp = &rr;
    char    port[16], spec[64];
    int     fd;

    (void) state;
    world_make(&w, rcpts, 1);
    fd = listen_inet(port, sizeof(port));
    close(fd);                         /* nobody listens there now */
    (void) snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%s", port);
    assert_int_equal(relay_transport_parse(spec, &t, w.why), 0);
    memset(&rr, 0, sizeof(rr));
    rr.address = rcpts[0];
    assert_int_equal(relay_smtp_deliver(&w.p, &t, w.r, &rp, 1), -1);
    assert_int_equal(rr.status, RELAY_RCPT_DEFER);
    assert_string_equal(rr.dsn, "4.4.1");
    assert_non_null(strstr(rr.text, "Connection refused"));
    world_free(&w);
}

/* test_encrypt_required - no STARTTLS offered: deferred */
static void
test_encrypt_required(void **state)
{
    static const char *const rcpts[] = {"a@x.example"};
    struct world w;
    struct fake f;
    struct relay_transport t;
    struct relay_rcpt rr, *rp = &rr;
    char    port[16], spec[64];
    pthread_t th;

    (void) state;
    world_make(&w, rcpts, 1);
    w.p.smtp_tls_security_level = (char *) "encrypt";
    memset(&f, 0, sizeof(f));
    f.pipelining = 1;
    f.lfd = listen_inet(port, sizeof(port));
    (void) snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%s", port);
    assert_int_equal(relay_transport_parse(spec, &t, w.why), 0);
    memset(&rr, 0, sizeof(rr));
    rr.address = rcpts[0];
    assert_int_equal(pthread_create(&th, NULL, fake_run, &f), 0);
    assert_int_equal(relay_smtp_deliver(&w.p, &t, w.r, &rp, 1), -1);
    pthread_join(th, NULL);
    close(f.lfd);
    assert_int_equal(rr.status, RELAY_RCPT_DEFER);
    assert_string_equal(rr.dsn, "4.7.4");
    assert_null(strstr(f.cmds, "MAIL"));
    world_free(&w);
}

/* test_tls_fallback - a failed handshake with "may": again in clear */
static void
test_tls_fallback(void **state)
{
    static const char *const rcpts[] = {"a@x.example"};
    struct world w;
    struct fake f;
    struct relay_transport t;
    struct relay_rcpt rr, *rp = &rr;
    char    port[16], spec[64];
    const char *first;
    pthread_t th;

    (void) state;
    world_make(&w, rcpts, 1);
    memset(&f, 0, sizeof(f));
    f.starttls_junk = 1;
    f.nsessions = 2;
    testutil_log_start();
    f.lfd = listen_inet(port, sizeof(port));
    (void) snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%s", port);
    assert_int_equal(relay_transport_parse(spec, &t, w.why), 0);
    memset(&rr, 0, sizeof(rr));
    rr.address = rcpts[0];
    assert_int_equal(pthread_create(&th, NULL, fake_run, &f), 0);
    assert_int_equal(relay_smtp_deliver(&w.p, &t, w.r, &rp, 1), 0);
    pthread_join(th, NULL);
    close(f.lfd);
    assert_int_equal(rr.status, RELAY_RCPT_SENT);
    first = strstr(f.cmds, "STARTTLS");
    assert_non_null(first);
    assert_null(strstr(first + 1, "STARTTLS"));        /* not the second time */
    assert_true(testutil_logged("failed; trying without TLS"));
    testutil_log_stop();
    assert_non_null(strstr(f.cmds, "MAIL FROM:<s@y.example> SIZE=31\r\n"));
    world_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reply),
        cmocka_unit_test(test_smtp_pipelining),
        cmocka_unit_test(test_smtp_plain),
        cmocka_unit_test(test_lmtp_unix),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_encrypt_required),
        cmocka_unit_test(test_tls_fallback),
    };

    (void) signal(SIGPIPE, SIG_IGN);   /* as doppel-relay does */
    if (relay_smtp_init(NULL) < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
