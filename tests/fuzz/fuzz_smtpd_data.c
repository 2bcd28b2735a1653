/*
 * fuzz_smtpd_data - libFuzzer target: the DATA/BDAT content decoder fed
 * in random pieces must agree with a whole-buffer reference, and
 * dot-stuffed content must come back byte for byte.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "smtpd/smtpd_data.h"
#include "fuzz.h"

#define FUZZ_MAX_INPUT (64 * 1024)      /* longer inputs teach nothing */
#define FUZZ_TRAILER "QUIT\r\n"         /* what follows the end marker */

/* fuzz_rand - xorshift32: the split sizes come from the input's seed */
static uint32_t
fuzz_rand(uint32_t *st)
{
    uint32_t x = *st ? *st : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *st = x;
}

/* fuzz_bol - is in[p] at the start of a line (only CRLF ends one) */
static int
fuzz_bol(const char *in, size_t p)
{
    return p == 0 || (p >= 2 && in[p - 2] == '\r' && in[p - 1] == '\n');
}

/* fuzz_count_crlf - CRLF pairs in in[0..len) */
static unsigned long long
fuzz_count_crlf(const char *in, size_t len)
{
    unsigned long long n = 0;
    size_t  i;

    for (i = 0; i + 1 < len; i++)
        if (in[i] == '\r' && in[i + 1] == '\n')
            n++;
    return n;
}

/*
 * fuzz_bare_flags - the SMTPD_DATA_BARE_* flags of content in[0..len):
 * an LF not after a CR, a CR not before an LF (a CR in the last byte is
 * not yet decided unless last_cr_bare).
 */
static unsigned
fuzz_bare_flags(const char *in, size_t len, int last_cr_bare)
{
    unsigned f = 0;
    size_t  i;

    for (i = 0; i < len; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            f |= SMTPD_DATA_BARE_LF;
        if (in[i] == '\r' && (i + 1 < len ? in[i + 1] != '\n'
                              : last_cr_bare))
            f |= SMTPD_DATA_BARE_CR;
    }
    return f;
}

/*
 * fuzz_decode_split - run the decoder over in[0..len) in pieces whose
 * sizes the seed picks (empty pieces too); returns the bytes consumed
 * and fills out and outlen. A short count is only allowed with done, and
 * after done the decoder takes nothing more.
 */
static size_t
fuzz_decode_split(struct smtpd_data *d, const char *in, size_t len,
                  uint32_t seed, char *out, size_t *outlen)
{
    size_t  pos = 0, n, used, o, rounds = 0, maxpiece;
    uint32_t st = seed;

    maxpiece = 1 + (fuzz_rand(&st) % 16 == 0 ? len : fuzz_rand(&st) % 8);
    *outlen = 0;
    while (pos < len && !d->done) {
        if (++rounds > 4 * len + 16)
            n = len - pos;
        else if (fuzz_rand(&st) % 9 == 0)
            n = 0;
        else
            n = 1 + fuzz_rand(&st) % maxpiece;
        if (n > len - pos)
            n = len - pos;
        used = smtpd_data_decode(d, in + pos, n, out + *outlen, &o);
        fuzz_check(used <= n && o <= n + SMTPD_DATA_SLACK);
        fuzz_check(used == n || d->done);
        *outlen += o;
        pos += used;
    }
    if (d->done && pos < len) {
        used = smtpd_data_decode(d, in + pos, len - pos, out + *outlen, &o);
        fuzz_check(used == 0 && o == 0);
    }
    return pos;
}

/*
 * fuzz_dot_any - arbitrary bytes after DATA. The reference: the message
 * ends at the first line "." (a line starts at 0 or after CRLF: a bare
 * LF or CR never starts one); a period that starts any other line is
 * dropped; so the consumed input holds exactly one end marker, at its
 * end.
 */
static void
fuzz_dot_any(const char *in, size_t len, uint32_t seed)
{
    struct smtpd_data d;
    char   *out = xmalloc(len + SMTPD_DATA_SLACK + 1);
    char   *ref = xmalloc(len + 1);
    size_t  outlen, used, end = len, p, r = 0, content;
    int     found = 0;

    for (p = 0; p + 3 <= len; p++)
        if (fuzz_bol(in, p) && memcmp(in + p, ".\r\n", 3) == 0) {
            end = p;
            found = 1;
            break;
        }
    content = end;
    for (p = 0; p < content; p++)
        if (!(in[p] == '.' && fuzz_bol(in, p)))
            ref[r++] = in[p];

    smtpd_data_init(&d, SMTPD_DATA_DOT);
    used = fuzz_decode_split(&d, in, len, seed, out, &outlen);
    fuzz_check(d.done == found);
    if (found) {
        fuzz_check(used == end + 3);
        fuzz_check(outlen == r && memcmp(out, ref, r) == 0);
        fuzz_check(d.flags == fuzz_bare_flags(in, content, 1));
        fuzz_check(d.lines == fuzz_count_crlf(in, end + 3));
        /* what was taken as content ends in CRLF (or is empty) */
        fuzz_check(outlen == 0 || (outlen >= 2 && out[outlen - 2] == '\r'
                                   && out[outlen - 1] == '\n'));
    } else {
        fuzz_check(used == len);
        /* a CR at the very end is held back until the next byte */
        if (len > 0 && in[len - 1] == '\r') {
            fuzz_check(r > 0 && ref[r - 1] == '\r');
            r--;
        }
        fuzz_check(outlen == r && memcmp(out, ref, r) == 0);
        fuzz_check(d.flags == fuzz_bare_flags(in, len, 0));
        fuzz_check(d.lines == fuzz_count_crlf(in, len));
    }
    free(out);
    free(ref);
}

/*
 * fuzz_dot_roundtrip - the input is message content: stuffed as a
 * client must, ended with ".\r\n" and followed by a command, it decodes
 * to itself, and the decoder stops exactly before the command: bare LF
 * and bare CR inside never end it early.
 */
static void
fuzz_dot_roundtrip(const char *body, size_t len, uint32_t seed)
{
    struct smtpd_data d;
    size_t  clen = len, wlen = 0, outlen, used, p;
    char   *content = xmalloc(len + 3);
    char   *wire = xmalloc(2 * len + 16 + sizeof(FUZZ_TRAILER));
    char   *out;

    memcpy(content, body, len);
    if (clen > 0 && !(clen >= 2 && content[clen - 2] == '\r'
                      && content[clen - 1] == '\n')) {
        content[clen++] = '\r';
        content[clen++] = '\n';
    }
    for (p = 0; p < clen; p++) {
        if (content[p] == '.' && fuzz_bol(content, p))
            wire[wlen++] = '.';
        wire[wlen++] = content[p];
    }
    memcpy(wire + wlen, ".\r\n" FUZZ_TRAILER, 3 + sizeof(FUZZ_TRAILER) - 1);
    out = xmalloc(wlen + 3 + sizeof(FUZZ_TRAILER) + SMTPD_DATA_SLACK);

    smtpd_data_init(&d, SMTPD_DATA_DOT);
    used = fuzz_decode_split(&d, wire, wlen + 3 + sizeof(FUZZ_TRAILER) - 1,
                             seed, out, &outlen);
    fuzz_check(d.done);
    fuzz_check(used == wlen + 3);
    fuzz_check(outlen == clen && memcmp(out, content, clen) == 0);
    fuzz_check(d.flags == fuzz_bare_flags(content, clen, 1));
    free(content);
    free(wire);
    free(out);
}

/*
 * fuzz_raw - BDAT: every byte is content, nothing ends the message;
 * after the flush of the LAST chunk the output is the input.
 */
static void
fuzz_raw(const char *in, size_t len, uint32_t seed)
{
    struct smtpd_data d;
    char   *out = xmalloc(len + 2 * SMTPD_DATA_SLACK + 1);
    size_t  outlen, used;

    smtpd_data_init(&d, SMTPD_DATA_RAW);
    used = fuzz_decode_split(&d, in, len, seed, out, &outlen);
    fuzz_check(!d.done && used == len);
    outlen += smtpd_data_flush(&d, out + outlen);
    fuzz_check(outlen == len && memcmp(out, in, len) == 0);
    fuzz_check(d.flags == fuzz_bare_flags(in, len, 1));
    fuzz_check(d.lines == fuzz_count_crlf(in, len));
    free(out);
}

/*
 * LLVMFuzzerTestOneInput - byte 0 picks the test (any DATA input, DATA
 * round trip, BDAT), bytes 1-4 seed the split sizes; the rest is the
 * input, copied to a buffer of its exact size so overreads are caught.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed;
    char   *in;

    if (size < 5 || size - 5 > FUZZ_MAX_INPUT)
        return 0;
    seed = (uint32_t) data[1] | (uint32_t) data[2] << 8
        | (uint32_t) data[3] << 16 | (uint32_t) data[4] << 24;
    in = xmalloc(size - 5 ? size - 5 : 1);
    memcpy(in, data + 5, size - 5);
    switch (data[0] % 3) {
    case 0:
        fuzz_dot_any(in, size - 5, seed);
        break;
    case 1:
        fuzz_dot_roundtrip(in, size - 5, seed);
        break;
    default:
        fuzz_raw(in, size - 5, seed);
        break;
    }
    free(in);
    return 0;
}
