/*
 * NAME
 *     conf - load a configuration directory: doppel.cf, services.cf, personalities
 * SYNOPSIS
 *     #include "conf/conf.h"
 * DESCRIPTION
 *     conf_load() reads DIR/doppel.cf and DIR/services.cf, finds the
 *     client classes that the parameter names use (CLASS_smtpd_X,
 *     CLASS_stress_smtpd_X) or that smtpd_client_reserve_classes names,
 *     and compiles every personality: one set for the main file alone
 *     (conf->base) and one per service, which adds that service's -o
 *     overrides. Unknown parameter names are warned about with the
 *     nearest known name (log_warn), unless a value refers to them as
 *     $name (user macros, as Postfix allows) or smtpd_restriction_classes
 *     names them (their lists are in params.restriction_class_lists).
 *
 *     conf_params() is the pointer lookup a session makes: service index
 *     (or CONF_NO_SERVICE), class name, stress.
 * RULES
 *     A struct conf is immutable after conf_load(); a reload builds a new
 *     one and swaps it in only when it loaded without errors.
 *     A missing services.cf is an empty service list, not an error (the
 *     CLI needs only doppel.cf); a missing doppel.cf is an error.
 * DIAGNOSTICS
 *     Errors as "FILE:LINE: message" lines in *errors, and -1; out of
 *     memory is fatal.
 */
#ifndef DOPPEL_CONF_CONF_H
#define DOPPEL_CONF_CONF_H

#include <stddef.h>

#include "conf/cfparse.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "conf/services.h"
#include "util/dstr.h"

#define CONF_DEFAULT_DIR "/etc/doppel"
#define CONF_MAIN_FILE "doppel.cf"
#define CONF_SERVICES_FILE "services.cf"
#define CONF_NO_SERVICE ((size_t) -1)

struct conf {
    char   *dir;
    char   *main_path;
    char   *services_path;
    struct cf_table *main;
    struct service_list *services;
    char  **classes;                   /* every class but "default" */
    size_t  nclasses;
    struct personality_set *base;      /* doppel.cf alone */
    struct personality_set **service_sets;     /* one per service */
};

int     conf_load(const char *dir, struct conf **out, struct dstr *errors);
int     conf_load_files(const char *main_path, const char *services_path,
                        struct conf **out, struct dstr *errors);
struct conf *conf_free(struct conf *c);
const struct personality *conf_personality(const struct conf *c,
                                           size_t service,
                                           const char *class_name, int stress);
const struct params *conf_params(const struct conf *c, size_t service,
                                 const char *class_name, int stress);

#endif
