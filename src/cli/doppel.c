/*
 * doppel - the one command for people: start, stop, reload, status,
 * conf, queue, test.
 *
 * SECURITY
 *     doppel runs with the privileges of whoever calls it. It reads the
 *     configuration, talks to doppel-master over its control socket
 *     (mode 0600, so only the mail system's owner and root get in) and
 *     to SMTP servers named on its command line. It never runs a shell.
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "cli/cli.h"
#include "cli/cli_conf.h"
#include "cli/cli_ctl.h"
#include "cli/cli_test.h"
#include "cli/cli_map.h"
#include "cli/cli_queue.h"
#include "cli/cli_client.h"

struct doppel_command {
    const char *name;
    int     (*main) (int argc, char **argv);
    const char *summary;
};

static const struct doppel_command doppel_commands[] = {
    {"start", cli_ctl_start_main, "start doppel-master (-f: in the foreground)"},
    {"stop", cli_ctl_stop_main, "stop gracefully: open sessions may finish"},
    {"reload", cli_ctl_reload_main, "load the changed configuration, or say why not"},
    {"status", cli_ctl_status_main, "services, sessions, stress (--json for scripts)"},
    {"conf", cli_conf_main, "show or check the configuration (like postconf)"},
    {"map", cli_map_main, "build, query or check lookup tables (like postmap)"},
    {"queue", cli_queue_main, "list, show, delete, hold, release or flush queued mail"},
    {"client", cli_client_main, "show, list or forget the history of SMTP clients"},
    {"test", cli_test_main, "run SMTP test scripts as any client (XCLIENT)"},
    {NULL, NULL, NULL},
};

/* doppel_usage - the command list */
static int
doppel_usage(FILE *fp, int status)
{
    const struct doppel_command *c;

    fprintf(fp, "usage: doppel [-c DIR] COMMAND [ARGS]\n\ncommands:\n");
    for (c = doppel_commands; c->name != NULL; c++)
        fprintf(fp, "    %-10s %s\n", c->name, c->summary);
    fprintf(fp, "\n'doppel COMMAND -h' tells more; see also doppel(1).\n");
    return status;
}

int
main(int argc, char **argv)
{
    const struct doppel_command *c;
    int     ch;

    log_open("doppel", LOG_SINK_TERMINAL);
    if ((ch = cli_options(argc, argv, doppel_usage)) != CLI_CONTINUE)
        return ch;
    if (optind >= argc)
        return doppel_usage(stderr, CLI_EXIT_USAGE);
    for (c = doppel_commands; c->name != NULL; c++) {
        if (strcmp(c->name, argv[optind]) == 0) {
            argv += optind;
            argc -= optind;
            optind = 0;         /* glibc: rescan the new argv */
            return c->main(argc, argv);
        }
    }
    fprintf(stderr, "doppel: unknown command \"%s\"\n", argv[optind]);
    return doppel_usage(stderr, CLI_EXIT_USAGE);
}
