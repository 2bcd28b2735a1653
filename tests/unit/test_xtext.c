/* test_xtext - unit tests for util/xtext: encode, decode, valid, limits. */

#include <string.h>

#include "util/dstr.h"
#include "util/xtext.h"
#include "testutil.h"

/* test_xtext_encode - table of raw bytes and their xtext */
static void
test_xtext_encode(void **state)
{
    static const struct {
        const char *raw;
        size_t  len;
        const char *xtext;
    } cases[] = {
        {"", 0, ""},
        {"user@example.com", 16, "user@example.com"},
        {"rfc822;a+b@example.com", 22, "rfc822;a+2Bb@example.com"},
        {"a=b", 3, "a+3Db"},
        {"a b", 3, "a+20b"},
        {"!~", 2, "!~"},
        {"\x1f\x20\x21\x7e\x7f", 5, "+1F+20!~+7F"},
        {"\0", 1, "+00"},
        {"\xff\x80", 2, "+FF+80"},
        {"\r\n", 2, "+0D+0A"},
        {"++", 2, "+2B+2B"},
        {"caf\xc3\xa9", 5, "caf+C3+A9"},
    };
    struct dstr *out = dstr_new(16, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(out);
        assert_int_equal(xtext_encode(out, cases[i].raw, cases[i].len), 0);
        assert_string_equal(out->data, cases[i].xtext);
        assert_true(xtext_valid(out->data, out->len));
    }
    dstr_free(out);
}

/* test_xtext_encode_all_bytes - exactly 33..126 minus + and = are plain */
static void
test_xtext_encode_all_bytes(void **state)
{
    struct dstr *out = dstr_new(4, 16);
    unsigned char c;
    int     i;

    (void) state;
    for (i = 0; i < 256; i++) {
        c = (unsigned char) i;
        dstr_reset(out);
        assert_int_equal(xtext_encode(out, &c, 1), 0);
        if (i >= 33 && i <= 126 && i != '+' && i != '=') {
            assert_int_equal(out->len, 1);
            assert_int_equal((unsigned char) out->data[0], c);
        } else {
            assert_int_equal(out->len, 3);
            assert_int_equal(out->data[0], '+');
            assert_true(strchr("0123456789ABCDEF", out->data[1]) != NULL);
            assert_true(strchr("0123456789ABCDEF", out->data[2]) != NULL);
        }
    }
    dstr_free(out);
}

/* test_xtext_decode - table of xtext and the bytes it stands for */
static void
test_xtext_decode(void **state)
{
    static const struct {
        const char *xtext;
        const char *raw;
        size_t  len;
    } cases[] = {
        {"", "", 0},
        {"plain", "plain", 5},
        {"a+2Bb", "a+b", 3},
        {"a+2bb", "a+b", 3},            /* lower case: liberal */
        {"+3d+3D", "==", 2},
        {"+00", "\0", 1},
        {"+ff+Ff+fF", "\xff\xff\xff", 3},
        {"+41", "A", 1},                /* needless but allowed */
        {"+20x+20", " x ", 3},
        {"!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~",
         "!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~", 30},
    };
    struct dstr *out = dstr_new(16, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(out);
        if (xtext_decode(out, cases[i].xtext, strlen(cases[i].xtext)) != 0)
            fail_msg("refused \"%s\"", cases[i].xtext);
        assert_int_equal(out->len, cases[i].len);
        assert_memory_equal(out->data, cases[i].raw, cases[i].len);
        assert_true(xtext_valid(cases[i].xtext, strlen(cases[i].xtext)));
    }
    dstr_free(out);
}

/* test_xtext_decode_bad - every malformation; out is left as it was */
static void
test_xtext_decode_bad(void **state)
{
    static const char *const cases[] = {
        "+", "+2", "a+", "a+2", "+2G", "+G2", "+ 2", "+-1", "++2B", "+2+2B",
        "a=b", "=", "a b", " ", "\t", "a\r\n", "\x7f", "\x80", "\xff",
        "caf\xc3\xa9", "ok+2Bok+", "+0x", "+g0", "+x41",
    };
    struct dstr *out = dstr_new(16, 1024);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_set_str(out, "keep");
        if (xtext_decode(out, cases[i], strlen(cases[i])) != -1)
            fail_msg("accepted \"%s\"", cases[i]);
        assert_string_equal(out->data, "keep");
        assert_int_equal(out->len, 4);
        if (xtext_valid(cases[i], strlen(cases[i])))
            fail_msg("valid: \"%s\"", cases[i]);
    }
    /* a raw NUL inside counted input is malformed too */
    assert_int_equal(xtext_decode(out, "a\0b", 3), -1);
    assert_false(xtext_valid("a\0b", 3));
    /* the count is honoured: "+2B" cut after "+2" is malformed */
    assert_int_equal(xtext_decode(out, "+2B", 2), -1);
    assert_false(xtext_valid("+2B", 2));
    dstr_free(out);
}

/* test_xtext_append - both directions append to what out holds */
static void
test_xtext_append(void **state)
{
    struct dstr *out = dstr_new(4, 100);

    (void) state;
    dstr_set_str(out, "ORCPT=rfc822;");
    assert_int_equal(xtext_encode(out, "a+b@x", 5), 0);
    assert_string_equal(out->data, "ORCPT=rfc822;a+2Bb@x");
    dstr_set_str(out, "addr ");
    assert_int_equal(xtext_decode(out, "a+2Bb@x", 7), 0);
    assert_string_equal(out->data, "addr a+b@x");
    dstr_free(out);
}

/* test_xtext_limit - hitting the dstr limit fails and changes nothing */
static void
test_xtext_limit(void **state)
{
    struct dstr *out = dstr_new(2, 8);

    (void) state;
    /* encode: "ab" + 3 * 2 = 8 fits; one more byte does not */
    dstr_set_str(out, "ab");
    assert_int_equal(xtext_encode(out, "  ", 2), 0);
    assert_string_equal(out->data, "ab+20+20");
    dstr_set_str(out, "ab");
    assert_int_equal(xtext_encode(out, "  x", 3), -1);
    assert_string_equal(out->data, "ab");
    /* the limit hit in the middle of a +XX unit */
    dstr_set_str(out, "abcdef");
    assert_int_equal(xtext_encode(out, " ", 1), -1);
    assert_string_equal(out->data, "abcdef");

    /* decode: 8 bytes fit, 9 do not */
    dstr_reset(out);
    assert_int_equal(xtext_decode(out, "+41+42cdefgh", 12), 0);
    assert_string_equal(out->data, "ABcdefgh");
    dstr_set_str(out, "x");
    assert_int_equal(xtext_decode(out, "+41+42cdefgh", 12), -1);
    assert_string_equal(out->data, "x");
    dstr_free(out);
}

/* test_xtext_round_trip - decode(encode(x)) == x for many byte strings */
static void
test_xtext_round_trip(void **state)
{
    struct dstr *enc = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *dec = dstr_new(64, DSTR_UNLIMITED);
    unsigned char raw[300];
    unsigned int seed = 12345;
    size_t  len, i;
    int     round;

    (void) state;
    for (round = 0; round < 500; round++) {
        len = (size_t) round % sizeof(raw);
        for (i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            raw[i] = (unsigned char) (seed >> 16);
        }
        dstr_reset(enc);
        dstr_reset(dec);
        assert_int_equal(xtext_encode(enc, raw, len), 0);
        assert_true(xtext_valid(enc->data, enc->len));
        assert_int_equal(xtext_decode(dec, enc->data, enc->len), 0);
        assert_int_equal(dec->len, len);
        assert_memory_equal(dec->data, raw, len);
    }
    /* lower-case input re-encodes as upper case */
    dstr_reset(dec);
    dstr_reset(enc);
    assert_int_equal(xtext_decode(dec, "x+2b+3d", 7), 0);
    assert_int_equal(xtext_encode(enc, dec->data, dec->len), 0);
    assert_string_equal(enc->data, "x+2B+3D");
    dstr_free(enc);
    dstr_free(dec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xtext_encode),
        cmocka_unit_test(test_xtext_encode_all_bytes),
        cmocka_unit_test(test_xtext_decode),
        cmocka_unit_test(test_xtext_decode_bad),
        cmocka_unit_test(test_xtext_append),
        cmocka_unit_test(test_xtext_limit),
        cmocka_unit_test(test_xtext_round_trip),
    };

    return cmocka_run_group_tests_name("xtext", tests, NULL, NULL);
}
