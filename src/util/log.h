/*
 * NAME
 *     log - the one way doppel reports what happens
 * SYNOPSIS
 *     #include "util/log.h"
 * DESCRIPTION
 *     log_open() names the program ("doppel/smtpd") and picks a sink:
 *     standard error in the foreground, syslog for a daemon. Lines look
 *     like Postfix's: "warning: ", "error: ", "fatal: " and "panic: "
 *     prefixes; informational lines have none.
 *
 *     log_info/log_warn report; log_error is a recoverable failure in
 *     one session; log_fatal means the configuration or environment is
 *     unusable (exit 1); log_panic is our own bug (abort). All accept
 *     printf formats including %m for strerror(errno).
 *
 *     Logging never blocks: the syslog socket and standard error are
 *     written without waiting. A line the sink cannot take now is
 *     dropped and counted; the count is logged once the sink drains,
 *     and log_dropped() exports it for metrics.
 *
 *     The syslog socket is opened with the first line, and again after
 *     an error. log_connect() opens it now, for a process about to
 *     chroot; a reconnection from inside a jail finds JAIL/dev/log.
 *
 *     log_libevent() is a callback for event_set_log_callback(): what
 *     libevent and its resolver report ("Nameserver ... has failed")
 *     goes to the same sink, as "libevent: ..." at the matching level.
 * RULES
 *     Write "object: action: reason". Messages longer than LOG_LINE_MAX
 *     are cut with "..." at the end.
 *     Tests may install a capture function (every formatted line goes
 *     to it as well) and a fatal hook that is called instead of exit()
 *     or abort() and is expected not to return (longjmp).
 * SEE ALSO
 *     syslog(3)
 */
#ifndef DOPPEL_UTIL_LOG_H
#define DOPPEL_UTIL_LOG_H

#include <stdarg.h>

#define LOG_LINE_MAX 2048

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_FATAL,
    LOG_LEVEL_PANIC,
};

enum log_sink {
    LOG_SINK_STDERR,                   /* foreground, tests */
    LOG_SINK_SYSLOG,                   /* daemon: /dev/log, facility mail */
    LOG_SINK_NONE,                     /* only the capture function (tests) */
    LOG_SINK_TERMINAL,                 /* commands: "doppel: text", no pid */
};

typedef void log_capture_fn(enum log_level level, const char *line);
typedef void log_fatal_fn(enum log_level level);

void    log_open(const char *progname, enum log_sink sink);
void    log_set_level(enum log_level minimum);
void    log_set_capture(log_capture_fn *fn);
void    log_set_fatal_hook(log_fatal_fn *fn);
unsigned long log_dropped(void);
const char *log_progname(void);
void    log_connect(void);
void    log_libevent(int severity, const char *msg);

void    log_msg(enum log_level level, const char *fmt, ...)
            __attribute__((format(printf, 2, 3)));
void    log_vmsg(enum log_level level, const char *fmt, va_list ap)
            __attribute__((format(printf, 2, 0)));
void    log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void    log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void    log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void    log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void    log_fatal(const char *fmt, ...)
            __attribute__((format(printf, 1, 2), noreturn));
void    log_panic(const char *fmt, ...)
            __attribute__((format(printf, 1, 2), noreturn));

#endif
