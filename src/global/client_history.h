/*
 * NAME
 *     client_history - what each client did before: the store behind
 *     the known and suspect classes
 * SYNOPSIS
 *     #include "global/client_history.h"
 *
 *     h = client_history_open(params, 0, why);
 *     client_history_key(&addr, params->client_history_ipv6_prefix,
 *                        key, sizeof(key));
 *     client_history_record(h, key, CLIENT_HISTORY_MESSAGE, now);
 *     if (client_history_get(h, key, now, &rec) == CLIENT_HISTORY_FOUND)
 *         cls = client_history_class(&rec, params, now);
 *     client_history_sweep(h, now);
 *     h = client_history_close(h);
 * DESCRIPTION
 *     One record per client key: when it was first and last seen,
 *     counters of connections, delivered messages (queued with 250),
 *     rejections, protocol errors, timeouts and early talking, and the
 *     recent abuse. Times are milliseconds since the Unix epoch; the
 *     caller passes "now", so tests drive a fake clock.
 *
 *     The key is the client address as text: "192.0.2.1" for IPv4
 *     (an IPv4-mapped IPv6 address is its IPv4 address), and for IPv6
 *     the network of client_history_ipv6_prefix bits that holds it,
 *     "2001:db8:1:2::/64", because one IPv6 host owns a whole network.
 *     client_history_key() makes it from an address;
 *     client_history_key_text() from what a person types: an address,
 *     or a key as "doppel client list" prints it.
 *
 *     Abuse is a REJECT, ERROR, TIMEOUT or EARLY_TALK event. The record
 *     keeps abuse_recent events counted since abuse_since, all of them
 *     within client_suspect_window of each other. When an abuse event
 *     comes after the window has passed, the count restarts: at 2 from
 *     last_abuse if that one is still within the window of now, else at
 *     1. So abuse_recent is a lower bound of the abuse events in the
 *     window that ends at the latest one; it never overstates, so a
 *     client is never called suspect for events older than the window.
 *     client_history_apply() is this rule, on a record in memory.
 *
 *     client_history_class() names the class a record earns: "suspect"
 *     if at least client_suspect_events abuse events lie within
 *     client_suspect_window of now; else "known" if it has at least
 *     client_known_min_messages messages and was first seen at least
 *     client_known_min_age ago; else NULL.
 *
 *     Backends (client_history_backend):
 *
 *     lmdb - DATA_DIR/client_history.lmdb (one file and its "-lock"
 *     file, MDB_NOSUBDIR), opened by every worker process; LMDB locks
 *     across processes. Each client_history_update() is one short write
 *     transaction. The environment is opened with MDB_NOMETASYNC: every
 *     commit is written and the data pages are synced; only the meta
 *     page sync is deferred to the next commit. A process killed at any
 *     instruction loses nothing it committed (the pages are in the page
 *     cache) and leaves a database that opens; an operating system
 *     crash may undo the last commit but never breaks the database.
 *     MDB_NOSYNC is not used: after a system crash it may leave a
 *     database that does not open. The map size is bounded by
 *     client_history_max_entries (CLIENT_HISTORY_ENTRY_BYTES each,
 *     clamped to CLIENT_HISTORY_MAP_MIN..CLIENT_HISTORY_MAP_MAX). A
 *     record whose last_seen is client_history_ttl old or more is
 *     treated as absent; client_history_sweep() deletes those and, if
 *     more than client_history_max_entries remain, the least recently
 *     seen (in CLIENT_HISTORY_SWEEP_BUCKETS time buckets between the
 *     oldest and newest last_seen, so memory stays constant: the
 *     ordering is exact up to one bucket's width).
 *
 *     redis:HOST:PORT - a hash per client, "doppel:client:KEY", updated
 *     by one Lua script per event (HSETNX first_seen, HSET last_seen,
 *     HINCRBY of a counter, the abuse rule above, PEXPIRE ttl), so
 *     several hosts update one record atomically. Connect and command
 *     timeouts are CLIENT_HISTORY_REDIS_TIMEOUT_MS. When Redis fails,
 *     the operation is done on the local LMDB store instead and one
 *     warning is logged for the outage; no connection is tried again
 *     for CLIENT_HISTORY_REDIS_RETRY_MS; the first operation that works
 *     after an outage logs "redis back". What was written locally during
 *     an outage is also kept in memory (up to CLIENT_HISTORY_PENDING_MAX
 *     events) and copied to Redis by the first update that works again,
 *     so the other hosts see it; a process that ends first (a "doppel
 *     client record") warns that its events stayed local. A batch that
 *     fails part way is written locally whole, so its first events may
 *     count twice, in Redis too once copied. Name HOST by address: hiredis resolves a name
 *     without a time limit. Redis expires
 *     records itself (PEXPIRE); client_history_max_entries and the sweep
 *     apply to the local store only (bound Redis with its maxmemory).
 *
 *     client_history_get() answers CLIENT_HISTORY_FOUND with *rec
 *     filled, CLIENT_HISTORY_NOTFOUND, or CLIENT_HISTORY_FAIL.
 *     client_history_update() applies n events in one transaction (one
 *     Redis pipeline); client_history_record() is one event.
 *     client_history_list() calls fn for each live record (in key order
 *     for LMDB, in no order for Redis) until fn returns non-zero.
 *     client_history_forget() deletes one key: FOUND if it was there.
 *     client_history_entries() counts the records of the local store,
 *     expired ones included.
 *
 *     With CLIENT_HISTORY_RDONLY (for "doppel client show" and "list")
 *     a missing LMDB file is an empty history and is not created, so a
 *     command run as root does not leave root-owned files for the
 *     workers; updates, forget and sweep then fail.
 * RULES
 *     A struct client_history belongs to one thread at a time. Open it
 *     in the process that uses it (after fork(); LMDB forbids using an
 *     environment across fork). One process opens one store at a time.
 *     Counters stop at CLIENT_HISTORY_COUNT_MAX. With Redis, the
 *     process must ignore or block SIGPIPE: hiredis writes with write(2)
 *     (smtpd_history.c blocks every signal in its thread; doppel client
 *     ignores SIGPIPE).
 * DIAGNOSTICS
 *     client_history_open() returns NULL with the reason in *why (a bad
 *     backend, an LMDB error). Other failures are logged ("client
 *     history: ...") and returned as -1 or CLIENT_HISTORY_FAIL. Out of
 *     memory is fatal.
 * SEE ALSO
 *     smtpd/smtpd_history.h (the worker's asynchronous wrapper),
 *     doppel-client(1), doppel.cf(5), lmdb.h, hiredis
 */
#ifndef DOPPEL_GLOBAL_CLIENT_HISTORY_H
#define DOPPEL_GLOBAL_CLIENT_HISTORY_H

#include <stddef.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/params.h"

#define CLIENT_HISTORY_KEY_MAX 64       /* "2001:...::/64", with the NUL */
#define CLIENT_HISTORY_COUNT_MAX 1000000000000000LL
#define CLIENT_HISTORY_FILE "client_history.lmdb"
#define CLIENT_HISTORY_ENTRY_BYTES 1024 /* map size per entry (generous) */
#define CLIENT_HISTORY_MAP_MIN (16LL << 20)
#define CLIENT_HISTORY_MAP_MAX (64LL << 30)
#define CLIENT_HISTORY_SWEEP_BUCKETS 1024
#define CLIENT_HISTORY_REDIS_PREFIX "doppel:client:"
#define CLIENT_HISTORY_REDIS_TIMEOUT_MS 200
#define CLIENT_HISTORY_REDIS_RETRY_MS 5000
#define CLIENT_HISTORY_PENDING_MAX 8192 /* outage events kept to copy */
#define CLIENT_HISTORY_REDIS_SCAN_MAX 1000000   /* SCAN calls per list */

#define CLIENT_HISTORY_KNOWN "known"
#define CLIENT_HISTORY_SUSPECT "suspect"

#define CLIENT_HISTORY_RDONLY 0x1       /* client_history_open() flag */

enum client_history_event {
    CLIENT_HISTORY_CONNECT,
    CLIENT_HISTORY_MESSAGE,            /* queued, answered 250 */
    CLIENT_HISTORY_REJECT,             /* abuse */
    CLIENT_HISTORY_ERROR,              /* abuse */
    CLIENT_HISTORY_TIMEOUT,            /* abuse */
    CLIENT_HISTORY_EARLY_TALK,         /* abuse */
};

#define CLIENT_HISTORY_EVENTS 6

enum client_history_result {
    CLIENT_HISTORY_FAIL = -1,
    CLIENT_HISTORY_NOTFOUND = 0,
    CLIENT_HISTORY_FOUND = 1,
};

struct client_history_rec {
    long long first_seen;              /* ms since the epoch */
    long long last_seen;
    long long connections;
    long long messages;
    long long rejects;
    long long errors;
    long long timeouts;
    long long early_talks;
    long long last_abuse;              /* 0: never */
    long long abuse_recent;            /* abuse events since abuse_since */
    long long abuse_since;             /* the first of those */
};

/* One event for client_history_update(). */
struct client_history_update {
    char    key[CLIENT_HISTORY_KEY_MAX];
    enum client_history_event event;
    long long when;                    /* ms since the epoch */
};

struct client_history;

typedef int client_history_list_fn(void *arg, const char *key,
                                   const struct client_history_rec *rec);

struct client_history *client_history_open(const struct params *p, int flags,
                                           struct dstr *why);
struct client_history *client_history_close(struct client_history *h);

int     client_history_key(const struct netaddr *addr, int ipv6_prefix,
                           char *buf, size_t size);
int     client_history_key_text(const char *text, int ipv6_prefix,
                                char *buf, size_t size);
long long client_history_now(void);
const char *client_history_event_name(enum client_history_event event);
int     client_history_event_parse(const char *name,
                                   enum client_history_event *event);
int     client_history_is_abuse(enum client_history_event event);
void    client_history_apply(struct client_history_rec *rec,
                             enum client_history_event event, long long now,
                             long long window);
const char *client_history_class(const struct client_history_rec *rec,
                                 const struct params *p, long long now);

int     client_history_record(struct client_history *h, const char *key,
                              enum client_history_event event, long long now);
int     client_history_update(struct client_history *h,
                              const struct client_history_update *u, size_t n);
enum client_history_result client_history_get(struct client_history *h,
                                               const char *key, long long now,
                                               struct client_history_rec *rec);
enum client_history_result client_history_forget(struct client_history *h,
                                                  const char *key);
int     client_history_list(struct client_history *h, long long now,
                            client_history_list_fn *fn, void *arg);
long long client_history_sweep(struct client_history *h, long long now);
long long client_history_entries(struct client_history *h);
const char *client_history_backend_name(const struct client_history *h);
void    client_history_set_retry(struct client_history *h, long long ms);

#endif
