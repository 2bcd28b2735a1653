/* test_cidr - unit tests for util/cidr: parse, match, format, lists. */

#include <string.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/netaddr.h"
#include "testutil.h"

/* test_cidr_parse_good - accepted forms and their canonical text */
static void
test_cidr_parse_good(void **state)
{
    static const struct {
        const char *text;
        const char *canonical;
    } cases[] = {
        {"10.0.0.0/8", "10.0.0.0/8"},
        {"192.168.1.0/24", "192.168.1.0/24"},
        {"192.0.2.1", "192.0.2.1/32"},
        {"192.0.2.1/32", "192.0.2.1/32"},
        {"[192.0.2.1]", "192.0.2.1/32"},
        {"[10.0.0.0]/8", "10.0.0.0/8"},
        {"0.0.0.0/0", "0.0.0.0/0"},
        {"128.0.0.0/1", "128.0.0.0/1"},
        {"10.0.0.0/08", "10.0.0.0/8"},
        {"2001:db8::/32", "2001:db8::/32"},
        {"[2001:db8::]/32", "2001:db8::/32"},
        {"[2001:DB8::]/32", "2001:db8::/32"},
        {"::1", "::1/128"},
        {"[::1]", "::1/128"},
        {"[::1]/128", "::1/128"},
        {"::/0", "::/0"},
        {"[::]/0", "::/0"},
        {"fe80::/10", "fe80::/10"},
        {"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"},
        {"2001:db8:8000::/33", "2001:db8:8000::/33"},
    };
    struct cidr net;
    struct dstr *why = dstr_new(64, 1024);
    char    buf[CIDR_TEXT_MAX];
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_set_str(why, "untouched");
        if (cidr_parse(&net, cases[i].text, why) != 0)
            fail_msg("refused \"%s\": %s", cases[i].text, why->data);
        assert_string_equal(why->data, "untouched");
        assert_int_equal(cidr_format(&net, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].canonical);
    }
    dstr_free(why);
}

/* test_cidr_parse_bad - every error, with the reason worded for people */
static void
test_cidr_parse_bad(void **state)
{
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"", "\"\": empty network (use 10.0.0.0/8 or [2001:db8::]/32)"},
        {"foo", "\"foo\": not an IPv4 or IPv6 network (use 10.0.0.0/8 or "
         "[2001:db8::]/32)"},
        {"example.com/24", "not an IPv4 or IPv6 network"},
        {"/8", "not an IPv4 or IPv6 network"},
        {"10/8", "not an IPv4 or IPv6 network"},
        {"10.0.0/24", "not an IPv4 or IPv6 network"},
        {"[2001:db8::/32]", "not an IPv4 or IPv6 network"},
        {"[2001:db8::]32", "not an IPv4 or IPv6 network"},
        {"IPv6:::1", "not an IPv4 or IPv6 network"},
        {"[IPv6:::1]", "not an IPv4 or IPv6 network"},
        {" 10.0.0.0/8", "not an IPv4 or IPv6 network"},
        {"10.0.0.0 /8", "not an IPv4 or IPv6 network"},
        {"10.0.0.0/", "\"10.0.0.0/\": bad prefix length \"\" (use 0 to 32)"},
        {"10.0.0.0/33", "bad prefix length \"33\" (use 0 to 32)"},
        {"10.0.0.0/-1", "bad prefix length \"-1\" (use 0 to 32)"},
        {"10.0.0.0/+8", "bad prefix length \"+8\""},
        {"10.0.0.0/ 8", "bad prefix length \" 8\""},
        {"10.0.0.0/8 ", "bad prefix length \"8 \""},
        {"10.0.0.0/0008", "bad prefix length \"0008\""},
        {"10.0.0.0/x", "bad prefix length \"x\""},
        {"10.0.0.0/8/8", "bad prefix length \"8/8\""},
        {"::/129", "bad prefix length \"129\" (use 0 to 128)"},
        {"::/999", "bad prefix length \"999\" (use 0 to 128)"},
        {"10.1.2.3/8", "\"10.1.2.3/8\": address has bits set beyond the /8 "
         "prefix (use 10.0.0.0/8)"},
        {"10.0.0.1/31", "beyond the /31 prefix (use 10.0.0.0/31)"},
        {"192.168.1.128/24", "(use 192.168.1.0/24)"},
        {"1.0.0.0/0", "(use 0.0.0.0/0)"},
        {"2001:db8::1/32", "beyond the /32 prefix (use 2001:db8::/32)"},
        {"[2001:db8:ffff::]/33", "(use 2001:db8:8000::/33)"},
        {"::1/0", "(use ::/0)"},
        {"::ffff:0:0/80", "(use ::/80)"},
    };
    struct cidr net;
    struct dstr *why = dstr_new(64, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(why);
        if (cidr_parse(&net, cases[i].text, why) != -1)
            fail_msg("accepted \"%s\"", cases[i].text);
        if (strstr(why->data, cases[i].why) == NULL)
            fail_msg("\"%s\": reason \"%s\", want \"%s\"", cases[i].text,
                     why->data, cases[i].why);
        /* and why may be NULL */
        assert_int_equal(cidr_parse(&net, cases[i].text, NULL), -1);
    }
    dstr_free(why);
}

/* test_cidr_parse_long - over-long input is refused, its quote cut */
static void
test_cidr_parse_long(void **state)
{
    char    text[CIDR_ITEM_MAX + 2];
    struct cidr net;
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    memset(text, '1', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(cidr_parse(&net, text, why), -1);
    assert_non_null(strstr(why->data, "...\": too long for a network"));
    assert_true(why->len < 150);

    /* exactly at the limit: parsed (and refused as no address) */
    text[CIDR_ITEM_MAX] = '\0';
    assert_int_equal(cidr_parse(&net, text, why), -1);
    assert_non_null(strstr(why->data, "not an IPv4 or IPv6 network"));
    dstr_free(why);
}

/* test_cidr_parse_why_limit - a tiny why buffer does not break parsing */
static void
test_cidr_parse_why_limit(void **state)
{
    struct cidr net;
    struct dstr *why = dstr_new(4, 8);

    (void) state;
    assert_int_equal(cidr_parse(&net, "10.1.2.3/8", why), -1);
    assert_true(why->len <= 8);
    assert_int_equal(cidr_parse(&net, "10.0.0.0/8", why), 0);
    dstr_free(why);
}

/* test_cidr_match - table of (network, address, expected) */
static void
test_cidr_match(void **state)
{
    static const struct {
        const char *net;
        const char *addr;
        int     match;
    } cases[] = {
        {"10.0.0.0/8", "10.0.0.0", 1},
        {"10.0.0.0/8", "10.255.255.255", 1},
        {"10.0.0.0/8", "11.0.0.0", 0},
        {"10.0.0.0/8", "9.255.255.255", 0},
        {"192.168.1.128/25", "192.168.1.127", 0},
        {"192.168.1.128/25", "192.168.1.128", 1},
        {"192.168.1.128/25", "192.168.1.255", 1},
        {"192.0.2.1", "192.0.2.1", 1},
        {"192.0.2.1", "192.0.2.2", 0},
        {"0.0.0.0/0", "1.2.3.4", 1},
        {"0.0.0.0/0", "255.255.255.255", 1},
        {"128.0.0.0/1", "127.255.255.255", 0},
        {"128.0.0.0/1", "128.0.0.1", 1},
        {"10.0.0.0/9", "10.127.0.1", 1},
        {"10.0.0.0/9", "10.128.0.1", 0},
        {"2001:db8::/32", "2001:db8::1", 1},
        {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1},
        {"2001:db8::/32", "2001:db9::", 0},
        {"2001:db8:8000::/33", "2001:db8:7fff::1", 0},
        {"2001:db8:8000::/33", "2001:db8:8000::1", 1},
        {"::1", "::1", 1},
        {"::1", "::2", 0},
        {"::/0", "2001:db8::1", 1},
        {"fe80::/10", "febf::1", 1},
        {"fe80::/10", "fec0::1", 0},
        /* families do not mix */
        {"0.0.0.0/0", "::1", 0},
        {"::/0", "1.2.3.4", 0},
        {"::/0", "::ffff:1.2.3.4", 0},
        {"10.0.0.0/8", "::a00:1", 0},
        /* a mapped client is its IPv4 address */
        {"10.0.0.0/8", "::ffff:10.1.2.3", 1},
        {"10.0.0.0/8", "::ffff:11.1.2.3", 0},
        {"0.0.0.0/0", "::ffff:1.2.3.4", 1},
        {"192.0.2.1", "::ffff:192.0.2.1", 1},
        /* and a mapped network is an IPv4 network */
        {"::ffff:10.0.0.0/104", "10.1.2.3", 1},
        {"::ffff:10.0.0.0/104", "::ffff:10.1.2.3", 1},
        {"::ffff:10.0.0.0/104", "11.1.2.3", 0},
        {"::ffff:0.0.0.0/96", "203.0.113.9", 1},
        {"::ffff:192.0.2.1", "192.0.2.1", 1},
        {"::ffff:192.0.2.1", "2001:db8::1", 0},
    };
    struct cidr net;
    struct netaddr addr;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cidr_parse(&net, cases[i].net, NULL), 0);
        assert_int_equal(netaddr_parse(&addr, cases[i].addr), 0);
        if (cidr_match(&net, &addr) != cases[i].match)
            fail_msg("match(%s, %s) != %d", cases[i].net, cases[i].addr,
                     cases[i].match);
    }
}

/* test_cidr_match_every_prefix - each length splits where it should */
static void
test_cidr_match_every_prefix(void **state)
{
    struct cidr net;
    struct netaddr inside, outside;
    int     p;

    (void) state;
    for (p = 1; p <= 128; p++) {
        memset(&net, 0, sizeof(net));
        net.addr.family = AF_INET6;
        net.prefix = p;
        /* address with only bit p-1 set: outside; bit p set: inside */
        memset(&outside, 0, sizeof(outside));
        outside.family = AF_INET6;
        outside.bytes[(p - 1) / 8] = (unsigned char) (0x80 >> ((p - 1) % 8));
        inside = outside;
        memset(inside.bytes, 0, sizeof(inside.bytes));
        if (p < 128)
            inside.bytes[p / 8] = (unsigned char) (0x80 >> (p % 8));
        if (!cidr_match(&net, &inside))
            fail_msg("/%d: does not match its own host", p);
        if (cidr_match(&net, &outside))
            fail_msg("/%d: matches a different network", p);
    }
}

/* test_cidr_format_small - buffer too small */
static void
test_cidr_format_small(void **state)
{
    struct cidr net;
    char    buf[CIDR_TEXT_MAX];

    (void) state;
    assert_int_equal(cidr_parse(&net, "10.0.0.0/8", NULL), 0);
    assert_int_equal(cidr_format(&net, buf, 11), 0);
    assert_string_equal(buf, "10.0.0.0/8");
    assert_int_equal(cidr_format(&net, buf, 10), -1);
    assert_string_equal(buf, "");
    assert_int_equal(cidr_format(&net, buf, 0), -1);
}

/* test_cidr_list - negation, order, first match wins */
static void
test_cidr_list(void **state)
{
    char   *items[] = {
        "!10.1.0.0/16", "10.0.0.0/8", "[::1]", "!2001:db8::/48",
        "2001:db8::/32", "192.0.2.1",
    };
    static const struct {
        const char *addr;
        int     match;
    } cases[] = {
        {"10.2.3.4", 1},
        {"10.1.3.4", 0},
        {"::ffff:10.1.3.4", 0},
        {"::ffff:10.2.3.4", 1},
        {"11.0.0.1", 0},
        {"::1", 1},
        {"::2", 0},
        {"2001:db8::1", 0},
        {"2001:db8:1::1", 1},
        {"192.0.2.1", 1},
        {"192.0.2.2", 0},
    };
    char   *swapped[] = {"10.0.0.0/8", "!10.1.0.0/16"};
    struct cidr_list *list;
    struct netaddr addr;
    size_t  i;

    (void) state;
    assert_int_equal(cidr_list_parse(&list, items, 6, NULL), 0);
    assert_non_null(list);
    assert_int_equal(cidr_list_count(list), 6);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(netaddr_parse(&addr, cases[i].addr), 0);
        if (cidr_list_match(list, &addr) != cases[i].match)
            fail_msg("list match %s != %d", cases[i].addr, cases[i].match);
    }
    list = cidr_list_free(list);
    assert_null(list);

    /* order matters: the same items the other way round */
    assert_int_equal(cidr_list_parse(&list, swapped, 2, NULL), 0);
    assert_int_equal(netaddr_parse(&addr, "10.1.3.4"), 0);
    assert_int_equal(cidr_list_match(list, &addr), 1);
    cidr_list_free(list);
}

/* test_cidr_list_empty - no items: nothing matches */
static void
test_cidr_list_empty(void **state)
{
    struct cidr_list *list;
    struct netaddr addr;

    (void) state;
    assert_int_equal(cidr_list_parse(&list, NULL, 0, NULL), 0);
    assert_int_equal(cidr_list_count(list), 0);
    assert_int_equal(netaddr_parse(&addr, "127.0.0.1"), 0);
    assert_int_equal(cidr_list_match(list, &addr), 0);
    cidr_list_free(list);
    assert_int_equal(cidr_list_match(NULL, &addr), 0);
    assert_int_equal(cidr_list_count(NULL), 0);
    assert_null(cidr_list_free(NULL));
}

/* test_cidr_list_errors - one bad item fails the list, quoted whole */
static void
test_cidr_list_errors(void **state)
{
    static const struct {
        const char *item;
        const char *why;
    } cases[] = {
        {"!", "\"!\": empty network"},
        {"!!10.0.0.0/8", "\"!!10.0.0.0/8\": one \"!\" is enough"},
        {"! 10.0.0.0/8", "\"! 10.0.0.0/8\": not an IPv4 or IPv6 network"},
        {"!10.0.0.1/8", "\"!10.0.0.1/8\": address has bits set beyond the "
         "/8 prefix (use 10.0.0.0/8)"},
        {"10.0.0.0/8,", "\"10.0.0.0/8,\": bad prefix length \"8,\""},
        {"hostname.example", "not an IPv4 or IPv6 network"},
        {"/etc/postfix/network_table", "not an IPv4 or IPv6 network"},
        {"cidr:/etc/postfix/n.cidr", "not an IPv4 or IPv6 network"},
    };
    char   *items[3];
    struct cidr_list *list;
    struct dstr *why = dstr_new(64, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        items[0] = "127.0.0.0/8";
        items[1] = (char *) cases[i].item;
        items[2] = "::1";
        dstr_reset(why);
        list = (struct cidr_list *) why;        /* must become NULL */
        assert_int_equal(cidr_list_parse(&list, items, 3, why), -1);
        assert_null(list);
        if (strstr(why->data, cases[i].why) == NULL)
            fail_msg("\"%s\": reason \"%s\", want \"%s\"", cases[i].item,
                     why->data, cases[i].why);
    }
    dstr_free(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse_good),
        cmocka_unit_test(test_cidr_parse_bad),
        cmocka_unit_test(test_cidr_parse_long),
        cmocka_unit_test(test_cidr_parse_why_limit),
        cmocka_unit_test(test_cidr_match),
        cmocka_unit_test(test_cidr_match_every_prefix),
        cmocka_unit_test(test_cidr_format_small),
        cmocka_unit_test(test_cidr_list),
        cmocka_unit_test(test_cidr_list_empty),
        cmocka_unit_test(test_cidr_list_errors),
    };

    return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
