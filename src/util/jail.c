/* jail - chroot with one capability held briefly, then none; see jail.h. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "util/jail.h"
#include "util/str.h"

static char jail_dir[PATH_MAX];        /* the directory; "" before plan */
static int jail_entered;

/* jail_caps - the calling thread's capability sets: get (set 0) or set */
static int
jail_caps(struct __user_cap_data_struct data[2], int set)
{
    struct __user_cap_header_struct head;

    memset(&head, 0, sizeof(head));
    head.version = _LINUX_CAPABILITY_VERSION_3;
    head.pid = 0;
    return (int) syscall(set ? SYS_capset : SYS_capget, &head, data);
}

/* jail_grant_prepare - root, before setresuid: keep capabilities over it */
int
jail_grant_prepare(void)
{
    return prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L);
}

/*
 * jail_grant_finish - after setresuid: CAP_SYS_CHROOT alone, ambient so
 * that exec keeps it
 */
int
jail_grant_finish(void)
{
    struct __user_cap_data_struct data[2];
    unsigned idx = CAP_TO_INDEX(CAP_SYS_CHROOT);

    memset(data, 0, sizeof(data));
    data[idx].effective = CAP_TO_MASK(CAP_SYS_CHROOT);
    data[idx].permitted = CAP_TO_MASK(CAP_SYS_CHROOT);
    data[idx].inheritable = CAP_TO_MASK(CAP_SYS_CHROOT);
    if (jail_caps(data, 1) < 0
        || prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0)
        return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (long) CAP_SYS_CHROOT,
                 0L, 0L);
}

/* jail_can_chroot - is CAP_SYS_CHROOT in the effective set */
static int
jail_can_chroot(void)
{
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (jail_caps(data, 0) < 0)
        return 0;
    return (data[CAP_TO_INDEX(CAP_SYS_CHROOT)].effective
            & CAP_TO_MASK(CAP_SYS_CHROOT)) != 0;
}

/* jail_write_file - a short text into a /proc file */
static int
jail_write_file(const char *path, const char *text)
{
    int     fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    (void) close(fd);
    return n == (ssize_t) strlen(text) ? 0 : -1;
}

/* jail_user_namespace - our own user namespace, mapping our ids only */
static int
jail_user_namespace(struct dstr *why)
{
    char    map[64];
    unsigned long uid = (unsigned long) getuid(), gid = (unsigned long) getgid();

    if (unshare(CLONE_NEWUSER) < 0) {
        if (why != NULL)
            (void) dstr_appendf(why, "cannot chroot: no CAP_SYS_CHROOT, and"
                                " no user namespace either (%s): start"
                                " doppel-master as root, or allow"
                                " unprivileged user namespaces",
                                strerror(errno));
        return -1;
    }
    snprintf(map, sizeof(map), "%lu %lu 1\n", uid, uid);
    if (jail_write_file("/proc/self/setgroups", "deny\n") < 0
        || jail_write_file("/proc/self/uid_map", map) < 0
        || (snprintf(map, sizeof(map), "%lu %lu 1\n", gid, gid) < 0)
        || jail_write_file("/proc/self/gid_map", map) < 0) {
        if (why != NULL)
            (void) dstr_appendf(why, "user namespace: cannot map ids: %s",
                                strerror(errno));
        return -1;
    }
    return 0;
}

/* jail_plan - remember dir; make sure we may chroot there later */
int
jail_plan(const char *dir, struct dstr *why)
{
    size_t  len;

    if (dir == NULL || dir[0] != '/') {
        if (why != NULL)
            (void) dstr_appendf(why, "chroot directory \"%s\" is not an"
                                " absolute path", dir ? dir : "");
        return -1;
    }
    if (str_copy(jail_dir, sizeof(jail_dir), dir) < 0) {
        jail_dir[0] = '\0';
        if (why != NULL)
            (void) dstr_append_str(why, "chroot directory: name too long");
        return -1;
    }
    for (len = strlen(jail_dir); len > 1 && jail_dir[len - 1] == '/'; len--)
        jail_dir[len - 1] = '\0';
    if (!jail_can_chroot() && jail_user_namespace(why) < 0) {
        jail_dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* jail_drop - no capabilities left in the calling thread, none to gain */
static int
jail_drop(void)
{
    struct __user_cap_data_struct data[2];

    /* EINVAL: a kernel before 4.3 has no ambient set to clear */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0
        && errno != EINVAL)
        return -1;
    memset(data, 0, sizeof(data));
    if (jail_caps(data, 1) < 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        return -1;
    return jail_capabilities_left() ? -1 : 0;
}

/* jail_thread_start - a new thread of a process bound for the jail */
int
jail_thread_start(void)
{
    if (jail_dir[0] == '\0')
        return 0;
    return jail_drop();
}

/* jail_enter - chroot into the planned directory; drop everything */
int
jail_enter(struct dstr *why)
{
    if (jail_dir[0] == '\0') {
        if (why != NULL)
            (void) dstr_append_str(why, "chroot: no directory planned");
        return -1;
    }
    if (chdir(jail_dir) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        if (why != NULL)
            (void) dstr_appendf(why, "chroot %s: %s", jail_dir,
                                strerror(errno));
        return -1;
    }
    jail_entered = 1;
    if (jail_drop() < 0) {
        if (why != NULL)
            (void) dstr_appendf(why, "chroot %s: cannot drop capabilities:"
                                " %s", jail_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* jail_path - where path is seen from inside the jail */
const char *
jail_path(const char *path)
{
    size_t  len = strlen(jail_dir);

    if (!jail_entered || path == NULL || len <= 1
        || strncmp(path, jail_dir, len) != 0)
        return path;
    if (path[len] == '\0')
        return "/";
    return path[len] == '/' ? path + len : path;
}

/* jail_root - the directory we are jailed in, or NULL */
const char *
jail_root(void)
{
    return jail_entered ? jail_dir : NULL;
}

/* jail_capabilities_left - does the calling thread hold any capability */
int
jail_capabilities_left(void)
{
    struct __user_cap_data_struct data[2];
    int     i;

    memset(data, 0, sizeof(data));
    if (jail_caps(data, 0) < 0)
        return 1;
    for (i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return 1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET,
                 (long) CAP_SYS_CHROOT, 0L, 0L) == 1;
}
