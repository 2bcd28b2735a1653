/*
 * NAME
 *     relay_smtp - the SMTP and LMTP client of doppel-relay
 * SYNOPSIS
 *     #include "relay/relay_smtp.h"
 *
 *     relay_smtp_init();                         (once, before threads)
 *     relay_smtp_deliver(params, &transport, r, rcpts, n);
 * DESCRIPTION
 *     relay_smtp_deliver() hands one message to the next hop of an
 *     smtp: or lmtp: transport for the n recipients given, and records
 *     each recipient's outcome in rcpts[i] (SENT, DEFER or BOUNCE, the
 *     DSN code and the reply, with relay "host[addr]:port" or the unix
 *     socket path).
 *
 *     The dialogue: connect (smtp_connect_timeout; every address of
 *     the host in turn), greeting, EHLO (LHLO for LMTP; HELO when EHLO
 *     is refused), STARTTLS when offered and smtp_tls_security_level is
 *     may or encrypt (encrypt defers when TLS is not offered or fails;
 *     certificates are not verified), EHLO again, XFORWARD with the
 *     original client when offered and smtp_send_xforward_command is
 *     yes, MAIL FROM with SIZE, BODY=8BITMIME, SMTPUTF8 and the DSN
 *     parameters RET and ENVID when offered, RCPT TO with NOTIFY and
 *     ORCPT when DSN is offered, DATA, the content dot-stuffed (ending
 *     in CRLF), and QUIT. With PIPELINING, MAIL, every RCPT and DATA
 *     go in one write. SMTP has one reply to the final dot for every
 *     accepted recipient; LMTP one per accepted recipient.
 *
 *     A 2xx reply delivers, 4xx defers and 5xx bounces; the enhanced
 *     status code of the reply is the recipient's DSN code when it has
 *     one. A lost connection or a timeout defers every recipient not
 *     yet done, naming the stage ("lost connection with H while
 *     sending RCPT TO").
 *
 *     relay_smtp_parse_reply() parses one complete reply (possibly
 *     multi-line, CRLF or LF ended) for the unit tests and the client:
 *     it returns the code or -1, and puts the enhanced status code (or
 *     "X.0.0" made from the code) in dsn and the text, lines joined by
 *     a space, in text.
 * RULES
 *     Blocking I/O on non-blocking sockets with poll(2): every wait has
 *     its smtp_*_timeout. Runs on a relay delivery thread; calls share
 *     nothing but the TLS context made by relay_smtp_init().
 *     The process must ignore SIGPIPE: OpenSSL writes with write(2), and
 *     a next hop that closes in a handshake would otherwise kill it.
 *     When the TLS handshake fails with smtp_tls_security_level = may,
 *     the session is made again without TLS (as Postfix does).
 * DIAGNOSTICS
 *     relay_smtp_deliver() returns 0 when every recipient was sent,
 *     -1 otherwise; the details are in rcpts.
 * SEE ALSO
 *     RFC 5321, RFC 2033 (LMTP), RFC 3207, RFC 3461, Postfix
 *     XFORWARD_README, relay/relay_transport.h
 */
#ifndef DOPPEL_RELAY_RELAY_SMTP_H
#define DOPPEL_RELAY_RELAY_SMTP_H

#include <stddef.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "global/queue_file.h"
#include "relay/relay_transport.h"

#define RELAY_SMTP_LINE_MAX 2048        /* one reply line */
#define RELAY_SMTP_LINES_MAX 100        /* lines in one reply */

int     relay_smtp_init(struct dstr *why);
int     relay_smtp_deliver(const struct params *p,
                           const struct relay_transport *t,
                           struct queue_file_reader *r,
                           struct relay_rcpt **rcpts, size_t n);
int     relay_smtp_parse_reply(const char *buf, size_t len, char *dsn,
                               size_t dsn_size, struct dstr *text);

#endif
