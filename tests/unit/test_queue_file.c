/* test_queue_file - unit tests for global/queue_file and global/queue_dirs. */

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "testutil.h"

#define TEST_ID         "00000000001000001002"
#define TEST_ARRIVAL    1700000000123456LL
#define TEST_BIG        (5 * 1024 * 1024 + 12345)

struct fixture {
    char   *dir;                       /* test directory */
    char   *qdir;                      /* dir/queue */
    struct dstr *why;
    char   *mounted;                   /* a tmpfs to unmount, or NULL */
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* setup - a fresh queue directory per test */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct dstr *d = dstr_new(64, 4096);

    f->dir = testutil_tmpdir();
    (void) dstr_appendf(d, "%s/queue", f->dir);
    f->qdir = dstr_steal(d);           /* frees d itself */
    f->why = dstr_new(128, 4096);
    if (queue_dirs_create(f->qdir, f->why) < 0)
        fail_msg("queue_dirs_create: %s", f->why->data);
    queue_file_set_fault(NULL);
    *state = f;
    return 0;
}

/* teardown - remove the queue directory */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    queue_file_set_fault(NULL);
    if (f->mounted != NULL && umount2(f->mounted, MNT_DETACH) < 0)
        print_message("# umount %s: %s\n", f->mounted, strerror(errno));
    free(f->mounted);
    testutil_rmtree(f->dir);
    free(f->dir);
    free(f->qdir);
    dstr_free(f->why);
    free(f);
    return 0;
}

/* test_path - "qdir/sub/name" (static buffer: one at a time) */
static const char *
test_path(const struct fixture *f, const char *sub, const char *name)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), "%s/%s%s%s", f->qdir, sub, name ? "/" : "",
             name ? name : "");
    return buf;
}

/* test_count - regular entries in qdir/sub */
static int
test_count(const struct fixture *f, const char *sub)
{
    DIR    *d = opendir(test_path(f, sub, NULL));
    struct dirent *de;
    int     n = 0;

    if (d == NULL)
        fail_msg("opendir %s: %m", sub);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* test_assert_empty - nothing in tmp/ or incoming/ */
static void
test_assert_empty(const struct fixture *f)
{
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 0);
    assert_int_equal(test_count(f, QUEUE_DIRS_INCOMING), 0);
}

static const struct queue_file_rcpt test_rcpts[] = {
    {"rcpt1@example.org", QUEUE_FILE_NOTIFY_SUCCESS
     | QUEUE_FILE_NOTIFY_FAILURE | QUEUE_FILE_NOTIFY_DELAY,
     "rfc822;rcpt1+2Balias@example.org"},
    {"j\xc3\xb6rg@\xc3\xa9xample.org", QUEUE_FILE_NOTIFY_NEVER, NULL},
    {"third@example.org", 0, "utf-8;third@example.org"},
};

/* test_full_env - an envelope with every field set */
static void
test_full_env(struct queue_file_env *env)
{
    memset(env, 0, sizeof(*env));
    env->arrival_us = TEST_ARRIVAL;
    env->sender = "s\xc3\xa9nder@example.com";
    env->ret = QUEUE_FILE_RET_HDRS;
    env->envid = "QQ314159+2Bx";
    env->smtputf8 = 1;
    env->body = QUEUE_FILE_BODY_BINARYMIME;
    env->rcpt = test_rcpts;
    env->rcpt_count = sizeof(test_rcpts) / sizeof(test_rcpts[0]);
    env->client_addr = "2001:db8::1";
    env->client_port = 65535;
    env->client_name = "mail.example.com";
    env->client_helo = "\xff\x80 8-bit helo";
    env->protocol = "ESMTPSA";
    env->sasl_username = "user@example.com";
    env->tls_protocol = "TLSv1.3";
    env->tls_cipher = "TLS_AES_256_GCM_SHA384";
    env->tls_bits = 256;
    env->tls_peer = "client.example.com";
    env->stress = 1;
    env->client_class = "preferred";
}

/* test_min_env - sender and one recipient, nothing else */
static void
test_min_env(struct queue_file_env *env)
{
    memset(env, 0, sizeof(*env));
    env->sender = "";
    env->rcpt = test_rcpts + 2;
    env->rcpt_count = 1;
}

/* test_streq - equal strings, or both NULL */
static void
test_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* test_env_equal - every field of two envelopes (id and size aside) */
static void
test_env_equal(const struct queue_file_env *a, const struct queue_file_env *b)
{
    assert_int_equal(a->arrival_us, b->arrival_us);
    test_streq(a->sender, b->sender);
    assert_int_equal(a->ret, b->ret);
    test_streq(a->envid, b->envid);
    assert_int_equal(a->smtputf8, b->smtputf8);
    assert_int_equal(a->body, b->body);
    assert_int_equal(a->rcpt_count, b->rcpt_count);
    for (size_t i = 0; i < a->rcpt_count; i++) {
        test_streq(a->rcpt[i].address, b->rcpt[i].address);
        assert_int_equal(a->rcpt[i].notify, b->rcpt[i].notify);
        test_streq(a->rcpt[i].orcpt, b->rcpt[i].orcpt);
    }
    test_streq(a->client_addr, b->client_addr);
    assert_int_equal(a->client_port, b->client_port);
    test_streq(a->client_name, b->client_name);
    test_streq(a->client_helo, b->client_helo);
    test_streq(a->protocol, b->protocol);
    test_streq(a->sasl_username, b->sasl_username);
    test_streq(a->tls_protocol, b->tls_protocol);
    test_streq(a->tls_cipher, b->tls_cipher);
    assert_int_equal(a->tls_bits, b->tls_bits);
    test_streq(a->tls_peer, b->tls_peer);
    assert_int_equal(a->stress, b->stress);
    test_streq(a->client_class, b->client_class);
}

/* test_binary - content with every byte value and SMTP's traps */
static struct dstr *
test_binary(void)
{
    struct dstr *d = dstr_new(1024, DSTR_UNLIMITED);
    static const char traps[] = "\r\n.\r\n\0\0bare\rCR bare\nLF\n.\n";
    static const char fake[] = "\r\ncontent 5\nend 0\n\n";  /* like records */

    (void) dstr_append_str(d, "Subject: 8-bit \xe2\x82\xac\r\n\r\n");
    for (int i = 0; i < 256; i++)
        (void) dstr_append_char(d, i);
    (void) dstr_append(d, traps, sizeof(traps) - 1);
    for (int i = 0; i < 100000; i++)   /* a line far over 998 bytes */
        (void) dstr_append_char(d, 'x');
    (void) dstr_append(d, fake, sizeof(fake) - 1);
    return d;
}

/* test_write - one message; returns 0 or -1 (the ID into id) */
static int
test_write(const struct fixture *f, const char *id_in,
           const struct queue_file_env *env, const char *received,
           const char *content, size_t len, size_t chunk, char *id)
{
    struct queue_file *qf;
    size_t  off = 0;

    qf = queue_file_create(f->qdir, id_in, received,
                           received ? strlen(received) : 0, f->why);
    if (qf == NULL)
        return -1;
    if (id != NULL)
        memcpy(id, queue_file_id(qf), QUEUE_ID_SIZE);
    while (off < len) {
        size_t  n = len - off < chunk ? len - off : chunk;

        if (queue_file_append(qf, content + off, n) < 0) {
            int     saved = errno;

            queue_file_abort(qf);
            errno = saved;
            return -1;
        }
        off += n;
    }
    assert_int_equal(queue_file_size(qf), (long long) len);
    return queue_file_commit(qf, env, f->why);
}

/* test_read_all - all content through a reader, in reads of varying size */
static int
test_read_all(struct queue_file_reader *r, struct dstr *out, struct dstr *why)
{
    static const size_t sizes[] = {3, 4096, 70001, 1 << 20, 1};
    char   *buf = malloc(1 << 20);
    ssize_t n;
    size_t  k = 0;

    dstr_reset(out);
    while ((n = queue_file_read_content(r, buf, sizes[k++ % 5], why)) > 0)
        assert_int_equal(dstr_append(out, buf, (size_t) n), 0);
    free(buf);
    return n < 0 ? -1 : 0;
}

/* test_memfd - an anonymous file holding the given bytes */
static int
test_memfd(const void *p, size_t len)
{
    int     fd = memfd_create("queue-test", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, len), (ssize_t) len);
    return fd;
}

/* test_slurp - the bytes of a file */
static struct dstr *
test_slurp(const char *path)
{
    struct dstr *d = dstr_new(4096, DSTR_UNLIMITED);
    char    buf[8192];
    ssize_t n;
    int     fd = open(path, O_RDONLY);

    if (fd < 0)
        fail_msg("open %s: %m", path);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        (void) dstr_append(d, buf, (size_t) n);
    close(fd);
    return d;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

/* test_dirs_create - every subdirectory, mode 0700, whatever the umask */
static void
test_dirs_create(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    mode_t  old = umask(0277);         /* mkdir alone would give 0500 */
    struct dstr *sub = dstr_new(64, 4096);

    (void) dstr_appendf(sub, "%s/second", f->dir);
    assert_int_equal(queue_dirs_create(sub->data, f->why), 0);
    umask(old);
    for (int i = 0; queue_dirs_all[i] != NULL; i++) {
        char    p[4096];

        snprintf(p, sizeof(p), "%s/%s", sub->data, queue_dirs_all[i]);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
    }
    assert_int_equal(stat(sub->data, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Twice is fine. */
    assert_int_equal(queue_dirs_create(sub->data, f->why), 0);
    assert_int_equal(queue_dirs_check(sub->data, f->why), 0);
    dstr_free(sub);

    /* A missing parent is an error with a reason. */
    assert_int_equal(queue_dirs_create("/nonexistent-doppel/a/b", f->why), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(f->why->data, "mkdir"));
}

/* test_dirs_check - wrong modes, a symlink, a file, a missing directory */
static void
test_dirs_check(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    assert_int_equal(queue_dirs_check(f->qdir, f->why), 0);

    assert_int_equal(chmod(test_path(f, QUEUE_DIRS_ACTIVE, NULL), 0755), 0);
    assert_int_equal(queue_dirs_check(f->qdir, f->why), -1);
    assert_non_null(strstr(f->why->data, "active: mode 0755, expected 0700"));
    /* create repairs the mode of a directory that is ours */
    assert_int_equal(queue_dirs_create(f->qdir, f->why), 0);
    assert_int_equal(stat(test_path(f, QUEUE_DIRS_ACTIVE, NULL), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    assert_int_equal(rmdir(test_path(f, QUEUE_DIRS_HOLD, NULL)), 0);
    assert_int_equal(queue_dirs_check(f->qdir, f->why), -1);
    assert_non_null(strstr(f->why->data, "hold"));
    assert_int_equal(queue_dirs_create(f->qdir, f->why), 0);

    /* A symbolic link is refused, by check and by create. */
    assert_int_equal(rmdir(test_path(f, QUEUE_DIRS_DEFERRED, NULL)), 0);
    assert_int_equal(symlink(f->dir, test_path(f, QUEUE_DIRS_DEFERRED, NULL)),
                     0);
    assert_int_equal(queue_dirs_check(f->qdir, f->why), -1);
    assert_non_null(strstr(f->why->data, "deferred: not a directory"));
    assert_int_equal(queue_dirs_create(f->qdir, f->why), -1);
    assert_int_equal(unlink(test_path(f, QUEUE_DIRS_DEFERRED, NULL)), 0);

    /* A plain file where a directory belongs. */
    free(testutil_write_file(f->qdir, QUEUE_DIRS_DEFERRED, "x", 1));
    assert_int_equal(queue_dirs_create(f->qdir, f->why), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_int_equal(unlink(test_path(f, QUEUE_DIRS_DEFERRED, NULL)), 0);
    assert_int_equal(queue_dirs_create(f->qdir, f->why), 0);

    /* The top directory must not be writable by others. */
    assert_int_equal(chmod(f->qdir, 0777), 0);
    assert_int_equal(queue_dirs_check(f->qdir, f->why), -1);
    assert_non_null(strstr(f->why->data, "writable by group or others"));
    assert_int_equal(chmod(f->qdir, 0755), 0);
    assert_int_equal(queue_dirs_check(f->qdir, f->why), 0);
}

/* test_dirs_clean_tmp - old writer leftovers go, the rest stays */
static void
test_dirs_clean_tmp(void **state)
{
    struct fixture *f = *state;
    char    young[QUEUE_ID_SIZE];
    char    old[QUEUE_ID_SIZE];
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
    char   *p;

    assert_int_equal(queue_id_new(young, sizeof(young)), 0);
    assert_int_equal(queue_id_new(old, sizeof(old)), 0);
    free(testutil_write_file(test_path(f, QUEUE_DIRS_TMP, NULL), young, "y",
                             1));
    p = testutil_write_file(test_path(f, QUEUE_DIRS_TMP, NULL), old, "o", 1);
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    free(p);
    p = testutil_write_file(test_path(f, QUEUE_DIRS_TMP, NULL), "README", "r",
                            1);
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    free(p);

    assert_int_equal(queue_dirs_clean_tmp(f->qdir, 3600, f->why), 1);
    assert_int_equal(access(test_path(f, QUEUE_DIRS_TMP, old), F_OK), -1);
    assert_int_equal(access(test_path(f, QUEUE_DIRS_TMP, young), F_OK), 0);
    assert_int_equal(access(test_path(f, QUEUE_DIRS_TMP, "README"), F_OK), 0);
    assert_int_equal(queue_dirs_clean_tmp(f->qdir, 3600, f->why), 0);
    assert_int_equal(queue_dirs_clean_tmp(f->qdir, 0, f->why), 1);
    assert_int_equal(access(test_path(f, QUEUE_DIRS_TMP, young), F_OK), -1);
}

/* ------------------------------------------------------------------ */
/* Writing and reading                                                 */
/* ------------------------------------------------------------------ */

/* test_golden - the exact bytes of a small file: the format is stable */
static void
test_golden(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    static const struct queue_file_rcpt rcpt = {
        "c@d", QUEUE_FILE_NOTIFY_SUCCESS | QUEUE_FILE_NOTIFY_FAILURE,
        "rfc822;c@d",
    };
    static const char expect[] =
        "doppel-queue 1\n"
        "content 17\nReceived: x\r\nHi\r\n\n"
        "id 20\n" TEST_ID "\n"
        "arrival 17\n1700000000.123456\n"
        "sender 3\na@b\n"
        "rcpt 3\nc@d\n"
        "notify 15\nSUCCESS,FAILURE\n"
        "orcpt 10\nrfc822;c@d\n"
        "client_addr 9\n127.0.0.1\n"
        "client_port 4\n2525\n"
        "personality 6\nstress\n"
        "size 2\n17\n"
        "end 0\n\n";
    struct dstr *got;
    struct stat st;

    memset(&env, 0, sizeof(env));
    env.arrival_us = TEST_ARRIVAL;
    env.sender = "a@b";
    env.rcpt = &rcpt;
    env.rcpt_count = 1;
    env.client_addr = "127.0.0.1";
    env.client_port = 2525;
    env.stress = 1;
    assert_int_equal(test_write(f, TEST_ID, &env, "Received: x\r\n", "Hi\r\n",
                                4, 100, NULL), 0);
    got = test_slurp(test_path(f, QUEUE_DIRS_INCOMING, TEST_ID));
    assert_int_equal(got->len, sizeof(expect) - 1);
    assert_memory_equal(got->data, expect, sizeof(expect) - 1);
    dstr_free(got);
    assert_int_equal(stat(test_path(f, QUEUE_DIRS_INCOMING, TEST_ID), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 0);
}

/* test_round_trip - every envelope field and binary content, byte for byte */
static void
test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    const struct queue_file_env *got;
    struct queue_file_reader *r;
    struct dstr *content = test_binary();
    struct dstr *out = dstr_new(1024, DSTR_UNLIMITED);
    struct dstr *whole = dstr_new(1024, DSTR_UNLIMITED);
    const char *received = "Received: from mail.example.com ([2001:db8::1])\r\n"
        "\tby mx.example.net (doppel) with ESMTPSA id " TEST_ID "\r\n";
    char    id[QUEUE_ID_SIZE];

    test_full_env(&env);
    assert_int_equal(test_write(f, NULL, &env, received, content->data,
                                content->len, 777, id), 0);
    assert_true(queue_id_valid(id));
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 0);
    assert_int_equal(test_count(f, QUEUE_DIRS_INCOMING), 1);

    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    if (r == NULL)
        fail_msg("read: %s", f->why->data);
    got = queue_file_read_env(r);
    assert_string_equal(got->id, id);
    test_env_equal(&env, got);
    (void) dstr_append_str(whole, received);
    (void) dstr_append(whole, content->data, content->len);
    assert_int_equal(got->size, (long long) whole->len);
    assert_int_equal(test_read_all(r, out, f->why), 0);
    assert_int_equal(out->len, whole->len);
    assert_memory_equal(out->data, whole->data, whole->len);

    /* Rewind and read it again. */
    assert_int_equal(queue_file_read_rewind(r, f->why), 0);
    assert_int_equal(test_read_all(r, out, f->why), 0);
    assert_int_equal(out->len, whole->len);
    assert_memory_equal(out->data, whole->data, whole->len);
    r = queue_file_read_close(r);
    assert_null(r);
    dstr_free(content);
    dstr_free(out);
    dstr_free(whole);
}

/* test_minimal - unset fields come back unset; empty content is fine */
static void
test_minimal(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    const struct queue_file_env *got;
    struct queue_file_reader *r;
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    char    id[QUEUE_ID_SIZE];
    long long before = (long long) time(NULL) * 1000000;

    test_min_env(&env);
    assert_int_equal(test_write(f, NULL, &env, NULL, "", 0, 1, id), 0);
    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    if (r == NULL)
        fail_msg("read: %s", f->why->data);
    got = queue_file_read_env(r);
    /* arrival 0 means "the time of queue_file_create()". */
    assert_true(got->arrival_us >= before);
    assert_true(got->arrival_us < before + 10 * 1000000LL);
    env.arrival_us = got->arrival_us;
    test_env_equal(&env, got);
    assert_string_equal(got->sender, "");
    assert_null(got->envid);
    assert_null(got->client_addr);
    assert_int_equal(got->ret, QUEUE_FILE_RET_NONE);
    assert_int_equal(got->body, QUEUE_FILE_BODY_NONE);
    assert_int_equal(got->size, 0);
    assert_int_equal(test_read_all(r, out, f->why), 0);
    assert_int_equal(out->len, 0);
    queue_file_read_close(r);
    dstr_free(out);
}

/* test_line_breaks - CR and LF in informational strings are stored as "?" */
static void
test_line_breaks(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    const struct queue_file_env *got;
    struct queue_file_reader *r;
    char    id[QUEUE_ID_SIZE];

    test_min_env(&env);
    env.tls_peer = "evil\r\nrcpt 3\nx@y";
    env.client_helo = "\n";
    env.client_name = "a\rb";
    assert_int_equal(test_write(f, NULL, &env, NULL, "x", 1, 1, id), 0);
    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    if (r == NULL)
        fail_msg("read: %s", f->why->data);
    got = queue_file_read_env(r);
    assert_string_equal(got->tls_peer, "evil??rcpt 3?x@y");
    assert_string_equal(got->client_helo, "?");
    assert_string_equal(got->client_name, "a?b");
    assert_int_equal(got->rcpt_count, 1);
    queue_file_read_close(r);
}

/* test_big - several MB in chunks of awkward sizes */
static void
test_big(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct queue_file *qf;
    struct queue_file_reader *r;
    static const size_t sizes[] = {1, 13, 4096, 65535, 65536, 65537, 300000};
    char   *data = malloc(TEST_BIG);
    struct dstr *out = dstr_new(TEST_BIG, DSTR_UNLIMITED);
    size_t  off = 0;
    size_t  k = 0;
    unsigned x = 12345;
    char    id[QUEUE_ID_SIZE];

    assert_non_null(data);
    for (size_t i = 0; i < TEST_BIG; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (char) (x >> 16);
    }
    test_full_env(&env);
    qf = queue_file_create(f->qdir, NULL, NULL, 0, f->why);
    assert_non_null(qf);
    memcpy(id, queue_file_id(qf), sizeof(id));
    while (off < TEST_BIG) {
        size_t  n = sizes[k++ % 7];

        n = n < TEST_BIG - off ? n : TEST_BIG - off;
        assert_int_equal(queue_file_append(qf, data + off, n), 0);
        off += n;
        assert_int_equal(queue_file_size(qf), (long long) off);
    }
    assert_int_equal(queue_file_commit(qf, &env, f->why), 0);

    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    if (r == NULL)
        fail_msg("read: %s", f->why->data);
    assert_int_equal(queue_file_read_env(r)->size, TEST_BIG);
    assert_int_equal(test_read_all(r, out, f->why), 0);
    assert_int_equal(out->len, TEST_BIG);
    assert_memory_equal(out->data, data, TEST_BIG);
    queue_file_read_close(r);
    dstr_free(out);
    free(data);
}

/* test_abort - a session that ends early leaves nothing */
static void
test_abort(void **state)
{
    struct fixture *f = *state;
    struct queue_file *qf;

    qf = queue_file_create(f->qdir, NULL, "Received: x\r\n", 13, f->why);
    assert_non_null(qf);
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 1);
    for (int i = 0; i < 100; i++)
        assert_int_equal(queue_file_append(qf, "0123456789", 10), 0);
    assert_int_equal(queue_file_size(qf), 1000);
    qf = queue_file_abort(qf);
    assert_null(qf);
    test_assert_empty(f);
    assert_null(queue_file_abort(NULL));
}

/* test_bad_env - an envelope the format cannot hold: EINVAL, no file */
static void
test_bad_env(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct queue_file_rcpt bad_rcpt = {"x@y", QUEUE_FILE_NOTIFY_NEVER
                                       | QUEUE_FILE_NOTIFY_DELAY, NULL};
    struct queue_file_rcpt empty_rcpt = {"", 0, NULL};
    char   *long_str = malloc(QUEUE_FILE_FIELD_MAX + 2);
    struct queue_file *qf;

    memset(long_str, 'a', QUEUE_FILE_FIELD_MAX + 1);
    long_str[QUEUE_FILE_FIELD_MAX + 1] = '\0';
    struct queue_file_rcpt lf_rcpt = {"x@y\r\nDATA", 0, NULL};
    struct queue_file_rcpt lf_orcpt = {"x@y", 0, "rfc822;x\n"};

    for (int c = 0; c < 13; c++) {
        test_min_env(&env);
        switch (c) {
        case 0: env.sender = NULL; break;
        case 1: env.rcpt_count = 0; break;
        case 2: env.rcpt = &bad_rcpt; break;
        case 3: env.rcpt = &empty_rcpt; break;
        case 4: env.client_helo = long_str; break;
        case 5: env.client_port = 65536; break;
        case 6: env.ret = (enum queue_file_ret) 7; break;
        case 7: env.rcpt_count = QUEUE_FILE_RCPT_MAX + 1; break;
        case 8: env.sender = long_str; break;
        case 9: env.sender = "a@b\n"; break;
        case 10: env.envid = "\rx"; break;
        case 11: env.rcpt = &lf_rcpt; break;
        case 12: env.rcpt = &lf_orcpt; break;
        }
        errno = 0;
        assert_int_equal(test_write(f, NULL, &env, NULL, "x", 1, 1, NULL), -1);
        assert_int_equal(errno, EINVAL);
        assert_non_null(strstr(f->why->data, "envelope"));
        test_assert_empty(f);
    }
    errno = 0;
    qf = queue_file_create(f->qdir, NULL, NULL, 0, f->why);
    assert_int_equal(queue_file_commit(qf, NULL, f->why), -1);
    assert_int_equal(errno, EINVAL);
    test_assert_empty(f);

    /* A string exactly at the limit is fine. */
    long_str[QUEUE_FILE_FIELD_MAX] = '\0';
    test_min_env(&env);
    env.client_helo = long_str;
    assert_int_equal(test_write(f, NULL, &env, NULL, "x", 1, 1, NULL), 0);
    free(long_str);
}

/* test_bad_create - bad arguments and an unusable queue directory */
static void
test_bad_create(void **state)
{
    struct fixture *f = *state;
    struct dstr *missing = dstr_new(64, 4096);

    errno = 0;
    assert_null(queue_file_create(f->qdir, "../../etc/passwd", NULL, 0,
                                  f->why));
    assert_int_equal(errno, EINVAL);
    assert_null(queue_file_create(f->qdir, NULL, NULL, 5, f->why));
    assert_int_equal(errno, EINVAL);
    (void) dstr_appendf(missing, "%s/none", f->dir);
    assert_null(queue_file_create(missing->data, NULL, NULL, 0, f->why));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(f->why->data, "create"));
    dstr_free(missing);
}

/* test_collision - an existing file is never overwritten nor removed */
static void
test_collision(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct queue_file *qf;
    struct dstr *d;

    /* Someone else's tmp/ID: create fails, their file stays. */
    free(testutil_write_file(test_path(f, QUEUE_DIRS_TMP, NULL), TEST_ID,
                             "theirs", 6));
    errno = 0;
    assert_null(queue_file_create(f->qdir, TEST_ID, NULL, 0, f->why));
    assert_int_equal(errno, EEXIST);
    d = test_slurp(test_path(f, QUEUE_DIRS_TMP, TEST_ID));
    assert_string_equal(d->data, "theirs");
    dstr_free(d);
    assert_int_equal(unlink(test_path(f, QUEUE_DIRS_TMP, TEST_ID)), 0);

    /* An existing incoming/ID: commit fails and does not replace it. */
    free(testutil_write_file(test_path(f, QUEUE_DIRS_INCOMING, NULL), TEST_ID,
                             "queued", 6));
    test_min_env(&env);
    qf = queue_file_create(f->qdir, TEST_ID, NULL, 0, f->why);
    assert_non_null(qf);
    errno = 0;
    assert_int_equal(queue_file_commit(qf, &env, f->why), -1);
    assert_int_equal(errno, EEXIST);
    assert_non_null(strstr(f->why->data, "rename"));
    d = test_slurp(test_path(f, QUEUE_DIRS_INCOMING, TEST_ID));
    assert_string_equal(d->data, "queued");
    dstr_free(d);
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 0);
}

/* ------------------------------------------------------------------ */
/* Fault injection                                                     */
/* ------------------------------------------------------------------ */

static int fault_calls;                /* operations seen */
static int fault_target;               /* fail this one (1-based), 0: none */
static int fault_errno;
static int fault_short;                /* every write is short */
static int fault_short_then;           /* short write here, fail the next */
static unsigned fault_ops_failed;      /* bit per enum queue_file_op failed */
static enum queue_file_op fault_last_op;

/* test_fault - the hook: count, and fail the chosen operation */
static int
test_fault(enum queue_file_op op, const char *path)
{
    (void) path;
    fault_calls++;
    fault_last_op = op;
    if (fault_calls == fault_target) {
        fault_ops_failed |= 1u << op;
        return fault_errno;
    }
    if (fault_short_then != 0 && fault_calls == fault_short_then) {
        assert_int_equal(op, QUEUE_FILE_OP_WRITE);
        return QUEUE_FILE_FAULT_SHORT;
    }
    if (fault_short && op == QUEUE_FILE_OP_WRITE)
        return QUEUE_FILE_FAULT_SHORT;
    return 0;
}

/* test_fault_reset - no fault planned */
static void
test_fault_reset(void)
{
    fault_calls = 0;
    fault_target = 0;
    fault_errno = 0;
    fault_short = 0;
    fault_short_then = 0;
}

/* test_fault_message - write a 200 KB message; 0 or -1 with errno */
static int
test_fault_message(const struct fixture *f)
{
    static char content[200000];
    struct queue_file_env env;

    memset(content, 'm', sizeof(content));
    test_full_env(&env);
    return test_write(f, NULL, &env, "Received: x\r\n", content,
                      sizeof(content), 10000, NULL);
}

/* test_faults - every operation failing in turn leaves no file */
static void
test_faults(void **state)
{
    struct fixture *f = *state;
    static const int errnos[] = {ENOSPC, EIO, EDQUOT, EFBIG, EROFS};
    int     total;

    queue_file_set_fault(test_fault);
    test_fault_reset();
    assert_int_equal(test_fault_message(f), 0);
    total = fault_calls;
    assert_true(total >= 8);           /* open, writes, fsync, ..., dirsync */
    assert_int_equal(fault_last_op, QUEUE_FILE_OP_DIRSYNC);
    assert_int_equal(test_count(f, QUEUE_DIRS_INCOMING), 1);
    testutil_rmtree(test_path(f, QUEUE_DIRS_INCOMING, NULL));
    assert_int_equal(queue_dirs_create(f->qdir, f->why), 0);

    fault_ops_failed = 0;
    for (int n = 1; n <= total; n++) {
        int     rc;

        test_fault_reset();
        fault_target = n;
        fault_errno = errnos[n % 5];
        dstr_reset(f->why);
        errno = 0;
        rc = test_fault_message(f);
        if (rc != -1)
            fail_msg("operation %d of %d failed, yet the write succeeded", n,
                     total);
        if (errno != fault_errno)
            fail_msg("operation %d: errno %d, expected %d", n, errno,
                     fault_errno);
        test_assert_empty(f);
    }
    /* Every kind of operation was made to fail at least once. */
    assert_int_equal(fault_ops_failed, (1u << (QUEUE_FILE_OP_DIRSYNC + 1)) - 1);
    queue_file_set_fault(NULL);
}

/* test_fault_reasons - the reason names the operation that failed */
static void
test_fault_reasons(void **state)
{
    struct fixture *f = *state;
    static const struct {
        enum queue_file_op op;
        const char *text;
    } cases[] = {
        {QUEUE_FILE_OP_OPEN, "create: No space left on device"},
        {QUEUE_FILE_OP_FSYNC, "fsync: No space left on device"},
        {QUEUE_FILE_OP_CLOSE, "close: No space left on device"},
        {QUEUE_FILE_OP_RENAME, "rename to incoming: No space left"},
        {QUEUE_FILE_OP_DIROPEN, "incoming: open: No space left"},
        {QUEUE_FILE_OP_DIRSYNC, "incoming: fsync: No space left"},
    };

    queue_file_set_fault(test_fault);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int     n;

        /* Find the call number of the first such operation. */
        for (n = 1; n < 1000; n++) {
            test_fault_reset();
            fault_target = n;
            fault_errno = ENOSPC;
            fault_ops_failed = 0;
            assert_int_equal(test_fault_message(f), -1);
            test_assert_empty(f);
            if (fault_ops_failed == (1u << cases[c].op))
                break;
        }
        assert_true(n < 1000);
        if (strstr(f->why->data, cases[c].text) == NULL)
            fail_msg("op %d: reason \"%s\" lacks \"%s\"", cases[c].op,
                     f->why->data, cases[c].text);
    }
    queue_file_set_fault(NULL);
}

/* test_short_writes - short writes are resumed; short then full disk fails */
static void
test_short_writes(void **state)
{
    struct fixture *f = *state;
    struct queue_file_reader *r;
    struct dstr *out = dstr_new(1024, DSTR_UNLIMITED);
    char    id[QUEUE_ID_SIZE];
    struct queue_file_env env;
    struct dstr *content = test_binary();

    queue_file_set_fault(test_fault);
    test_fault_reset();
    fault_short = 1;
    test_full_env(&env);
    assert_int_equal(test_write(f, NULL, &env, NULL, content->data,
                                content->len, 5000, id), 0);
    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    if (r == NULL)
        fail_msg("read: %s", f->why->data);
    assert_int_equal(test_read_all(r, out, f->why), 0);
    assert_int_equal(out->len, content->len);
    assert_memory_equal(out->data, content->data, content->len);
    queue_file_read_close(r);
    assert_int_equal(unlink(test_path(f, QUEUE_DIRS_INCOMING, id)), 0);

    /* Call 2 is the magic line's write, call 3 its retry: fail that. */
    for (int n = 2; n < 6; n++) {
        test_fault_reset();
        fault_short_then = n;
        fault_target = n + 1;
        fault_errno = ENOSPC;
        errno = 0;
        assert_int_equal(test_fault_message(f), -1);
        assert_int_equal(errno, ENOSPC);
        test_assert_empty(f);
    }
    queue_file_set_fault(NULL);
    dstr_free(content);
    dstr_free(out);
}

/* test_failed_handle - after a failed append every call fails the same */
static void
test_failed_handle(void **state)
{
    struct fixture *f = *state;
    struct queue_file *qf;
    struct queue_file_env env;
    char    chunk[QUEUE_FILE_CHUNK];

    memset(chunk, 'c', sizeof(chunk));
    queue_file_set_fault(test_fault);
    test_fault_reset();
    fault_target = 3;                  /* open, magic, first chunk */
    fault_errno = EDQUOT;
    qf = queue_file_create(f->qdir, NULL, NULL, 0, f->why);
    assert_non_null(qf);
    assert_int_equal(queue_file_append(qf, chunk, sizeof(chunk)), -1);
    assert_int_equal(errno, EDQUOT);
    test_assert_empty(f);
    errno = 0;
    assert_int_equal(queue_file_append(qf, "x", 1), -1);
    assert_int_equal(errno, EDQUOT);
    test_min_env(&env);
    errno = 0;
    assert_int_equal(queue_file_commit(qf, &env, f->why), -1);
    assert_int_equal(errno, EDQUOT);
    assert_non_null(strstr(f->why->data, "write: Disk quota exceeded"));
    test_assert_empty(f);
    queue_file_set_fault(NULL);
}

/* test_disk_full - a real full file system (tmpfs; needs root) */
static void
test_disk_full(void **state)
{
    struct fixture *f = *state;
    struct dstr *mnt = dstr_new(64, 4096);
    struct dstr *qdir = dstr_new(64, 4096);
    struct fixture small;
    struct queue_file_env env;
    char   *content = malloc(512 * 1024);
    int     rc;
    int     saved;
    int     failed_at = -1;

    (void) dstr_appendf(mnt, "%s/tiny", f->dir);
    (void) dstr_appendf(qdir, "%s/queue", mnt->data);
    assert_int_equal(mkdir(mnt->data, 0700), 0);
    if (mount("doppel-test", mnt->data, "tmpfs", MS_NOSUID | MS_NODEV,
              "size=64k,mode=0700") < 0) {
        print_message("# SKIP real disk-full test: cannot mount tmpfs: %s "
                      "(the fault-hook tests cover the error paths)\n",
                      strerror(errno));
        dstr_free(mnt);
        dstr_free(qdir);
        free(content);
        skip();
    }
    f->mounted = xstrdup(mnt->data);
    small = *f;
    small.qdir = qdir->data;
    assert_int_equal(queue_dirs_create(qdir->data, f->why), 0);
    memset(content, 'z', 512 * 1024);
    test_full_env(&env);

    /* Growing messages: one of them must hit ENOSPC. */
    for (size_t len = 16 * 1024; len <= 512 * 1024 && failed_at < 0;
         len *= 2) {
        errno = 0;
        dstr_reset(f->why);
        rc = test_write(&small, NULL, &env, "Received: x\r\n", content, len,
                        8192, NULL);
        saved = errno;
        if (rc == 0) {
            testutil_rmtree(test_path(&small, QUEUE_DIRS_INCOMING, NULL));
            assert_int_equal(queue_dirs_create(qdir->data, f->why), 0);
            continue;
        }
        failed_at = (int) len;
        assert_int_equal(saved, ENOSPC);
        /* why is set when commit failed; append reports errno only. */
        if (f->why->len > 0
            && strstr(f->why->data, "No space left on device") == NULL)
            fail_msg("reason \"%s\"", f->why->data);
        test_assert_empty(&small);
    }
    assert_true(failed_at > 0);

    /* The space came back: a small message fits again. */
    assert_int_equal(test_write(&small, NULL, &env, "Received: x\r\n",
                                content, 1000, 100, NULL), 0);
    assert_int_equal(test_count(&small, QUEUE_DIRS_INCOMING), 1);
    assert_int_equal(test_count(&small, QUEUE_DIRS_TMP), 0);

    assert_int_equal(umount2(mnt->data, 0), 0);
    free(f->mounted);
    f->mounted = NULL;
    dstr_free(mnt);
    dstr_free(qdir);
    free(content);
}

/* ------------------------------------------------------------------ */
/* The reader against damaged files                                    */
/* ------------------------------------------------------------------ */

/* test_rec - append one record "name len\nvalue\n" */
static void
test_rec(struct dstr *d, const char *name, const char *value)
{
    (void) dstr_appendf(d, "%s %zu\n%s\n", name, strlen(value), value);
}

/* test_valid_text - a hand-made valid file */
static struct dstr *
test_valid_text(void)
{
    struct dstr *d = dstr_new(256, DSTR_UNLIMITED);

    (void) dstr_append_str(d, "doppel-queue 1\n");
    test_rec(d, "content", "Hello\r\n");
    test_rec(d, "id", TEST_ID);
    test_rec(d, "arrival", "1700000000.000001");
    test_rec(d, "sender", "a@b");
    test_rec(d, "rcpt", "c@d");
    test_rec(d, "notify", "DELAY");
    test_rec(d, "personality", "normal");
    test_rec(d, "size", "7");
    test_rec(d, "end", "");
    return d;
}

/* test_parse - read a buffer; 0 or -1 with the reason in why */
static int
test_parse(const char *p, size_t len, const char *name, struct dstr *why)
{
    struct queue_file_reader *r;
    struct dstr *out = dstr_new(64, DSTR_UNLIMITED);
    int     rc = -1;

    dstr_reset(why);
    r = queue_file_read_fd(test_memfd(p, len), name, why);
    if (r != NULL) {
        rc = test_read_all(r, out, why);
        if (rc == 0)
            assert_int_equal(out->len, (size_t) queue_file_read_env(r)->size);
        queue_file_read_close(r);
    }
    dstr_free(out);
    return rc;
}

/* test_corrupt_cases - each damage refused with a reason that says what */
static void
test_corrupt_cases(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *from;              /* replace this ... */
        const char *to;                /* ... with this */
        const char *reason;            /* expected in why */
    } cases[] = {
        {"doppel-queue 1\n", "hello world\n", "not a queue file"},
        {"doppel-queue 1\n", "doppel-queue 2\n", "unsupported queue file"},
        {"end 0\n\n", "", "truncated: no end record"},
        {"end 0\n\n", "end 0\n\nX", "garbage after the end record"},
        {"end 0\n\n", "end 1\nx\n", "length 1 exceeds limit 0"},
        {"sender 3\na@b\n", "sender 3\na@b\nsender 1\nx\n", "appears twice"},
        {"sender 3\na@b\n", "sender 3\na\0b\n", "\"sender\": NUL or line"},
        {"sender 3\na@b\n", "sender 3\na\nb\n", "\"sender\": NUL or line"},
        {"sender 3\na@b\n", "sender 3\na\rb\n", "\"sender\": NUL or line"},
        {"sender 3\na@b\n", "sender 2\na@b\n", "no newline after the value"},
        {"sender 3\na@b\n", "sender 03\na@b\n", "bad length"},
        {"sender 3\na@b\n", "sender 4\na@b\n", "line break in the value"},
        {"sender 3\na@b\n", "sender 99999\na@b\n", "exceeds limit"},
        {"sender 3\na@b\n", "sender 3a@b\n", "bad length"},
        {"sender 3\na@b\n", "Sender 3\na@b\n", "no record name"},
        {"sender 3\na@b\n", "sendr 3\na@b\n", "unknown record \"sendr\""},
        {"sender 3\na@b\n", "sender\t3\na@b\n", "no space after the name"},
        {"sender 3\na@b\n", "", "no \"sender\" record"},
        {"rcpt 3\nc@d\nnotify 5\nDELAY\n", "notify 5\nDELAY\nrcpt 3\nc@d\n",
         "before any \"rcpt\""},
        {"rcpt 3\nc@d\nnotify 5\nDELAY\n", "", "no \"rcpt\" record"},
        {"notify 5\nDELAY\n", "notify 5\nDELAY\nnotify 5\nDELAY\n",
         "twice for one recipient"},
        {"notify 5\nDELAY\n", "notify 13\nNEVER,SUCCESS\n",
         "\"notify\": invalid value"},
        {"notify 5\nDELAY\n", "notify 11\nDELAY,DELAY\n",
         "\"notify\": invalid value"},
        {"notify 5\nDELAY\n", "notify 6\nDELAY,\n",
         "\"notify\": invalid value"},
        {"size 1\n7\n", "size 1\n8\n", "size record says 8, content has 7"},
        {"size 1\n7\n", "size 2\n07\n", "\"size\": invalid value"},
        {"size 1\n7\n", "size 1\n7\ncontent 1\nx\n", "content record after"},
        {"arrival 17\n1700000000.000001\n", "arrival 16\n1700000000.00001\n",
         "\"arrival\": invalid value"},
        {"arrival 17\n1700000000.000001\n", "arrival 17\n-700000000.000001\n",
         "\"arrival\": invalid value"},
        {"id 20\n" TEST_ID "\n", "id 20\n" "0000000000100000100I\n",
         "\"id\": invalid value"},
        {"personality 6\nnormal\n", "personality 6\nstrong\n",
         "\"personality\": invalid value"},
        {"content 7\nHello\r\n\n", "content 7\nHello\r\n", "no newline"},
        {"content 7\nHello\r\n\n", "content 9999999\nHello\r\n\n",
         "exceeds limit"},
        {"content 7\nHello\r\n\n", "content 12\nHello\r\n\nid 1\n",
         "size record says 7, content has 12"},
    };
    struct dstr *valid = test_valid_text();

    /* The base text is valid: the cases below break only what they say. */
    if (test_parse(valid->data, valid->len, NULL, f->why) < 0)
        fail_msg("valid text refused: %s", f->why->data);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct dstr *d = dstr_new(256, DSTR_UNLIMITED);
        const char *at = strstr(valid->data, cases[c].from);
        size_t  tolen = strlen(cases[c].to);

        assert_non_null(at);
        /* "a\0b" needs its real length: 3 + the rest of the record. */
        if (strstr(cases[c].to, "sender 3\na") == cases[c].to
            && cases[c].to[10] == '\0')
            tolen = 13;
        (void) dstr_append(d, valid->data, (size_t) (at - valid->data));
        (void) dstr_append(d, cases[c].to, tolen);
        (void) dstr_append_str(d, at + strlen(cases[c].from));
        if (test_parse(d->data, d->len, "x", f->why) == 0)
            fail_msg("case %zu accepted", c);
        if (strstr(f->why->data, cases[c].reason) == NULL)
            fail_msg("case %zu: reason \"%s\" lacks \"%s\"", c, f->why->data,
                     cases[c].reason);
        assert_int_equal(errno, EINVAL);
        dstr_free(d);
    }

    /* The file name, when it is a queue ID, must be the ID inside. */
    assert_int_equal(test_parse(valid->data, valid->len,
                                "incoming/" TEST_ID, f->why), 0);
    assert_int_equal(test_parse(valid->data, valid->len,
                                "incoming/00000000001000001003", f->why), -1);
    assert_non_null(strstr(f->why->data, "does not match queue ID"));
    dstr_free(valid);

    /* Not a regular file; a missing file. */
    assert_null(queue_file_read_fd(open("/", O_RDONLY | O_DIRECTORY), "/",
                                   f->why));
    assert_non_null(strstr(f->why->data, "not a regular file"));
    assert_null(queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, "none"),
                                     f->why));
    assert_int_equal(errno, ENOENT);
}

/* test_truncated - every prefix of a real file is refused */
static void
test_truncated(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct dstr *content = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *file;
    char    id[QUEUE_ID_SIZE];

    for (int i = 0; i < 3000; i++)
        (void) dstr_append_char(content, "ab\r\n\0\xff"[i % 6]);
    test_full_env(&env);
    assert_int_equal(test_write(f, NULL, &env, "Received: x\r\n",
                                content->data, content->len, 1000, id), 0);
    file = test_slurp(test_path(f, QUEUE_DIRS_INCOMING, id));
    assert_int_equal(test_parse(file->data, file->len, NULL, f->why), 0);
    for (size_t len = 0; len < file->len; len++) {
        if (test_parse(file->data, len, NULL, f->why) == 0)
            fail_msg("prefix of %zu of %zu bytes accepted", len, file->len);
        assert_true(f->why->len > 0);
        if (len >= 15 && strstr(f->why->data, "truncated") == NULL)
            fail_msg("prefix %zu: reason \"%s\" does not say truncated", len,
                     f->why->data);
    }
    dstr_free(file);
    dstr_free(content);
}

/* test_structure - mark the magic line, record headers and terminators */
static void
test_structure(const struct dstr *file, char *structural)
{
    size_t  pos = 0;

    memset(structural, 0, file->len);
    while (pos < file->len && file->data[pos] != '\n')
        structural[pos++] = 1;
    structural[pos++] = 1;
    while (pos < file->len) {
        size_t  start = pos;
        size_t  len;

        while (file->data[pos] != '\n')
            structural[pos++] = 1;
        structural[pos++] = 1;
        len = strtoul(strchr(file->data + start, ' ') + 1, NULL, 10);
        pos += len;
        structural[pos++] = 1;
    }
    assert_int_equal(pos, file->len);
}

/* test_mutations - damaged bytes anywhere: refused or read, never a crash */
static void
test_mutations(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct dstr *file;
    char   *structural;
    char    id[QUEUE_ID_SIZE];
    static const unsigned char subst[] = {0x00, 0xff, '\n', ' ', '9', 'a'};
    int     tries = 0;

    test_full_env(&env);
    assert_int_equal(test_write(f, NULL, &env, "Received: x\r\n", "Hi\r\n", 4,
                                2, id), 0);
    file = test_slurp(test_path(f, QUEUE_DIRS_INCOMING, id));
    structural = malloc(file->len);
    test_structure(file, structural);
    for (size_t i = 0; i < file->len; i++) {
        for (size_t s = 0; s < sizeof(subst); s++) {
            char    saved = file->data[i];
            int     rc;

            if ((unsigned char) saved == subst[s])
                continue;
            file->data[i] = (char) subst[s];
            rc = test_parse(file->data, file->len, NULL, f->why);
            tries++;
            /* Damage to the structure is always caught, with a reason. */
            if (structural[i] && rc == 0)
                fail_msg("byte %zu (%#x -> %#x) damaged, yet accepted", i,
                         (unsigned char) saved, subst[s]);
            if (rc < 0)
                assert_true(f->why->len > 0);
            file->data[i] = saved;
        }
    }
    assert_true(tries > (int) file->len * 4);
    free(structural);
    dstr_free(file);
}

/* test_changed_under - content shorter than at open is an error */
static void
test_changed_under(void **state)
{
    struct fixture *f = *state;
    struct queue_file_env env;
    struct queue_file_reader *r;
    static char content[300000];
    char    buf[1000];
    char    id[QUEUE_ID_SIZE];
    ssize_t n;
    int     i;

    memset(content, 'q', sizeof(content));
    test_min_env(&env);
    assert_int_equal(test_write(f, NULL, &env, NULL, content,
                                sizeof(content), 100000, id), 0);
    r = queue_file_read_open(test_path(f, QUEUE_DIRS_INCOMING, id), f->why);
    assert_non_null(r);
    assert_int_equal(queue_file_read_content(r, buf, sizeof(buf), f->why),
                     sizeof(buf));
    assert_int_equal(truncate(test_path(f, QUEUE_DIRS_INCOMING, id), 100000),
                     0);
    for (i = 0; i < 1000; i++)
        if ((n = queue_file_read_content(r, buf, sizeof(buf), f->why)) <= 0)
            break;
    assert_int_equal(n, -1);
    assert_true(f->why->len > 0);
    queue_file_read_close(r);
}

#define TEST_THREADS 8
#define TEST_PER_THREAD 25

struct test_committer {
    const struct fixture *f;
    int     failed;
};

/* test_committer_run - one thread's commits, all at once with the others */
static void *
test_committer_run(void *arg)
{
    struct test_committer *c = arg;
    struct dstr *why = dstr_new(128, 4096);
    struct queue_file_env env;
    struct queue_file *qf;
    int     i;

    test_min_env(&env);
    for (i = 0; i < TEST_PER_THREAD; i++) {
        qf = queue_file_create(c->f->qdir, NULL, NULL, 0, why);
        if (qf == NULL || queue_file_append(qf, "hello\r\n", 7) < 0
            || queue_file_commit(qf, &env, why) < 0)
            c->failed++;
    }
    dstr_free(why);
    return NULL;
}

/*
 * test_concurrent_commits - threads that commit at once share the fsync
 * of incoming/: every commit that said yes is there, nothing is left
 * in tmp/.
 */
static void
test_concurrent_commits(void **state)
{
    const struct fixture *f = *state;
    struct test_committer c[TEST_THREADS];
    pthread_t t[TEST_THREADS];
    int     i;

    for (i = 0; i < TEST_THREADS; i++) {
        c[i].f = f;
        c[i].failed = 0;
        assert_int_equal(pthread_create(&t[i], NULL, test_committer_run,
                                        &c[i]), 0);
    }
    for (i = 0; i < TEST_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].failed, 0);
    }
    assert_int_equal(test_count(f, QUEUE_DIRS_INCOMING),
                     TEST_THREADS * TEST_PER_THREAD);
    assert_int_equal(test_count(f, QUEUE_DIRS_TMP), 0);
}

/*
 * test_content_uncommitted - what a milter reads before the commit: the
 * flushed content by offset, across records, still after the writer
 * removed the file; then a commit into hold/.
 */
static void
test_content_uncommitted(void **state)
{
    struct fixture *f = *state;
    struct queue_file *qf;
    struct queue_file_content *c;
    struct queue_file_env env;
    char   *big = malloc(TEST_BIG), *back = malloc(TEST_BIG);
    char    id[QUEUE_ID_SIZE], buf[100];
    long long off;
    ssize_t n;
    size_t  i;

    for (i = 0; i < TEST_BIG; i++)
        big[i] = (char) ('a' + i % 26);
    qf = queue_file_create(f->qdir, NULL, "Received: x\r\n", 13, f->why);
    assert_non_null(qf);
    memcpy(id, queue_file_id(qf), QUEUE_ID_SIZE);
    assert_int_equal(queue_file_append(qf, big, TEST_BIG), 0);
    /* not flushed: the last partial chunk is not there yet */
    c = queue_file_content_open(f->qdir, id, f->why);
    assert_non_null(c);
    assert_true(queue_file_content_size(c) < TEST_BIG + 13);
    c = queue_file_content_close(c);
    assert_int_equal(queue_file_flush(qf), 0);
    assert_int_equal(queue_file_flush(qf), 0);       /* nothing staged */
    c = queue_file_content_open(f->qdir, id, f->why);
    assert_non_null(c);
    assert_int_equal(queue_file_content_size(c), TEST_BIG + 13);
    n = queue_file_content_pread(c, 0, buf, 13);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "Received: x\r\n", 13);
    /* every byte, in reads that cross record boundaries */
    for (off = 13; off < TEST_BIG + 13; off += n) {
        n = queue_file_content_pread(c, off, back + off - 13, 70000);
        assert_true(n > 0);
    }
    assert_memory_equal(back, big, TEST_BIG);
    assert_int_equal(queue_file_content_pread(c, TEST_BIG + 13, buf, 10), 0);
    assert_int_equal(queue_file_content_pread(c, -1, buf, 10), -1);
    /* the writer removes its file: the reader still reads */
    qf = queue_file_abort(qf);
    assert_int_equal(queue_file_content_pread(c, 13, buf, 3), 3);
    assert_memory_equal(buf, "abc", 3);
    c = queue_file_content_close(c);
    assert_null(queue_file_content_open(f->qdir, id, f->why));

    /* a quarantined message is committed into hold/ */
    test_min_env(&env);
    qf = queue_file_create(f->qdir, NULL, NULL, 0, f->why);
    assert_non_null(qf);
    memcpy(id, queue_file_id(qf), QUEUE_ID_SIZE);
    assert_int_equal(queue_file_append(qf, "x\r\n", 3), 0);
    assert_int_equal(queue_file_hold(qf), 0);
    assert_int_equal(queue_file_commit(qf, &env, f->why), 0);
    assert_int_equal(test_count(f, QUEUE_DIRS_HOLD), 1);
    assert_int_equal(test_count(f, QUEUE_DIRS_INCOMING), 0);
    assert_int_equal(access(test_path(f, QUEUE_DIRS_HOLD, id), F_OK), 0);
    free(big);
    free(back);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_dirs_create),
        T(test_dirs_check),
        T(test_dirs_clean_tmp),
        T(test_golden),
        T(test_round_trip),
        T(test_minimal),
        T(test_line_breaks),
        T(test_big),
        T(test_abort),
        T(test_bad_env),
        T(test_bad_create),
        T(test_collision),
        T(test_faults),
        T(test_fault_reasons),
        T(test_short_writes),
        T(test_failed_handle),
        T(test_disk_full),
        T(test_corrupt_cases),
        T(test_truncated),
        T(test_mutations),
        T(test_changed_under),
        T(test_concurrent_commits),
        T(test_content_uncommitted),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
