/* master_proto - encode, decode and send control messages to doppel-master. */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/dstr.h"
#include "util/str.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "global/master_proto.h"

/* mp_put32 / mp_put16 - host-order fields into a header */
static void
mp_put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void
mp_put16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* mp_get32 / mp_get16 - host-order fields out of a header */
static uint32_t
mp_get32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t
mp_get16(const unsigned char *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* mp_type_known - a request or the reply to one */
static int
mp_type_known(unsigned type)
{
    unsigned base = type & ~(unsigned) MASTER_PROTO_REPLY;

    return (type & ~0xffu) == 0 && base >= MASTER_PROTO_STATUS
        && base <= MASTER_PROTO_STOP;
}

/* master_proto_type_name - "status", "reload", "stop" */
const char *
master_proto_type_name(unsigned type)
{
    switch (type & ~(unsigned) MASTER_PROTO_REPLY) {
    case MASTER_PROTO_STATUS:
        return "status";
    case MASTER_PROTO_RELOAD:
        return "reload";
    case MASTER_PROTO_STOP:
        return "stop";
    default:
        return "unknown";
    }
}

/* master_proto_encode - append one message to out */
int
master_proto_encode(struct dstr *out, enum master_proto_type type,
                    int32_t status, const void *body, size_t len)
{
    unsigned char h[MASTER_PROTO_HEADER_SIZE];

    if (len > MASTER_PROTO_BODY_MAX || !mp_type_known((unsigned) type))
        return -1;
    mp_put32(h, MASTER_PROTO_MAGIC);
    mp_put16(h + 4, MASTER_PROTO_VERSION);
    mp_put16(h + 6, (uint16_t) type);
    mp_put32(h + 8, (uint32_t) status);
    mp_put32(h + 12, (uint32_t) len);
    if (dstr_append(out, h, sizeof(h)) < 0)
        return -1;
    if (len > 0 && dstr_append(out, body, len) < 0)
        return -1;
    return 0;
}

/*
 * master_proto_decode - one message from the front of buf: OK with
 * msg filled, MORE if incomplete, BAD (with why) if it can never be a
 * message. The header is checked before the length is trusted.
 */
enum master_proto_result
master_proto_decode(const void *buf, size_t len, struct master_proto_msg *msg,
                    struct dstr *why)
{
    const unsigned char *p = buf;
    uint32_t magic, length;

    memset(msg, 0, sizeof(*msg));
    if (len < 4)
        return MASTER_PROTO_MORE;
    if ((magic = mp_get32(p)) != MASTER_PROTO_MAGIC) {
        dstr_appendf(why, "bad magic %08x", magic);
        return MASTER_PROTO_BAD;
    }
    if (len < MASTER_PROTO_HEADER_SIZE)
        return MASTER_PROTO_MORE;
    msg->version = mp_get16(p + 4);
    msg->type = mp_get16(p + 6);
    msg->status = (int32_t) mp_get32(p + 8);
    length = mp_get32(p + 12);
    if (msg->version != MASTER_PROTO_VERSION) {
        dstr_appendf(why, "protocol version %u, expected %u", msg->version,
                     MASTER_PROTO_VERSION);
        return MASTER_PROTO_BAD;
    }
    if (!mp_type_known(msg->type)) {
        dstr_appendf(why, "unknown message type %u", msg->type);
        return MASTER_PROTO_BAD;
    }
    if (length > MASTER_PROTO_BODY_MAX) {
        dstr_appendf(why, "body of %lu bytes exceeds the limit %d",
                     (unsigned long) length, MASTER_PROTO_BODY_MAX);
        return MASTER_PROTO_BAD;
    }
    if (len - MASTER_PROTO_HEADER_SIZE < length)
        return MASTER_PROTO_MORE;
    msg->body = (const char *) p + MASTER_PROTO_HEADER_SIZE;
    msg->length = length;
    msg->consumed = MASTER_PROTO_HEADER_SIZE + (size_t) length;
    return MASTER_PROTO_OK;
}

/* master_proto_status_encode - head plus head->nservices records */
int
master_proto_status_encode(struct dstr *out,
                           const struct master_proto_status_head *head,
                           const struct master_proto_service *svcs)
{
    if (head->nservices > SCOREBOARD_SERVICES_MAX
        || head->nclasses > SCOREBOARD_CLASSES)
        return -1;
    if (dstr_append(out, head, sizeof(*head)) < 0)
        return -1;
    if (head->nservices > 0
        && dstr_append(out, svcs, head->nservices * sizeof(*svcs)) < 0)
        return -1;
    return 0;
}

/* mp_terminate - force a NUL at the end of a fixed string field */
static void
mp_terminate(char *s, size_t size)
{
    s[size - 1] = 0;
}

/* master_proto_status_decode - check the length, copy, terminate strings */
int
master_proto_status_decode(const void *body, size_t len,
                           struct master_proto_status *out, struct dstr *why)
{
    size_t  i, n;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(out->head)) {
        dstr_appendf(why, "status reply of %zu bytes is too short", len);
        return -1;
    }
    memcpy(&out->head, body, sizeof(out->head));
    n = out->head.nservices;
    if (n > SCOREBOARD_SERVICES_MAX || out->head.nclasses > SCOREBOARD_CLASSES) {
        dstr_appendf(why, "status reply claims %zu services, %u classes", n,
                     out->head.nclasses);
        return -1;
    }
    if (len != sizeof(out->head) + n * sizeof(*out->services)) {
        dstr_appendf(why, "status reply of %zu bytes, expected %zu", len,
                     sizeof(out->head) + n * sizeof(*out->services));
        return -1;
    }
    mp_terminate(out->head.config_dir, sizeof(out->head.config_dir));
    for (i = 0; i < SCOREBOARD_CLASSES; i++)
        mp_terminate(out->head.classes[i], sizeof(out->head.classes[i]));
    out->services = xcalloc(n ? n : 1, sizeof(*out->services));
    if (n > 0)
        memcpy(out->services, (const char *) body + sizeof(out->head),
               n * sizeof(*out->services));
    for (i = 0; i < n; i++) {
        mp_terminate(out->services[i].listen, sizeof(out->services[i].listen));
        mp_terminate(out->services[i].program,
                     sizeof(out->services[i].program));
    }
    return 0;
}

/* master_proto_status_free - free the records */
void
master_proto_status_free(struct master_proto_status *st)
{
    free(st->services);
    st->services = NULL;
}

/* mp_wait - poll one fd for events until the deadline; 0 ready, -1 not */
static int
mp_wait(int fd, short events, long long deadline, struct dstr *why)
{
    struct pollfd pfd;
    long long left;
    int     n;

    for (;;) {
        if ((left = deadline - clock_mono_ms()) <= 0) {
            dstr_append_str(why, "timed out");
            return -1;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, (int) (left > 60000 ? 60000 : left));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            dstr_appendf(why, "poll: %s", strerror(errno));
            return -1;
        }
    }
}

/*
 * master_proto_call - connect to the control socket, send one request,
 * read one reply. Every wait ends at now + timeout_ms.
 */
int
master_proto_call(const char *sock_path, enum master_proto_type type,
                  int timeout_ms, struct master_proto_reply *reply,
                  struct dstr *why)
{
    struct sockaddr_un sun;
    struct master_proto_msg msg;
    struct dstr *out = dstr_new(MASTER_PROTO_HEADER_SIZE, DSTR_UNLIMITED);
    struct dstr *in = dstr_new(4096, MASTER_PROTO_HEADER_SIZE
                               + MASTER_PROTO_BODY_MAX);
    long long deadline = clock_mono_ms() + timeout_ms;
    char    buf[8192];
    size_t  off = 0;
    ssize_t n;
    int     fd = -1, ret = -1;
    enum master_proto_result r;

    reply->status = -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (str_copy(sun.sun_path, sizeof(sun.sun_path), sock_path) < 0) {
        dstr_appendf(why, "%s: socket path too long", sock_path);
        goto out;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                     0)) < 0) {
        dstr_appendf(why, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0
        && errno != EINPROGRESS && errno != EAGAIN) {
        dstr_appendf(why, "%s: connect: %s", sock_path, strerror(errno));
        goto out;
    }
    if (master_proto_encode(out, type, 0, NULL, 0) < 0) {
        dstr_append_str(why, "cannot encode the request");
        goto out;
    }
    while (off < out->len) {
        if (mp_wait(fd, POLLOUT, deadline, why) < 0)
            goto out;
        n = send(fd, out->data + off, out->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            dstr_appendf(why, "%s: send: %s", sock_path, strerror(errno));
            goto out;
        }
        if (n > 0)
            off += (size_t) n;
    }
    for (;;) {
        dstr_truncate(why, 0);
        r = master_proto_decode(in->data, in->len, &msg, why);
        if (r == MASTER_PROTO_BAD)
            goto out;
        if (r == MASTER_PROTO_OK)
            break;
        if (mp_wait(fd, POLLIN, deadline, why) < 0)
            goto out;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0) {
            dstr_appendf(why, "%s: the master closed the connection",
                         sock_path);
            goto out;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            dstr_appendf(why, "%s: recv: %s", sock_path, strerror(errno));
            goto out;
        }
        if (dstr_append(in, buf, (size_t) n) < 0) {
            dstr_append_str(why, "reply too long");
            goto out;
        }
    }
    if (msg.type != (type | MASTER_PROTO_REPLY)) {
        dstr_appendf(why, "reply of type %u to a %s request", msg.type,
                     master_proto_type_name(type));
        goto out;
    }
    reply->status = msg.status;
    if (dstr_set(reply->body, msg.body, msg.length) < 0) {
        dstr_append_str(why, "reply body too long");
        goto out;
    }
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    dstr_free(out);
    dstr_free(in);
    return ret;
}

/* master_proto_worker_init - not under a master until --master says so */
void
master_proto_worker_init(struct master_proto_worker *w)
{
    w->under_master = 0;
    w->service = -1;
    w->worker = -1;
}

/*
 * master_proto_worker_option - one getopt_long() result: 1 if it was a
 * worker-contract option, 0 if not ours, -1 for a bad index.
 */
int
master_proto_worker_option(struct master_proto_worker *w, int opt,
                           const char *arg)
{
    long long *index;

    switch (opt) {
    case 'M':
        w->under_master = 1;
        return 1;
    case 'V':
        index = &w->service;
        break;
    case 'W':
        index = &w->worker;
        break;
    default:
        return 0;
    }
    return units_parse_int(arg, index) < 0 || *index < 0 ? -1 : 1;
}

/* master_proto_worker_complete - standalone, or --master with both indexes */
int
master_proto_worker_complete(const struct master_proto_worker *w)
{
    return !w->under_master || (w->service >= 0 && w->worker >= 0);
}
