/* cli_ctl - start the master; stop, reload and ask it for status. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/conf.h"
#include "conf/params.h"
#include "global/master_proto.h"
#include "global/scoreboard.h"
#include "cli/cli.h"
#include "cli/cli_ctl.h"

/*
 * cc_run_dir - run_directory, even from a configuration that does not
 * load: "doppel reload" must reach the master to hear what is wrong
 * with a broken file, and "stop" and "status" must work meanwhile. So
 * on a load error the raw value is taken from doppel.cf, with
 * $config_directory replaced; anything else falls back to the
 * built-in default.
 */
static char *
cc_run_dir(void)
{
    struct dstr *errors = dstr_new(256, DSTR_UNLIMITED);
    struct dstr *path = dstr_new(64, DSTR_UNLIMITED);
    struct conf *c = NULL;
    struct cf_table *t;
    const struct cf_entry *e;
    const char *v;

    if (conf_load(cli_config_dir(), &c, errors) == 0) {
        dstr_append_str(path, conf_params(c, CONF_NO_SERVICE,
                                          PERSONALITY_DEFAULT_CLASS,
                                          0)->run_directory);
        conf_free(c);
        dstr_free(errors);
        return dstr_steal(path);
    }
    t = cfparse_new();
    dstr_appendf(path, "%s/%s", cli_config_dir(), CONF_MAIN_FILE);
    dstr_reset(errors);
    (void) cfparse_file(t, path->data, errors);
    dstr_reset(path);
    e = cfparse_get(t, "run_directory");
    v = e != NULL ? e->value : param_find("run_directory")->dflt;
    if (strncmp(v, "$config_directory", 17) == 0) {
        dstr_append_str(path, cli_config_dir());
        v += 17;
    } else if (strncmp(v, "${config_directory}", 19) == 0) {
        dstr_append_str(path, cli_config_dir());
        v += 19;
    }
    if (strchr(v, '$') != NULL) {
        dstr_reset(path);
        v = param_find("run_directory")->dflt;
    }
    dstr_append_str(path, v);
    cfparse_free(t);
    dstr_free(errors);
    return dstr_steal(path);
}

/* cc_run_path - run_directory/NAME */
static struct dstr *
cc_run_path(const char *name)
{
    struct dstr *path = dstr_new(64, DSTR_UNLIMITED);
    char   *dir = cc_run_dir();

    dstr_appendf(path, "%s/%s", dir, name);
    free(dir);
    return path;
}

/* cc_call - one request; prints why it failed; 0 or -1 */
static int
cc_call(enum master_proto_type type, struct master_proto_reply *reply)
{
    struct dstr *path = cc_run_path(MASTER_PROTO_SOCKET);
    struct dstr *why = dstr_new(64, 1024);
    int     ret = -1;

    reply->body = dstr_new(1024, MASTER_PROTO_BODY_MAX);
    if (path == NULL)
        goto out;
    if (master_proto_call(path->data, type, CLI_CTL_TIMEOUT_MS, reply,
                          why) < 0) {
        fprintf(stderr, "doppel: %s: %s\n", master_proto_type_name(type),
                why->data);
        if (strstr(why->data, "connect") != NULL)
            fprintf(stderr, "doppel: is the master running? (doppel start)\n");
        goto out;
    }
    ret = 0;
out:
    dstr_free(path);
    dstr_free(why);
    return ret;
}

/* cc_master_program - where doppel-master is */
static char *
cc_master_program(void)
{
    static const char *const tries[] = {"/doppel-master",
        "/../libexec/doppel/doppel-master", NULL};
    const char *env = getenv("DOPPEL_MASTER_PROGRAM");
    char    self[PATH_MAX], *slash;
    struct dstr *d;
    ssize_t n;
    size_t  i;

    if (env != NULL && *env != 0)
        return xstrdup(env);
    if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
        self[n] = 0;
        if ((slash = strrchr(self, '/')) != NULL)
            *slash = 0;
        for (i = 0; tries[i] != NULL; i++) {
            d = dstr_new(64, DSTR_UNLIMITED);
            dstr_appendf(d, "%s%s", self, tries[i]);
            if (access(d->data, X_OK) == 0)
                return dstr_steal(d);
            dstr_free(d);
        }
    }
    return xstrdup("doppel-master");
}

/* cli_ctl_start_main - exec the master */
int
cli_ctl_start_main(int argc, char **argv)
{
    char   *prog, *args[6];
    int     ch, foreground = 0, n = 0;

    while ((ch = getopt(argc, argv, "c:fh")) != -1) {
        switch (ch) {
        case 'c':
            cli_set_config_dir(optarg);
            break;
        case 'f':
            foreground = 1;
            break;
        default:
            fprintf(ch == 'h' ? stdout : stderr,
                    "usage: doppel start [-c DIR] [-f]\n");
            return ch == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: doppel start [-c DIR] [-f]\n");
        return CLI_EXIT_USAGE;
    }
    prog = cc_master_program();
    args[n++] = prog;
    args[n++] = "-c";
    args[n++] = (char *) cli_config_dir();
    if (foreground)
        args[n++] = "-f";
    args[n] = NULL;
    if (strchr(prog, '/') != NULL)
        execv(prog, args);
    else
        execvp(prog, args);
    fprintf(stderr, "doppel: start: %s: %s\n", prog, strerror(errno));
    free(prog);
    return CLI_EXIT_FAIL;
}

/* cc_options - -c, -h, and --json or -t where the command has them */
static int
cc_options(int argc, char **argv, const char *usage, int *json, int *wait_s)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    char   *end;
    int     ch;

    while ((ch = getopt_long(argc, argv, "c:ht:", opts, NULL)) != -1) {
        if (ch == 'c')
            cli_set_config_dir(optarg);
        else if (ch == 'j' && json != NULL)
            *json = 1;
        else if (ch == 't' && wait_s != NULL) {
            *wait_s = (int) strtol(optarg, &end, 10);
            if (*end != 0 || *wait_s < 0 || *wait_s > 86400) {
                fprintf(stderr, "doppel: -t %s: use seconds\n", optarg);
                return CLI_EXIT_USAGE;
            }
        } else {
            fprintf(ch == 'h' ? stdout : stderr, "usage: %s\n", usage);
            return ch == 'h' ? -1 : CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: %s\n", usage);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* cc_read_pid - the pid in run_directory/master.pid, or 0 */
static long
cc_read_pid(void)
{
    struct dstr *path = cc_run_path(MASTER_PROTO_PIDFILE);
    char    buf[32];
    long    pid = 0;
    FILE   *fp;

    if (path != NULL && (fp = fopen(path->data, "r")) != NULL) {
        if (fgets(buf, sizeof(buf), fp) != NULL)
            pid = strtol(buf, NULL, 10);
        fclose(fp);
    }
    dstr_free(path);
    return pid > 0 ? pid : 0;
}

/* cli_ctl_stop_main - ask for a graceful stop; wait for the pid to go */
int
cli_ctl_stop_main(int argc, char **argv)
{
    struct master_proto_reply reply;
    struct timespec pause = {0, 100 * 1000 * 1000};
    int     ret, wait_s = CLI_CTL_STOP_WAIT_S, i;
    long    pid;

    if ((ret = cc_options(argc, argv, "doppel stop [-c DIR] [-t SECONDS]",
                          NULL, &wait_s)) != CLI_EXIT_OK)
        return ret < 0 ? CLI_EXIT_OK : ret;
    pid = cc_read_pid();
    if (cc_call(MASTER_PROTO_STOP, &reply) < 0) {
        dstr_free(reply.body);
        return CLI_EXIT_FAIL;
    }
    dstr_free(reply.body);
    for (i = 0; pid > 0 && i < wait_s * 10; i++) {
        if (kill((pid_t) pid, 0) < 0 && errno == ESRCH) {
            printf("doppel: stopped (pid %ld)\n", pid);
            return CLI_EXIT_OK;
        }
        nanosleep(&pause, NULL);
    }
    if (pid > 0) {
        fprintf(stderr, "doppel: stop: pid %ld still running after %ds\n",
                pid, wait_s);
        return CLI_EXIT_FAIL;
    }
    printf("doppel: stopping\n");
    return CLI_EXIT_OK;
}

/* cli_ctl_reload_main - reload; print the errors if refused */
int
cli_ctl_reload_main(int argc, char **argv)
{
    struct master_proto_reply reply;
    int     ret;

    if ((ret = cc_options(argc, argv, "doppel reload [-c DIR]", NULL,
                          NULL)) != CLI_EXIT_OK)
        return ret < 0 ? CLI_EXIT_OK : ret;
    if (cc_call(MASTER_PROTO_RELOAD, &reply) < 0) {
        dstr_free(reply.body);
        return CLI_EXIT_FAIL;
    }
    if (reply.status != 0) {
        fputs(reply.body->data, stderr);
        if (reply.body->len > 0 && reply.body->data[reply.body->len - 1] != '\n')
            fputc('\n', stderr);
        fprintf(stderr, "doppel: reload refused; the running configuration"
                " stays in force\n");
        dstr_free(reply.body);
        return CLI_EXIT_FAIL;
    }
    printf("doppel: %s\n", reply.body->data);
    dstr_free(reply.body);
    return CLI_EXIT_OK;
}

/* cc_force_name - services.cf -p */
static const char *
cc_force_name(int force)
{
    return services_force_name((enum service_force) force);
}

/* cc_duration - "3s", "5m10s", "2h3m", "4d2h" */
static void
cc_duration(struct dstr *out, long long ms)
{
    long long s = ms / 1000;

    if (s < 0)
        s = 0;
    if (s < 60)
        dstr_appendf(out, "%llds", s);
    else if (s < 3600)
        dstr_appendf(out, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        dstr_appendf(out, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        dstr_appendf(out, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* cli_ctl_status_table - the status for people */
void
cli_ctl_status_table(struct dstr *out, const struct master_proto_status *st,
                     long long now_ms)
{
    struct dstr *cell = dstr_new(64, 1024);
    char    when[32];
    size_t  i, k;
    time_t  t;
    struct tm tm;

    dstr_appendf(out, "doppel-master pid %ld, generation %llu, up ",
                 (long) st->head.pid,
                 (unsigned long long) st->head.generation);
    cc_duration(out, now_ms - st->head.started_ms);
    dstr_appendf(out, ", config %s%s\n", st->head.config_dir,
                 st->head.stopping ? ", STOPPING" : "");
    dstr_appendf(out, "%-24s %-11s %-6s %-8s %-22s %-13s %s\n", "SERVICE",
                 "OPEN/LIMIT", "STRESS", "WHY", "SINCE", "NORMAL/STRESS",
                 "WORKERS");
    for (i = 0; i < st->head.nservices; i++) {
        const struct master_proto_service *s = &st->services[i];

        dstr_reset(cell);
        dstr_appendf(cell, "%lld/%lld", (long long) s->open,
                     (long long) s->limit);
        t = (time_t) (s->since_ms / 1000);
        localtime_r(&t, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        dstr_appendf(out, "%-24s %-11s %-6s %-8s %s (", s->listen, cell->data,
                     s->stress ? "on" : "off",
                     scoreboard_reason_name((enum scoreboard_reason) s->reason),
                     when);
        dstr_reset(cell);
        cc_duration(cell, now_ms - s->since_ms);
        dstr_appendf(out, "%s ago)%*s ", cell->data,
                     (int) (cell->len < 8 ? 8 - cell->len : 0), "");
        dstr_reset(cell);
        dstr_appendf(cell, "%lld/%lld", (long long) s->by_stress[0],
                     (long long) s->by_stress[1]);
        dstr_appendf(out, "%-13s %u/%u\n", cell->data, s->workers,
                     s->workers_wanted);
        if (s->force != SERVICE_FORCE_AUTO)
            dstr_appendf(out, "    -p %s: stress is always %s\n",
                         cc_force_name(s->force), s->stress ? "on" : "off");
        else if (s->stress && s->clear_at_ms > 0) {
            dstr_reset(cell);
            cc_duration(cell, s->clear_at_ms - now_ms);
            dstr_appendf(out, "    load is low: stress clears in %s\n",
                         cell->data);
        }
        for (k = 0; k < st->head.nclasses; k++)
            if (s->by_class[k] != 0)
                dstr_appendf(out, "    class %s: %lld sessions\n",
                             st->head.classes[k], (long long) s->by_class[k]);
    }
    dstr_free(cell);
}

/* cc_json_string - a JSON string literal */
static void
cc_json_string(struct dstr *out, const char *s)
{
    dstr_append_char(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\') {
            dstr_append_char(out, '\\');
            dstr_append_char(out, c);
        } else if (c < 0x20)
            dstr_appendf(out, "\\u%04x", c);
        else
            dstr_append_char(out, c);
    }
    dstr_append_char(out, '"');
}

/* cli_ctl_status_json - the status for scripts */
void
cli_ctl_status_json(struct dstr *out, const struct master_proto_status *st)
{
    size_t  i, k;

    dstr_appendf(out, "{\"pid\":%ld,\"generation\":%llu,\"started\":%.3f,"
                 "\"reloaded\":%.3f,\"reload_failures\":%llu,"
                 "\"stopping\":%s,\"config_dir\":",
                 (long) st->head.pid, (unsigned long long) st->head.generation,
                 st->head.started_ms / 1000.0, st->head.reload_ms / 1000.0,
                 (unsigned long long) st->head.reload_failures,
                 st->head.stopping ? "true" : "false");
    cc_json_string(out, st->head.config_dir);
    dstr_append_str(out, ",\"services\":[");
    for (i = 0; i < st->head.nservices; i++) {
        const struct master_proto_service *s = &st->services[i];

        dstr_append_str(out, i ? ",{\"listen\":" : "{\"listen\":");
        cc_json_string(out, s->listen);
        dstr_append_str(out, ",\"program\":");
        cc_json_string(out, s->program);
        dstr_appendf(out, ",\"force\":\"%s\",\"open\":%lld,\"limit\":%lld,"
                     "\"threshold\":%lld,\"stress\":%s,\"stress_reason\":\"%s\","
                     "\"stress_since\":%.3f,\"stress_clear_at\":%.3f,"
                     "\"sessions\":{\"normal\":%lld,\"stress\":%lld},"
                     "\"classes\":{",
                     cc_force_name(s->force), (long long) s->open,
                     (long long) s->limit, (long long) s->threshold,
                     s->stress ? "true" : "false",
                     scoreboard_reason_name((enum scoreboard_reason) s->reason),
                     s->since_ms / 1000.0, s->clear_at_ms / 1000.0,
                     (long long) s->by_stress[0], (long long) s->by_stress[1]);
        for (k = 0; k < st->head.nclasses; k++) {
            if (k > 0)
                dstr_append_char(out, ',');
            cc_json_string(out, st->head.classes[k]);
            dstr_appendf(out, ":%lld", (long long) s->by_class[k]);
        }
        dstr_appendf(out, "},\"workers\":%u,\"workers_wanted\":%u,"
                     "\"counters\":{", s->workers, s->workers_wanted);
        for (k = 0; k < SCOREBOARD_COUNTERS; k++)
            dstr_appendf(out, "%s\"%s\":%llu", k ? "," : "",
                         scoreboard_counter_name((enum scoreboard_counter) k),
                         (unsigned long long) s->counters[k]);
        dstr_append_str(out, "}}");
    }
    dstr_append_str(out, "]}\n");
}

/* cli_ctl_status_main - ask and print */
int
cli_ctl_status_main(int argc, char **argv)
{
    struct master_proto_reply reply;
    struct master_proto_status st;
    struct dstr *why, *out;
    struct timespec ts;
    int     ret, json = 0;

    if ((ret = cc_options(argc, argv, "doppel status [-c DIR] [--json]", &json,
                          NULL)) != CLI_EXIT_OK)
        return ret < 0 ? CLI_EXIT_OK : ret;
    if (cc_call(MASTER_PROTO_STATUS, &reply) < 0) {
        dstr_free(reply.body);
        return CLI_EXIT_FAIL;
    }
    why = dstr_new(64, 1024);
    if (reply.status != 0
        || master_proto_status_decode(reply.body->data, reply.body->len, &st,
                                      why) < 0) {
        fprintf(stderr, "doppel: status: %s\n",
                reply.status != 0 ? reply.body->data : why->data);
        dstr_free(why);
        dstr_free(reply.body);
        return CLI_EXIT_FAIL;
    }
    out = dstr_new(4096, DSTR_UNLIMITED);
    clock_gettime(CLOCK_REALTIME, &ts);
    if (json)
        cli_ctl_status_json(out, &st);
    else
        cli_ctl_status_table(out, &st, (long long) ts.tv_sec * 1000
                             + ts.tv_nsec / 1000000);
    fwrite(out->data, 1, out->len, stdout);
    master_proto_status_free(&st);
    dstr_free(out);
    dstr_free(why);
    dstr_free(reply.body);
    return CLI_EXIT_OK;
}
