/* test_smtpd_xclient - unit tests for smtpd/smtpd_xclient: the attribute parser and the lists. */

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"
#include "smtpd/smtpd_xclient.h"
#include "testutil.h"

#define BIT(a) SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_##a)
#define VAL(x, a) ((x)->value[SMTPD_XCLIENT_A_##a])

static struct smtpd_xclient_attrs attrs;
static struct dstr *reply;

/* parse - run the parser on a C string; 0 or -1 */
static int
parse(enum smtpd_xclient_cmd cmd, const char *line)
{
    if (reply == NULL)
        reply = dstr_new(64, 1024);
    dstr_reset(reply);
    return smtpd_xclient_parse(cmd, line, strlen(line), &attrs, reply);
}

/* xclient_fails - the XCLIENT line is refused with exactly this reply */
static void
xclient_fails(const char *line, const char *expected)
{
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, line), -1);
    assert_string_equal(reply->data, expected);
}

/* test_xclient_all - every attribute, names in any case */
static void
test_xclient_all(void **state)
{
    char    text[NETADDR_TEXT_MAX];

    (void) state;
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "NAME=mail.example.org "
                           "addr=192.0.2.1 Port=4711 PROTO=esmtp "
                           "HELO=helo.example.org LOGIN=bob "
                           "REVERSE_NAME=rev.example.org "
                           "DESTADDR=IPV6:2001:db8::25 DESTPORT=25"), 0);
    assert_int_equal(attrs.seen, BIT(NAME) | BIT(ADDR) | BIT(PORT)
                     | BIT(PROTO) | BIT(HELO) | BIT(LOGIN)
                     | BIT(REVERSE_NAME) | BIT(DESTADDR) | BIT(DESTPORT));
    assert_int_equal(attrs.unavailable, 0);
    assert_string_equal(VAL(&attrs, NAME), "mail.example.org");
    assert_string_equal(VAL(&attrs, REVERSE_NAME), "rev.example.org");
    assert_string_equal(VAL(&attrs, ADDR), "192.0.2.1");
    assert_int_equal(attrs.addr.family, AF_INET);
    assert_int_equal(attrs.port, 4711);
    assert_string_equal(VAL(&attrs, PROTO), "ESMTP");
    assert_string_equal(VAL(&attrs, HELO), "helo.example.org");
    assert_string_equal(VAL(&attrs, LOGIN), "bob");
    assert_int_equal(attrs.destaddr.family, AF_INET6);
    assert_int_equal(netaddr_format(&attrs.destaddr, text, sizeof(text)), 0);
    assert_string_equal(text, "2001:db8::25");
    assert_string_equal(VAL(&attrs, DESTADDR), "2001:db8::25");
    assert_int_equal(attrs.destport, 25);
    assert_string_equal(smtpd_xclient_attr_name(SMTPD_XCLIENT_A_DESTPORT),
                        "DESTPORT");
    assert_null(smtpd_xclient_attr_name(SMTPD_XCLIENT_A_COUNT));
}

/* test_xclient_addr - IPv4, the IPv6: tag in any case, mapped, refusals */
static void
test_xclient_addr(void **state)
{
    (void) state;
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "ADDR=ipv6:2001:DB8:0::1"),
                     0);
    assert_int_equal(attrs.addr.family, AF_INET6);
    assert_string_equal(VAL(&attrs, ADDR), "2001:db8::1");
    /* an IPv4-mapped address is the IPv4 client */
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT,
                           "ADDR=IPv6:::ffff:192.0.2.9"), 0);
    assert_int_equal(attrs.addr.family, AF_INET);
    assert_string_equal(VAL(&attrs, ADDR), "192.0.2.9");
    xclient_fails("ADDR=[192.0.2.1]", "501 5.5.4 Bad ADDR syntax: [192.0.2.1]");
    xclient_fails("ADDR=IPv6:192.0.2.1",
                  "501 5.5.4 Bad ADDR syntax: IPv6:192.0.2.1");
    xclient_fails("ADDR=192.0.2", "501 5.5.4 Bad ADDR syntax: 192.0.2");
    xclient_fails("ADDR=mail.example", "501 5.5.4 Bad ADDR syntax: "
                  "mail.example");
    xclient_fails("ADDR=[TEMPUNAVAIL]",
                  "501 5.5.4 Bad ADDR syntax: [TEMPUNAVAIL]");
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "ADDR=[UNAVAILABLE]"), 0);
    assert_int_equal(attrs.unavailable, BIT(ADDR));
    assert_string_equal(VAL(&attrs, ADDR), "unknown");
}

/* test_xclient_name - host names only; the unavailable forms */
static void
test_xclient_name(void **state)
{
    (void) state;
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "NAME=[UNAVAILABLE] "
                           "REVERSE_NAME=[TEMPUNAVAIL]"), 0);
    assert_string_equal(VAL(&attrs, NAME), "unknown");
    assert_string_equal(VAL(&attrs, REVERSE_NAME), "unknown");
    assert_int_equal(attrs.unavailable, BIT(NAME) | BIT(REVERSE_NAME));
    assert_int_equal(attrs.tempunavail, BIT(REVERSE_NAME));
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "NAME=a-b_c.example"), 0);
    xclient_fails("NAME=192.0.2.1", "501 5.5.4 Bad NAME syntax: 192.0.2.1");
    xclient_fails("NAME=bad!name", "501 5.5.4 Bad NAME syntax: bad!name");
    xclient_fails("NAME=a..b", "501 5.5.4 Bad NAME syntax: a..b");
    xclient_fails("NAME=.a", "501 5.5.4 Bad NAME syntax: .a");
    /* a label of 64 octets is one too many */
    xclient_fails("NAME=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaa.example",
                  "501 5.5.4 Bad NAME syntax: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

/* test_xclient_values - ports, PROTO, HELO neutered, xtext */
static void
test_xclient_values(void **state)
{
    (void) state;
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "PORT=65535 DESTPORT=0"), 0);
    assert_int_equal(attrs.port, 65535);
    assert_int_equal(attrs.destport, 0);
    xclient_fails("PORT=65536", "501 5.5.4 Bad PORT syntax: 65536");
    xclient_fails("PORT=012345", "501 5.5.4 Bad PORT syntax: 012345");
    xclient_fails("PORT=2a", "501 5.5.4 Bad PORT syntax: 2a");
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "PORT=[UNAVAILABLE]"), 0);
    assert_int_equal(attrs.port, 0);
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "PROTO=smtp"), 0);
    assert_string_equal(VAL(&attrs, PROTO), "SMTP");
    xclient_fails("PROTO=LMTP", "501 5.5.4 Bad PROTO syntax: LMTP");
    xclient_fails("PROTO=[UNAVAILABLE]",
                  "501 5.5.4 Bad PROTO syntax: [UNAVAILABLE]");
    /* xtext: "+20" is a space, which a header must not get raw */
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT,
                           "HELO=x+20<y>+2Bz LOGIN=a+3Db"), 0);
    assert_string_equal(VAL(&attrs, HELO), "x??y?+z");
    assert_string_equal(VAL(&attrs, LOGIN), "a=b");
    /* decoded control bytes are not passed on */
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "LOGIN=a+0Db+0A"), 0);
    assert_string_equal(VAL(&attrs, LOGIN), "a?b?");
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "HELO=[UNAVAILABLE] "
                           "LOGIN=[UNAVAILABLE]"), 0);
    assert_int_equal(attrs.unavailable, BIT(HELO) | BIT(LOGIN));
    assert_string_equal(VAL(&attrs, HELO), "");
    /* the last of two counts */
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, "NAME=[UNAVAILABLE] "
                           "name=b.example"), 0);
    assert_string_equal(VAL(&attrs, NAME), "b.example");
    assert_int_equal(attrs.unavailable, 0);
}

/* test_xclient_syntax - the 501 replies */
static void
test_xclient_syntax(void **state)
{
    char    line[4096];
    size_t  i;

    (void) state;
    xclient_fails("", "501 5.5.4 Syntax: XCLIENT attribute=value...");
    xclient_fails(" \t ", "501 5.5.4 Syntax: XCLIENT attribute=value...");
    xclient_fails("NAME", "501 5.5.4 Error: attribute=value expected");
    xclient_fails("NAME=", "501 5.5.4 Error: attribute=value expected");
    xclient_fails("=x", "501 5.5.4 Error: attribute=value expected");
    xclient_fails("NAME=a.example FOO=bar",
                  "501 5.5.4 Bad XCLIENT attribute name: FOO");
    xclient_fails("IDENT=x", "501 5.5.4 Bad XCLIENT attribute name: IDENT");
    xclient_fails("HELO=a+zz",
                  "501 5.5.4 Bad HELO syntax: a+zz (malformed xtext)");
    xclient_fails("HELO=a=b",
                  "501 5.5.4 Bad HELO syntax: a=b (malformed xtext)");
    xclient_fails("NAME=a+00b", "501 5.5.4 Bad NAME syntax: a");
    xclient_fails("N\x01ME=x", "501 5.5.4 Bad XCLIENT attribute name: N?ME");
    /* 255 decoded octets pass, 256 do not */
    memcpy(line, "HELO=", 5);
    for (i = 0; i < 256; i++)
        line[5 + i] = 'h';
    line[5 + 255] = '\0';
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, line), 0);
    assert_int_equal(strlen(VAL(&attrs, HELO)), 255);
    line[5 + 255] = 'h';
    line[5 + 256] = '\0';
    xclient_fails(line, "501 5.5.4 Error: attribute value too long");
    /* far too long, in xtext */
    for (i = 0; i < 1000; i++)
        memcpy(line + 5 + 3 * i, "+41", 3);
    line[5 + 3000] = '\0';
    xclient_fails(line, "501 5.5.4 Error: attribute value too long");
    /* a bounded number of pairs */
    for (i = 0; i < SMTPD_XCLIENT_PAIRS_MAX + 1; i++)
        memcpy(line + 7 * i, "PORT=1 ", 7);
    line[7 * i] = '\0';
    xclient_fails(line, "501 5.5.4 Error: too many attributes");
    line[7 * (i - 1)] = '\0';
    assert_int_equal(parse(SMTPD_XCLIENT_XCLIENT, line), 0);
}

/* test_xforward - its own attributes and rules */
static void
test_xforward(void **state)
{
    (void) state;
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "NAME=up<stream> "
                           "ADDR=IPv6:2001:db8::7 PORT=2525 PROTO=LMTP+20x "
                           "HELO=h.example IDENT=4Xy+3Bz SOURCE=local"), 0);
    assert_int_equal(attrs.seen, BIT(NAME) | BIT(ADDR) | BIT(PORT)
                     | BIT(PROTO) | BIT(HELO) | BIT(IDENT) | BIT(SOURCE));
    /* not necessarily in the DNS, but fit for a header */
    assert_string_equal(VAL(&attrs, NAME), "up?stream?");
    assert_string_equal(VAL(&attrs, ADDR), "2001:db8::7");
    assert_int_equal(attrs.port, 2525);
    assert_string_equal(VAL(&attrs, PROTO), "LMTP?x");
    assert_string_equal(VAL(&attrs, IDENT), "4Xy?z");
    assert_string_equal(VAL(&attrs, SOURCE), "LOCAL");
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "NAME=[UNAVAILABLE] "
                           "ADDR=[UNAVAILABLE] HELO=[UNAVAILABLE]"), 0);
    assert_string_equal(VAL(&attrs, NAME), "unknown");
    assert_string_equal(VAL(&attrs, ADDR), "unknown");
    assert_string_equal(VAL(&attrs, HELO), "");
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "NAME=10.1.2.3"), 0);
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "SOURCE=elsewhere"), -1);
    assert_string_equal(reply->data, "501 5.5.4 Bad SOURCE syntax: elsewhere");
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "LOGIN=bob"), -1);
    assert_string_equal(reply->data,
                        "501 5.5.4 Bad XFORWARD attribute name: LOGIN");
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "PROTO=aaaaaaaaaaaaaaaaaaaa"
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), -1);
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, ""), -1);
    assert_string_equal(reply->data,
                        "501 5.5.4 Syntax: XFORWARD attribute=value...");
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "NAME=[TEMPUNAVAIL]"), 0);
    assert_int_equal(parse(SMTPD_XCLIENT_XFORWARD, "PORT=99999"), -1);
}

/* test_compile - the authorization lists: CIDR, errors named */
static void
test_compile(void **state)
{
    struct params good, bad;
    char   *good_items[] = {"127.0.0.0/8", "[::1]"};
    char   *bad_items[] = {"127.0.0.0/8", "localhost"};
    struct dstr *errors = dstr_new(64, 4096);
    const char *first;

    (void) state;
    memset(&good, 0, sizeof(good));
    memset(&bad, 0, sizeof(bad));
    good.smtpd_authorized_xclient_hosts.items = good_items;
    good.smtpd_authorized_xclient_hosts.count = 2;
    bad.smtpd_authorized_xforward_hosts.items = bad_items;
    bad.smtpd_authorized_xforward_hosts.count = 2;
    assert_int_equal(smtpd_xclient_compile(&good, errors), 0);
    assert_int_equal(errors->len, 0);
    assert_int_equal(smtpd_xclient_compile(&bad, errors), -1);
    assert_non_null(strstr(errors->data, "smtpd_authorized_xforward_hosts: "
                           "\"localhost\""));
    /* cached: the same error is not appended twice */
    assert_int_equal(smtpd_xclient_compile(&bad, errors), -1);
    first = strstr(errors->data, "smtpd_authorized_xforward_hosts");
    assert_null(strstr(first + 1, "smtpd_authorized_xforward_hosts"));
    smtpd_xclient_flush();
    dstr_free(errors);
}

/* teardown - free the reply buffer */
static int
teardown(void **state)
{
    (void) state;
    reply = dstr_free(reply);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xclient_all),
        cmocka_unit_test(test_xclient_addr),
        cmocka_unit_test(test_xclient_name),
        cmocka_unit_test(test_xclient_values),
        cmocka_unit_test(test_xclient_syntax),
        cmocka_unit_test(test_xforward),
        cmocka_unit_test(test_compile),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
