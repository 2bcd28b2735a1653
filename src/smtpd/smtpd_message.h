/*
 * NAME
 *     smtpd_message - receive a message's content into the queue
 * SYNOPSIS
 *     #include "smtpd/smtpd_message.h"
 *
 *     smtpd_message_data(s);                 (DATA accepted)
 *     smtpd_message_bdat(s, size, last);     (BDAT accepted)
 *     progress = smtpd_message_input(s);     (state DATA or BDAT)
 *     smtpd_message_reset(s, reply);         (RSET, HELO, QUIT ...)
 * DESCRIPTION
 *     The content path of a transaction. smtpd_message_data() makes a
 *     queue ID, builds the Received: header and has a queue thread
 *     create the queue file; then it replies 354 and the session reads
 *     content in state DATA. smtpd_message_bdat() does the same for the
 *     first chunk and then reads the chunk's bytes.
 *
 *     smtpd_message_input() takes what input there is, decodes it
 *     (smtpd_data: dot-stuffing, the end marker, bare CR and LF),
 *     collects it in a chunk and hands full chunks to a queue thread.
 *     The chunk starts at SMTPD_MESSAGE_CHUNK_MIN bytes and doubles each
 *     time it fills, up to SMTPD_MESSAGE_CHUNK: a client that trickles
 *     holds little memory, and a fast one hands the thread few, large
 *     writes (each hand-over is two thread wake-ups; a 100 KiB message
 *     usually needs none before the commit). While a chunk is being
 *     written the session reads no more (memory stays bounded by the
 *     chunk and the input watermark, whatever the message size).
 *
 *     The size limit is enforced while streaming: past
 *     message_size_limit nothing more is written, the rest is read and
 *     thrown away, and the end is answered with 552 5.3.4. A write error
 *     or a full disk is answered with 452 4.3.1 at the end, and the file
 *     is removed. A bare LF or CR in DATA with smtpd_forbid_bare_newline
 *     ends the session with 521 5.5.2 at once. At the end the queue
 *     thread commits (fsync, rename into incoming/, fsync the directory)
 *     and only then the client gets "250 2.0.0 Ok: queued as ID".
 *
 *     smtpd_message_reset() ends an unfinished message (a BDAT
 *     transaction cut by RSET): the file is removed by a queue thread,
 *     then reply (if not NULL) is sent. Returns 1 when it had to wait.
 *     smtpd_message_free() is for smtpd_session_free(): it returns -1
 *     (and starts the removal) while a file is still open.
 *
 *     smtpd_message_id() and smtpd_message_size() describe the message
 *     being received: its queue ID (made with the first recipient
 *     accepted, as Postfix makes it, so known from then on; "" before)
 *     and the content bytes so far (from DATA or the first BDAT on; -1
 *     before).
 * RULES
 *     One job per session at a time (SESSION_F_JOB). The envelope strings
 *     handed to the writer are the session's and stay put while it runs.
 * SEE ALSO
 *     smtpd/smtpd_data.h, smtpd/smtpd_queue.h, global/queue_file.h
 */
#ifndef DOPPEL_SMTPD_SMTPD_MESSAGE_H
#define DOPPEL_SMTPD_SMTPD_MESSAGE_H

struct session;

#define SMTPD_MESSAGE_CHUNK_MIN (16 * 1024)     /* a message's first chunk */
#define SMTPD_MESSAGE_CHUNK (256 * 1024)        /* the largest it grows to */
#define SMTPD_MESSAGE_BDAT_MAX 2147483647LL    /* one chunk's size */

void    smtpd_message_data(struct session *s);
void    smtpd_message_bdat(struct session *s, long long size, int last);
int     smtpd_message_input(struct session *s);
int     smtpd_message_reset(struct session *s, const char *reply);
int     smtpd_message_free(struct session *s);
const char *smtpd_message_id(const struct session *s);
long long smtpd_message_size(const struct session *s);

#endif
