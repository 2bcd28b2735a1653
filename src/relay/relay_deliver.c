/* relay_deliver - deliver one message once, log, and settle its file. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/xtext.h"
#include "conf/params.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "tables/table.h"
#include "relay/relay_deliver.h"
#include "relay/relay_dsn.h"
#include "relay/relay_maildir.h"
#include "relay/relay_queue.h"
#include "relay/relay_smtp.h"
#include "relay/relay_transport.h"

#define RD_PATH_MAX 4096

/* rd_now_us - wall clock in microseconds */
static long long
rd_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* relay_deliver_status_name - the word in status= */
const char *
relay_deliver_status_name(enum relay_rcpt_status st)
{
    switch (st) {
    case RELAY_RCPT_SENT:
        return "sent";
    case RELAY_RCPT_DEFER:
        return "deferred";
    case RELAY_RCPT_BOUNCE:
        return "bounced";
    case RELAY_RCPT_PENDING:
    default:
        return "pending";
    }
}

/* rd_secs - a delay as Postfix writes it: 0.12, 3.4, 1234 */
static void
rd_secs(char *buf, size_t size, double s)
{
    if (s < 0)
        s = 0;
    (void) snprintf(buf, size, s >= 100 ? "%.0f" : s >= 10 ? "%.1f" : "%.2g",
                    s);
}

/* relay_deliver_log - one line per recipient and attempt */
void
relay_deliver_log(const struct relay_job *job, const struct relay_rcpt *r,
                  const char *status)
{
    const struct queue_file_env *env = queue_file_read_env(job->r);
    const char *orcpt = env->rcpt[r->index].orcpt, *semi;
    struct dstr *orig = dstr_new(64, QUEUE_FILE_FIELD_MAX);
    long long now = rd_now_us();
    char    total[32], waited[32], took[32];

    if (orcpt != NULL && (semi = strchr(orcpt, ';')) != NULL
        && (xtext_decode(orig, semi + 1, strlen(semi + 1)) < 0
            || strcmp(orig->data, r->address) == 0))
        dstr_truncate(orig, 0);
    rd_secs(total, sizeof(total), (double) (now - env->arrival_us) / 1e6);
    rd_secs(waited, sizeof(waited),
            (double) (job->start_us - env->arrival_us) / 1e6);
    rd_secs(took, sizeof(took), (double) (now - job->start_us) / 1e6);
    log_info("%s: to=<%s>%s%s%s, relay=%s, delay=%s, delays=%s/%s, dsn=%s,"
             " status=%s (%s)", job->id, r->address,
             orig->len ? ", orig_to=<" : "", orig->data, orig->len ? ">" : "",
             r->relay[0] ? r->relay : "none", total, waited, took, r->dsn,
             status, r->text);
    dstr_free(orig);
}

/* relay_deliver_free - forget a job (the file stays where it is) */
struct relay_job *
relay_deliver_free(struct relay_job *job)
{
    size_t  i;

    if (job == NULL)
        return NULL;
    for (i = 0; i < job->ndest; i++)
        free(job->dests[i]);
    free(job->dests);
    free(job->rcpts);
    free(job->tr);
    if (job->r != NULL)
        (void) queue_file_read_close(job->r);
    free(job);
    return NULL;
}

/* rd_add_dest - remember a distinct destination */
static void
rd_add_dest(struct relay_job *job, const char *key)
{
    size_t  i;

    for (i = 0; i < job->ndest; i++)
        if (strcmp(job->dests[i], key) == 0)
            return;
    job->dests = xrealloc_array(job->dests, job->ndest + 1, sizeof(char *));
    job->dests[job->ndest++] = xstrdup(key);
}

/* relay_deliver_prepare - open active/ID and choose transports */
struct relay_job *
relay_deliver_prepare(const char *qdir, const char *id,
                      const struct params *p, struct table_list *maps,
                      struct dstr *why)
{
    struct relay_job *job;
    const struct queue_file_env *env;
    struct dstr *path = dstr_new(128, RD_PATH_MAX);
    struct dstr *spec = dstr_new(128, RELAY_TRANSPORT_SPEC_MAX);
    struct dstr *err = dstr_new(128, 1024);
    struct queue_file_reader *r;
    size_t  i;

    (void) dstr_appendf(path, "%s/%s/%s", qdir, QUEUE_DIRS_ACTIVE, id);
    r = queue_file_read_open(path->data, why);
    dstr_free(path);
    if (r == NULL) {
        dstr_truncate(err, 0);
        if (relay_queue_corrupt(qdir, id, err) < 0)
            log_error("%s: move to corrupt: %s", id, err->data);
        else
            log_warn("%s: moved to corrupt: %s", id, why->data);
        dstr_free(spec);
        dstr_free(err);
        return NULL;
    }
    env = queue_file_read_env(r);
    job = xcalloc(1, sizeof(*job));
    (void) str_copy(job->id, sizeof(job->id), id);
    job->qdir = qdir;
    job->p = p;
    job->r = r;
    job->nrcpt = env->rcpt_count;
    job->rcpts = xcalloc(job->nrcpt, sizeof(*job->rcpts));
    job->tr = xcalloc(job->nrcpt, sizeof(*job->tr));
    for (i = 0; i < job->nrcpt; i++) {
        job->rcpts[i].index = i;
        job->rcpts[i].address = env->rcpt[i].address;
        job->rcpts[i].status = RELAY_RCPT_PENDING;
        dstr_truncate(err, 0);
        if (relay_transport_select(maps, p->relay_transport,
                                   env->rcpt[i].address, spec)
            != RELAY_TRANSPORT_FOUND) {
            relay_rcpt_set(&job->rcpts[i], RELAY_RCPT_DEFER, "4.3.0", NULL, 0,
                           "transport_maps lookup failed");
        } else if (relay_transport_parse(spec->data, &job->tr[i], err) < 0) {
            relay_rcpt_set(&job->rcpts[i], RELAY_RCPT_DEFER, "4.3.5", NULL, 0,
                           "mail transport unavailable: %s", err->data);
        } else {
            rd_add_dest(job, job->tr[i].key);
        }
    }
    dstr_free(spec);
    dstr_free(err);
    return job;
}

/* rd_group - deliver every pending recipient with transport key of i */
static void
rd_group(struct relay_job *job, size_t first)
{
    const struct relay_transport *t = &job->tr[first];
    struct relay_rcpt **group;
    size_t  i, n = 0;

    group = xcalloc(job->nrcpt, sizeof(*group));
    for (i = first; i < job->nrcpt; i++)
        if (job->rcpts[i].status == RELAY_RCPT_PENDING
            && strcmp(job->tr[i].key, t->key) == 0)
            group[n++] = &job->rcpts[i];
    switch (t->kind) {
    case RELAY_TRANSPORT_DISCARD:
        for (i = 0; i < n; i++)
            relay_rcpt_set(group[i], RELAY_RCPT_SENT, "2.0.0", "none", 0,
                           "discarded%s%s", t->path[0] ? ": " : "", t->path);
        break;
    case RELAY_TRANSPORT_MAILDIR:
        for (i = 0; i < n; i++) {
            (void) str_copy(group[i]->relay, sizeof(group[i]->relay),
                            "maildir");
            (void) relay_maildir_deliver(t->path, job->r, group[i]);
        }
        break;
    case RELAY_TRANSPORT_SMTP:
    case RELAY_TRANSPORT_LMTP_INET:
    case RELAY_TRANSPORT_LMTP_UNIX:
        (void) relay_smtp_deliver(job->p, t, job->r, group, n);
        break;
    }
    for (i = 0; i < n; i++)
        if (group[i]->status == RELAY_RCPT_PENDING)     /* cannot happen */
            relay_rcpt_set(group[i], RELAY_RCPT_DEFER, "4.3.0", NULL, 0,
                           "delivery status unknown");
    free(group);
}

/* rd_reasons - what "doppel queue list" shows for waiting recipients */
static char *
rd_reasons(const struct relay_job *job)
{
    struct dstr *d = dstr_new(256, RELAY_QUEUE_REASONS_MAX);
    size_t  i;

    for (i = 0; i < job->nrcpt; i++)
        if (job->rcpts[i].status == RELAY_RCPT_DEFER)
            (void) dstr_appendf(d, "%s\t%s\t%s%s%s\n", job->rcpts[i].address,
                                job->rcpts[i].dsn,
                                job->rcpts[i].remote ? job->rcpts[i].relay : "",
                                job->rcpts[i].remote ? " said: " : "",
                                job->rcpts[i].text);
    return dstr_steal(d);
}

/* rd_any_failed - does a notice report a failure? */
static int
rd_any_failed(struct relay_rcpt *const *list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++)
        if (list[i]->status == RELAY_RCPT_BOUNCE)
            return 1;
    return 0;
}

/*
 * rd_settle - the file after the attempt. Order matters for crash
 * safety: the bounce is durable before the original is removed or
 * rewritten, so a crash between the two can only send the bounce twice,
 * never lose it.
 */
static size_t
rd_settle(struct relay_job *job)
{
    const struct queue_file_env *env = queue_file_read_env(job->r);
    const struct params *p = job->p;
    struct relay_rcpt **failed;
    struct dstr *why = dstr_new(256, 4096);
    char    bounce_id[QUEUE_ID_SIZE];
    long long now = rd_now_us(), age_ms, life;
    size_t  i, nfailed = 0, nwait = 0;
    int    *keep;
    char   *reasons;
    int     null_sender = env->sender[0] == '\0';

    age_ms = (now - env->arrival_us) / 1000;
    life = null_sender ? p->bounce_queue_lifetime : p->maximal_queue_lifetime;
    failed = xcalloc(job->nrcpt, sizeof(*failed));
    keep = xcalloc(job->nrcpt, sizeof(*keep));
    for (i = 0; i < job->nrcpt; i++) {
        struct relay_rcpt *r = &job->rcpts[i];

        if (r->status == RELAY_RCPT_DEFER && age_ms >= life) {
            r->status = RELAY_RCPT_BOUNCE;
            relay_deliver_log(job, r, null_sender ? "expired, dropped"
                              : "expired, returned to sender");
        } else {
            relay_deliver_log(job, r, relay_deliver_status_name(r->status));
        }
        if (r->status == RELAY_RCPT_BOUNCE
            && relay_dsn_wanted(env, &env->rcpt[i])) {
            r->action = "failed";
            failed[nfailed++] = r;
        } else if (r->status == RELAY_RCPT_SENT && !r->dsn_passed
                   && relay_dsn_success_wanted(env, &env->rcpt[i])) {
            r->action = job->tr[i].kind == RELAY_TRANSPORT_SMTP ? "relayed"
                : "delivered";
            failed[nfailed++] = r;
        }
    }
    if (nfailed > 0) {
        if (relay_dsn_queue(job->qdir, p->myhostname, job->r, failed, nfailed,
                            bounce_id, why) < 0) {
            log_error("%s: sender notification: %s", job->id, why->data);
            for (i = 0; i < nfailed; i++)       /* try again later */
                if (failed[i]->status == RELAY_RCPT_BOUNCE)
                    failed[i]->status = RELAY_RCPT_DEFER;
        } else {
            log_info("%s: sender %s notification: %s", job->id,
                     rd_any_failed(failed, nfailed) ? "non-delivery"
                     : "delivery status", bounce_id);
        }
    } else if (null_sender) {
        for (i = 0; i < job->nrcpt; i++)
            if (job->rcpts[i].status == RELAY_RCPT_BOUNCE) {
                log_info("%s: undeliverable mail from <> not returned",
                         job->id);
                break;
            }
    }
    for (i = 0; i < job->nrcpt; i++)
        if ((keep[i] = job->rcpts[i].status == RELAY_RCPT_DEFER) != 0)
            nwait++;
    dstr_truncate(why, 0);
    if (nwait == 0) {
        if (relay_queue_done(job->qdir, job->id, why) < 0)
            log_error("%s: remove: %s", job->id, why->data);
        else
            log_info("%s: removed", job->id);
    } else {
        time_t  retry = (time_t) (now / 1000000
                                  + relay_queue_backoff(age_ms,
                                                        p->minimal_backoff_time,
                                                        p->maximal_backoff_time)
                                  / 1000);

        reasons = rd_reasons(job);
        if (relay_queue_defer(job->qdir, job->id, job->r, keep, retry, reasons,
                              why) < 0) {
            /*
             * The rewrite failed (disk full?). Rather than leave the file in
             * active/ until a restart, defer all of it: recipients already
             * done may get a second copy, none is lost.
             */
            log_error("%s: defer: %s", job->id, why->data);
            for (i = 0; i < job->nrcpt; i++)
                keep[i] = 1;
            dstr_truncate(why, 0);
            if (relay_queue_defer(job->qdir, job->id, job->r, keep, retry,
                                  reasons, why) < 0)
                log_error("%s: defer whole message: %s; it stays in active/"
                          " until the relay restarts", job->id, why->data);
            else
                log_warn("%s: deferred whole: recipients done in this attempt"
                         " may get the message again", job->id);
        }
        free(reasons);
    }
    free(failed);
    free(keep);
    dstr_free(why);
    return nwait;
}

/* relay_deliver_run - one attempt for every recipient, then settle */
size_t
relay_deliver_run(struct relay_job *job)
{
    size_t  i;

    job->start_us = rd_now_us();
    for (i = 0; i < job->nrcpt; i++) {
        if (job->rcpts[i].status != RELAY_RCPT_PENDING)
            continue;
        rd_group(job, i);
    }
    /* rd_settle() logs each recipient once, expiry included */
    return rd_settle(job);
}
