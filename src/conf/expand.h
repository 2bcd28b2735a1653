/*
 * NAME
 *     expand - Postfix-style $name expansion with loop detection
 * SYNOPSIS
 *     #include "conf/expand.h"
 * DESCRIPTION
 *     expand_value() replaces, in a raw value:
 *         $name  ${name}  $(name)         the value of name
 *         ${name?text}   $(name?text)     text if name is non-empty
 *         ${name:text}   $(name:text)     text if name is empty/unset
 *         ${name?{a}:{b}}                 a if name is non-empty, else b
 *         $$                              a literal $
 *     The texts are expanded in turn. Names are looked up through a
 *     struct expand_source: enter() gives the raw value of a name as the
 *     caller's context sees it (NULL if unset) and may refuse it (a
 *     loop); leave() is called when that value has been expanded. This
 *     is how personalities resolve $smtpd_X through their own lookup
 *     order (the self-reference fix) and detect reference loops.
 * RULES
 *     Recursion depth is bounded (EXPAND_DEPTH_MAX): an error, never a
 *     hang or a stack overflow. Unset names expand to nothing. A '$'
 *     not followed by a name, '{', '(' or '$' is an error. The result is bounded by
 *     EXPAND_RESULT_MAX.
 * DIAGNOSTICS
 *     Returns 0, or -1 with a message in *why (without FILE:LINE; the
 *     caller knows where the value came from).
 */
#ifndef DOPPEL_CONF_EXPAND_H
#define DOPPEL_CONF_EXPAND_H

#include "util/dstr.h"

#define EXPAND_DEPTH_MAX 32
#define EXPAND_RESULT_MAX (1024 * 1024)

struct expand_source {
    /* raw value of name (NULL: unset), or -1 with a reason in *why */
    int     (*enter) (void *context, const char *name, const char **raw,
                      struct dstr *why);
    /* the value entered last has been expanded */
    void    (*leave) (void *context, const char *name);
    void   *context;
};

int     expand_value(const char *raw, const struct expand_source *source,
                     struct dstr *result, struct dstr *why);

#endif
