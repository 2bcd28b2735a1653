/*
 * NAME
 *     smtpd_limits - per-client connection count and rate limits
 * SYNOPSIS
 *     #include "smtpd/smtpd_limits.h"
 *
 *     if (smtpd_limits_connect(s) < 0)      (session start: 421 sent,
 *         return;                            the session is closing)
 *     if (smtpd_limits_mail(s) < 0)         (MAIL: 450 sent)
 *         return -1;
 *     if (smtpd_limits_rcpt(s) < 0)         (RCPT: 450 sent)
 *         return -1;
 *     if (smtpd_limits_xclient(s) < 0)      (XCLIENT changed the client)
 *         return;
 *     smtpd_limits_disconnect(s);           (closing or freed; idempotent)
 * DESCRIPTION
 *     The policy half of Postfix's per-client limits; the counting is
 *     global/anvil.h, in a table every worker of the host shares
 *     (srv->anvil: the master's on fd 5, or a standalone worker's own).
 *     Every limit is read from the session's personality, so each has
 *     its stress doppelganger:
 *
 *       smtpd_client_connection_count_limit  sessions open at once;
 *           over it: "421 4.7.0 HOST Error: too many connections from
 *           ADDR", logged as "Connection concurrency limit exceeded";
 *       smtpd_client_connection_rate_limit   connections per
 *           anvil_rate_time_unit: the same 421, logged as "Connection
 *           rate limit exceeded";
 *       smtpd_client_message_rate_limit      MAIL commands per unit:
 *           "450 4.7.1 Error: too much mail from ADDR" ("Message
 *           delivery request rate limit exceeded");
 *       smtpd_client_recipient_rate_limit    RCPT commands per unit:
 *           "450 4.7.1 Error: too many recipients from ADDR" ("Recipient
 *           address rate limit exceeded").
 *
 *     A limit of 0 is no limit. The warnings end "N from NAME[ADDR] for
 *     service LISTEN", as Postfix's do (with the service's LISTEN for
 *     Postfix's service name). Counts are per service and client
 *     address, as Postfix's anvil keeps them. Every connection counts
 *     in the rate, refused ones too; a refused connection holds its
 *     count until it is closed, like Postfix's. MAIL and RCPT count in
 *     their rates whether or not they are refused afterwards.
 *
 *     Clients in smtpd_client_event_limit_exceptions (default
 *     $mynetworks; networks and addresses as in mynetworks, "!" to
 *     exclude) are neither limited nor counted. The list is compiled
 *     once per personality (smtpd_limits_compile(), at worker start,
 *     reports a bad one); smtpd_limits_flush() forgets the compiled lists.
 *     Postfix also accepts host names and tables there; doppel does not
 *     (a name is refused at start, never silently ignored).
 *
 *     XCLIENT: Postfix exempts XCLIENT-authorized clients from these
 *     limits altogether. doppel instead applies them to the client that
 *     XCLIENT names, so that `doppel test` can exercise them: when
 *     XCLIENT changes the address, the proxy's connection is released
 *     and the new identity is counted and checked like a new connection
 *     (421 and close when over its limit). The proxy's own address is
 *     normally in mynetworks, hence exempt.
 * RULES
 *     smtpd_limits_connect() is called once per session, before the
 *     greeting; when it returns -1 the session is closing and nothing
 *     else may be sent. smtpd_limits_disconnect() may be called any
 *     number of times: the connection is released once. With no table
 *     (srv->anvil NULL) every call allows and counts nothing.
 * DIAGNOSTICS
 *     A broken exceptions list found at session time (it cannot be: the
 *     worker refuses to start with one) exempts nobody and is logged.
 *     A table that cannot count (full, lock timeout) fails open: see
 *     global/anvil.h.
 * SEE ALSO
 *     global/anvil.h, smtpd/smtpd_session.h, Postfix postconf(5)
 *     smtpd_client_connection_count_limit and anvil(8)
 */
#ifndef DOPPEL_SMTPD_SMTPD_LIMITS_H
#define DOPPEL_SMTPD_SMTPD_LIMITS_H

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"

struct session;

int     smtpd_limits_connect(struct session *s);
int     smtpd_limits_xclient(struct session *s);
int     smtpd_limits_mail(struct session *s);
int     smtpd_limits_rcpt(struct session *s);
void    smtpd_limits_disconnect(struct session *s);
int     smtpd_limits_exempt(const struct params *p, const struct netaddr *addr);
int     smtpd_limits_compile(const struct params *p, struct dstr *errors);
void    smtpd_limits_flush(void);

#endif
