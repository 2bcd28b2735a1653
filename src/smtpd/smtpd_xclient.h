/*
 * NAME
 *     smtpd_xclient - XCLIENT and XFORWARD, as Postfix documents them
 * SYNOPSIS
 *     #include "smtpd/smtpd_xclient.h"
 *
 *     smtpd_xclient_ehlo(s);                            (EHLO lines)
 *     if (smtpd_xclient_check(s, SMTPD_XCLIENT_XCLIENT, arg, len, &a) == 0)
 *         smtpd_xclient_proceed(s, a);                  (220 greeting)
 *     smtpd_xclient_forward_reset(s);                   (RSET, HELO, ...)
 *     fwd = smtpd_xclient_forwarded(s);                 (Received:, queue)
 *
 *     if (smtpd_xclient_parse(cmd, arg, len, &attrs, reply) < 0)
 *         ... reply->data is the 501 reply
 * DESCRIPTION
 *     XCLIENT lets an authorized client (smtpd_authorized_xclient_hosts)
 *     speak for another one: NAME, REVERSE_NAME, ADDR, PORT, PROTO, HELO,
 *     LOGIN, DESTADDR, DESTPORT. On success the session starts over as
 *     that client: a fresh "220 banner", HELO forgotten unless given,
 *     no transaction, error and junk counts reset, XFORWARD attributes
 *     dropped, and the personality chosen again for the new identity.
 *     Restrictions, the Received: header, the queue envelope and the
 *     logs all see the new identity.
 *
 *     XFORWARD lets an authorized client (smtpd_authorized_xforward_hosts,
 *     typically a content filter) pass on the identity of the client it
 *     got the mail from: NAME, ADDR, PORT, PROTO, HELO, IDENT, SOURCE.
 *     Attributes accumulate over several commands before MAIL and are
 *     forgotten when the transaction ends (and on RSET, HELO, EHLO,
 *     XCLIENT). They change nothing about access control: they go into
 *     the queue envelope (client fields), a comment in the Received:
 *     header, and the message's log line (orig_client=, orig_queue_id=).
 *
 *     Authorization is decided on the real client's address, the one of
 *     the TCP connection, whatever XCLIENT said since: a proxy may send
 *     several XCLIENT commands in one session, and an impersonated
 *     client never gains or loses the right by its own address. The
 *     lists are CIDR networks ("127.0.0.0/8 [::1]"), compiled once per
 *     personality (smtpd_xclient_compile()); the EHLO reply offers
 *     XCLIENT and XFORWARD only to authorized clients.
 *
 *     Replies, as Postfix's: 503 5.5.1 inside a transaction; 501 5.5.4
 *     without attributes, with an unknown attribute, bad xtext or a bad
 *     value; 550 5.7.0 to a client that is not authorized (nothing
 *     changes); 220 after XCLIENT; 250 2.0.0 Ok after XFORWARD.
 *
 *     smtpd_xclient_parse() is the attribute parser alone (no session):
 *     it splits "NAME=VALUE ..." on blanks, matches names in any case,
 *     decodes xtext, and checks each value for its command. Values
 *     "[UNAVAILABLE]" and "[TEMPUNAVAIL]" set the attribute's bit in
 *     unavailable (and tempunavail). On success the attrs hold decoded
 *     values (printable ASCII; for text that goes into headers the
 *     characters ' <>()\";@' are replaced by '?'), ADDR and DESTADDR
 *     as struct netaddr (XCLIENT) and their canonical text, ports as
 *     numbers. A name given twice: the last one counts.
 * RULES
 *     The parser is all or nothing: on -1, only reply is meaningful and
 *     the session is unchanged. smtpd_xclient_free() is for
 *     smtpd_session_free(). The compiled lists live until
 *     smtpd_xclient_flush().
 * DIAGNOSTICS
 *     smtpd_xclient_compile() appends "smtpd_authorized_xclient_hosts:
 *     ..." lines to errors and returns -1 for a bad list; at session
 *     time a broken list authorizes nobody (and says so in the log).
 * SEE ALSO
 *     smtpd/smtpd_cmd.h, smtpd/smtpd_session.h, util/xtext.h,
 *     Postfix XCLIENT_README and XFORWARD_README
 */
#ifndef DOPPEL_SMTPD_SMTPD_XCLIENT_H
#define DOPPEL_SMTPD_SMTPD_XCLIENT_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"

struct session;

#define SMTPD_XCLIENT_VALUE_MAX 255     /* decoded octets of one value */
#define SMTPD_XCLIENT_PROTO_MAX 64      /* XFORWARD PROTO */
#define SMTPD_XCLIENT_PAIRS_MAX 32      /* attribute=value pairs per line */
#define SMTPD_XCLIENT_LINE_ALLOWANCE 512        /* beyond the command limit */

enum smtpd_xclient_cmd {
    SMTPD_XCLIENT_XCLIENT,
    SMTPD_XCLIENT_XFORWARD,
};

enum smtpd_xclient_attr {
    SMTPD_XCLIENT_A_NAME,
    SMTPD_XCLIENT_A_REVERSE_NAME,      /* XCLIENT */
    SMTPD_XCLIENT_A_ADDR,
    SMTPD_XCLIENT_A_PORT,
    SMTPD_XCLIENT_A_PROTO,
    SMTPD_XCLIENT_A_HELO,
    SMTPD_XCLIENT_A_LOGIN,             /* XCLIENT */
    SMTPD_XCLIENT_A_DESTADDR,          /* XCLIENT */
    SMTPD_XCLIENT_A_DESTPORT,          /* XCLIENT */
    SMTPD_XCLIENT_A_IDENT,             /* XFORWARD */
    SMTPD_XCLIENT_A_SOURCE,            /* XFORWARD */
    SMTPD_XCLIENT_A_COUNT,
};

#define SMTPD_XCLIENT_BIT(attr) (1u << (attr))

/* What one XCLIENT or XFORWARD line said, decoded and checked. */
struct smtpd_xclient_attrs {
    unsigned seen;                     /* SMTPD_XCLIENT_BIT(attr) */
    unsigned unavailable;              /* [UNAVAILABLE] or [TEMPUNAVAIL] */
    unsigned tempunavail;              /* [TEMPUNAVAIL] */
    char    value[SMTPD_XCLIENT_A_COUNT][SMTPD_XCLIENT_VALUE_MAX + 1];
    struct netaddr addr;               /* XCLIENT ADDR */
    struct netaddr destaddr;           /* XCLIENT DESTADDR */
    unsigned port;                     /* 0: unavailable */
    unsigned destport;
};

/* XFORWARD: the client the mail came from, before the one we talk to. */
struct smtpd_xclient_forward {
    unsigned seen;                     /* SMTPD_XCLIENT_BIT(attr) */
    char   *name;                      /* "unknown" unless given */
    char   *addr;                      /* "unknown" unless given */
    unsigned port;                     /* 0: unknown */
    char   *proto;                     /* "unknown" unless given */
    char   *helo;                      /* NULL unless given */
    char   *ident;                     /* the up-stream queue ID, or NULL */
    char   *source;                    /* "LOCAL", "REMOTE" or NULL */
};

/* XCLIENT: who the session really talks to, and what else was said. */
struct smtpd_xclient {
    struct netaddr real_addr;          /* the TCP peer */
    char    real_addr_text[NETADDR_TEXT_MAX];
    char   *real_name;
    unsigned real_port;
    char   *reverse_name;              /* REVERSE_NAME, or NULL */
    char   *login;                     /* LOGIN, or NULL */
    char    dest_addr[NETADDR_TEXT_MAX];        /* DESTADDR, or "" */
    unsigned dest_port;                /* DESTPORT, or 0 */
    unsigned long count;               /* successful XCLIENT commands */
};

int     smtpd_xclient_parse(enum smtpd_xclient_cmd cmd, const char *arg,
                            size_t len, struct smtpd_xclient_attrs *attrs,
                            struct dstr *reply);
const char *smtpd_xclient_attr_name(enum smtpd_xclient_attr attr);

int     smtpd_xclient_authorized(struct session *s, enum smtpd_xclient_cmd cmd);
void    smtpd_xclient_ehlo(struct session *s);
int     smtpd_xclient_check(struct session *s, enum smtpd_xclient_cmd cmd,
                            const char *arg, size_t len,
                            struct smtpd_xclient_attrs **attrs);
void    smtpd_xclient_proceed(struct session *s,
                              const struct smtpd_xclient_attrs *attrs);
void    smtpd_xclient_forward_proceed(struct session *s,
                                      const struct smtpd_xclient_attrs *attrs);
void    smtpd_xclient_forward_reset(struct session *s);
const struct smtpd_xclient_forward *smtpd_xclient_forwarded(
                                      const struct session *s);
const char *smtpd_xclient_login(const struct session *s);
void    smtpd_xclient_free(struct session *s);

int     smtpd_xclient_compile(const struct params *p, struct dstr *errors);
void    smtpd_xclient_flush(void);

#endif
