/* test_cli_test_run - scripts against a tiny fake SMTP server in a child. */

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util/dstr.h"
#include "cli/cli_test_run.h"
#include "cli/cli_test_script.h"

/*
 * The fake server plays a list of actions on one connection:
 * "S:text"  send text as is (write it in C with \r\n)
 * "R:text"  read one line; it must be text (else exit 3)
 * "D:"      read a DATA body up to ".\r\n"; the bytes must be the arg
 * "P:ms"    pause
 * "C:"      close
 * The child exits 0 if every read matched.
 */
struct fake {
    pid_t   pid;
    unsigned port;
    char    addr[32];
};

/* fake_readline - one line into buf (with CRLF), bounded */
static int
fake_readline(int fd, char *buf, size_t size)
{
    size_t  n = 0;
    char    c;

    while (n + 1 < size) {
        if (read(fd, &c, 1) != 1)
            return -1;
        buf[n++] = c;
        if (c == '\n')
            break;
    }
    buf[n] = '\0';
    return 0;
}

/* fake_child - accept one client and play the actions */
static void
fake_child(int lfd, const char *const *acts)
{
    char    buf[8192];
    struct dstr *body;
    struct timespec ts;
    int     fd;

    alarm(20);                          /* never outlive the test */
    if ((fd = accept(lfd, NULL, NULL)) < 0)
        _exit(2);
    for (; *acts != NULL; acts++) {
        const char *arg = *acts + 2;

        switch (**acts) {
        case 'S':
            if (write(fd, arg, strlen(arg)) < 0)
                _exit(4);
            break;
        case 'R':
            if (fake_readline(fd, buf, sizeof(buf)) < 0
                || strcmp(buf, arg) != 0)
                _exit(3);
            break;
        case 'D':
            body = dstr_new(256, 65536);
            do {
                if (fake_readline(fd, buf, sizeof(buf)) < 0)
                    _exit(5);
                (void) dstr_append_str(body, buf);
            } while (strcmp(buf, ".\r\n") != 0);
            if (strcmp(body->data, arg) != 0)
                _exit(6);
            dstr_free(body);
            break;
        case 'P':
            ts.tv_sec = 0;
            ts.tv_nsec = atol(arg) * 1000000L;
            nanosleep(&ts, NULL);
            break;
        case 'C':
            close(fd);
            fd = -1;
            break;
        }
    }
    /* linger until the client goes, so it decides when to close */
    if (fd >= 0)
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    _exit(0);
}

/* fake_start - listen on a loopback port and fork the server */
static void
fake_start(struct fake *f, const char *const *acts)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int     lfd;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &sin, &len), 0);
    f->port = ntohs(sin.sin_port);
    (void) snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", f->port);
    if ((f->pid = fork()) == 0)
        fake_child(lfd, acts);
    assert_true(f->pid > 0);
    close(lfd);
}

/* fake_wait - the server's exit status (0: every read matched) */
static int
fake_wait(struct fake *f)
{
    int     st;

    kill(f->pid, SIGTERM);              /* if it still lingers */
    if (waitpid(f->pid, &st, 0) < 0)
        return -1;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)
        return 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* run - parse text and run it against the fake server playing acts */
static struct cli_test_result *
run(const char *text, const char *const *acts, int keep_going, int *server)
{
    struct cli_test_parse_opts po = CLI_TEST_PARSE_OPTS_INIT;
    struct cli_test_run_opts ro;
    struct cli_test_target t;
    struct cli_test_script *s = NULL;
    struct cli_test_result *r;
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct fake f;

    if (cli_test_script_parse_buf(&s, "t.dt", text, strlen(text), &po,
                                  err) < 0)
        fail_msg("parse: %s", err->data);
    dstr_free(err);
    fake_start(&f, acts);
    t.name = "default";
    t.server = f.addr;
    ro.keep_going = keep_going;
    r = cli_test_run(s, &t, &ro);
    *server = fake_wait(&f);
    cli_test_script_free(s);
    return r;
}

/* has_row - is there a transcript row with these cells */
static int
has_row(const struct cli_test_result *r, const char *left, const char *right,
        const char *mark)
{
    size_t  i;

    for (i = 0; i < r->nrows; i++) {
        const struct cli_test_row *w = &r->rows[i];

        if ((left == NULL || (w->left && strcmp(w->left, left) == 0))
            && (right == NULL || (w->right && strcmp(w->right, right) == 0))
            && (mark == NULL || (w->mark && strcmp(w->mark, mark) == 0)))
            return 1;
    }
    return 0;
}

static void
test_multiline_split(void **state)
{
    static const char *const acts[] = {
        "S:220-first line\r\n220-sec", "P:50", "S:ond li", "P:50",
        "S:ne\r\n220 last\r\n", "R:EHLO x\r\n",
        "S:250-srv\r\n250-PIPELINING\r\n250 8BITMIME\r\n", NULL,
    };
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220 /^second line$/\nsend EHLO x\n"
            "expect 250 /^PIPELINING$/\nexpect-close within 100ms\n", acts, 0,
            &server);
    /* everything up to expect-close passes; the server stays open */
    assert_int_equal(r->outcomes[1].status, CLI_TEST_PASS);
    assert_string_equal(r->outcomes[1].detail, "220");
    assert_int_equal(r->outcomes[3].status, CLI_TEST_PASS);
    assert_int_equal(r->outcomes[4].status, CLI_TEST_FAIL);
    assert_string_equal(r->message->data, "t.dt:5: expect-close within 100ms: "
                        "the connection stayed open (nothing within 0.1s)");
    assert_true(has_row(r, "expect 220 /^second line$/", "220-first line",
                        "ok"));
    assert_true(has_row(r, NULL, "220-second line", NULL));
    assert_true(has_row(r, "> EHLO x", NULL, NULL));
    assert_int_equal(server, 0);
    cli_test_result_free(r);
}

static void
test_pipelining_and_data(void **state)
{
    static const char *const acts[] = {
        "S:220 hi\r\n", "R:MAIL FROM:<a@b>\r\n", "R:RCPT TO:<c@d>\r\n",
        "R:DATA\r\n", "S:250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n",
        "D:Subject: t\r\n\r\n..dot\r\n.\r\n", "S:250 2.0.0 queued\r\n",
        "R:DATA\r\n", "S:354 again\r\n", "D:x\r\n.\r\n",
        "S:421 4.7.0 bye\r\n", "C:", NULL,
    };
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220\n"
            "pipeline\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nend\n"
            "expect 250 2.1.0\nexpect 250 2.1.5\nexpect 354\n"
            "body <<EOF\nSubject: t\n\n.dot\nEOF\n"
            "expect 2xx 2.0.0 /queued/\n"
            "data <<EOF\nx\nEOF\n"
            "expect 421\nexpect-close within 2s\n", acts, 0, &server);
    if (r->status != CLI_TEST_PASS)
        fail_msg("%s", r->message->data);
    assert_int_equal(server, 0);
    assert_int_equal(r->nrun, r->nsteps);
    assert_true(has_row(r, NULL, "(connection closed)", "ok"));
    cli_test_result_free(r);
}

static void
test_failure_transcript(void **state)
{
    static const char *const acts[] = {
        "S:220 hi\r\n", "R:RCPT TO:<x@y>\r\n",
        "S:554 5.7.1 <x@y>: Relay access denied\r\n", "R:QUIT\r\n",
        "S:221 2.0.0 bye\r\n", NULL,
    };
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220\nsend RCPT TO:<x@y>\nexpect 250 2.1.5\n"
            "send QUIT\nexpect 221\n", acts, 0, &server);
    assert_int_equal(r->status, CLI_TEST_FAIL);
    assert_string_equal(r->message->data, "t.dt:4: expect 250 2.1.5: "
                        "expected 250, got 554");
    assert_true(has_row(r, "expect 250 2.1.5", "554 5.7.1 <x@y>: Relay "
                        "access denied", "FAIL"));
    assert_int_equal(r->nrun, 4);      /* stopped at the failure */
    assert_int_equal(r->outcomes[4].status, CLI_TEST_NOT_RUN);
    assert_string_equal(r->outcomes[3].detail, "554 5.7.1");
    cli_test_result_free(r);

    /* keep going: the dialog is in step, the rest runs */
    r = run("connect\nexpect 220\nsend RCPT TO:<x@y>\n"
            "expect 554 5.7.2 /denied/\n"
            "send QUIT\nexpect 221 !/bye/\n", acts, 1, &server);
    assert_int_equal(r->nrun, 6);
    assert_int_equal(r->nfailed, 2);
    assert_string_equal(r->message->data, "t.dt:4: expect 554 5.7.2 /denied/: "
                        "expected enhanced status 5.7.2, got 5.7.1");
    assert_true(has_row(r, "^ expect 221 !/bye/: reply matches !/bye/", NULL,
                        NULL));
    assert_int_equal(server, 0);
    cli_test_result_free(r);
}

static void
test_timeouts(void **state)
{
    static const char *const acts[] = {"S:220 hi\r\n", "P:3000", NULL};
    static const char *const silent[] = {"P:3000", NULL};
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220\nexpect 250 within 200ms\n", acts, 0,
            &server);
    assert_string_equal(r->message->data, "t.dt:3: expect 250 within 200ms: "
                        "nothing within 0.2s");
    assert_string_equal(r->outcomes[2].detail, "timeout");
    assert_true(r->elapsed_ms >= 200 && r->elapsed_ms < 2000);
    cli_test_result_free(r);

    /* the whole-script limit bounds even a long step */
    r = run("time-limit 300ms\nconnect\nexpect 220 within 1h\n", silent, 0,
            &server);
    assert_string_equal(r->message->data, "t.dt:3: expect 220 within 1h: "
                        "the script's time limit of 0.3s ran out");
    assert_true(r->elapsed_ms < 2000);
    cli_test_result_free(r);

    r = run("time-limit 200ms\nconnect\nsleep 5s\n", silent, 0, &server);
    assert_string_equal(r->message->data, "t.dt:3: sleep: the script's time "
                        "limit of 0.2s ran out");
    cli_test_result_free(r);
}

static void
test_xclient(void **state)
{
    static const char *const no_xclient[] = {
        "S:220 hi\r\n", "R:EHLO x\r\n", "S:250-srv\r\n250 PIPELINING\r\n",
        NULL,
    };
    static const char *const no_login[] = {
        "S:220 hi\r\n", "R:EHLO x\r\n",
        "S:250-srv\r\n250 XCLIENT NAME ADDR HELO\r\n", NULL,
    };
    static const char *const refused[] = {
        "S:220 hi\r\n", "R:XCLIENT ADDR=192.0.2.1\r\n",
        "S:550 5.7.0 Error: insufficient authorization\r\n", NULL,
    };
    static const char *const good[] = {
        "S:220 hi\r\n", "R:EHLO x\r\n",
        "S:250-srv\r\n250 XCLIENT NAME ADDR HELO\r\n",
        "R:XCLIENT ADDR=IPv6:2001:db8::1 NAME=a.example HELO=x+20y\r\n",
        "S:220 hi again\r\n", "R:EHLO x\r\n", "S:250 srv\r\n", NULL,
    };
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220\nsend EHLO x\nexpect 250\n"
            "xclient ADDR=192.0.2.1\n", no_xclient, 0, &server);
    assert_string_equal(r->message->data, "t.dt:5: xclient: the server does "
                        "not offer XCLIENT to this client (its EHLO reply has "
                        "no XCLIENT line; is the client in "
                        "smtpd_authorized_xclient_hosts?)");
    cli_test_result_free(r);

    r = run("connect\nexpect 220\nsend EHLO x\nexpect 250\n"
            "xclient ADDR=192.0.2.1 LOGIN=bob\n", no_login, 0, &server);
    assert_string_equal(r->message->data, "t.dt:5: xclient: the server's "
                        "XCLIENT does not take LOGIN (it offers: NAME ADDR "
                        "HELO)");
    cli_test_result_free(r);

    r = run("connect\nexpect 220\nxclient ADDR=192.0.2.1\n", refused, 0,
            &server);
    assert_string_equal(r->message->data, "t.dt:3: xclient: XCLIENT refused: "
                        "this client is not authorized: 550 5.7.0 Error: "
                        "insufficient authorization (see the server's "
                        "smtpd_authorized_xclient_hosts)");
    assert_int_equal(server, 0);
    cli_test_result_free(r);

    r = run("connect\nexpect 220\nsend EHLO x\nexpect 250\n"
            "xclient ADDR=2001:db8::1 NAME=a.example HELO=\"x y\"\n"
            "send EHLO x\nexpect 250\n", good, 0, &server);
    if (r->status != CLI_TEST_PASS)
        fail_msg("%s", r->message->data);
    assert_int_equal(server, 0);
    cli_test_result_free(r);
}

static void
test_sessions_and_errors(void **state)
{
    static const char *const acts[] = {"S:220 hi\r\n", NULL};
    struct cli_test_script *s = NULL;
    struct cli_test_parse_opts po = CLI_TEST_PARSE_OPTS_INIT;
    struct cli_test_run_opts ro = {0};
    struct cli_test_target t = {"default", NULL};
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect as a\nexpect 220\nuse b\n", acts, 0, &server);
    assert_string_equal(r->message->data, "t.dt:3: use: no open session named "
                        "\"b\" (open one with: connect ... as b)");
    cli_test_result_free(r);

    r = run("connect\nclose\nsend NOOP\n", acts, 0, &server);
    assert_string_equal(r->message->data, "t.dt:3: send NOOP: not connected "
                        "(use connect first)");
    cli_test_result_free(r);

    /* no server at all, and a port where nothing listens */
    assert_int_equal(cli_test_script_parse_buf(&s, "t.dt", "connect\n", 8,
                                               &po, err), 0);
    r = cli_test_run(s, &t, &ro);
    assert_string_equal(r->message->data, "t.dt:1: connect: no server (give "
                        "--server HOST:PORT, or connect HOST:PORT)");
    cli_test_result_free(r);
    t.server = "127.0.0.1:1";
    r = cli_test_run(s, &t, &ro);
    assert_string_equal(r->message->data, "t.dt:1: connect 127.0.0.1:1: "
                        "Connection refused (is the server running and "
                        "listening there?)");
    cli_test_result_free(r);
    t.server = "::1:25";
    r = cli_test_run(s, &t, &ro);
    assert_string_equal(r->message->data, "t.dt:1: connect ::1:25: use "
                        "HOST:PORT or [IPV6]:PORT");
    cli_test_result_free(r);
    cli_test_script_free(s);
    dstr_free(err);

    r = cli_test_result_error("x.dt:3: bad\n");
    assert_int_equal(r->status, CLI_TEST_FAIL);
    assert_string_equal(r->message->data, "x.dt:3: bad");
    cli_test_result_free(r);
}

static void
test_malformed_reply(void **state)
{
    static const char *const acts[] = {"S:220-a\r\n250 b\r\n", NULL};
    static const char *const junk[] = {"S:hello\r\n", NULL};
    struct cli_test_result *r;
    int     server;

    (void) state;
    r = run("connect\nexpect 220\n", acts, 0, &server);
    assert_string_equal(r->message->data, "t.dt:2: expect 220: reply code "
                        "changes within a multi-line reply (220, then 250)");
    cli_test_result_free(r);
    r = run("connect\nexpect 220\n", junk, 0, &server);
    assert_string_equal(r->message->data, "t.dt:2: expect 220: malformed "
                        "reply line (not \"DDD text\")");
    assert_true(has_row(r, "expect 220", "hello", "FAIL"));
    cli_test_result_free(r);
}

static void
test_split_addr(void **state)
{
    char    h[64], p[8];

    (void) state;
    assert_int_equal(cli_test_run_split_addr("[::1]:25", h, sizeof(h), p,
                                             sizeof(p)), 0);
    assert_string_equal(h, "::1");
    assert_string_equal(p, "25");
    assert_int_equal(cli_test_run_split_addr("mx.example:2525", h, sizeof(h),
                                             p, sizeof(p)), 0);
    assert_string_equal(h, "mx.example");
    assert_int_equal(cli_test_run_split_addr("host", h, sizeof(h), p,
                                             sizeof(p)), -1);
    assert_int_equal(cli_test_run_split_addr("host:", h, sizeof(h), p,
                                             sizeof(p)), -1);
    assert_int_equal(cli_test_run_split_addr("host:2x", h, sizeof(h), p,
                                             sizeof(p)), -1);
    assert_int_equal(cli_test_run_split_addr("[::1]25", h, sizeof(h), p,
                                             sizeof(p)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multiline_split),
        cmocka_unit_test(test_pipelining_and_data),
        cmocka_unit_test(test_failure_transcript),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_xclient),
        cmocka_unit_test(test_sessions_and_errors),
        cmocka_unit_test(test_malformed_reply),
        cmocka_unit_test(test_split_addr),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
