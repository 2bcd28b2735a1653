/* fuzz_xtext - libFuzzer target: xtext decode/encode must round-trip. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xtext.h"
#include "fuzz.h"

#define FUZZ_SMALL_LIMIT 16             /* a dstr limit the input can hit */

/*
 * LLVMFuzzerTestOneInput - the input as xtext, and as raw bytes.
 * As xtext: decode must agree with xtext_valid(); what decodes must
 * encode to valid xtext that decodes to the same bytes. As raw bytes:
 * encode then decode gives them back. With a small limit: a failure
 * leaves the output as it was.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    struct dstr *dec = dstr_new(0, DSTR_UNLIMITED);
    struct dstr *enc = dstr_new(0, DSTR_UNLIMITED);
    struct dstr *again = dstr_new(0, DSTR_UNLIMITED);
    struct dstr *small = dstr_new(0, FUZZ_SMALL_LIMIT);
    int     ok;

    ok = xtext_decode(dec, text, size) == 0;
    fuzz_check(ok == xtext_valid(text, size));
    if (ok) {
        fuzz_check(dec->len <= size);
        fuzz_check(xtext_encode(enc, dec->data, dec->len) == 0);
        fuzz_check(xtext_valid(enc->data, enc->len));
        fuzz_check(xtext_decode(again, enc->data, enc->len) == 0);
        fuzz_check(again->len == dec->len
                   && memcmp(again->data, dec->data, dec->len) == 0);
    } else {
        fuzz_check(dec->len == 0);
    }

    dstr_reset(enc);
    dstr_reset(again);
    fuzz_check(xtext_encode(enc, data, size) == 0);
    fuzz_check(xtext_decode(again, enc->data, enc->len) == 0);
    fuzz_check(again->len == size && memcmp(again->data, data, size) == 0);

    (void) dstr_set_str(small, "keep");
    if (xtext_decode(small, text, size) < 0)
        fuzz_check(small->len == 4 && strcmp(small->data, "keep") == 0);
    (void) dstr_set_str(small, "keep");
    if (xtext_encode(small, data, size) < 0)
        fuzz_check(small->len == 4 && strcmp(small->data, "keep") == 0);

    dstr_free(dec);
    dstr_free(enc);
    dstr_free(again);
    dstr_free(small);
    return 0;
}
