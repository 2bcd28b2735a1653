/* cli_map - "doppel map": build lmdb tables, query and check any table. */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "tables/table.h"
#include "tables/table_lmdb.h"
#include "cli/cli.h"
#include "cli/cli_map.h"

#define CLI_MAP_VALUE_MAX (1024 * 1024) /* longest value query prints */

/* cli_map_usage - the synopsis */
static int
cli_map_usage(FILE *fp, int status)
{
    fputs("usage: doppel map build FILE...\n"
          "       doppel map query TABLE KEY\n"
          "       doppel map check TABLE...\n"
          "  build  FILE (\"key value\" lines) to FILE.lmdb, atomically\n"
          "  query  print the value of KEY; TABLE is type:name or FILE"
          " (lmdb:FILE)\n"
          "  check  open each table and report every error\n", fp);
    return status;
}

/* cli_map_build - every FILE; stop at none, report each */
static int
cli_map_build(int argc, char **argv)
{
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    size_t  count;
    int     i, status = CLI_EXIT_OK;

    for (i = 0; i < argc; i++) {
        dstr_reset(errors);
        if (strchr(argv[i], ':') != NULL && strncmp(argv[i], "lmdb:", 5) == 0)
            argv[i] += 5;
        if (table_lmdb_build(argv[i], &count, errors) < 0) {
            fputs(errors->data, stderr);
            fprintf(stderr, "doppel: %s: not built; the old %s%s is unchanged\n",
                    argv[i], argv[i], TABLE_LMDB_SUFFIX);
            status = CLI_EXIT_FAIL;
            continue;
        }
        printf("%s%s: %zu key%s\n", argv[i], TABLE_LMDB_SUFFIX, count,
               count == 1 ? "" : "s");
    }
    dstr_free(errors);
    return status;
}

/* cli_map_open - TABLE as type:name, or a bare file as lmdb:FILE */
static struct table *
cli_map_open(const char *name, struct dstr *errors)
{
    struct dstr *spec;
    struct table *t;

    if (strchr(name, ':') != NULL)
        return table_open(name, errors);
    spec = dstr_new(64, TABLE_SPEC_MAX);
    if (dstr_appendf(spec, "lmdb:%s", name) < 0) {
        (void) dstr_appendf(errors, "%.60s...: name too long\n", name);
        dstr_free(spec);
        return NULL;
    }
    t = table_open(spec->data, errors);
    dstr_free(spec);
    return t;
}

/* cli_map_query - print one value */
static int
cli_map_query(int argc, char **argv)
{
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct dstr *value;
    struct table *t;
    int     status;

    if (argc != 2) {
        dstr_free(errors);
        return cli_map_usage(stderr, CLI_EXIT_USAGE);
    }
    if ((t = cli_map_open(argv[0], errors)) == NULL) {
        fputs(errors->data, stderr);
        dstr_free(errors);
        return CLI_EXIT_FAIL;
    }
    value = dstr_new(256, CLI_MAP_VALUE_MAX);
    switch (table_lookup(t, argv[1], value)) {
    case TABLE_FOUND:
        printf("%s\n", value->data);
        status = CLI_EXIT_OK;
        break;
    case TABLE_NOTFOUND:
        status = CLI_EXIT_FAIL;
        break;
    case TABLE_ERROR:
    default:
        fprintf(stderr, "doppel: %s: lookup of \"%s\" failed\n",
                table_spec(t), argv[1]);
        status = CLI_EXIT_FAIL;
        break;
    }
    table_free(t);
    dstr_free(value);
    dstr_free(errors);
    return status;
}

/* cli_map_check - open each table, print every problem */
static int
cli_map_check(int argc, char **argv)
{
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct table *t;
    int     i, status = CLI_EXIT_OK;

    for (i = 0; i < argc; i++) {
        dstr_reset(errors);
        if ((t = cli_map_open(argv[i], errors)) == NULL) {
            fputs(errors->data, stderr);
            status = CLI_EXIT_FAIL;
            continue;
        }
        printf("%s: OK\n", table_spec(t));
        table_free(t);
    }
    dstr_free(errors);
    return status;
}

/* cli_map_main - doppel map SUBCOMMAND ARGS */
int
cli_map_main(int argc, char **argv)
{
    int     ch;

    if ((ch = cli_options(argc, argv, cli_map_usage)) != CLI_CONTINUE)
        return ch;
    argc -= optind;
    argv += optind;
    if (argc < 2)
        return cli_map_usage(stderr, CLI_EXIT_USAGE);
    if (strcmp(argv[0], "build") == 0)
        return cli_map_build(argc - 1, argv + 1);
    if (strcmp(argv[0], "query") == 0)
        return cli_map_query(argc - 1, argv + 1);
    if (strcmp(argv[0], "check") == 0)
        return cli_map_check(argc - 1, argv + 1);
    fprintf(stderr, "doppel map: unknown subcommand \"%s\"\n", argv[0]);
    return cli_map_usage(stderr, CLI_EXIT_USAGE);
}
