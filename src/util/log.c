/*
 * log - non-blocking logging to standard error or syslog; see log.h.
 *
 * We speak to the syslog socket ourselves instead of calling syslog(3)
 * because glibc's syslog() blocks when the socket buffer is full, and a
 * worker's event loop must never wait for the logger. Lines are sent
 * with MSG_DONTWAIT; what cannot be sent is counted, and the count is
 * reported by the first line that gets through afterwards.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"

#define LOG_SYSLOG_PATH "/dev/log"
#define LOG_FACILITY_MAIL (2 << 3)

static char log_name[64] = "doppel";
static enum log_sink log_sink_kind = LOG_SINK_STDERR;
static enum log_level log_minimum = LOG_LEVEL_INFO;
static log_capture_fn *log_capture;
static log_fatal_fn *log_fatal_hook;
static int log_syslog_fd = -1;
static unsigned long log_drop_count;    /* lines lost, ever */
static unsigned long log_drop_unreported;       /* lost since last report */

static const char *const log_prefix[] = {
    [LOG_LEVEL_DEBUG] = "debug: ",
    [LOG_LEVEL_INFO] = "",
    [LOG_LEVEL_WARN] = "warning: ",
    [LOG_LEVEL_ERROR] = "error: ",
    [LOG_LEVEL_FATAL] = "fatal: ",
    [LOG_LEVEL_PANIC] = "panic: ",
};

/* syslog severities for our levels */
static const int log_severity[] = {
    [LOG_LEVEL_DEBUG] = 7,
    [LOG_LEVEL_INFO] = 6,
    [LOG_LEVEL_WARN] = 4,
    [LOG_LEVEL_ERROR] = 3,
    [LOG_LEVEL_FATAL] = 2,
    [LOG_LEVEL_PANIC] = 2,
};

/* log_open - name the program and choose the sink */
void
log_open(const char *progname, enum log_sink sink)
{
    snprintf(log_name, sizeof(log_name), "%s", progname);
    log_sink_kind = sink;
    if (log_syslog_fd >= 0) {
        close(log_syslog_fd);
        log_syslog_fd = -1;
    }
}

/* log_set_level - drop messages below this level */
void
log_set_level(enum log_level minimum)
{
    log_minimum = minimum;
}

/* log_set_capture - also hand every formatted line to fn (tests) */
void
log_set_capture(log_capture_fn *fn)
{
    log_capture = fn;
}

/* log_set_fatal_hook - call fn instead of exiting (tests) */
void
log_set_fatal_hook(log_fatal_fn *fn)
{
    log_fatal_hook = fn;
}

/* log_dropped - lines dropped because the sink was full, ever */
unsigned long
log_dropped(void)
{
    return log_drop_count;
}

/* log_progname - the name given to log_open() */
const char *
log_progname(void)
{
    return log_name;
}

/* log_syslog_connect - open the syslog datagram socket, non-blocking */
static int
log_syslog_connect(void)
{
    struct sockaddr_un sun;

    if (log_syslog_fd >= 0)
        return 0;
    log_syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                           0);
    if (log_syslog_fd < 0)
        return -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, LOG_SYSLOG_PATH, sizeof(LOG_SYSLOG_PATH));
    if (connect(log_syslog_fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        close(log_syslog_fd);
        log_syslog_fd = -1;
        return -1;
    }
    return 0;
}

/* log_connect - open the sink's socket now (a chroot is coming) */
void
log_connect(void)
{
    if (log_sink_kind == LOG_SINK_SYSLOG)
        (void) log_syslog_connect();
}

/* log_libevent - libevent's own messages, through our sink */
void
log_libevent(int severity, const char *msg)
{
    static const struct {
        int     severity;
        enum log_level level;
    } map[] = {
        {EVENT_LOG_DEBUG, LOG_LEVEL_DEBUG},
        {EVENT_LOG_MSG, LOG_LEVEL_INFO},
        {EVENT_LOG_WARN, LOG_LEVEL_WARN},
        {EVENT_LOG_ERR, LOG_LEVEL_ERROR},
    };
    enum log_level level = LOG_LEVEL_WARN;
    size_t  i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].severity == severity)
            level = map[i].level;
    log_msg(level, "libevent: %s", msg ? msg : "");
}

/* log_write_stderr - one line to fd 2; -1 if it would block */
static int
log_write_stderr(const char *line, size_t len)
{
    ssize_t n;

    /*
     * A short or refused write to a pipe that the reader does not
     * drain must not stall us. We do not make fd 2 non-blocking (that
     * would change it for whoever shares it); a terminal or file does
     * not block for long, and a full pipe shows as EAGAIN only if the
     * parent made it non-blocking, which doppel-master does.
     */
    n = write(STDERR_FILENO, line, len);
    return n == (ssize_t) len ? 0 : -1;
}

/* log_write_stderr_line - "name[pid]: msg" and a newline to fd 2 */
static int
log_write_stderr_line(const char *msg)
{
    char    line[LOG_LINE_MAX + 96];
    int     n;

    if (log_sink_kind == LOG_SINK_TERMINAL)
        n = snprintf(line, sizeof(line), "%s: %s\n", log_name, msg);
    else
        n = snprintf(line, sizeof(line), "%s[%ld]: %s\n", log_name,
                     (long) getpid(), msg);
    if (n < 0)
        return -1;
    if ((size_t) n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    return log_write_stderr(line, (size_t) n);
}

/* log_write_syslog - one line to the syslog socket; -1 if not taken */
static int
log_write_syslog(enum log_level level, const char *text)
{
    char    buf[LOG_LINE_MAX + 128];
    char    stamp[32];
    time_t  now = time(NULL);
    struct tm tm;
    int     n;

    /* no syslog daemon (a container, a test): a whole line on fd 2 */
    if (log_syslog_connect() < 0)
        return log_write_stderr_line(text);
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    n = snprintf(buf, sizeof(buf), "<%d>%s %s[%ld]: %s",
                 LOG_FACILITY_MAIL | log_severity[level], stamp, log_name,
                 (long) getpid(), text);
    if (n < 0)
        return -1;
    if ((size_t) n >= sizeof(buf))
        n = sizeof(buf) - 1;
    if (send(log_syslog_fd, buf, (size_t) n, MSG_DONTWAIT) < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            close(log_syslog_fd);
            log_syslog_fd = -1;
        }
        return -1;
    }
    return 0;
}

/* log_emit - send one finished message to the sink, counting drops */
static void
log_emit(enum log_level level, const char *msg)
{
    int     ok;

    if (log_sink_kind == LOG_SINK_NONE)
        return;
    if (log_sink_kind == LOG_SINK_SYSLOG)
        ok = log_write_syslog(level, msg) == 0;
    else
        ok = log_write_stderr_line(msg) == 0;
    if (!ok) {
        log_drop_count++;
        log_drop_unreported++;
    } else if (log_drop_unreported > 0 && level != LOG_LEVEL_PANIC) {
        unsigned long lost = log_drop_unreported;

        log_drop_unreported = 0;
        log_msg(LOG_LEVEL_WARN, "log: %lu line(s) dropped: log sink was busy",
                lost);
    }
}

/* log_vmsg - format and emit a message at the given level */
void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char    text[LOG_LINE_MAX];
    char    msg[LOG_LINE_MAX + 16];
    int     n;
    int     saved_errno = errno;

    if (level < log_minimum && level < LOG_LEVEL_FATAL)
        return;
    errno = saved_errno;                /* for %m */
    n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0)
        snprintf(text, sizeof(text), "(unprintable log message: %s)", fmt);
    else if (n >= (int) sizeof(text))
        memcpy(text + sizeof(text) - 4, "...", 4);
    snprintf(msg, sizeof(msg), "%s%s", log_prefix[level], text);
    if (log_capture != NULL)
        log_capture(level, msg);
    log_emit(level, msg);
    errno = saved_errno;
}

/* log_msg - format and emit a message at the given level */
void
log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

#define LOG_LEVEL_FUNCTION(name, level) \
    void name(const char *fmt, ...) \
    { \
        va_list ap; \
        va_start(ap, fmt); \
        log_vmsg((level), fmt, ap); \
        va_end(ap); \
    }

LOG_LEVEL_FUNCTION(log_debug, LOG_LEVEL_DEBUG)
LOG_LEVEL_FUNCTION(log_info, LOG_LEVEL_INFO)
LOG_LEVEL_FUNCTION(log_warn, LOG_LEVEL_WARN)
LOG_LEVEL_FUNCTION(log_error, LOG_LEVEL_ERROR)

/* log_fatal - the environment or configuration is unusable: exit 1 */
void
log_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_FATAL, fmt, ap);
    va_end(ap);
    if (log_fatal_hook != NULL)
        log_fatal_hook(LOG_LEVEL_FATAL);
    exit(1);
}

/* log_panic - our own bug: abort for a core file */
void
log_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_PANIC, fmt, ap);
    va_end(ap);
    if (log_fatal_hook != NULL)
        log_fatal_hook(LOG_LEVEL_PANIC);
    abort();
}
