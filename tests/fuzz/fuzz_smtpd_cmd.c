/*
 * fuzz_smtpd_cmd - libFuzzer target: an SMTP command line as the server
 * takes it apart: smtpd_cmd_split(), then for MAIL FROM: and RCPT TO:
 * mailaddr_parse() under every combination of the MAILADDR_OPT_* bits.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mailaddr.h"
#include "util/xalloc.h"
#include "smtpd/smtpd_cmd.h"
#include "fuzz.h"

/* a line past the longest limit (4096 + the RCPT allowance) is refused
 * before it is split */
#define FUZZ_MAX_LINE (4096 + SMTPD_CMD_RCPT_ALLOWANCE)
#define FUZZ_OPT_BITS 7                 /* MAILADDR_OPT_LAX .. UTF8_TXN */
#define FUZZ_MASKS (1u << FUZZ_OPT_BITS)

struct fuzz_result {
    enum mailaddr_err err;
    struct mailaddr_path path;
    struct mailaddr_params params;
};

/* fuzz_blank - the separators of smtpd_cmd_split() */
static int
fuzz_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * fuzz_check_split - the verb is the first run of non-blanks, the
 * argument starts after the blanks that follow it and has no blank at
 * either end; everything in between and after is blank.
 */
static void
fuzz_check_split(const char *line, size_t len, size_t verb,
                 const char *arg, size_t arg_len)
{
    size_t  i, a;

    fuzz_check(verb <= len);
    for (i = 0; i < verb; i++)
        fuzz_check(!fuzz_blank(line[i]));
    fuzz_check(verb == len || fuzz_blank(line[verb]));
    fuzz_check(arg >= line + verb && arg <= line + len);
    a = (size_t) (arg - line);
    fuzz_check(arg_len <= len - a);
    for (i = verb; i < a; i++)
        fuzz_check(fuzz_blank(line[i]));
    for (i = a + arg_len; i < len; i++)
        fuzz_check(fuzz_blank(line[i]));
    if (arg_len > 0)
        fuzz_check(!fuzz_blank(arg[0]) && !fuzz_blank(arg[arg_len - 1]));
    else
        fuzz_check(a == len);
}

/* fuzz_check_reply - a complete 4xx/5xx reply with an enhanced code */
static void
fuzz_check_reply(enum mailaddr_err err, enum mailaddr_cmd cmd)
{
    const char *r = mailaddr_reply(err, cmd);

    fuzz_check(r != NULL && strlen(r) > 10);
    fuzz_check((r[0] == '4' || r[0] == '5') && r[3] == ' ' && r[4] == r[0]
               && r[5] == '.');
    fuzz_check(strchr(r, '\r') == NULL && strchr(r, '\n') == NULL);
    fuzz_check(mailaddr_strerror(err) != NULL);
}

/*
 * fuzz_check_monotonic - offering more (an extension, the lax mode, a
 * transaction with SMTPUTF8) never refuses what fewer options
 * accepted, and never changes the address found.
 */
static void
fuzz_check_monotonic(const struct fuzz_result *res)
{
    unsigned m, b;

    for (m = 0; m < FUZZ_MASKS; m++) {
        if (res[m].err != MAILADDR_OK)
            continue;
        for (b = 0; b < FUZZ_OPT_BITS; b++) {
            const struct fuzz_result *more = &res[m | (1u << b)];

            fuzz_check(more->err == MAILADDR_OK);
            fuzz_check(strcmp(more->path.addr, res[m].path.addr) == 0);
            fuzz_check(more->params.seen == res[m].params.seen);
            fuzz_check(more->params.size == res[m].params.size);
        }
    }
}

/*
 * fuzz_parse_all - the path argument (after "FROM:" or "TO:") under
 * every option mask, each from a copy of its exact size.
 */
static void
fuzz_parse_all(enum mailaddr_cmd cmd, const char *arg, size_t len)
{
    struct fuzz_result *res = xcalloc(FUZZ_MASKS, sizeof(*res));
    char   *copy = xmalloc(len ? len : 1);
    unsigned m;

    memcpy(copy, arg, len);
    for (m = 0; m < FUZZ_MASKS; m++) {
        res[m].err = mailaddr_parse(cmd, copy, len, m, &res[m].path,
                                    &res[m].params);
        fuzz_check((unsigned) res[m].err < MAILADDR_ERR_COUNT);
        if (res[m].err != MAILADDR_OK)
            fuzz_check_reply(res[m].err, cmd);
        if (res[m].err == MAILADDR_OK) {
            fuzz_check(strlen(res[m].path.addr) < MAILADDR_ADDR_SIZE);
            fuzz_check(res[m].params.bad_keyword[0] == '\0');
            fuzz_check(!(res[m].path.flags & MAILADDR_F_BARE)
                       || (m & MAILADDR_OPT_LAX));
            fuzz_check(!(res[m].params.seen & MAILADDR_P_SIZE)
                       || (m & MAILADDR_OPT_SIZE));
            fuzz_check(!(res[m].params.seen
                         & (MAILADDR_P_RET | MAILADDR_P_ENVID
                            | MAILADDR_P_NOTIFY | MAILADDR_P_ORCPT))
                       || (m & MAILADDR_OPT_DSN));
            fuzz_check(res[m].params.body != MAILADDR_BODY_BINARYMIME
                       || (m & MAILADDR_OPT_BINARYMIME));
        }
    }
    fuzz_check_monotonic(res);
    free(copy);
    free(res);
}

/*
 * LLVMFuzzerTestOneInput - the input is one command line without its
 * CRLF, copied to a buffer of its exact size so overreads are caught.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *arg;
    size_t  verb, arg_len;
    char   *line;

    if (size > FUZZ_MAX_LINE)
        return 0;
    line = xmalloc(size ? size : 1);
    memcpy(line, data, size);
    verb = smtpd_cmd_split(line, size, &arg, &arg_len);
    fuzz_check_split(line, size, verb, arg, arg_len);
    if (verb == 4 && strncasecmp(line, "MAIL", 4) == 0 && arg_len >= 5
        && strncasecmp(arg, "FROM:", 5) == 0)
        fuzz_parse_all(MAILADDR_MAIL, arg + 5, arg_len - 5);
    else if (verb == 4 && strncasecmp(line, "RCPT", 4) == 0 && arg_len >= 3
             && strncasecmp(arg, "TO:", 3) == 0)
        fuzz_parse_all(MAILADDR_RCPT, arg + 3, arg_len - 3);
    free(line);
    return 0;
}
