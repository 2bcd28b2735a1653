/* smtpd_tls - STARTTLS server side with OpenSSL filter bufferevents; see smtpd_tls.h. */

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "smtpd/smtpd_tls.h"

struct smtpd_tls {
    SSL_CTX *ctx;
};

/* smtpd_tls_error - OpenSSL's queued errors into why; returns the first */
unsigned long
smtpd_tls_error(struct dstr *why)
{
    unsigned long err, first = 0;
    char    buf[256];

    while ((err = ERR_get_error()) != 0) {
        if (first == 0)
            first = err;
        if (why != NULL) {
            ERR_error_string_n(err, buf, sizeof(buf));
            (void) dstr_appendf(why, "%s%s", why->len ? "; " : "", buf);
        }
    }
    return first;
}

/* smtpd_tls_new - a TLS 1.2+ server context from PEM files */
struct smtpd_tls *
smtpd_tls_new(const char *cert_file, const char *key_file, struct dstr *why)
{
    struct smtpd_tls *tls;
    SSL_CTX *ctx;

    ERR_clear_error();
    if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
        (void) dstr_append_str(why, "SSL_CTX_new: ");
        (void) smtpd_tls_error(why);
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1
        || SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        (void) dstr_appendf(why, "%s: ", cert_file);
        (void) smtpd_tls_error(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        (void) dstr_appendf(why, "%s: ", key_file);
        (void) smtpd_tls_error(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* a mail server gains nothing from renegotiation or tickets' state */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                        | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    tls = xcalloc(1, sizeof(*tls));
    tls->ctx = ctx;
    return tls;
}

/* smtpd_tls_free - release the context; returns NULL */
struct smtpd_tls *
smtpd_tls_free(struct smtpd_tls *tls)
{
    if (tls != NULL) {
        SSL_CTX_free(tls->ctx);
        free(tls);
    }
    return NULL;
}

/*
 * smtpd_tls_start - discard pipelined plaintext, then wrap plain in TLS.
 *
 * Why discard here: whatever the client sent after "STARTTLS\r\n" was
 * sent before any encryption, so a man in the middle may have added it
 * (CVE-2011-0411). Bytes that arrive later are read by OpenSSL as TLS
 * records, and plaintext there fails the handshake.
 */
struct bufferevent *
smtpd_tls_start(struct smtpd_tls *tls, struct event_base *base,
                struct bufferevent *plain, size_t *discarded)
{
    struct evbuffer *in = bufferevent_get_input(plain);
    struct bufferevent *bev;
    SSL    *ssl;

    *discarded = evbuffer_get_length(in);
    (void) evbuffer_drain(in, *discarded);
    ERR_clear_error();
    if ((ssl = SSL_new(tls->ctx)) == NULL) {
        struct dstr *why = dstr_new(64, 1024);

        (void) smtpd_tls_error(why);
        log_error("tls: SSL_new: %s", why->data);
        dstr_free(why);
        return NULL;
    }
    bev = bufferevent_openssl_filter_new(base, plain, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* smtpd_tls_describe - protocol and cipher of an established session */
int
smtpd_tls_describe(struct bufferevent *bev, struct smtpd_tls_info *info)
{
    SSL    *ssl = bufferevent_openssl_get_ssl(bev);
    const SSL_CIPHER *cipher;

    memset(info, 0, sizeof(*info));
    if (ssl == NULL || (cipher = SSL_get_current_cipher(ssl)) == NULL)
        return -1;
    (void) str_copy(info->protocol, sizeof(info->protocol),
                    SSL_get_version(ssl));
    (void) str_copy(info->cipher, sizeof(info->cipher),
                    SSL_CIPHER_get_name(cipher));
    info->bits = SSL_CIPHER_get_bits(cipher, &info->alg_bits);
    return 0;
}
