/* smtpd_milter_edit - header parsing and milter changes, applied to a message; see smtpd_milter_edit.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "smtpd/smtpd_milter_edit.h"

/* edit_blank - space or tab */
static int
edit_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* smtpd_milter_mods_new - an empty list of changes */
struct smtpd_milter_mods *
smtpd_milter_mods_new(size_t body_limit)
{
    struct smtpd_milter_mods *m = xcalloc(1, sizeof(*m));

    m->body_limit = body_limit;
    return m;
}

/* smtpd_milter_mods_free - release the changes; returns NULL */
struct smtpd_milter_mods *
smtpd_milter_mods_free(struct smtpd_milter_mods *m)
{
    size_t  i;

    if (m == NULL)
        return NULL;
    for (i = 0; i < m->count; i++) {
        free(m->ops[i].name);
        free(m->ops[i].value);
    }
    free(m->ops);
    dstr_free(m->body);
    free(m->quarantine);
    free(m);
    return NULL;
}

/* smtpd_milter_mods_add - record one change; -1 past the limits */
int
smtpd_milter_mods_add(struct smtpd_milter_mods *m,
                      enum smtpd_milter_edit_op op, uint32_t index,
                      const char *name, const char *value, int leadspc)
{
    struct smtpd_milter_edit *e;
    size_t  bytes = strlen(name) + (value ? strlen(value) : 0) + 2;

    if (m->count >= SMTPD_MILTER_EDIT_OPS_MAX
        || bytes > SMTPD_MILTER_EDIT_BYTES_MAX - m->bytes)
        return -1;
    if (m->count == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 8;
        m->ops = xrealloc_array(m->ops, m->alloc, sizeof(*m->ops));
    }
    e = &m->ops[m->count++];
    e->op = op;
    e->index = index;
    e->name = xstrdup(name);
    e->value = value ? xstrdup(value) : NULL;
    e->leadspc = leadspc;
    m->bytes += bytes;
    return 0;
}

/* smtpd_milter_mods_truncate - forget the changes from the count-th on */
void
smtpd_milter_mods_truncate(struct smtpd_milter_mods *m, size_t count)
{
    while (m->count > count) {
        struct smtpd_milter_edit *e = &m->ops[--m->count];

        m->bytes -= strlen(e->name) + (e->value ? strlen(e->value) : 0) + 2;
        free(e->name);
        free(e->value);
    }
}

/* smtpd_milter_mods_changed - does the content change (headers, body)? */
int
smtpd_milter_mods_changed(const struct smtpd_milter_mods *m)
{
    size_t  i;

    if (m->body != NULL)
        return 1;
    for (i = 0; i < m->count; i++)
        if (m->ops[i].op == SMTPD_MILTER_EDIT_ADDHDR
            || m->ops[i].op == SMTPD_MILTER_EDIT_CHGHDR
            || m->ops[i].op == SMTPD_MILTER_EDIT_INSHDR)
            return 1;
    return 0;
}

/* edit_hdr_insert - put a field at position pos (count: append) */
static void
edit_hdr_insert(struct smtpd_milter_hdrs *h, size_t pos, char *name,
                char *raw, size_t raw_len, int hidden)
{
    struct smtpd_milter_hdr *hd;

    if (h->count == h->alloc) {
        h->alloc = h->alloc ? h->alloc * 2 : 16;
        h->item = xrealloc_array(h->item, h->alloc, sizeof(*h->item));
    }
    if (pos > h->count)
        pos = h->count;
    memmove(h->item + pos + 1, h->item + pos,
            (h->count - pos) * sizeof(*h->item));
    h->count++;
    hd = &h->item[pos];
    hd->name = name;
    hd->raw = raw;
    hd->raw_len = raw_len;
    hd->hidden = hidden;
}

/* edit_hdr_delete - remove the field at position pos */
static void
edit_hdr_delete(struct smtpd_milter_hdrs *h, size_t pos)
{
    free(h->item[pos].name);
    free(h->item[pos].raw);
    memmove(h->item + pos, h->item + pos + 1,
            (h->count - pos - 1) * sizeof(*h->item));
    h->count--;
}

/* smtpd_milter_edit_hdrs_free - release the fields (the struct stays) */
void
smtpd_milter_edit_hdrs_free(struct smtpd_milter_hdrs *h)
{
    while (h->count > 0)
        edit_hdr_delete(h, h->count - 1);
    free(h->item);
    memset(h, 0, sizeof(*h));
}

/*
 * edit_name_len - the length of the field name at the start of a line
 * of n bytes, if the line is a header field ("name" [blanks] ":"); 0 if
 * it is not.
 */
static size_t
edit_name_len(const char *p, size_t n)
{
    size_t  i = 0, name;

    while (i < n && (unsigned char) p[i] >= 33 && (unsigned char) p[i] <= 126
           && p[i] != ':')
        i++;
    if (i == 0)
        return 0;
    name = i;
    while (i < n && edit_blank(p[i]))
        i++;
    return i < n && p[i] == ':' ? name : 0;
}

/* edit_line_end - offset just past the line at pos; len if it has no LF */
static size_t
edit_line_end(const char *buf, size_t len, size_t pos, int *has_lf)
{
    const char *lf = memchr(buf + pos, '\n', len - pos);

    *has_lf = lf != NULL;
    return lf ? (size_t) (lf - buf) + 1 : len;
}

/* edit_line_empty - the line [pos, end) holds nothing but its CRLF/LF */
static int
edit_line_empty(const char *buf, size_t pos, size_t end)
{
    size_t  n = end - pos;

    return (n == 1 && buf[pos] == '\n')
        || (n == 2 && buf[pos] == '\r' && buf[pos + 1] == '\n');
}

/*
 * smtpd_milter_edit_parse - split buf into header fields (appended to
 * h), the separator and the body. *body_off is where the body starts.
 */
void
smtpd_milter_edit_parse(struct smtpd_milter_hdrs *h, const char *buf,
                        size_t len, int complete, size_t hidden,
                        size_t *body_off, int *separator)
{
    size_t  pos = 0, end, next, name_len, seen = 0;
    int     lf;

    *separator = 0;
    while (pos < len) {
        end = edit_line_end(buf, len, pos, &lf);
        if (!lf && !complete)
            break;                      /* the line may go on */
        if (edit_line_empty(buf, pos, end)) {
            *separator = 1;
            pos = end;
            break;
        }
        if ((name_len = edit_name_len(buf + pos, end - pos)) == 0)
            break;                      /* not a field: the body */
        /* the field goes on while lines start with a blank */
        next = end;
        while (next < len && edit_blank(buf[next])) {
            next = edit_line_end(buf, len, next, &lf);
            if (!lf && !complete)
                break;
        }
        if ((next == len && !complete) || (!lf && !complete))
            break;                      /* a continuation may follow */
        edit_hdr_insert(h, h->count, xstrndup(buf + pos, name_len),
                        xmemdup(buf + pos, next - pos), next - pos,
                        seen++ < hidden);
        pos = next;
    }
    *body_off = pos;
}

/*
 * smtpd_milter_edit_value - the value milters see: after the colon and
 * one space (unless leadspc), lines joined by LF, no final line end.
 */
void
smtpd_milter_edit_value(const struct smtpd_milter_hdr *hd, int leadspc,
                        struct dstr *out)
{
    const char *p = memchr(hd->raw, ':', hd->raw_len);
    const char *end = hd->raw + hd->raw_len;

    dstr_reset(out);
    if (p == NULL)
        return;
    p++;
    if (!leadspc && p < end && *p == ' ')
        p++;
    /* drop the final line end */
    if (end > p && end[-1] == '\n')
        end--;
    if (end > p && end[-1] == '\r')
        end--;
    for (; p < end; p++) {
        if (*p == '\r' && p + 1 < end && p[1] == '\n')
            continue;
        if (dstr_append_char(out, *p) < 0)
            return;
    }
}

/*
 * edit_field_text - "name: value" with CRLF line ends. A line break in
 * the value is followed by a blank (a tab is added when missing), empty
 * lines and a final line break are dropped, a lone CR becomes a space:
 * the field cannot end the header or start another field.
 */
static char *
edit_field_text(const char *name, const char *value, int leadspc,
                size_t *len)
{
    struct dstr *d = dstr_new(strlen(name) + strlen(value) + 8,
                              DSTR_UNLIMITED);
    const char *p;
    int     pending = 0;                /* a line break to write */

    (void) dstr_append_str(d, name);
    (void) dstr_append_str(d, leadspc ? ":" : ": ");
    for (p = value; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        if (*p == '\n') {
            pending = 1;
            continue;
        }
        if (pending) {
            (void) dstr_append_str(d, "\r\n");
            if (!edit_blank(*p))
                (void) dstr_append_char(d, '\t');
            pending = 0;
        }
        (void) dstr_append_char(d, *p == '\r' ? ' ' : *p);
    }
    (void) dstr_append_str(d, "\r\n");
    *len = d->len;
    return dstr_steal(d);
}

/* smtpd_milter_edit_header - apply one header change to the fields */
void
smtpd_milter_edit_header(struct smtpd_milter_hdrs *h,
                         const struct smtpd_milter_edit *e)
{
    size_t  i, len, n = 0;
    uint32_t index = e->index;
    char   *raw;

    switch (e->op) {
    case SMTPD_MILTER_EDIT_ADDHDR:
        raw = edit_field_text(e->name, e->value, e->leadspc, &len);
        edit_hdr_insert(h, h->count, xstrdup(e->name), raw, len, 0);
        break;
    case SMTPD_MILTER_EDIT_INSHDR:
        raw = edit_field_text(e->name, e->value, e->leadspc, &len);
        edit_hdr_insert(h, index, xstrdup(e->name), raw, len, 0);
        break;
    case SMTPD_MILTER_EDIT_CHGHDR:
        if (index == 0)
            index = 1;                  /* as Sendmail does */
        for (i = 0; i < h->count; i++) {
            if (h->item[i].hidden || strcasecmp(h->item[i].name, e->name))
                continue;
            if (++n < index)
                continue;
            if (*e->value == '\0') {
                edit_hdr_delete(h, i);
            } else {
                free(h->item[i].raw);
                free(h->item[i].name);
                h->item[i].name = xstrdup(e->name);
                h->item[i].raw = edit_field_text(e->name, e->value,
                                                 e->leadspc,
                                                 &h->item[i].raw_len);
            }
            return;
        }
        if (*e->value != '\0') {
            raw = edit_field_text(e->name, e->value, e->leadspc, &len);
            edit_hdr_insert(h, h->count, xstrdup(e->name), raw, len, 0);
        }
        break;
    default:
        break;
    }
}

/* edit_why - a reason for a failed apply; returns -1 */
static int
edit_why(struct dstr *why, const char *what, long long offset)
{
    if (why != NULL) {
        dstr_reset(why);
        (void) dstr_appendf(why, "%s at offset %lld", what, offset);
    }
    return -1;
}

/* edit_write_body - the replacement body with bare LF made CRLF */
static int
edit_write_body(const struct dstr *body, smtpd_milter_write_fn *wr,
                void *wr_arg)
{
    size_t  i, start = 0;

    for (i = 0; i < body->len; i++) {
        if (body->data[i] != '\n' || (i > 0 && body->data[i - 1] == '\r'))
            continue;
        if ((i > start && wr(wr_arg, body->data + start, i - start) < 0)
            || wr(wr_arg, "\r\n", 2) < 0)
            return -1;
        start = i + 1;
    }
    if (body->len > start
        && wr(wr_arg, body->data + start, body->len - start) < 0)
        return -1;
    return 0;
}

/*
 * smtpd_milter_edit_apply - write the message with every change: read
 * the header part, change its fields, write them, then the body.
 */
int
smtpd_milter_edit_apply(const struct smtpd_milter_mods *m, size_t hidden,
                        smtpd_milter_read_fn *rd, void *rd_arg,
                        smtpd_milter_write_fn *wr, void *wr_arg,
                        struct dstr *why)
{
    struct smtpd_milter_hdrs h = {NULL, 0, 0};
    char   *buf = xmalloc(SMTPD_MILTER_EDIT_HEADER_MAX);
    size_t  len = 0, body_off, i;
    long long off;
    ssize_t n;
    int     sep, ret = -1;

    /* the header part: as much of the start as the parser takes */
    while (len < SMTPD_MILTER_EDIT_HEADER_MAX) {
        n = rd(rd_arg, (long long) len, buf + len,
               SMTPD_MILTER_EDIT_HEADER_MAX - len);
        if (n < 0) {
            (void) edit_why(why, "read error", (long long) len);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    smtpd_milter_edit_parse(&h, buf, len, len < SMTPD_MILTER_EDIT_HEADER_MAX,
                            hidden, &body_off, &sep);
    for (i = 0; i < m->count; i++)
        smtpd_milter_edit_header(&h, &m->ops[i]);
    for (i = 0; i < h.count; i++) {
        const struct smtpd_milter_hdr *hd = &h.item[i];

        /* a last field without a line end gets one if anything follows */
        if (wr(wr_arg, hd->raw, hd->raw_len) < 0
            || (hd->raw[hd->raw_len - 1] != '\n'
                && (i + 1 < h.count || sep || len > body_off
                    || m->body != NULL)
                && wr(wr_arg, "\r\n", 2) < 0)) {
            (void) edit_why(why, "write error", 0);
            goto out;
        }
    }
    if ((sep || (m->body != NULL && m->body->len > 0))
        && wr(wr_arg, "\r\n", 2) < 0) {
        (void) edit_why(why, "write error", 0);
        goto out;
    }
    if (m->body != NULL) {
        if (edit_write_body(m->body, wr, wr_arg) < 0) {
            (void) edit_why(why, "write error", 0);
            goto out;
        }
        ret = 0;
        goto out;
    }
    /* the original body: what is left of buf, then the rest */
    if (len > body_off && wr(wr_arg, buf + body_off, len - body_off) < 0) {
        (void) edit_why(why, "write error", (long long) body_off);
        goto out;
    }
    for (off = (long long) len;; off += n) {
        if ((n = rd(rd_arg, off, buf, SMTPD_MILTER_EDIT_IO)) < 0) {
            (void) edit_why(why, "read error", off);
            goto out;
        }
        if (n == 0)
            break;
        if (wr(wr_arg, buf, (size_t) n) < 0) {
            (void) edit_why(why, "write error", off);
            goto out;
        }
    }
    ret = 0;
  out:
    smtpd_milter_edit_hdrs_free(&h);
    free(buf);
    return ret;
}

/* smtpd_milter_edit_addr - an address without blanks and one <> pair */
const char *
smtpd_milter_edit_addr(const char *in, struct dstr *out)
{
    size_t  len;

    while (edit_blank(*in))
        in++;
    len = strlen(in);
    while (len > 0 && edit_blank(in[len - 1]))
        len--;
    if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
        in++;
        len -= 2;
    }
    dstr_reset(out);
    (void) dstr_append(out, in, len);
    return out->data;
}

/* env_find - the first recipient equal to addr, or -1 */
static long
env_find(const struct smtpd_milter_env *env, const char *addr)
{
    size_t  i;

    for (i = 0; i < env->count; i++)
        if (strcasecmp(env->rcpt[i].addr, addr) == 0)
            return (long) i;
    return -1;
}

/*
 * smtpd_milter_edit_env - the envelope after the changes: the sender
 * (NULL if unchanged) and the whole recipient list, in order.
 */
void
smtpd_milter_edit_env(const struct smtpd_milter_mods *m,
                      const char *const *rcpt, size_t nrcpt,
                      struct smtpd_milter_env *env)
{
    struct dstr *a = dstr_new(64, DSTR_UNLIMITED);
    size_t  i, alloc = nrcpt + 1;
    long    at;

    memset(env, 0, sizeof(*env));
    env->rcpt = xcalloc(alloc, sizeof(*env->rcpt));
    for (i = 0; i < nrcpt; i++) {
        env->rcpt[env->count].addr = xstrdup(rcpt[i]);
        env->rcpt[env->count].orig = (long) i;
        env->count++;
    }
    for (i = 0; i < m->count; i++) {
        const struct smtpd_milter_edit *e = &m->ops[i];

        switch (e->op) {
        case SMTPD_MILTER_EDIT_CHGFROM:
            free(env->sender);
            free(env->sender_args);
            env->sender = xstrdup(smtpd_milter_edit_addr(e->name, a));
            env->sender_args = e->value ? xstrdup(e->value) : NULL;
            env->changed = 1;
            break;
        case SMTPD_MILTER_EDIT_DELRCPT:
            (void) smtpd_milter_edit_addr(e->name, a);
            while ((at = env_find(env, a->data)) >= 0) {
                free(env->rcpt[at].addr);
                free(env->rcpt[at].args);
                memmove(env->rcpt + at, env->rcpt + at + 1,
                        (env->count - (size_t) at - 1) * sizeof(*env->rcpt));
                env->count--;
                env->changed = 1;
            }
            break;
        case SMTPD_MILTER_EDIT_ADDRCPT:
            (void) smtpd_milter_edit_addr(e->name, a);
            if (env_find(env, a->data) >= 0)
                break;
            if (env->count == alloc) {
                alloc *= 2;
                env->rcpt = xrealloc_array(env->rcpt, alloc,
                                           sizeof(*env->rcpt));
            }
            env->rcpt[env->count].addr = xstrdup(a->data);
            env->rcpt[env->count].args = e->value ? xstrdup(e->value) : NULL;
            env->rcpt[env->count].orig = -1;
            env->count++;
            env->changed = 1;
            break;
        default:
            break;
        }
    }
    dstr_free(a);
}

/* smtpd_milter_edit_env_free - release what smtpd_milter_edit_env() made */
void
smtpd_milter_edit_env_free(struct smtpd_milter_env *env)
{
    size_t  i;

    for (i = 0; i < env->count; i++) {
        free(env->rcpt[i].addr);
        free(env->rcpt[i].args);
    }
    free(env->rcpt);
    free(env->sender);
    free(env->sender_args);
    memset(env, 0, sizeof(*env));
}
