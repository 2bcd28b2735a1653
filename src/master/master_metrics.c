/* master_metrics - the scoreboard as Prometheus text, served by evhttp. */

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "util/dstr.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "global/anvil.h"
#include "global/scoreboard.h"
#include "master/master.h"
#include "master/master_metrics.h"
#include "master/master_spawn.h"

#define MM_HOST_MAX 256
#define MM_BODY_MAX (1024 * 1024)

struct master_metrics {
    struct master *m;
    struct evhttp *http;
    char   *listen;
};

/* a counter family: name, help, scoreboard counter */
static const struct mm_counter {
    const char *name;
    const char *help;
    enum scoreboard_counter counter;
} mm_counters[] = {
    {"doppel_stress_transitions_total", "Stress turned on or off.",
     SCOREBOARD_TRANSITIONS},
    {"doppel_connections_total", "Connections accepted from the kernel.",
     SCOREBOARD_CONNECTIONS},
    {"doppel_messages_accepted_total", "Messages queued (250 after DATA).",
     SCOREBOARD_MESSAGES},
    {"doppel_messages_rejected_total", "Commands answered 4xx or 5xx.",
     SCOREBOARD_REJECTS},
    {"doppel_timeouts_total", "Sessions ended by a timer.",
     SCOREBOARD_TIMEOUTS},
    {"doppel_full_refusals_total", "Connections refused with 421 4.3.2:"
     " every slot busy.", SCOREBOARD_FULL},
    {"doppel_evictions_total", "Idle sessions ended with 421 4.3.2 to make"
     " room.", SCOREBOARD_EVICTIONS},
    {"doppel_worker_restarts_total", "Workers restarted after a crash.",
     SCOREBOARD_RESTARTS},
};

/* mm_label - a label value, escaped as the text format wants */
static void
mm_label(struct dstr *out, const char *value)
{
    const char *p;

    for (p = value; *p; p++) {
        if (*p == '\\' || *p == '"') {
            dstr_append_char(out, '\\');
            dstr_append_char(out, *p);
        } else if (*p == '\n')
            dstr_append_str(out, "\\n");
        else
            dstr_append_char(out, *p);
    }
}

/* mm_head - HELP and TYPE lines */
static void
mm_head(struct dstr *out, const char *name, const char *type, const char *help)
{
    dstr_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* mm_sample - name{service="L"[,extra]} value */
static void
mm_sample(struct dstr *out, const char *name, const char *service,
          const char *key, const char *value, long long n)
{
    dstr_appendf(out, "%s{service=\"", name);
    mm_label(out, service);
    if (key != NULL) {
        dstr_appendf(out, "\",%s=\"", key);
        mm_label(out, value);
    }
    dstr_appendf(out, "\"} %lld\n", n);
}

/* master_metrics_format - every family, for the current services */
int
master_metrics_format(struct master *m, struct dstr *out)
{
    struct scoreboard_view *v;
    size_t  i, k, n = m->nservices;
    const char *svc;

    v = xcalloc(n ? n : 1, sizeof(*v));
    for (i = 0; i < n; i++)
        scoreboard_service_read(m->sb, m->services[i].slot, &v[i]);

    mm_head(out, "doppel_sessions", "gauge", "Sessions open now.");
    for (i = 0; i < n; i++) {
        svc = m->services[i].def->listen;
        mm_sample(out, "doppel_sessions", svc, "personality", "normal",
                  (long long) v[i].by_stress[0]);
        mm_sample(out, "doppel_sessions", svc, "personality", "stress",
                  (long long) v[i].by_stress[1]);
    }
    mm_head(out, "doppel_sessions_by_class", "gauge",
            "Sessions open now by client class.");
    for (i = 0; i < n; i++)
        for (k = 0; k < SCOREBOARD_CLASSES; k++) {
            const char *name = scoreboard_class_name(m->conf->classes,
                                                     m->conf->nclasses, k);

            if (name != NULL)
                mm_sample(out, "doppel_sessions_by_class",
                          m->services[i].def->listen, "class", name,
                          (long long) v[i].by_class[k]);
        }
    mm_head(out, "doppel_client_limit", "gauge", "smtpd_client_limit.");
    for (i = 0; i < n; i++)
        mm_sample(out, "doppel_client_limit", m->services[i].def->listen,
                  NULL, NULL, (long long) v[i].limit);
    mm_head(out, "doppel_stress", "gauge", "1 while the service is stressed.");
    for (i = 0; i < n; i++)
        mm_sample(out, "doppel_stress", m->services[i].def->listen, NULL, NULL,
                  v[i].stress);
    mm_head(out, "doppel_stress_since_seconds", "gauge",
            "Unix time of the last stress transition.");
    for (i = 0; i < n; i++)
        mm_sample(out, "doppel_stress_since_seconds",
                  m->services[i].def->listen, NULL, NULL,
                  (long long) (v[i].since_ms / 1000));
    for (k = 0; k < sizeof(mm_counters) / sizeof(mm_counters[0]); k++) {
        mm_head(out, mm_counters[k].name, "counter", mm_counters[k].help);
        for (i = 0; i < n; i++)
            mm_sample(out, mm_counters[k].name, m->services[i].def->listen,
                      NULL, NULL,
                      (long long) v[i].counters[mm_counters[k].counter]);
    }
    mm_head(out, "doppel_workers", "gauge", "Worker processes running.");
    for (i = 0; i < n; i++)
        mm_sample(out, "doppel_workers", m->services[i].def->listen, NULL,
                  NULL, (long long) master_spawn_count(m, m->services[i].index,
                                                       m->generation));
    mm_head(out, "doppel_config_generation", "gauge",
            "Configurations loaded since start (1 = the first).");
    dstr_appendf(out, "doppel_config_generation %llu\n",
                 (unsigned long long) m->generation);
    mm_head(out, "doppel_reload_failures_total", "counter",
            "Reloads refused for a bad configuration.");
    dstr_appendf(out, "doppel_reload_failures_total %llu\n",
                 (unsigned long long) m->reload_failures);
    mm_head(out, "doppel_log_dropped_total", "counter",
            "Log lines the master could not write.");
    dstr_appendf(out, "doppel_log_dropped_total %lu\n", log_dropped());
    if (m->anvil != NULL) {
        struct anvil_stats st;

        anvil_stats(m->anvil, &st);
        mm_head(out, "doppel_client_limit_connections", "gauge",
                "Connections counted now for the per-client limits.");
        dstr_appendf(out, "doppel_client_limit_connections %lu\n",
                     (unsigned long) st.leases_used);
        mm_head(out, "doppel_client_limit_clients", "gauge",
                "Clients (per service) the per-client limits remember.");
        dstr_appendf(out, "doppel_client_limit_clients %lu\n",
                     (unsigned long) st.entries_used);
        mm_head(out, "doppel_client_limit_uncounted_total", "counter",
                "Events the per-client limits could not count (table full).");
        dstr_appendf(out, "doppel_client_limit_uncounted_total %llu\n",
                     (unsigned long long) st.full);
    }
    free(v);
    return 0;
}

/* mm_request - any GET or HEAD: the metrics */
static void
mm_request(struct evhttp_request *req, void *arg)
{
    struct master_metrics *mm = arg;
    struct dstr *out;
    struct evbuffer *buf;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    out = dstr_new(4096, MM_BODY_MAX);
    master_metrics_format(mm->m, out);
    buf = evbuffer_new();
    evbuffer_add(buf, out->data, out->len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
    dstr_free(out);
}

/* mm_split - "host:port" or "[v6]:port" into host and port */
static int
mm_split(const char *listen, char *host, size_t size, unsigned *port)
{
    const char *colon, *end;
    char   *stop;
    unsigned long n;

    if (*listen == '[') {
        if ((end = strchr(listen, ']')) == NULL || end[1] != ':')
            return -1;
        colon = end + 1;
        if ((size_t) (end - listen - 1) >= size)
            return -1;
        memcpy(host, listen + 1, (size_t) (end - listen - 1));
        host[end - listen - 1] = 0;
    } else {
        if ((colon = strrchr(listen, ':')) == NULL
            || (size_t) (colon - listen) >= size)
            return -1;
        memcpy(host, listen, (size_t) (colon - listen));
        host[colon - listen] = 0;
    }
    if (colon[1] < '0' || colon[1] > '9')
        return -1;
    n = strtoul(colon + 1, &stop, 10);
    if (*stop != 0 || n == 0 || n > 65535)
        return -1;
    *port = (unsigned) n;
    return 0;
}

/* master_metrics_open - bind and serve, or NULL (off, or why) */
struct master_metrics *
master_metrics_open(struct master *m, const char *listen, struct dstr *why)
{
    struct master_metrics *mm;
    char    host[MM_HOST_MAX];
    unsigned port;

    if (listen == NULL || *listen == 0)
        return NULL;
    if (mm_split(listen, host, sizeof(host), &port) < 0) {
        dstr_appendf(why, "metrics_listen = %s: use host:port or"
                     " [ipv6]:port", listen);
        return NULL;
    }
    mm = xcalloc(1, sizeof(*mm));
    mm->m = m;
    mm->listen = xstrdup(listen);
    mm->http = evhttp_new(m->base);
    evhttp_set_timeout(mm->http, MASTER_METRICS_TIMEOUT_S);
    evhttp_set_max_headers_size(mm->http, 8192);
    evhttp_set_max_body_size(mm->http, 1024);
    evhttp_set_allowed_methods(mm->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(mm->http, mm_request, mm);
    if (evhttp_bind_socket_with_handle(mm->http, host, (ev_uint16_t) port)
        == NULL) {
        dstr_appendf(why, "metrics_listen = %s: cannot bind (in use, or not"
                     " a local address)", listen);
        master_metrics_close(mm);
        return NULL;
    }
    return mm;
}

/* master_metrics_listen - the address it serves */
const char *
master_metrics_listen(const struct master_metrics *mm)
{
    return mm != NULL ? mm->listen : "";
}

/* master_metrics_close - stop serving */
struct master_metrics *
master_metrics_close(struct master_metrics *mm)
{
    if (mm == NULL)
        return NULL;
    evhttp_free(mm->http);
    free(mm->listen);
    free(mm);
    return NULL;
}
