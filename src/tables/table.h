/*
 * NAME
 *     table - lookup tables named "type:name", as Postfix's maps
 * SYNOPSIS
 *     #include "tables/table.h"
 * DESCRIPTION
 *     A table answers one question: which value, if any, goes with a
 *     key. It knows nothing of what the value means; access results
 *     are parsed by tables/access.h, client classes by the classifier.
 *
 *     table_open() opens one table from its specification "type:name",
 *     as an item of a PARAM_MAPLIST parameter gives it (struct
 *     param_list in conf/params.h). The types are:
 *
 *         cidr:FILE      networks, first match wins (cidr_table(5))
 *         pcre:FILE      PCRE2 patterns, first match wins (pcre_table(5))
 *         lmdb:FILE      FILE.lmdb built by "doppel map build FILE"
 *         inline:{ k=v, { k = text with spaces } }
 *         static:VALUE   or static:{ text with spaces }: every key
 *
 *     Files are read and checked completely at open, which happens at
 *     start and at reload; a bad table refuses to open.
 *
 *     table_lookup() writes the value of key into *value (replacing
 *     its content) and returns TABLE_FOUND, TABLE_NOTFOUND, or
 *     TABLE_ERROR when the table cannot answer (a database read error,
 *     a regular expression that hit its match limit, a value longer
 *     than value->limit). Callers must not take an error for a miss:
 *     the SMTP server answers "451 4.3.0" to it.
 *
 *     Keys of lmdb and inline tables are folded to lower case before
 *     the lookup, as Postfix folds keys of its indexed tables; cidr
 *     and pcre tables see the key as given (pcre matching is
 *     case-insensitive unless the pattern's "i" flag says otherwise).
 *
 *     A table_list opens every item of a map list in order.
 *     table_list_lookup() asks each table in turn: the first that finds
 *     the key answers, and the first that fails stops the search with
 *     TABLE_ERROR (a later table must not answer for one that could
 *     not). *which, when not NULL, gets the specification of the table
 *     that answered or failed.
 * RULES
 *     The caller owns a table; table_free() and table_list_free()
 *     return NULL. Lookups do not change what a table holds, except
 *     that an lmdb table reopens its database when "doppel map build"
 *     has replaced it (see tables/table_lmdb.h). A table is used by
 *     one thread at a time; open tables after fork(), in the process
 *     that uses them.
 * DIAGNOSTICS
 *     table_open() and table_list_open() append one line per problem
 *     to *errors, "FILE:LINE: message\n" for a table file and
 *     "SPEC: message\n" otherwise, and return NULL or -1. A lookup
 *     error is logged with log_error() and returned as TABLE_ERROR.
 * SEE ALSO
 *     tables/access.h, tables/table_cidr.h, tables/table_pcre.h,
 *     tables/table_lmdb.h, tables/table_inline.h, doppel-tables(5)
 */
#ifndef DOPPEL_TABLES_TABLE_H
#define DOPPEL_TABLES_TABLE_H

#include <stddef.h>

#include "util/dstr.h"
#include "conf/params.h"

#define TABLE_SPEC_MAX 4096             /* longest "type:name" */
#define TABLE_TYPE_MAX 16               /* longest type name */
#define TABLE_LIST_MAX 64               /* tables in one map list */

enum table_status {
    TABLE_FOUND,
    TABLE_NOTFOUND,
    TABLE_ERROR,
};

#define TABLE_TYPE_F_FOLD 0x1           /* lower-case keys before lookup */

typedef void *table_open_fn(const char *name, struct dstr *errors);
typedef enum table_status table_lookup_fn(void *handle, const char *key,
                                          struct dstr *value);
typedef void table_close_fn(void *handle);

/* One row of the type registry. */
struct table_type {
    const char *prefix;                /* "cidr", without the colon */
    unsigned flags;                    /* TABLE_TYPE_F_* */
    table_open_fn *open;
    table_lookup_fn *lookup;
    table_close_fn *close;
};

struct table;
struct table_list;

struct table *table_open(const char *spec, struct dstr *errors);
enum table_status table_lookup(struct table *t, const char *key,
                               struct dstr *value);
const char *table_spec(const struct table *t);
struct table *table_free(struct table *t);
const struct table_type *table_find_type(const char *prefix, size_t len);
const char *table_status_name(enum table_status status);

int     table_list_open(struct table_list **list,
                        const struct param_list *maps, struct dstr *errors);
enum table_status table_list_lookup(struct table_list *list, const char *key,
                                    struct dstr *value, const char **which);
size_t  table_list_count(const struct table_list *list);
struct table_list *table_list_free(struct table_list *list);

#endif
