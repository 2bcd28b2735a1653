/*
 * NAME
 *     cli_conf - "doppel conf": show or check the configuration, like postconf
 * SYNOPSIS
 *     #include "cli/cli_conf.h"
 *
 *     doppel conf [-c DIR] [-n | -d] [-x] [-p normal|stress] [-C CLASS]
 *                 [-S SERVICE] [NAME...]
 *     doppel conf --diff [-c DIR] [-S SERVICE] [NAME...]
 *     doppel conf check [-c DIR]
 * DESCRIPTION
 *     Prints "name = value" for every parameter as one personality sees
 *     it (-p, -C; the normal default personality otherwise), raw or
 *     expanded (-x); -n only what doppel.cf sets, -d the built-in
 *     defaults. A NAME such as stress_smtpd_timeout or
 *     preferred_smtpd_timeout means smtpd_timeout in that personality.
 *     --diff shows the personalities side by side, only rows that
 *     differ. "check" validates both files. See doppel-conf(1).
 */
#ifndef DOPPEL_CLI_CLI_CONF_H
#define DOPPEL_CLI_CLI_CONF_H

int     cli_conf_main(int argc, char **argv);

#endif
