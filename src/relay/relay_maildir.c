/* relay_maildir - one Maildir per recipient: tmp -> new with fsync. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/mailaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "global/queue_file.h"
#include "relay/relay_maildir.h"
#include "relay/relay_transport.h"

#define RM_PATH_MAX 4096
#define RM_UNIQUE_MAX 256
#define RM_BUF 65536

static atomic_ulong rm_seq;

/* relay_maildir_name - the directory name of a recipient's Maildir */
int
relay_maildir_name(struct dstr *out, const char *rcpt)
{
    const unsigned char *p;
    int     c;

    if (*rcpt == '\0')
        return -1;
    for (p = (const unsigned char *) rcpt; *p; p++) {
        c = tolower(*p);
        if ((isalnum(c) && c < 0x80) || strchr("@+-_=", c) != NULL
            || (c == '.' && p != (const unsigned char *) rcpt)) {
            if (dstr_append_char(out, c) < 0)
                return -1;
        } else if (dstr_appendf(out, "%%%02X", c) < 0) {
            return -1;
        }
    }
    return 0;
}

/* relay_maildir_unique - a file name no other delivery on this host uses */
int
relay_maildir_unique(char *buf, size_t size)
{
    struct timeval tv;
    char    host[256];
    char   *p;
    int     n;

    gettimeofday(&tv, NULL);
    if (gethostname(host, sizeof(host)) < 0)
        (void) str_copy(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    /* "/" and ":" would break the name or its info suffix */
    for (p = host; *p; p++)
        if (*p == '/' || *p == ':')
            *p = '_';
    n = snprintf(buf, size, "%lld.M%06ldP%ldQ%lu.%s", (long long) tv.tv_sec,
                 (long) tv.tv_usec, (long) getpid(),
                 (unsigned long) atomic_fetch_add(&rm_seq, 1) + 1, host);
    return n < 0 || (size_t) n >= size ? -1 : 0;
}

/* rm_mkdirs - BASE/NAME and its tmp, new and cur */
static int
rm_mkdirs(const char *base, const char *dir)
{
    static const char *const subs[] = {"tmp", "new", "cur"};
    char    path[RM_PATH_MAX];
    size_t  i;

    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    for (i = 0; i < 3; i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, subs[i])
            >= (int) sizeof(path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

/* rm_write_all - write everything or fail */
static int
rm_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t n;

    while (len > 0) {
        if ((n = write(fd, p, len)) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* rm_fsync_dir - make a directory entry durable */
static int
rm_fsync_dir(const char *path)
{
    int     fd, rc;

    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* relay_maildir_deliver - write one copy for one recipient */
int
relay_maildir_deliver(const char *base, struct queue_file_reader *r,
                      struct relay_rcpt *rcpt)
{
    const struct queue_file_env *env = queue_file_read_env(r);
    struct dstr *dir = dstr_new(256, RM_PATH_MAX), *head, *why;
    char    unique[RM_UNIQUE_MAX], tmp[RM_PATH_MAX], fin[RM_PATH_MAX];
    char    newdir[RM_PATH_MAX];
    const char *op = "mkdir";
    char   *buf = NULL;
    ssize_t n;
    int     fd = -1, saved;

    why = dstr_new(128, 1024);
    head = dstr_new(256, 3 * QUEUE_FILE_FIELD_MAX);
    if (dstr_appendf(dir, "%s/", base) < 0
        || relay_maildir_name(dir, rcpt->address) < 0) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    if (rm_mkdirs(base, dir->data) < 0)
        goto fail;
    op = "create";
    if (relay_maildir_unique(unique, sizeof(unique)) < 0
        || snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir->data, unique)
        >= (int) sizeof(tmp)
        || snprintf(fin, sizeof(fin), "%s/new/%s", dir->data, unique)
        >= (int) sizeof(fin)
        || snprintf(newdir, sizeof(newdir), "%s/new", dir->data)
        >= (int) sizeof(newdir)) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto fail;
    op = "write";
    (void) dstr_append_str(head, "Return-Path: <");
    (void) mailaddr_quote(head, env->sender);
    (void) dstr_append_str(head, ">\r\nDelivered-To: ");
    (void) mailaddr_quote(head, rcpt->address);
    if (dstr_append_str(head, "\r\n") < 0) {
        errno = EINVAL;
        goto fail;
    }
    if (rm_write_all(fd, head->data, head->len) < 0)
        goto fail;
    if (queue_file_read_rewind(r, why) < 0) {
        op = "read queue file";
        goto fail;
    }
    buf = xmalloc(RM_BUF);
    while ((n = queue_file_read_content(r, buf, RM_BUF, why)) > 0)
        if (rm_write_all(fd, buf, (size_t) n) < 0)
            goto fail;
    if (n < 0) {
        op = "read queue file";
        goto fail;
    }
    op = "fsync";
    if (fsync(fd) < 0)
        goto fail;
    op = "close";
    saved = close(fd);
    fd = -1;
    if (saved < 0)
        goto fail;
    op = "link into new";
    if (link(tmp, fin) < 0) {
        saved = errno;
        (void) unlink(tmp);
        errno = saved;
        goto fail;
    }
    (void) unlink(tmp);
    op = "fsync new";
    if (rm_fsync_dir(newdir) < 0)
        goto fail;
    relay_rcpt_set(rcpt, RELAY_RCPT_SENT, "2.0.0", NULL, 0,
                   "delivered to maildir %s", dir->data);
    free(buf);
    dstr_free(dir);
    dstr_free(head);
    dstr_free(why);
    return 0;

  fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
        (void) unlink(tmp);
    }
    if (why->len > 0)
        relay_rcpt_set(rcpt, RELAY_RCPT_DEFER, "4.3.0", NULL, 0,
                       "maildir %s: %s: %s", dir->data, op, why->data);
    else
        relay_rcpt_set(rcpt, RELAY_RCPT_DEFER,
                       saved == ENOSPC || saved == EDQUOT ? "4.2.2" : "4.2.0",
                       NULL, 0, "maildir %s: %s: %s", dir->data, op,
                       strerror(saved));
    free(buf);
    dstr_free(dir);
    dstr_free(head);
    dstr_free(why);
    return -1;
}
