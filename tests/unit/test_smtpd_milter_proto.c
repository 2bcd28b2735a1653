/* test_smtpd_milter_proto - unit tests for smtpd/smtpd_milter_proto: the wire codec. */

#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_milter_proto.h"
#include "testutil.h"

/* expect_bytes - out holds exactly these bytes */
static void
expect_bytes(const struct dstr *out, const void *want, size_t len)
{
    assert_int_equal(out->len, len);
    assert_memory_equal(out->data, want, len);
}

/* test_encode_optneg - version, actions, protocol in network order */
static void
test_encode_optneg(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    static const unsigned char want[] = {
        0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff
    };

    (void) state;
    assert_int_equal(smtpd_milter_proto_optneg(out, 6, 0x1ff, 0x1fffff), 0);
    expect_bytes(out, want, sizeof(want));
    dstr_free(out);
}

/* test_encode_connect - the four families, port in network order */
static void
test_encode_connect(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    static const unsigned char v4[] = {
        0, 0, 0, 26, 'C', '[', '1', '9', '2', '.', '0', '.', '2', '.', '1',
        ']', 0, '4', 0x12, 0x67, '1', '9', '2', '.', '0', '.', '2', '.', '1',
        0
    };
    static const unsigned char unknown[] = {0, 0, 0, 4, 'C', 'x', 0, 'U'};
    static const unsigned char v6[] = {
        0, 0, 0, 21, 'C', 'h', '.', 'e', 'x', 0, '6', 0, 25, '2', '0', '0',
        '1', ':', 'd', 'b', '8', ':', ':', '1', 0
    };

    (void) state;
    assert_int_equal(smtpd_milter_proto_connect(out, "[192.0.2.1]", '4', 4711,
                                                "192.0.2.1"), 0);
    expect_bytes(out, v4, sizeof(v4));
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_connect(out, "x", 'U', 0, NULL), 0);
    expect_bytes(out, unknown, sizeof(unknown));
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_connect(out, "h.ex", '6', 25,
                                                "2001:db8::1"), 0);
    expect_bytes(out, v6, sizeof(v6));
    dstr_free(out);
}

/* test_encode_envelope - HELO, MAIL and RCPT with their arguments */
static void
test_encode_envelope(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    const char *margs[] = {"SIZE=100", "BODY=8BITMIME"};
    const char *rargs[] = {"NOTIFY=NEVER"};

    (void) state;
    assert_int_equal(smtpd_milter_proto_helo(out, "client.example"), 0);
    expect_bytes(out, "\0\0\0\x10Hclient.example\0", 20);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_mail(out, "a@b.example", margs, 2),
                     0);
    expect_bytes(out, "\0\0\0\x26M<a@b.example>\0SIZE=100\0BODY=8BITMIME\0",
                 42);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_mail(out, "", NULL, 0), 0);
    expect_bytes(out, "\0\0\0\x04M<>\0", 8);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_rcpt(out, "c@d", rargs, 1), 0);
    expect_bytes(out, "\0\0\0\x14R<c@d>\0NOTIFY=NEVER\0", 24);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_unknown(out, "FOO bar"), 0);
    expect_bytes(out, "\0\0\0\x09UFOO bar\0", 13);
    dstr_free(out);
}

/* test_encode_simple - commands without data; others refused */
static void
test_encode_simple(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    const char *cmds = "ANQKTE";
    size_t  i;

    (void) state;
    for (i = 0; cmds[i]; i++) {
        dstr_reset(out);
        assert_int_equal(smtpd_milter_proto_simple(out, cmds[i]), 0);
        assert_int_equal(out->len, 5);
        assert_memory_equal(out->data, "\0\0\0\x01", 4);
        assert_int_equal(out->data[4], cmds[i]);
    }
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_simple(out, 'H'), -1);
    assert_int_equal(smtpd_milter_proto_simple(out, 'B'), -1);
    assert_int_equal(out->len, 0);
    dstr_free(out);
}

/* test_encode_macro - command code then name/value pairs */
static void
test_encode_macro(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    struct smtpd_milter_proto_macro m[] = {
        {"j", "mx.example"}, {"{stress}", ""}, {"_", "x [1.2.3.4]"},
    };
    static const char want[] = "\0\0\0\x27" "DC" "j\0mx.example\0"
        "{stress}\0\0" "_\0x [1.2.3.4]\0";

    (void) state;
    assert_int_equal(smtpd_milter_proto_macro(out, 'C', m, 3), 0);
    expect_bytes(out, want, sizeof(want) - 1);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_macro(out, 'E', NULL, 0), 0);
    expect_bytes(out, "\0\0\0\x02" "DE", 6);
    dstr_free(out);
}

/* test_encode_header_body - counted values, NUL as space, size limits */
static void
test_encode_header_body(void **state)
{
    struct dstr *out = dstr_new(16, DSTR_UNLIMITED);
    struct dstr *small = dstr_new(16, 20);
    char   *big = calloc(1, SMTPD_MILTER_PROTO_CHUNK + 1);

    (void) state;
    assert_int_equal(smtpd_milter_proto_header(out, "Subject", "a\0b\n\tc", 6),
                     0);
    expect_bytes(out, "\0\0\0\x10LSubject\0a b\n\tc\0", 20);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_body(out, "line\r\n", 6), 0);
    expect_bytes(out, "\0\0\0\x07" "Bline\r\n", 11);
    dstr_reset(out);
    assert_int_equal(smtpd_milter_proto_body(out, big,
                                             SMTPD_MILTER_PROTO_CHUNK), 0);
    assert_int_equal(out->len, SMTPD_MILTER_PROTO_CHUNK + 5);
    assert_memory_equal(out->data, "\0\1\0\0" "B", 5);
    /* over the chunk: refused, nothing appended */
    assert_int_equal(smtpd_milter_proto_body(out, big,
                                             SMTPD_MILTER_PROTO_CHUNK + 1), -1);
    assert_int_equal(out->len, SMTPD_MILTER_PROTO_CHUNK + 5);
    /* the dstr's own limit: refused, and what was there stays */
    (void) dstr_set_str(small, "keep");
    assert_int_equal(smtpd_milter_proto_helo(small, "a-very-long-name"), -1);
    assert_string_equal(small->data, "keep");
    assert_int_equal(smtpd_milter_proto_header(small, "X", big, 100), -1);
    assert_string_equal(small->data, "keep");
    free(big);
    dstr_free(out);
    dstr_free(small);
}

/* decode_n - decode a whole packet, every prefix first; the result */
static int
decode_n(const void *buf, size_t len, struct smtpd_milter_proto_reply *r,
         struct dstr *why)
{
    size_t  used = 0, i;
    int     rc;

    /* every proper prefix needs more */
    for (i = 0; i < len; i++) {
        rc = smtpd_milter_proto_decode(buf, i, &used, r, why);
        if (rc != 0)
            return rc;
        assert_int_equal(used, 0);
    }
    rc = smtpd_milter_proto_decode(buf, len, &used, r, why);
    if (rc == 1)
        assert_int_equal(used, len);
    return rc;
}

#define DECODE(lit, r, why) decode_n(lit, sizeof(lit) - 1, r, why)

/* test_decode_actions - the replies without data */
static void
test_decode_actions(void **state)
{
    struct smtpd_milter_proto_reply r;
    const char *codes = "acrtdsp4f";
    char    pkt[5] = {0, 0, 0, 1, 0};
    size_t  i;

    (void) state;
    for (i = 0; codes[i]; i++) {
        pkt[4] = codes[i];
        assert_int_equal(decode_n(pkt, 5, &r, NULL), 1);
        assert_int_equal(r.code, codes[i]);
    }
}

/* test_decode_replycode - one line, several lines, malformed */
static void
test_decode_replycode(void **state)
{
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    assert_int_equal(DECODE("\0\0\0\x13y550 5.7.1 Go away\0", &r, why), 1);
    assert_int_equal(r.code, 'y');
    assert_string_equal(r.value, "550 5.7.1 Go away");
    assert_int_equal(DECODE("\0\0\0\x1ay451-4.7.1 a\r\n451 4.7.1 b\0",
                            &r, why), 1);
    assert_string_equal(r.value, "451-4.7.1 a\r\n451 4.7.1 b");
    assert_int_equal(DECODE("\0\0\0\x0ey250 2.0.0 ok\0", &r, why), -1);
    assert_non_null(strstr(why->data, "malformed SMTP reply"));
    assert_int_equal(DECODE("\0\0\0\x05yabc\0", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x04y550", &r, why), -1);
    assert_non_null(strstr(why->data, "without NUL"));
    assert_int_equal(DECODE("\0\0\0\x12y550 5.7.1 Go away", &r, why), -1);
    assert_non_null(strstr(why->data, "without NUL"));
    dstr_free(why);
}

/* test_reply_valid - the SMTP reply syntax a milter may use */
static void
test_reply_valid(void **state)
{
    (void) state;
    assert_true(smtpd_milter_proto_reply_valid("550"));
    assert_true(smtpd_milter_proto_reply_valid("550 5.7.1 no"));
    assert_true(smtpd_milter_proto_reply_valid("421 4.7.0 bye\tnow"));
    assert_true(smtpd_milter_proto_reply_valid("550-a\r\n550-b\r\n550 c"));
    assert_false(smtpd_milter_proto_reply_valid("250 ok"));
    assert_false(smtpd_milter_proto_reply_valid("55 x"));
    assert_false(smtpd_milter_proto_reply_valid("550x"));
    assert_false(smtpd_milter_proto_reply_valid("550-a\r\n551 b"));
    assert_false(smtpd_milter_proto_reply_valid("550 a\r\n550 b"));
    assert_false(smtpd_milter_proto_reply_valid("550-last"));
    assert_false(smtpd_milter_proto_reply_valid("550 a\nb"));
    assert_false(smtpd_milter_proto_reply_valid("550-a\r550 b"));
    assert_false(smtpd_milter_proto_reply_valid(""));
}

/* test_decode_headers - ADDHEADER, CHGHEADER, INSHEADER */
static void
test_decode_headers(void **state)
{
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    assert_int_equal(DECODE("\0\0\0\x0chX-Spam\0yes\0", &r, why), 1);
    assert_int_equal(r.code, 'h');
    assert_string_equal(r.name, "X-Spam");
    assert_string_equal(r.value, "yes");
    assert_int_equal(DECODE("\0\0\0\x0em\0\0\0\x02Subject\0\0", &r, why), 1);
    assert_int_equal(r.index, 2);
    assert_string_equal(r.name, "Subject");
    assert_string_equal(r.value, "");
    assert_int_equal(DECODE("\0\0\0\x0ei\x01\0\0\0X-A\0a\n\tb\0", &r, why),
                     1);
    assert_int_equal(r.index, 0x01000000);
    assert_string_equal(r.value, "a\n\tb");
    /* bad names, missing value, left-over bytes, no index */
    assert_int_equal(DECODE("\0\0\0\x0chX Spam\0yes\0", &r, why), -1);
    assert_non_null(strstr(why->data, "bad header name"));
    assert_int_equal(DECODE("\0\0\0\x0chX:Spam\0yes\0", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x04h\0a\0", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x08hX-Spam\0", &r, why), -1);
    assert_non_null(strstr(why->data, "1 strings, expected 2"));
    assert_int_equal(DECODE("\0\0\0\x0bhX\0yes\0junk", &r, why), -1);
    assert_non_null(strstr(why->data, "left-over"));
    assert_int_equal(DECODE("\0\0\0\x04m\0\0\0", &r, why), -1);
    assert_non_null(strstr(why->data, "no index"));
    dstr_free(why);
}

/* test_decode_envelope - recipients, sender, quarantine, body */
static void
test_decode_envelope(void **state)
{
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    assert_int_equal(DECODE("\0\0\0\x07+<a@b>\0", &r, why), 1);
    assert_int_equal(r.code, '+');
    assert_string_equal(r.name, "<a@b>");
    assert_null(r.args);
    assert_int_equal(DECODE("\0\0\0\x07-<a@b>\0", &r, why), 1);
    assert_int_equal(r.code, '-');
    assert_int_equal(DECODE("\0\0\0\x14" "2<a@b>\0NOTIFY=NEVER\0", &r, why),
                     1);
    assert_string_equal(r.args, "NOTIFY=NEVER");
    assert_int_equal(DECODE("\0\0\0\x07" "e<c@d>\0", &r, why), 1);
    assert_null(r.args);
    assert_int_equal(DECODE("\0\0\0\x0f" "e<c@d>\0SIZE=10\0", &r, why), 1);
    assert_string_equal(r.name, "<c@d>");
    assert_string_equal(r.args, "SIZE=10");
    assert_int_equal(DECODE("\0\0\0\x08qspammy\0", &r, why), 1);
    assert_string_equal(r.name, "spammy");
    assert_int_equal(DECODE("\0\0\0\x06" "bab\0\r\n", &r, why), 1);
    assert_int_equal(r.data_len, 5);
    assert_memory_equal(r.data, "ab\0\r\n", 5);
    assert_int_equal(DECODE("\0\0\0\x01" "b", &r, why), 1);
    assert_int_equal(r.data_len, 0);
    /* garbage */
    assert_int_equal(DECODE("\0\0\0\x02+\0", &r, why), -1);
    assert_non_null(strstr(why->data, "empty address"));
    assert_int_equal(DECODE("\0\0\0\x09+<a@b>\0x\0", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x09" "2<a>\0x\0y\0", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x03q\0x", &r, why), -1);
    dstr_free(why);
}

/* test_decode_optneg - numbers, macro lists, and what is wrong with them */
static void
test_decode_optneg(void **state)
{
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, 1024);
    static const char ok[] = "\0\0\0\x24" "O" "\0\0\0\x06" "\0\0\0\x21"
        "\0\x10\0\x03" "\0\0\0\x05" "i {x}\0" "\0\0\0\0" "j _\0"
        "\0\0\0\x06" "\0";
    int     i;

    (void) state;
    assert_int_equal(DECODE("\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\0\0\x7f",
                            &r, why), 1);
    assert_int_equal(r.version, 6);
    assert_int_equal(r.actions, 0x1ff);
    assert_int_equal(r.protocol, 0x7f);
    for (i = 0; i < SMTPD_MILTER_PROTO_STAGES; i++)
        assert_null(r.symlist[i]);
    assert_int_equal(DECODE(ok, &r, why), 1);
    assert_int_equal(r.actions, 0x21);
    assert_int_equal(r.protocol, 0x100003);
    assert_string_equal(r.symlist[SMTPD_MILTER_M_EOM], "i {x}");
    assert_string_equal(r.symlist[SMTPD_MILTER_M_CONNECT], "j _");
    assert_string_equal(r.symlist[SMTPD_MILTER_M_EOH], "");
    assert_null(r.symlist[SMTPD_MILTER_M_HELO]);
    assert_int_equal(DECODE("\0\0\0\x09O\0\0\0\x06\0\0\0\0", &r, why), -1);
    assert_non_null(strstr(why->data, "needs 12"));
    assert_int_equal(DECODE("\0\0\0\x13O\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x07"
                            "a\0", &r, why), -1);
    assert_non_null(strstr(why->data, "unknown macro stage 7"));
    assert_int_equal(DECODE("\0\0\0\x13O\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01"
                            "ab", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x0fO\0\0\0\x06\0\0\0\0\0\0\0\0\0\0",
                            &r, why), -1);
    assert_non_null(strstr(why->data, "truncated macro list"));
    dstr_free(why);
}

/* test_decode_garbage - lengths, codes, data where none belongs */
static void
test_decode_garbage(void **state)
{
    struct smtpd_milter_proto_reply r;
    struct dstr *why = dstr_new(64, 1024);
    size_t  used = 7;

    (void) state;
    assert_int_equal(smtpd_milter_proto_decode("\0\0\0\0c", 5, &used, &r, why),
                     -1);
    assert_string_equal(why->data, "reply packet length 0");
    assert_int_equal(smtpd_milter_proto_decode("\x7f\xff\xff\xff", 4, &used,
                                               &r, why), -1);
    assert_non_null(strstr(why->data, "exceeds the limit"));
    assert_int_equal(smtpd_milter_proto_decode("\0\1\x04\x01", 4, &used, &r,
                                               why), -1);
    /* at the limit: only waits for the bytes */
    assert_int_equal(smtpd_milter_proto_decode("\0\1\x04\x00", 4, &used, &r,
                                               why), 0);
    assert_int_equal(DECODE("\0\0\0\x01Z", &r, why), -1);
    assert_string_equal(why->data, "unknown reply code 0x5a");
    assert_int_equal(DECODE("\0\0\0\x01l", &r, why), -1);
    assert_int_equal(DECODE("\0\0\0\x02" "ax", &r, why), -1);
    assert_string_equal(why->data, "ACCEPT reply with 1 data bytes");
    assert_int_equal(smtpd_milter_proto_decode("", 0, &used, &r, NULL), 0);
    dstr_free(why);
}

/* test_decode_stream - two packets in one buffer come out one by one */
static void
test_decode_stream(void **state)
{
    struct smtpd_milter_proto_reply r;
    static const char buf[] = "\0\0\0\x01p\0\0\0\x08qreason\0\0\0\0\x01" "c";
    size_t  off = 0, used, n = 0;
    const char want[] = "pqc";

    (void) state;
    while (off < sizeof(buf) - 1) {
        assert_int_equal(smtpd_milter_proto_decode(buf + off,
                                                   sizeof(buf) - 1 - off,
                                                   &used, &r, NULL), 1);
        assert_int_equal(r.code, want[n]);
        n++;
        off += used;
    }
    assert_int_equal(n, 3);
}

/* test_names - codes and stages for people and for SETSYMLIST */
static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(smtpd_milter_proto_code_name('y'), "REPLYCODE");
    assert_string_equal(smtpd_milter_proto_code_name('E'), "BODYEOB");
    assert_string_equal(smtpd_milter_proto_code_name('~'), "(unknown code)");
    assert_int_equal(smtpd_milter_proto_macro_stage('C'),
                     SMTPD_MILTER_M_CONNECT);
    assert_int_equal(smtpd_milter_proto_macro_stage('N'), SMTPD_MILTER_M_EOH);
    assert_int_equal(smtpd_milter_proto_macro_stage('E'), SMTPD_MILTER_M_EOM);
    assert_int_equal(smtpd_milter_proto_macro_stage('U'), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_optneg),
        cmocka_unit_test(test_encode_connect),
        cmocka_unit_test(test_encode_envelope),
        cmocka_unit_test(test_encode_simple),
        cmocka_unit_test(test_encode_macro),
        cmocka_unit_test(test_encode_header_body),
        cmocka_unit_test(test_decode_actions),
        cmocka_unit_test(test_decode_replycode),
        cmocka_unit_test(test_reply_valid),
        cmocka_unit_test(test_decode_headers),
        cmocka_unit_test(test_decode_envelope),
        cmocka_unit_test(test_decode_optneg),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_decode_stream),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
