/*
 * NAME
 *     access - the meaning of an access(5) table result
 * SYNOPSIS
 *     #include "tables/access.h"
 * DESCRIPTION
 *     access_parse() reads the value a table found for a client, HELO
 *     name, sender or recipient, as Postfix's access(5) defines it.
 *     The first word decides, in any case:
 *
 *         OK, RELAY, or all digits     ACCESS_OK (any text ignored)
 *         DUNNO                        ACCESS_DUNNO (text ignored)
 *         REJECT [text]                ACCESS_REJECT, 554 5.7.1
 *         DEFER [text]                 ACCESS_DEFER, 450 4.7.1
 *         DEFER_IF_PERMIT [text]       450 4.7.1 "Service unavailable"
 *         DEFER_IF_REJECT [text]       450 4.7.1 "Service unavailable"
 *         4NN text, 5NN text           ACCESS_DEFER / ACCESS_REJECT
 *         HOLD, DISCARD, INFO, WARN [text]
 *         FILTER transport:destination
 *         REDIRECT user@domain, BCC user@domain
 *         PREPEND Header-Name: value
 *         anything else                ACCESS_RESTRICTIONS: the value is
 *                                      a list of restriction (class) names
 *
 *     REJECT and DEFER without text say "Access denied". The text of
 *     a reply may start with an RFC 3463 enhanced status code, which
 *     replaces the default one and must be of the reply's class (4.X.X
 *     with 4NN and DEFER, 5.X.X with 5NN and REJECT). A 421 or 521
 *     reply sets disconnect: the server hangs up after it.
 *
 *     code_default is set when code is the built-in 554 or 450, so a
 *     caller with its own access_map_reject_code or
 *     access_map_defer_code substitutes it there.
 *
 *     As in Postfix, a value of digits only is OK (pop-before-smtp
 *     writes time stamps), so "450" without text accepts.
 * RULES
 *     r->text points into value (or at a constant default text): keep
 *     value unchanged while r is used. Whether a restriction class
 *     exists is for the caller to decide; access_parse() only refuses
 *     a value that names a table ("type:name"), as Postfix does.
 * DIAGNOSTICS
 *     access_parse() returns 0, or -1 with the reason in *why (an
 *     empty value, a code outside 4NN/5NN, a status of the wrong
 *     class, FILTER/REDIRECT/BCC/PREPEND without their argument). After
 *     -1, r holds ACCESS_DEFER "451 4.3.5 Server configuration error",
 *     the answer Postfix gives for a broken table.
 * SEE ALSO
 *     tables/table.h, Postfix access(5), RFC 3463, RFC 5321
 */
#ifndef DOPPEL_TABLES_ACCESS_H
#define DOPPEL_TABLES_ACCESS_H

#include "util/dstr.h"

#define ACCESS_REJECT_CODE 554          /* Postfix access_map_reject_code */
#define ACCESS_DEFER_CODE 450           /* Postfix access_map_defer_code */
#define ACCESS_DSN_MAX 12               /* "5.123.123" and the NUL */

enum access_action {
    ACCESS_OK,
    ACCESS_DUNNO,
    ACCESS_REJECT,                     /* REJECT or 5NN */
    ACCESS_DEFER,                      /* DEFER or 4NN */
    ACCESS_DEFER_IF_PERMIT,
    ACCESS_DEFER_IF_REJECT,
    ACCESS_HOLD,
    ACCESS_DISCARD,
    ACCESS_FILTER,
    ACCESS_REDIRECT,
    ACCESS_BCC,
    ACCESS_PREPEND,
    ACCESS_INFO,
    ACCESS_WARN,
    ACCESS_RESTRICTIONS,               /* restriction class names */
};

struct access_result {
    enum access_action action;
    int     code;                      /* SMTP reply code, or 0 */
    int     code_default;              /* code is the built-in default */
    int     disconnect;                /* 421 or 521: hang up after it */
    char    dsn[ACCESS_DSN_MAX];       /* enhanced status, or "" */
    const char *text;                  /* reply text or argument, or "" */
};

int     access_parse(const char *value, struct access_result *r,
                     struct dstr *why);
const char *access_action_name(enum access_action action);
int     access_dsn_valid(const char *text, size_t *len);

#endif
