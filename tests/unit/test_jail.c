/*
 * test_jail - unit tests for util/jail: the chroot a worker enters, the
 * capabilities it holds before and after, and how paths are seen inside.
 *
 * Each jail is entered in a forked child, which reports by its exit
 * status which check failed (the parent asserts); the child leaves with
 * _exit(), because nothing outside the jail, LeakSanitizer's /proc
 * included, is reachable any more.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/jail.h"
#include "testutil.h"

#define NOBODY_ID 65534

/* run_child - fork, run fn(arg) in the child, return its exit status */
static int
run_child(int (*fn)(const char *), const char *arg)
{
    pid_t   pid;
    int     status;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* probe_userns - the child: can it make a user namespace */
static int
probe_userns(const char *unused)
{
    (void) unused;
    return unshare(CLONE_NEWUSER) == 0 ? 0 : 1;
}

/* jail_possible - root, or a user namespace to be root in */
static int
jail_possible(void)
{
    return geteuid() == 0 || run_child(probe_userns, NULL) == 0;
}

/* thread_caps - a thread started after jail_plan(): anything left? */
static void *
thread_caps(void *arg)
{
    int    *left = arg;

    *left = jail_thread_start() < 0 ? 2 : jail_capabilities_left();
    return NULL;
}

/* enter_and_check - the child: plan, a thread, enter, look around */
static int
enter_and_check(const char *dir)
{
    struct dstr *why = dstr_new(64, 1024);
    char    inside[1200], canon[512];
    pthread_t th;
    int     left = -1;
    size_t  len;

    /* "DIR//" names the jail "DIR" */
    snprintf(canon, sizeof(canon), "%s", dir);
    for (len = strlen(canon); len > 1 && canon[len - 1] == '/'; len--)
        canon[len - 1] = '\0';

    if (jail_plan(dir, why) < 0)
        return 10;
    if (jail_path(dir) != dir)
        return 11;                      /* not yet entered: unchanged */
    if (pthread_create(&th, NULL, thread_caps, &left) != 0
        || pthread_join(th, NULL) != 0 || left != 0)
        return 12;                      /* the new thread dropped all */
    if (jail_enter(why) < 0)
        return 13;
    if (access("/marker", F_OK) != 0 || access(dir, F_OK) == 0)
        return 14;                      /* the jail is the root now */
    if (jail_capabilities_left())
        return 15;
    if (chroot("/") == 0 || errno != EPERM)
        return 16;                      /* and cannot be left */
    if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
        return 17;
    if (strcmp(jail_path(canon), "/") != 0 || jail_root() == NULL
        || strcmp(jail_root(), canon) != 0)
        return 18;
    snprintf(inside, sizeof(inside), "%s/private/policy", canon);
    if (strcmp(jail_path(inside), "/private/policy") != 0)
        return 19;
    snprintf(inside, sizeof(inside), "%sx/y", canon);
    if (strcmp(jail_path(inside), inside) != 0
        || strcmp(jail_path("/etc/hosts"), "/etc/hosts") != 0)
        return 20;                      /* not under the jail: unchanged */
    dstr_free(why);
    return 0;
}

/* test_jail_enter - a planned, entered jail, as root or in a user ns */
static void
test_jail_enter(void **state)
{
    char   *dir = testutil_tmpdir();
    char    slash[600];
    int     rc;

    (void) state;
    free(testutil_write_file(dir, "marker", "x", 1));
    if (!jail_possible()) {
        struct dstr *why = dstr_new(64, 1024);

        /* no root, no user namespaces: a clear refusal, no jail */
        assert_int_equal(jail_plan(dir, why), -1);
        assert_non_null(strstr(why->data, "start doppel-master as root"));
        assert_null(jail_root());
        dstr_free(why);
    } else {
        rc = run_child(enter_and_check, dir);
        if (rc != 0)
            fail_msg("jail check %d failed in %s", rc, dir);
        /* a trailing slash names the same jail */
        snprintf(slash, sizeof(slash), "%s//", dir);
        rc = run_child(enter_and_check, slash);
        if (rc != 0)
            fail_msg("jail check %d failed in %s", rc, slash);
    }
    testutil_rmtree(dir);
    free(dir);
}

/* test_jail_refusals - what cannot be a jail */
static void
test_jail_refusals(void **state)
{
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    assert_int_equal(jail_plan("var/spool", why), -1);
    assert_non_null(strstr(why->data, "not an absolute path"));
    dstr_reset(why);
    assert_int_equal(jail_enter(why), -1);
    assert_non_null(strstr(why->data, "no directory planned"));
    assert_null(jail_root());
    assert_string_equal(jail_path("/var/spool/doppel"), "/var/spool/doppel");
    dstr_free(why);
}

/* grant_and_exec - the master's child: nobody, CAP_SYS_CHROOT, exec cat */
static int
grant_and_exec(const char *out)
{
    gid_t   gid = NOBODY_ID;

    if (freopen(out, "w", stdout) == NULL)
        return 30;
    if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0)
        return 31;
    if (jail_grant_prepare() < 0)
        return 32;
    if (setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID) < 0)
        return 33;
    if (jail_grant_finish() < 0)
        return 34;
    if (setuid(0) == 0)
        return 35;                      /* root stays out of reach */
    execl("/bin/cat", "cat", "/proc/self/status", (char *) NULL);
    return 36;
}

/* status_field - the value of "Name:" in a /proc status text */
static const char *
status_field(const char *text, const char *name, char *buf, size_t size)
{
    const char *p = strstr(text, name);
    size_t  n;

    assert_non_null(p);
    p += strlen(name);
    p += strspn(p, " \t");
    n = strcspn(p, "\n");
    assert_true(n < size);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* test_jail_grant - root keeps CAP_SYS_CHROOT alone across uid and exec */
static void
test_jail_grant(void **state)
{
    char   *dir = testutil_tmpdir(), path[512], text[8192], buf[128];
    FILE   *f;
    size_t  n;

    (void) state;
    if (geteuid() != 0) {
        /* not root: there is nothing to keep, and nothing is granted */
        assert_int_equal(jail_grant_finish(), -1);
        assert_int_equal(errno, EPERM);
    } else {
        snprintf(path, sizeof(path), "%s/status", dir);
        assert_int_equal(run_child(grant_and_exec, path), 0);
        assert_non_null(f = fopen(path, "r"));
        n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
        assert_string_equal(status_field(text, "Uid:", buf, sizeof(buf)),
                            "65534\t65534\t65534\t65534");
        /* 1 << 18 is CAP_SYS_CHROOT: effective, permitted and ambient */
        assert_string_equal(status_field(text, "CapEff:", buf, sizeof(buf)),
                            "0000000000040000");
        assert_string_equal(status_field(text, "CapPrm:", buf, sizeof(buf)),
                            "0000000000040000");
        assert_string_equal(status_field(text, "CapAmb:", buf, sizeof(buf)),
                            "0000000000040000");
    }
    testutil_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jail_enter),
        cmocka_unit_test(test_jail_refusals),
        cmocka_unit_test(test_jail_grant),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
