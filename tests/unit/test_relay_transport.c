/* test_relay_transport - unit tests for relay/relay_transport. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "conf/params.h"
#include "tables/table.h"
#include "relay/relay_transport.h"
#include "testutil.h"

/* test_parse_smtp - the forms of an SMTP next hop */
static void
test_parse_smtp(void **state)
{
    struct relay_transport t;
    struct dstr *why = dstr_new(64, 4096);

    (void) state;
    assert_int_equal(relay_transport_parse("smtp:[10.0.0.1]:2525", &t, why), 0);
    assert_int_equal(t.kind, RELAY_TRANSPORT_SMTP);
    assert_string_equal(t.host, "10.0.0.1");
    assert_string_equal(t.port, "2525");
    assert_string_equal(t.key, "smtp:[10.0.0.1]:2525");
    assert_int_equal(relay_transport_parse("smtp:[::1]:25", &t, why), 0);
    assert_string_equal(t.host, "::1");
    assert_int_equal(relay_transport_parse("smtp:[mail.example]", &t, why), 0);
    assert_string_equal(t.host, "mail.example");
    assert_string_equal(t.port, "25");
    assert_int_equal(relay_transport_parse("smtp:mx.example:26", &t, why), 0);
    assert_string_equal(t.host, "mx.example");
    assert_string_equal(t.port, "26");
    assert_int_equal(relay_transport_parse("smtp:[x", &t, why), -1);
    assert_non_null(strstr(why->data, "\"smtp:[x\" is not a transport"));
    assert_int_equal(relay_transport_parse("smtp:[h]:0", &t, why), -1);
    assert_int_equal(relay_transport_parse("smtp:[h]:65536", &t, why), -1);
    assert_int_equal(relay_transport_parse("smtp:[h]x", &t, why), -1);
    assert_int_equal(relay_transport_parse("smtp:::1:25", &t, why), -1);
    assert_int_equal(relay_transport_parse("smtp:", &t, why), -1);
    dstr_free(why);
}

/* test_parse_others - lmtp, maildir, discard and junk */
static void
test_parse_others(void **state)
{
    struct relay_transport t;
    struct dstr *why = dstr_new(64, 4096);
    char    longpath[200];

    (void) state;
    assert_int_equal(relay_transport_parse("lmtp:inet:127.0.0.1:24", &t, why),
                     0);
    assert_int_equal(t.kind, RELAY_TRANSPORT_LMTP_INET);
    assert_string_equal(t.host, "127.0.0.1");
    assert_string_equal(t.port, "24");
    assert_int_equal(relay_transport_parse("lmtp:unix:/run/lmtp", &t, why), 0);
    assert_int_equal(t.kind, RELAY_TRANSPORT_LMTP_UNIX);
    assert_string_equal(t.path, "/run/lmtp");
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    {
        struct dstr *spec = dstr_new(64, 4096);

        (void) dstr_appendf(spec, "lmtp:unix:/%s", longpath);
        assert_int_equal(relay_transport_parse(spec->data, &t, why), -1);
        dstr_free(spec);
    }
    assert_int_equal(relay_transport_parse("maildir:/var/mail", &t, why), 0);
    assert_int_equal(t.kind, RELAY_TRANSPORT_MAILDIR);
    assert_string_equal(t.path, "/var/mail");
    assert_int_equal(relay_transport_parse("maildir:", &t, why), -1);
    assert_int_equal(relay_transport_parse("discard", &t, why), 0);
    assert_int_equal(t.kind, RELAY_TRANSPORT_DISCARD);
    assert_string_equal(t.path, "");
    assert_int_equal(relay_transport_parse("discard:spam trap", &t, why), 0);
    assert_string_equal(t.path, "spam trap");
    assert_int_equal(relay_transport_parse("discardx", &t, why), -1);
    assert_int_equal(relay_transport_parse("uucp:host", &t, why), -1);
    assert_non_null(strstr(why->data, "use smtp:[HOST]:PORT"));
    assert_string_equal(relay_transport_kind_name(RELAY_TRANSPORT_LMTP_UNIX),
                        "lmtp");
    dstr_free(why);
}

/* test_select - full address, domain, parent domains, default */
static void
test_select(void **state)
{
    struct param_list maps = {0, NULL};
    struct table_list *tl = NULL;
    struct dstr *errors = dstr_new(64, 4096), *spec = dstr_new(64, 4096);

    (void) state;
    assert_int_equal(param_list_split("inline:{ special@example.com=discard,"
                                      " example.com=maildir:/m,"
                                      " .sub.example=smtp:[10.1.1.1]:25 }",
                                      &maps, errors), 0);
    assert_int_equal(table_list_open(&tl, &maps, errors), 0);
    assert_int_equal(relay_transport_select(tl, "smtp:[d]:25",
                                            "Special@Example.COM", spec),
                     RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "discard");
    assert_int_equal(relay_transport_select(tl, "smtp:[d]:25",
                                            "u@example.com", spec),
                     RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "maildir:/m");
    assert_int_equal(relay_transport_select(tl, "smtp:[d]:25",
                                            "u@a.b.sub.example", spec),
                     RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "smtp:[10.1.1.1]:25");
    /* "sub.example" itself is not matched by ".sub.example" */
    assert_int_equal(relay_transport_select(tl, "smtp:[d]:25",
                                            "u@sub.example", spec),
                     RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "smtp:[d]:25");
    assert_int_equal(relay_transport_select(tl, "smtp:[d]:25", "nodomain",
                                            spec), RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "smtp:[d]:25");
    assert_int_equal(relay_transport_select(NULL, "discard", "u@x", spec),
                     RELAY_TRANSPORT_FOUND);
    assert_string_equal(spec->data, "discard");
    tl = table_list_free(tl);
    param_list_free(&maps);
    dstr_free(errors);
    dstr_free(spec);
}

/* test_rcpt_set - the reply text is kept on one line */
static void
test_rcpt_set(void **state)
{
    struct relay_rcpt r;

    (void) state;
    memset(&r, 0, sizeof(r));
    relay_rcpt_set(&r, RELAY_RCPT_BOUNCE, "5.1.1", "h[1.2.3.4]:25", 1,
                   "550 5.1.1 <%s>: no\r\nsuch\tuser", "u@x");
    assert_int_equal(r.status, RELAY_RCPT_BOUNCE);
    assert_string_equal(r.dsn, "5.1.1");
    assert_string_equal(r.relay, "h[1.2.3.4]:25");
    assert_string_equal(r.text, "550 5.1.1 <u@x>: no  such user");
    assert_int_equal(r.remote, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_smtp),
        cmocka_unit_test(test_parse_others),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_rcpt_set),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
