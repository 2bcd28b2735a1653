/* cli_test - "doppel test": options, parallel jobs, the matrix, exit status. */

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/log.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "cli/cli.h"
#include "cli/cli_test.h"
#include "cli/cli_test_report.h"
#include "cli/cli_test_run.h"
#include "cli/cli_test_script.h"

/* the options */
struct ct_opts {
    const char *server;
    unsigned jobs;
    int     tap;
    int     verbose;
    int     quiet;
    int     check;
    struct cli_test_run_opts run;
    unsigned timeout_ms;
    unsigned time_limit_ms;
    const char *defines[CLI_TEST_DEFINES_MAX];
    size_t  ndefines;
    struct cli_test_target targets[CLI_TEST_TARGETS_MAX];
    size_t  ntargets;
    int     matrix;
    char   *matrix_spec;               /* owns the target strings */
};

/* one run: a script against a target */
struct ct_job {
    const char *path;
    const struct cli_test_target *target;
    struct cli_test_script *script;    /* NULL if it did not parse */
    struct cli_test_result *result;
    int     done;
};

/* the job queue that the worker threads share */
struct ct_queue {
    pthread_mutex_t lock;
    pthread_cond_t done;
    struct ct_job *jobs;
    size_t  njobs;
    size_t  next;                      /* next job to take */
    const struct ct_opts *opts;
};

/* ct_usage - the synopsis */
static int
ct_usage(FILE *fp, int status)
{
    fputs("usage: doppel test [-s HOST:PORT] [-j N] [--tap] [-k] [-v | -q]\n"
          "                   [-D NAME=VALUE]... [-t TIME] [-T TIME] SCRIPT...\n"
          "       doppel test -m NAME=HOST:PORT,NAME=HOST:PORT... [options]"
          " SCRIPT...\n"
          "       doppel test -n SCRIPT...\n"
          "  -s, --server HOST:PORT   where a bare \"connect\" goes\n"
          "  -m, --matrix LIST        run every script against each target;"
          " print a table\n"
          "  -j, --jobs N             run N scripts at a time (1-64)\n"
          "      --tap                TAP output, one test point per run\n"
          "  -k, --keep-going         go on after a wrong reply\n"
          "  -v, --verbose            transcripts of passing runs too\n"
          "  -q, --quiet              no transcripts\n"
          "  -D, --define NAME=VALUE  set a variable\n"
          "  -t, --timeout TIME       default bound of each wait (10s)\n"
          "  -T, --time-limit TIME    bound of each script (300s)\n"
          "  -n, --check              only check the scripts' syntax\n"
          "See doppel-test(1) and docs/doppel-test.md.\n", fp);
    return status;
}

/* ct_matrix - "name=host:port,name=host:port" into targets */
static int
ct_matrix(struct ct_opts *o, const char *spec)
{
    char   *item, *eq, *comma;
    size_t  i;

    o->matrix_spec = xstrdup(spec);
    for (item = o->matrix_spec; item != NULL; item = comma) {
        if ((comma = strchr(item, ',')) != NULL)
            *comma++ = '\0';
        if (o->ntargets == CLI_TEST_TARGETS_MAX) {
            fprintf(stderr, "doppel test: --matrix: at most %d targets\n",
                    CLI_TEST_TARGETS_MAX);
            return -1;
        }
        if ((eq = strchr(item, '=')) == NULL || eq == item || eq[1] == '\0') {
            fprintf(stderr, "doppel test: --matrix: \"%s\": use "
                    "NAME=HOST:PORT\n", item);
            return -1;
        }
        *eq = '\0';
        for (i = 0; i < o->ntargets; i++)
            if (strcmp(o->targets[i].name, item) == 0) {
                fprintf(stderr, "doppel test: --matrix: \"%s\" named twice\n",
                        item);
                return -1;
            }
        o->targets[o->ntargets].name = item;
        o->targets[o->ntargets++].server = eq + 1;
    }
    if (o->ntargets < 1) {
        fprintf(stderr, "doppel test: --matrix: no targets\n");
        return -1;
    }
    return 0;
}

/* ct_time - a TIME option */
static int
ct_time(const char *opt, const char *text, long long max, unsigned *ms)
{
    long long v;

    if (units_parse_time(text, 's', &v) < 0 || v < 1 || v > max) {
        fprintf(stderr, "doppel test: %s: \"%s\" is not a time from 1ms to "
                "%llds (e.g. 10s, 500ms)\n", opt, text, max / 1000);
        return -1;
    }
    *ms = (unsigned) v;
    return 0;
}

/* ct_run_job - parse and run one job; fills job->script and result */
static void
ct_run_job(const struct ct_opts *o, struct ct_job *job)
{
    struct cli_test_parse_opts po = CLI_TEST_PARSE_OPTS_INIT;
    const char *defs[CLI_TEST_DEFINES_MAX + 3];
    struct dstr *server = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *target = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *err = dstr_new(128, 8192);
    size_t  i, n = 0;

    (void) dstr_appendf(server, "server=%s", job->target->server ?
                        job->target->server : "");
    (void) dstr_appendf(target, "target=%s", job->target->name);
    defs[n++] = server->data;
    defs[n++] = target->data;
    for (i = 0; i < o->ndefines; i++)
        defs[n++] = o->defines[i];
    defs[n] = NULL;
    po.defines = defs;
    po.timeout_ms = o->timeout_ms;
    po.time_limit_ms = o->time_limit_ms;
    if (cli_test_script_parse_file(&job->script, job->path, &po, err) < 0)
        job->result = cli_test_result_error(err->data);
    else if (o->check)
        job->result = cli_test_result_error("");
    else
        job->result = cli_test_run(job->script, job->target, &o->run);
    if (o->check && job->script != NULL) {
        job->result->status = CLI_TEST_PASS;
        job->result->nfailed = 0;
        job->result->nsteps = job->script->nsteps;
    }
    dstr_free(server);
    dstr_free(target);
    dstr_free(err);
}

/* ct_worker - take jobs until none is left */
static void *
ct_worker(void *arg)
{
    struct ct_queue *q = arg;
    struct ct_job *job;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        job = q->next < q->njobs ? &q->jobs[q->next++] : NULL;
        pthread_mutex_unlock(&q->lock);
        if (job == NULL)
            return NULL;
        ct_run_job(q->opts, job);
        pthread_mutex_lock(&q->lock);
        job->done = 1;
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->lock);
    }
}

/* ct_print - report one finished job (not in matrix mode) */
static void
ct_print(const struct ct_opts *o, struct ct_job *job, unsigned n)
{
    const struct cli_test_target *t = o->matrix ? job->target : NULL;

    if (o->check) {
        if (job->script != NULL)
            printf("%s: OK (%zu steps)\n", job->path, job->script->nsteps);
        else
            printf("%s\n", job->result->message->data);
    } else if (o->tap) {
        cli_test_report_tap(stdout, n, job->path, t, job->result, o->verbose);
    } else {
        cli_test_report_human(stdout, job->path, t, job->result, o->verbose,
                              o->quiet);
    }
    fflush(stdout);
}

/* ct_parse_args - the command line into o; -1 usage error, 1 help */
static int
ct_parse_args(int argc, char **argv, struct ct_opts *o)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"jobs", required_argument, NULL, 'j'},
        {"tap", no_argument, NULL, 'A'},
        {"matrix", required_argument, NULL, 'm'},
        {"keep-going", no_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"define", required_argument, NULL, 'D'},
        {"timeout", required_argument, NULL, 't'},
        {"time-limit", required_argument, NULL, 'T'},
        {"check", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long v;
    int     ch;

    while ((ch = getopt_long(argc, argv, "s:j:m:kvqD:t:T:nh", longopts,
                             NULL)) != -1) {
        switch (ch) {
        case 's':
            o->server = optarg;
            break;
        case 'j':
            if (units_parse_int(optarg, &v) < 0 || v < 1
                || v > CLI_TEST_JOBS_MAX) {
                fprintf(stderr, "doppel test: --jobs: \"%s\": use 1 to %d\n",
                        optarg, CLI_TEST_JOBS_MAX);
                return -1;
            }
            o->jobs = (unsigned) v;
            break;
        case 'A':
            o->tap = 1;
            break;
        case 'm':
            if (o->matrix || ct_matrix(o, optarg) < 0)
                return -1;
            o->matrix = 1;
            break;
        case 'k':
            o->run.keep_going = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'D':
            if (o->ndefines == CLI_TEST_DEFINES_MAX) {
                fprintf(stderr, "doppel test: at most %d -D options\n",
                        CLI_TEST_DEFINES_MAX);
                return -1;
            }
            o->defines[o->ndefines++] = optarg;
            break;
        case 't':
            if (ct_time("--timeout", optarg, CLI_TEST_WAIT_MAX_MS,
                        &o->timeout_ms) < 0)
                return -1;
            break;
        case 'T':
            if (ct_time("--time-limit", optarg, CLI_TEST_LIMIT_MAX_MS,
                        &o->time_limit_ms) < 0)
                return -1;
            break;
        case 'n':
            o->check = 1;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (o->matrix && o->server != NULL) {
        fprintf(stderr, "doppel test: --matrix and --server exclude each "
                "other\n");
        return -1;
    }
    if (optind >= argc) {
        fprintf(stderr, "doppel test: no scripts\n");
        return -1;
    }
    if (argc - optind > CLI_TEST_SCRIPTS_MAX) {
        fprintf(stderr, "doppel test: more than %d scripts\n",
                CLI_TEST_SCRIPTS_MAX);
        return -1;
    }
    if (!o->matrix) {
        o->targets[0].name = "default";
        o->targets[0].server = o->server;
        o->ntargets = 1;
    }
    return 0;
}

/* cli_test_main - doppel test */
int
cli_test_main(int argc, char **argv)
{
    struct ct_opts o;
    struct ct_queue q;
    pthread_t threads[CLI_TEST_JOBS_MAX];
    struct cli_test_script **scripts;
    struct cli_test_result **results;
    size_t  nscripts, i, t;
    unsigned nthreads, failed = 0, k;
    long long start = clock_mono_ms();
    int     r;

    memset(&o, 0, sizeof(o));
    o.jobs = 1;
    if ((r = ct_parse_args(argc, argv, &o)) != 0) {
        free(o.matrix_spec);
        return r > 0 ? ct_usage(stdout, CLI_EXIT_OK) :
            ct_usage(stderr, CLI_EXIT_USAGE);
    }
    /* a server that closes mid-write must not kill the tool */
    (void) signal(SIGPIPE, SIG_IGN);

    nscripts = (size_t) (argc - optind);
    memset(&q, 0, sizeof(q));
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.done, NULL);
    q.opts = &o;
    q.njobs = nscripts * o.ntargets;
    q.jobs = xcalloc(q.njobs, sizeof(*q.jobs));
    for (i = 0; i < nscripts; i++)
        for (t = 0; t < o.ntargets; t++) {
            q.jobs[i * o.ntargets + t].path = argv[optind + (int) i];
            q.jobs[i * o.ntargets + t].target = &o.targets[t];
        }
    nthreads = o.jobs < q.njobs ? o.jobs : (unsigned) q.njobs;
    for (k = 0; k < nthreads; k++)
        if (pthread_create(&threads[k], NULL, ct_worker, &q) != 0)
            log_fatal("test: cannot start a thread: %m");

    if (o.tap)
        printf("1..%zu\n", q.njobs);
    /* report in order, each as soon as it and those before are done */
    for (i = 0; i < q.njobs; i++) {
        pthread_mutex_lock(&q.lock);
        while (!q.jobs[i].done)
            pthread_cond_wait(&q.done, &q.lock);
        pthread_mutex_unlock(&q.lock);
        if (q.jobs[i].result->status != CLI_TEST_PASS)
            failed++;
        if (!o.matrix || o.tap || o.check)
            ct_print(&o, &q.jobs[i], (unsigned) i + 1);
    }
    for (k = 0; k < nthreads; k++)
        pthread_join(threads[k], NULL);

    if (o.matrix && !o.tap && !o.check) {
        scripts = xcalloc(q.njobs, sizeof(*scripts));
        results = xcalloc(q.njobs, sizeof(*results));
        for (i = 0; i < q.njobs; i++) {
            scripts[i] = q.jobs[i].script;
            results[i] = q.jobs[i].result;
        }
        cli_test_report_matrix(stdout, argv + optind, nscripts, o.targets,
                               o.ntargets, scripts, results);
        free(scripts);
        free(results);
        if (!o.quiet) {
            for (i = 0; i < q.njobs; i++) {
                if (q.jobs[i].result->status == CLI_TEST_PASS && !o.verbose)
                    continue;
                fputc('\n', stdout);
                cli_test_report_human(stdout, q.jobs[i].path, q.jobs[i].target,
                                      q.jobs[i].result, o.verbose, 0);
            }
        }
    }
    if (!o.tap && !o.check)
        cli_test_report_summary(stdout, (unsigned) q.njobs, failed,
                                (unsigned) (clock_mono_ms() - start));
    fflush(stdout);

    for (i = 0; i < q.njobs; i++) {
        cli_test_script_free(q.jobs[i].script);
        cli_test_result_free(q.jobs[i].result);
    }
    free(q.jobs);
    pthread_mutex_destroy(&q.lock);
    pthread_cond_destroy(&q.done);
    free(o.matrix_spec);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
