/* smtpd_xclient - XCLIENT and XFORWARD: parse, authorize, apply; see smtpd_xclient.h. */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/xtext.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"

#define XC_UNAVAILABLE "[UNAVAILABLE]"
#define XC_TEMPUNAVAIL "[TEMPUNAVAIL]"
#define XC_UNKNOWN "unknown"
#define XC_NEUTER " <>()\\\";@"        /* would break headers or logs */
#define XC_SHOW_MAX 64                 /* octets of client text in a reply */
#define XC_NAME_LABEL_MAX 63

#define XC_FOR_XCLIENT  0x1
#define XC_FOR_XFORWARD 0x2

/* *INDENT-OFF* */
static const struct {
    const char *name;
    unsigned cmds;                     /* XC_FOR_* */
} xc_attrs[SMTPD_XCLIENT_A_COUNT] = {
    [SMTPD_XCLIENT_A_NAME] = {"NAME", XC_FOR_XCLIENT | XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_REVERSE_NAME] = {"REVERSE_NAME", XC_FOR_XCLIENT},
    [SMTPD_XCLIENT_A_ADDR] = {"ADDR", XC_FOR_XCLIENT | XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_PORT] = {"PORT", XC_FOR_XCLIENT | XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_PROTO] = {"PROTO", XC_FOR_XCLIENT | XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_HELO] = {"HELO", XC_FOR_XCLIENT | XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_LOGIN] = {"LOGIN", XC_FOR_XCLIENT},
    [SMTPD_XCLIENT_A_DESTADDR] = {"DESTADDR", XC_FOR_XCLIENT},
    [SMTPD_XCLIENT_A_DESTPORT] = {"DESTPORT", XC_FOR_XCLIENT},
    [SMTPD_XCLIENT_A_IDENT] = {"IDENT", XC_FOR_XFORWARD},
    [SMTPD_XCLIENT_A_SOURCE] = {"SOURCE", XC_FOR_XFORWARD},
};
/* *INDENT-ON* */

/* the EHLO keywords, in Postfix's order */
#define XC_EHLO_XCLIENT \
    "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"
#define XC_EHLO_XFORWARD "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT"

/* the compiled authorization lists of one personality */
struct xc_conf {
    const struct params *p;
    struct cidr_list *lists[2];        /* by enum smtpd_xclient_cmd */
    char   *broken;                    /* why a list did not compile */
    struct xc_conf *next;
};

static struct xc_conf *xc_cache;

/* smtpd_xclient_attr_name - "NAME", "ADDR", ... */
const char *
smtpd_xclient_attr_name(enum smtpd_xclient_attr attr)
{
    return (unsigned) attr < SMTPD_XCLIENT_A_COUNT ? xc_attrs[attr].name
        : NULL;
}

/* xc_cmd_name - the verb, for replies */
static const char *
xc_cmd_name(enum smtpd_xclient_cmd cmd)
{
    return cmd == SMTPD_XCLIENT_XCLIENT ? "XCLIENT" : "XFORWARD";
}

/* xc_show - client text made fit to quote in a reply or log: printable */
static const char *
xc_show(char *buf, size_t size, const char *p, size_t len)
{
    size_t  i;

    if (len > size - 1)
        len = size - 1;
    for (i = 0; i < len; i++)
        buf[i] = ((unsigned char) p[i] < 33 || (unsigned char) p[i] > 126)
            ? '?' : p[i];
    buf[len] = '\0';
    return buf;
}

/* xc_bad - the 501 reply for a bad value */
static int
xc_bad(struct dstr *reply, enum smtpd_xclient_attr attr, const char *value)
{
    char    show[XC_SHOW_MAX + 1];

    dstr_reset(reply);
    (void) dstr_appendf(reply, "501 5.5.4 Bad %s syntax: %s",
                        xc_attrs[attr].name,
                        xc_show(show, sizeof(show), value, strlen(value)));
    return -1;
}

/* xc_printable - replace controls and 8-bit bytes by '?' */
static void
xc_printable(char *v)
{
    for (; *v; v++)
        if ((unsigned char) *v < 32 || (unsigned char) *v > 126)
            *v = '?';
}

/* xc_neuter - replace characters that would break a header or a log */
static void
xc_neuter(char *v)
{
    for (; *v; v++)
        if (strchr(XC_NEUTER, *v) != NULL)
            *v = '?';
}

/* xc_hostname - a host name (letters, digits, '-', '_'; dotted labels) */
static int
xc_hostname(const char *v)
{
    size_t  label = 0, len = strlen(v);
    struct netaddr na;

    if (len == 0 || len > SMTPD_XCLIENT_VALUE_MAX || v[0] == '.'
        || v[len - 1] == '.' || netaddr_parse(&na, v) == 0)
        return 0;
    for (; *v; v++) {
        if (*v == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z')
                   || (*v >= '0' && *v <= '9') || *v == '-' || *v == '_') {
            if (++label > XC_NAME_LABEL_MAX)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* xc_port - 1 to 5 digits, at most 65535 */
static int
xc_port(const char *v, unsigned *port)
{
    unsigned n = 0;
    size_t  i;

    for (i = 0; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 5)
            return -1;
        n = n * 10 + (unsigned) (v[i] - '0');
    }
    if (i == 0 || n > 65535)
        return -1;
    *port = n;
    return 0;
}

/*
 * xc_addr - an XCLIENT address: IPv4, "IPV6:" and an IPv6 address (the
 * tag in any case), or a bare IPv6 address; no brackets. The text kept
 * is the canonical one, an IPv4-mapped address as IPv4.
 */
static int
xc_addr(char *v, struct netaddr *na)
{
    struct netaddr plain;
    char    text[NETADDR_TEXT_MAX];

    if (v[0] == '[' || netaddr_parse(na, v) < 0)
        return -1;
    (void) netaddr_unmap(&plain, na);
    if (netaddr_format(&plain, text, sizeof(text)) < 0)
        return -1;
    *na = plain;
    (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1, text);
    return 0;
}

/* xc_value_xclient - check and normalize one XCLIENT value */
static int
xc_value_xclient(enum smtpd_xclient_attr attr, char *v, int unavail,
                 struct smtpd_xclient_attrs *a, struct dstr *reply)
{
    switch (attr) {
    case SMTPD_XCLIENT_A_NAME:
    case SMTPD_XCLIENT_A_REVERSE_NAME:
        if (unavail)
            (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1, XC_UNKNOWN);
        else if (!xc_hostname(v))
            return xc_bad(reply, attr, v);
        return 0;
    case SMTPD_XCLIENT_A_ADDR:
    case SMTPD_XCLIENT_A_DESTADDR:
        if (unavail) {
            (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1, XC_UNKNOWN);
            return 0;
        }
        if (xc_addr(v, attr == SMTPD_XCLIENT_A_ADDR ? &a->addr
                    : &a->destaddr) < 0)
            return xc_bad(reply, attr, v);
        return 0;
    case SMTPD_XCLIENT_A_PORT:
    case SMTPD_XCLIENT_A_DESTPORT:
        if (unavail)
            return 0;
        if (xc_port(v, attr == SMTPD_XCLIENT_A_PORT ? &a->port
                    : &a->destport) < 0)
            return xc_bad(reply, attr, v);
        return 0;
    case SMTPD_XCLIENT_A_PROTO:
        if (unavail || (strcasecmp(v, "SMTP") != 0
                        && strcasecmp(v, "ESMTP") != 0))
            return xc_bad(reply, attr, v);
        (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1,
                        strcasecmp(v, "SMTP") == 0 ? "SMTP" : "ESMTP");
        return 0;
    case SMTPD_XCLIENT_A_HELO:
        if (unavail)
            v[0] = '\0';
        else
            xc_neuter(v);
        return 0;
    case SMTPD_XCLIENT_A_LOGIN:
        if (unavail)
            v[0] = '\0';
        return 0;
    default:
        return xc_bad(reply, attr, v);
    }
}

/* xc_value_xforward - check and normalize one XFORWARD value */
static int
xc_value_xforward(enum smtpd_xclient_attr attr, char *v, int unavail,
                  struct smtpd_xclient_attrs *a, struct dstr *reply)
{
    switch (attr) {
    case SMTPD_XCLIENT_A_NAME:
    case SMTPD_XCLIENT_A_ADDR:
    case SMTPD_XCLIENT_A_PROTO:
        if (unavail) {
            (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1, XC_UNKNOWN);
            return 0;
        }
        if (attr == SMTPD_XCLIENT_A_PROTO
            && strlen(v) > SMTPD_XCLIENT_PROTO_MAX)
            return xc_bad(reply, attr, v);
        if (attr == SMTPD_XCLIENT_A_ADDR && strncasecmp(v, "IPv6:", 5) == 0)
            memmove(v, v + 5, strlen(v + 5) + 1);
        /* up-stream names and addresses need not be in the DNS */
        xc_neuter(v);
        if (v[0] == '\0')
            return xc_bad(reply, attr, v);
        return 0;
    case SMTPD_XCLIENT_A_PORT:
        if (unavail)
            return 0;
        if (xc_port(v, &a->port) < 0)
            return xc_bad(reply, attr, v);
        return 0;
    case SMTPD_XCLIENT_A_HELO:
    case SMTPD_XCLIENT_A_IDENT:
        if (unavail)
            v[0] = '\0';
        else
            xc_neuter(v);
        return 0;
    case SMTPD_XCLIENT_A_SOURCE:
        if (unavail || (strcasecmp(v, "LOCAL") != 0
                        && strcasecmp(v, "REMOTE") != 0))
            return xc_bad(reply, attr, v);
        (void) str_copy(v, SMTPD_XCLIENT_VALUE_MAX + 1,
                        strcasecmp(v, "LOCAL") == 0 ? "LOCAL" : "REMOTE");
        return 0;
    default:
        return xc_bad(reply, attr, v);
    }
}

/* xc_find - the attribute of a name (any case) allowed for cmd, or -1 */
static int
xc_find(enum smtpd_xclient_cmd cmd, const char *name, size_t len)
{
    unsigned want = cmd == SMTPD_XCLIENT_XCLIENT ? XC_FOR_XCLIENT
        : XC_FOR_XFORWARD;
    int     i;

    for (i = 0; i < SMTPD_XCLIENT_A_COUNT; i++)
        if ((xc_attrs[i].cmds & want) && strlen(xc_attrs[i].name) == len
            && strncasecmp(xc_attrs[i].name, name, len) == 0)
            return i;
    return -1;
}

/* xc_pair - one NAME=VALUE token into attrs */
static int
xc_pair(enum smtpd_xclient_cmd cmd, const char *tok, size_t len,
        struct smtpd_xclient_attrs *a, struct dstr *reply,
        struct dstr *decoded)
{
    const char *eq = memchr(tok, '=', len);
    char    show[XC_SHOW_MAX + 1];
    char   *v;
    size_t  name_len, raw_len;
    int     attr, unavail, temp;

    if (eq == NULL || eq == tok || eq + 1 == tok + len) {
        (void) dstr_set_str(reply, "501 5.5.4 Error: attribute=value expected");
        return -1;
    }
    name_len = (size_t) (eq - tok);
    raw_len = len - name_len - 1;
    if ((attr = xc_find(cmd, tok, name_len)) < 0) {
        dstr_reset(reply);
        (void) dstr_appendf(reply, "501 5.5.4 Bad %s attribute name: %s",
                            xc_cmd_name(cmd),
                            xc_show(show, sizeof(show), tok, name_len));
        return -1;
    }
    dstr_reset(decoded);
    if (xtext_decode(decoded, eq + 1, raw_len) < 0) {
        if (raw_len > SMTPD_XCLIENT_VALUE_MAX * 3) {
            (void) dstr_set_str(reply,
                                "501 5.5.4 Error: attribute value too long");
            return -1;
        }
        dstr_reset(reply);
        (void) dstr_appendf(reply, "501 5.5.4 Bad %s syntax: %s (malformed"
                            " xtext)", xc_attrs[attr].name,
                            xc_show(show, sizeof(show), eq + 1, raw_len));
        return -1;
    }
    if (decoded->len > SMTPD_XCLIENT_VALUE_MAX) {
        (void) dstr_set_str(reply, "501 5.5.4 Error: attribute value too long");
        return -1;
    }
    v = a->value[attr];
    memcpy(v, decoded->data, decoded->len);
    v[decoded->len] = '\0';
    if (strlen(v) != decoded->len) {
        /* a NUL byte, hidden in xtext: no name or address holds one */
        return xc_bad(reply, (enum smtpd_xclient_attr) attr, v);
    }
    xc_printable(v);
    temp = strcmp(v, XC_TEMPUNAVAIL) == 0;
    unavail = temp || strcmp(v, XC_UNAVAILABLE) == 0;
    a->unavailable &= ~SMTPD_XCLIENT_BIT(attr);
    a->tempunavail &= ~SMTPD_XCLIENT_BIT(attr);
    if (unavail)
        a->unavailable |= SMTPD_XCLIENT_BIT(attr);
    if (temp)
        a->tempunavail |= SMTPD_XCLIENT_BIT(attr);
    if (temp && attr != SMTPD_XCLIENT_A_NAME
        && attr != SMTPD_XCLIENT_A_REVERSE_NAME)
        return xc_bad(reply, (enum smtpd_xclient_attr) attr, v);
    if ((cmd == SMTPD_XCLIENT_XCLIENT
         ? xc_value_xclient((enum smtpd_xclient_attr) attr, v, unavail, a,
                            reply)
         : xc_value_xforward((enum smtpd_xclient_attr) attr, v, unavail, a,
                             reply)) < 0)
        return -1;
    a->seen |= SMTPD_XCLIENT_BIT(attr);
    return 0;
}

/* smtpd_xclient_parse - "NAME=VALUE ..." into attrs; see smtpd_xclient.h */
int
smtpd_xclient_parse(enum smtpd_xclient_cmd cmd, const char *arg, size_t len,
                    struct smtpd_xclient_attrs *attrs, struct dstr *reply)
{
    struct dstr *decoded = dstr_new(64, SMTPD_XCLIENT_VALUE_MAX * 3 + 1);
    size_t  i = 0, start, pairs = 0;
    int     ret = 0;

    memset(attrs, 0, sizeof(*attrs));
    for (;;) {
        while (i < len && (arg[i] == ' ' || arg[i] == '\t'))
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && arg[i] != ' ' && arg[i] != '\t')
            i++;
        if (++pairs > SMTPD_XCLIENT_PAIRS_MAX) {
            (void) dstr_set_str(reply, "501 5.5.4 Error: too many attributes");
            ret = -1;
            break;
        }
        if ((ret = xc_pair(cmd, arg + start, i - start, attrs, reply,
                           decoded)) < 0)
            break;
    }
    if (ret == 0 && pairs == 0) {
        dstr_reset(reply);
        (void) dstr_appendf(reply, "501 5.5.4 Syntax: %s attribute=value...",
                            xc_cmd_name(cmd));
        ret = -1;
    }
    dstr_free(decoded);
    return ret;
}

/* xc_conf_free - one compiled personality */
static void
xc_conf_free(struct xc_conf *xc)
{
    cidr_list_free(xc->lists[0]);
    cidr_list_free(xc->lists[1]);
    free(xc->broken);
    free(xc);
}

/* xc_conf_get - the compiled lists of a personality */
static const struct xc_conf *
xc_conf_get(const struct params *p)
{
    static const char *const names[2] = {
        "smtpd_authorized_xclient_hosts", "smtpd_authorized_xforward_hosts",
    };
    const struct param_list *lists[2] = {
        &p->smtpd_authorized_xclient_hosts, &p->smtpd_authorized_xforward_hosts,
    };
    struct xc_conf *xc;
    struct dstr *why, *errors;
    int     i;

    for (xc = xc_cache; xc != NULL; xc = xc->next)
        if (xc->p == p)
            return xc;
    xc = xcalloc(1, sizeof(*xc));
    xc->p = p;
    why = dstr_new(64, 1024);
    errors = dstr_new(64, 4096);
    for (i = 0; i < 2; i++) {
        if (lists[i]->count == 0)
            continue;                   /* nobody: the default */
        if (cidr_list_parse(&xc->lists[i], lists[i]->items, lists[i]->count,
                            why) < 0)
            (void) dstr_appendf(errors, "%s: %s\n", names[i], why->data);
    }
    if (errors->len > 0)
        xc->broken = xstrdup(errors->data);
    dstr_free(why);
    dstr_free(errors);
    xc->next = xc_cache;
    xc_cache = xc;
    return xc;
}

/* smtpd_xclient_compile - compile now, to report errors at start */
int
smtpd_xclient_compile(const struct params *p, struct dstr *errors)
{
    const struct xc_conf *xc = xc_conf_get(p);

    if (xc->broken == NULL)
        return 0;
    if (strstr(errors->data, xc->broken) == NULL)
        (void) dstr_append_str(errors, xc->broken);
    return -1;
}

/* smtpd_xclient_flush - forget compiled lists (configuration reloaded) */
void
smtpd_xclient_flush(void)
{
    struct xc_conf *xc;

    while ((xc = xc_cache) != NULL) {
        xc_cache = xc->next;
        xc_conf_free(xc);
    }
}

/* smtpd_xclient_authorized - may the real client use cmd */
int
smtpd_xclient_authorized(struct session *s, enum smtpd_xclient_cmd cmd)
{
    const struct xc_conf *xc = xc_conf_get(s->p);
    const struct netaddr *real = s->xclient ? &s->xclient->real_addr
        : &s->addr;

    if (xc->broken != NULL) {
        smtpd_session_log(s, LOG_LEVEL_WARN, "%s refused: broken list: %s",
                          xc_cmd_name(cmd), xc->broken);
        return 0;
    }
    return cidr_list_match(xc->lists[cmd], real);
}

/* smtpd_xclient_ehlo - the EHLO lines, for authorized clients only */
void
smtpd_xclient_ehlo(struct session *s)
{
    if (smtpd_xclient_authorized(s, SMTPD_XCLIENT_XCLIENT))
        smtpd_session_reply(s, "250-" XC_EHLO_XCLIENT);
    if (smtpd_xclient_authorized(s, SMTPD_XCLIENT_XFORWARD))
        smtpd_session_reply(s, "250-" XC_EHLO_XFORWARD);
}

/*
 * smtpd_xclient_check - sequence, syntax, authorization, in Postfix's
 * order. On 0, *attrs is the parsed line (the caller frees it); on -1
 * the reply has been sent and *attrs is NULL.
 */
int
smtpd_xclient_check(struct session *s, enum smtpd_xclient_cmd cmd,
                    const char *arg, size_t len,
                    struct smtpd_xclient_attrs **attrs)
{
    struct smtpd_xclient_attrs *a;
    struct dstr *reply;

    *attrs = NULL;
    if (s->sender != NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return -1;
    }
    if (len == 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: %s attribute=value...",
                            xc_cmd_name(cmd));
        return -1;
    }
    if (!smtpd_xclient_authorized(s, cmd)) {
        smtpd_session_log(s, LOG_LEVEL_INFO, "reject: %s: client %s[%s] is"
                          " not in smtpd_authorized_%s_hosts",
                          xc_cmd_name(cmd), s->xclient ? s->xclient->real_name
                          : s->name, s->xclient ? s->xclient->real_addr_text
                          : s->addr_text, cmd == SMTPD_XCLIENT_XCLIENT
                          ? "xclient" : "xforward");
        smtpd_session_reply(s, "550 5.7.0 Error: insufficient authorization");
        return -1;
    }
    a = xmalloc(sizeof(*a));
    reply = dstr_new(128, 1024);
    if (smtpd_xclient_parse(cmd, arg, len, a, reply) < 0) {
        smtpd_session_reply(s, "%s", reply->data);
        dstr_free(reply);
        free(a);
        return -1;
    }
    dstr_free(reply);
    *attrs = a;
    return 0;
}

/* xc_set - replace a string */
static void
xc_set(char **dst, const char *value)
{
    free(*dst);
    *dst = value != NULL ? xstrdup(value) : NULL;
}

/*
 * xc_personality - the personality of the new identity: the class the
 * classifier names for it, the stress state what it was (the service's
 * -o settings and the stress state still apply).
 */
static void
xc_personality(struct session *s)
{
    smtpd_session_classify(s);
}

/*
 * smtpd_xclient_proceed - become the client XCLIENT names, and start
 * over as after a new connection. ADDR without NAME makes the name
 * "unknown" (and the port unknown): keeping the real client's name
 * for another address would let a name-based rule match the wrong
 * client, and Postfix's README asks clients to send both anyway.
 */
void
smtpd_xclient_proceed(struct session *s, const struct smtpd_xclient_attrs *a)
{
    struct smtpd_xclient *xc = s->xclient;
    unsigned seen = a->seen;

#define XC_SEEN(attr) (seen & SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_##attr))
#define XC_UNAVAIL(attr) \
    (a->unavailable & SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_##attr))

    if (xc == NULL) {
        xc = s->xclient = xcalloc(1, sizeof(*xc));
        xc->real_addr = s->addr;
        (void) str_copy(xc->real_addr_text, sizeof(xc->real_addr_text),
                        s->addr_text);
        xc->real_name = xstrdup(s->name);
        xc->real_port = s->port;
    }
    if (XC_SEEN(ADDR)) {
        if (XC_UNAVAIL(ADDR)) {
            memset(&s->addr, 0, sizeof(s->addr));
            s->addr.family = AF_INET;
        } else {
            s->addr = a->addr;
        }
        (void) str_copy(s->addr_text, sizeof(s->addr_text),
                        a->value[SMTPD_XCLIENT_A_ADDR]);
        if (!XC_SEEN(NAME))
            xc_set(&s->name, SMTPD_DNS_UNKNOWN);
        if (!XC_SEEN(PORT))
            s->port = 0;
        if (!XC_SEEN(REVERSE_NAME))
            xc_set(&xc->reverse_name, NULL);
    }
    if (XC_SEEN(NAME))
        xc_set(&s->name, a->value[SMTPD_XCLIENT_A_NAME]);
    if (XC_SEEN(REVERSE_NAME))
        xc_set(&xc->reverse_name, a->value[SMTPD_XCLIENT_A_REVERSE_NAME]);
    if (XC_SEEN(PORT))
        s->port = a->port;
    /* a greeting is forgotten, unless XCLIENT names one */
    xc_set(&s->helo, XC_SEEN(HELO) && !XC_UNAVAIL(HELO)
           ? a->value[SMTPD_XCLIENT_A_HELO] : NULL);
    s->flags &= ~SESSION_F_EHLO;
    if (XC_SEEN(PROTO) && strcmp(a->value[SMTPD_XCLIENT_A_PROTO], "ESMTP") == 0)
        s->flags |= SESSION_F_EHLO;
    /* no SASL yet: LOGIN is kept for the envelope, logs and policy */
    xc_set(&xc->login, XC_SEEN(LOGIN) && !XC_UNAVAIL(LOGIN)
           ? a->value[SMTPD_XCLIENT_A_LOGIN] : NULL);
    if (XC_SEEN(DESTADDR))
        (void) str_copy(xc->dest_addr, sizeof(xc->dest_addr),
                        XC_UNAVAIL(DESTADDR) ? ""
                        : a->value[SMTPD_XCLIENT_A_DESTADDR]);
    if (XC_SEEN(DESTPORT))
        xc->dest_port = a->destport;
    xc->count++;

    /* a new session, as far as the client can tell */
    smtpd_session_reset_transaction(s);
    smtpd_xclient_forward_reset(s);
    s->error_count = 0;
    s->junk_count = 0;
    xc_personality(s);
    log_info("connect from %s[%s] (XCLIENT from %s[%s]%s%s)", s->name,
             s->addr_text, xc->real_name, xc->real_addr_text,
             xc->login ? ", login=" : "", xc->login ? xc->login : "");
    if (smtpd_limits_xclient(s) < 0)
        return;                         /* 421 4.7.0: too many connections */
    smtpd_session_set_state(s, SESSION_COMMAND);
    smtpd_session_reply_nocount(s, "220 %s", s->p->smtpd_banner);

#undef XC_SEEN
#undef XC_UNAVAIL
}

/* xc_forward_new - XFORWARD's defaults: "unknown" until told */
static struct smtpd_xclient_forward *
xc_forward_new(void)
{
    struct smtpd_xclient_forward *f = xcalloc(1, sizeof(*f));

    f->name = xstrdup(XC_UNKNOWN);
    f->addr = xstrdup(XC_UNKNOWN);
    f->proto = xstrdup(XC_UNKNOWN);
    return f;
}

/* smtpd_xclient_forward_proceed - add the attributes; 250 */
void
smtpd_xclient_forward_proceed(struct session *s,
                              const struct smtpd_xclient_attrs *a)
{
    struct smtpd_xclient_forward *f;
    int     i;

    if (s->xforward == NULL)
        s->xforward = xc_forward_new();
    f = s->xforward;
    for (i = 0; i < SMTPD_XCLIENT_A_COUNT; i++) {
        const char *v = a->value[i];

        if (!(a->seen & SMTPD_XCLIENT_BIT(i)))
            continue;
        switch (i) {
        case SMTPD_XCLIENT_A_NAME:
            xc_set(&f->name, v);
            break;
        case SMTPD_XCLIENT_A_ADDR:
            xc_set(&f->addr, v);
            break;
        case SMTPD_XCLIENT_A_PORT:
            f->port = a->port;
            break;
        case SMTPD_XCLIENT_A_PROTO:
            xc_set(&f->proto, v);
            break;
        case SMTPD_XCLIENT_A_HELO:
            xc_set(&f->helo, *v ? v : NULL);
            break;
        case SMTPD_XCLIENT_A_IDENT:
            xc_set(&f->ident, *v ? v : NULL);
            break;
        case SMTPD_XCLIENT_A_SOURCE:
            xc_set(&f->source, v);
            break;
        default:
            break;
        }
    }
    f->seen |= a->seen;
    smtpd_session_reply(s, "250 2.0.0 Ok");
}

/* smtpd_xclient_forward_reset - forget the XFORWARD attributes */
void
smtpd_xclient_forward_reset(struct session *s)
{
    struct smtpd_xclient_forward *f = s->xforward;

    if (f == NULL)
        return;
    free(f->name);
    free(f->addr);
    free(f->proto);
    free(f->helo);
    free(f->ident);
    free(f->source);
    free(f);
    s->xforward = NULL;
}

/* smtpd_xclient_forwarded - XFORWARD attributes for this message, or NULL */
const struct smtpd_xclient_forward *
smtpd_xclient_forwarded(const struct session *s)
{
    return s->xforward;
}

/* smtpd_xclient_login - XCLIENT LOGIN, or NULL */
const char *
smtpd_xclient_login(const struct session *s)
{
    return s->xclient != NULL ? s->xclient->login : NULL;
}

/* smtpd_xclient_free - for smtpd_session_free() */
void
smtpd_xclient_free(struct session *s)
{
    smtpd_xclient_forward_reset(s);
    if (s->xclient != NULL) {
        free(s->xclient->real_name);
        free(s->xclient->reverse_name);
        free(s->xclient->login);
        free(s->xclient);
        s->xclient = NULL;
    }
}
