/*
 * NAME
 *     master_proto - the master's control protocol and the worker contract
 * SYNOPSIS
 *     #include "global/master_proto.h"
 *
 *     master_proto_call(sock_path, MASTER_PROTO_STATUS, NULL, 0, 5000,
 *                       &reply, why);
 *     master_proto_encode(out, type, status, body, len);
 *     master_proto_decode(buf, len, &msg, why);
 *     master_proto_status_decode(body, len, &status, why);
 * DESCRIPTION
 *     CONTROL SOCKET. doppel-master listens on the unix socket
 *     run_directory/master.sock (mode 0600: the master's user and root)
 *     next to run_directory/master.pid. A client connects, sends one
 *     request and reads one reply; then either side closes.
 *
 *     Every message is a 16-byte header followed by a body:
 *
 *         uint32 magic    MASTER_PROTO_MAGIC ("DPCT")
 *         uint16 version  MASTER_PROTO_VERSION
 *         uint16 type     enum master_proto_type
 *         int32  status   replies: 0 done, 1 refused (body says why)
 *         uint32 length   body bytes, at most MASTER_PROTO_BODY_MAX
 *
 *     in host byte order (both ends are on one machine). Requests have
 *     an empty body. The reply to a request has type (request | 0x80):
 *
 *         STATUS  body: struct master_proto_status_head, then
 *                 nservices x struct master_proto_service.
 *         RELOAD  status 0, body "reloaded: generation N"; or status 1,
 *                 body the configuration errors ("FILE:LINE: ..."),
 *                 the old configuration staying in force.
 *         STOP    status 0, body empty; the master then shuts down
 *                 gracefully (the client waits for the pid to go).
 *
 *     A decoder checks magic, version, type and length before it looks
 *     at a body, and a status body's length must be exactly the head
 *     plus nservices records. Strings in records are NUL-terminated by
 *     the decoder, whatever the sender wrote.
 *
 *     WORKER CONTRACT. For each worker of a service the master forks,
 *     drops privileges (see doppel-master(8)) and executes
 *
 *         PROGRAM -c CONFIG_DIR --master --service INDEX --worker WSLOT
 *                 [--foreground]
 *
 *     where INDEX is the service's line index in conf->services as the
 *     master loaded it, WSLOT the worker's slot in the scoreboard, and
 *     --foreground means "log to standard error" (the master runs with
 *     -f). Descriptors:
 *
 *         0, 1, 2   /dev/null, or the master's stderr in the foreground
 *         3         MASTER_PROTO_LISTEN_FD: the service's listening
 *                   socket, bound and listening, non-blocking, shared by
 *                   all workers of the service (accept it; never close
 *                   and re-bind it)
 *         4         MASTER_PROTO_SCOREBOARD_FD: the scoreboard memfd;
 *                   scoreboard_attach(4, why)
 *         5         MASTER_PROTO_ANVIL_FD (smtpd workers only): the
 *                   per-client limits table, one memfd for the whole
 *                   host, created once when the master starts and kept
 *                   across reloads; anvil_attach(5, why). The master
 *                   calls anvil_worker_gone(WSLOT) when it reaps the
 *                   worker, so the connections a dead worker still
 *                   counted are released (global/anvil.h)
 *
 *     Nothing else is open. The worker:
 *     - loads CONFIG_DIR itself and checks that service INDEX there has
 *       the LISTEN the scoreboard shows for its slot (the file may have
 *       changed since the master read it); on a mismatch or a bad
 *       configuration it exits with MASTER_PROTO_EXIT_CONFIG, which
 *       the master does not count as a crash but restarts only after
 *       its longest back-off;
 *     - finds its service slot with scoreboard_worker_service(WSLOT);
 *     - counts every session with scoreboard_session_open()/close() and
 *       the events with scoreboard_count() (CONNECTIONS per accept,
 *       MESSAGES, REJECTS, TIMEOUTS, FULL per "421 4.3.2" refusal,
 *       EVICTIONS);
 *     - (smtpd) counts each client's connections, messages and
 *       recipients in the anvil table, its leases taken with WSLOT, and
 *       applies the per-client limits (smtpd/smtpd_limits.h);
 *     - reads scoreboard_stress_get() at every accept (the personality
 *       of the new session) and at least every SCOREBOARD_POLL_MS; when
 *       the flag changes and master_stress_tighten_sessions is yes, it
 *       re-arms the timers of its open sessions with the new
 *       personality and moves their count with
 *       scoreboard_session_move();
 *     - admits a connection when open < smtpd_client_limit (the
 *       reserve rules of DESIGN.md apply); when full and stressed it
 *       evicts its own longest-idle session (421 4.3.2), else answers
 *       421 4.3.2 at once;
 *     - on SIGTERM stops accepting (closes fd 3), lets open sessions
 *       finish and exits 0 when the last one ends (graceful: reload
 *       and "doppel stop");
 *     - on SIGQUIT ends every session with "421 4.3.2 Service shutting
 *       down" and exits 0 at once (the master's shutdown deadline);
 *     - ignores SIGHUP (the master replaces workers on reload);
 *     - dies with the master: the master sets PR_SET_PDEATHSIG=SIGTERM
 *       before exec, so a worker whose master is gone drains and exits.
 *     A worker parses these arguments with master_proto_worker_option()
 *     (its getopt_long() table includes MASTER_PROTO_WORKER_OPTIONS) and
 *     checks them with master_proto_worker_complete().
 *     Exit status 0 after SIGTERM/SIGQUIT is not a crash; any other
 *     exit, or a signal, is, and the worker is restarted with back-off.
 * RULES
 *     master_proto_call() is blocking, with a timer on every wait, for
 *     the CLI; the master decodes with master_proto_decode() from its
 *     event loop.
 * DIAGNOSTICS
 *     Functions return 0, or -1 with the reason in *why. Decoding
 *     returns MASTER_PROTO_MORE while the message is incomplete.
 * SEE ALSO
 *     global/scoreboard.h, global/anvil.h, doppel-master(8), doppel(1)
 */
#ifndef DOPPEL_GLOBAL_MASTER_PROTO_H
#define DOPPEL_GLOBAL_MASTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/dstr.h"
#include "global/scoreboard.h"

#define MASTER_PROTO_MAGIC 0x44504354u  /* "DPCT" */
#define MASTER_PROTO_VERSION 1
#define MASTER_PROTO_HEADER_SIZE 16
#define MASTER_PROTO_BODY_MAX (256 * 1024)
#define MASTER_PROTO_REPLY 0x80
#define MASTER_PROTO_SOCKET "master.sock"
#define MASTER_PROTO_PIDFILE "master.pid"
#define MASTER_PROTO_LISTEN_FD 3
#define MASTER_PROTO_SCOREBOARD_FD 4
#define MASTER_PROTO_ANVIL_FD 5       /* smtpd workers only */
#define MASTER_PROTO_EXIT_CONFIG 78     /* EX_CONFIG: do not retry fast */
#define MASTER_PROTO_NAME_MAX 32

enum master_proto_type {
    MASTER_PROTO_STATUS = 1,
    MASTER_PROTO_RELOAD = 2,
    MASTER_PROTO_STOP = 3,
};

enum master_proto_result {
    MASTER_PROTO_OK = 0,
    MASTER_PROTO_MORE = 1,             /* need more bytes */
    MASTER_PROTO_BAD = -1,             /* malformed: close the connection */
};

struct master_proto_msg {
    uint16_t version;
    uint16_t type;
    int32_t status;
    const char *body;                  /* points into the decoded buffer */
    size_t  length;
    size_t  consumed;                  /* header + body */
};

struct master_proto_status_head {
    uint32_t nservices;
    uint32_t nclasses;                 /* names in classes[]: the names of
                                        * the scoreboard's class slots */
    int32_t pid;
    uint32_t stopping;
    int64_t started_ms;
    int64_t reload_ms;                 /* last successful reload, or 0 */
    uint64_t generation;
    uint64_t reload_failures;
    char    config_dir[256];
    char    classes[SCOREBOARD_CLASSES][MASTER_PROTO_NAME_MAX];
};

struct master_proto_service {
    char    listen[SCOREBOARD_LISTEN_MAX];
    char    program[MASTER_PROTO_NAME_MAX];
    uint32_t index;
    int32_t force;                     /* enum service_force */
    uint32_t stress;
    uint32_t reason;                   /* enum scoreboard_reason */
    int64_t since_ms;
    int64_t open;
    int64_t limit;
    int64_t threshold;
    int64_t by_stress[2];
    int64_t by_class[SCOREBOARD_CLASSES];
    int64_t clear_at_ms;               /* stress clears then if load stays
                                        * low; 0 if not counting down */
    uint32_t workers;                  /* running now (all generations) */
    uint32_t workers_wanted;
    uint64_t counters[SCOREBOARD_COUNTERS];
};

struct master_proto_status {
    struct master_proto_status_head head;
    struct master_proto_service *services;     /* owned; head.nservices */
};

struct master_proto_reply {
    int     status;
    struct dstr *body;                 /* owned by the caller */
};

int     master_proto_encode(struct dstr *out, enum master_proto_type type,
                            int32_t status, const void *body, size_t len);
enum master_proto_result master_proto_decode(const void *buf, size_t len,
                                             struct master_proto_msg *msg,
                                             struct dstr *why);
const char *master_proto_type_name(unsigned type);

/* The worker side of the contract: its command-line arguments. */
struct master_proto_worker {
    int     under_master;              /* --master */
    long long service;                 /* --service INDEX, or -1 */
    long long worker;                  /* --worker WSLOT, or -1 */
};

/* rows for a getopt_long() table (include <getopt.h>) */
#define MASTER_PROTO_WORKER_OPTIONS \
    {"master", no_argument, NULL, 'M'}, \
    {"service", required_argument, NULL, 'V'}, \
    {"worker", required_argument, NULL, 'W'}

void    master_proto_worker_init(struct master_proto_worker *w);
int     master_proto_worker_option(struct master_proto_worker *w, int opt,
                                   const char *arg);
int     master_proto_worker_complete(const struct master_proto_worker *w);
int     master_proto_status_encode(struct dstr *out,
                                   const struct master_proto_status_head *head,
                                   const struct master_proto_service *svcs);
int     master_proto_status_decode(const void *body, size_t len,
                                   struct master_proto_status *out,
                                   struct dstr *why);
void    master_proto_status_free(struct master_proto_status *st);
int     master_proto_call(const char *sock_path, enum master_proto_type type,
                          int timeout_ms, struct master_proto_reply *reply,
                          struct dstr *why);

#endif
