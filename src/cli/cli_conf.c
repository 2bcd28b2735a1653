/* cli_conf - "doppel conf": print personalities, defaults, differences; check. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "cli/cli.h"
#include "cli/cli_conf.h"

#define CLI_CONF_CELL_MAX 40            /* --diff cuts longer values */

enum cli_conf_mode {
    CLI_CONF_ALL,                      /* every parameter */
    CLI_CONF_SET,                      /* -n */
    CLI_CONF_DEFAULTS,                 /* -d */
    CLI_CONF_DIFF,                     /* --diff */
};

struct cli_conf_opts {
    enum cli_conf_mode mode;
    int     expand;                    /* -x */
    int     stress;                    /* -p stress */
    const char *class_name;            /* -C */
    const char *service;               /* -S */
};

/* a name as the user wrote it, mapped to a personality and a parameter */
struct cli_conf_name {
    const struct param_def *def;
    const char *class_name;
    int     stress;
};

/* cli_conf_usage - the synopsis */
static int
cli_conf_usage(FILE *fp, int status)
{
    fputs("usage: doppel conf [-c DIR] [-n | -d] [-x] [-p normal|stress]"
          " [-C CLASS] [-S SERVICE] [NAME...]\n"
          "       doppel conf --diff [-c DIR] [-S SERVICE] [NAME...]\n"
          "       doppel conf check [-c DIR]\n"
          "  -n  only parameters set in doppel.cf    -d  built-in defaults\n"
          "  -x  expand $name references            -p  personality\n"
          "  -C  client class                       -S  service (LISTEN as in"
          " services.cf)\n"
          "  --diff  personalities side by side, rows that differ\n", fp);
    return status;
}

/*
 * cli_conf_map_name - X, stress_X, CLASS_X or CLASS_stress_X; 0 if known
 */
static int
cli_conf_map_name(const struct conf *c, const char *name,
                  struct cli_conf_name *out)
{
    const char *rest = name;
    size_t  i, len;

    out->class_name = PERSONALITY_DEFAULT_CLASS;
    out->stress = 0;
    if ((out->def = param_find(name)) != NULL)
        return 0;
    for (i = 0; i < c->nclasses; i++) {
        len = strlen(c->classes[i]);
        if (strncmp(name, c->classes[i], len) == 0 && name[len] == '_') {
            out->class_name = c->classes[i];
            rest = name + len + 1;
            break;
        }
    }
    if (strncmp(rest, "stress_", 7) == 0) {
        out->stress = 1;
        rest += 7;
    }
    out->def = param_find(rest);
    if (out->def == NULL || (rest != name && !(out->def->flags & PARAM_F_SESSION)))
        return -1;
    return 0;
}

/* cli_conf_index - the table index of def */
static size_t
cli_conf_index(const struct param_def *def)
{
    return (size_t) (def - param_table);
}

/* cli_conf_print - "name = value" for one parameter of one personality */
static void
cli_conf_print(const char *label, const struct personality *p,
               const struct param_def *def, int expand)
{
    size_t  i = cli_conf_index(def);
    const char *value = expand ? p->values[i] : p->raw[i];

    printf("%s =%s%s\n", label, *value ? " " : "", value);
}

/* cli_conf_set_names - -n: what doppel.cf sets, in file order */
static int
cli_conf_set_names(const struct conf *c, size_t svc,
                   const struct cli_conf_opts *o)
{
    const struct cf_entry *e;
    struct cli_conf_name n;
    size_t  i;

    for (i = 0; i < c->main->count; i++) {
        e = &c->main->entries[i];
        if (o->expand && cli_conf_map_name(c, e->name, &n) == 0)
            cli_conf_print(e->name, conf_personality(c, svc, n.class_name,
                                                     n.stress), n.def, 1);
        else
            printf("%s =%s%s\n", e->name, *e->value ? " " : "", e->value);
    }
    return CLI_EXIT_OK;
}

/* cli_conf_defaults - -d: the built-in table */
static int
cli_conf_defaults(char **names, int nnames, const struct cli_conf_opts *o)
{
    const struct param_def *d;
    const char *v;
    int     i, status = CLI_EXIT_OK;

    for (d = param_table; d->name != NULL; d++) {
        if (nnames > 0) {
            for (i = 0; i < nnames && strcmp(names[i], d->name) != 0; i++)
                 /* void */ ;
            if (i == nnames)
                continue;
        }
        v = o->stress && d->stress_dflt != NULL ? d->stress_dflt : d->dflt;
        printf("%s =%s%s\n", d->name, *v ? " " : "", v);
    }
    for (i = 0; i < nnames; i++)
        if (param_find(names[i]) == NULL) {
            log_warn("unknown parameter %s", names[i]);
            status = CLI_EXIT_FAIL;
        }
    return status;
}

/* cli_conf_class_named - does the configuration name this class */
static int
cli_conf_class_named(const struct conf *c, const char *cls)
{
    size_t  i, k, len = strlen(cls);

    for (i = 0; i < c->main->count; i++)
        if (strncmp(c->main->entries[i].name, cls, len) == 0
            && c->main->entries[i].name[len] == '_')
            return 1;
    for (k = 0; k < c->services->count; k++) {
        const struct cf_table *t = c->services->items[k].overrides;

        for (i = 0; i < t->count; i++)
            if (strncmp(t->entries[i].name, cls, len) == 0
                && t->entries[i].name[len] == '_')
                return 1;
    }
    return 0;
}

/* cli_conf_cell - a value cut to the column limit */
static void
cli_conf_cell(struct dstr *out, const char *value, int width)
{
    if (strlen(value) > CLI_CONF_CELL_MAX)
        (void) dstr_appendf(out, "%-*.*s...", width - 3,
                            CLI_CONF_CELL_MAX - 3, value);
    else
        (void) dstr_appendf(out, "%-*s", width, *value ? value : "(empty)");
}

/* cli_conf_print_line - a table line without trailing blanks */
static void
cli_conf_print_line(struct dstr *line)
{
    while (line->len > 0 && line->data[line->len - 1] == ' ')
        dstr_truncate(line, line->len - 1);
    printf("%s\n", line->data);
}

/* cli_conf_diff - personalities side by side, rows that differ */
static int
cli_conf_diff(const struct conf *c, size_t svc, char **names, int nnames)
{
    const struct personality *cols[2 + 2 * 64];
    const char *heads[2 + 2 * 64];
    char   *owned[2 * 64];
    int     widths[2 + 2 * 64];
    int     ncols = 0, nowned = 0, name_width = 9, rows = 0, i, k;
    int    *show;
    size_t  ci, pi, n = param_count();
    struct dstr *line = dstr_new(256, DSTR_UNLIMITED);
    struct cli_conf_name nm;

    cols[ncols] = conf_personality(c, svc, NULL, 0);
    heads[ncols++] = "normal";
    cols[ncols] = conf_personality(c, svc, NULL, 1);
    heads[ncols++] = "stress";
    for (ci = 0; ci < c->nclasses && ci < 64; ci++) {
        if (!cli_conf_class_named(c, c->classes[ci]))
            continue;
        for (k = 0; k < 2; k++) {
            struct dstr *h = dstr_new(32, 256);

            (void) dstr_appendf(h, "%s%s", c->classes[ci], k ? "/stress" : "");
            owned[nowned] = dstr_steal(h);
            heads[ncols] = owned[nowned++];
            cols[ncols++] = conf_personality(c, svc, c->classes[ci], k);
        }
    }
    for (i = 0; i < nnames; i++)
        if (cli_conf_map_name(c, names[i], &nm) < 0)
            log_warn("unknown parameter %s", names[i]);
    /* first pass: which rows differ, and how wide each column gets */
    show = xcalloc(n, sizeof(int));
    for (i = 0; i < ncols; i++)
        widths[i] = (int) strlen(heads[i]);
    for (pi = 0; pi < n; pi++) {
        if (nnames > 0) {
            for (i = 0; i < nnames; i++)
                if (cli_conf_map_name(c, names[i], &nm) == 0
                    && nm.def == &param_table[pi])
                    break;
            if (i == nnames)
                continue;
        }
        for (i = 1; i < ncols; i++)
            if (strcmp(cols[i]->values[pi], cols[0]->values[pi]) != 0)
                show[pi] = 1;
        if (!show[pi])
            continue;
        if ((int) strlen(param_table[pi].name) > name_width)
            name_width = (int) strlen(param_table[pi].name);
        for (i = 0; i < ncols; i++) {
            int     w = (int) strlen(cols[i]->values[pi]);

            w = w > CLI_CONF_CELL_MAX ? CLI_CONF_CELL_MAX : w < 7 ? 7 : w;
            if (w > widths[i])
                widths[i] = w;
        }
    }
    /* second pass: print them */
    for (pi = 0; pi < n; pi++) {
        if (!show[pi])
            continue;
        if (rows++ == 0) {
            dstr_reset(line);
            (void) dstr_appendf(line, "%-*s", name_width, "parameter");
            for (i = 0; i < ncols; i++)
                (void) dstr_appendf(line, "  %-*s", widths[i], heads[i]);
            cli_conf_print_line(line);
        }
        dstr_reset(line);
        (void) dstr_appendf(line, "%-*s", name_width, param_table[pi].name);
        for (i = 0; i < ncols; i++) {
            (void) dstr_append_str(line, "  ");
            cli_conf_cell(line, cols[i]->values[pi], widths[i]);
        }
        cli_conf_print_line(line);
    }
    free(show);
    if (rows == 0)
        printf("no parameter differs between the personalities\n");
    for (i = 0; i < nowned; i++)
        free(owned[i]);
    dstr_free(line);
    return CLI_EXIT_OK;
}

/* cli_conf_find_service - -S LISTEN, as written in services.cf */
static int
cli_conf_find_service(const struct conf *c, const char *listen, size_t *svc)
{
    size_t  i;

    *svc = CONF_NO_SERVICE;
    if (listen == NULL)
        return 0;
    for (i = 0; i < c->services->count; i++)
        if (strcmp(c->services->items[i].listen, listen) == 0) {
            *svc = i;
            return 0;
        }
    log_warn("no service \"%s\" in %s", listen, c->services->file);
    return -1;
}

/* cli_conf_check - "doppel conf check" */
static int
cli_conf_check(void)
{
    struct conf *c = cli_load_conf();

    if (c == NULL)
        return CLI_EXIT_FAIL;
    printf("%s: OK: %zu service(s), %zu client class(es), %zu parameters\n",
           cli_config_dir(), c->services->count, c->nclasses, param_count());
    conf_free(c);
    return CLI_EXIT_OK;
}

/* cli_conf_main - see cli_conf.h */
int
cli_conf_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"diff", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_conf_opts o;
    struct cli_conf_name nm;
    struct conf *c;
    size_t  svc, i;
    int     ch, status = CLI_EXIT_OK;

    memset(&o, 0, sizeof(o));
    o.class_name = PERSONALITY_DEFAULT_CLASS;
    while ((ch = getopt_long(argc, argv, "c:ndxp:C:S:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cli_set_config_dir(optarg);
            break;
        case 'n':
            o.mode = CLI_CONF_SET;
            break;
        case 'd':
            o.mode = CLI_CONF_DEFAULTS;
            break;
        case 'D':
            o.mode = CLI_CONF_DIFF;
            break;
        case 'x':
            o.expand = 1;
            break;
        case 'p':
            if (strcmp(optarg, "stress") == 0) {
                o.stress = 1;
            } else if (strcmp(optarg, "normal") != 0) {
                log_warn("-p %s: use normal or stress", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'C':
            o.class_name = optarg;
            break;
        case 'S':
            o.service = optarg;
            break;
        case 'h':
            return cli_conf_usage(stdout, CLI_EXIT_OK);
        default:
            return cli_conf_usage(stderr, CLI_EXIT_USAGE);
        }
    }
    argv += optind;
    argc -= optind;
    if (argc > 0 && strcmp(argv[0], "check") == 0) {
        if (argc > 1)
            return cli_conf_usage(stderr, CLI_EXIT_USAGE);
        return cli_conf_check();
    }
    if (o.mode == CLI_CONF_DEFAULTS)
        return cli_conf_defaults(argv, argc, &o);
    if ((c = cli_load_conf()) == NULL)
        return CLI_EXIT_FAIL;
    if (cli_conf_find_service(c, o.service, &svc) < 0) {
        conf_free(c);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(o.class_name, PERSONALITY_DEFAULT_CLASS) != 0
        && strcmp(personality_get(c->base, o.class_name, 0)->class_name,
                  o.class_name) != 0)
        log_warn("class \"%s\" is not named in the configuration; showing"
                 " the default class", o.class_name);
    if (o.mode == CLI_CONF_SET) {
        status = cli_conf_set_names(c, svc, &o);
    } else if (o.mode == CLI_CONF_DIFF) {
        status = cli_conf_diff(c, svc, argv, argc);
    } else if (argc == 0) {
        const struct personality *p = conf_personality(c, svc, o.class_name,
                                                       o.stress);

        for (i = 0; i < param_count(); i++)
            cli_conf_print(param_table[i].name, p, &param_table[i], o.expand);
    } else {
        for (i = 0; i < (size_t) argc; i++) {
            if (cli_conf_map_name(c, argv[i], &nm) < 0) {
                const struct param_def *near = param_nearest(argv[i]);

                if (near != NULL)
                    log_warn("unknown parameter %s (did you mean %s?)",
                             argv[i], near->name);
                else
                    log_warn("unknown parameter %s", argv[i]);
                status = CLI_EXIT_FAIL;
                continue;
            }
            /* a doppelganger name selects its personality; else -p/-C */
            if (nm.def == param_find(argv[i]))
                cli_conf_print(argv[i], conf_personality(c, svc, o.class_name,
                                                         o.stress),
                               nm.def, o.expand);
            else
                cli_conf_print(argv[i], conf_personality(c, svc, nm.class_name,
                                                         nm.stress),
                               nm.def, o.expand);
        }
    }
    conf_free(c);
    return status;
}
