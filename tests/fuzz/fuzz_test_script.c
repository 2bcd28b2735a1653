/* fuzz_test_script - libFuzzer target: the doppel test script parser. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "cli/cli_test_script.h"
#include "fuzz.h"

static const uint8_t *fuzz_data;
static size_t fuzz_size;

/*
 * fuzz_load - every include and body file is the input itself, so the
 * fuzzer reaches include loops, depth limits and body stuffing; names
 * starting with "missing" do not exist.
 */
static int
fuzz_load(void *ctx, const char *path, struct dstr *out, struct dstr *err)
{
    const char *base = strrchr(path, '/');

    (void) ctx;
    base = base ? base + 1 : path;
    if (strncmp(base, "missing", 7) == 0) {
        (void) dstr_append_str(err, "cannot open: No such file or directory");
        return -1;
    }
    return dstr_append(out, fuzz_data, fuzz_size);
}

/*
 * LLVMFuzzerTestOneInput - parse the input as a script. Either a script
 * comes back and no error, or no script and one "NAME:LINE: " error
 * line; every step points at a file the script knows and has text.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const defs[] = {"target=stress", "server=127.0.0.1:25",
                                       NULL};
    struct cli_test_parse_opts o = CLI_TEST_PARSE_OPTS_INIT;
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_script *s = NULL;
    size_t  i, f;
    int     r;

    fuzz_data = data;
    fuzz_size = size;
    o.load = fuzz_load;
    o.defines = defs;
    r = cli_test_script_parse_buf(&s, "fuzz.dt", (const char *) data, size,
                                  &o, err);
    if (r == 0) {
        fuzz_check(s != NULL && err->len == 0);
        fuzz_check(s->nsteps <= CLI_TEST_STEPS_MAX);
        for (i = 0; i < s->nsteps; i++) {
            const struct cli_test_step *st = &s->steps[i];

            fuzz_check(st->text != NULL && st->line > 0);
            for (f = 0; f < s->nfiles && s->files[f] != st->file; f++)
                ;
            fuzz_check(f < s->nfiles);
            if (st->op == CLI_TEST_OP_EXPECT)
                fuzz_check(st->expect.ncodes >= 1);
        }
    } else {
        fuzz_check(s == NULL && err->len > 0);
        fuzz_check(err->data[err->len - 1] == '\n');
        fuzz_check(memchr(err->data, '\n', err->len) == err->data + err->len - 1);
    }
    cli_test_script_free(s);
    dstr_free(err);
    return 0;
}
