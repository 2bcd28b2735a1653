/*
 * NAME
 *     cli_queue - "doppel queue": look at and manage the mail queue
 * SYNOPSIS
 *     #include "cli/cli_queue.h"
 *
 *     doppel queue [-c DIR] list
 *     doppel queue [-c DIR] show ID
 *     doppel queue [-c DIR] delete ID...|ALL
 *     doppel queue [-c DIR] hold ID...|ALL
 *     doppel queue [-c DIR] release ID...|ALL
 *     doppel queue [-c DIR] flush
 * DESCRIPTION
 *     list prints the queue like mailq: ID (with "*" while the relay
 *     delivers it, "!" while on hold), size, arrival, sender, and each
 *     recipient, under the reason of its deferral when it has one.
 *     show prints one message's state, envelope and content. delete
 *     removes messages (not while the relay delivers them), hold moves
 *     them to hold/ where the relay leaves them, release moves them
 *     back to incoming/, flush makes every deferred message due now and
 *     wakes the relay through its service socket when it has one.
 *
 *     cli_queue_find() says which directory of the queue holds ID.
 * RULES
 *     IDs are checked with queue_id_valid() before any path is made.
 *     Runs as root or as the mail owner (the queue is mode 0700).
 * DIAGNOSTICS
 *     Exit 0 when everything asked was done, 1 when something was not
 *     (with a line on standard error: "doppel queue: ID: no such
 *     message"), 2 for bad usage or an ID that is not a queue ID.
 * SEE ALSO
 *     doppel-queue(1), relay/relay_queue.h, docs/queue-format.md
 */
#ifndef DOPPEL_CLI_CLI_QUEUE_H
#define DOPPEL_CLI_CLI_QUEUE_H

int     cli_queue_main(int argc, char **argv);
const char *cli_queue_find(const char *qdir, const char *id);

#endif
