/*
 * NAME
 *     smtpd_queue - run blocking queue work on threads, finish it in the loop
 * SYNOPSIS
 *     #include "smtpd/smtpd_queue.h"
 *
 *     pool = smtpd_queue_new(base, nthreads);
 *     job->work = write_chunk; job->done = chunk_written; job->arg = msg;
 *     smtpd_queue_submit(pool, job);
 *     ...
 *     pool = smtpd_queue_free(pool);
 * DESCRIPTION
 *     An smtpd worker's event loop must never wait for the disk: writes,
 *     fsync(), rename() of queue files happen here, on a small pool of
 *     threads. smtpd_queue_submit() hands a job to the pool: its work
 *     function runs on some thread, then its done function runs in the
 *     event loop (the thread wakes the loop with event_active(), which
 *     needs evthread_use_pthreads() before the event base is made).
 *     Jobs start in the order they were submitted; a caller that needs
 *     its jobs in order keeps at most one outstanding, as a session does
 *     (which is also the backpressure that bounds its memory).
 * RULES
 *     The job struct is the caller's; it must stay valid until done has
 *     run. While work runs, the loop must not touch what work uses.
 *     smtpd_queue_free() lets every submitted job finish (work and
 *     done), joins the threads and returns NULL; submit nothing after.
 * DIAGNOSTICS
 *     Failure to start a thread is fatal (log_fatal).
 * SEE ALSO
 *     global/queue_file.h, evthread_use_pthreads(3)
 */
#ifndef DOPPEL_SMTPD_SMTPD_QUEUE_H
#define DOPPEL_SMTPD_SMTPD_QUEUE_H

#include <stddef.h>

struct event_base;
struct smtpd_queue;
struct smtpd_queue_job;

typedef void smtpd_queue_fn(struct smtpd_queue_job *job);

struct smtpd_queue_job {
    smtpd_queue_fn *work;              /* on a thread: may block */
    smtpd_queue_fn *done;              /* in the loop, after work */
    void   *arg;                       /* the caller's */
    struct smtpd_queue_job *next;      /* private */
};

struct smtpd_queue *smtpd_queue_new(struct event_base *base, int nthreads);
void    smtpd_queue_submit(struct smtpd_queue *q, struct smtpd_queue_job *job);
size_t  smtpd_queue_pending(const struct smtpd_queue *q);
struct smtpd_queue *smtpd_queue_free(struct smtpd_queue *q);

#endif
