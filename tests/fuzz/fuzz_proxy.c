/* fuzz_proxy - libFuzzer target: the PROXY protocol v1/v2 header parser. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "smtpd/smtpd_proxy.h"
#include "fuzz.h"

/* fuzz_parse - one parse with its own reason buffer */
static enum smtpd_proxy_result
fuzz_parse(const uint8_t *data, size_t size, struct smtpd_proxy_hdr *hdr,
           size_t *consumed, struct dstr *why)
{
    dstr_reset(why);
    return smtpd_proxy_parse(data, size, hdr, consumed, why);
}

/* fuzz_header - what an accepted header holds is sane */
static void
fuzz_header(const uint8_t *data, size_t size, const struct smtpd_proxy_hdr *h,
            size_t consumed)
{
    char    text[NETADDR_TEXT_MAX];

    fuzz_check(consumed >= 15 && consumed <= size);
    if (h->version == 1) {
        fuzz_check(consumed <= SMTPD_PROXY_V1_MAX);
        fuzz_check(memcmp(data, "PROXY ", 6) == 0);
        fuzz_check(data[consumed - 2] == '\r' && data[consumed - 1] == '\n');
    } else {
        fuzz_check(h->version == 2);
        fuzz_check(consumed >= SMTPD_PROXY_V2_FIXED
                   && consumed <= SMTPD_PROXY_MAX);
        fuzz_check(consumed == SMTPD_PROXY_V2_FIXED
                   + ((size_t) data[14] << 8 | data[15]));
    }
    if (h->local) {
        fuzz_check(h->src.family == 0 && h->dst.family == 0);
        return;
    }
    fuzz_check(h->src.family == AF_INET || h->src.family == AF_INET6);
    fuzz_check(h->dst.family == h->src.family);
    fuzz_check(h->src_port <= 65535 && h->dst_port <= 65535);
    fuzz_check(netaddr_format(&h->src, text, sizeof(text)) == 0);
    fuzz_check(netaddr_format(&h->dst, text, sizeof(text)) == 0);
}

/*
 * LLVMFuzzerTestOneInput - the input as the first bytes of a connection:
 * an accepted header is sane, is the same with any bytes after it cut
 * off, and is NEED_MORE one byte short; a refusal has a one-line reason;
 * NEED_MORE never happens with SMTPD_PROXY_MAX bytes in hand.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dstr *why = dstr_new(64, 1024);
    struct smtpd_proxy_hdr hdr, again;
    size_t  consumed, consumed2;
    enum smtpd_proxy_result r;

    r = fuzz_parse(data, size, &hdr, &consumed, why);
    switch (r) {
    case SMTPD_PROXY_OK:
        fuzz_check(why->len == 0);
        fuzz_header(data, size, &hdr, consumed);
        fuzz_check(fuzz_parse(data, consumed, &again, &consumed2, why)
                   == SMTPD_PROXY_OK);
        fuzz_check(consumed2 == consumed
                   && memcmp(&again, &hdr, sizeof(hdr)) == 0);
        fuzz_check(fuzz_parse(data, consumed - 1, &again, &consumed2, why)
                   == SMTPD_PROXY_NEED_MORE);
        break;
    case SMTPD_PROXY_BAD:
        fuzz_check(why->len > 0 && strpbrk(why->data, "\r\n") == NULL);
        fuzz_check(consumed == 0);
        break;
    case SMTPD_PROXY_NEED_MORE:
        fuzz_check(size < SMTPD_PROXY_MAX && consumed == 0);
        break;
    default:
        abort();
    }
    dstr_free(why);
    return 0;
}
