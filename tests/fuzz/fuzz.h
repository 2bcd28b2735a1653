/*
 * fuzz.h - what the libFuzzer targets in this directory share: the entry
 * point's prototype, and fuzz_check() for the properties they assert.
 */
#ifndef DOPPEL_TESTS_FUZZ_H
#define DOPPEL_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check - abort (a crash libFuzzer reports) if cond is false */
static inline void
fuzz_check(int cond)
{
    if (!cond)
        abort();
}

#endif
