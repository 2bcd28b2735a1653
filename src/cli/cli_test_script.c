/* cli_test_script - parse "doppel test" scripts into flat lists of steps. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/xtext.h"
#include "cli/cli_test_script.h"

#define CLI_TEST_WORK_MAX 2000000       /* lines parsed, repeats unrolled */
#define CLI_TEST_TOTAL_MAX (256 * 1024 * 1024)  /* message bytes, all steps */

/* one line of a source file, not NUL-terminated */
struct cts_line {
    const char *p;
    size_t  len;
};

/* a file being parsed */
struct cts_src {
    const char *name;                  /* interned in the script */
    struct dstr *buf;
    struct cts_line *lines;
    size_t  nlines;
};

struct cts_var {
    char   *name;
    char   *value;
};

/* the parser's state across files */
struct cts {
    struct cli_test_script *script;
    const struct cli_test_parse_opts *opts;
    struct dstr *err;
    struct cts_var vars[CLI_TEST_VARS_MAX];
    size_t  nvars;
    const char *stack[CLI_TEST_INCLUDE_DEPTH + 1];     /* canonical names */
    int     depth;
    unsigned timeout_ms;
    unsigned long work;                /* lines looked at, repeats included */
    size_t  bytes;                     /* message bytes in all steps */
    int     failed;                    /* an error is in err */
};

/* how a block ended */
enum cts_stop {
    CTS_STOP_EOF,
    CTS_STOP_END,
    CTS_STOP_ELSE,
};

static const char *const cts_xclient_attrs[] = {
    "NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN",
    "DESTADDR", "DESTPORT", NULL,
};

static int cts_parse_block(struct cts *, struct cts_src *, size_t *, int,
                           int, enum cts_stop *);

/* cts_error - "FILE:LINE: message"; always returns -1 */
static int __attribute__((format(printf, 4, 5)))
cts_error(struct cts *ps, const struct cts_src *src, size_t lineno,
          const char *fmt, ...)
{
    struct dstr *msg;
    va_list ap;
    size_t  i;
    unsigned char c;

    if (ps->failed++)                   /* keep the first, innermost one */
        return -1;
    msg = dstr_new(128, DSTR_UNLIMITED);
    if (src != NULL)
        (void) dstr_appendf(msg, "%s:%zu: ", src->name, lineno);
    va_start(ap, fmt);
    (void) dstr_vappendf(msg, fmt, ap);
    va_end(ap);
    /* quoted script text may hold control bytes: one line, printable */
    for (i = 0; i < msg->len; i++) {
        c = (unsigned char) msg->data[i];
        if (c < 32 || c == 127)
            (void) dstr_appendf(ps->err, "\\x%02X", c);
        else
            (void) dstr_append_char(ps->err, c);
    }
    dstr_free(msg);
    (void) dstr_append_char(ps->err, '\n');
    return -1;
}

/* cts_intern - keep a file name for the script's lifetime */
static const char *
cts_intern(struct cli_test_script *s, const char *name)
{
    size_t  i;

    for (i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i], name) == 0)
            return s->files[i];
    s->files = xrealloc_array(s->files, s->nfiles + 1, sizeof(*s->files));
    s->files[s->nfiles] = xstrdup(name);
    return s->files[s->nfiles++];
}

/* cts_load_fs - the default loader: a regular file of bounded size */
static int
cts_load_fs(void *ctx, const char *path, struct dstr *out, struct dstr *err)
{
    FILE   *fp;
    char    buf[8192];
    size_t  n;
    int     ret = 0;

    (void) ctx;
    if ((fp = fopen(path, "r")) == NULL) {
        (void) dstr_appendf(err, "cannot open: %s", strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
        if (dstr_append(out, buf, n) < 0) {
            (void) dstr_appendf(err, "file is larger than %d bytes",
                                CLI_TEST_FILE_MAX);
            ret = -1;
            break;
        }
    }
    if (ret == 0 && ferror(fp)) {
        (void) dstr_appendf(err, "read error: %s", strerror(errno));
        ret = -1;
    }
    fclose(fp);
    return ret;
}

/* cts_load - read a file through the configured loader */
static int
cts_load(struct cts *ps, const char *path, struct dstr *out,
         struct dstr *why)
{
    if (ps->opts->load != NULL)
        return ps->opts->load(ps->opts->load_ctx, path, out, why);
    return cts_load_fs(NULL, path, out, why);
}

/*
 * cts_resolve - a path named in a file, relative to that file's directory
 */
static char *
cts_resolve(const char *from, const char *path)
{
    const char *slash = strrchr(from, '/');
    struct dstr *d;

    if (path[0] == '/' || slash == NULL)
        return xstrdup(path);
    d = dstr_new(64, DSTR_UNLIMITED);
    (void) dstr_append(d, from, (size_t) (slash - from) + 1);
    (void) dstr_append_str(d, path);
    return dstr_steal(d);
}

/* cts_split - cut a buffer into lines; -1 on a NUL byte or a long line */
static int
cts_split(struct cts *ps, struct cts_src *src)
{
    const char *p = src->buf->data, *end = p + src->buf->len, *nl;
    size_t  len;

    if (memchr(p, '\0', src->buf->len) != NULL) {
        size_t  line = 1;
        const char *q;

        for (q = p; *q != '\0'; q++)
            line += *q == '\n';
        return cts_error(ps, src, line, "file contains a NUL byte");
    }
    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        len = nl ? (size_t) (nl - p) : (size_t) (end - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        src->lines = xrealloc_array(src->lines, src->nlines + 1,
                                    sizeof(*src->lines));
        src->lines[src->nlines].p = p;
        src->lines[src->nlines].len = len;
        src->nlines++;
        if (len > CLI_TEST_LINE_MAX)
            return cts_error(ps, src, src->nlines,
                             "line is longer than %d bytes", CLI_TEST_LINE_MAX);
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* cts_var_find - a variable by name, or NULL */
static struct cts_var *
cts_var_find(struct cts *ps, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < ps->nvars; i++)
        if (strlen(ps->vars[i].name) == len
            && memcmp(ps->vars[i].name, name, len) == 0)
            return &ps->vars[i];
    return NULL;
}

/* cts_name_char - may c be in a variable name (first: not a digit) */
static int
cts_name_char(int c, int first)
{
    return isalpha(c) || c == '_' || (!first && isdigit(c));
}

/* cts_var_set - define or replace; -1 (with the error) if full */
static int
cts_var_set(struct cts *ps, const struct cts_src *src, size_t lineno,
            const char *name, const char *value)
{
    struct cts_var *v = cts_var_find(ps, name, strlen(name));

    if (v == NULL) {
        if (ps->nvars >= CLI_TEST_VARS_MAX)
            return cts_error(ps, src, lineno, "more than %d variables",
                             CLI_TEST_VARS_MAX);
        v = &ps->vars[ps->nvars++];
        v->name = xstrdup(name);
    } else {
        free(v->value);
    }
    v->value = xstrdup(value);
    return 0;
}

/*
 * cts_expand - replace $name, ${name} and $$ in len bytes of in.
 * A '$' followed by anything else stays, so regular expressions keep
 * their "$" anchors ("/^250 OK$/").
 */
static int
cts_expand(struct cts *ps, const struct cts_src *src, size_t lineno,
           const char *in, size_t len, struct dstr *out)
{
    size_t  i = 0, start, nlen;
    const char *name;
    struct cts_var *v;
    int     braced, r = 0;

    dstr_reset(out);
    while (i < len && r == 0) {
        if (in[i] != '$' || i + 1 >= len) {
            r = dstr_append_char(out, in[i++]);
            continue;
        }
        if (in[i + 1] == '$') {
            r = dstr_append_char(out, '$');
            i += 2;
            continue;
        }
        braced = in[i + 1] == '{';
        start = i + 1 + braced;
        if (start >= len || !cts_name_char((unsigned char) in[start], 1)) {
            r = dstr_append_char(out, in[i++]);
            continue;
        }
        name = in + start;
        for (nlen = 0; start + nlen < len
             && cts_name_char((unsigned char) name[nlen], 0); nlen++)
            ;
        if (braced && (start + nlen >= len || name[nlen] != '}'))
            return cts_error(ps, src, lineno, "${%.*s: missing \"}\"",
                             (int) nlen, name);
        if ((v = cts_var_find(ps, name, nlen)) == NULL)
            return cts_error(ps, src, lineno, "undefined variable $%.*s",
                             (int) nlen, name);
        r = dstr_append_str(out, v->value);
        i = start + nlen + braced;
    }
    if (r < 0)
        return cts_error(ps, src, lineno,
                         "line is longer than %d bytes after expansion",
                         CLI_TEST_LINE_MAX);
    return 0;
}

/* cts_hex - the value of a hex digit, or -1 */
static int
cts_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * cts_token - the next white-space separated word at *pp into tok.
 * Double quotes group words and take the escapes \\ \" \r \n \t \xHH.
 * Returns 1 for a token, 0 at the end, -1 (error set) on bad quoting.
 */
static int
cts_token(struct cts *ps, const struct cts_src *src, size_t lineno,
          const char **pp, struct dstr *tok)
{
    const char *p = *pp;
    int     quoted = 0, h1, h2, c;

    dstr_reset(tok);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0') {
        *pp = p;
        return 0;
    }
    while (*p != '\0' && (quoted || (*p != ' ' && *p != '\t'))) {
        if (*p == '"') {
            quoted = !quoted;
            p++;
            continue;
        }
        if (quoted && *p == '\\') {
            switch (c = p[1]) {
            case 'r':
                c = '\r';
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case '\\':
            case '"':
                break;
            case 'x':
                if ((h1 = cts_hex((unsigned char) p[2])) < 0
                    || (h2 = cts_hex((unsigned char) p[3])) < 0)
                    return cts_error(ps, src, lineno,
                                     "\\x needs two hex digits");
                c = h1 * 16 + h2;
                p += 2;
                break;
            default:
                return cts_error(ps, src, lineno, "unknown escape \"\\%c\" "
                                 "(use \\\\ \\\" \\r \\n \\t or \\xHH)",
                                 p[1] ? p[1] : '?');
            }
            (void) dstr_append_char(tok, c);
            p += 2;
            continue;
        }
        (void) dstr_append_char(tok, *p++);
    }
    if (quoted)
        return cts_error(ps, src, lineno, "missing closing \"");
    *pp = p;
    return 1;
}

/* cts_time - a duration token for a statement, within [1ms, max] */
static int
cts_time(struct cts *ps, const struct cts_src *src, size_t lineno,
         const char *what, const char *text, long long max, unsigned *ms)
{
    long long v;

    if (units_parse_time(text, 's', &v) < 0)
        return cts_error(ps, src, lineno, "%s: \"%s\" is not a time (use "
                         "ms, s, m or h, e.g. 500ms or 10s)", what, text);
    if (v < 1 || v > max)
        return cts_error(ps, src, lineno, "%s: \"%s\" is out of range "
                         "(1ms to %llds)", what, text, max / 1000);
    *ms = (unsigned) v;
    return 0;
}

/* cts_step - append a step at this place; -1 past CLI_TEST_STEPS_MAX */
static struct cli_test_step *
cts_step(struct cts *ps, const struct cts_src *src, size_t lineno,
         enum cli_test_op op, const char *text)
{
    struct cli_test_script *s = ps->script;
    struct cli_test_step *st;

    if (s->nsteps >= CLI_TEST_STEPS_MAX) {
        (void) cts_error(ps, src, lineno, "more than %d steps (check the "
                         "repeat counts)", CLI_TEST_STEPS_MAX);
        return NULL;
    }
    if (s->nsteps == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->steps = xrealloc_array(s->steps, s->cap, sizeof(*s->steps));
    }
    st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof(*st));
    st->op = op;
    st->file = src->name;
    st->line = (unsigned) lineno;
    st->text = xstrdup(text);
    st->timeout_ms = ps->timeout_ms;
    return st;
}

/* cts_trim - the line without leading and trailing white space */
static struct cts_line
cts_trim(struct cts_line l)
{
    while (l.len > 0 && (*l.p == ' ' || *l.p == '\t')) {
        l.p++;
        l.len--;
    }
    while (l.len > 0 && (l.p[l.len - 1] == ' ' || l.p[l.len - 1] == '\t'))
        l.len--;
    return l;
}

/* cts_is - is the trimmed line exactly word */
static int
cts_is(struct cts_line l, const char *word)
{
    l = cts_trim(l);
    return l.len == strlen(word) && memcmp(l.p, word, l.len) == 0;
}

/* cts_keyword - the first word of a trimmed line, into a small buffer */
static void
cts_keyword(struct cts_line l, char *buf, size_t size, const char **rest)
{
    size_t  n = 0;

    while (n < l.len && l.p[n] != ' ' && l.p[n] != '\t')
        n++;
    if (n >= size)
        n = size - 1;                   /* no statement is that long */
    memcpy(buf, l.p, n);
    buf[n] = '\0';
    *rest = l.p + n;
}

/*
 * cts_body_append - one body line, dot-stuffed, with CRLF. The body is
 * text: a lone CR or LF inside it is the script's business (use raw to
 * send one on purpose).
 */
static int
cts_body_append(struct dstr *body, const char *p, size_t len)
{
    if (len > 0 && p[0] == '.' && dstr_append_char(body, '.') < 0)
        return -1;
    if (dstr_append(body, p, len) < 0)
        return -1;
    return dstr_append(body, "\r\n", 2);
}

/*
 * cts_heredoc - lines after *i up to a line that is WORD, as a body.
 * Expands variables unless the word was quoted.
 */
static int
cts_heredoc(struct cts *ps, struct cts_src *src, size_t *i,
            const char *spec, struct dstr *body, int skip)
{
    size_t  open = *i + 1, k;
    char    word[64];
    size_t  wlen = 0;
    int     quote = 0, r = 0;
    struct dstr *x;

    if (*spec == '\'' || *spec == '"')
        quote = *spec++;
    while ((isalnum((unsigned char) spec[wlen]) || spec[wlen] == '_'
            || spec[wlen] == '-') && wlen < sizeof(word) - 1)
        wlen++;
    if (wlen == 0 || (quote && spec[wlen] != quote)
        || spec[wlen + (quote != 0)] != '\0')
        return cts_error(ps, src, open, "<<WORD: use a word such as "
                         "<<EOF, or <<'EOF' for no variable expansion");
    memcpy(word, spec, wlen);
    word[wlen] = '\0';
    x = dstr_new(256, CLI_TEST_LINE_MAX);
    for (k = *i + 1; k < src->nlines; k++) {
        if (cts_is(src->lines[k], word))
            break;
        if (skip)
            continue;
        if (quote == 0) {
            if ((r = cts_expand(ps, src, k + 1, src->lines[k].p,
                                src->lines[k].len, x)) < 0)
                break;
            r = cts_body_append(body, x->data, x->len);
        } else {
            r = cts_body_append(body, src->lines[k].p, src->lines[k].len);
        }
        if (r < 0) {
            r = cts_error(ps, src, k + 1, "message is larger than %d bytes",
                          CLI_TEST_FILE_MAX);
            break;
        }
    }
    dstr_free(x);
    if (r < 0)
        return -1;
    if (k >= src->nlines)
        return cts_error(ps, src, open, "no line \"%s\" ends this text",
                         word);
    ps->work += k - *i;
    *i = k;
    return 0;
}

/* cts_body_file - a file as a message body, dot-stuffed */
static int
cts_body_file(struct cts *ps, const struct cts_src *src, size_t lineno,
              const char *path, struct dstr *body)
{
    struct dstr *raw = dstr_new(4096, CLI_TEST_FILE_MAX);
    struct dstr *why = dstr_new(64, 1024);
    char   *full = cts_resolve(src->name, path);
    const char *p, *end, *nl;
    size_t  len;
    int     r = 0;

    if (cts_load(ps, full, raw, why) < 0) {
        r = cts_error(ps, src, lineno, "%s: %s", full, why->data);
    } else {
        p = raw->data;
        end = p + raw->len;
        while (p < end && r == 0) {
            nl = memchr(p, '\n', (size_t) (end - p));
            len = nl ? (size_t) (nl - p) : (size_t) (end - p);
            if (len > 0 && p[len - 1] == '\r')
                len--;
            if (cts_body_append(body, p, len) < 0)
                r = cts_error(ps, src, lineno, "%s: message is larger than "
                              "%d bytes", full, CLI_TEST_FILE_MAX);
            p = nl ? nl + 1 : end;
        }
    }
    free(full);
    dstr_free(raw);
    dstr_free(why);
    return r;
}

/* cts_code - "250", "2xx", "25x": three digits or x, first 2 to 5 */
static int
cts_code(const char *p, size_t len)
{
    size_t  i;

    if (len != 3 || !(p[0] >= '2' && p[0] <= '5'))
        return 0;
    for (i = 1; i < 3; i++)
        if (!isdigit((unsigned char) p[i]) && p[i] != 'x' && p[i] != 'X')
            return 0;
    return 1;
}

/* cts_enh - "5.7.1" (class 2, 4 or 5; subject and detail 1-3 digits) */
static int
cts_enh(const char *p)
{
    int     part, n;

    if (!(p[0] == '2' || p[0] == '4' || p[0] == '5') || p[1] != '.')
        return 0;
    p += 2;
    for (part = 0; part < 2; part++) {
        for (n = 0; isdigit((unsigned char) p[n]); n++)
            ;
        if (n < 1 || n > 3)
            return 0;
        p += n;
        if (part == 0 && *p++ != '.')
            return 0;
    }
    return *p == '\0';
}

/*
 * cts_regex - /RE/ or !/RE/ with flag i at *pp. A backslash keeps the
 * next character, so "\/" is a slash inside the expression.
 */
static int
cts_regex(struct cts *ps, const struct cts_src *src, size_t lineno,
          const char **pp, struct cli_test_expect *ex)
{
    const char *p = *pp, *start;
    uint32_t flags = PCRE2_MULTILINE;
    int     errcode;
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[256];
    size_t  len;

    if (*p == '!') {
        ex->negate = 1;
        p++;
    }
    start = ++p;                        /* past the '/' */
    while (*p != '\0' && *p != '/') {
        if (*p == '\\' && p[1] != '\0')
            p++;
        p++;
    }
    if (*p != '/')
        return cts_error(ps, src, lineno, "expect: regular expression "
                         "without closing \"/\"");
    len = (size_t) (p - start);
    for (p++; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
        if (*p == 'i')
            flags |= PCRE2_CASELESS;
        else
            return cts_error(ps, src, lineno, "expect: unknown regular "
                             "expression flag \"%c\" (only i)", *p);
    }
    ex->re = pcre2_compile((PCRE2_SPTR) start, len, flags, &errcode,
                           &erroff, NULL);
    if (ex->re == NULL) {
        (void) pcre2_get_error_message(errcode, msg, sizeof(msg));
        return cts_error(ps, src, lineno, "expect: bad regular expression "
                         "/%.*s/: %s at offset %zu", (int) len, start,
                         (const char *) msg, (size_t) erroff);
    }
    ex->re_text = xstrndup(*pp, (size_t) (p - *pp));
    *pp = p;
    return 0;
}

/* cts_expect - expect CODE[|CODE...] [ENH] [/RE/ | !/RE/] [within TIME] */
static int
cts_expect(struct cts *ps, const struct cts_src *src, size_t lineno,
           const char *rest, struct cli_test_step *st)
{
    struct cli_test_expect *ex = &st->expect;
    struct dstr *tok = dstr_new(32, CLI_TEST_LINE_MAX);
    const char *p = rest, *q;
    int     r = 0;

    /* the codes */
    while (*p == ' ' || *p == '\t')
        p++;
    for (;;) {
        for (q = p; *q != '\0' && *q != '|' && *q != ' ' && *q != '\t'; q++)
            ;
        if (!cts_code(p, (size_t) (q - p))) {
            r = cts_error(ps, src, lineno, "expect: \"%.*s\" is not a reply "
                          "code (use three digits such as 250, or 2xx, "
                          "25x; alternatives as 250|251)",
                          (int) (q - p), p);
            goto out;
        }
        if (ex->ncodes == CLI_TEST_CODES_MAX) {
            r = cts_error(ps, src, lineno, "expect: more than %d codes",
                          CLI_TEST_CODES_MAX);
            goto out;
        }
        memcpy(ex->codes[ex->ncodes], p, 3);
        ex->codes[ex->ncodes][1] = (char) tolower((unsigned char) p[1]);
        ex->codes[ex->ncodes][2] = (char) tolower((unsigned char) p[2]);
        ex->codes[ex->ncodes++][3] = '\0';
        p = q;
        if (*p != '|')
            break;
        p++;
    }
    /* the rest: an enhanced code, an expression, "within TIME" */
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (*p == '/' || (p[0] == '!' && p[1] == '/')) {
            if (ex->re != NULL) {
                r = cts_error(ps, src, lineno, "expect: only one regular "
                              "expression");
                goto out;
            }
            if ((r = cts_regex(ps, src, lineno, &p, ex)) < 0)
                goto out;
            continue;
        }
        if ((r = cts_token(ps, src, lineno, &p, tok)) < 0)
            goto out;
        if (strcmp(tok->data, "within") == 0) {
            if ((r = cts_token(ps, src, lineno, &p, tok)) <= 0) {
                r = cts_error(ps, src, lineno, "expect: within needs a time");
                goto out;
            }
            if ((r = cts_time(ps, src, lineno, "within", tok->data,
                              CLI_TEST_WAIT_MAX_MS, &st->timeout_ms)) < 0)
                goto out;
            continue;
        }
        if (cts_enh(tok->data) && ex->enh[0] == '\0' && ex->re == NULL) {
            (void) str_copy(ex->enh, sizeof(ex->enh), tok->data);
            continue;
        }
        r = cts_error(ps, src, lineno, "expect: unexpected \"%s\" (use: "
                      "expect CODE [X.Y.Z] [/REGEX/] [within TIME])",
                      tok->data);
        goto out;
    }
    r = 0;
out:
    dstr_free(tok);
    return r < 0 ? -1 : 0;
}

/* cts_xclient_attr - the canonical attribute name, or NULL */
static const char *
cts_xclient_attr(const char *name, size_t len)
{
    const char *const *a;

    for (a = cts_xclient_attrs; *a != NULL; a++)
        if (strlen(*a) == len && strncasecmp(*a, name, len) == 0)
            return *a;
    return NULL;
}

/*
 * cts_xclient - xclient ATTR=VALUE...: build "XCLIENT A=xtext ..."
 * Values are checked where the protocol says what they are (ADDR,
 * PORT, PROTO), so a typo is a script error, not a confusing 501.
 */
static int
cts_xclient(struct cts *ps, const struct cts_src *src, size_t lineno,
            const char *rest, struct cli_test_step *st)
{
    struct dstr *tok = dstr_new(64, CLI_TEST_LINE_MAX);
    struct dstr *cmd = dstr_new(64, CLI_TEST_LINE_MAX);
    struct dstr *names = dstr_new(64, CLI_TEST_LINE_MAX);
    const char *p = rest, *eq, *attr, *val;
    struct netaddr na;
    long long port;
    int     r, n = 0;

    (void) dstr_append_str(cmd, "XCLIENT");
    while ((r = cts_token(ps, src, lineno, &p, tok)) > 0) {
        if ((eq = strchr(tok->data, '=')) == NULL
            || (attr = cts_xclient_attr(tok->data,
                                        (size_t) (eq - tok->data))) == NULL) {
            r = cts_error(ps, src, lineno, "xclient: \"%s\": use ATTR=VALUE "
                          "with ATTR one of NAME REVERSE_NAME ADDR PORT "
                          "PROTO HELO LOGIN DESTADDR DESTPORT", tok->data);
            break;
        }
        val = eq + 1;
        if (strcmp(val, "[UNAVAILABLE]") != 0
            && strcmp(val, "[TEMPUNAVAIL]") != 0) {
            if ((strcmp(attr, "ADDR") == 0 || strcmp(attr, "DESTADDR") == 0)
                && netaddr_parse(&na, val) < 0) {
                r = cts_error(ps, src, lineno, "xclient: %s=%s: not an IPv4 "
                              "or IPv6 address", attr, val);
                break;
            }
            if ((strcmp(attr, "PORT") == 0 || strcmp(attr, "DESTPORT") == 0)
                && (units_parse_int(val, &port) < 0 || port < 0
                    || port > 65535)) {
                r = cts_error(ps, src, lineno, "xclient: %s=%s: not a port "
                              "number (0-65535)", attr, val);
                break;
            }
            if (strcmp(attr, "PROTO") == 0 && strcasecmp(val, "SMTP") != 0
                && strcasecmp(val, "ESMTP") != 0) {
                r = cts_error(ps, src, lineno, "xclient: PROTO=%s: use SMTP "
                              "or ESMTP", val);
                break;
            }
        }
        (void) dstr_appendf(cmd, " %s=", attr);
        (void) dstr_appendf(names, "%s%s", n++ ? " " : "", attr);
        /* IPv6 needs its tag; people write the address plainly */
        if ((strcmp(attr, "ADDR") == 0 || strcmp(attr, "DESTADDR") == 0)
            && strchr(val, ':') != NULL && strncasecmp(val, "IPv6:", 5) != 0)
            (void) dstr_append_str(cmd, "IPv6:");
        if (xtext_encode(cmd, val, strlen(val)) < 0) {
            r = cts_error(ps, src, lineno, "xclient: command is too long");
            break;
        }
    }
    if (r == 0 && n == 0)
        r = cts_error(ps, src, lineno, "xclient: no attributes (e.g. "
                      "xclient ADDR=192.0.2.1 NAME=client.example)");
    if (r == 0 && cmd->len + 2 > CLI_TEST_SMTP_LINE_MAX)
        r = cts_error(ps, src, lineno, "xclient: command is longer than "
                      "%d bytes; split it in two xclient statements",
                      CLI_TEST_SMTP_LINE_MAX);
    if (r == 0) {
        (void) dstr_append(cmd, "\r\n", 2);
        st->len = cmd->len;
        st->data = dstr_steal(cmd);
        cmd = NULL;
        st->xattrs = dstr_steal(names);
        names = NULL;
    }
    dstr_free(tok);
    dstr_free(cmd);
    dstr_free(names);
    return r < 0 ? -1 : 0;
}

/* cts_smtp_line - one command line with CRLF, checked for length */
static int
cts_smtp_line(struct cts *ps, const struct cts_src *src, size_t lineno,
              struct dstr *out, const char *p, size_t len)
{
    if (len + 2 > CLI_TEST_SMTP_LINE_MAX)
        return cts_error(ps, src, lineno, "line is longer than SMTP allows "
                         "(%d bytes with CRLF); use raw to send it anyway",
                         CLI_TEST_SMTP_LINE_MAX);
    if (dstr_append(out, p, len) < 0 || dstr_append(out, "\r\n", 2) < 0)
        return cts_error(ps, src, lineno, "too much data in one send");
    return 0;
}

/* cts_pipeline - the lines up to "end", sent in one write */
static int
cts_pipeline(struct cts *ps, struct cts_src *src, size_t *i, int skip)
{
    size_t  open = *i + 1, k, n = 0;
    struct dstr *x = dstr_new(256, CLI_TEST_LINE_MAX);
    struct dstr *all = dstr_new(256, CLI_TEST_FILE_MAX);
    struct cli_test_step *st;
    struct cts_line l;
    int     r = 0;

    for (k = *i + 1; k < src->nlines && r == 0; k++) {
        l = cts_trim(src->lines[k]);
        ps->work++;
        if (cts_is(l, "end"))
            break;
        if (l.len == 0 || l.p[0] == '#' || skip)
            continue;
        if ((r = cts_expand(ps, src, k + 1, l.p, l.len, x)) == 0)
            r = cts_smtp_line(ps, src, k + 1, all, x->data, x->len);
        n++;
    }
    if (r == 0 && k >= src->nlines)
        r = cts_error(ps, src, open, "pipeline without end");
    if (r == 0 && n == 0 && !skip)
        r = cts_error(ps, src, open, "empty pipeline");
    if (r == 0 && !skip) {
        (void) dstr_set_str(x, "pipeline");
        (void) dstr_appendf(x, " (%zu lines)", n);
        if ((st = cts_step(ps, src, open, CLI_TEST_OP_SEND, x->data)) == NULL)
            r = -1;
        else {
            st->len = all->len;
            st->data = dstr_steal(all);
            all = NULL;
        }
    }
    *i = k;
    dstr_free(x);
    dstr_free(all);
    return r;
}

static int cts_parse_src(struct cts *, const char *, struct dstr *,
                         const struct cts_src *, size_t);

/* cts_include - include FILE, relative to the including file */
static int
cts_include(struct cts *ps, const struct cts_src *src, size_t lineno,
            const char *rest)
{
    struct dstr *tok = dstr_new(64, CLI_TEST_LINE_MAX);
    struct dstr *buf = dstr_new(4096, CLI_TEST_FILE_MAX);
    struct dstr *why = dstr_new(64, 1024);
    char   *full = NULL;
    const char *p = rest;
    int     r;

    if ((r = cts_token(ps, src, lineno, &p, tok)) <= 0) {
        r = cts_error(ps, src, lineno, "include needs a file name");
        goto out;
    }
    if (cts_token(ps, src, lineno, &p, tok) != 0) {
        r = cts_error(ps, src, lineno, "include: one file name only");
        goto out;
    }
    p = rest;
    (void) cts_token(ps, src, lineno, &p, tok);
    full = cts_resolve(src->name, tok->data);
    if (ps->depth >= CLI_TEST_INCLUDE_DEPTH) {
        r = cts_error(ps, src, lineno, "include %s: more than %d nested "
                      "includes", tok->data, CLI_TEST_INCLUDE_DEPTH);
        goto out;
    }
    if (cts_load(ps, full, buf, why) < 0) {
        r = cts_error(ps, src, lineno, "include %s: %s", full, why->data);
        goto out;
    }
    r = cts_parse_src(ps, full, buf, src, lineno);
out:
    free(full);
    dstr_free(tok);
    dstr_free(buf);
    dstr_free(why);
    return r < 0 ? -1 : 0;
}

/* cts_repeat - repeat N [as VAR] ... end, unrolled */
static int
cts_repeat(struct cts *ps, struct cts_src *src, size_t *i, const char *rest,
           int skip)
{
    struct dstr *tok = dstr_new(32, CLI_TEST_LINE_MAX);
    struct dstr *var = dstr_new(32, 64);
    const char *p = rest;
    size_t  open = *i + 1, start = *i + 1, k;
    long long n = 1, iter;
    enum cts_stop how;
    char    num[32];
    int     r = 0;

    if (!skip) {
        if (cts_token(ps, src, open, &p, tok) <= 0
            || units_parse_int(tok->data, &n) < 0
            || n < 1 || n > CLI_TEST_REPEAT_MAX) {
            r = cts_error(ps, src, open, "repeat needs a count from 1 to %d",
                          CLI_TEST_REPEAT_MAX);
            goto out;
        }
        if ((r = cts_token(ps, src, open, &p, tok)) > 0) {
            if (strcmp(tok->data, "as") != 0
                || cts_token(ps, src, open, &p, tok) <= 0
                || !cts_name_char((unsigned char) tok->data[0], 1)
                || dstr_set_str(var, tok->data) < 0
                || cts_token(ps, src, open, &p, tok) != 0) {
                r = cts_error(ps, src, open, "use: repeat N [as NAME]");
                goto out;
            }
            for (k = 0; k < var->len; k++)
                if (!cts_name_char((unsigned char) var->data[k], 0)) {
                    r = cts_error(ps, src, open, "repeat: \"%s\" is not a "
                                  "variable name", var->data);
                    goto out;
                }
        } else if (r < 0) {
            goto out;
        }
        r = 0;
    }
    for (iter = 1; iter <= n; iter++) {
        if (var->len > 0) {
            (void) snprintf(num, sizeof(num), "%lld", iter);
            if ((r = cts_var_set(ps, src, open, var->data, num)) < 0)
                goto out;
        }
        k = start;
        if ((r = cts_parse_block(ps, src, &k, 1, skip, &how)) < 0)
            goto out;
        if (how == CTS_STOP_EOF) {
            r = cts_error(ps, src, open, "repeat without end");
            goto out;
        }
        if (how == CTS_STOP_ELSE) {
            r = cts_error(ps, src, k + 1, "else without if");
            goto out;
        }
    }
    *i = k;
out:
    dstr_free(tok);
    dstr_free(var);
    return r < 0 ? -1 : 0;
}

/* cts_condition - "A == B", "A != B", or "A" (true when not empty) */
static int
cts_condition(struct cts *ps, const struct cts_src *src, size_t lineno,
              const char *rest, int *truth)
{
    struct dstr *tok[4];
    const char *p = rest;
    int     n = 0, r = 0, i;

    for (i = 0; i < 4; i++)
        tok[i] = dstr_new(32, CLI_TEST_LINE_MAX);
    while (n < 4 && (r = cts_token(ps, src, lineno, &p, tok[n])) > 0)
        n++;
    if (r >= 0) {
        if (n == 1) {
            *truth = tok[0]->len > 0;
            r = 0;
        } else if (n == 3 && (strcmp(tok[1]->data, "==") == 0
                              || strcmp(tok[1]->data, "!=") == 0)) {
            *truth = (strcmp(tok[0]->data, tok[2]->data) == 0)
                == (tok[1]->data[0] == '=');
            r = 0;
        } else {
            r = cts_error(ps, src, lineno, "use: if $NAME == VALUE, "
                          "if $NAME != VALUE, or if $NAME");
        }
    }
    for (i = 0; i < 4; i++)
        dstr_free(tok[i]);
    return r;
}

/* cts_if - if COND ... [else ...] end */
static int
cts_if(struct cts *ps, struct cts_src *src, size_t *i, const char *rest,
       int skip)
{
    size_t  open = *i + 1, k = *i + 1;
    enum cts_stop how;
    int     truth = 0;

    if (!skip && cts_condition(ps, src, open, rest, &truth) < 0)
        return -1;
    if (cts_parse_block(ps, src, &k, 1, skip || !truth, &how) < 0)
        return -1;
    if (how == CTS_STOP_ELSE) {
        k++;
        if (cts_parse_block(ps, src, &k, 1, skip || truth, &how) < 0)
            return -1;
        if (how == CTS_STOP_ELSE)
            return cts_error(ps, src, k + 1, "second else in one if");
    }
    if (how == CTS_STOP_EOF)
        return cts_error(ps, src, open, "if without end");
    *i = k;
    return 0;
}

/* cts_no_args - a statement that takes nothing more */
static int
cts_no_args(struct cts *ps, const struct cts_src *src, size_t lineno,
            const char *kw, const char *rest)
{
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest != '\0')
        return cts_error(ps, src, lineno, "%s takes no arguments", kw);
    return 0;
}

/* cts_one_time - "KW TIME" into *ms */
static int
cts_one_time(struct cts *ps, const struct cts_src *src, size_t lineno,
             const char *kw, const char *rest, long long max, unsigned *ms)
{
    struct dstr *tok = dstr_new(16, CLI_TEST_LINE_MAX);
    const char *p = rest;
    int     r;

    if (cts_token(ps, src, lineno, &p, tok) <= 0
        || cts_token(ps, src, lineno, &p, tok) != 0)
        r = cts_error(ps, src, lineno, "use: %s TIME (e.g. %s 10s)", kw, kw);
    else {
        p = rest;
        (void) cts_token(ps, src, lineno, &p, tok);
        r = cts_time(ps, src, lineno, kw, tok->data, max, ms);
    }
    dstr_free(tok);
    return r;
}

/* cts_connect - connect [HOST:PORT] [tls] [as NAME] */
static int
cts_connect(struct cts *ps, const struct cts_src *src, size_t lineno,
            const char *rest, struct cli_test_step *st)
{
    struct dstr *tok = dstr_new(32, CLI_TEST_LINE_MAX);
    const char *p = rest;
    int     r;

    while ((r = cts_token(ps, src, lineno, &p, tok)) > 0) {
        if (strcmp(tok->data, "tls") == 0 && !st->tls) {
            st->tls = 1;
        } else if (strcmp(tok->data, "as") == 0 && st->name == NULL) {
            if (cts_token(ps, src, lineno, &p, tok) <= 0
                || !cts_name_char((unsigned char) tok->data[0], 1)) {
                r = cts_error(ps, src, lineno, "connect: \"as\" needs a "
                              "session name");
                break;
            }
            st->name = xstrdup(tok->data);
        } else if (st->data == NULL && !st->tls && st->name == NULL
                   && strchr(tok->data, ':') != NULL) {
            st->data = xstrdup(tok->data);
            st->len = tok->len;
        } else {
            r = cts_error(ps, src, lineno, "connect: unexpected \"%s\" (use: "
                          "connect [HOST:PORT] [tls] [as NAME])", tok->data);
            break;
        }
    }
    dstr_free(tok);
    return r;
}

/*
 * cts_set - set NAME VALUE, or default NAME VALUE (only if NAME is not
 * defined yet, so -D wins): the value is the rest of the line.
 */
static int
cts_set(struct cts *ps, const struct cts_src *src, size_t lineno,
        const char *rest, int only_default)
{
    const char *p = rest;
    char    name[64];
    size_t  n = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    while (cts_name_char((unsigned char) p[n], n == 0) && n < sizeof(name) - 1)
        n++;
    if (n == 0 || (p[n] != '\0' && p[n] != ' ' && p[n] != '\t'))
        return cts_error(ps, src, lineno, "use: %s NAME VALUE (NAME: "
                         "letters, digits, _)", only_default ? "default" :
                         "set");
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    while (*p == ' ' || *p == '\t')
        p++;
    if (only_default && cts_var_find(ps, name, n) != NULL)
        return 0;
    return cts_var_set(ps, src, lineno, name, p);
}

/* cts_data - data|body <<WORD, or data|body file PATH */
static int
cts_data(struct cts *ps, struct cts_src *src, size_t *i, const char *kw,
         const char *rest, int skip)
{
    struct dstr *body = dstr_new(1024, CLI_TEST_FILE_MAX);
    struct dstr *tok = dstr_new(64, CLI_TEST_LINE_MAX);
    struct cli_test_step *st;
    const char *p = rest;
    size_t  open = *i + 1;
    int     r;

    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '<' && p[1] == '<') {
        r = cts_heredoc(ps, src, i, p + 2, body, skip);
    } else if (skip) {
        r = 0;
    } else if (cts_token(ps, src, open, &p, tok) > 0
               && strcmp(tok->data, "file") == 0
               && cts_token(ps, src, open, &p, tok) > 0
               && *p == '\0') {
        r = cts_body_file(ps, src, open, tok->data, body);
    } else {
        r = cts_error(ps, src, open, "use: %s <<EOF (then the message and "
                      "a line EOF) or %s file PATH", kw, kw);
    }
    if (r == 0 && !skip) {
        (void) dstr_appendf(body, ".\r\n");
        while (*rest == ' ' || *rest == '\t')
            rest++;
        (void) dstr_set_str(tok, kw);
        (void) dstr_appendf(tok, " %.*s", (int) (strlen(rest) > 200 ? 200 :
                                                 strlen(rest)), rest);
        st = NULL;
        if (ps->bytes + body->len <= CLI_TEST_TOTAL_MAX)
            st = cts_step(ps, src, open, strcmp(kw, "data") == 0 ?
                          CLI_TEST_OP_DATA : CLI_TEST_OP_BODY, tok->data);
        if ((ps->bytes += body->len) > CLI_TEST_TOTAL_MAX)
            r = cts_error(ps, src, open, "the messages of this script add up "
                          "to more than %d bytes", CLI_TEST_TOTAL_MAX);
        else if (st == NULL) {
            r = -1;
        } else {
            st->len = body->len;
            st->data = dstr_steal(body);
            body = NULL;
        }
    }
    dstr_free(body);
    dstr_free(tok);
    return r;
}

/*
 * cts_statement - one statement that is not a block opener. x holds
 * the expanded rest of the line, line the expanded whole statement.
 */
static int
cts_statement(struct cts *ps, const struct cts_src *src, size_t lineno,
              const char *kw, const char *rest, const char *line)
{
    struct cli_test_step *st;
    struct dstr *tok;
    const char *p;
    unsigned ms;
    int     r;

    if (strcmp(kw, "set") == 0 || strcmp(kw, "default") == 0)
        return cts_set(ps, src, lineno, rest, kw[0] == 'd');
    if (strcmp(kw, "include") == 0)
        return cts_include(ps, src, lineno, rest);
    if (strcmp(kw, "timeout") == 0)
        return cts_one_time(ps, src, lineno, kw, rest, CLI_TEST_WAIT_MAX_MS,
                            &ps->timeout_ms);
    if (strcmp(kw, "time-limit") == 0)
        return cts_one_time(ps, src, lineno, kw, rest, CLI_TEST_LIMIT_MAX_MS,
                            &ps->script->time_limit_ms);
    if (strcmp(kw, "sleep") == 0) {
        if (cts_one_time(ps, src, lineno, kw, rest, CLI_TEST_WAIT_MAX_MS,
                         &ms) < 0)
            return -1;
        if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_SLEEP, line)) == NULL)
            return -1;
        st->timeout_ms = ms;
        return 0;
    }
    if (strcmp(kw, "connect") == 0) {
        if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_CONNECT, line)) == NULL)
            return -1;
        return cts_connect(ps, src, lineno, rest, st);
    }
    if (strcmp(kw, "use") == 0) {
        tok = dstr_new(16, CLI_TEST_LINE_MAX);
        p = rest;
        if (cts_token(ps, src, lineno, &p, tok) <= 0
            || cts_token(ps, src, lineno, &p, tok) != 0)
            r = cts_error(ps, src, lineno, "use: name one session");
        else if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_USE, line))
                 == NULL)
            r = -1;
        else {
            p = rest;
            (void) cts_token(ps, src, lineno, &p, tok);
            st->name = xstrdup(tok->data);
            r = 0;
        }
        dstr_free(tok);
        return r;
    }
    if (strcmp(kw, "close") == 0 || strcmp(kw, "starttls") == 0) {
        if (cts_no_args(ps, src, lineno, kw, rest) < 0)
            return -1;
        return cts_step(ps, src, lineno, kw[0] == 'c' ? CLI_TEST_OP_CLOSE :
                        CLI_TEST_OP_STARTTLS, line) ? 0 : -1;
    }
    if (strcmp(kw, "send") == 0) {
        struct dstr *out = dstr_new(64, CLI_TEST_SMTP_LINE_MAX + 2);

        p = rest;
        if (*p == ' ' || *p == '\t')
            p++;                        /* one separator; the rest is sent */
        r = cts_smtp_line(ps, src, lineno, out, p, strlen(p));
        if (r == 0 && (st = cts_step(ps, src, lineno, CLI_TEST_OP_SEND, line))
            == NULL)
            r = -1;
        if (r == 0) {
            st->len = out->len;
            st->data = dstr_steal(out);
            out = NULL;
        }
        dstr_free(out);
        return r;
    }
    if (strcmp(kw, "raw") == 0) {
        struct dstr *all = dstr_new(64, CLI_TEST_LINE_MAX);

        tok = dstr_new(64, CLI_TEST_LINE_MAX);
        p = rest;
        while ((r = cts_token(ps, src, lineno, &p, tok)) > 0)
            (void) dstr_append(all, tok->data, tok->len);
        if (r == 0 && all->len == 0)
            r = cts_error(ps, src, lineno, "raw needs text, e.g. "
                          "raw \"MAIL FROM:<>\\r\\n\"");
        if (r == 0 && (st = cts_step(ps, src, lineno, CLI_TEST_OP_SEND, line))
            == NULL)
            r = -1;
        if (r == 0) {
            st->len = all->len;
            st->data = dstr_steal(all);
            all = NULL;
        }
        dstr_free(all);
        dstr_free(tok);
        return r;
    }
    if (strcmp(kw, "expect") == 0) {
        if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_EXPECT, line)) == NULL)
            return -1;
        return cts_expect(ps, src, lineno, rest, st);
    }
    if (strcmp(kw, "expect-close") == 0) {
        if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_EXPECT_CLOSE, line))
            == NULL)
            return -1;
        tok = dstr_new(16, CLI_TEST_LINE_MAX);
        p = rest;
        r = cts_token(ps, src, lineno, &p, tok);
        if (r > 0 && strcmp(tok->data, "within") == 0)
            r = cts_one_time(ps, src, lineno, "within", p,
                             CLI_TEST_WAIT_MAX_MS, &st->timeout_ms);
        else if (r != 0)
            r = cts_error(ps, src, lineno, "use: expect-close [within TIME]");
        dstr_free(tok);
        return r;
    }
    if (strcmp(kw, "xclient") == 0) {
        if ((st = cts_step(ps, src, lineno, CLI_TEST_OP_XCLIENT, line)) == NULL)
            return -1;
        return cts_xclient(ps, src, lineno, rest, st);
    }
    return cts_error(ps, src, lineno, "unknown statement \"%s\" (see "
                     "doppel-test(1) for the list)", kw);
}

/*
 * cts_parse_block - statements from *i until EOF, or (in a block) the
 * "end" or "else" that closes it; *i is left on that line. With skip,
 * nothing is expanded or emitted, but nested blocks and here-documents
 * are still followed so that their "end" lines are not mistaken for
 * this block's.
 */
static int
cts_parse_block(struct cts *ps, struct cts_src *src, size_t *i, int in_block,
                int skip, enum cts_stop *how)
{
    struct dstr *x = dstr_new(256, CLI_TEST_LINE_MAX);
    struct dstr *whole = dstr_new(256, CLI_TEST_LINE_MAX);
    struct cts_line l;
    char    kw[32];
    const char *rest;
    int     r = 0;

    *how = CTS_STOP_EOF;
    for (; *i < src->nlines; (*i)++) {
        if (++ps->work > CLI_TEST_WORK_MAX) {
            r = cts_error(ps, src, *i + 1, "script expands to more than %d "
                          "lines (check the repeat counts)", CLI_TEST_WORK_MAX);
            break;
        }
        l = cts_trim(src->lines[*i]);
        if (l.len == 0 || l.p[0] == '#')
            continue;
        cts_keyword(l, kw, sizeof(kw), &rest);
        if (strcmp(kw, "end") == 0 || strcmp(kw, "else") == 0) {
            if (!in_block) {
                r = cts_error(ps, src, *i + 1, "%s without %s", kw,
                              kw[0] == 'e' && kw[1] == 'n' ?
                              "pipeline, repeat or if" : "if");
                break;
            }
            if (!skip && rest != l.p + l.len) {
                r = cts_error(ps, src, *i + 1, "%s takes no arguments", kw);
                break;
            }
            *how = kw[1] == 'n' ? CTS_STOP_END : CTS_STOP_ELSE;
            break;
        }
        /* the rest of the line, expanded (not when skipping) */
        if (skip)
            (void) dstr_set(x, rest, (size_t) (l.p + l.len - rest));
        else if ((r = cts_expand(ps, src, *i + 1, rest,
                                 (size_t) (l.p + l.len - rest), x)) < 0)
            break;
        (void) dstr_set_str(whole, kw);
        (void) dstr_append(whole, x->data, x->len);
        if (strcmp(kw, "pipeline") == 0) {
            if (!skip && (r = cts_no_args(ps, src, *i + 1, kw, x->data)) < 0)
                break;
            if ((r = cts_pipeline(ps, src, i, skip)) < 0)
                break;
        } else if (strcmp(kw, "repeat") == 0) {
            if ((r = cts_repeat(ps, src, i, x->data, skip)) < 0)
                break;
        } else if (strcmp(kw, "if") == 0) {
            if ((r = cts_if(ps, src, i, x->data, skip)) < 0)
                break;
        } else if (strcmp(kw, "data") == 0 || strcmp(kw, "body") == 0) {
            if ((r = cts_data(ps, src, i, kw, x->data, skip)) < 0)
                break;
        } else if (!skip) {
            if ((r = cts_statement(ps, src, *i + 1, kw, x->data,
                                   whole->data)) < 0)
                break;
        }
    }
    dstr_free(x);
    dstr_free(whole);
    return r;
}

/*
 * cts_parse_src - parse one file's text; from/line name the include
 * statement (NULL at the top). Loops are found by name on the stack.
 */
static int
cts_parse_src(struct cts *ps, const char *name, struct dstr *buf,
              const struct cts_src *from, size_t fromline)
{
    struct cts_src src;
    char   *canon;
    size_t  i = 0;
    enum cts_stop how;
    int     d, r;

    memset(&src, 0, sizeof(src));
    src.name = cts_intern(ps->script, name);
    src.buf = buf;
    if (ps->opts->load != NULL || (canon = realpath(name, NULL)) == NULL)
        canon = xstrdup(name);
    for (d = 0; d < ps->depth; d++) {
        if (strcmp(ps->stack[d], canon) == 0) {
            struct dstr *chain = dstr_new(64, 2048);

            for (; d < ps->depth; d++)
                (void) dstr_appendf(chain, "%s -> ", ps->stack[d]);
            (void) dstr_append_str(chain, canon);
            r = cts_error(ps, from, fromline, "include loop: %s", chain->data);
            dstr_free(chain);
            free(canon);
            return r;
        }
    }
    ps->stack[ps->depth++] = canon;
    r = cts_split(ps, &src);
    if (r == 0)
        r = cts_parse_block(ps, &src, &i, 0, 0, &how);
    ps->depth--;
    free(canon);
    free(src.lines);
    return r;
}

/* cts_begin - a parser state with the predefined variables */
static int
cts_begin(struct cts *ps, const char *name,
          const struct cli_test_parse_opts *opts, struct dstr *err)
{
    const char *const *d;
    const char *eq;
    char    vname[64];
    size_t  n;

    memset(ps, 0, sizeof(*ps));
    ps->opts = opts;
    ps->err = err;
    ps->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
        CLI_TEST_DEFAULT_TIMEOUT_MS;
    ps->script = xcalloc(1, sizeof(*ps->script));
    ps->script->name = xstrdup(name);
    ps->script->time_limit_ms = opts->time_limit_ms ? opts->time_limit_ms :
        CLI_TEST_DEFAULT_LIMIT_MS;
    for (d = opts->defines; d != NULL && *d != NULL; d++) {
        if ((eq = strchr(*d, '=')) == NULL
            || (n = (size_t) (eq - *d)) == 0 || n >= sizeof(vname)) {
            return cts_error(ps, NULL, 0, "-D %s: use NAME=VALUE", *d);
        }
        memcpy(vname, *d, n);
        vname[n] = '\0';
        for (size_t k = 0; k < n; k++)
            if (!cts_name_char((unsigned char) vname[k], k == 0))
                return cts_error(ps, NULL, 0, "-D %s: \"%s\" is not a "
                                 "variable name", *d, vname);
        if (cts_var_set(ps, NULL, 0, vname, eq + 1) < 0)
            return -1;
    }
    return 0;
}

/* cts_end - free the state; hand out the script or free it */
static int
cts_end(struct cts *ps, int r, struct cli_test_script **out)
{
    size_t  i;

    for (i = 0; i < ps->nvars; i++) {
        free(ps->vars[i].name);
        free(ps->vars[i].value);
    }
    if (r < 0) {
        ps->script = cli_test_script_free(ps->script);
        *out = NULL;
        return -1;
    }
    *out = ps->script;
    return 0;
}

/* cli_test_script_parse_buf - parse a script held in memory */
int
cli_test_script_parse_buf(struct cli_test_script **out, const char *name,
                          const char *buf, size_t len,
                          const struct cli_test_parse_opts *opts,
                          struct dstr *err)
{
    struct cts ps;
    struct dstr *copy;
    int     r;

    if ((r = cts_begin(&ps, name, opts, err)) == 0) {
        copy = dstr_new(len + 1, DSTR_UNLIMITED);
        (void) dstr_append(copy, buf, len);
        if (len > CLI_TEST_FILE_MAX)
            r = cts_error(&ps, NULL, 0, "%s: file is larger than %d bytes",
                          name, CLI_TEST_FILE_MAX);
        else
            r = cts_parse_src(&ps, name, copy, NULL, 0);
        dstr_free(copy);
    }
    return cts_end(&ps, r, out);
}

/* cli_test_script_parse_file - parse a script file */
int
cli_test_script_parse_file(struct cli_test_script **out, const char *path,
                           const struct cli_test_parse_opts *opts,
                           struct dstr *err)
{
    struct cts ps;
    struct dstr *buf, *why;
    int     r;

    if ((r = cts_begin(&ps, path, opts, err)) == 0) {
        buf = dstr_new(4096, CLI_TEST_FILE_MAX);
        why = dstr_new(64, 1024);
        if (cts_load(&ps, path, buf, why) < 0)
            r = cts_error(&ps, NULL, 0, "%s: %s", path, why->data);
        else
            r = cts_parse_src(&ps, path, buf, NULL, 0);
        dstr_free(buf);
        dstr_free(why);
    }
    return cts_end(&ps, r, out);
}

/* cli_test_script_free - free a script and its compiled expressions */
struct cli_test_script *
cli_test_script_free(struct cli_test_script *s)
{
    size_t  i;

    if (s == NULL)
        return NULL;
    for (i = 0; i < s->nsteps; i++) {
        free(s->steps[i].text);
        free(s->steps[i].data);
        free(s->steps[i].name);
        free(s->steps[i].xattrs);
        free(s->steps[i].expect.re_text);
        if (s->steps[i].expect.re != NULL)
            pcre2_code_free(s->steps[i].expect.re);
    }
    for (i = 0; i < s->nfiles; i++)
        free(s->files[i]);
    free(s->files);
    free(s->steps);
    free(s->name);
    free(s);
    return NULL;
}

/* cli_test_script_checks - does this step check the server (a table row) */
int
cli_test_script_checks(const struct cli_test_step *step)
{
    switch (step->op) {
    case CLI_TEST_OP_CONNECT:
    case CLI_TEST_OP_EXPECT:
    case CLI_TEST_OP_EXPECT_CLOSE:
    case CLI_TEST_OP_XCLIENT:
    case CLI_TEST_OP_STARTTLS:
    case CLI_TEST_OP_DATA:
        return 1;
    default:
        return 0;
    }
}
