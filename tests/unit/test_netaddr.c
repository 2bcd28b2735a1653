/* test_netaddr - unit tests for util/netaddr: parse, format, sockaddr. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "util/netaddr.h"
#include "testutil.h"

/* test_netaddr_parse_good - every accepted form, and its canonical text */
static void
test_netaddr_parse_good(void **state)
{
    static const struct {
        const char *text;
        int     family;
        const char *canonical;
    } cases[] = {
        {"1.2.3.4", AF_INET, "1.2.3.4"},
        {"0.0.0.0", AF_INET, "0.0.0.0"},
        {"255.255.255.255", AF_INET, "255.255.255.255"},
        {"[192.0.2.1]", AF_INET, "192.0.2.1"},
        {"::1", AF_INET6, "::1"},
        {"::", AF_INET6, "::"},
        {"[::1]", AF_INET6, "::1"},
        {"IPv6:::1", AF_INET6, "::1"},
        {"ipv6:::1", AF_INET6, "::1"},
        {"IPV6:2001:DB8::1", AF_INET6, "2001:db8::1"},
        {"[IPv6:2001:db8::1]", AF_INET6, "2001:db8::1"},
        {"2001:0db8:0000:0000:0000:0000:0000:0001", AF_INET6, "2001:db8::1"},
        {"2001:db8:0:0:1:0:0:1", AF_INET6, "2001:db8::1:0:0:1"},
        {"::ffff:1.2.3.4", AF_INET6, "::ffff:1.2.3.4"},
        {"::FFFF:102:304", AF_INET6, "::ffff:1.2.3.4"},
        {"IPv6:::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1"},
        {"fe80::1", AF_INET6, "fe80::1"},
    };
    struct netaddr a;
    char    buf[NETADDR_TEXT_MAX];
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (netaddr_parse(&a, cases[i].text) != 0)
            fail_msg("refused \"%s\"", cases[i].text);
        assert_int_equal(a.family, cases[i].family);
        assert_int_equal(netaddr_format(&a, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].canonical);
    }
}

/* test_netaddr_parse_bad - garbage, near misses and forms we refuse */
static void
test_netaddr_parse_bad(void **state)
{
    static const char *const cases[] = {
        "", "[", "]", "[]", "[ ]", "foo", "example.com", "1.2.3", "1.2.3.4.5",
        "256.1.1.1", "1.2.3.-1", "01.2.3.4", "1.2.3.04", "0x1.2.3.4",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "1.2. 3.4",
        "[1.2.3.4", "1.2.3.4]", "[[1.2.3.4]]", "[::1", "::1]",
        ":::", "1::2::3", "12345::", "g::1", "::1/128", "1.2.3.4/32",
        "fe80::1%eth0", "IPv6:", "IPv6:1.2.3.4", "IPv6:[::1]", "[IPv6:]",
        "IPv4:1.2.3.4", "IPv6::1x", "IPv6 ::1", "::ffff:1.2.3.256",
        "1:2:3:4:5:6:7:8:9",
        "0000000000000000000000000000000000000000000000000000000000000::1",
        "00000000000000000000000000000000000000000000000000000000000000001",
    };
    struct netaddr a;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (netaddr_parse(&a, cases[i]) != -1)
            fail_msg("accepted \"%s\"", cases[i]);
}

/* test_netaddr_parse_n - counted input: length honoured, NUL refused */
static void
test_netaddr_parse_n(void **state)
{
    struct netaddr a;
    char    big[200];

    (void) state;
    assert_int_equal(netaddr_parse_n(&a, "10.0.0.1XYZ", 8), 0);
    assert_int_equal(a.family, AF_INET);
    assert_memory_equal(a.bytes, "\x0a\x00\x00\x01", 4);
    assert_int_equal(netaddr_parse_n(&a, "[::1]garbage", 5), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(netaddr_parse_n(&a, "10.0.0.1\0", 9), -1);
    assert_int_equal(netaddr_parse_n(&a, "10.0\0.0.1", 9), -1);
    assert_int_equal(netaddr_parse_n(&a, "10.0.0.1", 0), -1);
    memset(big, '1', sizeof(big));
    assert_int_equal(netaddr_parse_n(&a, big, sizeof(big)), -1);
}

/* test_netaddr_zero_fill - unused bytes are zero, also after reuse */
static void
test_netaddr_zero_fill(void **state)
{
    struct netaddr a;
    static const unsigned char zero[12];

    (void) state;
    assert_int_equal(netaddr_parse(&a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
                                   "ffff"), 0);
    assert_int_equal(netaddr_parse(&a, "9.8.7.6"), 0);
    assert_memory_equal(a.bytes, "\x09\x08\x07\x06", 4);
    assert_memory_equal(a.bytes + 4, zero, 12);
    assert_int_equal(netaddr_len(&a), 4);
    assert_int_equal(netaddr_parse(&a, "::2"), 0);
    assert_int_equal(netaddr_len(&a), 16);
    a.family = AF_UNIX;
    assert_int_equal(netaddr_len(&a), 0);
}

/* test_netaddr_format_errors - small buffers and unknown families */
static void
test_netaddr_format_errors(void **state)
{
    struct netaddr a;
    char    buf[NETADDR_TEXT_MAX];

    (void) state;
    assert_int_equal(netaddr_parse(&a, "192.168.100.200"), 0);
    assert_int_equal(netaddr_format(&a, buf, 16), 0);
    assert_string_equal(buf, "192.168.100.200");
    buf[0] = 'x';
    assert_int_equal(netaddr_format(&a, buf, 15), -1);
    assert_string_equal(buf, "");
    assert_int_equal(netaddr_format(&a, buf, 0), -1);
    assert_int_equal(netaddr_parse(&a, "1111:2222:3333:4444:5555:6666:"
                                   "7777:8888"), 0);
    assert_int_equal(netaddr_format(&a, buf, 39), -1);
    assert_int_equal(netaddr_format(&a, buf, 40), 0);
    assert_string_equal(buf, "1111:2222:3333:4444:5555:6666:7777:8888");
    memset(&a, 0, sizeof(a));
    assert_int_equal(netaddr_format(&a, buf, sizeof(buf)), -1);
}

/* test_netaddr_unmap - mapped v6 becomes v4; everything else is copied */
static void
test_netaddr_unmap(void **state)
{
    static const char *const not_mapped[] = {
        "::1.2.3.4", "::fffe:1.2.3.4", "1::ffff:1.2.3.4", "::ffff:0:1.2.3.4",
        "2001:db8::1",
    };
    struct netaddr m, v4, out;
    char    buf[NETADDR_TEXT_MAX];
    size_t  i;

    (void) state;
    assert_int_equal(netaddr_parse(&m, "::ffff:10.1.2.3"), 0);
    assert_true(netaddr_is_mapped(&m));
    assert_int_equal(netaddr_unmap(&out, &m), 1);
    assert_int_equal(out.family, AF_INET);
    assert_int_equal(netaddr_parse(&v4, "10.1.2.3"), 0);
    assert_true(netaddr_equal(&out, &v4));
    assert_false(netaddr_equal(&m, &v4));

    /* in place */
    assert_int_equal(netaddr_unmap(&m, &m), 1);
    assert_true(netaddr_equal(&m, &v4));
    assert_memory_equal(&m, &v4, sizeof(m));

    /* not mapped: unchanged copies, return 0 */
    assert_false(netaddr_is_mapped(&v4));
    assert_int_equal(netaddr_unmap(&out, &v4), 0);
    assert_true(netaddr_equal(&out, &v4));
    for (i = 0; i < sizeof(not_mapped) / sizeof(not_mapped[0]); i++) {
        assert_int_equal(netaddr_parse(&m, not_mapped[i]), 0);
        assert_false(netaddr_is_mapped(&m));
        assert_int_equal(netaddr_unmap(&out, &m), 0);
        assert_int_equal(out.family, AF_INET6);
        assert_int_equal(netaddr_format(&out, buf, sizeof(buf)), 0);
        assert_true(netaddr_equal(&out, &m));
    }
}

/* test_netaddr_compare - family first, then bytes; a total order */
static void
test_netaddr_compare(void **state)
{
    static const char *const sorted[] = {
        "0.0.0.0", "1.2.3.4", "1.2.3.5", "10.0.0.0", "255.255.255.255",
        "::", "::1", "::ffff:0.0.0.0", "2001:db8::", "ffff::",
    };
    struct netaddr a, b;
    size_t  i, j;
    int     c;

    (void) state;
    assert_true(AF_INET < AF_INET6);
    for (i = 0; i < sizeof(sorted) / sizeof(sorted[0]); i++) {
        for (j = 0; j < sizeof(sorted) / sizeof(sorted[0]); j++) {
            assert_int_equal(netaddr_parse(&a, sorted[i]), 0);
            assert_int_equal(netaddr_parse(&b, sorted[j]), 0);
            c = netaddr_compare(&a, &b);
            if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0))
                fail_msg("compare(%s, %s) = %d", sorted[i], sorted[j], c);
            assert_int_equal(netaddr_equal(&a, &b), i == j);
        }
    }
}

/* test_netaddr_sockaddr_v4 - to and from struct sockaddr_in */
static void
test_netaddr_sockaddr_v4(void **state)
{
    struct netaddr a, b;
    struct sockaddr_storage ss;
    struct sockaddr_in sin;
    socklen_t len = 0;
    unsigned port = 0;

    (void) state;
    assert_int_equal(netaddr_parse(&a, "192.0.2.33"), 0);
    assert_int_equal(netaddr_to_sockaddr(&a, 2526, &ss, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    memcpy(&sin, &ss, sizeof(sin));
    assert_int_equal(sin.sin_family, AF_INET);
    assert_int_equal(ntohs(sin.sin_port), 2526);
    assert_int_equal(ntohl(sin.sin_addr.s_addr), 0xc0000221);
    assert_int_equal(netaddr_from_sockaddr(&b, &port, (struct sockaddr *) &ss,
                                           len), 0);
    assert_int_equal(port, 2526);
    assert_true(netaddr_equal(&a, &b));
    assert_int_equal(netaddr_from_sockaddr(&b, NULL, (struct sockaddr *) &ss,
                                           len), 0);
    assert_true(netaddr_equal(&a, &b));

    /* too short for the family */
    assert_int_equal(netaddr_from_sockaddr(&b, &port, (struct sockaddr *) &ss,
                                           len - 1), -1);
    assert_int_equal(netaddr_from_sockaddr(&b, &port, (struct sockaddr *) &ss,
                                           1), -1);
    assert_int_equal(netaddr_from_sockaddr(&b, &port, NULL, len), -1);
    /* port range */
    assert_int_equal(netaddr_to_sockaddr(&a, 65535, &ss, &len), 0);
    assert_int_equal(netaddr_to_sockaddr(&a, 65536, &ss, &len), -1);
}

/* test_netaddr_sockaddr_v6 - to and from struct sockaddr_in6 */
static void
test_netaddr_sockaddr_v6(void **state)
{
    struct netaddr a, b;
    struct sockaddr_storage ss;
    struct sockaddr_in6 sin6;
    socklen_t len = 0;
    unsigned port = 1;
    char    buf[NETADDR_TEXT_MAX];

    (void) state;
    assert_int_equal(netaddr_parse(&a, "2001:db8::25"), 0);
    assert_int_equal(netaddr_to_sockaddr(&a, 0, &ss, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    memcpy(&sin6, &ss, sizeof(sin6));
    assert_int_equal(sin6.sin6_family, AF_INET6);
    assert_int_equal(sin6.sin6_port, 0);
    assert_int_equal(sin6.sin6_scope_id, 0);
    assert_non_null(inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof(buf)));
    assert_string_equal(buf, "2001:db8::25");

    /* a scope id is dropped, the address kept */
    sin6.sin6_scope_id = 3;
    sin6.sin6_port = htons(25);
    assert_int_equal(netaddr_from_sockaddr(&b, &port,
                                           (struct sockaddr *) &sin6,
                                           sizeof(sin6)), 0);
    assert_int_equal(port, 25);
    assert_true(netaddr_equal(&a, &b));
    assert_int_equal(netaddr_from_sockaddr(&b, &port,
                                           (struct sockaddr *) &sin6,
                                           sizeof(struct sockaddr_in)), -1);
}

/* test_netaddr_sockaddr_other - other families are refused */
static void
test_netaddr_sockaddr_other(void **state)
{
    struct sockaddr_storage ss;
    struct netaddr a;
    socklen_t len;

    (void) state;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    assert_int_equal(netaddr_from_sockaddr(&a, NULL, (struct sockaddr *) &ss,
                                           sizeof(ss)), -1);
    memset(&a, 0, sizeof(a));
    a.family = AF_UNIX;
    assert_int_equal(netaddr_to_sockaddr(&a, 25, &ss, &len), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netaddr_parse_good),
        cmocka_unit_test(test_netaddr_parse_bad),
        cmocka_unit_test(test_netaddr_parse_n),
        cmocka_unit_test(test_netaddr_zero_fill),
        cmocka_unit_test(test_netaddr_format_errors),
        cmocka_unit_test(test_netaddr_unmap),
        cmocka_unit_test(test_netaddr_compare),
        cmocka_unit_test(test_netaddr_sockaddr_v4),
        cmocka_unit_test(test_netaddr_sockaddr_v6),
        cmocka_unit_test(test_netaddr_sockaddr_other),
    };

    return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
