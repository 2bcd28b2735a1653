/* fuzz_access - libFuzzer target: arbitrary text as an access(5) result. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "tables/access.h"
#include "fuzz.h"

/*
 * LLVMFuzzerTestOneInput - every result is either refused with a reason
 * and the safe 451 answer, or has a consistent code, status and text:
 * a reply code is 4NN or 5NN and its status is of the same class.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char   *value = xmalloc(size + 1);
    struct dstr *why = dstr_new(0, 4096);
    struct access_result r;
    size_t  len;

    memcpy(value, data, size);
    value[size] = '\0';
    if (access_parse(value, &r, why) < 0) {
        fuzz_check(why->len > 0);
        fuzz_check(r.code == 451 && strcmp(r.dsn, "4.3.5") == 0);
    } else {
        fuzz_check(why->len == 0);
        fuzz_check(r.text != NULL);
        if (r.code != 0) {
            fuzz_check(r.code >= 400 && r.code <= 599);
            fuzz_check(access_dsn_valid(r.dsn, &len) && len == strlen(r.dsn));
            fuzz_check(r.dsn[0] == '0' + r.code / 100);
            fuzz_check(*r.text != '\0');
            fuzz_check(r.action == (r.code < 500 ? ACCESS_DEFER : ACCESS_REJECT)
                       || r.action == ACCESS_DEFER_IF_PERMIT
                       || r.action == ACCESS_DEFER_IF_REJECT);
        } else {
            fuzz_check(r.dsn[0] == '\0' && !r.disconnect);
        }
        fuzz_check(r.disconnect == (r.code == 421 || r.code == 521));
        fuzz_check(strlen(access_action_name(r.action)) > 0);
    }
    dstr_free(why);
    free(value);
    return 0;
}
