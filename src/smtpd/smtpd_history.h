/*
 * NAME
 *     smtpd_history - client history for a worker's event loop, off the loop
 * SYNOPSIS
 *     #include "smtpd/smtpd_history.h"
 *
 *     h = smtpd_history_new(base, params, why);
 *     req = smtpd_history_lookup(h, &addr, got_history, session);
 *         ... later, in the loop: got_history(session, rec or NULL)
 *     smtpd_history_cancel(req);          (only before the callback)
 *     smtpd_history_event(h, &addr, CLIENT_HISTORY_MESSAGE);
 *     h = smtpd_history_free(h);
 * DESCRIPTION
 *     The history store (global/client_history.h) reads and writes LMDB
 *     or talks to Redis: both may wait. Here one thread per worker owns
 *     the store, and the loop talks to it through two bounded queues.
 *
 *     smtpd_history_event() queues one event for the client's key and
 *     returns at once; if SMTPD_HISTORY_EVENTS_MAX events are waiting,
 *     the event is dropped and counted (smtpd_history_dropped()), with
 *     one warning per episode of a full queue. The thread writes the
 *     waiting events in one transaction (one fsync for LMDB, one
 *     pipeline for Redis) SMTPD_HISTORY_WRITE_MS after the first of
 *     them was queued, or at once when half the queue is used: the
 *     history's fsyncs must not compete with the mail queue's for the
 *     disk on every message. smtpd_history_queued() is the number of
 *     events waiting now (for metrics).
 *
 *     smtpd_history_lookup() asks for the client's record and returns a
 *     request; fn(arg, rec) runs later in the loop, exactly once unless
 *     cancelled, never from within smtpd_history_lookup(). rec is the
 *     record (valid during the call only), or NULL when the client is
 *     unknown, the store failed, the lookup queue was full
 *     (SMTPD_HISTORY_LOOKUPS_MAX waiting: counted as dropped), or no
 *     answer came within SMTPD_HISTORY_LOOKUP_TIMEOUT_MS (counted by
 *     smtpd_history_late()). The thread answers lookups before it
 *     writes the events waiting with them, and adds those events to
 *     the answer, so a lookup sees every event queued before it.
 *
 *     The thread also sweeps the local store every
 *     SMTPD_HISTORY_SWEEP_MS, and sooner when it holds an eighth more
 *     than client_history_max_entries.
 * RULES
 *     Call everything from the loop's thread. evthread_use_pthreads()
 *     must run before the event base is made (the thread wakes the loop
 *     with event_active()). A request is the module's: it is invalid
 *     once fn has run or smtpd_history_cancel() returned. Do not call
 *     smtpd_history_free() from fn.
 *     smtpd_history_free() writes the waiting events, stops the thread
 *     and drops unanswered requests without calling fn; it waits for
 *     the store, so call it when the loop is done.
 * DIAGNOSTICS
 *     smtpd_history_new() returns NULL with the reason in *why when the
 *     store cannot be opened or the thread cannot start.
 * SEE ALSO
 *     global/client_history.h, smtpd/smtpd_queue.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_HISTORY_H
#define DOPPEL_SMTPD_SMTPD_HISTORY_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"
#include "global/client_history.h"

#define SMTPD_HISTORY_EVENTS_MAX 2048
#define SMTPD_HISTORY_LOOKUPS_MAX 1024
#define SMTPD_HISTORY_LOOKUP_TIMEOUT_MS 1000
#define SMTPD_HISTORY_SWEEP_MS (600 * 1000)
#define SMTPD_HISTORY_WRITE_MS 1000     /* events wait at most this long */

struct event_base;
struct smtpd_history;
struct smtpd_history_req;

typedef void smtpd_history_fn(void *arg, const struct client_history_rec *rec);

struct smtpd_history *smtpd_history_new(struct event_base *base,
                                        const struct params *p,
                                        struct dstr *why);
struct smtpd_history *smtpd_history_free(struct smtpd_history *h);
struct smtpd_history_req *smtpd_history_lookup(struct smtpd_history *h,
                                               const struct netaddr *addr,
                                               smtpd_history_fn *fn,
                                               void *arg);
void    smtpd_history_cancel(struct smtpd_history_req *req);
void    smtpd_history_event(struct smtpd_history *h,
                            const struct netaddr *addr,
                            enum client_history_event event);
size_t  smtpd_history_queued(struct smtpd_history *h);
unsigned long smtpd_history_dropped(const struct smtpd_history *h);
unsigned long smtpd_history_late(const struct smtpd_history *h);

#endif
