/* fuzz_mailaddr - libFuzzer target: MAIL FROM:/RCPT TO: arguments. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/mailaddr.h"
#include "util/xalloc.h"
#include "fuzz.h"

/* fuzz_no_control - no byte of s is a control character */
static int
fuzz_no_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 32 || *s == 127)
            return 0;
    return 1;
}

/*
 * fuzz_check_path - what the parser hands out is consistent: sizes in
 * limits, addr is local "@" domain, no control bytes, and quoting the
 * internal form gives text that parses back to the same address (as a
 * path too when it came from one: a bare address may exceed the path
 * limit).
 */
static void
fuzz_check_path(const struct mailaddr_path *path, int from_path)
{
    struct mailaddr_path again;
    struct mailaddr_params params;
    struct dstr *d;
    size_t  ll = strlen(path->local), dl = strlen(path->domain);

    fuzz_check(ll <= MAILADDR_LOCAL_MAX && dl <= MAILADDR_DOMAIN_MAX);
    fuzz_check(fuzz_no_control(path->addr));
    if (path->flags & MAILADDR_F_NULL) {
        fuzz_check(path->addr[0] == '\0' && ll == 0 && dl == 0);
        return;
    }
    if (path->flags & MAILADDR_F_POSTMASTER) {
        fuzz_check(dl == 0 && strcmp(path->addr, path->local) == 0);
        return;
    }
    fuzz_check(dl > 0);
    fuzz_check(strlen(path->addr) == ll + 1 + dl);
    fuzz_check(memcmp(path->addr, path->local, ll) == 0);
    fuzz_check(path->addr[ll] == '@');
    fuzz_check(strcmp(mailaddr_domain(path->addr), path->domain) == 0);
    fuzz_check(mailaddr_domain_eq(path->domain, path->domain));
    fuzz_check(!(path->flags & MAILADDR_F_LITERAL)
               == (path->domain[0] != '['));
    if (mailaddr_is_fqdn(path->domain))
        fuzz_check(strchr(path->domain, '.') != NULL);

    d = dstr_new(64, MAILADDR_PATH_MAX * 2);
    fuzz_check(dstr_append_char(d, '<') == 0);
    fuzz_check(mailaddr_quote(d, path->addr) == 0);
    fuzz_check(dstr_append_char(d, '>') == 0);
    if (from_path) {
        fuzz_check(mailaddr_parse(MAILADDR_RCPT, d->data, d->len,
                                  MAILADDR_OPT_DEFAULT | MAILADDR_OPT_UTF8_TXN,
                                  &again, &params) == MAILADDR_OK);
        fuzz_check(strcmp(again.addr, path->addr) == 0);
        fuzz_check(strcmp(again.local, path->local) == 0);
        fuzz_check(strcmp(again.domain, path->domain) == 0);
        fuzz_check((again.flags & MAILADDR_F_UTF8)
                   == (path->flags & MAILADDR_F_UTF8));
    }
    fuzz_check(mailaddr_parse_addr(d->data + 1, d->len - 2,
                                   MAILADDR_OPT_UTF8_TXN, &again)
               == MAILADDR_OK);
    fuzz_check(strcmp(again.addr, path->addr) == 0);
    dstr_free(d);
}

/* fuzz_check_params - values within their limits and printable */
static void
fuzz_check_params(const struct mailaddr_params *p)
{
    fuzz_check(p->bad_keyword[0] == '\0');
    fuzz_check(strlen(p->envid) <= MAILADDR_ENVID_MAX);
    fuzz_check(strlen(p->orcpt) <= MAILADDR_ORCPT_MAX);
    fuzz_check(fuzz_no_control(p->envid) && fuzz_no_control(p->orcpt));
    fuzz_check(p->size >= 0);
    fuzz_check(!(p->seen & MAILADDR_P_ORCPT)
               || p->orcpt[p->orcpt_type_len] == ';');
    fuzz_check(p->notify == 0 || p->notify == MAILADDR_NOTIFY_NEVER
               || !(p->notify & MAILADDR_NOTIFY_NEVER));
    fuzz_check(!(p->seen & MAILADDR_P_NOTIFY) == (p->notify == 0));
}

/*
 * LLVMFuzzerTestOneInput - first byte: bit 0 picks MAIL (0) or RCPT (1),
 * bits 1-7 are the MAILADDR_OPT_* bits. The rest is the argument, copied
 * to a buffer of exactly its size so that any overread is caught.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mailaddr_path path;
    struct mailaddr_params params;
    enum mailaddr_cmd cmd;
    enum mailaddr_err err;
    unsigned opts;
    char   *arg;
    const char *reply;

    if (size < 1)
        return 0;
    cmd = (data[0] & 1) ? MAILADDR_RCPT : MAILADDR_MAIL;
    opts = data[0] >> 1;
    size--;
    arg = xmalloc(size ? size : 1);
    memcpy(arg, data + 1, size);

    err = mailaddr_parse(cmd, arg, size, opts, &path, &params);
    fuzz_check((unsigned) err < MAILADDR_ERR_COUNT);
    reply = mailaddr_reply(err, cmd);
    fuzz_check(reply != NULL && strlen(reply) > 4);
    fuzz_check(strlen(params.bad_keyword) <= MAILADDR_KEYWORD_MAX);
    fuzz_check(fuzz_no_control(params.bad_keyword));
    if (err == MAILADDR_OK) {
        fuzz_check(cmd == MAILADDR_MAIL || !(path.flags & MAILADDR_F_NULL));
        fuzz_check(cmd == MAILADDR_RCPT
                   || !(path.flags & MAILADDR_F_POSTMASTER));
        fuzz_check(!(path.flags & MAILADDR_F_UTF8)
                   || (cmd == MAILADDR_MAIL
                       ? (params.seen & MAILADDR_P_SMTPUTF8) != 0
                       : (opts & MAILADDR_OPT_UTF8_TXN) != 0));
        fuzz_check_path(&path, 1);
        fuzz_check_params(&params);
    }

    err = mailaddr_parse_addr(arg, size, opts, &path);
    fuzz_check((unsigned) err < MAILADDR_ERR_COUNT);
    if (err == MAILADDR_OK) {
        fuzz_check(!(path.flags & (MAILADDR_F_NULL | MAILADDR_F_POSTMASTER
                                   | MAILADDR_F_ROUTE | MAILADDR_F_BARE)));
        fuzz_check_path(&path, 0);
    }
    free(arg);
    return 0;
}
