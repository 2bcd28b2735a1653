/* test_mailaddr - unit tests for util/mailaddr: paths, parameters, helpers. */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/mailaddr.h"
#include "util/xalloc.h"
#include "testutil.h"

#define M       MAILADDR_MAIL
#define R       MAILADDR_RCPT
#define DEF     MAILADDR_OPT_DEFAULT
#define LAX     (MAILADDR_OPT_DEFAULT | MAILADDR_OPT_LAX)
#define TXN     (MAILADDR_OPT_DEFAULT | MAILADDR_OPT_UTF8_TXN)

#define F_NULL  MAILADDR_F_NULL
#define F_PM    MAILADDR_F_POSTMASTER
#define F_UTF8  MAILADDR_F_UTF8
#define F_Q     MAILADDR_F_QUOTED
#define F_LIT   MAILADDR_F_LITERAL
#define F_RT    MAILADDR_F_ROUTE
#define F_BARE  MAILADDR_F_BARE

/*
 * A path case: the argument (len 0 means strlen), options, and what must
 * come out. For errors, addr is NULL.
 */
struct path_case {
    enum mailaddr_cmd cmd;
    const char *arg;
    size_t  len;
    unsigned opts;
    enum mailaddr_err err;
    const char *addr;
    const char *local;
    const char *domain;
    unsigned flags;
};

#define GOOD(cmd, arg, opts, addr, local, domain, flags) \
    {cmd, arg, 0, opts, MAILADDR_OK, addr, local, domain, flags}
#define BAD(cmd, arg, opts, err) \
    {cmd, arg, 0, opts, err, NULL, NULL, NULL, 0}
#define BADN(cmd, arg, len, opts, err) \
    {cmd, arg, len, opts, err, NULL, NULL, NULL, 0}

static const struct path_case path_cases[] = {
    /* Null sender, plain addresses, the optional space. */
    GOOD(M, "<>", DEF, "", "", "", F_NULL),
    GOOD(M, " <>", DEF, "", "", "", F_NULL),
    GOOD(M, "<a@b>", DEF, "a@b", "a", "b", 0),
    GOOD(M, " <user@example.com>", DEF, "user@example.com", "user",
         "example.com", 0),
    GOOD(R, "<First.Last@Example.COM>", DEF, "First.Last@Example.COM",
         "First.Last", "Example.COM", 0),
    GOOD(M, "<!#$%&'*+-/=?^_`{|}~@example.com>", DEF,
         "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~",
         "example.com", 0),
    GOOD(M, "<a@b-c.d1>", DEF, "a@b-c.d1", "a", "b-c.d1", 0),
    GOOD(M, "<a@123>", DEF, "a@123", "a", "123", 0),
    GOOD(M, "<a@xn--bcher-kva.example>", DEF, "a@xn--bcher-kva.example", "a",
         "xn--bcher-kva.example", 0),

    /* Quoted local parts and quoted pairs. */
    GOOD(M, "<\"john smith\"@example.com>", DEF, "john smith@example.com",
         "john smith", "example.com", F_Q),
    GOOD(M, "<\"a\\\"b\"@x.org>", DEF, "a\"b@x.org", "a\"b", "x.org", F_Q),
    GOOD(M, "<\"a\\\\b\"@x.org>", DEF, "a\\b@x.org", "a\\b", "x.org", F_Q),
    GOOD(M, "<\"\\a\"@x.org>", DEF, "a@x.org", "a", "x.org", F_Q),
    GOOD(M, "<\"\\ \"@x.org>", DEF, " @x.org", " ", "x.org", F_Q),
    GOOD(M, "<\"\\~\"@x.org>", DEF, "~@x.org", "~", "x.org", F_Q),
    GOOD(M, "<\"a@b\"@c.org>", DEF, "a@b@c.org", "a@b", "c.org", F_Q),
    GOOD(M, "<\"\"@x.org>", DEF, "@x.org", "", "x.org", F_Q),
    GOOD(M, "<\"a>b\"@x.org>", DEF, "a>b@x.org", "a>b", "x.org", F_Q),
    GOOD(M, "<\"a<b,c:d\"@x.org>", DEF, "a<b,c:d@x.org", "a<b,c:d", "x.org",
         F_Q),

    /* Address literals. */
    GOOD(M, "<user@[192.0.2.1]>", DEF, "user@[192.0.2.1]", "user",
         "[192.0.2.1]", F_LIT),
    GOOD(M, "<u@[0.0.0.0]>", DEF, "u@[0.0.0.0]", "u", "[0.0.0.0]", F_LIT),
    GOOD(M, "<u@[255.255.255.255]>", DEF, "u@[255.255.255.255]", "u",
         "[255.255.255.255]", F_LIT),
    GOOD(R, "<user@[IPv6:2001:db8::1]>", DEF, "user@[IPv6:2001:db8::1]", "user",
         "[IPv6:2001:db8::1]", F_LIT),
    GOOD(R, "<u@[ipv6:::1]>", DEF, "u@[ipv6:::1]", "u", "[ipv6:::1]", F_LIT),
    GOOD(R, "<u@[IPv6:::ffff:192.0.2.1]>", DEF, "u@[IPv6:::ffff:192.0.2.1]",
         "u", "[IPv6:::ffff:192.0.2.1]", F_LIT),
    GOOD(R, "<u@[IPv6:0000:0000:0000:0000:0000:ffff:192.168.100.200]>", DEF,
         "u@[IPv6:0000:0000:0000:0000:0000:ffff:192.168.100.200]", "u",
         "[IPv6:0000:0000:0000:0000:0000:ffff:192.168.100.200]", F_LIT),
    GOOD(R, "<u@[IPv6:1:2:3:4:5:6:7:8]>", DEF, "u@[IPv6:1:2:3:4:5:6:7:8]", "u",
         "[IPv6:1:2:3:4:5:6:7:8]", F_LIT),

    /* Source routes: checked, dropped. */
    GOOD(M, "<@a.example,@b.example:user@c.example>", DEF, "user@c.example",
         "user", "c.example", F_RT),
    GOOD(R, "<@a:u@c>", DEF, "u@c", "u", "c", F_RT),
    GOOD(R, "<@[192.0.2.1]:u@c>", DEF, "u@c", "u", "c", F_RT),

    /* postmaster, RCPT only. */
    GOOD(R, "<postmaster>", DEF, "postmaster", "postmaster", "", F_PM),
    GOOD(R, " <PostMaster>", DEF, "PostMaster", "PostMaster", "", F_PM),
    GOOD(R, "<postmaster@example.com>", DEF, "postmaster@example.com",
         "postmaster", "example.com", 0),
    BAD(M, "<postmaster>", DEF, MAILADDR_ERR_NO_DOMAIN),
    BAD(R, "<\"postmaster\">", DEF, MAILADDR_ERR_NO_DOMAIN),
    BAD(R, "<postmaste>", DEF, MAILADDR_ERR_NO_DOMAIN),
    BAD(R, "<@a:postmaster>", DEF, MAILADDR_ERR_NO_DOMAIN),
    BAD(R, "<user>", DEF, MAILADDR_ERR_NO_DOMAIN),
    BAD(M, "<\"a b\">", DEF, MAILADDR_ERR_NO_DOMAIN),

    /* UTF-8: flagged, and needs SMTPUTF8. */
    GOOD(M, "<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8", DEF,
         "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg",
         "b\xc3\xbc" "cher.example", F_UTF8),
    GOOD(M, "<\"\xe2\x82\xac x\"@e.org> SMTPUTF8", DEF, "\xe2\x82\xac x@e.org",
         "\xe2\x82\xac x", "e.org", F_UTF8 | F_Q),
    GOOD(R, "<\xf0\x9f\x98\x80@e.org>", TXN, "\xf0\x9f\x98\x80@e.org",
         "\xf0\x9f\x98\x80", "e.org", F_UTF8),
    GOOD(R, "<a@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", TXN,
         "a@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "a",
         "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", F_UTF8),
    BAD(M, "<j\xc3\xb6rg@x.org>", DEF, MAILADDR_ERR_UTF8_UNDECLARED),
    BAD(R, "<j\xc3\xb6rg@x.org>", DEF, MAILADDR_ERR_UTF8_UNDECLARED),
    BAD(R, "<a@x\xc3\xb6.org>", DEF, MAILADDR_ERR_UTF8_UNDECLARED),
    BAD(M, "<j\xc3\xb6rg@x.org> SMTPUTF8",
         MAILADDR_OPT_DEFAULT & ~MAILADDR_OPT_SMTPUTF8,
         MAILADDR_ERR_PARAM_UNKNOWN),
    BAD(M, "<a\xff@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xc3@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xc3", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xc3\x28@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xc0\xaf@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xe0\x80\xaf@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xed\xa0\x80@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xf0\x80\x80\x80@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xf4\x90\x80\x80@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xf5\x80\x80\x80@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\x80@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xe2\x82\x28@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a\xf0\x9f\x98@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<\"a\xc3\"@b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<a@\xc3.b>", DEF, MAILADDR_ERR_BAD_UTF8),
    BAD(M, "<@\xc3:a@b>", DEF, MAILADDR_ERR_BAD_UTF8),

    /* LAX: Postfix's strict_rfc821_envelopes = no. */
    GOOD(M, "user@example.com", LAX, "user@example.com", "user", "example.com",
         F_BARE),
    GOOD(M, "  \t<a@b>", LAX, "a@b", "a", "b", 0),
    GOOD(M, "\"john smith\"@x.org", LAX, "john smith@x.org", "john smith",
         "x.org", F_BARE | F_Q),
    GOOD(M, " a@[1.2.3.4]\t", LAX, "a@[1.2.3.4]", "a", "[1.2.3.4]",
         F_BARE | F_LIT),
    GOOD(R, "postmaster", LAX, "postmaster", "postmaster", "", F_BARE | F_PM),
    GOOD(R, "<a@b>\t", LAX, "a@b", "a", "b", 0),
    BAD(M, "a@b>", LAX, MAILADDR_ERR_UNBALANCED),
    BAD(M, ">", LAX, MAILADDR_ERR_UNBALANCED),
    BAD(M, "a<b@c", LAX, MAILADDR_ERR_UNBALANCED),
    BAD(M, "user", LAX, MAILADDR_ERR_NO_DOMAIN),
    BAD(M, "@a:b@c", LAX, MAILADDR_ERR_LOCAL),
    BAD(M, " \t ", LAX, MAILADDR_ERR_EMPTY),

    /* No path, spaces before it, brackets. */
    BAD(M, "", DEF, MAILADDR_ERR_EMPTY),
    BAD(R, " ", DEF, MAILADDR_ERR_EMPTY),
    BAD(M, "  <a@b>", DEF, MAILADDR_ERR_SPACE),
    BAD(M, " \t<a@b>", DEF, MAILADDR_ERR_SPACE),
    BAD(R, "\t<a@b>", DEF, MAILADDR_ERR_SPACE),
    BAD(M, "a@b", DEF, MAILADDR_ERR_NO_BRACKETS),
    BAD(R, "postmaster", DEF, MAILADDR_ERR_NO_BRACKETS),
    BAD(M, " a@b", DEF, MAILADDR_ERR_NO_BRACKETS),
    BAD(M, "\r<a@b>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a@b", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a@b.c SIZE=1", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b>>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a@b><c@d>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<<a@b>>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a<b@c>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a@b<c>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<\"a\"<@b>", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<a@b>x", DEF, MAILADDR_ERR_TRAILING),
    BAD(M, "<a@b>SIZE=1", DEF, MAILADDR_ERR_TRAILING),
    BAD(M, "<>x", DEF, MAILADDR_ERR_TRAILING),
    BAD(M, "<a@b>\tSIZE=1", DEF, MAILADDR_ERR_CONTROL),
    BAD(R, "<>", DEF, MAILADDR_ERR_NULL_RCPT),
    BAD(R, " <> NOTIFY=NEVER", DEF, MAILADDR_ERR_NULL_RCPT),

    /* Control characters, NUL included, anywhere. */
    BAD(M, "<a@b>\r", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<a\x01@b>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<a@b\x7f.c>", DEF, MAILADDR_ERR_CONTROL),
    BADN(M, "<a\0@b>", 7, DEF, MAILADDR_ERR_CONTROL),
    BADN(M, "<a@b\0>", 6, DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<\"a\tb\"@c>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<\"a\\\x01\"@c>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<\"a\\\x7f\"@c>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<a@[1.2.3.4\x01]>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "<@a\n:b@c>", DEF, MAILADDR_ERR_CONTROL),
    BAD(M, "a\n@b", LAX, MAILADDR_ERR_CONTROL),

    /* Source routes. */
    BAD(M, "<@a:>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a,b:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a,:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a,", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a..b:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a;b:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@[1.2.3]:c@d>", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a", DEF, MAILADDR_ERR_ROUTE),
    BAD(M, "<@a:", DEF, MAILADDR_ERR_UNBALANCED),
    BAD(M, "<@a:@b:c@d>", DEF, MAILADDR_ERR_LOCAL),

    /* Dot-strings. */
    BAD(M, "<.a@b>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a.@b>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a..b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a(b)@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a,b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a:b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a[b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a\\b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<a\"b\"@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<.>", DEF, MAILADDR_ERR_LOCAL),

    /* Quoted strings. */
    BAD(M, "<\"abc@d>", DEF, MAILADDR_ERR_QUOTE),
    BAD(M, "<\"abc", DEF, MAILADDR_ERR_QUOTE),
    BAD(M, "<\"abc\\", DEF, MAILADDR_ERR_QUOTE),
    BAD(M, "<\"a\\\xc3\xa9\"@b>", DEF, MAILADDR_ERR_QUOTE),
    BAD(M, "<\"a\"b@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<\"a\"\"b\"@c>", DEF, MAILADDR_ERR_LOCAL),
    BAD(M, "<\"a\".b@c>", DEF, MAILADDR_ERR_LOCAL),

    /* Host names. */
    BAD(M, "<a@>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@.b>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b.>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b..c>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@-b.c>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b-.c>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b.c->", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b_c.d>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b c>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b@c>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@@b>", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<a@b]>", DEF, MAILADDR_ERR_DOMAIN),

    /* Address literals. */
    BAD(M, "<a@[1.2.3]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.256]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.4.5]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1234.1.1.1]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[0001.1.1.1]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1..2.3]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[ 1.2.3.4]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:2001:db8::g]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:1::2::3]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:1.2.3.4]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:1:2:3:4:5:6:7:8:9]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:fe80::1%eth0]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv6:00000:0000:0000:0000:0000:ffff:192.168.100.200]>", DEF,
        MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[IPv7:1::2]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[x-tag:abc]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.4>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.4]x>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.4].b>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.[3].4]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[\xc3\xa9]>", DEF, MAILADDR_ERR_LITERAL),
    BAD(M, "<a@[1.2.3.4]", DEF, MAILADDR_ERR_UNBALANCED),

    /* The path is parsed before the parameters. */
    BAD(M, "<a@@b> FOO", DEF, MAILADDR_ERR_DOMAIN),
    BAD(M, "<j\xc3\xb6rg@x.org> FOO", DEF, MAILADDR_ERR_PARAM_UNKNOWN),
};

/* test_copy - exactly len bytes on the heap, so ASan sees an overread */
static char *
test_copy(const char *s, size_t len)
{
    return xmemdup(s, len ? len : 1);
}

/* test_path_table - every path case, as a table */
static void
test_path_table(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    enum mailaddr_err err;
    size_t  i, len;
    char   *arg;

    (void) state;
    for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *c = path_cases + i;

        len = c->len ? c->len : strlen(c->arg);
        arg = test_copy(c->arg, len);
        err = mailaddr_parse(c->cmd, arg, len, c->opts, &path, &params);
        free(arg);
        if (err != c->err)
            fail_msg("case %zu \"%s\": got %s, want %s", i, c->arg,
                     mailaddr_strerror(err), mailaddr_strerror(c->err));
        if (c->err != MAILADDR_OK)
            continue;
        assert_string_equal(path.addr, c->addr);
        assert_string_equal(path.local, c->local);
        assert_string_equal(path.domain, c->domain);
        if (path.flags != c->flags)
            fail_msg("case %zu \"%s\": flags %#x, want %#x", i, c->arg,
                     path.flags, c->flags);
        assert_string_equal(mailaddr_domain(path.addr), c->domain);
    }
}

/* test_roundtrip - quoting the internal form parses back to the same */
static void
test_roundtrip(void **state)
{
    struct mailaddr_path path, again;
    struct mailaddr_params params;
    struct dstr *d = dstr_new(64, 1000);
    size_t  i, n = 0;

    (void) state;
    for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *c = path_cases + i;

        if (c->err != MAILADDR_OK || (c->flags & (F_NULL | F_PM)))
            continue;
        dstr_set_str(d, "<");
        assert_int_equal(mailaddr_quote(d, c->addr), 0);
        dstr_append_str(d, ">");
        assert_int_equal(mailaddr_parse(R, d->data, d->len, TXN, &path,
                                        &params), MAILADDR_OK);
        assert_int_equal(mailaddr_parse_addr(d->data + 1, d->len - 2, TXN,
                                             &again), MAILADDR_OK);
        assert_string_equal(path.addr, c->addr);
        assert_string_equal(path.local, c->local);
        assert_string_equal(path.domain, c->domain);
        assert_string_equal(again.addr, c->addr);
        n++;
    }
    assert_true(n > 30);
    dstr_free(d);
}

/* test_null_arg - a NULL argument is an empty one */
static void
test_null_arg(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;

    (void) state;
    assert_int_equal(mailaddr_parse(M, NULL, 5, DEF, &path, &params),
                     MAILADDR_ERR_EMPTY);
    assert_int_equal(mailaddr_parse_addr(NULL, 3, DEF, &path),
                     MAILADDR_ERR_EMPTY);
}

/* test_len_respected - bytes past len are never looked at */
static void
test_len_respected(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    const char *s = "<a@b.c>XYZ";

    (void) state;
    assert_int_equal(mailaddr_parse(M, s, 7, DEF, &path, &params),
                     MAILADDR_OK);
    assert_string_equal(path.addr, "a@b.c");
    assert_int_equal(mailaddr_parse(M, s, 6, DEF, &path, &params),
                     MAILADDR_ERR_UNBALANCED);
}

/* Parameter cases: argument, options, error, and the values expected. */
struct param_case {
    enum mailaddr_cmd cmd;
    const char *arg;
    unsigned opts;
    enum mailaddr_err err;
    const char *bad_keyword;            /* on error */
    unsigned seen;                      /* on success */
    long long size;
    enum mailaddr_body body;
    enum mailaddr_ret ret;
    unsigned notify;
    const char *envid;
    const char *orcpt;
    size_t  orcpt_type_len;
};

#define P_SIZE  MAILADDR_P_SIZE
#define P_BODY  MAILADDR_P_BODY
#define P_UTF8  MAILADDR_P_SMTPUTF8
#define P_RET   MAILADDR_P_RET
#define P_ENVID MAILADDR_P_ENVID
#define P_NOT   MAILADDR_P_NOTIFY
#define P_ORCPT MAILADDR_P_ORCPT
#define N_NEVER MAILADDR_NOTIFY_NEVER
#define N_SUCC  MAILADDR_NOTIFY_SUCCESS
#define N_FAIL  MAILADDR_NOTIFY_FAILURE
#define N_DELAY MAILADDR_NOTIFY_DELAY
#define B_7     MAILADDR_BODY_7BIT
#define B_8     MAILADDR_BODY_8BITMIME
#define B_BIN   MAILADDR_BODY_BINARYMIME
#define OK      MAILADDR_OK

#define QOK(cmd, arg, opts, seen, size, body, ret, notify, envid, orcpt, tl) \
    {cmd, arg, opts, MAILADDR_OK, "", seen, size, body, ret, notify, envid, \
     orcpt, tl}
#define QBAD(cmd, arg, opts, err, keyword) \
    {cmd, arg, opts, err, keyword, 0, 0, 0, 0, 0, NULL, NULL, 0}

static const struct param_case param_cases[] = {
    /* None, separators. */
    QOK(M, "<a@b.c>", DEF, 0, 0, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c>   ", DEF, 0, 0, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c>  SIZE=1   BODY=7BIT  ", DEF, P_SIZE | P_BODY, 1, B_7, 0, 0,
         NULL, NULL, 0),
    QOK(M, "<a@b.c>\tSIZE=1\t BODY=7BIT\t", LAX, P_SIZE | P_BODY, 1, B_7, 0, 0,
         NULL, NULL, 0),
    QBAD(M, "<a@b.c> SIZE=1\tBODY=7BIT", DEF, MAILADDR_ERR_SIZE, "SIZE"),

    /* SIZE */
    QOK(M, "<a@b.c> SIZE=0", DEF, P_SIZE, 0, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> size=12345", DEF, P_SIZE, 12345, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> SIZE=000042", DEF, P_SIZE, 42, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> SIZE=9223372036854775807", DEF, P_SIZE, LLONG_MAX, 0, 0, 0,
         NULL, NULL, 0),
    QBAD(M, "<a@b.c> SIZE=9223372036854775808", DEF, MAILADDR_ERR_SIZE_OVERFLOW,
         "SIZE"),
    QBAD(M, "<a@b.c> SIZE=99999999999999999999999", DEF,
         MAILADDR_ERR_SIZE_OVERFLOW, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=-1", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=+1", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=1k", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=1=2", DEF, MAILADDR_ERR_SIZE, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=99999999999999999999x", DEF, MAILADDR_ERR_SIZE,
         "SIZE"),
    QBAD(M, "<a@b.c> SIZE=1 SIZE=2", DEF, MAILADDR_ERR_PARAM_DUP, "SIZE"),
    QBAD(M, "<a@b.c> SIZE=1 size=1", DEF, MAILADDR_ERR_PARAM_DUP, "size"),
    QBAD(M, "<a@b.c> SIZE=1", DEF & ~MAILADDR_OPT_SIZE,
         MAILADDR_ERR_PARAM_UNKNOWN, "SIZE"),

    /* BODY */
    QOK(M, "<a@b.c> BODY=7BIT", DEF, P_BODY, 0, B_7, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> body=8bitmime", DEF, P_BODY, 0, B_8, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> BODY=BINARYMIME", DEF | MAILADDR_OPT_BINARYMIME, P_BODY, 0,
         B_BIN, 0, 0, NULL, NULL, 0),
    QBAD(M, "<a@b.c> BODY=BINARYMIME", DEF, MAILADDR_ERR_BODY_UNSUPPORTED,
         "BODY"),
    QBAD(M, "<a@b.c> BODY=8BIT", DEF, MAILADDR_ERR_BODY, "BODY"),
    QBAD(M, "<a@b.c> BODY=7BITS", DEF, MAILADDR_ERR_BODY, "BODY"),
    QBAD(M, "<a@b.c> BODY=", DEF, MAILADDR_ERR_BODY, "BODY"),
    QBAD(M, "<a@b.c> BODY", DEF, MAILADDR_ERR_BODY, "BODY"),
    QBAD(M, "<a@b.c> BODY=7BIT BODY=7BIT", DEF, MAILADDR_ERR_PARAM_DUP, "BODY"),
    QBAD(M, "<a@b.c> BODY=7BIT", DEF & ~MAILADDR_OPT_8BITMIME,
         MAILADDR_ERR_PARAM_UNKNOWN, "BODY"),

    /* SMTPUTF8 */
    QOK(M, "<a@b.c> SMTPUTF8", DEF, P_UTF8, 0, 0, 0, 0, NULL, NULL, 0),
    QOK(M, "<a@b.c> smtputf8 SIZE=5", DEF, P_UTF8 | P_SIZE, 5, 0, 0, 0, NULL,
         NULL, 0),
    QBAD(M, "<a@b.c> SMTPUTF8=yes", DEF, MAILADDR_ERR_SMTPUTF8, "SMTPUTF8"),
    QBAD(M, "<a@b.c> SMTPUTF8=", DEF, MAILADDR_ERR_SMTPUTF8, "SMTPUTF8"),
    QBAD(M, "<a@b.c> SMTPUTF8 SMTPUTF8", DEF, MAILADDR_ERR_PARAM_DUP,
         "SMTPUTF8"),

    /* RET */
    QOK(M, "<a@b.c> RET=FULL", DEF, P_RET, 0, 0, MAILADDR_RET_FULL, 0, NULL,
         NULL, 0),
    QOK(M, "<a@b.c> ret=hdrs", DEF, P_RET, 0, 0, MAILADDR_RET_HDRS, 0, NULL,
         NULL, 0),
    QBAD(M, "<a@b.c> RET=X", DEF, MAILADDR_ERR_RET, "RET"),
    QBAD(M, "<a@b.c> RET=", DEF, MAILADDR_ERR_RET, "RET"),
    QBAD(M, "<a@b.c> RET", DEF, MAILADDR_ERR_RET, "RET"),
    QBAD(M, "<a@b.c> RET=FULL RET=HDRS", DEF, MAILADDR_ERR_PARAM_DUP, "RET"),
    QBAD(M, "<a@b.c> RET=FULL", DEF & ~MAILADDR_OPT_DSN,
         MAILADDR_ERR_PARAM_UNKNOWN, "RET"),

    /* ENVID */
    QOK(M, "<a@b.c> ENVID=QQ314159", DEF, P_ENVID, 0, 0, 0, 0, "QQ314159", NULL,
         0),
    QOK(M, "<a@b.c> envid=a+2Bb+20c+7E", DEF, P_ENVID, 0, 0, 0, 0,
         "a+2Bb+20c+7E", NULL, 0),
    QOK(M, "<a@b.c> ENVID=a+2bb", DEF, P_ENVID, 0, 0, 0, 0, "a+2bb", NULL, 0),
    QBAD(M, "<a@b.c> ENVID=a+2", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+ZZ", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+00b", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+1F", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+7F", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a+C3+A9", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=a=b", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=\xc3\xa9", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID", DEF, MAILADDR_ERR_ENVID, "ENVID"),
    QBAD(M, "<a@b.c> ENVID=1 ENVID=1", DEF, MAILADDR_ERR_PARAM_DUP, "ENVID"),

    /* NOTIFY */
    QOK(R, "<a@b.c> NOTIFY=NEVER", DEF, P_NOT, 0, 0, 0, N_NEVER, NULL, NULL, 0),
    QOK(R, "<a@b.c> NOTIFY=SUCCESS,FAILURE,DELAY", DEF, P_NOT, 0, 0, 0,
         N_SUCC | N_FAIL | N_DELAY, NULL, NULL, 0),
    QOK(R, "<a@b.c> notify=delay", DEF, P_NOT, 0, 0, 0, N_DELAY, NULL, NULL, 0),
    QOK(R, "<a@b.c> NOTIFY=failure,Success", DEF, P_NOT, 0, 0, 0,
         N_SUCC | N_FAIL, NULL, NULL, 0),
    QOK(R, "<a@b.c> NOTIFY=SUCCESS,SUCCESS", DEF, P_NOT, 0, 0, 0, N_SUCC, NULL,
         NULL, 0),
    QBAD(R, "<a@b.c> NOTIFY=NEVER,SUCCESS", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=DELAY,NEVER", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QOK(R, "<a@b.c> NOTIFY=NEVER,NEVER", DEF, P_NOT, 0, 0, 0, N_NEVER, NULL,
         NULL, 0),
    QBAD(R, "<a@b.c> NOTIFY=", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=SUCCESS,", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=,SUCCESS", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=SUCCESS,,DELAY", DEF, MAILADDR_ERR_NOTIFY,
         "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=FOO", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=NEVERX", DEF, MAILADDR_ERR_NOTIFY, "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=NEVER NOTIFY=NEVER", DEF, MAILADDR_ERR_PARAM_DUP,
         "NOTIFY"),
    QBAD(R, "<a@b.c> NOTIFY=NEVER", DEF & ~MAILADDR_OPT_DSN,
         MAILADDR_ERR_PARAM_UNKNOWN, "NOTIFY"),

    /* ORCPT */
    QOK(R, "<a@b.c> ORCPT=rfc822;user+2Bx@example.com", DEF, P_ORCPT, 0, 0, 0,
         0, "", "rfc822;user+2Bx@example.com", 6),
    QOK(R, "<a@b.c> orcpt=X-Local;a", DEF, P_ORCPT, 0, 0, 0, 0, "", "X-Local;a",
         7),
    QOK(R, "<a@b.c> ORCPT=utf-8;j\\x{00F6}rg@x", DEF, P_ORCPT, 0, 0, 0, 0, "",
         "utf-8;j\\x{00F6}rg@x", 5),
    QOK(R, "<a@b.c> ORCPT=UTF-8;\\x{10FFFF}", DEF, P_ORCPT, 0, 0, 0, 0, "",
         "UTF-8;\\x{10FFFF}", 5),
    QOK(R, "<a@b.c> ORCPT=utf-8;j\xc3\xb6rg@x", TXN, P_ORCPT, 0, 0, 0, 0, "",
         "utf-8;j\xc3\xb6rg@x", 5),
    QBAD(R, "<a@b.c> ORCPT=utf-8;j\xc3\xb6rg@x", DEF, MAILADDR_ERR_ORCPT,
         "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;j\xc3rg@x", TXN, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;a+2Bb", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{D800}", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{1}", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{1234567}", DEF, MAILADDR_ERR_ORCPT,
         "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{110000}", DEF, MAILADDR_ERR_ORCPT,
         "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{12", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{}", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{zz}", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\y", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;\\x{", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=utf-8;", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc822", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=;a@b", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc822;", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc(822;a@b", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc822;a+4", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc822;a+0Ab", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QOK(R, "<a@b.c> ORCPT=rfc822;a;b", DEF, P_ORCPT, 0, 0, 0, 0, "",
         "rfc822;a;b", 6),
    QBAD(R, "<a@b.c> ORCPT=rfc822;a=b", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT", DEF, MAILADDR_ERR_ORCPT, "ORCPT"),
    QBAD(R, "<a@b.c> ORCPT=rfc822;a ORCPT=rfc822;a", DEF,
         MAILADDR_ERR_PARAM_DUP, "ORCPT"),
    QOK(R, "<a@b.c> NOTIFY=DELAY ORCPT=rfc822;a@b.c", DEF, P_NOT | P_ORCPT, 0,
         0, 0, N_DELAY, "", "rfc822;a@b.c", 6),

    /* Everything MAIL knows at once. */
    QOK(M, "<a@b.c> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x", DEF,
         P_SIZE | P_BODY | P_UTF8 | P_RET | P_ENVID, 100, B_8,
         MAILADDR_RET_HDRS, 0, "x", NULL, 0),

    /* Parameters of the other command are unknown. */
    QBAD(M, "<a@b.c> NOTIFY=NEVER", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "NOTIFY"),
    QBAD(M, "<a@b.c> ORCPT=rfc822;a", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "ORCPT"),
    QBAD(R, "<a@b.c> SIZE=1", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "SIZE"),
    QBAD(R, "<a@b.c> SMTPUTF8", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "SMTPUTF8"),
    QBAD(R, "<a@b.c> BODY=7BIT", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "BODY"),
    QBAD(R, "<a@b.c> RET=FULL", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "RET"),
    QBAD(R, "<a@b.c> ENVID=x", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "ENVID"),

    /* Unknown keywords, bad keywords. */
    QBAD(M, "<a@b.c> FOO", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "FOO"),
    QBAD(M, "<a@b.c> FOO=bar", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "FOO"),
    QBAD(M, "<a@b.c> X-FOO=1", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "X-FOO"),
    QBAD(M, "<a@b.c> AUTH=<>", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "AUTH"),
    QBAD(M, "<a@b.c> SIZES=1", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "SIZES"),
    QBAD(M, "<a@b.c> SIZE=1 FOO BODY=junk", DEF, MAILADDR_ERR_PARAM_UNKNOWN,
         "FOO"),
    QBAD(M, "<a@b.c> 8BIT", DEF, MAILADDR_ERR_PARAM_UNKNOWN, "8BIT"),
    QBAD(M, "<a@b.c> =1", DEF, MAILADDR_ERR_PARAM_SYNTAX, ""),
    QBAD(M, "<a@b.c> -X=1", DEF, MAILADDR_ERR_PARAM_SYNTAX, "-X"),
    QBAD(M, "<a@b.c> SI_ZE=1", DEF, MAILADDR_ERR_PARAM_SYNTAX, "SI_ZE"),
    QBAD(M, "<a@b.c> SIZE\x01=1", DEF, MAILADDR_ERR_PARAM_SYNTAX, "SIZE?"),
    QBAD(M, "<a@b.c> \xc3\xa9=1", DEF, MAILADDR_ERR_PARAM_SYNTAX, "??"),
    QBAD(M, "<a@b.c> <x>", DEF, MAILADDR_ERR_PARAM_SYNTAX, "<x>"),
    QBAD(M, "<a@b.c> SIZE=1 FOO\rBAR", DEF, MAILADDR_ERR_PARAM_SYNTAX,
         "FOO?BAR"),
    QBAD(M, "<a@b.c> ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", DEF,
         MAILADDR_ERR_PARAM_UNKNOWN, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"),
};

/* test_param_table - every parameter case, as a table */
static void
test_param_table(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params p;
    enum mailaddr_err err;
    size_t  i, len;
    char   *arg;

    (void) state;
    for (i = 0; i < sizeof(param_cases) / sizeof(param_cases[0]); i++) {
        const struct param_case *c = param_cases + i;

        len = strlen(c->arg);
        arg = test_copy(c->arg, len);
        err = mailaddr_parse(c->cmd, arg, len, c->opts, &path, &p);
        free(arg);
        if (err != c->err)
            fail_msg("case %zu \"%s\": got %s, want %s", i, c->arg,
                     mailaddr_strerror(err), mailaddr_strerror(c->err));
        assert_string_equal(p.bad_keyword, c->bad_keyword);
        if (c->err != MAILADDR_OK)
            continue;
        assert_string_equal(path.addr, "a@b.c");
        if (p.seen != c->seen)
            fail_msg("case %zu \"%s\": seen %#x, want %#x", i, c->arg,
                     p.seen, c->seen);
        assert_true(p.size == c->size);
        assert_int_equal(p.body, c->body);
        assert_int_equal(p.ret, c->ret);
        assert_int_equal(p.notify, c->notify);
        assert_string_equal(p.envid, c->envid ? c->envid : "");
        assert_string_equal(p.orcpt, c->orcpt ? c->orcpt : "");
        assert_int_equal(p.orcpt_type_len, c->orcpt_type_len);
    }
}

/* test_fill - s[0..n) = c */
static char *
test_fill(char *s, int c, size_t n)
{
    memset(s, c, n);
    return s + n;
}

/* test_domain_of - a host name of exactly n octets, labels of 63 */
static char *
test_domain_of(char *s, size_t n)
{
    size_t  left = n;

    while (left > 0) {
        size_t  take = left > 63 ? 63 : left;

        if (left - take == 1)           /* never end on a lone dot */
            take--;
        s = test_fill(s, 'd', take);
        left -= take;
        if (left > 0) {
            *s++ = '.';
            left--;
        }
    }
    *s = '\0';
    return s;
}

/* test_parse_str - parse a NUL-terminated argument */
static enum mailaddr_err
test_parse_str(enum mailaddr_cmd cmd, const char *arg, unsigned opts,
               struct mailaddr_path *path, struct mailaddr_params *params)
{
    return mailaddr_parse(cmd, arg, strlen(arg), opts, path, params);
}

/* test_limit_local - 64 octets as sent, quotes and backslashes counted */
static void
test_limit_local(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    char    buf[1024], *p;
    size_t  i;

    (void) state;
    /* Dot-string: 64 ok, 65 too long. */
    p = buf;
    *p++ = '<';
    p = test_fill(p, 'l', 64);
    memcpy(p, "@x.org>", 8);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(path.local), 64);
    buf[1] = 'L';
    memmove(buf + 2, buf + 1, strlen(buf + 1) + 1);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_LOCAL_TOO_LONG);

    /* Quoted: 62 inside quotes is 64 sent; 63 is 65. */
    p = buf;
    *p++ = '<';
    *p++ = '"';
    p = test_fill(p, ' ', 62);
    memcpy(p, "\"@x.org>", 9);
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(path.local), 62);
    memmove(buf + 3, buf + 2, strlen(buf + 2) + 1);
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params),
                     MAILADDR_ERR_LOCAL_TOO_LONG);

    /* Quoted pairs count twice: 31 pairs = 64 sent, 31 octets kept. */
    p = buf;
    *p++ = '<';
    *p++ = '"';
    for (i = 0; i < 31; i++) {
        *p++ = '\\';
        *p++ = '"';
    }
    memcpy(p, "\"@x.org>", 9);
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(path.local), 31);
    assert_int_equal(strspn(path.local, "\""), 31);
    memmove(buf + 3, buf + 2, strlen(buf + 2) + 1);
    buf[2] = 'x';
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params),
                     MAILADDR_ERR_LOCAL_TOO_LONG);

    /* UTF-8 counts in octets: 32 two-octet characters are 64. */
    p = buf;
    *p++ = '<';
    for (i = 0; i < 32; i++) {
        *p++ = '\xc3';
        *p++ = '\xa9';
    }
    memcpy(p, "@x.org> SMTPUTF8", 17);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params), MAILADDR_OK);
    memmove(buf + 2, buf + 1, strlen(buf + 1) + 1);
    buf[1] = 'e';
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_LOCAL_TOO_LONG);

    /* The bare address form has the same limit. */
    p = test_fill(buf, 'l', 64);
    memcpy(p, "@x.org", 7);
    assert_int_equal(mailaddr_parse_addr(buf, strlen(buf), DEF, &path),
                     MAILADDR_OK);
    memmove(buf + 1, buf, strlen(buf) + 1);
    assert_int_equal(mailaddr_parse_addr(buf, strlen(buf), DEF, &path),
                     MAILADDR_ERR_LOCAL_TOO_LONG);
}

/* test_limit_domain - 255 octets, labels of 63 */
static void
test_limit_domain(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    char    buf[1024], *p;

    (void) state;
    /* Bare address: 255 ok, 256 too long. */
    memcpy(buf, "a@", 2);
    test_domain_of(buf + 2, 255);
    assert_int_equal(strlen(buf + 2), 255);
    assert_int_equal(mailaddr_parse_addr(buf, strlen(buf), DEF, &path),
                     MAILADDR_OK);
    assert_int_equal(strlen(path.domain), 255);
    assert_int_equal(strlen(path.addr), 257);
    assert_true(mailaddr_is_fqdn(path.domain));
    test_domain_of(buf + 2, 256);
    assert_int_equal(mailaddr_parse_addr(buf, strlen(buf), DEF, &path),
                     MAILADDR_ERR_DOMAIN_TOO_LONG);
    assert_false(mailaddr_is_fqdn(buf + 2));

    /* In a path, 255 passes the domain check but not the path's... */
    memcpy(buf, "<a@", 3);
    p = test_domain_of(buf + 3, 255);
    memcpy(p, ">", 2);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_PATH_TOO_LONG);
    /* ...and 256 fails the domain's own. */
    p = test_domain_of(buf + 3, 256);
    memcpy(p, ">", 2);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_DOMAIN_TOO_LONG);

    /* A long literal stops at the limit too. */
    memcpy(buf, "<a@[", 4);
    p = test_fill(buf + 4, '1', 300);
    memcpy(p, "]>", 3);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_DOMAIN_TOO_LONG);

    /* Labels: 63 ok, 64 not. */
    memcpy(buf, "<a@", 3);
    p = test_fill(buf + 3, 'x', 63);
    memcpy(p, ".org>", 6);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params), MAILADDR_OK);
    p = test_fill(buf + 3, 'x', 64);
    memcpy(p, ".org>", 6);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_DOMAIN);
}

/* test_limit_path - 256 octets with brackets and route */
static void
test_limit_path(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    char    buf[1024], *p;

    (void) state;
    /* "<" + 64 + "@" + 189 + ">" = 255 + 1 = 256 */
    buf[0] = '<';
    p = test_fill(buf + 1, 'l', 64);
    *p++ = '@';
    p = test_domain_of(p, 189);
    memcpy(p, "> SIZE=1", 9);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(path.addr), 254);
    p = test_domain_of(buf + 66, 190);
    memcpy(p, ">", 2);
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_PATH_TOO_LONG);

    /* A source route counts: "<@r:" + "a@" + d + ">" = 256. */
    memcpy(buf, "<@r:a@", 6);
    p = test_domain_of(buf + 6, 249);
    memcpy(p, ">", 2);
    assert_int_equal(strlen(buf), 256);
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params), MAILADDR_OK);
    assert_true(path.flags & MAILADDR_F_ROUTE);
    p = test_domain_of(buf + 6, 250);
    memcpy(p, ">", 2);
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params),
                     MAILADDR_ERR_PATH_TOO_LONG);

    /* Bare (LAX) paths count as if bracketed: 254 ok, 255 not. */
    memcpy(buf, "a@", 2);
    test_domain_of(buf + 2, 252);
    assert_int_equal(test_parse_str(M, buf, LAX, &path, &params), MAILADDR_OK);
    test_domain_of(buf + 2, 253);
    assert_int_equal(test_parse_str(M, buf, LAX, &path, &params),
                     MAILADDR_ERR_PATH_TOO_LONG);
}

/* test_limit_params - ENVID 100, ORCPT 500, SIZE LLONG_MAX */
static void
test_limit_params(void **state)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    char    buf[1024], *p;

    (void) state;
    memcpy(buf, "<a@b> ENVID=", 12);
    p = test_fill(buf + 12, 'e', 100);
    *p = '\0';
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(params.envid), 100);
    p = test_fill(buf + 12, 'e', 101);
    *p = '\0';
    assert_int_equal(test_parse_str(M, buf, DEF, &path, &params),
                     MAILADDR_ERR_ENVID);

    memcpy(buf, "<a@b> ORCPT=rfc822;", 19);
    p = test_fill(buf + 19, 'o', 500 - 7);
    *p = '\0';
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params), MAILADDR_OK);
    assert_int_equal(strlen(params.orcpt), 500);
    p = test_fill(buf + 19, 'o', 501 - 7);
    *p = '\0';
    assert_int_equal(test_parse_str(R, buf, DEF, &path, &params),
                     MAILADDR_ERR_ORCPT);
}

/* test_parse_addr - bare addresses from configuration or ORCPT */
static void
test_parse_addr(void **state)
{
    static const struct {
        const char *in;
        unsigned opts;
        enum mailaddr_err err;
        const char *addr;
    } cases[] = {
        {"a@b.c", DEF, MAILADDR_OK, "a@b.c"},
        {"\"a b\"@c", DEF, MAILADDR_OK, "a b@c"},
        {"a@[IPv6:::1]", DEF, MAILADDR_OK, "a@[IPv6:::1]"},
        {"j\xc3\xb6rg@x", TXN, MAILADDR_OK, "j\xc3\xb6rg@x"},
        {"j\xc3\xb6rg@x", DEF, MAILADDR_ERR_UTF8_UNDECLARED, NULL},
        {"", DEF, MAILADDR_ERR_EMPTY, NULL},
        {"<a@b.c>", DEF, MAILADDR_ERR_UNBALANCED, NULL},
        {"a@b.c>", DEF, MAILADDR_ERR_UNBALANCED, NULL},
        {"a", DEF, MAILADDR_ERR_NO_DOMAIN, NULL},
        {"postmaster", DEF, MAILADDR_ERR_NO_DOMAIN, NULL},
        {"a b@c", DEF, MAILADDR_ERR_LOCAL, NULL},
        {"a@b c", DEF, MAILADDR_ERR_DOMAIN, NULL},
        {"a@b ", DEF, MAILADDR_ERR_DOMAIN, NULL},
        {"@a:b@c", DEF, MAILADDR_ERR_LOCAL, NULL},
        {"a@b\n", DEF, MAILADDR_ERR_CONTROL, NULL},
        {"a@[1.2.3.4] ", DEF, MAILADDR_ERR_LITERAL, NULL},
    };
    struct mailaddr_path path;
    size_t  i;
    char   *in;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t  len = strlen(cases[i].in);

        in = test_copy(cases[i].in, len);
        if (mailaddr_parse_addr(in, len, cases[i].opts, &path) != cases[i].err)
            fail_msg("case %zu \"%s\"", i, cases[i].in);
        free(in);
        if (cases[i].addr)
            assert_string_equal(path.addr, cases[i].addr);
    }
}

/* test_replies - every code has a reply for both commands, and a reason */
static void
test_replies(void **state)
{
    int     e;
    const char *r;

    (void) state;
    for (e = 0; e < MAILADDR_ERR_COUNT; e++) {
        r = mailaddr_reply((enum mailaddr_err) e, M);
        assert_true(strlen(r) > 10 && r[3] == ' ' && r[5] == '.');
        assert_true(r[0] == (e == MAILADDR_OK ? '2' : '5'));
        assert_true(r[0] == r[4]);      /* enhanced code class matches */
        r = mailaddr_reply((enum mailaddr_err) e, R);
        assert_true(strlen(r) > 10 && r[3] == ' ' && r[0] == r[4]);
        assert_true(strlen(mailaddr_strerror((enum mailaddr_err) e)) > 0);
        assert_null(strchr(r, '\r'));
    }
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_LOCAL, M),
                        "501 5.1.7 Bad sender address syntax");
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_LOCAL, R),
                        "501 5.1.3 Bad recipient address syntax");
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_PARAM_UNKNOWN, M),
                        "555 5.5.4 Unsupported option");
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_EMPTY, M),
                        "501 5.5.4 Syntax: MAIL FROM:<address>");
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_EMPTY, R),
                        "501 5.5.4 Syntax: RCPT TO:<address>");
    assert_string_equal(mailaddr_reply(MAILADDR_ERR_NULL_RCPT, R),
                        "501 5.1.3 Bad recipient address syntax");
    assert_memory_equal(mailaddr_reply(MAILADDR_ERR_UTF8_UNDECLARED, R),
                        "553 5.6.7 ", 10);
    assert_memory_equal(mailaddr_reply(MAILADDR_ERR_SIZE_OVERFLOW, M),
                        "552 5.3.4 ", 10);
    assert_memory_equal(mailaddr_reply(MAILADDR_ERR_NOTIFY, R),
                        "501 5.5.4 ", 10);
    assert_memory_equal(mailaddr_reply(MAILADDR_ERR_PATH_TOO_LONG, R),
                        "501 5.1.3 ", 10);
}

/* test_reply_bad_code - an out-of-range code is our bug: panic */
static void
test_reply_bad_code(void **state)
{
    (void) state;
    testutil_log_start();
    TESTUTIL_EXPECT_FATAL(mailaddr_reply(MAILADDR_ERR_COUNT, M));
    TESTUTIL_EXPECT_FATAL(mailaddr_strerror((enum mailaddr_err) -1));
    assert_true(testutil_logged("bad error code"));
    testutil_log_stop();
}

/* test_domain - the text after the last "@" */
static void
test_domain(void **state)
{
    (void) state;
    assert_string_equal(mailaddr_domain("a@b"), "b");
    assert_string_equal(mailaddr_domain("a@b@c.d"), "c.d");
    assert_string_equal(mailaddr_domain("postmaster"), "");
    assert_string_equal(mailaddr_domain(""), "");
    assert_string_equal(mailaddr_domain("a@"), "");
    assert_string_equal(mailaddr_domain("a@[IPv6:::1]"), "[IPv6:::1]");
}

/* test_is_fqdn - two or more valid labels, top label not numeric */
static void
test_is_fqdn(void **state)
{
    static const struct {
        const char *domain;
        int     fqdn;
    } cases[] = {
        {"example.com", 1}, {"a.b", 1}, {"123.com", 1}, {"a.b-c", 1},
        {"xn--bcher-kva.example", 1}, {"b\xc3\xbc" "cher.example", 1},
        {"A.B.C.D.E", 1}, {"a.b2", 1},
        {"localhost", 0}, {"", 0}, {"example.com.", 0}, {".example.com", 0},
        {"a..b", 0}, {"-a.com", 0}, {"a-.com", 0}, {"a.c-", 0},
        {"a.123", 0}, {"1.2.3.4", 0}, {"[192.0.2.1]", 0},
        {"[IPv6:::1]", 0}, {"a_b.com", 0}, {"a.\xff", 0}, {"a b.com", 0},
        {"a.\xc3", 0}, {".", 0},
    };
    char    buf[512], *p;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (mailaddr_is_fqdn(cases[i].domain) != cases[i].fqdn)
            fail_msg("is_fqdn(\"%s\") != %d", cases[i].domain,
                     cases[i].fqdn);
    p = test_fill(buf, 'x', 63);
    memcpy(p, ".org", 5);
    assert_true(mailaddr_is_fqdn(buf));
    p = test_fill(buf, 'x', 64);
    memcpy(p, ".org", 5);
    assert_false(mailaddr_is_fqdn(buf));
    test_domain_of(buf, 255);
    assert_true(mailaddr_is_fqdn(buf));
    test_domain_of(buf, 256);
    assert_false(mailaddr_is_fqdn(buf));
}

/* test_domain_eq - ASCII case and one trailing dot do not matter */
static void
test_domain_eq(void **state)
{
    (void) state;
    assert_true(mailaddr_domain_eq("Example.COM", "example.com"));
    assert_true(mailaddr_domain_eq("example.com.", "EXAMPLE.com"));
    assert_true(mailaddr_domain_eq("example.com", "example.com."));
    assert_true(mailaddr_domain_eq("", ""));
    assert_true(mailaddr_domain_eq("[IPv6:::1]", "[ipv6:::1]"));
    assert_false(mailaddr_domain_eq("a.com", "b.com"));
    assert_false(mailaddr_domain_eq("a.com", "a.co"));
    assert_false(mailaddr_domain_eq("a.com..", "a.com"));
    assert_false(mailaddr_domain_eq("\xc3\xa9.com", "\xc3\x89.com"));
    assert_false(mailaddr_domain_eq("a.com", ""));
}

/* test_quote_local - dot-strings as they are, the rest quoted */
static void
test_quote_local(void **state)
{
    static const struct {
        const char *local;
        const char *out;
    } cases[] = {
        {"john", "john"},
        {"john.smith", "john.smith"},
        {"!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"},
        {"j\xc3\xb6rg", "j\xc3\xb6rg"},
        {"john smith", "\"john smith\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {"", "\"\""},
        {".a", "\".a\""},
        {"a.", "\"a.\""},
        {"a..b", "\"a..b\""},
        {"a@b", "\"a@b\""},
        {"a<b>", "\"a<b>\""},
    };
    struct dstr *d = dstr_new(8, 100);
    struct dstr *small = dstr_new(8, 5);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(d);
        assert_int_equal(mailaddr_quote_local(d, cases[i].local,
                                              strlen(cases[i].local)), 0);
        assert_string_equal(d->data, cases[i].out);
    }

    /* Control characters cannot be carried: -1, out unchanged. */
    dstr_set_str(d, "keep");
    assert_int_equal(mailaddr_quote_local(d, "a\tb", 3), -1);
    assert_string_equal(d->data, "keep");
    assert_int_equal(mailaddr_quote_local(d, "a\0b", 3), -1);
    assert_string_equal(d->data, "keep");

    /* The dstr limit: -1, out unchanged, even half way through quoting. */
    dstr_set_str(small, "x");
    assert_int_equal(mailaddr_quote_local(small, "abcd", 4), 0);
    assert_string_equal(small->data, "xabcd");
    dstr_set_str(small, "x");
    assert_int_equal(mailaddr_quote_local(small, "abcde", 5), -1);
    assert_string_equal(small->data, "x");
    dstr_reset(small);
    assert_int_equal(mailaddr_quote_local(small, "a b", 3), 0);
    assert_string_equal(small->data, "\"a b\"");
    dstr_reset(small);
    assert_int_equal(mailaddr_quote_local(small, "a\"b", 3), -1);
    assert_string_equal(small->data, "");
    dstr_set_str(small, "x");
    assert_int_equal(mailaddr_quote_local(small, "a\\", 2), -1);
    assert_string_equal(small->data, "x");
    dstr_set_str(small, "xxx");
    assert_int_equal(mailaddr_quote_local(small, "\\", 1), -1);
    assert_string_equal(small->data, "xxx");
    dstr_set_str(small, "xxxxx");
    assert_int_equal(mailaddr_quote_local(small, " ", 1), -1);
    assert_string_equal(small->data, "xxxxx");
    dstr_free(d);
    dstr_free(small);
}

/* test_quote - whole addresses, split at the last "@" */
static void
test_quote(void **state)
{
    struct dstr *d = dstr_new(8, 100);
    struct dstr *small = dstr_new(8, 8);

    (void) state;
    assert_int_equal(mailaddr_quote(d, "john smith@example.com"), 0);
    assert_string_equal(d->data, "\"john smith\"@example.com");
    dstr_reset(d);
    assert_int_equal(mailaddr_quote(d, "a@b@c"), 0);
    assert_string_equal(d->data, "\"a@b\"@c");
    dstr_reset(d);
    assert_int_equal(mailaddr_quote(d, ""), 0);
    assert_string_equal(d->data, "");
    assert_int_equal(mailaddr_quote(d, "postmaster"), 0);
    assert_string_equal(d->data, "postmaster");
    dstr_reset(d);
    assert_int_equal(mailaddr_quote(d, "@x.org"), 0);
    assert_string_equal(d->data, "\"\"@x.org");
    dstr_reset(d);
    assert_int_equal(mailaddr_quote(d, "a\x01@x.org"), -1);
    assert_string_equal(d->data, "");

    dstr_set_str(small, "<");
    assert_int_equal(mailaddr_quote(small, "ab@cd.e"), 0);
    assert_string_equal(small->data, "<ab@cd.e");
    dstr_set_str(small, "<");
    assert_int_equal(mailaddr_quote(small, "ab@cd.ef"), -1);
    assert_string_equal(small->data, "<");
    dstr_free(d);
    dstr_free(small);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_null_arg),
        cmocka_unit_test(test_len_respected),
        cmocka_unit_test(test_param_table),
        cmocka_unit_test(test_limit_local),
        cmocka_unit_test(test_limit_domain),
        cmocka_unit_test(test_limit_path),
        cmocka_unit_test(test_limit_params),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_reply_bad_code),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_is_fqdn),
        cmocka_unit_test(test_domain_eq),
        cmocka_unit_test(test_quote_local),
        cmocka_unit_test(test_quote),
    };

    return cmocka_run_group_tests_name("mailaddr", tests, NULL, NULL);
}
