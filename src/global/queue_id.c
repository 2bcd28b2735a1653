/* queue_id - time-ordered queue IDs unique across processes; see queue_id.h. */

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "global/queue_id.h"

static const char queue_id_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#define QUEUE_ID_BITS       5          /* per character */
#define QUEUE_ID_PID_MASK   ((1L << (QUEUE_ID_PID_LEN * QUEUE_ID_BITS)) - 1)
#define QUEUE_ID_SEQ_MASK   ((1u << (QUEUE_ID_SEQ_LEN * QUEUE_ID_BITS)) - 1)
#define QUEUE_ID_TIME_MASK  ((1LL << (QUEUE_ID_TIME_LEN * QUEUE_ID_BITS)) - 1)

/*
 * Process-wide state, shared by threads without a lock: atomics cannot
 * be left held by a thread that did not make it through fork(), which a
 * mutex could. queue_id_last is the time field of the last ID made here.
 */
static _Atomic long long queue_id_last;
static atomic_uint queue_id_seq;
static atomic_int queue_id_seeded;

/* queue_id_digit - value of one ID character, or -1 */
static int
queue_id_digit(int c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(queue_id_alphabet, c);
    return p == NULL ? -1 : (int) (p - queue_id_alphabet);
}

/* queue_id_encode - value as width base-32 digits, most significant first */
static void
queue_id_encode(char *out, int width, unsigned long long value)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = queue_id_alphabet[value & 31];
        value >>= QUEUE_ID_BITS;
    }
}

/* queue_id_decode - read width base-32 digits (already validated) */
static unsigned long long
queue_id_decode(const char *in, int width)
{
    unsigned long long value = 0;

    for (int i = 0; i < width; i++)
        value = (value << QUEUE_ID_BITS) | (unsigned) queue_id_digit(in[i]);
    return value;
}

/* queue_id_seed - start the sequence at a random value, once */
static void
queue_id_seed(void)
{
    unsigned r = 0;
    unsigned expected = 0;
    struct timespec ts;

    if (atomic_load(&queue_id_seeded))
        return;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r)) {
        /* No entropy yet: the clock's nanoseconds are still better than 0. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (unsigned) ts.tv_nsec ^ (unsigned) getpid();
    }
    /* Loses harmlessly to any thread that already took a number. */
    (void) atomic_compare_exchange_strong(&queue_id_seq, &expected, r);
    atomic_store(&queue_id_seeded, 1);
}

/* queue_id_now - a time field never used before by this process */
static long long
queue_id_now(void)
{
    struct timespec ts;
    long long now;
    long long last;
    long long next;

    (void) clock_gettime(CLOCK_REALTIME, &ts);
    now = (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    last = atomic_load(&queue_id_last);
    do {
        next = now > last ? now : last + 1;
    } while (!atomic_compare_exchange_weak(&queue_id_last, &last, next));
    return next;
}

/* queue_id_new - make a new queue ID in buf */
int
queue_id_new(char *buf, size_t size)
{
    long long t;
    unsigned seq;
    long pid;

    if (buf == NULL || size < QUEUE_ID_SIZE) {
        errno = ERANGE;
        return -1;
    }
    queue_id_seed();
    t = queue_id_now();
    seq = atomic_fetch_add(&queue_id_seq, 1u);
    pid = (long) getpid();
    queue_id_encode(buf, QUEUE_ID_TIME_LEN,
                    (unsigned long long) (t & QUEUE_ID_TIME_MASK));
    queue_id_encode(buf + QUEUE_ID_TIME_LEN, QUEUE_ID_PID_LEN,
                    (unsigned long long) (pid & QUEUE_ID_PID_MASK));
    queue_id_encode(buf + QUEUE_ID_TIME_LEN + QUEUE_ID_PID_LEN,
                    QUEUE_ID_SEQ_LEN, seq & QUEUE_ID_SEQ_MASK);
    buf[QUEUE_ID_LEN] = '\0';
    return 0;
}

/* queue_id_valid - is s exactly one well-formed queue ID? */
int
queue_id_valid(const char *s)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < QUEUE_ID_LEN; i++)
        if (queue_id_digit((unsigned char) s[i]) < 0)
            return 0;
    return s[QUEUE_ID_LEN] == '\0';
}

/* queue_id_parse - decode the time, PID and sequence fields of an ID */
int
queue_id_parse(const char *id, struct queue_id_parts *parts)
{
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    parts->time_us = (long long) queue_id_decode(id, QUEUE_ID_TIME_LEN);
    parts->pid = (long) queue_id_decode(id + QUEUE_ID_TIME_LEN,
                                        QUEUE_ID_PID_LEN);
    parts->seq = (unsigned) queue_id_decode(id + QUEUE_ID_TIME_LEN
                                            + QUEUE_ID_PID_LEN,
                                            QUEUE_ID_SEQ_LEN);
    return 0;
}
