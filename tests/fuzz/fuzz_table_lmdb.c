/*
 * fuzz_table_lmdb - libFuzzer target: arbitrary text as the source of an
 * lmdb: table, built as "doppel map build" builds it, then read back.
 */

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_lmdb.h"
#include "fuzz.h"

#define FUZZ_INPUT_MAX 8192             /* larger inputs only cost time */

/* fuzz_source - a private source file name (tmpfs when there is one) */
static const char *
fuzz_source(void)
{
    static char path[256];

    if (path[0] == '\0')
        snprintf(path, sizeof(path), "%s/doppel-fuzz-lmdb-%ld",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
                 (long) getpid());
    return path;
}

/*
 * fuzz_first_words - every line that starts a "key value" entry (not
 * blank, not a comment, not a continuation) names a key the table has
 */
static void
fuzz_first_words(struct table_lmdb *t, const char *text)
{
    struct dstr *value = dstr_new(0, 1 << 20);
    const char *line, *end;
    char    key[TABLE_LMDB_KEY_MAX + 1];
    size_t  n, i;

    for (line = text; *line; line = *end ? end + 1 : end) {
        end = line + strcspn(line, "\n");
        if (isspace((unsigned char) *line) || *line == '#' || line == end)
            continue;
        for (n = 0; line + n < end && !isspace((unsigned char) line[n]); n++)
            continue;
        fuzz_check(n <= TABLE_LMDB_KEY_MAX);
        for (i = 0; i < n; i++)
            key[i] = (char) tolower((unsigned char) line[i]);
        key[n] = '\0';
        fuzz_check(table_lmdb_lookup(t, key, value) == TABLE_FOUND);
        fuzz_check(value->len > 0);
    }
    dstr_free(value);
}

/*
 * LLVMFuzzerTestOneInput - a source builds, and then every entry is
 * found, or is refused with "FILE:LINE: reason" and no database is left
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *source = fuzz_source();
    struct dstr *errors = dstr_new(0, 1 << 20);
    struct dstr *db = dstr_new(0, 4096);
    struct table_lmdb *t;
    size_t  count = 0;
    char   *text;
    FILE   *f;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    (void) dstr_appendf(db, "%s%s", source, TABLE_LMDB_SUFFIX);
    (void) unlink(db->data);
    f = fopen(source, "w");
    fuzz_check(f != NULL);
    fuzz_check(fwrite(data, 1, size, f) == size);
    fuzz_check(fclose(f) == 0);
    if (table_lmdb_build(source, &count, errors) < 0) {
        fuzz_check(errors->len > 0 && strncmp(errors->data, source,
                                              strlen(source)) == 0);
        fuzz_check(access(db->data, F_OK) != 0);
    } else {
        fuzz_check(errors->len == 0);
        t = table_lmdb_open(source, errors);
        fuzz_check(t != NULL);
        /* NUL and CR end or change lines in ways the model does not follow */
        if (memchr(data, '\0', size) == NULL && memchr(data, '\r', size) == NULL) {
            text = xstrndup((const char *) data, size);
            fuzz_first_words(t, text);
            free(text);
        }
        table_lmdb_free(t);
    }
    (void) unlink(source);
    (void) unlink(db->data);
    dstr_free(db);
    dstr_free(errors);
    return 0;
}
