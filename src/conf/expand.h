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
 *     The texts are expanded in turn. Lookups go through a callback,
 *     which is how personalities resolve $smtpd_X through their own
 *     lookup order (the self-reference fix): the callback returns the
 *     raw value of a name as the current personality sees it, or NULL
 *     if the name is unset, and expand_value() expands it recursively.
 * RULES
 *     Recursion depth is bounded (EXPAND_DEPTH_MAX), and a name that is
 *     reached again while being expanded is a loop: both are errors,
 *     never a hang or a stack overflow. The result is bounded by
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

/* Return the raw value of name in this context, or NULL if unset. */
typedef const char *expand_lookup_fn(void *context, const char *name);

int     expand_value(const char *raw, expand_lookup_fn *lookup, void *context,
                     struct dstr *result, struct dstr *why);

#endif
