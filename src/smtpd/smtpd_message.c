/* smtpd_message - stream DATA/BDAT content into a queue file; see smtpd_message.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "util/dstr.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "global/client_history.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_data.h"
#include "smtpd/smtpd_master.h"
#include "smtpd/smtpd_message.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_milter_edit.h"
#include "smtpd/smtpd_queue.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"

#define MSG_RECEIVED_MAX 4096           /* the Received: header */
#define MSG_FLUSH_ROOM 1024             /* write the chunk when less is left */

#define MSG_REPLY_STORAGE "452 4.3.1 Insufficient system storage"
#define MSG_REPLY_TOO_BIG "552 5.3.4 Error: message file too big"

enum msg_op {
    MSG_OPEN,                          /* create tmp/ID with Received: */
    MSG_APPEND,                        /* write the chunk */
    MSG_COMMIT,                        /* write the rest, fsync, rename */
    MSG_ABORT,                         /* remove the file */
    MSG_FLUSH,                         /* write the rest for the milters */
};

enum msg_after {
    MSG_AFTER_NONE,
    MSG_AFTER_BDAT_OK,                 /* a middle chunk is on disk: 250 */
};

struct smtpd_message {
    struct smtpd_queue_job job;
    struct session *s;

    /* shared with the thread while a job runs (SESSION_F_JOB) */
    enum msg_op op;
    char   *queue_dir;
    char    id[QUEUE_ID_SIZE];
    struct dstr *received;
    char   *chunk;                     /* chunk_size + slack */
    size_t  chunk_len;
    size_t  chunk_size;                /* MIN, doubling up to CHUNK */
    struct queue_file *qf;
    struct queue_file_env env;
    struct queue_file_rcpt *rcpt;
    int     err;                       /* errno of the failure, or 0 */
    struct dstr *why;
    struct queue_file_content *content;        /* what the milters read */
    struct smtpd_milter_mods *mods;    /* their changes, or NULL */
    size_t  hidden;                    /* header fields of our own */
    int     hold;                      /* commit into hold/ */

    /* the loop's */
    int     bdat;                      /* a BDAT (not DATA) message */
    struct smtpd_data dec;
    long long size;                    /* content bytes decoded */
    int     too_big;
    int     write_failed;
    const char *after_reply;           /* after MSG_ABORT */
    int     close_after;               /* ... and end the session (421) */
    struct smtpd_milter_env menv;      /* the milters' envelope */
    struct dstr *eod_reply;            /* end-of-data rejection, or NULL */
    enum msg_after after;
    long long bdat_chunk;              /* size of the current chunk */
};

/* msg_content_read - the milters' reader of the uncommitted file */
static ssize_t
msg_content_read(void *arg, long long offset, void *buf, size_t size)
{
    return queue_file_content_pread(arg, offset, buf, size);
}

/* msg_content_write - the writer of the rewritten file */
static int
msg_content_write(void *arg, const void *buf, size_t len)
{
    return queue_file_append(arg, buf, len);
}

/*
 * msg_rewrite - on a queue thread: the milters changed the content. The
 * old file goes (m->content keeps reading it: it holds the descriptor),
 * a new one of the same ID gets the changed content and is committed
 * with the new envelope. Whatever fails, no file is left behind and the
 * client gets 452: the message was never acknowledged.
 */
static void
msg_rewrite(struct smtpd_message *m)
{
    struct queue_file *nqf;

    m->qf = queue_file_abort(m->qf);
    if ((nqf = queue_file_create(m->queue_dir, m->id, NULL, 0,
                                 m->why)) == NULL) {
        m->err = errno ? errno : EIO;
        return;
    }
    if (smtpd_milter_edit_apply(m->mods, m->hidden, msg_content_read,
                                m->content, msg_content_write, nqf,
                                m->why) < 0) {
        m->err = errno ? errno : EIO;
        (void) queue_file_abort(nqf);
        return;
    }
    if (m->hold && queue_file_hold(nqf) < 0) {
        m->err = errno ? errno : EIO;
        (void) queue_file_abort(nqf);
        return;
    }
    if (queue_file_commit(nqf, &m->env, m->why) < 0)
        m->err = errno ? errno : EIO;
}

/* msg_work - on a queue thread: the blocking part of each step */
static void
msg_work(struct smtpd_queue_job *job)
{
    struct smtpd_message *m = job->arg;

    switch (m->op) {
    case MSG_FLUSH:
        /* the milters read what is on disk: all of it, indexed */
        if ((m->chunk_len > 0 && queue_file_append(m->qf, m->chunk,
                                                   m->chunk_len) < 0)
            || queue_file_flush(m->qf) < 0) {
            m->err = errno ? errno : EIO;
            (void) dstr_appendf(m->why, "write: %s", strerror(m->err));
        } else if ((m->content = queue_file_content_open(m->queue_dir, m->id,
                                                         m->why)) == NULL) {
            m->err = errno ? errno : EIO;
        }
        m->chunk_len = 0;
        break;
    case MSG_OPEN:
        m->qf = queue_file_create(m->queue_dir, m->id, m->received->data,
                                  m->received->len, m->why);
        if (m->qf == NULL)
            m->err = errno ? errno : EIO;
        break;
    case MSG_APPEND:
        if (m->chunk_len > 0 && queue_file_append(m->qf, m->chunk,
                                                  m->chunk_len) < 0) {
            m->err = errno ? errno : EIO;
            (void) dstr_appendf(m->why, "write: %s", strerror(m->err));
        }
        m->chunk_len = 0;
        break;
    case MSG_COMMIT:
        if (m->chunk_len > 0 && queue_file_append(m->qf, m->chunk,
                                                  m->chunk_len) < 0) {
            m->err = errno ? errno : EIO;
            (void) dstr_appendf(m->why, "write: %s", strerror(m->err));
        }
        m->chunk_len = 0;
        if (m->mods != NULL && m->err == 0) {
            msg_rewrite(m);
            break;
        }
        if (m->hold && m->err == 0 && queue_file_hold(m->qf) < 0)
            m->err = errno ? errno : EIO;
        /* commit frees the handle and removes the file if anything failed */
        if (queue_file_commit(m->qf, &m->env, m->why) < 0 && m->err == 0)
            m->err = errno ? errno : EIO;
        m->qf = NULL;
        break;
    case MSG_ABORT:
        m->qf = queue_file_abort(m->qf);
        break;
    }
}

static void msg_done(struct smtpd_queue_job *job);

/* msg_submit - hand the next step to a queue thread; the session waits */
static void
msg_submit(struct session *s, enum msg_op op)
{
    struct smtpd_message *m = s->msg;

    m->op = op;
    m->job.work = msg_work;
    m->job.done = msg_done;
    m->job.arg = m;
    s->flags |= SESSION_F_JOB;
    smtpd_session_arm(s);               /* the client's timer waits */
    smtpd_queue_submit(s->srv->queue, &m->job);
}

/* msg_free - release a message whose file is gone (or never was) */
static void
msg_free(struct session *s)
{
    struct smtpd_message *m = s->msg;

    if (m == NULL)
        return;
    if (m->qf != NULL)
        log_panic("%s: queue file still open", __func__);
    dstr_free(m->received);
    dstr_free(m->why);
    dstr_free(m->eod_reply);
    m->content = queue_file_content_close(m->content);
    m->mods = smtpd_milter_mods_free(m->mods);
    smtpd_milter_edit_env_free(&m->menv);
    free(m->queue_dir);
    free(m->chunk);
    free(m->rcpt);
    free(m);
    s->msg = NULL;
    s->queue_id[0] = '\0';             /* spent: a retry gets a new one */
}

/* msg_protocol - SMTP, ESMTP, ESMTPS, UTF8SMTPS ... for Received: */
static const char *
msg_protocol(const struct session *s)
{
    int     tls = (s->flags & SESSION_F_TLS) != 0;

    if (s->mail_flags & MAILADDR_P_SMTPUTF8)
        return tls ? "UTF8SMTPS" : "UTF8SMTP";
    if (s->flags & SESSION_F_EHLO)
        return tls ? "ESMTPS" : "ESMTP";
    return tls ? "SMTPS" : "SMTP";
}

/* msg_received - the Received: header that starts the content */
static void
msg_received(struct session *s, struct smtpd_message *m)
{
    struct dstr *d = m->received;
    char    date[64];
    time_t  now = time(NULL);
    struct tm tm;
    const struct smtpd_xclient_forward *fwd = smtpd_xclient_forwarded(s);

    if (s->prepend != NULL)
        (void) dstr_append(d, s->prepend->data, s->prepend->len);
    localtime_r(&now, &tm);
    if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z (%Z)",
                 &tm) == 0)
        (void) str_copy(date, sizeof(date), "unknown date");
    (void) dstr_appendf(d, "Received: from %s (%s [%s])\r\n",
                        s->helo ? s->helo : s->name, s->name, s->addr_text);
    /*
     * XFORWARD: this hop stays as it was (a content filter on loopback);
     * the client it speaks for goes in a comment, its values neutered.
     */
    if (fwd != NULL && fwd->ident != NULL)
        (void) dstr_appendf(d, "\t(forwarded from %s (%s [%s]) with %s"
                            " id %s)\r\n", fwd->helo ? fwd->helo : fwd->name,
                            fwd->name, fwd->addr, fwd->proto, fwd->ident);
    else if (fwd != NULL)
        (void) dstr_appendf(d, "\t(forwarded from %s (%s [%s]) with %s)\r\n",
                            fwd->helo ? fwd->helo : fwd->name, fwd->name,
                            fwd->addr, fwd->proto);
    if (s->tls != NULL)
        (void) dstr_appendf(d, "\t(using %s with cipher %s (%d/%d bits))\r\n",
                            s->tls->protocol, s->tls->cipher, s->tls->bits,
                            s->tls->alg_bits);
    (void) dstr_appendf(d, "\tby %s (%s) with %s id %s\r\n",
                        smtpd_server_hostname(s->p), s->p->mail_name,
                        msg_protocol(s), m->id);
    (void) dstr_appendf(d, "\t(personality=%s, class=%s)",
                        s->pers->name, s->pers->class_name);
    if (s->rcpt_count == 1) {
        (void) dstr_append_str(d, "\r\n\tfor <");
        (void) mailaddr_quote(d, s->rcpt[0].addr);
        (void) dstr_append_str(d, ">");
    }
    (void) dstr_appendf(d, "; %s\r\n", date);
}

/* msg_new - a message for this transaction, and the job that opens it */
static void
msg_new(struct session *s, int bdat)
{
    struct smtpd_message *m = xcalloc(1, sizeof(*m));

    m->s = s;
    m->bdat = bdat;
    m->queue_dir = xstrdup(jail_path(s->p->queue_directory));
    m->why = dstr_new(64, 1024);
    m->received = dstr_new(256, MSG_RECEIVED_MAX);
    m->chunk_size = SMTPD_MESSAGE_CHUNK_MIN;
    m->chunk = xmalloc(m->chunk_size + SMTPD_DATA_SLACK);
    smtpd_data_init(&m->dec, bdat ? SMTPD_DATA_RAW : SMTPD_DATA_DOT);
    if (s->queue_id[0] == '\0'
        && queue_id_new(s->queue_id, sizeof(s->queue_id)) < 0)
        log_panic("%s: queue ID buffer too small", __func__);
    memcpy(m->id, s->queue_id, sizeof(m->id));
    s->msg = m;
    msg_received(s, m);
}

/* msg_envelope - what queue_file_commit() stores besides the content */
static void
msg_envelope(struct session *s, struct smtpd_message *m)
{
    struct queue_file_env *env = &m->env;
    const struct smtpd_xclient_forward *fwd;
    size_t  i;

    memset(env, 0, sizeof(*env));
    env->sender = s->sender;
    env->ret = s->mail_ret == MAILADDR_RET_FULL ? QUEUE_FILE_RET_FULL
        : s->mail_ret == MAILADDR_RET_HDRS ? QUEUE_FILE_RET_HDRS
        : QUEUE_FILE_RET_NONE;
    env->envid = s->mail_envid;
    env->smtputf8 = (s->mail_flags & MAILADDR_P_SMTPUTF8) != 0;
    env->body = s->mail_body == MAILADDR_BODY_7BIT ? QUEUE_FILE_BODY_7BIT
        : s->mail_body == MAILADDR_BODY_8BITMIME ? QUEUE_FILE_BODY_8BITMIME
        : s->mail_body == MAILADDR_BODY_BINARYMIME
        ? QUEUE_FILE_BODY_BINARYMIME : QUEUE_FILE_BODY_NONE;
    m->rcpt = xcalloc(s->rcpt_count, sizeof(*m->rcpt));
    for (i = 0; i < s->rcpt_count; i++) {
        unsigned n = s->rcpt[i].notify, q = 0;

        q |= (n & MAILADDR_NOTIFY_NEVER) ? QUEUE_FILE_NOTIFY_NEVER : 0;
        q |= (n & MAILADDR_NOTIFY_SUCCESS) ? QUEUE_FILE_NOTIFY_SUCCESS : 0;
        q |= (n & MAILADDR_NOTIFY_FAILURE) ? QUEUE_FILE_NOTIFY_FAILURE : 0;
        q |= (n & MAILADDR_NOTIFY_DELAY) ? QUEUE_FILE_NOTIFY_DELAY : 0;
        m->rcpt[i].address = s->rcpt[i].addr;
        m->rcpt[i].notify = q;
        m->rcpt[i].orcpt = s->rcpt[i].orcpt;
    }
    env->rcpt = m->rcpt;
    env->rcpt_count = s->rcpt_count;
    env->client_addr = s->addr_text;
    env->client_port = (int) s->port;
    env->client_name = s->name;
    env->client_helo = s->helo;
    env->protocol = msg_protocol(s);
    if ((fwd = smtpd_xclient_forwarded(s)) != NULL) {
        /* the message's client is the one XFORWARD names */
        env->client_addr = fwd->addr;
        env->client_port = (int) fwd->port;
        env->client_name = fwd->name;
        env->client_helo = fwd->helo;
        env->protocol = fwd->proto;
    }
    env->sasl_username = smtpd_xclient_login(s);
    if (s->tls != NULL) {
        env->tls_protocol = s->tls->protocol;
        env->tls_cipher = s->tls->cipher;
        env->tls_bits = s->tls->bits;
    }
    env->stress = s->pers->stress;
    env->client_class = s->pers->class_name;
}

/*
 * msg_eod_done - the end-of-data restrictions decided: commit, or remove
 * and refuse. A session that died meanwhile removes its file.
 */
static void
msg_eod_done(struct session *s, int result, struct dstr *reply)
{
    struct smtpd_message *m = s->msg;

    if (result < 0 || (s->flags & SESSION_F_DEAD)) {
        if (result < 0)
            smtpd_session_log_reject(s, "reject", "END-OF-MESSAGE",
                                     reply->data, NULL, NULL);
        m->after_reply = result < 0 ? reply->data : NULL;
        msg_submit(s, MSG_ABORT);
        return;
    }
    if (s->milters != NULL) {
        msg_submit(s, MSG_FLUSH);       /* then the milters: msg_milter() */
        return;
    }
    msg_envelope(s, m);
    msg_submit(s, MSG_COMMIT);
}

/* msg_hidden - the header fields we wrote (PREPEND, Received:) */
static size_t
msg_hidden(const struct smtpd_message *m)
{
    const char *p, *nl, *end = m->received->data + m->received->len;
    size_t  n = 0;

    for (p = m->received->data; p < end; p = nl + 1) {
        if (*p != ' ' && *p != '\t')
            n++;
        if ((nl = memchr(p, '\n', (size_t) (end - p))) == NULL)
            break;
    }
    return n;
}

/*
 * msg_milter_env - the envelope the milters left: their sender and
 * recipients; a recipient that was there keeps its DSN options.
 */
static void
msg_milter_env(struct session *s, struct smtpd_message *m)
{
    const char **list = xcalloc(s->rcpt_count + 1, sizeof(*list));
    struct queue_file_rcpt *old = m->rcpt;
    size_t  i;

    for (i = 0; i < s->rcpt_count; i++)
        list[i] = s->rcpt[i].addr;
    smtpd_milter_edit_env(m->mods, list, s->rcpt_count, &m->menv);
    free(list);
    if (!m->menv.changed)
        return;
    if (m->menv.sender != NULL)
        m->env.sender = m->menv.sender;
    m->rcpt = xcalloc(m->menv.count + 1, sizeof(*m->rcpt));
    for (i = 0; i < m->menv.count; i++) {
        if (m->menv.rcpt[i].orig >= 0)
            m->rcpt[i] = old[m->menv.rcpt[i].orig];
        m->rcpt[i].address = m->menv.rcpt[i].addr;
    }
    free(old);
    m->env.rcpt = m->rcpt;
    m->env.rcpt_count = m->menv.count;
}

/* msg_milter_drop - no 250 yet: remove the file, then say reply */
static void
msg_milter_drop(struct session *s, struct smtpd_message *m,
                const char *reply, int close_after)
{
    (void) dstr_set_str(m->eod_reply, reply);
    m->after_reply = m->eod_reply->data;
    m->close_after = close_after;
    msg_submit(s, MSG_ABORT);
}

/*
 * msg_milter_done - the milters have seen the message: refuse it, drop
 * it (DISCARD), or commit it with their changes (into hold/ when one
 * quarantined it).
 */
static void
msg_milter_done(void *arg, const struct smtpd_milter_result *r)
{
    struct session *s = arg;
    struct smtpd_message *m = s->msg;
    struct dstr *queued;

    s->flags &= ~SESSION_F_JOB;
    if (s->flags & SESSION_F_DEAD) {
        msg_submit(s, MSG_ABORT);
        smtpd_session_end(s);
        return;
    }
    switch (r->action) {
    case SMTPD_MILTER_REJECT:
    case SMTPD_MILTER_TEMPFAIL:
        smtpd_session_log_reject(s, "milter-reject", "END-OF-MESSAGE",
                                 r->reply, NULL, NULL);
        msg_milter_drop(s, m, r->reply, r->close);
        break;
    case SMTPD_MILTER_DISCARD:
        smtpd_session_log(s, LOG_LEVEL_INFO, "%s: milter-discard:"
                          " END-OF-MESSAGE: milter triggers DISCARD action",
                          m->id);
        queued = dstr_new(64, 256);
        (void) dstr_appendf(queued, "250 2.0.0 Ok: queued as %s", m->id);
        msg_milter_drop(s, m, queued->data, 0);
        dstr_free(queued);
        break;
    default:
        m->mods = smtpd_milter_take_mods(s->milters);
        if (r->action == SMTPD_MILTER_QUARANTINE) {
            m->hold = 1;
            smtpd_session_log(s, LOG_LEVEL_INFO, "%s: milter-hold:"
                              " END-OF-MESSAGE: %s; from=<%s>", m->id,
                              r->quarantine, s->sender);
        }
        msg_envelope(s, m);
        if (m->mods != NULL)
            msg_milter_env(s, m);
        if (m->env.rcpt_count == 0) {
            smtpd_session_log(s, LOG_LEVEL_INFO, "%s: milter-discard:"
                              " END-OF-MESSAGE: no recipients left", m->id);
            queued = dstr_new(64, 256);
            (void) dstr_appendf(queued, "250 2.0.0 Ok: queued as %s", m->id);
            msg_milter_drop(s, m, queued->data, 0);
            dstr_free(queued);
            break;
        }
        if (m->mods != NULL && !smtpd_milter_mods_changed(m->mods))
            m->mods = smtpd_milter_mods_free(m->mods);     /* envelope only */
        msg_submit(s, MSG_COMMIT);
        break;
    }
    smtpd_session_end(s);
}

/*
 * msg_milter - the file holds the whole message: the milters read it.
 * XXX They read it from the event loop (pread of a file just written:
 * the page cache); the writes, fsyncs and the rewrite stay on threads.
 */
static void
msg_milter(struct session *s, struct smtpd_message *m)
{
    struct smtpd_milter_args a;

    memset(&a, 0, sizeof(a));
    a.queue_id = m->id;
    a.read = msg_content_read;
    a.read_arg = m->content;
    a.hidden = m->hidden = msg_hidden(m);
    s->flags |= SESSION_F_JOB;          /* no input, no timer meanwhile */
    smtpd_session_arm(s);
    smtpd_milter_stage(s->milters, SMTPD_MILTER_EOM, &a, msg_milter_done, s);
}

/* msg_finish - the content is complete: commit, or remove and refuse */
static void
msg_finish(struct session *s)
{
    struct smtpd_message *m = s->msg;

    if (m->too_big || m->write_failed) {
        m->after_reply = m->too_big ? MSG_REPLY_TOO_BIG : MSG_REPLY_STORAGE;
        msg_submit(s, MSG_ABORT);
        return;
    }
    m->eod_reply = dstr_new(128, 2048);
    switch (smtpd_check(s, SMTPD_CHECK_EOD, NULL, m->eod_reply, msg_eod_done)) {
    case SMTPD_CHECK_WAIT:
        return;                         /* msg_eod_done() goes on */
    default:
        msg_eod_done(s, -1, m->eod_reply);
        return;
    case 0:
        msg_eod_done(s, 0, m->eod_reply);
        return;
    }
}

/*
 * msg_room - what the decoder may be given now. A CR it held back may
 * come out with the next bytes, so chunk_len can pass chunk_size by up
 * to SMTPD_DATA_SLACK (the buffer has that slack): then there is none.
 */
static size_t
msg_room(const struct smtpd_message *m)
{
    return m->chunk_len < m->chunk_size ? m->chunk_size - m->chunk_len : 0;
}

/*
 * msg_chunk_full - little room is left in the chunk: grow it while it
 * may (1), or it must be written now (0). In the loop, never while a
 * thread holds the chunk.
 */
static int
msg_chunk_full(struct smtpd_message *m)
{
    if (msg_room(m) >= MSG_FLUSH_ROOM)
        return -1;                      /* not full */
    if (m->chunk_size >= SMTPD_MESSAGE_CHUNK)
        return 0;
    m->chunk_size *= 2;
    m->chunk = xrealloc(m->chunk, m->chunk_size + SMTPD_DATA_SLACK);
    return 1;
}

/* msg_take - count decoded bytes; keep them unless the message failed */
static void
msg_take(struct session *s, size_t n)
{
    struct smtpd_message *m = s->msg;

    m->size += (long long) n;
    if (m->size > s->p->message_size_limit && !m->too_big) {
        m->too_big = 1;
        smtpd_session_log(s, LOG_LEVEL_INFO, "message larger than"
                          " message_size_limit %lld", s->p->message_size_limit);
    }
    if (!m->too_big && !m->write_failed)
        m->chunk_len += n;
}

/*
 * msg_log_queued - the message's log line. With XFORWARD, Postfix's
 * orig_client= and orig_queue_id= say where it came from before.
 */
static void
msg_log_queued(struct session *s, struct smtpd_message *m)
{
    const struct smtpd_xclient_forward *fwd = smtpd_xclient_forwarded(s);
    struct dstr *orig = dstr_new(64, LOG_LINE_MAX);

    if (fwd != NULL) {
        (void) dstr_appendf(orig, ", orig_client=%s[%s]", fwd->name,
                            fwd->addr);
        if (fwd->ident != NULL)
            (void) dstr_appendf(orig, ", orig_queue_id=%s", fwd->ident);
        if (fwd->source != NULL)
            (void) dstr_appendf(orig, ", orig_source=%s", fwd->source);
    }
    log_info("%s: client=%s[%s], from=<%s>, nrcpt=%zu, size=%lld,"
             " personality=%s%s", m->id, s->name, s->addr_text, s->sender,
             s->rcpt_count, m->size, s->pers->name, orig->data);
    dstr_free(orig);
}

/* msg_committed - the end of a successful commit: 250 and the log line */
static void
msg_committed(struct session *s, struct smtpd_message *m)
{
    msg_log_queued(s, m);
    smtpd_session_reply(s, "250 2.0.0 Ok: queued as %s", m->id);
    smtpd_master_count(s->srv, s->service, SCOREBOARD_MESSAGES);
    smtpd_session_history(s, CLIENT_HISTORY_MESSAGE);
    s->error_count = 0;
    s->junk_count = 0;
}

/*
 * msg_done - in the loop, after a queue thread did a step. The session
 * may have died meanwhile (the client left): then the file goes, and
 * the session is freed when nothing of it is left in a thread.
 */
static void
msg_done(struct smtpd_queue_job *job)
{
    struct smtpd_message *m = job->arg;
    struct session *s = m->s;

    s->flags &= ~SESSION_F_JOB;
    if (s->flags & SESSION_F_DEAD) {
        /* committed after the client left: it is in the queue all the same */
        if (m->op == MSG_COMMIT && m->err == 0)
            msg_log_queued(s, m);
        if (m->qf != NULL)
            msg_submit(s, MSG_ABORT);
        else
            smtpd_session_end(s);
        return;
    }
    switch (m->op) {
    case MSG_FLUSH:
        if (m->err != 0) {
            log_error("%s: queue file %s", m->id, m->why->data);
            m->after_reply = MSG_REPLY_STORAGE;
            msg_submit(s, MSG_ABORT);
        } else {
            msg_milter(s, m);
        }
        break;
    case MSG_OPEN:
        if (m->err != 0) {
            int     bdat = m->bdat;

            log_error("%s: queue file create: %s", m->id, m->why->data);
            msg_free(s);
            if (!bdat) {
                smtpd_session_reply_nocount(s, MSG_REPLY_STORAGE);
            } else {
                /* BDAT: the chunk still comes; read it, then refuse */
                s->bdat_error = MSG_REPLY_STORAGE;
                smtpd_session_set_state(s, SESSION_BDAT);
            }
        } else if (m->bdat) {
            smtpd_session_set_state(s, SESSION_BDAT);
        } else {
            smtpd_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
            s->data_bytes = 0;
            smtpd_session_set_state(s, SESSION_DATA);
        }
        break;
    case MSG_APPEND:
        if (m->err != 0 && !m->write_failed) {
            m->write_failed = 1;
            log_error("%s: queue file %s", m->id, m->why->data);
        }
        if (m->after == MSG_AFTER_BDAT_OK) {
            m->after = MSG_AFTER_NONE;
            if (m->write_failed) {
                s->bdat_error = MSG_REPLY_STORAGE;
                m->after_reply = MSG_REPLY_STORAGE;
                msg_submit(s, MSG_ABORT);
                smtpd_session_end(s);
                return;
            }
            smtpd_session_reply(s, "250 2.0.0 Ok: %lld bytes", m->bdat_chunk);
            smtpd_session_set_state(s, SESSION_COMMAND);
        }
        break;
    case MSG_COMMIT:
        if (m->err != 0) {
            log_error("%s: queue file commit: %s", m->id, m->why->data);
            smtpd_session_reply_nocount(s, MSG_REPLY_STORAGE);
        } else {
            msg_committed(s, m);
        }
        msg_free(s);
        smtpd_session_reset_transaction(s);
        smtpd_session_set_state(s, SESSION_COMMAND);
        break;
    case MSG_ABORT:
        if (m->after_reply != NULL)
            smtpd_session_reply(s, "%s", m->after_reply);
        if (m->close_after)
            smtpd_session_close(s);
        msg_free(s);
        if (s->bdat_error == NULL || s->bdat_last)
            smtpd_session_reset_transaction(s);
        if (s->state != SESSION_CLOSING)
            smtpd_session_set_state(s, SESSION_COMMAND);
        break;
    }
    smtpd_session_resume(s);
    smtpd_session_end(s);
}

/* smtpd_message_data - DATA was accepted: open the file, then 354 */
void
smtpd_message_data(struct session *s)
{
    msg_new(s, 0);
    msg_submit(s, MSG_OPEN);
}

/* smtpd_message_bdat - BDAT was accepted: open the file if needed, read */
void
smtpd_message_bdat(struct session *s, long long size, int last)
{
    s->bdat_remaining = size;
    s->bdat_last = last;
    s->data_bytes = 0;
    if (s->msg == NULL) {
        msg_new(s, 1);
        s->msg->bdat_chunk = size;
        msg_submit(s, MSG_OPEN);
    } else {
        s->msg->bdat_chunk = size;
        smtpd_session_set_state(s, SESSION_BDAT);
    }
}

/* msg_data_input - state DATA: decode what is there */
static int
msg_data_input(struct session *s, struct evbuffer *in, size_t avail)
{
    struct smtpd_message *m = s->msg;
    size_t  room = msg_room(m), n, used, out;
    const char *p;

    n = avail < room ? avail : room;
    if (n == 0)
        return 0;
    if ((p = (const char *) evbuffer_pullup(in, (ev_ssize_t) n)) == NULL)
        return 0;
    used = smtpd_data_decode(&m->dec, p, n, m->chunk + m->chunk_len, &out);
    (void) evbuffer_drain(in, used);
    s->data_bytes += (long long) used;
    if ((m->dec.flags & (SMTPD_DATA_BARE_LF | SMTPD_DATA_BARE_CR))
        && s->p->smtpd_forbid_bare_newline) {
        const char *what = (m->dec.flags & SMTPD_DATA_BARE_LF) ? "LF" : "CR";

        log_info("bare <%s> received after DATA from %s[%s]", what, s->name,
                 s->addr_text);
        smtpd_session_reply(s, "521 5.5.2 %s Error: bare <%s> received",
                            smtpd_server_hostname(s->p), what);
        smtpd_session_close(s);
        msg_submit(s, MSG_ABORT);
        return 0;
    }
    msg_take(s, out);
    if (m->dec.done) {
        msg_finish(s);
        return 0;
    }
    if (!m->too_big && !m->write_failed && msg_chunk_full(m) == 0) {
        msg_submit(s, MSG_APPEND);
        return 0;
    }
    if (m->too_big || m->write_failed)
        m->chunk_len = 0;
    return used > 0;
}

/* msg_bdat_end - the last byte of a chunk was read */
static int
msg_bdat_end(struct session *s)
{
    struct smtpd_message *m = s->msg;
    const char *error;

    if (s->bdat_error != NULL || m == NULL) {
        /* a refused chunk was skipped; now say so */
        error = s->bdat_error ? s->bdat_error : MSG_REPLY_STORAGE;
        smtpd_session_reply(s, "%s", error);
        if (s->bdat_last)
            smtpd_session_reset_transaction(s);
        smtpd_session_set_state(s, SESSION_COMMAND);
        return 1;
    }
    if (s->bdat_last) {
        msg_take(s, smtpd_data_flush(&m->dec, m->chunk + m->chunk_len));
        msg_finish(s);
        return 0;
    }
    if (m->too_big || m->write_failed) {
        s->bdat_error = m->too_big ? MSG_REPLY_TOO_BIG : MSG_REPLY_STORAGE;
        m->after_reply = s->bdat_error;
        msg_submit(s, MSG_ABORT);
        return 0;
    }
    if (m->chunk_len > 0) {
        m->after = MSG_AFTER_BDAT_OK;
        msg_submit(s, MSG_APPEND);
        return 0;
    }
    smtpd_session_reply(s, "250 2.0.0 Ok: %lld bytes", m->bdat_chunk);
    smtpd_session_set_state(s, SESSION_COMMAND);
    return 1;
}

/* msg_bdat_input - state BDAT: take the chunk's bytes, no more */
static int
msg_bdat_input(struct session *s, struct evbuffer *in, size_t avail)
{
    struct smtpd_message *m = s->msg;
    size_t  n, room, out;
    const char *p;

    if (s->bdat_remaining == 0)
        return msg_bdat_end(s);
    n = avail < (unsigned long long) s->bdat_remaining
        ? avail : (size_t) s->bdat_remaining;
    if (s->bdat_error != NULL || m == NULL) {
        (void) evbuffer_drain(in, n);
    } else {
        room = msg_room(m);
        if (n > room)
            n = room;
        if (n > 0) {
            if ((p = (const char *) evbuffer_pullup(in, (ev_ssize_t) n))
                == NULL)
                return 0;
            (void) smtpd_data_decode(&m->dec, p, n, m->chunk + m->chunk_len,
                                     &out);
            (void) evbuffer_drain(in, n);
            msg_take(s, out);
            if (m->too_big || m->write_failed)
                m->chunk_len = 0;
        }
    }
    s->bdat_remaining -= (long long) n;
    s->data_bytes += (long long) n;
    if (s->bdat_remaining == 0)
        return msg_bdat_end(s);
    if (m != NULL && s->bdat_error == NULL && msg_chunk_full(m) == 0) {
        msg_submit(s, MSG_APPEND);
        return 0;
    }
    return n > 0;
}

/* smtpd_message_input - state DATA or BDAT: consume what input there is */
int
smtpd_message_input(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t  avail = evbuffer_get_length(in);

    if (s->state == SESSION_BDAT)
        return msg_bdat_input(s, in, avail);
    if (avail == 0 || s->msg == NULL)
        return 0;
    return msg_data_input(s, in, avail);
}

/* smtpd_message_reset - drop an unfinished message, then reply */
int
smtpd_message_reset(struct session *s, const char *reply)
{
    struct smtpd_message *m = s->msg;

    if (m == NULL || (s->flags & SESSION_F_JOB))
        return 0;
    if (m->qf != NULL) {
        m->after_reply = reply;
        s->bdat_error = NULL;
        s->bdat_last = 1;               /* the transaction ends */
        msg_submit(s, MSG_ABORT);
        return 1;
    }
    msg_free(s);
    if (reply != NULL)
        smtpd_session_reply(s, "%s", reply);
    return 0;
}

/* smtpd_message_free - for smtpd_session_free(): -1 while a file is open */
int
smtpd_message_free(struct session *s)
{
    if (s->msg == NULL)
        return 0;
    if (s->flags & SESSION_F_JOB)
        return -1;
    if (s->msg->qf != NULL) {
        s->msg->after_reply = NULL;
        msg_submit(s, MSG_ABORT);
        return -1;
    }
    msg_free(s);
    return 0;
}

/* smtpd_message_id - the queue ID of the message being received, or "" */
const char *
smtpd_message_id(const struct session *s)
{
    return s->msg != NULL ? s->msg->id : s->queue_id;
}

/* smtpd_message_size - its content bytes so far, or -1 */
long long
smtpd_message_size(const struct session *s)
{
    return s->msg != NULL ? s->msg->size : -1;
}
