/* smtpd_proxy - the PROXY protocol v1/v2 header parser; see smtpd_proxy.h. */

#include <string.h>
#include <sys/socket.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "smtpd/smtpd_proxy.h"

#define PROXY_V1_PREFIX "PROXY "
#define PROXY_V1_PREFIX_LEN (sizeof(PROXY_V1_PREFIX) - 1)
#define PROXY_V1_FIELDS 4               /* src dst sport dport */
#define PROXY_V2_SIG_LEN 12

/* v2 command (low nibble of byte 13) */
#define PROXY_V2_LOCAL 0x0
#define PROXY_V2_PROXY 0x1

/* v2 family (high nibble of byte 14) and transport (low nibble) */
#define PROXY_V2_AF_UNSPEC 0x0
#define PROXY_V2_AF_INET 0x1
#define PROXY_V2_AF_INET6 0x2
#define PROXY_V2_AF_UNIX 0x3
#define PROXY_V2_STREAM 0x1
#define PROXY_V2_DGRAM 0x2

/* the v2 signature: CR LF CR LF NUL CR LF "QUIT" LF */
static const unsigned char proxy_v2_sig[PROXY_V2_SIG_LEN] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* proxy_bad - refuse, with a reason */
static enum smtpd_proxy_result
proxy_bad(struct dstr *why, const char *reason)
{
    (void) dstr_append_str(why, reason);
    return SMTPD_PROXY_BAD;
}

/* proxy_min - the smaller of two sizes */
static size_t
proxy_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/*
 * proxy_v1_addr - a v1 address field of the given family. The character
 * check comes first: netaddr_parse_n() also takes "[...]" and "IPv6:"
 * forms, which are not PROXY syntax.
 */
static int
proxy_v1_addr(const unsigned char *tok, size_t len, int family,
              struct netaddr *addr)
{
    const char *ok = family == AF_INET ? "0123456789."
        : "0123456789abcdefABCDEF:.";
    size_t  i;

    for (i = 0; i < len; i++)
        if (strchr(ok, tok[i]) == NULL)
            return -1;
    if (netaddr_parse_n(addr, (const char *) tok, len) < 0
        || addr->family != family)
        return -1;
    return 0;
}

/* proxy_v1_port - a v1 port: 0 to 65535, decimal, no leading zero */
static int
proxy_v1_port(const unsigned char *tok, size_t len, unsigned *port)
{
    unsigned long n = 0;
    size_t  i;

    if (len == 0 || len > 5 || (len > 1 && tok[0] == '0'))
        return -1;
    for (i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return -1;
        n = n * 10 + (unsigned long) (tok[i] - '0');
    }
    if (n > 65535)
        return -1;
    *port = (unsigned) n;
    return 0;
}

/*
 * proxy_v1_line - find the CRLF that ends a v1 line: its offset, 0 for
 * "need more" (a line cannot end at offset 0: it starts "PROXY "), or
 * -1 with the reason in why. Only printable ASCII may precede it; the
 * CRLF must end within SMTPD_PROXY_V1_MAX bytes.
 */
static long
proxy_v1_line(const unsigned char *buf, size_t len, struct dstr *why)
{
    size_t  max = proxy_min(len, SMTPD_PROXY_V1_MAX), i;

    for (i = 0; i < max; i++) {
        if (buf[i] == '\r') {
            if (i + 1 >= SMTPD_PROXY_V1_MAX)
                break;                  /* no room left for the LF */
            if (i + 1 >= len)
                return 0;
            if (buf[i + 1] != '\n') {
                (void) proxy_bad(why, "v1: CR without LF");
                return -1;
            }
            return (long) i;
        }
        if (buf[i] < 0x20 || buf[i] > 0x7e) {
            (void) proxy_bad(why, buf[i] == '\n' ? "v1: LF without CR"
                             : "v1: a control or non-ASCII byte");
            return -1;
        }
    }
    if (i == max && len < SMTPD_PROXY_V1_MAX)
        return 0;
    (void) dstr_appendf(why, "v1: no CRLF within %d bytes",
                        SMTPD_PROXY_V1_MAX);
    return -1;
}

/* proxy_v1 - "PROXY TCP4|TCP6|UNKNOWN ...\r\n"; buf starts with a prefix */
static enum smtpd_proxy_result
proxy_v1(const unsigned char *buf, size_t len, struct smtpd_proxy_hdr *out,
         size_t *consumed, struct dstr *why)
{
    const unsigned char *p, *end, *tok[PROXY_V1_FIELDS];
    size_t  toklen[PROXY_V1_FIELDS], plen;
    long    crlf;
    int     family, i;

    if ((crlf = proxy_v1_line(buf, len, why)) < 0)
        return SMTPD_PROXY_BAD;
    if (crlf == 0)
        return SMTPD_PROXY_NEED_MORE;
    p = buf + PROXY_V1_PREFIX_LEN;
    end = buf + crlf;
    for (plen = 0; p + plen < end && p[plen] != ' '; plen++)
         /* void */ ;
    out->version = 1;
    if (plen == 7 && memcmp(p, "UNKNOWN", 7) == 0) {
        /* whatever follows UNKNOWN is to be ignored, says the spec */
        if (p + plen < end && p[plen] != ' ')
            return proxy_bad(why, "v1: unknown protocol");
        out->local = 1;
        *consumed = (size_t) crlf + 2;
        return SMTPD_PROXY_OK;
    }
    if (plen == 4 && memcmp(p, "TCP4", 4) == 0)
        family = AF_INET;
    else if (plen == 4 && memcmp(p, "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return proxy_bad(why, plen ? "v1: unknown protocol"
                         : "v1: no protocol");
    p += plen;
    for (i = 0; i < PROXY_V1_FIELDS; i++) {
        if (p == end || *p != ' ')
            return proxy_bad(why, "v1: missing fields");
        tok[i] = ++p;
        while (p < end && *p != ' ')
            p++;
        if ((toklen[i] = (size_t) (p - tok[i])) == 0)
            return proxy_bad(why, "v1: empty field (two spaces)");
    }
    if (p != end)
        return proxy_bad(why, "v1: too many fields");
    if (proxy_v1_addr(tok[0], toklen[0], family, &out->src) < 0)
        return proxy_bad(why, family == AF_INET
                         ? "v1: bad TCP4 source address"
                         : "v1: bad TCP6 source address");
    if (proxy_v1_addr(tok[1], toklen[1], family, &out->dst) < 0)
        return proxy_bad(why, family == AF_INET
                         ? "v1: bad TCP4 destination address"
                         : "v1: bad TCP6 destination address");
    if (proxy_v1_port(tok[2], toklen[2], &out->src_port) < 0)
        return proxy_bad(why, "v1: bad source port");
    if (proxy_v1_port(tok[3], toklen[3], &out->dst_port) < 0)
        return proxy_bad(why, "v1: bad destination port");
    *consumed = (size_t) crlf + 2;
    return SMTPD_PROXY_OK;
}

/* proxy_v2_addr - one address of a v2 block */
static void
proxy_v2_addr(struct netaddr *addr, int family, const unsigned char *bytes)
{
    memset(addr, 0, sizeof(*addr));
    addr->family = family;
    memcpy(addr->bytes, bytes, family == AF_INET ? 4 : 16);
}

/* proxy_v2_port - a 16-bit port in network order */
static unsigned
proxy_v2_port(const unsigned char *bytes)
{
    return (unsigned) bytes[0] << 8 | bytes[1];
}

/*
 * proxy_v2 - the binary header; buf starts with (a prefix of) the
 * signature. Each byte is judged as soon as it is there, so a wrong
 * version or family is refused without waiting for the length.
 */
static enum smtpd_proxy_result
proxy_v2(const unsigned char *buf, size_t len, struct smtpd_proxy_hdr *out,
         size_t *consumed, struct dstr *why)
{
    unsigned cmd = 0, fam = 0, proto = 0;
    size_t  block, addrlen = 0, max;
    const unsigned char *a = buf + SMTPD_PROXY_V2_FIXED;

    if (len <= PROXY_V2_SIG_LEN)
        return SMTPD_PROXY_NEED_MORE;
    if (buf[12] >> 4 != 2) {
        (void) dstr_appendf(why, "v2: unsupported version %u",
                            (unsigned) buf[12] >> 4);
        return SMTPD_PROXY_BAD;
    }
    cmd = buf[12] & 0x0f;
    if (cmd != PROXY_V2_LOCAL && cmd != PROXY_V2_PROXY) {
        (void) dstr_appendf(why, "v2: unknown command %u", cmd);
        return SMTPD_PROXY_BAD;
    }
    if (len < 14)
        return SMTPD_PROXY_NEED_MORE;
    fam = buf[13] >> 4;
    proto = buf[13] & 0x0f;
    if (fam > PROXY_V2_AF_UNIX || proto > PROXY_V2_DGRAM) {
        (void) dstr_appendf(why, "v2: undefined family/transport 0x%02x",
                            (unsigned) buf[13]);
        return SMTPD_PROXY_BAD;
    }
    if (cmd == PROXY_V2_PROXY) {
        if (fam == PROXY_V2_AF_INET)
            addrlen = 12;
        else if (fam == PROXY_V2_AF_INET6)
            addrlen = 36;
        else
            return proxy_bad(why, fam == PROXY_V2_AF_UNIX
                             ? "v2: PROXY for a unix socket client"
                             : "v2: PROXY without an address family");
        if (proto != PROXY_V2_STREAM)
            return proxy_bad(why, "v2: PROXY for a transport other than"
                             " STREAM");
        max = addrlen + SMTPD_PROXY_V2_TLV_MAX;
    } else {
        max = SMTPD_PROXY_V2_BLOCK_MAX;
    }
    if (len < SMTPD_PROXY_V2_FIXED)
        return SMTPD_PROXY_NEED_MORE;
    block = (size_t) buf[14] << 8 | buf[15];
    if (block < addrlen) {
        (void) dstr_appendf(why, "v2: length %zu is shorter than the"
                            " addresses (%zu)", block, addrlen);
        return SMTPD_PROXY_BAD;
    }
    if (block > max) {
        (void) dstr_appendf(why, "v2: length %zu is more than %zu", block,
                            max);
        return SMTPD_PROXY_BAD;
    }
    if (len < SMTPD_PROXY_V2_FIXED + block)
        return SMTPD_PROXY_NEED_MORE;
    out->version = 2;
    *consumed = SMTPD_PROXY_V2_FIXED + block;
    if (cmd == PROXY_V2_LOCAL) {
        out->local = 1;
        return SMTPD_PROXY_OK;
    }
    if (fam == PROXY_V2_AF_INET) {
        proxy_v2_addr(&out->src, AF_INET, a);
        proxy_v2_addr(&out->dst, AF_INET, a + 4);
        out->src_port = proxy_v2_port(a + 8);
        out->dst_port = proxy_v2_port(a + 10);
    } else {
        proxy_v2_addr(&out->src, AF_INET6, a);
        proxy_v2_addr(&out->dst, AF_INET6, a + 16);
        out->src_port = proxy_v2_port(a + 32);
        out->dst_port = proxy_v2_port(a + 34);
    }
    /* XXX TLVs (ALPN, authority, TLS, unique id...) are skipped unread */
    return SMTPD_PROXY_OK;
}

/* smtpd_proxy_parse - a PROXY header at the start of buf[len] */
enum smtpd_proxy_result
smtpd_proxy_parse(const unsigned char *buf, size_t len,
                  struct smtpd_proxy_hdr *out, size_t *consumed,
                  struct dstr *why)
{
    memset(out, 0, sizeof(*out));
    *consumed = 0;
    if (len == 0)
        return SMTPD_PROXY_NEED_MORE;
    if (memcmp(buf, proxy_v2_sig, proxy_min(len, PROXY_V2_SIG_LEN)) == 0)
        return proxy_v2(buf, len, out, consumed, why);
    if (memcmp(buf, PROXY_V1_PREFIX, proxy_min(len, PROXY_V1_PREFIX_LEN)) == 0)
        return len <= PROXY_V1_PREFIX_LEN ? SMTPD_PROXY_NEED_MORE
            : proxy_v1(buf, len, out, consumed, why);
    return proxy_bad(why, "not a PROXY protocol header");
}

/* smtpd_proxy_protocol - what smtpd_upstream_proxy_protocol asks for */
enum smtpd_proxy_kind
smtpd_proxy_protocol(const char *value)
{
    if (value == NULL || *value == '\0')
        return SMTPD_PROXY_NONE;
    if (strcmp(value, "haproxy") == 0)
        return SMTPD_PROXY_HAPROXY;
    return SMTPD_PROXY_UNSUPPORTED;
}
