/*
 * NAME
 *     jail - chroot without root: one capability, held briefly, then none
 * SYNOPSIS
 *     #include "util/jail.h"
 *
 *     In the master's child, between fork and exec:
 *         jail_grant_prepare();  setresuid(...);  jail_grant_finish();
 *
 *     In the worker:
 *         if (jail_plan(dir, why) < 0) ...     (while single-threaded)
 *         ... open everything that lies outside dir; start threads,
 *             each of which calls jail_thread_start() first ...
 *         if (jail_enter(why) < 0) ...
 *         path = jail_path("/var/spool/doppel/private/policy");
 * DESCRIPTION
 *     A worker that runs as mail_owner cannot chroot: that takes
 *     CAP_SYS_CHROOT. The master, still root in the child it forked,
 *     keeps exactly that capability across the change to mail_owner and
 *     makes it ambient, so it survives exec (jail_grant_prepare() before
 *     setresuid, jail_grant_finish() after). The worker is never uid 0:
 *     it holds one capability, which cannot give root back, until it has
 *     opened its files and entered the jail, and then drops it.
 *
 *     A process without that capability (doppel started by a normal
 *     user) gets it from a user namespace of its own: jail_plan()
 *     unshares one that maps only the process's own uid and gid, so
 *     files it creates keep their owner.
 *
 *     jail_plan() records the directory to enter; from then on a thread
 *     that calls jail_thread_start() drops every capability at once (a
 *     capability belongs to a thread, not a process). jail_enter() makes
 *     the directory the root and the working directory, drops every
 *     capability of the calling thread, sets no_new_privs, and checks
 *     that nothing is left.
 *
 *     jail_path() says where an absolute path outside the jail is seen
 *     from inside it: the jail directory itself is "/", a path under it
 *     loses that prefix, anything else is returned unchanged (it then
 *     names a file inside the jail, as Postfix does for chrooted
 *     daemons). Before jail_enter() every path is returned unchanged.
 * RULES
 *     jail_grant_*() use only system calls and are safe between fork and
 *     exec; they return -1 with errno set. jail_plan() must run before
 *     the process starts a thread. The other functions return -1 with
 *     the reason appended to *why (which may be NULL).
 */
#ifndef DOPPEL_UTIL_JAIL_H
#define DOPPEL_UTIL_JAIL_H

#include "util/dstr.h"

int     jail_grant_prepare(void);
int     jail_grant_finish(void);

int     jail_plan(const char *dir, struct dstr *why);
int     jail_thread_start(void);
int     jail_enter(struct dstr *why);
const char *jail_path(const char *path);
const char *jail_root(void);
int     jail_capabilities_left(void);

#endif
