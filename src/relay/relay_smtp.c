/* relay_smtp - SMTP/LMTP client: blocking with poll timeouts; see relay_smtp.h. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/mailaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/xtext.h"
#include "conf/params.h"
#include "global/queue_file.h"
#include "relay/relay_smtp.h"
#include "relay/relay_transport.h"

#define RS_BUF 65536
#define RS_EXT_PIPELINING  0x01
#define RS_EXT_SIZE        0x02
#define RS_EXT_8BITMIME    0x04
#define RS_EXT_STARTTLS    0x08
#define RS_EXT_DSN         0x10
#define RS_EXT_SMTPUTF8    0x20
#define RS_EXT_XFORWARD    0x40

static SSL_CTX *rs_ctx;

/* One connection to a next hop. */
struct rs_conn {
    int     fd;
    SSL    *ssl;
    int     lmtp;
    char    relay[RELAY_TRANSPORT_HOST_MAX + 32];
    char    in[RS_BUF];
    size_t  inlen;
    struct dstr *out;
    unsigned ext;
    const char *stage;                 /* for "while sending X" */
    char    err[256];                  /* what broke the connection */
};

/* One reply. */
struct rs_reply {
    int     code;
    char    dsn[16];
    struct dstr *text;
};

/* rs_setf - format into a fixed buffer, cutting what does not fit */
static void __attribute__((format(printf, 3, 4)))
rs_setf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* relay_smtp_init - the TLS client context */
int
relay_smtp_init(struct dstr *why)
{
    if (rs_ctx != NULL)
        return 0;
    if ((rs_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        (void) dstr_append_str(why, "SSL_CTX_new failed");
        return -1;
    }
    (void) SSL_CTX_set_min_proto_version(rs_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(rs_ctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

/* rs_wait - poll for events until deadline; 0 ready, -1 timeout/error */
static int
rs_wait(struct rs_conn *c, short events, long long deadline)
{
    struct pollfd pfd;
    long long left;
    int     n;

    for (;;) {
        left = deadline - clock_mono_ms();
        if (left <= 0) {
            (void) str_copy(c->err, sizeof(c->err), "timeout");
            return -1;
        }
        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, left > 1000000 ? 1000000 : (int) left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            rs_setf(c->err, sizeof(c->err), "poll: %s",
                            strerror(errno));
            return -1;
        }
    }
}

/* rs_ssl_wait - wait for what OpenSSL wants; -1 on a real error */
static int
rs_ssl_wait(struct rs_conn *c, int rc, long long deadline)
{
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return rs_wait(c, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return rs_wait(c, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        (void) str_copy(c->err, sizeof(c->err), "lost connection");
        return -1;
    default:
        rs_setf(c->err, sizeof(c->err), "TLS: %s",
                        ERR_reason_error_string(ERR_get_error())
                        ? ERR_reason_error_string(ERR_get_error())
                        : "lost connection");
        return -1;
    }
}

/* rs_write - all of buf, each wait bounded by timeout_ms */
static int
rs_write(struct rs_conn *c, const char *buf, size_t len, long long timeout_ms)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    ssize_t n;
    int     rc;

    while (len > 0) {
        if (c->ssl != NULL) {
            ERR_clear_error();
            rc = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int) len);
            if (rc <= 0) {
                if (rs_ssl_wait(c, rc, deadline) < 0)
                    return -1;
                continue;
            }
            n = rc;
        } else if ((n = send(c->fd, buf, len, MSG_NOSIGNAL)) < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                if (rs_wait(c, POLLOUT, deadline) < 0)
                    return -1;
                continue;
            }
            rs_setf(c->err, sizeof(c->err), "write: %s",
                            strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t) n;
        deadline = clock_mono_ms() + timeout_ms;
    }
    return 0;
}

/* rs_flush - send what was buffered */
static int
rs_flush(struct rs_conn *c, long long timeout_ms)
{
    int     rc = rs_write(c, c->out->data, c->out->len, timeout_ms);

    dstr_truncate(c->out, 0);
    return rc;
}

/* rs_fill - read more input; -1 on error, EOF or timeout */
static int
rs_fill(struct rs_conn *c, long long deadline)
{
    ssize_t n;
    int     rc;

    if (c->inlen >= sizeof(c->in)) {
        (void) str_copy(c->err, sizeof(c->err), "reply too long");
        return -1;
    }
    for (;;) {
        if (c->ssl != NULL) {
            ERR_clear_error();
            rc = SSL_read(c->ssl, c->in + c->inlen,
                          (int) (sizeof(c->in) - c->inlen));
            if (rc <= 0) {
                if (rs_ssl_wait(c, rc, deadline) < 0)
                    return -1;
                continue;
            }
            n = rc;
        } else {
            n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (rs_wait(c, POLLIN, deadline) < 0)
                    return -1;
                continue;
            }
            if (n <= 0) {
                (void) str_copy(c->err, sizeof(c->err), "lost connection");
                return -1;
            }
        }
        c->inlen += (size_t) n;
        return 0;
    }
}

/* relay_smtp_parse_reply - code, enhanced code and text of one reply */
int
relay_smtp_parse_reply(const char *buf, size_t len, char *dsn,
                       size_t dsn_size, struct dstr *text)
{
    const char *line = buf, *end = buf + len, *nl, *t;
    size_t  llen;
    int     code = -1, c, nlines = 0;

    dstr_truncate(text, 0);
    while (line < end) {
        nl = memchr(line, '\n', (size_t) (end - line));
        llen = nl ? (size_t) (nl - line) : (size_t) (end - line);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen < 3 || !isdigit((unsigned char) line[0])
            || !isdigit((unsigned char) line[1])
            || !isdigit((unsigned char) line[2])
            || (llen > 3 && line[3] != ' ' && line[3] != '-'))
            return -1;
        c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (c < 200 || c > 599 || (code >= 0 && c != code))
            return -1;
        code = c;
        if (nlines++ > 0)
            (void) dstr_append_char(text, ' ');
        (void) dstr_append(text, line, llen);
        if (llen == 3 || line[3] == ' ')
            break;
        if (nl == NULL)
            return -1;
        line = nl + 1;
    }
    if (code < 0)
        return -1;
    /* the enhanced status code: "X.Y.Z " after the code, X the class */
    t = text->data + (text->len > 4 ? 4 : text->len);
    {
        size_t  i = 0, dots = 0;

        while (t[i] && (isdigit((unsigned char) t[i]) || t[i] == '.')
               && i < 12) {
            dots += t[i] == '.';
            i++;
        }
        if (dots == 2 && i >= 5 && t[0] - '0' == code / 100
            && (t[i] == ' ' || t[i] == '\0') && i < dsn_size) {
            memcpy(dsn, t, i);
            dsn[i] = '\0';
            return code;
        }
    }
    rs_setf(dsn, dsn_size, "%d.0.0", code / 100);
    return code;
}

/* rs_reply - read one reply within timeout_ms; -1 on a broken connection */
static int
rs_reply(struct rs_conn *c, struct rs_reply *rep, long long timeout_ms)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    size_t  off = 0, llen;
    char   *nl;
    int     lines = 0;

    for (;;) {
        while ((nl = memchr(c->in + off, '\n', c->inlen - off)) != NULL) {
            llen = (size_t) (nl - (c->in + off));
            lines++;
            if (lines > RELAY_SMTP_LINES_MAX || llen > RELAY_SMTP_LINE_MAX) {
                (void) str_copy(c->err, sizeof(c->err), "reply too long");
                return -1;
            }
            if (llen < 4 || c->in[off + 3] != '-') {
                rep->code = relay_smtp_parse_reply(c->in, off + llen + 1,
                                                   rep->dsn, sizeof(rep->dsn),
                                                   rep->text);
                memmove(c->in, nl + 1, c->inlen - (off + llen + 1));
                c->inlen -= off + llen + 1;
                if (rep->code < 0) {
                    (void) str_copy(c->err, sizeof(c->err),
                                    "malformed reply");
                    return -1;
                }
                return 0;
            }
            off += llen + 1;
        }
        if (rs_fill(c, deadline) < 0)
            return -1;
    }
}

/* rs_connect_addr - one address, non-blocking, within timeout */
static int
rs_connect_addr(struct rs_conn *c, const struct sockaddr *sa, socklen_t len,
                long long timeout_ms)
{
    int     err = 0, on = 1;
    socklen_t elen = sizeof(err);

    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd < 0) {
        rs_setf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return -1;
    }
    /* the final dot and each command group go out at once, not after
     * the server's delayed ACK of what came before */
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (connect(c->fd, sa, len) < 0) {
        if (errno != EINPROGRESS) {
            err = errno;
        } else if (rs_wait(c, POLLOUT, clock_mono_ms() + timeout_ms) < 0) {
            err = ETIMEDOUT;
        } else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
            err = errno;
        }
    }
    if (err != 0) {
        rs_setf(c->err, sizeof(c->err), "%s", strerror(err));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

/* rs_connect - the transport's next hop */
static int
rs_connect(struct rs_conn *c, const struct params *p,
           const struct relay_transport *t)
{
    struct addrinfo hints, *res, *ai;
    struct sockaddr_un sun;
    char    addr[NI_MAXHOST];
    int     rc;

    if (t->kind == RELAY_TRANSPORT_LMTP_UNIX) {
        (void) str_copy(c->relay, sizeof(c->relay), t->path);
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (str_copy(sun.sun_path, sizeof(sun.sun_path), t->path) < 0) {
            (void) str_copy(c->err, sizeof(c->err), "socket path too long");
            return -1;
        }
        return rs_connect_addr(c, (struct sockaddr *) &sun, sizeof(sun),
                               p->smtp_connect_timeout);
    }
    rs_setf(c->relay, sizeof(c->relay), "%s:%s", t->host, t->port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
        rs_setf(c->err, sizeof(c->err), "host %s: %s", t->host,
                        gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL,
                        0, NI_NUMERICHOST) != 0)
            (void) str_copy(addr, sizeof(addr), "?");
        rs_setf(c->relay, sizeof(c->relay), "%s[%s]:%s", t->host, addr,
                        t->port);
        if (rs_connect_addr(c, ai->ai_addr, ai->ai_addrlen,
                            p->smtp_connect_timeout) == 0)
            break;
    }
    freeaddrinfo(res);
    return c->fd >= 0 ? 0 : -1;
}

/* rs_ehlo_parse - the extensions of an EHLO/LHLO reply */
static unsigned
rs_ehlo_parse(const char *text)
{
    static const struct {
        const char *name;
        unsigned bit;
    } exts[] = {
        {"PIPELINING", RS_EXT_PIPELINING}, {"SIZE", RS_EXT_SIZE},
        {"8BITMIME", RS_EXT_8BITMIME}, {"STARTTLS", RS_EXT_STARTTLS},
        {"DSN", RS_EXT_DSN}, {"SMTPUTF8", RS_EXT_SMTPUTF8},
        {"XFORWARD", RS_EXT_XFORWARD}, {NULL, 0},
    };
    unsigned ext = 0;
    const char *w = text;
    size_t  i, n;

    /* text is the lines joined by spaces, each starting "250-" or "250 " */
    while ((w = strstr(w, "250")) != NULL) {
        if ((w != text && w[-1] != ' ') || (w[3] != '-' && w[3] != ' ')) {
            w += 3;                    /* inside a word: "SIZE 2500" */
            continue;
        }
        w += 4;
        n = strcspn(w, " ");
        for (i = 0; exts[i].name != NULL; i++)
            if (strlen(exts[i].name) == n
                && strncasecmp(w, exts[i].name, n) == 0)
                ext |= exts[i].bit;
    }
    return ext;
}

/* rs_cmd - send a command and read its reply */
static int
rs_cmd(struct rs_conn *c, struct rs_reply *rep, long long timeout,
       const char *stage)
{
    c->stage = stage;
    if (dstr_append_str(c->out, "\r\n") < 0 || rs_flush(c, timeout) < 0)
        return -1;
    return rs_reply(c, rep, timeout);
}

/* rs_hello - EHLO/LHLO (HELO when EHLO is refused) */
static int
rs_hello(struct rs_conn *c, const struct params *p, struct rs_reply *rep)
{
    (void) dstr_appendf(c->out, "%s %s", c->lmtp ? "LHLO" : "EHLO",
                        p->smtp_helo_name);
    if (rs_cmd(c, rep, p->smtp_helo_timeout, c->lmtp ? "LHLO" : "EHLO") < 0)
        return -1;
    if (rep->code / 100 == 2) {
        c->ext = rs_ehlo_parse(rep->text->data);
        return 0;
    }
    if (c->lmtp || rep->code / 100 != 5)
        return 0;
    c->ext = 0;
    (void) dstr_appendf(c->out, "HELO %s", p->smtp_helo_name);
    return rs_cmd(c, rep, p->smtp_helo_timeout, "HELO");
}

/* rs_starttls - the TLS handshake on the connection */
static int
rs_starttls(struct rs_conn *c, const struct params *p, const char *host)
{
    long long deadline = clock_mono_ms() + p->smtp_helo_timeout;
    int     rc;

    if (rs_ctx == NULL || (c->ssl = SSL_new(rs_ctx)) == NULL) {
        (void) str_copy(c->err, sizeof(c->err), "TLS not initialised");
        return -1;
    }
    (void) SSL_set_fd(c->ssl, c->fd);
    if (host != NULL && *host && !isdigit((unsigned char) *host))
        (void) SSL_set_tlsext_host_name(c->ssl, host);
    for (;;) {
        ERR_clear_error();
        if ((rc = SSL_connect(c->ssl)) == 1)
            return 0;
        if (rs_ssl_wait(c, rc, deadline) < 0)
            return -1;
    }
}

/* rs_set_all - the same outcome for every recipient not yet decided */
static void
rs_set_all(struct relay_rcpt **rcpts, size_t n, enum relay_rcpt_status st,
           const char *dsn, const char *relay, int remote, const char *text)
{
    size_t  i;

    for (i = 0; i < n; i++)
        if (rcpts[i]->status == RELAY_RCPT_PENDING)
            relay_rcpt_set(rcpts[i], st, dsn, relay, remote, "%s", text);
}

/* rs_by_reply - the outcome a reply means */
static void
rs_by_reply(struct relay_rcpt *r, const struct rs_reply *rep,
            const char *relay)
{
    enum relay_rcpt_status st = rep->code / 100 == 2 ? RELAY_RCPT_SENT
        : rep->code / 100 == 5 ? RELAY_RCPT_BOUNCE : RELAY_RCPT_DEFER;

    relay_rcpt_set(r, st, rep->dsn, relay, 1, "%s", rep->text->data);
}

/* rs_mark_dsn - with DSN offered, the next hop answers NOTIFY from now on */
static void
rs_mark_dsn(struct rs_conn *c, struct relay_rcpt **rcpts, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++)
        rcpts[i]->dsn_passed = (c->ext & RS_EXT_DSN) != 0;
}

/* rs_reply_all - a reply that ends the transaction for everyone left */
static void
rs_reply_all(struct rs_conn *c, struct relay_rcpt **rcpts, size_t n,
             const struct rs_reply *rep)
{
    size_t  i;

    for (i = 0; i < n; i++)
        if (rcpts[i]->status == RELAY_RCPT_PENDING)
            rs_by_reply(rcpts[i], rep, c->relay);
}

/* rs_xtext - append " NAME=xtext(value)" when value is known */
static void
rs_xtext(struct dstr *out, const char *name, const char *value)
{
    if (value == NULL || *value == '\0')
        return;
    (void) dstr_appendf(out, " %s=", name);
    (void) xtext_encode(out, value, strlen(value));
}

/*
 * rs_xforward - the XFORWARD command, as Postfix's smtpd takes it: an
 * unknown name is [UNAVAILABLE], IPv6 addresses carry "IPv6:", PROTO is
 * SMTP or ESMTP, IDENT the queue ID here.
 */
static void
rs_xforward(struct dstr *out, const struct queue_file_env *env)
{
    struct dstr *addr = dstr_new(64, 256);

    (void) dstr_append_str(out, "XFORWARD");
    rs_xtext(out, "NAME", env->client_name == NULL
             || strcmp(env->client_name, "unknown") == 0 ? "[UNAVAILABLE]"
             : env->client_name);
    if (env->client_addr != NULL) {
        (void) dstr_appendf(addr, "%s%s", strchr(env->client_addr, ':')
                            ? "IPv6:" : "", env->client_addr);
        rs_xtext(out, "ADDR", addr->data);
    }
    if (env->protocol != NULL)
        rs_xtext(out, "PROTO", strncmp(env->protocol, "ESMTP", 5) == 0
                 ? "ESMTP" : "SMTP");
    rs_xtext(out, "HELO", env->client_helo);
    rs_xtext(out, "IDENT", env->id);
    dstr_free(addr);
}

/* rs_send_content - the message, dot-stuffed, then "." */
static int
rs_send_content(struct rs_conn *c, const struct params *p,
                struct queue_file_reader *r)
{
    char   *buf = xmalloc(RS_BUF);
    struct dstr *why = dstr_new(128, 1024);
    ssize_t n, i;
    int     bol = 1, last = '\n', rc = -1;

    c->stage = "message content";
    if (queue_file_read_rewind(r, why) < 0)
        goto out;
    while ((n = queue_file_read_content(r, buf, RS_BUF, why)) > 0) {
        for (i = 0; i < n; i++) {
            if (bol && buf[i] == '.')
                (void) dstr_append_char(c->out, '.');
            (void) dstr_append_char(c->out, buf[i]);
            bol = buf[i] == '\n';
        }
        last = buf[n - 1];
        if (c->out->len >= RS_BUF && rs_flush(c, p->smtp_data_xfer_timeout) < 0)
            goto out;
    }
    if (n < 0) {
        rs_setf(c->err, sizeof(c->err), "queue file: %s", why->data);
        goto out;
    }
    if (last != '\n')
        (void) dstr_append_str(c->out, "\r\n");
    (void) dstr_append_str(c->out, ".\r\n");
    rc = rs_flush(c, p->smtp_data_xfer_timeout);
  out:
    free(buf);
    dstr_free(why);
    return rc;
}

/* rs_mail_cmd - MAIL FROM with its parameters */
static void
rs_mail_cmd(struct rs_conn *c, const struct queue_file_env *env)
{
    (void) dstr_append_str(c->out, "MAIL FROM:<");
    (void) mailaddr_quote(c->out, env->sender);
    (void) dstr_append_str(c->out, ">");
    if (c->ext & RS_EXT_SIZE)
        (void) dstr_appendf(c->out, " SIZE=%lld", env->size);
    if ((c->ext & RS_EXT_8BITMIME) && env->body == QUEUE_FILE_BODY_8BITMIME)
        (void) dstr_append_str(c->out, " BODY=8BITMIME");
    if ((c->ext & RS_EXT_SMTPUTF8) && env->smtputf8)
        (void) dstr_append_str(c->out, " SMTPUTF8");
    if (c->ext & RS_EXT_DSN) {
        if (env->ret != QUEUE_FILE_RET_NONE)
            (void) dstr_appendf(c->out, " RET=%s",
                                env->ret == QUEUE_FILE_RET_FULL ? "FULL"
                                : "HDRS");
        if (env->envid != NULL)
            (void) dstr_appendf(c->out, " ENVID=%s", env->envid);
    }
    (void) dstr_append_str(c->out, "\r\n");
}

/* rs_rcpt_cmd - RCPT TO with its DSN parameters */
static void
rs_rcpt_cmd(struct rs_conn *c, const struct queue_file_env *env,
            const struct relay_rcpt *rc)
{
    const struct queue_file_rcpt *er = &env->rcpt[rc->index];
    unsigned nt = er->notify;

    (void) dstr_append_str(c->out, "RCPT TO:<");
    (void) mailaddr_quote(c->out, rc->address);
    (void) dstr_append_str(c->out, ">");
    if ((c->ext & RS_EXT_DSN) && nt != 0) {
        if (nt & QUEUE_FILE_NOTIFY_NEVER)
            (void) dstr_append_str(c->out, " NOTIFY=NEVER");
        else
            (void) dstr_appendf(c->out, " NOTIFY=%s%s%s%s%s",
                                nt & QUEUE_FILE_NOTIFY_SUCCESS ? "SUCCESS" : "",
                                (nt & QUEUE_FILE_NOTIFY_SUCCESS)
                                && (nt & (QUEUE_FILE_NOTIFY_FAILURE
                                          | QUEUE_FILE_NOTIFY_DELAY)) ? "," : "",
                                nt & QUEUE_FILE_NOTIFY_FAILURE ? "FAILURE" : "",
                                (nt & QUEUE_FILE_NOTIFY_FAILURE)
                                && (nt & QUEUE_FILE_NOTIFY_DELAY) ? "," : "",
                                nt & QUEUE_FILE_NOTIFY_DELAY ? "DELAY" : "");
    }
    if ((c->ext & RS_EXT_DSN) && er->orcpt != NULL)
        (void) dstr_appendf(c->out, " ORCPT=%s", er->orcpt);
    (void) dstr_append_str(c->out, "\r\n");
}

/*
 * rs_transaction - MAIL, RCPT..., DATA, content, final replies. With
 * PIPELINING everything up to DATA is one write and the replies are
 * read in order; otherwise each command waits for its reply. Returns
 * -1 when the connection broke (the caller defers whoever is left).
 */
static int
rs_transaction(struct rs_conn *c, const struct params *p,
               struct queue_file_reader *r, struct relay_rcpt **rcpts,
               size_t n, struct rs_reply *rep)
{
    const struct queue_file_env *env = queue_file_read_env(r);
    int     pipe = (c->ext & RS_EXT_PIPELINING) != 0;
    int    *accepted = xcalloc(n ? n : 1, sizeof(int));
    size_t  i, naccepted = 0;
    int     rc = -1;

    rs_mail_cmd(c, env);
    if (!pipe) {
        c->stage = "MAIL FROM";
        if (rs_flush(c, p->smtp_mail_timeout) < 0
            || rs_reply(c, rep, p->smtp_mail_timeout) < 0)
            goto out;
        if (rep->code / 100 != 2) {
            rs_reply_all(c, rcpts, n, rep);
            rc = 0;
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        rs_rcpt_cmd(c, env, rcpts[i]);
        if (!pipe) {
            c->stage = "RCPT TO";
            if (rs_flush(c, p->smtp_rcpt_timeout) < 0
                || rs_reply(c, rep, p->smtp_rcpt_timeout) < 0)
                goto out;
            if (rep->code / 100 == 2)
                accepted[i] = 1, naccepted++;
            else
                rs_by_reply(rcpts[i], rep, c->relay);
        }
    }
    if (pipe) {
        (void) dstr_append_str(c->out, "DATA\r\n");
        c->stage = "MAIL FROM";
        if (rs_flush(c, p->smtp_mail_timeout) < 0
            || rs_reply(c, rep, p->smtp_mail_timeout) < 0)
            goto out;
        if (rep->code / 100 != 2)
            rs_reply_all(c, rcpts, n, rep);
        c->stage = "RCPT TO";
        for (i = 0; i < n; i++) {
            struct rs_reply rr = {0, "", rep->text};

            if (rs_reply(c, &rr, p->smtp_rcpt_timeout) < 0)
                goto out;
            if (rcpts[i]->status != RELAY_RCPT_PENDING)
                continue;
            if (rr.code / 100 == 2)
                accepted[i] = 1, naccepted++;
            else
                rs_by_reply(rcpts[i], &rr, c->relay);
        }
        c->stage = "DATA";
        if (rs_reply(c, rep, p->smtp_data_init_timeout) < 0)
            goto out;
    } else if (naccepted > 0) {
        (void) dstr_append_str(c->out, "DATA");
        if (rs_cmd(c, rep, p->smtp_data_init_timeout, "DATA") < 0)
            goto out;
    }
    if (naccepted == 0) {
        rc = 0;                        /* everyone has a reply already */
        goto out;
    }
    if (rep->code != 354) {
        rs_reply_all(c, rcpts, n, rep);
        rc = 0;
        goto out;
    }
    if (rs_send_content(c, p, r) < 0)
        goto out;
    c->stage = "end of data";
    for (i = 0; i < n; i++) {
        if (!accepted[i])
            continue;
        if (rs_reply(c, rep, p->smtp_data_done_timeout) < 0)
            goto out;
        if (!c->lmtp) {
            rs_reply_all(c, rcpts, n, rep);
            break;
        }
        rs_by_reply(rcpts[i], rep, c->relay);
    }
    rc = 0;
  out:
    free(accepted);
    return rc;
}

/*
 * rs_session - one SMTP/LMTP session for the recipients; tls_level 0 none,
 * 1 may, 2 encrypt. *tls_failed is set when the TLS handshake failed,
 * before any mail command: with "may" the caller tries again in clear.
 */
static void
rs_session(const struct params *p, const struct relay_transport *t,
           struct queue_file_reader *r, struct relay_rcpt **rcpts, size_t n,
           int tls_level, int *tls_failed)
{
    const struct queue_file_env *env = queue_file_read_env(r);
    struct rs_conn *c = xcalloc(1, sizeof(*c));
    struct rs_reply rep = {0, "", NULL};

    *tls_failed = 0;
    c->fd = -1;
    c->lmtp = t->kind != RELAY_TRANSPORT_SMTP;
    c->out = dstr_new(RS_BUF, 8 * RS_BUF);
    rep.text = dstr_new(256, RELAY_SMTP_LINE_MAX * 4);
    c->stage = "connect";
    if (rs_connect(c, p, t) < 0) {
        char    text[RELAY_RCPT_TEXT_MAX];

        rs_setf(text, sizeof(text), "connect to %s: %s", c->relay,
                        c->err);
        rs_set_all(rcpts, n, RELAY_RCPT_DEFER, "4.4.1", c->relay, 0, text);
        goto done;
    }
    c->stage = "greeting";
    if (rs_reply(c, &rep, p->smtp_helo_timeout) < 0)
        goto broken;
    if (rep.code / 100 != 2) {
        rs_reply_all(c, rcpts, n, &rep);
        goto quit;
    }
    if (rs_hello(c, p, &rep) < 0)
        goto broken;
    if (rep.code / 100 != 2) {
        rs_reply_all(c, rcpts, n, &rep);
        goto quit;
    }
    if (tls_level > 0 && (c->ext & RS_EXT_STARTTLS)) {
        (void) dstr_append_str(c->out, "STARTTLS");
        if (rs_cmd(c, &rep, p->smtp_helo_timeout, "STARTTLS") < 0)
            goto broken;
        if (rep.code == 220) {
            /* anything the server sent before the handshake is void */
            c->inlen = 0;
            c->stage = "TLS handshake";
            if (rs_starttls(c, p, t->host) < 0) {
                *tls_failed = 1;
                goto broken;
            }
            if (rs_hello(c, p, &rep) < 0)
                goto broken;
            if (rep.code / 100 != 2) {
                rs_reply_all(c, rcpts, n, &rep);
                goto quit;
            }
        } else if (tls_level == 2) {
            rs_set_all(rcpts, n, RELAY_RCPT_DEFER, "4.7.5", c->relay, 1,
                       rep.text->data);
            goto quit;
        }
    } else if (tls_level == 2) {
        rs_set_all(rcpts, n, RELAY_RCPT_DEFER, "4.7.4", c->relay, 0,
                   "TLS is required, but was not offered by the next hop");
        goto quit;
    }
    if (p->smtp_send_xforward_command && (c->ext & RS_EXT_XFORWARD)) {
        rs_xforward(c->out, env);
        if (rs_cmd(c, &rep, p->smtp_helo_timeout, "XFORWARD") < 0)
            goto broken;
    }
    rs_mark_dsn(c, rcpts, n);
    if (rs_transaction(c, p, r, rcpts, n, &rep) < 0)
        goto broken;
  quit:
    (void) dstr_append_str(c->out, "QUIT");
    (void) rs_cmd(c, &rep, p->smtp_quit_timeout, "QUIT");
    goto done;
  broken:
    {
        char    text[RELAY_RCPT_TEXT_MAX];

        rs_setf(text, sizeof(text), "%s with %s while %s %s",
                        strcmp(c->err, "timeout") == 0 ? "conversation timed out"
                        : c->err, c->relay,
                        strcmp(c->stage, "greeting") == 0 ? "receiving the"
                        : "sending", c->stage);
        rs_set_all(rcpts, n, RELAY_RCPT_DEFER, "4.4.2", c->relay, 0, text);
    }
  done:
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    dstr_free(c->out);
    dstr_free(rep.text);
    free(c);
}

/* relay_smtp_deliver - one message to one next hop */
int
relay_smtp_deliver(const struct params *p, const struct relay_transport *t,
                   struct queue_file_reader *r, struct relay_rcpt **rcpts,
                   size_t n)
{
    int     tls_level, tls_failed, ok = 1;
    size_t  i;

    tls_level = strcmp(p->smtp_tls_security_level, "encrypt") == 0 ? 2
        : strcmp(p->smtp_tls_security_level, "none") == 0 ? 0 : 1;
    rs_session(p, t, r, rcpts, n, tls_level, &tls_failed);
    if (tls_failed && tls_level == 1) {
        /* opportunistic TLS that fails must not stop the mail: in clear */
        log_info("%s: TLS handshake with %s failed; trying without TLS",
                 queue_file_read_env(r)->id, t->key);
        for (i = 0; i < n; i++)
            rcpts[i]->status = RELAY_RCPT_PENDING;
        rs_session(p, t, r, rcpts, n, 0, &tls_failed);
    }
    for (i = 0; i < n; i++)
        if (rcpts[i]->status != RELAY_RCPT_SENT)
            ok = 0;
    return ok ? 0 : -1;
}
