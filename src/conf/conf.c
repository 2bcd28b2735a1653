/*
 * conf - load a configuration directory; see conf.h.
 *
 * Loading is all-or-nothing: files are parsed, classes found, every
 * personality of every service compiled and checked, and only then is
 * a struct conf returned. Callers that reload keep their old struct
 * until a new one loads cleanly.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "conf/services.h"

#define CONF_CLASSES_MAX 64

/* classes the classifier may assign even if no parameter names them */
static const char *const conf_builtin_classes[] = {
    "preferred", "known", "suspect", NULL,
};

/* conf_add_class - add a class name once */
static void
conf_add_class(struct conf *c, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < c->nclasses; i++)
        if (strlen(c->classes[i]) == len && strncmp(c->classes[i], name, len) == 0)
            return;
    if (c->nclasses >= CONF_CLASSES_MAX)
        return;
    c->classes = xrealloc_array(c->classes, c->nclasses + 1, sizeof(char *));
    c->classes[c->nclasses++] = xstrndup(name, len);
}

/*
 * conf_class_of - if name is CLASS_X or CLASS_stress_X for a per-session
 * X and a valid class word, the length of CLASS; else 0.
 */
static size_t
conf_class_of(const char *name)
{
    const char *us = strchr(name, '_');
    const char *rest;
    const struct param_def *def;
    size_t  len;

    if (us == NULL)
        return 0;
    len = (size_t) (us - name);
    if (!personality_class_valid(name, len))
        return 0;
    rest = us + 1;
    if (strncmp(rest, "stress_", 7) == 0 && param_find(rest + 7) != NULL)
        rest += 7;
    def = param_find(rest);
    return def != NULL && (def->flags & PARAM_F_SESSION) ? len : 0;
}

/* conf_find_classes - classes from parameter names and built-ins */
static void
conf_find_classes(struct conf *c, const struct cf_table *t)
{
    size_t  i, len;

    for (i = 0; t != NULL && i < t->count; i++)
        if ((len = conf_class_of(t->entries[i].name)) > 0)
            conf_add_class(c, t->entries[i].name, len);
}

/* conf_check_names - warn about names that mean nothing to doppel */
static void
conf_check_names(const struct cf_table *t)
{
    const struct cf_entry *e;
    const struct param_def *def, *near;
    const char *rest;
    size_t  i;

    for (i = 0; t != NULL && i < t->count; i++) {
        e = &t->entries[i];
        if (param_find(e->name) != NULL || conf_class_of(e->name) > 0)
            continue;
        if (strncmp(e->name, "stress_", 7) == 0
            && (def = param_find(e->name + 7)) != NULL) {
            if (!(def->flags & PARAM_F_SESSION))
                log_warn("%s:%d: %s: %s is not a per-session parameter, so it"
                         " has no stress variant; this line has no effect",
                         e->file, e->line, e->name, def->name);
            continue;
        }
        rest = strchr(e->name, '_');
        if (rest != NULL && personality_class_valid(e->name,
                                                    (size_t) (rest - e->name))
            && (def = param_find(rest + 1)) != NULL) {
            log_warn("%s:%d: %s: %s is not a per-session parameter, so it has"
                     " no class variant; this line has no effect", e->file,
                     e->line, e->name, def->name);
            continue;
        }
        if (e->used)
            continue;                   /* a user macro, used as $name */
        near = param_nearest(e->name);
        if (near != NULL)
            log_warn("%s:%d: unknown parameter %s (did you mean %s?)",
                     e->file, e->line, e->name, near->name);
        else
            log_warn("%s:%d: unknown parameter %s", e->file, e->line, e->name);
    }
}

/* conf_free - release everything; returns NULL */
struct conf *
conf_free(struct conf *c)
{
    size_t  i;

    if (c == NULL)
        return NULL;
    if (c->service_sets != NULL && c->services != NULL)
        for (i = 0; i < c->services->count; i++)
            personality_free(c->service_sets[i]);
    free(c->service_sets);
    personality_free(c->base);
    services_free(c->services);
    cfparse_free(c->main);
    for (i = 0; i < c->nclasses; i++)
        free(c->classes[i]);
    free(c->classes);
    free(c->dir);
    free(c->main_path);
    free(c->services_path);
    free(c);
    return NULL;
}

/* conf_load_files - load explicit file paths; see conf.h */
int
conf_load_files(const char *main_path, const char *services_path,
                struct conf **out, struct dstr *errors)
{
    struct conf *c = xcalloc(1, sizeof(*c));
    size_t  i;
    int     bad = 0;

    *out = NULL;
    c->main_path = xstrdup(main_path);
    c->services_path = services_path ? xstrdup(services_path) : NULL;
    c->main = cfparse_new();
    if (cfparse_file(c->main, main_path, errors) < 0)
        goto fail;
    if (services_path != NULL && access(services_path, F_OK) == 0) {
        c->services = services_parse_file(services_path, errors);
        if (c->services == NULL)
            goto fail;
    } else {
        c->services = services_parse_buffer(services_path ? services_path
                                            : CONF_SERVICES_FILE, "", 0,
                                            errors);
    }

    for (i = 0; conf_builtin_classes[i] != NULL; i++)
        conf_add_class(c, conf_builtin_classes[i],
                       strlen(conf_builtin_classes[i]));
    conf_find_classes(c, c->main);
    for (i = 0; i < c->services->count; i++)
        conf_find_classes(c, c->services->items[i].overrides);

    if (personality_compile(c->main, NULL, c->classes, c->nclasses, NULL,
                            &c->base, errors) < 0)
        bad = 1;
    c->service_sets = xcalloc(c->services->count + 1,
                              sizeof(struct personality_set *));
    for (i = 0; i < c->services->count; i++)
        if (personality_compile(c->main, c->services->items[i].overrides,
                                c->classes, c->nclasses,
                                c->services->items[i].listen,
                                &c->service_sets[i], errors) < 0)
            bad = 1;
    if (bad)
        goto fail;
    conf_check_names(c->main);
    for (i = 0; i < c->services->count; i++)
        conf_check_names(c->services->items[i].overrides);
    *out = c;
    return 0;

fail:
    conf_free(c);
    return -1;
}

/* conf_load - DIR/doppel.cf and DIR/services.cf */
int
conf_load(const char *dir, struct conf **out, struct dstr *errors)
{
    struct dstr *main_path = dstr_new(64, 4096);
    struct dstr *svc_path = dstr_new(64, 4096);
    char   *absolute = realpath(dir, NULL);
    int     ret;

    /* config_directory, and paths built from it, are absolute */
    if (absolute != NULL)
        dir = absolute;
    if (dstr_appendf(main_path, "%s/%s", dir, CONF_MAIN_FILE) < 0
        || dstr_appendf(svc_path, "%s/%s", dir, CONF_SERVICES_FILE) < 0) {
        (void) dstr_appendf(errors, "%s: directory name too long\n", dir);
        ret = -1;
    } else {
        ret = conf_load_files(main_path->data, svc_path->data, out, errors);
        if (ret == 0)
            (*out)->dir = xstrdup(dir);
    }
    dstr_free(main_path);
    dstr_free(svc_path);
    free(absolute);
    return ret;
}

/* conf_personality - the personality a session of this service gets */
const struct personality *
conf_personality(const struct conf *c, size_t service, const char *class_name,
                 int stress)
{
    const struct personality_set *set = c->base;

    if (service != CONF_NO_SERVICE && c->services != NULL
        && service < c->services->count)
        set = c->service_sets[service];
    return personality_get(set, class_name, stress);
}

/* conf_params - the typed parameters of that personality */
const struct params *
conf_params(const struct conf *c, size_t service, const char *class_name,
            int stress)
{
    return &conf_personality(c, service, class_name, stress)->params;
}
