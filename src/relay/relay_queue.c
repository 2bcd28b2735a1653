/* relay_queue - moves between queue directories, crash-safe; see relay_queue.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "relay/relay_queue.h"

#define RQ_PATH_MAX 4096
#define RQ_COPY_BUF 65536

/* rq_path - "QDIR/SUB/ID" (or "QDIR/SUB" when id is NULL) into a dstr */
static struct dstr *
rq_path(const char *qdir, const char *sub, const char *id)
{
    struct dstr *d = dstr_new(128, RQ_PATH_MAX);

    if (id != NULL)
        (void) dstr_appendf(d, "%s/%s/%s", qdir, sub, id);
    else
        (void) dstr_appendf(d, "%s/%s", qdir, sub);
    return d;
}

/* rq_fsync_dir - make a directory's entries durable */
static int
rq_fsync_dir(const char *qdir, const char *sub, struct dstr *why)
{
    struct dstr *p = rq_path(qdir, sub, NULL);
    int     fd, ret = 0, saved;

    fd = open(p->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        saved = errno;
        (void) dstr_appendf(why, "%s: fsync: %s", sub, strerror(saved));
        errno = saved;
        ret = -1;
    }
    if (fd >= 0)
        close(fd);
    dstr_free(p);
    return ret;
}

/* rq_rename - SUB1/ID to SUB2/ID; replace: may an existing target go */
static int
rq_rename(const char *qdir, const char *from, const char *to, const char *id,
          int replace, struct dstr *why)
{
    struct dstr *a = rq_path(qdir, from, id), *b = rq_path(qdir, to, id);
    int     rc, saved;

    if (replace)
        rc = rename(a->data, b->data);
    else
        rc = renameat2(AT_FDCWD, a->data, AT_FDCWD, b->data, RENAME_NOREPLACE);
    saved = errno;
    if (rc < 0 && why != NULL)
        (void) dstr_appendf(why, "%s/%s: rename to %s: %s", from, id, to,
                            strerror(saved));
    dstr_free(a);
    dstr_free(b);
    errno = saved;
    return rc;
}

/* relay_queue_lock - one relay per queue directory */
int
relay_queue_lock(const char *qdir, struct dstr *why)
{
    struct dstr *p = dstr_new(128, RQ_PATH_MAX);
    int     fd, saved;

    (void) dstr_appendf(p, "%s/%s", qdir, RELAY_QUEUE_LOCK);
    fd = open(p->data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        saved = errno;
        (void) dstr_appendf(why, "%s: %s", p->data,
                            saved == EWOULDBLOCK ? "another doppel-relay"
                            " holds the lock" : strerror(saved));
        if (fd >= 0)
            close(fd);
        dstr_free(p);
        errno = saved;
        return -1;
    }
    dstr_free(p);
    return fd;
}

/* relay_queue_scan - up to max IDs of SUB, oldest first */
int
relay_queue_scan(const char *qdir, const char *sub, time_t not_after,
                 char (*ids)[QUEUE_ID_SIZE], size_t max, struct dstr *why)
{
    struct dstr *p = rq_path(qdir, sub, NULL);
    DIR    *dir;
    struct dirent *de;
    struct stat st;
    size_t  n = 0;
    int     dfd;

    if ((dir = opendir(p->data)) == NULL) {
        (void) dstr_appendf(why, "%s: opendir: %s", sub, strerror(errno));
        dstr_free(p);
        return -1;
    }
    dfd = dirfd(dir);
    while (n < max && (de = readdir(dir)) != NULL) {
        if (!queue_id_valid(de->d_name))
            continue;
        if (not_after > 0) {
            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
                || st.st_mtime > not_after)
                continue;
        }
        memcpy(ids[n], de->d_name, QUEUE_ID_SIZE);
        n++;
    }
    closedir(dir);
    dstr_free(p);
    qsort(ids, n, QUEUE_ID_SIZE, (int (*)(const void *, const void *)) strcmp);
    return (int) n;
}

/* relay_queue_recover - active/ back to incoming/ after a crash */
int
relay_queue_recover(const char *qdir, struct dstr *why)
{
    char    (*ids)[QUEUE_ID_SIZE];
    struct dstr *p;
    int     n, i, moved = 0;
    enum { BATCH = 4096 };

    ids = xcalloc(BATCH, QUEUE_ID_SIZE);
    for (;;) {
        if ((n = relay_queue_scan(qdir, QUEUE_DIRS_ACTIVE, 0, ids, BATCH,
                                  why)) <= 0)
            break;
        for (i = 0; i < n; i++) {
            /* a rewrite that reached deferred/ already: that one counts */
            p = rq_path(qdir, QUEUE_DIRS_DEFERRED, ids[i]);
            if (access(p->data, F_OK) == 0) {
                dstr_free(p);
                p = rq_path(qdir, QUEUE_DIRS_ACTIVE, ids[i]);
                (void) unlink(p->data);
                dstr_free(p);
                continue;
            }
            dstr_free(p);
            if (rq_rename(qdir, QUEUE_DIRS_ACTIVE, QUEUE_DIRS_INCOMING, ids[i],
                          0, NULL) == 0) {
                moved++;
                continue;
            }
            if (errno != EEXIST)
                goto out;
            /* a rewrite was cut short: incoming/ID is the newer file */
            p = rq_path(qdir, QUEUE_DIRS_ACTIVE, ids[i]);
            (void) unlink(p->data);
            dstr_free(p);
        }
        if (n < BATCH)
            break;
    }
  out:
    free(ids);
    if (n < 0)
        return -1;
    if (moved > 0 && rq_fsync_dir(qdir, QUEUE_DIRS_INCOMING, why) < 0)
        return -1;
    return moved;
}

/* relay_queue_take - FROM/ID to active/ID: 1 taken, 0 gone */
int
relay_queue_take(const char *qdir, const char *from, const char *id,
                 struct dstr *why)
{
    if (!queue_id_valid(id)) {
        (void) dstr_appendf(why, "invalid queue ID");
        errno = EINVAL;
        return -1;
    }
    if (rq_rename(qdir, from, QUEUE_DIRS_ACTIVE, id, 0, why) == 0)
        return 1;
    return errno == ENOENT ? 0 : -1;
}

/* rq_remove_reasons - forget the deferral reasons of ID */
static void
rq_remove_reasons(const char *qdir, const char *id)
{
    struct dstr *p = rq_path(qdir, RELAY_QUEUE_DEFER, id);

    (void) unlink(p->data);
    dstr_free(p);
}

/* relay_queue_done - every recipient is done: the message goes */
int
relay_queue_done(const char *qdir, const char *id, struct dstr *why)
{
    struct dstr *p = rq_path(qdir, QUEUE_DIRS_ACTIVE, id);
    int     saved;

    if (unlink(p->data) < 0) {
        saved = errno;
        (void) dstr_appendf(why, "active/%s: unlink: %s", id, strerror(saved));
        dstr_free(p);
        errno = saved;
        return -1;
    }
    dstr_free(p);
    rq_remove_reasons(qdir, id);
    return rq_fsync_dir(qdir, QUEUE_DIRS_ACTIVE, why);
}

/* relay_queue_write_reasons - QDIR/defer/ID, written whole or not at all */
int
relay_queue_write_reasons(const char *qdir, const char *id,
                          const char *reasons, struct dstr *why)
{
    struct dstr *dir = rq_path(qdir, RELAY_QUEUE_DEFER, NULL);
    struct dstr *tmp = dstr_new(128, RQ_PATH_MAX);
    struct dstr *fin = rq_path(qdir, RELAY_QUEUE_DEFER, id);
    size_t  len = strlen(reasons), off = 0;
    ssize_t n;
    int     fd, ret = -1;

    if (len > RELAY_QUEUE_REASONS_MAX)
        len = RELAY_QUEUE_REASONS_MAX;
    if (mkdir(dir->data, 0700) < 0 && errno != EEXIST) {
        (void) dstr_appendf(why, "%s: mkdir: %s", RELAY_QUEUE_DEFER,
                            strerror(errno));
        goto out;
    }
    (void) dstr_appendf(tmp, "%s/.%s.tmp", dir->data, id);
    fd = open(tmp->data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0) {
        (void) dstr_appendf(why, "defer/%s: open: %s", id, strerror(errno));
        goto out;
    }
    while (off < len) {
        if ((n = write(fd, reasons + off, len - off)) <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t) n;
    }
    if (close(fd) < 0 || off < len || rename(tmp->data, fin->data) < 0) {
        (void) dstr_appendf(why, "defer/%s: write: %s", id, strerror(errno));
        (void) unlink(tmp->data);
        goto out;
    }
    ret = 0;
  out:
    dstr_free(dir);
    dstr_free(tmp);
    dstr_free(fin);
    return ret;
}

/*
 * rq_rewrite - a new queue file with the waiting recipients only. The
 * writer publishes into incoming/ (under the same ID: the old file is in
 * active/, so the name is free); the caller moves it on. Until the old
 * file is removed, a crash leaves both, and relay_queue_recover() keeps
 * the new one.
 */
static int
rq_rewrite(const char *qdir, const char *id, struct queue_file_reader *r,
           const int *keep, struct dstr *why)
{
    const struct queue_file_env *old = queue_file_read_env(r);
    struct queue_file_env env = *old;
    struct queue_file_rcpt *rcpt;
    struct queue_file *qf;
    struct dstr *tmp;
    char   *buf;
    ssize_t n;
    size_t  i, k = 0;

    rcpt = xcalloc(old->rcpt_count, sizeof(*rcpt));
    for (i = 0; i < old->rcpt_count; i++)
        if (keep[i])
            rcpt[k++] = old->rcpt[i];
    env.rcpt = rcpt;
    env.rcpt_count = k;
    /*
     * A rewrite cut short by a crash may have left tmp/ID. The ID is ours
     * alone while we hold active/ID (IDs are never reused), so it goes.
     */
    tmp = rq_path(qdir, QUEUE_DIRS_TMP, id);
    (void) unlink(tmp->data);
    dstr_free(tmp);
    if (queue_file_read_rewind(r, why) < 0
        || (qf = queue_file_create(qdir, id, NULL, 0, why)) == NULL) {
        free(rcpt);
        return -1;
    }
    buf = xmalloc(RQ_COPY_BUF);
    while ((n = queue_file_read_content(r, buf, RQ_COPY_BUF, why)) > 0)
        if (queue_file_append(qf, buf, (size_t) n) < 0) {
            (void) dstr_appendf(why, "tmp/%s: write: %s", id, strerror(errno));
            n = -1;
            break;
        }
    free(buf);
    if (n < 0) {
        (void) queue_file_abort(qf);
        free(rcpt);
        return -1;
    }
    env.size = 0;
    n = queue_file_commit(qf, &env, why);
    free(rcpt);
    return n < 0 ? -1 : 0;
}

/* relay_queue_defer - active/ID waits in deferred/ until retry_at */
int
relay_queue_defer(const char *qdir, const char *id,
                  struct queue_file_reader *r, const int *keep,
                  time_t retry_at, const char *reasons, struct dstr *why)
{
    const struct queue_file_env *env = queue_file_read_env(r);
    struct timeval tv[2];
    struct dstr *p;
    size_t  i, nkeep = 0;
    int     ret;

    for (i = 0; i < env->rcpt_count; i++)
        nkeep += keep[i] != 0;
    if (nkeep == 0) {
        (void) dstr_appendf(why, "%s: defer without recipients", id);
        errno = EINVAL;
        return -1;
    }
    /* the reasons first: a message in deferred/ without them is harmless */
    if (reasons != NULL && relay_queue_write_reasons(qdir, id, reasons, why) < 0)
        dstr_truncate(why, 0);         /* cosmetic: go on without them */
    if (nkeep == env->rcpt_count) {
        if (rq_rename(qdir, QUEUE_DIRS_ACTIVE, QUEUE_DIRS_DEFERRED, id, 0,
                      why) < 0)
            return -1;
    } else {
        if (rq_rewrite(qdir, id, r, keep, why) < 0)
            return -1;
        if (rq_rename(qdir, QUEUE_DIRS_INCOMING, QUEUE_DIRS_DEFERRED, id, 0,
                      why) < 0)
            return -1;
        p = rq_path(qdir, QUEUE_DIRS_ACTIVE, id);
        ret = unlink(p->data);
        dstr_free(p);
        if (ret < 0) {
            (void) dstr_appendf(why, "active/%s: unlink: %s", id,
                                strerror(errno));
            return -1;
        }
        if (rq_fsync_dir(qdir, QUEUE_DIRS_ACTIVE, why) < 0)
            return -1;
    }
    p = rq_path(qdir, QUEUE_DIRS_DEFERRED, id);
    tv[0].tv_sec = tv[1].tv_sec = retry_at;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    ret = utimes(p->data, tv);
    dstr_free(p);
    if (ret < 0) {
        (void) dstr_appendf(why, "deferred/%s: utimes: %s", id,
                            strerror(errno));
        return -1;
    }
    return rq_fsync_dir(qdir, QUEUE_DIRS_DEFERRED, why);
}

/* relay_queue_corrupt - keep a refused file for a person */
int
relay_queue_corrupt(const char *qdir, const char *id, struct dstr *why)
{
    return rq_rename(qdir, QUEUE_DIRS_ACTIVE, QUEUE_DIRS_CORRUPT, id, 1, why);
}

/* relay_queue_backoff - the wait before the next attempt */
long long
relay_queue_backoff(long long age_ms, long long min_ms, long long max_ms)
{
    long long wait = age_ms;

    if (max_ms < min_ms)
        max_ms = min_ms;
    if (wait < min_ms)
        wait = min_ms;
    if (wait > max_ms)
        wait = max_ms;
    return wait;
}
