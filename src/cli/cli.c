/* cli - configuration directory and loading shared by the subcommands. */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "conf/conf.h"
#include "cli/cli.h"

static const char *cli_dir;

/* cli_options - "-c DIR" and "-h", then the first operand */
int
cli_options(int argc, char **argv, cli_usage_fn *usage)
{
    int     ch;

    while ((ch = getopt(argc, argv, "+c:h")) != -1) {
        switch (ch) {
        case 'c':
            cli_set_config_dir(optarg);
            break;
        case 'h':
            return usage(stdout, CLI_EXIT_OK);
        default:
            return usage(stderr, CLI_EXIT_USAGE);
        }
    }
    return CLI_CONTINUE;
}

/* cli_set_config_dir - -c DIR */
void
cli_set_config_dir(const char *dir)
{
    cli_dir = dir;
}

/* cli_config_dir - -c, else $DOPPEL_CONFIG_DIR, else the default */
const char *
cli_config_dir(void)
{
    const char *env;

    if (cli_dir != NULL)
        return cli_dir;
    if ((env = getenv("DOPPEL_CONFIG_DIR")) != NULL && *env != '\0')
        return env;
    return CONF_DEFAULT_DIR;
}

/* cli_load_conf - load, or print the errors and return NULL */
struct conf *
cli_load_conf(void)
{
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct conf *c = NULL;

    if (conf_load(cli_config_dir(), &c, errors) < 0) {
        fputs(errors->data, stderr);
        fprintf(stderr, "%s: configuration in %s refused\n", log_progname(),
                cli_config_dir());
    }
    dstr_free(errors);
    return c;
}
