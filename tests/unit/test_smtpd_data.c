/* test_smtpd_data - unit tests for smtpd/smtpd_data: unstuffing, end, smuggling. */

#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd_data.h"
#include "testutil.h"

struct data_case {
    const char *in;
    size_t  inlen;
    const char *out;
    size_t  outlen;
    size_t  rest;                      /* bytes left unconsumed */
    int     done;
    unsigned flags;
};

#define S(x) x, sizeof(x) - 1

static const struct data_case data_cases[] = {
    {S("Hello\r\n..dot\r\n.\r\n"), S("Hello\r\n.dot\r\n"), 0, 1, 0},
    {S(".\r\n"), S(""), 0, 1, 0},
    {S("a\r\n.\r\nMAIL FROM:<x>\r\n"), S("a\r\n"), 15, 1, 0},
    {S("..\r\n...\r\n.\r\n"), S(".\r\n..\r\n"), 0, 1, 0},
    /* smuggling variants: never an end */
    {S("a\n.\nb\r\n.\r\n"), S("a\n.\nb\r\n"), 0, 1, SMTPD_DATA_BARE_LF},
    {S("a\n.\r\nb\r\n.\r\n"), S("a\n.\r\nb\r\n"), 0, 1, SMTPD_DATA_BARE_LF},
    {S("a\r.\r\nb\r\n.\r\n"), S("a\r.\r\nb\r\n"), 0, 1, SMTPD_DATA_BARE_CR},
    {S("a\r\n.\rMAIL\r\n.\r\n"), S("a\r\n\rMAIL\r\n"), 0, 1,
     SMTPD_DATA_BARE_CR},
    {S("a\r\n.\r\r\n.\r\n"), S("a\r\n\r\r\n"), 0, 1, SMTPD_DATA_BARE_CR},
    {S("a\r\n.\nb\r\n.\r\n"), S("a\r\n\nb\r\n"), 0, 1, SMTPD_DATA_BARE_LF},
    {S("a\n\r\n.\r\n"), S("a\n\r\n"), 0, 1, SMTPD_DATA_BARE_LF},
    {S("a\r\r\n.\r\n"), S("a\r\r\n"), 0, 1, SMTPD_DATA_BARE_CR},
    /* unfinished: no end yet, held bytes not yet out */
    {S("a\r\n.\r"), S("a\r\n"), 0, 0, 0},
    {S("a\r"), S("a"), 0, 0, 0},
    /* 8-bit bytes and NUL kept */
    {S("\xc3\xa9t\xe9\0x\r\n.\r\n"), S("\xc3\xa9t\xe9\0x\r\n"), 0, 1, 0},
};

/* run_split - decode in with pieces of the given sizes; collect output */
static size_t
run_split(struct smtpd_data *d, const char *in, size_t len,
          const size_t *pieces, size_t npieces, char *out, size_t *outlen)
{
    size_t  pos = 0, k = 0, n, used, o;

    *outlen = 0;
    while (pos < len && !d->done) {
        n = npieces ? pieces[k++ % npieces] : len - pos;
        if (n > len - pos)
            n = len - pos;
        used = smtpd_data_decode(d, in + pos, n, out + *outlen, &o);
        *outlen += o;
        pos += used;
        if (used < n)
            assert_true(d->done);
    }
    return pos;
}

/* check_case - one case, decoded whole, byte by byte and in random splits */
static void
check_case(const struct data_case *c)
{
    struct smtpd_data d;
    char   *out = malloc(c->inlen + SMTPD_DATA_SLACK + 1);
    size_t  outlen, used, one = 1, pieces[8];
    int     round, k;

    for (round = 0; round < 40; round++) {
        smtpd_data_init(&d, SMTPD_DATA_DOT);
        if (round == 0) {
            used = run_split(&d, c->in, c->inlen, NULL, 0, out, &outlen);
        } else if (round == 1) {
            used = run_split(&d, c->in, c->inlen, &one, 1, out, &outlen);
        } else {
            for (k = 0; k < 8; k++)
                pieces[k] = 1 + (size_t) rand() % 5;
            used = run_split(&d, c->in, c->inlen, pieces, 8, out, &outlen);
        }
        assert_int_equal(used, c->inlen - c->rest);
        assert_int_equal(outlen, c->outlen);
        assert_memory_equal(out, c->out, c->outlen);
        assert_int_equal(d.done, c->done);
        assert_int_equal(d.flags, c->flags);
    }
    free(out);
}

/* test_smtpd_data_cases - the table, every way of splitting */
static void
test_smtpd_data_cases(void **state)
{
    size_t  i;

    (void) state;
    srand(12345);
    for (i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++)
        check_case(&data_cases[i]);
}

/* test_smtpd_data_after_done - nothing more is consumed after the end */
static void
test_smtpd_data_after_done(void **state)
{
    struct smtpd_data d;
    char    out[32];
    size_t  outlen;

    (void) state;
    smtpd_data_init(&d, SMTPD_DATA_DOT);
    assert_int_equal(smtpd_data_decode(&d, ".\r\n", 3, out, &outlen), 3);
    assert_true(d.done);
    assert_int_equal(smtpd_data_decode(&d, "QUIT\r\n", 6, out, &outlen), 0);
    assert_int_equal(outlen, 0);
}

/* test_smtpd_data_raw - BDAT: periods are data, flags cross chunks */
static void
test_smtpd_data_raw(void **state)
{
    struct smtpd_data d;
    char    out[64];
    size_t  outlen, n;

    (void) state;
    smtpd_data_init(&d, SMTPD_DATA_RAW);
    n = smtpd_data_decode(&d, ".\r\n.\r\nx\r", 8, out, &outlen);
    assert_int_equal(n, 8);
    assert_false(d.done);
    assert_int_equal(outlen, 7);
    assert_memory_equal(out, ".\r\n.\r\nx", 7);
    assert_int_equal(d.flags, 0);
    /* the held CR meets an LF in the next chunk: a proper line end */
    n = smtpd_data_decode(&d, "\ny\r", 3, out, &outlen);
    assert_int_equal(outlen, 3);
    assert_memory_equal(out, "\r\ny", 3);
    assert_int_equal(d.flags, 0);
    /* content ends in a bare CR */
    assert_int_equal(smtpd_data_flush(&d, out), 1);
    assert_int_equal(out[0], '\r');
    assert_int_equal(d.flags, SMTPD_DATA_BARE_CR);
    smtpd_data_init(&d, SMTPD_DATA_RAW);
    (void) smtpd_data_decode(&d, "a\nb", 3, out, &outlen);
    assert_int_equal(d.flags, SMTPD_DATA_BARE_LF);
    assert_int_equal(smtpd_data_flush(&d, out), 0);
}

/* test_smtpd_data_random - random input never grows beyond the slack */
static void
test_smtpd_data_random(void **state)
{
    static const char alphabet[] = "\r\n.a";
    struct smtpd_data d;
    char    in[64], out[64 + SMTPD_DATA_SLACK];
    size_t  outlen, total_in, total_out, n, len, i;
    int     round;

    (void) state;
    srand(777);
    for (round = 0; round < 2000; round++) {
        smtpd_data_init(&d, round % 2 ? SMTPD_DATA_RAW : SMTPD_DATA_DOT);
        total_in = total_out = 0;
        while (!d.done && total_in < 4096) {
            len = 1 + (size_t) rand() % sizeof(in);
            for (i = 0; i < len; i++)
                in[i] = alphabet[rand() % 4];
            n = smtpd_data_decode(&d, in, len, out, &outlen);
            assert_true(outlen <= n + SMTPD_DATA_SLACK);
            assert_true(n == len || d.done);
            total_in += n;
            total_out += outlen;
            assert_true(total_out <= total_in);
        }
        if (round % 2)
            assert_false(d.done);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtpd_data_cases),
        cmocka_unit_test(test_smtpd_data_after_done),
        cmocka_unit_test(test_smtpd_data_raw),
        cmocka_unit_test(test_smtpd_data_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
