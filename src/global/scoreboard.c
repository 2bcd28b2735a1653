/* scoreboard - per service and per worker counts in one shared mapping. */

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/services.h"
#include "global/scoreboard.h"

#if !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "the scoreboard needs lock-free 64-bit atomics"
#endif

/*
 * The layout is part of the contract between a master and the workers
 * it started (the same build): the header states its version and every
 * size, and scoreboard_attach() refuses anything else. Fields are plain
 * integers accessed only with __atomic builtins, which work on shared
 * memory across processes when they are lock-free (checked above).
 */
struct sb_header {
    uint32_t magic;
    uint32_t version;
    uint64_t size;                     /* of the whole mapping */
    uint32_t nservices;
    uint32_t nworkers;
    uint32_t service_size;
    uint32_t worker_size;
    uint32_t nclasses;
    uint32_t ncounters;
    uint64_t generation;               /* configuration epoch */
    uint64_t reserved[8];
};

struct sb_service {
    char    listen[SCOREBOARD_LISTEN_MAX];     /* written by the master */
    uint32_t in_use;
    int32_t force;
    int64_t limit;
    int64_t threshold;
    int64_t open;
    int64_t peak;
    int64_t by_stress[2];
    int64_t by_class[SCOREBOARD_CLASSES];
    uint64_t counters[SCOREBOARD_COUNTERS];
    uint64_t stress_word;              /* since_ms << 8 | reason << 1 | on */
    uint64_t reserved[4];
};

struct sb_worker {
    int32_t pid;                       /* 0: free */
    uint32_t service;
    uint64_t generation;
    int64_t open;
    int64_t by_stress[2];
    int64_t by_class[SCOREBOARD_CLASSES];
};

struct sb_layout {
    struct sb_header header;
    struct sb_service services[SCOREBOARD_SERVICES_MAX];
    struct sb_worker workers[SCOREBOARD_WORKERS_MAX];
};

struct scoreboard {
    int     fd;
    struct sb_layout *map;
};

#define SB_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define SB_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define SB_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

#define SB_CLASS(c) ((c) < SCOREBOARD_CLASSES ? (c) : SCOREBOARD_CLASSES - 1)

#define SB_WORD(on, reason, since) \
    (((uint64_t) (since) << 8) | ((uint64_t) (reason) << 1) | ((on) ? 1u : 0u))
#define SB_WORD_ON(w) ((int) ((w) & 1u))
#define SB_WORD_REASON(w) ((enum scoreboard_reason) (((w) >> 1) & 0x7fu))
#define SB_WORD_SINCE(w) ((int64_t) ((w) >> 8))

static const char *const sb_reason_names[SCOREBOARD_REASONS] = {
    "start", "full", "forced", "cleared", "reload",
};

static const char *const sb_counter_names[SCOREBOARD_COUNTERS] = {
    "connections", "messages", "rejects", "timeouts", "full", "evictions",
    "transitions", "restarts",
};

/* sb_header_init - the header of a fresh board */
static void
sb_header_init(struct sb_header *h)
{
    h->magic = SCOREBOARD_MAGIC;
    h->version = SCOREBOARD_VERSION;
    h->size = sizeof(struct sb_layout);
    h->nservices = SCOREBOARD_SERVICES_MAX;
    h->nworkers = SCOREBOARD_WORKERS_MAX;
    h->service_size = sizeof(struct sb_service);
    h->worker_size = sizeof(struct sb_worker);
    h->nclasses = SCOREBOARD_CLASSES;
    h->ncounters = SCOREBOARD_COUNTERS;
}

/* scoreboard_create - a fresh board in a memfd, for the master */
struct scoreboard *
scoreboard_create(void)
{
    struct scoreboard *sb;
    void   *map;
    int     fd;

    if ((fd = memfd_create("doppel-scoreboard", MFD_CLOEXEC)) < 0)
        log_fatal("scoreboard: memfd_create: %m");
    if (ftruncate(fd, (off_t) sizeof(struct sb_layout)) < 0)
        log_fatal("scoreboard: ftruncate: %m");
    map = mmap(NULL, sizeof(struct sb_layout), PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        log_fatal("scoreboard: mmap: %m");
    sb = xcalloc(1, sizeof(*sb));
    sb->fd = fd;
    sb->map = map;
    sb_header_init(&sb->map->header);  /* the memfd starts zeroed */
    return sb;
}

/* scoreboard_attach - map a board that the master passed; check it */
struct scoreboard *
scoreboard_attach(int fd, struct dstr *why)
{
    struct sb_header want, *h;
    struct scoreboard *sb;
    struct stat st;
    void   *map;

    memset(&want, 0, sizeof(want));
    sb_header_init(&want);
    if (fstat(fd, &st) < 0) {
        dstr_appendf(why, "scoreboard: fd %d: %s", fd, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != want.size) {
        dstr_appendf(why, "scoreboard: fd %d: size %lld, expected %llu",
                     fd, (long long) st.st_size,
                     (unsigned long long) want.size);
        return NULL;
    }
    map = mmap(NULL, sizeof(struct sb_layout), PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        dstr_appendf(why, "scoreboard: mmap: %s", strerror(errno));
        return NULL;
    }
    h = map;
    if (h->magic != want.magic || h->version != want.version
        || h->size != want.size || h->nservices != want.nservices
        || h->nworkers != want.nworkers
        || h->service_size != want.service_size
        || h->worker_size != want.worker_size
        || h->nclasses != want.nclasses || h->ncounters != want.ncounters) {
        dstr_appendf(why, "scoreboard: fd %d: not a version %u scoreboard"
                     " of this build (magic %08x version %u)", fd,
                     want.version, h->magic, h->version);
        munmap(map, sizeof(struct sb_layout));
        return NULL;
    }
    sb = xcalloc(1, sizeof(*sb));
    sb->fd = fd;
    sb->map = map;
    return sb;
}

/* scoreboard_detach - unmap and close; returns NULL */
struct scoreboard *
scoreboard_detach(struct scoreboard *sb)
{
    if (sb == NULL)
        return NULL;
    munmap(sb->map, sizeof(struct sb_layout));
    if (sb->fd >= 0)
        close(sb->fd);
    free(sb);
    return NULL;
}

/* scoreboard_fd - the descriptor to pass to workers */
int
scoreboard_fd(const struct scoreboard *sb)
{
    return sb->fd;
}

/* scoreboard_generation - the configuration epoch */
uint64_t
scoreboard_generation(const struct scoreboard *sb)
{
    return SB_LOAD(&sb->map->header.generation);
}

/* scoreboard_generation_set - a reload took effect */
void
scoreboard_generation_set(struct scoreboard *sb, uint64_t generation)
{
    SB_STORE(&sb->map->header.generation, generation);
}

/* sb_class_rank - the slot of classes[i]: "default" is 0, others follow */
static size_t
sb_class_rank(char *const *classes, size_t i)
{
    size_t  j, rank = 1;

    for (j = 0; j < i; j++)
        if (strcmp(classes[j], SCOREBOARD_DEFAULT_CLASS) != 0)
            rank++;
    return rank < SCOREBOARD_CLASSES ? rank : SCOREBOARD_CLASSES - 1;
}

/* scoreboard_class_slot - where sessions of class "name" are counted */
size_t
scoreboard_class_slot(char *const *classes, size_t nclasses, const char *name)
{
    size_t  i;

    if (name == NULL || strcmp(name, SCOREBOARD_DEFAULT_CLASS) == 0)
        return 0;
    for (i = 0; i < nclasses; i++)
        if (strcmp(classes[i], name) == 0)
            return sb_class_rank(classes, i);
    return 0;
}

/* scoreboard_class_name - the name of a slot; NULL if none counts there */
const char *
scoreboard_class_name(char *const *classes, size_t nclasses, size_t slot)
{
    size_t  i, others = 0;

    if (slot == 0)
        return SCOREBOARD_DEFAULT_CLASS;
    for (i = 0; i < nclasses; i++)
        if (strcmp(classes[i], SCOREBOARD_DEFAULT_CLASS) != 0)
            others++;
    if (slot >= SCOREBOARD_CLASSES || slot > others)
        return NULL;
    if (slot == SCOREBOARD_CLASSES - 1 && others > slot)
        return "other";
    for (i = 0; i < nclasses; i++)
        if (strcmp(classes[i], SCOREBOARD_DEFAULT_CLASS) != 0
            && sb_class_rank(classes, i) == slot)
            return classes[i];
    return NULL;
}

/* scoreboard_reason_name - "full", "cleared", ... */
const char *
scoreboard_reason_name(enum scoreboard_reason reason)
{
    return (unsigned) reason < SCOREBOARD_REASONS ? sb_reason_names[reason]
        : "unknown";
}

/* scoreboard_counter_name - "connections", ... */
const char *
scoreboard_counter_name(enum scoreboard_counter counter)
{
    return (unsigned) counter < SCOREBOARD_COUNTERS
        ? sb_counter_names[counter] : "unknown";
}

/* sb_service - a slot, or NULL when out of range */
static struct sb_service *
sb_service(const struct scoreboard *sb, size_t slot)
{
    return slot < SCOREBOARD_SERVICES_MAX ? &sb->map->services[slot] : NULL;
}

/* sb_worker - a worker slot, or NULL when out of range */
static struct sb_worker *
sb_worker(const struct scoreboard *sb, size_t wslot)
{
    return wslot < SCOREBOARD_WORKERS_MAX ? &sb->map->workers[wslot] : NULL;
}

/*
 * sb_raise - a worker saw the threshold: raise with one CAS.
 *
 * Only an auto service that is off is raised; whoever wins the CAS
 * counts the transition, so racing workers count it once.
 */
static void
sb_raise(struct sb_service *s, int64_t now_ms)
{
    uint64_t old = SB_LOAD(&s->stress_word);

    if (SB_WORD_ON(old) || SB_LOAD(&s->force) != SERVICE_FORCE_AUTO)
        return;
    if (__atomic_compare_exchange_n(&s->stress_word, &old,
                                    SB_WORD(1, SCOREBOARD_REASON_FULL, now_ms),
                                    0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        SB_ADD(&s->counters[SCOREBOARD_TRANSITIONS], 1);
}

/* sb_now_ms - wall clock in ms, for the since-time of a raise */
static int64_t
sb_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * scoreboard_session_open - count a new session; raise stress at the
 * threshold; return the open count of the service (0 on a bad slot)
 */
int64_t
scoreboard_session_open(struct scoreboard *sb, size_t slot, size_t wslot,
                        int stress, size_t class_slot)
{
    struct sb_service *s = sb_service(sb, slot);
    struct sb_worker *w = sb_worker(sb, wslot);
    int64_t open, peak, threshold;

    if (s == NULL)
        return 0;
    stress = stress != 0;
    class_slot = SB_CLASS(class_slot);
    if (w != NULL) {
        SB_ADD(&w->open, 1);
        SB_ADD(&w->by_stress[stress], 1);
        SB_ADD(&w->by_class[class_slot], 1);
    }
    SB_ADD(&s->by_stress[stress], 1);
    SB_ADD(&s->by_class[class_slot], 1);
    open = SB_ADD(&s->open, 1);
    peak = SB_LOAD(&s->peak);
    while (open > peak
           && !__atomic_compare_exchange_n(&s->peak, &peak, open, 0,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        /* peak was reloaded by the failed CAS */ ;
    threshold = SB_LOAD(&s->threshold);
    if (threshold > 0 && open >= threshold)
        sb_raise(s, sb_now_ms());
    return open;
}

/* scoreboard_session_close - a session ended */
void
scoreboard_session_close(struct scoreboard *sb, size_t slot, size_t wslot,
                         int stress, size_t class_slot)
{
    struct sb_service *s = sb_service(sb, slot);
    struct sb_worker *w = sb_worker(sb, wslot);

    if (s == NULL)
        return;
    stress = stress != 0;
    class_slot = SB_CLASS(class_slot);
    if (w != NULL) {
        SB_ADD(&w->open, -1);
        SB_ADD(&w->by_stress[stress], -1);
        SB_ADD(&w->by_class[class_slot], -1);
    }
    SB_ADD(&s->by_stress[stress], -1);
    SB_ADD(&s->by_class[class_slot], -1);
    SB_ADD(&s->open, -1);
}

/*
 * scoreboard_session_move - an open session changed personality: its
 * stress state, its class, or both. The open count stays.
 */
void
scoreboard_session_move(struct scoreboard *sb, size_t slot, size_t wslot,
                        int from, int to, size_t from_class, size_t to_class)
{
    struct sb_service *s = sb_service(sb, slot);
    struct sb_worker *w = sb_worker(sb, wslot);

    from = from != 0;
    to = to != 0;
    if (s == NULL || from_class >= SCOREBOARD_CLASSES
        || to_class >= SCOREBOARD_CLASSES)
        return;
    if (from != to) {
        if (w != NULL) {
            SB_ADD(&w->by_stress[to], 1);
            SB_ADD(&w->by_stress[from], -1);
        }
        SB_ADD(&s->by_stress[to], 1);
        SB_ADD(&s->by_stress[from], -1);
    }
    if (from_class != to_class) {
        if (w != NULL) {
            SB_ADD(&w->by_class[to_class], 1);
            SB_ADD(&w->by_class[from_class], -1);
        }
        SB_ADD(&s->by_class[to_class], 1);
        SB_ADD(&s->by_class[from_class], -1);
    }
}

/* scoreboard_count - add one to a counter */
void
scoreboard_count(struct scoreboard *sb, size_t slot,
                 enum scoreboard_counter counter)
{
    struct sb_service *s = sb_service(sb, slot);

    if (s != NULL && (unsigned) counter < SCOREBOARD_COUNTERS)
        SB_ADD(&s->counters[counter], 1);
}

/* scoreboard_stress_get - 1 if the service is stressed now */
int
scoreboard_stress_get(const struct scoreboard *sb, size_t slot)
{
    struct sb_service *s = sb_service(sb, slot);

    return s != NULL && SB_WORD_ON(SB_LOAD(&s->stress_word));
}

/* scoreboard_open - sessions open now in a service */
int64_t
scoreboard_open(const struct scoreboard *sb, size_t slot)
{
    struct sb_service *s = sb_service(sb, slot);

    return s != NULL ? SB_LOAD(&s->open) : 0;
}

/* scoreboard_limit - smtpd_client_limit of a service, as the master wrote */
int64_t
scoreboard_limit(const struct scoreboard *sb, size_t slot)
{
    struct sb_service *s = sb_service(sb, slot);

    return s != NULL ? SB_LOAD(&s->limit) : 0;
}

/* scoreboard_worker_service - the service slot a worker slot serves */
int
scoreboard_worker_service(const struct scoreboard *sb, size_t wslot,
                          size_t *slot)
{
    struct sb_worker *w = sb_worker(sb, wslot);

    if (w == NULL || SB_LOAD(&w->pid) == 0)
        return -1;
    *slot = SB_LOAD(&w->service);
    return *slot < SCOREBOARD_SERVICES_MAX ? 0 : -1;
}

/*
 * scoreboard_service_setup - (re)configure a slot: name, limits, force.
 *
 * A slot that keeps its name keeps its counts, counters and stress
 * state; a forced service gets the forced state now, and a service
 * that was forced on and is now auto starts off (reason "reload").
 */
int
scoreboard_service_setup(struct scoreboard *sb, size_t slot,
                         const char *listen, int64_t limit, int64_t reserve,
                         int force, int64_t now_ms)
{
    struct sb_service *s = sb_service(sb, slot);
    int     same;

    if (s == NULL || limit < 1 || reserve < 0)
        return -1;
    same = SB_LOAD(&s->in_use) && strcmp(s->listen, listen) == 0;
    if (!same) {
        if (SB_LOAD(&s->open) != 0)
            return -1;                 /* old workers still count here */
        memset(s, 0, sizeof(*s));
        if (str_copy(s->listen, sizeof(s->listen), listen) < 0)
            return -1;
        SB_STORE(&s->stress_word, SB_WORD(0, SCOREBOARD_REASON_START, now_ms));
    }
    SB_STORE(&s->limit, limit);
    SB_STORE(&s->threshold, limit - reserve > 0 ? limit - reserve : 1);
    SB_STORE(&s->force, force);
    if (force == SERVICE_FORCE_STRESS)
        scoreboard_stress_set(sb, slot, 1, SCOREBOARD_REASON_FORCED, now_ms);
    else if (force == SERVICE_FORCE_NORMAL)
        scoreboard_stress_set(sb, slot, 0, SCOREBOARD_REASON_FORCED, now_ms);
    else if (same && SB_WORD_REASON(SB_LOAD(&s->stress_word))
             == SCOREBOARD_REASON_FORCED)
        scoreboard_stress_set(sb, slot, 0, SCOREBOARD_REASON_RELOAD, now_ms);
    SB_STORE(&s->in_use, 1);
    return 0;
}

/* scoreboard_service_release - a slot no reloaded service uses */
void
scoreboard_service_release(struct scoreboard *sb, size_t slot)
{
    struct sb_service *s = sb_service(sb, slot);

    if (s != NULL)
        SB_STORE(&s->in_use, 0);
}

/* scoreboard_service_find - the slot in use with this name, or -1 */
int
scoreboard_service_find(const struct scoreboard *sb, const char *listen)
{
    size_t  i;

    for (i = 0; i < SCOREBOARD_SERVICES_MAX; i++)
        if (SB_LOAD(&sb->map->services[i].in_use)
            && strcmp(sb->map->services[i].listen, listen) == 0)
            return (int) i;
    return -1;
}

/*
 * scoreboard_service_free_slot - a slot not in use, with no sessions
 * left from draining workers, and not in reserved[] (slots a reload is
 * about to hand out); -1 if none
 */
int
scoreboard_service_free_slot(const struct scoreboard *sb,
                             const unsigned char *reserved)
{
    size_t  i;

    for (i = 0; i < SCOREBOARD_SERVICES_MAX; i++) {
        const struct sb_service *s = &sb->map->services[i];

        if (!SB_LOAD(&s->in_use) && SB_LOAD(&s->open) == 0
            && (reserved == NULL || !reserved[i]))
            return (int) i;
    }
    return -1;
}

/* scoreboard_service_read - a copy of a slot */
int
scoreboard_service_read(const struct scoreboard *sb, size_t slot,
                        struct scoreboard_view *out)
{
    struct sb_service *s = sb_service(sb, slot);
    uint64_t word;
    size_t  i;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return -1;
    memcpy(out->listen, s->listen, sizeof(out->listen));
    out->listen[sizeof(out->listen) - 1] = 0;
    out->in_use = (int) SB_LOAD(&s->in_use);
    out->force = SB_LOAD(&s->force);
    out->limit = SB_LOAD(&s->limit);
    out->threshold = SB_LOAD(&s->threshold);
    out->open = SB_LOAD(&s->open);
    for (i = 0; i < 2; i++)
        out->by_stress[i] = SB_LOAD(&s->by_stress[i]);
    for (i = 0; i < SCOREBOARD_CLASSES; i++)
        out->by_class[i] = SB_LOAD(&s->by_class[i]);
    for (i = 0; i < SCOREBOARD_COUNTERS; i++)
        out->counters[i] = SB_LOAD(&s->counters[i]);
    word = SB_LOAD(&s->stress_word);
    out->stress = SB_WORD_ON(word);
    out->reason = SB_WORD_REASON(word);
    out->since_ms = SB_WORD_SINCE(word);
    return 0;
}

/* scoreboard_peak_take - the peak since the last call; restart at now */
int64_t
scoreboard_peak_take(struct scoreboard *sb, size_t slot)
{
    struct sb_service *s = sb_service(sb, slot);
    int64_t peak;

    if (s == NULL)
        return 0;
    peak = __atomic_exchange_n(&s->peak, SB_LOAD(&s->open), __ATOMIC_ACQ_REL);
    return peak;
}

/*
 * scoreboard_stress_set - the master turns stress on or off; returns 1
 * if the state changed, 0 if it already was so, -1 on a bad slot.
 * Forced services change only with reason "forced" or "reload".
 */
int
scoreboard_stress_set(struct scoreboard *sb, size_t slot, int on,
                      enum scoreboard_reason reason, int64_t now_ms)
{
    struct sb_service *s = sb_service(sb, slot);
    uint64_t old;

    if (s == NULL || (unsigned) reason >= SCOREBOARD_REASONS)
        return -1;
    on = on != 0;
    old = SB_LOAD(&s->stress_word);
    do {
        if (SB_WORD_ON(old) == on)
            return 0;
    } while (!__atomic_compare_exchange_n(&s->stress_word, &old,
                                          SB_WORD(on, reason, now_ms), 0,
                                          __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    SB_ADD(&s->counters[SCOREBOARD_TRANSITIONS], 1);
    return 1;
}

/* scoreboard_worker_start - the master forked a worker into a slot */
int
scoreboard_worker_start(struct scoreboard *sb, size_t wslot, int pid,
                        size_t slot, uint64_t generation)
{
    struct sb_worker *w = sb_worker(sb, wslot);

    if (w == NULL || slot >= SCOREBOARD_SERVICES_MAX || pid <= 0)
        return -1;
    memset(w, 0, sizeof(*w));
    SB_STORE(&w->service, (uint32_t) slot);
    SB_STORE(&w->generation, generation);
    SB_STORE(&w->pid, pid);
    return 0;
}

/* scoreboard_worker_free_slot - a free worker slot, or -1 */
int
scoreboard_worker_free_slot(const struct scoreboard *sb)
{
    size_t  i;

    for (i = 0; i < SCOREBOARD_WORKERS_MAX; i++)
        if (SB_LOAD(&sb->map->workers[i].pid) == 0)
            return (int) i;
    return -1;
}

/* scoreboard_worker_sessions - sessions a worker holds now */
int64_t
scoreboard_worker_sessions(const struct scoreboard *sb, size_t wslot)
{
    struct sb_worker *w = sb_worker(sb, wslot);

    return w != NULL ? SB_LOAD(&w->open) : 0;
}

/*
 * scoreboard_worker_reap - a worker is gone (after waitpid): subtract
 * the sessions it still held from its service and free the slot;
 * returns how many sessions it held.
 */
int64_t
scoreboard_worker_reap(struct scoreboard *sb, size_t wslot)
{
    struct sb_worker *w = sb_worker(sb, wslot);
    struct sb_service *s;
    int64_t held;
    size_t  i;

    if (w == NULL || SB_LOAD(&w->pid) == 0)
        return 0;
    held = SB_LOAD(&w->open);
    if ((s = sb_service(sb, SB_LOAD(&w->service))) != NULL) {
        SB_ADD(&s->open, -held);
        for (i = 0; i < 2; i++)
            SB_ADD(&s->by_stress[i], -SB_LOAD(&w->by_stress[i]));
        for (i = 0; i < SCOREBOARD_CLASSES; i++)
            SB_ADD(&s->by_class[i], -SB_LOAD(&w->by_class[i]));
    }
    memset(w, 0, sizeof(*w));
    return held;
}
