/*
 * NAME
 *     smtpd_cmd - the SMTP command table and its handlers
 * SYNOPSIS
 *     #include "smtpd/smtpd_cmd.h"
 *
 *     smtpd_cmd_execute(s, line, len, octets);
 * DESCRIPTION
 *     smtpd_cmd_execute() runs one command line (without its CRLF;
 *     octets is its length on the wire, CRLF included). The verb is
 *     looked up in a table of {verb, check, proceed, flags}: check looks
 *     at syntax and sequence and replies when it refuses; proceed does
 *     the work and replies. Policy, milter and XCLIENT hooks will run
 *     between the two.
 *
 *     Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP
 *     STARTTLS, and XCLIENT XFORWARD (smtpd_xclient). MAIL and RCPT parse with util/mailaddr (RFC 5321 paths,
 *     SIZE BODY SMTPUTF8 RET ENVID NOTIFY ORCPT). A line longer than
 *     smtpd_command_line_limit (plus the allowance of RFC 1870, 3461,
 *     6152 and 6531 for MAIL and RCPT) is refused with 500 5.5.2.
 *     NOOP, VRFY, RSET and HELP count towards smtpd_junk_command_limit;
 *     past it each one is an error.
 *
 *     smtpd_cmd_split() is the tokenizer: the verb is the first run of
 *     non-blank bytes, the argument what follows the blanks after it.
 * RULES
 *     Replies go through smtpd_session_reply(), which counts 4xx/5xx
 *     towards the error limits.
 * SEE ALSO
 *     smtpd/smtpd_session.h, util/mailaddr.h, RFC 5321 4.1.1 and 4.3.2
 */
#ifndef DOPPEL_SMTPD_SMTPD_CMD_H
#define DOPPEL_SMTPD_SMTPD_CMD_H

#include <stddef.h>

struct session;

/* allowance for MAIL: SIZE (26, RFC 1870), RET/ENVID (100, RFC 3461),
 * BODY (RFC 6152) and SMTPUTF8 (10, RFC 6531); RCPT: NOTIFY/ORCPT (500) */
#define SMTPD_CMD_MAIL_ALLOWANCE 160
#define SMTPD_CMD_RCPT_ALLOWANCE 500

size_t  smtpd_cmd_split(const char *line, size_t len, const char **arg,
                        size_t *arg_len);
void    smtpd_cmd_execute(struct session *s, const char *line, size_t len,
                          size_t octets);
const char *smtpd_cmd_counter_name(size_t index);

#endif
