/*
 * NAME
 *     smtpd_data - decode DATA and BDAT message content, incrementally
 * SYNOPSIS
 *     #include "smtpd/smtpd_data.h"
 *
 *     struct smtpd_data dec;
 *
 *     smtpd_data_init(&dec, SMTPD_DATA_DOT);
 *     used = smtpd_data_decode(&dec, in, len, out, &outlen);
 *     if (dec.done) ... end of message seen; in[used..] is the next command
 * DESCRIPTION
 *     A decoder is a small state machine that input may reach in pieces
 *     of any size, split anywhere (even inside "\r\n.\r\n").
 *
 *     SMTPD_DATA_DOT decodes the content of the DATA command: a period
 *     at the start of a line is removed (dot-stuffing undone), and the
 *     line ".", that is "\r\n.\r\n" counting the CRLF that ends the
 *     previous line (or the 354 reply), ends the message. Only CRLF
 *     ends a line. A bare LF or a bare CR is an ordinary byte: it never
 *     starts a line, so "\n.\n", "\n.\r\n", "\r.\r\n" and "\r\n.\r"
 *     never end the message (no SMTP smuggling). Each bare LF and bare
 *     CR is counted in the flags, so a caller that forbids them can
 *     refuse the message.
 *
 *     SMTPD_DATA_RAW decodes BDAT chunks: every byte is content; only
 *     the bare CR and LF flags are kept (across chunks).
 *
 *     The output is the message content exactly as it will be stored:
 *     the CRLF line endings of the client, 8-bit bytes and NULs are
 *     kept byte for byte; only the stuffing dots and the final ".\r\n"
 *     are removed.
 * RULES
 *     out must hold at least len + SMTPD_DATA_SLACK bytes: a CR held
 *     back from the previous call may come out with this one.
 *     After done is set the decoder consumes nothing more.
 *     smtpd_data_flush() returns a CR held back at the end of a BDAT
 *     LAST chunk (the content did not end in CRLF).
 * DIAGNOSTICS
 *     None: every byte sequence decodes.
 * SEE ALSO
 *     RFC 5321 4.5.2 (transparency), RFC 3030 (CHUNKING),
 *     CVE-2023-51764 (SMTP smuggling)
 */
#ifndef DOPPEL_SMTPD_SMTPD_DATA_H
#define DOPPEL_SMTPD_SMTPD_DATA_H

#include <stddef.h>

#define SMTPD_DATA_SLACK 2

enum smtpd_data_mode {
    SMTPD_DATA_DOT,                    /* DATA: dot-stuffed, ".\r\n" ends */
    SMTPD_DATA_RAW,                    /* BDAT: counted, no end marker */
};

/* flags */
#define SMTPD_DATA_BARE_LF 0x1         /* LF not after CR seen */
#define SMTPD_DATA_BARE_CR 0x2         /* CR not before LF seen */

struct smtpd_data {
    enum smtpd_data_mode mode;
    int     state;                     /* private */
    unsigned flags;                    /* SMTPD_DATA_BARE_* seen so far */
    int     done;                      /* DOT: end of message seen */
    unsigned long long lines;          /* CRLF line ends seen */
};

void    smtpd_data_init(struct smtpd_data *d, enum smtpd_data_mode mode);
size_t  smtpd_data_decode(struct smtpd_data *d, const char *in, size_t len,
                          char *out, size_t *outlen);
size_t  smtpd_data_flush(struct smtpd_data *d, char *out);

#endif
