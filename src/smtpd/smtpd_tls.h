/*
 * NAME
 *     smtpd_tls - the server side of STARTTLS with OpenSSL and libevent
 * SYNOPSIS
 *     #include "smtpd/smtpd_tls.h"
 *
 *     tls = smtpd_tls_new(cert_file, key_file, why);     (NULL: see why)
 *     bev = smtpd_tls_start(tls, base, plain_bev);
 *     smtpd_tls_describe(bev, &info);
 *     tls = smtpd_tls_free(tls);
 * DESCRIPTION
 *     smtpd_tls_new() loads a PEM certificate chain and its private key
 *     into a server context that speaks TLS 1.2 or later.
 *
 *     smtpd_tls_start() wraps a connected plain bufferevent in an
 *     OpenSSL filter bufferevent in the accepting state and returns it:
 *     bytes already queued for output on the plain one (the "220 Ready
 *     to start TLS" reply) go out first, in clear. The caller must
 *     first discard whatever the client sent after STARTTLS (RFC 3207,
 *     CVE-2011-0411): smtpd_tls_start() does it and returns how many
 *     bytes were thrown away in *discarded.
 *
 *     smtpd_tls_describe() fills the protocol, cipher and key bits of
 *     an established session, for the Received: header and the log.
 * RULES
 *     The filter owns the plain bufferevent (freeing the filter frees
 *     it and closes the socket). A context may be shared by any number
 *     of sessions; smtpd_tls_free() after the last session is gone.
 * DIAGNOSTICS
 *     smtpd_tls_new() returns NULL with OpenSSL's reason in why.
 * SEE ALSO
 *     bufferevent_openssl_filter_new(3), RFC 3207
 */
#ifndef DOPPEL_SMTPD_SMTPD_TLS_H
#define DOPPEL_SMTPD_SMTPD_TLS_H

#include <stddef.h>

#include "util/dstr.h"

struct bufferevent;
struct event_base;
struct smtpd_tls;

struct smtpd_tls_info {
    char    protocol[32];              /* "TLSv1.3" */
    char    cipher[64];                /* "TLS_AES_256_GCM_SHA384" */
    int     bits;                      /* secret bits */
    int     alg_bits;                  /* algorithm bits */
};

struct smtpd_tls *smtpd_tls_new(const char *cert_file, const char *key_file,
                                struct dstr *why);
struct smtpd_tls *smtpd_tls_free(struct smtpd_tls *tls);
struct bufferevent *smtpd_tls_start(struct smtpd_tls *tls,
                                    struct event_base *base,
                                    struct bufferevent *plain,
                                    size_t *discarded);
int     smtpd_tls_describe(struct bufferevent *bev,
                           struct smtpd_tls_info *info);
unsigned long smtpd_tls_error(struct dstr *why);

#endif
