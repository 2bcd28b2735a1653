/* cli_queue - doppel queue: list, show, delete, hold, release, flush. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/conf.h"
#include "global/queue_dirs.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "cli/cli.h"
#include "cli/cli_queue.h"

/*
 * XXX the relay keeps deferral reasons in QDIR/defer/ID (relay_queue.h,
 * RELAY_QUEUE_DEFER); programs do not include each other, so the name is
 * repeated here.
 */
#define CQ_DEFER_DIR "defer"
#define CQ_PATH_MAX 4096
#define CQ_LIST_MAX 100000             /* messages listed or changed at once */
#define CQ_REASON_MAX 65536

/* The directories a message can be in, in the order list shows them. */
static const char *const cq_dirs[] = {
    QUEUE_DIRS_ACTIVE, QUEUE_DIRS_INCOMING, QUEUE_DIRS_DEFERRED,
    QUEUE_DIRS_HOLD, NULL,
};

/* cq_usage - how to call us */
static int
cq_usage(FILE *fp, int status)
{
    fprintf(fp, "usage: doppel queue [-c DIR] list\n"
            "       doppel queue [-c DIR] show ID\n"
            "       doppel queue [-c DIR] delete|hold|release ID...|ALL\n"
            "       doppel queue [-c DIR] flush\n");
    return status;
}

/* cq_path - QDIR/SUB/ID */
static struct dstr *
cq_path(const char *qdir, const char *sub, const char *id)
{
    struct dstr *d = dstr_new(128, CQ_PATH_MAX);

    (void) dstr_appendf(d, "%s/%s/%s", qdir, sub, id);
    return d;
}

/* cli_queue_find - the directory holding ID, or NULL */
const char *
cli_queue_find(const char *qdir, const char *id)
{
    struct dstr *p;
    struct stat st;
    size_t  i;
    int     found;

    if (!queue_id_valid(id))
        return NULL;
    for (i = 0; cq_dirs[i] != NULL; i++) {
        p = cq_path(qdir, cq_dirs[i], id);
        found = lstat(p->data, &st) == 0 && S_ISREG(st.st_mode);
        dstr_free(p);
        if (found)
            return cq_dirs[i];
    }
    return NULL;
}

/* cq_ids - the IDs in one directory, sorted; returns how many */
static size_t
cq_ids(const char *qdir, const char *sub, char ***out)
{
    struct dstr *p = dstr_new(128, CQ_PATH_MAX);
    char  **ids = NULL;
    size_t  n = 0;
    DIR    *dir;
    struct dirent *de;

    (void) dstr_appendf(p, "%s/%s", qdir, sub);
    if ((dir = opendir(p->data)) != NULL) {
        while (n < CQ_LIST_MAX && (de = readdir(dir)) != NULL) {
            if (!queue_id_valid(de->d_name))
                continue;
            ids = xrealloc_array(ids, n + 1, sizeof(char *));
            ids[n++] = xstrdup(de->d_name);
        }
        closedir(dir);
    } else if (errno != ENOENT) {
        fprintf(stderr, "doppel queue: %s: %s\n", p->data, strerror(errno));
    }
    dstr_free(p);
    if (n > 1)
        qsort(ids, n, sizeof(char *), (int (*)(const void *, const void *))
              strcmp);
    *out = ids;
    return n;
}

/* cq_free_ids - release what cq_ids() made */
static void
cq_free_ids(char **ids, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* cq_reasons - the relay's deferral reasons of ID, or NULL */
static char *
cq_reasons(const char *qdir, const char *id)
{
    struct dstr *p = cq_path(qdir, CQ_DEFER_DIR, id);
    char   *buf = NULL;
    ssize_t n;
    int     fd;

    if ((fd = open(p->data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
        buf = xmalloc(CQ_REASON_MAX + 1);
        n = read(fd, buf, CQ_REASON_MAX);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    dstr_free(p);
    return buf;
}

/* cq_reason_of - the reason for one recipient in the reasons text */
static int
cq_reason_of(const char *reasons, const char *rcpt, char *out, size_t size)
{
    const char *line = reasons, *nl, *tab1, *tab2;
    size_t  rlen = strlen(rcpt), len;

    while (line != NULL && *line) {
        nl = strchr(line, '\n');
        tab1 = strchr(line, '\t');
        if (tab1 != NULL && (nl == NULL || tab1 < nl)
            && (size_t) (tab1 - line) == rlen
            && strncmp(line, rcpt, rlen) == 0
            && (tab2 = strchr(tab1 + 1, '\t')) != NULL
            && (nl == NULL || tab2 < nl)) {
            len = nl ? (size_t) (nl - tab2 - 1) : strlen(tab2 + 1);
            if (len >= size)
                len = size - 1;
            memcpy(out, tab2 + 1, len);
            out[len] = '\0';
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* cq_print_safe - a string from the queue, control bytes shown as "?" */
static void
cq_print_safe(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char) *s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* cq_list - mailq */
static int
cq_list(const char *qdir)
{
    struct dstr *p, *why = dstr_new(256, 4096);
    struct queue_file_reader *r;
    const struct queue_file_env *env;
    char  **ids, date[64], reason[1024];
    char   *reasons;
    size_t  d, i, j, n, count = 0;
    long long bytes = 0;
    time_t  t;
    struct tm tm;

    for (d = 0; cq_dirs[d] != NULL; d++) {
        n = cq_ids(qdir, cq_dirs[d], &ids);
        for (i = 0; i < n; i++) {
            p = cq_path(qdir, cq_dirs[d], ids[i]);
            dstr_truncate(why, 0);
            r = queue_file_read_open(p->data, why);
            dstr_free(p);
            if (r == NULL)
                continue;              /* moved on meanwhile, or corrupt */
            env = queue_file_read_env(r);
            if (count++ == 0)
                printf("-Queue ID-             --Size-- ----Arrival Time----"
                       " -Sender/Recipient-------\n");
            t = (time_t) (env->arrival_us / 1000000);
            (void) localtime_r(&t, &tm);
            if (strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm) == 0)
                date[0] = '\0';
            printf("%s%c %8lld %-20s ", ids[i],
                   strcmp(cq_dirs[d], QUEUE_DIRS_ACTIVE) == 0 ? '*'
                   : strcmp(cq_dirs[d], QUEUE_DIRS_HOLD) == 0 ? '!' : ' ',
                   env->size, date);
            cq_print_safe(env->sender[0] ? env->sender : "MAILER-DAEMON");
            putchar('\n');
            reasons = strcmp(cq_dirs[d], QUEUE_DIRS_DEFERRED) == 0
                ? cq_reasons(qdir, ids[i]) : NULL;
            for (j = 0; j < env->rcpt_count; j++) {
                if (reasons != NULL
                    && cq_reason_of(reasons, env->rcpt[j].address, reason,
                                    sizeof(reason)) == 0) {
                    printf("%53s(", "");
                    cq_print_safe(reason);
                    printf(")\n");
                }
                printf("%53s", "");
                cq_print_safe(env->rcpt[j].address);
                putchar('\n');
            }
            putchar('\n');
            bytes += env->size;
            free(reasons);
            (void) queue_file_read_close(r);
        }
        cq_free_ids(ids, n);
    }
    dstr_free(why);
    if (count == 0)
        printf("Mail queue is empty\n");
    else
        printf("-- %lld Kbytes in %zu Request%s.\n", (bytes + 1023) / 1024,
               count, count == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* cq_bad_id - the complaint about something that is not a queue ID */
static int
cq_bad_id(const char *id)
{
    fprintf(stderr, "doppel queue: \"");
    for (; *id; id++)
        fputc((unsigned char) *id < 0x20 ? '?' : *id, stderr);
    fprintf(stderr, "\" is not a queue ID (20 characters of"
            " 0-9 and A-Z, as \"doppel queue list\" shows them)\n");
    return CLI_EXIT_USAGE;
}

/* cq_show - one message: state, envelope, content */
static int
cq_show(const char *qdir, const char *id)
{
    const char *sub;
    struct dstr *p, *why = dstr_new(256, 4096);
    struct queue_file_reader *r;
    const struct queue_file_env *env;
    char    buf[65536];
    char   *reasons;
    ssize_t n;
    size_t  i;

    if (!queue_id_valid(id)) {
        dstr_free(why);
        return cq_bad_id(id);
    }
    if ((sub = cli_queue_find(qdir, id)) == NULL) {
        fprintf(stderr, "doppel queue: %s: no such message in the queue\n",
                id);
        dstr_free(why);
        return CLI_EXIT_FAIL;
    }
    p = cq_path(qdir, sub, id);
    r = queue_file_read_open(p->data, why);
    dstr_free(p);
    if (r == NULL) {
        fprintf(stderr, "doppel queue: %s: %s\n", id, why->data);
        dstr_free(why);
        return CLI_EXIT_FAIL;
    }
    env = queue_file_read_env(r);
    printf("*** ENVELOPE RECORDS %s/%s ***\n", sub, id);
    printf("message_size: %lld\narrival_time: %.6f\nsender: ", env->size,
           (double) env->arrival_us / 1e6);
    cq_print_safe(env->sender);
    putchar('\n');
    for (i = 0; i < env->rcpt_count; i++) {
        printf("recipient: ");
        cq_print_safe(env->rcpt[i].address);
        putchar('\n');
        if (env->rcpt[i].orcpt != NULL) {
            printf("original_recipient: ");
            cq_print_safe(env->rcpt[i].orcpt);
            putchar('\n');
        }
    }
    if (env->client_addr != NULL) {
        printf("client_address: ");
        cq_print_safe(env->client_addr);
        putchar('\n');
    }
    if (env->client_helo != NULL) {
        printf("helo_name: ");
        cq_print_safe(env->client_helo);
        putchar('\n');
    }
    if ((reasons = cq_reasons(qdir, id)) != NULL) {
        printf("*** DEFERRAL REASONS ***\n%s", reasons);
        free(reasons);
    }
    printf("*** MESSAGE CONTENTS %s/%s ***\n", sub, id);
    fflush(stdout);
    while ((n = queue_file_read_content(r, buf, sizeof(buf), why)) > 0)
        if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
            break;
    printf("\n*** END OF MESSAGE %s/%s ***\n", sub, id);
    (void) queue_file_read_close(r);
    dstr_free(why);
    return n < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* cq_remove_reasons - forget the relay's notes on ID */
static void
cq_remove_reasons(const char *qdir, const char *id)
{
    struct dstr *p = cq_path(qdir, CQ_DEFER_DIR, id);

    (void) unlink(p->data);
    dstr_free(p);
}

enum cq_op {
    CQ_DELETE,
    CQ_HOLD,
    CQ_RELEASE,
};

/* cq_one - apply op to one message; 0 done, -1 not (said why) */
static int
cq_one(const char *qdir, const char *id, enum cq_op op)
{
    static const char *const verbs[] = {"deleted", "placed on hold",
        "released from hold"};
    const char *sub = cli_queue_find(qdir, id);
    struct dstr *from, *to;
    int     rc;

    if (sub == NULL) {
        fprintf(stderr, "doppel queue: %s: no such message in the queue\n",
                id);
        return -1;
    }
    if (strcmp(sub, QUEUE_DIRS_ACTIVE) == 0) {
        fprintf(stderr, "doppel queue: %s: being delivered now; try again"
                " when the attempt is over\n", id);
        return -1;
    }
    if ((op == CQ_HOLD && strcmp(sub, QUEUE_DIRS_HOLD) == 0)
        || (op == CQ_RELEASE && strcmp(sub, QUEUE_DIRS_HOLD) != 0)) {
        fprintf(stderr, "doppel queue: %s: %s\n", id, op == CQ_HOLD
                ? "already on hold" : "not on hold");
        return -1;
    }
    from = cq_path(qdir, sub, id);
    if (op == CQ_DELETE) {
        rc = unlink(from->data);
    } else {
        to = cq_path(qdir, op == CQ_HOLD ? QUEUE_DIRS_HOLD
                     : QUEUE_DIRS_INCOMING, id);
        rc = renameat2(AT_FDCWD, from->data, AT_FDCWD, to->data,
                       RENAME_NOREPLACE);
        dstr_free(to);
    }
    dstr_free(from);
    if (rc < 0) {
        fprintf(stderr, "doppel queue: %s: %s\n", id, errno == ENOENT
                ? "no longer there (the relay took it)" : strerror(errno));
        return -1;
    }
    if (op == CQ_DELETE)
        cq_remove_reasons(qdir, id);
    printf("%s: %s\n", id, verbs[op]);
    return 0;
}

/* cq_many - an op on IDs, or on ALL messages it applies to */
static int
cq_many(const char *qdir, int argc, char **argv, enum cq_op op)
{
    char  **ids;
    size_t  n, i, d, done = 0;
    int     k, failed = 0;

    if (argc < 1)
        return cq_usage(stderr, CLI_EXIT_USAGE);
    if (argc == 1 && strcmp(argv[0], "ALL") == 0) {
        for (d = 0; cq_dirs[d] != NULL; d++) {
            if (strcmp(cq_dirs[d], QUEUE_DIRS_ACTIVE) == 0
                || (op == CQ_RELEASE) != (strcmp(cq_dirs[d], QUEUE_DIRS_HOLD)
                                          == 0)
                || (op == CQ_HOLD && strcmp(cq_dirs[d], QUEUE_DIRS_HOLD) == 0))
                continue;
            n = cq_ids(qdir, cq_dirs[d], &ids);
            for (i = 0; i < n; i++)
                if (cq_one(qdir, ids[i], op) == 0)
                    done++;
            cq_free_ids(ids, n);
        }
        printf("%zu message%s %s\n", done, done == 1 ? "" : "s",
               op == CQ_DELETE ? "deleted" : op == CQ_HOLD ? "placed on hold"
               : "released");
        return CLI_EXIT_OK;
    }
    for (k = 0; k < argc; k++)
        if (!queue_id_valid(argv[k]))
            return cq_bad_id(argv[k]);
    for (k = 0; k < argc; k++)
        if (cq_one(qdir, argv[k], op) < 0)
            failed = 1;
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* cq_poke - wake the relay through the socket of a relay service */
static int
cq_poke(const struct conf *conf)
{
    struct sockaddr_un sun;
    size_t  i;
    int     fd, ok = 0;

    for (i = 0; conf->services != NULL && i < conf->services->count; i++) {
        const struct service_def *s = &conf->services->items[i];

        if (s->type != SERVICE_UNIX || strcmp(s->program, "relay") != 0)
            continue;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (str_copy(sun.sun_path, sizeof(sun.sun_path), s->path) < 0)
            continue;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0)
            ok = 1;
        if (fd >= 0)
            close(fd);
    }
    return ok;
}

/* cq_flush - every deferred message is due now */
static int
cq_flush(const struct conf *conf, const char *qdir)
{
    struct timeval tv[2];
    struct dstr *p;
    char  **ids;
    size_t  n, i, done = 0;

    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= 1;
    tv[1] = tv[0];
    n = cq_ids(qdir, QUEUE_DIRS_DEFERRED, &ids);
    for (i = 0; i < n; i++) {
        p = cq_path(qdir, QUEUE_DIRS_DEFERRED, ids[i]);
        if (utimes(p->data, tv) == 0)
            done++;
        dstr_free(p);
    }
    cq_free_ids(ids, n);
    printf("%zu deferred message%s due now%s\n", done, done == 1 ? "" : "s",
           cq_poke(conf) ? "; relay woken" : "");
    return CLI_EXIT_OK;
}

/* cli_queue_main - doppel queue SUBCOMMAND ARGS */
int
cli_queue_main(int argc, char **argv)
{
    struct conf *conf;
    const char *qdir;
    int     ch, rc;

    if ((ch = cli_options(argc, argv, cq_usage)) != CLI_CONTINUE)
        return ch;
    argc -= optind;
    argv += optind;
    if ((conf = cli_load_conf()) == NULL)
        return CLI_EXIT_FAIL;
    qdir = conf_params(conf, CONF_NO_SERVICE, NULL, 0)->queue_directory;
    if (argc == 0 || strcmp(argv[0], "list") == 0) {
        rc = argc > 1 ? cq_usage(stderr, CLI_EXIT_USAGE) : cq_list(qdir);
    } else if (strcmp(argv[0], "show") == 0) {
        rc = argc != 2 ? cq_usage(stderr, CLI_EXIT_USAGE) : cq_show(qdir,
                                                                    argv[1]);
    } else if (strcmp(argv[0], "delete") == 0) {
        rc = cq_many(qdir, argc - 1, argv + 1, CQ_DELETE);
    } else if (strcmp(argv[0], "hold") == 0) {
        rc = cq_many(qdir, argc - 1, argv + 1, CQ_HOLD);
    } else if (strcmp(argv[0], "release") == 0) {
        rc = cq_many(qdir, argc - 1, argv + 1, CQ_RELEASE);
    } else if (strcmp(argv[0], "flush") == 0) {
        rc = argc != 1 ? cq_usage(stderr, CLI_EXIT_USAGE) : cq_flush(conf,
                                                                     qdir);
    } else {
        fprintf(stderr, "doppel queue: unknown subcommand \"%s\"\n", argv[0]);
        rc = cq_usage(stderr, CLI_EXIT_USAGE);
    }
    conf_free(conf);
    return rc;
}
