/*
 * NAME
 *     queue_dirs - the directories of the mail queue
 * SYNOPSIS
 *     #include "global/queue_dirs.h"
 *
 *     if (queue_dirs_create(queue_directory, why) < 0)
 *         log_fatal("queue %s: %s", queue_directory, why->data);
 * DESCRIPTION
 *     Under queue_directory, one subdirectory per message state:
 *
 *         tmp/       being written by doppel-smtpd (never read)
 *         incoming/  complete and acknowledged, waiting for delivery
 *         active/    taken by the delivery agent
 *         deferred/  waiting for a retry
 *         hold/      kept by the administrator
 *         bounce/    delivery status notifications being made
 *         corrupt/   files the reader refused, kept for a person
 *
 *     queue_dirs_create() makes queue_directory (if missing; its parent
 *     must exist) and every subdirectory, with mode 0700 whatever the
 *     umask. An existing subdirectory owned by the effective user with
 *     a wrong mode is set to 0700. Then it does queue_dirs_check().
 *
 *     queue_dirs_check() changes nothing. It checks that queue_directory
 *     is a directory owned by the effective user and not writable by
 *     group or others, and that each subdirectory is a real directory
 *     (not a symbolic link) owned by the effective user with mode 0700.
 *
 *     queue_dirs_clean_tmp() removes regular files in tmp/ whose name
 *     is a valid queue ID and whose modification time is at least
 *     min_age seconds old: what a writer left when its process died.
 *     It returns the number of files removed. A writer's temporary file
 *     changes with every chunk written, so min_age of an hour or more
 *     never removes a live one (and unlinking a tmp/ entry whose message
 *     already reached incoming/ through a rename lost in a crash only
 *     removes the stale name, never the message).
 *
 *     queue_dirs_clean_pid() removes the files in tmp/ whose queue ID
 *     names process pid (see queue_id.h): the master calls it when it
 *     reaps a worker, so a message that a killed worker was receiving
 *     (and never acknowledged) leaves nothing behind.
 * RULES
 *     Run by doppel-master as the mail owner (after dropping root), at
 *     start. Thread-safe; no global state. why may be NULL.
 * DIAGNOSTICS
 *     Each function returns -1 (errno kept where a system call failed)
 *     with the reason in why, e.g. "active: mode 0755, expected 0700";
 *     it never logs.
 * SEE ALSO
 *     global/queue_file.h, docs/queue-format.md
 */
#ifndef DOPPEL_GLOBAL_QUEUE_DIRS_H
#define DOPPEL_GLOBAL_QUEUE_DIRS_H

#include "util/dstr.h"

#define QUEUE_DIRS_TMP      "tmp"
#define QUEUE_DIRS_INCOMING "incoming"
#define QUEUE_DIRS_ACTIVE   "active"
#define QUEUE_DIRS_DEFERRED "deferred"
#define QUEUE_DIRS_HOLD     "hold"
#define QUEUE_DIRS_BOUNCE   "bounce"
#define QUEUE_DIRS_CORRUPT  "corrupt"

#define QUEUE_DIRS_MODE     0700
#define QUEUE_DIRS_PID_MOD  (1L << 30)  /* queue IDs keep the pid modulo this */

/* Every subdirectory name, NULL-terminated. */
extern const char *const queue_dirs_all[];

int     queue_dirs_create(const char *queue_dir, struct dstr *why);
int     queue_dirs_check(const char *queue_dir, struct dstr *why);
int     queue_dirs_clean_tmp(const char *queue_dir, long min_age,
                             struct dstr *why);
int     queue_dirs_clean_pid(const char *queue_dir, long pid,
                             struct dstr *why);

#endif
