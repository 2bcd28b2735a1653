/* table_lmdb - lmdb: tables: atomic build from text, read-only lookups. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "tables/table.h"
#include "tables/table_file.h"
#include "tables/table_lmdb.h"

#define TABLE_LMDB_ENTRIES_MAX 100000000        /* lines in one source */

struct table_lmdb {
    char   *source;                    /* as named in lmdb:SOURCE */
    char   *path;                      /* SOURCE.lmdb */
    MDB_env *env;
    MDB_dbi dbi;
    dev_t   dev;                       /* of the file env has open */
    ino_t   ino;
    long long recheck_ms;              /* interval between stat() calls */
    long long checked_ms;              /* monotonic time of the last one */
    int     warned;                    /* a failed reopen was logged */
    int     replaced;                  /* told table_lmdb_replaced */
};

/* who is told of a replacement that cannot be reopened by name */
static void (*table_lmdb_replaced) (const char *source);

/* one source line, while building */
struct table_lmdb_entry {
    char   *key;                       /* folded */
    char   *value;
    int     line;
};

struct table_lmdb_source {
    struct table_lmdb_entry *entries;
    size_t  count;
    size_t  alloc;
    size_t  bytes;                     /* keys and values */
};

/* table_lmdb_db_path - SOURCE.lmdb, or NULL if the name is too long */
static char *
table_lmdb_db_path(const char *source)
{
    struct dstr *d = dstr_new(64, PATH_MAX);

    if (dstr_append_str(d, source) < 0
        || dstr_append_str(d, TABLE_LMDB_SUFFIX) < 0) {
        dstr_free(d);
        return NULL;
    }
    return dstr_steal(d);
}

/* table_lmdb_source_line - "key value" into the entry list */
static void
table_lmdb_source_line(struct table_file *f, int line, char *text)
{
    struct table_lmdb_source *src = f->context;
    struct table_lmdb_entry *e;
    char   *rest = text, *key, *p;

    key = table_file_word(&rest);
    if (*rest == '\0') {
        table_file_error(f, line, "\"%.60s\" has no value (use \"key value\")",
                         key);
        return;
    }
    if (strlen(key) > TABLE_LMDB_KEY_MAX) {
        table_file_error(f, line, "key is longer than %d bytes",
                         TABLE_LMDB_KEY_MAX);
        return;
    }
    if (src->count >= TABLE_LMDB_ENTRIES_MAX) {
        table_file_error(f, line, "more than %d entries in one table",
                         TABLE_LMDB_ENTRIES_MAX);
        return;
    }
    for (p = key; *p; p++)
        *p = (char) tolower((unsigned char) *p);
    if (src->count == src->alloc) {
        src->alloc = src->alloc ? src->alloc * 2 : 64;
        src->entries = xrealloc_array(src->entries, src->alloc,
                                      sizeof(*src->entries));
    }
    e = src->entries + src->count++;
    e->key = xstrdup(key);
    e->value = xstrdup(rest);
    e->line = line;
    src->bytes += strlen(key) + strlen(rest);
}

/* table_lmdb_source_free - release the entries */
static void
table_lmdb_source_free(struct table_lmdb_source *src)
{
    size_t  i;

    for (i = 0; i < src->count; i++) {
        free(src->entries[i].key);
        free(src->entries[i].value);
    }
    free(src->entries);
}

/*
 * table_lmdb_fill - one write transaction with every entry. MDB_MAP_FULL
 * is returned to the caller, which grows the map and tries again.
 */
static int
table_lmdb_fill(MDB_env *env, const char *file,
                const struct table_lmdb_source *src, size_t *stored)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    size_t  i;
    int     rc;

    *stored = 0;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    for (i = 0; i < src->count; i++) {
        k.mv_data = src->entries[i].key;
        k.mv_size = strlen(src->entries[i].key);
        v.mv_data = src->entries[i].value;
        v.mv_size = strlen(src->entries[i].value);
        rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            log_warn("%s:%d: duplicate key \"%.100s\": the first value is"
                     " kept", file, src->entries[i].line, src->entries[i].key);
            continue;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        ++*stored;
    }
    return mdb_txn_commit(txn);
}

/* table_lmdb_sync_path - fsync a file or directory by name */
static int
table_lmdb_sync_path(const char *path, int flags)
{
    int     fd, ret;

    if ((fd = open(path, flags | O_CLOEXEC)) < 0)
        return -1;
    ret = fsync(fd);
    close(fd);
    return ret;
}

/* table_lmdb_dir - the directory that holds path, as a new string */
static char *
table_lmdb_dir(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t) (slash - path));
}

/*
 * table_lmdb_write - the entries into a new database at tmp. The map
 * starts at twice the data plus slack and doubles on MDB_MAP_FULL; the
 * file is written only as far as it is used.
 */
static int
table_lmdb_write(const char *source, const char *tmp,
                 const struct table_lmdb_source *src, size_t *stored,
                 struct dstr *errors)
{
    MDB_env *env;
    size_t  mapsize = 2 * src->bytes + 64 * src->count + (1 << 20);
    int     rc;

    if ((rc = mdb_env_create(&env)) != 0) {
        (void) dstr_appendf(errors, "%s: lmdb: %s\n", tmp, mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_env_set_mapsize(env, mapsize)) == 0)
        rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK, 0644);
    while (rc == 0 && (rc = table_lmdb_fill(env, source, src, stored))
           == MDB_MAP_FULL) {
        if (mapsize >= TABLE_LMDB_MAP_MAX / 2)
            break;
        mapsize *= 2;
        rc = mdb_env_set_mapsize(env, mapsize);
    }
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    mdb_env_close(env);
    if (rc != 0) {
        (void) dstr_appendf(errors, "%s: cannot write: %s\n", tmp,
                            mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * table_lmdb_build - SOURCE to SOURCE.lmdb, all or nothing. The temp
 * name carries the pid so that two builders never write one file; the
 * later rename() wins, and each installs a complete database.
 */
int
table_lmdb_build(const char *source, size_t *count, struct dstr *errors)
{
    struct table_lmdb_source src;
    struct table_file f;
    struct dstr *tmp;
    char   *path, *dir;
    size_t  stored = 0;
    int     ret = -1;

    memset(&src, 0, sizeof(src));
    if ((path = table_lmdb_db_path(source)) == NULL) {
        (void) dstr_appendf(errors, "%s: file name is too long\n", source);
        return -1;
    }
    table_file_init(&f, source, errors, &src);
    (void) table_file_parse(&f, source, table_lmdb_source_line);
    if (table_file_finish(&f) < 0) {
        table_lmdb_source_free(&src);
        free(path);
        return -1;
    }
    tmp = dstr_new(64, PATH_MAX);
    if (dstr_appendf(tmp, "%s.tmp.%ld", path, (long) getpid()) < 0) {
        (void) dstr_appendf(errors, "%s: file name is too long\n", source);
        goto done;
    }
    if (unlink(tmp->data) < 0 && errno != ENOENT) {
        (void) dstr_appendf(errors, "%s: cannot remove: %m\n", tmp->data);
        goto done;
    }
    if (table_lmdb_write(source, tmp->data, &src, &stored, errors) < 0)
        goto unlink;
    if (table_lmdb_sync_path(tmp->data, O_RDONLY) < 0) {
        (void) dstr_appendf(errors, "%s: fsync: %m\n", tmp->data);
        goto unlink;
    }
    if (rename(tmp->data, path) < 0) {
        (void) dstr_appendf(errors, "%s: cannot rename to %s: %m\n",
                            tmp->data, path);
        goto unlink;
    }
    dir = table_lmdb_dir(path);
    if (table_lmdb_sync_path(dir, O_RDONLY | O_DIRECTORY) < 0)
        log_warn("%s: fsync of the directory: %m", dir);
    free(dir);
    if (count != NULL)
        *count = stored;
    ret = 0;
    goto done;
unlink:
    (void) unlink(tmp->data);
done:
    dstr_free(tmp);
    table_lmdb_source_free(&src);
    free(path);
    return ret;
}

/* table_lmdb_env - open path read-only; its file identity in *st */
static MDB_env *
table_lmdb_env(const char *path, MDB_dbi *dbi, struct stat *st,
               struct dstr *why)
{
    MDB_env *env;
    MDB_txn *txn;
    int     rc, fd;

    if ((rc = mdb_env_create(&env)) != 0) {
        (void) dstr_appendf(why, "%s: lmdb: %s", path, mdb_strerror(rc));
        return NULL;
    }
    rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK
                      | MDB_NOTLS, 0);
    if (rc == 0 && (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, dbi);
        mdb_txn_abort(txn);
    }
    if (rc == 0 && (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, st) < 0))
        rc = errno ? errno : EIO;
    if (rc != 0) {
        if (rc == ENOENT)
            (void) dstr_appendf(why, "%s: no such file (build it with"
                                " \"doppel map build\")", path);
        else if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
                 || rc == MDB_CORRUPTED)
            (void) dstr_appendf(why, "%s: not a usable LMDB database: %s"
                                " (rebuild it with \"doppel map build\")",
                                path, mdb_strerror(rc));
        else
            (void) dstr_appendf(why, "%s: cannot open: %s", path,
                                mdb_strerror(rc));
        mdb_env_close(env);
        return NULL;
    }
    return env;
}

/* table_lmdb_open - open SOURCE.lmdb read-only */
struct table_lmdb *
table_lmdb_open(const char *source, struct dstr *errors)
{
    struct table_lmdb *t;
    struct stat st, sst;
    struct dstr *why;
    char   *path;

    if ((path = table_lmdb_db_path(source)) == NULL) {
        (void) dstr_appendf(errors, "lmdb:%s: file name is too long\n", source);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->source = xstrdup(source);
    t->path = path;
    t->recheck_ms = TABLE_LMDB_RECHECK_MS;
    why = dstr_new(128, 4096);
    if ((t->env = table_lmdb_env(path, &t->dbi, &st, why)) == NULL) {
        (void) dstr_appendf(errors, "%s\n", why->data);
        dstr_free(why);
        return table_lmdb_free(t);
    }
    dstr_free(why);
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->checked_ms = clock_mono_ms();
    if (stat(source, &sst) == 0 && sst.st_mtime > st.st_mtime)
        log_warn("lmdb table %s: the source is newer than %s (run \"doppel map"
                 " build %s\")", source, path, source);
    return t;
}

/*
 * table_lmdb_recheck - reopen the database if the builder replaced it.
 * The old environment stays in use until the new one opened, so a
 * broken or missing new file costs a logged warning, never an answer.
 */
static void
table_lmdb_recheck(struct table_lmdb *t)
{
    struct stat st;
    struct dstr *why;
    MDB_env *env;
    MDB_dbi dbi;
    mdb_filehandle_t fd;
    long long now = clock_mono_ms();

    if (t->recheck_ms > 0 && now - t->checked_ms < t->recheck_ms)
        return;
    t->checked_ms = now;
    if (stat(t->path, &st) < 0) {
        /* out of sight (a chroot): a renamed-over file has no links */
        if (!t->replaced && table_lmdb_replaced != NULL
            && mdb_env_get_fd(t->env, &fd) == 0 && fstat(fd, &st) == 0
            && st.st_nlink == 0) {
            t->replaced = 1;
            table_lmdb_replaced(t->source);
        }
        return;
    }
    if (st.st_dev == t->dev && st.st_ino == t->ino)
        return;
    why = dstr_new(128, 4096);
    if ((env = table_lmdb_env(t->path, &dbi, &st, why)) == NULL) {
        if (!t->warned)
            log_warn("lmdb table %s: keeping the old database: %s", t->source,
                     why->data);
        t->warned = 1;
        dstr_free(why);
        return;
    }
    dstr_free(why);
    mdb_env_close(t->env);
    t->env = env;
    t->dbi = dbi;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->warned = 0;
    log_info("lmdb table %s: reopened %s", t->source, t->path);
}

/* table_lmdb_on_replaced - fn learns of replacements it must act on */
void
table_lmdb_on_replaced(void (*fn) (const char *source))
{
    table_lmdb_replaced = fn;
}

/* table_lmdb_lookup - one key, copied out of the map */
enum table_status
table_lmdb_lookup(struct table_lmdb *t, const char *key, struct dstr *value)
{
    MDB_txn *txn;
    MDB_val k, v;
    int     rc;

    table_lmdb_recheck(t);
    k.mv_data = (void *) key;
    k.mv_size = strlen(key);
    if (k.mv_size == 0 || k.mv_size > TABLE_LMDB_KEY_MAX)
        return TABLE_NOTFOUND;
    if ((rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn)) != 0) {
        log_error("lmdb table %s: read transaction: %s", t->path,
                  mdb_strerror(rc));
        return TABLE_ERROR;
    }
    rc = mdb_get(txn, t->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return TABLE_NOTFOUND;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        log_error("lmdb table %s: lookup of \"%.100s\": %s", t->path, key,
                  mdb_strerror(rc));
        return TABLE_ERROR;
    }
    if (memchr(v.mv_data, '\0', v.mv_size) != NULL
        || dstr_set(value, v.mv_data, v.mv_size) < 0) {
        mdb_txn_abort(txn);
        log_error("lmdb table %s: value of \"%.100s\" is %s", t->path, key,
                  v.mv_size > value->limit ? "too long" : "not text");
        return TABLE_ERROR;
    }
    mdb_txn_abort(txn);
    return TABLE_FOUND;
}

/* table_lmdb_set_recheck - how often lookups look for a new database */
void
table_lmdb_set_recheck(struct table_lmdb *t, long long ms)
{
    t->recheck_ms = ms;
}

/* table_lmdb_free - close the database */
struct table_lmdb *
table_lmdb_free(struct table_lmdb *t)
{
    if (t == NULL)
        return NULL;
    if (t->env != NULL)
        mdb_env_close(t->env);
    free(t->source);
    free(t->path);
    free(t);
    return NULL;
}

/* table_lmdb_open_fn - registry adapter */
static void *
table_lmdb_open_fn(const char *name, struct dstr *errors)
{
    return table_lmdb_open(name, errors);
}

/* table_lmdb_lookup_fn - registry adapter */
static enum table_status
table_lmdb_lookup_fn(void *handle, const char *key, struct dstr *value)
{
    return table_lmdb_lookup(handle, key, value);
}

/* table_lmdb_close_fn - registry adapter */
static void
table_lmdb_close_fn(void *handle)
{
    (void) table_lmdb_free(handle);
}

const struct table_type table_lmdb_type = {
    "lmdb", TABLE_TYPE_F_FOLD, table_lmdb_open_fn, table_lmdb_lookup_fn,
    table_lmdb_close_fn,
};
