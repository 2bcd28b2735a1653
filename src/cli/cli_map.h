/*
 * NAME
 *     cli_map - "doppel map": build, query and check lookup tables
 * SYNOPSIS
 *     #include "cli/cli_map.h"
 *
 *     doppel map build FILE...
 *     doppel map query TABLE KEY
 *     doppel map check TABLE...
 * DESCRIPTION
 *     "build" turns each text FILE of "key value" lines into
 *     FILE.lmdb, atomically, like postmap(1). "query" prints the value
 *     TABLE has for KEY, like postmap -q; TABLE is "type:name" or a
 *     bare FILE, which means lmdb:FILE. "check" opens each table and
 *     reports every problem with its FILE:LINE. See doppel-map(1).
 * DIAGNOSTICS
 *     Exit 0 on success; 1 if a table is bad or a key is not found
 *     (query prints nothing then); 2 on a usage error.
 */
#ifndef DOPPEL_CLI_CLI_MAP_H
#define DOPPEL_CLI_CLI_MAP_H

int     cli_map_main(int argc, char **argv);

#endif
