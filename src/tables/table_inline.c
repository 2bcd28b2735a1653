/* table_inline - inline: tables: key=value pairs from the specification. */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "tables/table.h"
#include "tables/table_inline.h"

struct table_inline_pair {
    char   *key;                       /* folded */
    char   *value;
};

struct table_inline {
    struct table_inline_pair *pairs;
    size_t  count;
};

/* table_inline_trim - [start, end) without outer white space, as a string */
static char *
table_inline_trim(const char *start, const char *end)
{
    while (start < end && isspace((unsigned char) *start))
        start++;
    while (end > start && isspace((unsigned char) end[-1]))
        end--;
    return xstrndup(start, (size_t) (end - start));
}

/* table_inline_item - one item, "k=v" or "{ k = v }", into t */
static int
table_inline_item(struct table_inline *t, const char *spec, const char *item,
                  struct dstr *errors)
{
    const char *start = item, *end = item + strlen(item), *eq;
    char   *p;
    size_t  i;

    if (*start == '{') {
        if (end[-1] != '}') {
            (void) dstr_appendf(errors, "inline:%.60s: text after \"}\" in"
                                " \"%.60s\"\n", spec, item);
            return -1;
        }
        start++;
        end--;
    }
    if ((eq = memchr(start, '=', (size_t) (end - start))) == NULL) {
        (void) dstr_appendf(errors, "inline:%.60s: \"%.60s\" is not key=value"
                            " (put text with spaces in braces: { key ="
                            " text })\n", spec, item);
        return -1;
    }
    t->pairs[t->count].key = table_inline_trim(start, eq);
    t->pairs[t->count].value = table_inline_trim(eq + 1, end);
    if (*t->pairs[t->count].key == '\0' || *t->pairs[t->count].value == '\0') {
        (void) dstr_appendf(errors, "inline:%.60s: \"%.60s\": empty %s\n", spec,
                            item, *t->pairs[t->count].key ? "value" : "key");
        t->count++;
        return -1;
    }
    for (p = t->pairs[t->count].key; *p; p++)
        *p = (char) tolower((unsigned char) *p);
    for (i = 0; i < t->count; i++) {
        if (strcmp(t->pairs[i].key, t->pairs[t->count].key) == 0) {
            (void) dstr_appendf(errors, "inline:%.60s: duplicate key \"%.60s\"\n",
                                spec, t->pairs[t->count].key);
            t->count++;
            return -1;
        }
    }
    t->count++;
    return 0;
}

/* table_inline_open - parse "{ ... }" */
struct table_inline *
table_inline_open(const char *spec, struct dstr *errors)
{
    struct table_inline *t;
    struct param_list items;
    struct dstr *why;
    size_t  len = strlen(spec), i;
    char   *inner;
    int     bad = 0;

    if (len < 2 || spec[0] != '{' || spec[len - 1] != '}') {
        (void) dstr_appendf(errors, "inline:%.60s: expected inline:{ key=value,"
                            " ... }\n", spec);
        return NULL;
    }
    inner = xstrndup(spec + 1, len - 2);
    why = dstr_new(64, 1024);
    if (param_list_split(inner, &items, why) < 0) {
        (void) dstr_appendf(errors, "inline:%.60s: %s\n", spec, why->data);
        dstr_free(why);
        free(inner);
        return NULL;
    }
    dstr_free(why);
    free(inner);
    if (items.count > TABLE_INLINE_ITEMS_MAX) {
        (void) dstr_appendf(errors, "inline:%.60s: more than %d items\n", spec,
                            TABLE_INLINE_ITEMS_MAX);
        param_list_free(&items);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->pairs = xcalloc(items.count + 1, sizeof(*t->pairs));
    for (i = 0; i < items.count; i++)
        if (table_inline_item(t, spec, items.items[i], errors) < 0)
            bad = 1;
    param_list_free(&items);
    return bad ? table_inline_free(t) : t;
}

/* table_inline_lookup - exact match of the (folded) key */
enum table_status
table_inline_lookup(const struct table_inline *t, const char *key,
                    struct dstr *value)
{
    size_t  i;

    for (i = 0; i < t->count; i++) {
        if (strcmp(t->pairs[i].key, key) != 0)
            continue;
        if (dstr_set_str(value, t->pairs[i].value) < 0) {
            log_error("inline table: value of \"%.100s\" longer than %zu bytes",
                      key, value->limit);
            return TABLE_ERROR;
        }
        return TABLE_FOUND;
    }
    return TABLE_NOTFOUND;
}

/* table_inline_count - pairs */
size_t
table_inline_count(const struct table_inline *t)
{
    return t->count;
}

/* table_inline_free - release the pairs */
struct table_inline *
table_inline_free(struct table_inline *t)
{
    size_t  i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->count; i++) {
        free(t->pairs[i].key);
        free(t->pairs[i].value);
    }
    free(t->pairs);
    free(t);
    return NULL;
}

/* table_inline_open_fn - registry adapter */
static void *
table_inline_open_fn(const char *name, struct dstr *errors)
{
    return table_inline_open(name, errors);
}

/* table_inline_lookup_fn - registry adapter */
static enum table_status
table_inline_lookup_fn(void *handle, const char *key, struct dstr *value)
{
    return table_inline_lookup(handle, key, value);
}

/* table_inline_close_fn - registry adapter */
static void
table_inline_close_fn(void *handle)
{
    (void) table_inline_free(handle);
}

const struct table_type table_inline_type = {
    "inline", TABLE_TYPE_F_FOLD, table_inline_open_fn, table_inline_lookup_fn,
    table_inline_close_fn,
};
