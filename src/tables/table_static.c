/* table_static - static: tables: the same value for every key. */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_static.h"

struct table_static {
    char   *value;
};

/* table_static_open - "VALUE" or "{ text }" */
struct table_static *
table_static_open(const char *spec, struct dstr *errors)
{
    struct table_static *t;
    const char *start = spec, *end = spec + strlen(spec);

    if (*start == '{') {
        if (end == start || end[-1] != '}') {
            (void) dstr_appendf(errors, "static:%.60s: \"{\" without a closing"
                                " \"}\"\n", spec);
            return NULL;
        }
        start++;
        end--;
        while (start < end && isspace((unsigned char) *start))
            start++;
        while (end > start && isspace((unsigned char) end[-1]))
            end--;
    } else if (strchr(spec, '}') != NULL) {
        (void) dstr_appendf(errors, "static:%.60s: \"}\" without an opening"
                            " \"{\"\n", spec);
        return NULL;
    }
    if (start == end) {
        (void) dstr_appendf(errors, "static:%.60s: empty value (use"
                            " static:VALUE or static:{ text })\n", spec);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->value = xstrndup(start, (size_t) (end - start));
    return t;
}

/* table_static_lookup - always found */
enum table_status
table_static_lookup(const struct table_static *t, const char *key,
                    struct dstr *value)
{
    (void) key;
    if (dstr_set_str(value, t->value) < 0) {
        log_error("static table: value longer than %zu bytes", value->limit);
        return TABLE_ERROR;
    }
    return TABLE_FOUND;
}

/* table_static_free - release the value */
struct table_static *
table_static_free(struct table_static *t)
{
    if (t != NULL) {
        free(t->value);
        free(t);
    }
    return NULL;
}

/* table_static_open_fn - registry adapter */
static void *
table_static_open_fn(const char *name, struct dstr *errors)
{
    return table_static_open(name, errors);
}

/* table_static_lookup_fn - registry adapter */
static enum table_status
table_static_lookup_fn(void *handle, const char *key, struct dstr *value)
{
    return table_static_lookup(handle, key, value);
}

/* table_static_close_fn - registry adapter */
static void
table_static_close_fn(void *handle)
{
    (void) table_static_free(handle);
}

const struct table_type table_static_type = {
    "static", 0, table_static_open_fn, table_static_lookup_fn,
    table_static_close_fn,
};
