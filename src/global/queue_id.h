/*
 * NAME
 *     queue_id - queue IDs unique across workers, threads and restarts
 * SYNOPSIS
 *     #include "global/queue_id.h"
 *
 *     char id[QUEUE_ID_SIZE];
 *     if (queue_id_new(id, sizeof(id)) < 0) ...
 *     if (!queue_id_valid(arg)) ...
 * DESCRIPTION
 *     A queue ID names one message: its queue file (tmp/ID, incoming/ID,
 *     ...), its log lines and the "id" clause of its Received: header.
 *     It is QUEUE_ID_LEN characters from the 32-letter alphabet
 *     "0123456789ABCDEFGHJKMNPQRSTVWXYZ" (Crockford's base 32: digits,
 *     upper case letters without I, L, O, U), in three fixed-width
 *     fields, each most significant digit first:
 *
 *         11 characters  arrival time, microseconds since the epoch
 *          6 characters  process ID of the writer (modulo 2^30)
 *          3 characters  per-process sequence number (modulo 2^15)
 *
 *     e.g. "1HKZ3T0B7Q000K7N0A2F". The alphabet is in ASCII order, so
 *     sorting IDs as strings sorts them by arrival time (to the
 *     microsecond; within one microsecond, by process then sequence).
 *
 *     Why it is unique. Within a process, the time field never repeats
 *     or goes backwards: if the clock has not moved (or was stepped
 *     back) since the last ID, the last time plus one microsecond is
 *     used. Threads share that state under a lock. Processes running at
 *     the same time differ in the PID field (Linux PIDs are below 2^22).
 *     A process that reuses the PID of an earlier one starts later in
 *     time, unless the clock was stepped back; for that case the
 *     sequence number starts at a random value. The queue writer also
 *     creates files with O_EXCL and renames without replacing, so even
 *     a collision could never overwrite a message.
 *
 *     queue_id_new() writes a new NUL-terminated ID into buf.
 *     queue_id_valid() says whether s is exactly one well-formed ID:
 *     the right length, the alphabet only (upper case), nothing else;
 *     use it on every ID that comes from outside (command line, file
 *     names) before it is used to build a path.
 *     queue_id_parse() decodes the fields of a valid ID.
 * RULES
 *     Thread-safe; safe after fork() (a child has its own PID field).
 *     No function here logs or allocates.
 * DIAGNOSTICS
 *     queue_id_new() returns -1 (errno ERANGE) if size is smaller than
 *     QUEUE_ID_SIZE, and 0 otherwise. queue_id_parse() returns -1
 *     (errno EINVAL) for an invalid ID.
 * SEE ALSO
 *     global/queue_file.h, docs/queue-format.md
 */
#ifndef DOPPEL_GLOBAL_QUEUE_ID_H
#define DOPPEL_GLOBAL_QUEUE_ID_H

#include <stddef.h>

#define QUEUE_ID_TIME_LEN   11
#define QUEUE_ID_PID_LEN    6
#define QUEUE_ID_SEQ_LEN    3
#define QUEUE_ID_LEN \
        (QUEUE_ID_TIME_LEN + QUEUE_ID_PID_LEN + QUEUE_ID_SEQ_LEN)
#define QUEUE_ID_SIZE       (QUEUE_ID_LEN + 1)

struct queue_id_parts {
    long long time_us;                 /* microseconds since the epoch */
    long    pid;                       /* writer's PID modulo 2^30 */
    unsigned seq;                      /* sequence number modulo 2^15 */
};

int     queue_id_new(char *buf, size_t size);
int     queue_id_valid(const char *s);
int     queue_id_parse(const char *id, struct queue_id_parts *parts);

#endif
