/* test_smtpd_proxy - unit tests for smtpd/smtpd_proxy: the PROXY v1/v2 header parser. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "smtpd/smtpd_proxy.h"
#include "testutil.h"

#define SIG "0d0a0d0a000d0a515549540a"     /* the v2 signature, in hex */
#define TRAILER "EHLO client.example\r\n"  /* SMTP pipelined behind it */
#define BUF_MAX (SMTPD_PROXY_MAX + 64)

/* a header that must be accepted */
struct good {
    const char *name;
    const char *text;                  /* v1 text, or NULL */
    const char *hex;                   /* v2 bytes in hex, or NULL */
    int     version;
    int     local;
    const char *src, *dst;             /* netaddr_format(), if not local */
    unsigned src_port, dst_port;
};

/* a header that must be refused, with this reason */
struct bad {
    const char *name;
    const char *text;
    const char *hex;
    const char *why;
};

static const struct good good[] = {
    {"v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 50000 25\r\n", NULL,
     1, 0, "192.0.2.1", "198.51.100.2", 50000, 25},
    {"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:DB8::2 65535 0\r\n", NULL,
     1, 0, "2001:db8::1", "2001:db8::2", 65535, 0},
    {"v1 tcp6 mapped", "PROXY TCP6 ::ffff:192.0.2.7 ::1 1 587\r\n", NULL,
     1, 0, "::ffff:192.0.2.7", "::1", 1, 587},
    {"v1 unknown", "PROXY UNKNOWN\r\n", NULL, 1, 1, NULL, NULL, 0, 0},
    {"v1 unknown with addresses",
     "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", NULL,
     1, 1, NULL, NULL, 0, 0},              /* the 107-byte worst case */
    {"v2 proxy inet", NULL,
     SIG "21" "11" "000c" "c0000201" "c6336402" "c350" "0019",
     2, 0, "192.0.2.1", "198.51.100.2", 50000, 25},
    {"v2 proxy inet6 with TLVs", NULL,
     SIG "21" "21" "0031"
     "20010db8000000000000000000000001" "20010db8000000000000000000000002"
     "1f90" "01bb"
     "04" "0003" "000000"                  /* PP2_TYPE_NOOP */
     "05" "0004" "41424344",               /* PP2_TYPE_UNIQUE_ID */
     2, 0, "2001:db8::1", "2001:db8::2", 8080, 443},
    {"v2 local unspec", NULL, SIG "20" "00" "0000", 2, 1, NULL, NULL, 0, 0},
    {"v2 local with an inet block", NULL,
     SIG "20" "11" "000c" "7f000001" "7f000001" "0001" "0002",
     2, 1, NULL, NULL, 0, 0},
    {"v2 local unix", NULL, SIG "20" "31" "0000", 2, 1, NULL, NULL, 0, 0},
};

static const struct bad bad[] = {
    {"http", "GET / HTTP/1.0\r\n", NULL, "not a PROXY protocol header"},
    {"smtp", "EHLO client.example\r\n", NULL, "not a PROXY protocol header"},
    {"lower case", "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n", NULL,
     "not a PROXY protocol header"},
    {"bare lf", "PROXY TCP4 192.0.2.1 198.51.100.2 50000 25\n", NULL,
     "v1: LF without CR"},
    {"bare cr", "PROXY TCP4 192.0.2.1 198.51.100.2 50000 25\r\r", NULL,
     "v1: CR without LF"},
    {"tab", "PROXY TCP4\t192.0.2.1 198.51.100.2 1 2\r\n", NULL,
     "v1: a control or non-ASCII byte"},
    {"8 bit", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\x80\r\n", NULL,
     "v1: a control or non-ASCII byte"},
    {"no protocol", "PROXY \r\n", NULL, "v1: no protocol"},
    {"two spaces", "PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n", NULL,
     "v1: no protocol"},
    {"tcp5", "PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n", NULL,
     "v1: unknown protocol"},
    {"unknownx", "PROXY UNKNOWNX\r\n", NULL, "v1: unknown protocol"},
    {"udp4", "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", NULL,
     "v1: unknown protocol"},
    {"no fields", "PROXY TCP4\r\n", NULL, "v1: missing fields"},
    {"three fields", "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", NULL,
     "v1: missing fields"},
    {"five fields", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", NULL,
     "v1: too many fields"},
    {"trailing space", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n", NULL,
     "v1: too many fields"},
    {"empty field", "PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n", NULL,
     "v1: empty field (two spaces)"},
    {"v6 as tcp4", "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", NULL,
     "v1: bad TCP4 source address"},
    {"v4 as tcp6", "PROXY TCP6 192.0.2.1 ::1 1 2\r\n", NULL,
     "v1: bad TCP6 source address"},
    {"short v4", "PROXY TCP4 10.1 198.51.100.2 1 2\r\n", NULL,
     "v1: bad TCP4 source address"},
    {"octet 256", "PROXY TCP4 192.0.2.1 198.51.100.256 1 2\r\n", NULL,
     "v1: bad TCP4 destination address"},
    {"bracketed v4", "PROXY TCP4 [192.0.2.1] 198.51.100.2 1 2\r\n", NULL,
     "v1: bad TCP4 source address"},
    {"bracketed v6", "PROXY TCP6 [2001:db8::1] ::1 1 2\r\n", NULL,
     "v1: bad TCP6 source address"},
    {"tagged v6", "PROXY TCP6 IPv6:2001:db8::1 ::1 1 2\r\n", NULL,
     "v1: bad TCP6 source address"},
    {"zone id", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", NULL,
     "v1: bad TCP6 source address"},
    {"host name", "PROXY TCP4 localhost 198.51.100.2 1 2\r\n", NULL,
     "v1: bad TCP4 source address"},
    {"port 65536", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", NULL,
     "v1: bad source port"},
    {"leading zero", "PROXY TCP4 192.0.2.1 198.51.100.2 05000 25\r\n", NULL,
     "v1: bad source port"},
    {"signed port", "PROXY TCP4 192.0.2.1 198.51.100.2 +1 25\r\n", NULL,
     "v1: bad source port"},
    {"hex port", "PROXY TCP4 192.0.2.1 198.51.100.2 1 0x19\r\n", NULL,
     "v1: bad destination port"},
    {"port junk", "PROXY TCP4 192.0.2.1 198.51.100.2 1 25a\r\n", NULL,
     "v1: bad destination port"},
    {"long port", "PROXY TCP4 192.0.2.1 198.51.100.2 1 000025\r\n", NULL,
     "v1: bad destination port"},
    {"108 bytes",
     "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n", NULL,
     "v1: no CRLF within 107 bytes"},
    {"v2 version 1", NULL, SIG "11" "11" "000c", "v2: unsupported version 1"},
    {"v2 version 3", NULL, SIG "31", "v2: unsupported version 3"},
    {"v2 command 2", NULL, SIG "22" "11" "000c", "v2: unknown command 2"},
    {"v2 command 15", NULL, SIG "2f", "v2: unknown command 15"},
    {"v2 proxy unspec", NULL, SIG "21" "00" "0000",
     "v2: PROXY without an address family"},
    {"v2 proxy unix", NULL, SIG "21" "31" "00d8",
     "v2: PROXY for a unix socket client"},
    {"v2 proxy dgram", NULL, SIG "21" "12" "000c",
     "v2: PROXY for a transport other than STREAM"},
    {"v2 proxy unspec transport", NULL, SIG "21" "10" "000c",
     "v2: PROXY for a transport other than STREAM"},
    {"v2 family 4", NULL, SIG "21" "41" "000c",
     "v2: undefined family/transport 0x41"},
    {"v2 transport 3", NULL, SIG "20" "03" "0000",
     "v2: undefined family/transport 0x03"},
    {"v2 inet short", NULL, SIG "21" "11" "000b" "c0000201c6336402c35000",
     "v2: length 11 is shorter than the addresses (12)"},
    {"v2 inet6 short", NULL, SIG "21" "21" "000c" "c0000201c6336402c3500019",
     "v2: length 12 is shorter than the addresses (36)"},
    {"v2 inet long", NULL, SIG "21" "11" "100d",
     "v2: length 4109 is more than 4108"},
    {"v2 local long", NULL, SIG "20" "00" "10d9",
     "v2: length 4313 is more than 4312"},
    {"v2 local 64k", NULL, SIG "20" "00" "ffff",
     "v2: length 65535 is more than 4312"},
    {"v2 bad signature", NULL, "0d0a0d0a000d0a515549540b" "21",
     "not a PROXY protocol header"},
};

static struct dstr *why;

/* unhex - bytes from a hex string; their count */
static size_t
unhex(const char *hex, unsigned char *out, size_t size)
{
    size_t  n = 0;
    unsigned v;

    assert_int_equal(strlen(hex) % 2, 0);
    for (; *hex; hex += 2) {
        assert_true(n < size);
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        out[n++] = (unsigned char) v;
    }
    return n;
}

/* bytes_of - a table entry's header bytes */
static size_t
bytes_of(const char *text, const char *hex, unsigned char *out, size_t size)
{
    if (text != NULL) {
        assert_true(strlen(text) <= size);
        memcpy(out, text, strlen(text));
        return strlen(text);
    }
    return unhex(hex, out, size);
}

/* parse - run the parser with a fresh why */
static enum smtpd_proxy_result
parse(const unsigned char *buf, size_t len, struct smtpd_proxy_hdr *hdr,
      size_t *consumed)
{
    if (why == NULL)
        why = dstr_new(64, 1024);
    dstr_reset(why);
    return smtpd_proxy_parse(buf, len, hdr, consumed, why);
}

/* text_of - netaddr_format() of an address */
static const char *
text_of(const struct netaddr *a, char *buf)
{
    assert_int_equal(netaddr_format(a, buf, NETADDR_TEXT_MAX), 0);
    return buf;
}

/* check_good - hdr is what the table entry says */
static void
check_good(const struct good *g, const struct smtpd_proxy_hdr *hdr)
{
    char    buf[NETADDR_TEXT_MAX];

    assert_int_equal(hdr->version, g->version);
    assert_int_equal(hdr->local, g->local);
    if (g->local) {
        assert_int_equal(hdr->src.family, 0);
        assert_int_equal(hdr->src_port, 0);
        return;
    }
    assert_string_equal(text_of(&hdr->src, buf), g->src);
    assert_string_equal(text_of(&hdr->dst, buf), g->dst);
    assert_int_equal(hdr->src_port, g->src_port);
    assert_int_equal(hdr->dst_port, g->dst_port);
}

/*
 * test_good - every good header is accepted whole, is NEED_MORE at every
 * shorter length, and leaves SMTP bytes behind it alone.
 */
static void
test_good(void **state)
{
    unsigned char buf[BUF_MAX];
    struct smtpd_proxy_hdr hdr;
    size_t  i, k, n, consumed;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        n = bytes_of(good[i].text, good[i].hex, buf, sizeof(buf));
        if (parse(buf, n, &hdr, &consumed) != SMTPD_PROXY_OK)
            fail_msg("%s: refused: %s", good[i].name, why->data);
        assert_int_equal(consumed, n);
        assert_int_equal(why->len, 0);
        check_good(&good[i], &hdr);
        for (k = 0; k < n; k++)
            if (parse(buf, k, &hdr, &consumed) != SMTPD_PROXY_NEED_MORE)
                fail_msg("%s: not NEED_MORE at %zu of %zu bytes (%s)",
                         good[i].name, k, n, why->data);
        memcpy(buf + n, TRAILER, strlen(TRAILER));
        assert_int_equal(parse(buf, n + strlen(TRAILER), &hdr, &consumed),
                         SMTPD_PROXY_OK);
        assert_int_equal(consumed, n);
        check_good(&good[i], &hdr);
        /* a second header right behind is SMTP's problem, not ours */
        memcpy(buf + n, buf, n);
        assert_int_equal(parse(buf, 2 * n, &hdr, &consumed), SMTPD_PROXY_OK);
        assert_int_equal(consumed, n);
    }
}

/*
 * test_bad - every bad header is refused with its reason, with or
 * without bytes after it, and no prefix of it is ever accepted.
 */
static void
test_bad(void **state)
{
    unsigned char buf[BUF_MAX];
    struct smtpd_proxy_hdr hdr;
    size_t  i, k, n, consumed;
    enum smtpd_proxy_result r;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = bytes_of(bad[i].text, bad[i].hex, buf, sizeof(buf));
        if (parse(buf, n, &hdr, &consumed) != SMTPD_PROXY_BAD)
            fail_msg("%s: not refused", bad[i].name);
        if (strcmp(why->data, bad[i].why) != 0)
            fail_msg("%s: reason \"%s\", expected \"%s\"", bad[i].name,
                     why->data, bad[i].why);
        assert_int_equal(consumed, 0);
        memcpy(buf + n, TRAILER, strlen(TRAILER));
        assert_int_equal(parse(buf, n + strlen(TRAILER), &hdr, &consumed),
                         SMTPD_PROXY_BAD);
        assert_string_equal(why->data, bad[i].why);
        for (k = 0; k < n; k++) {
            r = parse(buf, k, &hdr, &consumed);
            if (r == SMTPD_PROXY_OK)
                fail_msg("%s: accepted at %zu bytes", bad[i].name, k);
            assert_true(r == SMTPD_PROXY_NEED_MORE || why->len > 0);
        }
    }
}

/* test_early - garbage is refused on its first bytes, not after a wait */
static void
test_early(void **state)
{
    unsigned char buf[BUF_MAX];
    struct smtpd_proxy_hdr hdr;
    size_t  consumed, n;

    (void) state;
    assert_int_equal(parse((const unsigned char *) "E", 1, &hdr, &consumed),
                     SMTPD_PROXY_BAD);
    assert_int_equal(parse((const unsigned char *) "PROXX", 5, &hdr,
                           &consumed), SMTPD_PROXY_BAD);
    assert_int_equal(parse((const unsigned char *) "\r\n\r\nX", 5, &hdr,
                           &consumed), SMTPD_PROXY_BAD);
    assert_int_equal(parse((const unsigned char *) "PROXY TCP4 1\n", 13,
                           &hdr, &consumed), SMTPD_PROXY_BAD);
    /* the version byte alone decides */
    n = unhex(SIG "31", buf, sizeof(buf));
    assert_int_equal(parse(buf, n, &hdr, &consumed), SMTPD_PROXY_BAD);
    /* the length is judged before the block arrives */
    n = unhex(SIG "21" "11" "ffff", buf, sizeof(buf));
    assert_int_equal(parse(buf, n, &hdr, &consumed), SMTPD_PROXY_BAD);
    /* nothing yet, or a v1 line still short of 107 bytes: wait */
    assert_int_equal(parse(buf, 0, &hdr, &consumed), SMTPD_PROXY_NEED_MORE);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "PROXY UNKNOWN ", 14);
    assert_int_equal(parse(buf, 106, &hdr, &consumed), SMTPD_PROXY_NEED_MORE);
    assert_int_equal(parse(buf, 107, &hdr, &consumed), SMTPD_PROXY_BAD);
    buf[105] = '\r';                    /* CRLF at 106-107: the limit */
    assert_int_equal(parse(buf, 106, &hdr, &consumed), SMTPD_PROXY_NEED_MORE);
    buf[106] = '\n';
    assert_int_equal(parse(buf, 200, &hdr, &consumed), SMTPD_PROXY_OK);
    assert_int_equal(consumed, 107);
    buf[105] = 'a';
    buf[106] = '\r';                    /* CR at 107: no room for the LF */
    assert_int_equal(parse(buf, 107, &hdr, &consumed), SMTPD_PROXY_BAD);
}

/* test_v2_limits - TLVs up to the limit are skipped; one more is refused */
static void
test_v2_limits(void **state)
{
    unsigned char buf[BUF_MAX];
    struct smtpd_proxy_hdr hdr;
    size_t  n, block, consumed, k;

    (void) state;
    memset(buf, 0, sizeof(buf));
    n = unhex(SIG "21" "11" "0000" "c0000201" "c6336402" "c350" "0019", buf,
              sizeof(buf));
    block = 12 + SMTPD_PROXY_V2_TLV_MAX;
    buf[14] = (unsigned char) (block >> 8);
    buf[15] = (unsigned char) (block & 0xff);
    memset(buf + n, 0xee, SMTPD_PROXY_V2_TLV_MAX);
    n = SMTPD_PROXY_V2_FIXED + block;
    assert_int_equal(parse(buf, n - 1, &hdr, &consumed),
                     SMTPD_PROXY_NEED_MORE);
    assert_int_equal(parse(buf, n + 5, &hdr, &consumed), SMTPD_PROXY_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(hdr.src_port, 50000);
    block++;
    buf[14] = (unsigned char) (block >> 8);
    buf[15] = (unsigned char) (block & 0xff);
    assert_int_equal(parse(buf, n + 1, &hdr, &consumed), SMTPD_PROXY_BAD);
    /* the largest LOCAL header fits SMTPD_PROXY_MAX exactly */
    n = unhex(SIG "20" "00" "0000", buf, sizeof(buf));
    block = SMTPD_PROXY_V2_BLOCK_MAX;
    buf[14] = (unsigned char) (block >> 8);
    buf[15] = (unsigned char) (block & 0xff);
    for (k = n; k < SMTPD_PROXY_MAX; k++)
        assert_int_equal(parse(buf, k, &hdr, &consumed),
                         SMTPD_PROXY_NEED_MORE);
    assert_int_equal(parse(buf, SMTPD_PROXY_MAX, &hdr, &consumed),
                     SMTPD_PROXY_OK);
    assert_int_equal(consumed, SMTPD_PROXY_MAX);
    assert_int_equal(hdr.local, 1);
}

/* test_protocol - the values of smtpd_upstream_proxy_protocol */
static void
test_protocol(void **state)
{
    (void) state;
    assert_int_equal(smtpd_proxy_protocol(""), SMTPD_PROXY_NONE);
    assert_int_equal(smtpd_proxy_protocol(NULL), SMTPD_PROXY_NONE);
    assert_int_equal(smtpd_proxy_protocol("haproxy"), SMTPD_PROXY_HAPROXY);
    assert_int_equal(smtpd_proxy_protocol("HAProxy"),
                     SMTPD_PROXY_UNSUPPORTED);
    assert_int_equal(smtpd_proxy_protocol("proxy"), SMTPD_PROXY_UNSUPPORTED);
}

/* teardown - free the reason buffer */
static int
teardown(void **state)
{
    (void) state;
    why = dstr_free(why);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_good, teardown),
        cmocka_unit_test_teardown(test_bad, teardown),
        cmocka_unit_test_teardown(test_early, teardown),
        cmocka_unit_test_teardown(test_v2_limits, teardown),
        cmocka_unit_test_teardown(test_protocol, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
