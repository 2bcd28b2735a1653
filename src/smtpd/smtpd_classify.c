/* smtpd_classify - a client's class from maps and history; see smtpd_classify.h. */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/personality.h"
#include "tables/table.h"
#include "smtpd/smtpd_classify.h"
#include "smtpd/smtpd_history.h"

/* one personality's smtpd_client_class_maps, opened */
struct classify_maps {
    const struct params *p;
    struct table **tables;
    size_t  count;
    char   *broken;                    /* why not, or NULL */
    struct classify_maps *next;
};

enum classify_state {
    CLASSIFY_EMPTY,
    CLASSIFY_FOUND,
    CLASSIFY_ABSENT,                   /* the store has no record */
};

struct classify_entry {
    char    key[CLIENT_HISTORY_KEY_MAX];
    enum classify_state state;
    struct client_history_rec rec;
    long long fetched;                 /* monotonic ms */
};

struct smtpd_classify {
    const struct conf *conf;
    struct smtpd_history *history;    /* NULL: identity maps only */
    struct classify_maps *maps;
    struct classify_entry *cache;      /* CLASSIFY_CACHE_SIZE */
    char  **warned;                    /* unknown classes, logged once */
    size_t  nwarned;
};

struct smtpd_classify_req {
    struct smtpd_classify *cls;
    struct smtpd_history_req *hreq;
    char    key[CLIENT_HISTORY_KEY_MAX];
    smtpd_classify_fn *fn;
    void   *arg;
};

#define CLASSIFY_WARNED_MAX 64

/* smtpd_classify_new - maps on demand, and the history store's thread */
struct smtpd_classify *
smtpd_classify_new(struct event_base *base, const struct conf *conf,
                   const struct params *p)
{
    struct smtpd_classify *cls = xcalloc(1, sizeof(*cls));
    struct dstr *why = dstr_new(128, 2048);

    cls->conf = conf;
    cls->cache = xcalloc(CLASSIFY_CACHE_SIZE, sizeof(*cls->cache));
    cls->history = smtpd_history_new(base, p, why);
    if (cls->history == NULL)
        log_warn("client history %s: %s; classes come from"
                 " smtpd_client_class_maps only", p->client_history_backend,
                 why->data);
    dstr_free(why);
    return cls;
}

/* classify_maps_free - one personality's tables */
static void
classify_maps_free(struct classify_maps *m)
{
    size_t  i;

    for (i = 0; i < m->count; i++)
        table_free(m->tables[i]);
    free(m->tables);
    free(m->broken);
    free(m);
}

/* smtpd_classify_flush - forget opened maps (reload) */
void
smtpd_classify_flush(struct smtpd_classify *cls, const struct conf *conf)
{
    struct classify_maps *m;

    while ((m = cls->maps) != NULL) {
        cls->maps = m->next;
        classify_maps_free(m);
    }
    cls->conf = conf;
}

/* smtpd_classify_free - everything, the store's thread too */
struct smtpd_classify *
smtpd_classify_free(struct smtpd_classify *cls)
{
    size_t  i;

    if (cls == NULL)
        return NULL;
    smtpd_classify_flush(cls, NULL);
    cls->history = smtpd_history_free(cls->history);
    for (i = 0; i < cls->nwarned; i++)
        free(cls->warned[i]);
    free(cls->warned);
    free(cls->cache);
    free(cls);
    return NULL;
}

/* classify_maps_get - the opened maps of a personality */
static struct classify_maps *
classify_maps_get(struct smtpd_classify *cls, const struct params *p)
{
    struct classify_maps *m;
    struct dstr *errors;
    size_t  i;

    for (m = cls->maps; m != NULL; m = m->next)
        if (m->p == p)
            return m;
    m = xcalloc(1, sizeof(*m));
    m->p = p;
    m->tables = xcalloc(p->smtpd_client_class_maps.count + 1,
                        sizeof(*m->tables));
    errors = dstr_new(128, 65536);
    for (i = 0; i < p->smtpd_client_class_maps.count; i++) {
        struct table *t = table_open(p->smtpd_client_class_maps.items[i],
                                     errors);

        if (t != NULL)
            m->tables[m->count++] = t;
    }
    if (errors->len > 0) {
        m->broken = xstrdup(errors->data);
        log_warn("smtpd_client_class_maps: %s", errors->data);
    }
    dstr_free(errors);
    m->next = cls->maps;
    cls->maps = m;
    return m;
}

/* smtpd_classify_prepare - open a personality's maps now */
void
smtpd_classify_prepare(struct smtpd_classify *cls, const struct params *p)
{
    (void) classify_maps_get(cls, p);
}

/* smtpd_classify_compile - open a personality's maps, to report errors */
int
smtpd_classify_compile(const struct params *p, struct dstr *errors)
{
    struct table *t;
    size_t  i;
    int     ret = 0;

    for (i = 0; i < p->smtpd_client_class_maps.count; i++) {
        if ((t = table_open(p->smtpd_client_class_maps.items[i], errors))
            == NULL)
            ret = -1;
        table_free(t);
    }
    return ret;
}

/* classify_known - is name a class of this configuration */
static int
classify_known(struct smtpd_classify *cls, const char *name)
{
    size_t  i;

    if (strcmp(name, PERSONALITY_DEFAULT_CLASS) == 0)
        return 1;
    for (i = 0; cls->conf != NULL && i < cls->conf->nclasses; i++)
        if (strcmp(cls->conf->classes[i], name) == 0)
            return 1;
    for (i = 0; i < cls->nwarned; i++)
        if (strcmp(cls->warned[i], name) == 0)
            return 0;
    log_warn("smtpd_client_class_maps: unknown class \"%s\" (define a"
             " parameter %s_smtpd_..., or name it in"
             " smtpd_client_reserve_classes); ignored", name, name);
    if (cls->nwarned < CLASSIFY_WARNED_MAX) {
        cls->warned = xrealloc_array(cls->warned, cls->nwarned + 1,
                                     sizeof(*cls->warned));
        cls->warned[cls->nwarned++] = xstrdup(name);
    }
    return 0;
}

/* classify_identity - the class the maps give, or NULL */
static const char *
classify_identity(struct smtpd_classify *cls, const struct params *p,
                  const char *addr_text, const char *client_name)
{
    const struct classify_maps *m = classify_maps_get(cls, p);
    static char found[CLASSIFY_VALUE_MAX];
    struct dstr *value = dstr_new(32, CLASSIFY_VALUE_MAX);
    const char *keys[2];
    const char *result = NULL;
    size_t  i, k, n = 0;

    if (client_name != NULL && strcmp(client_name, "unknown") != 0)
        keys[n++] = client_name;
    keys[n++] = addr_text;
    for (i = 0; i < m->count && result == NULL; i++) {
        for (k = 0; k < n && result == NULL; k++) {
            if (table_lookup(m->tables[i], keys[k], value) != TABLE_FOUND)
                continue;
            if (classify_known(cls, value->data)
                && str_copy(found, sizeof(found), value->data) == 0)
                result = found;
        }
    }
    dstr_free(value);
    return result;
}

/* classify_hash - the cache slot of a key */
static struct classify_entry *
classify_slot(struct smtpd_classify *cls, const char *key)
{
    unsigned long h = 2166136261UL;

    for (; *key; key++)
        h = (h ^ (unsigned char) *key) * 16777619UL;
    return &cls->cache[h % CLASSIFY_CACHE_SIZE];
}

/* classify_entry - the cached record of an address, or NULL */
static struct classify_entry *
classify_entry(struct smtpd_classify *cls, const struct params *p,
               const struct netaddr *addr, char *key, size_t size)
{
    struct classify_entry *e;

    if (client_history_key(addr, (int) p->client_history_ipv6_prefix, key,
                           size) < 0)
        return NULL;
    e = classify_slot(cls, key);
    return e->state != CLASSIFY_EMPTY && strcmp(e->key, key) == 0 ? e : NULL;
}

/* smtpd_classify_name - identity, then history, then "default" */
const char *
smtpd_classify_name(struct smtpd_classify *cls, const struct params *p,
                    const struct netaddr *addr, const char *addr_text,
                    const char *client_name)
{
    const struct classify_entry *e;
    char    key[CLIENT_HISTORY_KEY_MAX];
    const char *name;

    if ((name = classify_identity(cls, p, addr_text, client_name)) != NULL)
        return name;
    e = classify_entry(cls, p, addr, key, sizeof(key));
    if (e != NULL && e->state == CLASSIFY_FOUND
        && (name = client_history_class(&e->rec, p, client_history_now()))
        != NULL && classify_known(cls, name))
        return name;
    return PERSONALITY_DEFAULT_CLASS;
}

/* classify_got - the store answered: cache it, then tell */
static void
classify_got(void *arg, const struct client_history_rec *rec)
{
    struct smtpd_classify_req *req = arg;
    struct classify_entry *e = classify_slot(req->cls, req->key);

    (void) str_copy(e->key, sizeof(e->key), req->key);
    e->state = rec != NULL ? CLASSIFY_FOUND : CLASSIFY_ABSENT;
    if (rec != NULL)
        e->rec = *rec;
    e->fetched = clock_mono_ms();
    req->fn(req->arg);
    free(req);
}

/* smtpd_classify_refresh - ask the store, unless the cache is fresh */
struct smtpd_classify_req *
smtpd_classify_refresh(struct smtpd_classify *cls, const struct params *p,
                       const struct netaddr *addr, smtpd_classify_fn *fn,
                       void *arg)
{
    struct smtpd_classify_req *req;
    const struct classify_entry *e;
    char    key[CLIENT_HISTORY_KEY_MAX];

    if (cls->history == NULL)
        return NULL;
    e = classify_entry(cls, p, addr, key, sizeof(key));
    if (e != NULL && clock_mono_ms() - e->fetched < CLASSIFY_CACHE_FRESH_MS)
        return NULL;
    if (key[0] == '\0')
        return NULL;
    req = xcalloc(1, sizeof(*req));
    req->cls = cls;
    (void) str_copy(req->key, sizeof(req->key), key);
    req->fn = fn;
    req->arg = arg;
    req->hreq = smtpd_history_lookup(cls->history, addr, classify_got, req);
    if (req->hreq == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

/* smtpd_classify_cancel - the asker is gone */
void
smtpd_classify_cancel(struct smtpd_classify_req *req)
{
    if (req == NULL)
        return;
    smtpd_history_cancel(req->hreq);
    free(req);
}

/* smtpd_classify_event - remember what a client did, here and in the store */
void
smtpd_classify_event(struct smtpd_classify *cls, const struct params *p,
                     const struct netaddr *addr,
                     enum client_history_event event)
{
    struct classify_entry *e;
    char    key[CLIENT_HISTORY_KEY_MAX];
    long long now = client_history_now();

    if (cls == NULL || cls->history == NULL)
        return;
    smtpd_history_event(cls->history, addr, event);
    if ((e = classify_entry(cls, p, addr, key, sizeof(key))) == NULL)
        return;
    if (e->state == CLASSIFY_ABSENT) {
        memset(&e->rec, 0, sizeof(e->rec));
        e->rec.first_seen = now;
        e->state = CLASSIFY_FOUND;
    }
    client_history_apply(&e->rec, event, now, p->client_suspect_window);
}
