/*
 * NAME
 *     table_lmdb - lmdb: tables, indexed key/value files built like postmap
 * SYNOPSIS
 *     #include "tables/table_lmdb.h"
 * DESCRIPTION
 *     The source of an lmdb table is a text file of "key value" lines
 *     (the key is the first word, the value the rest of the line; '#'
 *     comment lines, indented continuation lines). table_lmdb_build()
 *     turns SOURCE into SOURCE.lmdb, as postmap(1) does: keys folded
 *     to lower case, the first of duplicate keys kept with a warning.
 *     Nothing is written unless the whole source is good.
 *
 *     The database is replaced atomically: the builder writes
 *     SOURCE.lmdb.tmp.PID, syncs it, rename()s it over SOURCE.lmdb
 *     and syncs the directory. A reader has either the old file or
 *     the new one open, never a mixture, and never a lock: the live
 *     file is never written in place, so readers open it read-only
 *     without LMDB's lock file.
 *
 *     table_lmdb_open(SOURCE) opens SOURCE.lmdb (the name in
 *     "lmdb:SOURCE" is the source file, as with Postfix). It warns if
 *     SOURCE is newer than the database. table_lmdb_lookup() takes the
 *     key as stored (table_lookup() folds it first). Every
 *     TABLE_LMDB_RECHECK_MS at most, a lookup checks whether
 *     SOURCE.lmdb is still the file it opened and, if it was replaced,
 *     reopens it; table_lmdb_set_recheck() changes the interval (0:
 *     every lookup; for tests).
 *
 *     A process that cannot see SOURCE.lmdb by name any more (it is in
 *     a chroot) notices a replacement by the open file's link count
 *     dropping to 0, and calls the function given to
 *     table_lmdb_on_replaced() with the source's name, once per table:
 *     it is for the process to start over and open the new file.
 * RULES
 *     The caller owns the table; table_lmdb_free() returns NULL. A
 *     table is used by one thread at a time.
 * DIAGNOSTICS
 *     table_lmdb_build() appends "FILE:LINE: message\n" for bad lines
 *     and "FILE: message\n" for system errors to *errors and returns
 *     -1; duplicate keys are log_warn()ed. table_lmdb_open() appends
 *     the reason and returns NULL. A failed read is log_error()ed and
 *     returned as TABLE_ERROR; a failed reopen keeps the old database
 *     and logs the reason.
 * SEE ALSO
 *     tables/table.h, lmdb(3), Postfix postmap(1), lmdb_table(5)
 */
#ifndef DOPPEL_TABLES_TABLE_LMDB_H
#define DOPPEL_TABLES_TABLE_LMDB_H

#include <stddef.h>

#include "util/dstr.h"
#include "tables/table.h"

#define TABLE_LMDB_SUFFIX ".lmdb"
#define TABLE_LMDB_RECHECK_MS 1000      /* how often lookups stat the file */
#define TABLE_LMDB_MAP_MAX (1LL << 36)  /* largest database built: 64 GiB */
#define TABLE_LMDB_KEY_MAX 511          /* longest key: LMDB's default limit */

struct table_lmdb;

int     table_lmdb_build(const char *source, size_t *count,
                         struct dstr *errors);
struct table_lmdb *table_lmdb_open(const char *source, struct dstr *errors);
void    table_lmdb_on_replaced(void (*fn) (const char *source));
enum table_status table_lmdb_lookup(struct table_lmdb *t, const char *key,
                                    struct dstr *value);
void    table_lmdb_set_recheck(struct table_lmdb *t, long long ms);
struct table_lmdb *table_lmdb_free(struct table_lmdb *t);

extern const struct table_type table_lmdb_type;

#endif
