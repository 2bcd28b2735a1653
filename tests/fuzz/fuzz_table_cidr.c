/* fuzz_table_cidr - libFuzzer target: arbitrary text as a cidr: table. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "tables/table.h"
#include "tables/table_cidr.h"
#include "fuzz.h"

#define FUZZ_INPUT_MAX 65536            /* larger inputs only cost time */

/*
 * LLVMFuzzerTestOneInput - a table that loads answers lookups of fixed
 * addresses and of every first word in the input; one that does not
 * loads nothing and says why, with a line number.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {
        "192.0.2.1", "10.1.2.3", "::1", "2001:db8::1", "::ffff:10.1.2.3",
        "0.0.0.0", "255.255.255.255", "not an address", "",
    };
    struct dstr *errors = dstr_new(0, 1 << 20);
    struct dstr *value = dstr_new(0, 4096);
    struct table_cidr *t;
    enum table_status s;
    size_t  i;
    char   *copy, *line, *end;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    t = table_cidr_parse("fuzz", (const char *) data, size, errors);
    if (t == NULL) {
        fuzz_check(errors->len > 0 && strncmp(errors->data, "fuzz:", 5) == 0);
        fuzz_check(errors->data[errors->len - 1] == '\n');
    } else {
        fuzz_check(errors->len == 0);
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            s = table_cidr_lookup(t, keys[i], value);
            fuzz_check(s == TABLE_FOUND || s == TABLE_NOTFOUND);
            fuzz_check(s != TABLE_FOUND || value->len > 0);
        }
        /* the network of each line, as a key */
        copy = malloc(size + 1);
        memcpy(copy, data, size);
        copy[size] = '\0';
        for (line = copy; line != NULL && *line; line = end) {
            if ((end = strchr(line, '\n')) != NULL)
                *end++ = '\0';
            line[strcspn(line, " \t/")] = '\0';
            if (line[0] == '!')
                line++;
            s = table_cidr_lookup(t, line, value);
            fuzz_check(s == TABLE_FOUND || s == TABLE_NOTFOUND);
        }
        free(copy);
        t = table_cidr_free(t);
    }
    dstr_free(errors);
    dstr_free(value);
    return 0;
}
