/*
 * NAME
 *     relay_dsn - delivery status notifications (RFC 3464) for bounces
 * SYNOPSIS
 *     #include "relay/relay_dsn.h"
 *
 *     if (relay_dsn_wanted(env, &env->rcpt[i])) ... collect rcpt
 *     relay_dsn_queue(qdir, hostname, r, failed, nfailed, new_id, why);
 * DESCRIPTION
 *     relay_dsn_wanted() says whether the sender asked for (or did not
 *     refuse) a failure notice about one recipient: never for the null
 *     sender (a bounce is never bounced), not with NOTIFY=NEVER, not
 *     when NOTIFY was given without FAILURE.
 *
 *     relay_dsn_success_wanted() says whether the sender asked for a
 *     success notice (NOTIFY=SUCCESS; never for the null sender).
 *
 *     A notice covers the recipients given, each with its action
 *     (rcpt->action: "failed" when NULL, "delivered" for final delivery,
 *     "relayed" for a next hop that could not take the DSN request on).
 *     With any failure it is "Undelivered Mail Returned to Sender";
 *     otherwise a "Successful Mail Delivery Report" that returns only
 *     the message's header.
 *
 *     relay_dsn_format() writes the notice up to and including the
 *     headers of its third part: RFC 5322 headers from
 *     MAILER-DAEMON@HOST to the sender, a multipart/report with a
 *     text/plain explanation, a message/delivery-status part (a
 *     per-message block with Reporting-MTA, X-Doppel-Queue-ID,
 *     Original-Envelope-Id when ENVID was given, Arrival-Date, then one
 *     block per recipient: Final-Recipient, Original-Recipient from
 *     ORCPT, Action, Status, Remote-MTA and Diagnostic-Code when
 *     a remote server answered), and the headers of the returned
 *     message part: message/rfc822 when the whole message is returned,
 *     text/rfc822-headers with RET=HDRS or when the message is larger
 *     than RELAY_DSN_FULL_MAX. *full tells which. Lines end with CRLF.
 *     The caller appends the returned content and relay_dsn_trailer().
 *
 *     relay_dsn_queue() builds the whole notice and queues it as a new
 *     message from the null sender to the original sender, through the
 *     queue file writer (so it is durable before the original goes);
 *     new_id (QUEUE_ID_SIZE bytes) gets its queue ID.
 * RULES
 *     Everything from the network in the notice (reply texts) has been
 *     made one line by relay_rcpt_set(). Thread-safe.
 * DIAGNOSTICS
 *     relay_dsn_queue() returns -1 with the reason in why.
 * SEE ALSO
 *     RFC 3461, RFC 3464, relay/relay_transport.h
 */
#ifndef DOPPEL_RELAY_RELAY_DSN_H
#define DOPPEL_RELAY_RELAY_DSN_H

#include <stddef.h>
#include <time.h>

#include "util/dstr.h"
#include "global/queue_file.h"
#include "relay/relay_transport.h"

#define RELAY_DSN_FULL_MAX (10 * 1024 * 1024)  /* larger: headers only */
#define RELAY_DSN_LIMIT    (RELAY_DSN_FULL_MAX + 1024 * 1024)

int     relay_dsn_wanted(const struct queue_file_env *env,
                         const struct queue_file_rcpt *rcpt);
int     relay_dsn_success_wanted(const struct queue_file_env *env,
                                 const struct queue_file_rcpt *rcpt);
int     relay_dsn_format(struct dstr *out, const char *host,
                         const struct queue_file_env *env,
                         struct relay_rcpt *const *failed, size_t nfailed,
                         time_t now, int *full);
int     relay_dsn_trailer(struct dstr *out, const char *host,
                          const struct queue_file_env *env);
int     relay_dsn_queue(const char *qdir, const char *host,
                        struct queue_file_reader *r,
                        struct relay_rcpt *const *failed, size_t nfailed,
                        char *new_id, struct dstr *why);

#endif
