/*
 * test_smtpd_limits - the per-client limits policy on hand-built
 * sessions: exceptions, the connection count and rate, MAIL and RCPT
 * rates, the stress personality's own limit, XCLIENT moving the count,
 * and Postfix's replies and warnings.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/anvil.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "testutil.h"

#define TEST_MAIN "127.0.0.1:2525"
#define TEST_OTHER "127.0.0.1:2526"

static const char test_cf[] =
    "myhostname = mx.example.test\n"
    "smtpd_client_connection_count_limit = 2\n"
    "smtpd_client_connection_rate_limit = 4\n"
    "smtpd_client_message_rate_limit = 2\n"
    "smtpd_client_recipient_rate_limit = 3\n"
    "stress_smtpd_client_connection_count_limit = 1\n"
    "anvil_rate_time_unit = 1h\n";

static const char test_services[] =
    TEST_MAIN " inet 1 smtpd\n"
    TEST_OTHER " inet 1 smtpd"
    " -o smtpd_client_event_limit_exceptions=!192.0.2.7,192.0.2.0/24\n";

struct test_env {
    char   *dir;
    struct conf *conf;
    struct event_base *base;
    struct smtpd_server srv;
};

/* test_setup - a configuration, an event base, a server with a table */
static int
test_setup(void **state)
{
    struct test_env *env = xcalloc(1, sizeof(*env));
    struct dstr *errors = dstr_new(256, 65536);

    testutil_log_start();
    env->dir = testutil_tmpdir();
    free(testutil_write_file(env->dir, "doppel.cf", test_cf,
                             strlen(test_cf)));
    free(testutil_write_file(env->dir, "services.cf", test_services,
                             strlen(test_services)));
    if (conf_load(env->dir, &env->conf, errors) < 0)
        fail_msg("conf_load: %s", errors->data);
    env->base = event_base_new();
    assert_non_null(env->base);
    env->srv.base = env->base;
    env->srv.conf = env->conf;
    env->srv.p = conf_params(env->conf, CONF_NO_SERVICE, NULL, 0);
    env->srv.anvil = anvil_create(ANVIL_ENTRIES_MIN, errors);
    env->srv.anvil_wslot = 3;
    assert_non_null(env->srv.anvil);
    dstr_free(errors);
    *state = env;
    return 0;
}

/* test_teardown - undo test_setup */
static int
test_teardown(void **state)
{
    struct test_env *env = *state;

    smtpd_limits_flush();
    anvil_free(env->srv.anvil);
    event_base_free(env->base);
    conf_free(env->conf);
    testutil_rmtree(env->dir);
    free(env->dir);
    free(env);
    testutil_log_stop();
    return 0;
}

/* test_timer - a session timer that never needs to fire here */
static void
test_timer(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* test_set_addr - the session's client, as XCLIENT would set it */
static void
test_set_addr(struct session *s, const char *addr)
{
    struct netaddr plain;

    assert_int_equal(netaddr_parse(&s->addr, addr), 0);
    (void) netaddr_unmap(&plain, &s->addr);
    assert_int_equal(netaddr_format(&plain, s->addr_text,
                                    sizeof(s->addr_text)), 0);
}

/* test_session - a session of service from addr, in state COMMAND */
static struct session *
test_session(struct test_env *env, size_t service, int stress,
             const char *addr)
{
    struct session *s = xcalloc(1, sizeof(*s));
    int     sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);                       /* replies stay in the buffer */
    s->srv = &env->srv;
    s->service = service;
    s->pers = conf_personality(env->conf, service, NULL, stress);
    assert_non_null(s->pers);
    s->p = &s->pers->params;
    test_set_addr(s, addr);
    s->name = xstrdup("unknown");
    s->bev = s->plain = bufferevent_socket_new(env->base, sv[0],
                                               BEV_OPT_CLOSE_ON_FREE);
    s->timer = evtimer_new(env->base, test_timer, s);
    assert_non_null(s->bev);
    assert_non_null(s->timer);
    s->state = SESSION_COMMAND;
    return s;
}

/*
 * test_output - what the session has replied so far (NUL-terminated).
 * A bufferevent's output cannot be copied out (its start is frozen for
 * everyone but the bufferevent), so its chains are peeked at.
 */
static const char *
test_output(struct session *s)
{
    static char buf[2048];
    struct evbuffer *out = bufferevent_get_output(s->bev);
    struct evbuffer_iovec v[8];
    size_t  len = 0;
    int     i, n = evbuffer_peek(out, -1, NULL, v, 8);

    for (i = 0; i < n && i < 8; i++) {
        if (len + v[i].iov_len >= sizeof(buf))
            break;
        memcpy(buf + len, v[i].iov_base, v[i].iov_len);
        len += v[i].iov_len;
    }
    buf[len] = 0;
    return buf;
}

/* test_end - the session goes, as smtpd_session_free() would do it */
static void
test_end(struct session *s)
{
    smtpd_limits_disconnect(s);
    event_free(s->timer);
    bufferevent_free(s->bev);
    free(s->name);
    free(s);
}

/* test_count - the table's connection count of addr on a service */
static uint32_t
test_count(struct test_env *env, const char *service, const char *addr)
{
    struct anvil_key k;

    memset(&k, 0, sizeof(k));
    assert_int_equal(netaddr_parse(&k.addr, addr), 0);
    k.service = anvil_service_id(service);
    return anvil_count(env->srv.anvil, &k);
}

/* test_limits_exempt - default $mynetworks, a service's own list */
static void
test_limits_exempt(void **state)
{
    struct test_env *env = *state;
    const struct params *p = conf_params(env->conf, 0, NULL, 0),
        *o = conf_params(env->conf, 1, NULL, 0);
    struct dstr *errors = dstr_new(64, 4096);
    struct netaddr a;

    assert_int_equal(smtpd_limits_compile(p, errors), 0);
    assert_int_equal(smtpd_limits_compile(o, errors), 0);
    assert_int_equal(errors->len, 0);
    assert_int_equal(netaddr_parse(&a, "127.0.0.2"), 0);
    assert_true(smtpd_limits_exempt(p, &a));
    assert_false(smtpd_limits_exempt(o, &a));
    assert_int_equal(netaddr_parse(&a, "::ffff:127.0.0.1"), 0);
    assert_true(smtpd_limits_exempt(p, &a));
    assert_int_equal(netaddr_parse(&a, "::1"), 0);
    assert_true(smtpd_limits_exempt(p, &a));
    assert_int_equal(netaddr_parse(&a, "192.0.2.1"), 0);
    assert_false(smtpd_limits_exempt(p, &a));
    assert_true(smtpd_limits_exempt(o, &a));
    assert_int_equal(netaddr_parse(&a, "192.0.2.7"), 0);
    assert_false(smtpd_limits_exempt(o, &a));
    dstr_free(errors);
}

/* test_limits_broken - a host name is refused, never silently ignored */
static void
test_limits_broken(void **state)
{
    static const char cf[] =
        "smtpd_client_event_limit_exceptions = 10.0.0.0/8 localhost\n";
    struct test_env *env = *state;
    struct dstr *errors = dstr_new(64, 4096);
    const struct params *p;
    struct conf *conf;
    struct netaddr a;

    free(testutil_write_file(env->dir, "doppel.cf", cf, strlen(cf)));
    assert_int_equal(conf_load(env->dir, &conf, errors), 0);
    p = conf_params(conf, CONF_NO_SERVICE, NULL, 0);
    assert_int_equal(smtpd_limits_compile(p, errors), -1);
    assert_non_null(strstr(errors->data,
                           "smtpd_client_event_limit_exceptions: "));
    assert_non_null(strstr(errors->data, "localhost"));
    /* at session time: nobody is exempt, and that is said once */
    assert_int_equal(netaddr_parse(&a, "10.1.2.3"), 0);
    assert_false(smtpd_limits_exempt(p, &a));
    assert_false(smtpd_limits_exempt(p, &a));
    assert_true(testutil_logged("error: smtpd_client_event_limit_exceptions"));
    assert_null(strstr(strstr(testutil_log_text(), "error: smtpd_client")
                       + 1, "error: smtpd_client"));
    smtpd_limits_flush();               /* before the params go */
    conf_free(conf);
    dstr_free(errors);
}

/* test_limits_count - the third connection gets 421; exempt ones never */
static void
test_limits_count(void **state)
{
    struct test_env *env = *state;
    struct session *s[6];
    int     i;

    s[0] = test_session(env, 0, 0, "192.0.2.1");
    s[1] = test_session(env, 0, 0, "::ffff:192.0.2.1");      /* the same */
    s[2] = test_session(env, 0, 0, "192.0.2.1");
    assert_int_equal(smtpd_limits_connect(s[0]), 0);
    assert_int_equal(smtpd_limits_connect(s[1]), 0);
    assert_string_equal(test_output(s[1]), "");
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.1"), 2);
    assert_int_equal(smtpd_limits_connect(s[2]), -1);
    assert_string_equal(test_output(s[2]), "421 4.7.0 mx.example.test Error:"
                        " too many connections from 192.0.2.1\r\n");
    assert_int_equal(s[2]->state, SESSION_CLOSING);
    assert_true(testutil_logged("warning: Connection concurrency limit"
                                " exceeded: 3 from unknown[192.0.2.1] for"
                                " service " TEST_MAIN));
    /* closing released it already; freeing does not release it twice */
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.1"), 2);
    test_end(s[2]);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.1"), 2);

    /* another service counts apart (its list exempts 192.0.2.0/24 but
     * not 192.0.2.7) */
    s[3] = test_session(env, 1, 0, "192.0.2.7");
    assert_int_equal(smtpd_limits_connect(s[3]), 0);
    assert_int_equal(test_count(env, TEST_OTHER, "192.0.2.7"), 1);
    test_end(s[3]);
    assert_int_equal(test_count(env, TEST_OTHER, "192.0.2.7"), 0);

    /* one leaves: room for one more */
    test_end(s[0]);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.1"), 1);
    s[0] = test_session(env, 0, 0, "192.0.2.1");
    assert_int_equal(smtpd_limits_connect(s[0]), 0);
    test_end(s[0]);
    test_end(s[1]);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.1"), 0);

    /* mynetworks: any number, and not counted at all */
    for (i = 0; i < 6; i++) {
        s[i] = test_session(env, 0, 0, "127.0.0.1");
        assert_int_equal(smtpd_limits_connect(s[i]), 0);
        assert_null(s[i]->limits);
    }
    assert_int_equal(test_count(env, TEST_MAIN, "127.0.0.1"), 0);
    for (i = 0; i < 6; i++)
        test_end(s[i]);
}

/* test_limits_rate - the fifth connection in the unit gets 421 */
static void
test_limits_rate(void **state)
{
    struct test_env *env = *state;
    struct session *s;
    int     i;

    for (i = 0; i < 4; i++) {
        s = test_session(env, 0, 0, "198.51.100.4");
        assert_int_equal(smtpd_limits_connect(s), 0);
        test_end(s);
    }
    s = test_session(env, 0, 0, "198.51.100.4");
    assert_int_equal(smtpd_limits_connect(s), -1);
    assert_string_equal(test_output(s), "421 4.7.0 mx.example.test Error:"
                        " too many connections from 198.51.100.4\r\n");
    assert_true(testutil_logged("warning: Connection rate limit exceeded: 5"
                                " from unknown[198.51.100.4] for service "
                                TEST_MAIN));
    test_end(s);
    assert_int_equal(test_count(env, TEST_MAIN, "198.51.100.4"), 0);
}

/* test_limits_mail_rcpt - 450 4.7.1 past the MAIL and RCPT rates */
static void
test_limits_mail_rcpt(void **state)
{
    struct test_env *env = *state;
    struct session *s = test_session(env, 0, 0, "203.0.113.5"),
        *t = test_session(env, 0, 0, "203.0.113.5"),
        *local = test_session(env, 0, 0, "127.0.0.1");
    int     i;

    assert_int_equal(smtpd_limits_connect(s), 0);
    assert_int_equal(smtpd_limits_connect(t), 0);
    assert_int_equal(smtpd_limits_mail(s), 0);
    assert_int_equal(smtpd_limits_mail(t), 0);          /* shared */
    assert_int_equal(smtpd_limits_mail(s), -1);
    assert_string_equal(test_output(s), "450 4.7.1 Error: too much mail"
                        " from 203.0.113.5\r\n");
    assert_true(testutil_logged("warning: Message delivery request rate limit"
                                " exceeded: 3 from unknown[203.0.113.5] for"
                                " service " TEST_MAIN));
    for (i = 0; i < 3; i++)
        assert_int_equal(smtpd_limits_rcpt(t), 0);
    assert_int_equal(smtpd_limits_rcpt(t), -1);
    assert_string_equal(test_output(t), "450 4.7.1 Error: too many recipients"
                        " from 203.0.113.5\r\n");
    assert_true(testutil_logged("warning: Recipient address rate limit"
                                " exceeded: 4 from unknown[203.0.113.5] for"
                                " service " TEST_MAIN));
    assert_int_equal(s->state, SESSION_COMMAND);        /* not closing */
    for (i = 0; i < 10; i++) {
        assert_int_equal(smtpd_limits_mail(local), 0);
        assert_int_equal(smtpd_limits_rcpt(local), 0);
    }
    test_end(s);
    test_end(t);
    test_end(local);
}

/* test_limits_stress - the stress personality has its own limit */
static void
test_limits_stress(void **state)
{
    struct test_env *env = *state;
    struct session *s = test_session(env, 0, 1, "192.0.2.50"),
        *t = test_session(env, 0, 1, "192.0.2.50");

    assert_int_equal(s->p->smtpd_client_connection_count_limit, 1);
    assert_int_equal(smtpd_limits_connect(s), 0);
    assert_int_equal(smtpd_limits_connect(t), -1);
    assert_true(testutil_logged("Connection concurrency limit exceeded: 2"));
    test_end(s);
    test_end(t);
}

/* test_limits_xclient - the count follows the identity XCLIENT names */
static void
test_limits_xclient(void **state)
{
    struct test_env *env = *state;
    struct session *s[3];
    int     i;

    for (i = 0; i < 3; i++) {
        s[i] = test_session(env, 0, 0, "127.0.0.1");
        assert_int_equal(smtpd_limits_connect(s[i]), 0);
    }
    /* the proxy is exempt; the client it names is not */
    test_set_addr(s[0], "192.0.2.99");
    assert_int_equal(smtpd_limits_xclient(s[0]), 0);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.99"), 1);
    assert_int_equal(smtpd_limits_xclient(s[0]), 0);    /* no change */
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.99"), 1);
    test_set_addr(s[1], "192.0.2.99");
    assert_int_equal(smtpd_limits_xclient(s[1]), 0);
    test_set_addr(s[2], "192.0.2.99");
    assert_int_equal(smtpd_limits_xclient(s[2]), -1);
    assert_string_equal(test_output(s[2]), "421 4.7.0 mx.example.test Error:"
                        " too many connections from 192.0.2.99\r\n");
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.99"), 2);

    /* moving on releases the old identity */
    test_set_addr(s[0], "192.0.2.100");
    assert_int_equal(smtpd_limits_xclient(s[0]), 0);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.99"), 1);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.100"), 1);
    test_set_addr(s[1], "127.0.0.9");
    assert_int_equal(smtpd_limits_xclient(s[1]), 0);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.99"), 0);
    for (i = 0; i < 3; i++)
        test_end(s[i]);
    assert_int_equal(test_count(env, TEST_MAIN, "192.0.2.100"), 0);
}

/* test_limits_no_table - without a table nothing is limited */
static void
test_limits_no_table(void **state)
{
    struct test_env *env = *state;
    struct anvil *saved = env->srv.anvil;
    struct session *s[4];
    int     i;

    env->srv.anvil = NULL;
    for (i = 0; i < 4; i++) {
        s[i] = test_session(env, 0, 1, "192.0.2.1");
        assert_int_equal(smtpd_limits_connect(s[i]), 0);
        assert_int_equal(smtpd_limits_mail(s[i]), 0);
        assert_int_equal(smtpd_limits_rcpt(s[i]), 0);
        test_set_addr(s[i], "192.0.2.2");
        assert_int_equal(smtpd_limits_xclient(s[i]), 0);
    }
    for (i = 0; i < 4; i++)
        test_end(s[i]);
    env->srv.anvil = saved;
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_limits_exempt),
        T(test_limits_broken),
        T(test_limits_count),
        T(test_limits_rate),
        T(test_limits_mail_rcpt),
        T(test_limits_stress),
        T(test_limits_xclient),
        T(test_limits_no_table),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
