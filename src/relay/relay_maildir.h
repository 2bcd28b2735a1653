/*
 * NAME
 *     relay_maildir - deliver a message into a recipient's Maildir
 * SYNOPSIS
 *     #include "relay/relay_maildir.h"
 *
 *     relay_maildir_deliver(base, r, &rcpt);
 * DESCRIPTION
 *     The maildir transport keeps one Maildir per recipient under the
 *     transport's directory: BASE/ADDRESS/{tmp,new,cur}, where ADDRESS
 *     is the recipient lower-cased, with every byte other than letters,
 *     digits and "@.+-_=" written as "%XX" and a leading dot as "%2E",
 *     so that an address can never name a path outside BASE
 *     (relay_maildir_name() makes that name).
 *
 *     relay_maildir_deliver() creates the directories as needed, writes
 *     tmp/UNIQUE with O_EXCL, fsyncs it, links it to new/UNIQUE (never
 *     replacing a file), removes the tmp/ name and fsyncs new/. The file
 *     holds "Return-Path: <SENDER>" and "Delivered-To: RCPT" header
 *     lines (ended with CRLF, as the queued content is) followed by the
 *     queued content byte for byte. UNIQUE is "SECONDS.MUSECPPIDQN.HOST"
 *     (see relay_maildir_unique()), unique within the host.
 *
 *     The outcome goes into rcpt: SENT "2.0.0", or DEFER "4.2.0" with
 *     the failed operation (a full disk is worth a retry, like Postfix's
 *     local delivery).
 * RULES
 *     Thread-safe: each call uses its own reader rewind and files; r
 *     must not be used by another thread at the same time.
 * DIAGNOSTICS
 *     relay_maildir_deliver() returns 0 when delivered, -1 otherwise
 *     (the reason is in rcpt->text).
 * SEE ALSO
 *     relay/relay_transport.h, maildir(5)
 */
#ifndef DOPPEL_RELAY_RELAY_MAILDIR_H
#define DOPPEL_RELAY_RELAY_MAILDIR_H

#include <stddef.h>

#include "util/dstr.h"
#include "global/queue_file.h"
#include "relay/relay_transport.h"

int     relay_maildir_name(struct dstr *out, const char *rcpt);
int     relay_maildir_unique(char *buf, size_t size);
int     relay_maildir_deliver(const char *base, struct queue_file_reader *r,
                              struct relay_rcpt *rcpt);

#endif
