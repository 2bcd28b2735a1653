/*
 * NAME
 *     cli_client - "doppel client": look at and edit the client history
 * SYNOPSIS
 *     #include "cli/cli_client.h"
 *
 *     doppel client [-c DIR] show ADDR...
 *     doppel client [-c DIR] list
 *     doppel client [-c DIR] forget ADDR...
 *     doppel client [-c DIR] record ADDR EVENT...
 * DESCRIPTION
 *     Reads the store that client_history_backend names (LMDB under
 *     data_directory, or Redis with the local fallback), as the
 *     workers do. show and list print one line per client: its key,
 *     class (known, suspect or "-"), first and last seen (UTC, ISO
 *     8601), and its counters. forget deletes a client's history;
 *     record adds events (connect, message, reject, error, timeout,
 *     early_talk) with the current time, to seed or mark a client by
 *     hand. ADDR is an address, or an IPv6 key as list prints it.
 *     See doppel-client(1).
 * RULES
 *     show and list never create the LMDB file. Run forget and record
 *     as the mail owner: a store created by root is not writable by
 *     the workers.
 * DIAGNOSTICS
 *     Exit 0 when everything asked was done; 1 when a client has no
 *     history or the store failed (with a line on standard error);
 *     2 for bad usage, an unknown event or a bad address.
 */
#ifndef DOPPEL_CLI_CLI_CLIENT_H
#define DOPPEL_CLI_CLI_CLIENT_H

int     cli_client_main(int argc, char **argv);

#endif
