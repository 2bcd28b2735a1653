/* mailaddr - RFC 5321 path and MAIL/RCPT parameter parser; see mailaddr.h. */

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/xtext.h"

/*
 * Where a scan of a local part or a domain stops. Inside brackets only
 * ">" ends the mailbox; a bare path (MAILADDR_OPT_LAX) ends at white
 * space; a bare address (mailaddr_parse_addr) only at the end of input;
 * a source-route domain at "," or ":".
 */
enum mailaddr_mode {
    MODE_BRACKET,
    MODE_BARE,
    MODE_ADDR,
    MODE_ROUTE,
};

struct mailaddr_cursor {
    const unsigned char *cp;            /* next byte */
    const unsigned char *end;           /* one past the last byte */
    enum mailaddr_mode mode;
};

#define LABEL_MAX       63              /* one DNS label */
#define IPV6_TEXT_MAX   45              /* longest IPv6 text with IPv4 tail */

#define IS_CONTROL(c)   ((c) < 32 || (c) == 127)
#define IS_DIGIT(c)     ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c)     (((c) >= 'a' && (c) <= 'z') \
                         || ((c) >= 'A' && (c) <= 'Z'))
#define IS_ALNUM(c)     (IS_ALPHA(c) || IS_DIGIT(c))

/* mailaddr_lower - ASCII lower case, whatever the locale */
static int
mailaddr_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* mailaddr_hexval - value of a hex digit, or -1 */
static int
mailaddr_hexval(int c)
{
    if (IS_DIGIT(c))
        return c - '0';
    c = mailaddr_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* mailaddr_eq_word - does the counted p[n] equal word, ignoring ASCII case */
static int
mailaddr_eq_word(const unsigned char *p, size_t n, const char *word)
{
    size_t  i;

    if (strlen(word) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (mailaddr_lower(p[i]) != mailaddr_lower((unsigned char) word[i]))
            return 0;
    return 1;
}

/* mailaddr_is_atext - RFC 5322 atext, ASCII part */
static int
mailaddr_is_atext(int c)
{
    return IS_ALNUM(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/*
 * mailaddr_utf8_len - length (2-4) of the well-formed UTF-8 sequence at
 * p, or 0. Well-formed per RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
static size_t
mailaddr_utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t  avail = (size_t) (end - p), n, i;
    unsigned lo = 0x80, hi = 0xBF;

    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (avail < n)
        return 0;
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* mailaddr_is_stop - does c end a local part or domain in this mode */
static int
mailaddr_is_stop(int c, enum mailaddr_mode mode)
{
    switch (mode) {
    case MODE_BRACKET:
        return c == '>';
    case MODE_BARE:
        return c == ' ' || c == '\t';
    case MODE_ROUTE:
        return c == ',' || c == ':';
    case MODE_ADDR:
        break;
    }
    return 0;
}

/* mailaddr_put - store one byte of the unquoted local part if it fits */
static void
mailaddr_put(struct mailaddr_path *path, size_t *n, int c)
{
    if (*n < MAILADDR_LOCAL_MAX)
        path->local[*n] = (char) c;
    (*n)++;
}

/*
 * mailaddr_scan_quoted - a quoted-string local part, cursor on the '"'.
 * Quoted pairs are ASCII only (RFC 6531 leaves quoted-pairSMTP alone);
 * UTF-8 is qtext.
 */
static enum mailaddr_err
mailaddr_scan_quoted(struct mailaddr_cursor *cur, struct mailaddr_path *path,
                     size_t *n)
{
    const unsigned char *cp = cur->cp + 1;
    size_t  k;
    int     c;

    for (;;) {
        if (cp >= cur->end)
            return MAILADDR_ERR_QUOTE;
        c = *cp;
        if (c == '"') {
            cp++;
            break;
        }
        if (c == '\\') {
            if (++cp >= cur->end)
                return MAILADDR_ERR_QUOTE;
            c = *cp;
            if (IS_CONTROL(c))
                return MAILADDR_ERR_CONTROL;
            if (c >= 128)
                return MAILADDR_ERR_QUOTE;
            mailaddr_put(path, n, c);
            cp++;
        } else if (IS_CONTROL(c)) {
            return MAILADDR_ERR_CONTROL;
        } else if (c >= 128) {
            if ((k = mailaddr_utf8_len(cp, cur->end)) == 0)
                return MAILADDR_ERR_BAD_UTF8;
            path->flags |= MAILADDR_F_UTF8;
            while (k-- > 0)
                mailaddr_put(path, n, *cp++);
        } else {
            mailaddr_put(path, n, c);
            cp++;
        }
    }
    cur->cp = cp;
    path->flags |= MAILADDR_F_QUOTED;
    if (cp < cur->end && *cp != '@' && !mailaddr_is_stop(*cp, cur->mode))
        return (*cp == '<' || *cp == '>') ? MAILADDR_ERR_UNBALANCED
            : MAILADDR_ERR_LOCAL;
    return MAILADDR_OK;
}

/* mailaddr_scan_dotstring - an unquoted local part (RFC 5321 Dot-string) */
static enum mailaddr_err
mailaddr_scan_dotstring(struct mailaddr_cursor *cur,
                        struct mailaddr_path *path, size_t *n)
{
    const unsigned char *cp = cur->cp;
    int     after_dot = 1;
    size_t  k;
    int     c;

    while (cp < cur->end) {
        c = *cp;
        if (c == '@' || mailaddr_is_stop(c, cur->mode))
            break;
        if (IS_CONTROL(c))
            return MAILADDR_ERR_CONTROL;
        if (c == '.') {
            if (after_dot)
                return MAILADDR_ERR_LOCAL;
            after_dot = 1;
            mailaddr_put(path, n, *cp++);
        } else if (c >= 128) {
            if ((k = mailaddr_utf8_len(cp, cur->end)) == 0)
                return MAILADDR_ERR_BAD_UTF8;
            path->flags |= MAILADDR_F_UTF8;
            while (k-- > 0)
                mailaddr_put(path, n, *cp++);
            after_dot = 0;
        } else if (mailaddr_is_atext(c)) {
            mailaddr_put(path, n, *cp++);
            after_dot = 0;
        } else if (c == '<' || c == '>') {
            return MAILADDR_ERR_UNBALANCED;
        } else {
            return MAILADDR_ERR_LOCAL;
        }
    }
    cur->cp = cp;
    if (after_dot)                      /* empty, or ends with a dot */
        return MAILADDR_ERR_LOCAL;
    return MAILADDR_OK;
}

/*
 * mailaddr_scan_local - the local part into path->local, unquoted. The
 * limit applies to the local part as sent; the unquoted copy is never
 * longer, so a local part within the limit always fits the buffer.
 */
static enum mailaddr_err
mailaddr_scan_local(struct mailaddr_cursor *cur, struct mailaddr_path *path)
{
    const unsigned char *start = cur->cp;
    enum mailaddr_err err;
    size_t  n = 0;

    if (cur->cp < cur->end && *cur->cp == '"')
        err = mailaddr_scan_quoted(cur, path, &n);
    else
        err = mailaddr_scan_dotstring(cur, path, &n);
    if (err != MAILADDR_OK)
        return err;
    if ((size_t) (cur->cp - start) > MAILADDR_LOCAL_MAX)
        return MAILADDR_ERR_LOCAL_TOO_LONG;
    path->local[n] = '\0';
    return MAILADDR_OK;
}

/* mailaddr_ipv4_ok - is p[n] a dotted quad of 1-3 digit numbers <= 255 */
static int
mailaddr_ipv4_ok(const unsigned char *p, size_t n)
{
    size_t  i = 0, digits;
    int     part, value;

    for (part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
        for (value = 0, digits = 0; i < n && IS_DIGIT(p[i]); i++, digits++) {
            if (digits == 3)
                return 0;
            value = value * 10 + (p[i] - '0');
        }
        if (digits == 0 || value > 255)
            return 0;
    }
    return i == n;
}

/* mailaddr_literal_ok - RFC 5321 address literal contents (inside [ ]) */
static int
mailaddr_literal_ok(const unsigned char *p, size_t n)
{
    char    buf[IPV6_TEXT_MAX + 1];
    struct in6_addr a6;

    if (n > 5 && mailaddr_eq_word(p, 5, "IPv6:")) {
        if (n - 5 > IPV6_TEXT_MAX)
            return 0;
        memcpy(buf, p + 5, n - 5);
        buf[n - 5] = '\0';
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    return mailaddr_ipv4_ok(p, n);
}

/*
 * mailaddr_scan_domain - a host name or address literal into buf (size
 * MAILADDR_DOMAIN_MAX + 1). Stops at the mode's stop byte or the end.
 * Labels are LDH or UTF-8 (U-labels), 1-63 octets, no "-" at either end.
 */
static enum mailaddr_err
mailaddr_scan_domain(struct mailaddr_cursor *cur, char *buf, unsigned *flags)
{
    const unsigned char *start = cur->cp, *cp = cur->cp;
    size_t  label = 0, k, n;
    int     c, last = 0;

    if (cp >= cur->end || mailaddr_is_stop(*cp, cur->mode))
        return MAILADDR_ERR_DOMAIN;
    if (*cp == '[') {
        for (cp++; cp < cur->end && *cp != ']'; cp++) {
            if (IS_CONTROL(*cp))
                return MAILADDR_ERR_CONTROL;
            if ((size_t) (cp - start) >= MAILADDR_DOMAIN_MAX)
                return MAILADDR_ERR_DOMAIN_TOO_LONG;
        }
        if (cp >= cur->end)
            return MAILADDR_ERR_LITERAL;
        cp++;
        if (!mailaddr_literal_ok(start + 1, (size_t) (cp - start) - 2))
            return MAILADDR_ERR_LITERAL;
        if (cp < cur->end && !mailaddr_is_stop(*cp, cur->mode))
            return MAILADDR_ERR_LITERAL;
        *flags |= MAILADDR_F_LITERAL;
    } else {
        while (cp < cur->end && !mailaddr_is_stop(*cp, cur->mode)) {
            c = *cp;
            if (IS_CONTROL(c))
                return MAILADDR_ERR_CONTROL;
            if (c == '.') {
                if (label == 0 || last == '-')
                    return MAILADDR_ERR_DOMAIN;
                label = 0;
                cp++;
            } else if (c == '-') {
                if (label == 0)
                    return MAILADDR_ERR_DOMAIN;
                label++;
                cp++;
            } else if (IS_ALNUM(c)) {
                label++;
                cp++;
            } else if (c >= 128) {
                if ((k = mailaddr_utf8_len(cp, cur->end)) == 0)
                    return MAILADDR_ERR_BAD_UTF8;
                *flags |= MAILADDR_F_UTF8;
                label += k;
                cp += k;
            } else if (c == '<' || c == '>') {
                return MAILADDR_ERR_UNBALANCED;
            } else {
                return MAILADDR_ERR_DOMAIN;
            }
            last = c;
            if (label > LABEL_MAX)
                return MAILADDR_ERR_DOMAIN;
        }
        if (label == 0 || last == '-')
            return MAILADDR_ERR_DOMAIN;
    }
    n = (size_t) (cp - start);
    if (n > MAILADDR_DOMAIN_MAX)
        return MAILADDR_ERR_DOMAIN_TOO_LONG;
    memcpy(buf, start, n);
    buf[n] = '\0';
    cur->cp = cp;
    return MAILADDR_OK;
}

/*
 * mailaddr_scan_route - "@a,@b:" at the cursor, checked and dropped.
 * Its length counts toward the path limit, which the caller checks.
 */
static enum mailaddr_err
mailaddr_scan_route(struct mailaddr_cursor *cur, struct mailaddr_path *path)
{
    char    scratch[MAILADDR_DOMAIN_MAX + 1];
    enum mailaddr_err err;
    enum mailaddr_mode saved = cur->mode;
    unsigned flags = 0;

    cur->mode = MODE_ROUTE;
    for (;;) {
        cur->cp++;                      /* the '@' */
        err = mailaddr_scan_domain(cur, scratch, &flags);
        path->flags |= flags & MAILADDR_F_UTF8;     /* not F_LITERAL */
        if (err != MAILADDR_OK) {
            cur->mode = saved;
            return (err == MAILADDR_ERR_CONTROL || err == MAILADDR_ERR_BAD_UTF8)
                ? err : MAILADDR_ERR_ROUTE;
        }
        if (cur->cp < cur->end && *cur->cp == ',') {
            cur->cp++;
            if (cur->cp >= cur->end || *cur->cp != '@')
                break;
            continue;
        }
        if (cur->cp < cur->end && *cur->cp == ':') {
            cur->cp++;
            cur->mode = saved;
            path->flags |= MAILADDR_F_ROUTE;
            if (cur->cp >= cur->end)
                return MAILADDR_ERR_UNBALANCED;
            if (*cur->cp == '>')
                return MAILADDR_ERR_ROUTE;
            return MAILADDR_OK;
        }
        break;
    }
    cur->mode = saved;
    return MAILADDR_ERR_ROUTE;
}

/* mailaddr_finish_addr - build path->addr from local and domain */
static void
mailaddr_finish_addr(struct mailaddr_path *path)
{
    size_t  ll = strlen(path->local), dl = strlen(path->domain);

    memcpy(path->addr, path->local, ll);
    if (dl > 0) {
        path->addr[ll] = '@';
        memcpy(path->addr + ll + 1, path->domain, dl);
        ll += dl + 1;
    }
    path->addr[ll] = '\0';
}

/*
 * mailaddr_scan_mailbox - local part, then "@domain" or, for RCPT only,
 * the bare "postmaster" (unquoted, without source route: RFC 5321 has
 * it only as the literal "<Postmaster>"). The cursor ends on the stop
 * byte or the end.
 */
static enum mailaddr_err
mailaddr_scan_mailbox(struct mailaddr_cursor *cur, enum mailaddr_cmd cmd,
                      struct mailaddr_path *path)
{
    enum mailaddr_err err;

    if ((err = mailaddr_scan_local(cur, path)) != MAILADDR_OK)
        return err;
    if (cur->cp < cur->end && *cur->cp == '@') {
        cur->cp++;
        return mailaddr_scan_domain(cur, path->domain, &path->flags);
    }
    if (cur->cp >= cur->end && cur->mode == MODE_BRACKET)
        return MAILADDR_ERR_UNBALANCED;
    if (cmd == MAILADDR_RCPT && cur->mode != MODE_ADDR
        && !(path->flags & (MAILADDR_F_QUOTED | MAILADDR_F_ROUTE))
        && mailaddr_eq_word((const unsigned char *) path->local,
                            strlen(path->local), "postmaster")) {
        path->flags |= MAILADDR_F_POSTMASTER;
        return MAILADDR_OK;
    }
    return MAILADDR_ERR_NO_DOMAIN;
}

/* mailaddr_set_keyword - remember a parameter keyword for the log */
static void
mailaddr_set_keyword(struct mailaddr_params *params, const unsigned char *p,
                     size_t n)
{
    size_t  i;

    if (n > MAILADDR_KEYWORD_MAX)
        n = MAILADDR_KEYWORD_MAX;
    for (i = 0; i < n; i++)
        params->bad_keyword[i] = (p[i] > 32 && p[i] < 127) ? (char) p[i] : '?';
    params->bad_keyword[n] = '\0';
}

/*
 * mailaddr_xtext_ok - non-empty RFC 3461 xtext (the grammar is
 * xtext_valid()'s) whose decoded text is printable ASCII (32-126), as
 * RFC 3461 requires of ENVID and ORCPT: nothing downstream may ever see
 * a control byte or NUL come out of it.
 */
static int
mailaddr_xtext_ok(const unsigned char *p, size_t n)
{
    size_t  i;
    int     v;

    if (n == 0 || !xtext_valid((const char *) p, n))
        return 0;
    for (i = 0; i < n; i++) {
        if (p[i] == '+') {              /* two hex digits follow */
            v = mailaddr_hexval(p[i + 1]) * 16 + mailaddr_hexval(p[i + 2]);
            if (v < 32 || v > 126)
                return 0;
            i += 2;
        }
    }
    return 1;
}

/*
 * mailaddr_utf8_addr_ok - RFC 6533 utf-8-addr-xtext / -unitext: QCHAR
 * (printable ASCII but "+", "=" and "\"), "\x{HEX}" of 2-6 digits naming
 * a Unicode scalar value, and raw UTF-8 only when utf8 is allowed.
 */
static int
mailaddr_utf8_addr_ok(const unsigned char *p, size_t n, int utf8)
{
    const unsigned char *end = p + n;
    unsigned long cp;
    size_t  k, digits;

    if (n == 0)
        return 0;
    while (p < end) {
        if (*p == '\\') {
            if (end - p < 4 || p[1] != 'x' || p[2] != '{')
                return 0;
            for (p += 3, cp = 0, digits = 0; p < end && *p != '}'; p++) {
                if (mailaddr_hexval(*p) < 0 || ++digits > 6)
                    return 0;
                cp = cp * 16 + (unsigned long) mailaddr_hexval(*p);
            }
            if (p >= end || digits < 2 || cp > 0x10FFFF
                || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
            p++;
        } else if (*p >= 128) {
            if (!utf8 || (k = mailaddr_utf8_len(p, end)) == 0)
                return 0;
            p += k;
        } else if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
            return 0;
        } else {
            p++;
        }
    }
    return 1;
}

/* mailaddr_param_size - SIZE=digits */
static enum mailaddr_err
mailaddr_param_size(struct mailaddr_params *params, const unsigned char *v,
                    size_t n)
{
    long long size = 0;
    size_t  i;

    if (v == NULL || n == 0)
        return MAILADDR_ERR_SIZE;
    for (i = 0; i < n; i++)
        if (!IS_DIGIT(v[i]))
            return MAILADDR_ERR_SIZE;
    for (i = 0; i < n; i++) {
        if (size > (LLONG_MAX - (v[i] - '0')) / 10)
            return MAILADDR_ERR_SIZE_OVERFLOW;
        size = size * 10 + (v[i] - '0');
    }
    params->size = size;
    return MAILADDR_OK;
}

/* mailaddr_param_body - BODY=7BIT|8BITMIME|BINARYMIME */
static enum mailaddr_err
mailaddr_param_body(struct mailaddr_params *params, const unsigned char *v,
                    size_t n, unsigned opts)
{
    if (v == NULL)
        return MAILADDR_ERR_BODY;
    if (mailaddr_eq_word(v, n, "7BIT"))
        params->body = MAILADDR_BODY_7BIT;
    else if (mailaddr_eq_word(v, n, "8BITMIME"))
        params->body = MAILADDR_BODY_8BITMIME;
    else if (mailaddr_eq_word(v, n, "BINARYMIME")) {
        if (!(opts & MAILADDR_OPT_BINARYMIME))
            return MAILADDR_ERR_BODY_UNSUPPORTED;
        params->body = MAILADDR_BODY_BINARYMIME;
    } else
        return MAILADDR_ERR_BODY;
    return MAILADDR_OK;
}

/* mailaddr_param_ret - RET=FULL|HDRS */
static enum mailaddr_err
mailaddr_param_ret(struct mailaddr_params *params, const unsigned char *v,
                   size_t n)
{
    if (v == NULL)
        return MAILADDR_ERR_RET;
    if (mailaddr_eq_word(v, n, "FULL"))
        params->ret = MAILADDR_RET_FULL;
    else if (mailaddr_eq_word(v, n, "HDRS"))
        params->ret = MAILADDR_RET_HDRS;
    else
        return MAILADDR_ERR_RET;
    return MAILADDR_OK;
}

/* mailaddr_param_envid - ENVID=xtext, kept encoded */
static enum mailaddr_err
mailaddr_param_envid(struct mailaddr_params *params, const unsigned char *v,
                     size_t n)
{
    if (v == NULL || n > MAILADDR_ENVID_MAX || !mailaddr_xtext_ok(v, n))
        return MAILADDR_ERR_ENVID;
    memcpy(params->envid, v, n);
    params->envid[n] = '\0';
    return MAILADDR_OK;
}

/* mailaddr_param_notify - NOTIFY=NEVER or a list of SUCCESS,FAILURE,DELAY */
static enum mailaddr_err
mailaddr_param_notify(struct mailaddr_params *params, const unsigned char *v,
                      size_t n)
{
    const unsigned char *end, *item;
    unsigned mask = 0;

    if (v == NULL)
        return MAILADDR_ERR_NOTIFY;
    for (end = v + n;; v++) {
        for (item = v; v < end && *v != ','; v++)
             /* void */ ;
        if (mailaddr_eq_word(item, (size_t) (v - item), "NEVER"))
            mask |= MAILADDR_NOTIFY_NEVER;
        else if (mailaddr_eq_word(item, (size_t) (v - item), "SUCCESS"))
            mask |= MAILADDR_NOTIFY_SUCCESS;
        else if (mailaddr_eq_word(item, (size_t) (v - item), "FAILURE"))
            mask |= MAILADDR_NOTIFY_FAILURE;
        else if (mailaddr_eq_word(item, (size_t) (v - item), "DELAY"))
            mask |= MAILADDR_NOTIFY_DELAY;
        else
            return MAILADDR_ERR_NOTIFY;
        if (v >= end)
            break;
    }
    if ((mask & MAILADDR_NOTIFY_NEVER) && mask != MAILADDR_NOTIFY_NEVER)
        return MAILADDR_ERR_NOTIFY;
    params->notify = mask;
    return MAILADDR_OK;
}

/* mailaddr_param_orcpt - ORCPT=addr-type;xtext, kept encoded */
static enum mailaddr_err
mailaddr_param_orcpt(struct mailaddr_params *params, const unsigned char *v,
                     size_t n, unsigned opts)
{
    size_t  t;
    int     ok;

    if (v == NULL || n > MAILADDR_ORCPT_MAX)
        return MAILADDR_ERR_ORCPT;
    for (t = 0; t < n && v[t] != ';'; t++)
        if (!mailaddr_is_atext(v[t]))
            return MAILADDR_ERR_ORCPT;
    if (t == 0 || t == n)
        return MAILADDR_ERR_ORCPT;
    if (mailaddr_eq_word(v, t, "utf-8"))
        ok = mailaddr_utf8_addr_ok(v + t + 1, n - t - 1,
                                   (opts & MAILADDR_OPT_UTF8_TXN) != 0);
    else
        ok = mailaddr_xtext_ok(v + t + 1, n - t - 1);
    if (!ok)
        return MAILADDR_ERR_ORCPT;
    memcpy(params->orcpt, v, n);
    params->orcpt[n] = '\0';
    params->orcpt_type_len = t;
    return MAILADDR_OK;
}

/* The known parameters: keyword, command, extension that enables it. */
static const struct mailaddr_keyword {
    const char *name;
    enum mailaddr_cmd cmd;
    unsigned opt;                       /* MAILADDR_OPT_* */
    unsigned bit;                       /* MAILADDR_P_* */
} mailaddr_keywords[] = {
    {"SIZE", MAILADDR_MAIL, MAILADDR_OPT_SIZE, MAILADDR_P_SIZE},
    {"BODY", MAILADDR_MAIL, MAILADDR_OPT_8BITMIME, MAILADDR_P_BODY},
    {"SMTPUTF8", MAILADDR_MAIL, MAILADDR_OPT_SMTPUTF8, MAILADDR_P_SMTPUTF8},
    {"RET", MAILADDR_MAIL, MAILADDR_OPT_DSN, MAILADDR_P_RET},
    {"ENVID", MAILADDR_MAIL, MAILADDR_OPT_DSN, MAILADDR_P_ENVID},
    {"NOTIFY", MAILADDR_RCPT, MAILADDR_OPT_DSN, MAILADDR_P_NOTIFY},
    {"ORCPT", MAILADDR_RCPT, MAILADDR_OPT_DSN, MAILADDR_P_ORCPT},
};

#define KEYWORD_COUNT (sizeof(mailaddr_keywords) / sizeof(mailaddr_keywords[0]))

/* mailaddr_keyword_ok - RFC 5321 esmtp-keyword: alnum, then alnum or "-" */
static int
mailaddr_keyword_ok(const unsigned char *p, size_t n)
{
    size_t  i;

    if (n == 0 || !IS_ALNUM(p[0]))
        return 0;
    for (i = 1; i < n; i++)
        if (!IS_ALNUM(p[i]) && p[i] != '-')
            return 0;
    return 1;
}

/* mailaddr_param_one - one KEYWORD[=VALUE] token */
static enum mailaddr_err
mailaddr_param_one(enum mailaddr_cmd cmd, const unsigned char *tok, size_t n,
                   unsigned opts, struct mailaddr_params *params)
{
    const struct mailaddr_keyword *kw = NULL;
    const unsigned char *eq = memchr(tok, '=', n), *v = NULL;
    size_t  kl = eq ? (size_t) (eq - tok) : n, vl = 0, i;

    mailaddr_set_keyword(params, tok, kl);
    if (!mailaddr_keyword_ok(tok, kl))
        return MAILADDR_ERR_PARAM_SYNTAX;
    for (i = 0; i < KEYWORD_COUNT; i++)
        if (mailaddr_eq_word(tok, kl, mailaddr_keywords[i].name))
            kw = mailaddr_keywords + i;
    if (kw == NULL || kw->cmd != cmd || !(opts & kw->opt))
        return MAILADDR_ERR_PARAM_UNKNOWN;
    if (params->seen & kw->bit)
        return MAILADDR_ERR_PARAM_DUP;
    params->seen |= kw->bit;
    if (eq) {
        v = eq + 1;
        vl = n - kl - 1;
    }
    switch (kw->bit) {
    case MAILADDR_P_SIZE:
        return mailaddr_param_size(params, v, vl);
    case MAILADDR_P_BODY:
        return mailaddr_param_body(params, v, vl, opts);
    case MAILADDR_P_SMTPUTF8:
        return v ? MAILADDR_ERR_SMTPUTF8 : MAILADDR_OK;
    case MAILADDR_P_RET:
        return mailaddr_param_ret(params, v, vl);
    case MAILADDR_P_ENVID:
        return mailaddr_param_envid(params, v, vl);
    case MAILADDR_P_NOTIFY:
        return mailaddr_param_notify(params, v, vl);
    case MAILADDR_P_ORCPT:
        return mailaddr_param_orcpt(params, v, vl, opts);
    }
    log_panic("%s: keyword table out of step", __func__);
}

/* mailaddr_params_scan - the space-separated parameters after the path */
static enum mailaddr_err
mailaddr_params_scan(enum mailaddr_cmd cmd, struct mailaddr_cursor *cur,
                     unsigned opts, struct mailaddr_params *params)
{
    const unsigned char *tok;
    enum mailaddr_err err;

#define IS_SEP(c) ((c) == ' ' || ((opts & MAILADDR_OPT_LAX) && (c) == '\t'))
    for (;;) {
        while (cur->cp < cur->end && IS_SEP(*cur->cp))
            cur->cp++;
        if (cur->cp >= cur->end)
            break;
        for (tok = cur->cp; cur->cp < cur->end && !IS_SEP(*cur->cp); cur->cp++)
             /* void */ ;
        err = mailaddr_param_one(cmd, tok, (size_t) (cur->cp - tok), opts,
                                 params);
        if (err != MAILADDR_OK)
            return err;
    }
#undef IS_SEP
    params->bad_keyword[0] = '\0';
    return MAILADDR_OK;
}

/* mailaddr_scan_path - "<...>" or, in LAX mode, a bare mailbox */
static enum mailaddr_err
mailaddr_scan_path(enum mailaddr_cmd cmd, struct mailaddr_cursor *cur,
                   unsigned opts, struct mailaddr_path *path)
{
    const unsigned char *start = cur->cp;
    enum mailaddr_err err;

    if (*cur->cp != '<') {
        if (!(opts & MAILADDR_OPT_LAX))
            return IS_CONTROL(*cur->cp) ? MAILADDR_ERR_CONTROL
                : MAILADDR_ERR_NO_BRACKETS;
        cur->mode = MODE_BARE;
        path->flags |= MAILADDR_F_BARE;
        if (*cur->cp == '>')
            return MAILADDR_ERR_UNBALANCED;
        if ((err = mailaddr_scan_mailbox(cur, cmd, path)) != MAILADDR_OK)
            return err;
        if ((size_t) (cur->cp - start) + 2 > MAILADDR_PATH_MAX)
            return MAILADDR_ERR_PATH_TOO_LONG;
        mailaddr_finish_addr(path);
        return MAILADDR_OK;
    }
    cur->mode = MODE_BRACKET;
    if (++cur->cp >= cur->end)
        return MAILADDR_ERR_UNBALANCED;
    if (*cur->cp == '>') {
        cur->cp++;
        if (cmd == MAILADDR_RCPT)
            return MAILADDR_ERR_NULL_RCPT;
        path->flags |= MAILADDR_F_NULL;
        return MAILADDR_OK;
    }
    if (*cur->cp == '@'
        && (err = mailaddr_scan_route(cur, path)) != MAILADDR_OK)
        return err;
    if ((err = mailaddr_scan_mailbox(cur, cmd, path)) != MAILADDR_OK)
        return err;
    if (cur->cp >= cur->end)
        return MAILADDR_ERR_UNBALANCED;
    cur->cp++;                          /* the '>' */
    if ((size_t) (cur->cp - start) > MAILADDR_PATH_MAX)
        return MAILADDR_ERR_PATH_TOO_LONG;
    mailaddr_finish_addr(path);
    return MAILADDR_OK;
}

/* mailaddr_parse - MAIL FROM: / RCPT TO: argument into path and params */
enum mailaddr_err
mailaddr_parse(enum mailaddr_cmd cmd, const char *arg, size_t len,
               unsigned opts, struct mailaddr_path *path,
               struct mailaddr_params *params)
{
    struct mailaddr_cursor cur;
    enum mailaddr_err err;
    int     c;

    memset(path, 0, sizeof(*path));
    memset(params, 0, sizeof(*params));
    if (arg == NULL)
        len = 0;
    cur.cp = (const unsigned char *) arg;
    cur.end = cur.cp + len;
    cur.mode = MODE_BRACKET;

    /* At most one space after the colon; LAX takes any white space. */
    if (opts & MAILADDR_OPT_LAX) {
        while (cur.cp < cur.end && (*cur.cp == ' ' || *cur.cp == '\t'))
            cur.cp++;
    } else {
        if (cur.cp < cur.end && *cur.cp == ' ')
            cur.cp++;
        if (cur.cp < cur.end && (*cur.cp == ' ' || *cur.cp == '\t'))
            return MAILADDR_ERR_SPACE;
    }
    if (cur.cp >= cur.end)
        return MAILADDR_ERR_EMPTY;
    if ((err = mailaddr_scan_path(cmd, &cur, opts, path)) != MAILADDR_OK)
        return err;

    /* The path must be followed by white space or nothing. */
    if (cur.cp < cur.end) {
        c = *cur.cp;
        if (c == '<' || c == '>')
            return MAILADDR_ERR_UNBALANCED;
        if (c != ' ' && !(c == '\t' && (opts & MAILADDR_OPT_LAX)))
            return IS_CONTROL(c) ? MAILADDR_ERR_CONTROL : MAILADDR_ERR_TRAILING;
    }
    if ((err = mailaddr_params_scan(cmd, &cur, opts, params)) != MAILADDR_OK)
        return err;

    /* RFC 6531: a UTF-8 address needs SMTPUTF8 on this MAIL, or had it. */
    if (path->flags & MAILADDR_F_UTF8) {
        if (cmd == MAILADDR_MAIL ? !(params->seen & MAILADDR_P_SMTPUTF8)
            : !(opts & MAILADDR_OPT_UTF8_TXN))
            return MAILADDR_ERR_UTF8_UNDECLARED;
    }
    return MAILADDR_OK;
}

/* mailaddr_parse_addr - a bare RFC 5321 mailbox "local@domain" */
enum mailaddr_err
mailaddr_parse_addr(const char *addr, size_t len, unsigned opts,
                    struct mailaddr_path *path)
{
    struct mailaddr_cursor cur;
    enum mailaddr_err err;

    memset(path, 0, sizeof(*path));
    if (addr == NULL || len == 0)
        return MAILADDR_ERR_EMPTY;
    cur.cp = (const unsigned char *) addr;
    cur.end = cur.cp + len;
    cur.mode = MODE_ADDR;
    err = mailaddr_scan_mailbox(&cur, MAILADDR_MAIL, path);
    if (err != MAILADDR_OK)
        return err;
    if ((path->flags & MAILADDR_F_UTF8) && !(opts & MAILADDR_OPT_UTF8_TXN))
        return MAILADDR_ERR_UTF8_UNDECLARED;
    mailaddr_finish_addr(path);
    return MAILADDR_OK;
}

/* Replies, one per error: for MAIL and for RCPT. */
#define SYNTAX_MAIL "501 5.5.4 Syntax: MAIL FROM:<address>"
#define SYNTAX_RCPT "501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_SENDER  "501 5.1.7 Bad sender address syntax"
#define BAD_RCPT    "501 5.1.3 Bad recipient address syntax"

static const struct mailaddr_text {
    const char *mail;                   /* reply to MAIL */
    const char *rcpt;                   /* reply to RCPT */
    const char *why;                    /* for the log */
} mailaddr_texts[MAILADDR_ERR_COUNT] = {
    [MAILADDR_OK] = {"250 2.1.0 Ok", "250 2.1.5 Ok", "ok"},
    [MAILADDR_ERR_EMPTY] = {SYNTAX_MAIL, SYNTAX_RCPT, "no address"},
    [MAILADDR_ERR_SPACE] = {SYNTAX_MAIL, SYNTAX_RCPT,
        "white space before the address"},
    [MAILADDR_ERR_NO_BRACKETS] = {BAD_SENDER, BAD_RCPT,
        "address not in angle brackets"},
    [MAILADDR_ERR_UNBALANCED] = {BAD_SENDER, BAD_RCPT,
        "unbalanced angle brackets"},
    [MAILADDR_ERR_TRAILING] = {BAD_SENDER, BAD_RCPT,
        "text after the address"},
    [MAILADDR_ERR_CONTROL] = {BAD_SENDER, BAD_RCPT,
        "control character in address"},
    [MAILADDR_ERR_ROUTE] = {BAD_SENDER, BAD_RCPT, "bad source route"},
    [MAILADDR_ERR_LOCAL] = {BAD_SENDER, BAD_RCPT, "bad local part"},
    [MAILADDR_ERR_QUOTE] = {BAD_SENDER, BAD_RCPT,
        "bad quoted local part"},
    [MAILADDR_ERR_DOMAIN] = {BAD_SENDER, BAD_RCPT, "bad domain"},
    [MAILADDR_ERR_LITERAL] = {BAD_SENDER, BAD_RCPT,
        "bad address literal"},
    [MAILADDR_ERR_NO_DOMAIN] = {BAD_SENDER, BAD_RCPT, "no domain"},
    [MAILADDR_ERR_NULL_RCPT] = {BAD_RCPT, BAD_RCPT, "null recipient"},
    [MAILADDR_ERR_LOCAL_TOO_LONG] = {
        "501 5.1.7 Sender local part too long",
        "501 5.1.3 Recipient local part too long", "local part too long"},
    [MAILADDR_ERR_DOMAIN_TOO_LONG] = {
        "501 5.1.7 Sender domain too long",
        "501 5.1.3 Recipient domain too long", "domain too long"},
    [MAILADDR_ERR_PATH_TOO_LONG] = {"501 5.1.7 Path too long",
        "501 5.1.3 Path too long", "path too long"},
    [MAILADDR_ERR_BAD_UTF8] = {BAD_SENDER, BAD_RCPT, "malformed UTF-8"},
    [MAILADDR_ERR_UTF8_UNDECLARED] = {
        "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 addresses",
        "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 addresses",
        "UTF-8 address without SMTPUTF8"},
    [MAILADDR_ERR_PARAM_SYNTAX] = {"501 5.5.4 Bad parameter syntax",
        "501 5.5.4 Bad parameter syntax", "bad parameter syntax"},
    [MAILADDR_ERR_PARAM_UNKNOWN] = {"555 5.5.4 Unsupported option",
        "555 5.5.4 Unsupported option", "unsupported parameter"},
    [MAILADDR_ERR_PARAM_DUP] = {"501 5.5.4 Duplicate parameter",
        "501 5.5.4 Duplicate parameter", "duplicate parameter"},
    [MAILADDR_ERR_SIZE] = {"501 5.5.4 Bad SIZE parameter syntax",
        "501 5.5.4 Bad SIZE parameter syntax", "bad SIZE"},
    [MAILADDR_ERR_SIZE_OVERFLOW] = {
        "552 5.3.4 Message size exceeds fixed limit",
        "552 5.3.4 Message size exceeds fixed limit", "SIZE overflow"},
    [MAILADDR_ERR_BODY] = {"501 5.5.4 Bad BODY parameter value",
        "501 5.5.4 Bad BODY parameter value", "bad BODY"},
    [MAILADDR_ERR_BODY_UNSUPPORTED] = {
        "555 5.5.4 Unsupported BODY parameter value",
        "555 5.5.4 Unsupported BODY parameter value",
        "unsupported BODY"},
    [MAILADDR_ERR_SMTPUTF8] = {"501 5.5.4 SMTPUTF8 takes no value",
        "501 5.5.4 SMTPUTF8 takes no value", "SMTPUTF8 with a value"},
    [MAILADDR_ERR_RET] = {"501 5.5.4 Bad RET parameter syntax",
        "501 5.5.4 Bad RET parameter syntax", "bad RET"},
    [MAILADDR_ERR_ENVID] = {"501 5.5.4 Bad ENVID parameter syntax",
        "501 5.5.4 Bad ENVID parameter syntax", "bad ENVID"},
    [MAILADDR_ERR_NOTIFY] = {"501 5.5.4 Bad NOTIFY parameter syntax",
        "501 5.5.4 Bad NOTIFY parameter syntax", "bad NOTIFY"},
    [MAILADDR_ERR_ORCPT] = {"501 5.5.4 Bad ORCPT parameter syntax",
        "501 5.5.4 Bad ORCPT parameter syntax", "bad ORCPT"},
};

/* mailaddr_text - the table row of err; an unknown code is our bug */
static const struct mailaddr_text *
mailaddr_text(enum mailaddr_err err)
{
    if ((unsigned) err >= MAILADDR_ERR_COUNT || mailaddr_texts[err].why == NULL)
        log_panic("%s: bad error code %d", __func__, (int) err);
    return mailaddr_texts + err;
}

/* mailaddr_reply - the SMTP reply line for err after cmd */
const char *
mailaddr_reply(enum mailaddr_err err, enum mailaddr_cmd cmd)
{
    const struct mailaddr_text *t = mailaddr_text(err);

    return cmd == MAILADDR_RCPT ? t->rcpt : t->mail;
}

/* mailaddr_strerror - a short reason for the log */
const char *
mailaddr_strerror(enum mailaddr_err err)
{
    return mailaddr_text(err)->why;
}

/* mailaddr_domain - the domain of an internal-form address, or "" */
const char *
mailaddr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return at ? at + 1 : "";
}

/* mailaddr_is_fqdn - is domain a host name with two or more labels */
int
mailaddr_is_fqdn(const char *domain)
{
    const unsigned char *cp = (const unsigned char *) domain;
    const unsigned char *end = cp + strlen(domain);
    size_t  label = 0, labels = 1, k;
    int     last = 0, all_digits = 1;

    if (cp == end || end - cp > MAILADDR_DOMAIN_MAX)
        return 0;
    while (cp < end) {
        if (*cp == '.') {
            if (label == 0 || last == '-')
                return 0;
            labels++;
            label = 0;
            all_digits = 1;
        } else if (*cp == '-') {
            if (label == 0)
                return 0;
            all_digits = 0;
            label++;
        } else if (IS_ALNUM(*cp)) {
            if (!IS_DIGIT(*cp))
                all_digits = 0;
            label++;
        } else if (*cp >= 128 && (k = mailaddr_utf8_len(cp, end)) != 0) {
            all_digits = 0;
            label += k;
            cp += k - 1;
        } else {
            return 0;
        }
        if (label > LABEL_MAX)
            return 0;
        last = *cp++;
    }
    if (label == 0 || last == '-' || all_digits)
        return 0;
    return labels >= 2;
}

/* mailaddr_domain_eq - domains equal, ignoring ASCII case and a final dot */
int
mailaddr_domain_eq(const char *a, const char *b)
{
    size_t  la = strlen(a), lb = strlen(b), i;

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    if (la != lb)
        return 0;
    for (i = 0; i < la; i++)
        if (mailaddr_lower((unsigned char) a[i])
            != mailaddr_lower((unsigned char) b[i]))
            return 0;
    return 1;
}

/* mailaddr_dotstring_ok - may local[len] go out unquoted */
static int
mailaddr_dotstring_ok(const unsigned char *p, size_t len)
{
    size_t  i;
    int     after_dot = 1;

    for (i = 0; i < len; i++) {
        if (p[i] == '.') {
            if (after_dot)
                return 0;
            after_dot = 1;
        } else if (p[i] >= 128 || mailaddr_is_atext(p[i])) {
            after_dot = 0;
        } else {
            return 0;
        }
    }
    return !after_dot;
}

/* mailaddr_quote_local - append the RFC 5321 form of an unquoted local part */
int
mailaddr_quote_local(struct dstr *out, const char *local, size_t len)
{
    const unsigned char *p = (const unsigned char *) local;
    size_t  saved = out->len, i;

    for (i = 0; i < len; i++)
        if (IS_CONTROL(p[i]))
            return -1;
    if (mailaddr_dotstring_ok(p, len))
        return dstr_append(out, local, len);
    if (dstr_append_char(out, '"') < 0)
        goto fail;
    for (i = 0; i < len; i++) {
        if ((p[i] == '"' || p[i] == '\\') && dstr_append_char(out, '\\') < 0)
            goto fail;
        if (dstr_append_char(out, p[i]) < 0)
            goto fail;
    }
    if (dstr_append_char(out, '"') < 0)
        goto fail;
    return 0;

fail:
    dstr_truncate(out, saved);
    return -1;
}

/* mailaddr_quote - append the RFC 5321 form of an internal-form address */
int
mailaddr_quote(struct dstr *out, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t  saved = out->len;

    if (*addr == '\0')
        return 0;
    if (at == NULL)
        return mailaddr_quote_local(out, addr, strlen(addr));
    if (mailaddr_quote_local(out, addr, (size_t) (at - addr)) < 0
        || dstr_append_str(out, at) < 0) {
        dstr_truncate(out, saved);
        return -1;
    }
    return 0;
}
