/* access - parse access(5) results: action, reply code, status, text. */

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/dstr.h"
#include "util/str.h"
#include "tables/access.h"

#define ACCESS_DENIED "Access denied"
#define ACCESS_UNAVAILABLE "Service unavailable"

/* the words, their actions and what their text must be */
enum access_arg {
    ACCESS_ARG_NONE,                   /* text ignored */
    ACCESS_ARG_TEXT,                   /* optional free text */
    ACCESS_ARG_REPLY,                  /* optional [status] text */
    ACCESS_ARG_TRANSPORT,              /* transport:destination */
    ACCESS_ARG_ADDRESS,                /* user@domain */
    ACCESS_ARG_HEADER,                 /* Name: value */
};

static const struct {
    const char *word;
    enum access_action action;
    enum access_arg arg;
    int     code;
    const char *dsn;
    const char *text;                  /* default text */
} access_words[] = {
    {"OK", ACCESS_OK, ACCESS_ARG_NONE, 0, "", ""},
    {"RELAY", ACCESS_OK, ACCESS_ARG_NONE, 0, "", ""},
    {"DUNNO", ACCESS_DUNNO, ACCESS_ARG_NONE, 0, "", ""},
    {"REJECT", ACCESS_REJECT, ACCESS_ARG_REPLY, ACCESS_REJECT_CODE, "5.7.1",
     ACCESS_DENIED},
    {"DEFER", ACCESS_DEFER, ACCESS_ARG_REPLY, ACCESS_DEFER_CODE, "4.7.1",
     ACCESS_DENIED},
    {"DEFER_IF_PERMIT", ACCESS_DEFER_IF_PERMIT, ACCESS_ARG_REPLY,
     ACCESS_DEFER_CODE, "4.7.1", ACCESS_UNAVAILABLE},
    {"DEFER_IF_REJECT", ACCESS_DEFER_IF_REJECT, ACCESS_ARG_REPLY,
     ACCESS_DEFER_CODE, "4.7.1", ACCESS_UNAVAILABLE},
    {"HOLD", ACCESS_HOLD, ACCESS_ARG_TEXT, 0, "", ""},
    {"DISCARD", ACCESS_DISCARD, ACCESS_ARG_TEXT, 0, "", ""},
    {"INFO", ACCESS_INFO, ACCESS_ARG_TEXT, 0, "", ""},
    {"WARN", ACCESS_WARN, ACCESS_ARG_TEXT, 0, "", ""},
    {"FILTER", ACCESS_FILTER, ACCESS_ARG_TRANSPORT, 0, "", ""},
    {"REDIRECT", ACCESS_REDIRECT, ACCESS_ARG_ADDRESS, 0, "", ""},
    {"BCC", ACCESS_BCC, ACCESS_ARG_ADDRESS, 0, "", ""},
    {"PREPEND", ACCESS_PREPEND, ACCESS_ARG_HEADER, 0, "", ""},
};

#define ACCESS_NWORDS (sizeof(access_words) / sizeof(access_words[0]))

/* access_action_name - the action's word, for logs */
const char *
access_action_name(enum access_action action)
{
    size_t  i;

    if (action == ACCESS_RESTRICTIONS)
        return "restrictions";
    for (i = 0; i < ACCESS_NWORDS; i++)
        if (access_words[i].action == action)
            return access_words[i].word;
    return "unknown";
}

/*
 * access_dsn_valid - does text start with an enhanced status code
 * (RFC 3463: class "." subject "." detail, 1 and 1-3 and 1-3 digits,
 * class 2, 4 or 5) followed by white space or the end? Its length
 * goes to *len.
 */
int
access_dsn_valid(const char *text, size_t *len)
{
    const char *p = text;
    int     part, n;

    if (*p != '2' && *p != '4' && *p != '5')
        return 0;
    p++;
    for (part = 0; part < 2; part++) {
        if (*p++ != '.')
            return 0;
        for (n = 0; n < 3 && isdigit((unsigned char) *p); n++)
            p++;
        if (n == 0 || isdigit((unsigned char) *p))
            return 0;
    }
    if (*p != '\0' && !isspace((unsigned char) *p))
        return 0;
    *len = (size_t) (p - text);
    return 1;
}

/* access_all_digits_n - the first n bytes of s are digits, n > 0 */
static int
access_all_digits_n(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char) s[i]))
            return 0;
    return n > 0;
}

/* access_is_header - "Name: value" with a printable name, no spaces */
static int
access_is_header(const char *s)
{
    const char *p;

    for (p = s; *p && *p != ':'; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return p > s && *p == ':';
}

/* access_fail - the safe answer for a broken result, and why */
static int
access_fail(struct access_result *r, struct dstr *why, const char *value,
            const char *reason)
{
    r->action = ACCESS_DEFER;
    r->code = 451;
    r->code_default = 0;
    r->disconnect = 0;
    (void) str_copy(r->dsn, sizeof(r->dsn), "4.3.5");
    r->text = "Server configuration error";
    (void) dstr_appendf(why, "access result \"%.100s\": %s", value, reason);
    return -1;
}

/*
 * access_reply - "[status] text" after a reply word or code. An explicit
 * status must be of the code's class; an absent one is dflt.
 */
static int
access_reply(struct access_result *r, const char *value, const char *rest,
             const char *dflt, const char *dflt_text, struct dstr *why)
{
    size_t  n;

    if (access_dsn_valid(rest, &n)) {
        if (rest[0] != '0' + r->code / 100)
            return access_fail(r, why, value, r->code / 100 == 4
                               ? "a 4NN or DEFER reply needs a 4.X.X status"
                               : "a 5NN or REJECT reply needs a 5.X.X status");
        memcpy(r->dsn, rest, n);
        r->dsn[n] = '\0';
        rest += n;
        while (isspace((unsigned char) *rest))
            rest++;
    } else {
        (void) str_copy(r->dsn, sizeof(r->dsn), dflt);
    }
    r->text = *rest ? rest : dflt_text;
    return 0;
}

/* access_parse - value to action, code, status and text */
int
access_parse(const char *value, struct access_result *r, struct dstr *why)
{
    const char *rest;
    size_t  len, i;

    memset(r, 0, sizeof(*r));
    r->text = "";
    while (isspace((unsigned char) *value))
        value++;
    if (*value == '\0')
        return access_fail(r, why, value, "empty result (use OK, REJECT,"
                           " DUNNO, ...)");
    len = strcspn(value, " \t\r\n");
    rest = value + len;
    while (isspace((unsigned char) *rest))
        rest++;

    for (i = 0; i < ACCESS_NWORDS; i++)
        if (strlen(access_words[i].word) == len
            && strncasecmp(access_words[i].word, value, len) == 0)
            break;
    if (i < ACCESS_NWORDS) {
        r->action = access_words[i].action;
        switch (access_words[i].arg) {
        case ACCESS_ARG_NONE:
            return 0;
        case ACCESS_ARG_TEXT:
            r->text = rest;
            return 0;
        case ACCESS_ARG_REPLY:
            r->code = access_words[i].code;
            r->code_default = 1;
            return access_reply(r, value, rest, access_words[i].dsn,
                                access_words[i].text, why);
        case ACCESS_ARG_TRANSPORT:
            if (strchr(rest, ':') == NULL)
                return access_fail(r, why, value, "FILTER needs"
                                   " transport:destination");
            break;
        case ACCESS_ARG_ADDRESS:
            if (strchr(rest, '@') == NULL)
                return access_fail(r, why, value, "REDIRECT and BCC need"
                                   " user@domain");
            break;
        case ACCESS_ARG_HEADER:
            if (!access_is_header(rest))
                return access_fail(r, why, value, "PREPEND needs a header,"
                                   " \"Name: value\"");
            break;
        }
        r->action = access_words[i].action;
        r->text = rest;
        return 0;
    }

    if (access_all_digits_n(value, len)) {
        if (*rest == '\0') {
            r->action = ACCESS_OK;     /* Postfix: a time stamp means OK */
            return 0;
        }
        if (len != 3 || (value[0] != '4' && value[0] != '5'))
            return access_fail(r, why, value, "a reply code is 4NN or 5NN"
                               " (three digits) followed by text");
        r->code = (value[0] - '0') * 100 + (value[1] - '0') * 10
            + (value[2] - '0');
        r->action = value[0] == '4' ? ACCESS_DEFER : ACCESS_REJECT;
        r->disconnect = r->code == 421 || r->code == 521;
        return access_reply(r, value, rest, value[0] == '4' ? "4.7.1"
                            : "5.7.1", ACCESS_DENIED, why);
    }
    if (memchr(value, ':', len) != NULL)
        return access_fail(r, why, value, "a lookup table cannot be an access"
                           " result (define a restriction class and name it)");
    r->action = ACCESS_RESTRICTIONS;
    r->text = value;
    return 0;
}
