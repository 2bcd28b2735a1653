/*
 * NAME
 *     relay_transport - where a recipient goes: transports and their choice
 * SYNOPSIS
 *     #include "relay/relay_transport.h"
 *
 *     struct relay_transport t;
 *     if (relay_transport_parse("smtp:[10.0.0.1]:25", &t, why) < 0) ...
 *     rc = relay_transport_select(maps, params->relay_transport,
 *                                 "u@example.com", spec, why);
 * DESCRIPTION
 *     A transport is written "kind:next hop", as in relay_transport and
 *     the values of transport_maps:
 *
 *         smtp:[HOST]:PORT   smtp:HOST:PORT   smtp:[HOST]   (port 25)
 *         lmtp:inet:HOST:PORT    lmtp:unix:/path/to/socket
 *         maildir:/directory     (one Maildir per recipient below it)
 *         discard                discard:any text (logged)
 *
 *     relay_transport_parse() checks a specification and fills t; the
 *     destination key (t->key) is the specification itself, which is
 *     what per-destination concurrency counts.
 *
 *     relay_transport_select() finds the transport of one recipient:
 *     transport_maps are asked for the full address, then its domain,
 *     then each parent domain with a leading dot (".example.com"); the
 *     first value found is the transport; without one, the default.
 *     Keys are lower-cased. It returns RELAY_TRANSPORT_FOUND with the
 *     specification in spec, or RELAY_TRANSPORT_ERROR when a table
 *     could not answer (the recipient is deferred, never sent to the
 *     default by mistake).
 *
 *     A recipient's outcome (struct relay_rcpt) is what every transport
 *     fills in: status, DSN code, the reply text, and the next hop that
 *     gave it. relay_rcpt_set() records one.
 * RULES
 *     maps may be NULL (no transport_maps). Not thread-safe for one
 *     table list (tables are used by one thread at a time): the relay
 *     selects in its scheduler thread.
 * DIAGNOSTICS
 *     relay_transport_parse() returns -1 with a reason in why, e.g.
 *     "\"smtp:[x\" is not a transport (use smtp:[HOST]:PORT)".
 * SEE ALSO
 *     tables/table.h, doppel-relay(8), doppel.cf(5)
 */
#ifndef DOPPEL_RELAY_RELAY_TRANSPORT_H
#define DOPPEL_RELAY_RELAY_TRANSPORT_H

#include <stddef.h>

#include "util/dstr.h"
#include "tables/table.h"

#define RELAY_TRANSPORT_HOST_MAX 256
#define RELAY_TRANSPORT_PATH_MAX 1024
#define RELAY_TRANSPORT_SPEC_MAX 1100
#define RELAY_RCPT_TEXT_MAX 1024        /* reply text kept per recipient */

enum relay_transport_kind {
    RELAY_TRANSPORT_SMTP,
    RELAY_TRANSPORT_LMTP_INET,
    RELAY_TRANSPORT_LMTP_UNIX,
    RELAY_TRANSPORT_MAILDIR,
    RELAY_TRANSPORT_DISCARD,
};

struct relay_transport {
    enum relay_transport_kind kind;
    char    host[RELAY_TRANSPORT_HOST_MAX];    /* smtp, lmtp:inet */
    char    port[16];
    char    path[RELAY_TRANSPORT_PATH_MAX];    /* lmtp:unix, maildir, discard text */
    char    key[RELAY_TRANSPORT_SPEC_MAX];     /* the destination */
};

enum relay_transport_found {
    RELAY_TRANSPORT_FOUND,
    RELAY_TRANSPORT_ERROR,
};

enum relay_rcpt_status {
    RELAY_RCPT_PENDING,                /* not tried yet in this attempt */
    RELAY_RCPT_SENT,                   /* delivered (or discarded) */
    RELAY_RCPT_DEFER,                  /* try again later */
    RELAY_RCPT_BOUNCE,                 /* permanent failure */
};

/* One recipient of a message in delivery. */
struct relay_rcpt {
    size_t  index;                     /* in the queue file's envelope */
    const char *address;
    enum relay_rcpt_status status;
    char    dsn[16];                   /* "2.0.0", "4.4.1", "5.1.1" */
    char    text[RELAY_RCPT_TEXT_MAX]; /* "250 2.0.0 Ok", "connect: ..." */
    char    relay[RELAY_TRANSPORT_HOST_MAX + 32];  /* "host[addr]:port" */
    int     remote;                    /* text is a reply from relay */
    int     dsn_passed;                /* the next hop took NOTIFY over */
    const char *action;                /* in a DSN: "failed", "delivered",
                                        * "relayed"; set when reported */
};

int     relay_transport_parse(const char *spec, struct relay_transport *t,
                              struct dstr *why);
enum relay_transport_found relay_transport_select(struct table_list *maps,
                                                  const char *dflt,
                                                  const char *rcpt,
                                                  struct dstr *spec);
const char *relay_transport_kind_name(enum relay_transport_kind kind);
void    relay_rcpt_set(struct relay_rcpt *r, enum relay_rcpt_status status,
                       const char *dsn, const char *relay, int remote,
                       const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

#endif
