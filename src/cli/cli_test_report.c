/* cli_test_report - transcripts, PASS/FAIL lines, TAP and the matrix table. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/xalloc.h"
#include "cli/cli_test_report.h"
#include "cli/cli_test_run.h"
#include "cli/cli_test_script.h"

#define CTP_LEFT_MAX 44                 /* transcript: sent/expected column */
#define CTP_LABEL_MAX 48                /* matrix: step column */
#define CTP_CELL_MAX 22                 /* matrix: a target's column */

/* one matrix row: a checking step's place, and a cell per target */
struct ctp_mrow {
    const char *file;
    unsigned line;
    char   *label;
    char  **cells;
};

/* ctp_location - "FILE:LINE" of a transcript row, or "" */
static void
ctp_location(const struct cli_test_row *row, char *buf, size_t size)
{
    if (row->file == NULL)
        buf[0] = '\0';
    else
        (void) snprintf(buf, size, "%s:%u", row->file, row->line);
}

/* cli_test_report_transcript - the dialog, expected beside received */
void
cli_test_report_transcript(FILE *fp, const struct cli_test_result *r,
                           const char *prefix)
{
    const struct cli_test_row *row;
    char    loc[512];
    size_t  i, lw = 4, cw = 15, len;

    for (i = 0; i < r->nrows; i++) {
        row = &r->rows[i];
        ctp_location(row, loc, sizeof(loc));
        if ((len = strlen(loc)) > lw)
            lw = len;
        if (row->left != NULL && row->right != NULL
            && (len = strlen(row->left)) > cw)
            cw = len > CTP_LEFT_MAX ? CTP_LEFT_MAX : len;
    }
    fprintf(fp, "%s  %-*s  %-*s  %s\n", prefix, (int) lw, "line", (int) cw,
            "sent / expected", "received");
    for (i = 0; i < r->nrows; i++) {
        row = &r->rows[i];
        ctp_location(row, loc, sizeof(loc));
        if (row->right == NULL) {
            fprintf(fp, "%s  %-*s  %s%s%s\n", prefix, (int) lw, loc,
                    row->left ? row->left : "", row->mark ? "  " : "",
                    row->mark ? row->mark : "");
            continue;
        }
        if (row->left != NULL && strlen(row->left) > cw) {
            fprintf(fp, "%s  %-*s  %s\n", prefix, (int) lw, loc, row->left);
            loc[0] = '\0';
            fprintf(fp, "%s  %-*s  %-*s  %s%s%s\n", prefix, (int) lw, loc,
                    (int) cw, "", row->right, row->mark ? "  " : "",
                    row->mark ? row->mark : "");
            continue;
        }
        fprintf(fp, "%s  %-*s  %-*s  %s%s%s\n", prefix, (int) lw, loc,
                (int) cw, row->left ? row->left : "", row->right,
                row->mark ? "  " : "", row->mark ? row->mark : "");
    }
    if (r->rows_dropped > 0)
        fprintf(fp, "%s  (%zu more rows not kept)\n", prefix, r->rows_dropped);
}

/* ctp_target - " against NAME (ADDR)" for headings */
static void
ctp_target(struct dstr *d, const struct cli_test_target *t)
{
    if (t == NULL)
        return;
    if (t->name != NULL && strcmp(t->name, "default") != 0)
        (void) dstr_appendf(d, " [%s]", t->name);
}

/* cli_test_report_human - "PASS name" or "FAIL name", and why */
void
cli_test_report_human(FILE *fp, const char *name,
                      const struct cli_test_target *target,
                      const struct cli_test_result *r, int verbose, int quiet)
{
    struct dstr *d = dstr_new(64, DSTR_UNLIMITED);

    (void) dstr_append_str(d, name);
    ctp_target(d, target);
    fprintf(fp, "%s  %s  (%zu of %zu steps, %.2fs)\n",
            r->status == CLI_TEST_PASS ? "PASS" : "FAIL", d->data, r->nrun,
            r->nsteps, r->elapsed_ms / 1000.0);
    if (r->status != CLI_TEST_PASS)
        fprintf(fp, "      %s\n", r->message->data);
    if (!quiet && r->nrows > 0 && (verbose || r->status != CLI_TEST_PASS)) {
        if (target != NULL && target->server != NULL)
            fprintf(fp, "      transcript (server %s):\n", target->server);
        else
            fprintf(fp, "      transcript:\n");
        cli_test_report_transcript(fp, r, "    ");
        fputc('\n', fp);
    }
    dstr_free(d);
}

/* cli_test_report_tap - one test point */
void
cli_test_report_tap(FILE *fp, unsigned n, const char *name,
                    const struct cli_test_target *target,
                    const struct cli_test_result *r, int verbose)
{
    struct dstr *d = dstr_new(64, DSTR_UNLIMITED);

    (void) dstr_append_str(d, name);
    ctp_target(d, target);
    fprintf(fp, "%s %u - %s\n", r->status == CLI_TEST_PASS ? "ok" : "not ok",
            n, d->data);
    if (r->status != CLI_TEST_PASS)
        fprintf(fp, "# %s\n", r->message->data);
    if (r->nrows > 0 && (verbose || r->status != CLI_TEST_PASS))
        cli_test_report_transcript(fp, r, "#");
    dstr_free(d);
}

/* cli_test_report_summary - the last line of a human report */
void
cli_test_report_summary(FILE *fp, unsigned total, unsigned failed,
                        unsigned elapsed_ms)
{
    fprintf(fp, "%u script run%s: %u passed, %u failed (%.2fs)\n", total,
            total == 1 ? "" : "s", total - failed, failed,
            elapsed_ms / 1000.0);
}

/* ctp_cut - a copy of s, at most max bytes, "..." when cut */
static char *
ctp_cut(const char *s, size_t max)
{
    size_t  len = strlen(s);
    char   *p;

    if (len <= max)
        return xstrdup(s);
    p = xmalloc(max + 1);
    memcpy(p, s, max - 3);
    memcpy(p + max - 3, "...", 4);
    return p;
}

/* ctp_find_row - the row for a step's place, made if new */
static struct ctp_mrow *
ctp_find_row(struct ctp_mrow **rows, size_t *n, const struct cli_test_step *st,
             const char *script_file, size_t ntargets)
{
    struct dstr *d;
    size_t  i;

    for (i = 0; i < *n; i++)
        if ((*rows)[i].line == st->line && strcmp((*rows)[i].file, st->file) == 0)
            return &(*rows)[i];
    *rows = xrealloc_array(*rows, *n + 1, sizeof(**rows));
    d = dstr_new(64, DSTR_UNLIMITED);
    if (strcmp(st->file, script_file) == 0)
        (void) dstr_appendf(d, "  %u %s", st->line, st->text);
    else {
        const char *base = strrchr(st->file, '/');

        (void) dstr_appendf(d, "  %s:%u %s", base ? base + 1 : st->file,
                            st->line, st->text);
    }
    (*rows)[*n].file = st->file;
    (*rows)[*n].line = st->line;
    (*rows)[*n].label = ctp_cut(d->data, CTP_LABEL_MAX);
    (*rows)[*n].cells = xcalloc(ntargets, sizeof(char *));
    dstr_free(d);
    return &(*rows)[(*n)++];
}

/*
 * ctp_fold - fold one outcome into a cell. A failure wins; passes that
 * repeat are counted ("ok 250 x3").
 */
static void
ctp_fold(char **cell, const struct cli_test_outcome *o)
{
    char    buf[CLI_TEST_DETAIL_MAX + 32], *x;
    unsigned count;

    if (o->status == CLI_TEST_NOT_RUN) {
        if (*cell == NULL)
            *cell = xstrdup("-");
        return;
    }
    if (o->status == CLI_TEST_FAIL) {
        if (*cell == NULL || strncmp(*cell, "FAIL", 4) != 0) {
            free(*cell);
            (void) snprintf(buf, sizeof(buf), "FAIL %s", o->detail);
            *cell = xstrdup(buf);
        }
        return;
    }
    (void) snprintf(buf, sizeof(buf), "ok%s%s", o->detail[0] ? " " : "",
                    o->detail);
    if (*cell == NULL || strcmp(*cell, "-") == 0) {
        free(*cell);
        *cell = xstrdup(buf);
        return;
    }
    if (strncmp(*cell, buf, strlen(buf)) != 0)
        return;                         /* FAIL, or a different ok: keep */
    count = 1;
    if ((x = strstr(*cell + strlen(buf), " x")) != NULL)
        count = (unsigned) strtoul(x + 2, NULL, 10);
    (void) snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " x%u",
                    count + 1);
    free(*cell);
    *cell = xstrdup(buf);
}

/*
 * ctp_sort - rows of one file in line order, files in order of first
 * appearance, so that steps only one target ran ("if") sit in place.
 */
static void
ctp_sort(struct ctp_mrow *rows, size_t n)
{
    const char *files[64];
    size_t  nfiles = 0, i, j, f;
    struct ctp_mrow tmp;
    size_t  rank[2];

    for (i = 0; i < n; i++) {
        for (f = 0; f < nfiles && strcmp(files[f], rows[i].file) != 0; f++)
            ;
        if (f == nfiles && nfiles < 64)
            files[nfiles++] = rows[i].file;
    }
    /* insertion sort: stable, and n is small */
    for (i = 1; i < n; i++) {
        tmp = rows[i];
        for (j = i; j > 0; j--) {
            for (rank[0] = 0; rank[0] < nfiles
                 && strcmp(files[rank[0]], rows[j - 1].file) != 0; rank[0]++)
                ;
            for (rank[1] = 0; rank[1] < nfiles
                 && strcmp(files[rank[1]], tmp.file) != 0; rank[1]++)
                ;
            if (rank[0] < rank[1]
                || (rank[0] == rank[1] && rows[j - 1].line <= tmp.line))
                break;
            rows[j] = rows[j - 1];
        }
        rows[j] = tmp;
    }
}

/* ctp_matrix_rows - one script's rows, in order of first appearance */
static struct ctp_mrow *
ctp_matrix_rows(size_t i, size_t ntargets,
                struct cli_test_script *const *scripts,
                struct cli_test_result *const *results, size_t *n)
{
    const struct cli_test_script *s;
    const struct cli_test_result *r;
    struct ctp_mrow *rows = NULL, *row;
    size_t  t, k;

    *n = 0;
    for (t = 0; t < ntargets; t++) {
        s = scripts[i * ntargets + t];
        r = results[i * ntargets + t];
        for (k = 0; s != NULL && k < s->nsteps; k++) {
            if (!cli_test_script_checks(&s->steps[k]))
                continue;
            row = ctp_find_row(&rows, n, &s->steps[k], s->files[0], ntargets);
            ctp_fold(&row->cells[t], &r->outcomes[k]);
        }
    }
    ctp_sort(rows, *n);
    return rows;
}

/* ctp_cells - print cells cut to width; 1 if they differ */
static int
ctp_cells(FILE *fp, char *const *cells, size_t ntargets, size_t cw, int mark)
{
    size_t  t;
    int     differ = 0;
    char   *cell;

    for (t = 0; t < ntargets; t++) {
        cell = ctp_cut(cells[t] ? cells[t] : "", cw);
        fprintf(fp, "  %-*s", (int) cw, cell);
        free(cell);
        differ |= strcmp(cells[t] ? cells[t] : "", cells[0] ? cells[0] : "")
            != 0;
    }
    fputs(differ && mark ? "  *\n" : "\n", fp);
    return differ;
}

/* cli_test_report_matrix - scripts by targets, a row per checking step */
void
cli_test_report_matrix(FILE *fp, char *const *names, size_t nscripts,
                       const struct cli_test_target *targets, size_t ntargets,
                       struct cli_test_script *const *scripts,
                       struct cli_test_result *const *results)
{
    struct ctp_mrow **rows = xcalloc(nscripts ? nscripts : 1, sizeof(*rows));
    size_t *nrows = xcalloc(nscripts ? nscripts : 1, sizeof(*nrows));
    char  **head = xcalloc(ntargets, sizeof(*head));
    size_t  i, t, k, lw = 13, cw = 4, len;
    char   *label;

    for (i = 0; i < nscripts; i++) {
        rows[i] = ctp_matrix_rows(i, ntargets, scripts, results, &nrows[i]);
        if ((len = strlen(names[i])) > lw)
            lw = len;
        for (k = 0; k < nrows[i]; k++) {
            if ((len = strlen(rows[i][k].label)) > lw)
                lw = len;
            for (t = 0; t < ntargets; t++)
                if (rows[i][k].cells[t] != NULL
                    && (len = strlen(rows[i][k].cells[t])) > cw)
                    cw = len;
        }
    }
    for (t = 0; t < ntargets; t++)
        if ((len = strlen(targets[t].name)) > cw)
            cw = len;
    lw = lw > CTP_LABEL_MAX ? CTP_LABEL_MAX : lw;
    cw = cw > CTP_CELL_MAX ? CTP_CELL_MAX : cw;
    fprintf(fp, "%-*s", (int) lw, "script / step");
    for (t = 0; t < ntargets; t++)
        head[t] = (char *) targets[t].name;
    (void) ctp_cells(fp, head, ntargets, cw, 0);
    for (i = 0; i < nscripts; i++) {
        label = ctp_cut(names[i], lw);
        fprintf(fp, "%-*s", (int) lw, label);
        free(label);
        for (t = 0; t < ntargets; t++)
            head[t] = results[i * ntargets + t]->status == CLI_TEST_PASS ?
                "PASS" : "FAIL";
        (void) ctp_cells(fp, head, ntargets, cw, 1);
        if (scripts[i * ntargets] == NULL)
            fprintf(fp, "  %s\n", results[i * ntargets]->message->data);
        for (k = 0; k < nrows[i]; k++) {
            fprintf(fp, "%-*s", (int) lw, rows[i][k].label);
            (void) ctp_cells(fp, rows[i][k].cells, ntargets, cw, 1);
            for (t = 0; t < ntargets; t++)
                free(rows[i][k].cells[t]);
            free(rows[i][k].cells);
            free(rows[i][k].label);
        }
        free(rows[i]);
    }
    free(head);
    free(rows);
    free(nrows);
}
