/* test_master_proto - unit tests for global/master_proto: framing, status, the client. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/dstr.h"
#include "util/str.h"
#include "global/master_proto.h"
#include "testutil.h"

/* test_mp_roundtrip - encode and decode a reply with a body */
static void
test_mp_roundtrip(void **state)
{
    struct dstr *out = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *why = dstr_new(64, 1024);
    struct master_proto_msg msg;
    size_t  i;

    (void) state;
    assert_int_equal(master_proto_encode(out, MASTER_PROTO_RELOAD
                                         | MASTER_PROTO_REPLY, 1, "bad", 3), 0);
    assert_int_equal(out->len, MASTER_PROTO_HEADER_SIZE + 3);
    /* every prefix is incomplete, never bad */
    for (i = 0; i < out->len; i++)
        assert_int_equal(master_proto_decode(out->data, i, &msg, why),
                         MASTER_PROTO_MORE);
    assert_int_equal(master_proto_decode(out->data, out->len, &msg, why),
                     MASTER_PROTO_OK);
    assert_int_equal(msg.type, MASTER_PROTO_RELOAD | MASTER_PROTO_REPLY);
    assert_int_equal(msg.status, 1);
    assert_int_equal(msg.length, 3);
    assert_memory_equal(msg.body, "bad", 3);
    assert_int_equal(msg.consumed, out->len);
    assert_string_equal(master_proto_type_name(msg.type), "reload");
    dstr_free(out);
    dstr_free(why);
}

/* test_mp_malformed - magic, version, type, length are each checked */
static void
test_mp_malformed(void **state)
{
    struct dstr *out = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *why = dstr_new(64, 1024);
    struct master_proto_msg msg;
    uint32_t big = MASTER_PROTO_BODY_MAX + 1;
    uint16_t v;

    (void) state;
    assert_int_equal(master_proto_encode(out, MASTER_PROTO_STATUS, 0, NULL, 0),
                     0);
    out->data[0] ^= 1;
    assert_int_equal(master_proto_decode(out->data, 4, &msg, why),
                     MASTER_PROTO_BAD);
    assert_non_null(strstr(why->data, "bad magic"));
    out->data[0] ^= 1;

    v = 2;
    memcpy(out->data + 4, &v, 2);
    dstr_reset(why);
    assert_int_equal(master_proto_decode(out->data, out->len, &msg, why),
                     MASTER_PROTO_BAD);
    assert_non_null(strstr(why->data, "protocol version 2"));
    v = MASTER_PROTO_VERSION;
    memcpy(out->data + 4, &v, 2);

    v = 9;
    memcpy(out->data + 6, &v, 2);
    dstr_reset(why);
    assert_int_equal(master_proto_decode(out->data, out->len, &msg, why),
                     MASTER_PROTO_BAD);
    assert_non_null(strstr(why->data, "unknown message type 9"));
    v = 0x183;                         /* beyond the byte: refused */
    memcpy(out->data + 6, &v, 2);
    assert_int_equal(master_proto_decode(out->data, out->len, &msg, why),
                     MASTER_PROTO_BAD);
    v = MASTER_PROTO_STOP;
    memcpy(out->data + 6, &v, 2);

    /* an over-long length is refused before any body arrives */
    memcpy(out->data + 12, &big, 4);
    dstr_reset(why);
    assert_int_equal(master_proto_decode(out->data, out->len, &msg, why),
                     MASTER_PROTO_BAD);
    assert_non_null(strstr(why->data, "exceeds the limit"));

    /* the encoder refuses what the decoder would */
    assert_int_equal(master_proto_encode(out, 9, 0, NULL, 0), -1);
    assert_int_equal(master_proto_encode(out, MASTER_PROTO_STATUS, 0, "x",
                                         MASTER_PROTO_BODY_MAX + 1), -1);
    dstr_free(out);
    dstr_free(why);
}

/* test_mp_status - status records survive; lengths must match exactly */
static void
test_mp_status(void **state)
{
    struct master_proto_status_head head;
    struct master_proto_service svcs[2];
    struct master_proto_status st;
    struct dstr *body = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *why = dstr_new(64, 1024);
    struct master_proto_service *raw;

    (void) state;
    memset(&head, 0, sizeof(head));
    memset(svcs, 0, sizeof(svcs));
    head.nservices = 2;
    head.nclasses = 1;
    head.pid = 4242;
    str_copy(head.classes[0], sizeof(head.classes[0]), "default");
    str_copy(svcs[0].listen, sizeof(svcs[0].listen), "127.0.0.1:2525");
    svcs[0].open = 20;
    svcs[0].limit = 20;
    svcs[0].stress = 1;
    str_copy(svcs[1].listen, sizeof(svcs[1].listen), "127.0.0.1:2526");
    svcs[1].counters[SCOREBOARD_FULL] = 7;
    assert_int_equal(master_proto_status_encode(body, &head, svcs), 0);
    assert_int_equal(master_proto_status_decode(body->data, body->len, &st,
                                                why), 0);
    assert_int_equal(st.head.pid, 4242);
    assert_int_equal(st.head.nservices, 2);
    assert_string_equal(st.head.classes[0], "default");
    assert_string_equal(st.services[0].listen, "127.0.0.1:2525");
    assert_int_equal(st.services[0].open, 20);
    assert_int_equal(st.services[0].stress, 1);
    assert_int_equal(st.services[1].counters[SCOREBOARD_FULL], 7);
    master_proto_status_free(&st);

    /* unterminated strings come out terminated */
    raw = (struct master_proto_service *) (body->data + sizeof(head));
    memset(raw->listen, 'x', sizeof(raw->listen));
    assert_int_equal(master_proto_status_decode(body->data, body->len, &st,
                                                why), 0);
    assert_int_equal(strlen(st.services[0].listen),
                     sizeof(raw->listen) - 1);
    master_proto_status_free(&st);

    /* one byte short, one byte long, a short head, a lying count */
    assert_int_equal(master_proto_status_decode(body->data, body->len - 1, &st,
                                                why), -1);
    dstr_append_char(body, 0);
    assert_int_equal(master_proto_status_decode(body->data, body->len, &st,
                                                why), -1);
    assert_int_equal(master_proto_status_decode(body->data, 10, &st, why), -1);
    ((struct master_proto_status_head *) body->data)->nservices = 1000000;
    dstr_reset(why);
    assert_int_equal(master_proto_status_decode(body->data, body->len, &st,
                                                why), -1);
    assert_non_null(strstr(why->data, "claims"));
    head.nservices = SCOREBOARD_SERVICES_MAX + 1;
    assert_int_equal(master_proto_status_encode(body, &head, svcs), -1);
    dstr_free(body);
    dstr_free(why);
}

struct test_server {
    int     fd;
    int     mode;                      /* 0 reply, 1 junk, 2 close */
};

/* test_server_main - accept one client, answer as the mode says */
static void *
test_server_main(void *arg)
{
    struct test_server *ts = arg;
    struct dstr *out = dstr_new(64, DSTR_UNLIMITED);
    char    buf[MASTER_PROTO_HEADER_SIZE];
    int     c = accept(ts->fd, NULL, NULL);
    size_t  got = 0;
    ssize_t n;

    while (c >= 0 && got < sizeof(buf)
           && (n = read(c, buf + got, sizeof(buf) - got)) > 0)
        got += (size_t) n;
    if (ts->mode == 0)
        master_proto_encode(out, MASTER_PROTO_RELOAD | MASTER_PROTO_REPLY, 1,
                            "doppel.cf:1: bad", 16);
    else if (ts->mode == 1)
        dstr_append_str(out, "HTTP/1.0 200 OK\r\n\r\nnot the protocol");
    if (c >= 0) {
        if (out->len > 0 && write(c, out->data, out->len) < 0)
            c = -1;
        if (c >= 0)
            close(c);
    }
    dstr_free(out);
    return NULL;
}

/* test_mp_call_mode - run master_proto_call against a thread */
static int
test_mp_call_mode(int mode, struct master_proto_reply *reply, struct dstr *why)
{
    char   *dir = testutil_tmpdir();
    struct sockaddr_un sun;
    struct test_server ts;
    pthread_t tid;
    int     ret;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(str_copy(sun.sun_path, sizeof(sun.sun_path), dir), 0);
    assert_true(strlen(dir) + 6 < sizeof(sun.sun_path));
    memcpy(sun.sun_path + strlen(dir), "/sock", 6);
    ts.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ts.mode = mode;
    assert_int_equal(bind(ts.fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
    assert_int_equal(listen(ts.fd, 1), 0);
    assert_int_equal(pthread_create(&tid, NULL, test_server_main, &ts), 0);
    ret = master_proto_call(sun.sun_path, MASTER_PROTO_RELOAD, 5000, reply,
                            why);
    pthread_join(tid, NULL);
    close(ts.fd);
    testutil_rmtree(dir);
    free(dir);
    return ret;
}

/* test_mp_call - a reply arrives; junk and a silent close are errors */
static void
test_mp_call(void **state)
{
    struct master_proto_reply reply;
    struct dstr *why = dstr_new(64, 1024);

    (void) state;
    reply.body = dstr_new(64, DSTR_UNLIMITED);
    assert_int_equal(test_mp_call_mode(0, &reply, why), 0);
    assert_int_equal(reply.status, 1);
    assert_string_equal(reply.body->data, "doppel.cf:1: bad");
    dstr_reset(why);
    assert_int_equal(test_mp_call_mode(1, &reply, why), -1);
    assert_non_null(strstr(why->data, "bad magic"));
    dstr_reset(why);
    assert_int_equal(test_mp_call_mode(2, &reply, why), -1);
    assert_non_null(strstr(why->data, "closed the connection"));
    dstr_reset(why);
    assert_int_equal(master_proto_call("/nonexistent/sock", MASTER_PROTO_STATUS,
                                       1000, &reply, why), -1);
    assert_non_null(strstr(why->data, "connect"));
    dstr_free(reply.body);
    dstr_free(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp_roundtrip),
        cmocka_unit_test(test_mp_malformed),
        cmocka_unit_test(test_mp_status),
        cmocka_unit_test(test_mp_call),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
