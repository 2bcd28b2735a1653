/*
 * smtpd_check - restriction lists; see smtpd_check.h.
 *
 * Each personality's lists are compiled on first use into steps
 * {feature, table}, so that a session's check is a walk over an array:
 * no parsing on the hot path. The cache is keyed by the personality's
 * params pointer, which is stable until a reload replaces the whole
 * configuration (and calls smtpd_check_flush()).
 *
 * Restriction classes compile the same way, once per personality, and
 * a list step may name one (CK_CLASS). A walk is a stack of frames: the
 * stage's list at the bottom, a class or a table result's list above
 * it. The stack is what makes a policy server's wait resumable, and
 * its bound (SMTPD_CHECK_DEPTH_MAX classes deep) is what stops classes
 * that name each other through tables; loops that do not go through a
 * table are refused at compile time.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "tables/access.h"
#include "tables/table.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_policy.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"

#define CHECK_VALUE_MAX 4096            /* longest table result */
#define CHECK_PREPEND_MAX 16384         /* PREPEND headers of a message */
#define CHECK_NO_WARN ((size_t) -1)     /* frame.warn_step: none */

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
    CK_UNKNOWN_REVERSE,
    CK_UNAUTH_PIPELINING,
    CK_UNLISTED_RCPT,
    CK_DEFER_IF_PERMIT,
    CK_DEFER_IF_REJECT,
    CK_ACCESS,                         /* check_X_access TABLE */
    CK_POLICY,                         /* check_policy_service SERVER */
    CK_CLASS,                          /* a smtpd_restriction_classes name */
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
    {"reject_unknown_reverse_client_hostname", CK_UNKNOWN_REVERSE, 0},
    {"reject_unauth_pipelining", CK_UNAUTH_PIPELINING, 0},
    {"reject_unlisted_recipient", CK_UNLISTED_RCPT, 0},
    {"defer_if_permit", CK_DEFER_IF_PERMIT, 0},
    {"defer_if_reject", CK_DEFER_IF_REJECT, 0},
    {"check_client_access", CK_ACCESS, CL_CLIENT},
    {"check_helo_access", CK_ACCESS, CL_HELO},
    {"check_sender_access", CK_ACCESS, CL_SENDER},
    {"check_recipient_access", CK_ACCESS, CL_RECIPIENT},
    {"check_policy_service", CK_POLICY, 0},
    {NULL, 0, 0},
};

/* what a step that names a restriction class runs */
static const struct check_feature check_class_feature = {
    "(restriction class)", CK_CLASS, 0,
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
    char   *server;                    /* CK_POLICY */
    size_t  cls;                       /* CK_CLASS: index in classes */
};

struct check_list {
    struct check_step *steps;
    size_t  count;
};

/* a restriction class: smtpd_restriction_classes names it */
struct check_class {
    const char *name;                  /* in the personality's params */
    struct check_list list;
};

/* one personality, compiled */
struct check_conf {
    const struct params *p;
    struct cidr_list *mynetworks;
    struct check_list lists[CL_COUNT];
    struct check_class *classes;
    size_t  nclasses;
    struct table_list *local_rcpt;     /* local_recipient_maps, or NULL */
    struct table_list *relay_rcpt;     /* relay_recipient_maps, or NULL */
    char   *broken;                    /* why it did not compile, or NULL */
    struct check_conf *next;
};

enum check_decision {
    CHECK_DUNNO,                       /* no objection: next step */
    CHECK_PERMIT,                      /* this list permits */
    CHECK_REJECT,                      /* reply is set */
    CHECK_WAIT,                        /* a policy server will tell */
};

/*
 * where a walk is: a list, or a restriction class called from one.
 * warn_if_reject covers the one step after it, and everything that step
 * runs (a class), as in Postfix: warn_step is that step's index.
 */
struct check_frame {
    const struct check_list *l;
    size_t  next;                      /* the step to run next */
    size_t  warn_step;                 /* or CHECK_NO_WARN */
    struct check_list *own;            /* a table result's list: ours */
    const char *name;                  /* list or class, for loop reports */
    char   *own_name;                  /* the result's text, with own */
};

/* one smtpd_check() call, kept while a policy server thinks */
struct check_run {
    struct session *s;
    const struct check_conf *cc;
    enum smtpd_check_stage stage;
    enum check_list_id lists[CL_COUNT];        /* what the stage runs */
    size_t  nlists, li;                /* and how far it got */
    struct check_frame frames[SMTPD_CHECK_DEPTH_MAX + 1];
    size_t  depth;                     /* 0: between lists */
    int     unlisted_done;             /* reject_unlisted_recipient ran */
    enum check_list_id list;           /* names the rejected thing */
    const char *helo;                  /* being judged */
    const char *sender;
    const char *rcpt;
    char   *arg;                       /* our copy of smtpd_check()'s arg */
    struct dstr *reply;
    smtpd_check_fn *done;
    struct smtpd_policy_req *policy;   /* the question out */
    struct dstr *defer_if_permit;      /* DEFER_IF_PERMIT's reply, or NULL */
    int     defer_if_reject;           /* DEFER_IF_REJECT: 5xx becomes 450 */
};

static struct check_conf *check_cache;
static struct check_conf *check_retired;       /* flushed while in use */
static size_t check_runs;                      /* walks in progress */

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

/* check_list_free_steps - the steps of a list and what they own */
static void
check_list_free_steps(struct check_list *l)
{
    size_t  k;

    for (k = 0; k < l->count; k++) {
        table_free(l->steps[k].table);
        free(l->steps[k].server);
    }
    free(l->steps);
    l->steps = NULL;
    l->count = 0;
}

/* check_conf_free - one compiled personality */
static void
check_conf_free(struct check_conf *cc)
{
    size_t  i;

    for (i = 0; i < CL_COUNT; i++)
        check_list_free_steps(&cc->lists[i]);
    for (i = 0; i < cc->nclasses; i++)
        check_list_free_steps(&cc->classes[i].list);
    free(cc->classes);
    table_list_free(cc->local_rcpt);
    table_list_free(cc->relay_rcpt);
    cidr_list_free(cc->mynetworks);
    free(cc->broken);
    free(cc);
}

/* check_class_find - the index of a restriction class, or -1 */
static long
check_class_find(const struct check_conf *cc, const char *name)
{
    size_t  i;

    for (i = 0; i < cc->nclasses; i++)
        if (strcmp(cc->classes[i].name, name) == 0)
            return (long) i;
    return -1;
}

/* check_compile_list - one restriction list into steps */
static int
check_compile_list(const struct check_conf *cc, struct check_list *out,
                   const char *param, const struct param_list *items,
                   struct dstr *errors)
{
    const struct check_feature *f;
    size_t  i;
    long    cls;
    int     ret = 0;

    out->steps = xcalloc(items->count + 1, sizeof(struct check_step));
    for (i = 0; i < items->count; i++) {
        f = check_feature_find(items->items[i]);
        if (f == NULL && (cls = check_class_find(cc, items->items[i])) >= 0) {
            out->steps[out->count].f = &check_class_feature;
            out->steps[out->count++].cls = (size_t) cls;
            continue;
        }
        if (f == NULL) {
            (void) dstr_appendf(errors, "%s: unknown restriction \"%s\"%s\n",
                                param, items->items[i],
                                strchr(items->items[i], ':') != NULL
                                ? " (a table must follow check_X_access)"
                                : cc->nclasses == 0 ? "" : " (and not in"
                                " smtpd_restriction_classes)");
            ret = -1;
            continue;
        }
        out->steps[out->count].f = f;
        if (f->kind == CK_ACCESS || f->kind == CK_POLICY) {
            if (i + 1 >= items->count) {
                (void) dstr_appendf(errors, "%s: %s needs %s (use %s %s)\n",
                                    param, f->name, f->kind == CK_ACCESS
                                    ? "a table" : "a server", f->name,
                                    f->kind == CK_ACCESS ? "type:name"
                                    : "inet:host:port or unix:/path");
                ret = -1;
                continue;
            }
            i++;
        }
        if (f->kind == CK_ACCESS) {
            out->steps[out->count].table = table_open(items->items[i], errors);
            if (out->steps[out->count].table == NULL) {
                ret = -1;
                continue;
            }
        } else if (f->kind == CK_POLICY) {
            struct dstr *why = dstr_new(64, 1024);

            if (smtpd_policy_check_server(items->items[i], why) < 0) {
                (void) dstr_appendf(errors, "%s: %s \"%s\": %s\n", param,
                                    f->name, items->items[i], why->data);
                dstr_free(why);
                ret = -1;
                continue;
            }
            dstr_free(why);
            out->steps[out->count].server = xstrdup(items->items[i]);
        }
        out->count++;
    }
    return ret;
}

/*
 * check_class_cycle - depth-first from class c: classes that name each
 * other directly, in a circle, would only end at the depth limit on
 * every session; refuse them at start instead. state: 0 unseen, 1 on
 * the path, 2 done. The path is at most nclasses long.
 */
static int
check_class_cycle(const struct check_conf *cc, size_t c, unsigned char *state,
                  size_t *path, size_t depth, struct dstr *errors)
{
    const struct check_list *l = &cc->classes[c].list;
    size_t  k, i, t;

    state[c] = 1;
    path[depth] = c;
    for (k = 0; k < l->count; k++) {
        if (l->steps[k].f->kind != CK_CLASS)
            continue;
        t = l->steps[k].cls;
        if (state[t] == 1) {
            (void) dstr_appendf(errors, "smtpd_restriction_classes: classes"
                                " name each other in a circle: ");
            for (i = 0; i <= depth && path[i] != t; i++)
                 /* void */ ;
            for (; i <= depth; i++)
                (void) dstr_appendf(errors, "%s -> ", cc->classes[path[i]].name);
            (void) dstr_appendf(errors, "%s\n", cc->classes[t].name);
            return -1;
        }
        if (state[t] == 0
            && check_class_cycle(cc, t, state, path, depth + 1, errors) < 0)
            return -1;
    }
    state[c] = 2;
    return 0;
}

/*
 * check_compile_classes - smtpd_restriction_classes, from the lists that
 * conf/personality.c expanded in this personality. Names first, so that
 * classes may name classes in any order.
 */
static void
check_compile_classes(struct check_conf *cc, struct dstr *errors)
{
    const struct params *p = cc->p;
    unsigned char *state;
    size_t  i, *path;

    if (p->restriction_class_lists == NULL)
        return;                         /* params not from a personality */
    cc->nclasses = p->smtpd_restriction_classes.count;
    cc->classes = xcalloc(cc->nclasses + 1, sizeof(struct check_class));
    for (i = 0; i < cc->nclasses; i++) {
        cc->classes[i].name = p->smtpd_restriction_classes.items[i];
        if (check_feature_find(cc->classes[i].name) != NULL)
            (void) dstr_appendf(errors, "smtpd_restriction_classes: %s is a"
                                " restriction; a class needs a name of its"
                                " own\n", cc->classes[i].name);
    }
    for (i = 0; i < cc->nclasses; i++)
        (void) check_compile_list(cc, &cc->classes[i].list,
                                  cc->classes[i].name,
                                  &p->restriction_class_lists[i], errors);
    state = xcalloc(cc->nclasses + 1, 1);
    path = xcalloc(cc->nclasses + 1, sizeof(size_t));
    for (i = 0; i < cc->nclasses; i++)
        if (state[i] == 0 && check_class_cycle(cc, i, state, path, 0,
                                               errors) < 0)
            break;
    free(state);
    free(path);
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
    check_compile_classes(cc, errors);
    for (i = 0; i < CL_COUNT; i++)
        (void) check_compile_list(cc, &cc->lists[i], check_lists[i].param,
                                  (const struct param_list *)
                                  ((const char *) p + check_lists[i].offset),
                                  errors);
    /* empty maps: no check, as the parameters document */
    if (p->local_recipient_maps.count > 0
        && table_list_open(&cc->local_rcpt, &p->local_recipient_maps,
                           errors) < 0)
        (void) dstr_appendf(errors, "local_recipient_maps: a table did not"
                            " open (see above)\n");
    if (p->relay_recipient_maps.count > 0
        && table_list_open(&cc->relay_rcpt, &p->relay_recipient_maps,
                           errors) < 0)
        (void) dstr_appendf(errors, "relay_recipient_maps: a table did not"
                            " open (see above)\n");
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

    /* a walk waiting for a policy server still uses its lists */
    while ((cc = check_cache) != NULL) {
        check_cache = cc->next;
        if (check_runs > 0) {
            cc->next = check_retired;
            check_retired = cc;
        } else {
            check_conf_free(cc);
        }
    }
    smtpd_xclient_flush();
}

/* check_key - what a list is about: "<...>" in replies, and lookups */
static const char *
check_key(const struct check_run *x, enum check_list_id list,
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
        (void) dstr_append_str(buf, x->helo ? x->helo : "");
        break;
    case CL_SENDER:
        (void) dstr_append_str(buf, x->sender ? x->sender : "");
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
 * check_verb - the command a refusal is logged against: the one being
 * answered (client restrictions delayed to RCPT are RCPT's), else the
 * stage's own
 */
static const char *
check_verb(const struct check_run *x)
{
    static const char *const stage_verb[] = {
        [SMTPD_CHECK_CLIENT] = "CONNECT",
        [SMTPD_CHECK_HELO] = "HELO",
        [SMTPD_CHECK_MAIL] = "MAIL",
        [SMTPD_CHECK_RCPT] = "RCPT",
        [SMTPD_CHECK_DATA] = "DATA",
        [SMTPD_CHECK_EOD] = "END-OF-MESSAGE",
    };

    if (x->stage == SMTPD_CHECK_EOD || x->s->last_verb == NULL)
        return stage_verb[x->stage];
    return x->s->last_verb;
}

/* check_warned - does a pending warn_if_reject cover the running step */
static int
check_warned(const struct check_run *x)
{
    size_t  i;

    for (i = 0; i < x->depth; i++)
        if (x->frames[i].warn_step != CHECK_NO_WARN
            && x->frames[i].warn_step + 1 == x->frames[i].next)
            return 1;
    return 0;
}

static enum check_decision check_reply(struct check_run *, int, const char *,
                                       const char *, ...)
            __attribute__((format(printf, 4, 5)));

/*
 * check_reply - set the reply for a rejection: "CODE DSN text". The
 * status follows the code's class, so that a reply code parameter set
 * to 450 answers 4.7.1 where the default 554 answers 5.7.1, as Postfix
 * does. With warn_if_reject pending, log it instead and carry on.
 */
static enum check_decision
check_reply(struct check_run *x, int code, const char *dsn, const char *fmt,
            ...)
{
    va_list ap;

    if (x->defer_if_reject && code / 100 == 5) {
        /* DEFER_IF_REJECT earlier in the stage: a rejection is a deferral */
        code = 450;
        dsn = "4.7.1";
    }
    dstr_reset(x->reply);
    if ((dsn[0] == '4' || dsn[0] == '5') && (code / 100 == 4 || code / 100 == 5))
        (void) dstr_appendf(x->reply, "%d %c%s ", code, '0' + code / 100,
                            dsn + 1);
    else
        (void) dstr_appendf(x->reply, "%d %s ", code, dsn);
    va_start(ap, fmt);
    (void) dstr_vappendf(x->reply, fmt, ap);
    va_end(ap);
    if (check_warned(x)) {
        smtpd_session_log_reject(x->s, "reject_warning", check_verb(x),
                                 x->reply->data, x->sender, x->rcpt);
        dstr_reset(x->reply);
        return CHECK_DUNNO;
    }
    return CHECK_REJECT;
}

/*
 * check_reject - a rejection in Postfix's form: "<thing>: What rejected:
 * text", or "<thing>: text" without what.
 */
static enum check_decision
check_reject(struct check_run *x, int code, const char *dsn, const char *what,
             const char *text)
{
    struct dstr *key = dstr_new(64, 2048);
    enum check_decision d;

    if (what != NULL)
        d = check_reply(x, code, dsn, "<%s>: %s rejected: %s",
                        check_key(x, x->list, key), what, text);
    else
        d = check_reply(x, code, dsn, "<%s>: %s", check_key(x, x->list, key),
                        text);
    dstr_free(key);
    return d;
}

/*
 * check_defer_if_permit - DEFER_IF_PERMIT: remember the deferral; it is
 * the answer if the stage ends without a rejection (explicit or
 * implicit permit), as in Postfix.
 */
static void
check_defer_if_permit(struct check_run *x, const char *dsn, const char *text)
{
    if (check_reject(x, 450, dsn, check_lists[x->list].category, text)
        == CHECK_REJECT && x->defer_if_permit == NULL) {
        x->defer_if_permit = dstr_new(128, 2048);
        (void) dstr_set_str(x->defer_if_permit, x->reply->data);
    }
    dstr_reset(x->reply);
}

/* check_config_error - a list that cannot run: 451 4.3.5, and why */
static enum check_decision
check_config_error(struct check_run *x, const char *why)
{
    smtpd_session_log(x->s, LOG_LEVEL_WARN, "restriction configuration"
                      " error: %s", why);
    (void) dstr_set_str(x->reply, "451 4.3.5 Server configuration error");
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
check_auth_destination(const struct check_run *x)
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
check_access_keys(const struct check_run *x, enum check_list_id what,
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
        if (x->helo != NULL)
            keys[n++] = x->helo;
        break;
    default:
        addr = what == CL_SENDER ? x->sender : x->rcpt;
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

/* check_pop - leave the top frame, freeing a table result's list */
static void
check_pop(struct check_run *x)
{
    struct check_frame *f = &x->frames[x->depth - 1];

    if (f->own != NULL) {
        check_list_free_steps(f->own);
        free(f->own);
        f->own = NULL;
        free(f->own_name);
        f->own_name = NULL;
    }
    x->depth--;
}

/* check_pop_all - a list decided: back between lists */
static void
check_pop_all(struct check_run *x)
{
    while (x->depth > 0)
        check_pop(x);
}

/*
 * check_push - run list l (a class, or a table result's list, then
 * owned) in place of the step that named it. Too deep is a
 * configuration error (classes that name each other through tables),
 * reported with the chain of names.
 */
static enum check_decision
check_push(struct check_run *x, const struct check_list *l,
           struct check_list *own, const char *name)
{
    struct check_frame *f;
    struct dstr *why;
    size_t  i;

    if (x->depth > SMTPD_CHECK_DEPTH_MAX) {
        why = dstr_new(128, 2048);
        (void) dstr_appendf(why, "restriction classes nested more than %d"
                            " deep (a loop through tables?): ",
                            SMTPD_CHECK_DEPTH_MAX);
        for (i = 0; i < x->depth; i++)
            (void) dstr_appendf(why, "%s -> ", x->frames[i].name);
        (void) dstr_appendf(why, "%s", name);
        if (own != NULL) {
            check_list_free_steps(own);
            free(own);
        }
        (void) check_config_error(x, why->data);
        dstr_free(why);
        return CHECK_REJECT;
    }
    f = &x->frames[x->depth++];
    f->l = own != NULL ? own : l;
    f->next = 0;
    f->warn_step = CHECK_NO_WARN;
    f->own = own;
    f->own_name = own != NULL ? xstrdup(name) : NULL;
    f->name = own != NULL ? f->own_name : name;
    return CHECK_DUNNO;
}

/*
 * check_result_list - an access result that is neither an action nor a
 * reply: restrictions and class names to run in place (Postfix's
 * "restriction..." result). Restrictions that need an argument cannot
 * be results, as in Postfix.
 */
static enum check_decision
check_result_list(struct check_run *x, const char *source, const char *key,
                  const char *value)
{
    struct param_list words;
    struct check_list *l;
    const struct check_feature *f;
    struct dstr *why = dstr_new(64, 2048);
    enum check_decision d;
    size_t  i;
    long    cls;

    if (param_list_split(value, &words, why) < 0 || words.count == 0) {
        dstr_reset(why);
        (void) dstr_appendf(why, "%s: result for %s: \"%.100s\" is no"
                            " restriction list", source, key, value);
        d = check_config_error(x, why->data);
        dstr_free(why);
        return d;
    }
    l = xcalloc(1, sizeof(*l));
    l->steps = xcalloc(words.count, sizeof(struct check_step));
    for (i = 0; i < words.count; i++) {
        f = check_feature_find(words.items[i]);
        if (f == NULL && (cls = check_class_find(x->cc, words.items[i])) >= 0) {
            l->steps[l->count].f = &check_class_feature;
            l->steps[l->count++].cls = (size_t) cls;
        } else if (f == NULL || f->kind == CK_ACCESS || f->kind == CK_POLICY) {
            (void) dstr_appendf(why, "%s: result for %s: \"%.100s\" is %s",
                                source, key, words.items[i], f == NULL
                                ? "neither a restriction nor a class in"
                                " smtpd_restriction_classes"
                                : "a restriction that needs an argument;"
                                " define a class for it");
            break;
        } else {
            l->steps[l->count++].f = f;
        }
    }
    param_list_free(&words);
    if (why->len > 0) {
        check_list_free_steps(l);
        free(l);
        d = check_config_error(x, why->data);
    } else {
        d = check_push(x, NULL, l, value);
    }
    dstr_free(why);
    return d;
}

/* check_prepend - PREPEND: a header for the message of this transaction */
static void
check_prepend(struct check_run *x, const char *header)
{
    struct session *s = x->s;

    if (s->prepend == NULL)
        s->prepend = dstr_new(128, CHECK_PREPEND_MAX);
    if (dstr_appendf(s->prepend, "%s\r\n", header) < 0)
        smtpd_session_log(s, LOG_LEVEL_WARN, "PREPEND: headers longer than"
                          " %d bytes; \"%.40s\" dropped", CHECK_PREPEND_MAX,
                          header);
}

/*
 * check_action - act on an access(5) result that source (a table or a
 * policy server) gave for key.
 */
static enum check_decision
check_action(struct check_run *x, const char *source, const char *key,
             const char *value)
{
    struct dstr *why = dstr_new(64, 1024);
    struct access_result r;
    enum check_decision d = CHECK_DUNNO;
    int     code;

    if (access_parse(value, &r, why) < 0)
        log_warn("%s: bad result for %s: %s", source, key, why->data);
    switch (r.action) {
    case ACCESS_OK:
        d = CHECK_PERMIT;
        break;
    case ACCESS_REJECT:
    case ACCESS_DEFER:
        /* a bare REJECT or DEFER: access_map_reject_code and friend */
        code = !r.code_default ? r.code : r.action == ACCESS_REJECT
            ? (int) x->s->p->access_map_reject_code
            : (int) x->s->p->access_map_defer_code;
        d = check_reject(x, code, r.dsn[0] ? r.dsn
                         : code >= 500 ? "5.7.1" : "4.7.1",
                         check_lists[x->list].category, r.text);
        break;
    case ACCESS_RESTRICTIONS:
        d = check_result_list(x, source, key, r.text);
        break;
    case ACCESS_DEFER_IF_PERMIT:
        check_defer_if_permit(x, r.dsn[0] ? r.dsn : "4.7.1", r.text);
        break;
    case ACCESS_DEFER_IF_REJECT:
        x->defer_if_reject = 1;
        break;
    case ACCESS_WARN:
    case ACCESS_INFO:
        smtpd_session_log(x->s, r.action == ACCESS_WARN ? LOG_LEVEL_WARN
                          : LOG_LEVEL_INFO, "%s %s: %s",
                          access_action_name(r.action), key, r.text);
        break;
    case ACCESS_PREPEND:
        check_prepend(x, r.text);
        break;
    case ACCESS_DUNNO:
        break;
    default:
        smtpd_session_log(x->s, LOG_LEVEL_WARN, "%s: %s action %s is not"
                          " supported; ignored", source, key,
                          access_action_name(r.action));
        break;
    }
    dstr_free(why);
    return d;
}

/* check_access - check_X_access: look the thing up, act on the result */
static enum check_decision
check_access(struct check_run *x, const struct check_step *st)
{
    struct dstr *value = dstr_new(64, CHECK_VALUE_MAX);
    struct dstr *a = dstr_new(64, 1024), *b = dstr_new(64, 1024);
    const char *keys[3];
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
            break;
        case TABLE_FOUND:
            d = check_action(x, table_spec(st->table), keys[i], value->data);
            break;
        }
        break;                          /* the first key found decides */
    }
    x->list = saved;
    dstr_free(value);
    dstr_free(a);
    dstr_free(b);
    return d;
}

/* check_policy_state - Postfix's protocol_state for this check */
static const char *
check_policy_state(const struct check_run *x)
{
    switch (x->stage) {
    case SMTPD_CHECK_CLIENT:
        return "CONNECT";
    case SMTPD_CHECK_EOD:
        return "END-OF-MESSAGE";
    default:
        return x->s->last_verb ? x->s->last_verb : "CONNECT";
    }
}

static void check_policy_done(void *arg, const char *action);

/* check_policy - check_policy_service: ask, and wait for the answer */
static enum check_decision
check_policy(struct check_run *x, const struct check_step *st)
{
    struct session *s = x->s;
    struct dstr *request = dstr_new(1024, SMTPD_POLICY_REQUEST_MAX);
    char   *helo = s->helo, *sender = s->sender;

    /* the request describes what is being judged */
    s->helo = (char *) x->helo;
    s->sender = (char *) x->sender;
    smtpd_policy_request(s, check_policy_state(x), x->rcpt, request);
    s->helo = helo;
    s->sender = sender;
    x->policy = smtpd_policy_query(s->srv->policy, st->server, s->p, request,
                                   check_policy_done, x);
    dstr_free(request);
    return CHECK_WAIT;
}

/*
 * check_client_names - the client's name and reverse name, each with
 * its status (enum smtpd_dns_status). The session's own lookup says
 * them for the real client. After XCLIENT the names are those XCLIENT
 * gave (REVERSE_NAME, else NAME, as Postfix does), and "unknown" there
 * is a definite no: the proxy looked already.
 */
static void
check_client_names(const struct session *s, const char **name,
                   int *name_status, const char **reverse,
                   int *reverse_status)
{
    const struct smtpd_xclient *xc = s->xclient;

    *name = s->name != NULL ? s->name : SMTPD_DNS_UNKNOWN;
    *reverse = s->reverse_name != NULL ? s->reverse_name : SMTPD_DNS_UNKNOWN;
    *name_status = s->name_status;
    *reverse_status = s->reverse_status;
    if (xc != NULL && (xc->reverse_name != NULL
                       || !netaddr_equal(&s->addr, &xc->real_addr)
                       || xc->real_name == NULL
                       || strcmp(*name, xc->real_name) != 0)) {
        *reverse = xc->reverse_name != NULL ? xc->reverse_name : *name;
        *name_status = strcmp(*name, SMTPD_DNS_UNKNOWN) != 0 ? SMTPD_DNS_OK
            : SMTPD_DNS_PERM;
        *reverse_status = strcmp(*reverse, SMTPD_DNS_UNKNOWN) != 0
            ? SMTPD_DNS_OK : SMTPD_DNS_PERM;
    }
}

/*
 * check_unknown_client - reject_unknown_client_hostname and
 * reject_unknown_reverse_client_hostname. Only a definite no from the
 * DNS gets unknown_client_reject_code; a failure or no answer gets 450,
 * so a DNS outage never bounces mail.
 */
static enum check_decision
check_unknown_client(struct check_run *x, int reverse)
{
    const struct session *s = x->s;
    const char *name, *rname;
    int     name_status, rname_status, status, code;

    check_client_names(s, &name, &name_status, &rname, &rname_status);
    if (reverse) {
        name = rname;
        name_status = rname_status;
    }
    if (name_status == SMTPD_DNS_OK && strcmp(name, SMTPD_DNS_UNKNOWN) != 0)
        return CHECK_DUNNO;
    status = name_status == SMTPD_DNS_OK ? SMTPD_DNS_PERM : name_status;
    code = status == SMTPD_DNS_PERM ? (int) s->p->unknown_client_reject_code
        : 450;
    x->list = CL_CLIENT;
    return reverse
        ? check_reply(x, code, "4.7.1", "Client host rejected: cannot find"
                      " your reverse hostname, [%s]", s->addr_text)
        : check_reply(x, code, "4.7.25", "Client host rejected: cannot find"
                      " your hostname, [%s]", s->addr_text);
}

/*
 * check_ill_pipelining - did the client send commands ahead where it
 * may not? RFC 2920 lets a client that got PIPELINING in the EHLO reply
 * send commands in groups, except that EHLO (HELO) and DATA end a
 * group; a client that did not say EHLO may not pipeline at all, and
 * nothing may come before the greeting. The command being judged has
 * left the input buffer when a check runs, so input still waiting
 * there was sent ahead of our reply.
 *
 * XXX This looks at the buffer now, as Postfix before 2.6 did; with a
 * session flag set when the command was read (SESSION_F_ILL_PIPELINING,
 * once it exists) it also remembers an earlier violation for the rest
 * of the session, as Postfix 2.6 and later do.
 */
static int
check_ill_pipelining(const struct check_run *x)
{
    const struct session *s = x->s;

#ifdef SESSION_F_ILL_PIPELINING
    if (s->flags & SESSION_F_ILL_PIPELINING)
        return 1;
#endif
    if (s->bev == NULL
        || evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
        return 0;
    return !(s->flags & SESSION_F_EHLO) || x->stage == SMTPD_CHECK_HELO
        || x->stage == SMTPD_CHECK_DATA || x->stage == SMTPD_CHECK_CLIENT;
}

/* check_unlisted - reject_unlisted_recipient: is the recipient a user */
static enum check_decision
check_unlisted(struct check_run *x)
{
    const struct params *p = x->s->p;
    const char *rcpt = x->rcpt, *domain, *at, *keys[3];
    struct table_list *maps;
    struct dstr *value, *user, *atdomain;
    enum check_decision d = CHECK_DUNNO;
    int     local, code;
    size_t  n = 0, i;

    x->unlisted_done = 1;
    if (rcpt == NULL || *rcpt == '\0')
        return CHECK_DUNNO;
    domain = mailaddr_domain(rcpt);
    if (*domain == '\0' || check_domain_listed(domain, &p->mydestination, 0))
        local = 1;
    else if (check_domain_listed(domain, &p->relay_domains, 1))
        local = 0;
    else
        return CHECK_DUNNO;             /* not ours to know */
    maps = local ? x->cc->local_rcpt : x->cc->relay_rcpt;
    if (maps == NULL)
        return CHECK_DUNNO;             /* empty maps: everyone is listed */
    value = dstr_new(64, CHECK_VALUE_MAX);
    user = dstr_new(64, 1024);
    atdomain = dstr_new(64, 1024);
    /* user@domain, then (local) user, then @domain, as Postfix tries */
    keys[n++] = rcpt;
    if ((at = strrchr(rcpt, '@')) != NULL) {
        if (local && dstr_set(user, rcpt, (size_t) (at - rcpt)) == 0)
            keys[n++] = user->data;
        if (dstr_set_str(atdomain, at) == 0)
            keys[n++] = atdomain->data;
    }
    for (i = 0; i < n; i++) {
        switch (table_list_lookup(maps, keys[i], value, NULL)) {
        case TABLE_FOUND:
            goto done;
        case TABLE_NOTFOUND:
            continue;
        case TABLE_ERROR:
            dstr_reset(x->reply);
            (void) dstr_appendf(x->reply, "451 4.3.0 <%s>: Temporary lookup"
                                " failure", rcpt);
            d = CHECK_REJECT;
            goto done;
        }
    }
    code = (int) (local ? p->unknown_local_recipient_reject_code
                  : p->unknown_relay_recipient_reject_code);
    x->list = CL_RECIPIENT;
    d = check_reject(x, code, "5.1.1", "Recipient address", local
                     ? "User unknown in local recipient table"
                     : "User unknown in relay recipient table");
done:
    dstr_free(value);
    dstr_free(user);
    dstr_free(atdomain);
    return d;
}

/* check_step - one restriction */
static enum check_decision
check_step(struct check_run *x, const struct check_step *st)
{
    const struct session *s = x->s;

    switch (st->f->kind) {
    case CK_PERMIT:
        return CHECK_PERMIT;
    case CK_REJECT:
        return check_reject(x, (int) s->p->reject_code, "5.7.1",
                            check_lists[x->list].category, "Access denied");
    case CK_DEFER:
        return check_reject(x, (int) s->p->defer_code, "4.7.1",
                            check_lists[x->list].category, "Access denied");
    case CK_DEFER_IF_PERMIT:
        check_defer_if_permit(x, "4.7.1", "Service unavailable");
        return CHECK_DUNNO;
    case CK_DEFER_IF_REJECT:
        x->defer_if_reject = 1;
        return CHECK_DUNNO;
    case CK_WARN_IF_REJECT:
        /* the step after this one, and whatever it runs */
        x->frames[x->depth - 1].warn_step = x->frames[x->depth - 1].next;
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
            ? check_reject(x, (int) s->p->relay_domains_reject_code, "5.7.1",
                           NULL, "Relay access denied")
            : check_reject(x, (int) s->p->defer_code, "4.7.1", NULL,
                           "Relay access denied");
    case CK_NONFQDN_HELO:
        if (x->helo == NULL || check_fqdn(x->helo))
            return CHECK_DUNNO;
        x->list = CL_HELO;
        return check_reject(x, (int) s->p->non_fqdn_reject_code, "5.5.2",
                            "Helo command", "need fully-qualified hostname");
    case CK_INVALID_HELO:
        if (x->helo == NULL || check_helo_valid(x->helo))
            return CHECK_DUNNO;
        x->list = CL_HELO;
        return check_reject(x, (int) s->p->invalid_hostname_reject_code,
                            "5.5.2", "Helo command", "Invalid name");
    case CK_NONFQDN_SENDER:
        if (x->sender == NULL || *x->sender == '\0'
            || check_fqdn(mailaddr_domain(x->sender)))
            return CHECK_DUNNO;
        x->list = CL_SENDER;
        return check_reject(x, (int) s->p->non_fqdn_reject_code, "5.5.2",
                            "Sender address", "need fully-qualified address");
    case CK_NONFQDN_RCPT:
        if (x->rcpt == NULL || *mailaddr_domain(x->rcpt) == '\0'
            || check_fqdn(mailaddr_domain(x->rcpt)))
            return CHECK_DUNNO;
        return check_reject(x, (int) s->p->non_fqdn_reject_code, "5.5.2",
                            "Recipient address",
                            "need fully-qualified address");
    case CK_UNKNOWN_CLIENT:
        return check_unknown_client(x, 0);
    case CK_UNKNOWN_REVERSE:
        return check_unknown_client(x, 1);
    case CK_UNAUTH_PIPELINING:
        if (!check_ill_pipelining(x))
            return CHECK_DUNNO;
        return check_reject(x, 503, "5.5.0", check_lists[x->list].category,
                            "Improper use of SMTP command pipelining");
    case CK_UNLISTED_RCPT:
        if (x->rcpt == NULL)
            return CHECK_DUNNO;
        return check_unlisted(x);
    case CK_ACCESS:
        return check_access(x, st);
    case CK_POLICY:
        return check_policy(x, st);
    case CK_CLASS:
        return check_push(x, &x->cc->classes[st->cls].list, NULL,
                          x->cc->classes[st->cls].name);
    }
    return CHECK_DUNNO;
}

/* check_run_free - the end of a walk */
static void
check_run_free(struct check_run *x)
{
    struct check_conf *cc;

    check_pop_all(x);
    x->s->check = NULL;
    dstr_free(x->defer_if_permit);
    free(x->arg);
    free(x);
    if (--check_runs == 0) {
        while ((cc = check_retired) != NULL) {
            check_retired = cc->next;
            check_conf_free(cc);
        }
    }
}

/*
 * check_walk - run steps until the stage is decided or must wait.
 * Returns 0, -1 (reply set) or SMTPD_CHECK_WAIT.
 */
static int
check_walk(struct check_run *x)
{
    struct check_frame *f;

    for (;;) {
        if (x->depth == 0) {
            /* between lists: start the next one, if any */
            if (x->li >= x->nlists) {
                /* smtpd_reject_unlisted_recipient: after the lists */
                if (x->stage == SMTPD_CHECK_RCPT && !x->unlisted_done
                    && x->s->p->smtpd_reject_unlisted_recipient
                    && check_unlisted(x) == CHECK_REJECT)
                    return -1;
                if (x->defer_if_permit != NULL) {
                    (void) dstr_set_str(x->reply, x->defer_if_permit->data);
                    return -1;
                }
                return 0;
            }
            (void) check_push(x, &x->cc->lists[x->lists[x->li]], NULL,
                              check_lists[x->lists[x->li]].param);
        }
        f = &x->frames[x->depth - 1];
        if (f->next >= f->l->count) {
            /* a list (or a class) ran out: no objection */
            check_pop(x);
            if (x->depth == 0)
                x->li++;
            continue;
        }
        x->list = x->lists[x->li];
        switch (check_step(x, &f->l->steps[f->next++])) {
        case CHECK_DUNNO:
            break;
        case CHECK_PERMIT:
            /* a permit anywhere in a list, classes included, ends it */
            check_pop_all(x);
            x->li++;
            break;
        case CHECK_REJECT:
            return -1;
        case CHECK_WAIT:
            return SMTPD_CHECK_WAIT;
        }
    }
}

/* check_finish - the stage is decided after a wait: tell, then go on */
static void
check_finish(struct check_run *x, int result)
{
    struct session *s = x->s;
    smtpd_check_fn *done = x->done;
    struct dstr *reply = x->reply;

    check_run_free(x);
    s->flags &= ~SESSION_F_JOB;
    done(s, result, reply);
    if (!(s->flags & (SESSION_F_JOB | SESSION_F_DEAD)))
        smtpd_session_resume(s);
    smtpd_session_end(s);
}

/* check_policy_done - a policy server answered (or the default action) */
static void
check_policy_done(void *arg, const char *action)
{
    struct check_run *x = arg;
    struct dstr *key = dstr_new(64, 2048);
    int     result;

    x->policy = NULL;
    /* the list that the step belongs to names the rejected thing */
    x->list = x->lists[x->li];
    switch (check_action(x, "policy", check_key(x, x->list, key), action)) {
    case CHECK_PERMIT:
        check_pop_all(x);
        x->li++;
        break;
    case CHECK_REJECT:
        dstr_free(key);
        check_finish(x, -1);
        return;
    default:
        break;
    }
    dstr_free(key);
    if ((result = check_walk(x)) != SMTPD_CHECK_WAIT)
        check_finish(x, result);
}

/* check_plan - the lists a stage runs, in order */
static void
check_plan(struct check_run *x)
{
    const struct params *p = x->s->p;
    size_t  n = 0;

    switch (x->stage) {
    case SMTPD_CHECK_CLIENT:
        x->lists[n++] = CL_CLIENT;
        break;
    case SMTPD_CHECK_HELO:
        x->lists[n++] = CL_HELO;
        break;
    case SMTPD_CHECK_MAIL:
        x->lists[n++] = CL_CLIENT;
        x->lists[n++] = CL_SENDER;
        break;
    case SMTPD_CHECK_RCPT:
        if (p->smtpd_delay_reject) {
            x->lists[n++] = CL_CLIENT;
            x->lists[n++] = CL_HELO;
            x->lists[n++] = CL_SENDER;
        }
        x->lists[n++] = CL_RELAY;
        x->lists[n++] = CL_RECIPIENT;
        break;
    case SMTPD_CHECK_DATA:
        x->lists[n++] = CL_DATA;
        break;
    case SMTPD_CHECK_EOD:
        x->lists[n++] = CL_EOD;
        break;
    }
    x->nlists = n;
}

/* smtpd_check - run the lists of a stage; see smtpd_check.h */
int
smtpd_check(struct session *s, enum smtpd_check_stage stage, const char *arg,
            struct dstr *reply, smtpd_check_fn *done)
{
    struct check_run *x;
    int     result;

    if (s->check != NULL)
        log_panic("%s: a check is already running", __func__);
    x = xcalloc(1, sizeof(*x));
    x->s = s;
    x->stage = stage;
    x->reply = reply;
    x->done = done;
    x->arg = arg != NULL ? xstrdup(arg) : NULL;
    x->helo = stage == SMTPD_CHECK_HELO ? x->arg : s->helo;
    x->sender = stage == SMTPD_CHECK_MAIL ? x->arg : s->sender;
    x->rcpt = stage == SMTPD_CHECK_RCPT ? x->arg : NULL;
    x->cc = check_conf_get(s->p);
    if (x->cc->broken != NULL) {
        smtpd_session_log(s, LOG_LEVEL_WARN, "restrictions are broken: %s",
                          x->cc->broken);
        (void) dstr_set_str(reply, "451 4.3.5 Server configuration error");
        free(x->arg);
        free(x);
        return -1;
    }
    check_plan(x);
    s->check = x;
    check_runs++;
    if ((result = check_walk(x)) == SMTPD_CHECK_WAIT) {
        s->flags |= SESSION_F_JOB;
        smtpd_session_arm(s);           /* the client's timer waits */
        return result;
    }
    check_run_free(x);
    return result;
}

/* smtpd_check_cancel - give up a waiting check; the session dies */
void
smtpd_check_cancel(struct session *s)
{
    struct check_run *x = s->check;

    if (x == NULL)
        return;
    if (x->policy != NULL)
        smtpd_policy_cancel(x->policy);
    x->policy = NULL;
    s->flags |= SESSION_F_DEAD;
    (void) dstr_set_str(x->reply, "421 4.3.2 Service shutting down");
    check_finish(x, -1);
}
