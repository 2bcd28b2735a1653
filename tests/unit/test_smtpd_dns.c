/* test_smtpd_dns - unit tests for smtpd/smtpd_dns: names, the hosts file, lookups. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "util/netaddr.h"
#include "smtpd/smtpd_dns.h"
#include "testutil.h"

/* test_smtpd_dns_valid_name - LDH host names only */
static void
test_smtpd_dns_valid_name(void **state)
{
    char    long_label[80];

    (void) state;
    assert_true(smtpd_dns_valid_name("localhost"));
    assert_true(smtpd_dns_valid_name("mail-1.example.com"));
    assert_false(smtpd_dns_valid_name(""));
    assert_false(smtpd_dns_valid_name("-bad.example"));
    assert_false(smtpd_dns_valid_name("bad-.example"));
    assert_false(smtpd_dns_valid_name("a..b"));
    assert_false(smtpd_dns_valid_name("sp ace.example"));
    assert_false(smtpd_dns_valid_name("x\r\nInjected: yes"));
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    assert_false(smtpd_dns_valid_name(long_label));
}

static char got_name[SMTPD_DNS_NAME_MAX + 1];
static int got_calls;

static char got_reverse[SMTPD_DNS_NAME_MAX + 1];
static enum smtpd_dns_status got_status, got_reverse_status;

/* got - the lookup callback */
static void
got(void *arg, const struct smtpd_dns_answer *a)
{
    (void) arg;
    got_calls++;
    strncpy(got_name, a->name, sizeof(got_name) - 1);
    strncpy(got_reverse, a->reverse_name, sizeof(got_reverse) - 1);
    got_status = a->name_status;
    got_reverse_status = a->reverse_status;
}

/* test_smtpd_dns_hosts - answered from the hosts file, later, once */
static void
test_smtpd_dns_hosts(void **state)
{
    static const char hosts[] =
        "# comment\n"
        "192.0.2.7   first.example   alias.example\n"
        "192.0.2.7   second.example\n"
        "2001:db8::5 six.example # trailing comment\n"
        "not-an-address name.example\n"
        "192.0.2.9   bad_-.name!\n";
    char   *dir = testutil_tmpdir();
    char   *path = testutil_write_file(dir, "hosts", hosts, strlen(hosts));
    struct event_base *base = event_base_new();
    struct smtpd_dns *dns;
    struct netaddr a;

    (void) state;
    testutil_log_start();
    dns = smtpd_dns_new(base, path, "/nonexistent/resolv.conf");
    assert_int_equal(netaddr_parse(&a, "192.0.2.7"), 0);
    assert_string_equal(smtpd_dns_hosts_name(dns, &a), "first.example");
    assert_int_equal(netaddr_parse(&a, "::ffff:192.0.2.7"), 0);
    assert_string_equal(smtpd_dns_hosts_name(dns, &a), "first.example");
    assert_int_equal(netaddr_parse(&a, "2001:db8::5"), 0);
    assert_string_equal(smtpd_dns_hosts_name(dns, &a), "six.example");
    assert_int_equal(netaddr_parse(&a, "192.0.2.9"), 0);
    assert_null(smtpd_dns_hosts_name(dns, &a));

    assert_int_equal(netaddr_parse(&a, "192.0.2.7"), 0);
    got_calls = 0;
    (void) smtpd_dns_lookup(dns, &a, got, NULL);
    assert_int_equal(got_calls, 0);     /* never from within lookup */
    (void) event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(got_calls, 1);
    assert_string_equal(got_name, "first.example");
    assert_string_equal(got_reverse, "first.example");
    assert_int_equal(got_status, SMTPD_DNS_OK);
    assert_int_equal(got_reverse_status, SMTPD_DNS_OK);

    /* cancelled: never called back, and freed at the end */
    smtpd_dns_cancel(smtpd_dns_lookup(dns, &a, got, NULL));
    (void) event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(got_calls, 1);

    dns = smtpd_dns_free(dns);
    event_base_free(base);
    testutil_log_stop();
    testutil_rmtree(dir);
    free(path);
    free(dir);
}

/*
 * The mock DNS server: answers on a loopback UDP port from the event
 * loop of the test, so that evdns really sends and parses packets.
 * rcode -1 means "no such name", -2 "server failure".
 */
struct mock_rr {
    const char *qname;                 /* lower case, no trailing dot */
    int     qtype;                     /* 12 PTR, 1 A */
    const char *value;                 /* name or dotted quad */
    int     rcode;                     /* 0, or -1 NXDOMAIN, -2 SERVFAIL */
};

static const struct mock_rr mock_zone[] = {
    {"5.0.0.127.in-addr.arpa", 12, "good.example", 0},
    {"good.example", 1, "127.0.0.5", 0},
    {"6.0.0.127.in-addr.arpa", 12, "liar.example", 0},
    {"liar.example", 1, "192.0.2.1", 0},
    {"7.0.0.127.in-addr.arpa", 12, NULL, -2},
    {"9.0.0.127.in-addr.arpa", 12, "bad_name!.example", 0},
    {"10.0.0.127.in-addr.arpa", 12, "gone.example", 0},
    {"gone.example", 1, NULL, -1},
};

static int mock_queries;

/* mock_put_name - a name in wire form; returns its length */
static size_t
mock_put_name(unsigned char *out, const char *name)
{
    size_t  n = 0, len;
    const char *dot;

    while (*name) {
        dot = strchr(name, '.');
        len = dot ? (size_t) (dot - name) : strlen(name);
        out[n++] = (unsigned char) len;
        memcpy(out + n, name, len);
        n += len;
        name += len + (dot != NULL);
    }
    out[n++] = 0;
    return n;
}

/* mock_answer - read one query, send the zone's answer */
static void
mock_answer(evutil_socket_t fd, short what, void *arg)
{
    unsigned char q[512], r[512];
    char    qname[256];
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    ssize_t got;
    size_t  pos = 12, qn = 0, end, n, i, nrr = sizeof(mock_zone)
        / sizeof(mock_zone[0]);
    int     qtype, rcode = 3, ancount = 0;
    const struct mock_rr *rr = NULL;
    struct in_addr in;

    (void) what;
    (void) arg;
    got = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *) &peer, &plen);
    if (got < 17)
        return;
    while (pos < (size_t) got && q[pos] != 0 && qn < sizeof(qname) - 65) {
        if (qn > 0)
            qname[qn++] = '.';
        for (i = 0; i < q[pos]; i++)
            qname[qn++] = (char) tolower(q[pos + 1 + i]);
        pos += q[pos] + 1;
    }
    qname[qn] = '\0';
    end = pos + 5;                      /* the root label, type, class */
    if (end > (size_t) got)
        return;
    qtype = q[pos + 1] << 8 | q[pos + 2];
    mock_queries++;
    for (i = 0; i < nrr; i++)
        if (strcmp(mock_zone[i].qname, qname) == 0) {
            rcode = mock_zone[i].rcode == -1 ? 3 : mock_zone[i].rcode == -2
                ? 2 : 0;
            if (mock_zone[i].qtype == qtype && rcode == 0)
                rr = &mock_zone[i];
        }
    memcpy(r, q, end);                  /* id and question, as sent */
    r[2] = 0x84 | (q[2] & 0x01);        /* QR, AA, RD copied */
    r[3] = 0x80 | (unsigned char) rcode;
    r[4] = 0, r[5] = 1;
    r[8] = r[9] = r[10] = r[11] = 0;
    n = end;
    if (rr != NULL) {
        ancount = 1;
        r[n++] = 0xc0, r[n++] = 12;     /* the question's name */
        r[n++] = 0, r[n++] = (unsigned char) qtype, r[n++] = 0, r[n++] = 1;
        r[n++] = 0, r[n++] = 0, r[n++] = 0, r[n++] = 60;
        if (qtype == 1) {
            r[n++] = 0, r[n++] = 4;
            (void) inet_pton(AF_INET, rr->value, &in);
            memcpy(r + n, &in, 4);
            n += 4;
        } else {
            size_t  len = mock_put_name(r + n + 2, rr->value);

            r[n] = 0, r[n + 1] = (unsigned char) len;
            n += 2 + len;
        }
    }
    r[6] = 0, r[7] = (unsigned char) ancount;
    (void) sendto(fd, r, n, 0, (struct sockaddr *) &peer, plen);
}

/* lookup_wait - look addr up; run the loop until the answer (bounded) */
static void
lookup_wait(struct event_base *base, struct smtpd_dns *dns, const char *addr)
{
    struct netaddr a;
    int     before = got_calls, i;

    assert_int_equal(netaddr_parse(&a, addr), 0);
    (void) smtpd_dns_lookup(dns, &a, got, NULL);
    for (i = 0; i < 500 && got_calls == before; i++) {
        struct timeval tv = {0, 10000};

        (void) event_base_loopexit(base, &tv);
        (void) event_base_loop(base, 0);
    }
    assert_int_equal(got_calls, before + 1);
}

/*
 * test_smtpd_dns_names - both names and their status from a DNS server
 * named in resolv_conf: confirmed, a PTR that leads elsewhere, no PTR,
 * a server failure, a PTR that is no host name, a name that is gone.
 */
static void
test_smtpd_dns_names(void **state)
{
    char   *dir = testutil_tmpdir();
    char   *hosts = testutil_write_file(dir, "hosts", "", 0);
    char    conf[128], *resolv;
    struct event_base *base = event_base_new();
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    struct event *ev;
    struct smtpd_dns *dns;
    int     fd;

    (void) state;
    testutil_log_start();
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &slen), 0);
    (void) snprintf(conf, sizeof(conf), "nameserver 127.0.0.1:%u\n",
                    (unsigned) ntohs(sin.sin_port));
    resolv = testutil_write_file(dir, "resolv.conf", conf, strlen(conf));
    ev = event_new(base, fd, EV_READ | EV_PERSIST, mock_answer, NULL);
    assert_int_equal(event_add(ev, NULL), 0);
    dns = smtpd_dns_new(base, hosts, resolv);

    lookup_wait(base, dns, "127.0.0.5");
    assert_string_equal(got_name, "good.example");
    assert_int_equal(got_status, SMTPD_DNS_OK);
    assert_string_equal(got_reverse, "good.example");
    assert_int_equal(got_reverse_status, SMTPD_DNS_OK);

    lookup_wait(base, dns, "127.0.0.6");
    assert_string_equal(got_name, "unknown");
    assert_int_equal(got_status, SMTPD_DNS_PERM);
    assert_string_equal(got_reverse, "liar.example");
    assert_int_equal(got_reverse_status, SMTPD_DNS_OK);

    lookup_wait(base, dns, "127.0.0.8");
    assert_string_equal(got_name, "unknown");
    assert_int_equal(got_status, SMTPD_DNS_PERM);
    assert_string_equal(got_reverse, "unknown");
    assert_int_equal(got_reverse_status, SMTPD_DNS_PERM);

    lookup_wait(base, dns, "127.0.0.9");
    assert_int_equal(got_status, SMTPD_DNS_PERM);
    assert_int_equal(got_reverse_status, SMTPD_DNS_PERM);
    assert_true(testutil_logged("is not a valid host name"));

    lookup_wait(base, dns, "127.0.0.10");
    assert_string_equal(got_name, "unknown");
    assert_int_equal(got_status, SMTPD_DNS_PERM);
    assert_string_equal(got_reverse, "gone.example");

    /* last: evdns may hold a failing server down for a while */
    lookup_wait(base, dns, "127.0.0.7");
    assert_string_equal(got_name, "unknown");
    assert_int_equal(got_status, SMTPD_DNS_TEMP);
    assert_int_equal(got_reverse_status, SMTPD_DNS_TEMP);
    assert_true(mock_queries >= 6);

    assert_string_equal(smtpd_dns_status_name(SMTPD_DNS_TEMP),
                        "temporary failure");
    dns = smtpd_dns_free(dns);
    event_free(ev);
    close(fd);
    event_base_free(base);
    testutil_log_stop();
    testutil_rmtree(dir);
    free(hosts);
    free(resolv);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtpd_dns_valid_name),
        cmocka_unit_test(test_smtpd_dns_hosts),
        cmocka_unit_test(test_smtpd_dns_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
