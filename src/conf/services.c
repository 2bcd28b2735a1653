/*
 * services - parse services.cf; see services.h.
 *
 * A logical line is split into words; "-o {name = value with spaces}"
 * keeps its braces together, as Postfix 3 master.cf does.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/str.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/services.h"

#define SERVICES_WORDS_MAX 256

/* programs a service line may name */
static const char *const services_programs[] = {"smtpd", "relay", NULL};

/* services_force_name - "auto", "normal" or "stress" */
const char *
services_force_name(enum service_force force)
{
    switch (force) {
    case SERVICE_FORCE_NORMAL:
        return "normal";
    case SERVICE_FORCE_STRESS:
        return "stress";
    default:
        return "auto";
    }
}

/* services_free_def - release one service */
static void
services_free_def(struct service_def *s)
{
    free(s->listen);
    free(s->host);
    free(s->port);
    free(s->path);
    free(s->program);
    cfparse_free(s->overrides);
}

/* services_free - release the list; returns NULL */
struct service_list *
services_free(struct service_list *list)
{
    size_t  i;

    if (list == NULL)
        return NULL;
    for (i = 0; i < list->count; i++)
        services_free_def(&list->items[i]);
    free(list->items);
    free(list->file);
    free(list);
    return NULL;
}

/* services_split - words of a logical line; {...} is one word */
static int
services_split(char *text, char **words, int max, const char **why)
{
    char   *p = text;
    int     n = 0, depth;

    for (;;) {
        while (isspace((unsigned char) *p))
            p++;
        if (*p == '\0')
            return n;
        if (n == max) {
            *why = "too many words on one line";
            return -1;
        }
        words[n++] = p;
        if (*p == '{') {
            for (depth = 0; *p; p++) {
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0)
                    break;
            }
            if (*p != '}') {
                *why = "\"{\" without a matching \"}\"";
                return -1;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char) *p))
                p++;
        }
        if (*p)
            *p++ = '\0';
    }
}

/* services_listen - parse LISTEN for the given type into s */
static int
services_listen(struct service_def *s, const char *listen, struct dstr *why)
{
    const char *colon, *host_start, *host_end;
    long long port;

    if (s->type == SERVICE_UNIX) {
        if (*listen == '\0' || strlen(listen) >= 108) {
            (void) dstr_appendf(why, "\"%s\" is not a usable unix socket path"
                                " (at most 107 bytes)", listen);
            return -1;
        }
        s->path = xstrdup(listen);
        return 0;
    }
    if (*listen == '[') {
        host_start = listen + 1;
        host_end = strchr(listen, ']');
        if (host_end == NULL || host_end[1] != ':') {
            (void) dstr_appendf(why, "\"%s\" is not an address (use"
                                " [ipv6]:port)", listen);
            return -1;
        }
        colon = host_end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL) {
            /* a bare port means every address, as in master.cf */
            colon = listen - 1;
            host_start = host_end = listen;
        } else {
            host_start = listen;
            host_end = colon;
            if (memchr(host_start, ':', (size_t) (host_end - host_start))) {
                (void) dstr_appendf(why, "\"%s\": write IPv6 addresses in"
                                    " brackets, [::1]:25", listen);
                return -1;
            }
        }
    }
    if (units_parse_int(colon + 1, &port) < 0 || port < 1 || port > 65535) {
        (void) dstr_appendf(why, "\"%s\": \"%s\" is not a port number (use"
                            " 1 to 65535)", listen, colon + 1);
        return -1;
    }
    s->port = xstrdup(colon + 1);
    if (host_end - host_start == 1 && *host_start == '*')
        s->host = xstrdup("");
    else
        s->host = xstrndup(host_start, (size_t) (host_end - host_start));
    return 0;
}

/* services_option_o - "-o name=value" or "-o {name = value}" */
static int
services_option_o(struct service_def *s, const char *file, int line,
                  const char *arg, struct dstr *why)
{
    char   *copy, *name, *eq, *value, *end;
    int     ret = -1;

    copy = xstrdup(arg);
    name = copy;
    if (*name == '{') {
        name++;
        end = name + strlen(name) - 1;  /* the closing brace */
        *end = '\0';
    }
    while (isspace((unsigned char) *name))
        name++;
    eq = strchr(name, '=');
    if (eq == NULL) {
        (void) dstr_appendf(why, "-o %s: missing \"=\" (use -o name=value)",
                            arg);
        goto done;
    }
    end = eq;
    while (end > name && isspace((unsigned char) end[-1]))
        end--;
    if (!cfparse_valid_name(name, (size_t) (end - name))) {
        (void) dstr_appendf(why, "-o %s: \"%.*s\" is not a parameter name",
                            arg, (int) (end - name), name);
        goto done;
    }
    *end = '\0';
    value = eq + 1;
    while (isspace((unsigned char) *value))
        value++;
    end = value + strlen(value);
    while (end > value && isspace((unsigned char) end[-1]))
        *--end = '\0';
    cfparse_set(s->overrides, name, value, file, line);
    ret = 0;
done:
    free(copy);
    return ret;
}

/* services_line - parse one logical service line */
static int
services_line(void *context, int line, char *text, struct dstr *errors)
{
    struct service_list *list = context;
    const char *file = list->file;
    char   *words[SERVICES_WORDS_MAX];
    const char *problem = NULL;
    struct dstr *why = dstr_new(64, 4096);
    struct service_def s;
    long long workers;
    int     n, i;
    size_t  k;
    memset(&s, 0, sizeof(s));
    s.file = list->file;
    s.line = line;
    s.overrides = cfparse_new();
    if ((n = services_split(text, words, SERVICES_WORDS_MAX, &problem)) < 0) {
        (void) dstr_appendf(why, "%s", problem);
        goto bad;
    }
    if (n < 4) {
        (void) dstr_appendf(why, "expected LISTEN TYPE WORKERS PROGRAM"
                            " [-o name=value] [-p auto|normal|stress]");
        goto bad;
    }
    s.listen = xstrdup(words[0]);
    if (strcmp(words[1], "inet") == 0) {
        s.type = SERVICE_INET;
    } else if (strcmp(words[1], "unix") == 0) {
        s.type = SERVICE_UNIX;
    } else {
        (void) dstr_appendf(why, "type \"%s\" is not inet or unix", words[1]);
        goto bad;
    }
    if (services_listen(&s, words[0], why) < 0)
        goto bad;
    if (strcmp(words[2], "-") == 0) {
        workers = 1;
    } else if (units_parse_int(words[2], &workers) < 0 || workers < 1
               || workers > SERVICES_WORKERS_MAX) {
        (void) dstr_appendf(why, "workers \"%s\" is not a number from 1 to %d"
                            " (or -)", words[2], SERVICES_WORKERS_MAX);
        goto bad;
    }
    s.workers = (int) workers;
    for (k = 0; services_programs[k] != NULL; k++)
        if (strcmp(services_programs[k], words[3]) == 0)
            break;
    if (services_programs[k] == NULL) {
        (void) dstr_appendf(why, "unknown program \"%s\" (use smtpd or relay)",
                            words[3]);
        goto bad;
    }
    s.program = xstrdup(words[3]);
    for (i = 4; i < n; i++) {
        const char *opt = words[i], *arg;

        if (strcmp(opt, "-o") == 0 || strcmp(opt, "-p") == 0) {
            if (i + 1 >= n) {
                (void) dstr_appendf(why, "%s needs an argument", opt);
                goto bad;
            }
            arg = words[++i];
        } else if (strncmp(opt, "-o", 2) == 0 || strncmp(opt, "-p", 2) == 0) {
            arg = opt + 2;
        } else {
            (void) dstr_appendf(why, "unknown option \"%s\" (use -o name=value"
                                " or -p auto|normal|stress)", opt);
            goto bad;
        }
        if (opt[1] == 'o') {
            if (services_option_o(&s, file, line, arg, why) < 0)
                goto bad;
        } else if (strcmp(arg, "auto") == 0) {
            s.force = SERVICE_FORCE_AUTO;
        } else if (strcmp(arg, "normal") == 0) {
            s.force = SERVICE_FORCE_NORMAL;
        } else if (strcmp(arg, "stress") == 0) {
            s.force = SERVICE_FORCE_STRESS;
        } else {
            (void) dstr_appendf(why, "-p %s: use auto, normal or stress", arg);
            goto bad;
        }
    }
    for (k = 0; k < list->count; k++)
        if (strcmp(list->items[k].listen, s.listen) == 0) {
            (void) dstr_appendf(why, "\"%s\" is already defined at line %d",
                                s.listen, list->items[k].line);
            goto bad;
        }
    list->items = xrealloc_array(list->items, list->count + 1,
                                 sizeof(struct service_def));
    list->items[list->count++] = s;
    dstr_free(why);
    return 0;

bad:
    (void) dstr_appendf(errors, "%s:%d: %s\n", file, line, why->data);
    services_free_def(&s);
    dstr_free(why);
    return -1;
}

/* services_parse_buffer - parse a whole services.cf */
struct service_list *
services_parse_buffer(const char *file, const char *buf, size_t len,
                      struct dstr *errors)
{
    struct service_list *list = xcalloc(1, sizeof(*list));

    list->file = xstrdup(file);
    if (cfparse_lines(file, buf, len, services_line, list, errors) < 0)
        return services_free(list);
    return list;
}

/* services_parse_file - read and parse path */
struct service_list *
services_parse_file(const char *path, struct dstr *errors)
{
    struct dstr *content = cfparse_read(path, errors);
    struct service_list *list;

    if (content == NULL)
        return NULL;
    list = services_parse_buffer(path, content->data, content->len, errors);
    dstr_free(content);
    return list;
}
