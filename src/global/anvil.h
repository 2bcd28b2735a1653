/*
 * NAME
 *     anvil - per-client connection counts and event rates, shared by
 *     every worker of a host
 * SYNOPSIS
 *     #include "global/anvil.h"
 *
 *     master:  a = anvil_create(ANVIL_ENTRIES_DEFAULT, why);
 *              (fork; the worker gets anvil_fd(a) as fd 5)
 *              anvil_worker_gone(a, wslot);          (after waitpid)
 *     worker:  a = anvil_attach(5, why);           (see master_proto.h)
 *              key.service = anvil_service_id("127.0.0.1:25");
 *              key.addr = client;
 *              lease = anvil_connect(a, &key, wslot, now_ms, unit_ms,
 *                                    &count, &rate);
 *              rate = anvil_message(a, &key, now_ms, unit_ms);
 *              rate = anvil_rcpt(a, &key, now_ms, unit_ms, 1);
 *              anvil_disconnect(a, lease, wslot);
 *     both:    a = anvil_free(a);
 * DESCRIPTION
 *     The bookkeeping half of Postfix's anvil(8), without a server: one
 *     memfd, mapped MAP_SHARED by the master and every smtpd worker,
 *     holds a header, a hash table of ANVIL entries and a table of
 *     connection leases. The policy (limits, replies, exceptions) is
 *     the caller's: see smtpd/smtpd_limits.h.
 *
 *     An entry is keyed by (service, client address), as Postfix keys
 *     anvil by "service:address": a client's connections to port 25
 *     do not count against its limit on port 587. The service is a
 *     32-bit id of the service's name (anvil_service_id(): a hash of its
 *     LISTEN; 0 for none); the address is the full IPv4 or IPv6 address
 *     (the caller unmaps ::ffff:a.b.c.d first). An entry holds the
 *     connections open now and, for the current time unit, the number of
 *     connections, messages (MAIL) and recipients (RCPT).
 *
 *     Rates use a fixed window per entry, as Postfix does: the window
 *     starts at the first event of the entry after the previous window
 *     ended, lasts unit_ms (anvil_rate_time_unit), and all three rate
 *     counters start again from zero with it. So a client may make up to
 *     2 x limit events within a short time across a window boundary;
 *     that is Postfix's behaviour too. Each call returns the counter
 *     after counting the new event: a limit of N is exceeded when the
 *     returned value is above N.
 *
 *     Connections are counted with leases: anvil_connect() takes a
 *     lease (a record of which entry and which worker slot), and
 *     anvil_disconnect() gives it back. When a worker dies without
 *     disconnecting (kill -9, a crash), the master calls
 *     anvil_worker_gone() for its slot after waitpid(), which returns
 *     every lease the worker held: the client's count drops at once.
 *
 *     The table has a fixed size: ANVIL_ENTRIES_DEFAULT entries (open
 *     addressing, at most ANVIL_PROBE_MAX probes from a key's home
 *     slot) and as many leases. An entry with no connections whose
 *     window has ended is free for another key. When every slot a key
 *     may use is taken, the entry with no connections and the oldest
 *     window is taken over (its rates are forgotten: an eviction);
 *     when all of them hold connections, the key is not counted at
 *     all: the call fails open (count and rate 0, no lease), the event
 *     is counted as "full" and logged once per process.
 * RULES
 *     One process-shared robust mutex guards the table; every operation
 *     is a short walk under it. A process killed while holding it does
 *     not wedge the others: the next one to lock gets EOWNERDEAD, marks
 *     the mutex consistent and repairs the table (the connection counts
 *     are recomputed from the leases, which a dying writer leaves
 *     consistent with or without its last change). The lock is taken
 *     with a timeout (ANVIL_LOCK_TIMEOUT_MS): a process stopped while
 *     holding it (SIGSTOP) makes the others fail open, not wait.
 *
 *     The mapping is writable by every worker, so the master treats it
 *     as untrusted input: every index read from it is checked before
 *     use, and a garbled table can only make limits wrong, never make
 *     a process read or write outside the mapping.
 *
 *     Times are CLOCK_MONOTONIC milliseconds from the caller (one clock
 *     for all processes of the host; tests pass a fake clock).
 *     The lease of a connection is only valid with the wslot that took
 *     it; anvil_disconnect() ignores a lease that is free or belongs
 *     to another slot, so a stale lease cannot release another worker's
 *     connection.
 * DIAGNOSTICS
 *     anvil_create() and anvil_attach() return NULL and say why in *why.
 *     A lock that cannot be taken is logged as a warning once until the
 *     lock works again, a full table once per process (anvil_stats()
 *     counts every event); calls then fail open. A repair after a dead
 *     lock holder is logged as a warning.
 * SEE ALSO
 *     global/master_proto.h (fd 5), global/scoreboard.h,
 *     smtpd/smtpd_limits.h, Postfix anvil(8), pthread_mutexattr_setrobust(3)
 */
#ifndef DOPPEL_GLOBAL_ANVIL_H
#define DOPPEL_GLOBAL_ANVIL_H

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"
#include "util/netaddr.h"

#define ANVIL_MAGIC 0x44504156u         /* "DPAV" */
#define ANVIL_VERSION 1u
#define ANVIL_ENTRIES_DEFAULT 65536
#define ANVIL_ENTRIES_MIN 64
#define ANVIL_ENTRIES_MAX (1u << 22)
#define ANVIL_PROBE_MAX 32              /* slots a key may live in */
#define ANVIL_LOCK_TIMEOUT_MS 200       /* then fail open */
#define ANVIL_NO_LEASE (-1)

struct anvil_key {
    uint32_t service;                  /* anvil_service_id(); 0: none */
    struct netaddr addr;               /* unmapped, from util/netaddr */
};

struct anvil_stats {
    uint32_t entries;                  /* capacity */
    uint32_t entries_used;             /* holding a key (live or stale) */
    uint32_t leases;                   /* capacity */
    uint32_t leases_used;              /* connections counted now */
    uint64_t full;                     /* events not counted: no room */
    uint64_t evictions;                /* idle entries taken over */
    uint64_t repairs;                  /* recoveries after a dead holder */
};

struct anvil;

struct anvil *anvil_create(size_t entries, struct dstr *why);
struct anvil *anvil_attach(int fd, struct dstr *why);
struct anvil *anvil_free(struct anvil *a);
int     anvil_fd(const struct anvil *a);
uint32_t anvil_service_id(const char *name);

int32_t anvil_connect(struct anvil *a, const struct anvil_key *k,
                      size_t wslot, int64_t now_ms, int64_t unit_ms,
                      uint32_t *count, uint32_t *rate);
void    anvil_disconnect(struct anvil *a, int32_t lease, size_t wslot);
uint32_t anvil_message(struct anvil *a, const struct anvil_key *k,
                       int64_t now_ms, int64_t unit_ms);
uint32_t anvil_rcpt(struct anvil *a, const struct anvil_key *k,
                    int64_t now_ms, int64_t unit_ms, uint32_t n);
uint32_t anvil_count(struct anvil *a, const struct anvil_key *k);
size_t  anvil_worker_gone(struct anvil *a, size_t wslot);
void    anvil_stats(struct anvil *a, struct anvil_stats *out);

#endif
