/*
 * NAME
 *     smtpd_milter_proto - the Sendmail milter protocol on the wire
 * SYNOPSIS
 *     #include "smtpd/smtpd_milter_proto.h"
 *
 *     struct dstr *out = dstr_new(256, DSTR_UNLIMITED);
 *     smtpd_milter_proto_optneg(out, 6, actions, protocol);
 *     smtpd_milter_proto_macro(out, SMTPD_MILTER_C_CONNECT, macros, n);
 *     smtpd_milter_proto_connect(out, "[192.0.2.1]", '4', 4711, "192.0.2.1");
 *     ... write out->data, out->len to the milter
 *
 *     struct smtpd_milter_proto_reply r;
 *     switch (smtpd_milter_proto_decode(buf, len, &used, &r, why)) {
 *     case 0:  ... wait for more bytes
 *     case 1:  ... r.code, r.name, r.value ...; then drop used bytes
 *     case -1: ... why->data says what is wrong; close the connection
 *     }
 * DESCRIPTION
 *     The MTA side of the milter protocol (version 2 to 6) as pure
 *     functions: no sockets, no state, no logging.
 *
 *     A packet is a 32-bit length in network byte order, then that many
 *     bytes: one command or reply code and its data. Strings in the data
 *     end with a NUL; numbers are 32-bit (16-bit for the client port) in
 *     network byte order.
 *
 *     Encoders append one packet to out and return 0, or -1 leaving out
 *     as it was when the data would exceed SMTPD_MILTER_PROTO_DATA_MAX
 *     (what libmilter accepts without the MDS extension) or out's limit.
 *     A NUL inside a string argument would end it early on the wire, so
 *     string arguments are C strings; header values and body chunks
 *     are counted (a NUL byte in a header value goes out as a space).
 *     smtpd_milter_proto_mail() and _rcpt() send the address with angle
 *     brackets ("<a@b>", "<>") followed by the ESMTP parameters.
 *
 *     smtpd_milter_proto_decode() looks at the bytes a milter sent: it
 *     returns 0 when they do not yet hold a whole packet, 1 when they do
 *     (*used is the packet's size and r describes it), or -1 when they
 *     are garbage: a length of 0 or over SMTPD_MILTER_PROTO_REPLY_MAX,
 *     an unknown code, or data that does not fit the code (missing NUL,
 *     left-over bytes, a bad header name, a malformed SMTP reply).
 *     Strings in r point into buf: they live as long as the bytes do.
 *     It checks the form of each reply, not whether it is allowed at
 *     this point of the dialog: that is the client's business.
 *
 *     smtpd_milter_proto_code_name() names a code for log messages;
 *     smtpd_milter_proto_macro_stage() maps the stages of SETSYMLIST.
 * RULES
 *     Every length is checked before it is used; decode never reads
 *     beyond len and never allocates.
 * DIAGNOSTICS
 *     decode explains a -1 in why (which may be NULL), e.g.
 *     "reply packet length 1048577 exceeds the limit of 66560".
 * SEE ALSO
 *     smtpd/smtpd_milter.h, libmilter's mfdef.h, Postfix MILTER_README
 */
#ifndef DOPPEL_SMTPD_SMTPD_MILTER_PROTO_H
#define DOPPEL_SMTPD_SMTPD_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"

#define SMTPD_MILTER_PROTO_DATA_MAX 65535      /* data of one command */
#define SMTPD_MILTER_PROTO_CHUNK 65535          /* body bytes per packet */
#define SMTPD_MILTER_PROTO_REPLY_MAX (65536 + 1024)    /* a reply's length */
#define SMTPD_MILTER_PROTO_VERSION 6            /* the newest we speak */
#define SMTPD_MILTER_PROTO_STAGES 7             /* SETSYMLIST stages */

/* Commands (MTA to milter). */
#define SMTPD_MILTER_C_ABORT    'A'
#define SMTPD_MILTER_C_BODY     'B'
#define SMTPD_MILTER_C_CONNECT  'C'
#define SMTPD_MILTER_C_MACRO    'D'
#define SMTPD_MILTER_C_BODYEOB  'E'
#define SMTPD_MILTER_C_HELO     'H'
#define SMTPD_MILTER_C_QUIT_NC  'K'
#define SMTPD_MILTER_C_HEADER   'L'
#define SMTPD_MILTER_C_MAIL     'M'
#define SMTPD_MILTER_C_EOH      'N'
#define SMTPD_MILTER_C_OPTNEG   'O'
#define SMTPD_MILTER_C_QUIT     'Q'
#define SMTPD_MILTER_C_RCPT     'R'
#define SMTPD_MILTER_C_DATA     'T'
#define SMTPD_MILTER_C_UNKNOWN  'U'

/* Replies (milter to MTA). */
#define SMTPD_MILTER_R_ADDRCPT  '+'
#define SMTPD_MILTER_R_DELRCPT  '-'
#define SMTPD_MILTER_R_ADDRCPT_PAR '2'
#define SMTPD_MILTER_R_SHUTDOWN '4'
#define SMTPD_MILTER_R_ACCEPT   'a'
#define SMTPD_MILTER_R_REPLBODY 'b'
#define SMTPD_MILTER_R_CONTINUE 'c'
#define SMTPD_MILTER_R_DISCARD  'd'
#define SMTPD_MILTER_R_CHGFROM  'e'
#define SMTPD_MILTER_R_CONN_FAIL 'f'
#define SMTPD_MILTER_R_ADDHEADER 'h'
#define SMTPD_MILTER_R_INSHEADER 'i'
#define SMTPD_MILTER_R_CHGHEADER 'm'
#define SMTPD_MILTER_R_PROGRESS 'p'
#define SMTPD_MILTER_R_QUARANTINE 'q'
#define SMTPD_MILTER_R_REJECT   'r'
#define SMTPD_MILTER_R_SKIP     's'
#define SMTPD_MILTER_R_TEMPFAIL 't'
#define SMTPD_MILTER_R_REPLYCODE 'y'
#define SMTPD_MILTER_R_OPTNEG   'O'

/* Connect address families. */
#define SMTPD_MILTER_FAMILY_UNKNOWN 'U'
#define SMTPD_MILTER_FAMILY_UNIX 'L'
#define SMTPD_MILTER_FAMILY_INET '4'
#define SMTPD_MILTER_FAMILY_INET6 '6'

/* Actions a milter may ask for (SMFIF_*). */
#define SMTPD_MILTER_A_ADDHDRS    0x001u
#define SMTPD_MILTER_A_CHGBODY    0x002u
#define SMTPD_MILTER_A_ADDRCPT    0x004u
#define SMTPD_MILTER_A_DELRCPT    0x008u
#define SMTPD_MILTER_A_CHGHDRS    0x010u
#define SMTPD_MILTER_A_QUARANTINE 0x020u
#define SMTPD_MILTER_A_CHGFROM    0x040u
#define SMTPD_MILTER_A_ADDRCPT_PAR 0x080u
#define SMTPD_MILTER_A_SETSYMLIST 0x100u
#define SMTPD_MILTER_A_ALL        0x1ffu

/* Protocol steps (SMFIP_*). */
#define SMTPD_MILTER_P_NOCONNECT  0x00000001u
#define SMTPD_MILTER_P_NOHELO     0x00000002u
#define SMTPD_MILTER_P_NOMAIL     0x00000004u
#define SMTPD_MILTER_P_NORCPT     0x00000008u
#define SMTPD_MILTER_P_NOBODY     0x00000010u
#define SMTPD_MILTER_P_NOHDRS     0x00000020u
#define SMTPD_MILTER_P_NOEOH      0x00000040u
#define SMTPD_MILTER_P_NR_HDR     0x00000080u
#define SMTPD_MILTER_P_NOUNKNOWN  0x00000100u
#define SMTPD_MILTER_P_NODATA     0x00000200u
#define SMTPD_MILTER_P_SKIP       0x00000400u
#define SMTPD_MILTER_P_RCPT_REJ   0x00000800u
#define SMTPD_MILTER_P_NR_CONN    0x00001000u
#define SMTPD_MILTER_P_NR_HELO    0x00002000u
#define SMTPD_MILTER_P_NR_MAIL    0x00004000u
#define SMTPD_MILTER_P_NR_RCPT    0x00008000u
#define SMTPD_MILTER_P_NR_DATA    0x00010000u
#define SMTPD_MILTER_P_NR_UNKN    0x00020000u
#define SMTPD_MILTER_P_NR_EOH     0x00040000u
#define SMTPD_MILTER_P_NR_BODY    0x00080000u
#define SMTPD_MILTER_P_HDR_LEADSPC 0x00100000u

/* SETSYMLIST stages (SMFIM_*). */
#define SMTPD_MILTER_M_CONNECT 0
#define SMTPD_MILTER_M_HELO    1
#define SMTPD_MILTER_M_ENVFROM 2
#define SMTPD_MILTER_M_ENVRCPT 3
#define SMTPD_MILTER_M_DATA    4
#define SMTPD_MILTER_M_EOM     5
#define SMTPD_MILTER_M_EOH     6

struct smtpd_milter_proto_macro {
    const char *name;                  /* "j", "{daemon_name}" */
    const char *value;
};

/* One decoded reply. Pointers point into the decoded bytes. */
struct smtpd_milter_proto_reply {
    int     code;                      /* SMTPD_MILTER_R_* */
    uint32_t version, actions, protocol;       /* OPTNEG */
    const char *symlist[SMTPD_MILTER_PROTO_STAGES];    /* OPTNEG, or NULL */
    uint32_t index;                    /* CHGHEADER, INSHEADER */
    const char *name;                  /* header name; address; reason */
    const char *value;                 /* header value; REPLYCODE text */
    const char *args;                  /* ADDRCPT_PAR, CHGFROM, or NULL */
    const unsigned char *data;         /* REPLBODY */
    size_t  data_len;
};

int     smtpd_milter_proto_optneg(struct dstr *out, uint32_t version,
                                  uint32_t actions, uint32_t protocol);
int     smtpd_milter_proto_macro(struct dstr *out, int cmd,
                                 const struct smtpd_milter_proto_macro *m,
                                 size_t count);
int     smtpd_milter_proto_connect(struct dstr *out, const char *host,
                                   int family, unsigned port,
                                   const char *addr);
int     smtpd_milter_proto_helo(struct dstr *out, const char *helo);
int     smtpd_milter_proto_mail(struct dstr *out, const char *sender,
                                const char *const *args, size_t nargs);
int     smtpd_milter_proto_rcpt(struct dstr *out, const char *rcpt,
                                const char *const *args, size_t nargs);
int     smtpd_milter_proto_header(struct dstr *out, const char *name,
                                  const char *value, size_t value_len);
int     smtpd_milter_proto_body(struct dstr *out, const void *buf,
                                size_t len);
int     smtpd_milter_proto_unknown(struct dstr *out, const char *line);
int     smtpd_milter_proto_simple(struct dstr *out, int cmd);

int     smtpd_milter_proto_decode(const void *buf, size_t len, size_t *used,
                                  struct smtpd_milter_proto_reply *r,
                                  struct dstr *why);
int     smtpd_milter_proto_reply_valid(const char *text);
const char *smtpd_milter_proto_code_name(int code);
int     smtpd_milter_proto_macro_stage(int cmd);

#endif
