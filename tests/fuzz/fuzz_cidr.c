/* fuzz_cidr - libFuzzer target: parse arbitrary text as networks. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "fuzz.h"

#define FUZZ_MAX_ITEMS 32               /* list items taken from one input */

/*
 * fuzz_one_network - whatever parses must format, re-parse to the same
 * network, and contain its own address; what fails must say why.
 */
static void
fuzz_one_network(const char *text)
{
    struct dstr *why = dstr_new(0, 1024);
    struct cidr net, net2;
    struct netaddr addr, addr2;
    char    buf[CIDR_TEXT_MAX];

    if (cidr_parse(&net, text, why) == 0) {
        fuzz_check(why->len == 0);
        fuzz_check(net.prefix >= 0
                   && (size_t) net.prefix <= netaddr_len(&net.addr) * 8);
        fuzz_check(cidr_format(&net, buf, sizeof(buf)) == 0);
        fuzz_check(cidr_parse(&net2, buf, NULL) == 0);
        fuzz_check(net2.prefix == net.prefix
                   && netaddr_equal(&net2.addr, &net.addr));
        fuzz_check(cidr_match(&net, &net.addr) == 1);
    } else {
        fuzz_check(why->len > 0 && why->data[0] == '"');
    }
    if (netaddr_parse(&addr, text) == 0) {
        fuzz_check(netaddr_format(&addr, buf, sizeof(buf)) == 0);
        fuzz_check(netaddr_parse(&addr2, buf) == 0);
        fuzz_check(netaddr_equal(&addr, &addr2));
        (void) netaddr_unmap(&addr2, &addr);
        fuzz_check(addr2.family == AF_INET || !netaddr_is_mapped(&addr));
    }
    dstr_free(why);
}

/*
 * LLVMFuzzerTestOneInput - the whole input as one network, then split
 * at white space into a list whose every item is checked alone too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char   *text = xmalloc(size + 1);
    char   *items[FUZZ_MAX_ITEMS];
    size_t  count = 0, i;
    struct cidr_list *list;
    struct netaddr probe;
    char   *p, *end;

    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_one_network(text);

    end = text + strlen(text);
    for (p = text; p < end && count < FUZZ_MAX_ITEMS;) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == ','))
            *p++ = '\0';
        if (p == end)
            break;
        items[count++] = p;
        while (p < end && *p != ' ' && *p != '\n' && *p != ',')
            p++;
        if (p < end)
            *p++ = '\0';
    }
    for (i = 0; i < count; i++)
        fuzz_one_network(items[i][0] == '!' ? items[i] + 1 : items[i]);
    if (cidr_list_parse(&list, items, count, NULL) == 0) {
        fuzz_check(cidr_list_count(list) == count);
        for (i = 0; i < count; i++) {
            struct cidr net;

            fuzz_check(cidr_parse(&net, items[i] + (items[i][0] == '!'),
                                  NULL) == 0);
            /* the first item's own network address: its sign decides */
            if (i == 0)
                fuzz_check(cidr_list_match(list, &net.addr)
                           == (items[0][0] != '!'));
        }
        (void) netaddr_parse(&probe, "::ffff:10.1.2.3");
        (void) cidr_list_match(list, &probe);
        list = cidr_list_free(list);
    } else {
        fuzz_check(list == NULL);
    }
    free(text);
    return 0;
}
