/* test_log - unit tests for util/log: prefixes, levels, fatal, sinks. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"
#include "testutil.h"

#define TEST_LOG_KEEP 8                 /* captured lines kept */

/* the last lines the capture function saw, newest last */
static struct {
    int     count;
    enum log_level level[TEST_LOG_KEEP];
    char    line[TEST_LOG_KEEP][LOG_LINE_MAX + 64];
} cap;

static int saved_stderr = -1;          /* the real fd 2 during a test */
static FILE *sink_file;                /* what fd 2 points to instead */

static jmp_buf hook_jump;
static enum log_level hook_level;

/* capture - remember a formatted line and its level */
static void
capture(enum log_level level, const char *line)
{
    int     i = cap.count % TEST_LOG_KEEP;

    cap.level[i] = level;
    snprintf(cap.line[i], sizeof(cap.line[i]), "%s", line);
    cap.count++;
}

/* last - the newest captured line */
static const char *
last(void)
{
    return cap.count ? cap.line[(cap.count - 1) % TEST_LOG_KEEP] : "";
}

/* last_level - the level of the newest captured line */
static enum log_level
last_level(void)
{
    return cap.level[(cap.count - 1) % TEST_LOG_KEEP];
}

/* hook - a fatal hook of our own, recording the level */
static void
hook(enum log_level level)
{
    hook_level = level;
    longjmp(hook_jump, 1);
}

/* sink_text - everything written to fd 2 during this test */
static char *
sink_text(void)
{
    static char buf[16384];
    size_t  n;

    fflush(sink_file);
    rewind(sink_file);
    n = fread(buf, 1, sizeof(buf) - 1, sink_file);
    buf[n] = '\0';
    return buf;
}

/* setup - capture lines, point fd 2 at a temporary file */
static int
setup(void **state)
{
    (void) state;
    testutil_log_start();
    log_open("test_log", LOG_SINK_STDERR);
    log_set_capture(capture);
    memset(&cap, 0, sizeof(cap));
    sink_file = tmpfile();
    if (sink_file == NULL)
        return -1;
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    if (saved_stderr < 0 || dup2(fileno(sink_file), STDERR_FILENO) < 0)
        return -1;
    return 0;
}

/* teardown - give fd 2 back, stop capturing */
static int
teardown(void **state)
{
    (void) state;
    fflush(stderr);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
    if (sink_file != NULL)
        fclose(sink_file);
    sink_file = NULL;
    log_set_level(LOG_LEVEL_INFO);
    testutil_log_stop();
    return 0;
}

/* test_log_prefixes - each level's prefix, on the capture and the sink */
static void
test_log_prefixes(void **state)
{
    char    want[256];

    (void) state;
    log_debug("d: %s", "one");
    assert_string_equal(last(), "debug: d: one");
    assert_int_equal(last_level(), LOG_LEVEL_DEBUG);
    log_info("queue %s: queued", "ABC123");
    assert_string_equal(last(), "queue ABC123: queued");
    assert_int_equal(last_level(), LOG_LEVEL_INFO);
    log_warn("service %s: all %d client slots busy", "0.0.0.0:25", 100);
    assert_string_equal(last(), "warning: service 0.0.0.0:25: all 100 client "
                        "slots busy");
    assert_int_equal(last_level(), LOG_LEVEL_WARN);
    log_error("session: %s", "lost");
    assert_string_equal(last(), "error: session: lost");
    assert_int_equal(last_level(), LOG_LEVEL_ERROR);
    log_msg(LOG_LEVEL_WARN, "via %s", "log_msg");
    assert_string_equal(last(), "warning: via log_msg");
    assert_int_equal(cap.count, 5);

    /* the sink gets "name[pid]: line" and a newline, one per message */
    snprintf(want, sizeof(want),
             "test_log[%ld]: debug: d: one\n"
             "test_log[%ld]: queue ABC123: queued\n"
             "test_log[%ld]: warning: service 0.0.0.0:25: all 100 client "
             "slots busy\n"
             "test_log[%ld]: error: session: lost\n"
             "test_log[%ld]: warning: via log_msg\n",
             (long) getpid(), (long) getpid(), (long) getpid(),
             (long) getpid(), (long) getpid());
    assert_string_equal(sink_text(), want);
    assert_string_equal(log_progname(), "test_log");
}

/* test_log_libevent - libevent's severities become our levels */
static void
test_log_libevent(void **state)
{
    (void) state;
    log_set_level(LOG_LEVEL_DEBUG);
    log_libevent(EVENT_LOG_WARN, "Nameserver 127.0.0.1:53 has failed");
    assert_string_equal(last(), "warning: libevent: Nameserver 127.0.0.1:53"
                        " has failed");
    assert_int_equal(last_level(), LOG_LEVEL_WARN);
    log_libevent(EVENT_LOG_ERR, "epoll_wait");
    assert_string_equal(last(), "error: libevent: epoll_wait");
    log_libevent(EVENT_LOG_MSG, "Nameserver 127.0.0.1:53 is back up");
    assert_string_equal(last(), "libevent: Nameserver 127.0.0.1:53 is back"
                        " up");
    log_libevent(EVENT_LOG_DEBUG, "dns: id 7");
    assert_string_equal(last(), "debug: libevent: dns: id 7");
    log_libevent(99, NULL);
    assert_string_equal(last(), "warning: libevent: ");
}

/* test_log_levels - below the minimum nothing happens; fatal always */
static void
test_log_levels(void **state)
{
    (void) state;
    log_set_level(LOG_LEVEL_WARN);
    log_debug("no");
    log_info("no");
    assert_int_equal(cap.count, 0);
    log_warn("yes");
    log_error("yes");
    assert_int_equal(cap.count, 2);
    log_set_level(LOG_LEVEL_PANIC);
    log_error("no");
    assert_int_equal(cap.count, 2);
    TESTUTIL_EXPECT_FATAL(log_fatal("still %s", "shown"));
    assert_int_equal(cap.count, 3);
    assert_string_equal(last(), "fatal: still shown");
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("yes");
    assert_int_equal(cap.count, 4);
    assert_null(strstr(sink_text(), "no"));
}

/* test_log_fatal_hook - fatal and panic call the hook with their level */
static void
test_log_fatal_hook(void **state)
{
    (void) state;
    TESTUTIL_EXPECT_FATAL(log_fatal("config: %s", "unusable"));
    assert_string_equal(last(), "fatal: config: unusable");
    TESTUTIL_EXPECT_FATAL(log_panic("%s: bad state %d", "fn", 7));
    assert_string_equal(last(), "panic: fn: bad state 7");
    assert_int_equal(last_level(), LOG_LEVEL_PANIC);

    log_set_fatal_hook(hook);
    if (setjmp(hook_jump) == 0)
        log_fatal("x");
    assert_int_equal(hook_level, LOG_LEVEL_FATAL);
    if (setjmp(hook_jump) == 0)
        log_panic("y");
    assert_int_equal(hook_level, LOG_LEVEL_PANIC);
    assert_string_equal(last(), "panic: y");
}

/* test_log_fatal_exit - without a hook: fatal exits 1, panic aborts */
static void
test_log_fatal_exit(void **state)
{
    pid_t   pid;
    int     status;

    (void) state;
    log_set_fatal_hook(NULL);
    log_set_capture(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        log_fatal("child: %s", "giving up");
        _exit(99);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        log_panic("child: %s", "our bug");
        _exit(99);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(sink_text(), "]: fatal: child: giving up\n"));
    assert_non_null(strstr(sink_text(), "]: panic: child: our bug\n"));
}

/* test_log_errno - %m is strerror(errno), and errno survives logging */
static void
test_log_errno(void **state)
{
    (void) state;
    errno = ENOENT;
    log_warn("open %s: %m", "/nonexistent");
    assert_string_equal(last(), "warning: open /nonexistent: No such file "
                        "or directory");
    assert_int_equal(errno, ENOENT);
    errno = EACCES;
    log_set_level(LOG_LEVEL_ERROR);
    log_info("filtered %m");
    assert_int_equal(errno, EACCES);
}

/* test_log_long - longer than LOG_LINE_MAX: cut, ending in "..." */
static void
test_log_long(void **state)
{
    static char text[LOG_LINE_MAX * 3];
    const char *line;
    size_t  len;

    (void) state;
    /* LOG_LINE_MAX - 1 characters fit exactly */
    memset(text, 'a', LOG_LINE_MAX - 1);
    text[LOG_LINE_MAX - 1] = '\0';
    log_warn("%s", text);
    line = last();
    assert_int_equal(strlen(line), strlen("warning: ") + LOG_LINE_MAX - 1);
    assert_int_equal(line[strlen(line) - 1], 'a');

    /* one more is cut */
    memset(text, 'b', LOG_LINE_MAX);
    text[LOG_LINE_MAX] = '\0';
    log_warn("%s", text);
    line = last();
    len = strlen(line);
    assert_int_equal(len, strlen("warning: ") + LOG_LINE_MAX - 1);
    assert_string_equal(line + len - 4, "b...");

    /* much longer, with a format */
    memset(text, 'c', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    log_error("x=%d %s", 5, text);
    line = last();
    len = strlen(line);
    assert_int_equal(len, strlen("error: ") + LOG_LINE_MAX - 1);
    assert_memory_equal(line, "error: x=5 ccc", 14);
    assert_string_equal(line + len - 3, "...");

    /* the sink line is whole, newline included */
    assert_non_null(strstr(sink_text(), "ccc...\n"));
}

/* test_log_syslog_fallback - no /dev/log: whole lines on stderr */
static void
test_log_syslog_fallback(void **state)
{
    char    want[128];

    (void) state;
    if (access("/dev/log", F_OK) == 0)
        skip();                         /* a real syslog would get it */
    log_open("fallback", LOG_SINK_SYSLOG);
    log_warn("one");
    log_info("two");
    snprintf(want, sizeof(want), "fallback[%ld]: warning: one\n"
             "fallback[%ld]: two\n", (long) getpid(), (long) getpid());
    assert_string_equal(sink_text(), want);
}

/* test_log_sink_terminal - commands: "name: line", no pid */
static void
test_log_sink_terminal(void **state)
{
    (void) state;
    log_open("doppel", LOG_SINK_TERMINAL);
    log_warn("doppel.cf:7: %s", "bad");
    log_info("done");
    assert_string_equal(last(), "done");
    assert_string_equal(sink_text(), "doppel: warning: doppel.cf:7: bad\n"
                        "doppel: done\n");
}

/* test_log_sink_none - only the capture sees lines; none count as lost */
static void
test_log_sink_none(void **state)
{
    unsigned long before = log_dropped();

    (void) state;
    log_open("quiet", LOG_SINK_NONE);
    log_warn("captured only");
    log_error("this too");
    assert_int_equal(cap.count, 2);
    assert_string_equal(last(), "error: this too");
    assert_string_equal(sink_text(), "");
    assert_int_equal(log_dropped(), before);
    TESTUTIL_EXPECT_FATAL(log_fatal("still trapped"));
    assert_string_equal(last(), "fatal: still trapped");
    assert_string_equal(sink_text(), "");
}

/*
 * test_log_dropped - a full non-blocking pipe on fd 2: lines are
 * dropped and counted, and the count is reported once it drains.
 */
static void
test_log_dropped(void **state)
{
    int     fds[2];
    char    buf[4096];
    unsigned long before = log_dropped();
    int     i;

    (void) state;
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    memset(buf, 'f', sizeof(buf));
    for (i = 0; i < 1024 && write(fds[1], buf, sizeof(buf)) > 0; i++)
        continue;
    for (i = 0; i < 65536 && write(fds[1], buf, 1) > 0; i++)
        continue;
    assert_int_equal(write(fds[1], buf, 1), -1);

    log_info("lost 1");
    log_warn("lost 2");
    log_error("lost 3");
    assert_int_equal(log_dropped(), before + 3);
    assert_int_equal(cap.count, 3);    /* the capture still saw them */

    for (i = 0; i < 100000 && read(fds[0], buf, sizeof(buf)) > 0; i++)
        continue;
    log_info("through");
    assert_int_equal(cap.count, 5);
    assert_string_equal(cap.line[3], "through");
    assert_string_equal(last(), "warning: log: 3 line(s) dropped: log sink "
                        "was busy");
    assert_int_equal(log_dropped(), before + 3);

    /* reported once only */
    log_info("again");
    assert_string_equal(last(), "again");
    assert_int_equal(cap.count, 6);
    assert_true(read(fds[0], buf, sizeof(buf)) > 0);
    close(fds[0]);
    close(fds[1]);
}

/* test_log_progname - long names are cut, not overflowed */
static void
test_log_progname(void **state)
{
    char    name[200];

    (void) state;
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    log_open(name, LOG_SINK_STDERR);
    assert_int_equal(strlen(log_progname()), 63);
    log_open("doppel/smtpd", LOG_SINK_STDERR);
    assert_string_equal(log_progname(), "doppel/smtpd");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_libevent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_fatal_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_fatal_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_syslog_fallback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_sink_terminal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_sink_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_progname, setup, teardown),
    };

    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
