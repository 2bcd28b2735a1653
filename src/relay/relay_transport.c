/* relay_transport - parse transports and choose one per recipient. */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "tables/table.h"
#include "relay/relay_transport.h"

#define RT_KEY_MAX 1024                 /* longest lookup key */

/* rt_bad - the common complaint */
static int
rt_bad(struct dstr *why, const char *spec, const char *use)
{
    (void) dstr_appendf(why, "\"%s\" is not a transport (use %s)", spec, use);
    return -1;
}

/* rt_port_ok - a decimal port 1..65535 */
static int
rt_port_ok(const char *port)
{
    long    n = 0;
    const char *p;

    if (*port == '\0' || strlen(port) > 5)
        return 0;
    for (p = port; *p; p++) {
        if (!isdigit((unsigned char) *p))
            return 0;
        n = n * 10 + (*p - '0');
    }
    return n >= 1 && n <= 65535;
}

/* rt_hostport - "[HOST]:PORT", "[HOST]", "HOST:PORT" or "HOST" */
static int
rt_hostport(const char *text, const char *dflt_port, struct relay_transport *t)
{
    const char *end, *colon;
    size_t  hlen;

    if (*text == '[') {
        if ((end = strchr(text, ']')) == NULL)
            return -1;
        hlen = (size_t) (end - text - 1);
        text++;
        colon = end[1] == ':' ? end + 1 : (end[1] == '\0' ? NULL : end);
        if (colon == end)
            return -1;
    } else {
        colon = strrchr(text, ':');
        if (colon != NULL && strchr(text, ':') != colon)
            return -1;                 /* bare IPv6 needs brackets */
        hlen = colon ? (size_t) (colon - text) : strlen(text);
    }
    if (hlen == 0 || hlen >= sizeof(t->host))
        return -1;
    memcpy(t->host, text, hlen);
    t->host[hlen] = '\0';
    if (str_copy(t->port, sizeof(t->port), colon ? colon + 1 : dflt_port) < 0
        || !rt_port_ok(t->port))
        return -1;
    return 0;
}

/* relay_transport_parse - check a specification and fill t */
int
relay_transport_parse(const char *spec, struct relay_transport *t,
                      struct dstr *why)
{
    memset(t, 0, sizeof(*t));
    if (str_copy(t->key, sizeof(t->key), spec) < 0)
        return rt_bad(why, "(too long)", "a shorter specification");
    if (strncmp(spec, "smtp:", 5) == 0) {
        t->kind = RELAY_TRANSPORT_SMTP;
        if (rt_hostport(spec + 5, "25", t) < 0)
            return rt_bad(why, spec, "smtp:[HOST]:PORT");
        return 0;
    }
    if (strncmp(spec, "lmtp:inet:", 10) == 0) {
        t->kind = RELAY_TRANSPORT_LMTP_INET;
        if (rt_hostport(spec + 10, "24", t) < 0)
            return rt_bad(why, spec, "lmtp:inet:HOST:PORT");
        return 0;
    }
    if (strncmp(spec, "lmtp:unix:", 10) == 0) {
        t->kind = RELAY_TRANSPORT_LMTP_UNIX;
        if (spec[10] == '\0' || strlen(spec + 10) >= 108
            || str_copy(t->path, sizeof(t->path), spec + 10) < 0)
            return rt_bad(why, spec, "lmtp:unix:/PATH, at most 107 bytes");
        return 0;
    }
    if (strncmp(spec, "maildir:", 8) == 0) {
        t->kind = RELAY_TRANSPORT_MAILDIR;
        if (spec[8] == '\0'
            || str_copy(t->path, sizeof(t->path), spec + 8) < 0)
            return rt_bad(why, spec, "maildir:/DIRECTORY");
        return 0;
    }
    if (strcmp(spec, "discard") == 0 || strncmp(spec, "discard:", 8) == 0) {
        t->kind = RELAY_TRANSPORT_DISCARD;
        (void) str_copy(t->path, sizeof(t->path), spec[7] ? spec + 8 : "");
        return 0;
    }
    return rt_bad(why, spec, "smtp:[HOST]:PORT, lmtp:inet:HOST:PORT,"
                  " lmtp:unix:PATH, maildir:DIR or discard");
}

/* rt_lookup - one key in the maps: 1 found, 0 not, -1 error */
static int
rt_lookup(struct table_list *maps, const char *key, struct dstr *spec)
{
    switch (table_list_lookup(maps, key, spec, NULL)) {
    case TABLE_FOUND:
        return 1;
    case TABLE_NOTFOUND:
        return 0;
    case TABLE_ERROR:
    default:
        return -1;
    }
}

/* relay_transport_select - the transport for one recipient */
enum relay_transport_found
relay_transport_select(struct table_list *maps, const char *dflt,
                       const char *rcpt, struct dstr *spec)
{
    char    key[RT_KEY_MAX];
    char   *p, *domain;
    int     rc;

    if (maps != NULL && table_list_count(maps) > 0
        && str_copy(key, sizeof(key), rcpt) == 0) {
        for (p = key; *p; p++)
            *p = (char) tolower((unsigned char) *p);
        if ((rc = rt_lookup(maps, key, spec)) != 0)
            return rc > 0 ? RELAY_TRANSPORT_FOUND : RELAY_TRANSPORT_ERROR;
        if ((domain = strrchr(key, '@')) != NULL && domain[1] != '\0') {
            domain++;
            if ((rc = rt_lookup(maps, domain, spec)) != 0)
                return rc > 0 ? RELAY_TRANSPORT_FOUND : RELAY_TRANSPORT_ERROR;
            /* parents: ".example.com" for "mx.example.com" */
            for (p = strchr(domain, '.'); p != NULL; p = strchr(p + 1, '.'))
                if ((rc = rt_lookup(maps, p, spec)) != 0)
                    return rc > 0 ? RELAY_TRANSPORT_FOUND
                        : RELAY_TRANSPORT_ERROR;
        }
    }
    dstr_truncate(spec, 0);
    if (dstr_append_str(spec, dflt) < 0)
        return RELAY_TRANSPORT_ERROR;
    return RELAY_TRANSPORT_FOUND;
}

/* relay_transport_kind_name - "smtp", "lmtp", "maildir", "discard" */
const char *
relay_transport_kind_name(enum relay_transport_kind kind)
{
    switch (kind) {
    case RELAY_TRANSPORT_SMTP:
        return "smtp";
    case RELAY_TRANSPORT_LMTP_INET:
    case RELAY_TRANSPORT_LMTP_UNIX:
        return "lmtp";
    case RELAY_TRANSPORT_MAILDIR:
        return "maildir";
    case RELAY_TRANSPORT_DISCARD:
    default:
        return "discard";
    }
}

/* relay_rcpt_set - record one recipient's outcome */
void
relay_rcpt_set(struct relay_rcpt *r, enum relay_rcpt_status status,
               const char *dsn, const char *relay, int remote,
               const char *fmt, ...)
{
    va_list ap;
    char   *p;

    r->status = status;
    (void) str_copy(r->dsn, sizeof(r->dsn), dsn);
    if (relay != NULL)
        (void) str_copy(r->relay, sizeof(r->relay), relay);
    r->remote = remote;
    va_start(ap, fmt);
    (void) vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
    /* replies come from the network: keep the log line one line */
    for (p = r->text; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            *p = ' ';
}
