/*
 * fuzz_master_proto - libFuzzer target for the control protocol between
 * doppel and doppel-master: the message decoder on arbitrary bytes, and
 * the status body decoder on whatever body a message carried.
 */

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"
#include "util/log.h"
#include "global/master_proto.h"
#include "fuzz.h"

/* LLVMFuzzerTestOneInput - decode one message; a status body too */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dstr *why = dstr_new(64, 4096);
    struct master_proto_msg msg;
    struct master_proto_status st;

    log_open("fuzz", LOG_SINK_NONE);
    if (master_proto_decode(data, size, &msg, why) == MASTER_PROTO_OK) {
        if (msg.consumed > size || msg.length > size)
            __builtin_trap();           /* a decoder that overreads */
        if (master_proto_status_decode(msg.body, msg.length, &st, why) == 0)
            master_proto_status_free(&st);
    }
    /* the body decoder on its own, as the CLI meets a reply */
    if (master_proto_status_decode(data, size, &st, why) == 0)
        master_proto_status_free(&st);
    dstr_free(why);
    return 0;
}
