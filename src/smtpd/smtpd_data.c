/* smtpd_data - incremental DATA/BDAT content decoder; see smtpd_data.h. */

#include <stddef.h>

#include "smtpd/smtpd_data.h"

/*
 * The states. A byte that may turn out to be part of a line ending or
 * of the end marker is held back (not yet written) until the next byte
 * decides: a CR in CR or DOT_CR, a period in DOT. Held bytes are
 * implicit in the state, so the decoder owns no buffer.
 */
enum {
    ST_BOL,                            /* at the start of a line */
    ST_TEXT,                           /* inside a line */
    ST_CR,                             /* held: CR inside a line */
    ST_DOT,                            /* held: "." at the start of a line */
    ST_DOT_CR,                         /* held: ".\r" at the start of a line */
};

/* smtpd_data_init - a decoder at the start of the content */
void
smtpd_data_init(struct smtpd_data *d, enum smtpd_data_mode mode)
{
    d->mode = mode;
    d->state = ST_BOL;
    d->flags = 0;
    d->done = 0;
    d->lines = 0;
}

/*
 * smtpd_data_decode - decode in[0..len) into out, return bytes consumed.
 *
 * Consumes everything unless the end marker is found; then it stops
 * right after ".\r\n" and sets done. *outlen is the number of bytes
 * written to out.
 */
size_t
smtpd_data_decode(struct smtpd_data *d, const char *in, size_t len,
                  char *out, size_t *outlen)
{
    size_t  i, o = 0;
    unsigned char c;

    for (i = 0; i < len && !d->done; i++) {
        c = (unsigned char) in[i];
        switch (d->state) {
        case ST_BOL:
            if (c == '.' && d->mode == SMTPD_DATA_DOT) {
                d->state = ST_DOT;
                break;
            }
            /* FALLTHROUGH */
        case ST_TEXT:
    text:
            if (c == '\r') {
                d->state = ST_CR;
            } else {
                if (c == '\n')
                    d->flags |= SMTPD_DATA_BARE_LF;
                out[o++] = (char) c;
                d->state = ST_TEXT;
            }
            break;
        case ST_CR:
            out[o++] = '\r';
            if (c == '\n') {
                out[o++] = '\n';
                d->lines++;
                d->state = ST_BOL;
                break;
            }
            d->flags |= SMTPD_DATA_BARE_CR;
            goto text;
        case ST_DOT:
            /* the held period was stuffing or the end marker: drop it */
            if (c == '\r') {
                d->state = ST_DOT_CR;
                break;
            }
            goto text;
        case ST_DOT_CR:
            if (c == '\n') {
                d->lines++;
                d->done = 1;
                break;
            }
            /* ".\r" then not LF: the CR was bare; the period was stuffing */
            out[o++] = '\r';
            d->flags |= SMTPD_DATA_BARE_CR;
            goto text;
        }
    }
    *outlen = o;
    return i;
}

/* smtpd_data_flush - release a held CR at the end of BDAT content */
size_t
smtpd_data_flush(struct smtpd_data *d, char *out)
{
    size_t  o = 0;

    if (d->state == ST_CR || d->state == ST_DOT_CR) {
        if (d->state == ST_DOT_CR)
            out[o++] = '.';
        out[o++] = '\r';
        d->flags |= SMTPD_DATA_BARE_CR;
    } else if (d->state == ST_DOT) {
        out[o++] = '.';
    }
    d->state = ST_BOL;
    return o;
}
