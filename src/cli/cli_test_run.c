/* cli_test_run - run one "doppel test" script against one SMTP server. */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "cli/cli_test_run.h"
#include "cli/cli_test_script.h"

#define CTR_PENDING_MAX 256             /* commands awaiting a reply */
#define CTR_VERB_MAX 12
#define CTR_BODY_ROWS 8                 /* body lines shown in transcripts */
#define CTR_MATCH_LIMIT 1000000         /* PCRE2 backtracking bound */
#define CTR_NAME_MAX 64

/* step results */
#define CTR_OK 0
#define CTR_WRONG (-1)                  /* failed, but the dialog is in step */
#define CTR_FATAL (-2)                  /* failed, the dialog cannot go on */

/* I/O results */
#define CTR_IO_DATA 1
#define CTR_IO_EOF 0
#define CTR_IO_ERROR (-1)
#define CTR_IO_TIMEOUT (-2)

/* one connection */
struct ctr_sess {
    char    name[CTR_NAME_MAX];
    char    addr[CLI_TEST_CELL_MAX];
    int     fd;
    SSL    *ssl;
    struct dstr *in;                   /* received, not yet consumed */
    char   *ehlo;                      /* last EHLO reply's text, or NULL */
    char    pending[CTR_PENDING_MAX][CTR_VERB_MAX];
    size_t  phead;
    size_t  pcount;
};

/* a reply */
struct ctr_reply {
    char    code[4];
    char    enh[24];
    char  **lines;                     /* as received, without CRLF */
    size_t  nlines;
    struct dstr *text;                 /* lines without codes, '\n'-joined */
    const char *verb;                  /* the command it answers, or "" */
};

/* the run */
struct ctr {
    const struct cli_test_script *script;
    const struct cli_test_target *target;
    const struct cli_test_run_opts *opts;
    struct cli_test_result *res;
    struct ctr_sess *sess[CLI_TEST_SESSIONS_MAX];
    size_t  nsess;
    struct ctr_sess *cur;
    SSL_CTX *ctx;
    long long start;
    long long deadline;                /* of the whole script */
    const struct cli_test_step *step;
    size_t  stepno;
    struct dstr *why;                  /* I/O error text */
};

/* ctr_deadline - the step's bound, capped by the script's */
static long long
ctr_deadline(const struct ctr *c)
{
    long long d = clock_mono_ms() + c->step->timeout_ms;

    return d < c->deadline ? d : c->deadline;
}

/* ctr_waited - how a timed-out wait is worded: the step's or the script's */
static void
ctr_timeout_text(const struct ctr *c, struct dstr *out)
{
    if (clock_mono_ms() >= c->deadline)
        (void) dstr_appendf(out, "the script's time limit of %.3gs ran out",
                            c->script->time_limit_ms / 1000.0);
    else
        (void) dstr_appendf(out, "nothing within %.3gs",
                            c->step->timeout_ms / 1000.0);
}

/* ctr_cell - printable text for a transcript cell, cut with "..." */
static char *
ctr_cell(const char *p, size_t len)
{
    struct dstr *d = dstr_new(len + 8, CLI_TEST_CELL_MAX + 8);
    size_t  i;
    unsigned char c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];
        if (d->len >= CLI_TEST_CELL_MAX) {
            (void) dstr_append_str(d, "...");
            break;
        }
        if (c == '\r')
            (void) dstr_append_str(d, "\\r");
        else if (c == '\n')
            (void) dstr_append_str(d, "\\n");
        else if (c == '\t')
            (void) dstr_append_str(d, "\\t");
        else if (c < 32 || c == 127)
            (void) dstr_appendf(d, "\\x%02X", c);
        else
            (void) dstr_append_char(d, c);
    }
    return dstr_steal(d);
}

/* ctr_row - add a transcript row; left and right are copied */
static void
ctr_row(struct ctr *c, int located, const char *left, const char *right,
        const char *mark)
{
    struct cli_test_result *r = c->res;
    struct cli_test_row *row;

    if (r->nrows >= CLI_TEST_ROWS_MAX) {
        r->rows_dropped++;
        return;
    }
    r->rows = xrealloc_array(r->rows, r->nrows + 1, sizeof(*r->rows));
    row = &r->rows[r->nrows++];
    row->file = located ? c->step->file : NULL;
    row->line = located ? c->step->line : 0;
    row->left = left ? ctr_cell(left, strlen(left)) : NULL;
    row->right = right ? ctr_cell(right, strlen(right)) : NULL;
    row->mark = mark;
}

/* ctr_mark - set the mark of the last row that this step added */
static void
ctr_mark(struct ctr *c, size_t first_row, const char *mark)
{
    if (c->res->nrows > first_row)
        c->res->rows[first_row].mark = mark;
}

/* ctr_fail - record the current step's failure; returns how */
static int __attribute__((format(printf, 4, 5)))
ctr_fail(struct ctr *c, int how, const char *detail, const char *fmt, ...)
{
    struct cli_test_outcome *o = &c->res->outcomes[c->stepno];
    struct dstr *msg = dstr_new(128, 4096);
    va_list ap;

    o->status = CLI_TEST_FAIL;
    (void) str_copy(o->detail, sizeof(o->detail), detail);
    va_start(ap, fmt);
    (void) dstr_vappendf(msg, fmt, ap);
    va_end(ap);
    if (c->res->nfailed++ == 0)
        (void) dstr_appendf(c->res->message, "%s:%u: %s", c->step->file,
                            c->step->line, msg->data);
    (void) dstr_set_str(msg, "^ ");
    va_start(ap, fmt);
    (void) dstr_vappendf(msg, fmt, ap);
    va_end(ap);
    ctr_row(c, 0, msg->data, NULL, NULL);
    dstr_free(msg);
    return how;
}

/* ctr_pass - the current step passed */
static int
ctr_pass(struct ctr *c, const char *detail)
{
    struct cli_test_outcome *o = &c->res->outcomes[c->stepno];

    o->status = CLI_TEST_PASS;
    (void) str_copy(o->detail, sizeof(o->detail), detail);
    return CTR_OK;
}

/* ctr_ssl_error - OpenSSL's reason, or the system's */
static void
ctr_ssl_error(struct dstr *out, const char *what)
{
    unsigned long e = ERR_get_error();
    char    buf[256];

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        (void) dstr_appendf(out, "%s: %s", what, buf);
    } else {
        (void) dstr_appendf(out, "%s: %s", what,
                            errno ? strerror(errno) : "connection closed");
    }
    ERR_clear_error();
}

/* ctr_wait - poll one descriptor until ready or the deadline */
static int
ctr_wait(int fd, short events, long long deadline)
{
    struct pollfd pfd;
    long long left;
    int     n;

    for (;;) {
        left = deadline - clock_mono_ms();
        if (left <= 0)
            return CTR_IO_TIMEOUT;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, left > 60000 ? 60000 : (int) left);
        if (n > 0)
            return CTR_IO_DATA;
        if (n < 0 && errno != EINTR)
            return CTR_IO_ERROR;
    }
}

/*
 * ctr_ssl_wait - after a TLS call returned n: wait as OpenSSL asks.
 * CTR_IO_DATA means "try again".
 */
static int
ctr_ssl_wait(struct ctr *c, struct ctr_sess *s, int n, long long deadline,
             const char *what)
{
    int     e = SSL_get_error(s->ssl, n);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return ctr_wait(s->fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return ctr_wait(s->fd, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        return CTR_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (errno == 0 || errno == ECONNRESET)
            return CTR_IO_EOF;
        /* FALLTHROUGH */
    default:
        ctr_ssl_error(c->why, what);
        return CTR_IO_ERROR;
    }
}

/* ctr_write - all of len bytes, or an error or timeout */
static int
ctr_write(struct ctr *c, struct ctr_sess *s, const char *p, size_t len,
          long long deadline)
{
    ssize_t n;
    int     w;

    while (len > 0) {
        errno = 0;
        if (s->ssl != NULL) {
            ERR_clear_error();
            n = SSL_write(s->ssl, p, len > 65536 ? 65536 : (int) len);
            if (n <= 0) {
                if ((w = ctr_ssl_wait(c, s, (int) n, deadline, "TLS write"))
                    != CTR_IO_DATA)
                    return w == CTR_IO_EOF ? CTR_IO_ERROR : w;
                continue;
            }
        } else {
            n = send(s->fd, p, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    if ((w = ctr_wait(s->fd, POLLOUT, deadline))
                        != CTR_IO_DATA)
                        return w;
                    continue;
                }
                (void) dstr_appendf(c->why, "write: %s", strerror(errno));
                return CTR_IO_ERROR;
            }
        }
        p += n;
        len -= (size_t) n;
    }
    return CTR_IO_DATA;
}

/* ctr_fill - read what the server sent next into s->in */
static int
ctr_fill(struct ctr *c, struct ctr_sess *s, long long deadline)
{
    char    buf[4096];
    ssize_t n;
    int     w;

    for (;;) {
        errno = 0;
        if (s->ssl != NULL) {
            ERR_clear_error();
            n = SSL_read(s->ssl, buf, sizeof(buf));
            if (n <= 0) {
                if ((w = ctr_ssl_wait(c, s, (int) n, deadline, "TLS read"))
                    != CTR_IO_DATA)
                    return w;
                continue;
            }
        } else {
            n = recv(s->fd, buf, sizeof(buf), 0);
            if (n == 0)
                return CTR_IO_EOF;
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    if ((w = ctr_wait(s->fd, POLLIN, deadline)) != CTR_IO_DATA)
                        return w;
                    continue;
                }
                if (errno == ECONNRESET)
                    return CTR_IO_EOF;
                (void) dstr_appendf(c->why, "read: %s", strerror(errno));
                return CTR_IO_ERROR;
            }
        }
        if (dstr_append(s->in, buf, (size_t) n) < 0) {
            (void) dstr_appendf(c->why, "reply line longer than %d bytes",
                                CLI_TEST_REPLY_LINE_MAX);
            return CTR_IO_ERROR;
        }
        return CTR_IO_DATA;
    }
}

/* ctr_read_line - the next line (without CRLF or LF) into line */
static int
ctr_read_line(struct ctr *c, struct ctr_sess *s, long long deadline,
              struct dstr *line)
{
    char   *nl;
    size_t  len;
    int     r;

    for (;;) {
        if ((nl = memchr(s->in->data, '\n', s->in->len)) != NULL) {
            len = (size_t) (nl - s->in->data);
            (void) dstr_set(line, s->in->data,
                            len > 0 && nl[-1] == '\r' ? len - 1 : len);
            dstr_consume(s->in, len + 1);
            return CTR_IO_DATA;
        }
        if (s->in->len >= CLI_TEST_REPLY_LINE_MAX) {
            (void) dstr_appendf(c->why, "reply line longer than %d bytes",
                                CLI_TEST_REPLY_LINE_MAX);
            return CTR_IO_ERROR;
        }
        if ((r = ctr_fill(c, s, deadline)) != CTR_IO_DATA)
            return r;
    }
}

/* ctr_reply_free - release a reply's lines */
static void
ctr_reply_free(struct ctr_reply *rp)
{
    size_t  i;

    for (i = 0; i < rp->nlines; i++)
        free(rp->lines[i]);
    free(rp->lines);
    dstr_free(rp->text);
    memset(rp, 0, sizeof(*rp));
}

/* ctr_enh - an enhanced status code at the start of text, into out */
static void
ctr_enh(const char *t, char *out, size_t size)
{
    size_t  n = 0;
    int     dots = 0, digits = 0;

    out[0] = '\0';
    if (!(t[0] == '2' || t[0] == '4' || t[0] == '5') || t[1] != '.')
        return;
    for (n = 2; t[n] != '\0' && t[n] != ' '; n++) {
        if (t[n] == '.') {
            if (digits == 0 || ++dots > 1)
                return;
            digits = 0;
        } else if (t[n] >= '0' && t[n] <= '9') {
            if (++digits > 3)
                return;
        } else {
            return;
        }
    }
    if (dots != 1 || digits == 0 || n >= size)
        return;
    memcpy(out, t, n);
    out[n] = '\0';
}

/* ctr_pending_pop - the command the next reply answers, or "" */
static const char *
ctr_pending_pop(struct ctr_sess *s)
{
    const char *v;

    if (s->pcount == 0)
        return "";
    v = s->pending[s->phead];
    s->phead = (s->phead + 1) % CTR_PENDING_MAX;
    s->pcount--;
    return v;
}

/* ctr_pending_push - remember that a command awaits its reply */
static void
ctr_pending_push(struct ctr_sess *s, const char *p, size_t len)
{
    size_t  i, n;

    if (s->pcount == CTR_PENDING_MAX)
        return;                         /* only EHLO tracking is lost */
    n = (s->phead + s->pcount) % CTR_PENDING_MAX;
    for (i = 0; i < len && i < CTR_VERB_MAX - 1 && p[i] != ' '; i++)
        s->pending[n][i] = (char) (p[i] >= 'a' && p[i] <= 'z' ?
                                   p[i] - 32 : p[i]);
    s->pending[n][i] = '\0';
    s->pcount++;
}

/*
 * ctr_read_reply - one whole reply, single- or multi-line. Lines must
 * be "DDD-text" until "DDD text" (or "DDD"), all with the same code.
 */
static int
ctr_read_reply(struct ctr *c, struct ctr_sess *s, long long deadline,
               struct ctr_reply *rp)
{
    struct dstr *line = dstr_new(128, CLI_TEST_REPLY_LINE_MAX);
    const char *l;
    int     r;

    memset(rp, 0, sizeof(*rp));
    rp->text = dstr_new(128, DSTR_UNLIMITED);
    for (;;) {
        if ((r = ctr_read_line(c, s, deadline, line)) != CTR_IO_DATA)
            break;
        rp->lines = xrealloc_array(rp->lines, rp->nlines + 1,
                                   sizeof(*rp->lines));
        rp->lines[rp->nlines++] = xstrndup(line->data, line->len);
        l = line->data;
        if (line->len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0'
            || l[1] > '9' || l[2] < '0' || l[2] > '9'
            || (line->len > 3 && l[3] != ' ' && l[3] != '-')) {
            (void) dstr_appendf(c->why, "malformed reply line (not "
                                "\"DDD text\")");
            r = CTR_IO_ERROR;
            break;
        }
        if (rp->nlines == 1) {
            memcpy(rp->code, l, 3);
            ctr_enh(line->len > 4 ? l + 4 : "", rp->enh, sizeof(rp->enh));
        } else if (memcmp(rp->code, l, 3) != 0) {
            (void) dstr_appendf(c->why, "reply code changes within a "
                                "multi-line reply (%s, then %.3s)", rp->code, l);
            r = CTR_IO_ERROR;
            break;
        } else {
            (void) dstr_append_char(rp->text, '\n');
        }
        if (line->len > 4)
            (void) dstr_append(rp->text, l + 4, line->len - 4);
        if (line->len == 3 || l[3] == ' ')
            break;
        if (rp->nlines >= CLI_TEST_REPLY_LINES_MAX) {
            (void) dstr_appendf(c->why, "reply has more than %d lines",
                                CLI_TEST_REPLY_LINES_MAX);
            r = CTR_IO_ERROR;
            break;
        }
    }
    dstr_free(line);
    if (r == CTR_IO_DATA) {
        rp->verb = ctr_pending_pop(s);
        if (strcmp(rp->verb, "EHLO") == 0 && strcmp(rp->code, "250") == 0) {
            free(s->ehlo);
            s->ehlo = xstrndup(rp->text->data, rp->text->len);
        }
    }
    return r;
}

/* ctr_reply_rows - the reply beside its expectation */
static size_t
ctr_reply_rows(struct ctr *c, const char *left, const struct ctr_reply *rp)
{
    size_t  first = c->res->nrows, i;

    for (i = 0; i < rp->nlines; i++)
        ctr_row(c, i == 0, i == 0 ? left : NULL, rp->lines[i], NULL);
    if (rp->nlines == 0)
        ctr_row(c, 1, left, NULL, NULL);
    return first;
}

/*
 * ctr_io_fail - the words for a failed read or write: timeout, close,
 * or an error; the reply lines read so far are shown.
 */
static int
ctr_io_fail(struct ctr *c, int io, const char *what, struct ctr_reply *rp)
{
    struct dstr *t = dstr_new(64, 1024);
    size_t  first;
    int     r;

    first = ctr_reply_rows(c, c->step->text, rp);
    ctr_mark(c, first, "FAIL");
    if (io == CTR_IO_TIMEOUT) {
        ctr_timeout_text(c, t);
        r = ctr_fail(c, CTR_FATAL, "timeout", "%s: %s", what, t->data);
    } else if (io == CTR_IO_EOF) {
        r = ctr_fail(c, CTR_FATAL, "closed", "%s: the server closed the "
                     "connection", what);
    } else {
        r = ctr_fail(c, CTR_FATAL, "error", "%s: %s", what, c->why->data);
    }
    dstr_free(t);
    return r;
}

/* ctr_need_session - the current session, or a failure */
static int
ctr_need_session(struct ctr *c)
{
    if (c->cur != NULL)
        return CTR_OK;
    ctr_row(c, 1, c->step->text, NULL, "FAIL");
    return ctr_fail(c, CTR_FATAL, "no session", "%s: not connected (use "
                    "connect first)", c->step->text);
}

/* ctr_sess_close - end a session and forget it */
static void
ctr_sess_close(struct ctr *c, struct ctr_sess *s)
{
    size_t  i;

    if (s->ssl != NULL) {
        (void) SSL_shutdown(s->ssl);   /* best effort, non-blocking */
        SSL_free(s->ssl);
    }
    if (s->fd >= 0)
        close(s->fd);
    dstr_free(s->in);
    free(s->ehlo);
    for (i = 0; i < c->nsess; i++) {
        if (c->sess[i] == s) {
            c->sess[i] = c->sess[--c->nsess];
            break;
        }
    }
    if (c->cur == s)
        c->cur = NULL;
    free(s);
}

/* cli_test_run_split_addr - "host:port", "[v6]:port" into parts */
int
cli_test_run_split_addr(const char *addr, char *host, size_t hsize,
                        char *port, size_t psize)
{
    const char *colon, *close;
    size_t  hlen;

    if (addr[0] == '[') {
        if ((close = strchr(addr, ']')) == NULL || close[1] != ':')
            return -1;
        hlen = (size_t) (close - addr - 1);
        colon = close + 1;
        addr++;
    } else {
        if ((colon = strrchr(addr, ':')) == NULL
            || memchr(addr, ':', (size_t) (colon - addr)) != NULL)
            return -1;
        hlen = (size_t) (colon - addr);
    }
    if (hlen == 0 || hlen >= hsize || colon[1] == '\0'
        || strspn(colon + 1, "0123456789") != strlen(colon + 1)
        || str_copy(port, psize, colon + 1) < 0)
        return -1;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    return 0;
}

/* ctr_tls_start - TLS handshake on the session's socket */
static int
ctr_tls_start(struct ctr *c, struct ctr_sess *s, const char *host)
{
    long long deadline = ctr_deadline(c);
    struct netaddr na;
    char    info[128];
    int     n, w;

    if (c->ctx == NULL) {
        if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
            ctr_ssl_error(c->why, "TLS");
            return CTR_IO_ERROR;
        }
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    }
    if ((s->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
        ctr_ssl_error(c->why, "TLS");
        return CTR_IO_ERROR;
    }
    if (host != NULL && netaddr_parse(&na, host) < 0)
        (void) SSL_set_tlsext_host_name(s->ssl, host);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        if ((n = SSL_connect(s->ssl)) == 1)
            break;
        if ((w = ctr_ssl_wait(c, s, n, deadline, "TLS handshake"))
            != CTR_IO_DATA) {
            if (w == CTR_IO_EOF)
                (void) dstr_append_str(c->why, "TLS handshake: the server "
                                       "closed the connection");
            return w == CTR_IO_EOF ? CTR_IO_ERROR : w;
        }
    }
    (void) snprintf(info, sizeof(info), "TLS: %s %s", SSL_get_version(s->ssl),
                    SSL_get_cipher_name(s->ssl));
    ctr_row(c, 0, NULL, info, NULL);
    return CTR_IO_DATA;
}

/* ctr_connect_one - a non-blocking connect bounded by the deadline */
static int
ctr_connect_one(struct ctr *c, const struct addrinfo *ai, long long deadline)
{
    int     fd, err = 0, w;
    socklen_t elen = sizeof(err);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
        (void) dstr_appendf(c->why, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        (void) dstr_append_str(c->why, strerror(errno));
        close(fd);
        return -1;
    }
    if ((w = ctr_wait(fd, POLLOUT, deadline)) != CTR_IO_DATA) {
        if (w == CTR_IO_TIMEOUT)
            ctr_timeout_text(c, c->why);
        else
            (void) dstr_append_str(c->why, strerror(errno));
        close(fd);
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
        (void) dstr_append_str(c->why, strerror(err ? err : errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ctr_connect - connect [ADDR] [tls] [as NAME] */
static int
ctr_connect(struct ctr *c)
{
    const struct cli_test_step *st = c->step;
    const char *addr = st->data ? st->data : c->target->server;
    const char *name = st->name ? st->name : "default";
    struct addrinfo hints, *res = NULL, *ai;
    char    host[256], port[16], left[CLI_TEST_CELL_MAX];
    long long deadline = ctr_deadline(c);
    struct ctr_sess *s;
    size_t  i;
    int     fd = -1, e;

    (void) snprintf(left, sizeof(left), "connect %s%s", addr ? addr : "?",
                    st->tls ? " (tls)" : "");
    if (addr == NULL) {
        ctr_row(c, 1, left, NULL, "FAIL");
        return ctr_fail(c, CTR_FATAL, "no server", "connect: no server "
                        "(give --server HOST:PORT, or connect HOST:PORT)");
    }
    if (cli_test_run_split_addr(addr, host, sizeof(host), port,
                                sizeof(port)) < 0) {
        ctr_row(c, 1, left, NULL, "FAIL");
        return ctr_fail(c, CTR_FATAL, "bad address", "connect %s: use "
                        "HOST:PORT or [IPV6]:PORT", addr);
    }
    for (i = 0; i < c->nsess; i++)
        if (strcmp(c->sess[i]->name, name) == 0) {
            ctr_sess_close(c, c->sess[i]);
            break;
        }
    if (c->nsess >= CLI_TEST_SESSIONS_MAX) {
        ctr_row(c, 1, left, NULL, "FAIL");
        return ctr_fail(c, CTR_FATAL, "too many", "connect: more than %d "
                        "sessions open at once", CLI_TEST_SESSIONS_MAX);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    /* XXX getaddrinfo() cannot be bounded; names rely on resolv.conf */
    if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
        ctr_row(c, 1, left, NULL, "FAIL");
        return ctr_fail(c, CTR_FATAL, "no address", "connect %s: %s", addr,
                        gai_strerror(e));
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        dstr_reset(c->why);
        fd = ctr_connect_one(c, ai, deadline);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        ctr_row(c, 1, left, NULL, "FAIL");
        return ctr_fail(c, CTR_FATAL, "refused", "connect %s: %s (is the "
                        "server running and listening there?)", addr,
                        c->why->data);
    }
    s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->in = dstr_new(1024, CLI_TEST_REPLY_LINE_MAX * 4);
    (void) str_copy(s->name, sizeof(s->name), name);
    (void) str_copy(s->addr, sizeof(s->addr), addr);
    c->sess[c->nsess++] = s;
    c->cur = s;
    ctr_pending_push(s, "greeting", 8);
    ctr_row(c, 1, left, strcmp(name, "default") ? name : "(connected)", "ok");
    if (st->tls) {
        dstr_reset(c->why);
        if ((e = ctr_tls_start(c, s, host)) != CTR_IO_DATA) {
            if (e == CTR_IO_TIMEOUT)
                ctr_timeout_text(c, c->why);
            return ctr_fail(c, CTR_FATAL, "tls", "connect %s: %s", addr,
                            c->why->data);
        }
    }
    return ctr_pass(c, "");
}

/* ctr_use - switch to a named session */
static int
ctr_use(struct ctr *c)
{
    size_t  i;

    for (i = 0; i < c->nsess; i++) {
        if (strcmp(c->sess[i]->name, c->step->name) == 0) {
            c->cur = c->sess[i];
            return ctr_pass(c, "ok");
        }
    }
    ctr_row(c, 1, c->step->text, NULL, "FAIL");
    return ctr_fail(c, CTR_FATAL, "no session", "use: no open session named "
                    "\"%s\" (open one with: connect ... as %s)",
                    c->step->name, c->step->name);
}

/*
 * ctr_send_rows - the lines of data as "> line" rows; a body shows its
 * first lines only. Commands are remembered for the replies (not body
 * lines).
 */
static void
ctr_send_rows(struct ctr *c, const char *p, size_t len, int body, int track)
{
    const char *end = p + len, *nl;
    struct dstr *d = dstr_new(64, CLI_TEST_CELL_MAX + 16);
    size_t  n = 0, l;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        l = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
        if (track && c->cur != NULL && l >= 2 && p[l - 1] == '\n')
            ctr_pending_push(c->cur, p, l - 2);
        if (!body || n < CTR_BODY_ROWS) {
            (void) dstr_set_str(d, "> ");
            /* a line that ends in CRLF shows without it */
            if (l >= 2 && p[l - 2] == '\r' && p[l - 1] == '\n')
                (void) dstr_append(d, p, l - 2 > CLI_TEST_CELL_MAX ?
                                   CLI_TEST_CELL_MAX : l - 2);
            else {
                char   *esc = ctr_cell(p, l);

                (void) dstr_append_str(d, esc);
                free(esc);
            }
            ctr_row(c, n == 0, d->data, NULL, NULL);
        }
        n++;
        p += l;
    }
    if (body && n > CTR_BODY_ROWS) {
        (void) dstr_set_str(d, "> ");
        (void) dstr_appendf(d, "... %zu more lines of the message",
                            n - CTR_BODY_ROWS);
        ctr_row(c, 0, d->data, NULL, NULL);
    }
    dstr_free(d);
}

/* ctr_send_data - write bytes for the current step */
static int
ctr_send_data(struct ctr *c, const char *p, size_t len)
{
    int     w;

    dstr_reset(c->why);
    if ((w = ctr_write(c, c->cur, p, len, ctr_deadline(c))) == CTR_IO_DATA)
        return CTR_OK;
    if (w == CTR_IO_TIMEOUT)
        ctr_timeout_text(c, c->why);
    return ctr_fail(c, CTR_FATAL, w == CTR_IO_TIMEOUT ? "timeout" : "closed",
                    "send: %s", c->why->data);
}

/* ctr_send - send, pipeline, raw */
static int
ctr_send(struct ctr *c)
{
    int     raw = strncmp(c->step->text, "raw", 3) == 0;

    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    ctr_send_rows(c, c->step->data, c->step->len, 0, !raw);
    if (ctr_send_data(c, c->step->data, c->step->len) != CTR_OK)
        return CTR_FATAL;
    return ctr_pass(c, "sent");
}

/* ctr_code_match - does "554" fit "5xx" */
static int
ctr_code_match(const char *pat, const char *code)
{
    int     i;

    for (i = 0; i < 3; i++)
        if (pat[i] != 'x' && pat[i] != code[i])
            return 0;
    return 1;
}

/* ctr_regex_match - 1 match, 0 no match, -1 error (too complex) */
static int
ctr_regex_match(void *re, const struct dstr *text)
{
    pcre2_match_data *md;
    pcre2_match_context *mc;
    int     n;

    md = pcre2_match_data_create_from_pattern(re, NULL);
    mc = pcre2_match_context_create(NULL);
    if (md == NULL || mc == NULL) {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return -1;
    }
    (void) pcre2_set_match_limit(mc, CTR_MATCH_LIMIT);
    n = pcre2_match(re, (PCRE2_SPTR) text->data, text->len, 0, 0, md, mc);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    if (n >= 0)
        return 1;
    return n == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* ctr_check - does a reply meet an expectation; the reason if not */
static int
ctr_check(const struct cli_test_expect *ex, const struct ctr_reply *rp,
          struct dstr *why)
{
    int     i, m;

    for (i = 0; i < ex->ncodes; i++)
        if (ctr_code_match(ex->codes[i], rp->code))
            break;
    if (i == ex->ncodes) {
        (void) dstr_append_str(why, "expected ");
        for (i = 0; i < ex->ncodes; i++)
            (void) dstr_appendf(why, "%s%s", i ? " or " : "", ex->codes[i]);
        (void) dstr_appendf(why, ", got %s", rp->code);
        return -1;
    }
    if (ex->enh[0] != '\0' && strcmp(ex->enh, rp->enh) != 0) {
        (void) dstr_appendf(why, "expected enhanced status %s, got %s",
                            ex->enh, rp->enh[0] ? rp->enh : "none");
        return -1;
    }
    if (ex->re != NULL) {
        if ((m = ctr_regex_match(ex->re, rp->text)) < 0) {
            (void) dstr_appendf(why, "%s: matching gave up (expression too "
                                "complex)", ex->re_text);
            return -1;
        }
        if (m == ex->negate) {
            (void) dstr_appendf(why, "reply %s %s", m ? "matches" :
                                "does not match", ex->re_text);
            return -1;
        }
    }
    return 0;
}

/* ctr_detail - "554 5.7.1" for a matrix cell */
static void
ctr_detail(const struct ctr_reply *rp, char *out, size_t size)
{
    (void) snprintf(out, size, "%s%s%s", rp->code, rp->enh[0] ? " " : "",
                    rp->enh);
}

/* ctr_expect - expect CODE [ENH] [/RE/] */
static int
ctr_expect(struct ctr *c)
{
    struct ctr_reply rp;
    char    detail[CLI_TEST_DETAIL_MAX];
    size_t  first;
    int     r, io;

    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    dstr_reset(c->why);
    if ((io = ctr_read_reply(c, c->cur, ctr_deadline(c), &rp))
        != CTR_IO_DATA) {
        r = ctr_io_fail(c, io, c->step->text, &rp);
        ctr_reply_free(&rp);
        return r;
    }
    first = ctr_reply_rows(c, c->step->text, &rp);
    ctr_detail(&rp, detail, sizeof(detail));
    if (ctr_check(&c->step->expect, &rp, c->why) < 0) {
        ctr_mark(c, first, "FAIL");
        r = ctr_fail(c, CTR_WRONG, detail, "%s: %s", c->step->text,
                     c->why->data);
    } else {
        ctr_mark(c, first, "ok");
        r = ctr_pass(c, detail);
    }
    ctr_reply_free(&rp);
    return r;
}

/* ctr_expect_close - the server must close within the bound */
static int
ctr_expect_close(struct ctr *c)
{
    struct dstr *line = dstr_new(128, CLI_TEST_REPLY_LINE_MAX);
    struct dstr *t;
    int     io, r;

    if (ctr_need_session(c) != CTR_OK) {
        dstr_free(line);
        return CTR_FATAL;
    }
    dstr_reset(c->why);
    io = c->cur->in->len > 0 ? CTR_IO_DATA : ctr_fill(c, c->cur,
                                                      ctr_deadline(c));
    if (io == CTR_IO_EOF) {
        ctr_row(c, 1, c->step->text, "(connection closed)", "ok");
        ctr_sess_close(c, c->cur);
        r = ctr_pass(c, "closed");
    } else if (io == CTR_IO_DATA) {
        /* show what came instead, a line at a time, bounded */
        if (ctr_read_line(c, c->cur, clock_mono_ms() + 100, line) != CTR_IO_DATA)
            (void) dstr_set(line, c->cur->in->data, c->cur->in->len);
        ctr_row(c, 1, c->step->text, line->data, "FAIL");
        r = ctr_fail(c, CTR_WRONG, "open", "%s: the server sent a line "
                     "instead of closing the connection", c->step->text);
    } else if (io == CTR_IO_TIMEOUT) {
        ctr_row(c, 1, c->step->text, "(still open)", "FAIL");
        t = dstr_new(64, 1024);
        ctr_timeout_text(c, t);
        r = ctr_fail(c, CTR_FATAL, "open", "%s: the connection stayed open "
                     "(%s)", c->step->text, t->data);
        dstr_free(t);
    } else {
        ctr_row(c, 1, c->step->text, NULL, "FAIL");
        r = ctr_fail(c, CTR_FATAL, "error", "%s: %s", c->step->text,
                     c->why->data);
    }
    dstr_free(line);
    return r;
}

/* ctr_command - send one command and read its reply */
static int
ctr_command(struct ctr *c, const char *cmd, size_t len, const char *expect,
            struct ctr_reply *rp, size_t *first)
{
    int     io, r;

    ctr_send_rows(c, cmd, len, 0, 1);
    if (ctr_send_data(c, cmd, len) != CTR_OK)
        return CTR_FATAL;
    dstr_reset(c->why);
    if ((io = ctr_read_reply(c, c->cur, ctr_deadline(c), rp)) != CTR_IO_DATA) {
        r = ctr_io_fail(c, io, c->step->text, rp);
        return r;
    }
    *first = ctr_reply_rows(c, expect, rp);
    return CTR_OK;
}

/*
 * ctr_xclient_offered - check the last EHLO reply for XCLIENT and each
 * attribute the step sends. 0 if fine or unknown (no EHLO yet).
 */
static int
ctr_xclient_offered(struct ctr *c)
{
    const char *p = c->cur->ehlo, *nl, *a, *sp;
    size_t  len, alen;

    if (p == NULL)
        return CTR_OK;                  /* no EHLO: let the server answer */
    for (; *p != '\0'; p = nl ? nl + 1 : p + len) {
        nl = strchr(p, '\n');
        len = nl ? (size_t) (nl - p) : strlen(p);
        if (len >= 7 && strncasecmp(p, "XCLIENT", 7) == 0
            && (len == 7 || p[7] == ' '))
            break;
        if (nl == NULL) {
            p += len;
            break;
        }
    }
    if (*p == '\0') {
        ctr_row(c, 1, c->step->text, "(no XCLIENT in the EHLO reply)", "FAIL");
        return ctr_fail(c, CTR_WRONG, "no XCLIENT", "xclient: the server does "
                        "not offer XCLIENT to this client (its EHLO reply "
                        "has no XCLIENT line; is the client in "
                        "smtpd_authorized_xclient_hosts?)");
    }
    for (a = c->step->xattrs; *a != '\0'; a = sp ? sp + 1 : a + alen) {
        const char *q = p + 7, *qend = p + len;
        int     found = 0;

        sp = strchr(a, ' ');
        alen = sp ? (size_t) (sp - a) : strlen(a);
        while (q < qend && !found) {
            while (q < qend && *q == ' ')
                q++;
            found = (size_t) (qend - q) >= alen
                && strncasecmp(q, a, alen) == 0
                && (q + alen == qend || q[alen] == ' ');
            while (q < qend && *q != ' ')
                q++;
        }
        if (!found) {
            ctr_row(c, 1, c->step->text, NULL, "FAIL");
            return ctr_fail(c, CTR_WRONG, "attribute", "xclient: the server's "
                            "XCLIENT does not take %.*s (it offers:%.*s)",
                            (int) alen, a, (int) (len - 7), p + 7);
        }
        if (sp == NULL)
            break;
    }
    return CTR_OK;
}

/* ctr_xclient - send XCLIENT; the server must greet again with 220 */
static int
ctr_xclient(struct ctr *c)
{
    struct ctr_reply rp;
    char    detail[CLI_TEST_DETAIL_MAX];
    size_t  first = 0;
    int     r;

    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    if ((r = ctr_xclient_offered(c)) != CTR_OK)
        return r;
    memset(&rp, 0, sizeof(rp));
    if ((r = ctr_command(c, c->step->data, c->step->len, "expect 220",
                           &rp, &first))
        != CTR_OK) {
        ctr_reply_free(&rp);
        return r;
    }
    ctr_detail(&rp, detail, sizeof(detail));
    if (strcmp(rp.code, "220") == 0) {
        ctr_mark(c, first, "ok");
        free(c->cur->ehlo);             /* a new session: EHLO again */
        c->cur->ehlo = NULL;
        r = ctr_pass(c, detail);
    } else {
        ctr_mark(c, first, "FAIL");
        r = ctr_fail(c, CTR_WRONG, detail, "xclient: %s: %s (%s)",
                     strcmp(rp.code, "550") == 0 ? "XCLIENT refused: this "
                     "client is not authorized" : rp.code[0] == '5'
                     && rp.code[1] == '0' ? "XCLIENT refused as malformed" :
                     "XCLIENT failed", rp.lines[0],
                     strcmp(rp.code, "550") == 0 ? "see the server's "
                     "smtpd_authorized_xclient_hosts" : "expected 220");
    }
    ctr_reply_free(&rp);
    return r;
}

/* ctr_starttls - STARTTLS, 220, handshake */
static int
ctr_starttls(struct ctr *c)
{
    struct ctr_reply rp;
    char    detail[CLI_TEST_DETAIL_MAX], host[256], port[16];
    size_t  first = 0;
    int     r, w;

    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    if (c->cur->ssl != NULL) {
        ctr_row(c, 1, c->step->text, NULL, "FAIL");
        return ctr_fail(c, CTR_WRONG, "already TLS", "starttls: this "
                        "session already uses TLS");
    }
    memset(&rp, 0, sizeof(rp));
    if ((r = ctr_command(c, "STARTTLS\r\n", 10, "expect 220", &rp,
                           &first)) != CTR_OK) {
        ctr_reply_free(&rp);
        return r;
    }
    ctr_detail(&rp, detail, sizeof(detail));
    if (strcmp(rp.code, "220") != 0) {
        ctr_mark(c, first, "FAIL");
        r = ctr_fail(c, CTR_WRONG, detail, "starttls: STARTTLS refused: %s",
                     rp.lines[0]);
        ctr_reply_free(&rp);
        return r;
    }
    ctr_reply_free(&rp);
    ctr_mark(c, first, "ok");
    /* RFC 3207: nothing may follow the 220 in the clear */
    if (c->cur->in->len > 0) {
        return ctr_fail(c, CTR_FATAL, "injection", "starttls: the server "
                        "sent %zu bytes after its 220 reply, before TLS",
                        c->cur->in->len);
    }
    dstr_reset(c->why);
    if (cli_test_run_split_addr(c->cur->addr, host, sizeof(host), port,
                                sizeof(port)) < 0)
        host[0] = '\0';
    if ((w = ctr_tls_start(c, c->cur, host[0] ? host : NULL))
        != CTR_IO_DATA) {
        if (w == CTR_IO_TIMEOUT)
            ctr_timeout_text(c, c->why);
        return ctr_fail(c, CTR_FATAL, "tls", "starttls: %s", c->why->data);
    }
    free(c->cur->ehlo);
    c->cur->ehlo = NULL;
    c->cur->pcount = 0;
    return ctr_pass(c, detail);
}

/* ctr_data - DATA, expect 354, send the body (data); body alone (body) */
static int
ctr_data(struct ctr *c)
{
    struct ctr_reply rp;
    char    detail[CLI_TEST_DETAIL_MAX] = "sent";
    size_t  first = 0;
    int     r;

    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    if (c->step->op == CLI_TEST_OP_DATA) {
        memset(&rp, 0, sizeof(rp));
        if ((r = ctr_command(c, "DATA\r\n", 6, "expect 354", &rp,
                               &first)) != CTR_OK) {
            ctr_reply_free(&rp);
            return r;
        }
        ctr_detail(&rp, detail, sizeof(detail));
        if (strcmp(rp.code, "354") != 0) {
            ctr_mark(c, first, "FAIL");
            r = ctr_fail(c, CTR_WRONG, detail, "data: expected 354 to DATA, "
                         "got %s", rp.lines[0]);
            ctr_reply_free(&rp);
            return r;
        }
        ctr_mark(c, first, "ok");
        ctr_reply_free(&rp);
    }
    ctr_send_rows(c, c->step->data, c->step->len, 1, 0);
    ctr_pending_push(c->cur, ".", 1);
    if (ctr_send_data(c, c->step->data, c->step->len) != CTR_OK)
        return CTR_FATAL;
    return ctr_pass(c, detail);
}

/* ctr_sleep - wait, within the script's limit */
static int
ctr_sleep(struct ctr *c)
{
    long long until = clock_mono_ms() + c->step->timeout_ms, left;
    struct timespec ts;

    ctr_row(c, 1, c->step->text, NULL, NULL);
    if (until > c->deadline) {
        until = c->deadline;
    }
    while ((left = until - clock_mono_ms()) > 0) {
        ts.tv_sec = left / 1000;
        ts.tv_nsec = (left % 1000) * 1000000;
        (void) nanosleep(&ts, NULL);
    }
    if (clock_mono_ms() >= c->deadline) {
        struct dstr *t = dstr_new(64, 1024);
        int     r;

        ctr_timeout_text(c, t);
        r = ctr_fail(c, CTR_FATAL, "time limit", "sleep: %s", t->data);
        dstr_free(t);
        return r;
    }
    return ctr_pass(c, "ok");
}

/* ctr_close - close the current session */
static int
ctr_close(struct ctr *c)
{
    if (ctr_need_session(c) != CTR_OK)
        return CTR_FATAL;
    ctr_row(c, 1, c->step->text, NULL, NULL);
    ctr_sess_close(c, c->cur);
    return ctr_pass(c, "ok");
}

/* ctr_result_new - an empty result for n steps */
static struct cli_test_result *
ctr_result_new(size_t n)
{
    struct cli_test_result *r = xcalloc(1, sizeof(*r));

    r->nsteps = n;
    r->outcomes = xcalloc(n ? n : 1, sizeof(*r->outcomes));
    r->message = dstr_new(128, 8192);
    r->status = CLI_TEST_PASS;
    return r;
}

/* cli_test_result_error - a result for a script that did not parse */
struct cli_test_result *
cli_test_result_error(const char *message)
{
    struct cli_test_result *r = ctr_result_new(0);
    size_t  len = strlen(message);

    while (len > 0 && message[len - 1] == '\n')
        len--;
    (void) dstr_append(r->message, message, len);
    r->status = CLI_TEST_FAIL;
    r->nfailed = 1;
    return r;
}

/* cli_test_run - execute the script's steps in order */
struct cli_test_result *
cli_test_run(const struct cli_test_script *script,
             const struct cli_test_target *target,
             const struct cli_test_run_opts *opts)
{
    struct ctr c;
    int     r = CTR_OK;

    memset(&c, 0, sizeof(c));
    c.script = script;
    c.target = target;
    c.opts = opts;
    c.res = ctr_result_new(script->nsteps);
    c.why = dstr_new(128, 4096);
    c.start = clock_mono_ms();
    c.deadline = c.start + script->time_limit_ms;
    for (c.stepno = 0; c.stepno < script->nsteps; c.stepno++) {
        c.step = &script->steps[c.stepno];
        c.res->nrun++;
        switch (c.step->op) {
        case CLI_TEST_OP_CONNECT:
            r = ctr_connect(&c);
            break;
        case CLI_TEST_OP_USE:
            r = ctr_use(&c);
            break;
        case CLI_TEST_OP_CLOSE:
            r = ctr_close(&c);
            break;
        case CLI_TEST_OP_SEND:
            r = ctr_send(&c);
            break;
        case CLI_TEST_OP_EXPECT:
            r = ctr_expect(&c);
            break;
        case CLI_TEST_OP_EXPECT_CLOSE:
            r = ctr_expect_close(&c);
            break;
        case CLI_TEST_OP_XCLIENT:
            r = ctr_xclient(&c);
            break;
        case CLI_TEST_OP_STARTTLS:
            r = ctr_starttls(&c);
            break;
        case CLI_TEST_OP_DATA:
        case CLI_TEST_OP_BODY:
            r = ctr_data(&c);
            break;
        case CLI_TEST_OP_SLEEP:
            r = ctr_sleep(&c);
            break;
        }
        if (r == CTR_FATAL || (r == CTR_WRONG && !opts->keep_going))
            break;
    }
    while (c.nsess > 0)
        ctr_sess_close(&c, c.sess[0]);
    if (c.ctx != NULL)
        SSL_CTX_free(c.ctx);
    dstr_free(c.why);
    c.res->status = c.res->nfailed ? CLI_TEST_FAIL : CLI_TEST_PASS;
    c.res->elapsed_ms = (unsigned) (clock_mono_ms() - c.start);
    return c.res;
}

/* cli_test_result_free - free a result */
struct cli_test_result *
cli_test_result_free(struct cli_test_result *r)
{
    size_t  i;

    if (r == NULL)
        return NULL;
    for (i = 0; i < r->nrows; i++) {
        free(r->rows[i].left);
        free(r->rows[i].right);
    }
    free(r->rows);
    free(r->outcomes);
    dstr_free(r->message);
    free(r);
    return NULL;
}
