/*
 * NAME
 *     smtpd_policy - check_policy_service: Postfix's policy delegation protocol
 * SYNOPSIS
 *     #include "smtpd/smtpd_policy.h"
 *
 *     pol = smtpd_policy_new(base);
 *     smtpd_policy_request(s, "RCPT", rcpt, request);
 *     req = smtpd_policy_query(pol, "inet:127.0.0.1:10023", s->p, request,
 *                              got_action, ctx);
 *     ...  got_action(ctx, "DUNNO") later, from the event loop
 *     smtpd_policy_cancel(req);          (before it answered: never calls)
 *     pol = smtpd_policy_free(pol);
 *
 *     if (smtpd_policy_check_server("unix:private/policy", why) < 0) ...
 *     n = smtpd_policy_parse_reply(buf, len, action, why);
 * DESCRIPTION
 *     smtpd_policy_request() builds the attribute block that Postfix
 *     sends for a session at a protocol state (CONNECT, EHLO, HELO,
 *     MAIL, RCPT, DATA, BDAT, END-OF-MESSAGE, VRFY, ETRN): request=
 *     smtpd_access_policy, protocol_state, protocol_name, helo_name,
 *     queue_id, sender, recipient, recipient_count, client_address,
 *     client_name, reverse_client_name, client_port, server_address,
 *     server_port, instance, sasl_*, ccert_*, encryption_*, size,
 *     etrn_domain, stress (yes or empty), policy_context,
 *     compatibility_level, mail_version, plus doppel's personality= and
 *     client_class=; then the empty line that ends it. It replaces what
 *     out held. Values never contain a newline (CR and LF bytes become
 *     '?') and each is cut at SMTPD_POLICY_VALUE_MAX bytes, so the
 *     block always fits in a dstr whose limit is SMTPD_POLICY_REQUEST_MAX.
 *
 *     Where the values come from: rcpt is the recipient at RCPT and
 *     VRFY and the domain at ETRN (etrn_domain=); at DATA, BDAT and
 *     END-OF-MESSAGE recipient= is the only recipient when there is
 *     exactly one, and recipient_count= the number accepted (0 at
 *     other states, as in Postfix). client_* and the name are the
 *     session's, hence XCLIENT's when it spoke; reverse_client_name is
 *     XCLIENT's REVERSE_NAME if given, else the verified name (doppel
 *     keeps no separate unverified name). server_* are XCLIENT's
 *     DESTADDR and DESTPORT when given, else the local end of the
 *     session's socket. XCLIENT LOGIN is sasl_username with
 *     sasl_method=XCLIENT, as in Postfix. size is the SIZE= of MAIL (0
 *     if none). instance is "PID.ID.N" in hex: the worker's process
 *     id, the session's id and the number of MAIL commands so far; the
 *     same for every request of one transaction, different for the next
 *     one and for any other session of any worker. queue_id, the ccert_*
 *     attributes, sasl_sender and (outside ETRN) etrn_domain are sent
 *     empty. compatibility_level and mail_version name the Postfix
 *     release whose protocol doppel speaks (SMTPD_POLICY_COMPAT_LEVEL,
 *     SMTPD_POLICY_MAIL_VERSION).
 *
 *     smtpd_policy_query() sends a request to a server (inet:HOST:PORT
 *     with a numeric HOST, [IPv6] or localhost, or unix:PATH, a
 *     relative PATH being under queue_directory as in Postfix) and
 *     calls fn(arg, action) exactly once, always later from the event
 *     loop, with the value of the server's action= attribute, or with
 *     p->smtpd_policy_service_default_action when the server cannot be
 *     reached, does not answer within smtpd_policy_service_timeout, or
 *     answers something that is not an attribute block with an action
 *     (each logged as a warning naming the server). A failed attempt is
 *     retried on a fresh connection up to smtpd_policy_service_try_limit
 *     attempts in all, with smtpd_policy_service_retry_delay between
 *     them. The timeout covers one attempt: connect, write and read,
 *     and the wait for a connection when all are busy.
 *
 *     Connections are kept per server and reused, one request at a time
 *     each: a connection is closed after
 *     smtpd_policy_service_reuse_count_limit requests (0: no limit),
 *     when unused for smtpd_policy_service_max_idle, or when older than
 *     smtpd_policy_service_max_ttl. Requests for a server whose
 *     connections are all busy open another connection (at most
 *     SMTPD_POLICY_CONN_MAX per server; past it they wait in order, at
 *     most SMTPD_POLICY_WAIT_MAX of them). A server that sends anything
 *     after its reply, or while no request is out, loses the connection.
 *
 *     smtpd_policy_parse_reply() is the reply parser alone: buf holds
 *     what the server sent so far. It returns the length of the first
 *     complete reply (lines "name=value\n" ended by an empty line; a CR
 *     before the LF is allowed), with the last action= value in action
 *     (control bytes replaced by '?'); 0 when more input is needed; -1
 *     for garbage, with the reason in why: a line that is not
 *     name=value, a line longer than SMTPD_POLICY_LINE_MAX, a reply
 *     longer than SMTPD_POLICY_REPLY_MAX, no action or an empty one.
 *     Attributes other than "action" (matched exactly) are ignored.
 *
 *     smtpd_policy_check_server() says whether a server name is usable,
 *     for checking restriction lists when the configuration is loaded.
 * RULES
 *     Nothing here blocks: connect, write and read run in the event
 *     loop, each with the timeout. Every callback of a socket runs from
 *     the loop (deferred), never from within a call into this module.
 *     The settings are copied from p at smtpd_policy_query(); p need not
 *     outlive the request. The action passed to fn is only valid during
 *     the call. Once fn is called the request is gone: do not cancel it
 *     then. smtpd_policy_cancel() is safe at any other moment and for
 *     NULL; a connection whose request is cancelled before its reply is
 *     closed, never reused. smtpd_policy_free() closes every connection
 *     and drops every request without calling back; it must not be
 *     called from within fn.
 * DIAGNOSTICS
 *     "warning: policy inet:127.0.0.1:10023: ...: using default action
 *     451 4.3.5 Server configuration problem"; a failed attempt that
 *     is retried is logged as "warning: policy NAME: ...; trying again".
 * SEE ALSO
 *     Postfix SMTPD_POLICY_README, smtpd/smtpd_check.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_POLICY_H
#define DOPPEL_SMTPD_SMTPD_POLICY_H

#include <stddef.h>

#include "util/dstr.h"
#include "conf/params.h"

#define SMTPD_POLICY_LINE_MAX 4096
#define SMTPD_POLICY_REPLY_MAX 16384
#define SMTPD_POLICY_CONN_MAX 64
#define SMTPD_POLICY_WAIT_MAX 10000     /* requests waiting per server */
#define SMTPD_POLICY_SERVER_MAX 64      /* distinct servers per worker */
#define SMTPD_POLICY_REQUEST_MAX 65536  /* limit of the request dstr */
#define SMTPD_POLICY_VALUE_MAX 1024     /* bytes of one attribute value */
#define SMTPD_POLICY_COMPAT_LEVEL "3.6"
#define SMTPD_POLICY_MAIL_VERSION "3.7.0"

struct event_base;
struct session;
struct smtpd_policy;
struct smtpd_policy_req;

typedef void smtpd_policy_fn(void *arg, const char *action);

struct smtpd_policy *smtpd_policy_new(struct event_base *base);
struct smtpd_policy *smtpd_policy_free(struct smtpd_policy *pol);
void    smtpd_policy_request(const struct session *s, const char *state,
                             const char *rcpt, struct dstr *out);
struct smtpd_policy_req *smtpd_policy_query(struct smtpd_policy *pol,
                                            const char *server,
                                            const struct params *p,
                                            const struct dstr *request,
                                            smtpd_policy_fn *fn, void *arg);
void    smtpd_policy_cancel(struct smtpd_policy_req *req);
int     smtpd_policy_parse_reply(const char *buf, size_t len,
                                 struct dstr *action, struct dstr *why);
int     smtpd_policy_check_server(const char *server, struct dstr *why);

#endif
