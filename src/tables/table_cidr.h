/*
 * NAME
 *     table_cidr - cidr: tables, networks to values (Postfix cidr_table(5))
 * SYNOPSIS
 *     #include "tables/table_cidr.h"
 * DESCRIPTION
 *     A cidr table is a text file of rules, applied in order to an IP
 *     address; the first that matches gives the value:
 *
 *         network/prefix   value      the address lies in the network
 *         address          value      the address is this one host
 *         !network/prefix  value      the address is outside it
 *         if network/prefix           the rules up to the matching
 *         if !network/prefix          "endif" apply only if the address
 *         endif                       is (is not) inside; they nest
 *
 *     Networks are written as util/cidr.h reads them, IPv4 or IPv6,
 *     address in brackets or not; host bits set are an error. '#'
 *     starts a comment line, a line that starts with white space
 *     continues the previous one, and the value is the rest of the
 *     line with outer white space removed.
 *
 *     table_cidr_parse() reads a table from memory (file names the
 *     errors), table_cidr_open() from a file. table_cidr_lookup()
 *     takes a key in any form util/netaddr.h reads ("192.0.2.1",
 *     "[2001:db8::1]", "IPv6:2001:db8::1"); a key that is not an
 *     address matches no rule. table_cidr_type is the registry row.
 * RULES
 *     The caller owns the table; table_cidr_free() returns NULL.
 * DIAGNOSTICS
 *     Every bad line is reported as "FILE:LINE: message\n" in *errors
 *     (parsing goes on, so one run shows every problem) and the table
 *     is refused: NULL. Lookups cannot fail, except for a value longer
 *     than value->limit (TABLE_ERROR).
 * SEE ALSO
 *     tables/table.h, util/cidr.h, Postfix cidr_table(5)
 */
#ifndef DOPPEL_TABLES_TABLE_CIDR_H
#define DOPPEL_TABLES_TABLE_CIDR_H

#include <stddef.h>

#include "util/dstr.h"
#include "tables/table.h"

#define TABLE_CIDR_RULES_MAX 1000000    /* rules in one file */
#define TABLE_CIDR_DEPTH_MAX 100        /* nested if..endif */

struct table_cidr;

struct table_cidr *table_cidr_open(const char *path, struct dstr *errors);
struct table_cidr *table_cidr_parse(const char *file, const char *buf,
                                    size_t len, struct dstr *errors);
enum table_status table_cidr_lookup(const struct table_cidr *t,
                                    const char *key, struct dstr *value);
size_t  table_cidr_count(const struct table_cidr *t);
struct table_cidr *table_cidr_free(struct table_cidr *t);

extern const struct table_type table_cidr_type;

#endif
