/*
 * smtpd_check - restriction lists; see smtpd_check.h.
 *
 * Each personality's lists are compiled on first use into steps
 * {feature, table}, so that a session's check is a walk over an array:
 * no parsing on the hot path. The cache is keyed by the personality's
 * params pointer, which is stable until a reload replaces the whole
 * configuration (and calls smtpd_check_flush()).
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "tables/access.h"
#include "tables/table.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"

#define CHECK_VALUE_MAX 4096            /* longest table result */

enum check_kind {
    CK_PERMIT,
    CK_REJECT,
    CK_DEFER,
    CK_WARN_IF_REJECT,
    CK_PERMIT_MYNETWORKS,
    CK_PERMIT_AUTH_DEST,
    CK_REJECT_UNAUTH_DEST,
    CK_DEFER_UNAUTH_DEST,
    CK_NONFQDN_HELO,
    CK_INVALID_HELO,
    CK_NONFQDN_SENDER,
    CK_NONFQDN_RCPT,
    CK_UNKNOWN_CLIENT,
    CK_ACCESS,                         /* check_X_access TABLE */
};

/* what a list is about: it names the rejected thing in replies */
enum check_list_id {
    CL_CLIENT,
    CL_HELO,
    CL_SENDER,
    CL_RELAY,
    CL_RECIPIENT,
    CL_DATA,
    CL_EOD,
    CL_COUNT,
};

struct check_feature {
    const char *name;
    enum check_kind kind;
    enum check_list_id key;            /* CK_ACCESS: what is looked up */
};

/* *INDENT-OFF* */
static const struct check_feature check_features[] = {
    {"permit", CK_PERMIT, 0},
    {"reject", CK_REJECT, 0},
    {"defer", CK_DEFER, 0},
    {"warn_if_reject", CK_WARN_IF_REJECT, 0},
    {"permit_mynetworks", CK_PERMIT_MYNETWORKS, 0},
    {"permit_auth_destination", CK_PERMIT_AUTH_DEST, 0},
    {"reject_unauth_destination", CK_REJECT_UNAUTH_DEST, 0},
    {"defer_unauth_destination", CK_DEFER_UNAUTH_DEST, 0},
    {"reject_non_fqdn_helo_hostname", CK_NONFQDN_HELO, 0},
    {"reject_invalid_helo_hostname", CK_INVALID_HELO, 0},
    {"reject_non_fqdn_sender", CK_NONFQDN_SENDER, 0},
    {"reject_non_fqdn_recipient", CK_NONFQDN_RCPT, 0},
    {"reject_unknown_client_hostname", CK_UNKNOWN_CLIENT, 0},
    {"check_client_access", CK_ACCESS, CL_CLIENT},
    {"check_helo_access", CK_ACCESS, CL_HELO},
    {"check_sender_access", CK_ACCESS, CL_SENDER},
    {"check_recipient_access", CK_ACCESS, CL_RECIPIENT},
    {NULL, 0, 0},
};

/* the lists, the parameters they come from, and how replies name them */
static const struct {
    size_t  offset;
    const char *param;
    const char *category;              /* "Client host" rejected */
} check_lists[CL_COUNT] = {
    {offsetof(struct params, smtpd_client_restrictions),
     "smtpd_client_restrictions", "Client host"},
    {offsetof(struct params, smtpd_helo_restrictions),
     "smtpd_helo_restrictions", "Helo command"},
    {offsetof(struct params, smtpd_sender_restrictions),
     "smtpd_sender_restrictions", "Sender address"},
    {offsetof(struct params, smtpd_relay_restrictions),
     "smtpd_relay_restrictions", "Recipient address"},
    {offsetof(struct params, smtpd_recipient_restrictions),
     "smtpd_recipient_restrictions", "Recipient address"},
    {offsetof(struct params, smtpd_data_restrictions),
     "smtpd_data_restrictions", "Data command"},
    {offsetof(struct params, smtpd_end_of_data_restrictions),
     "smtpd_end_of_data_restrictions", "End-of-data"},
};
/* *INDENT-ON* */

struct check_step {
    const struct check_feature *f;
    struct table *table;               /* CK_ACCESS */
};

struct check_list {
    struct check_step *steps;
    size_t  count;
};

/* one personality, compiled */
struct check_conf {
    const struct params *p;
    struct cidr_list *mynetworks;
    struct check_list lists[CL_COUNT];
    char   *broken;                    /* why it did not compile, or NULL */
    struct check_conf *next;
};

enum check_decision {
    CHECK_DUNNO,                       /* no objection: next step */
    CHECK_PERMIT,                      /* this list permits */
    CHECK_REJECT,                      /* reply is set */
};

struct check_ctx {
    struct session *s;
    const struct check_conf *cc;
    const char *rcpt;
    enum check_list_id list;
    struct dstr *reply;
    int     warn;                      /* warn_if_reject is pending */
};

static struct check_conf *check_cache;

/* check_feature_find - a row of the feature table, or NULL */
static const struct check_feature *
check_feature_find(const char *name)
{
    const struct check_feature *f;

    for (f = check_features; f->name != NULL; f++)
        if (strcasecmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* check_conf_free - one compiled personality */
static void
check_conf_free(struct check_conf *cc)
{
    size_t  i, k;

    for (i = 0; i < CL_COUNT; i++) {
        for (k = 0; k < cc->lists[i].count; k++)
            table_free(cc->lists[i].steps[k].table);
        free(cc->lists[i].steps);
    }
    cidr_list_free(cc->mynetworks);
    free(cc->broken);
    free(cc);
}

/* check_compile_list - one restriction list into steps */
static int
check_compile_list(struct check_list *out, const char *param,
                   const struct param_list *items, struct dstr *errors)
{
    const struct check_feature *f;
    size_t  i;
    int     ret = 0;

    out->steps = xcalloc(items->count + 1, sizeof(struct check_step));
    for (i = 0; i < items->count; i++) {
        f = check_feature_find(items->items[i]);
        if (f == NULL) {
            (void) dstr_appendf(errors, "%s: unknown restriction \"%s\"\n",
                                param, items->items[i]);
            ret = -1;
            continue;
        }
        out->steps[out->count].f = f;
        if (f->kind == CK_ACCESS) {
            if (i + 1 >= items->count) {
                (void) dstr_appendf(errors, "%s: %s needs a table (use %s"
                                    " type:name)\n", param, f->name, f->name);
                ret = -1;
                continue;
            }
            out->steps[out->count].table = table_open(items->items[++i],
                                                      errors);
            if (out->steps[out->count].table == NULL) {
                ret = -1;
                continue;
            }
        }
        out->count++;
    }
    return ret;
}

/* check_conf_get - the compiled form of a personality's lists */
static const struct check_conf *
check_conf_get(const struct params *p)
{
    struct check_conf *cc;
    struct dstr *errors;
    size_t  i;

    for (cc = check_cache; cc != NULL; cc = cc->next)
        if (cc->p == p)
            return cc;
    cc = xcalloc(1, sizeof(*cc));
    cc->p = p;
    errors = dstr_new(128, 65536);
    if (cidr_list_parse(&cc->mynetworks, p->mynetworks.items,
                        p->mynetworks.count, errors) < 0)
        (void) dstr_appendf(errors, " (in mynetworks)\n");
    for (i = 0; i < CL_COUNT; i++)
        (void) check_compile_list(&cc->lists[i], check_lists[i].param,
                                  (const struct param_list *)
                                  ((const char *) p + check_lists[i].offset),
                                  errors);
    if (errors->len > 0)
        cc->broken = xstrdup(errors->data);
    dstr_free(errors);
    cc->next = check_cache;
    check_cache = cc;
    return cc;
}

/* smtpd_check_compile - compile now, to report errors at start */
int
smtpd_check_compile(const struct params *p, struct dstr *errors)
{
    const struct check_conf *cc = check_conf_get(p);
    int     ret = smtpd_xclient_compile(p, errors);     /* access lists too */

    if (cc->broken != NULL) {
        if (strstr(errors->data, cc->broken) == NULL)
            (void) dstr_append_str(errors, cc->broken);
        return -1;
    }
    return ret;
}

/* smtpd_check_flush - forget compiled lists (configuration reloaded) */
void
smtpd_check_flush(void)
{
    struct check_conf *cc;

    while ((cc = check_cache) != NULL) {
        check_cache = cc->next;
        check_conf_free(cc);
    }
    smtpd_xclient_flush();
}

/* check_key - what a list is about: "<...>" in replies, and lookups */
static const char *
check_key(const struct check_ctx *x, enum check_list_id list,
          struct dstr *buf)
{
    const struct session *s = x->s;

    dstr_reset(buf);
    switch (list) {
    case CL_CLIENT:
        (void) dstr_appendf(buf, "%s[%s]", s->name ? s->name : "unknown",
                            s->addr_text);
        break;
    case CL_HELO:
        (void) dstr_append_str(buf, s->helo ? s->helo : "");
        break;
    case CL_SENDER:
        (void) dstr_append_str(buf, s->sender ? s->sender : "");
        break;
    case CL_RELAY:
    case CL_RECIPIENT:
        (void) dstr_append_str(buf, x->rcpt ? x->rcpt : "");
        break;
    case CL_DATA:
        (void) dstr_append_str(buf, "DATA");
        break;
    default:
        (void) dstr_append_str(buf, "END-OF-MESSAGE");
        break;
    }
    return buf->data;
}

/*
 * check_reject - set the reply for a rejection. With warn_if_reject
 * pending, log it instead and carry on, as Postfix does.
 */
static enum check_decision
check_reject(struct check_ctx *x, int code, const char *dsn, const char *what,
             const char *text)
{
    struct dstr *key = dstr_new(64, 2048);

    dstr_reset(x->reply);
    if (what != NULL)
        (void) dstr_appendf(x->reply, "%d %s <%s>: %s rejected: %s", code, dsn,
                            check_key(x, x->list, key), what, text);
    else
        (void) dstr_appendf(x->reply, "%d %s <%s>: %s", code, dsn,
                            check_key(x, x->list, key), text);
    dstr_free(key);
    if (x->warn) {
        x->warn = 0;
        smtpd_session_log(x->s, LOG_LEVEL_INFO, "reject_warning: %s",
                          x->reply->data);
        dstr_reset(x->reply);
        return CHECK_DUNNO;
    }
    return CHECK_REJECT;
}

/* check_domain_listed - domain (or, with subdomains, a parent) in list */
static int
check_domain_listed(const char *domain, const struct param_list *list,
                    int subdomains)
{
    size_t  i, dl = strlen(domain), il;
    const char *item;

    for (i = 0; i < list->count; i++) {
        item = list->items[i];
        il = strlen(item);
        if (strcasecmp(item, domain) == 0)
            return 1;
        if (subdomains && dl > il && domain[dl - il - 1] == '.'
            && strcasecmp(domain + dl - il, item) == 0)
            return 1;
        /* ".example.com" matches subdomains only */
        if (item[0] == '.' && dl > il && strcasecmp(domain + dl - il, item) == 0)
            return 1;
    }
    return 0;
}

/* check_auth_destination - is rcpt ours, or a domain we relay to */
static int
check_auth_destination(const struct check_ctx *x)
{
    const char *domain;

    if (x->rcpt == NULL)
        return 0;
    domain = mailaddr_domain(x->rcpt);
    if (*domain == '\0')
        return 1;                       /* <postmaster>: local */
    return check_domain_listed(domain, &x->s->p->mydestination, 0)
        || check_domain_listed(domain, &x->s->p->relay_domains, 1);
}

/* check_helo_valid - a host name or an address literal */
static int
check_helo_valid(const char *helo)
{
    size_t  i, label = 0, len = strlen(helo);

    if (len == 0 || len > 255)
        return 0;
    if (helo[0] == '[')
        return helo[len - 1] == ']';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) helo[i];

        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* check_fqdn - a name with a dot that does not end the name, or a literal */
static int
check_fqdn(const char *name)
{
    const char *dot = strchr(name, '.');

    return name[0] == '[' || (dot != NULL && dot != name && dot[1] != '\0');
}

/* check_access_keys - the keys Postfix tries for a table, in order */
static size_t
check_access_keys(const struct check_ctx *x, enum check_list_id what,
                  const char **keys, struct dstr *a, struct dstr *b)
{
    const struct session *s = x->s;
    const char *addr, *at;
    size_t  n = 0;

    switch (what) {
    case CL_CLIENT:
        if (s->name != NULL && strcmp(s->name, "unknown") != 0)
            keys[n++] = s->name;
        keys[n++] = s->addr_text;
        break;
    case CL_HELO:
        if (s->helo != NULL)
            keys[n++] = s->helo;
        break;
    default:
        addr = what == CL_SENDER ? s->sender : x->rcpt;
        if (addr == NULL)
            break;
        if (*addr == '\0') {
            keys[n++] = "<>";          /* Postfix's null sender key */
            break;
        }
        keys[n++] = addr;
        if ((at = strrchr(addr, '@')) != NULL) {
            (void) dstr_set_str(a, at + 1);
            keys[n++] = a->data;
            (void) dstr_set(b, addr, (size_t) (at - addr + 1));
            keys[n++] = b->data;
        }
        break;
    }
    return n;
}

/* check_access - check_X_access: look the thing up, act on the result */
static enum check_decision
check_access(struct check_ctx *x, const struct check_step *st)
{
    struct dstr *value = dstr_new(64, CHECK_VALUE_MAX);
    struct dstr *a = dstr_new(64, 1024), *b = dstr_new(64, 1024);
    struct dstr *why = dstr_new(64, 1024);
    const char *keys[3];
    struct access_result r;
    enum check_decision d = CHECK_DUNNO;
    enum check_list_id saved = x->list;
    size_t  n, i;

    x->list = st->f->key == CL_RECIPIENT ? x->list : st->f->key;
    n = check_access_keys(x, st->f->key, keys, a, b);
    for (i = 0; i < n; i++) {
        switch (table_lookup(st->table, keys[i], value)) {
        case TABLE_NOTFOUND:
            continue;
        case TABLE_ERROR:
            dstr_reset(x->reply);
            (void) dstr_appendf(x->reply, "451 4.3.0 <%s>: Temporary lookup"
                                " failure", keys[0]);
            d = CHECK_REJECT;
            goto done;
        case TABLE_FOUND:
            break;
        }
        if (access_parse(value->data, &r, why) < 0)
            log_warn("%s: bad result for %s: %s", table_spec(st->table),
                     keys[i], why->data);
        switch (r.action) {
        case ACCESS_OK:
            d = CHECK_PERMIT;
            break;
        case ACCESS_REJECT:
        case ACCESS_DEFER:
            d = check_reject(x, r.code, r.dsn[0] ? r.dsn
                             : r.code >= 500 ? "5.7.1" : "4.7.1",
                             check_lists[x->list].category, r.text);
            break;
        case ACCESS_WARN:
        case ACCESS_INFO:
            smtpd_session_log(x->s, r.action == ACCESS_WARN ? LOG_LEVEL_WARN
                              : LOG_LEVEL_INFO, "%s %s: %s",
                              access_action_name(r.action), keys[i], r.text);
            break;
        case ACCESS_DUNNO:
            break;
        default:
            /* XXX HOLD, DISCARD, PREPEND, classes: with the access issue */
            smtpd_session_log(x->s, LOG_LEVEL_WARN, "%s: %s action %s is not"
                              " supported yet; ignored", table_spec(st->table),
                              keys[i], access_action_name(r.action));
            break;
        }
        break;                          /* the first key found decides */
    }
done:
    x->list = saved;
    dstr_free(value);
    dstr_free(a);
    dstr_free(b);
    dstr_free(why);
    return d;
}

/* check_step - one restriction */
static enum check_decision
check_step(struct check_ctx *x, const struct check_step *st)
{
    const struct session *s = x->s;

    switch (st->f->kind) {
    case CK_PERMIT:
        return CHECK_PERMIT;
    case CK_REJECT:
        return check_reject(x, 554, "5.7.1", check_lists[x->list].category,
                            "Access denied");
    case CK_DEFER:
        return check_reject(x, 450, "4.7.1", check_lists[x->list].category,
                            "Access denied");
    case CK_WARN_IF_REJECT:
        x->warn = 1;
        return CHECK_DUNNO;
    case CK_PERMIT_MYNETWORKS:
        /* XCLIENT ADDR=[UNAVAILABLE]: an unknown address is in no network */
        if (strcmp(s->addr_text, "unknown") == 0)
            return CHECK_DUNNO;
        return cidr_list_match(x->cc->mynetworks, &s->addr) ? CHECK_PERMIT
            : CHECK_DUNNO;
    case CK_PERMIT_AUTH_DEST:
        return check_auth_destination(x) ? CHECK_PERMIT : CHECK_DUNNO;
    case CK_REJECT_UNAUTH_DEST:
    case CK_DEFER_UNAUTH_DEST:
        if (x->rcpt == NULL || check_auth_destination(x))
            return CHECK_DUNNO;
        return st->f->kind == CK_REJECT_UNAUTH_DEST
            ? check_reject(x, 554, "5.7.1", NULL, "Relay access denied")
            : check_reject(x, 450, "4.7.1", NULL, "Relay access denied");
    case CK_NONFQDN_HELO:
        if (s->helo == NULL || check_fqdn(s->helo))
            return CHECK_DUNNO;
        x->list = CL_HELO;
        return check_reject(x, 504, "5.5.2", "Helo command",
                            "need fully-qualified hostname");
    case CK_INVALID_HELO:
        if (s->helo == NULL || check_helo_valid(s->helo))
            return CHECK_DUNNO;
        x->list = CL_HELO;
        return check_reject(x, 501, "5.5.2", "Helo command", "Invalid name");
    case CK_NONFQDN_SENDER:
        if (s->sender == NULL || *s->sender == '\0'
            || check_fqdn(mailaddr_domain(s->sender)))
            return CHECK_DUNNO;
        x->list = CL_SENDER;
        return check_reject(x, 504, "5.5.2", "Sender address",
                            "need fully-qualified address");
    case CK_NONFQDN_RCPT:
        if (x->rcpt == NULL || *mailaddr_domain(x->rcpt) == '\0'
            || check_fqdn(mailaddr_domain(x->rcpt)))
            return CHECK_DUNNO;
        return check_reject(x, 504, "5.5.2", "Recipient address",
                            "need fully-qualified address");
    case CK_UNKNOWN_CLIENT:
        if (s->name != NULL && strcmp(s->name, "unknown") != 0)
            return CHECK_DUNNO;
        x->list = CL_CLIENT;
        return check_reject(x, 450, "4.7.25", "Client host",
                            "cannot find your hostname");
    case CK_ACCESS:
        return check_access(x, st);
    }
    return CHECK_DUNNO;
}

/* check_list_run - one list: -1 with the reply when it rejects */
static int
check_list_run(struct check_ctx *x, enum check_list_id list)
{
    const struct check_list *l = &x->cc->lists[list];
    size_t  i;

    x->warn = 0;
    for (i = 0; i < l->count; i++) {
        x->list = list;
        switch (check_step(x, &l->steps[i])) {
        case CHECK_PERMIT:
            return 0;
        case CHECK_REJECT:
            return -1;
        case CHECK_DUNNO:
            break;
        }
    }
    return 0;
}

/* smtpd_check - run the lists of a stage; see smtpd_check.h */
int
smtpd_check(struct session *s, enum smtpd_check_stage stage, const char *rcpt,
            struct dstr *reply)
{
    struct check_ctx x;

    memset(&x, 0, sizeof(x));
    x.s = s;
    x.rcpt = rcpt;
    x.reply = reply;
    x.cc = check_conf_get(s->p);
    if (x.cc->broken != NULL) {
        smtpd_session_log(s, LOG_LEVEL_WARN, "restrictions are broken: %s",
                          x.cc->broken);
        (void) dstr_set_str(reply, "451 4.3.5 Server configuration error");
        return -1;
    }
    switch (stage) {
    case SMTPD_CHECK_CLIENT:
        return check_list_run(&x, CL_CLIENT);
    case SMTPD_CHECK_HELO:
        return check_list_run(&x, CL_HELO);
    case SMTPD_CHECK_SENDER:
        return check_list_run(&x, CL_SENDER);
    case SMTPD_CHECK_RCPT:
        if (s->p->smtpd_delay_reject
            && (check_list_run(&x, CL_CLIENT) < 0
                || check_list_run(&x, CL_HELO) < 0
                || check_list_run(&x, CL_SENDER) < 0))
            return -1;
        if (check_list_run(&x, CL_RELAY) < 0
            || check_list_run(&x, CL_RECIPIENT) < 0)
            return -1;
        return 0;
    case SMTPD_CHECK_DATA:
        return check_list_run(&x, CL_DATA);
    case SMTPD_CHECK_EOD:
        return check_list_run(&x, CL_EOD);
    }
    return 0;
}
