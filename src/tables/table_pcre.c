/* table_pcre - pcre: tables: PCRE2 rules, if..endif, $N substitution. */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_file.h"
#include "tables/table_pcre.h"

#define TABLE_PCRE_GROUP_MAX 65535      /* largest $N a value may name */

enum table_pcre_kind {
    TABLE_PCRE_MATCH,                  /* /re/ value */
    TABLE_PCRE_IF,                     /* if /re/ ... endif */
};

struct table_pcre_rule {
    enum table_pcre_kind kind;
    int     negate;                    /* "!/re/" */
    pcre2_code *re;
    char   *value;                     /* MATCH only, $N unexpanded */
    size_t  skip;                      /* IF: index after its endif */
    int     line;
};

struct table_pcre {
    struct table_pcre_rule *rules;
    size_t  count;
    size_t  alloc;
    pcre2_match_data *md;              /* sized for the largest pattern */
    pcre2_match_context *mctx;         /* the limits */
    uint32_t max_groups;
};

/* the parse in progress */
struct table_pcre_parse {
    struct table_pcre *t;
    size_t  open[TABLE_PCRE_DEPTH_MAX]; /* rule index of each open "if" */
    int     depth;
};

/* table_pcre_add - one more rule, or NULL past the maximum */
static struct table_pcre_rule *
table_pcre_add(struct table_file *f, int line)
{
    struct table_pcre *t = ((struct table_pcre_parse *) f->context)->t;
    struct table_pcre_rule *r;

    r = table_file_rule(f, line, (void **) &t->rules, &t->count, &t->alloc,
                        sizeof(*t->rules), TABLE_PCRE_RULES_MAX);
    if (r != NULL)
        r->line = line;
    return r;
}

/* table_pcre_drop - forget the last rule, which failed to parse */
static void
table_pcre_drop(struct table_pcre *t)
{
    struct table_pcre_rule *r = t->rules + --t->count;

    if (r->re != NULL)
        pcre2_code_free(r->re);
    free(r->value);
}

/* table_pcre_flags - PCRE2 options from the flag letters */
static int
table_pcre_flags(struct table_file *f, int line, const char *flags,
                 uint32_t *options)
{
    static const struct {
        char    letter;
        uint32_t option;
    } table[] = {
        {'i', PCRE2_CASELESS}, {'m', PCRE2_MULTILINE}, {'s', PCRE2_DOTALL},
        {'x', PCRE2_EXTENDED}, {'A', PCRE2_ANCHORED},
        {'E', PCRE2_DOLLAR_ENDONLY}, {'U', PCRE2_UNGREEDY}, {'X', 0},
    };
    const char *p;
    size_t  i;

    *options = PCRE2_CASELESS;
    for (p = flags; *p; p++) {
        for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            if (table[i].letter == *p)
                break;
        if (i == sizeof(table) / sizeof(table[0])) {
            if (isprint((unsigned char) *p))
                table_file_error(f, line, "unknown flag '%c' after the pattern"
                                 " (use i, m, s, x, A, E, U or X)", *p);
            else
                table_file_error(f, line, "unknown flag byte 0x%02x after the"
                                 " pattern (use i, m, s, x, A, E, U or X)",
                                 (unsigned char) *p);
            return -1;
        }
        *options ^= table[i].option;
    }
    return 0;
}

/*
 * table_pcre_pattern - "[!]/re/flags" at *p into r; *p moves past it.
 * The pattern text is handed to PCRE2 as written, backslashes
 * included: "\/" is a literal slash to PCRE2 as well.
 */
static int
table_pcre_pattern(struct table_file *f, int line, char **p,
                   struct table_pcre_rule *r)
{
    char   *s = *p, *start, *flags, delim;
    uint32_t options, groups;
    int     errcode;
    PCRE2_SIZE erroffset;
    PCRE2_UCHAR msg[256];

    r->negate = *s == '!';
    if (r->negate)
        s++;
    delim = *s;
    if (delim == '\0' || isalnum((unsigned char) delim)
        || isspace((unsigned char) delim) || delim == '\\') {
        table_file_error(f, line, "expected a pattern such as /regex/ %s",
                         delim ? "(a delimiter is not a letter, digit or"
                         " backslash)" : "after \"!\"");
        return -1;
    }
    start = ++s;
    while (*s && *s != delim)
        s += (*s == '\\' && s[1] != '\0') ? 2 : 1;
    if (*s == '\0') {
        table_file_error(f, line, "pattern has no closing '%c'", delim);
        return -1;
    }
    *s++ = '\0';
    flags = s;
    while (*s && !isspace((unsigned char) *s))
        s++;
    if (*s)
        *s++ = '\0';
    while (*s && isspace((unsigned char) *s))
        s++;
    *p = s;
    if (table_pcre_flags(f, line, flags, &options) < 0)
        return -1;
    r->re = pcre2_compile((PCRE2_SPTR) start, PCRE2_ZERO_TERMINATED, options,
                          &errcode, &erroffset, NULL);
    if (r->re == NULL) {
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            str_copy((char *) msg, sizeof(msg), "unknown error");
        table_file_error(f, line, "bad regular expression %c%.60s%c: %s at"
                         " offset %zu", delim, start, delim, (char *) msg,
                         (size_t) erroffset);
        return -1;
    }
    if (pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &groups) != 0)
        log_panic("%s: pcre2_pattern_info failed", __func__);
    if (groups > ((struct table_pcre_parse *) f->context)->t->max_groups)
        ((struct table_pcre_parse *) f->context)->t->max_groups = groups;
    return 0;
}

/*
 * table_pcre_check_value - every $ in value is $$, $N or ${N} with N no
 * larger than the pattern's groups; a negated pattern has no groups.
 */
static int
table_pcre_check_value(struct table_file *f, int line,
                       const struct table_pcre_rule *r, const char *value)
{
    const char *p = value;
    uint32_t groups = 0;
    unsigned long n;
    int     brace;

    (void) pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    while ((p = strchr(p, '$')) != NULL) {
        p++;
        if (*p == '$') {
            p++;
            continue;
        }
        brace = *p == '{';
        if (brace)
            p++;
        if (!isdigit((unsigned char) *p)) {
            table_file_error(f, line, "\"$\" in the value must be followed by"
                             " a group number, {number} or \"$\" (write $$"
                             " for a literal $)");
            return -1;
        }
        for (n = 0; isdigit((unsigned char) *p); p++)
            if ((n = n * 10 + (unsigned long) (*p - '0')) > TABLE_PCRE_GROUP_MAX)
                n = TABLE_PCRE_GROUP_MAX + 1;
        if (brace && *p++ != '}') {
            table_file_error(f, line, "\"${\" without a closing \"}\" in the"
                             " value");
            return -1;
        }
        if (r->negate) {
            table_file_error(f, line, "$%lu in the value of a negated pattern"
                             " (a pattern that did not match has no groups)",
                             n);
            return -1;
        }
        if (n > groups) {
            table_file_error(f, line, "$%lu in the value, but the pattern has"
                             " %u group%s", n, (unsigned) groups,
                             groups == 1 ? "" : "s");
            return -1;
        }
    }
    return 0;
}

/* table_pcre_line - one logical line: a rule, "if" or "endif" */
static void
table_pcre_line(struct table_file *f, int line, char *text)
{
    struct table_pcre_parse *ps = f->context;
    struct table_pcre_rule *r;
    char   *rest = text, *word;
    int     is_if = 0;

    if (isalpha((unsigned char) *text)) {
        word = table_file_word(&rest);
        if (str_eq_nocase(word, "endif")) {
            long    i = table_file_endif(f, line, rest, ps->open, &ps->depth);

            if (i >= 0)
                ps->t->rules[i].skip = ps->t->count;
            return;
        }
        if (!str_eq_nocase(word, "if")) {
            table_file_error(f, line, "expected /pattern/, \"if\" or \"endif\","
                             " not \"%.40s\"", word);
            return;
        }
        if (ps->depth >= TABLE_PCRE_DEPTH_MAX) {
            table_file_error(f, line, "\"if\" nested deeper than %d",
                             TABLE_PCRE_DEPTH_MAX);
            return;
        }
        is_if = 1;
    }
    if ((r = table_pcre_add(f, line)) == NULL)
        return;
    r->kind = is_if ? TABLE_PCRE_IF : TABLE_PCRE_MATCH;
    if (table_pcre_pattern(f, line, &rest, r) < 0) {
        table_pcre_drop(ps->t);
        return;
    }
    if (is_if) {
        if (*rest != '\0') {
            table_file_error(f, line, "text after the pattern of \"if\":"
                             " \"%.40s\" (an if line has no value)", rest);
            table_pcre_drop(ps->t);
            return;
        }
        ps->open[ps->depth++] = ps->t->count - 1;
        return;
    }
    if (*rest == '\0') {
        table_file_error(f, line, "pattern has no value (use \"/pattern/"
                         " value\")");
        table_pcre_drop(ps->t);
        return;
    }
    if (table_pcre_check_value(f, line, r, rest) < 0) {
        table_pcre_drop(ps->t);
        return;
    }
    r->value = xstrdup(rest);
}

/* table_pcre_finish - close the parse: unclosed ifs, limits, match data */
static struct table_pcre *
table_pcre_finish(struct table_file *f, struct table_pcre_parse *ps)
{
    struct table_pcre *t = ps->t;

    while (ps->depth > 0)
        table_file_error(f, t->rules[ps->open[--ps->depth]].line,
                         "\"if\" without \"endif\"");
    if (table_file_finish(f) < 0)
        return table_pcre_free(t);
    t->md = pcre2_match_data_create(t->max_groups + 1, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    if (t->md == NULL || t->mctx == NULL)
        log_fatal("pcre table %s: out of memory", f->file);
    (void) pcre2_set_match_limit(t->mctx, TABLE_PCRE_MATCH_LIMIT);
    (void) pcre2_set_depth_limit(t->mctx, TABLE_PCRE_DEPTH_LIMIT);
    (void) pcre2_set_heap_limit(t->mctx, TABLE_PCRE_HEAP_LIMIT);
    return t;
}

/* table_pcre_parse - a table from memory; NULL with every error */
struct table_pcre *
table_pcre_parse(const char *file, const char *buf, size_t len,
                 struct dstr *errors)
{
    struct table_pcre_parse ps;
    struct table_file f;

    memset(&ps, 0, sizeof(ps));
    ps.t = xcalloc(1, sizeof(*ps.t));
    table_file_init(&f, file, errors, &ps);
    (void) table_file_parse_buffer(&f, buf, len, table_pcre_line);
    return table_pcre_finish(&f, &ps);
}

/* table_pcre_open - read and parse a file */
struct table_pcre *
table_pcre_open(const char *path, struct dstr *errors)
{
    struct table_pcre_parse ps;
    struct table_file f;

    memset(&ps, 0, sizeof(ps));
    ps.t = xcalloc(1, sizeof(*ps.t));
    table_file_init(&f, path, errors, &ps);
    (void) table_file_parse(&f, path, table_pcre_line);
    return table_pcre_finish(&f, &ps);
}

/* table_pcre_expand - the value with $N replaced by what group N matched */
static int
table_pcre_expand(const struct table_pcre_rule *r, const char *key, int rc,
                  const PCRE2_SIZE *ov, struct dstr *value)
{
    const char *p = r->value, *dollar;
    unsigned long n;

    dstr_reset(value);
    while ((dollar = strchr(p, '$')) != NULL) {
        if (dstr_append(value, p, (size_t) (dollar - p)) < 0)
            return -1;
        p = dollar + 1;
        if (*p == '$') {
            if (dstr_append_char(value, '$') < 0)
                return -1;
            p++;
            continue;
        }
        if (*p == '{')
            p++;
        for (n = 0; isdigit((unsigned char) *p); p++)
            if ((n = n * 10 + (unsigned long) (*p - '0')) > TABLE_PCRE_GROUP_MAX)
                n = TABLE_PCRE_GROUP_MAX;
        if (*p == '}')
            p++;
        if (n < (unsigned long) rc && ov[2 * n] != PCRE2_UNSET
            && dstr_append(value, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]) < 0)
            return -1;
    }
    return dstr_append_str(value, p);
}

/* table_pcre_match - 1 match, 0 no match, -1 PCRE2 gave up (logged) */
static int
table_pcre_match(struct table_pcre *t, const struct table_pcre_rule *r,
                 const char *key, size_t len, int *rc)
{
    PCRE2_UCHAR msg[256];

    *rc = pcre2_match(r->re, (PCRE2_SPTR) key, len, 0, 0, t->md, t->mctx);
    if (*rc >= 0)
        return 1;
    if (*rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (pcre2_get_error_message(*rc, msg, sizeof(msg)) < 0)
        str_copy((char *) msg, sizeof(msg), "unknown error");
    log_error("pcre table: line %d: matching \"%.100s\": %s", r->line, key,
              (char *) msg);
    return -1;
}

/* table_pcre_lookup - the first rule the key satisfies */
enum table_status
table_pcre_lookup(struct table_pcre *t, const char *key, struct dstr *value)
{
    const struct table_pcre_rule *r;
    size_t  len = strlen(key), i = 0;
    int     m, rc;

    while (i < t->count) {
        r = t->rules + i;
        if ((m = table_pcre_match(t, r, key, len, &rc)) < 0)
            return TABLE_ERROR;
        if (m == r->negate) {
            i = r->kind == TABLE_PCRE_IF ? r->skip : i + 1;
            continue;
        }
        if (r->kind == TABLE_PCRE_IF) {
            i++;
            continue;
        }
        if (table_pcre_expand(r, key, r->negate ? 0 : rc,
                              pcre2_get_ovector_pointer(t->md), value) < 0) {
            log_error("pcre table: line %d: value longer than %zu bytes",
                      r->line, value->limit);
            return TABLE_ERROR;
        }
        return TABLE_FOUND;
    }
    return TABLE_NOTFOUND;
}

/* table_pcre_count - rules, if lines included */
size_t
table_pcre_count(const struct table_pcre *t)
{
    return t->count;
}

/* table_pcre_free - release everything */
struct table_pcre *
table_pcre_free(struct table_pcre *t)
{
    size_t  i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->count; i++) {
        pcre2_code_free(t->rules[i].re);
        free(t->rules[i].value);
    }
    free(t->rules);
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    free(t);
    return NULL;
}

/* table_pcre_open_fn - registry adapter */
static void *
table_pcre_open_fn(const char *name, struct dstr *errors)
{
    return table_pcre_open(name, errors);
}

/* table_pcre_lookup_fn - registry adapter */
static enum table_status
table_pcre_lookup_fn(void *handle, const char *key, struct dstr *value)
{
    return table_pcre_lookup(handle, key, value);
}

/* table_pcre_close_fn - registry adapter */
static void
table_pcre_close_fn(void *handle)
{
    (void) table_pcre_free(handle);
}

const struct table_type table_pcre_type = {
    "pcre", 0, table_pcre_open_fn, table_pcre_lookup_fn, table_pcre_close_fn,
};
