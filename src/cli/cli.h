/*
 * NAME
 *     cli - what the subcommands of the doppel command share
 * SYNOPSIS
 *     #include "cli/cli.h"
 * DESCRIPTION
 *     Each subcommand is a function cli_X_main(argc, argv) with argv[0]
 *     the subcommand's name; it returns the process exit status.
 *     cli_config_dir() is the configuration directory: -c DIR given to
 *     doppel or the subcommand, else $DOPPEL_CONFIG_DIR, else
 *     /etc/doppel. cli_load_conf() loads it or prints every error
 *     and returns NULL.
 * RULES
 *     Exit status: 0 success, 1 failure that the output explains,
 *     2 usage error.
 */
#ifndef DOPPEL_CLI_CLI_H
#define DOPPEL_CLI_CLI_H

#include "conf/conf.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

void    cli_set_config_dir(const char *dir);
const char *cli_config_dir(void);
struct conf *cli_load_conf(void);

#endif
