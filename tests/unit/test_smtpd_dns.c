/* test_smtpd_dns - unit tests for smtpd/smtpd_dns: names, the hosts file, lookups. */

#include <stdlib.h>
#include <string.h>

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

/* got - the lookup callback */
static void
got(void *arg, const char *name)
{
    (void) arg;
    got_calls++;
    strncpy(got_name, name, sizeof(got_name) - 1);
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
    dns = smtpd_dns_new(base, path);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtpd_dns_valid_name),
        cmocka_unit_test(test_smtpd_dns_hosts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
