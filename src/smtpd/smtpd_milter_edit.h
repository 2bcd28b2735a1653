/*
 * NAME
 *     smtpd_milter_edit - message headers and the changes milters ask for
 * SYNOPSIS
 *     #include "smtpd/smtpd_milter_edit.h"
 *
 *     mods = smtpd_milter_mods_new(message_size_limit);
 *     smtpd_milter_mods_add(mods, SMTPD_MILTER_EDIT_CHGHDR, 1, "Subject",
 *                           "[SPAM] hello", NULL, 0);
 *     ...
 *     smtpd_milter_edit_apply(mods, hidden, read_fn, src, write_fn, dst, why);
 *     smtpd_milter_edit_env(mods, rcpt, nrcpt, &env);
 *     mods = smtpd_milter_mods_free(mods);
 * DESCRIPTION
 *     What a milter may change at the end of a message, kept in order,
 *     and the pure functions that apply the changes to a message.
 *
 *     Headers. smtpd_milter_edit_parse() splits the start of a message
 *     into its header fields. A field is a line "name: value" (name is
 *     printable ASCII without ':'; blanks may precede the colon) with
 *     the lines that follow it starting with a space or tab. The header
 *     ends at an empty line (the separator, which belongs to neither
 *     part), at a line that is no header field (which starts the body),
 *     or at the end of buf. With complete 0 buf is only the start of a
 *     message (at most SMTPD_MILTER_EDIT_HEADER_MAX bytes): a field that
 *     may go on beyond buf is left to the body, so the same bytes always
 *     split the same way. Lines end in CRLF or a bare LF. Fields keep
 *     their bytes as they were; the first hidden fields are marked as
 *     the server's own (its Received: header): milters do not see them.
 *
 *     smtpd_milter_edit_value() gives a field's value as milters see
 *     it: after the colon (and one space, unless leadspc: the milter
 *     asked for SMFIP_HDR_LEADSPC), lines joined by a bare LF.
 *
 *     Changes. smtpd_milter_mods_add() records one change;
 *     smtpd_milter_mods_truncate() forgets those from the count-th on
 *     (what a milter asked for before it failed). The header changes
 *     are applied in order by smtpd_milter_edit_header():
 *       ADDHDR  appends a field at the end of the header;
 *       CHGHDR  changes the index-th (1-based; 0 counts as 1) field of
 *               that name that milters saw (hidden fields not counted);
 *               an empty value deletes it; an index past the last one
 *               appends the field unless the value is empty;
 *       INSHDR  inserts before the field at 0-based position index
 *               counting every field, hidden ones too (0: the very
 *               top); past the end it appends.
 *     New field text is "name: value" (no space added with leadspc);
 *     line breaks in a value become CRLF and a line that does not start
 *     with a blank gets a tab, so a milter cannot end the header early
 *     or smuggle a field in. The envelope changes (ADDRCPT, DELRCPT,
 *     CHGFROM) are applied by smtpd_milter_edit_env(): the sender and
 *     the recipient list after every change, in order; addresses lose
 *     one pair of angle brackets; DELRCPT removes every recipient equal
 *     to the address (ignoring ASCII case), ADDRCPT adds one unless an
 *     equal one is there. A replaced body is kept in mods->body (its
 *     limit is the one given to smtpd_milter_mods_new()); the quarantine
 *     reason in mods->quarantine.
 *
 *     smtpd_milter_edit_apply() writes the changed message: it reads
 *     the original from rd (pread-like: up to size bytes at offset,
 *     0 at the end, -1 on error), applies the header changes, and writes
 *     the fields, the separator (when there was one, or a new body needs
 *     one) and the body (the replacement with bare LF made CRLF, or the
 *     original bytes) through wr (0 or -1).
 * RULES
 *     Pure: no I/O but through the callbacks, nothing logged. Limits:
 *     SMTPD_MILTER_EDIT_HEADER_MAX bytes of header are parsed,
 *     SMTPD_MILTER_EDIT_OPS_MAX changes and SMTPD_MILTER_EDIT_BYTES_MAX
 *     bytes of change text are kept; past them smtpd_milter_mods_add()
 *     returns -1 and records nothing.
 * DIAGNOSTICS
 *     smtpd_milter_edit_apply() returns -1 with a reason in why when a
 *     callback fails.
 * SEE ALSO
 *     smtpd/smtpd_milter.h, RFC 5322 section 2.2, libmilter smfi_chgheader
 */
#ifndef DOPPEL_SMTPD_SMTPD_MILTER_EDIT_H
#define DOPPEL_SMTPD_SMTPD_MILTER_EDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/dstr.h"

#define SMTPD_MILTER_EDIT_HEADER_MAX (256 * 1024)   /* bytes parsed */
#define SMTPD_MILTER_EDIT_OPS_MAX 10000         /* changes kept */
#define SMTPD_MILTER_EDIT_BYTES_MAX (4 * 1024 * 1024)  /* their text */
#define SMTPD_MILTER_EDIT_IO 65536              /* bytes per read */

enum smtpd_milter_edit_op {
    SMTPD_MILTER_EDIT_ADDHDR,
    SMTPD_MILTER_EDIT_CHGHDR,
    SMTPD_MILTER_EDIT_INSHDR,
    SMTPD_MILTER_EDIT_ADDRCPT,         /* value: ESMTP args or NULL */
    SMTPD_MILTER_EDIT_DELRCPT,
    SMTPD_MILTER_EDIT_CHGFROM,         /* value: ESMTP args or NULL */
};

struct smtpd_milter_edit {
    enum smtpd_milter_edit_op op;
    uint32_t index;                    /* CHGHDR, INSHDR */
    char   *name;                      /* header name, or the address */
    char   *value;                     /* header value, or ESMTP args */
    int     leadspc;                   /* the value keeps its own space */
};

struct smtpd_milter_mods {
    struct smtpd_milter_edit *ops;
    size_t  count, alloc;
    size_t  bytes;                     /* text held by ops */
    struct dstr *body;                 /* replacement body, or NULL */
    size_t  body_limit;
    char   *quarantine;                /* reason, or NULL */
};

struct smtpd_milter_hdr {
    char   *name;
    char   *raw;                       /* the field as written, line ends too */
    size_t  raw_len;
    int     hidden;                    /* the server's own: milters don't see */
};

struct smtpd_milter_hdrs {
    struct smtpd_milter_hdr *item;
    size_t  count, alloc;
};

struct smtpd_milter_env_rcpt {
    char   *addr;                      /* without <> */
    char   *args;                      /* ADDRCPT_PAR args, or NULL */
    long    orig;                      /* index in the input, -1 if added */
};

/* The envelope after the changes; it owns its strings. */
struct smtpd_milter_env {
    char   *sender;                    /* without <>; NULL: unchanged */
    char   *sender_args;
    struct smtpd_milter_env_rcpt *rcpt;
    size_t  count;
    int     changed;                   /* anything differs from the input */
};

typedef ssize_t smtpd_milter_read_fn(void *arg, long long offset, void *buf,
                                     size_t size);
typedef int smtpd_milter_write_fn(void *arg, const void *buf, size_t len);

struct smtpd_milter_mods *smtpd_milter_mods_new(size_t body_limit);
struct smtpd_milter_mods *smtpd_milter_mods_free(struct smtpd_milter_mods *m);
int     smtpd_milter_mods_add(struct smtpd_milter_mods *m,
                              enum smtpd_milter_edit_op op, uint32_t index,
                              const char *name, const char *value,
                              int leadspc);
void    smtpd_milter_mods_truncate(struct smtpd_milter_mods *m, size_t count);
int     smtpd_milter_mods_changed(const struct smtpd_milter_mods *m);

void    smtpd_milter_edit_parse(struct smtpd_milter_hdrs *h, const char *buf,
                                size_t len, int complete, size_t hidden,
                                size_t *body_off, int *separator);
void    smtpd_milter_edit_hdrs_free(struct smtpd_milter_hdrs *h);
void    smtpd_milter_edit_value(const struct smtpd_milter_hdr *hd,
                                int leadspc, struct dstr *out);
void    smtpd_milter_edit_header(struct smtpd_milter_hdrs *h,
                                 const struct smtpd_milter_edit *e);
int     smtpd_milter_edit_apply(const struct smtpd_milter_mods *m,
                                size_t hidden, smtpd_milter_read_fn *rd,
                                void *rd_arg, smtpd_milter_write_fn *wr,
                                void *wr_arg, struct dstr *why);
void    smtpd_milter_edit_env(const struct smtpd_milter_mods *m,
                              const char *const *rcpt, size_t nrcpt,
                              struct smtpd_milter_env *env);
void    smtpd_milter_edit_env_free(struct smtpd_milter_env *env);
const char *smtpd_milter_edit_addr(const char *in, struct dstr *out);

#endif
