/*
 * NAME
 *     table_inline - inline: tables, key=value pairs written in place
 * SYNOPSIS
 *     #include "tables/table_inline.h"
 * DESCRIPTION
 *     "inline:{ key1=value1, key2=value2, { key3 = text with spaces } }"
 *     as in Postfix: items are separated by commas or white space; an
 *     item in braces may hold white space, and white space around its
 *     '=' and inside its braces is dropped. Keys are folded to lower
 *     case (table_lookup() folds the key looked up as well).
 *
 *     table_inline_open() takes the part after "inline:", braces
 *     included. table_inline_type is the registry row.
 * RULES
 *     The caller owns the table; table_inline_free() returns NULL.
 * DIAGNOSTICS
 *     A bad specification (no braces, an item without '=', an empty
 *     key or value, a duplicate key) is reported as
 *     "inline:{...}: message\n" in *errors and refused: NULL.
 * SEE ALSO
 *     tables/table.h, tables/table_static.h, Postfix DATABASE_README
 */
#ifndef DOPPEL_TABLES_TABLE_INLINE_H
#define DOPPEL_TABLES_TABLE_INLINE_H

#include "util/dstr.h"
#include "tables/table.h"

#define TABLE_INLINE_ITEMS_MAX 1000     /* pairs in one inline table */

struct table_inline;

struct table_inline *table_inline_open(const char *spec, struct dstr *errors);
enum table_status table_inline_lookup(const struct table_inline *t,
                                      const char *key, struct dstr *value);
size_t  table_inline_count(const struct table_inline *t);
struct table_inline *table_inline_free(struct table_inline *t);

extern const struct table_type table_inline_type;

#endif
