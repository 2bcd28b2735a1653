/*
 * NAME
 *     smtpd_session - one SMTP session: state, timers, input and replies
 * SYNOPSIS
 *     #include "smtpd/smtpd_session.h"
 *
 *     s = smtpd_session_new(srv, fd, sa, salen, service, personality);
 *     smtpd_session_set_personality(s, stress_personality);
 *     smtpd_session_reply(s, "250 2.1.0 Ok");
 *     smtpd_session_close(s);
 * DESCRIPTION
 *     A session is one struct with one enum session_state. It owns its
 *     bufferevent (plain, or the TLS filter over the plain one), one
 *     timer, the client's identity and the mail transaction. Input is
 *     parsed incrementally: command lines go to smtpd_cmd, DATA and BDAT
 *     content to smtpd_message.
 *
 *     Every limit and text comes from s->p, the session's personality.
 *     smtpd_session_set_personality() swaps the pointer and re-arms the
 *     timer at once, measured from when the current wait began: the
 *     master tightens open sessions with it when stress begins.
 *
 *     Timers. One per session, re-armed on every state change:
 *       PROXY    smtpd_upstream_proxy_timeout from connect, for the
 *                PROXY protocol header (a service behind HAProxy);
 *       LOOKUP   smtpd_peername_lookup_timeout from connect;
 *       PAUSE    until smtpd_greet_pause after connect;
 *       COMMAND  smtpd_timeout: from the last read, or, with
 *                smtpd_per_request_deadline, from the start of the
 *                command line (a trickling client cannot stretch it);
 *       DATA and BDAT  as COMMAND, and with the deadline on it grows by
 *                one second per smtpd_min_data_rate bytes received;
 *       TLS      smtpd_starttls_timeout for the handshake;
 *       CLOSING  smtpd_timeout to deliver the last reply.
 *     While a queue job runs, the timer waits (the disk is not the
 *     client's fault); during a tarpit delay it is the wake-up.
 *
 *     Memory. Input is read up to SESSION_INPUT_MAX bytes ahead and then
 *     libevent stops reading (watermark); commands stop being processed
 *     while more than SESSION_OUTPUT_MAX reply bytes wait for the client.
 *     Nothing large is allocated before DATA or BDAT.
 * RULES
 *     smtpd_session_free() is the only function that frees a session,
 *     and only libevent callbacks in smtpd_session.c call it, as their
 *     last action: everything else marks the session (closing, dead) and
 *     returns. A session with a queue job outstanding is freed when the
 *     job is done, never before.
 * DIAGNOSTICS
 *     smtpd_session_log() prefixes "NAME[ADDR]: " and the last command.
 *     smtpd_session_log_reject() writes a refusal as Postfix does, for
 *     the tools that read its logs: "ID: reject: RCPT from NAME[ADDR]:
 *     REPLY; from=<S> to=<R> proto=ESMTP helo=<H>" (NOQUEUE before the
 *     message has an ID; WHAT may be reject, reject_warning or
 *     milter-reject; from= and to= when known).
 * SEE ALSO
 *     smtpd/smtpd_cmd.h, smtpd/smtpd_message.h, smtpd/smtpd_server.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_SESSION_H
#define DOPPEL_SMTPD_SMTPD_SESSION_H

#include <stddef.h>
#include <sys/socket.h>

#include "util/log.h"
#include "util/netaddr.h"
#include "conf/params.h"
#include "conf/personality.h"
#include "global/queue_id.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_tls.h"

#define SESSION_INPUT_MAX (16 * 1024)   /* read-ahead before reading stops */
#define SESSION_OUTPUT_MAX (16 * 1024)  /* unread replies before we stop */
#define SESSION_LINE_ALLOWANCE_MAX 1024 /* largest extension allowance */
#define SESSION_COUNTERS 16             /* command counters (smtpd_cmd) */
#define SESSION_CLOSE_POLL_MS 20        /* TLS: wait for the socket to drain */

struct smtpd_server;
struct smtpd_message;
struct smtpd_milters;
struct smtpd_limits;
struct smtpd_proxy_hdr;
struct smtpd_xclient;
struct smtpd_xclient_forward;
struct check_run;
struct smtpd_classify_req;
struct cmd_args;
struct dstr;

enum session_state {
    SESSION_LOOKUP,                    /* finding the client's name */
    SESSION_PAUSE,                     /* smtpd_greet_pause */
    SESSION_COMMAND,                   /* reading command lines */
    SESSION_DATA,                      /* reading DATA content */
    SESSION_BDAT,                      /* reading a BDAT chunk */
    SESSION_TLS,                       /* TLS handshake */
    SESSION_CLOSING,                   /* last reply going out */
    SESSION_PROXY,                     /* reading the PROXY header (first) */
};

/* s->flags */
#define SESSION_F_JOB      0x001       /* a queue job is outstanding */
#define SESSION_F_SLEEP    0x002       /* tarpit: wait before the next reply */
#define SESSION_F_SLEPT    0x004       /* the current command was delayed */
#define SESSION_F_SKIP     0x008       /* discarding an over-long line */
#define SESSION_F_DEAD     0x010       /* free as soon as possible */
#define SESSION_F_TLS      0x020       /* TLS is active */
#define SESSION_F_EHLO     0x040       /* last greeting was EHLO */
#define SESSION_F_OUTFULL  0x080       /* too many replies unread */
#define SESSION_F_UNCOUNTED 0x100      /* its slot is free (closing) */
#define SESSION_F_EARLY    0x200       /* talked before the greeting */
#define SESSION_F_REJECTED 0x400       /* a restriction said no (history) */

struct smtpd_rcpt {
    char   *addr;                      /* internal form */
    unsigned notify;                   /* MAILADDR_NOTIFY_* */
    char   *orcpt;                     /* ORCPT= as sent, or NULL */
};

struct session {
    struct smtpd_server *srv;
    unsigned long id;                  /* for debugging and eviction */
    size_t  service;                   /* index in services.cf or NO_SERVICE */
    const struct personality *pers;
    const struct params *p;            /* &pers->params */
    enum session_state state;
    unsigned flags;                    /* SESSION_F_* */

    struct bufferevent *bev;           /* what we read and write */
    struct bufferevent *plain;         /* the socket (under TLS) */
    struct event *timer;
    long long state_start;             /* ms, monotonic */
    long long wait_start;              /* start of the current request */
    long long last_read;               /* last bytes from the client */
    long long sleep_until;             /* tarpit wake-up */
    long long connected;               /* ms, monotonic: accept time */
    long long data_bytes;              /* received in this DATA/BDAT */

    /* the client */
    struct netaddr addr;
    unsigned port;
    char    addr_text[NETADDR_TEXT_MAX];
    char   *name;                      /* verified name or "unknown" */
    char   *reverse_name;              /* PTR name or "unknown" */
    int     name_status;               /* enum smtpd_dns_status of name */
    int     reverse_status;            /* ... and of reverse_name */
    struct smtpd_dns_req *dns;
    struct smtpd_classify_req *classify;       /* history being asked */
    char   *helo;
    struct smtpd_tls_info *tls;        /* after a handshake */
    struct smtpd_xclient *xclient;     /* after XCLIENT: the real client */
    struct smtpd_xclient_forward *xforward;     /* XFORWARD, or NULL */
    struct smtpd_proxy_hdr *proxy;     /* PROXY header naming it, or NULL */
    struct smtpd_limits *limits;       /* counted in srv->anvil, or NULL */

    /* the transaction */
    char   *sender;                    /* NULL: no MAIL yet */
    char    queue_id[QUEUE_ID_SIZE];   /* from the first recipient; or "" */
    unsigned mail_flags;               /* MAILADDR_P_* seen */
    long long mail_size;               /* SIZE= */
    int     mail_body;                 /* enum mailaddr_body */
    int     mail_ret;                  /* enum mailaddr_ret */
    char   *mail_envid;
    struct smtpd_rcpt *rcpt;
    size_t  rcpt_count, rcpt_alloc;
    struct smtpd_message *msg;         /* content being received */
    long long bdat_remaining;          /* bytes of the chunk still to come */
    int     bdat_last;                 /* this chunk is LAST */
    const char *bdat_error;            /* reply for a chunk being skipped */
    struct dstr *prepend;              /* PREPEND headers, or NULL */
    struct check_run *check;           /* a restriction walk waiting */
    struct cmd_args *cmd;              /* the command executing */
    struct smtpd_milters *milters;     /* smtpd_milters, or NULL */

    /* counters, each with a maximum from the personality */
    unsigned long error_count;
    unsigned long junk_count;
    unsigned long cmd_total[SESSION_COUNTERS];
    unsigned long cmd_ok[SESSION_COUNTERS];
    unsigned long commands;
    const char *last_verb;             /* "RCPT", for "after RCPT" logs */

    struct session *prev, *next;       /* the server's list */
};

struct session *smtpd_session_new(struct smtpd_server *srv, int fd,
                                   const struct sockaddr *sa,
                                   socklen_t salen, size_t service,
                                   const struct personality *pers);
void    smtpd_session_set_personality(struct session *s,
                                      const struct personality *pers);
void    smtpd_session_set_state(struct session *s, enum session_state state);
void    smtpd_session_arm(struct session *s);
void    smtpd_session_reply(struct session *s, const char *fmt, ...)
            __attribute__((format(printf, 2, 3)));
void    smtpd_session_reply_nocount(struct session *s, const char *fmt, ...)
            __attribute__((format(printf, 2, 3)));
void    smtpd_session_close(struct session *s);
void    smtpd_session_resume(struct session *s);
void    smtpd_session_reset_transaction(struct session *s);
int     smtpd_session_start_tls(struct session *s);
void    smtpd_session_log(struct session *s, enum log_level level,
                          const char *fmt, ...)
            __attribute__((format(printf, 3, 4)));
void    smtpd_session_log_reject(struct session *s, const char *what,
                                 const char *verb, const char *reply,
                                 const char *from, const char *to);
void    smtpd_session_end(struct session *s);
void    smtpd_session_classify(struct session *s);
void    smtpd_session_history(struct session *s, int event);
long long smtpd_session_now(void);

#endif
