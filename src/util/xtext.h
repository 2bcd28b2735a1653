/*
 * NAME
 *     xtext - RFC 3461 xtext encoding (DSN ENVID and ORCPT values)
 * SYNOPSIS
 *     #include "util/xtext.h"
 * DESCRIPTION
 *     xtext carries arbitrary octets in an ESMTP parameter value: a
 *     byte from '!' (33) to '~' (126) stands for itself, except '+' and
 *     '='; every other byte is "+" and two hexadecimal digits.
 *
 *     xtext_encode() appends the xtext form of len bytes of data to out.
 *     It writes upper-case hex digits, as RFC 3461 requires.
 *
 *     xtext_decode() appends the bytes that len bytes of xtext stand
 *     for. It is strict about the grammar and liberal about case only:
 *     - a raw byte outside 33..126, a raw '=' (which no ESMTP value may
 *       hold either), a '+' not followed by two hex digits: refused;
 *     - lower-case hex ("+2b") is accepted as a reading of "+2B". The
 *       RFC says upper case, but the meaning is unambiguous, and some
 *       clients write lower case; refusing would bounce their DSN
 *       requests for no gain. Re-encoding yields upper case.
 *     The result may hold any byte, NUL and 8-bit included: a caller
 *     that wants an address or printable text must check it.
 *
 *     xtext_valid() says whether xtext_decode() would accept the text
 *     (given room), without decoding it.
 * RULES
 *     Encode and decode are all or nothing: on -1, out keeps its former
 *     content. Empty input is valid and appends nothing.
 *     decode(encode(x)) == x for every byte string x.
 * DIAGNOSTICS
 *     xtext_encode() and xtext_decode() return 0, or -1 on malformed
 *     input or when out would pass its limit; they never log.
 *     xtext_valid() returns 1 or 0.
 * SEE ALSO
 *     util/dstr.h, RFC 3461 section 4 (xtext), RFC 5321 section 4.1.2
 *     (esmtp-value)
 */
#ifndef DOPPEL_UTIL_XTEXT_H
#define DOPPEL_UTIL_XTEXT_H

#include <stddef.h>

#include "util/dstr.h"

int     xtext_encode(struct dstr *out, const void *data, size_t len);
int     xtext_decode(struct dstr *out, const char *text, size_t len);
int     xtext_valid(const char *text, size_t len);

#endif
