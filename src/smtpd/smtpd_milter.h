/*
 * NAME
 *     smtpd_milter - the Sendmail milter client: smtpd_milters, asynchronously
 * SYNOPSIS
 *     #include "smtpd/smtpd_milter.h"
 *
 *     s->milters = smtpd_milter_new(s);          (NULL: no milters)
 *     smtpd_milter_stage(s->milters, SMTPD_MILTER_CONNECT, NULL, done, s);
 *     ... done(s, r) later, from the event loop: r->action, r->reply
 *     args.arg = sender; args.esmtp = params; args.nesmtp = n;
 *     smtpd_milter_stage(s->milters, SMTPD_MILTER_MAIL, &args, done, s);
 *     ...
 *     args.read = read_fn; args.read_arg = file; args.hidden = 1;
 *     smtpd_milter_stage(s->milters, SMTPD_MILTER_EOM, &args, done, s);
 *     ... in done: mods = smtpd_milter_take_mods(s->milters);
 *     smtpd_milter_abort(s->milters);            (the transaction is over)
 *     s->milters = smtpd_milter_free(s->milters);    (QUIT, close)
 * DESCRIPTION
 *     One handle per session holds one connection per milter of the
 *     session's smtpd_milters (fixed when the handle is made). Each item
 *     is an endpoint, inet:HOST:PORT (HOST an IPv4 address, an IPv6
 *     address in brackets, or localhost), inet:PORT@HOST, unix:PATH or
 *     local:PATH, or a Postfix-style group "{ endpoint, name=value, ...}"
 *     with per-milter connect_timeout, command_timeout, content_timeout,
 *     default_action and protocol settings.
 *
 *     smtpd_milter_stage() runs a stage through every milter in order
 *     and calls done(arg, r) exactly once, always later from the event
 *     loop. The first milter that rejects, tempfails or discards ends
 *     the stage; later ones are not asked. Stages and what goes out:
 *       CONNECT  connect to and negotiate with each milter (version
 *                milter_protocol, every action, the protocol steps of
 *                that version), then the client's name ("[ADDR]" when
 *                unverified), family, port and address;
 *       HELO     the HELO/EHLO argument (args->arg);
 *       MAIL     "<sender>" and the ESMTP parameters (args->arg,
 *                args->esmtp); RCPT the same for one recipient;
 *       DATA     the DATA command; UNKNOWN an unknown command line;
 *       EOM      the message from args->read (pread-like) without its
 *                first args->hidden header fields (the server's own
 *                Received:): each header field, end of header, the body
 *                in chunks of at most 64 KiB with CRLF line ends, end of
 *                message. Each milter sees the message as the milters
 *                before it changed it.
 *     Each event goes with the macros of its stage (milter_*_macros, or
 *     the lists the milter asked for with SETSYMLIST) plus {stress},
 *     {personality} and {client_class}; macros without a value are not
 *     sent. A step the milter negotiated away (SMFIP_NO*) is not sent;
 *     one it said it will not answer (SMFIP_NR_*) is not waited for.
 *     A connection opened before CONNECT ran gets the connect event
 *     first.
 *
 *     The result r (valid during done; r->reply until the next stage):
 *     action CONTINUE, ACCEPT (no milter wants more of
 *     this connection or message), REJECT, TEMPFAIL (reply is the SMTP
 *     reply: the milter's own text, or "550 5.7.1 Command rejected" /
 *     "451 4.7.1 Service unavailable - try again later"; close is set
 *     for a 421, which ends the session), DISCARD (accept and drop the
 *     message) or QUARANTINE (EOM only: accept into the hold queue;
 *     reason in quarantine). A milter that rejects at CONNECT or HELO
 *     answers every later stage of the session with that reply. An EOM
 *     stage's changes are in r->mods (headers, recipients, sender,
 *     body); smtpd_milter_take_mods() hands them to the caller, who
 *     applies them with smtpd_milter_edit_apply() and _env().
 *
 *     Failure. A milter that cannot be reached, does not connect and
 *     negotiate within its connect timeout, does not answer within the
 *     command timeout (content timeout for EOM), or breaks the protocol
 *     (garbage, an answer nobody asked for, a change it did not
 *     negotiate) is closed and logged ("warning: NAME[ADDR]: ...: milter
 *     inet:...: read timeout after 30000 ms; default action tempfail"),
 *     and its default_action (milter_default_action) stands for the
 *     rest of the session: accept skips it, reject answers "550 5.7.1
 *     Service unavailable", tempfail "451 4.7.1 Service unavailable -
 *     try again later", quarantine holds every message. A PROGRESS
 *     answer restarts the timer.
 *
 *     smtpd_milter_abort() ends a transaction: milters in one get ABORT.
 *     smtpd_milter_cancel() forgets a running stage (done is not
 *     called); milters that owed an answer are closed (and connected
 *     again at the next stage). smtpd_milter_interrupt() ends a running
 *     stage at once for a session that died: done comes soon with
 *     TEMPFAIL. smtpd_milter_free() cancels, sends QUIT (ABORT first in
 *     a transaction) where it can without waiting, and closes.
 * RULES
 *     Nothing blocks but args->read, which reads a local file. One
 *     stage at a time; args and the strings it points to are the
 *     caller's and stay valid until done has run. The handle may be
 *     freed at any time, also from done. Timeouts come from the
 *     session's personality when each wait begins.
 * DIAGNOSTICS
 *     Warnings name the milter and why; nothing is fatal.
 * SEE ALSO
 *     smtpd/smtpd_milter_proto.h, smtpd/smtpd_milter_edit.h,
 *     docs/milter.md, Postfix MILTER_README
 */
#ifndef DOPPEL_SMTPD_SMTPD_MILTER_H
#define DOPPEL_SMTPD_SMTPD_MILTER_H

#include <stddef.h>
#include <sys/socket.h>

#include "util/dstr.h"
#include "smtpd/smtpd_milter_edit.h"

#define SMTPD_MILTER_MAX 16             /* milters per session */
#define SMTPD_MILTER_MACRO_VALUE_MAX 1024       /* bytes of one value */
#define SMTPD_MILTER_OUTPUT_HIGH (256 * 1024)   /* unsent, then wait */
#define SMTPD_MILTER_REPLIES_MAX (SMTPD_MILTER_EDIT_OPS_MAX + 1000)

struct session;
struct smtpd_milters;

enum smtpd_milter_stage {
    SMTPD_MILTER_CONNECT,
    SMTPD_MILTER_HELO,
    SMTPD_MILTER_MAIL,
    SMTPD_MILTER_RCPT,
    SMTPD_MILTER_DATA,
    SMTPD_MILTER_UNKNOWN,
    SMTPD_MILTER_EOM,
};

enum smtpd_milter_action {
    SMTPD_MILTER_CONTINUE,
    SMTPD_MILTER_ACCEPT,
    SMTPD_MILTER_REJECT,
    SMTPD_MILTER_TEMPFAIL,
    SMTPD_MILTER_DISCARD,
    SMTPD_MILTER_QUARANTINE,
};

struct smtpd_milter_args {
    const char *arg;                   /* HELO name, address, command line */
    const char *const *esmtp;          /* MAIL, RCPT parameters */
    size_t  nesmtp;
    const char *queue_id;              /* the "i" macro, once known */
    smtpd_milter_read_fn *read;        /* EOM: the message as queued */
    void   *read_arg;
    size_t  hidden;                    /* EOM: the server's own fields */
};

struct smtpd_milter_result {
    enum smtpd_milter_action action;
    const char *reply;                 /* REJECT, TEMPFAIL: the SMTP reply */
    int     close;                     /* a 421: end the session */
    const char *quarantine;            /* QUARANTINE: the reason */
    const char *milter;                /* who decided, or NULL */
    struct smtpd_milter_mods *mods;    /* EOM: the changes, or NULL */
};

/* Per-milter settings of one smtpd_milters item. */
struct smtpd_milter_conf {
    char   *endpoint;                  /* "inet:127.0.0.1:8891" */
    long long connect_timeout;         /* ms; -1: milter_connect_timeout */
    long long command_timeout;
    long long content_timeout;
    char   *default_action;            /* NULL: milter_default_action */
    long long protocol;                /* 0: milter_protocol */
};

typedef void smtpd_milter_fn(void *arg, const struct smtpd_milter_result *r);

struct smtpd_milters *smtpd_milter_new(struct session *s);
void    smtpd_milter_stage(struct smtpd_milters *ms,
                           enum smtpd_milter_stage stage,
                           const struct smtpd_milter_args *args,
                           smtpd_milter_fn *done, void *arg);
struct smtpd_milter_mods *smtpd_milter_take_mods(struct smtpd_milters *ms);
void    smtpd_milter_abort(struct smtpd_milters *ms);
void    smtpd_milter_cancel(struct smtpd_milters *ms);
void    smtpd_milter_interrupt(struct smtpd_milters *ms);
struct smtpd_milters *smtpd_milter_free(struct smtpd_milters *ms);

int     smtpd_milter_conf_parse(const char *item, struct smtpd_milter_conf *c,
                                struct dstr *why);
void    smtpd_milter_conf_free(struct smtpd_milter_conf *c);
int     smtpd_milter_endpoint(const char *endpoint,
                              struct sockaddr_storage *ss, socklen_t *len,
                              struct dstr *why);
int     smtpd_milter_check(const char *value, struct dstr *errors);
const char *smtpd_milter_stage_name(enum smtpd_milter_stage stage);
const char *smtpd_milter_action_name(enum smtpd_milter_action action);

#endif
