/*
 * expand - Postfix-style $name expansion; see expand.h.
 *
 * The expander is a recursive descent over the raw text. Recursion
 * happens for nested values and for conditional texts; both are bounded
 * by EXPAND_DEPTH_MAX, so hostile configuration cannot exhaust the stack.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "conf/expand.h"

static int expand_text(const struct expand_source *, const char *,
                       const char *, struct dstr *, struct dstr *, int);

/* expand_is_name_char - letters, digits and underscore */
static int
expand_is_name_char(int c)
{
    return isalnum((unsigned char) c) || c == '_';
}

/* expand_matching - the close that balances an open already passed */
static const char *
expand_matching(const char *p, const char *end, char open, char close)
{
    int     depth = 1;

    for (; p < end; p++) {
        if (*p == open)
            depth++;
        else if (*p == close && --depth == 0)
            return p;
    }
    return NULL;
}

/* expand_skip_space - past white space, within end */
static const char *
expand_skip_space(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char) *p))
        p++;
    return p;
}

/* expand_name - append the expanded value of name */
static int
expand_name(const struct expand_source *src, const char *name,
            struct dstr *out, struct dstr *why, int depth)
{
    const char *raw = NULL;
    int     ret = 0;

    if (depth >= EXPAND_DEPTH_MAX) {
        (void) dstr_appendf(why, "$%s: references nested more than %d deep",
                            name, EXPAND_DEPTH_MAX);
        return -1;
    }
    if (src->enter(src->context, name, &raw, why) < 0)
        return -1;
    if (raw != NULL) {
        ret = expand_text(src, raw, raw + strlen(raw), out, why, depth + 1);
        /* say where a nested error is, once: the innermost name */
        if (ret < 0 && strstr(why->data, " (in $") == NULL)
            (void) dstr_appendf(why, " (in $%s)", name);
    }
    src->leave(src->context, name);
    return ret;
}

/* expand_braced_group - "{text}" at p: bounds of text, p after the group */
static int
expand_braced_group(const char **pp, const char *end, const char **start,
                    const char **stop)
{
    const char *p = expand_skip_space(*pp, end);
    const char *close;

    if (p >= end || *p != '{')
        return -1;
    close = expand_matching(p + 1, end, '{', '}');
    if (close == NULL)
        return -1;
    *start = p + 1;
    *stop = close;
    *pp = close + 1;
    return 0;
}

/*
 * expand_conditional - after "${name" or "$(name" comes '?' or ':' and a
 * text, or the "?{a}:{b}" form. body..close is everything between the
 * name and the closing brace.
 */
static int
expand_conditional(const struct expand_source *src, const char *name,
                   const char *body, const char *close, struct dstr *out,
                   struct dstr *why, int depth)
{
    struct dstr *value = dstr_new(32, EXPAND_RESULT_MAX);
    const char *yes_start = NULL, *yes_stop = NULL;
    const char *no_start = NULL, *no_stop = NULL;
    const char *p = body + 1;
    int     ret = -1;
    int     set;

    if (expand_name(src, name, value, why, depth) < 0)
        goto done;
    set = value->len > 0;

    if (*body == '?' && expand_skip_space(p, close) < close
        && *expand_skip_space(p, close) == '{') {
        /* ${name?{a}} or ${name?{a}:{b}} */
        if (expand_braced_group(&p, close, &yes_start, &yes_stop) < 0)
            goto syntax;
        p = expand_skip_space(p, close);
        if (p < close && *p == ':') {
            p++;
            if (expand_braced_group(&p, close, &no_start, &no_stop) < 0)
                goto syntax;
            p = expand_skip_space(p, close);
        }
        if (p != close)
            goto syntax;
    } else if (*body == ':' && expand_skip_space(p, close) < close
               && *expand_skip_space(p, close) == '{') {
        /* ${name:{b}} */
        if (expand_braced_group(&p, close, &no_start, &no_stop) < 0
            || expand_skip_space(p, close) != close)
            goto syntax;
    } else if (*body == '?') {
        yes_start = p;
        yes_stop = close;
    } else {
        no_start = p;
        no_stop = close;
    }
    if (set && yes_start != NULL)
        ret = expand_text(src, yes_start, yes_stop, out, why, depth + 1);
    else if (!set && no_start != NULL)
        ret = expand_text(src, no_start, no_stop, out, why, depth + 1);
    else
        ret = 0;
    goto done;

syntax:
    (void) dstr_appendf(why, "${%s%.*s}: bad conditional (use ${name?text},"
                        " ${name:text} or ${name?{a}:{b}})", name,
                        (int) (close - body), body);
done:
    dstr_free(value);
    return ret;
}

/* expand_reference - at p just after '$': expand one reference */
static const char *
expand_reference(const struct expand_source *src, const char *p,
                 const char *end, struct dstr *out, struct dstr *why,
                 int depth)
{
    char    name[128];
    const char *start, *close;
    char    open, shut;
    size_t  len;

    if (p < end && *p == '$') {
        if (dstr_append_char(out, '$') < 0)
            goto too_long;
        return p + 1;
    }
    if (p < end && (*p == '{' || *p == '(')) {
        open = *p;
        shut = open == '{' ? '}' : ')';
        close = expand_matching(p + 1, end, open, shut);
        if (close == NULL) {
            (void) dstr_appendf(why, "\"$%c\" without a matching \"%c\"",
                                open, shut);
            return NULL;
        }
        start = ++p;
        while (p < close && expand_is_name_char(*p))
            p++;
        len = (size_t) (p - start);
        p = expand_skip_space(p, close);
        if (len == 0 || len >= sizeof(name)
            || (p < close && *p != '?' && *p != ':')) {
            (void) dstr_appendf(why, "\"$%c%.*s%c\" is not a valid reference"
                                " (use $name, ${name}, ${name?text} or"
                                " ${name:text})", open, (int) (close - start),
                                start, shut);
            return NULL;
        }
        memcpy(name, start, len);
        name[len] = '\0';
        if (p == close) {
            if (expand_name(src, name, out, why, depth) < 0)
                return NULL;
        } else if (expand_conditional(src, name, p, close, out, why,
                                      depth) < 0) {
            return NULL;
        }
        return close + 1;
    }
    start = p;
    while (p < end && expand_is_name_char(*p))
        p++;
    len = (size_t) (p - start);
    if (len == 0) {
        (void) dstr_appendf(why, "\"$\" must be followed by a name, \"{\" or"
                            " \"(\" (use $$ for a literal $)");
        return NULL;
    }
    if (len >= sizeof(name)) {
        (void) dstr_appendf(why, "$%.*s...: name too long", 32, start);
        return NULL;
    }
    memcpy(name, start, len);
    name[len] = '\0';
    if (expand_name(src, name, out, why, depth) < 0)
        return NULL;
    return p;

too_long:
    (void) dstr_appendf(why, "expanded value is longer than %d bytes",
                        EXPAND_RESULT_MAX);
    return NULL;
}

/* expand_text - expand p..end into out */
static int
expand_text(const struct expand_source *src, const char *p, const char *end,
            struct dstr *out, struct dstr *why, int depth)
{
    const char *dollar;

    if (depth >= EXPAND_DEPTH_MAX) {
        (void) dstr_appendf(why, "references nested more than %d deep",
                            EXPAND_DEPTH_MAX);
        return -1;
    }
    while (p < end) {
        dollar = memchr(p, '$', (size_t) (end - p));
        if (dollar == NULL)
            dollar = end;
        if (dstr_append(out, p, (size_t) (dollar - p)) < 0) {
            (void) dstr_appendf(why, "expanded value is longer than %d bytes",
                                EXPAND_RESULT_MAX);
            return -1;
        }
        if (dollar == end)
            break;
        p = expand_reference(src, dollar + 1, end, out, why, depth);
        if (p == NULL)
            return -1;
    }
    return 0;
}

/* expand_value - expand raw into result (appended); see expand.h */
int
expand_value(const char *raw, const struct expand_source *source,
             struct dstr *result, struct dstr *why)
{
    struct dstr *out = dstr_new(strlen(raw) + 16, EXPAND_RESULT_MAX);
    int     ret;

    ret = expand_text(source, raw, raw + strlen(raw), out, why, 0);
    if (ret == 0 && dstr_append(result, out->data, out->len) < 0) {
        (void) dstr_appendf(why, "expanded value is too long");
        ret = -1;
    }
    dstr_free(out);
    return ret;
}
