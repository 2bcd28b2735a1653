/* fuzz_policy_reply - libFuzzer target: the policy server reply parser. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_policy.h"
#include "fuzz.h"

/*
 * LLVMFuzzerTestOneInput - the input as what a policy server sent. A
 * reply is bounded, ends with a newline and yields a non-empty action
 * without control bytes; garbage has a reason. And the parser is
 * incremental: a prefix of a complete reply needs more input, the
 * reply alone parses the same, and a prefix of input that needs more
 * needs more too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *) data;
    struct dstr *action = dstr_new(16, SMTPD_POLICY_LINE_MAX);
    struct dstr *why = dstr_new(16, 1024);
    int     n, m;
    size_t  i, cut;

    n = smtpd_policy_parse_reply(buf, size, action, why);
    fuzz_check(n >= -1 && n <= SMTPD_POLICY_REPLY_MAX);
    fuzz_check(n < 0 || (size_t) n <= size);
    if (n > 0) {
        fuzz_check(buf[n - 1] == '\n');
        fuzz_check(action->len > 0 && action->len <= SMTPD_POLICY_LINE_MAX);
        fuzz_check(strlen(action->data) == action->len);
        for (i = 0; i < action->len; i++)
            fuzz_check((unsigned char) action->data[i] >= 0x20
                       && (unsigned char) action->data[i] != 0x7f);
        fuzz_check(smtpd_policy_parse_reply(buf, (size_t) n, action,
                                            why) == n);
        for (cut = 0; cut < 3 && cut < (size_t) n; cut++) {
            m = smtpd_policy_parse_reply(buf, (size_t) n - 1 - cut, action,
                                         why);
            fuzz_check(m == 0);
        }
        m = smtpd_policy_parse_reply(buf, (size_t) n / 2, action, why);
        fuzz_check(m == 0);
    } else if (n < 0) {
        fuzz_check(why->len > 0);
    } else {
        fuzz_check(size <= SMTPD_POLICY_REPLY_MAX);
        m = smtpd_policy_parse_reply(buf, size / 2, action, why);
        fuzz_check(m == 0);
    }
    action = dstr_free(action);
    why = dstr_free(why);
    return 0;
}
