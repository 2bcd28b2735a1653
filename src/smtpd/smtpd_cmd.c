/* smtpd_cmd - the SMTP command table: check, then proceed; see smtpd_cmd.h. */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "util/mailaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/params.h"
#include "global/client_history.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_limits.h"
#include "smtpd/smtpd_message.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_server.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"

#define CMD_HELO_MAX 255                /* octets of a HELO/EHLO argument */
#define CMD_BDAT_DIGITS 18              /* a chunk size fits a long long */
#define CMD_ESMTP_MAX 16                /* MAIL/RCPT parameters to milters */

/* What check learns and proceed uses: the command being executed. */
struct cmd_args {
    const struct cmd_def *def;
    size_t  index;                      /* of def in the table */
    char   *copy;                       /* the line, kept while waiting */
    struct dstr *reply;                 /* a restriction's verdict */
    const char *verb;                   /* the table's spelling */
    const char *line;
    size_t  len;
    const char *arg;
    size_t  arg_len;
    struct mailaddr_path path;
    struct mailaddr_params params;
    long long bdat_size;
    int     bdat_last;
    struct smtpd_xclient_attrs *xattrs; /* XCLIENT, XFORWARD */
    const char *check_arg;              /* what the restrictions judge */
};

typedef int cmd_check_fn(struct session *s, struct cmd_args *a);
typedef int cmd_proceed_fn(struct session *s, struct cmd_args *a);

#define CMD_F_JUNK     0x1              /* counts towards the junk limit */
#define CMD_F_IN_BDAT  0x2              /* allowed between BDAT chunks */
#define CMD_F_RESET    0x4              /* ends an open BDAT message first */

struct cmd_def {
    const char *verb;
    cmd_check_fn *check;
    cmd_proceed_fn *proceed;
    unsigned flags;
    size_t  allowance;                  /* extra octets on the line */
};

static cmd_check_fn cmd_helo_check, cmd_mail_check, cmd_rcpt_check,
        cmd_data_check, cmd_bdat_check, cmd_noarg_check, cmd_vrfy_check,
        cmd_starttls_check, cmd_any_check, cmd_xclient_check,
        cmd_xforward_check;
static cmd_proceed_fn cmd_helo, cmd_ehlo, cmd_mail, cmd_rcpt, cmd_data,
        cmd_bdat, cmd_rset, cmd_noop, cmd_quit, cmd_vrfy, cmd_help,
        cmd_starttls, cmd_xclient, cmd_xforward;

/* *INDENT-OFF* */
static const struct cmd_def cmd_table[] = {
    {"HELO", cmd_helo_check, cmd_helo, CMD_F_RESET, 0},
    {"EHLO", cmd_helo_check, cmd_ehlo, CMD_F_RESET, 0},
    {"STARTTLS", cmd_starttls_check, cmd_starttls, 0, 0},
    {"MAIL", cmd_mail_check, cmd_mail, 0, SMTPD_CMD_MAIL_ALLOWANCE},
    {"RCPT", cmd_rcpt_check, cmd_rcpt, CMD_F_IN_BDAT,
     SMTPD_CMD_RCPT_ALLOWANCE},
    {"DATA", cmd_data_check, cmd_data, CMD_F_IN_BDAT, 0},
    {"BDAT", cmd_bdat_check, cmd_bdat, CMD_F_IN_BDAT, 0},
    {"RSET", cmd_noarg_check, cmd_rset, CMD_F_JUNK | CMD_F_RESET, 0},
    {"NOOP", cmd_any_check, cmd_noop, CMD_F_JUNK | CMD_F_IN_BDAT, 0},
    {"VRFY", cmd_vrfy_check, cmd_vrfy, CMD_F_JUNK, 0},
    {"HELP", cmd_any_check, cmd_help, CMD_F_JUNK | CMD_F_IN_BDAT, 0},
    {"QUIT", cmd_noarg_check, cmd_quit, CMD_F_RESET, 0},
    /* not junk: a proxy sends them for every session or message */
    {"XCLIENT", cmd_xclient_check, cmd_xclient, 0,
     SMTPD_XCLIENT_LINE_ALLOWANCE},
    {"XFORWARD", cmd_xforward_check, cmd_xforward, 0,
     SMTPD_XCLIENT_LINE_ALLOWANCE},
    {NULL, NULL, NULL, 0, 0},
};
/* *INDENT-ON* */

#define CMD_UNKNOWN_INDEX (SESSION_COUNTERS - 1)

/* smtpd_cmd_counter_name - the log name of counter index, or NULL */
const char *
smtpd_cmd_counter_name(size_t index)
{
    static char names[SESSION_COUNTERS][12];
    size_t  i, n;

    if (index == CMD_UNKNOWN_INDEX)
        return "unknown";
    for (n = 0; cmd_table[n].verb != NULL; n++)
         /* void */ ;
    if (index >= n)
        return NULL;
    if (names[index][0] == '\0') {
        for (i = 0; cmd_table[index].verb[i] && i + 1 < sizeof(names[0]); i++)
            names[index][i] = (char) (cmd_table[index].verb[i] | 0x20);
        names[index][i] = '\0';
    }
    return names[index];
}

/* smtpd_cmd_split - the verb's length; *arg after the blanks that follow */
size_t
smtpd_cmd_split(const char *line, size_t len, const char **arg,
                size_t *arg_len)
{
    size_t  v = 0, a;

    while (v < len && line[v] != ' ' && line[v] != '\t')
        v++;
    a = v;
    while (a < len && (line[a] == ' ' || line[a] == '\t'))
        a++;
    *arg = line + a;
    *arg_len = len - a;
    /* trailing blanks are not part of the argument */
    while (*arg_len > 0 && ((*arg)[*arg_len - 1] == ' '
                            || (*arg)[*arg_len - 1] == '\t'))
        (*arg_len)--;
    return v;
}

/* cmd_hostname - this server's name in replies */
static const char *
cmd_hostname(const struct session *s)
{
    return smtpd_server_hostname(s->p);
}

/* cmd_printable - is the text printable ASCII or UTF-8 (no controls) */
static int
cmd_printable(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++)
        if ((unsigned char) p[i] < 32 || (unsigned char) p[i] == 127)
            return 0;
    return 1;
}

/* cmd_any_check - anything goes (NOOP, HELP) */
static int
cmd_any_check(struct session *s, struct cmd_args *a)
{
    (void) s;
    (void) a;
    return 0;
}

/* cmd_noarg_check - RSET and QUIT take no argument */
static int
cmd_noarg_check(struct session *s, struct cmd_args *a)
{
    if (a->arg_len > 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: %s", a->verb);
        return -1;
    }
    return 0;
}

/*
 * cmd_log_reject - a refusal of the command executing, in Postfix's
 * words: MAIL names the sender it refuses, RCPT and VRFY the recipient
 */
static void
cmd_log_reject(struct session *s, const char *what, const char *reply)
{
    const struct cmd_args *a = s->cmd;
    const char *verb = s->last_verb ? s->last_verb : "CONNECT";
    const char *arg = a != NULL ? a->check_arg : NULL;

    smtpd_session_log_reject(s, what, verb, reply,
                             strcmp(verb, "MAIL") == 0 ? arg : NULL,
                             strcmp(verb, "RCPT") == 0
                             || strcmp(verb, "VRFY") == 0 ? arg : NULL);
}

/* cmd_refuse - a restriction said no: log it and tell the client */
static void
cmd_refuse(struct session *s, const struct dstr *reply)
{
    cmd_log_reject(s, "reject", reply->data);
    smtpd_session_reply(s, "%s", reply->data);
    /* one abuse event per session: a list server's stale addresses
     * must not make it a suspect */
    if (!(s->flags & SESSION_F_REJECTED))
        smtpd_session_history(s, CLIENT_HISTORY_REJECT);
    s->flags |= SESSION_F_REJECTED;
}

static void cmd_finish(struct session *s, struct cmd_args *a, int ok);
static void cmd_keep(struct cmd_args *a);
static int cmd_go(struct session *s, struct cmd_args *a);

/*
 * cmd_restrict_done - the verdict of a restriction that had to wait (a
 * policy server): refuse, or go on (milters, proceed); then the command
 * is over.
 */
static void
cmd_restrict_done(struct session *s, int result, struct dstr *reply)
{
    struct cmd_args *a = s->cmd;
    int     ok = 0, ret;

    if (!(s->flags & SESSION_F_DEAD) && s->state != SESSION_CLOSING) {
        if (result < 0)
            cmd_refuse(s, reply);
        else if ((ret = cmd_go(s, a)) == SMTPD_CHECK_WAIT)
            return;                     /* cmd_milter_done() goes on */
        else
            ok = ret == 0;
    }
    cmd_finish(s, a, ok);
}

/*
 * cmd_restrict - run a restriction stage for the command executing. 0:
 * go on; -1: refused (replied); SMTPD_CHECK_WAIT: the verdict comes
 * later, to cmd_restrict_done().
 */
static int
cmd_restrict(struct session *s, enum smtpd_check_stage stage, const char *arg)
{
    struct cmd_args *a = s->cmd;
    int     ret;

    if (a->reply == NULL)
        a->reply = dstr_new(128, 2048);
    a->check_arg = arg;
    if ((ret = smtpd_check(s, stage, arg, a->reply, cmd_restrict_done)) < 0)
        cmd_refuse(s, a->reply);
    return ret;
}

/*
 * cmd_helo_check - a name is required. Without smtpd_delay_reject the
 * HELO restrictions judge the new name now; with it (the default), at
 * RCPT time, as in Postfix.
 */
static int
cmd_helo_check(struct session *s, struct cmd_args *a)
{
    char   *name;
    int     ret = 0;

    if (a->arg_len == 0 || a->arg_len > CMD_HELO_MAX
        || !cmd_printable(a->arg, a->arg_len)) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: %s hostname", a->verb);
        return -1;
    }
    if (!s->p->smtpd_delay_reject) {
        name = xstrndup(a->arg, a->arg_len);
        ret = cmd_restrict(s, SMTPD_CHECK_HELO, name);
        free(name);
    }
    return ret;
}

/* cmd_set_helo - remember the name; a greeting ends any transaction */
static void
cmd_set_helo(struct session *s, struct cmd_args *a)
{
    free(s->helo);
    s->helo = xstrndup(a->arg, a->arg_len);
    smtpd_session_reset_transaction(s);
    smtpd_xclient_forward_reset(s);
}

/* cmd_helo - HELO: plain SMTP */
static int
cmd_helo(struct session *s, struct cmd_args *a)
{
    cmd_set_helo(s, a);
    s->flags &= ~SESSION_F_EHLO;
    smtpd_session_reply(s, "250 %s", cmd_hostname(s));
    return 0;
}

/* cmd_ehlo - EHLO: the extensions this session offers */
static int
cmd_ehlo(struct session *s, struct cmd_args *a)
{
    cmd_set_helo(s, a);
    s->flags |= SESSION_F_EHLO;
    smtpd_session_reply(s, "250-%s", cmd_hostname(s));
    smtpd_session_reply(s, "250-PIPELINING");
    smtpd_session_reply(s, "250-SIZE %lld", s->p->message_size_limit);
    if (!s->p->disable_vrfy_command)
        smtpd_session_reply(s, "250-VRFY");
    if (smtpd_server_tls(s->srv, s->service) != NULL
        && !(s->flags & SESSION_F_TLS))
        smtpd_session_reply(s, "250-STARTTLS");
    smtpd_xclient_ehlo(s);
    smtpd_session_reply(s, "250-ENHANCEDSTATUSCODES");
    smtpd_session_reply(s, "250-8BITMIME");
    smtpd_session_reply(s, "250-DSN");
    smtpd_session_reply(s, "250-SMTPUTF8");
    smtpd_session_reply(s, "250 CHUNKING");
    return 0;
}

/* cmd_starttls_check - offered, not yet active, outside a transaction */
static int
cmd_starttls_check(struct session *s, struct cmd_args *a)
{
    if (s->flags & SESSION_F_TLS) {
        smtpd_session_reply(s, "554 5.5.1 Error: TLS already active");
        return -1;
    }
    if (smtpd_server_tls(s->srv, s->service) == NULL) {
        smtpd_session_reply(s, "502 5.5.1 Error: command not implemented");
        return -1;
    }
    if (a->arg_len > 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: STARTTLS");
        return -1;
    }
    if (s->sender != NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return -1;
    }
    return 0;
}

/* cmd_starttls - say yes in clear, then the handshake */
static int
cmd_starttls(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_session_reply(s, "220 2.0.0 Ready to start TLS");
    return smtpd_session_start_tls(s);
}

/* cmd_mail_opts - what MAIL and RCPT may carry in this session */
static unsigned
cmd_mail_opts(const struct session *s)
{
    unsigned opts = MAILADDR_OPT_LAX;

    if (s->flags & SESSION_F_EHLO)
        opts |= MAILADDR_OPT_SIZE | MAILADDR_OPT_8BITMIME
            | MAILADDR_OPT_SMTPUTF8 | MAILADDR_OPT_DSN;
    return opts;
}

/* cmd_mail_check - sequence, syntax and declared size of MAIL FROM */
static int
cmd_mail_check(struct session *s, struct cmd_args *a)
{
    enum mailaddr_err err;

    if (s->p->smtpd_helo_required && s->helo == NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return -1;
    }
    if (s->sender != NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: nested MAIL command");
        return -1;
    }
    if (a->arg_len < 5 || strncasecmp(a->arg, "FROM:", 5) != 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return -1;
    }
    err = mailaddr_parse(MAILADDR_MAIL, a->arg + 5, a->arg_len - 5,
                         cmd_mail_opts(s), &a->path, &a->params);
    if (err != MAILADDR_OK) {
        smtpd_session_reply(s, "%s", mailaddr_reply(err, MAILADDR_MAIL));
        return -1;
    }
    if ((a->params.seen & MAILADDR_P_SIZE)
        && a->params.size > s->p->message_size_limit) {
        smtpd_session_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        return -1;
    }
    if (smtpd_limits_mail(s) < 0)
        return -1;                      /* 450 4.7.1: too much mail */
    if (!s->p->smtpd_delay_reject)
        return cmd_restrict(s, SMTPD_CHECK_MAIL, a->path.addr);
    return 0;
}

/* cmd_mail - start the transaction */
static int
cmd_mail(struct session *s, struct cmd_args *a)
{
    smtpd_session_reset_transaction(s);
    s->sender = xstrdup(a->path.addr);
    s->mail_flags = a->params.seen;
    s->mail_size = a->params.size;
    s->mail_body = (int) a->params.body;
    s->mail_ret = (int) a->params.ret;
    if (a->params.seen & MAILADDR_P_ENVID)
        s->mail_envid = xstrdup(a->params.envid);
    smtpd_session_reply(s, "250 2.1.0 Ok");
    return 0;
}

/* cmd_rcpt_check - sequence, syntax and the recipient limit */
static int
cmd_rcpt_check(struct session *s, struct cmd_args *a)
{
    enum mailaddr_err err;
    unsigned opts = cmd_mail_opts(s);

    if (s->sender == NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: need MAIL command");
        return -1;
    }
    if (s->msg != NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: RCPT after BDAT");
        return -1;
    }
    if (a->arg_len < 3 || strncasecmp(a->arg, "TO:", 3) != 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return -1;
    }
    if (s->mail_flags & MAILADDR_P_SMTPUTF8)
        opts |= MAILADDR_OPT_UTF8_TXN;
    err = mailaddr_parse(MAILADDR_RCPT, a->arg + 3, a->arg_len - 3, opts,
                         &a->path, &a->params);
    if (err != MAILADDR_OK) {
        smtpd_session_reply(s, "%s", mailaddr_reply(err, MAILADDR_RCPT));
        return -1;
    }
    if (s->rcpt_count >= (size_t) s->p->smtpd_recipient_limit) {
        /* the client is told to try the rest later: not its error */
        smtpd_session_reply_nocount(s, "452 4.5.3 Error: too many recipients");
        return -1;
    }
    if (smtpd_limits_rcpt(s) < 0)
        return -1;                      /* 450 4.7.1: too many recipients */
    return cmd_restrict(s, SMTPD_CHECK_RCPT, a->path.addr);
}

/* cmd_rcpt - add the recipient with its DSN options */
static int
cmd_rcpt(struct session *s, struct cmd_args *a)
{
    struct smtpd_rcpt *r;

    if (s->rcpt_count == s->rcpt_alloc) {
        s->rcpt_alloc = s->rcpt_alloc ? s->rcpt_alloc * 2 : 4;
        s->rcpt = xrealloc_array(s->rcpt, s->rcpt_alloc, sizeof(*s->rcpt));
    }
    r = &s->rcpt[s->rcpt_count++];
    r->addr = xstrdup(a->path.addr);
    r->notify = (a->params.seen & MAILADDR_P_NOTIFY) ? a->params.notify : 0;
    r->orcpt = (a->params.seen & MAILADDR_P_ORCPT)
        ? xstrdup(a->params.orcpt) : NULL;
    /* the queue ID, as Postfix makes it: with the first valid recipient */
    if (s->queue_id[0] == '\0'
        && queue_id_new(s->queue_id, sizeof(s->queue_id)) < 0)
        log_panic("%s: queue ID buffer too small", __func__);
    smtpd_session_reply(s, "250 2.1.5 Ok");
    return 0;
}

/* cmd_data_check - no argument, a sender and a recipient, not in BDAT */
static int
cmd_data_check(struct session *s, struct cmd_args *a)
{
    if (a->arg_len > 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: DATA");
        return -1;
    }
    if (s->msg != NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: DATA after BDAT");
        return -1;
    }
    if (s->sender == NULL) {
        smtpd_session_reply(s, "503 5.5.1 Error: need MAIL command");
        return -1;
    }
    if (s->rcpt_count == 0) {
        smtpd_session_reply(s, "503 5.5.1 Error: need RCPT command");
        return -1;
    }
    return cmd_restrict(s, SMTPD_CHECK_DATA, NULL);
}

/* cmd_data - the content follows */
static int
cmd_data(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_message_data(s);
    return 0;
}

/* cmd_bdat_parse - "SIZE [LAST]"; -1 when the size cannot be known */
static int
cmd_bdat_parse(struct cmd_args *a)
{
    size_t  i = 0, digits;
    long long n = 0;

    while (i < a->arg_len && a->arg[i] >= '0' && a->arg[i] <= '9') {
        n = n * 10 + (a->arg[i] - '0');
        if (++i > CMD_BDAT_DIGITS)
            return -1;
    }
    digits = i;
    if (digits == 0 || n > SMTPD_MESSAGE_BDAT_MAX)
        return -1;
    a->bdat_size = n;
    a->bdat_last = 0;
    while (i < a->arg_len && (a->arg[i] == ' ' || a->arg[i] == '\t'))
        i++;
    if (i == a->arg_len && i == digits)
        return 0;
    if (i == digits || a->arg_len - i != 4
        || strncasecmp(a->arg + i, "LAST", 4) != 0)
        return -1;
    a->bdat_last = 1;
    return 0;
}

/*
 * cmd_bdat_check - a chunk size we can trust, or the session ends: its
 * bytes follow the command whatever we answer, and without the size we
 * cannot tell where they stop. A refused chunk with a good size is read
 * and thrown away, then refused (smtpd_message_input()).
 */
static int
cmd_bdat_check(struct session *s, struct cmd_args *a)
{
    const char *error = NULL;

    if (cmd_bdat_parse(a) < 0) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: BDAT count [LAST]");
        smtpd_session_close(s);
        return -1;
    }
    if (s->bdat_error != NULL)
        error = s->bdat_error;
    else if (s->sender == NULL)
        error = "503 5.5.1 Error: need MAIL command";
    else if (s->rcpt_count == 0)
        error = "503 5.5.1 Error: need RCPT command";
    if (error != NULL) {
        s->bdat_error = error;
        s->bdat_remaining = a->bdat_size;
        s->bdat_last = a->bdat_last;
        s->data_bytes = 0;
        smtpd_session_set_state(s, SESSION_BDAT);
        return -1;
    }
    return 0;
}

/* cmd_bdat - read the chunk into the message */
static int
cmd_bdat(struct session *s, struct cmd_args *a)
{
    smtpd_message_bdat(s, a->bdat_size, a->bdat_last);
    return 0;
}

/* cmd_rset - forget the transaction */
static int
cmd_rset(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_session_reset_transaction(s);
    smtpd_xclient_forward_reset(s);
    smtpd_session_reply(s, "250 2.0.0 Ok");
    return 0;
}

/* cmd_noop - nothing */
static int
cmd_noop(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_session_reply(s, "250 2.0.0 Ok");
    return 0;
}

/* cmd_quit - goodbye */
static int
cmd_quit(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_session_reply(s, "221 2.0.0 Bye");
    smtpd_session_close(s);
    return 0;
}

/* cmd_vrfy_check - enabled, and an argument we can echo */
static int
cmd_vrfy_check(struct session *s, struct cmd_args *a)
{
    if (s->p->disable_vrfy_command) {
        smtpd_session_reply(s, "502 5.5.1 VRFY command is disabled");
        return -1;
    }
    if (a->arg_len == 0 || a->arg_len > MAILADDR_PATH_MAX
        || !cmd_printable(a->arg, a->arg_len)) {
        smtpd_session_reply(s, "501 5.5.4 Syntax: VRFY address");
        return -1;
    }
    return 0;
}

/* cmd_vrfy - 252: we do not say, but we will try (RFC 5321 3.5.3) */
static int
cmd_vrfy(struct session *s, struct cmd_args *a)
{
    const char *p = a->arg;
    size_t  n = a->arg_len;

    if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
        p++;
        n -= 2;
    }
    smtpd_session_reply(s, "252 2.0.0 <%.*s>", (int) n, p);
    return 0;
}

/* cmd_help - the verbs we know */
static int
cmd_help(struct session *s, struct cmd_args *a)
{
    (void) a;
    smtpd_session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA"
                        " BDAT RSET NOOP QUIT VRFY HELP%s",
                        smtpd_server_tls(s->srv, s->service)
                        ? " STARTTLS" : "");
    return 0;
}

/* cmd_xclient_check - in sequence, authorized, well-formed */
static int
cmd_xclient_check(struct session *s, struct cmd_args *a)
{
    return smtpd_xclient_check(s, SMTPD_XCLIENT_XCLIENT, a->arg, a->arg_len,
                               &a->xattrs);
}

/* cmd_xclient_milters - the milters heard of the new client */
static void
cmd_xclient_milters(void *arg, const struct smtpd_milter_result *r)
{
    struct session *s = arg;

    s->flags &= ~SESSION_F_JOB;
    if (!(s->flags & SESSION_F_DEAD) && s->state != SESSION_CLOSING
        && r->action != SMTPD_MILTER_CONTINUE
        && r->action != SMTPD_MILTER_ACCEPT) {
        smtpd_session_log_reject(s, "milter-reject", "CONNECT", r->reply,
                                 NULL, NULL);
        if (r->close) {
            smtpd_session_reply_nocount(s, "%s", r->reply);
            smtpd_session_close(s);
        }
    }
    smtpd_session_resume(s);
    smtpd_session_end(s);
}

/*
 * cmd_xclient - become the named client; a new 220 greeting. The
 * milters start over too: new connections, told of the new client (and
 * chosen by its personality).
 */
static int
cmd_xclient(struct session *s, struct cmd_args *a)
{
    smtpd_xclient_proceed(s, a->xattrs);
    s->milters = smtpd_milter_free(s->milters);
    if ((s->milters = smtpd_milter_new(s)) != NULL) {
        s->flags |= SESSION_F_JOB;
        smtpd_session_arm(s);
        smtpd_milter_stage(s->milters, SMTPD_MILTER_CONNECT, NULL,
                           cmd_xclient_milters, s);
    }
    return 0;
}

/* cmd_xforward_check - in sequence, authorized, well-formed */
static int
cmd_xforward_check(struct session *s, struct cmd_args *a)
{
    return smtpd_xclient_check(s, SMTPD_XCLIENT_XFORWARD, a->arg, a->arg_len,
                               &a->xattrs);
}

/* cmd_xforward - keep the attributes for the next message */
static int
cmd_xforward(struct session *s, struct cmd_args *a)
{
    smtpd_xclient_forward_proceed(s, a->xattrs);
    return 0;
}

/*
 * cmd_esmtp - the ESMTP parameters of MAIL or RCPT as sent: the words
 * after the path (a quoted local part may hold '>'). Pointers into buf.
 */
static size_t
cmd_esmtp(const struct cmd_args *a, char *buf, size_t size,
          const char **out, size_t max)
{
    const char *p = a->arg, *end = a->arg + a->arg_len;
    size_t  n = 0, len;
    int     quoted = 0;

    p = memchr(p, ':', (size_t) (end - p));
    if (p == NULL)
        return 0;
    for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
        /* void */ ;
    if (p < end && *p == '<') {
        for (; p < end; p++) {
            if (*p == '\\' && quoted && p + 1 < end)
                p++;
            else if (*p == '"')
                quoted = !quoted;
            else if (*p == '>' && !quoted)
                break;
        }
        if (p < end)
            p++;
    } else {
        while (p < end && *p != ' ' && *p != '\t')
            p++;
    }
    len = (size_t) (end - p) < size - 1 ? (size_t) (end - p) : size - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    for (p = buf; *p && n < max;) {
        while (*p == ' ' || *p == '\t')
            buf[p++ - buf] = '\0';
        if (*p == '\0')
            break;
        out[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

/* cmd_milter_stage - the milter stage of the command executing, or -1 */
static int
cmd_milter_stage(const struct session *s, const struct cmd_args *a)
{
    const char *v = a->def->verb;

    if (s->milters == NULL)
        return -1;
    if (strcmp(v, "HELO") == 0 || strcmp(v, "EHLO") == 0)
        return SMTPD_MILTER_HELO;
    if (strcmp(v, "MAIL") == 0)
        return SMTPD_MILTER_MAIL;
    if (strcmp(v, "RCPT") == 0)
        return SMTPD_MILTER_RCPT;
    if (strcmp(v, "DATA") == 0 || (strcmp(v, "BDAT") == 0 && s->msg == NULL
                                   && s->bdat_error == NULL))
        return SMTPD_MILTER_DATA;
    return -1;
}

/*
 * cmd_milter_refuse - a milter said no: log it as Postfix does, tell the
 * client. A refused BDAT chunk is still read (its bytes follow), then
 * the milter's reply is given.
 */
static void
cmd_milter_refuse(struct session *s, struct cmd_args *a,
                  const struct smtpd_milter_result *r)
{
    cmd_log_reject(s, "milter-reject", r->reply);
    smtpd_session_history(s, CLIENT_HISTORY_REJECT);
    if (strcmp(a->def->verb, "BDAT") == 0 && !r->close) {
        s->bdat_error = r->reply;       /* kept until the next stage */
        s->bdat_remaining = a->bdat_size;
        s->bdat_last = a->bdat_last;
        s->data_bytes = 0;
        smtpd_session_set_state(s, SESSION_BDAT);
        return;
    }
    smtpd_session_reply(s, "%s", r->reply);
    if (r->close)
        smtpd_session_close(s);
}

/* cmd_milter_done - the milters answered: refuse, or proceed */
static void
cmd_milter_done(void *arg, const struct smtpd_milter_result *r)
{
    struct session *s = arg;
    struct cmd_args *a = s->cmd;
    int     ok = 0;

    s->flags &= ~SESSION_F_JOB;
    if (!(s->flags & SESSION_F_DEAD) && s->state != SESSION_CLOSING) {
        if (r->action == SMTPD_MILTER_REJECT
            || r->action == SMTPD_MILTER_TEMPFAIL) {
            cmd_milter_refuse(s, a, r);
        } else {
            if (r->action == SMTPD_MILTER_DISCARD)
                smtpd_session_log(s, LOG_LEVEL_INFO, "milter-discard: %s:"
                                  " milter triggers DISCARD action", a->verb);
            ok = a->def->proceed(s, a) == 0;
        }
    }
    cmd_finish(s, a, ok);
    if (!(s->flags & SESSION_F_JOB))
        smtpd_session_resume(s);
    smtpd_session_end(s);
}

/*
 * cmd_go - the checks passed: the milters' stage for this command, if
 * any, then proceed. Returns what proceed returns, or SMTPD_CHECK_WAIT
 * when the milters answer later (to cmd_milter_done()).
 */
static int
cmd_go(struct session *s, struct cmd_args *a)
{
    struct smtpd_milter_args ma;
    const char *esmtp[CMD_ESMTP_MAX];
    char    buf[SMTPD_CMD_RCPT_ALLOWANCE + 1024], *name = NULL;
    int     stage = cmd_milter_stage(s, a);

    if (stage < 0)
        return a->def->proceed(s, a);
    memset(&ma, 0, sizeof(ma));
    ma.queue_id = s->queue_id[0] ? s->queue_id : NULL;
    switch (stage) {
    case SMTPD_MILTER_HELO:
        ma.arg = name = xstrndup(a->arg, a->arg_len);
        break;
    case SMTPD_MILTER_MAIL:
    case SMTPD_MILTER_RCPT:
        ma.arg = a->path.addr;
        ma.esmtp = esmtp;
        ma.nesmtp = cmd_esmtp(a, buf, sizeof(buf), esmtp, CMD_ESMTP_MAX);
        break;
    default:
        break;
    }
    if (a->copy == NULL)
        cmd_keep(a);                    /* proceed runs later */
    s->flags |= SESSION_F_JOB;          /* no input, no timer meanwhile */
    smtpd_session_arm(s);
    smtpd_milter_stage(s->milters, (enum smtpd_milter_stage) stage, &ma,
                       cmd_milter_done, s);
    free(name);
    return SMTPD_CHECK_WAIT;
}

/* cmd_unknown_done - the milters heard an unknown command */
static void
cmd_unknown_done(void *arg, const struct smtpd_milter_result *r)
{
    struct session *s = arg;

    s->flags &= ~SESSION_F_JOB;
    if (!(s->flags & SESSION_F_DEAD) && s->state != SESSION_CLOSING) {
        if (r->action == SMTPD_MILTER_REJECT
            || r->action == SMTPD_MILTER_TEMPFAIL) {
            smtpd_session_log_reject(s, "milter-reject", "UNKNOWN", r->reply,
                                     NULL, NULL);
            smtpd_session_reply(s, "%s", r->reply);
            if (r->close)
                smtpd_session_close(s);
        } else {
            smtpd_session_reply(s, "502 5.5.2 Error: command not"
                                " recognized");
        }
    }
    smtpd_session_resume(s);
    smtpd_session_end(s);
}

/* cmd_unknown - an unknown command: the milters hear it, then 502 */
static void
cmd_unknown(struct session *s, const char *line, size_t len)
{
    struct smtpd_milter_args ma;
    char   *copy = xstrndup(line, len);

    memset(&ma, 0, sizeof(ma));
    ma.arg = copy;
    s->flags |= SESSION_F_JOB;
    smtpd_session_arm(s);
    smtpd_milter_stage(s->milters, SMTPD_MILTER_UNKNOWN, &ma,
                       cmd_unknown_done, s);
    free(copy);                         /* the milter client keeps a copy */
}

/* cmd_find - the table row of a verb, or NULL */
static const struct cmd_def *
cmd_find(const char *verb, size_t len)
{
    const struct cmd_def *c;

    for (c = cmd_table; c->verb != NULL; c++)
        if (strlen(c->verb) == len && strncasecmp(c->verb, verb, len) == 0)
            return c;
    return NULL;
}

/*
 * cmd_requeue - put a command line back in front of the input: it runs
 * again once an open BDAT message has been removed (a queue job).
 */
static void
cmd_requeue(struct session *s, const char *line, size_t len)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);

    (void) evbuffer_prepend(in, "\r\n", 2);
    (void) evbuffer_prepend(in, line, len);
}

/* cmd_finish - the command is over: count it and forget it */
static void
cmd_finish(struct session *s, struct cmd_args *a, int ok)
{
    if (ok)
        s->cmd_ok[a->index]++;
    if ((a->def->flags & CMD_F_JUNK)
        && ++s->junk_count > (unsigned long) s->p->smtpd_junk_command_limit)
        s->error_count++;
    s->cmd = NULL;
    dstr_free(a->reply);
    free(a->copy);
    free(a->xattrs);
    free(a);
}

/*
 * cmd_keep - the command waits for a verdict: its line (in a buffer that
 * the next session's line overwrites) must be its own.
 */
static void
cmd_keep(struct cmd_args *a)
{
    a->copy = xstrndup(a->line, a->len);
    a->arg = a->copy + (a->arg - a->line);
    a->line = a->copy;
}

/* smtpd_cmd_execute - one command line: find, check, proceed, count */
void
smtpd_cmd_execute(struct session *s, const char *line, size_t len,
                  size_t octets)
{
    const struct cmd_def *c;
    struct cmd_args *a;
    const char *arg;
    size_t  verb_len, arg_len, index;
    int     ret;

    verb_len = smtpd_cmd_split(line, len, &arg, &arg_len);
    if (verb_len == 0) {
        s->last_verb = "UNKNOWN";
        s->cmd_total[CMD_UNKNOWN_INDEX]++;
        smtpd_session_reply(s, "500 5.5.2 Error: bad syntax");
        return;
    }
    if ((c = cmd_find(line, verb_len)) == NULL) {
        s->last_verb = "UNKNOWN";
        s->cmd_total[CMD_UNKNOWN_INDEX]++;
        if (octets > (size_t) s->p->smtpd_command_line_limit)
            smtpd_session_reply(s, "500 5.5.2 Error: line too long");
        else if (s->milters != NULL)
            cmd_unknown(s, line, len);
        else
            smtpd_session_reply(s, "502 5.5.2 Error: command not recognized");
        return;
    }
    if (s->msg != NULL && (c->flags & CMD_F_RESET)) {
        /* end the unfinished BDAT message, then run this line again */
        cmd_requeue(s, line, len);
        (void) smtpd_message_reset(s, NULL);
        return;
    }
    index = (size_t) (c - cmd_table);
    s->last_verb = c->verb;
    s->cmd_total[index]++;
    if (octets > (size_t) s->p->smtpd_command_line_limit + c->allowance) {
        smtpd_session_reply(s, "500 5.5.2 Error: line too long");
        return;
    }
    if (s->msg != NULL && !(c->flags & CMD_F_IN_BDAT)) {
        smtpd_session_reply(s, "503 5.5.1 Error: BDAT transaction in progress");
        return;
    }
    if (s->cmd != NULL)
        log_panic("%s: a command is still waiting", __func__);
    a = xcalloc(1, sizeof(*a));
    a->def = c;
    a->index = index;
    a->verb = c->verb;
    a->line = line;
    a->len = len;
    (void) smtpd_cmd_split(line, len, &a->arg, &a->arg_len);
    s->cmd = a;
    if ((ret = c->check(s, a)) == SMTPD_CHECK_WAIT) {
        cmd_keep(a);
        return;                         /* cmd_restrict_done() goes on */
    }
    if (ret == 0 && (ret = cmd_go(s, a)) == SMTPD_CHECK_WAIT)
        return;                         /* cmd_milter_done() goes on */
    cmd_finish(s, a, ret == 0);
}
