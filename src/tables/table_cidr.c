/* table_cidr - cidr: tables: ordered network rules with if..endif blocks. */

#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_cidr.h"
#include "tables/table_file.h"

enum table_cidr_kind {
    TABLE_CIDR_MATCH,                  /* network value */
    TABLE_CIDR_IF,                     /* if network ... endif */
};

struct table_cidr_rule {
    enum table_cidr_kind kind;
    int     negate;                    /* "!network" */
    struct cidr net;
    char   *value;                     /* MATCH only */
    size_t  skip;                      /* IF: index after its endif */
    int     line;
};

struct table_cidr {
    struct table_cidr_rule *rules;
    size_t  count;
    size_t  alloc;
};

/* the parse in progress */
struct table_cidr_parse {
    struct table_cidr *t;
    size_t  open[TABLE_CIDR_DEPTH_MAX]; /* rule index of each open "if" */
    int     depth;
};

/* table_cidr_add - one more rule, or NULL past the maximum */
static struct table_cidr_rule *
table_cidr_add(struct table_file *f, int line)
{
    struct table_cidr *t = ((struct table_cidr_parse *) f->context)->t;
    struct table_cidr_rule *r;

    r = table_file_rule(f, line, (void **) &t->rules, &t->count, &t->alloc,
                        sizeof(*t->rules), TABLE_CIDR_RULES_MAX);
    if (r != NULL)
        r->line = line;
    return r;
}

/* table_cidr_network - "[!]network" into r, or report why not */
static int
table_cidr_network(struct table_file *f, int line, const char *text,
                   struct table_cidr_rule *r)
{
    struct dstr *why;
    int     ret = 0;

    r->negate = *text == '!';
    if (r->negate)
        text++;
    if (*text == '\0') {
        table_file_error(f, line, "\"!\" without a network after it");
        return -1;
    }
    why = dstr_new(64, 1024);
    if (cidr_parse(&r->net, text, why) < 0) {
        table_file_error(f, line, "%s", why->data);
        ret = -1;
    }
    dstr_free(why);
    return ret;
}

/* table_cidr_line - one logical line: a rule, "if" or "endif" */
static void
table_cidr_line(struct table_file *f, int line, char *text)
{
    struct table_cidr_parse *ps = f->context;
    struct table_cidr_rule *r;
    char   *rest = text, *word;

    word = table_file_word(&rest);
    if (str_eq_nocase(word, "endif")) {
        long    i = table_file_endif(f, line, rest, ps->open, &ps->depth);

        if (i >= 0)
            ps->t->rules[i].skip = ps->t->count;
        return;
    }
    if (str_eq_nocase(word, "if")) {
        word = table_file_word(&rest);
        if (*word == '\0') {
            table_file_error(f, line, "\"if\" without a network (use"
                             " \"if network/prefix\")");
            return;
        }
        if (*rest != '\0') {
            table_file_error(f, line, "text after \"if %.60s\": \"%.40s\""
                             " (an if line has no value)", word, rest);
            return;
        }
        if (ps->depth >= TABLE_CIDR_DEPTH_MAX) {
            table_file_error(f, line, "\"if\" nested deeper than %d",
                             TABLE_CIDR_DEPTH_MAX);
            return;
        }
        if ((r = table_cidr_add(f, line)) == NULL)
            return;
        r->kind = TABLE_CIDR_IF;
        if (table_cidr_network(f, line, word, r) < 0) {
            ps->t->count--;
            return;
        }
        ps->open[ps->depth++] = ps->t->count - 1;
        return;
    }
    if (*rest == '\0') {
        table_file_error(f, line, "\"%.60s\" has no value (use \"network/prefix"
                         " value\")", word);
        return;
    }
    if ((r = table_cidr_add(f, line)) == NULL)
        return;
    r->kind = TABLE_CIDR_MATCH;
    if (table_cidr_network(f, line, word, r) < 0) {
        ps->t->count--;
        return;
    }
    r->value = xstrdup(rest);
}

/* table_cidr_finish - close the parse: unclosed ifs; NULL on errors */
static struct table_cidr *
table_cidr_finish(struct table_file *f, struct table_cidr_parse *ps)
{
    while (ps->depth > 0)
        table_file_error(f, ps->t->rules[ps->open[--ps->depth]].line,
                         "\"if\" without \"endif\"");
    if (table_file_finish(f) < 0)
        return table_cidr_free(ps->t);
    return ps->t;
}

/* table_cidr_parse - a table from memory; NULL with every error */
struct table_cidr *
table_cidr_parse(const char *file, const char *buf, size_t len,
                 struct dstr *errors)
{
    struct table_cidr_parse ps;
    struct table_file f;

    memset(&ps, 0, sizeof(ps));
    ps.t = xcalloc(1, sizeof(*ps.t));
    table_file_init(&f, file, errors, &ps);
    (void) table_file_parse_buffer(&f, buf, len, table_cidr_line);
    return table_cidr_finish(&f, &ps);
}

/* table_cidr_open - read and parse a file */
struct table_cidr *
table_cidr_open(const char *path, struct dstr *errors)
{
    struct table_cidr_parse ps;
    struct table_file f;

    memset(&ps, 0, sizeof(ps));
    ps.t = xcalloc(1, sizeof(*ps.t));
    table_file_init(&f, path, errors, &ps);
    (void) table_file_parse(&f, path, table_cidr_line);
    return table_cidr_finish(&f, &ps);
}

/*
 * table_cidr_family - the family a network or address stands for: an
 * IPv4-mapped IPv6 one counts as IPv4, as util/cidr.h matches it.
 */
static int
table_cidr_family(const struct netaddr *addr, int prefix)
{
    if (addr->family == AF_INET6 && netaddr_is_mapped(addr) && prefix >= 96)
        return AF_INET;
    return addr->family;
}

/*
 * table_cidr_lookup - the first rule that the address satisfies. As in
 * Postfix, a rule applies only to addresses of its own family, so
 * "!192.0.2.0/24" says nothing about an IPv6 client.
 */
enum table_status
table_cidr_lookup(const struct table_cidr *t, const char *key,
                  struct dstr *value)
{
    const struct table_cidr_rule *r;
    struct netaddr addr;
    size_t  i = 0;
    int     family;

    if (netaddr_parse(&addr, key) < 0)
        return TABLE_NOTFOUND;
    family = table_cidr_family(&addr, 128);
    while (i < t->count) {
        r = t->rules + i;
        if (table_cidr_family(&r->net.addr, r->net.prefix) != family
            || (cidr_match(&r->net, &addr) != 0) == r->negate) {
            i = r->kind == TABLE_CIDR_IF ? r->skip : i + 1;
            continue;
        }
        if (r->kind == TABLE_CIDR_IF) {
            i++;
            continue;
        }
        if (dstr_set_str(value, r->value) < 0) {
            log_error("cidr table: line %d: value longer than %zu bytes",
                      r->line, value->limit);
            return TABLE_ERROR;
        }
        return TABLE_FOUND;
    }
    return TABLE_NOTFOUND;
}

/* table_cidr_count - rules, if lines included */
size_t
table_cidr_count(const struct table_cidr *t)
{
    return t->count;
}

/* table_cidr_free - release everything */
struct table_cidr *
table_cidr_free(struct table_cidr *t)
{
    size_t  i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->count; i++)
        free(t->rules[i].value);
    free(t->rules);
    free(t);
    return NULL;
}

/* table_cidr_open_fn - registry adapter */
static void *
table_cidr_open_fn(const char *name, struct dstr *errors)
{
    return table_cidr_open(name, errors);
}

/* table_cidr_lookup_fn - registry adapter */
static enum table_status
table_cidr_lookup_fn(void *handle, const char *key, struct dstr *value)
{
    return table_cidr_lookup(handle, key, value);
}

/* table_cidr_close_fn - registry adapter */
static void
table_cidr_close_fn(void *handle)
{
    (void) table_cidr_free(handle);
}

const struct table_type table_cidr_type = {
    "cidr", 0, table_cidr_open_fn, table_cidr_lookup_fn, table_cidr_close_fn,
};
