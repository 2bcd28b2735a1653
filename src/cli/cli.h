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
 *     and returns NULL. cli_options() reads the options every command
 *     takes, "-c DIR" and "-h", stopping at the first operand; it returns
 *     CLI_CONTINUE, or the exit status of the usage message it printed.
 * RULES
 *     Exit status: 0 success, 1 failure that the output explains,
 *     2 usage error.
 */
#ifndef DOPPEL_CLI_CLI_H
#define DOPPEL_CLI_CLI_H

#include <stdio.h>

#include "conf/conf.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_CONTINUE (-1)               /* cli_options(): go on */

typedef int cli_usage_fn(FILE *fp, int status);

int     cli_options(int argc, char **argv, cli_usage_fn *usage);
void    cli_set_config_dir(const char *dir);
const char *cli_config_dir(void);
struct conf *cli_load_conf(void);

#endif
