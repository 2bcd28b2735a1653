/* fuzz_xclient - libFuzzer target: the XCLIENT/XFORWARD attribute parser. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_xclient.h"
#include "fuzz.h"

/* fuzz_values - what the parser accepted is safe to log and put in headers */
static void
fuzz_values(const struct smtpd_xclient_attrs *a)
{
    size_t  i, n;

    for (i = 0; i < SMTPD_XCLIENT_A_COUNT; i++) {
        n = strnlen(a->value[i], sizeof(a->value[i]));
        fuzz_check(n <= SMTPD_XCLIENT_VALUE_MAX);
        if (!(a->seen & SMTPD_XCLIENT_BIT(i)))
            continue;
        for (size_t k = 0; k < n; k++)
            fuzz_check((unsigned char) a->value[i][k] >= 32
                       && (unsigned char) a->value[i][k] < 127);
    }
    fuzz_check((a->unavailable & ~a->seen) == 0);
    fuzz_check((a->tempunavail & ~a->unavailable) == 0);
    fuzz_check(a->port <= 65535 && a->destport <= 65535);
}

/*
 * LLVMFuzzerTestOneInput - the input as the argument of XCLIENT and of
 * XFORWARD: accepted values are bounded and printable, a refusal is a
 * 501 5.5.4 reply, and no bit is set for an attribute the command does
 * not take.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum smtpd_xclient_cmd cmds[] = {
        SMTPD_XCLIENT_XCLIENT, SMTPD_XCLIENT_XFORWARD,
    };
    unsigned xforward_only = SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_IDENT)
        | SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_SOURCE);
    unsigned xclient_only = SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_LOGIN)
        | SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_REVERSE_NAME)
        | SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_DESTADDR)
        | SMTPD_XCLIENT_BIT(SMTPD_XCLIENT_A_DESTPORT);
    struct smtpd_xclient_attrs *a = malloc(sizeof(*a));
    struct dstr *reply = dstr_new(64, 1024);
    size_t  i;

    fuzz_check(a != NULL);
    for (i = 0; i < 2; i++) {
        dstr_reset(reply);
        if (smtpd_xclient_parse(cmds[i], (const char *) data, size, a,
                                reply) == 0) {
            fuzz_check(a->seen != 0);
            fuzz_check((a->seen & (i == 0 ? xforward_only : xclient_only))
                       == 0);
            fuzz_values(a);
        } else {
            fuzz_check(reply->len > 10
                       && memcmp(reply->data, "501 5.5.4 ", 10) == 0);
            fuzz_check(strpbrk(reply->data, "\r\n") == NULL);
        }
    }
    dstr_free(reply);
    free(a);
    return 0;
}
