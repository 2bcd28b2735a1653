/*
 * NAME
 *     mailaddr - RFC 5321 paths, MAIL/RCPT parameters and address helpers
 * SYNOPSIS
 *     #include "util/mailaddr.h"
 *
 *     struct mailaddr_path path;
 *     struct mailaddr_params params;
 *     enum mailaddr_err err;
 *
 *     err = mailaddr_parse(MAILADDR_MAIL, arg, arg_len,
 *                          MAILADDR_OPT_DEFAULT, &path, &params);
 *     if (err != MAILADDR_OK)
 *         reply(mailaddr_reply(err, MAILADDR_MAIL));
 * DESCRIPTION
 *     mailaddr_parse() takes the argument of "MAIL FROM:" or "RCPT TO:",
 *     that is the bytes after the colon (without CRLF), as a counted
 *     string that may hold any byte. It parses the path and then the
 *     ESMTP parameters, and fills *path and *params. On error it returns
 *     the first problem found, path before parameters, and the contents
 *     of *path and *params are unspecified (params->bad_keyword excepted,
 *     see below).
 *
 *     The path. At most one space may separate the colon from the path
 *     ("MAIL FROM: <a@b>" is accepted, as Postfix does). The path is
 *     "<>" (the null sender, MAIL only), "<postmaster>" (RCPT only, any
 *     case), or "<" [source-route ":"] local-part "@" domain ">".
 *     A source route ("@a,@b:") is checked for syntax and dropped.
 *     The local part is a dot-string or a quoted string; quoted pairs
 *     ("\x") are decoded. The domain is a host name (LDH labels, or
 *     UTF-8 U-labels) or an address literal: "[192.0.2.1]" or
 *     "[IPv6:2001:db8::1]" (other tags are refused: none is registered).
 *     Limits are those of RFC 5321 4.5.3.1: 64 octets of local part and
 *     255 of domain, as sent (quotes and backslashes count), and 256 for
 *     the whole path with brackets and source route. Control characters
 *     (0-31, 127) and NUL are refused everywhere, even quoted.
 *
 *     Non-ASCII bytes must be well-formed UTF-8 (no overlong forms, no
 *     surrogates); such an address sets MAILADDR_F_UTF8 and needs
 *     SMTPUTF8: in MAIL the command must carry the SMTPUTF8 parameter, in
 *     RCPT the caller says with MAILADDR_OPT_UTF8_TXN that the MAIL of
 *     this transaction did; otherwise MAILADDR_ERR_UTF8_UNDECLARED.
 *
 *     Strictness. By default the parser is strict: angle brackets are
 *     required and only one space may follow the colon.
 *     MAILADDR_OPT_LAX is the equivalent of Postfix's default
 *     strict_rfc821_envelopes = no: any run of spaces and tabs may follow
 *     the colon, and a path without brackets ("MAIL FROM:a@b SIZE=10")
 *     is accepted (flag MAILADDR_F_BARE). Everything inside the address
 *     is checked just as strictly in both modes.
 *
 *     The internal form. path->addr is "local@domain" with the local
 *     part unquoted (quotes removed, quoted pairs decoded), as Postfix
 *     keeps addresses: "<\"john smith\"@example.com>" gives
 *     addr "john smith@example.com", local "john smith", domain
 *     "example.com". An unquoted local part may itself contain "@", so
 *     the domain is what follows the LAST "@". For "<>" all three are
 *     "", for "<postmaster>" addr and local are the text as sent and
 *     domain is "". The domain keeps its case and, for a literal, its
 *     brackets ("[IPv6:2001:db8::1]"). Use mailaddr_quote() to turn the
 *     internal form back into RFC 5321 form.
 *
 *     The parameters. After the path come zero or more "KEYWORD" or
 *     "KEYWORD=VALUE" separated by spaces (trailing spaces are allowed;
 *     MAILADDR_OPT_LAX also allows tabs). Keywords and the enumerated
 *     values are case-insensitive. Each may appear once. Known ones:
 *       MAIL: SIZE=digits (needs MAILADDR_OPT_SIZE),
 *             BODY=7BIT|8BITMIME (MAILADDR_OPT_8BITMIME),
 *             BODY=BINARYMIME (also needs MAILADDR_OPT_BINARYMIME,
 *                   otherwise MAILADDR_ERR_BODY_UNSUPPORTED),
 *             SMTPUTF8 without value (MAILADDR_OPT_SMTPUTF8),
 *             RET=FULL|HDRS and ENVID=xtext (MAILADDR_OPT_DSN);
 *       RCPT: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY,
 *             ORCPT=addr-type;xtext (both MAILADDR_OPT_DSN).
 *     A parameter of an extension not offered, or of the other command,
 *     is unknown (MAILADDR_ERR_PARAM_UNKNOWN, "555 5.5.4"), as in
 *     Postfix with smtpd_discard_ehlo_keywords. xtext is checked with
 *     xtext_valid() ("+HH" with hex digits of either case; raw "=" and
 *     bytes outside 33-126 refused), and the decoded text must be
 *     printable ASCII (32-126). ENVID and ORCPT values are kept as
 *     received (still xtext-encoded), for passing on to the next hop.
 *     ENVID may be 100 characters, ORCPT 500 (RFC 3461). ORCPT's
 *     addr-type is an atom; for type "utf-8" (RFC 6533) the value may
 *     also hold "\x{HEX}" and, with SMTPUTF8 in effect, UTF-8.
 *
 *     mailaddr_parse_addr() checks a bare address "local@domain" in
 *     RFC 5321 form (no brackets, no route, no parameters), e.g. from
 *     configuration or a decoded ORCPT; only the local-part and domain
 *     limits apply, and UTF-8 is allowed only with MAILADDR_OPT_UTF8_TXN.
 *
 *     mailaddr_reply() gives the complete SMTP reply for an error,
 *     without CRLF ("501 5.1.7 Bad sender address syntax"); path errors
 *     name the sender or the recipient after cmd. mailaddr_strerror()
 *     gives a short reason for the log ("local part too long").
 *
 *     mailaddr_domain() returns the domain of an internal-form address:
 *     the text after its last "@", or "" when there is none.
 *     mailaddr_is_fqdn() says whether a domain is a fully qualified host
 *     name: two or more labels, LDH (or UTF-8) labels of 1-63 octets not
 *     starting or ending with "-", at most 255 octets, a top label that
 *     is not all digits, no trailing dot. Address literals are not
 *     FQDNs (return 0): test MAILADDR_F_LITERAL or "[" for those.
 *     mailaddr_domain_eq() compares two domains ignoring ASCII case and
 *     one trailing dot on either side (UTF-8 bytes compare exactly).
 *
 *     mailaddr_quote_local() appends to out the RFC 5321 form of an
 *     unquoted local part: itself when it is a dot-string, otherwise a
 *     quoted string with "\" before every '"' and "\". mailaddr_quote()
 *     does that for a whole internal-form address ("" stays "", an
 *     address without "@" is just the local part), without brackets.
 * RULES
 *     The structures are plain values (no pointers): copy them freely.
 *     No function allocates except through the dstr passed in; none
 *     logs, except log_panic() for an error code out of range. arg
 *     need not be NUL-terminated; the string arguments of the helpers
 *     must be.
 * DIAGNOSTICS
 *     mailaddr_parse() and mailaddr_parse_addr() return MAILADDR_OK or
 *     the error. When the error is about one parameter
 *     (MAILADDR_ERR_PARAM_* and the per-keyword errors),
 *     params->bad_keyword holds that keyword as sent, cut to
 *     MAILADDR_KEYWORD_MAX bytes, for the log; otherwise it is "".
 *     mailaddr_quote*() return 0, or -1 (out unchanged) when out
 *     reached its limit or the local part holds a control character,
 *     which no RFC 5321 form can carry.
 * SEE ALSO
 *     RFC 5321 (4.1.2, 4.5.3.1), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
 *     RFC 3030 (BINARYMIME), RFC 3461 (DSN), RFC 6531 and 6533 (SMTPUTF8),
 *     util/dstr.h, util/xtext.h
 */
#ifndef DOPPEL_UTIL_MAILADDR_H
#define DOPPEL_UTIL_MAILADDR_H

#include <stddef.h>

#include "util/dstr.h"

/* Limits of RFC 5321 4.5.3.1 and RFC 3461. */
#define MAILADDR_LOCAL_MAX      64      /* local part as sent */
#define MAILADDR_DOMAIN_MAX     255     /* domain as sent */
#define MAILADDR_PATH_MAX       256     /* "<", route, mailbox, ">" */
#define MAILADDR_ADDR_SIZE \
    (MAILADDR_LOCAL_MAX + 1 + MAILADDR_DOMAIN_MAX + 1)   /* addr buffer */
#define MAILADDR_ENVID_MAX      100     /* ENVID value, xtext as sent */
#define MAILADDR_ORCPT_MAX      500     /* ORCPT value, xtext as sent */
#define MAILADDR_KEYWORD_MAX    32      /* bad_keyword is cut to this */

/* Which command the argument belongs to. */
enum mailaddr_cmd {
    MAILADDR_MAIL,
    MAILADDR_RCPT,
};

/* opts of mailaddr_parse(): what the server offers, and the mode. */
#define MAILADDR_OPT_LAX        (1u << 0)   /* strict_rfc821_envelopes = no */
#define MAILADDR_OPT_SIZE       (1u << 1)   /* SIZE offered */
#define MAILADDR_OPT_8BITMIME   (1u << 2)   /* 8BITMIME offered */
#define MAILADDR_OPT_BINARYMIME (1u << 3)   /* BINARYMIME offered */
#define MAILADDR_OPT_SMTPUTF8   (1u << 4)   /* SMTPUTF8 offered */
#define MAILADDR_OPT_DSN        (1u << 5)   /* DSN offered */
#define MAILADDR_OPT_UTF8_TXN   (1u << 6)   /* RCPT: MAIL said SMTPUTF8 */
#define MAILADDR_OPT_DEFAULT \
    (MAILADDR_OPT_SIZE | MAILADDR_OPT_8BITMIME | MAILADDR_OPT_SMTPUTF8 \
     | MAILADDR_OPT_DSN)

/* path->flags */
#define MAILADDR_F_NULL         (1u << 0)   /* "<>" */
#define MAILADDR_F_POSTMASTER   (1u << 1)   /* "<postmaster>" (no domain) */
#define MAILADDR_F_UTF8         (1u << 2)   /* non-ASCII: needs SMTPUTF8 */
#define MAILADDR_F_QUOTED       (1u << 3)   /* local part was quoted */
#define MAILADDR_F_LITERAL      (1u << 4)   /* domain is [address literal] */
#define MAILADDR_F_ROUTE        (1u << 5)   /* a source route was dropped */
#define MAILADDR_F_BARE         (1u << 6)   /* no brackets (LAX only) */

struct mailaddr_path {
    char    addr[MAILADDR_ADDR_SIZE];          /* internal form, see above */
    char    local[MAILADDR_LOCAL_MAX + 1];     /* unquoted local part */
    char    domain[MAILADDR_DOMAIN_MAX + 1];   /* as sent; "" if none */
    unsigned flags;                            /* MAILADDR_F_* */
};

/* params->seen: which parameters were given */
#define MAILADDR_P_SIZE         (1u << 0)
#define MAILADDR_P_BODY         (1u << 1)
#define MAILADDR_P_SMTPUTF8     (1u << 2)
#define MAILADDR_P_RET          (1u << 3)
#define MAILADDR_P_ENVID        (1u << 4)
#define MAILADDR_P_NOTIFY       (1u << 5)
#define MAILADDR_P_ORCPT        (1u << 6)

enum mailaddr_body {
    MAILADDR_BODY_NONE,                 /* not given */
    MAILADDR_BODY_7BIT,
    MAILADDR_BODY_8BITMIME,
    MAILADDR_BODY_BINARYMIME,
};

enum mailaddr_ret {
    MAILADDR_RET_NONE,                  /* not given */
    MAILADDR_RET_FULL,
    MAILADDR_RET_HDRS,
};

/* params->notify: bits; 0 when NOTIFY was not given */
#define MAILADDR_NOTIFY_NEVER   (1u << 0)
#define MAILADDR_NOTIFY_SUCCESS (1u << 1)
#define MAILADDR_NOTIFY_FAILURE (1u << 2)
#define MAILADDR_NOTIFY_DELAY   (1u << 3)

struct mailaddr_params {
    unsigned seen;                      /* MAILADDR_P_* */
    long long size;                     /* SIZE; 0 if not given */
    enum mailaddr_body body;
    enum mailaddr_ret ret;
    unsigned notify;                    /* MAILADDR_NOTIFY_* */
    char    envid[MAILADDR_ENVID_MAX + 1];     /* xtext as sent, or "" */
    char    orcpt[MAILADDR_ORCPT_MAX + 1];     /* "type;xtext" as sent */
    size_t  orcpt_type_len;             /* bytes of orcpt before ';' */
    char    bad_keyword[MAILADDR_KEYWORD_MAX + 1];  /* see DIAGNOSTICS */
};

/* Errors. The reply each maps to is in the comment (S/R: 5.1.7 for
 * MAIL, 5.1.3 for RCPT). */
enum mailaddr_err {
    MAILADDR_OK = 0,
    MAILADDR_ERR_EMPTY,             /* no path: 501 5.5.4 Syntax: ... */
    MAILADDR_ERR_SPACE,             /* white space before path: 501 5.5.4 */
    MAILADDR_ERR_NO_BRACKETS,       /* strict: no "<": 501 S/R */
    MAILADDR_ERR_UNBALANCED,        /* "<" without ">", stray "<>": 501 S/R */
    MAILADDR_ERR_TRAILING,          /* text glued after ">": 501 S/R */
    MAILADDR_ERR_CONTROL,           /* control char or NUL: 501 S/R */
    MAILADDR_ERR_ROUTE,             /* bad source route: 501 S/R */
    MAILADDR_ERR_LOCAL,             /* bad dot-string: 501 S/R */
    MAILADDR_ERR_QUOTE,             /* bad quoted string/pair: 501 S/R */
    MAILADDR_ERR_DOMAIN,            /* bad host name: 501 S/R */
    MAILADDR_ERR_LITERAL,           /* bad [literal]: 501 S/R */
    MAILADDR_ERR_NO_DOMAIN,         /* no "@domain": 501 S/R */
    MAILADDR_ERR_NULL_RCPT,         /* "<>" in RCPT: 501 5.1.3 */
    MAILADDR_ERR_LOCAL_TOO_LONG,    /* > 64: 501 S/R ... too long */
    MAILADDR_ERR_DOMAIN_TOO_LONG,   /* > 255: 501 S/R ... too long */
    MAILADDR_ERR_PATH_TOO_LONG,     /* > 256: 501 S/R ... too long */
    MAILADDR_ERR_BAD_UTF8,          /* malformed UTF-8: 501 S/R */
    MAILADDR_ERR_UTF8_UNDECLARED,   /* UTF-8 without SMTPUTF8: 553 5.6.7 */
    MAILADDR_ERR_PARAM_SYNTAX,      /* bad KEYWORD[=VALUE]: 501 5.5.4 */
    MAILADDR_ERR_PARAM_UNKNOWN,     /* unknown/not offered: 555 5.5.4 */
    MAILADDR_ERR_PARAM_DUP,         /* given twice: 501 5.5.4 */
    MAILADDR_ERR_SIZE,              /* SIZE not digits: 501 5.5.4 */
    MAILADDR_ERR_SIZE_OVERFLOW,     /* SIZE > LLONG_MAX: 552 5.3.4 */
    MAILADDR_ERR_BODY,              /* unknown BODY value: 501 5.5.4 */
    MAILADDR_ERR_BODY_UNSUPPORTED,  /* BINARYMIME not offered: 555 5.5.4 */
    MAILADDR_ERR_SMTPUTF8,          /* SMTPUTF8 with a value: 501 5.5.4 */
    MAILADDR_ERR_RET,               /* bad RET value: 501 5.5.4 */
    MAILADDR_ERR_ENVID,             /* bad ENVID xtext/length: 501 5.5.4 */
    MAILADDR_ERR_NOTIFY,            /* bad NOTIFY list: 501 5.5.4 */
    MAILADDR_ERR_ORCPT,             /* bad ORCPT: 501 5.5.4 */
    MAILADDR_ERR_COUNT                  /* number of codes, not an error */
};

enum mailaddr_err mailaddr_parse(enum mailaddr_cmd cmd, const char *arg,
                                 size_t len, unsigned opts,
                                 struct mailaddr_path *path,
                                 struct mailaddr_params *params);
enum mailaddr_err mailaddr_parse_addr(const char *addr, size_t len,
                                      unsigned opts,
                                      struct mailaddr_path *path);
const char *mailaddr_reply(enum mailaddr_err err, enum mailaddr_cmd cmd);
const char *mailaddr_strerror(enum mailaddr_err err);

const char *mailaddr_domain(const char *addr);
int     mailaddr_is_fqdn(const char *domain);
int     mailaddr_domain_eq(const char *a, const char *b);
int     mailaddr_quote_local(struct dstr *out, const char *local, size_t len);
int     mailaddr_quote(struct dstr *out, const char *addr);

#endif
