/*
 * NAME
 *     relay_deliver - one delivery attempt of one queued message
 * SYNOPSIS
 *     #include "relay/relay_deliver.h"
 *
 *     job = relay_deliver_prepare(qdir, id, params, maps, why);
 *     ... wait for a thread and for the destinations' concurrency ...
 *     relay_deliver_run(job);           (on a delivery thread)
 *     job = relay_deliver_free(job);
 * DESCRIPTION
 *     relay_deliver_prepare() opens active/ID (which the caller has
 *     taken), reads its envelope and chooses each recipient's transport
 *     (relay/relay_transport.h). A file the reader refuses goes to
 *     corrupt/ with the reason logged, and NULL is returned. A job's
 *     destinations (job->dests, distinct transport keys) are what the
 *     scheduler counts against default_destination_concurrency_limit.
 *
 *     relay_deliver_run() delivers to every recipient, grouped by
 *     transport (one SMTP/LMTP session per group), logs one line per
 *     recipient and attempt, in Postfix's form:
 *
 *       ID: to=<rcpt>, orig_to=<orcpt>, relay=HOST[ADDR]:PORT,
 *           delay=1.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)
 *
 *     and then settles the file: when every recipient is done (sent,
 *     discarded or bounced) it is removed; otherwise it goes to
 *     deferred/ with the recipients still waiting, its next attempt
 *     after relay_queue_backoff(). Recipients that failed for good are
 *     reported to the sender in one RFC 3464 notice (relay/relay_dsn.h)
 *     queued before the original file goes; so is every waiting
 *     recipient of a message older than maximal_queue_lifetime
 *     (bounce_queue_lifetime for mail from <>), logged status=expired.
 *     A bounce for the null sender is never made. Recipients delivered
 *     with NOTIFY=SUCCESS get a success report ("delivered", or
 *     "relayed" for an SMTP next hop that did not offer DSN; a next hop
 *     that did takes the request over), in the same notice.
 *
 *     relay_deliver_status_name() is "sent", "deferred", "bounced".
 * RULES
 *     A job belongs to one thread at a time; the params and maps stay
 *     alive while it exists (the relay keeps one configuration for its
 *     life). Transport choice happens in prepare, on the scheduler
 *     thread, because tables are not shared between threads.
 * DIAGNOSTICS
 *     Everything is logged; relay_deliver_run() returns the number of
 *     recipients still waiting (0: the message is gone).
 * SEE ALSO
 *     relay/relay_queue.h, relay/relay_transport.h, relay/relay_smtp.h,
 *     relay/relay_maildir.h, relay/relay_dsn.h
 */
#ifndef DOPPEL_RELAY_RELAY_DELIVER_H
#define DOPPEL_RELAY_RELAY_DELIVER_H

#include <stddef.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "tables/table.h"
#include "relay/relay_transport.h"

struct relay_job {
    char    id[QUEUE_ID_SIZE];
    const char *qdir;
    const struct params *p;
    struct queue_file_reader *r;
    struct relay_rcpt *rcpts;
    size_t  nrcpt;
    struct relay_transport *tr;        /* per recipient; NULL: lookup failed */
    char  **dests;                     /* distinct transport keys */
    size_t  ndest;
    long long start_us;                /* when this attempt began */
};

struct relay_job *relay_deliver_prepare(const char *qdir, const char *id,
                                        const struct params *p,
                                        struct table_list *maps,
                                        struct dstr *why);
size_t  relay_deliver_run(struct relay_job *job);
struct relay_job *relay_deliver_free(struct relay_job *job);
const char *relay_deliver_status_name(enum relay_rcpt_status st);
void    relay_deliver_log(const struct relay_job *job,
                          const struct relay_rcpt *r, const char *status);

#endif
