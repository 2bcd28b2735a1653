/* test_client_history - unit tests for global/client_history: keys, rules, LMDB, Redis. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "conf/params.h"
#include "global/client_history.h"
#include "helper_history.h"
#include "testutil.h"

#define T0 1700000000000LL              /* a fake "now", ms */
#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

struct fixture {
    char   *dir;
    char   *data;
    struct params p;
    pid_t   child;                     /* killed by teardown if still set */
};

/* setup - a temp data_directory and the default history parameters */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dir = testutil_tmpdir();
    f->data = history_test_store(f->dir, &f->p, HOUR);
    testutil_log_start();
    *state = f;
    return 0;
}

/* teardown - remove the directory */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    testutil_log_stop();
    history_test_reap(&f->child);       /* a test failed with it running */
    testutil_rmtree(f->dir);
    free(f->dir);
    free(f->data);
    free(f);
    return 0;
}

/* open_store - open with the fixture's parameters, or fail the test */
static struct client_history *
open_store(struct fixture *f, int flags)
{
    struct dstr *why = dstr_new(64, 4096);
    struct client_history *h = client_history_open(&f->p, flags, why);

    if (h == NULL)
        fail_msg("open: %s", why->data);
    dstr_free(why);
    return h;
}

/* key_of - the key of an address text, "" if refused */
static const char *
key_of(const char *text, int prefix)
{
    static char buf[CLIENT_HISTORY_KEY_MAX];
    struct netaddr a;

    if (netaddr_parse(&a, text) < 0
        || client_history_key(&a, prefix, buf, sizeof(buf)) < 0)
        return "";
    return buf;
}

/* key_text - client_history_key_text(), "" if refused */
static const char *
key_text(const char *text, int prefix)
{
    static char buf[CLIENT_HISTORY_KEY_MAX];

    if (client_history_key_text(text, prefix, buf, sizeof(buf)) < 0)
        return "";
    return buf;
}

/* test_client_history_keys - IPv4 as is, IPv6 by network, mapped unmapped */
static void
test_client_history_keys(void **state)
{
    (void) state;
    assert_string_equal(key_of("192.0.2.1", 64), "192.0.2.1");
    assert_string_equal(key_of("::ffff:192.0.2.1", 64), "192.0.2.1");
    assert_string_equal(key_of("2001:db8:1:2::5", 64), "2001:db8:1:2::/64");
    assert_string_equal(key_of("2001:db8:1:2:ffff:1:2:3", 64),
                        "2001:db8:1:2::/64");
    assert_string_equal(key_of("2001:db8:1:3::5", 64), "2001:db8:1:3::/64");
    assert_string_equal(key_of("2001:db8:1:2::5", 48), "2001:db8:1::/48");
    assert_string_equal(key_of("2001:db8:1:2::5", 60), "2001:db8:1::/60");
    assert_string_equal(key_of("2001:db8:1:1f::5", 60), "2001:db8:1:10::/60");
    assert_string_equal(key_of("2001:db8::5", 128), "2001:db8::5/128");
    assert_string_equal(key_of("2001:db8::5", 0), "");

    assert_string_equal(key_text("192.0.2.1", 64), "192.0.2.1");
    assert_string_equal(key_text("[192.0.2.1]", 64), "192.0.2.1");
    assert_string_equal(key_text("2001:db8:1:2::9", 64), "2001:db8:1:2::/64");
    assert_string_equal(key_text("2001:db8:1:2::/64", 64), "2001:db8:1:2::/64");
    assert_string_equal(key_text("2001:db8:1:2::7/64", 64),
                        "2001:db8:1:2::/64");
    assert_string_equal(key_text("2001:db8:1:2::/48", 64), "");
    assert_string_equal(key_text("192.0.2.1/32", 64), "");
    assert_string_equal(key_text("2001:db8::/", 64), "");
    assert_string_equal(key_text("2001:db8::/64x", 64), "");
    assert_string_equal(key_text("example.com", 64), "");
    assert_string_equal(key_text("", 64), "");
}

/* test_client_history_events - names and the abuse set */
static void
test_client_history_events(void **state)
{
    enum client_history_event e;

    (void) state;
    assert_int_equal(client_history_event_parse("early_talk", &e), 0);
    assert_int_equal(e, CLIENT_HISTORY_EARLY_TALK);
    assert_string_equal(client_history_event_name(CLIENT_HISTORY_MESSAGE),
                        "message");
    assert_int_equal(client_history_event_parse("bogus", &e), -1);
    assert_false(client_history_is_abuse(CLIENT_HISTORY_CONNECT));
    assert_false(client_history_is_abuse(CLIENT_HISTORY_MESSAGE));
    assert_true(client_history_is_abuse(CLIENT_HISTORY_REJECT));
    assert_true(client_history_is_abuse(CLIENT_HISTORY_ERROR));
    assert_true(client_history_is_abuse(CLIENT_HISTORY_TIMEOUT));
    assert_true(client_history_is_abuse(CLIENT_HISTORY_EARLY_TALK));
}

/* test_client_history_known - enough messages over enough time */
static void
test_client_history_known(void **state)
{
    struct fixture *f = *state;
    struct client_history_rec r;

    memset(&r, 0, sizeof(r));
    assert_null(client_history_class(NULL, &f->p, T0));
    client_history_apply(&r, CLIENT_HISTORY_CONNECT, T0, DAY);
    client_history_apply(&r, CLIENT_HISTORY_MESSAGE, T0 + 10, DAY);
    client_history_apply(&r, CLIENT_HISTORY_MESSAGE, T0 + 20, DAY);
    assert_int_equal(r.first_seen, T0);
    assert_int_equal(r.last_seen, T0 + 20);
    assert_int_equal(r.messages, 2);
    assert_int_equal(r.connections, 1);
    assert_null(client_history_class(&r, &f->p, T0 + 2 * HOUR));
    client_history_apply(&r, CLIENT_HISTORY_MESSAGE, T0 + 30, DAY);
    /* three messages, but first seen less than an hour ago */
    assert_null(client_history_class(&r, &f->p, T0 + HOUR - 1));
    assert_string_equal(client_history_class(&r, &f->p, T0 + HOUR), "known");
    /* an older event moves first_seen back, never last_seen */
    client_history_apply(&r, CLIENT_HISTORY_CONNECT, T0 - 5, DAY);
    assert_int_equal(r.first_seen, T0 - 5);
    assert_int_equal(r.last_seen, T0 + 30);
}

/* test_client_history_suspect - enough abuse within the window */
static void
test_client_history_suspect(void **state)
{
    struct fixture *f = *state;
    struct client_history_rec r;
    int     i;

    memset(&r, 0, sizeof(r));
    for (i = 0; i < 5; i++)
        client_history_apply(&r, CLIENT_HISTORY_MESSAGE, T0, DAY);
    assert_string_equal(client_history_class(&r, &f->p, T0 + 2 * HOUR), "known");
    client_history_apply(&r, CLIENT_HISTORY_REJECT, T0 + 2 * HOUR, DAY);
    client_history_apply(&r, CLIENT_HISTORY_TIMEOUT, T0 + 3 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 2);
    assert_string_equal(client_history_class(&r, &f->p, T0 + 3 * HOUR), "known");
    client_history_apply(&r, CLIENT_HISTORY_EARLY_TALK, T0 + 4 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 3);
    assert_int_equal(r.abuse_since, T0 + 2 * HOUR);
    assert_int_equal(r.last_abuse, T0 + 4 * HOUR);
    assert_int_equal(r.rejects, 1);
    assert_int_equal(r.timeouts, 1);
    assert_int_equal(r.early_talks, 1);
    /* suspect beats known while the window holds all three */
    assert_string_equal(client_history_class(&r, &f->p, T0 + 4 * HOUR),
                        "suspect");
    assert_string_equal(client_history_class(&r, &f->p,
                                             T0 + 2 * HOUR + DAY - 1),
                        "suspect");
    assert_string_equal(client_history_class(&r, &f->p, T0 + 2 * HOUR + DAY),
                        "known");

    /* a window that passed restarts the count, keeping the latest one */
    memset(&r, 0, sizeof(r));
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0, DAY);
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 20 * HOUR, DAY);
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 30 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 2);        /* 20h and 30h */
    assert_int_equal(r.abuse_since, T0 + 20 * HOUR);
    assert_null(client_history_class(&r, &f->p, T0 + 30 * HOUR));
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 31 * HOUR, DAY);
    assert_string_equal(client_history_class(&r, &f->p, T0 + 31 * HOUR),
                        "suspect");
    /* abuse long ago counts for nothing */
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 100 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 1);
    assert_int_equal(r.abuse_since, T0 + 100 * HOUR);
    /* an old event that does not fit the span is not counted */
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 50 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 1);
    assert_int_equal(r.errors, 6);
    assert_int_equal(r.last_abuse, T0 + 100 * HOUR);
    /* one that fits is */
    client_history_apply(&r, CLIENT_HISTORY_ERROR, T0 + 90 * HOUR, DAY);
    assert_int_equal(r.abuse_recent, 2);
    assert_int_equal(r.abuse_since, T0 + 90 * HOUR);

    /* one event is enough when client_suspect_events is 1 */
    f->p.client_suspect_events = 1;
    assert_string_equal(client_history_class(&r, &f->p, T0 + 100 * HOUR),
                        "suspect");
}

/* test_client_history_lmdb - record, read back, reopen */
static void
test_client_history_lmdb(void **state)
{
    struct fixture *f = *state;
    struct client_history *h = open_store(f, 0);
    struct client_history_rec r;
    struct client_history_update u[3];

    assert_int_equal(client_history_get(h, "192.0.2.1", T0, &r),
                     CLIENT_HISTORY_NOTFOUND);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_CONNECT, T0), 0);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_MESSAGE, T0 + 5), 0);
    memset(u, 0, sizeof(u));
    (void) str_copy(u[0].key, sizeof(u[0].key), "192.0.2.1");
    u[0].event = CLIENT_HISTORY_MESSAGE;
    u[0].when = T0 + 6;
    (void) str_copy(u[1].key, sizeof(u[1].key), "2001:db8::/64");
    u[1].event = CLIENT_HISTORY_ERROR;
    u[1].when = T0 + 7;
    (void) str_copy(u[2].key, sizeof(u[2].key), "192.0.2.1");
    u[2].event = CLIENT_HISTORY_MESSAGE;
    u[2].when = T0 + 8;
    assert_int_equal(client_history_update(h, u, 3), 0);
    assert_int_equal(client_history_entries(h), 2);
    h = client_history_close(h);

    h = open_store(f, CLIENT_HISTORY_RDONLY);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0 + HOUR, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(r.first_seen, T0);
    assert_int_equal(r.last_seen, T0 + 8);
    assert_int_equal(r.connections, 1);
    assert_int_equal(r.messages, 3);
    assert_int_equal(r.errors, 0);
    assert_string_equal(client_history_class(&r, &f->p, T0 + HOUR), "known");
    assert_int_equal(client_history_get(h, "2001:db8::/64", T0 + HOUR, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.abuse_recent, 1);
    /* read-only: no writes */
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_CONNECT, T0), -1);
    assert_int_equal(client_history_sweep(h, T0), -1);
    h = client_history_close(h);

    /* keys that this module never makes are refused */
    h = open_store(f, 0);
    assert_int_equal(client_history_record(h, "", CLIENT_HISTORY_CONNECT, T0),
                     -1);
    assert_int_equal(client_history_record(h, "a b", CLIENT_HISTORY_CONNECT,
                                           T0), -1);
    assert_int_equal(client_history_record(h, "x", (enum client_history_event) 99,
                                           T0), -1);
    assert_int_equal(client_history_entries(h), 2);
    h = client_history_close(h);
}

struct listed {
    int     count;
    int     stop_after;
    char    keys[8][CLIENT_HISTORY_KEY_MAX];
    long long messages[8];
};

static int list_fn(void *arg, const char *key,
                   const struct client_history_rec *rec);

/* test_client_history_rdonly - show/list on a fresh host create nothing */
static void
test_client_history_rdonly(void **state)
{
    struct fixture *f = *state;
    struct client_history *h = open_store(f, CLIENT_HISTORY_RDONLY);
    struct client_history_rec r;
    struct dstr *path = dstr_new(64, 4096);
    struct stat st;
    struct listed l;

    memset(&l, 0, sizeof(l));
    assert_int_equal(client_history_get(h, "192.0.2.1", T0, &r),
                     CLIENT_HISTORY_NOTFOUND);
    assert_int_equal(client_history_list(h, T0, list_fn, &l), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(client_history_entries(h), 0);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_CONNECT, T0), -1);
    h = client_history_close(h);
    (void) dstr_appendf(path, "%s/%s", f->data, CLIENT_HISTORY_FILE);
    assert_int_equal(stat(path->data, &st), -1);
    dstr_free(path);
}

/* test_client_history_open_errors - a bad backend or directory is refused */
static void
test_client_history_open_errors(void **state)
{
    struct fixture *f = *state;
    struct dstr *why = dstr_new(64, 4096);
    static const char *const bad[] = {
        "mysql", "redis:", "redis:host", "redis:host:", "redis::6379",
        "redis:host:0", "redis:host:65536", "redis:host:12x", "redis:[::1:6379",
        NULL,
    };
    int     i;

    for (i = 0; bad[i] != NULL; i++) {
        f->p.client_history_backend = (char *) bad[i];
        assert_null(client_history_open(&f->p, 0, why));
        assert_non_null(strstr(why->data, "client_history_backend"));
    }
    f->p.client_history_backend = "lmdb";
    f->p.data_directory = "/nonexistent/doppel/data";
    assert_null(client_history_open(&f->p, 0, why));
    assert_non_null(strstr(why->data, "/nonexistent/doppel/data/client_history.lmdb"));
    assert_non_null(strstr(why->data, "create data_directory"));
    dstr_free(why);
}

/* test_client_history_ttl - old records are ignored, then swept */
static void
test_client_history_ttl(void **state)
{
    struct fixture *f = *state;
    struct client_history *h;
    struct client_history_rec r;
    long long ttl = 60 * 1000;

    f->p.client_history_ttl = ttl;
    h = open_store(f, 0);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_record(h, "192.0.2.2",
                                           CLIENT_HISTORY_MESSAGE, T0 + 30000),
                     0);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0 + ttl - 1, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0 + ttl, &r),
                     CLIENT_HISTORY_NOTFOUND);
    /* an expired record starts over */
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_CONNECT, T0 + ttl),
                     0);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0 + ttl, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(r.first_seen, T0 + ttl);
    assert_int_equal(r.messages, 0);
    assert_int_equal(r.connections, 1);
    /* at T0 + 100 s, 192.0.2.2 (last seen T0 + 30 s) has expired */
    assert_int_equal(client_history_entries(h), 2);
    assert_int_equal(client_history_sweep(h, T0 + 100000), 1);
    assert_int_equal(client_history_entries(h), 1);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0 + 100000, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(client_history_sweep(h, T0 + 200000), 1);
    assert_int_equal(client_history_entries(h), 0);
    h = client_history_close(h);
}

/* test_client_history_max_entries - the sweep keeps the most recent */
static void
test_client_history_max_entries(void **state)
{
    struct fixture *f = *state;
    struct client_history *h;
    struct client_history_rec r;
    char    key[32];
    int     i;

    f->p.client_history_max_entries = 100;
    h = open_store(f, 0);
    /* written in an order unrelated to the time they were seen */
    for (i = 0; i < 250; i++) {
        int     j = (i * 7) % 250;

        (void) snprintf(key, sizeof(key), "10.0.%d.%d", j / 100, j % 100);
        assert_int_equal(client_history_record(h, key, CLIENT_HISTORY_CONNECT,
                                               T0 + j * 1000LL), 0);
    }
    assert_int_equal(client_history_entries(h), 250);
    assert_int_equal(client_history_sweep(h, T0 + 250000), 150);
    assert_int_equal(client_history_entries(h), 100);
    for (i = 0; i < 250; i++) {
        (void) snprintf(key, sizeof(key), "10.0.%d.%d", i / 100, i % 100);
        assert_int_equal(client_history_get(h, key, T0 + 250000, &r),
                         i < 150 ? CLIENT_HISTORY_NOTFOUND
                         : CLIENT_HISTORY_FOUND);
    }
    /* under the bound, a sweep removes nothing */
    assert_int_equal(client_history_sweep(h, T0 + 250000), 0);
    h = client_history_close(h);
}

/* list_fn - remember what list gave */
static int
list_fn(void *arg, const char *key, const struct client_history_rec *rec)
{
    struct listed *l = arg;

    if (l->count < 8) {
        (void) str_copy(l->keys[l->count], sizeof(l->keys[0]), key);
        l->messages[l->count] = rec->messages;
    }
    l->count++;
    return l->stop_after > 0 && l->count >= l->stop_after;
}

/* test_client_history_list_forget - every live client; forget one */
static void
test_client_history_list_forget(void **state)
{
    struct fixture *f = *state;
    struct client_history *h = open_store(f, 0);
    struct client_history_rec r;
    struct listed l;

    assert_int_equal(client_history_record(h, "192.0.2.2",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_record(h, "192.0.2.1",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_record(h, "2001:db8::/64",
                                           CLIENT_HISTORY_CONNECT, T0 - 40 * DAY),
                     0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(client_history_list(h, T0, list_fn, &l), 0);
    assert_int_equal(l.count, 2);       /* the IPv6 one has expired */
    assert_string_equal(l.keys[0], "192.0.2.1");
    assert_int_equal(l.messages[0], 2);
    assert_string_equal(l.keys[1], "192.0.2.2");
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    assert_int_equal(client_history_list(h, T0, list_fn, &l), 0);
    assert_int_equal(l.count, 1);

    assert_int_equal(client_history_forget(h, "192.0.2.1"),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(client_history_forget(h, "192.0.2.1"),
                     CLIENT_HISTORY_NOTFOUND);
    assert_int_equal(client_history_get(h, "192.0.2.1", T0, &r),
                     CLIENT_HISTORY_NOTFOUND);
    memset(&l, 0, sizeof(l));
    assert_int_equal(client_history_list(h, T0, list_fn, &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.keys[0], "192.0.2.2");
    h = client_history_close(h);
}

/* writer - the child: write until killed */
static void
writer(struct fixture *f, int ready_fd)
{
    struct client_history *h;
    struct dstr *why = dstr_new(64, 4096);
    char    key[32];
    int     i;

    if ((h = client_history_open(&f->p, 0, why)) == NULL)
        _exit(2);
    for (i = 0; i < 1000000; i++) {
        (void) snprintf(key, sizeof(key), "10.1.%d.%d", (i / 250) % 4, i % 250);
        if (client_history_record(h, key, CLIENT_HISTORY_MESSAGE,
                                  client_history_now()) < 0)
            _exit(3);
        if (i == 200)
            (void) !write(ready_fd, "r", 1);
    }
    _exit(4);                           /* should have been killed */
}

/* count_fn - add up the messages */
static int
count_fn(void *arg, const char *key, const struct client_history_rec *rec)
{
    (void) key;
    *(long long *) arg += rec->messages;
    return 0;
}

/* test_client_history_kill9 - a writer killed mid-write leaves a good store */
static void
test_client_history_kill9(void **state)
{
    struct fixture *f = *state;
    struct client_history *h;
    struct client_history_rec r;
    int     round, fds[2], status;
    long long total, before = 0;
    pid_t   pid;
    char    c;

    for (round = 0; round < 3; round++) {
        assert_int_equal(pipe(fds), 0);
        if ((pid = fork()) == 0) {
            close(fds[0]);
            writer(f, fds[1]);
        }
        assert_true(pid > 0);
        f->child = pid;
        close(fds[1]);
        assert_int_equal(read(fds[0], &c, 1), 1);      /* 200 written */
        close(fds[0]);
        /* a different moment of the write loop each round */
        usleep((useconds_t) (3000 + round * 7000));
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        f->child = 0;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        h = open_store(f, 0);
        total = 0;
        assert_int_equal(client_history_list(h, client_history_now(),
                                             count_fn, &total), 0);
        assert_true(total >= before + 200);
        before = total;
        assert_int_equal(client_history_record(h, "192.0.2.99",
                                               CLIENT_HISTORY_CONNECT,
                                               client_history_now()), 0);
        assert_int_equal(client_history_get(h, "10.1.0.0", client_history_now(),
                                            &r), CLIENT_HISTORY_FOUND);
        assert_true(client_history_sweep(h, client_history_now()) >= 0);
        h = client_history_close(h);
    }
}

/* ---- Redis, when redis-server and hiredis are here ---- */

/* free_port - a loopback TCP port nobody listens on now */
static int
free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int     fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* port_open - does something accept on the port? */
static int
port_open(int port)
{
    struct sockaddr_in sin;
    int     fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

/* redis_start - redis-server on port, or -1 if it is not installed */
static pid_t
redis_start(const char *dir, int port)
{
    char    portstr[16];
    pid_t   pid;
    int     i, fd;

    (void) snprintf(portstr, sizeof(portstr), "%d", port);
    if ((pid = fork()) == 0) {
        if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", portstr, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
               "--daemonize", "no", (char *) NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    for (i = 0; i < 200; i++) {         /* at most 10 s */
        int     status;

        if (port_open(port))
            return pid;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;                  /* not installed, or failed */
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* redis_stop - kill it and wait */
static void
redis_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* occurrences - how many times text was logged */
static int
occurrences(const char *text)
{
    const char *p = testutil_log_text();
    int     n = 0;

    while ((p = strstr(p, text)) != NULL) {
        n++;
        p += strlen(text);
    }
    return n;
}

/* test_client_history_redis - two hosts share; Lua = C; fallback; return */
static void
test_client_history_redis(void **state)
{
    struct fixture *f = *state;
    struct client_history *a, *b;
    struct client_history_rec r, expect;
    struct params pb;
    struct dstr *backend = dstr_new(64, 256), *data_b = dstr_new(64, 4096);
    static const struct {
        enum client_history_event event;
        long long when;
    } seq[] = {
        {CLIENT_HISTORY_CONNECT, T0},
        {CLIENT_HISTORY_ERROR, T0 + HOUR},
        {CLIENT_HISTORY_MESSAGE, T0 + 2 * HOUR},
        {CLIENT_HISTORY_TIMEOUT, T0 + 20 * HOUR},
        {CLIENT_HISTORY_REJECT, T0 + 30 * HOUR},        /* restarts at 2 */
        {CLIENT_HISTORY_EARLY_TALK, T0 + 25 * HOUR},    /* late, fits */
        {CLIENT_HISTORY_ERROR, T0 + 3 * HOUR},          /* late, too old */
        {CLIENT_HISTORY_MESSAGE, T0 + 31 * HOUR},
    };
    struct listed l;
    size_t  i;
    int     port;
    pid_t   redis;

    if (!HAVE_HIREDIS) {
        skip();
        return;
    }
    port = free_port();
    if ((redis = f->child = redis_start(f->dir, port)) < 0) {
        f->child = 0;
        fprintf(stderr, "# redis-server not available: skipped\n");
        skip();
        return;
    }
    (void) dstr_appendf(backend, "redis:127.0.0.1:%d", port);
    (void) dstr_appendf(data_b, "%s/data_b", f->dir);
    assert_int_equal(mkdir(data_b->data, 0700), 0);
    f->p.client_history_backend = backend->data;
    pb = f->p;
    pb.data_directory = data_b->data;
    a = open_store(f, 0);
    {
        struct dstr *why = dstr_new(64, 4096);

        b = client_history_open(&pb, 0, why);
        assert_non_null(b);
        dstr_free(why);
    }

    /* host a writes, host b reads; the script does what apply() does */
    memset(&expect, 0, sizeof(expect));
    for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_int_equal(client_history_record(i % 2 ? a : b, "192.0.2.7",
                                               seq[i].event, seq[i].when), 0);
        client_history_apply(&expect, seq[i].event, seq[i].when, DAY);
    }
    assert_int_equal(client_history_get(b, "192.0.2.7", T0 + 31 * HOUR, &r),
                     CLIENT_HISTORY_FOUND);
    assert_memory_equal(&r, &expect, sizeof(r));
    assert_int_equal(r.abuse_recent, 3);
    assert_string_equal(client_history_class(&r, &f->p, T0 + 31 * HOUR),
                        "suspect");
    /* nothing went to the local stores */
    assert_int_equal(client_history_entries(a), 0);
    assert_int_equal(client_history_entries(b), 0);
    /* the ttl is checked on read too */
    assert_int_equal(client_history_get(a, "192.0.2.7", T0 + 31 * HOUR + 30 * DAY,
                                        &r), CLIENT_HISTORY_NOTFOUND);

    assert_int_equal(client_history_record(a, "2001:db8::/64",
                                           CLIENT_HISTORY_MESSAGE,
                                           client_history_now()), 0);
    assert_int_equal(client_history_record(a, "192.0.2.8",
                                           CLIENT_HISTORY_CONNECT,
                                           client_history_now()), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(client_history_list(b, client_history_now(), list_fn, &l),
                     0);
    assert_int_equal(l.count, 2);       /* 192.0.2.7 has a fake old time */
    assert_int_equal(client_history_forget(b, "192.0.2.8"),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(client_history_forget(a, "192.0.2.8"),
                     CLIENT_HISTORY_NOTFOUND);
    assert_int_equal(client_history_get(a, "192.0.2.8", client_history_now(),
                                        &r), CLIENT_HISTORY_NOTFOUND);
    assert_false(testutil_logged("warning"));

    /* Redis goes away: one warning, the local store answers */
    redis_stop(redis);
    f->child = 0;
    assert_int_equal(client_history_record(a, "192.0.2.9",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_record(a, "192.0.2.9",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    assert_int_equal(client_history_get(a, "192.0.2.9", T0, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(r.messages, 2);
    assert_int_equal(client_history_entries(a), 1);
    assert_int_equal(occurrences("using the local store"), 1);
    assert_true(testutil_logged("redis 127.0.0.1:"));
    assert_false(testutil_logged("redis back"));

    /* it comes back (empty): after the retry delay it is used again */
    redis = redis_start(f->dir, port);
    assert_true(redis > 0);
    f->child = redis;
    assert_int_equal(client_history_get(a, "192.0.2.9", T0, &r),
                     CLIENT_HISTORY_FOUND);   /* still within the delay */
    client_history_set_retry(a, 0);
    assert_int_equal(client_history_get(a, "192.0.2.9", T0, &r),
                     CLIENT_HISTORY_NOTFOUND);
    assert_int_equal(occurrences("redis back"), 1);
    assert_int_equal(client_history_record(a, "192.0.2.9",
                                           CLIENT_HISTORY_MESSAGE, T0), 0);
    /* ... and the two messages of the outage were copied to it */
    assert_int_equal(client_history_get(b, "192.0.2.9", T0, &r),
                     CLIENT_HISTORY_FOUND);
    assert_int_equal(r.messages, 3);
    assert_int_equal(occurrences("copied 2 event(s) of the outage"), 1);
    assert_int_equal(occurrences("using the local store"), 1);

    a = client_history_close(a);
    b = client_history_close(b);
    redis_stop(redis);
    f->child = 0;
    dstr_free(backend);
    dstr_free(data_b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_history_keys),
        cmocka_unit_test(test_client_history_events),
        cmocka_unit_test_setup_teardown(test_client_history_known, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_suspect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_lmdb, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_rdonly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_open_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_ttl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_max_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_list_forget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_kill9, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_history_redis, setup,
                                        teardown),
    };

    (void) signal(SIGPIPE, SIG_IGN);    /* hiredis writes with write(2) */
    return cmocka_run_group_tests_name("client_history", tests, NULL, NULL);
}
