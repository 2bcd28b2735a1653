/*
 * personality - compile (class, stress) pairs into typed parameter sets;
 * see personality.h.
 *
 * Resolution of one name walks a list of candidates: for a per-session
 * parameter X under stress in class C they are C_stress_X, C_X,
 * stress_X, X (each looked up first in the service's -o overrides, then
 * in doppel.cf), then the built-in stress default.
 *
 * A value that refers to its own name directly ("stress_smtpd_X =
 * $smtpd_X", "C_smtpd_X = $smtpd_X, more") means the next candidate
 * down, the way a subclass calls its parent: that is what an
 * administrator writing it intends, and it is what makes Postfix's
 * "stress_X defaults to $X" anomaly impossible here. Any other name
 * met again while it is being expanded is a reference loop, reported
 * with the chain of names.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/expand.h"
#include "conf/params.h"
#include "conf/personality.h"

#define PERSONALITY_NAME_MAX 256
#define PERSONALITY_CANDIDATES_MAX 9    /* 4 names x 2 tables + built-in */
#define PERSONALITY_CLASS_MAX 32
#define PERSONALITY_RCLASSES_MAX 100    /* smtpd_restriction_classes names */

struct personality_frame {
    const char *name;
    int     level;                     /* candidate that supplied it */
};

struct personality_resolver {
    struct cf_table *main;
    struct cf_table *overrides;        /* may be NULL */
    struct personality *pers;
    struct personality_frame stack[EXPAND_DEPTH_MAX + 2];
    int     depth;
    const char *origin;                /* set by the outermost enter */
    const struct cf_entry *source;
    const char *raw;
    char    names[4][PERSONALITY_NAME_MAX];
};

/* personality_class_valid - a lowercase word that no parameter starts with */
int
personality_class_valid(const char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len > PERSONALITY_CLASS_MAX || !islower((unsigned char) name[0]))
        return 0;
    for (i = 0; i < len; i++)
        if (!islower((unsigned char) name[i]) && !isdigit((unsigned char) name[i]))
            return 0;
    if ((len == 6 && strncmp(name, "stress", 6) == 0)
        || (len == 7 && strncmp(name, PERSONALITY_DEFAULT_CLASS, 7) == 0))
        return 0;
    return !param_is_first_word(name, len);
}

/* personality_builtin - the built-in value of def in this personality */
static const char *
personality_builtin(const struct personality *p, const struct param_def *def)
{
    if (strcmp(def->name, "myhostname") == 0 && p->computed[0] != NULL)
        return p->computed[0];
    if (strcmp(def->name, "mydomain") == 0 && p->computed[1] != NULL)
        return p->computed[1];
    if (strcmp(def->name, "config_directory") == 0 && p->computed[2] != NULL)
        return p->computed[2];
    if (p->stress && def->stress_dflt != NULL)
        return def->stress_dflt;
    return def->dflt;
}

/*
 * personality_candidates - names to try for name, in order; returns
 * how many, and whether a built-in default follows them.
 */
static int
personality_candidates(struct personality_resolver *r, const char *name,
                       const char **names, const struct param_def **def)
{
    const struct personality *p = r->pers;
    int     n = 0, has_class;

    *def = param_find(name);
    if (*def == NULL || !((*def)->flags & PARAM_F_SESSION)) {
        names[n++] = name;
        return n;
    }
    has_class = strcmp(p->class_name, PERSONALITY_DEFAULT_CLASS) != 0;
    if (has_class && p->stress) {
        snprintf(r->names[0], PERSONALITY_NAME_MAX, "%s_stress_%s",
                 p->class_name, name);
        names[n++] = r->names[0];
    }
    if (has_class) {
        snprintf(r->names[1], PERSONALITY_NAME_MAX, "%s_%s", p->class_name,
                 name);
        names[n++] = r->names[1];
    }
    if (p->stress) {
        snprintf(r->names[2], PERSONALITY_NAME_MAX, "stress_%s", name);
        names[n++] = r->names[2];
    }
    names[n++] = name;
    return n;
}

/* personality_loop - describe the chain of names that loops back */
static void
personality_loop(struct personality_resolver *r, const char *name,
                 struct dstr *why)
{
    int     i;

    (void) dstr_appendf(why, "reference loop: ");
    for (i = 0; i < r->depth; i++)
        (void) dstr_appendf(why, "$%s -> ", r->stack[i].name);
    (void) dstr_appendf(why, "$%s", name);
}

/* personality_enter - expand_source.enter: raw value of name */
static int
personality_enter(void *context, const char *name, const char **raw,
                  struct dstr *why)
{
    struct personality_resolver *r = context;
    const char *names[4];
    const struct param_def *def;
    struct cf_table *tables[2] = {r->overrides, r->main};
    struct cf_entry *e;
    int     nnames, level = 0, cand, i;

    *raw = NULL;
    if (r->depth >= EXPAND_DEPTH_MAX) {
        (void) dstr_appendf(why, "references nested more than %d deep",
                            EXPAND_DEPTH_MAX);
        return -1;
    }
    if (strcmp(name, "stress") == 0) {
        *raw = r->pers->stress ? "yes" : "";
        r->stack[r->depth].name = name;
        r->stack[r->depth++].level = 0;
        return 0;
    }
    if (r->depth > 0 && strcmp(r->stack[r->depth - 1].name, name) == 0) {
        level = r->stack[r->depth - 1].level + 1;
    } else {
        for (i = 0; i < r->depth; i++)
            if (strcmp(r->stack[i].name, name) == 0) {
                personality_loop(r, name, why);
                return -1;
            }
    }
    nnames = personality_candidates(r, name, names, &def);
    /* candidates: (name, table) pairs, then the built-in default */
    for (cand = level; cand < nnames * 2; cand++) {
        if (tables[cand % 2] == NULL)
            continue;
        e = cfparse_get(tables[cand % 2], names[cand / 2]);
        if (e != NULL) {
            e->used = 1;
            *raw = e->value;
            break;
        }
    }
    if (*raw == NULL && cand == nnames * 2 && def != NULL)
        *raw = personality_builtin(r->pers, def);
    if (r->depth == 0) {
        r->raw = *raw;
        r->origin = cand < nnames * 2 ? names[cand / 2] : NULL;
        r->source = cand < nnames * 2 ? cfparse_get(tables[cand % 2],
                                                    names[cand / 2]) : NULL;
        if (r->origin != NULL)
            r->origin = r->source->name;
    }
    r->stack[r->depth].name = name;
    r->stack[r->depth++].level = cand;
    return 0;
}

/* personality_leave - expand_source.leave */
static void
personality_leave(void *context, const char *name)
{
    struct personality_resolver *r = context;

    (void) name;
    if (r->depth > 0)
        r->depth--;
}

/* personality_resolve - expanded value of name in this personality */
static int
personality_resolve(struct personality_resolver *r, const char *name,
                    struct dstr *value, struct dstr *why)
{
    struct expand_source src = {personality_enter, personality_leave, r};
    const char *raw;
    int     ret;

    r->depth = 0;
    if (personality_enter(r, name, &raw, why) < 0)
        return -1;
    ret = raw != NULL ? expand_value(raw, &src, value, why) : 0;
    personality_leave(r, name);
    return ret;
}

/* personality_computed - defaults that come from the system */
static void
personality_computed(struct personality_resolver *r, const char *main_file,
                     struct dstr *why)
{
    struct personality *p = r->pers;
    struct dstr *host = dstr_new(64, 1024);
    char    buf[256];
    const char *dot, *slash;

    if (gethostname(buf, sizeof(buf)) < 0 || buf[0] == '\0')
        snprintf(buf, sizeof(buf), "localhost");
    buf[sizeof(buf) - 1] = '\0';
    p->computed[0] = xstrdup(buf);
    slash = strrchr(main_file, '/');
    p->computed[2] = slash == NULL ? xstrdup(".")
        : slash == main_file ? xstrdup("/")
        : xstrndup(main_file, (size_t) (slash - main_file));
    if (personality_resolve(r, "myhostname", host, why) == 0) {
        dot = strchr(host->data, '.');
        p->computed[1] = xstrdup(dot != NULL && dot[1] ? dot + 1 : "localdomain");
    }
    dstr_free(host);
}

/* personality_error - one FILE:LINE error line, each reported once */
static void
personality_error(struct dstr *errors, const struct personality_resolver *r,
                  const char *main_file, const char *name, const char *why)
{
    struct dstr *line = dstr_new(128, 8192);
    const struct personality *p = r->pers;

    if (r->source != NULL)
        (void) dstr_appendf(line, "%s:%d: %s: %s", r->source->file,
                            r->source->line, r->origin, why);
    else
        (void) dstr_appendf(line, "%s: %s (built-in default): %s", main_file,
                            name, why);
    if (strstr(errors->data, line->data) == NULL) {
        if (p->stress || strcmp(p->class_name, PERSONALITY_DEFAULT_CLASS) != 0)
            (void) dstr_appendf(line, " [personality %s/%s]", p->class_name,
                                p->name);
        (void) dstr_appendf(errors, "%s\n", line->data);
    }
    dstr_free(line);
}

/* personality_nested_param_error - did expansion fail inside a parameter */
static int
personality_nested_param_error(const char *why)
{
    const char *in = strstr(why, " (in $");
    char    name[CFPARSE_NAME_MAX];
    size_t  len;

    if (in == NULL)
        return 0;
    in += 6;
    len = strcspn(in, ")");
    if (len >= sizeof(name))
        return 0;
    memcpy(name, in, len);
    name[len] = '\0';
    return param_find(name) != NULL;
}

/* personality_compile_one - every parameter of one personality */
static int
personality_compile_one(struct personality_resolver *r,
                        const char *main_file, struct dstr *errors)
{
    struct personality *p = r->pers;
    struct dstr *value = dstr_new(256, EXPAND_RESULT_MAX);
    struct dstr *why = dstr_new(128, 8192);
    const struct param_def *def;
    size_t  i, n = param_count();
    int     ret = 0;

    p->values = xcalloc(n, sizeof(char *));
    p->raw = xcalloc(n, sizeof(char *));
    p->origin = xcalloc(n, sizeof(char *));
    p->source = xcalloc(n, sizeof(struct cf_entry *));
    personality_computed(r, main_file, why);
    dstr_reset(why);
    for (i = 0; i < n; i++) {
        def = &param_table[i];
        dstr_reset(value);
        dstr_reset(why);
        r->source = NULL;
        r->origin = NULL;
        r->raw = NULL;
        if (personality_resolve(r, def->name, value, why) < 0) {
            /* an error inside another parameter's value is reported there */
            if (!personality_nested_param_error(why->data))
                personality_error(errors, r, main_file, def->name, why->data);
            ret = -1;
        } else if (param_set_value(def, value->data, &p->params, why) < 0) {
            personality_error(errors, r, main_file, def->name, why->data);
            ret = -1;
        }
        p->values[i] = xstrdup(value->data);
        p->raw[i] = r->raw != NULL ? r->raw : "";
        p->origin[i] = r->origin;
        p->source[i] = r->source;
    }
    dstr_free(value);
    dstr_free(why);
    return ret;
}

/* personality_class_error - an error about smtpd_restriction_classes itself */
static void
personality_class_error(struct personality_resolver *r, const char *main_file,
                        size_t idx, const char *why, struct dstr *errors)
{
    const struct personality *p = r->pers;

    r->source = p->source[idx];
    r->origin = p->origin[idx];
    personality_error(errors, r, main_file, param_table[idx].name, why);
}

/*
 * personality_restriction_classes - the list each name in
 * smtpd_restriction_classes stands for. The names are the user's, not
 * parameters, so the walk over the table does not see them: each is
 * resolved here like a parameter without doppelgangers, and expanded
 * in this personality, so "$smtpd_X" inside a class reads this
 * personality's X. A name that is a parameter, is listed twice, or has
 * no definition is an error: a class that silently meant nothing would
 * permit or reject the wrong mail.
 */
static int
personality_restriction_classes(struct personality_resolver *r,
                                const char *main_file, struct dstr *errors)
{
    struct personality *p = r->pers;
    const struct param_list *names = &p->params.smtpd_restriction_classes;
    size_t  idx = (size_t) (param_find("smtpd_restriction_classes")
                            - param_table);
    struct dstr *value = dstr_new(256, EXPAND_RESULT_MAX);
    struct dstr *why = dstr_new(128, 8192);
    const char *name;
    size_t  i, j;
    int     ret = 0;

    p->params.restriction_class_lists = xcalloc(names->count + 1,
                                                sizeof(struct param_list));
    if (names->count > PERSONALITY_RCLASSES_MAX) {
        (void) dstr_appendf(why, "%zu classes; at most %d are allowed",
                            names->count, PERSONALITY_RCLASSES_MAX);
        personality_class_error(r, main_file, idx, why->data, errors);
        ret = -1;
        goto done;
    }
    for (i = 0; i < names->count; i++) {
        name = names->items[i];
        dstr_reset(why);
        dstr_reset(value);
        for (j = 0; j < i && strcmp(names->items[j], name) != 0; j++)
             /* void */ ;
        if (!cfparse_valid_name(name, strlen(name)))
            (void) dstr_appendf(why, "\"%s\" is not a valid class name (use"
                                " letters, digits and _)", name);
        else if (param_find(name) != NULL || strcmp(name, "stress") == 0)
            (void) dstr_appendf(why, "%s is a parameter; a restriction class"
                                " needs a name of its own", name);
        else if (j < i)
            (void) dstr_appendf(why, "%s is listed twice", name);
        if (why->len > 0) {
            personality_class_error(r, main_file, idx, why->data, errors);
            ret = -1;
            continue;
        }
        r->source = NULL;
        r->origin = NULL;
        r->raw = NULL;
        if (personality_resolve(r, name, value, why) < 0) {
            personality_error(errors, r, main_file, name, why->data);
            ret = -1;
        } else if (r->raw == NULL) {
            (void) dstr_appendf(why, "restriction class %s has no definition"
                                " (add a line \"%s = restrictions\")", name,
                                name);
            personality_class_error(r, main_file, idx, why->data, errors);
            ret = -1;
        } else if (param_list_split(value->data,
                                    &p->params.restriction_class_lists[i],
                                    why) < 0) {
            personality_error(errors, r, main_file, name, why->data);
            ret = -1;
        }
    }
done:
    dstr_free(value);
    dstr_free(why);
    return ret;
}

/* personality_compile - all (class, stress) pairs; see personality.h */
int
personality_compile(const struct cf_table *main,
                    const struct cf_table *overrides,
                    char *const *classes, size_t nclasses,
                    const char *service_label,
                    struct personality_set **out, struct dstr *errors)
{
    struct personality_set *set = xcalloc(1, sizeof(*set));
    struct personality_resolver r;
    const char *main_file = main->nfiles > 0 ? main->files[0] : "doppel.cf";
    size_t  c;
    int     stress, ret = 0;

    (void) service_label;
    set->nclasses = nclasses + 1;
    set->classes = xcalloc(set->nclasses, sizeof(char *));
    set->classes[0] = xstrdup(PERSONALITY_DEFAULT_CLASS);
    for (c = 0; c < nclasses; c++)
        set->classes[c + 1] = xstrdup(classes[c]);
    set->items = xcalloc(set->nclasses * 2, sizeof(struct personality));
    for (c = 0; c < set->nclasses; c++) {
        for (stress = 0; stress < 2; stress++) {
            struct personality *p = &set->items[c * 2 + stress];

            p->class_name = set->classes[c];
            p->stress = stress;
            p->name = stress ? "stress" : "normal";
            memset(&r, 0, sizeof(r));
            /* the tables are only marked "used", never changed */
            r.main = (struct cf_table *) main;
            r.overrides = (struct cf_table *) overrides;
            r.pers = p;
            if (personality_compile_one(&r, main_file, errors) < 0)
                ret = -1;
            if (personality_restriction_classes(&r, main_file, errors) < 0)
                ret = -1;
        }
    }
    if (ret < 0) {
        personality_free(set);
        *out = NULL;
        return -1;
    }
    *out = set;
    return 0;
}

/* personality_free - release a set; returns NULL */
struct personality_set *
personality_free(struct personality_set *set)
{
    size_t  i, k, n = param_count();

    if (set == NULL)
        return NULL;
    for (i = 0; i < set->nclasses * 2; i++) {
        struct personality *p = &set->items[i];

        if (p->params.restriction_class_lists != NULL)
            for (k = 0; k < p->params.smtpd_restriction_classes.count; k++)
                param_list_free(&p->params.restriction_class_lists[k]);
        free(p->params.restriction_class_lists);
        param_free_values(&p->params);
        if (p->values != NULL)
            for (k = 0; k < n; k++)
                free(p->values[k]);
        free(p->values);
        free(p->raw);
        free(p->origin);
        free(p->source);
        free(p->computed[0]);
        free(p->computed[1]);
        free(p->computed[2]);
    }
    for (i = 0; i < set->nclasses; i++)
        free(set->classes[i]);
    free(set->classes);
    free(set->items);
    free(set);
    return NULL;
}

/* personality_get - the personality for (class, stress); a pointer lookup */
const struct personality *
personality_get(const struct personality_set *set, const char *class_name,
                int stress)
{
    size_t  c;

    for (c = 0; class_name != NULL && c < set->nclasses; c++)
        if (strcmp(set->classes[c], class_name) == 0)
            return &set->items[c * 2 + (stress != 0)];
    return &set->items[stress != 0];
}
