/* table - open "type:name" through the type registry; lists of tables. */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "tables/table.h"
#include "tables/table_cidr.h"
#include "tables/table_inline.h"
#include "tables/table_lmdb.h"
#include "tables/table_pcre.h"
#include "tables/table_static.h"

struct table {
    const struct table_type *type;
    void   *handle;
    char   *spec;
};

struct table_list {
    struct table **tables;
    size_t  count;
};

static const struct table_type *const table_types[] = {
    &table_cidr_type,
    &table_pcre_type,
    &table_lmdb_type,
    &table_inline_type,
    &table_static_type,
};

#define TABLE_NTYPES (sizeof(table_types) / sizeof(table_types[0]))

/* Postfix types doppel does not have, with what to use instead. */
static const struct {
    const char *prefix;
    const char *instead;
} table_foreign[] = {
    {"hash", "lmdb"}, {"btree", "lmdb"}, {"dbm", "lmdb"}, {"sdbm", "lmdb"},
    {"cdb", "lmdb"}, {"texthash", "lmdb"}, {"regexp", "pcre"},
};

/* table_find_type - the registry row for a prefix, or NULL */
const struct table_type *
table_find_type(const char *prefix, size_t len)
{
    size_t  i;

    for (i = 0; i < TABLE_NTYPES; i++)
        if (strlen(table_types[i]->prefix) == len
            && strncmp(table_types[i]->prefix, prefix, len) == 0)
            return table_types[i];
    return NULL;
}

/* table_unknown_type - explain an unknown type, suggesting the right one */
static void
table_unknown_type(const char *spec, size_t len, struct dstr *errors)
{
    size_t  i;

    (void) dstr_appendf(errors, "%.100s: unknown table type \"%.*s\"", spec,
                        (int) (len > TABLE_TYPE_MAX ? TABLE_TYPE_MAX : len),
                        spec);
    for (i = 0; i < sizeof(table_foreign) / sizeof(table_foreign[0]); i++) {
        if (strlen(table_foreign[i].prefix) == len
            && strncmp(table_foreign[i].prefix, spec, len) == 0) {
            (void) dstr_appendf(errors, " (doppel has %s: instead)\n",
                                table_foreign[i].instead);
            return;
        }
    }
    (void) dstr_appendf(errors, " (use");
    for (i = 0; i < TABLE_NTYPES; i++)
        (void) dstr_appendf(errors, "%s %s:", i == 0 ? "" : i + 1 ==
                            TABLE_NTYPES ? " or" : ",", table_types[i]->prefix);
    (void) dstr_appendf(errors, ")\n");
}

/* table_open - "type:name" through the registry */
struct table *
table_open(const char *spec, struct dstr *errors)
{
    const struct table_type *type;
    const char *colon;
    struct table *t;
    void   *handle;
    size_t  len;

    if (strlen(spec) > TABLE_SPEC_MAX) {
        (void) dstr_appendf(errors, "%.60s...: table specification is longer"
                            " than %d bytes\n", spec, TABLE_SPEC_MAX);
        return NULL;
    }
    if ((colon = strchr(spec, ':')) == NULL) {
        (void) dstr_appendf(errors, "%s: not a table (use type:name, for"
                            " example cidr:/etc/doppel/clients.cidr)\n", spec);
        return NULL;
    }
    len = (size_t) (colon - spec);
    if ((type = table_find_type(spec, len)) == NULL) {
        table_unknown_type(spec, len, errors);
        return NULL;
    }
    if (colon[1] == '\0') {
        (void) dstr_appendf(errors, "%s: the table has no name\n", spec);
        return NULL;
    }
    if ((handle = type->open(colon + 1, errors)) == NULL)
        return NULL;
    t = xcalloc(1, sizeof(*t));
    t->type = type;
    t->handle = handle;
    t->spec = xstrdup(spec);
    return t;
}

/* table_lookup - fold the key if the type wants it, then ask the type */
enum table_status
table_lookup(struct table *t, const char *key, struct dstr *value)
{
    enum table_status status;
    char   *folded, *p;

    if (!(t->type->flags & TABLE_TYPE_F_FOLD))
        return t->type->lookup(t->handle, key, value);
    folded = xstrdup(key);
    for (p = folded; *p; p++)
        *p = (char) tolower((unsigned char) *p);
    status = t->type->lookup(t->handle, folded, value);
    free(folded);
    return status;
}

/* table_spec - "type:name" as opened */
const char *
table_spec(const struct table *t)
{
    return t->spec;
}

/* table_free - close the table */
struct table *
table_free(struct table *t)
{
    if (t == NULL)
        return NULL;
    t->type->close(t->handle);
    free(t->spec);
    free(t);
    return NULL;
}

/* table_status_name - "found", "not found", "error" for logs */
const char *
table_status_name(enum table_status status)
{
    switch (status) {
    case TABLE_FOUND:
        return "found";
    case TABLE_NOTFOUND:
        return "not found";
    case TABLE_ERROR:
        return "error";
    }
    return "unknown";
}

/* table_list_open - every item of a map list; all or nothing */
int
table_list_open(struct table_list **list, const struct param_list *maps,
                struct dstr *errors)
{
    struct table_list *l;
    size_t  i;
    int     bad = 0;

    *list = NULL;
    if (maps->count > TABLE_LIST_MAX) {
        (void) dstr_appendf(errors, "%s: more than %d tables in one list\n",
                            maps->items[0], TABLE_LIST_MAX);
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->tables = xcalloc(maps->count + 1, sizeof(*l->tables));
    for (i = 0; i < maps->count; i++) {
        if ((l->tables[l->count] = table_open(maps->items[i], errors)) == NULL)
            bad = 1;
        else
            l->count++;
    }
    if (bad) {
        table_list_free(l);
        return -1;
    }
    *list = l;
    return 0;
}

/* table_list_lookup - first table that finds the key; an error stops */
enum table_status
table_list_lookup(struct table_list *list, const char *key,
                  struct dstr *value, const char **which)
{
    enum table_status status;
    size_t  i;

    if (which != NULL)
        *which = NULL;
    for (i = 0; i < list->count; i++) {
        status = table_lookup(list->tables[i], key, value);
        if (status == TABLE_NOTFOUND)
            continue;
        if (which != NULL)
            *which = list->tables[i]->spec;
        return status;
    }
    return TABLE_NOTFOUND;
}

/* table_list_count - tables in the list */
size_t
table_list_count(const struct table_list *list)
{
    return list->count;
}

/* table_list_free - close every table */
struct table_list *
table_list_free(struct table_list *list)
{
    size_t  i;

    if (list == NULL)
        return NULL;
    for (i = 0; i < list->count; i++)
        table_free(list->tables[i]);
    free(list->tables);
    free(list);
    return NULL;
}
