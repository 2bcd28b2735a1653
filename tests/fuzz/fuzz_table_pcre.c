/* fuzz_table_pcre - libFuzzer target: arbitrary text as a pcre: table. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_pcre.h"
#include "fuzz.h"

#define FUZZ_INPUT_MAX 4096             /* keeps pattern compilation quick */

/*
 * LLVMFuzzerTestOneInput - the input is a table; a table that loads
 * answers fixed keys and the input's own lines without crashing and
 * within the value limit; one that does not says why, with FILE:LINE.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {
        "user@example.com", "mx1.example.com", "192.0.2.1", "", "aaaaaaaaaab",
        "$1$2${3}", "line1\nline2",
    };
    struct dstr *errors = dstr_new(0, 1 << 20);
    struct dstr *value = dstr_new(0, 1024);
    struct table_pcre *t;
    enum table_status s;
    size_t  i;
    char   *copy, *line, *end;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    t = table_pcre_parse("fuzz", (const char *) data, size, errors);
    if (t == NULL) {
        fuzz_check(errors->len > 0 && strncmp(errors->data, "fuzz:", 5) == 0);
        fuzz_check(errors->data[errors->len - 1] == '\n');
    } else {
        fuzz_check(errors->len == 0);
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            s = table_pcre_lookup(t, keys[i], value);
            fuzz_check(s == TABLE_FOUND || s == TABLE_NOTFOUND
                       || s == TABLE_ERROR);
            fuzz_check(value->len <= value->limit);
        }
        copy = malloc(size + 1);
        memcpy(copy, data, size);
        copy[size] = '\0';
        for (line = copy; line != NULL && *line; line = end) {
            if ((end = strchr(line, '\n')) != NULL)
                *end++ = '\0';
            (void) table_pcre_lookup(t, line, value);
        }
        free(copy);
        t = table_pcre_free(t);
    }
    dstr_free(errors);
    dstr_free(value);
    return 0;
}
