/* smtpd_queue - a thread pool for queue file I/O; see smtpd_queue.h. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "util/jail.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "smtpd/smtpd_queue.h"

#define SMTPD_QUEUE_THREADS_MAX 64

struct smtpd_queue {
    pthread_mutex_t lock;
    pthread_cond_t work_cond;          /* todo grew, or stop */
    pthread_cond_t done_cond;          /* done grew (for the final drain) */
    struct smtpd_queue_job *todo, *todo_tail;
    struct smtpd_queue_job *done, *done_tail;
    int     stop;
    pthread_t threads[SMTPD_QUEUE_THREADS_MAX];
    int     nthreads;
    size_t  pending;                   /* submitted, done not yet run (loop) */
    struct event *done_ev;             /* activated by threads */
};

/* smtpd_queue_thread - take jobs, run their work, pass them to the loop */
static void *
smtpd_queue_thread(void *arg)
{
    struct smtpd_queue *q = arg;
    struct smtpd_queue_job *job;

    /* a worker bound for its chroot: no capability in this thread */
    if (jail_thread_start() < 0)
        log_fatal("%s: cannot drop capabilities: %m", __func__);
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->todo == NULL && !q->stop)
            pthread_cond_wait(&q->work_cond, &q->lock);
        if (q->todo == NULL)
            break;
        job = q->todo;
        q->todo = job->next;
        if (q->todo == NULL)
            q->todo_tail = NULL;
        pthread_mutex_unlock(&q->lock);

        job->work(job);

        pthread_mutex_lock(&q->lock);
        job->next = NULL;
        if (q->done_tail)
            q->done_tail->next = job;
        else
            q->done = job;
        q->done_tail = job;
        pthread_cond_signal(&q->done_cond);
        /* event_active() is thread-safe once evthread is set up */
        event_active(q->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/*
 * smtpd_queue_run_done - in the loop: run the done functions of
 * finished jobs. A done function may submit another job; it lands in
 * todo and is picked up by a thread, never run here recursively.
 */
static void
smtpd_queue_run_done(struct smtpd_queue *q)
{
    struct smtpd_queue_job *list, *job;

    pthread_mutex_lock(&q->lock);
    list = q->done;
    q->done = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while ((job = list) != NULL) {
        list = job->next;
        job->next = NULL;
        q->pending--;
        job->done(job);
    }
}

/* smtpd_queue_event - the loop side of the wake-up */
static void
smtpd_queue_event(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    smtpd_queue_run_done(arg);
}

/* smtpd_queue_new - start nthreads threads that serve base's loop */
struct smtpd_queue *
smtpd_queue_new(struct event_base *base, int nthreads)
{
    struct smtpd_queue *q = xcalloc(1, sizeof(*q));
    int     i, err;

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > SMTPD_QUEUE_THREADS_MAX)
        nthreads = SMTPD_QUEUE_THREADS_MAX;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work_cond, NULL);
    pthread_cond_init(&q->done_cond, NULL);
    q->done_ev = event_new(base, -1, 0, smtpd_queue_event, q);
    if (q->done_ev == NULL)
        log_fatal("smtpd queue: event_new failed");
    for (i = 0; i < nthreads; i++) {
        if ((err = pthread_create(&q->threads[i], NULL, smtpd_queue_thread,
                                  q)) != 0) {
            errno = err;
            log_fatal("smtpd queue: start thread: %m");
        }
        q->nthreads++;
    }
    return q;
}

/* smtpd_queue_submit - hand a job to the threads */
void
smtpd_queue_submit(struct smtpd_queue *q, struct smtpd_queue_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->todo_tail)
        q->todo_tail->next = job;
    else
        q->todo = job;
    q->todo_tail = job;
    q->pending++;
    pthread_cond_signal(&q->work_cond);
    pthread_mutex_unlock(&q->lock);
}

/* smtpd_queue_pending - jobs submitted whose done has not run yet */
size_t
smtpd_queue_pending(const struct smtpd_queue *q)
{
    return q->pending;
}

/*
 * smtpd_queue_free - finish every job, stop the threads. This blocks:
 * it is for the end of the process, when the loop has stopped.
 */
struct smtpd_queue *
smtpd_queue_free(struct smtpd_queue *q)
{
    int     i;

    if (q == NULL)
        return NULL;
    while (q->pending > 0) {
        pthread_mutex_lock(&q->lock);
        while (q->done == NULL)
            pthread_cond_wait(&q->done_cond, &q->lock);
        pthread_mutex_unlock(&q->lock);
        smtpd_queue_run_done(q);
    }
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_broadcast(&q->work_cond);
    pthread_mutex_unlock(&q->lock);
    for (i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    event_free(q->done_ev);
    pthread_cond_destroy(&q->work_cond);
    pthread_cond_destroy(&q->done_cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
}
