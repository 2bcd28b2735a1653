/*
 * NAME
 *     smtpd_check - restriction lists: smtpd_client_restrictions and friends
 * SYNOPSIS
 *     #include "smtpd/smtpd_check.h"
 *
 *     switch (smtpd_check(s, SMTPD_CHECK_RCPT, rcpt, reply, done)) {
 *     case 0:  ...permitted...
 *     case -1: smtpd_session_reply(s, "%s", reply->data);
 *     case SMTPD_CHECK_WAIT: ...later: done(s, 0 or -1, reply)...
 *     }
 * DESCRIPTION
 *     Evaluates the restriction lists of the session's personality, as
 *     Postfix does: each list is read left to right; the first
 *     restriction that decides (permit or reject) ends that list; a
 *     list that runs out means "no objection". Every personality has its
 *     own lists (stress_smtpd_recipient_restrictions, ...).
 *
 *     Stages and the lists they run:
 *       SMTPD_CHECK_CLIENT  smtpd_client_restrictions
 *       SMTPD_CHECK_HELO    smtpd_helo_restrictions; arg is the name
 *                           being judged (before it is the session's)
 *       SMTPD_CHECK_MAIL    client, then sender; arg is the sender
 *                           being judged (smtpd_delay_reject = no)
 *       SMTPD_CHECK_RCPT    with smtpd_delay_reject = yes (the default)
 *                           client, HELO and sender first, as Postfix
 *                           does, so that a rejection names the
 *                           recipient; then smtpd_relay_restrictions and
 *                           smtpd_recipient_restrictions; arg is the
 *                           recipient
 *       SMTPD_CHECK_DATA    smtpd_data_restrictions
 *       SMTPD_CHECK_EOD     smtpd_end_of_data_restrictions
 *
 *     Restrictions:
 *       permit reject defer warn_if_reject
 *       permit_mynetworks
 *       permit_auth_destination reject_unauth_destination
 *       defer_unauth_destination
 *       reject_non_fqdn_helo_hostname reject_invalid_helo_hostname
 *       reject_non_fqdn_sender reject_non_fqdn_recipient
 *       reject_unknown_client_hostname
 *       reject_unknown_reverse_client_hostname
 *       reject_unauth_pipelining
 *       reject_unlisted_recipient
 *       check_client_access check_helo_access check_sender_access
 *       check_recipient_access  TYPE:NAME (access(5) results)
 *       check_policy_service    inet:HOST:PORT or unix:PATH
 *       a smtpd_restriction_classes name: its list, in place
 *     Replies use Postfix's codes and texts, e.g.
 *       554 5.7.1 <user@example.org>: Relay access denied
 *     with the codes of relay_domains_reject_code, reject_code,
 *     defer_code, access_map_reject_code, access_map_defer_code,
 *     unknown_client_reject_code (a DNS failure is always 450),
 *     invalid_hostname_reject_code, non_fqdn_reject_code and
 *     unknown_{local,relay}_recipient_reject_code; the enhanced status
 *     follows the code's class.
 *
 *     With smtpd_reject_unlisted_recipient = yes (the default) every
 *     RCPT that the lists did not reject is also checked as by
 *     reject_unlisted_recipient: a recipient in mydestination must be
 *     in local_recipient_maps (user@domain, user, @domain), one in
 *     relay_domains in relay_recipient_maps (user@domain, @domain);
 *     empty maps accept everyone.
 *
 *     Restriction classes (smtpd_restriction_classes) compile with the
 *     lists; a class may be named in a list or returned by a table or a
 *     policy server, as may a list of restrictions without arguments.
 *     Its permit or rejection decides; a class that runs out goes on
 *     with the next restriction. warn_if_reject covers the whole class
 *     that follows it. Classes that name each other in a circle are
 *     refused at compile time; through tables, nesting deeper than
 *     SMTPD_CHECK_DEPTH_MAX answers 451 4.3.5 and logs the chain.
 *
 *     Asynchronous steps. A policy server's answer comes later: then
 *     smtpd_check() returns SMTPD_CHECK_WAIT, sets SESSION_F_JOB (the
 *     session reads no input and its timer waits; the step has its own
 *     timeout), and when the lists are done clears the flag and calls
 *     done(s, result, reply) exactly once from the event loop, with
 *     result 0 or -1 as smtpd_check() itself would have returned. Then,
 *     unless done() started another job, it resumes the session's input
 *     (smtpd_session_resume) and ends the callback (smtpd_session_end),
 *     so done() must not do either. The session may have died or be
 *     closing meanwhile: done() must look at SESSION_F_DEAD and
 *     s->state == SESSION_CLOSING before it replies. reply and arg must
 *     stay valid until then (arg is copied). smtpd_check_cancel()
 *     gives up a waiting check (the worker is going away): the session
 *     is marked dead, done() is called with -1, and the session ends.
 *
 *     Access results (tables and policy servers): OK, REJECT [text],
 *     DEFER [text], 4NN/5NN text, DUNNO, WARN text, INFO text, and
 *     PREPEND header: the header is kept with the transaction
 *     (s->prepend, reset with it) and written above the Received header.
 *
 *     Each personality's lists, mynetworks and tables are compiled once,
 *     on first use, and kept until smtpd_check_flush() (a reload).
 *     smtpd_check_compile() also compiles the XCLIENT and XFORWARD
 *     authorization lists (smtpd_xclient), so that a bad one stops the
 *     worker at start; smtpd_check_flush() forgets them too.
 * RULES
 *     Runs in the worker's event loop; table lookups are local files,
 *     policy queries never block. At most one check runs per session.
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
    SMTPD_CHECK_MAIL,
    SMTPD_CHECK_RCPT,
    SMTPD_CHECK_DATA,
    SMTPD_CHECK_EOD,
};

#define SMTPD_CHECK_WAIT 1              /* done() will tell */
#define SMTPD_CHECK_DEPTH_MAX 8         /* restriction classes in classes */

typedef void smtpd_check_fn(struct session *s, int result,
                            struct dstr *reply);

int     smtpd_check(struct session *s, enum smtpd_check_stage stage,
                    const char *arg, struct dstr *reply, smtpd_check_fn *done);
void    smtpd_check_cancel(struct session *s);
int     smtpd_check_compile(const struct params *p, struct dstr *errors);
void    smtpd_check_flush(void);

#endif
