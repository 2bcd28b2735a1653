/* fuzz_table_inline - libFuzzer target: arbitrary text as an inline: table. */

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_inline.h"
#include "fuzz.h"

#define FUZZ_INPUT_MAX 16384            /* larger inputs only cost time */

/*
 * fuzz_plain_items - in "{ k=v, k2=v2 }" without inner braces every item
 * is a word: each must be found, folded, with its value
 */
static void
fuzz_plain_items(const struct table_inline *t, const char *spec)
{
    size_t  len = strlen(spec), n = 0;
    char   *inner = xstrndup(spec + 1, len - 2), *item, *eq, *p, *save = NULL;
    struct dstr *value = dstr_new(0, 1 << 16);

    if (strpbrk(inner, "{}") == NULL) {
        for (item = strtok_r(inner, ", \t\r\n\f\v", &save); item != NULL;
             item = strtok_r(NULL, ", \t\r\n\f\v", &save)) {
            n++;
            eq = strchr(item, '=');
            fuzz_check(eq != NULL && eq > item && eq[1] != '\0');
            *eq = '\0';
            for (p = item; *p; p++)
                *p = (char) tolower((unsigned char) *p);
            fuzz_check(table_inline_lookup(t, item, value) == TABLE_FOUND);
            fuzz_check(strcmp(value->data, eq + 1) == 0);
        }
        fuzz_check(n == table_inline_count(t));
    }
    dstr_free(value);
    free(inner);
}

/*
 * LLVMFuzzerTestOneInput - a specification either opens, and then answers
 * as it says, or is refused with "inline:" and a reason on one line
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"a", "key", "", "x@example.com"};
    struct dstr *errors = dstr_new(0, 1 << 20);
    struct dstr *value = dstr_new(0, 1 << 16);
    struct table_inline *t;
    enum table_status s;
    char   *spec;
    size_t  i;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    spec = xstrndup((const char *) data, size);    /* stops at a NUL */
    t = table_inline_open(spec, errors);
    if (t == NULL) {
        fuzz_check(errors->len > 0 && strncmp(errors->data, "inline:", 7) == 0);
        fuzz_check(errors->data[errors->len - 1] == '\n');
    } else {
        fuzz_check(errors->len == 0);
        fuzz_check(table_inline_count(t) <= TABLE_INLINE_ITEMS_MAX);
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            s = table_inline_lookup(t, keys[i], value);
            fuzz_check(s == TABLE_FOUND || s == TABLE_NOTFOUND);
            fuzz_check(s != TABLE_FOUND || value->len > 0);
        }
        fuzz_plain_items(t, spec);
        table_inline_free(t);
    }
    free(spec);
    dstr_free(value);
    dstr_free(errors);
    return 0;
}
