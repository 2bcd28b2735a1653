/* xtext - RFC 3461 xtext encode, decode and check; see xtext.h. */

#include <stddef.h>

#include "util/dstr.h"
#include "util/xtext.h"

static const char xtext_hex[] = "0123456789ABCDEF";

/* xtext_plain - does byte c stand for itself in xtext */
static int
xtext_plain(unsigned char c)
{
    return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* xtext_hexval - value of one hex digit, either case; -1 if not one */
static int
xtext_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * xtext_step - decode the unit at text[*pos]: its byte in *byte and
 * *pos past it; -1 if the unit is malformed. One function for decode
 * and valid, so the two cannot disagree.
 */
static int
xtext_step(const char *text, size_t len, size_t *pos, unsigned char *byte)
{
    unsigned char c = (unsigned char) text[*pos];
    int     hi, lo;

    if (c == '+') {
        if (len - *pos < 3)
            return -1;
        hi = xtext_hexval((unsigned char) text[*pos + 1]);
        lo = xtext_hexval((unsigned char) text[*pos + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        *byte = (unsigned char) (hi << 4 | lo);
        *pos += 3;
        return 0;
    }
    if (!xtext_plain(c))
        return -1;
    *byte = c;
    *pos += 1;
    return 0;
}

/* xtext_encode - append the xtext form of data[len] to out */
int
xtext_encode(struct dstr *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t  old = out->len;
    size_t  i;
    int     ret = 0;

    for (i = 0; i < len && ret == 0; i++) {
        if (xtext_plain(p[i])) {
            ret = dstr_append_char(out, p[i]);
        } else {
            char    unit[3] = {'+', xtext_hex[p[i] >> 4], xtext_hex[p[i] & 15]};

            ret = dstr_append(out, unit, sizeof(unit));
        }
    }
    if (ret < 0)
        dstr_truncate(out, old);
    return ret;
}

/* xtext_decode - append the bytes text[len] stands for to out */
int
xtext_decode(struct dstr *out, const char *text, size_t len)
{
    size_t  old = out->len;
    size_t  pos = 0;
    unsigned char byte;

    while (pos < len) {
        if (xtext_step(text, len, &pos, &byte) < 0
            || dstr_append_char(out, byte) < 0) {
            dstr_truncate(out, old);
            return -1;
        }
    }
    return 0;
}

/* xtext_valid - would xtext_decode() accept text[len] */
int
xtext_valid(const char *text, size_t len)
{
    size_t  pos = 0;
    unsigned char byte;

    while (pos < len)
        if (xtext_step(text, len, &pos, &byte) < 0)
            return 0;
    return 1;
}
