/* relay_dsn - RFC 3464 delivery status notifications; see relay_dsn.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/dstr.h"
#include "util/mailaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/xtext.h"
#include "global/queue_file.h"
#include "relay/relay_dsn.h"
#include "relay/relay_transport.h"

#define RD_BUF 65536

/* relay_dsn_wanted - does the sender want to hear of this failure? */
int
relay_dsn_wanted(const struct queue_file_env *env,
                 const struct queue_file_rcpt *rcpt)
{
    if (env->sender == NULL || *env->sender == '\0')
        return 0;
    if (rcpt->notify == 0)
        return 1;
    if (rcpt->notify & QUEUE_FILE_NOTIFY_NEVER)
        return 0;
    return (rcpt->notify & QUEUE_FILE_NOTIFY_FAILURE) != 0;
}

/* relay_dsn_success_wanted - did the sender ask to hear of success? */
int
relay_dsn_success_wanted(const struct queue_file_env *env,
                         const struct queue_file_rcpt *rcpt)
{
    if (env->sender == NULL || *env->sender == '\0')
        return 0;
    return (rcpt->notify & QUEUE_FILE_NOTIFY_SUCCESS) != 0
        && (rcpt->notify & QUEUE_FILE_NOTIFY_NEVER) == 0;
}

/* rd_action - a recipient's Action: field */
static const char *
rd_action(const struct relay_rcpt *r)
{
    return r->action != NULL ? r->action : "failed";
}

/* rd_date - an RFC 5322 date */
static void
rd_date(struct dstr *out, time_t t)
{
    struct tm tm;
    char    buf[64];

    (void) localtime_r(&t, &tm);
    if (strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
        buf[0] = '\0';
    (void) dstr_append_str(out, buf);
}

/* rd_decoded - xtext decoded, or as it is when it does not decode */
static void
rd_decoded(struct dstr *out, const char *text)
{
    struct dstr *d = dstr_new(64, QUEUE_FILE_FIELD_MAX);
    const unsigned char *p;

    if (xtext_decode(d, text, strlen(text)) < 0) {
        dstr_truncate(d, 0);
        (void) dstr_append_str(d, text);
    }
    /* a header value: no line breaks, no control bytes */
    for (p = (const unsigned char *) d->data; *p; p++)
        (void) dstr_append_char(out, *p < 0x20 || *p == 0x7f ? '?' : *p);
    dstr_free(d);
}

/* rd_boundary - the MIME boundary of a notice */
static void
rd_boundary(struct dstr *out, const struct queue_file_env *env,
            const char *host)
{
    (void) dstr_appendf(out, "%s.%s/doppel", env->id, host);
}

/* relay_dsn_format - the notice up to the returned content */
int
relay_dsn_format(struct dstr *out, const char *host,
                 const struct queue_file_env *env,
                 struct relay_rcpt *const *failed, size_t nfailed,
                 time_t now, int *full)
{
    const struct queue_file_rcpt *er;
    struct dstr *b = dstr_new(64, 1024);
    size_t  i;
    int     anyfail = 0;

    rd_boundary(b, env, host);
    for (i = 0; i < nfailed; i++)
        if (strcmp(rd_action(failed[i]), "failed") == 0)
            anyfail = 1;
    *full = anyfail && env->ret != QUEUE_FILE_RET_HDRS
        && env->size <= RELAY_DSN_FULL_MAX;
    (void) dstr_appendf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n"
                        "To: <", host);
    (void) mailaddr_quote(out, env->sender);
    (void) dstr_appendf(out, ">\r\nSubject: %s\r\nDate: ", anyfail
                        ? "Undelivered Mail Returned to Sender"
                        : "Successful Mail Delivery Report");
    rd_date(out, now);
    (void) dstr_appendf(out, "\r\nMessage-ID: <%s.dsn@%s>\r\n"
                        "Auto-Submitted: auto-replied\r\n"
                        "MIME-Version: 1.0\r\n"
                        "Content-Type: multipart/report;"
                        " report-type=delivery-status;\r\n"
                        "\tboundary=\"%s\"\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n"
                        "\r\n"
                        "This is a MIME-encapsulated message.\r\n"
                        "\r\n--%s\r\n"
                        "Content-Description: Notification\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "\r\n"
                        "This is the mail system at host %s.\r\n"
                        "\r\n%s\r\nThe details are below; the %s is"
                        " attached.\r\n\r\n", env->id, host, b->data, b->data,
                        host, anyfail ? "Your message could not be delivered"
                        " to one or more recipients."
                        : "Your message was delivered to the recipients below,"
                        " as you asked to be told.",
                        *full ? "message" : "message's header");
    for (i = 0; i < nfailed; i++) {
        (void) dstr_append_str(out, "<");
        (void) mailaddr_quote(out, failed[i]->address);
        (void) dstr_appendf(out, ">: %s%s%s\r\n",
                            failed[i]->remote ? "host " : "",
                            failed[i]->remote ? failed[i]->relay : "",
                            failed[i]->remote ? " said: " : "");
        (void) dstr_appendf(out, "    %s\r\n", failed[i]->text);
    }
    (void) dstr_appendf(out, "\r\n--%s\r\n"
                        "Content-Description: Delivery report\r\n"
                        "Content-Type: message/delivery-status\r\n"
                        "\r\n"
                        "Reporting-MTA: dns; %s\r\n"
                        "X-Doppel-Queue-ID: %s\r\n", b->data, host, env->id);
    if (env->envid != NULL) {
        (void) dstr_append_str(out, "Original-Envelope-Id: ");
        rd_decoded(out, env->envid);
        (void) dstr_append_str(out, "\r\n");
    }
    (void) dstr_append_str(out, "Arrival-Date: ");
    rd_date(out, (time_t) (env->arrival_us / 1000000));
    (void) dstr_append_str(out, "\r\n");
    for (i = 0; i < nfailed; i++) {
        er = &env->rcpt[failed[i]->index];
        (void) dstr_append_str(out, "\r\nFinal-Recipient: rfc822; ");
        (void) dstr_append_str(out, failed[i]->address);
        (void) dstr_append_str(out, "\r\n");
        if (er->orcpt != NULL) {
            (void) dstr_append_str(out, "Original-Recipient: ");
            rd_decoded(out, er->orcpt);
            (void) dstr_append_str(out, "\r\n");
        }
        (void) dstr_appendf(out, "Action: %s\r\nStatus: %s\r\n",
                            rd_action(failed[i]), failed[i]->dsn);
        if (failed[i]->remote) {
            (void) dstr_appendf(out, "Remote-MTA: dns; %s\r\n"
                                "Diagnostic-Code: smtp; %s\r\n",
                                failed[i]->relay, failed[i]->text);
        } else {
            (void) dstr_appendf(out, "Diagnostic-Code: X-Doppel; %s\r\n",
                                failed[i]->text);
        }
    }
    (void) dstr_appendf(out, "\r\n--%s\r\n"
                        "Content-Description: Undelivered Message%s\r\n"
                        "Content-Type: %s\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n"
                        "\r\n", b->data, *full ? "" : " Headers",
                        *full ? "message/rfc822" : "text/rfc822-headers");
    dstr_free(b);
    return 0;
}

/* relay_dsn_trailer - the closing boundary */
int
relay_dsn_trailer(struct dstr *out, const char *host,
                  const struct queue_file_env *env)
{
    struct dstr *b = dstr_new(64, 1024);
    int     rc;

    rd_boundary(b, env, host);
    rc = dstr_appendf(out, "\r\n--%s--\r\n", b->data);
    dstr_free(b);
    return rc;
}

/* rd_append_content - the returned message, whole or up to its header end */
static int
rd_append_content(struct dstr *out, struct queue_file_reader *r, int full,
                  struct dstr *why)
{
    char   *buf = xmalloc(RD_BUF);
    ssize_t n;
    size_t  start = out->len;
    const char *end;
    int     ret = 0;

    if (queue_file_read_rewind(r, why) < 0) {
        free(buf);
        return -1;
    }
    while ((n = queue_file_read_content(r, buf, RD_BUF, why)) > 0) {
        if (dstr_append(out, buf, (size_t) n) < 0) {
            (void) dstr_appendf(why, "bounce too large");
            ret = -1;
            break;
        }
        if (!full && (end = memmem(out->data + start, out->len - start,
                                   "\r\n\r\n", 4)) != NULL) {
            dstr_truncate(out, (size_t) (end - out->data) + 2);
            break;
        }
        if (!full && out->len - start > RD_BUF * 4) {
            dstr_truncate(out, start + RD_BUF * 4);
            break;
        }
    }
    free(buf);
    if (n < 0)
        ret = -1;
    /* the closing boundary must start a line */
    if (ret == 0 && out->len > start && out->data[out->len - 1] != '\n')
        ret = dstr_append_str(out, "\r\n");
    return ret;
}

/* relay_dsn_queue - write the notice as a new queued message */
int
relay_dsn_queue(const char *qdir, const char *host,
                struct queue_file_reader *r,
                struct relay_rcpt *const *failed, size_t nfailed,
                char *new_id, struct dstr *why)
{
    const struct queue_file_env *env = queue_file_read_env(r);
    struct dstr *msg = dstr_new(8192, RELAY_DSN_LIMIT);
    struct queue_file_rcpt rcpt;
    struct queue_file_env denv;
    struct queue_file *qf;
    int     full;

    (void) relay_dsn_format(msg, host, env, failed, nfailed, time(NULL),
                            &full);
    if (rd_append_content(msg, r, full, why) < 0) {
        dstr_free(msg);
        return -1;
    }
    if (relay_dsn_trailer(msg, host, env) < 0) {
        (void) dstr_appendf(why, "bounce too large");
        dstr_free(msg);
        return -1;
    }

    if ((qf = queue_file_create(qdir, NULL, NULL, 0, why)) == NULL) {
        dstr_free(msg);
        return -1;
    }
    if (queue_file_append(qf, msg->data, msg->len) < 0) {
        (void) dstr_appendf(why, "bounce: write: %s", strerror(errno));
        (void) queue_file_abort(qf);
        dstr_free(msg);
        return -1;
    }
    dstr_free(msg);
    (void) str_copy(new_id, QUEUE_ID_SIZE, queue_file_id(qf));
    memset(&denv, 0, sizeof(denv));
    memset(&rcpt, 0, sizeof(rcpt));
    rcpt.address = env->sender;
    denv.sender = "";
    denv.rcpt = &rcpt;
    denv.rcpt_count = 1;
    denv.body = QUEUE_FILE_BODY_8BITMIME;
    denv.protocol = "local";
    denv.client_class = "default";
    return queue_file_commit(qf, &denv, why);
}
