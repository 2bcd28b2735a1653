/*
 * test_milter - a milter built with Sendmail's libmilter, for the tests:
 * it records what it hears and answers as it is told.
 *
 * usage: test_milter -p PORT [-r FILE] [-a STAGE:ACTION]... [-m MOD]...
 *                    [-w STAGE:SECONDS]... [-n PFLAGS]
 *
 * -p PORT       listen on inet:PORT@127.0.0.1 (or -p unix:/path)
 * -r FILE       append one line per callback: the stage, its arguments
 *               and every macro that has a value, tab-separated, e.g.
 *               "helo\targ=client.example\t{stress}=yes\t..."
 * -a STAGE:ACTION  answer STAGE (connect, helo, mail, rcpt, data,
 *               unknown, header, eoh, body, eom) with accept, reject,
 *               tempfail, discard, or "replycode:550 5.7.1 some text"
 *               (the code's first digit picks reject or tempfail)
 * -m MOD        at the end of the message, in order:
 *               addheader:NAME:VALUE, chgheader:NAME:INDEX:VALUE,
 *               insheader:INDEX:NAME:VALUE, replbody:TEXT (\n is CRLF),
 *               addrcpt:ADDR, addrcpt_par:ADDR:ARGS, delrcpt:ADDR,
 *               chgfrom:ADDR, quarantine:REASON
 * -w STAGE:SECONDS  sleep that long in STAGE (a hanging milter)
 *
 * The milter asks for every action and every protocol step; it answers
 * "continue" unless told otherwise. It runs until killed.
 *
 * SECURITY
 *     A test program on loopback; it trusts its command line.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#define TM_MODS_MAX 64
#define TM_RULES_MAX 32
#define TM_LINE_MAX 8192

struct tm_rule {
    char    stage[16];
    char    action[512];
};

static struct tm_rule tm_replies[TM_RULES_MAX], tm_waits[TM_RULES_MAX];
static int tm_nreplies, tm_nwaits;
static char *tm_mods[TM_MODS_MAX];
static int tm_nmods;
static FILE *tm_record;
static pthread_mutex_t tm_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const tm_macros[] = {
    "{stress}", "{personality}", "{client_class}", "j", "_", "i", "v",
    "{daemon_name}", "{daemon_addr}", "{daemon_port}", "{client_addr}",
    "{client_name}", "{client_port}", "{client_ptr}", "{client_resolve}",
    "{mail_addr}", "{mail_host}", "{mail_mailer}", "{rcpt_addr}",
    "{rcpt_host}", "{rcpt_mailer}", "{tls_version}", "{cipher}",
    "{cipher_bits}", "{cert_subject}", "{cert_issuer}", "{auth_type}",
    "{auth_authen}", "{auth_author}", NULL
};

/* tm_clean - copy text for one record field: no tabs or line ends */
static void
tm_clean(char *out, size_t size, const char *in)
{
    size_t  n = 0;

    for (; *in && n + 3 < size; in++) {
        if (*in == '\t' || *in == '\r' || *in == '\n') {
            out[n++] = '\\';
            out[n++] = *in == '\t' ? 't' : *in == '\r' ? 'r' : 'n';
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

/* tm_log - one record line: the stage, its arguments, the macros */
static void
tm_log(SMFICTX *ctx, const char *stage, const char *args)
{
    char    line[TM_LINE_MAX], val[1024];
    size_t  n;
    int     i;
    char   *v;

    if (tm_record == NULL)
        return;
    n = (size_t) snprintf(line, sizeof(line), "%s\t%s", stage,
                          args ? args : "");
    for (i = 0; tm_macros[i] != NULL && n < sizeof(line); i++) {
        if ((v = smfi_getsymval(ctx, (char *) tm_macros[i])) == NULL)
            continue;
        tm_clean(val, sizeof(val), v);
        n += (size_t) snprintf(line + n, sizeof(line) - n, "\t%s=%s",
                               tm_macros[i], val);
    }
    pthread_mutex_lock(&tm_lock);
    fprintf(tm_record, "%s\n", line);
    fflush(tm_record);
    pthread_mutex_unlock(&tm_lock);
}

/* tm_answer - what to answer at stage: continue unless a rule says */
static sfsistat
tm_answer(SMFICTX *ctx, const char *stage)
{
    int     i;
    const char *a = NULL;
    char    code[4], xcode[16];
    const char *text;

    for (i = 0; i < tm_nwaits; i++)
        if (strcmp(tm_waits[i].stage, stage) == 0)
            sleep((unsigned) strtoul(tm_waits[i].action, NULL, 10));
    for (i = 0; i < tm_nreplies; i++)
        if (strcmp(tm_replies[i].stage, stage) == 0)
            a = tm_replies[i].action;
    if (a == NULL)
        return SMFIS_CONTINUE;
    if (strcmp(a, "accept") == 0)
        return SMFIS_ACCEPT;
    if (strcmp(a, "reject") == 0)
        return SMFIS_REJECT;
    if (strcmp(a, "tempfail") == 0)
        return SMFIS_TEMPFAIL;
    if (strcmp(a, "discard") == 0)
        return SMFIS_DISCARD;
    if (strncmp(a, "replycode:", 10) == 0 && strlen(a) > 20) {
        /* "replycode:550 5.7.1 text" */
        memcpy(code, a + 10, 3);
        code[3] = '\0';
        text = strchr(a + 14, ' ');
        if (text == NULL)
            text = " ";
        snprintf(xcode, sizeof(xcode), "%.*s", (int) (text - (a + 14)),
                 a + 14);
        (void) smfi_setreply(ctx, code, xcode, (char *) text + 1);
        return code[0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
    }
    fprintf(stderr, "test_milter: unknown action %s\n", a);
    return SMFIS_CONTINUE;
}

/* tm_connect - xxfi_connect */
static sfsistat
tm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    char    args[512];

    snprintf(args, sizeof(args), "host=%s\tfamily=%d", host,
             sa ? sa->sa_family : -1);
    tm_log(ctx, "connect", args);
    return tm_answer(ctx, "connect");
}

/* tm_helo - xxfi_helo */
static sfsistat
tm_helo(SMFICTX *ctx, char *helo)
{
    char    args[512], v[400];

    tm_clean(v, sizeof(v), helo);
    snprintf(args, sizeof(args), "arg=%s", v);
    tm_log(ctx, "helo", args);
    return tm_answer(ctx, "helo");
}

/* tm_argv - "arg=a arg=b ..." */
static void
tm_argv(char *out, size_t size, char **argv)
{
    size_t  n = 0;
    char    v[400];

    out[0] = '\0';
    for (; argv && *argv && n < size; argv++) {
        tm_clean(v, sizeof(v), *argv);
        n += (size_t) snprintf(out + n, size - n, "%sarg=%s", n ? "\t" : "", v);
    }
}

/* tm_envfrom - xxfi_envfrom */
static sfsistat
tm_envfrom(SMFICTX *ctx, char **argv)
{
    char    args[2048];

    tm_argv(args, sizeof(args), argv);
    tm_log(ctx, "mail", args);
    return tm_answer(ctx, "mail");
}

/* tm_envrcpt - xxfi_envrcpt */
static sfsistat
tm_envrcpt(SMFICTX *ctx, char **argv)
{
    char    args[2048];

    tm_argv(args, sizeof(args), argv);
    tm_log(ctx, "rcpt", args);
    return tm_answer(ctx, "rcpt");
}

/* tm_data - xxfi_data */
static sfsistat
tm_data(SMFICTX *ctx)
{
    tm_log(ctx, "data", NULL);
    return tm_answer(ctx, "data");
}

/* tm_unknown - xxfi_unknown */
static sfsistat
tm_unknown(SMFICTX *ctx, const char *cmd)
{
    char    args[512], v[400];

    tm_clean(v, sizeof(v), cmd);
    snprintf(args, sizeof(args), "arg=%s", v);
    tm_log(ctx, "unknown", args);
    return tm_answer(ctx, "unknown");
}

/* tm_header - xxfi_header */
static sfsistat
tm_header(SMFICTX *ctx, char *name, char *value)
{
    char    args[2048], v[1500];

    tm_clean(v, sizeof(v), value);
    snprintf(args, sizeof(args), "name=%s\tvalue=%s", name, v);
    tm_log(ctx, "header", args);
    return tm_answer(ctx, "header");
}

/* tm_eoh - xxfi_eoh */
static sfsistat
tm_eoh(SMFICTX *ctx)
{
    tm_log(ctx, "eoh", NULL);
    return tm_answer(ctx, "eoh");
}

/* tm_body - xxfi_body */
static sfsistat
tm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    char    args[64];

    (void) chunk;
    snprintf(args, sizeof(args), "len=%zu", len);
    tm_log(ctx, "body", args);
    return tm_answer(ctx, "body");
}

/* tm_split - the next ':'-separated field of *p (modified in place) */
static char *
tm_split(char **p)
{
    char   *start = *p, *colon;

    if (start == NULL)
        return NULL;
    if ((colon = strchr(start, ':')) != NULL) {
        *colon = '\0';
        *p = colon + 1;
    } else {
        *p = NULL;
    }
    return start;
}

/* tm_modify - one -m change at the end of the message */
static void
tm_modify(SMFICTX *ctx, const char *spec)
{
    char   *copy = strdup(spec), *p = copy, *what, *a, *b, *c;
    int     rc = MI_FAILURE;

    what = tm_split(&p);
    if (strcmp(what, "addheader") == 0) {
        a = tm_split(&p);
        rc = smfi_addheader(ctx, a, p ? p : "");
    } else if (strcmp(what, "chgheader") == 0) {
        a = tm_split(&p);
        b = tm_split(&p);
        rc = smfi_chgheader(ctx, a, (int) strtol(b, NULL, 10),
                            p && *p ? p : NULL);
    } else if (strcmp(what, "insheader") == 0) {
        a = tm_split(&p);
        b = tm_split(&p);
        rc = smfi_insheader(ctx, (int) strtol(a, NULL, 10), b, p ? p : "");
    } else if (strcmp(what, "replbody") == 0) {
        size_t  n = 0, i;
        unsigned char *body = malloc(strlen(p) * 2 + 1);

        for (i = 0; p[i]; i++) {
            if (p[i] == '\\' && p[i + 1] == 'n') {
                body[n++] = '\r';
                body[n++] = '\n';
                i++;
            } else {
                body[n++] = (unsigned char) p[i];
            }
        }
        rc = smfi_replacebody(ctx, body, (int) n);
        free(body);
    } else if (strcmp(what, "addrcpt") == 0) {
        rc = smfi_addrcpt(ctx, p);
    } else if (strcmp(what, "addrcpt_par") == 0) {
        c = strrchr(p, ':');
        if (c != NULL)
            *c++ = '\0';
        rc = smfi_addrcpt_par(ctx, p, c);
    } else if (strcmp(what, "delrcpt") == 0) {
        rc = smfi_delrcpt(ctx, p);
    } else if (strcmp(what, "chgfrom") == 0) {
        rc = smfi_chgfrom(ctx, p, NULL);
    } else if (strcmp(what, "quarantine") == 0) {
        rc = smfi_quarantine(ctx, p);
    }
    if (rc != MI_SUCCESS)
        fprintf(stderr, "test_milter: %s failed\n", spec);
    free(copy);
}

/* tm_eom - xxfi_eom: the changes, then the answer */
static sfsistat
tm_eom(SMFICTX *ctx)
{
    int     i;

    tm_log(ctx, "eom", NULL);
    for (i = 0; i < tm_nmods; i++)
        tm_modify(ctx, tm_mods[i]);
    return tm_answer(ctx, "eom");
}

/* tm_abort - xxfi_abort */
static sfsistat
tm_abort(SMFICTX *ctx)
{
    tm_log(ctx, "abort", NULL);
    return SMFIS_CONTINUE;
}

/* tm_close - xxfi_close */
static sfsistat
tm_close(SMFICTX *ctx)
{
    tm_log(ctx, "close", NULL);
    return SMFIS_CONTINUE;
}

static struct smfiDesc tm_desc = {
    "test_milter",
    SMFI_VERSION,
    SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT
        | SMFIF_ADDRCPT_PAR | SMFIF_DELRCPT | SMFIF_QUARANTINE
        | SMFIF_CHGFROM,
    tm_connect,
    tm_helo,
    tm_envfrom,
    tm_envrcpt,
    tm_header,
    tm_eoh,
    tm_body,
    tm_eom,
    tm_abort,
    tm_close,
    tm_unknown,
    tm_data,
    NULL,                               /* negotiate: the defaults */
};

/* tm_rule_add - "STAGE:VALUE" into a rule table */
static void
tm_rule_add(struct tm_rule *table, int *n, const char *spec)
{
    const char *colon = strchr(spec, ':');

    if (colon == NULL || *n >= TM_RULES_MAX
        || (size_t) (colon - spec) >= sizeof(table[0].stage)) {
        fprintf(stderr, "test_milter: bad rule %s\n", spec);
        exit(2);
    }
    snprintf(table[*n].stage, sizeof(table[0].stage), "%.*s",
             (int) (colon - spec), spec);
    snprintf(table[*n].action, sizeof(table[0].action), "%s", colon + 1);
    (*n)++;
}

int
main(int argc, char **argv)
{
    char    conn[256];
    const char *port = NULL;
    int     c;

    while ((c = getopt(argc, argv, "p:r:a:m:w:")) != -1) {
        switch (c) {
        case 'p':
            port = optarg;
            break;
        case 'r':
            if ((tm_record = fopen(optarg, "a")) == NULL) {
                perror(optarg);
                return 2;
            }
            break;
        case 'a':
            tm_rule_add(tm_replies, &tm_nreplies, optarg);
            break;
        case 'w':
            tm_rule_add(tm_waits, &tm_nwaits, optarg);
            break;
        case 'm':
            if (tm_nmods < TM_MODS_MAX)
                tm_mods[tm_nmods++] = optarg;
            break;
        default:
            fprintf(stderr, "usage: test_milter -p PORT [-r FILE]"
                    " [-a STAGE:ACTION] [-m MOD] [-w STAGE:SECONDS]\n");
            return 2;
        }
    }
    if (port == NULL) {
        fprintf(stderr, "test_milter: -p PORT is required\n");
        return 2;
    }
    if (strncmp(port, "unix:", 5) == 0)
        snprintf(conn, sizeof(conn), "%s", port);
    else
        snprintf(conn, sizeof(conn), "inet:%s@127.0.0.1", port);
    if (smfi_setconn(conn) != MI_SUCCESS || smfi_register(tm_desc)
        != MI_SUCCESS) {
        fprintf(stderr, "test_milter: cannot set up %s\n", conn);
        return 1;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "test_milter: cannot listen on %s: %s\n", conn,
                strerror(errno));
        return 1;
    }
    (void) smfi_settimeout(60);
    printf("ready %s\n", conn);
    fflush(stdout);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
