/*
 * NAME
 *     table_static - static: tables, one value for every key
 * SYNOPSIS
 *     #include "tables/table_static.h"
 * DESCRIPTION
 *     "static:VALUE" finds VALUE for any key; "static:{ text with
 *     spaces }" finds the text inside the braces, outer white space
 *     dropped, so a value may contain spaces and commas inside a map
 *     list. table_static_type is the registry row.
 * RULES
 *     The caller owns the table; table_static_free() returns NULL.
 * DIAGNOSTICS
 *     An empty value or unbalanced braces are reported as
 *     "static:...: message\n" in *errors and refused: NULL.
 * SEE ALSO
 *     tables/table.h, tables/table_inline.h
 */
#ifndef DOPPEL_TABLES_TABLE_STATIC_H
#define DOPPEL_TABLES_TABLE_STATIC_H

#include "util/dstr.h"
#include "tables/table.h"

struct table_static;

struct table_static *table_static_open(const char *spec, struct dstr *errors);
enum table_status table_static_lookup(const struct table_static *t,
                                      const char *key, struct dstr *value);
struct table_static *table_static_free(struct table_static *t);

extern const struct table_type table_static_type;

#endif
