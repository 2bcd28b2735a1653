/* test_smtpd_milter_edit - unit tests for smtpd/smtpd_milter_edit: header fields and milter changes. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_milter_edit.h"
#include "testutil.h"

#define MSG "Received: from x by y; now\r\n" \
    "Received: from a by b; then\r\n" \
    "From: Alice <a@example.org>\r\n" \
    "Subject: hello\r\n\tworld\r\n" \
    "subject: second\r\n" \
    "\r\n" \
    "Body line 1\r\n" \
    "\r\n" \
    "Body line 3\r\n"

struct memsrc {
    const char *data;
    size_t  len;
    long long fail_at;                 /* read at or past this fails; -1 */
};

/* mem_read - the pread-like source over memory */
static ssize_t
mem_read(void *arg, long long offset, void *buf, size_t size)
{
    struct memsrc *m = arg;

    if (m->fail_at >= 0 && offset >= m->fail_at)
        return -1;
    if (offset >= (long long) m->len)
        return 0;
    if (size > m->len - (size_t) offset)
        size = m->len - (size_t) offset;
    if (size > 1000)
        size = 1000;                    /* short reads, as files may give */
    memcpy(buf, m->data + offset, size);
    return (ssize_t) size;
}

static int write_fail;

/* dstr_write - the writer into a dstr */
static int
dstr_write(void *arg, const void *buf, size_t len)
{
    if (write_fail)
        return -1;
    return dstr_append(arg, buf, len);
}

/* apply - run the changes over text; the result, or NULL on -1 */
static struct dstr *
apply(const struct smtpd_milter_mods *m, const char *text, size_t len,
      size_t hidden)
{
    struct memsrc src = {text, len, -1};
    struct dstr *out = dstr_new(256, DSTR_UNLIMITED);
    struct dstr *why = dstr_new(64, 1024);

    if (smtpd_milter_edit_apply(m, hidden, mem_read, &src, dstr_write, out,
                                why) < 0) {
        dstr_free(out);
        out = NULL;
    }
    dstr_free(why);
    return out;
}

/* test_parse - fields, hidden ones, folding, the separator, the body */
static void
test_parse(void **state)
{
    struct smtpd_milter_hdrs h = {NULL, 0, 0};
    struct dstr *v = dstr_new(64, DSTR_UNLIMITED);
    size_t  off;
    int     sep;

    (void) state;
    smtpd_milter_edit_parse(&h, MSG, strlen(MSG), 1, 1, &off, &sep);
    assert_int_equal(h.count, 5);
    assert_true(sep);
    assert_string_equal(&MSG[off], "Body line 1\r\n\r\nBody line 3\r\n");
    assert_string_equal(h.item[0].name, "Received");
    assert_true(h.item[0].hidden);
    assert_false(h.item[1].hidden);
    assert_string_equal(h.item[3].name, "Subject");
    assert_int_equal(h.item[3].raw_len,
                     strlen("Subject: hello\r\n\tworld\r\n"));
    smtpd_milter_edit_value(&h.item[3], 0, v);
    assert_string_equal(v->data, "hello\n\tworld");
    smtpd_milter_edit_value(&h.item[3], 1, v);
    assert_string_equal(v->data, " hello\n\tworld");
    smtpd_milter_edit_hdrs_free(&h);

    /* a line that is no field starts the body; blanks before the colon */
    smtpd_milter_edit_parse(&h, "A : 1\nB:2\nnot a header\nC: 3\n", 28, 1, 0,
                            &off, &sep);
    assert_int_equal(h.count, 2);
    assert_false(sep);
    assert_int_equal(off, 10);
    assert_string_equal(h.item[0].name, "A");
    smtpd_milter_edit_value(&h.item[0], 0, v);
    assert_string_equal(v->data, "1");
    smtpd_milter_edit_value(&h.item[1], 0, v);
    assert_string_equal(v->data, "2");
    smtpd_milter_edit_hdrs_free(&h);

    /* a continuation with no field before it: all body */
    smtpd_milter_edit_parse(&h, " x: y\r\n", 7, 1, 0, &off, &sep);
    assert_int_equal(h.count, 0);
    assert_int_equal(off, 0);

    /* complete: the last field may lack its line end */
    smtpd_milter_edit_parse(&h, "A: 1\r\nB: 2", 10, 1, 0, &off, &sep);
    assert_int_equal(h.count, 2);
    assert_int_equal(off, 10);
    assert_false(sep);
    smtpd_milter_edit_hdrs_free(&h);

    /* not complete: a field that may go on is left to the body */
    smtpd_milter_edit_parse(&h, "A: 1\r\nB: 2\r\n", 12, 0, 0, &off, &sep);
    assert_int_equal(h.count, 1);
    assert_int_equal(off, 6);
    smtpd_milter_edit_hdrs_free(&h);
    smtpd_milter_edit_parse(&h, "A: 1\r\nB: 2\r\n\r\n", 14, 0, 0, &off, &sep);
    assert_int_equal(h.count, 2);
    assert_true(sep);
    assert_int_equal(off, 14);
    smtpd_milter_edit_hdrs_free(&h);

    /* an empty message, a message that is only a separator */
    smtpd_milter_edit_parse(&h, "", 0, 1, 1, &off, &sep);
    assert_int_equal(h.count, 0);
    assert_false(sep);
    smtpd_milter_edit_parse(&h, "\n", 1, 1, 1, &off, &sep);
    assert_true(sep);
    assert_int_equal(off, 1);
    dstr_free(v);
}

/* hdr_text - field i's bytes as a C string (static buffer) */
static const char *
hdr_text(const struct smtpd_milter_hdrs *h, size_t i)
{
    static char buf[512];

    assert_true(h->item[i].raw_len < sizeof(buf));
    memcpy(buf, h->item[i].raw, h->item[i].raw_len);
    buf[h->item[i].raw_len] = '\0';
    return buf;
}

/* edit - apply one header change */
static void
edit(struct smtpd_milter_hdrs *h, enum smtpd_milter_edit_op op,
     uint32_t index, const char *name, const char *value, int leadspc)
{
    struct smtpd_milter_edit e = {op, index, (char *) name, (char *) value,
                                  leadspc};

    smtpd_milter_edit_header(h, &e);
}

/* test_header_changes - which field each change touches */
static void
test_header_changes(void **state)
{
    struct smtpd_milter_hdrs h = {NULL, 0, 0};
    size_t  off;
    int     sep;

    (void) state;
    smtpd_milter_edit_parse(&h, MSG, strlen(MSG), 1, 1, &off, &sep);
    /* index 1 of Received is the first one milters saw, not ours */
    edit(&h, SMTPD_MILTER_EDIT_CHGHDR, 1, "Received", "changed", 0);
    assert_string_equal(hdr_text(&h, 0), "Received: from x by y; now\r\n");
    assert_string_equal(hdr_text(&h, 1), "Received: changed\r\n");
    /* index 2 of subject (any case) is the second; empty value deletes */
    edit(&h, SMTPD_MILTER_EDIT_CHGHDR, 2, "SUBJECT", "", 0);
    assert_int_equal(h.count, 4);
    assert_string_equal(h.item[3].name, "Subject");
    /* index 0 means 1, as in Sendmail; leadspc keeps the value as is */
    edit(&h, SMTPD_MILTER_EDIT_CHGHDR, 0, "Subject", "  x", 1);
    assert_string_equal(hdr_text(&h, 3), "Subject:  x\r\n");
    /* past the last one: appended; but not when deleting */
    edit(&h, SMTPD_MILTER_EDIT_CHGHDR, 5, "Subject", "new", 0);
    assert_int_equal(h.count, 5);
    assert_string_equal(hdr_text(&h, 4), "Subject: new\r\n");
    edit(&h, SMTPD_MILTER_EDIT_CHGHDR, 9, "X-None", "", 0);
    assert_int_equal(h.count, 5);
    /* insert: 0 is the very top, counted with the hidden field */
    edit(&h, SMTPD_MILTER_EDIT_INSHDR, 0, "X-Top", "t", 0);
    assert_string_equal(hdr_text(&h, 0), "X-Top: t\r\n");
    edit(&h, SMTPD_MILTER_EDIT_INSHDR, 2, "X-Two", "2", 0);
    assert_string_equal(h.item[1].name, "Received");
    assert_string_equal(hdr_text(&h, 2), "X-Two: 2\r\n");
    edit(&h, SMTPD_MILTER_EDIT_INSHDR, 1000, "X-End", "e", 0);
    assert_string_equal(h.item[h.count - 1].name, "X-End");
    /* add: at the end; line breaks cannot start a field or end the header */
    edit(&h, SMTPD_MILTER_EDIT_ADDHDR, 0, "X-Multi",
         "a\n\tb\nInjected: yes\n\nc\r\nd\re\n", 0);
    assert_string_equal(hdr_text(&h, h.count - 1),
                        "X-Multi: a\r\n\tb\r\n\tInjected: yes\r\n"
                        "\tc\r\n\td e\r\n");
    smtpd_milter_edit_hdrs_free(&h);
}

/* test_apply - the written message, byte for byte */
static void
test_apply(void **state)
{
    struct smtpd_milter_mods *m = smtpd_milter_mods_new(1000);
    struct dstr *out;

    (void) state;
    assert_false(smtpd_milter_mods_changed(m));
    /* no changes: the same bytes */
    out = apply(m, MSG, strlen(MSG), 1);
    assert_string_equal(out->data, MSG);
    dstr_free(out);

    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_INSHDR, 0,
                                           "DKIM-Signature", "v=1; a=x",
                                           0), 0);
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_CHGHDR, 1,
                                           "Subject", "[SPAM] hello", 0), 0);
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                           "X-Spam", "yes", 0), 0);
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDRCPT, 0,
                                           "<c@d>", NULL, 0), 0);
    assert_true(smtpd_milter_mods_changed(m));
    out = apply(m, MSG, strlen(MSG), 1);
    assert_string_equal(out->data,
                        "DKIM-Signature: v=1; a=x\r\n"
                        "Received: from x by y; now\r\n"
                        "Received: from a by b; then\r\n"
                        "From: Alice <a@example.org>\r\n"
                        "Subject: [SPAM] hello\r\n"
                        "subject: second\r\n"
                        "X-Spam: yes\r\n"
                        "\r\n"
                        "Body line 1\r\n\r\nBody line 3\r\n");
    dstr_free(out);

    /* a new body: bare LF made CRLF; a header without separator gets one */
    m->body = dstr_new(16, m->body_limit);
    (void) dstr_append_str(m->body, "new\nbody\r\nend");
    out = apply(m, "A: 1", 4, 0);
    assert_string_equal(out->data, "DKIM-Signature: v=1; a=x\r\nA: 1\r\n"
                        "Subject: [SPAM] hello\r\nX-Spam: yes\r\n\r\n"
                        "new\r\nbody\r\nend");
    dstr_free(out);
    smtpd_milter_mods_free(m);

    /* a header ending without LF before an added field */
    m = smtpd_milter_mods_new(1000);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0, "B", "2", 0);
    out = apply(m, "A: 1", 4, 0);
    assert_string_equal(out->data, "A: 1\r\nB: 2\r\n");
    dstr_free(out);
    /* a body without separator stays without one */
    out = apply(m, "A: 1\nbody\n", 10, 0);
    assert_string_equal(out->data, "A: 1\nB: 2\r\nbody\n");
    dstr_free(out);
    smtpd_milter_mods_free(m);
}

/* test_apply_large - headers past the parse limit, a large body, errors */
static void
test_apply_large(void **state)
{
    struct smtpd_milter_mods *m = smtpd_milter_mods_new(1000);
    size_t  n = SMTPD_MILTER_EDIT_HEADER_MAX + 100000, i;
    char   *big = malloc(n);
    struct dstr *out, *why = dstr_new(64, 1024);
    struct memsrc src;

    (void) state;
    /* one small field, separator, then a large body */
    memcpy(big, "A: 1\r\n\r\n", 8);
    for (i = 8; i < n; i++)
        big[i] = (i % 50 == 49) ? '\n' : 'x';
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0, "B", "2", 0);
    out = apply(m, big, n, 0);
    assert_non_null(out);
    assert_int_equal(out->len, n + 6);
    assert_memory_equal(out->data, "A: 1\r\nB: 2\r\n\r\n", 14);
    assert_memory_equal(out->data + 14, big + 8, n - 8);
    dstr_free(out);

    /* a header that never ends within the limit: the rest is body */
    for (i = 0; i < n; i++)
        big[i] = (i % 10 == 9) ? '\n' : (i % 10 == 0 ? 'X' : (i % 10 == 1
                                                             ? ':' : 'y'));
    out = apply(m, big, n, 0);
    assert_non_null(out);
    assert_int_equal(out->len, n + 6);
    assert_memory_equal(out->data + out->len - 100, big + n - 100, 100);
    dstr_free(out);

    /* read and write errors */
    src.data = big;
    src.len = n;
    src.fail_at = SMTPD_MILTER_EDIT_HEADER_MAX + 1000;
    out = dstr_new(64, DSTR_UNLIMITED);
    assert_int_equal(smtpd_milter_edit_apply(m, 0, mem_read, &src, dstr_write,
                                             out, why), -1);
    assert_non_null(strstr(why->data, "read error"));
    write_fail = 1;
    src.fail_at = -1;
    assert_int_equal(smtpd_milter_edit_apply(m, 0, mem_read, &src, dstr_write,
                                             out, why), -1);
    assert_non_null(strstr(why->data, "write error"));
    write_fail = 0;
    dstr_free(out);
    dstr_free(why);
    free(big);
    smtpd_milter_mods_free(m);
}

/* test_env - sender and recipients after the changes */
static void
test_env(void **state)
{
    struct smtpd_milter_mods *m = smtpd_milter_mods_new(1000);
    const char *rcpt[] = {"a@x", "B@X", "c@x"};
    struct smtpd_milter_env env;
    struct dstr *d = dstr_new(16, DSTR_UNLIMITED);

    (void) state;
    smtpd_milter_edit_env(m, rcpt, 3, &env);
    assert_false(env.changed);
    assert_null(env.sender);
    assert_int_equal(env.count, 3);
    assert_int_equal(env.rcpt[2].orig, 2);
    smtpd_milter_edit_env_free(&env);

    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDRCPT, 0, "<new@y>",
                                 NULL, 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_DELRCPT, 0, "<b@x>",
                                 NULL, 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDRCPT, 0, " <A@x> ",
                                 NULL, 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDRCPT, 0, "p@y",
                                 "NOTIFY=NEVER", 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_DELRCPT, 0, "new@y",
                                 NULL, 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_CHGFROM, 0, "<s@z>",
                                 "SIZE=1", 0);
    (void) smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_CHGFROM, 0, "<>", NULL,
                                 0);
    assert_false(smtpd_milter_mods_changed(m));
    smtpd_milter_edit_env(m, rcpt, 3, &env);
    assert_true(env.changed);
    assert_string_equal(env.sender, "");
    assert_null(env.sender_args);
    assert_int_equal(env.count, 3);
    assert_string_equal(env.rcpt[0].addr, "a@x");
    assert_int_equal(env.rcpt[0].orig, 0);
    assert_string_equal(env.rcpt[1].addr, "c@x");
    assert_int_equal(env.rcpt[1].orig, 2);
    assert_string_equal(env.rcpt[2].addr, "p@y");
    assert_string_equal(env.rcpt[2].args, "NOTIFY=NEVER");
    assert_int_equal(env.rcpt[2].orig, -1);
    smtpd_milter_edit_env_free(&env);
    assert_string_equal(smtpd_milter_edit_addr("<>", d), "");
    assert_string_equal(smtpd_milter_edit_addr("<a>b>", d), "a>b");
    assert_string_equal(smtpd_milter_edit_addr("<a", d), "<a");
    dstr_free(d);
    smtpd_milter_mods_free(m);
}

/* test_mods_limits - the number of changes and their size are bounded */
static void
test_mods_limits(void **state)
{
    struct smtpd_milter_mods *m = smtpd_milter_mods_new(10);
    char   *huge = malloc(SMTPD_MILTER_EDIT_BYTES_MAX);
    size_t  i;

    (void) state;
    for (i = 0; i < SMTPD_MILTER_EDIT_OPS_MAX; i++)
        assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                               "X", "y", 0), 0);
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                           "X", "y", 0), -1);
    assert_int_equal(m->count, SMTPD_MILTER_EDIT_OPS_MAX);
    m = smtpd_milter_mods_free(m);
    m = smtpd_milter_mods_new(10);
    memset(huge, 'v', SMTPD_MILTER_EDIT_BYTES_MAX - 1);
    huge[SMTPD_MILTER_EDIT_BYTES_MAX - 1] = '\0';
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                           "X", huge, 0), -1);
    assert_int_equal(m->count, 0);
    huge[SMTPD_MILTER_EDIT_BYTES_MAX / 2] = '\0';
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                           "X", huge, 0), 0);
    assert_int_equal(smtpd_milter_mods_add(m, SMTPD_MILTER_EDIT_ADDHDR, 0,
                                           "X", huge, 0), -1);
    free(huge);
    smtpd_milter_mods_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_header_changes),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_large),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_mods_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
