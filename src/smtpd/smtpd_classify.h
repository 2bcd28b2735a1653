/*
 * NAME
 *     smtpd_classify - name a client's class: identity maps, then history
 * SYNOPSIS
 *     #include "smtpd/smtpd_classify.h"
 *
 *     cls = smtpd_classify_new(base, params, why);
 *     name = smtpd_classify_name(cls, p, &addr, addr_text, client_name);
 *     smtpd_classify_refresh(cls, &addr, got_history, arg);
 *     smtpd_classify_event(cls, p, &addr, CLIENT_HISTORY_MESSAGE);
 *     cls = smtpd_classify_free(cls);
 * DESCRIPTION
 *     smtpd_classify_name() answers at once, in this order:
 *       1. identity: the first table of p->smtpd_client_class_maps
 *          that knows the client's verified name (when it has one) or
 *          its address names the class;
 *       2. history: what this worker last learnt of the client's
 *          history names "suspect" (recent abuse) or "known" (enough
 *          good mail over enough time), by client_history_class();
 *       3. otherwise PERSONALITY_DEFAULT_CLASS.
 *     A class that the configuration does not know (it has no
 *     parameters and is not a built-in class) is logged once and
 *     ignored.
 *
 *     History lives in the store (global/client_history.h) and reaches
 *     the worker through smtpd_history's thread. The worker keeps the
 *     last record it saw per client in a cache of CLASSIFY_CACHE_SIZE
 *     entries, so that the decision at accept time needs no wait.
 *     smtpd_classify_refresh() asks the store again when the cached
 *     record is missing or older than CLASSIFY_CACHE_FRESH_MS and calls
 *     fn(arg) from the event loop once the cache is up to date (it
 *     returns NULL and does not call fn when there is nothing to ask).
 *     smtpd_classify_cancel() withdraws the question (the session died).
 *
 *     smtpd_classify_event() records what a client did, both in the
 *     store and in the cached record, so the next session of this
 *     client here sees it at once.
 * RULES
 *     Without a usable store (it failed to open: logged) only identity
 *     maps classify. Maps are compiled once per personality, when it
 *     classifies first or at smtpd_classify_prepare() (which a worker
 *     calls for each personality before it chroots), and kept until
 *     smtpd_classify_flush() (a reload).
 * DIAGNOSTICS
 *     smtpd_classify_compile() opens a personality's maps and reports a
 *     broken one as table_open() does, so that it stops the worker at
 *     start; a map that breaks later is logged and skipped.
 * SEE ALSO
 *     global/client_history.h, smtpd/smtpd_history.h, DESIGN.md
 */
#ifndef DOPPEL_SMTPD_SMTPD_CLASSIFY_H
#define DOPPEL_SMTPD_SMTPD_CLASSIFY_H

#include "util/dstr.h"
#include "util/netaddr.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/client_history.h"

#define CLASSIFY_CACHE_SIZE 4096        /* clients remembered per worker */
#define CLASSIFY_CACHE_FRESH_MS 30000   /* a record older is asked again */
#define CLASSIFY_VALUE_MAX 256          /* longest map result */

struct event_base;
struct smtpd_classify;
struct smtpd_classify_req;

typedef void smtpd_classify_fn(void *arg);

struct smtpd_classify *smtpd_classify_new(struct event_base *base,
                                          const struct conf *conf,
                                          const struct params *p);
struct smtpd_classify *smtpd_classify_free(struct smtpd_classify *cls);
int     smtpd_classify_compile(const struct params *p, struct dstr *errors);
void    smtpd_classify_flush(struct smtpd_classify *cls,
                             const struct conf *conf);
void    smtpd_classify_prepare(struct smtpd_classify *cls,
                               const struct params *p);
const char *smtpd_classify_name(struct smtpd_classify *cls,
                                const struct params *p,
                                const struct netaddr *addr,
                                const char *addr_text,
                                const char *client_name);
struct smtpd_classify_req *smtpd_classify_refresh(struct smtpd_classify *cls,
                                                  const struct params *p,
                                                  const struct netaddr *addr,
                                                  smtpd_classify_fn *fn,
                                                  void *arg);
void    smtpd_classify_cancel(struct smtpd_classify_req *req);
void    smtpd_classify_event(struct smtpd_classify *cls,
                             const struct params *p,
                             const struct netaddr *addr,
                             enum client_history_event event);

#endif
