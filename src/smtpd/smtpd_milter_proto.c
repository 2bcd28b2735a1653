/* smtpd_milter_proto - encode milter commands, decode milter replies; see smtpd_milter_proto.h. */

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_milter_proto.h"

#define PROTO_HEAD 5                    /* length (4) and code (1) */

/* proto_u32 - a 32-bit number from network byte order */
static uint32_t
proto_u32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
        | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/* proto_put_u32 - a 32-bit number in network byte order */
static int
proto_put_u32(struct dstr *out, uint32_t v)
{
    unsigned char b[4];

    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;
    return dstr_append(out, b, sizeof(b));
}

/*
 * proto_begin - the length and code of a packet with data_len bytes of
 * data. Returns out's old length (to undo with) or -1 if it is too big.
 */
static long
proto_begin(struct dstr *out, int cmd, size_t data_len)
{
    size_t  start = out->len;

    if (data_len > SMTPD_MILTER_PROTO_DATA_MAX)
        return -1;
    if (proto_put_u32(out, (uint32_t) (data_len + 1)) < 0
        || dstr_append_char(out, cmd) < 0) {
        dstr_truncate(out, start);
        return -1;
    }
    return (long) start;
}

/* proto_end - finish a packet: 0, or undo it and -1 if an append failed */
static int
proto_end(struct dstr *out, long start, int failed)
{
    if (failed) {
        dstr_truncate(out, (size_t) start);
        return -1;
    }
    return 0;
}

/* proto_put_str - a string with its NUL */
static int
proto_put_str(struct dstr *out, const char *s)
{
    return dstr_append(out, s, strlen(s) + 1);
}

/* smtpd_milter_proto_optneg - SMFIC_OPTNEG: what we speak and allow */
int
smtpd_milter_proto_optneg(struct dstr *out, uint32_t version,
                          uint32_t actions, uint32_t protocol)
{
    long    start = proto_begin(out, SMTPD_MILTER_C_OPTNEG, 12);
    int     failed;

    if (start < 0)
        return -1;
    failed = proto_put_u32(out, version) < 0 || proto_put_u32(out, actions) < 0
        || proto_put_u32(out, protocol) < 0;
    return proto_end(out, start, failed);
}

/* smtpd_milter_proto_macro - SMFIC_MACRO: name/value pairs for a command */
int
smtpd_milter_proto_macro(struct dstr *out, int cmd,
                         const struct smtpd_milter_proto_macro *m,
                         size_t count)
{
    size_t  i, len = 1;
    long    start;
    int     failed;

    for (i = 0; i < count; i++) {
        len += strlen(m[i].name) + 1 + strlen(m[i].value) + 1;
        if (len > SMTPD_MILTER_PROTO_DATA_MAX)
            return -1;
    }
    if ((start = proto_begin(out, SMTPD_MILTER_C_MACRO, len)) < 0)
        return -1;
    failed = dstr_append_char(out, cmd) < 0;
    for (i = 0; i < count && !failed; i++)
        failed = proto_put_str(out, m[i].name) < 0
            || proto_put_str(out, m[i].value) < 0;
    return proto_end(out, start, failed);
}

/*
 * smtpd_milter_proto_connect - SMFIC_CONNECT: the client's name, family,
 * port and address (family UNKNOWN sends the name alone).
 */
int
smtpd_milter_proto_connect(struct dstr *out, const char *host, int family,
                           unsigned port, const char *addr)
{
    size_t  len = strlen(host) + 1 + 1;
    unsigned char p[2];
    long    start;
    int     failed;

    if (family != SMTPD_MILTER_FAMILY_UNKNOWN)
        len += 2 + strlen(addr) + 1;
    if ((start = proto_begin(out, SMTPD_MILTER_C_CONNECT, len)) < 0)
        return -1;
    failed = proto_put_str(out, host) < 0 || dstr_append_char(out, family) < 0;
    if (!failed && family != SMTPD_MILTER_FAMILY_UNKNOWN) {
        p[0] = (unsigned char) ((port >> 8) & 0xff);
        p[1] = (unsigned char) (port & 0xff);
        failed = dstr_append(out, p, 2) < 0 || proto_put_str(out, addr) < 0;
    }
    return proto_end(out, start, failed);
}

/* smtpd_milter_proto_helo - SMFIC_HELO: the HELO or EHLO argument */
int
smtpd_milter_proto_helo(struct dstr *out, const char *helo)
{
    long    start = proto_begin(out, SMTPD_MILTER_C_HELO, strlen(helo) + 1);

    if (start < 0)
        return -1;
    return proto_end(out, start, proto_put_str(out, helo) < 0);
}

/* proto_envelope - MAIL or RCPT: "<addr>" and the ESMTP parameters */
static int
proto_envelope(struct dstr *out, int cmd, const char *addr,
               const char *const *args, size_t nargs)
{
    size_t  i, len = strlen(addr) + 3;
    long    start;
    int     failed;

    for (i = 0; i < nargs; i++) {
        len += strlen(args[i]) + 1;
        if (len > SMTPD_MILTER_PROTO_DATA_MAX)
            return -1;
    }
    if ((start = proto_begin(out, cmd, len)) < 0)
        return -1;
    failed = dstr_append_char(out, '<') < 0
        || dstr_append_str(out, addr) < 0
        || dstr_append(out, ">", 2) < 0;
    for (i = 0; i < nargs && !failed; i++)
        failed = proto_put_str(out, args[i]) < 0;
    return proto_end(out, start, failed);
}

/* smtpd_milter_proto_mail - SMFIC_MAIL */
int
smtpd_milter_proto_mail(struct dstr *out, const char *sender,
                        const char *const *args, size_t nargs)
{
    return proto_envelope(out, SMTPD_MILTER_C_MAIL, sender, args, nargs);
}

/* smtpd_milter_proto_rcpt - SMFIC_RCPT */
int
smtpd_milter_proto_rcpt(struct dstr *out, const char *rcpt,
                        const char *const *args, size_t nargs)
{
    return proto_envelope(out, SMTPD_MILTER_C_RCPT, rcpt, args, nargs);
}

/* smtpd_milter_proto_header - SMFIC_HEADER: name and counted value */
int
smtpd_milter_proto_header(struct dstr *out, const char *name,
                          const char *value, size_t value_len)
{
    size_t  len = strlen(name) + 1 + value_len + 1, done = 0, n;
    const char *nul;
    long    start;
    int     failed;

    if (value_len > SMTPD_MILTER_PROTO_DATA_MAX)
        return -1;
    if ((start = proto_begin(out, SMTPD_MILTER_C_HEADER, len)) < 0)
        return -1;
    failed = proto_put_str(out, name) < 0;
    /* a NUL would end the value early: it goes out as a space */
    while (!failed && done < value_len) {
        nul = memchr(value + done, '\0', value_len - done);
        n = nul ? (size_t) (nul - (value + done)) : value_len - done;
        failed = dstr_append(out, value + done, n) < 0;
        done += n;
        if (!failed && nul != NULL) {
            failed = dstr_append_char(out, ' ') < 0;
            done++;
        }
    }
    if (!failed)
        failed = dstr_append_char(out, '\0') < 0;
    return proto_end(out, start, failed);
}

/* smtpd_milter_proto_body - SMFIC_BODY: one chunk of the body */
int
smtpd_milter_proto_body(struct dstr *out, const void *buf, size_t len)
{
    long    start = proto_begin(out, SMTPD_MILTER_C_BODY, len);

    if (start < 0)
        return -1;
    return proto_end(out, start, dstr_append(out, buf, len) < 0);
}

/* smtpd_milter_proto_unknown - SMFIC_UNKNOWN: the command line */
int
smtpd_milter_proto_unknown(struct dstr *out, const char *line)
{
    long    start = proto_begin(out, SMTPD_MILTER_C_UNKNOWN,
                                strlen(line) + 1);

    if (start < 0)
        return -1;
    return proto_end(out, start, proto_put_str(out, line) < 0);
}

/* smtpd_milter_proto_simple - a command without data: DATA, EOH, ... */
int
smtpd_milter_proto_simple(struct dstr *out, int cmd)
{
    switch (cmd) {
    case SMTPD_MILTER_C_ABORT:
    case SMTPD_MILTER_C_BODYEOB:
    case SMTPD_MILTER_C_EOH:
    case SMTPD_MILTER_C_QUIT:
    case SMTPD_MILTER_C_QUIT_NC:
    case SMTPD_MILTER_C_DATA:
        return proto_begin(out, cmd, 0) < 0 ? -1 : 0;
    default:
        return -1;
    }
}

/* proto_why - explain a decode failure; returns -1 */
static int __attribute__((format(printf, 2, 3)))
proto_why(struct dstr *why, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL) {
        dstr_reset(why);
        va_start(ap, fmt);
        (void) dstr_vappendf(why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*
 * proto_string - the NUL-terminated string at data[*off], moving *off
 * past it; NULL if the data ends before a NUL.
 */
static const char *
proto_string(const unsigned char *data, size_t len, size_t *off)
{
    const unsigned char *nul;

    if (*off >= len)
        return NULL;
    if ((nul = memchr(data + *off, '\0', len - *off)) == NULL)
        return NULL;
    data += *off;
    *off += (size_t) (nul - data) + 1;
    return (const char *) data;
}

/* proto_header_name - printable ASCII except ':', at least one */
static int
proto_header_name(const char *name)
{
    const unsigned char *p = (const unsigned char *) name;

    if (*p == '\0')
        return 0;
    for (; *p; p++)
        if (*p < 33 || *p > 126 || *p == ':')
            return 0;
    return 1;
}

/*
 * smtpd_milter_proto_reply_valid - an SMTP reply a milter may give: one
 * or more lines "4xx" or "5xx" (the same code on each), '-' after the
 * code on every line but the last, ' ' or nothing on the last; lines
 * joined by CRLF; no other control characters but tab.
 */
int
smtpd_milter_proto_reply_valid(const char *text)
{
    const unsigned char *p = (const unsigned char *) text;
    const unsigned char *first = p, *q;
    int     sep;

    if (p[0] != '4' && p[0] != '5')
        return 0;
    for (;;) {
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9'
            || p[2] < '0' || p[2] > '9' || memcmp(p, first, 3) != 0)
            return 0;
        if ((sep = p[3]) == '\0')
            return 1;
        if (sep != ' ' && sep != '-')
            return 0;
        for (q = p + 4; *q && *q != '\r'; q++)
            if (*q < 32 && *q != '\t')
                return 0;
        if (*q == '\0')
            return sep == ' ';
        if (q[1] != '\n' || sep != '-')
            return 0;
        p = q + 2;
    }
}

/* smtpd_milter_proto_code_name - a reply or command code for people */
const char *
smtpd_milter_proto_code_name(int code)
{
    switch (code) {
    case SMTPD_MILTER_R_ADDRCPT:
        return "ADDRCPT";
    case SMTPD_MILTER_R_DELRCPT:
        return "DELRCPT";
    case SMTPD_MILTER_R_ADDRCPT_PAR:
        return "ADDRCPT_PAR";
    case SMTPD_MILTER_R_SHUTDOWN:
        return "SHUTDOWN";
    case SMTPD_MILTER_R_ACCEPT:
        return "ACCEPT";
    case SMTPD_MILTER_R_REPLBODY:
        return "REPLBODY";
    case SMTPD_MILTER_R_CONTINUE:
        return "CONTINUE";
    case SMTPD_MILTER_R_DISCARD:
        return "DISCARD";
    case SMTPD_MILTER_R_CHGFROM:
        return "CHGFROM";
    case SMTPD_MILTER_R_CONN_FAIL:
        return "CONN_FAIL";
    case SMTPD_MILTER_R_ADDHEADER:
        return "ADDHEADER";
    case SMTPD_MILTER_R_INSHEADER:
        return "INSHEADER";
    case SMTPD_MILTER_R_CHGHEADER:
        return "CHGHEADER";
    case SMTPD_MILTER_R_PROGRESS:
        return "PROGRESS";
    case SMTPD_MILTER_R_QUARANTINE:
        return "QUARANTINE";
    case SMTPD_MILTER_R_REJECT:
        return "REJECT";
    case SMTPD_MILTER_R_SKIP:
        return "SKIP";
    case SMTPD_MILTER_R_TEMPFAIL:
        return "TEMPFAIL";
    case SMTPD_MILTER_R_REPLYCODE:
        return "REPLYCODE";
    case SMTPD_MILTER_R_OPTNEG:
        return "OPTNEG";
    case SMTPD_MILTER_C_ABORT:
        return "ABORT";
    case SMTPD_MILTER_C_BODY:
        return "BODY";
    case SMTPD_MILTER_C_CONNECT:
        return "CONNECT";
    case SMTPD_MILTER_C_MACRO:
        return "MACRO";
    case SMTPD_MILTER_C_BODYEOB:
        return "BODYEOB";
    case SMTPD_MILTER_C_HELO:
        return "HELO";
    case SMTPD_MILTER_C_QUIT_NC:
        return "QUIT_NC";
    case SMTPD_MILTER_C_HEADER:
        return "HEADER";
    case SMTPD_MILTER_C_MAIL:
        return "MAIL";
    case SMTPD_MILTER_C_EOH:
        return "EOH";
    case SMTPD_MILTER_C_QUIT:
        return "QUIT";
    case SMTPD_MILTER_C_RCPT:
        return "RCPT";
    case SMTPD_MILTER_C_DATA:
        return "DATA";
    case SMTPD_MILTER_C_UNKNOWN:
        return "UNKNOWN";
    default:
        return "(unknown code)";
    }
}

/* smtpd_milter_proto_macro_stage - SETSYMLIST stage of a command, or -1 */
int
smtpd_milter_proto_macro_stage(int cmd)
{
    switch (cmd) {
    case SMTPD_MILTER_C_CONNECT:
        return SMTPD_MILTER_M_CONNECT;
    case SMTPD_MILTER_C_HELO:
        return SMTPD_MILTER_M_HELO;
    case SMTPD_MILTER_C_MAIL:
        return SMTPD_MILTER_M_ENVFROM;
    case SMTPD_MILTER_C_RCPT:
        return SMTPD_MILTER_M_ENVRCPT;
    case SMTPD_MILTER_C_DATA:
        return SMTPD_MILTER_M_DATA;
    case SMTPD_MILTER_C_BODYEOB:
        return SMTPD_MILTER_M_EOM;
    case SMTPD_MILTER_C_EOH:
        return SMTPD_MILTER_M_EOH;
    default:
        return -1;
    }
}

/* proto_optneg - the milter's OPTNEG: three numbers, then macro lists */
static int
proto_optneg(const unsigned char *d, size_t len,
             struct smtpd_milter_proto_reply *r, struct dstr *why)
{
    size_t  off = 12;
    uint32_t stage;
    const char *list;

    if (len < 12)
        return proto_why(why, "%s reply has %ld data bytes, needs 12",
                         "OPTNEG", (long) len);
    r->version = proto_u32(d);
    r->actions = proto_u32(d + 4);
    r->protocol = proto_u32(d + 8);
    while (off < len) {
        if (len - off < 5)
            return proto_why(why, "%s reply: truncated macro list at"
                             " offset %ld", "OPTNEG", (long) off);
        stage = proto_u32(d + off);
        off += 4;
        if (stage >= SMTPD_MILTER_PROTO_STAGES)
            return proto_why(why, "%s reply: unknown macro stage %ld",
                             "OPTNEG", (long) stage);
        if ((list = proto_string(d, len, &off)) == NULL)
            return proto_why(why, "%s reply: macro list without NUL at"
                             " offset %ld", "OPTNEG", (long) off);
        r->symlist[stage] = list;
    }
    return 1;
}

/*
 * proto_strings - the data is exactly min..max NUL-terminated strings
 * from offset off, stored in out[]; -1 with why otherwise.
 */
static int
proto_strings(const unsigned char *d, size_t len, size_t off, int min,
              int max, const char **out, int code, struct dstr *why)
{
    int     n;

    for (n = 0; n < max && off < len; n++) {
        if ((out[n] = proto_string(d, len, &off)) == NULL)
            return proto_why(why, "%s reply: string without NUL at offset"
                             " %ld", smtpd_milter_proto_code_name(code),
                             (long) off);
    }
    if (n < min)
        return proto_why(why, "%s reply: %d strings, expected %d",
                         smtpd_milter_proto_code_name(code), n, min);
    if (off < len)
        return proto_why(why, "%s reply: %ld bytes of left-over data",
                         smtpd_milter_proto_code_name(code),
                         (long) (len - off));
    return 0;
}

/*
 * smtpd_milter_proto_decode - one reply packet from buf, if it is all
 * there: 1 (and *used), 0 for more bytes, -1 for garbage.
 */
int
smtpd_milter_proto_decode(const void *buf, size_t len, size_t *used,
                          struct smtpd_milter_proto_reply *r,
                          struct dstr *why)
{
    const unsigned char *p = buf, *d;
    uint32_t plen;
    size_t  dlen;
    const char *s[2] = {NULL, NULL};
    const char *name;

    memset(r, 0, sizeof(*r));
    *used = 0;
    if (len < 4)
        return 0;
    plen = proto_u32(p);
    if (plen == 0)
        return proto_why(why, "reply packet length 0");
    if (plen > SMTPD_MILTER_PROTO_REPLY_MAX)
        return proto_why(why, "reply packet length %lu exceeds the limit"
                         " of %d", (unsigned long) plen,
                         SMTPD_MILTER_PROTO_REPLY_MAX);
    if (len - 4 < plen)
        return 0;
    r->code = p[4];
    d = p + PROTO_HEAD;
    dlen = plen - 1;
    switch (r->code) {
    case SMTPD_MILTER_R_ACCEPT:
    case SMTPD_MILTER_R_CONTINUE:
    case SMTPD_MILTER_R_REJECT:
    case SMTPD_MILTER_R_TEMPFAIL:
    case SMTPD_MILTER_R_DISCARD:
    case SMTPD_MILTER_R_SKIP:
    case SMTPD_MILTER_R_PROGRESS:
    case SMTPD_MILTER_R_SHUTDOWN:
    case SMTPD_MILTER_R_CONN_FAIL:
        if (dlen != 0)
            return proto_why(why, "%s reply with %ld data bytes",
                             smtpd_milter_proto_code_name(r->code),
                             (long) dlen);
        break;
    case SMTPD_MILTER_R_REPLYCODE:
        if (proto_strings(d, dlen, 0, 1, 1, s, r->code, why) < 0)
            return -1;
        if (!smtpd_milter_proto_reply_valid(s[0]))
            return proto_why(why, "REPLYCODE reply: malformed SMTP reply"
                             " \"%.60s\"", s[0]);
        r->value = s[0];
        break;
    case SMTPD_MILTER_R_ADDHEADER:
    case SMTPD_MILTER_R_CHGHEADER:
    case SMTPD_MILTER_R_INSHEADER:
        if (r->code != SMTPD_MILTER_R_ADDHEADER) {
            if (dlen < 4)
                return proto_why(why, "%s reply: %ld data bytes, no index",
                                 smtpd_milter_proto_code_name(r->code),
                                 (long) dlen);
            r->index = proto_u32(d);
        }
        if (proto_strings(d, dlen, r->code == SMTPD_MILTER_R_ADDHEADER
                          ? 0 : 4, 2, 2, s, r->code, why) < 0)
            return -1;
        name = s[0];
        if (!proto_header_name(name))
            return proto_why(why, "%s reply: bad header name (%ld bytes)",
                             smtpd_milter_proto_code_name(r->code),
                             (long) strlen(name));
        r->name = s[0];
        r->value = s[1];
        break;
    case SMTPD_MILTER_R_ADDRCPT:
    case SMTPD_MILTER_R_DELRCPT:
    case SMTPD_MILTER_R_ADDRCPT_PAR:
    case SMTPD_MILTER_R_CHGFROM:
        if (proto_strings(d, dlen, 0, 1,
                          r->code == SMTPD_MILTER_R_ADDRCPT
                          || r->code == SMTPD_MILTER_R_DELRCPT ? 1 : 2,
                          s, r->code, why) < 0)
            return -1;
        if (*s[0] == '\0')
            return proto_why(why, "%s reply: empty address",
                             smtpd_milter_proto_code_name(r->code));
        r->name = s[0];
        r->args = s[1];
        break;
    case SMTPD_MILTER_R_QUARANTINE:
        if (proto_strings(d, dlen, 0, 1, 1, s, r->code, why) < 0)
            return -1;
        r->name = s[0];
        break;
    case SMTPD_MILTER_R_REPLBODY:
        r->data = d;
        r->data_len = dlen;
        break;
    case SMTPD_MILTER_R_OPTNEG:
        if (proto_optneg(d, dlen, r, why) < 0)
            return -1;
        break;
    default:
        return proto_why(why, "unknown reply code 0x%02x", r->code);
    }
    *used = 4 + (size_t) plen;
    return 1;
}
