/*
 * fuzz_conf - libFuzzer target for doppel.cf: the main.cf-syntax parser,
 * $name expansion and the personality compiler, all on arbitrary bytes.
 * The first byte chooses doppel.cf or services.cf.
 */

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"
#include "util/log.h"
#include "conf/cfparse.h"
#include "conf/personality.h"
#include "conf/services.h"
#include "fuzz.h"

/* LLVMFuzzerTestOneInput - parse, expand and type-check one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const classes[] = {"preferred"};
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct cf_table *t;
    struct service_list *l;
    struct personality_set *set = NULL;

    log_open("fuzz", LOG_SINK_NONE);
    if (size == 0) {
        dstr_free(errors);
        return 0;
    }
    if (data[0] & 1) {
        l = services_parse_buffer("services.cf", (const char *) data + 1,
                                  size - 1, errors);
        services_free(l);
    } else {
        t = cfparse_new();
        if (cfparse_buffer(t, "doppel.cf", (const char *) data + 1, size - 1,
                           errors) == 0)
            (void) personality_compile(t, NULL, classes, 1, NULL, &set,
                                       errors);
        personality_free(set);
        cfparse_free(t);
    }
    dstr_free(errors);
    return 0;
}
