/*
 * NAME
 *     personality - compile (class, stress) pairs into typed parameter sets
 * SYNOPSIS
 *     #include "conf/personality.h"
 * DESCRIPTION
 *     A personality is what one session sees: every parameter resolved
 *     for a client class and a stress state, expanded and typed. A
 *     per-session parameter X resolves, first defined wins:
 *
 *         stress off: CLASS_X, X, built-in default
 *         stress on:  CLASS_stress_X, CLASS_X, stress_X, X,
 *                     built-in stress default
 *
 *     (for the class "default" the CLASS_ names are skipped). Other
 *     parameters resolve as X, then the built-in default. A service's
 *     -o overrides are looked at before the main file, name by name, so
 *     "-o stress_smtpd_timeout=5s" joins the same order.
 *
 *     The self-reference fix: a $name inside a value is resolved
 *     through the same personality as the parameter being resolved, so
 *     in the stress personality "smtpd_soft_error_limit =
 *     $smtpd_hard_error_limit" reads the stress hard limit.
 *
 *     The pseudo-parameter "stress" is "yes" in stress personalities
 *     and empty otherwise; "client_class" is the class name.
 *
 *     Restriction classes: each name in smtpd_restriction_classes is a
 *     user-defined name ("restrictive = reject_unauth_destination, ...")
 *     that is not in the parameter table. It is resolved as NAME (no
 *     stress_ or class variants: name another class in the stress list
 *     instead), expanded in the personality like any value, and split
 *     into params.restriction_class_lists[i], parallel to
 *     params.smtpd_restriction_classes.items[i]. Resolving a name marks
 *     it used, so conf_load() does not warn about it as unknown.
 * RULES
 *     personality_compile() does all parsing and checking; afterwards a
 *     set is immutable and choosing a personality is a pointer lookup
 *     (personality_get(), no parsing). Unknown classes get "default".
 * DIAGNOSTICS
 *     "FILE:LINE: name: ..." per bad value appended to *errors, -1.
 *     A value that fails only in one personality names it. A class
 *     name that is a parameter, is listed twice, or has no definition
 *     is reported at the smtpd_restriction_classes line.
 */
#ifndef DOPPEL_CONF_PERSONALITY_H
#define DOPPEL_CONF_PERSONALITY_H

#include <stddef.h>

#include "conf/cfparse.h"
#include "conf/params.h"
#include "util/dstr.h"

#define PERSONALITY_DEFAULT_CLASS "default"

struct personality {
    const char *class_name;            /* "default" or a configured class */
    int     stress;                    /* 0 or 1 */
    const char *name;                  /* "normal" or "stress" */
    struct params params;              /* typed values */
    char  **values;                    /* expanded text, by table index */
    const char **raw;                  /* unexpanded text, by table index */
    const char **origin;               /* the name that supplied it, or NULL
                                        * for a built-in default */
    const struct cf_entry **source;    /* its file and line, or NULL */
    char   *computed[3];               /* myhostname, mydomain,
                                        * config_directory from the system */
};

struct personality_set {
    char  **classes;                   /* [0] is "default" */
    size_t  nclasses;
    struct personality *items;         /* [class * 2 + stress] */
};

int     personality_compile(const struct cf_table *main,
                            const struct cf_table *overrides,
                            char *const *classes, size_t nclasses,
                            const char *service_label,
                            struct personality_set **out,
                            struct dstr *errors);
struct personality_set *personality_free(struct personality_set *set);
const struct personality *personality_get(const struct personality_set *set,
                                          const char *class_name, int stress);
int     personality_class_valid(const char *name, size_t len);

#endif
