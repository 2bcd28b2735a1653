/* fuzz_milter_reply - libFuzzer target: the milter reply decoder on any bytes. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "smtpd/smtpd_milter_proto.h"
#include "fuzz.h"

#define FUZZ_PACKETS_MAX 1000           /* bounds the loop on any input */

/* fuzz_str_inside - s is a NUL-terminated string within [lo, hi) */
static void
fuzz_str_inside(const char *s, const uint8_t *lo, const uint8_t *hi)
{
    if (s == NULL)
        return;
    fuzz_check((const uint8_t *) s >= lo && (const uint8_t *) s < hi);
    fuzz_check(memchr(s, '\0', (size_t) (hi - (const uint8_t *) s)) != NULL);
}

/*
 * LLVMFuzzerTestOneInput - decode packets one after another, as the
 * client does: each result is 0 (needs more: then every shorter input
 * also needs more), 1 (a packet that lies within the input, with every
 * string inside it) or -1 (garbage, explained). A REPLYCODE that
 * decodes is a valid SMTP reply.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dstr *why = dstr_new(64, 1024);
    struct smtpd_milter_proto_reply r;
    size_t  off = 0, used, n, i;
    int     rc = 1;

    for (n = 0; n < FUZZ_PACKETS_MAX && off < size && rc == 1; n++) {
        dstr_reset(why);
        rc = smtpd_milter_proto_decode(data + off, size - off, &used, &r,
                                       why);
        if (rc == 1) {
            const uint8_t *lo = data + off, *hi = data + off + used;

            fuzz_check(used >= 5 && used <= size - off);
            fuzz_str_inside(r.name, lo, hi);
            fuzz_str_inside(r.value, lo, hi);
            fuzz_str_inside(r.args, lo, hi);
            for (i = 0; i < SMTPD_MILTER_PROTO_STAGES; i++)
                fuzz_str_inside(r.symlist[i], lo, hi);
            if (r.data != NULL)
                fuzz_check(r.data >= lo && r.data + r.data_len <= hi);
            if (r.code == SMTPD_MILTER_R_REPLYCODE)
                fuzz_check(smtpd_milter_proto_reply_valid(r.value));
            off += used;
        } else if (rc == -1) {
            fuzz_check(why->len > 0);
        } else {
            fuzz_check(rc == 0 && used == 0);
        }
    }
    dstr_free(why);
    return 0;
}
