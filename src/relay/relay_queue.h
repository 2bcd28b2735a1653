/*
 * NAME
 *     relay_queue - the delivery agent's moves between queue directories
 * SYNOPSIS
 *     #include "relay/relay_queue.h"
 *
 *     fd = relay_queue_lock(qdir, why);        (one relay per queue)
 *     relay_queue_recover(qdir, why);          (active/ -> incoming/)
 *     n = relay_queue_scan(qdir, "incoming", 0, ids, max, why);
 *     relay_queue_take(qdir, "incoming", id, why);
 *     ... deliver ...
 *     relay_queue_done(qdir, id, why);
 *     relay_queue_defer(qdir, id, r, keep, retry_at, reasons, why);
 * DESCRIPTION
 *     These functions carry out the rules of docs/queue-format.md
 *     ("What the delivery agent must do"). A message moves only by
 *     rename(2), so it is whole in exactly one directory at any time.
 *
 *     relay_queue_lock() takes an exclusive lock on QDIR/relay.lock and
 *     returns its descriptor (kept open for the life of the relay; the
 *     kernel drops it when the process dies, even by kill -9), or -1
 *     with errno EWOULDBLOCK when another relay holds it.
 *
 *     relay_queue_recover() moves every file left in active/ back to
 *     incoming/ (its delivery was cut short: deliver it again). When a
 *     rewrite was cut short, incoming/ID may already hold the newer file
 *     with fewer recipients; then the old one in active/ is removed.
 *     It returns the number of files moved.
 *
 *     relay_queue_scan() lists up to max queue IDs from a directory,
 *     sorted (IDs sort by arrival time; with more than max files, which
 *     max are found first is up to readdir). With not_after > 0 only files
 *     whose modification time is at or before it are listed: in
 *     deferred/ the modification time is the time of the next attempt.
 *     Names that are not queue IDs are skipped.
 *
 *     relay_queue_take() renames FROM/ID to active/ID: 1 when taken,
 *     0 when the file was gone (another agent, or "doppel queue").
 *
 *     relay_queue_done() removes active/ID and fsyncs active/ so that
 *     a crash cannot bring the message back, and removes its deferral
 *     reasons.
 *
 *     relay_queue_defer() puts active/ID into deferred/ with the next
 *     attempt at retry_at (seconds since the epoch). keep[i] says
 *     whether envelope recipient i still waits; when some do not, a new
 *     queue file with the waiting recipients is written first (tmp/,
 *     fsync, rename, fsync: the writer's protocol) and the old one is
 *     removed only after. reasons (may be NULL) is stored as
 *     QDIR/defer/ID for "doppel queue list".
 *
 *     relay_queue_corrupt() moves active/ID to corrupt/ID.
 *
 *     relay_queue_backoff() is the wait before the next attempt, in
 *     milliseconds: the message's age, but at least min and at most max
 *     (so waits double while a message is young, as in Postfix).
 * RULES
 *     Only the relay that took a file (renamed it into active/) touches
 *     it. The caller validates IDs (queue_id_valid()) before use;
 *     these functions refuse invalid ones.
 * DIAGNOSTICS
 *     -1 with errno and a reason in why ("deferred/ID: rename: ...").
 * SEE ALSO
 *     global/queue_file.h, global/queue_dirs.h, docs/queue-format.md
 */
#ifndef DOPPEL_RELAY_RELAY_QUEUE_H
#define DOPPEL_RELAY_RELAY_QUEUE_H

#include <stddef.h>
#include <time.h>

#include "util/dstr.h"
#include "global/queue_file.h"
#include "global/queue_id.h"

#define RELAY_QUEUE_LOCK    "relay.lock"
#define RELAY_QUEUE_DEFER   "defer"     /* deferral reasons, one file per ID */
#define RELAY_QUEUE_REASONS_MAX (64 * 1024)

int     relay_queue_lock(const char *qdir, struct dstr *why);
int     relay_queue_recover(const char *qdir, struct dstr *why);
int     relay_queue_scan(const char *qdir, const char *sub, time_t not_after,
                         char (*ids)[QUEUE_ID_SIZE], size_t max,
                         struct dstr *why);
int     relay_queue_take(const char *qdir, const char *from, const char *id,
                         struct dstr *why);
int     relay_queue_done(const char *qdir, const char *id, struct dstr *why);
int     relay_queue_defer(const char *qdir, const char *id,
                          struct queue_file_reader *r, const int *keep,
                          time_t retry_at, const char *reasons,
                          struct dstr *why);
int     relay_queue_corrupt(const char *qdir, const char *id,
                            struct dstr *why);
long long relay_queue_backoff(long long age_ms, long long min_ms,
                              long long max_ms);
int     relay_queue_write_reasons(const char *qdir, const char *id,
                                  const char *reasons, struct dstr *why);

#endif
