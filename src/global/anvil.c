/* anvil - per-client connection counts and rates, shared; see anvil.h. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "global/anvil.h"

/*
 * The layout is part of the contract between a master and the workers
 * it started (the same build): the header states its version and every
 * size, and anvil_attach() refuses anything else. Everything after the
 * header is read and written only with the mutex held.
 */
struct anvil_header {
    uint32_t magic;
    uint32_t version;
    uint64_t size;                     /* of the whole mapping */
    uint32_t nentries;                 /* a power of two */
    uint32_t nleases;
    uint32_t entry_size;
    uint32_t lease_size;
    uint32_t mutex_size;
    uint32_t probe_max;
    uint64_t seed;                     /* of the hash: keys are chosen by
                                        * clients, slots must not be */
    uint64_t full;
    uint64_t evictions;
    uint64_t repairs;
    uint32_t lease_hint;               /* where the next free lease search
                                        * starts */
    uint32_t reserved[7];
    pthread_mutex_t lock;
};

struct anvil_entry {
    uint32_t used;                     /* 0: never used, ends a probe */
    uint32_t service;
    struct netaddr addr;
    uint32_t conns;                    /* open now: leases that name us */
    uint32_t conn_rate;                /* in the current window */
    uint32_t mail_rate;
    uint32_t rcpt_rate;
    int64_t window_start;
    int64_t window_end;                /* 0: no window yet */
};

struct anvil_lease {
    uint32_t slot;                     /* entry index + 1; 0: free */
    uint32_t wslot;                    /* the worker slot that holds it */
};

struct anvil {
    int     fd;
    void   *map;
    size_t  size;
    struct anvil_header *h;
    struct anvil_entry *entries;
    struct anvil_lease *leases;
    uint32_t n;                        /* entries, and leases: checked at
                                        * attach, never read again from the
                                        * writable header */
    uint32_t mask;
    int     lock_logged;               /* a lock failure was logged */
    int     full_logged;               /* a full table was logged */
};

/* anvil_header_size - the header, rounded up to a cache line */
static size_t
anvil_header_size(void)
{
    return (sizeof(struct anvil_header) + 63) & ~(size_t) 63;
}

/* anvil_layout_size - bytes of a mapping with n entries and n leases */
static size_t
anvil_layout_size(uint32_t n)
{
    return anvil_header_size() + (size_t) n * sizeof(struct anvil_entry)
        + (size_t) n * sizeof(struct anvil_lease);
}

/* anvil_bind - point the handle into a mapping with n entries */
static void
anvil_bind(struct anvil *a, void *map, size_t size, uint32_t n)
{
    a->map = map;
    a->size = size;
    a->h = map;
    a->entries = (struct anvil_entry *) ((char *) map + anvil_header_size());
    a->leases = (struct anvil_lease *) (a->entries + n);
    a->n = n;
    a->mask = n - 1;
}

/* anvil_round - entries rounded up to a power of two within bounds */
static uint32_t
anvil_round(size_t entries)
{
    uint32_t n = ANVIL_ENTRIES_MIN;

    while (n < entries && n < ANVIL_ENTRIES_MAX)
        n <<= 1;
    return n;
}

/* anvil_mutex_init - a process-shared robust mutex in the mapping */
static int
anvil_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int     err;

    if ((err = pthread_mutexattr_init(&attr)) != 0)
        return err;
    if ((err = pthread_mutexattr_setpshared(&attr,
                                            PTHREAD_PROCESS_SHARED)) == 0
        && (err = pthread_mutexattr_setrobust(&attr,
                                              PTHREAD_MUTEX_ROBUST)) == 0)
        err = pthread_mutex_init(m, &attr);
    (void) pthread_mutexattr_destroy(&attr);
    return err;
}

/* anvil_create - a fresh table in a memfd, for the master */
struct anvil *
anvil_create(size_t entries, struct dstr *why)
{
    uint32_t n = anvil_round(entries);
    size_t  size = anvil_layout_size(n);
    struct anvil_header *h;
    struct anvil *a;
    uint64_t seed = 0;
    void   *map;
    int     fd, err;

    if ((fd = memfd_create("doppel-anvil", MFD_CLOEXEC)) < 0) {
        (void) dstr_appendf(why, "anvil: memfd_create: %s", strerror(errno));
        return NULL;
    }
    if (ftruncate(fd, (off_t) size) < 0) {
        (void) dstr_appendf(why, "anvil: ftruncate: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        (void) dstr_appendf(why, "anvil: mmap: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    /* the memfd starts zeroed: every entry unused, every lease free */
    h = map;
    if ((err = anvil_mutex_init(&h->lock)) != 0) {
        (void) dstr_appendf(why, "anvil: mutex: %s", strerror(err));
        munmap(map, size);
        close(fd);
        return NULL;
    }
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t) sizeof(seed))
        seed = (uint64_t) time(NULL) * 0x9e3779b97f4a7c15ULL
            ^ (uint64_t) getpid();
    h->seed = seed;
    h->size = size;
    h->nentries = n;
    h->nleases = n;
    h->entry_size = sizeof(struct anvil_entry);
    h->lease_size = sizeof(struct anvil_lease);
    h->mutex_size = sizeof(pthread_mutex_t);
    h->probe_max = ANVIL_PROBE_MAX;
    h->version = ANVIL_VERSION;
    h->magic = ANVIL_MAGIC;
    a = xcalloc(1, sizeof(*a));
    a->fd = fd;
    anvil_bind(a, map, size, n);
    return a;
}

/* anvil_attach - map a table that the master passed; check it */
struct anvil *
anvil_attach(int fd, struct dstr *why)
{
    struct anvil_header *h;
    struct anvil *a;
    struct stat st;
    void   *map;
    size_t  size;
    uint32_t n;

    if (fstat(fd, &st) < 0) {
        (void) dstr_appendf(why, "anvil: fd %d: %s", fd, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t) anvil_header_size()
        || (uint64_t) st.st_size > anvil_layout_size(ANVIL_ENTRIES_MAX)) {
        (void) dstr_appendf(why, "anvil: fd %d: not an anvil table (size"
                            " %lld)", fd, (long long) st.st_size);
        return NULL;
    }
    size = (size_t) st.st_size;
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        (void) dstr_appendf(why, "anvil: mmap: %s", strerror(errno));
        return NULL;
    }
    h = map;
    n = h->nentries;
    if (h->magic != ANVIL_MAGIC || h->version != ANVIL_VERSION
        || n < ANVIL_ENTRIES_MIN || n > ANVIL_ENTRIES_MAX || (n & (n - 1))
        || h->nleases != n || h->size != size
        || anvil_layout_size(n) != size
        || h->entry_size != sizeof(struct anvil_entry)
        || h->lease_size != sizeof(struct anvil_lease)
        || h->mutex_size != sizeof(pthread_mutex_t)
        || h->probe_max != ANVIL_PROBE_MAX) {
        (void) dstr_appendf(why, "anvil: fd %d: not an anvil table of"
                            " version %u", fd, ANVIL_VERSION);
        munmap(map, size);
        return NULL;
    }
    a = xcalloc(1, sizeof(*a));
    a->fd = fd;
    anvil_bind(a, map, size, n);
    return a;
}

/* anvil_free - unmap and close; returns NULL */
struct anvil *
anvil_free(struct anvil *a)
{
    if (a == NULL)
        return NULL;
    munmap(a->map, a->size);
    if (a->fd >= 0)
        close(a->fd);
    free(a);
    return NULL;
}

/* anvil_fd - the descriptor to pass to workers */
int
anvil_fd(const struct anvil *a)
{
    return a->fd;
}

/* anvil_service_id - a stable 32-bit id of a service name; 0 for none */
uint32_t
anvil_service_id(const char *name)
{
    uint32_t h = 2166136261u;

    if (name == NULL)
        return 0;
    for (; *name; name++)
        h = (h ^ (unsigned char) *name) * 16777619u;
    return h ? h : 1;
}

/*
 * anvil_repair - the previous holder of the lock died. Whatever it was
 * doing, the leases say who holds which connection: counts are
 * recomputed from them, and a lease that names no live entry is freed.
 * An entry half-written when its writer died has no connections (only
 * such entries are rewritten), so at worst it holds a garbled key that
 * nobody asks for until it is reused.
 */
static void
anvil_repair(struct anvil *a)
{
    uint32_t i, n = a->n, slot;

    for (i = 0; i < n; i++)
        a->entries[i].conns = 0;
    for (i = 0; i < n; i++) {
        slot = a->leases[i].slot;
        if (slot == 0)
            continue;
        if (slot > n || !a->entries[slot - 1].used) {
            a->leases[i].slot = 0;
            continue;
        }
        a->entries[slot - 1].conns++;
    }
    a->h->repairs++;
}

/*
 * anvil_lock - take the mutex, within ANVIL_LOCK_TIMEOUT_MS; 0 or -1.
 * EOWNERDEAD: a process died holding it; we own it now, make it
 * consistent and repair what the dead one may have left half done.
 */
static int
anvil_lock(struct anvil *a)
{
    struct timespec ts;
    int     err;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long) ANVIL_LOCK_TIMEOUT_MS % 1000 * 1000000L;
    ts.tv_sec += ANVIL_LOCK_TIMEOUT_MS / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    err = pthread_mutex_timedlock(&a->h->lock, &ts);
    if (err == EOWNERDEAD) {
        (void) pthread_mutex_consistent(&a->h->lock);
        anvil_repair(a);
        log_warn("anvil: a process died holding the table lock; counts"
                 " recomputed from the leases");
        err = 0;
    }
    if (err != 0) {
        if (!a->lock_logged)
            log_warn("anvil: lock: %s; per-client limits are not enforced"
                     " while it lasts", strerror(err));
        a->lock_logged = 1;
        return -1;
    }
    a->lock_logged = 0;
    return 0;
}

/* anvil_unlock - release the mutex */
static void
anvil_unlock(struct anvil *a)
{
    (void) pthread_mutex_unlock(&a->h->lock);
}

/* anvil_mix - a 64-bit finalizer: every input bit moves every output bit */
static uint64_t
anvil_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/*
 * anvil_hash - the home slot of a key, seeded per table: a client who
 * picks its addresses (an IPv6 /64) cannot aim them at one probe run
 * without knowing the seed. Not a cryptographic MAC, and it need not be.
 */
static uint64_t
anvil_hash(const struct anvil *a, const struct anvil_key *k)
{
    uint64_t w0, w1;

    memcpy(&w0, k->addr.bytes, sizeof(w0));
    memcpy(&w1, k->addr.bytes + sizeof(w0), sizeof(w1));
    return anvil_mix(anvil_mix(anvil_mix(a->h->seed ^ k->service
                                         ^ ((uint64_t) k->addr.family << 32))
                               ^ w0) ^ w1);
}

/* anvil_match - does entry e hold key k */
static int
anvil_match(const struct anvil_entry *e, const struct anvil_key *k)
{
    return e->service == k->service && e->addr.family == k->addr.family
        && memcmp(e->addr.bytes, k->addr.bytes, sizeof(e->addr.bytes)) == 0;
}

/*
 * anvil_find - the entry of k, or with create a new one; -1 if none.
 * Lock held.
 *
 * Open addressing with at most ANVIL_PROBE_MAX probes. Slots go from
 * unused to used and never back, so an unused slot ends every probe
 * run: a key is always placed at the first free-or-stale slot of its
 * run, which lies before any unused one. A stale entry (no connections,
 * window over) is taken over by a new key; so, when nothing is stale,
 * is the idle entry (no connections) with the oldest window. Entries
 * with connections are never taken.
 */
static int64_t
anvil_find(struct anvil *a, const struct anvil_key *k, int64_t now,
           int create)
{
    uint64_t home = anvil_hash(a, k);
    int64_t free_slot = -1, victim = -1, victim_start = 0;
    struct anvil_entry *e;
    uint32_t i, idx;

    for (i = 0; i < ANVIL_PROBE_MAX; i++) {
        idx = (uint32_t) ((home + i) & a->mask);
        e = &a->entries[idx];
        if (!e->used) {
            if (free_slot < 0)
                free_slot = idx;
            break;
        }
        if (anvil_match(e, k))
            return idx;
        if (e->conns != 0)
            continue;
        if (now >= e->window_end) {
            if (free_slot < 0)
                free_slot = idx;
        } else if (victim < 0 || e->window_start < victim_start) {
            victim = idx;
            victim_start = e->window_start;
        }
    }
    if (!create)
        return -1;
    if (free_slot < 0 && victim >= 0) {
        free_slot = victim;
        a->h->evictions++;
    }
    if (free_slot < 0) {
        a->h->full++;
        if (!a->full_logged)
            log_warn("anvil: table full (%u entries): a client is not"
                     " counted and per-client limits do not apply to it",
                     a->n);
        a->full_logged = 1;
        return -1;
    }
    e = &a->entries[free_slot];
    e->window_end = 0;                 /* stale first, then the new key */
    e->window_start = 0;
    e->conn_rate = e->mail_rate = e->rcpt_rate = 0;
    e->conns = 0;
    e->service = k->service;
    e->addr = k->addr;
    e->used = 1;
    return free_slot;
}

/*
 * anvil_window - the entry's window at time now: a new one when the
 * last has ended (or is longer than a unit, after a reload shortened
 * anvil_rate_time_unit), with every rate back to zero
 */
static void
anvil_window(struct anvil_entry *e, int64_t now, int64_t unit)
{
    if (unit < 1)
        unit = 1;
    if (e->window_end == 0 || now >= e->window_end
        || e->window_end - now > unit) {
        e->window_start = now;
        e->window_end = now + unit;
        e->conn_rate = e->mail_rate = e->rcpt_rate = 0;
    }
}

/* anvil_add - add n to a counter without wrapping */
static uint32_t
anvil_add(uint32_t *c, uint32_t n)
{
    *c = *c > UINT32_MAX - n ? UINT32_MAX : *c + n;
    return *c;
}

/* anvil_lease_take - a free lease, searching from the hint; -1 if none */
static int64_t
anvil_lease_take(struct anvil *a)
{
    uint32_t i, idx, n = a->n, hint = a->h->lease_hint;

    for (i = 0; i < n; i++) {
        idx = (hint + i) & a->mask;
        if (a->leases[idx].slot == 0) {
            a->h->lease_hint = (idx + 1) & a->mask;
            return idx;
        }
    }
    return -1;
}

/*
 * anvil_connect - a client connected: count it open and in the rate.
 * Returns its lease (for anvil_disconnect), with *count the connections
 * open now including this one and *rate the connections in this window
 * including this one. When the connection cannot be counted, returns
 * ANVIL_NO_LEASE with 0 and 0 (fail open) or, when only the leases ran
 * out, with what the counts would be (the limit still applies).
 */
int32_t
anvil_connect(struct anvil *a, const struct anvil_key *k, size_t wslot,
              int64_t now_ms, int64_t unit_ms, uint32_t *count,
              uint32_t *rate)
{
    struct anvil_entry *e;
    int64_t idx, lease;

    *count = *rate = 0;
    if (a == NULL || wslot > UINT32_MAX || anvil_lock(a) < 0)
        return ANVIL_NO_LEASE;
    if ((idx = anvil_find(a, k, now_ms, 1)) < 0) {
        anvil_unlock(a);
        return ANVIL_NO_LEASE;
    }
    e = &a->entries[idx];
    anvil_window(e, now_ms, unit_ms);
    *rate = anvil_add(&e->conn_rate, 1);
    if ((lease = anvil_lease_take(a)) < 0) {
        a->h->full++;
        *count = e->conns == UINT32_MAX ? UINT32_MAX : e->conns + 1;
        anvil_unlock(a);
        return ANVIL_NO_LEASE;
    }
    /* the lease first: a repair counts from the leases */
    a->leases[lease].wslot = (uint32_t) wslot;
    a->leases[lease].slot = (uint32_t) idx + 1;
    *count = anvil_add(&e->conns, 1);
    anvil_unlock(a);
    return (int32_t) lease;
}

/* anvil_lease_drop - free a lease and uncount its connection; lock held */
static void
anvil_lease_drop(struct anvil *a, struct anvil_lease *l)
{
    uint32_t slot = l->slot;

    l->slot = 0;
    if (slot >= 1 && slot <= a->n && a->entries[slot - 1].conns > 0)
        a->entries[slot - 1].conns--;
}

/* anvil_disconnect - a counted connection ended */
void
anvil_disconnect(struct anvil *a, int32_t lease, size_t wslot)
{
    struct anvil_lease *l;

    if (a == NULL || lease < 0 || (uint32_t) lease >= a->n)
        return;
    if (anvil_lock(a) < 0)
        return;                         /* XXX the count stays until reap */
    l = &a->leases[lease];
    if (l->slot != 0 && l->wslot == wslot)
        anvil_lease_drop(a, l);
    anvil_unlock(a);
}

/* anvil_event - count n events of one kind for k; the rate, or 0 */
static uint32_t
anvil_event(struct anvil *a, const struct anvil_key *k, int64_t now,
            int64_t unit, size_t which, uint32_t n)
{
    struct anvil_entry *e;
    uint32_t rate;
    int64_t idx;

    if (a == NULL || anvil_lock(a) < 0)
        return 0;
    if ((idx = anvil_find(a, k, now, 1)) < 0) {
        anvil_unlock(a);
        return 0;
    }
    e = &a->entries[idx];
    anvil_window(e, now, unit);
    rate = anvil_add(which == 0 ? &e->mail_rate : &e->rcpt_rate, n);
    anvil_unlock(a);
    return rate;
}

/* anvil_message - a client asked to send a message (MAIL); the rate */
uint32_t
anvil_message(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
              int64_t unit_ms)
{
    return anvil_event(a, k, now_ms, unit_ms, 0, 1);
}

/* anvil_rcpt - a client named n recipients (RCPT); the rate */
uint32_t
anvil_rcpt(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
           int64_t unit_ms, uint32_t n)
{
    return anvil_event(a, k, now_ms, unit_ms, 1, n);
}

/* anvil_count - connections a client has open now */
uint32_t
anvil_count(struct anvil *a, const struct anvil_key *k)
{
    uint32_t n = 0;
    int64_t idx;

    if (a == NULL || anvil_lock(a) < 0)
        return 0;
    if ((idx = anvil_find(a, k, 0, 0)) >= 0)
        n = a->entries[idx].conns;
    anvil_unlock(a);
    return n;
}

/*
 * anvil_worker_gone - a worker is gone (after waitpid): drop every
 * connection it still held; returns how many
 */
size_t
anvil_worker_gone(struct anvil *a, size_t wslot)
{
    uint32_t i;
    size_t  n = 0;

    if (a == NULL || anvil_lock(a) < 0)
        return 0;
    for (i = 0; i < a->n; i++)
        if (a->leases[i].slot != 0 && a->leases[i].wslot == wslot) {
            anvil_lease_drop(a, &a->leases[i]);
            n++;
        }
    anvil_unlock(a);
    return n;
}

/* anvil_stats - capacities, occupancy and event counters */
void
anvil_stats(struct anvil *a, struct anvil_stats *out)
{
    uint32_t i;

    memset(out, 0, sizeof(*out));
    if (a == NULL)
        return;
    out->entries = a->n;
    out->leases = a->n;
    if (anvil_lock(a) < 0)
        return;
    for (i = 0; i < a->n; i++) {
        out->entries_used += a->entries[i].used != 0;
        out->leases_used += a->leases[i].slot != 0;
    }
    out->full = a->h->full;
    out->evictions = a->h->evictions;
    out->repairs = a->h->repairs;
    anvil_unlock(a);
}
