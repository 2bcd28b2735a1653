/* queue_file - the queue file format: writer and reader; see queue_file.h. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"

/*
 * The format (docs/queue-format.md has the full story):
 *
 *     doppel-queue 1\n
 *     content 65536\n<65536 bytes>\n      zero or more content records
 *     id 20\n<queue id>\n                 the envelope, in any order
 *     ...
 *     end 0\n\n                            nothing may follow
 *
 * A record header is a name ([a-z][a-z0-9_]*), one space, a decimal length
 * without leading zeros, and a newline; the value follows, then one
 * newline that is not counted. That newline lets a reader notice a wrong
 * length at once, and keeps the file readable with less(1).
 */

#define QF_NAME_MAX     16             /* longest record name */
#define QF_NUM_MAX      10             /* digits in a record length */
#define QF_HEADER_MAX   (QF_NAME_MAX + 1 + QF_NUM_MAX + 1)
#define QF_MAGIC_MAX    32             /* magic line, with its newline */
#define QF_HDR_ROOM     32             /* room before a staged chunk */
#define QF_ENV_FLUSH    65536          /* write the envelope in parts */
#define QF_VALUE_MAX    QUEUE_FILE_FIELD_MAX

/* Record types. */
enum qf_rec {
    QF_CONTENT,
    QF_ID,
    QF_ARRIVAL,
    QF_SIZE,
    QF_SENDER,
    QF_RET,
    QF_ENVID,
    QF_SMTPUTF8,
    QF_BODY,
    QF_RCPT,
    QF_NOTIFY,
    QF_ORCPT,
    QF_CLIENT_ADDR,
    QF_CLIENT_PORT,
    QF_CLIENT_NAME,
    QF_CLIENT_HELO,
    QF_PROTOCOL,
    QF_SASL_USERNAME,
    QF_TLS_PROTOCOL,
    QF_TLS_CIPHER,
    QF_TLS_BITS,
    QF_TLS_PEER,
    QF_PERSONALITY,
    QF_CLIENT_CLASS,
    QF_END,
    QF_REC_COUNT,
};

static const struct qf_rec_def {
    const char *name;
    size_t  max;                       /* longest value */
} qf_recs[QF_REC_COUNT] = {
    [QF_CONTENT] = {"content", QUEUE_FILE_CHUNK_MAX},
    [QF_ID] = {"id", QUEUE_ID_LEN},
    [QF_ARRIVAL] = {"arrival", 32},
    [QF_SIZE] = {"size", 20},
    [QF_SENDER] = {"sender", QUEUE_FILE_FIELD_MAX},
    [QF_RET] = {"ret", 8},
    [QF_ENVID] = {"envid", QUEUE_FILE_FIELD_MAX},
    [QF_SMTPUTF8] = {"smtputf8", 8},
    [QF_BODY] = {"body", 16},
    [QF_RCPT] = {"rcpt", QUEUE_FILE_FIELD_MAX},
    [QF_NOTIFY] = {"notify", 32},
    [QF_ORCPT] = {"orcpt", QUEUE_FILE_FIELD_MAX},
    [QF_CLIENT_ADDR] = {"client_addr", QUEUE_FILE_FIELD_MAX},
    [QF_CLIENT_PORT] = {"client_port", 8},
    [QF_CLIENT_NAME] = {"client_name", QUEUE_FILE_FIELD_MAX},
    [QF_CLIENT_HELO] = {"client_helo", QUEUE_FILE_FIELD_MAX},
    [QF_PROTOCOL] = {"protocol", QUEUE_FILE_FIELD_MAX},
    [QF_SASL_USERNAME] = {"sasl_username", QUEUE_FILE_FIELD_MAX},
    [QF_TLS_PROTOCOL] = {"tls_protocol", QUEUE_FILE_FIELD_MAX},
    [QF_TLS_CIPHER] = {"tls_cipher", QUEUE_FILE_FIELD_MAX},
    [QF_TLS_BITS] = {"tls_bits", 8},
    [QF_TLS_PEER] = {"tls_peer", QUEUE_FILE_FIELD_MAX},
    [QF_PERSONALITY] = {"personality", 8},
    [QF_CLIENT_CLASS] = {"client_class", QUEUE_FILE_FIELD_MAX},
    [QF_END] = {"end", 0},
};

#define QF_PORT_MAX     65535
#define QF_BITS_MAX     65536

static const char *const qf_ret_names[] = {NULL, "FULL", "HDRS"};
static const char *const qf_body_names[] = {
    NULL, "7BIT", "8BITMIME", "BINARYMIME",
};
static const struct {
    const char *name;
    unsigned bit;
} qf_notify_names[] = {
    {"NEVER", QUEUE_FILE_NOTIFY_NEVER},
    {"SUCCESS", QUEUE_FILE_NOTIFY_SUCCESS},
    {"FAILURE", QUEUE_FILE_NOTIFY_FAILURE},
    {"DELAY", QUEUE_FILE_NOTIFY_DELAY},
};

#define QF_NOTIFY_ALL   (QUEUE_FILE_NOTIFY_NEVER | QUEUE_FILE_NOTIFY_SUCCESS \
                         | QUEUE_FILE_NOTIFY_FAILURE | QUEUE_FILE_NOTIFY_DELAY)

/*
 * The fault hook. Set by tests before any writer runs and read by
 * writers; never changed while they run, so it needs no lock.
 */
static queue_file_fault_fn *queue_file_fault;

/* ------------------------------------------------------------------ */
/* Shared helpers                                                      */
/* ------------------------------------------------------------------ */

/* qf_vwhy - set the reason (if wanted), keeping errno */
static void __attribute__((format(printf, 2, 0)))
qf_vwhy(struct dstr *why, const char *fmt, va_list ap)
{
    int     saved = errno;

    if (why != NULL) {
        dstr_reset(why);
        (void) dstr_vappendf(why, fmt, ap);
    }
    errno = saved;
}

/* qf_why - qf_vwhy() with arguments */
static void __attribute__((format(printf, 2, 3)))
qf_why(struct dstr *why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qf_vwhy(why, fmt, ap);
    va_end(ap);
}

/* qf_notify_ok - are these NOTIFY bits a valid combination? */
static int
qf_notify_ok(unsigned notify)
{
    if (notify & ~QF_NOTIFY_ALL)
        return 0;
    if ((notify & QUEUE_FILE_NOTIFY_NEVER) && notify != QUEUE_FILE_NOTIFY_NEVER)
        return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

struct queue_file {
    int     fd;                        /* tmp/ID, or -1 once closed */
    int     error;                     /* errno of the first failure */
    char    id[QUEUE_ID_SIZE];
    struct dstr *tmp_path;             /* QUEUE_DIR/tmp/ID */
    struct dstr *final_path;           /* QUEUE_DIR/incoming/ID */
    struct dstr *final_dir;            /* QUEUE_DIR/incoming */
    struct dstr *reason;               /* why the first failure happened */
    long long arrival_us;
    long long size;                    /* bytes given to append */
    long long stored;                  /* content bytes, received header too */
    char   *stage;                     /* QF_HDR_ROOM + chunk + newline */
    size_t  staged;                    /* content bytes waiting in stage */
};

/* qf_fault - ask the test hook about one operation (0: go ahead) */
static int
qf_fault(enum queue_file_op op, const char *path)
{
    queue_file_fault_fn *fn = queue_file_fault;

    return fn == NULL ? 0 : fn(op, path);
}

/* qf_fail - remember the first failure and remove the file, keeping errno */
static int __attribute__((format(printf, 2, 3)))
qf_fail(struct queue_file *qf, const char *fmt, ...)
{
    int     saved = errno;
    va_list ap;

    if (qf->error == 0) {
        qf->error = saved != 0 ? saved : EIO;
        va_start(ap, fmt);
        qf_vwhy(qf->reason, fmt, ap);
        va_end(ap);
    }
    if (qf->fd >= 0) {
        (void) close(qf->fd);
        qf->fd = -1;
    }
    /* Cleanup runs without the fault hook: it must always happen. */
    (void) unlink(qf->tmp_path->data);
    errno = qf->error;
    return -1;
}

/* qf_write_all - write everything, through the fault hook */
static int
qf_write_all(struct queue_file *qf, const char *p, size_t n)
{
    ssize_t w;
    size_t  want;
    int     fault;

    while (n > 0) {
        want = n;
        if ((fault = qf_fault(QUEUE_FILE_OP_WRITE, qf->tmp_path->data)) > 0) {
            errno = fault;
            return qf_fail(qf, "%s/%s: write: %m", QUEUE_DIRS_TMP, qf->id);
        }
        if (fault == QUEUE_FILE_FAULT_SHORT && n > 1)
            want = n / 2;
        w = write(qf->fd, p, want);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return qf_fail(qf, "%s/%s: write: %m", QUEUE_DIRS_TMP, qf->id);
        if (w == 0) {
            errno = EIO;                /* no progress on a regular file */
            return qf_fail(qf, "%s/%s: write: no progress", QUEUE_DIRS_TMP,
                           qf->id);
        }
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/* qf_flush - write the staged content as one content record */
static int
qf_flush(struct queue_file *qf)
{
    char    hdr[QF_HDR_ROOM];
    int     hlen;
    char   *start;

    if (qf->staged == 0)
        return 0;
    hlen = snprintf(hdr, sizeof(hdr), "%s %zu\n", qf_recs[QF_CONTENT].name,
                    qf->staged);
    if (hlen < 0 || hlen >= QF_HDR_ROOM) {
        errno = EINVAL;
        return qf_fail(qf, "%s/%s: record header too long", QUEUE_DIRS_TMP,
                       qf->id);
    }
    start = qf->stage + QF_HDR_ROOM - hlen;
    memcpy(start, hdr, (size_t) hlen);
    qf->stage[QF_HDR_ROOM + qf->staged] = '\n';
    if (qf_write_all(qf, start, (size_t) hlen + qf->staged + 1) < 0)
        return -1;
    qf->staged = 0;
    return 0;
}

/* qf_stage - add content bytes, writing full chunks */
static int
qf_stage(struct queue_file *qf, const char *p, size_t len)
{
    size_t  room;
    size_t  n;

    if ((long long) len < 0 || LLONG_MAX - qf->stored < (long long) len) {
        errno = EFBIG;
        return qf_fail(qf, "%s/%s: message too large", QUEUE_DIRS_TMP,
                       qf->id);
    }
    while (len > 0) {
        room = QUEUE_FILE_CHUNK - qf->staged;
        n = len < room ? len : room;
        memcpy(qf->stage + QF_HDR_ROOM + qf->staged, p, n);
        qf->staged += n;
        qf->stored += (long long) n;
        p += n;
        len -= n;
        if (qf->staged == QUEUE_FILE_CHUNK && qf_flush(qf) < 0)
            return -1;
    }
    return 0;
}

/* qf_path - "dir/sub[/id]" into a new dstr, or NULL if too long */
static struct dstr *
qf_path(const char *dir, const char *sub, const char *id)
{
    struct dstr *d = dstr_new(128, PATH_MAX - 1);

    if (dstr_appendf(d, "%s/%s", dir, sub) < 0
        || (id != NULL && dstr_appendf(d, "/%s", id) < 0)) {
        d = dstr_free(d);
        errno = ENAMETOOLONG;
    }
    return d;
}

/* qf_free - release a writer handle (the file is already dealt with) */
static struct queue_file *
qf_free(struct queue_file *qf)
{
    int     saved = errno;

    if (qf->fd >= 0)
        (void) close(qf->fd);
    qf->tmp_path = dstr_free(qf->tmp_path);
    qf->final_path = dstr_free(qf->final_path);
    qf->final_dir = dstr_free(qf->final_dir);
    qf->reason = dstr_free(qf->reason);
    free(qf->stage);
    free(qf);
    errno = saved;
    return NULL;
}

/* queue_file_create - start a new queue file in tmp/ */
struct queue_file *
queue_file_create(const char *queue_dir, const char *id, const void *received,
                  size_t received_len, struct dstr *why)
{
    struct queue_file *qf;
    struct timespec ts;
    char    magic[QF_MAGIC_MAX];
    int     mlen;
    int     fault;

    if (queue_dir == NULL || (id != NULL && !queue_id_valid(id))
        || (received == NULL && received_len > 0)) {
        errno = EINVAL;
        qf_why(why, "queue file: create: invalid arguments");
        return NULL;
    }
    qf = xcalloc(1, sizeof(*qf));
    qf->fd = -1;
    if (id != NULL)
        memcpy(qf->id, id, QUEUE_ID_SIZE);
    else
        (void) queue_id_new(qf->id, sizeof(qf->id));
    qf->reason = dstr_new(128, 1024);
    if ((qf->tmp_path = qf_path(queue_dir, QUEUE_DIRS_TMP, qf->id)) == NULL
        || (qf->final_path = qf_path(queue_dir, QUEUE_DIRS_INCOMING,
                                     qf->id)) == NULL
        || (qf->final_dir = qf_path(queue_dir, QUEUE_DIRS_INCOMING,
                                    NULL)) == NULL) {
        qf_why(why, "%s: queue directory name too long", queue_dir);
        return qf_free(qf);
    }
    (void) clock_gettime(CLOCK_REALTIME, &ts);
    qf->arrival_us = (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;

    if ((fault = qf_fault(QUEUE_FILE_OP_OPEN, qf->tmp_path->data)) > 0) {
        errno = fault;
    } else {
        qf->fd = open(qf->tmp_path->data,
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600);
    }
    if (qf->fd < 0) {
        /* Not ours to unlink: with EEXIST it is somebody else's file. */
        qf_why(why, "%s/%s: create: %m", QUEUE_DIRS_TMP, qf->id);
        return qf_free(qf);
    }
    qf->stage = xmalloc(QF_HDR_ROOM + QUEUE_FILE_CHUNK + 1);
    mlen = snprintf(magic, sizeof(magic), "%s %d\n", QUEUE_FILE_MAGIC,
                    QUEUE_FILE_VERSION);
    if (qf_write_all(qf, magic, (size_t) mlen) < 0
        || qf_stage(qf, received, received_len) < 0) {
        qf_why(why, "%s", qf->reason->data);
        return qf_free(qf);
    }
    return qf;
}

/* queue_file_append - add content bytes */
int
queue_file_append(struct queue_file *qf, const void *buf, size_t len)
{
    if (qf->error != 0) {
        errno = qf->error;
        return -1;
    }
    if (buf == NULL && len > 0) {
        errno = EINVAL;
        return -1;
    }
    if (qf_stage(qf, buf, len) < 0)
        return -1;
    qf->size += (long long) len;
    return 0;
}

/* queue_file_size - content bytes appended so far */
long long
queue_file_size(const struct queue_file *qf)
{
    return qf->size;
}

/* queue_file_id - the queue ID of this file */
const char *
queue_file_id(const struct queue_file *qf)
{
    return qf->id;
}

/* qf_line_ok - a string without a line break (NULL is fine) */
static int
qf_line_ok(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

/* qf_env_check - can the format hold this envelope? NULL or what is wrong */
static const char *
qf_env_check(const struct queue_file_env *env)
{
    const char *strs[] = {
        env->envid, env->client_addr, env->client_name, env->client_helo,
        env->protocol, env->sasl_username, env->tls_protocol,
        env->tls_cipher, env->tls_peer, env->client_class,
    };

    if (env->sender == NULL)
        return "no sender";
    if (strlen(env->sender) > QUEUE_FILE_FIELD_MAX)
        return "sender too long";
    if (!qf_line_ok(env->sender) || !qf_line_ok(env->envid))
        return "line break in sender or ENVID";
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] != NULL && strlen(strs[i]) > QUEUE_FILE_FIELD_MAX)
            return "envelope string too long";
    if (env->rcpt_count == 0 || env->rcpt == NULL)
        return "no recipient";
    if (env->rcpt_count > QUEUE_FILE_RCPT_MAX)
        return "too many recipients";
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_file_rcpt *r = env->rcpt + i;

        if (r->address == NULL || r->address[0] == '\0')
            return "empty recipient address";
        if (strlen(r->address) > QUEUE_FILE_FIELD_MAX
            || (r->orcpt != NULL && strlen(r->orcpt) > QUEUE_FILE_FIELD_MAX))
            return "recipient too long";
        if (!qf_line_ok(r->address) || !qf_line_ok(r->orcpt))
            return "line break in recipient";
        if (!qf_notify_ok(r->notify))
            return "invalid NOTIFY";
    }
    if ((unsigned) env->ret > QUEUE_FILE_RET_HDRS)
        return "invalid RET";
    if ((unsigned) env->body > QUEUE_FILE_BODY_BINARYMIME)
        return "invalid BODY";
    if (env->arrival_us < 0)
        return "invalid arrival time";
    if (env->client_port < 0 || env->client_port > QF_PORT_MAX)
        return "invalid client port";
    if (env->tls_bits < 0 || env->tls_bits > QF_BITS_MAX)
        return "invalid TLS bits";
    return NULL;
}

/* qf_rec_bytes - one record into d */
static void
qf_rec_bytes(struct dstr *d, enum qf_rec rec, const char *p, size_t len)
{
    /* d is unlimited: these appends cannot fail. */
    (void) dstr_appendf(d, "%s %zu\n", qf_recs[rec].name, len);
    (void) dstr_append(d, p, len);
    (void) dstr_append_char(d, '\n');
}

/* qf_rec_str - a string record, if the string is set */
static void
qf_rec_str(struct dstr *d, enum qf_rec rec, const char *s)
{
    if (s != NULL)
        qf_rec_bytes(d, rec, s, strlen(s));
}

/*
 * qf_rec_info - an informational string (client, TLS): CR and LF as "?".
 *
 * No envelope value may hold a line break: that keeps every envelope
 * record on its own lines, so a damaged length never lines up with a
 * later record and always shows. Addresses cannot hold one (SMTP lines
 * end there; qf_env_check() refuses them), but a certificate's subject
 * or a DNS name may: those are informational, and a "?" does no harm.
 */
static void
qf_rec_info(struct dstr *d, enum qf_rec rec, const char *s)
{
    size_t  start;

    if (s == NULL)
        return;
    qf_rec_str(d, rec, s);
    start = d->len - 1 - strlen(s);    /* the value, before its newline */
    for (size_t i = start; i < d->len - 1; i++)
        if (d->data[i] == '\r' || d->data[i] == '\n')
            d->data[i] = '?';
}

/* qf_rec_num - a decimal record */
static void
qf_rec_num(struct dstr *d, enum qf_rec rec, long long n)
{
    char    buf[32];
    int     len = snprintf(buf, sizeof(buf), "%lld", n);

    qf_rec_bytes(d, rec, buf, (size_t) len);
}

/* qf_env_flush - write the envelope text built so far if it is big */
static int
qf_env_flush(struct queue_file *qf, struct dstr *d, int force)
{
    if (d->len == 0 || (!force && d->len < QF_ENV_FLUSH))
        return 0;
    if (qf_write_all(qf, d->data, d->len) < 0)
        return -1;
    dstr_reset(d);
    return 0;
}

/* qf_write_env - the envelope records and the end record */
static int
qf_write_env(struct queue_file *qf, const struct queue_file_env *env)
{
    struct dstr *d = dstr_new(4096, DSTR_UNLIMITED);
    char    arrival[48];
    long long at = env->arrival_us ? env->arrival_us : qf->arrival_us;
    int     n;
    int     rc = -1;

    qf_rec_str(d, QF_ID, qf->id);
    n = snprintf(arrival, sizeof(arrival), "%lld.%06lld", at / 1000000,
                 at % 1000000);
    qf_rec_bytes(d, QF_ARRIVAL, arrival, (size_t) n);
    qf_rec_str(d, QF_SENDER, env->sender);
    qf_rec_str(d, QF_RET, qf_ret_names[env->ret]);
    qf_rec_str(d, QF_ENVID, env->envid);
    if (env->smtputf8)
        qf_rec_str(d, QF_SMTPUTF8, "yes");
    qf_rec_str(d, QF_BODY, qf_body_names[env->body]);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_file_rcpt *r = env->rcpt + i;

        qf_rec_str(d, QF_RCPT, r->address);
        if (r->notify != 0) {
            struct dstr *list = dstr_new(32, DSTR_UNLIMITED);

            for (size_t k = 0; k < sizeof(qf_notify_names)
                 / sizeof(qf_notify_names[0]); k++)
                if (r->notify & qf_notify_names[k].bit)
                    (void) dstr_appendf(list, "%s%s", list->len ? "," : "",
                                        qf_notify_names[k].name);
            qf_rec_bytes(d, QF_NOTIFY, list->data, list->len);
            list = dstr_free(list);
        }
        qf_rec_str(d, QF_ORCPT, r->orcpt);
        if (qf_env_flush(qf, d, 0) < 0)
            goto out;
    }
    qf_rec_info(d, QF_CLIENT_ADDR, env->client_addr);
    if (env->client_port > 0)
        qf_rec_num(d, QF_CLIENT_PORT, env->client_port);
    qf_rec_info(d, QF_CLIENT_NAME, env->client_name);
    qf_rec_info(d, QF_CLIENT_HELO, env->client_helo);
    qf_rec_info(d, QF_PROTOCOL, env->protocol);
    qf_rec_info(d, QF_SASL_USERNAME, env->sasl_username);
    qf_rec_info(d, QF_TLS_PROTOCOL, env->tls_protocol);
    qf_rec_info(d, QF_TLS_CIPHER, env->tls_cipher);
    if (env->tls_bits > 0)
        qf_rec_num(d, QF_TLS_BITS, env->tls_bits);
    qf_rec_info(d, QF_TLS_PEER, env->tls_peer);
    qf_rec_str(d, QF_PERSONALITY, env->stress ? "stress" : "normal");
    qf_rec_info(d, QF_CLIENT_CLASS, env->client_class);
    qf_rec_num(d, QF_SIZE, qf->stored);
    qf_rec_bytes(d, QF_END, "", 0);
    rc = qf_env_flush(qf, d, 1);
  out:
    d = dstr_free(d);
    return rc;
}

/*
 * qf_publish - rename tmp/ID to incoming/ID without replacing anything.
 *
 * rename(2) would silently replace a file of the same name; a queue ID
 * collision must never destroy an acknowledged message, so ask for
 * RENAME_NOREPLACE and fall back to link(2) + unlink(2) on a file
 * system that does not know it. Either way, on success the message has
 * exactly one name in incoming/ (a stale tmp/ link, if unlink fails, is
 * removed later by queue_dirs_clean_tmp()).
 */
static int
qf_publish(struct queue_file *qf)
{
    const char *tmp = qf->tmp_path->data;
    const char *fin = qf->final_path->data;
    int     fault;

    if ((fault = qf_fault(QUEUE_FILE_OP_RENAME, tmp)) > 0) {
        errno = fault;
        return -1;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, fin, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(tmp, fin) < 0)
        return -1;
    (void) unlink(tmp);
    return 0;
}

/* qf_sync_dir - fsync incoming/, so the new name survives a crash */
static int
qf_sync_dir(struct queue_file *qf, const char **what)
{
    int     dfd = -1;
    int     fault;
    int     saved;

    *what = "open";
    if ((fault = qf_fault(QUEUE_FILE_OP_DIROPEN, qf->final_dir->data)) > 0) {
        errno = fault;
        return -1;
    }
    if ((dfd = open(qf->final_dir->data,
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    *what = "fsync";
    if ((fault = qf_fault(QUEUE_FILE_OP_DIRSYNC, qf->final_dir->data)) > 0) {
        errno = fault;
    } else if (fsync(dfd) == 0) {
        (void) close(dfd);
        return 0;
    }
    saved = errno;
    (void) close(dfd);
    errno = saved;
    return -1;
}

/*
 * Group commit of the directory: when several threads commit at once,
 * one fsync of incoming/ makes every rename done before it started
 * durable. A thread whose rename is covered by a sync that another
 * thread started later waits for that one instead of syncing again;
 * so with N concurrent commits the directory is synced about twice,
 * not N times. A failed sync fails exactly the renames it covered.
 */
#define QF_DIRSYNC_MAX 8                /* directories shared this way */

struct qf_dirsync {
    char   *path;
    unsigned long long seq;            /* renames registered */
    unsigned long long synced;         /* every rename up to it is synced */
    int     syncing;                   /* a thread is in fsync() */
    unsigned long long fail_from, fail_upto;   /* the last failed sync */
    int     fail_errno;
    const char *fail_what;
};

static pthread_mutex_t qf_dirsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qf_dirsync_cond = PTHREAD_COND_INITIALIZER;
static struct qf_dirsync qf_dirsyncs[QF_DIRSYNC_MAX];

/* qf_dirsync_find - the shared record of a directory, or NULL if full */
static struct qf_dirsync *
qf_dirsync_find(const char *path)
{
    size_t  i;

    for (i = 0; i < QF_DIRSYNC_MAX; i++) {
        if (qf_dirsyncs[i].path == NULL) {
            qf_dirsyncs[i].path = xstrdup(path);
            return &qf_dirsyncs[i];
        }
        if (strcmp(qf_dirsyncs[i].path, path) == 0)
            return &qf_dirsyncs[i];
    }
    return NULL;
}

/* qf_sync_dir_shared - qf_sync_dir(), shared with concurrent commits */
static int
qf_sync_dir_shared(struct queue_file *qf, const char **what)
{
    struct qf_dirsync *d;
    unsigned long long mine, target, from;
    int     rc, err;

    (void) pthread_mutex_lock(&qf_dirsync_lock);
    if ((d = qf_dirsync_find(qf->final_dir->data)) == NULL) {
        (void) pthread_mutex_unlock(&qf_dirsync_lock);
        return qf_sync_dir(qf, what);
    }
    mine = ++d->seq;
    while (d->synced < mine) {
        if (d->syncing) {
            (void) pthread_cond_wait(&qf_dirsync_cond, &qf_dirsync_lock);
            continue;
        }
        d->syncing = 1;
        from = d->synced + 1;
        target = d->seq;
        (void) pthread_mutex_unlock(&qf_dirsync_lock);
        rc = qf_sync_dir(qf, what);
        err = errno;
        (void) pthread_mutex_lock(&qf_dirsync_lock);
        d->syncing = 0;
        d->synced = target;
        if (rc < 0) {
            d->fail_from = from;
            d->fail_upto = target;
            d->fail_errno = err;
            d->fail_what = *what;
        }
        (void) pthread_cond_broadcast(&qf_dirsync_cond);
    }
    if (mine >= d->fail_from && mine <= d->fail_upto && d->fail_upto > 0) {
        *what = d->fail_what;
        err = d->fail_errno;
        (void) pthread_mutex_unlock(&qf_dirsync_lock);
        errno = err;
        return -1;
    }
    (void) pthread_mutex_unlock(&qf_dirsync_lock);
    return 0;
}

/* queue_file_commit - finish the file and move it into incoming/ */
int
queue_file_commit(struct queue_file *qf, const struct queue_file_env *env,
                  struct dstr *why)
{
    const char *bad;
    const char *what;
    int     fault;
    int     rc;
    int     saved;

    if (qf->error != 0)
        goto fail;
    if (env == NULL || (bad = qf_env_check(env)) != NULL) {
        errno = EINVAL;
        qf_fail(qf, "%s: envelope: %s", qf->id, env ? bad : "missing");
        goto fail;
    }
    if (qf_flush(qf) < 0 || qf_write_env(qf, env) < 0)
        goto fail;

    /*
     * The file's data must be on disk before its name is in incoming/:
     * otherwise a crash could leave a name in incoming/ that points to a
     * file with holes or without its end record.
     */
    if ((fault = qf_fault(QUEUE_FILE_OP_FSYNC, qf->tmp_path->data)) > 0)
        errno = fault;
    if (fault > 0 || fsync(qf->fd) < 0) {
        qf_fail(qf, "%s/%s: fsync: %m", QUEUE_DIRS_TMP, qf->id);
        goto fail;
    }
    /* close() may report a delayed write error (NFS): it counts. */
    fault = qf_fault(QUEUE_FILE_OP_CLOSE, qf->tmp_path->data);
    rc = close(qf->fd);
    qf->fd = -1;
    if (fault > 0 || rc < 0) {
        if (fault > 0)
            errno = fault;
        qf_fail(qf, "%s/%s: close: %m", QUEUE_DIRS_TMP, qf->id);
        goto fail;
    }
    if (qf_publish(qf) < 0) {
        qf_fail(qf, "%s/%s: rename to %s: %m", QUEUE_DIRS_TMP, qf->id,
                QUEUE_DIRS_INCOMING);
        goto fail;
    }

    /*
     * The rename is durable only once the directory is synced. If that
     * fails we must not answer 250, and the client will send the message
     * again; so take the file back out of incoming/ to avoid delivering
     * it twice. (If the delivery agent already took it, it is delivered
     * once more than needed, never lost.)
     */
    if (qf_sync_dir_shared(qf, &what) < 0) {
        saved = errno;
        (void) unlink(qf->final_path->data);
        errno = saved;
        qf_fail(qf, "%s: %s: %m", QUEUE_DIRS_INCOMING, what);
        goto fail;
    }
    qf_free(qf);
    return 0;

  fail:
    saved = qf->error;
    qf_why(why, "%s", qf->reason->data);
    qf_free(qf);
    errno = saved;
    return -1;
}

/* queue_file_abort - give up: remove the file and free the handle */
struct queue_file *
queue_file_abort(struct queue_file *qf)
{
    int     saved = errno;

    if (qf == NULL)
        return NULL;
    if (qf->fd >= 0) {
        (void) close(qf->fd);
        qf->fd = -1;
    }
    (void) unlink(qf->tmp_path->data);
    qf_free(qf);
    errno = saved;
    return NULL;
}

/* queue_file_flush - write the buffered content now, before the commit */
int
queue_file_flush(struct queue_file *qf)
{
    if (qf->error != 0) {
        errno = qf->error;
        return -1;
    }
    return qf_flush(qf);
}

/* queue_file_hold - let the commit put the file in hold/, not incoming/ */
int
queue_file_hold(struct queue_file *qf)
{
    struct dstr *dir, *path;
    const char *slash = strrchr(qf->final_dir->data, '/');

    if (slash == NULL) {
        errno = EINVAL;
        return -1;
    }
    dir = dstr_new(128, PATH_MAX - 1);
    if (dstr_append(dir, qf->final_dir->data,
                    (size_t) (slash - qf->final_dir->data)) < 0
        || (path = qf_path(dir->data, QUEUE_DIRS_HOLD, qf->id)) == NULL) {
        dstr_free(dir);
        errno = ENAMETOOLONG;
        return -1;
    }
    (void) dstr_append_str(dir, "/" QUEUE_DIRS_HOLD);
    dstr_free(qf->final_dir);
    dstr_free(qf->final_path);
    qf->final_dir = dir;
    qf->final_path = path;
    return 0;
}

/* queue_file_set_fault - install (or with NULL remove) the test hook */
void
queue_file_set_fault(queue_file_fault_fn *fn)
{
    queue_file_fault = fn;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

#define QF_INBUF    65536

struct queue_file_reader {
    int     fd;
    char   *name;                      /* for messages */
    off_t   file_size;
    struct queue_file_env env;
    struct queue_file_rcpt *rcpts;     /* env.rcpt */
    size_t  rcpt_alloc;
    unsigned char seen[QF_REC_COUNT];  /* envelope records seen */
    unsigned char rcpt_seen;           /* notify/orcpt on the last rcpt */
    off_t   content_start;             /* first record after the magic */
    /* Input buffer: buf holds bytes of the file from buf_off on. */
    char   *buf;
    off_t   buf_off;
    size_t  buf_len;
    off_t   off;                       /* next byte to parse */
    /* Content streaming. */
    off_t   rd_off;                    /* next byte of the file */
    long long rd_left;                 /* value bytes left in this record */
    long long rd_done;                 /* content bytes returned */
};

/* qr_err - a parse error at an offset: reason into why, errno EINVAL */
static void __attribute__((format(printf, 4, 5)))
qr_err(struct queue_file_reader *r, struct dstr *why, off_t at,
       const char *fmt, ...)
{
    va_list ap;

    if (why != NULL) {
        dstr_reset(why);
        (void) dstr_appendf(why, "%s: offset %lld: ", r->name, (long long) at);
        va_start(ap, fmt);
        (void) dstr_vappendf(why, fmt, ap);
        va_end(ap);
    }
    errno = EINVAL;
}

/* qr_fill - make at least want bytes from off available; bytes available */
static ssize_t
qr_fill(struct queue_file_reader *r, off_t off, size_t want)
{
    ssize_t n;
    size_t  have;

    if (off >= r->buf_off && off - r->buf_off <= (off_t) r->buf_len) {
        have = r->buf_len - (size_t) (off - r->buf_off);
        if (have >= want)
            return (ssize_t) have;
    }
    r->buf_off = off;
    r->buf_len = 0;
    while (r->buf_len < want) {
        n = pread(r->fd, r->buf + r->buf_len, QF_INBUF - r->buf_len,
                  off + (off_t) r->buf_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        r->buf_len += (size_t) n;
    }
    return (ssize_t) r->buf_len;
}

/* qr_bytes - pointer to n buffered bytes at off (n <= QF_INBUF), or NULL */
static const char *
qr_bytes(struct queue_file_reader *r, off_t off, size_t n)
{
    ssize_t have = qr_fill(r, off, n);

    if (have < 0 || (size_t) have < n)
        return NULL;
    return r->buf + (off - r->buf_off);
}

/*
 * qr_header - parse the record header at off: name and value length.
 * Returns the header's length, or -1 with the reason in why.
 */
static ssize_t
qr_header(struct queue_file_reader *r, off_t off, enum qf_rec *rec,
          size_t *len, struct dstr *why)
{
    ssize_t have;
    const char *p;
    size_t  max;
    size_t  i;
    size_t  nlen;
    size_t  start;
    unsigned long long v = 0;
    char    name[QF_NAME_MAX + 1];
    int     k;

    if (off >= r->file_size) {
        qr_err(r, why, off, "truncated: no end record");
        return -1;
    }
    if ((have = qr_fill(r, off, QF_HEADER_MAX)) < 0) {
        qf_why(why, "%s: read: %m", r->name);
        return -1;
    }
    p = r->buf + (off - r->buf_off);
    max = (size_t) have < QF_HEADER_MAX ? (size_t) have : QF_HEADER_MAX;

    /* The name: [a-z][a-z0-9_]*, at most QF_NAME_MAX, then one space. */
    for (i = 0; i < max && ((p[i] >= 'a' && p[i] <= 'z')
                            || (i > 0 && ((p[i] >= '0' && p[i] <= '9')
                                          || p[i] == '_'))); i++)
        ;
    nlen = i;
    if (nlen == 0 || nlen > QF_NAME_MAX) {
        qr_err(r, why, off, "bad record header: %s",
               nlen == 0 ? "no record name" : "record name too long");
        return -1;
    }
    if (i == max) {
        qr_err(r, why, off, "truncated record header");
        return -1;
    }
    if (p[i] != ' ') {
        qr_err(r, why, off, "bad record header: no space after the name");
        return -1;
    }
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    for (k = 0; k < QF_REC_COUNT; k++)
        if (strcmp(qf_recs[k].name, name) == 0)
            break;
    if (k == QF_REC_COUNT) {
        qr_err(r, why, off, "unknown record \"%s\"", name);
        return -1;
    }

    /* The length: 1 to QF_NUM_MAX digits, no leading zero, a newline. */
    start = ++i;
    for (; i < max && i - start < QF_NUM_MAX && p[i] >= '0' && p[i] <= '9';
         i++)
        v = v * 10 + (unsigned) (p[i] - '0');
    if (i == max && (size_t) have < QF_HEADER_MAX) {
        qr_err(r, why, off, "truncated record header");
        return -1;
    }
    if (i == start || i == max || p[i] != '\n'
        || (i - start > 1 && p[start] == '0')) {
        qr_err(r, why, off, "record \"%s\": bad length", name);
        return -1;
    }
    if (v > qf_recs[k].max) {
        qr_err(r, why, off, "record \"%s\": length %llu exceeds limit %zu",
               name, v, qf_recs[k].max);
        return -1;
    }
    /* The value and its newline must fit in the file. */
    i++;
    if ((unsigned long long) (r->file_size - off) < i + v + 1) {
        qr_err(r, why, off, "truncated: record \"%s\" needs %llu bytes, "
               "the file has %lld", name, v + 1,
               (long long) (r->file_size - off - (off_t) i));
        return -1;
    }
    *rec = (enum qf_rec) k;
    *len = (size_t) v;
    return (ssize_t) i;
}

/* qr_newline - the newline after a value */
static int
qr_newline(struct queue_file_reader *r, off_t at, const char *name,
           struct dstr *why)
{
    const char *p = qr_bytes(r, at, 1);

    if (p == NULL || *p != '\n') {
        qr_err(r, why, at, "record \"%s\": no newline after the value "
               "(wrong length?)", name);
        return -1;
    }
    return 0;
}

/* qr_number - a decimal value without sign or leading zeros, up to max */
static int
qr_number(const char *p, size_t len, long long max, long long *out)
{
    long long v = 0;

    if (len == 0 || (len > 1 && p[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        if (v > (max - (p[i] - '0')) / 10)
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* qr_word - the index of value in a NULL-padded name table, or -1 */
static int
qr_word(const char *p, size_t len, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (names[i] != NULL && strlen(names[i]) == len
            && memcmp(names[i], p, len) == 0)
            return i;
    return -1;
}

/* qr_notify - parse "NEVER" or a comma list of SUCCESS, FAILURE, DELAY */
static int
qr_notify(const char *p, size_t len, unsigned *out)
{
    unsigned bits = 0;
    size_t  start = 0;
    size_t  k;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != ',')
            continue;
        for (k = 0; k < sizeof(qf_notify_names) / sizeof(qf_notify_names[0]);
             k++)
            if (strlen(qf_notify_names[k].name) == i - start
                && memcmp(qf_notify_names[k].name, p + start, i - start) == 0)
                break;
        if (k == sizeof(qf_notify_names) / sizeof(qf_notify_names[0])
            || (bits & qf_notify_names[k].bit))
            return -1;
        bits |= qf_notify_names[k].bit;
        start = i + 1;
    }
    if (!qf_notify_ok(bits))
        return -1;
    *out = bits;
    return 0;
}

/* qr_arrival - "SECONDS.MICROSECONDS" (exactly six digits after the dot) */
static int
qr_arrival(const char *p, size_t len, long long *out)
{
    const char *dot = memchr(p, '.', len);
    long long sec;
    long long usec;
    size_t  slen;

    if (dot == NULL)
        return -1;
    slen = (size_t) (dot - p);
    if (len - slen - 1 != 6)
        return -1;
    if (qr_number(p, slen, LLONG_MAX / 1000000 - 1, &sec) < 0)
        return -1;
    usec = 0;
    for (size_t i = slen + 1; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        usec = usec * 10 + (p[i] - '0');
    }
    *out = sec * 1000000 + usec;
    return 0;
}

/* qr_string - the value as an owned C string; -1 on NUL, CR or LF */
static int
qr_string(const char *p, size_t len, const char **out)
{
    if (memchr(p, '\0', len) != NULL || memchr(p, '\n', len) != NULL
        || memchr(p, '\r', len) != NULL)
        return -1;
    *out = xstrndup(p, len);
    return 0;
}

/* qr_env_string - where a string record goes in the envelope */
static const char **
qr_env_string(struct queue_file_reader *r, enum qf_rec rec)
{
    struct queue_file_env *e = &r->env;

    switch (rec) {
    case QF_SENDER:
        return &e->sender;
    case QF_ENVID:
        return &e->envid;
    case QF_CLIENT_ADDR:
        return &e->client_addr;
    case QF_CLIENT_NAME:
        return &e->client_name;
    case QF_CLIENT_HELO:
        return &e->client_helo;
    case QF_PROTOCOL:
        return &e->protocol;
    case QF_SASL_USERNAME:
        return &e->sasl_username;
    case QF_TLS_PROTOCOL:
        return &e->tls_protocol;
    case QF_TLS_CIPHER:
        return &e->tls_cipher;
    case QF_TLS_PEER:
        return &e->tls_peer;
    case QF_CLIENT_CLASS:
        return &e->client_class;
    default:
        return NULL;
    }
}

#define QR_RCPT_NOTIFY  1
#define QR_RCPT_ORCPT   2

/* qr_value - store one envelope record's value; -1 with a reason */
static int
qr_value(struct queue_file_reader *r, enum qf_rec rec, const char *p,
         size_t len, off_t at, struct dstr *why)
{
    const char *name = qf_recs[rec].name;
    struct queue_file_rcpt *last;
    const char **slot;
    long long n;
    int     w;

    /* Only the recipient records may repeat. */
    if (rec != QF_RCPT && rec != QF_NOTIFY && rec != QF_ORCPT) {
        if (r->seen[rec]) {
            qr_err(r, why, at, "record \"%s\" appears twice", name);
            return -1;
        }
        r->seen[rec] = 1;
    }
    if ((slot = qr_env_string(r, rec)) != NULL) {
        if (qr_string(p, len, slot) < 0)
            goto bad_string;
        return 0;
    }
    switch (rec) {
    case QF_ID:
        if (len != QUEUE_ID_LEN)
            goto bad;
        memcpy(r->env.id, p, len);
        r->env.id[len] = '\0';
        if (!queue_id_valid(r->env.id))
            goto bad;
        return 0;
    case QF_ARRIVAL:
        if (qr_arrival(p, len, &r->env.arrival_us) < 0)
            goto bad;
        return 0;
    case QF_SIZE:
        if (qr_number(p, len, LLONG_MAX, &r->env.size) < 0)
            goto bad;
        return 0;
    case QF_RET:
        if ((w = qr_word(p, len, qf_ret_names, 3)) < 0)
            goto bad;
        r->env.ret = (enum queue_file_ret) w;
        return 0;
    case QF_BODY:
        if ((w = qr_word(p, len, qf_body_names, 4)) < 0)
            goto bad;
        r->env.body = (enum queue_file_body) w;
        return 0;
    case QF_SMTPUTF8:
        if (len != 3 || memcmp(p, "yes", 3) != 0)
            goto bad;
        r->env.smtputf8 = 1;
        return 0;
    case QF_PERSONALITY:
        if (len == 6 && memcmp(p, "normal", 6) == 0)
            r->env.stress = 0;
        else if (len == 6 && memcmp(p, "stress", 6) == 0)
            r->env.stress = 1;
        else
            goto bad;
        return 0;
    case QF_CLIENT_PORT:
        if (qr_number(p, len, QF_PORT_MAX, &n) < 0 || n == 0)
            goto bad;
        r->env.client_port = (int) n;
        return 0;
    case QF_TLS_BITS:
        if (qr_number(p, len, QF_BITS_MAX, &n) < 0 || n == 0)
            goto bad;
        r->env.tls_bits = (int) n;
        return 0;
    case QF_RCPT:
        if (r->env.rcpt_count >= QUEUE_FILE_RCPT_MAX) {
            qr_err(r, why, at, "more than %d recipients",
                   QUEUE_FILE_RCPT_MAX);
            return -1;
        }
        if (len == 0)
            goto bad;
        if (r->env.rcpt_count == r->rcpt_alloc) {
            r->rcpt_alloc = r->rcpt_alloc ? r->rcpt_alloc * 2 : 8;
            r->rcpts = xrealloc_array(r->rcpts, r->rcpt_alloc,
                                      sizeof(*r->rcpts));
        }
        last = r->rcpts + r->env.rcpt_count;
        memset(last, 0, sizeof(*last));
        if (qr_string(p, len, &last->address) < 0)
            goto bad_string;
        r->env.rcpt_count++;
        r->env.rcpt = r->rcpts;
        r->rcpt_seen = 0;
        return 0;
    case QF_NOTIFY:
    case QF_ORCPT:
        if (r->env.rcpt_count == 0) {
            qr_err(r, why, at, "record \"%s\" before any \"rcpt\"", name);
            return -1;
        }
        w = rec == QF_NOTIFY ? QR_RCPT_NOTIFY : QR_RCPT_ORCPT;
        if (r->rcpt_seen & w) {
            qr_err(r, why, at, "record \"%s\" twice for one recipient", name);
            return -1;
        }
        r->rcpt_seen |= (unsigned char) w;
        last = r->rcpts + r->env.rcpt_count - 1;
        if (rec == QF_NOTIFY ? qr_notify(p, len, &last->notify) < 0
            : qr_string(p, len, &last->orcpt) < 0)
            goto bad;
        return 0;
    default:
        break;
    }
    qr_err(r, why, at, "record \"%s\" unexpected here", name);
    return -1;

  bad:
    qr_err(r, why, at, "record \"%s\": invalid value", name);
    return -1;

  bad_string:
    qr_err(r, why, at, "record \"%s\": NUL or line break in the value "
           "(wrong length?)", name);
    return -1;
}

/* qr_parse - check the whole file and load the envelope */
static int
qr_parse(struct queue_file_reader *r, struct dstr *why)
{
    char    magic[QF_MAGIC_MAX];
    int     mlen = snprintf(magic, sizeof(magic), "%s %d\n",
                            QUEUE_FILE_MAGIC, QUEUE_FILE_VERSION);
    size_t  plen = strlen(QUEUE_FILE_MAGIC) + 1;
    const char *p;
    ssize_t hlen;
    enum qf_rec rec;
    size_t  len;
    long long content = 0;
    int     in_env = 0;
    size_t  avail;
    static const enum qf_rec required[] = {
        QF_ID, QF_ARRIVAL, QF_SENDER, QF_PERSONALITY, QF_SIZE,
    };

    /* The magic line: first the name, then the version. */
    avail = r->file_size < mlen ? (size_t) r->file_size : (size_t) mlen;
    if (avail == 0 || (p = qr_bytes(r, 0, avail)) == NULL
        || memcmp(p, magic, avail < plen ? avail : plen) != 0) {
        qr_err(r, why, 0, "not a queue file (no \"%s\" line)",
               QUEUE_FILE_MAGIC);
        return -1;
    }
    if (avail < (size_t) mlen && memcmp(p, magic, avail) == 0) {
        qr_err(r, why, 0, "truncated: in the magic line");
        return -1;
    }
    if (avail < (size_t) mlen || memcmp(p, magic, (size_t) mlen) != 0) {
        qr_err(r, why, 0, "unsupported queue file version (this is "
               "version %d)", QUEUE_FILE_VERSION);
        return -1;
    }
    r->off = mlen;
    r->content_start = r->off;

    /*
     * Each pass consumes at least one header byte, so the loop ends
     * within file_size passes; every length was checked against the file
     * size before anything is read or skipped.
     */
    for (;;) {
        off_t   at = r->off;

        if ((hlen = qr_header(r, at, &rec, &len, why)) < 0)
            return -1;
        r->off += hlen;
        if (rec == QF_CONTENT) {
            if (in_env) {
                qr_err(r, why, at, "content record after the envelope");
                return -1;
            }
            content += (long long) len;
            r->off += (off_t) len;
        } else if (rec == QF_END) {
            if (qr_newline(r, r->off, qf_recs[rec].name, why) < 0)
                return -1;
            r->off += 1;
            break;
        } else {
            in_env = 1;
            if ((p = qr_bytes(r, r->off, len)) == NULL) {
                qr_err(r, why, at, "truncated: record \"%s\"",
                       qf_recs[rec].name);
                return -1;
            }
            if (qr_value(r, rec, p, len, at, why) < 0)
                return -1;
            r->off += (off_t) len;
        }
        if (qr_newline(r, r->off, qf_recs[rec].name, why) < 0)
            return -1;
        r->off += 1;
    }
    if (r->off != r->file_size) {
        qr_err(r, why, r->off, "%lld bytes of garbage after the end record",
               (long long) (r->file_size - r->off));
        return -1;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!r->seen[required[i]]) {
            qr_err(r, why, r->off, "no \"%s\" record",
                   qf_recs[required[i]].name);
            return -1;
        }
    }
    if (r->env.rcpt_count == 0) {
        qr_err(r, why, r->off, "no \"rcpt\" record");
        return -1;
    }
    if (r->env.size != content) {
        qr_err(r, why, r->off, "size record says %lld, content has %lld "
               "bytes", r->env.size, content);
        return -1;
    }
    return 0;
}

/* qr_check_name - the file name, when it is a queue ID, must be the ID */
static int
qr_check_name(struct queue_file_reader *r, struct dstr *why)
{
    const char *base = strrchr(r->name, '/');

    base = base != NULL ? base + 1 : r->name;
    if (queue_id_valid(base) && strcmp(base, r->env.id) != 0) {
        errno = EINVAL;
        qf_why(why, "%s: file name does not match queue ID %s", r->name,
               r->env.id);
        return -1;
    }
    return 0;
}

/* queue_file_read_fd - check an open queue file and load its envelope */
struct queue_file_reader *
queue_file_read_fd(int fd, const char *name, struct dstr *why)
{
    struct queue_file_reader *r;
    struct stat st;
    int     saved;

    r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->name = xstrdup(name != NULL ? name : "queue file");
    r->buf = xmalloc(QF_INBUF);
    if (fstat(fd, &st) < 0) {
        qf_why(why, "%s: fstat: %m", r->name);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        qf_why(why, "%s: not a regular file", r->name);
        goto fail;
    }
    r->file_size = st.st_size;
    if (qr_parse(r, why) < 0 || qr_check_name(r, why) < 0)
        goto fail;
    r->rd_off = r->content_start;
    return r;

  fail:
    saved = errno;
    queue_file_read_close(r);
    errno = saved;
    return NULL;
}

/* queue_file_read_open - open and check a queue file by path */
struct queue_file_reader *
queue_file_read_open(const char *path, struct dstr *why)
{
    int     fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        qf_why(why, "%s: open: %m", path);
        return NULL;
    }
    return queue_file_read_fd(fd, path, why);
}

/* queue_file_read_env - the envelope, owned by the reader */
const struct queue_file_env *
queue_file_read_env(const struct queue_file_reader *r)
{
    return &r->env;
}

/*
 * queue_file_read_content - copy the next content bytes into buf.
 *
 * The whole file was checked at open, but it is read again here and may
 * have changed since (a person editing the queue, a broken disk), so
 * every record header is parsed and checked again; a mismatch is an
 * error, never a crash or a short message passed off as whole.
 */
ssize_t
queue_file_read_content(struct queue_file_reader *r, void *buf, size_t size,
                        struct dstr *why)
{
    enum qf_rec rec;
    size_t  len;
    ssize_t hlen;
    ssize_t n;
    size_t  want;

    while (r->rd_left == 0) {
        if (r->rd_done == r->env.size)
            return 0;
        if ((hlen = qr_header(r, r->rd_off, &rec, &len, why)) < 0)
            return -1;
        if (rec != QF_CONTENT) {
            qr_err(r, why, r->rd_off, "content ends early (file changed?)");
            return -1;
        }
        r->rd_off += hlen;
        r->rd_left = (long long) len;
        if (len == 0) {
            if (qr_newline(r, r->rd_off, "content", why) < 0)
                return -1;
            r->rd_off += 1;
        }
    }
    if (size == 0)
        return 0;
    want = (unsigned long long) r->rd_left < size ? (size_t) r->rd_left
        : size;
    do {
        n = pread(r->fd, buf, want, r->rd_off);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        qf_why(why, "%s: read: %m", r->name);
        return -1;
    }
    if (n == 0) {
        qr_err(r, why, r->rd_off, "truncated content (file changed?)");
        return -1;
    }
    r->rd_off += n;
    r->rd_left -= n;
    r->rd_done += n;
    if (r->rd_done > r->env.size) {
        qr_err(r, why, r->rd_off, "more content than the size record says "
               "(file changed?)");
        return -1;
    }
    if (r->rd_left == 0) {
        if (qr_newline(r, r->rd_off, "content", why) < 0)
            return -1;
        r->rd_off += 1;
    }
    return n;
}

/* queue_file_read_rewind - start the content over */
int
queue_file_read_rewind(struct queue_file_reader *r, struct dstr *why)
{
    (void) why;
    r->rd_off = r->content_start;
    r->rd_left = 0;
    r->rd_done = 0;
    return 0;
}

/* queue_file_read_close - close the file and free the reader */
struct queue_file_reader *
queue_file_read_close(struct queue_file_reader *r)
{
    if (r == NULL)
        return NULL;
    if (r->fd >= 0)
        (void) close(r->fd);
    free((void *) r->env.sender);
    free((void *) r->env.envid);
    free((void *) r->env.client_addr);
    free((void *) r->env.client_name);
    free((void *) r->env.client_helo);
    free((void *) r->env.protocol);
    free((void *) r->env.sasl_username);
    free((void *) r->env.tls_protocol);
    free((void *) r->env.tls_cipher);
    free((void *) r->env.tls_peer);
    free((void *) r->env.client_class);
    for (size_t i = 0; i < r->env.rcpt_count; i++) {
        free((void *) r->rcpts[i].address);
        free((void *) r->rcpts[i].orcpt);
    }
    free(r->rcpts);
    free(r->buf);
    free(r->name);
    free(r);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Uncommitted content                                                 */
/* ------------------------------------------------------------------ */

struct qf_extent {
    long long content_off;             /* first content byte in it */
    off_t   file_off;                  /* where that byte is in the file */
    size_t  len;
};

struct queue_file_content {
    struct queue_file_reader *r;       /* its descriptor and buffer */
    struct qf_extent *ext;
    size_t  count, alloc;
    long long size;
};

/*
 * queue_file_content_open - index the content records of tmp/ID: the
 * magic line, then content records up to the end of what was written
 * (an envelope record, if there is one, ends the content too).
 */
struct queue_file_content *
queue_file_content_open(const char *queue_dir, const char *id,
                        struct dstr *why)
{
    struct queue_file_content *c;
    struct queue_file_reader *r;
    struct dstr *path;
    struct stat st;
    char    magic[QF_MAGIC_MAX];
    int     mlen = snprintf(magic, sizeof(magic), "%s %d\n",
                            QUEUE_FILE_MAGIC, QUEUE_FILE_VERSION);
    const char *p;
    off_t   off;
    ssize_t hlen;
    enum qf_rec rec;
    size_t  len;
    int     fd, saved;

    if (!queue_id_valid(id)
        || (path = qf_path(queue_dir, QUEUE_DIRS_TMP, id)) == NULL) {
        errno = EINVAL;
        qf_why(why, "queue file: content: invalid arguments");
        return NULL;
    }
    fd = open(path->data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    dstr_free(path);
    if (fd < 0) {
        qf_why(why, "%s/%s: open: %m", QUEUE_DIRS_TMP, id);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    r = c->r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->name = xstrdup(id);
    r->buf = xmalloc(QF_INBUF);
    if (fstat(fd, &st) < 0) {
        qf_why(why, "%s: fstat: %m", id);
        goto fail;
    }
    r->file_size = st.st_size;
    if ((p = qr_bytes(r, 0, (size_t) mlen)) == NULL
        || memcmp(p, magic, (size_t) mlen) != 0) {
        qr_err(r, why, 0, "not a queue file of version %d",
               QUEUE_FILE_VERSION);
        goto fail;
    }
    for (off = mlen; off < r->file_size;) {
        if ((hlen = qr_header(r, off, &rec, &len, why)) < 0)
            goto fail;
        if (rec != QF_CONTENT)
            break;
        if (qr_newline(r, off + hlen + (off_t) len, qf_recs[rec].name,
                       why) < 0)
            goto fail;
        if (c->count == c->alloc) {
            c->alloc = c->alloc ? c->alloc * 2 : 16;
            c->ext = xrealloc_array(c->ext, c->alloc, sizeof(*c->ext));
        }
        c->ext[c->count].content_off = c->size;
        c->ext[c->count].file_off = off + hlen;
        c->ext[c->count].len = len;
        c->count++;
        c->size += (long long) len;
        off += hlen + (off_t) len + 1;
    }
    return c;

  fail:
    saved = errno;
    queue_file_content_close(c);
    errno = saved ? saved : EINVAL;
    return NULL;
}

/* queue_file_content_pread - content bytes at offset, within one record */
ssize_t
queue_file_content_pread(struct queue_file_content *c, long long offset,
                         void *buf, size_t size)
{
    size_t  lo = 0, hi = c->count, mid;
    const struct qf_extent *e;
    long long in;
    ssize_t n;

    if (offset < 0) {
        errno = EINVAL;
        return -1;
    }
    if (offset >= c->size || size == 0)
        return 0;
    while (hi - lo > 1) {               /* the last extent starting <= offset */
        mid = lo + (hi - lo) / 2;
        if (c->ext[mid].content_off <= offset)
            lo = mid;
        else
            hi = mid;
    }
    e = &c->ext[lo];
    in = offset - e->content_off;
    if ((long long) size > (long long) e->len - in)
        size = (size_t) ((long long) e->len - in);
    do
        n = pread(c->r->fd, buf, size, e->file_off + (off_t) in);
    while (n < 0 && errno == EINTR);
    if (n == 0 && size > 0) {
        errno = EIO;                    /* the file shrank under us */
        return -1;
    }
    return n;
}

/* queue_file_content_size - content bytes indexed */
long long
queue_file_content_size(const struct queue_file_content *c)
{
    return c->size;
}

/* queue_file_content_close - close and free; returns NULL */
struct queue_file_content *
queue_file_content_close(struct queue_file_content *c)
{
    if (c == NULL)
        return NULL;
    queue_file_read_close(c->r);
    free(c->ext);
    free(c);
    return NULL;
}
