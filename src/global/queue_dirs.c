/* queue_dirs - create, check and clean the queue directories. */

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "global/queue_dirs.h"
#include "global/queue_id.h"

const char *const queue_dirs_all[] = {
    QUEUE_DIRS_TMP, QUEUE_DIRS_INCOMING, QUEUE_DIRS_ACTIVE,
    QUEUE_DIRS_DEFERRED, QUEUE_DIRS_HOLD, QUEUE_DIRS_BOUNCE,
    QUEUE_DIRS_CORRUPT, NULL,
};

/* queue_dirs_why - set the reason (if wanted), keeping errno */
static int __attribute__((format(printf, 2, 3)))
queue_dirs_why(struct dstr *why, const char *fmt, ...)
{
    int     saved = errno;
    va_list ap;

    if (why != NULL) {
        dstr_reset(why);
        va_start(ap, fmt);
        (void) dstr_vappendf(why, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return -1;
}

/* queue_dirs_check_top - queue_dir: our directory, not writable by others */
static int
queue_dirs_check_top(const char *queue_dir, struct dstr *why)
{
    struct stat st;

    if (stat(queue_dir, &st) < 0)
        return queue_dirs_why(why, "%s: %m", queue_dir);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return queue_dirs_why(why, "%s: not a directory", queue_dir);
    }
    if (st.st_uid != geteuid()) {
        errno = EPERM;
        return queue_dirs_why(why, "%s: owned by uid %ld, expected uid %ld",
                              queue_dir, (long) st.st_uid, (long) geteuid());
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        errno = EPERM;
        return queue_dirs_why(why, "%s: mode %04o is writable by group or "
                              "others, expected at most 0755", queue_dir,
                              (unsigned) (st.st_mode & 07777));
    }
    return 0;
}

/* queue_dirs_check_sub - one subdirectory: real directory, ours, 0700 */
static int
queue_dirs_check_sub(int dfd, const char *name, struct dstr *why)
{
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return queue_dirs_why(why, "%s: %m", name);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return queue_dirs_why(why, "%s: not a directory", name);
    }
    if (st.st_uid != geteuid()) {
        errno = EPERM;
        return queue_dirs_why(why, "%s: owned by uid %ld, expected uid %ld",
                              name, (long) st.st_uid, (long) geteuid());
    }
    if ((st.st_mode & 07777) != QUEUE_DIRS_MODE) {
        errno = EPERM;
        return queue_dirs_why(why, "%s: mode %04o, expected %04o", name,
                              (unsigned) (st.st_mode & 07777),
                              (unsigned) QUEUE_DIRS_MODE);
    }
    return 0;
}

/* queue_dirs_open - open queue_dir itself, for the *at() calls */
static int
queue_dirs_open(const char *queue_dir, struct dstr *why)
{
    int     dfd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        return queue_dirs_why(why, "%s: open: %m", queue_dir);
    return dfd;
}

/* queue_dirs_check - check the layout without changing anything */
int
queue_dirs_check(const char *queue_dir, struct dstr *why)
{
    int     dfd;
    int     rc = 0;

    if (queue_dirs_check_top(queue_dir, why) < 0)
        return -1;
    if ((dfd = queue_dirs_open(queue_dir, why)) < 0)
        return -1;
    for (int i = 0; queue_dirs_all[i] != NULL && rc == 0; i++)
        rc = queue_dirs_check_sub(dfd, queue_dirs_all[i], why);
    (void) close(dfd);
    return rc;
}

/* queue_dirs_make_sub - make one subdirectory, or fix the mode of ours */
static int
queue_dirs_make_sub(int dfd, const char *name, struct dstr *why)
{
    struct stat st;

    if (mkdirat(dfd, name, QUEUE_DIRS_MODE) < 0 && errno != EEXIST)
        return queue_dirs_why(why, "%s: mkdir: %m", name);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return queue_dirs_why(why, "%s: %m", name);

    /*
     * mkdir() applies the umask, and an old directory may have been made
     * by hand: set the mode of a directory that is ours. Anything else
     * (a symbolic link, someone else's directory) is left for
     * queue_dirs_check() to refuse: we never chmod what we do not own.
     */
    if (S_ISDIR(st.st_mode) && st.st_uid == geteuid()
        && (st.st_mode & 07777) != QUEUE_DIRS_MODE
        && fchmodat(dfd, name, QUEUE_DIRS_MODE, 0) < 0)
        return queue_dirs_why(why, "%s: chmod: %m", name);
    return 0;
}

/* queue_dirs_create - make queue_dir and its subdirectories, then check */
int
queue_dirs_create(const char *queue_dir, struct dstr *why)
{
    int     dfd;
    int     rc = 0;

    if (mkdir(queue_dir, QUEUE_DIRS_MODE) == 0) {
        /* Ours, new: undo the umask. An existing one keeps its mode. */
        if (chmod(queue_dir, QUEUE_DIRS_MODE) < 0)
            return queue_dirs_why(why, "%s: chmod: %m", queue_dir);
    } else if (errno != EEXIST) {
        return queue_dirs_why(why, "%s: mkdir: %m", queue_dir);
    }
    if (queue_dirs_check_top(queue_dir, why) < 0)
        return -1;
    if ((dfd = queue_dirs_open(queue_dir, why)) < 0)
        return -1;
    for (int i = 0; queue_dirs_all[i] != NULL && rc == 0; i++)
        rc = queue_dirs_make_sub(dfd, queue_dirs_all[i], why);
    if (rc == 0 && fsync(dfd) < 0)
        rc = queue_dirs_why(why, "%s: fsync: %m", queue_dir);
    (void) close(dfd);
    if (rc < 0)
        return -1;
    return queue_dirs_check(queue_dir, why);
}

/*
 * queue_dirs_clean - remove tmp/ files that match: old enough, and (pid
 * >= 0) written by that process. Returns how many, or -1.
 */
static int
queue_dirs_clean(const char *queue_dir, long min_age, long pid,
                 struct dstr *why)
{
    int     dfd;
    int     tfd;
    DIR    *dir;
    struct dirent *de;
    struct stat st;
    struct queue_id_parts parts;
    time_t  now = time(NULL);
    int     removed = 0;

    if ((dfd = queue_dirs_open(queue_dir, why)) < 0)
        return -1;
    tfd = openat(dfd, QUEUE_DIRS_TMP,
                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    (void) close(dfd);
    if (tfd < 0)
        return queue_dirs_why(why, "%s: open: %m", QUEUE_DIRS_TMP);
    if ((dir = fdopendir(tfd)) == NULL) {
        queue_dirs_why(why, "%s: opendir: %m", QUEUE_DIRS_TMP);
        (void) close(tfd);
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (!queue_id_valid(de->d_name))
            continue;
        if (pid >= 0 && (queue_id_parse(de->d_name, &parts) < 0
                         || parts.pid != pid % QUEUE_DIRS_PID_MOD))
            continue;
        if (fstatat(tfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISREG(st.st_mode) || now - st.st_mtime < min_age)
            continue;
        if (unlinkat(tfd, de->d_name, 0) == 0)
            removed++;
        else if (errno != ENOENT) {
            queue_dirs_why(why, "%s/%s: unlink: %m", QUEUE_DIRS_TMP,
                           de->d_name);
            (void) closedir(dir);
            return -1;
        }
    }
    (void) closedir(dir);
    return removed;
}

/* queue_dirs_clean_tmp - files in tmp/ at least min_age seconds old */
int
queue_dirs_clean_tmp(const char *queue_dir, long min_age, struct dstr *why)
{
    return queue_dirs_clean(queue_dir, min_age, -1, why);
}

/* queue_dirs_clean_pid - files in tmp/ that a dead writer left */
int
queue_dirs_clean_pid(const char *queue_dir, long pid, struct dstr *why)
{
    return queue_dirs_clean(queue_dir, 0, pid, why);
}
