/*
 * NAME
 *     smtpd_check - restriction lists: smtpd_client_restrictions and friends
 * SYNOPSIS
 *     #include "smtpd/smtpd_check.h"
 *
 *     if (smtpd_check(s, SMTPD_CHECK_RCPT, rcpt, reply) < 0)
 *         smtpd_session_reply(s, "%s", reply->data);
 * DESCRIPTION
 *     Evaluates the restriction lists of the session's personality, as
 *     Postfix does: each list is read left to right; the first
 *     restriction that decides (permit or reject) ends that list; a
 *     list that runs out means "no objection". Every personality has its
 *     own lists (stress_smtpd_recipient_restrictions, ...).
 *
 *     Stages: SMTPD_CHECK_CLIENT, _HELO, _SENDER, _RCPT (which runs
 *     smtpd_relay_restrictions, then smtpd_recipient_restrictions),
 *     _DATA and _EOD. With smtpd_delay_reject = yes (the default)
 *     smtpd_check(s, SMTPD_CHECK_RCPT, ...) first runs the client, HELO
 *     and sender lists, as Postfix does, so that a rejection names the
 *     recipient and the sender still learns about it.
 *
 *     Restrictions:
 *       permit reject defer defer_if_permit warn_if_reject
 *       permit_mynetworks
 *       permit_auth_destination reject_unauth_destination
 *       defer_unauth_destination
 *       reject_non_fqdn_helo_hostname reject_invalid_helo_hostname
 *       reject_non_fqdn_sender reject_non_fqdn_recipient
 *       reject_unknown_client_hostname
 *       check_client_access check_helo_access check_sender_access
 *       check_recipient_access  TYPE:NAME (access(5) results)
 *     Replies use Postfix's codes and texts, e.g.
 *       554 5.7.1 <user@example.org>: Relay access denied
 *
 *     Each personality's lists, mynetworks and tables are compiled once,
 *     on first use, and kept until smtpd_check_flush() (a reload).
 *     smtpd_check_compile() also compiles the XCLIENT and XFORWARD
 *     authorization lists (smtpd_xclient), so that a bad one stops the
 *     worker at start; smtpd_check_flush() forgets them too.
 * RULES
 *     Runs in the worker's event loop; table lookups are local files.
 *     A table that cannot answer makes the check answer 451 4.3.0,
 *     never a silent permit.
 * DIAGNOSTICS
 *     smtpd_check_compile() reports a bad list or table as
 *     "NAME: message" lines; smtpd_check() then answers 451 4.3.5
 *     Server configuration error, and logs why.
 */
#ifndef DOPPEL_SMTPD_SMTPD_CHECK_H
#define DOPPEL_SMTPD_SMTPD_CHECK_H

#include "util/dstr.h"
#include "conf/params.h"

struct session;

enum smtpd_check_stage {
    SMTPD_CHECK_CLIENT,
    SMTPD_CHECK_HELO,
    SMTPD_CHECK_SENDER,
    SMTPD_CHECK_RCPT,
    SMTPD_CHECK_DATA,
    SMTPD_CHECK_EOD,
};

int     smtpd_check(struct session *s, enum smtpd_check_stage stage,
                    const char *rcpt, struct dstr *reply);
int     smtpd_check_compile(const struct params *p, struct dstr *errors);
void    smtpd_check_flush(void);

#endif
