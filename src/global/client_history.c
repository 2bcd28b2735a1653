/* client_history - per-client history in LMDB or Redis; see client_history.h. */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#if HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include "util/clock.h"
#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "global/client_history.h"

#define CH_VERSION 1                    /* of the LMDB value layout */
#define CH_NFIELDS 11
#define CH_VALUE_SIZE (8 * (1 + CH_NFIELDS))
#define CH_READERS 1024                 /* LMDB reader slots */
#define CH_PATH_MAX 4096
#define CH_REDIS_KEY_MAX (sizeof(CLIENT_HISTORY_REDIS_PREFIX) \
                          + CLIENT_HISTORY_KEY_MAX)
#define CH_REDIS_SCAN_COUNT "200"
#define CH_NUM_MAX 24                   /* a long long in decimal */

struct client_history {
    int     flags;
    char   *backend;                   /* as configured, for logs */
    long long ttl;                     /* ms */
    long long max_entries;
    long long window;                  /* client_suspect_window, ms */

    /* the local store */
    char   *path;
    MDB_env *env;                      /* NULL: none */
    MDB_dbi dbi;
    int     missing;                   /* RDONLY and no file: empty */

    /* Redis, if the backend is redis:HOST:PORT */
    int     redis;
    char   *host;
    int     port;
    int     down;                      /* the outage was announced */
    long long retry_at;                /* monotonic ms */
    long long retry_ms;
    struct client_history_update *pending;     /* written locally only */
    size_t  npending;                  /* of CLIENT_HISTORY_PENDING_MAX */
    unsigned long pending_lost;        /* events past that bound */
#if HAVE_HIREDIS
    redisContext *rc;
#endif
};

/* The record's fields, in the LMDB layout order; also Redis hash fields. */
static const struct ch_field {
    const char *name;
    size_t  offset;
} ch_fields[CH_NFIELDS] = {
    {"first_seen", offsetof(struct client_history_rec, first_seen)},
    {"last_seen", offsetof(struct client_history_rec, last_seen)},
    {"connections", offsetof(struct client_history_rec, connections)},
    {"messages", offsetof(struct client_history_rec, messages)},
    {"rejects", offsetof(struct client_history_rec, rejects)},
    {"errors", offsetof(struct client_history_rec, errors)},
    {"timeouts", offsetof(struct client_history_rec, timeouts)},
    {"early_talks", offsetof(struct client_history_rec, early_talks)},
    {"last_abuse", offsetof(struct client_history_rec, last_abuse)},
    {"abuse_recent", offsetof(struct client_history_rec, abuse_recent)},
    {"abuse_since", offsetof(struct client_history_rec, abuse_since)},
};

/* Event names (the CLI) and the counter each one adds to, by event. */
static const struct ch_event {
    const char *name;
    const char *counter;
    int     abuse;
} ch_events[CLIENT_HISTORY_EVENTS] = {
    [CLIENT_HISTORY_CONNECT] = {"connect", "connections", 0},
    [CLIENT_HISTORY_MESSAGE] = {"message", "messages", 0},
    [CLIENT_HISTORY_REJECT] = {"reject", "rejects", 1},
    [CLIENT_HISTORY_ERROR] = {"error", "errors", 1},
    [CLIENT_HISTORY_TIMEOUT] = {"timeout", "timeouts", 1},
    [CLIENT_HISTORY_EARLY_TALK] = {"early_talk", "early_talks", 1},
};

/* ch_why - replace *why (if wanted) with the reason */
static void __attribute__((format(printf, 2, 3)))
ch_why(struct dstr *why, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL)
        return;
    dstr_reset(why);
    va_start(ap, fmt);
    (void) dstr_vappendf(why, fmt, ap);
    va_end(ap);
}

/* client_history_now - the wall clock in ms, the unit of every record */
long long
client_history_now(void)
{
    return clock_real_ms();
}

/* ch_field_ptr - a field of a record by its table index */
static long long *
ch_field_ptr(struct client_history_rec *rec, size_t i)
{
    return (long long *) ((char *) rec + ch_fields[i].offset);
}

/* ch_field_get - a field of a record by its table index */
static long long
ch_field_get(const struct client_history_rec *rec, size_t i)
{
    return *(const long long *) ((const char *) rec + ch_fields[i].offset);
}

/* ch_counter - the counter an event adds to */
static long long *
ch_counter(struct client_history_rec *rec, enum client_history_event event)
{
    switch (event) {
    case CLIENT_HISTORY_CONNECT:
        return &rec->connections;
    case CLIENT_HISTORY_MESSAGE:
        return &rec->messages;
    case CLIENT_HISTORY_REJECT:
        return &rec->rejects;
    case CLIENT_HISTORY_ERROR:
        return &rec->errors;
    case CLIENT_HISTORY_TIMEOUT:
        return &rec->timeouts;
    case CLIENT_HISTORY_EARLY_TALK:
        return &rec->early_talks;
    }
    log_panic("%s: bad event %d", __func__, (int) event);
}

/* ch_valid_event - a value of the enum */
static int
ch_valid_event(enum client_history_event event)
{
    return (int) event >= 0 && (int) event < CLIENT_HISTORY_EVENTS;
}

/* client_history_event_name - "connect", "message", ... */
const char *
client_history_event_name(enum client_history_event event)
{
    return ch_valid_event(event) ? ch_events[event].name : "unknown";
}

/* client_history_event_parse - the event of a name; 0 or -1 */
int
client_history_event_parse(const char *name, enum client_history_event *event)
{
    int     i;

    for (i = 0; i < CLIENT_HISTORY_EVENTS; i++) {
        if (strcmp(ch_events[i].name, name) == 0) {
            *event = (enum client_history_event) i;
            return 0;
        }
    }
    return -1;
}

/* client_history_is_abuse - does this event count towards suspect? */
int
client_history_is_abuse(enum client_history_event event)
{
    return ch_valid_event(event) && ch_events[event].abuse;
}

/*
 * client_history_apply - one event on a record in memory. The abuse
 * part keeps the invariant of the header: every counted abuse event
 * lies in [abuse_since, last_abuse], a span shorter than the window.
 * Events may come slightly out of order (batches, several hosts), so
 * "now" may be older than what the record holds: an old event that
 * still fits the span is counted, one that does not is only counted
 * in its counter.
 */
void
client_history_apply(struct client_history_rec *rec,
                     enum client_history_event event, long long now,
                     long long window)
{
    long long *counter = ch_counter(rec, event);
    long long hi, lo;

    if (rec->first_seen == 0 || now < rec->first_seen)
        rec->first_seen = now;
    if (now > rec->last_seen)
        rec->last_seen = now;
    if (*counter < CLIENT_HISTORY_COUNT_MAX)
        (*counter)++;
    if (!ch_events[event].abuse)
        return;
    hi = now > rec->last_abuse ? now : rec->last_abuse;
    lo = now < rec->abuse_since ? now : rec->abuse_since;
    if (rec->abuse_recent > 0 && hi - lo < window) {
        if (rec->abuse_recent < CLIENT_HISTORY_COUNT_MAX)
            rec->abuse_recent++;
        rec->abuse_since = lo;
    } else if (now >= rec->last_abuse) {
        if (rec->abuse_recent > 0 && now - rec->last_abuse < window) {
            rec->abuse_recent = 2;
            rec->abuse_since = rec->last_abuse;
        } else {
            rec->abuse_recent = 1;
            rec->abuse_since = now;
        }
    }
    rec->last_abuse = hi;
}

/* client_history_class - "suspect", "known" or NULL */
const char *
client_history_class(const struct client_history_rec *rec,
                     const struct params *p, long long now)
{
    if (rec == NULL)
        return NULL;
    if (rec->abuse_recent >= p->client_suspect_events
        && now - rec->abuse_since < p->client_suspect_window)
        return CLIENT_HISTORY_SUSPECT;
    if (rec->messages >= p->client_known_min_messages
        && rec->first_seen > 0
        && now - rec->first_seen >= p->client_known_min_age)
        return CLIENT_HISTORY_KNOWN;
    return NULL;
}

/* client_history_key - the key of an address: "192.0.2.1", "2001:db8::/64" */
int
client_history_key(const struct netaddr *addr, int ipv6_prefix, char *buf,
                   size_t size)
{
    struct cidr net;
    int     i;

    (void) netaddr_unmap(&net.addr, addr);
    if (net.addr.family == AF_INET)
        return netaddr_format(&net.addr, buf, size);
    if (net.addr.family != AF_INET6 || ipv6_prefix < 1 || ipv6_prefix > 128)
        return -1;
    for (i = 0; i < 16; i++) {
        if (i * 8 >= ipv6_prefix)
            net.addr.bytes[i] = 0;
        else if (i * 8 + 8 > ipv6_prefix)
            net.addr.bytes[i] &= (unsigned char) (0xff << (8 - (ipv6_prefix - i * 8)));
    }
    net.prefix = ipv6_prefix;
    return cidr_format(&net, buf, size);
}

/*
 * client_history_key_text - the key of what a person typed: an address
 * (any form netaddr_parse() reads), or an IPv6 key "NET/LEN" whose LEN
 * is the configured prefix (host bits are allowed and cleared).
 */
int
client_history_key_text(const char *text, int ipv6_prefix, char *buf,
                        size_t size)
{
    struct netaddr addr;
    const char *slash = strchr(text, '/');
    char   *end;
    long    len;

    if (slash == NULL) {
        if (netaddr_parse(&addr, text) < 0)
            return -1;
        return client_history_key(&addr, ipv6_prefix, buf, size);
    }
    if (netaddr_parse_n(&addr, text, (size_t) (slash - text)) < 0
        || slash[1] < '0' || slash[1] > '9')
        return -1;
    errno = 0;
    len = strtol(slash + 1, &end, 10);
    if (errno != 0 || *end != '\0' || len != ipv6_prefix
        || netaddr_is_mapped(&addr) || addr.family != AF_INET6)
        return -1;
    return client_history_key(&addr, ipv6_prefix, buf, size);
}

/* ch_key_ok - a key as this module makes them: short, no space or control */
static int
ch_key_ok(const char *key)
{
    size_t  i, len = strlen(key);

    if (len == 0 || len >= CLIENT_HISTORY_KEY_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if ((unsigned char) key[i] <= ' ' || (unsigned char) key[i] >= 0x7f)
            return 0;
    return 1;
}

/* ch_expired - is a record too old to count? */
static int
ch_expired(const struct client_history *h,
           const struct client_history_rec *rec, long long now)
{
    return now - rec->last_seen >= h->ttl;
}

/* ---- LMDB ---- */

/* ch_encode - a record into its LMDB value */
static void
ch_encode(const struct client_history_rec *rec, unsigned char *buf)
{
    int64_t v = CH_VERSION;
    size_t  i;

    memcpy(buf, &v, 8);
    for (i = 0; i < CH_NFIELDS; i++) {
        v = ch_field_get(rec, i);
        memcpy(buf + 8 * (i + 1), &v, 8);
    }
}

/* ch_decode - an LMDB value into a record; -1 if it is not ours */
static int
ch_decode(const MDB_val *val, struct client_history_rec *rec)
{
    const unsigned char *buf = val->mv_data;
    int64_t v;
    size_t  i;

    if (val->mv_size != CH_VALUE_SIZE)
        return -1;
    memcpy(&v, buf, 8);
    if (v != CH_VERSION)
        return -1;
    for (i = 0; i < CH_NFIELDS; i++) {
        memcpy(&v, buf + 8 * (i + 1), 8);
        *ch_field_ptr(rec, i) = v;
    }
    return 0;
}

/*
 * ch_lmdb_open - open (or create) the local store. MDB_NOTLS ties a
 * reader slot to a transaction, not to a thread: the store is opened
 * in one thread and used in another (smtpd_history.c).
 */
static int
ch_lmdb_open(struct client_history *h, const char *dir, struct dstr *why)
{
    struct dstr *path = dstr_new(128, CH_PATH_MAX);
    long long map = h->max_entries * CLIENT_HISTORY_ENTRY_BYTES;
    unsigned flags = MDB_NOSUBDIR | MDB_NOMETASYNC | MDB_NOTLS;
    MDB_txn *txn = NULL;
    int     rc, dead;

    if (dstr_appendf(path, "%s/%s", dir, CLIENT_HISTORY_FILE) < 0) {
        ch_why(why, "client history: data_directory \"%.60s...\": name too long",
               dir);
        dstr_free(path);
        return -1;
    }
    h->path = dstr_steal(path);        /* frees the dstr */
    if (h->flags & CLIENT_HISTORY_RDONLY) {
        if (access(h->path, F_OK) < 0 && errno == ENOENT) {
            h->missing = 1;
            return 0;
        }
        flags |= MDB_RDONLY;
    }
    if (map < CLIENT_HISTORY_MAP_MIN)
        map = CLIENT_HISTORY_MAP_MIN;
    if (map > CLIENT_HISTORY_MAP_MAX)
        map = CLIENT_HISTORY_MAP_MAX;
    if ((rc = mdb_env_create(&h->env)) != 0) {
        ch_why(why, "client history: %s: %s", h->path, mdb_strerror(rc));
        h->env = NULL;
        return -1;
    }
    if ((rc = mdb_env_set_mapsize(h->env, (size_t) map)) != 0
        || (rc = mdb_env_set_maxreaders(h->env, CH_READERS)) != 0
        || (rc = mdb_env_open(h->env, h->path, flags, 0600)) != 0) {
        ch_why(why, "client history: open %s: %s%s", h->path, mdb_strerror(rc),
               rc == ENOENT ? " (create data_directory first)" : "");
        mdb_env_close(h->env);
        h->env = NULL;
        return -1;
    }
    /* slots of readers killed while reading would stay taken otherwise */
    (void) mdb_reader_check(h->env, &dead);
    if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &txn)) != 0
        || (rc = mdb_dbi_open(txn, NULL, 0, &h->dbi)) != 0) {
        ch_why(why, "client history: open %s: %s", h->path, mdb_strerror(rc));
        if (rc != 0 && txn != NULL)
            mdb_txn_abort(txn);
        mdb_env_close(h->env);
        h->env = NULL;
        return -1;
    }
    mdb_txn_abort(txn);
    return 0;
}

/* ch_lmdb_get - one record from the local store */
static enum client_history_result
ch_lmdb_get(struct client_history *h, const char *key, long long now,
            struct client_history_rec *rec)
{
    MDB_txn *txn;
    MDB_val k, v;
    int     rc;
    enum client_history_result res;

    if (h->env == NULL)
        return h->missing ? CLIENT_HISTORY_NOTFOUND : CLIENT_HISTORY_FAIL;
    if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &txn)) != 0) {
        log_warn("client history: %s: read: %s", h->path, mdb_strerror(rc));
        return CLIENT_HISTORY_FAIL;
    }
    k.mv_data = (void *) key;
    k.mv_size = strlen(key);
    rc = mdb_get(txn, h->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        res = CLIENT_HISTORY_NOTFOUND;
    } else if (rc != 0) {
        log_warn("client history: %s: read %s: %s", h->path, key,
                 mdb_strerror(rc));
        res = CLIENT_HISTORY_FAIL;
    } else if (ch_decode(&v, rec) < 0 || ch_expired(h, rec, now)) {
        res = CLIENT_HISTORY_NOTFOUND;
    } else {
        res = CLIENT_HISTORY_FOUND;
    }
    mdb_txn_abort(txn);
    return res;
}

/* ch_lmdb_put_all - the events of one write transaction; an LMDB code */
static int
ch_lmdb_put_all(struct client_history *h, const struct client_history_update *u,
                size_t n)
{
    struct client_history_rec rec;
    unsigned char buf[CH_VALUE_SIZE];
    MDB_txn *txn;
    MDB_val k, v;
    size_t  i;
    int     rc;

    if ((rc = mdb_txn_begin(h->env, NULL, 0, &txn)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        k.mv_data = (void *) u[i].key;
        k.mv_size = strlen(u[i].key);
        rc = mdb_get(txn, h->dbi, &k, &v);
        if (rc != 0 && rc != MDB_NOTFOUND)
            break;
        if (rc == MDB_NOTFOUND || ch_decode(&v, &rec) < 0
            || ch_expired(h, &rec, u[i].when))
            memset(&rec, 0, sizeof(rec));
        client_history_apply(&rec, u[i].event, u[i].when, h->window);
        ch_encode(&rec, buf);
        v.mv_data = buf;
        v.mv_size = sizeof(buf);
        if ((rc = mdb_put(txn, h->dbi, &k, &v, 0)) != 0)
            break;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/*
 * ch_lmdb_update - the events into the local store. A full map is met
 * by a sweep and one more try: the map is sized for max_entries, so it
 * fills only when the sweep has not run for a long time.
 */
static int
ch_lmdb_update(struct client_history *h, const struct client_history_update *u,
               size_t n)
{
    int     rc;

    if (h->env == NULL || (h->flags & CLIENT_HISTORY_RDONLY)) {
        log_warn("client history: %s: not open for writing",
                 h->path ? h->path : CLIENT_HISTORY_FILE);
        return -1;
    }
    rc = ch_lmdb_put_all(h, u, n);
    if (rc == MDB_MAP_FULL) {
        log_warn("client history: %s: full; sweeping now", h->path);
        (void) client_history_sweep(h, u[n - 1].when);
        rc = ch_lmdb_put_all(h, u, n);
    }
    if (rc != 0) {
        log_warn("client history: %s: write: %s", h->path, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* ch_lmdb_forget - delete one key from the local store */
static enum client_history_result
ch_lmdb_forget(struct client_history *h, const char *key)
{
    MDB_txn *txn;
    MDB_val k;
    int     rc;

    if (h->env == NULL || (h->flags & CLIENT_HISTORY_RDONLY))
        return CLIENT_HISTORY_FAIL;
    if ((rc = mdb_txn_begin(h->env, NULL, 0, &txn)) != 0) {
        log_warn("client history: %s: forget: %s", h->path, mdb_strerror(rc));
        return CLIENT_HISTORY_FAIL;
    }
    k.mv_data = (void *) key;
    k.mv_size = strlen(key);
    rc = mdb_del(txn, h->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return CLIENT_HISTORY_NOTFOUND;
    }
    if (rc != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (rc != 0)
            log_warn("client history: %s: forget %s: %s", h->path, key,
                     mdb_strerror(rc));
        return CLIENT_HISTORY_FAIL;
    }
    return CLIENT_HISTORY_FOUND;
}

/* ch_lmdb_list - every live record of the local store, in key order */
static int
ch_lmdb_list(struct client_history *h, long long now,
             client_history_list_fn *fn, void *arg)
{
    struct client_history_rec rec;
    char    key[CLIENT_HISTORY_KEY_MAX];
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    MDB_val k, v;
    int     rc;

    if (h->env == NULL)
        return h->missing ? 0 : -1;
    if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &txn)) != 0
        || (rc = mdb_cursor_open(txn, h->dbi, &cur)) != 0) {
        log_warn("client history: %s: list: %s", h->path, mdb_strerror(rc));
        if (rc != 0 && txn != NULL)
            mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size >= sizeof(key) || ch_decode(&v, &rec) < 0
            || ch_expired(h, &rec, now))
            continue;
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        if (fn(arg, key, &rec) != 0)
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        log_warn("client history: %s: list: %s", h->path, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* ch_bucket - the time bucket of last_seen between lo and hi */
static size_t
ch_bucket(long long t, long long lo, long long hi)
{
    if (hi <= lo || t <= lo)
        return 0;
    if (t >= hi)
        return CLIENT_HISTORY_SWEEP_BUCKETS - 1;
    /* (t - lo) < 2^53 for any real clock, so this does not overflow */
    return (size_t) ((double) (t - lo) * (CLIENT_HISTORY_SWEEP_BUCKETS - 1)
                     / (double) (hi - lo));
}

/*
 * ch_sweep_txn - the sweep inside one write transaction. Pass 1 drops
 * what expired (or is not ours) and finds the span of last_seen; if
 * too many remain, pass 2 counts them per time bucket and pass 3
 * deletes whole buckets from the oldest, and part of the last one.
 * After mdb_cursor_del() the cursor already stands on the next item,
 * and MDB_NEXT returns that item (LMDB's C_DEL rule).
 */
static int
ch_sweep_txn(struct client_history *h, MDB_txn *txn, long long now,
             long long *removed)
{
    long long *counts;
    struct client_history_rec rec;
    MDB_cursor *cur;
    MDB_val k, v;
    long long live = 0, lo = LLONG_MAX, hi = LLONG_MIN, excess, cum, quota;
    size_t  b, cut;
    int     rc;

    if ((rc = mdb_cursor_open(txn, h->dbi, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (ch_decode(&v, &rec) < 0 || ch_expired(h, &rec, now)) {
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            (*removed)++;
            continue;
        }
        live++;
        if (rec.last_seen < lo)
            lo = rec.last_seen;
        if (rec.last_seen > hi)
            hi = rec.last_seen;
    }
    if (rc != MDB_NOTFOUND || live <= h->max_entries) {
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    excess = live - h->max_entries;
    counts = xcalloc(CLIENT_HISTORY_SWEEP_BUCKETS, sizeof(*counts));
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (ch_decode(&v, &rec) == 0)
            counts[ch_bucket(rec.last_seen, lo, hi)]++;
    if (rc != MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        free(counts);
        return rc;
    }
    for (cut = 0, cum = 0; cut < CLIENT_HISTORY_SWEEP_BUCKETS - 1; cut++) {
        if (cum + counts[cut] >= excess)
            break;
        cum += counts[cut];
    }
    quota = excess - cum;               /* to delete from bucket cut */
    free(counts);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (ch_decode(&v, &rec) < 0)
            continue;
        b = ch_bucket(rec.last_seen, lo, hi);
        if (b > cut || (b == cut && quota <= 0))
            continue;
        if (b == cut)
            quota--;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*removed)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* client_history_sweep - drop expired and surplus records; how many, or -1 */
long long
client_history_sweep(struct client_history *h, long long now)
{
    MDB_txn *txn;
    long long removed = 0;
    int     rc, dead;

    if (h->env == NULL)
        return h->missing ? 0 : -1;
    if (h->flags & CLIENT_HISTORY_RDONLY)
        return -1;
    (void) mdb_reader_check(h->env, &dead);
    if ((rc = mdb_txn_begin(h->env, NULL, 0, &txn)) != 0) {
        log_warn("client history: %s: sweep: %s", h->path, mdb_strerror(rc));
        return -1;
    }
    if ((rc = ch_sweep_txn(h, txn, now, &removed)) != 0) {
        mdb_txn_abort(txn);
        log_warn("client history: %s: sweep: %s", h->path, mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        log_warn("client history: %s: sweep: %s", h->path, mdb_strerror(rc));
        return -1;
    }
    return removed;
}

/* client_history_entries - records in the local store, or -1 */
long long
client_history_entries(struct client_history *h)
{
    MDB_stat st;

    if (h->env == NULL)
        return h->missing ? 0 : -1;
    if (mdb_env_stat(h->env, &st) != 0)
        return -1;
    return (long long) st.ms_entries;
}

/* ---- Redis ---- */

#if HAVE_HIREDIS

/*
 * The update of one event, done by Redis itself so that hosts sharing
 * a record never lose each other's increments. It is
 * client_history_apply() in Lua, plus the expiry; numbers are written
 * with %d so that C reads them back with strtoll().
 * KEYS[1] the hash; ARGV: now, counter field, abuse (1/0), window,
 * ttl, count max.
 */
static const char ch_redis_script[] =
    "local k = KEYS[1]\n"
    "local t = tonumber(ARGV[1])\n"
    "local w = tonumber(ARGV[4])\n"
    "local ttl = tonumber(ARGV[5])\n"
    "local max = tonumber(ARGV[6])\n"
    "local function get(f)\n"
    "  return tonumber(redis.call('HGET', k, f) or '0') or 0\n"
    "end\n"
    "local function d(x) return string.format('%d', x) end\n"
    "local last = get('last_seen')\n"
    "if last > 0 and t - last >= ttl then\n"
    "  redis.call('DEL', k)\n"
    "  last = 0\n"
    "end\n"
    "local first = get('first_seen')\n"
    "if first == 0 or t < first then redis.call('HSET', k, 'first_seen', ARGV[1]) end\n"
    "if t > last then redis.call('HSET', k, 'last_seen', ARGV[1]) end\n"
    "if get(ARGV[2]) < max then redis.call('HINCRBY', k, ARGV[2], 1) end\n"
    "if ARGV[3] == '1' then\n"
    "  local n = get('abuse_recent')\n"
    "  local since = get('abuse_since')\n"
    "  local la = get('last_abuse')\n"
    "  local hi = math.max(la, t)\n"
    "  local lo = math.min(since, t)\n"
    "  if n > 0 and hi - lo < w then\n"
    "    if n < max then n = n + 1 end\n"
    "    since = lo\n"
    "  elseif t >= la then\n"
    "    if n > 0 and t - la < w then n = 2; since = la else n = 1; since = t end\n"
    "  end\n"
    "  redis.call('HSET', k, 'abuse_recent', d(n), 'abuse_since', d(since),\n"
    "             'last_abuse', d(hi))\n"
    "end\n"
    "redis.call('PEXPIRE', k, ARGV[5])\n"
    "return 1\n";

/* ch_redis_down - drop the connection; warn once per outage */
static void
ch_redis_down(struct client_history *h, const char *reason)
{
    if (h->rc != NULL) {
        redisFree(h->rc);
        h->rc = NULL;
    }
    h->retry_at = clock_mono_ms() + h->retry_ms;
    if (!h->down) {
        log_warn("client history: redis %s:%d: %s; using the local store %s"
                 " until it is back", h->host, h->port, reason,
                 h->path ? h->path : "(none)");
        h->down = 1;
    }
}

/* ch_redis_up - an operation worked: end the outage, if any */
static void
ch_redis_up(struct client_history *h)
{
    if (h->down) {
        log_info("client history: redis back at %s:%d; the local store is"
                 " no longer used", h->host, h->port);
        h->down = 0;
    }
}

/*
 * ch_redis_conn - the connection, or NULL while Redis is down. A
 * failed attempt blocks for at most the timeout and is not repeated
 * before retry_at, so an outage costs each caller little.
 */
static redisContext *
ch_redis_conn(struct client_history *h)
{
    struct timeval tv;
    redisContext *c;

    if (h->rc != NULL)
        return h->rc;
    if (h->down && clock_mono_ms() < h->retry_at)
        return NULL;
    tv.tv_sec = CLIENT_HISTORY_REDIS_TIMEOUT_MS / 1000;
    tv.tv_usec = (CLIENT_HISTORY_REDIS_TIMEOUT_MS % 1000) * 1000;
    c = redisConnectWithTimeout(h->host, h->port, tv);
    if (c == NULL) {
        ch_redis_down(h, "cannot connect: out of memory");
        return NULL;
    }
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        char    reason[160];

        (void) snprintf(reason, sizeof(reason), "cannot connect: %s",
                        c->errstr[0] ? c->errstr : "error");
        redisFree(c);
        ch_redis_down(h, reason);
        return NULL;
    }
    h->rc = c;
    return c;
}

/*
 * ch_redis_reply - check a reply; NULL (and the connection dropped)
 * on failure. A reply error (a script error, OOM) is treated as an
 * outage too: the local store takes over, and Redis is tried again
 * after the delay.
 */
static redisReply *
ch_redis_reply(struct client_history *h, redisReply *r, const char *what)
{
    char    reason[200];

    if (r == NULL) {
        (void) snprintf(reason, sizeof(reason), "%s: %s", what,
                        h->rc && h->rc->errstr[0] ? h->rc->errstr : "no reply");
        ch_redis_down(h, reason);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        (void) snprintf(reason, sizeof(reason), "%s: %.120s", what,
                        r->str ? r->str : "error");
        freeReplyObject(r);
        ch_redis_down(h, reason);
        return NULL;
    }
    return r;
}

/* ch_redis_stale - drop a connection that failed; may we try a new one? */
static int
ch_redis_stale(struct client_history *h, int fresh)
{
    if (fresh)
        return 0;
    redisFree(h->rc);
    h->rc = NULL;
    return 1;
}

/*
 * ch_redis_command - one command by argv; the checked reply or NULL.
 * A connection made earlier may have been closed meanwhile (a Redis
 * restart, its idle "timeout"): if it fails before any reply, one new
 * connection is tried at once before the outage is declared.
 */
static redisReply *
ch_redis_command(struct client_history *h, int argc, const char **argv,
                 const char *what)
{
    redisContext *c;
    redisReply *r;
    int     fresh;

    for (;;) {
        fresh = h->rc == NULL;
        if ((c = ch_redis_conn(h)) == NULL)
            return NULL;
        r = redisCommandArgv(c, argc, argv, NULL);
        if (r != NULL || !ch_redis_stale(h, fresh))
            return ch_redis_reply(h, r, what);
    }
}

/* ch_redis_key - "doppel:client:KEY" */
static void
ch_redis_key(char *buf, size_t size, const char *key)
{
    (void) snprintf(buf, size, "%s%s", CLIENT_HISTORY_REDIS_PREFIX, key);
}

/* ch_redis_decode - an HGETALL reply into a record; 0 if empty */
static int
ch_redis_decode(const redisReply *r, struct client_history_rec *rec)
{
    size_t  i, f;
    char   *end;
    long long v;

    memset(rec, 0, sizeof(*rec));
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return 0;
    for (i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING
            || r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        for (f = 0; f < CH_NFIELDS; f++) {
            if (strcmp(r->element[i]->str, ch_fields[f].name) != 0)
                continue;
            errno = 0;
            v = strtoll(r->element[i + 1]->str, &end, 10);
            if (errno == 0 && *end == '\0')
                *ch_field_ptr(rec, f) = v;
        }
    }
    return 1;
}

/* ch_redis_get - one record from Redis; FAIL means "ask the local store" */
static enum client_history_result
ch_redis_get(struct client_history *h, const char *key, long long now,
             struct client_history_rec *rec)
{
    char    rkey[CH_REDIS_KEY_MAX];
    const char *argv[2] = {"HGETALL", rkey};
    redisReply *r;
    int     found;

    ch_redis_key(rkey, sizeof(rkey), key);
    if ((r = ch_redis_command(h, 2, argv, "HGETALL")) == NULL)
        return CLIENT_HISTORY_FAIL;
    found = ch_redis_decode(r, rec);
    freeReplyObject(r);
    ch_redis_up(h);
    if (!found || ch_expired(h, rec, now))
        return CLIENT_HISTORY_NOTFOUND;
    return CLIENT_HISTORY_FOUND;
}

/*
 * ch_redis_pipeline - the events as one pipeline: 0, -1 (the outage
 * is declared), or 1 if the connection failed before the first reply
 * (nothing was applied; the caller may try a new connection).
 */
static int
ch_redis_pipeline(struct client_history *h, redisContext *c,
                  const struct client_history_update *u, size_t n, int fresh)
{
    char    rkey[CH_REDIS_KEY_MAX], now[CH_NUM_MAX], window[CH_NUM_MAX];
    char    ttl[CH_NUM_MAX], max[CH_NUM_MAX];
    const char *argv[10];
    redisReply *r;
    size_t  i;

    (void) snprintf(window, sizeof(window), "%lld", h->window);
    (void) snprintf(ttl, sizeof(ttl), "%lld", h->ttl);
    (void) snprintf(max, sizeof(max), "%lld", CLIENT_HISTORY_COUNT_MAX);
    for (i = 0; i < n; i++) {
        ch_redis_key(rkey, sizeof(rkey), u[i].key);
        (void) snprintf(now, sizeof(now), "%lld", u[i].when);
        argv[0] = "EVAL";
        argv[1] = ch_redis_script;
        argv[2] = "1";
        argv[3] = rkey;
        argv[4] = now;
        argv[5] = ch_events[u[i].event].counter;
        argv[6] = ch_events[u[i].event].abuse ? "1" : "0";
        argv[7] = window;
        argv[8] = ttl;
        argv[9] = max;
        /* the arguments are copied into the output buffer here */
        if (redisAppendCommandArgv(c, 10, argv, NULL) != REDIS_OK) {
            ch_redis_down(h, "EVAL: cannot queue the command");
            return -1;
        }
    }
    for (i = 0; i < n; i++) {
        void   *reply = NULL;

        if (redisGetReply(c, &reply) != REDIS_OK)
            reply = NULL;
        if (reply == NULL && i == 0 && ch_redis_stale(h, fresh))
            return 1;
        if ((r = ch_redis_reply(h, reply, "EVAL")) == NULL)
            return -1;
        freeReplyObject(r);
    }
    ch_redis_up(h);
    return 0;
}

/* ch_redis_update - the events into Redis; -1: use the local store */
static int
ch_redis_update(struct client_history *h, const struct client_history_update *u,
                size_t n)
{
    redisContext *c;
    int     fresh, rc;

    do {
        fresh = h->rc == NULL;
        if ((c = ch_redis_conn(h)) == NULL)
            return -1;
    } while ((rc = ch_redis_pipeline(h, c, u, n, fresh)) == 1);
    return rc;
}

/* ch_redis_keep - events of the outage, to copy to Redis when it is back */
static void
ch_redis_keep(struct client_history *h, const struct client_history_update *u,
              size_t n)
{
    size_t  room;

    if (h->pending == NULL)
        h->pending = xcalloc(CLIENT_HISTORY_PENDING_MAX, sizeof(*h->pending));
    room = CLIENT_HISTORY_PENDING_MAX - h->npending;
    if (n > room) {
        h->pending_lost += (unsigned long) (n - room);
        n = room;
    }
    memcpy(h->pending + h->npending, u, n * sizeof(*u));
    h->npending += n;
}

/*
 * ch_redis_replay - Redis works again: what only the local store got
 * during the outage goes to Redis too, so the other hosts see it. If
 * this fails, it is kept for the next time.
 */
static void
ch_redis_replay(struct client_history *h)
{
    size_t  n = h->npending;

    if (n == 0 || ch_redis_update(h, h->pending, n) < 0)
        return;
    if (h->pending_lost > 0)
        log_info("client history: redis %s:%d: copied %zu event(s) of the"
                 " outage; %lu more were not kept (at most %d)", h->host,
                 h->port, n, h->pending_lost, CLIENT_HISTORY_PENDING_MAX);
    else
        log_info("client history: redis %s:%d: copied %zu event(s) of the"
                 " outage", h->host, h->port, n);
    h->npending = 0;
    h->pending_lost = 0;
}

/* ch_redis_forget - DEL; FAIL means "use the local store" */
static enum client_history_result
ch_redis_forget(struct client_history *h, const char *key)
{
    char    rkey[CH_REDIS_KEY_MAX];
    const char *argv[2] = {"DEL", rkey};
    redisReply *r;
    enum client_history_result res;

    ch_redis_key(rkey, sizeof(rkey), key);
    if ((r = ch_redis_command(h, 2, argv, "DEL")) == NULL)
        return CLIENT_HISTORY_FAIL;
    res = r->type == REDIS_REPLY_INTEGER && r->integer > 0
        ? CLIENT_HISTORY_FOUND : CLIENT_HISTORY_NOTFOUND;
    freeReplyObject(r);
    ch_redis_up(h);
    return res;
}

/* ch_redis_list_keys - the records of one SCAN reply; 1 if fn stopped */
static int
ch_redis_list_keys(struct client_history *h, const redisReply *keys,
                   long long now, client_history_list_fn *fn, void *arg,
                   int *failed)
{
    struct client_history_rec rec;
    const char *argv[2] = {"HGETALL", NULL};
    const size_t plen = sizeof(CLIENT_HISTORY_REDIS_PREFIX) - 1;
    redisReply *r;
    size_t  i;
    int     found, stop = 0;

    for (i = 0; i < keys->elements && !stop; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING
            || keys->element[i]->len <= plen
            || keys->element[i]->len - plen >= CLIENT_HISTORY_KEY_MAX)
            continue;
        argv[1] = keys->element[i]->str;
        if ((r = ch_redis_command(h, 2, argv, "HGETALL")) == NULL) {
            *failed = 1;
            return 1;
        }
        found = ch_redis_decode(r, &rec);
        freeReplyObject(r);
        if (found && !ch_expired(h, &rec, now))
            stop = fn(arg, keys->element[i]->str + plen, &rec) != 0;
    }
    return stop;
}

/*
 * ch_redis_list - SCAN the prefix. SCAN may return a key twice if
 * Redis rehashes meanwhile; a listing is a view, not a count. On a
 * failure part way (-1) the caller lists the local store after what
 * was listed; the warning of the outage says why.
 */
static int
ch_redis_list(struct client_history *h, long long now,
              client_history_list_fn *fn, void *arg)
{
    char    cursor[CH_NUM_MAX] = "0";
    const char *argv[6] = {"SCAN", cursor, "MATCH",
        CLIENT_HISTORY_REDIS_PREFIX "*", "COUNT", CH_REDIS_SCAN_COUNT};
    redisReply *r;
    int     calls, stop = 0, failed = 0;

    for (calls = 0; calls < CLIENT_HISTORY_REDIS_SCAN_MAX; calls++) {
        if ((r = ch_redis_command(h, 6, argv, "SCAN")) == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_ARRAY
            || str_copy(cursor, sizeof(cursor), r->element[0]->str) < 0) {
            freeReplyObject(r);
            ch_redis_down(h, "SCAN: unexpected reply");
            return -1;
        }
        stop = ch_redis_list_keys(h, r->element[1], now, fn, arg, &failed);
        freeReplyObject(r);
        if (failed)
            return -1;
        if (stop || strcmp(cursor, "0") == 0)
            break;
    }
    ch_redis_up(h);
    return 0;
}

#endif                                  /* HAVE_HIREDIS */

/* ch_parse_redis - "HOST:PORT" or "[HOST]:PORT" */
static int
ch_parse_redis(struct client_history *h, const char *spec, struct dstr *why)
{
    const char *colon = strrchr(spec, ':');
    const char *host = spec;
    size_t  hlen;
    char   *end;
    long    port;

    if (colon == NULL || colon == spec || colon[1] == '\0')
        goto bad;
    hlen = (size_t) (colon - spec);
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            goto bad;
        host++;
        hlen -= 2;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535
        || colon[1] < '0' || colon[1] > '9')
        goto bad;
    h->host = xstrndup(host, hlen);
    h->port = (int) port;
    return 0;

bad:
    ch_why(why, "client_history_backend: \"redis:%s\": not redis:HOST:PORT",
           spec);
    return -1;
}

/* client_history_open - the store client_history_backend names */
struct client_history *
client_history_open(const struct params *p, int flags, struct dstr *why)
{
    struct client_history *h = xcalloc(1, sizeof(*h));
    const char *backend = p->client_history_backend;
    struct dstr *lmdb_why = NULL;

    h->flags = flags;
    h->backend = xstrdup(backend ? backend : "lmdb");
    h->ttl = p->client_history_ttl;
    h->max_entries = p->client_history_max_entries;
    h->window = p->client_suspect_window;
    h->retry_ms = CLIENT_HISTORY_REDIS_RETRY_MS;
    if (strncmp(h->backend, "redis:", 6) == 0) {
        if (ch_parse_redis(h, h->backend + 6, why) < 0)
            return client_history_close(h);
#if !HAVE_HIREDIS
        ch_why(why, "client_history_backend: \"%s\": this doppel was built"
               " without hiredis (install libhiredis-dev and rebuild)",
               h->backend);
        return client_history_close(h);
#endif
        h->redis = 1;
    } else if (strcmp(h->backend, "lmdb") != 0) {
        ch_why(why, "client_history_backend: \"%s\": not lmdb or"
               " redis:HOST:PORT", h->backend);
        return client_history_close(h);
    }
    if (p->data_directory == NULL || p->data_directory[0] == '\0') {
        ch_why(why, "client history: data_directory is empty");
        return client_history_close(h);
    }
    if (!h->redis)
        return ch_lmdb_open(h, p->data_directory, why) < 0
            ? client_history_close(h) : h;

    /* Redis: the local store is the fallback; without it, no fallback */
    lmdb_why = dstr_new(128, 1024);
    if (ch_lmdb_open(h, p->data_directory, lmdb_why) < 0)
        log_warn("%s; no fallback while redis %s:%d is down", lmdb_why->data,
                 h->host, h->port);
    dstr_free(lmdb_why);
    return h;
}

/* client_history_close - release everything; returns NULL */
struct client_history *
client_history_close(struct client_history *h)
{
    if (h == NULL)
        return NULL;
#if HAVE_HIREDIS
    if (h->rc != NULL)
        redisFree(h->rc);
#endif
    if (h->env != NULL)
        mdb_env_close(h->env);
    if (h->npending > 0)
        log_warn("client history: redis %s:%d: %zu event(s) of the outage"
                 " were never copied to it", h->host, h->port, h->npending);
    free(h->pending);
    free(h->path);
    free(h->host);
    free(h->backend);
    free(h);
    return NULL;
}

/* client_history_backend_name - the backend as configured */
const char *
client_history_backend_name(const struct client_history *h)
{
    return h->backend;
}

/* client_history_set_retry - the pause after a Redis failure (tests) */
void
client_history_set_retry(struct client_history *h, long long ms)
{
    h->retry_ms = ms;
    if (h->down)
        h->retry_at = clock_mono_ms() + ms;
}

/* client_history_update - n events, as one transaction */
int
client_history_update(struct client_history *h,
                      const struct client_history_update *u, size_t n)
{
    size_t  i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (!ch_key_ok(u[i].key) || !ch_valid_event(u[i].event)) {
            log_warn("client history: bad update \"%.70s\" event %d",
                     u[i].key, (int) u[i].event);
            return -1;
        }
    }
#if HAVE_HIREDIS
    if (h->redis) {
        if (ch_redis_update(h, u, n) == 0) {
            ch_redis_replay(h);
            return 0;
        }
        ch_redis_keep(h, u, n);
    }
#endif
    return ch_lmdb_update(h, u, n);
}

/* client_history_record - one event */
int
client_history_record(struct client_history *h, const char *key,
                      enum client_history_event event, long long now)
{
    struct client_history_update u;

    if (str_copy(u.key, sizeof(u.key), key) < 0) {
        log_warn("client history: key too long: \"%.70s...\"", key);
        return -1;
    }
    u.event = event;
    u.when = now;
    return client_history_update(h, &u, 1);
}

/* client_history_get - the live record of key */
enum client_history_result
client_history_get(struct client_history *h, const char *key, long long now,
                   struct client_history_rec *rec)
{
    if (!ch_key_ok(key))
        return CLIENT_HISTORY_NOTFOUND;
#if HAVE_HIREDIS
    if (h->redis) {
        enum client_history_result res = ch_redis_get(h, key, now, rec);

        if (res != CLIENT_HISTORY_FAIL)
            return res;
    }
#endif
    return ch_lmdb_get(h, key, now, rec);
}

/* client_history_forget - delete key */
enum client_history_result
client_history_forget(struct client_history *h, const char *key)
{
    if (!ch_key_ok(key))
        return CLIENT_HISTORY_NOTFOUND;
#if HAVE_HIREDIS
    if (h->redis) {
        enum client_history_result res = ch_redis_forget(h, key);

        if (res != CLIENT_HISTORY_FAIL)
            return res;
    }
#endif
    return ch_lmdb_forget(h, key);
}

/* client_history_list - fn for every live record */
int
client_history_list(struct client_history *h, long long now,
                    client_history_list_fn *fn, void *arg)
{
#if HAVE_HIREDIS
    if (h->redis && ch_redis_list(h, now, fn, arg) == 0)
        return 0;
#endif
    return ch_lmdb_list(h, now, fn, arg);
}
