/*
 * NAME
 *     queue_file - write and read doppel's durable queue files
 * SYNOPSIS
 *     #include "global/queue_file.h"
 *
 *     Writer (doppel-smtpd, on a worker thread, never in the event loop):
 *
 *     char id[QUEUE_ID_SIZE];
 *     queue_id_new(id, sizeof(id));              (log it, put it in Received:)
 *     qf = queue_file_create(queue_dir, id, received, received_len, why);
 *     while (more content)
 *         if (queue_file_append(qf, buf, n) < 0) ... 452, queue_file_abort()
 *     if (queue_file_size(qf) > message_size_limit) ... queue_file_abort()
 *     if (queue_file_commit(qf, &env, why) < 0)   (qf is gone either way)
 *         ... "452 4.3.1", nothing left on disk
 *     else
 *         ... "250 2.0.0 Ok: queued as ID"
 *
 *     Reader (doppel-relay, doppel queue show):
 *
 *     r = queue_file_read_open(path, why);      (NULL: corrupt/truncated)
 *     env = queue_file_read_env(r);
 *     while ((n = queue_file_read_content(r, buf, sizeof(buf), why)) > 0)
 *         ...
 *     r = queue_file_read_close(r);
 * DESCRIPTION
 *     A queue file holds one message: its content, stored byte for byte
 *     (8-bit, NUL bytes, bare CR or LF, lines of any length), starting
 *     with the Received: header the server added, and its envelope
 *     (struct queue_file_env). The format is in docs/queue-format.md:
 *     a magic line with a version, then records "NAME LENGTH\n" + LENGTH
 *     bytes + "\n": content records first, then the envelope records,
 *     then an end record. The envelope is written last, at commit,
 *     because only then is it final (the size is known, and a milter
 *     may still change the sender or the recipients at end of data).
 *
 *     Writing. queue_file_create() creates QUEUE_DIR/tmp/ID (O_EXCL,
 *     mode 0600) and buffers the received header bytes (received may be
 *     NULL when received_len is 0) as the start of the content. id is a
 *     queue ID from queue_id_new(); if id is NULL, a new one is made
 *     (queue_file_id() tells it). queue_file_append() adds content;
 *     content is buffered and written in records of QUEUE_FILE_CHUNK
 *     bytes. queue_file_size() is the number of bytes given to
 *     queue_file_append() so far (the received header not counted):
 *     what the caller checks against message_size_limit.
 *
 *     queue_file_commit() writes the rest of the content, the envelope
 *     and the end record, then fsync()s the file, closes it, renames
 *     tmp/ID to incoming/ID (never replacing an existing file), and
 *     fsync()s incoming/. It returns 0 only when all of that succeeded:
 *     only then may the client get 250. The writer fills in the ID, the
 *     size and (when env->arrival_us is 0) the arrival time: the time of
 *     queue_file_create(). env is only read, during the call.
 *
 *     Whatever fails, the writer removes its file (tmp/ID, or incoming/ID
 *     when the final directory fsync failed), so no partial or
 *     unacknowledged file is ever left behind. After a failed append
 *     every later call fails with the same errno; the caller ends every
 *     handle with exactly one queue_file_commit() or queue_file_abort():
 *     both free the handle. queue_file_abort() removes the file (for a
 *     session that ends before its message does) and returns NULL.
 *
 *     Reading. queue_file_read_open() opens a queue file and checks all
 *     of it before returning: the magic line and version, the syntax and
 *     limits of every record, the envelope (required fields present,
 *     none twice, values well-formed), that the content length equals
 *     the size record, that the end record is there and nothing follows
 *     it, and that the ID matches the file name when the name is a
 *     queue ID. queue_file_read_fd() does the same on an open file
 *     (which it then owns), name being used in messages and may be NULL.
 *     queue_file_read_env() returns the envelope, owned by the reader.
 *     queue_file_read_content() copies up to size bytes of content into
 *     buf and returns how many, 0 at the end of the content, -1 when the
 *     file changed under it; queue_file_read_rewind() starts the content
 *     over. queue_file_read_close() frees everything and returns NULL.
 *
 *     Before the commit (a milter reads the message at its end):
 *     queue_file_flush() writes the buffered content out as a record;
 *     queue_file_hold() makes the commit rename into hold/ instead of
 *     incoming/ (a quarantined message). queue_file_content_open()
 *     reads the content of QUEUE_DIR/tmp/ID as flushed so far (no
 *     envelope needed); queue_file_content_pread() copies up to size
 *     bytes at a content offset (fewer at a record boundary; 0 at the
 *     end; -1 on error) and queue_file_content_close() frees it. It
 *     keeps its descriptor, so it still reads after the writer removed
 *     the file.
 *
 *     Testing errors. queue_file_set_fault() installs a hook that the
 *     writer calls before each system call that can fail (see enum
 *     queue_file_op): it returns 0 to let the call happen, an errno
 *     value to make it fail with that errno, or QUEUE_FILE_FAULT_SHORT
 *     to make a write write less than asked. Inert (NULL) by default.
 * RULES
 *     A writer or reader handle belongs to one thread at a time; handles
 *     share no state, so any number may be used in parallel (several
 *     processes and threads may write the same queue). Nothing here
 *     logs and nothing exits, except on out of memory (util/xalloc.h).
 *     Install the fault hook only in tests, before any writer runs.
 *     Strings in an envelope may hold any byte but NUL, CR and LF
 *     (addresses are UTF-8 with SMTPUTF8, other fields may be 8-bit
 *     junk from the network); escape them before printing them for
 *     people. A sender, recipient, ORCPT or ENVID with CR or LF is
 *     refused (EINVAL: SMTP cannot have sent it); in the other strings
 *     (client names, HELO, TLS peer, ...) the writer stores CR and LF as
 *     "?". ENVID and ORCPT are kept as they were on the wire (xtext),
 *     so the relay can pass them on unchanged.
 * DIAGNOSTICS
 *     Writer functions return -1 (or NULL) with errno set by the failed
 *     system call (ENOSPC, EDQUOT, EIO, ...), or EINVAL for an envelope
 *     the format cannot hold (no recipient, a string over
 *     QUEUE_FILE_FIELD_MAX, more than QUEUE_FILE_RCPT_MAX recipients,
 *     a line break in an address), and a reason in why, e.g.
 *     "tmp/ID: write: No space left on device". queue_file_append()
 *     has no why: log errno with %m. Reader functions return NULL or
 *     -1 with errno (EINVAL for a bad file) and a reason in why:
 *     "incoming/ID: offset 1234: record "rcpt": length 9999999 exceeds
 *     limit 4096", "...: truncated: no end record". why may be NULL.
 * SEE ALSO
 *     global/queue_id.h, global/queue_dirs.h, docs/queue-format.md
 */
#ifndef DOPPEL_GLOBAL_QUEUE_FILE_H
#define DOPPEL_GLOBAL_QUEUE_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "util/dstr.h"
#include "global/queue_id.h"

#define QUEUE_FILE_MAGIC        "doppel-queue"
#define QUEUE_FILE_VERSION      1
#define QUEUE_FILE_CHUNK        65536  /* content bytes per record written */
#define QUEUE_FILE_CHUNK_MAX    (1024 * 1024)  /* accepted by the reader */
#define QUEUE_FILE_FIELD_MAX    4096   /* bytes in one envelope string */
#define QUEUE_FILE_RCPT_MAX     100000 /* recipients in one file */

/* DSN NOTIFY= (RFC 3461); 0 means the client gave none. */
#define QUEUE_FILE_NOTIFY_NEVER   (1u << 0)
#define QUEUE_FILE_NOTIFY_SUCCESS (1u << 1)
#define QUEUE_FILE_NOTIFY_FAILURE (1u << 2)
#define QUEUE_FILE_NOTIFY_DELAY   (1u << 3)

/* DSN RET= (RFC 3461). */
enum queue_file_ret {
    QUEUE_FILE_RET_NONE,               /* not given */
    QUEUE_FILE_RET_FULL,
    QUEUE_FILE_RET_HDRS,
};

/* MAIL FROM BODY= (RFC 6152, RFC 3030). */
enum queue_file_body {
    QUEUE_FILE_BODY_NONE,              /* not given */
    QUEUE_FILE_BODY_7BIT,
    QUEUE_FILE_BODY_8BITMIME,
    QUEUE_FILE_BODY_BINARYMIME,
};

struct queue_file_rcpt {
    const char *address;               /* RCPT TO, without <> */
    unsigned notify;                   /* QUEUE_FILE_NOTIFY_* bits, or 0 */
    const char *orcpt;                 /* ORCPT= as received, or NULL */
};

/*
 * The envelope. Zero-initialise it; NULL strings (and 0 numbers) are
 * "not known" and are not stored. sender is required ("" is the null
 * sender <>), and at least one recipient. The const pointers are the
 * caller's (the writer copies nothing); in an envelope returned by the
 * reader they point into memory that the reader owns.
 */
struct queue_file_env {
    char    id[QUEUE_ID_SIZE];         /* set by the writer */
    long long arrival_us;              /* microseconds since the epoch */
    long long size;                    /* content bytes; set by the writer */
    const char *sender;                /* MAIL FROM, without <> */
    enum queue_file_ret ret;
    const char *envid;                 /* ENVID= as received, or NULL */
    int     smtputf8;                  /* MAIL FROM had SMTPUTF8 */
    enum queue_file_body body;
    const struct queue_file_rcpt *rcpt;
    size_t  rcpt_count;
    const char *client_addr;           /* "192.0.2.1", "2001:db8::1" */
    int     client_port;               /* 0: unknown */
    const char *client_name;           /* verified name, or "unknown" */
    const char *client_helo;
    const char *protocol;              /* "SMTP", "ESMTP", "ESMTPS", ... */
    const char *sasl_username;         /* after AUTH, or NULL */
    const char *tls_protocol;          /* "TLSv1.3", or NULL without TLS */
    const char *tls_cipher;
    int     tls_bits;
    const char *tls_peer;              /* client certificate subject CN */
    int     stress;                    /* personality: 1 stress, 0 normal */
    const char *client_class;          /* "default", "preferred", ... */
};

/* What the fault hook is asked about. */
enum queue_file_op {
    QUEUE_FILE_OP_OPEN,                /* create tmp/ID */
    QUEUE_FILE_OP_WRITE,               /* each write(2) */
    QUEUE_FILE_OP_FSYNC,               /* fsync(2) of the file */
    QUEUE_FILE_OP_CLOSE,               /* close(2) of the file */
    QUEUE_FILE_OP_RENAME,              /* tmp/ID -> incoming/ID */
    QUEUE_FILE_OP_DIROPEN,             /* open(2) of incoming/ */
    QUEUE_FILE_OP_DIRSYNC,             /* fsync(2) of incoming/ */
};

#define QUEUE_FILE_FAULT_SHORT  (-1)   /* hook result: a short write */

typedef int queue_file_fault_fn(enum queue_file_op op, const char *path);

struct queue_file;
struct queue_file_reader;

/* Writer. */
struct queue_file *queue_file_create(const char *queue_dir, const char *id,
                                     const void *received,
                                     size_t received_len, struct dstr *why);
int     queue_file_append(struct queue_file *qf, const void *buf, size_t len);
long long queue_file_size(const struct queue_file *qf);
const char *queue_file_id(const struct queue_file *qf);
int     queue_file_commit(struct queue_file *qf,
                          const struct queue_file_env *env, struct dstr *why);
struct queue_file *queue_file_abort(struct queue_file *qf);
void    queue_file_set_fault(queue_file_fault_fn *fn);
int     queue_file_flush(struct queue_file *qf);
int     queue_file_hold(struct queue_file *qf);

/* Uncommitted content. */
struct queue_file_content;
struct queue_file_content *queue_file_content_open(const char *queue_dir,
                                                   const char *id,
                                                   struct dstr *why);
ssize_t queue_file_content_pread(struct queue_file_content *c,
                                 long long offset, void *buf, size_t size);
long long queue_file_content_size(const struct queue_file_content *c);
struct queue_file_content *queue_file_content_close(
                                     struct queue_file_content *c);

/* Reader. */
struct queue_file_reader *queue_file_read_open(const char *path,
                                               struct dstr *why);
struct queue_file_reader *queue_file_read_fd(int fd, const char *name,
                                             struct dstr *why);
const struct queue_file_env *queue_file_read_env(
                                     const struct queue_file_reader *r);
ssize_t queue_file_read_content(struct queue_file_reader *r, void *buf,
                                size_t size, struct dstr *why);
int     queue_file_read_rewind(struct queue_file_reader *r, struct dstr *why);
struct queue_file_reader *queue_file_read_close(struct queue_file_reader *r);

#endif
