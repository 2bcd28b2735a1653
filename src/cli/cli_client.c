/* cli_client - doppel client: show, list, forget and record client history. */

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/client_history.h"
#include "cli/cli.h"
#include "cli/cli_client.h"

#define CC_TIME_MAX 32                  /* "2026-01-02T03:04:05Z" */

/* cc_usage - how to call us */
static int
cc_usage(FILE *fp, int status)
{
    fprintf(fp, "usage: doppel client [-c DIR] show ADDR...\n"
            "       doppel client [-c DIR] list\n"
            "       doppel client [-c DIR] forget ADDR...\n"
            "       doppel client [-c DIR] record ADDR EVENT...\n"
            "  EVENT: connect message reject error timeout early_talk\n");
    return status;
}

/* cc_time - ms since the epoch as UTC ISO 8601, "-" for never */
static const char *
cc_time(long long ms, char *buf, size_t size)
{
    time_t  t = (time_t) (ms / 1000);
    struct tm tm;

    if (ms <= 0 || gmtime_r(&t, &tm) == NULL
        || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "-";
    return buf;
}

/* cc_print - one client on one line */
static void
cc_print(const char *key, const struct client_history_rec *rec,
         const struct params *p, long long now)
{
    const char *cls = client_history_class(rec, p, now);
    char    first[CC_TIME_MAX], last[CC_TIME_MAX], abuse[CC_TIME_MAX];

    printf("%s class=%s first=%s last=%s connections=%lld messages=%lld"
           " rejects=%lld errors=%lld timeouts=%lld early_talks=%lld"
           " abuse_recent=%lld last_abuse=%s\n", key, cls ? cls : "-",
           cc_time(rec->first_seen, first, sizeof(first)),
           cc_time(rec->last_seen, last, sizeof(last)), rec->connections,
           rec->messages, rec->rejects, rec->errors, rec->timeouts,
           rec->early_talks, rec->abuse_recent,
           cc_time(rec->last_abuse, abuse, sizeof(abuse)));
}

/* cc_key - the key of ADDR, or a message and -1 */
static int
cc_key(const struct params *p, const char *addr, char *key, size_t size)
{
    if (client_history_key_text(addr, (int) p->client_history_ipv6_prefix, key,
                                size) == 0)
        return 0;
    fprintf(stderr, "doppel client: \"%s\": not an address%s\n", addr,
            strchr(addr, '/') != NULL ? " or an IPv6 key of this"
            " client_history_ipv6_prefix" : "");
    return -1;
}

/* cc_open - the configured store */
static struct client_history *
cc_open(const struct params *p, int flags)
{
    struct dstr *why = dstr_new(128, 4096);
    struct client_history *h = client_history_open(p, flags, why);

    if (h == NULL)
        fprintf(stderr, "doppel client: %s\n", why->data);
    dstr_free(why);
    return h;
}

/* cc_each - show, or forget, each ADDR's history */
static int
cc_each(const struct params *p, int argc, char **argv, int forget)
{
    struct client_history_rec rec;
    struct client_history *h;
    enum client_history_result r;
    char    key[CLIENT_HISTORY_KEY_MAX];
    long long now = client_history_now();
    int     i, status = CLI_EXIT_OK;

    for (i = 0; i < argc; i++)
        if (cc_key(p, argv[i], key, sizeof(key)) < 0)
            return CLI_EXIT_USAGE;
    if ((h = cc_open(p, forget ? 0 : CLIENT_HISTORY_RDONLY)) == NULL)
        return CLI_EXIT_FAIL;
    for (i = 0; i < argc; i++) {
        (void) cc_key(p, argv[i], key, sizeof(key));
        r = forget ? client_history_forget(h, key)
            : client_history_get(h, key, now, &rec);
        if (r == CLIENT_HISTORY_FOUND) {
            if (forget)
                printf("%s: forgotten\n", key);
            else
                cc_print(key, &rec, p, now);
            continue;
        }
        fprintf(stderr, "doppel client: %s: %s\n", key,
                r == CLIENT_HISTORY_NOTFOUND ? "no history"
                : forget ? "forget failed" : "lookup failed");
        status = CLI_EXIT_FAIL;
    }
    client_history_close(h);
    return status;
}

struct cc_list {
    const struct params *p;
    long long now;
};

/* cc_list_one - the list callback */
static int
cc_list_one(void *arg, const char *key, const struct client_history_rec *rec)
{
    struct cc_list *l = arg;

    cc_print(key, rec, l->p, l->now);
    return 0;
}

/* cc_list - every client */
static int
cc_list(const struct params *p)
{
    struct client_history *h;
    struct cc_list l;
    int     rc;

    if ((h = cc_open(p, CLIENT_HISTORY_RDONLY)) == NULL)
        return CLI_EXIT_FAIL;
    l.p = p;
    l.now = client_history_now();
    rc = client_history_list(h, l.now, cc_list_one, &l);
    client_history_close(h);
    if (rc < 0) {
        fprintf(stderr, "doppel client: list failed\n");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* cc_record - add events to ADDR's history, then show it */
static int
cc_record(const struct params *p, int argc, char **argv)
{
    struct client_history_update u[CLIENT_HISTORY_EVENTS * 16];
    struct client_history_rec rec;
    struct client_history *h;
    char    key[CLIENT_HISTORY_KEY_MAX];
    long long now = client_history_now();
    size_t  n;
    int     i, status = CLI_EXIT_OK;

    if (argc < 2 || (size_t) (argc - 1) > sizeof(u) / sizeof(u[0]))
        return cc_usage(stderr, CLI_EXIT_USAGE);
    if (cc_key(p, argv[0], key, sizeof(key)) < 0)
        return CLI_EXIT_USAGE;
    for (i = 1, n = 0; i < argc; i++, n++) {
        if (client_history_event_parse(argv[i], &u[n].event) < 0) {
            fprintf(stderr, "doppel client: \"%s\": not an event\n", argv[i]);
            return cc_usage(stderr, CLI_EXIT_USAGE);
        }
        memcpy(u[n].key, key, sizeof(key));
        u[n].when = now;
    }
    if ((h = cc_open(p, 0)) == NULL)
        return CLI_EXIT_FAIL;
    if (client_history_update(h, u, n) < 0) {
        fprintf(stderr, "doppel client: %s: record failed\n", key);
        status = CLI_EXIT_FAIL;
    } else if (client_history_get(h, key, now, &rec) == CLIENT_HISTORY_FOUND) {
        cc_print(key, &rec, p, now);
    }
    client_history_close(h);
    return status;
}

/* cli_client_main - doppel client SUBCOMMAND ARGS */
int
cli_client_main(int argc, char **argv)
{
    const struct params *p;
    struct conf *conf;
    int     ch, rc;

    if ((ch = cli_options(argc, argv, cc_usage)) != CLI_CONTINUE)
        return ch;
    argc -= optind;
    argv += optind;
    if (argc == 0)
        return cc_usage(stderr, CLI_EXIT_USAGE);
    if ((conf = cli_load_conf()) == NULL)
        return CLI_EXIT_FAIL;
    (void) signal(SIGPIPE, SIG_IGN);    /* hiredis writes with write(2) */
    p = conf_params(conf, CONF_NO_SERVICE, NULL, 0);
    if (strcmp(argv[0], "list") == 0) {
        rc = argc != 1 ? cc_usage(stderr, CLI_EXIT_USAGE) : cc_list(p);
    } else if (strcmp(argv[0], "show") == 0) {
        rc = argc < 2 ? cc_usage(stderr, CLI_EXIT_USAGE)
            : cc_each(p, argc - 1, argv + 1, 0);
    } else if (strcmp(argv[0], "forget") == 0) {
        rc = argc < 2 ? cc_usage(stderr, CLI_EXIT_USAGE)
            : cc_each(p, argc - 1, argv + 1, 1);
    } else if (strcmp(argv[0], "record") == 0) {
        rc = cc_record(p, argc - 1, argv + 1);
    } else {
        fprintf(stderr, "doppel client: unknown subcommand \"%s\"\n", argv[0]);
        rc = cc_usage(stderr, CLI_EXIT_USAGE);
    }
    conf_free(conf);
    return rc;
}
