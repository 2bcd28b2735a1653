/*
 * test_smtpd_check - unit tests for smtpd/smtpd_check: one table row per
 * restriction, reply code parameter, access result and restriction
 * class behaviour, each run against a session built by hand from a
 * compiled personality; then the compile-time errors.
 */

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/dstr.h"
#include "util/netaddr.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "conf/cfparse.h"
#include "conf/personality.h"
#include "smtpd/smtpd_check.h"
#include "smtpd/smtpd_dns.h"
#include "smtpd/smtpd_session.h"
#include "smtpd/smtpd_xclient.h"
#include "testutil.h"

#define BASE_CF "myhostname = mx.example.com\n" \
    "mynetworks = 127.0.0.0/8\n" \
    "relay_domains = relay.example\n"
#define STRANGER "192.0.2.10"

#define OK_ 1                           /* name_status: SMTPD_DNS_OK */
#define TEMP 2
#define PERM 3

struct row {
    const char *what;
    const char *cf;                    /* doppel.cf lines after BASE_CF */
    int     stress;
    enum smtpd_check_stage stage;
    const char *arg;                   /* rcpt, helo or sender judged */
    const char *client;                /* default STRANGER */
    const char *name;                  /* default "unknown" */
    int     name_status;               /* default: OK if named, else NONE */
    const char *reverse;               /* default: name */
    int     reverse_status;            /* default: name_status */
    const char *helo;                  /* default client.example */
    const char *sender;                /* default a@b.example */
    const char *pending;               /* input waiting, or NULL */
    int     no_ehlo;                   /* HELO, not EHLO */
    int     result;                    /* 0 or -1 */
    const char *reply;                 /* exact, for -1 */
    const char *log;                   /* a log line contains it, or NULL */
    const char *prepend;               /* s->prepend, or NULL for none */
};

#define RCPT SMTPD_CHECK_RCPT
#define L "smtpd_recipient_restrictions = "
#define R554(rcpt, text) \
    "554 5.7.1 <" rcpt ">: Recipient address rejected: " text

/* *INDENT-OFF* */
static const struct row rows[] = {
    /* generic restrictions and their codes */
    {.what = "permit", .cf = L "permit, reject", .stage = RCPT,
     .arg = "u@mx.example.com"},
    {.what = "reject", .cf = L "reject", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "reject_code", .cf = L "reject\nreject_code = 550", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = "550 5.7.1 <u@mx.example.com>: Recipient address rejected:"
              " Access denied"},
    {.what = "reject_code 4NN: the status follows",
     .cf = L "reject\nreject_code = 421", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = "421 4.7.1 <u@mx.example.com>: Recipient address rejected:"
              " Access denied"},
    {.what = "defer and defer_code", .cf = L "defer\ndefer_code = 451",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = "451 4.7.1 <u@mx.example.com>: Recipient address rejected:"
              " Access denied"},
    {.what = "warn_if_reject", .cf = L "warn_if_reject, reject",
     .stage = RCPT, .arg = "u@mx.example.com",
     .log = "reject_warning: RCPT from unknown[192.0.2.10]: 554 5.7.1"
     " <u@mx.example.com>"},
    {.what = "warn_if_reject covers the next restriction only",
     .cf = L "warn_if_reject, reject_non_fqdn_recipient, reject",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "permit_mynetworks", .cf = L "permit_mynetworks, reject",
     .stage = RCPT, .arg = "u@elsewhere.example", .client = "127.0.0.9"},
    {.what = "permit_mynetworks: a stranger",
     .cf = L "permit_mynetworks, reject", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "permit_mynetworks: IPv4-mapped IPv6",
     .cf = L "permit_mynetworks, reject", .stage = RCPT,
     .arg = "u@mx.example.com", .client = "::ffff:127.0.0.9"},

    /* relay control (smtpd_relay_restrictions by default) */
    {.what = "reject_unauth_destination", .stage = RCPT,
     .arg = "u@elsewhere.example", .result = -1,
     .reply = "554 5.7.1 <u@elsewhere.example>: Relay access denied"},
    {.what = "relay_domains_reject_code",
     .cf = "relay_domains_reject_code = 450", .stage = RCPT,
     .arg = "u@elsewhere.example", .result = -1,
     .reply = "450 4.7.1 <u@elsewhere.example>: Relay access denied"},
    {.what = "reject_unauth_destination: a relay_domains subdomain",
     .stage = RCPT, .arg = "u@a.relay.example"},
    {.what = "reject_unauth_destination: mydestination", .stage = RCPT,
     .arg = "u@MX.example.com"},
    {.what = "defer_unauth_destination",
     .cf = "smtpd_relay_restrictions = defer_unauth_destination",
     .stage = RCPT, .arg = "u@elsewhere.example", .result = -1,
     .reply = "450 4.7.1 <u@elsewhere.example>: Relay access denied"},
    {.what = "permit_auth_destination",
     .cf = L "permit_auth_destination, reject", .stage = RCPT,
     .arg = "u@relay.example"},

    /* HELO, sender and recipient syntax */
    {.what = "reject_non_fqdn_helo_hostname",
     .cf = "smtpd_helo_restrictions = reject_non_fqdn_helo_hostname",
     .stage = RCPT, .arg = "u@mx.example.com", .helo = "bot", .result = -1,
     .reply = "504 5.5.2 <bot>: Helo command rejected: need fully-qualified"
              " hostname"},
    {.what = "non_fqdn_reject_code",
     .cf = "smtpd_helo_restrictions = reject_non_fqdn_helo_hostname\n"
           "non_fqdn_reject_code = 550",
     .stage = SMTPD_CHECK_HELO, .arg = "bot", .result = -1,
     .reply = "550 5.5.2 <bot>: Helo command rejected: need fully-qualified"
              " hostname"},
    {.what = "reject_invalid_helo_hostname",
     .cf = "smtpd_helo_restrictions = reject_invalid_helo_hostname",
     .stage = SMTPD_CHECK_HELO, .arg = "bad!name", .result = -1,
     .reply = "501 5.5.2 <bad!name>: Helo command rejected: Invalid name"},
    {.what = "invalid_hostname_reject_code",
     .cf = "smtpd_helo_restrictions = reject_invalid_helo_hostname\n"
           "invalid_hostname_reject_code = 550",
     .stage = SMTPD_CHECK_HELO, .arg = "bad!name", .result = -1,
     .reply = "550 5.5.2 <bad!name>: Helo command rejected: Invalid name"},
    {.what = "reject_invalid_helo_hostname: an address literal",
     .cf = "smtpd_helo_restrictions = reject_invalid_helo_hostname",
     .stage = SMTPD_CHECK_HELO, .arg = "[192.0.2.1]"},
    {.what = "reject_non_fqdn_sender",
     .cf = "smtpd_sender_restrictions = reject_non_fqdn_sender",
     .stage = SMTPD_CHECK_MAIL, .arg = "a@localhost", .result = -1,
     .reply = "504 5.5.2 <a@localhost>: Sender address rejected: need"
              " fully-qualified address"},
    {.what = "reject_non_fqdn_sender: the null sender",
     .cf = "smtpd_sender_restrictions = reject_non_fqdn_sender",
     .stage = SMTPD_CHECK_MAIL, .arg = ""},
    {.what = "reject_non_fqdn_recipient", .cf = L "reject_non_fqdn_recipient",
     .stage = RCPT, .arg = "u@localhost", .client = "127.0.0.1",
     .result = -1,
     .reply = "504 5.5.2 <u@localhost>: Recipient address rejected: need"
              " fully-qualified address"},

    /* client names */
    {.what = "reject_unknown_client_hostname: named",
     .cf = "smtpd_client_restrictions = reject_unknown_client_hostname",
     .stage = SMTPD_CHECK_CLIENT, .name = "mail.example.org"},
    {.what = "reject_unknown_client_hostname: no name",
     .cf = "smtpd_client_restrictions = reject_unknown_client_hostname",
     .stage = SMTPD_CHECK_CLIENT, .name_status = PERM, .result = -1,
     .reply = "450 4.7.25 Client host rejected: cannot find your hostname,"
              " [192.0.2.10]"},
    {.what = "unknown_client_reject_code",
     .cf = "smtpd_client_restrictions = reject_unknown_client_hostname\n"
           "unknown_client_reject_code = 550",
     .stage = SMTPD_CHECK_CLIENT, .name_status = PERM,
     .reverse = "liar.example", .reverse_status = OK_, .result = -1,
     .reply = "550 5.7.25 Client host rejected: cannot find your hostname,"
              " [192.0.2.10]"},
    {.what = "unknown_client_reject_code: a DNS failure is 450",
     .cf = "smtpd_client_restrictions = reject_unknown_client_hostname\n"
           "unknown_client_reject_code = 550",
     .stage = SMTPD_CHECK_CLIENT, .name_status = TEMP, .result = -1,
     .reply = "450 4.7.25 Client host rejected: cannot find your hostname,"
              " [192.0.2.10]"},
    {.what = "unknown_client_reject_code: no answer is 450",
     .cf = "smtpd_client_restrictions = reject_unknown_client_hostname\n"
           "unknown_client_reject_code = 550",
     .stage = SMTPD_CHECK_CLIENT, .result = -1,
     .reply = "450 4.7.25 Client host rejected: cannot find your hostname,"
              " [192.0.2.10]"},
    {.what = "reject_unknown_reverse_client_hostname: a PTR name will do",
     .cf = "smtpd_client_restrictions ="
           " reject_unknown_reverse_client_hostname\n"
           "unknown_client_reject_code = 550",
     .stage = SMTPD_CHECK_CLIENT, .name_status = PERM,
     .reverse = "liar.example", .reverse_status = OK_},
    {.what = "reject_unknown_reverse_client_hostname: no PTR",
     .cf = "smtpd_client_restrictions ="
           " reject_unknown_reverse_client_hostname\n"
           "unknown_client_reject_code = 550",
     .stage = SMTPD_CHECK_CLIENT, .name_status = PERM, .result = -1,
     .reply = "550 5.7.1 Client host rejected: cannot find your reverse"
              " hostname, [192.0.2.10]"},
    {.what = "reject_unknown_reverse_client_hostname: DNS failure",
     .cf = "smtpd_client_restrictions ="
           " reject_unknown_reverse_client_hostname",
     .stage = RCPT, .arg = "u@mx.example.com", .name_status = TEMP,
     .result = -1,
     .reply = "450 4.7.1 Client host rejected: cannot find your reverse"
              " hostname, [192.0.2.10]"},

    /* pipelining */
    {.what = "reject_unauth_pipelining: EHLO, RCPT in a group",
     .cf = L "reject_unauth_pipelining", .stage = RCPT,
     .arg = "u@mx.example.com", .pending = "DATA\r\n"},
    {.what = "reject_unauth_pipelining: HELO",
     .cf = L "reject_unauth_pipelining", .stage = RCPT,
     .arg = "u@mx.example.com", .pending = "DATA\r\n", .no_ehlo = 1,
     .result = -1,
     .reply = "503 5.5.0 <u@mx.example.com>: Recipient address rejected:"
              " Improper use of SMTP command pipelining"},
    {.what = "reject_unauth_pipelining: HELO, nothing waiting",
     .cf = L "reject_unauth_pipelining", .stage = RCPT,
     .arg = "u@mx.example.com", .no_ehlo = 1},
    {.what = "reject_unauth_pipelining: content before 354",
     .cf = "smtpd_data_restrictions = reject_unauth_pipelining",
     .stage = SMTPD_CHECK_DATA, .pending = "Subject: x\r\n", .result = -1,
     .reply = "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP"
              " command pipelining"},
    {.what = "reject_unauth_pipelining: commands after EHLO",
     .cf = "smtpd_delay_reject = no\n"
           "smtpd_helo_restrictions = reject_unauth_pipelining",
     .stage = SMTPD_CHECK_HELO, .arg = "client.example",
     .pending = "MAIL FROM:<a@b.example>\r\n", .result = -1,
     .reply = "503 5.5.0 <client.example>: Helo command rejected: Improper"
              " use of SMTP command pipelining"},

    /* unlisted recipients */
#define MAPS "local_recipient_maps = inline:{ alice@mx.example.com=1, bob=1 }\n" \
    "relay_recipient_maps = inline:{ @sub.relay.example=1, c@relay.example=1 }\n"
    {.what = "unlisted: user@domain", .cf = MAPS, .stage = RCPT,
     .arg = "alice@mx.example.com"},
    {.what = "unlisted: user", .cf = MAPS, .stage = RCPT,
     .arg = "BOB@mx.example.com"},
    {.what = "unlisted: not a local user", .cf = MAPS, .stage = RCPT,
     .arg = "carol@mx.example.com", .result = -1,
     .reply = "550 5.1.1 <carol@mx.example.com>: Recipient address rejected:"
              " User unknown in local recipient table"},
    {.what = "unlisted: implied even after permit",
     .cf = MAPS L "permit", .stage = RCPT, .arg = "carol@mx.example.com",
     .result = -1,
     .reply = "550 5.1.1 <carol@mx.example.com>: Recipient address rejected:"
              " User unknown in local recipient table"},
    {.what = "unlisted: relay, @domain", .cf = MAPS, .stage = RCPT,
     .arg = "x@sub.relay.example"},
    {.what = "unlisted: relay, not listed", .cf = MAPS, .stage = RCPT,
     .arg = "x@relay.example", .result = -1,
     .reply = "550 5.1.1 <x@relay.example>: Recipient address rejected:"
              " User unknown in relay recipient table"},
    {.what = "unlisted: relay code",
     .cf = MAPS "unknown_relay_recipient_reject_code = 450", .stage = RCPT,
     .arg = "x@relay.example", .result = -1,
     .reply = "450 4.1.1 <x@relay.example>: Recipient address rejected:"
              " User unknown in relay recipient table"},
    {.what = "unlisted: another domain is not checked", .cf = MAPS,
     .stage = RCPT, .arg = "x@elsewhere.example", .client = "127.0.0.1"},
    {.what = "unlisted: smtpd_reject_unlisted_recipient = no",
     .cf = MAPS "smtpd_reject_unlisted_recipient = no", .stage = RCPT,
     .arg = "carol@mx.example.com"},
    {.what = "unlisted: explicit, with its code",
     .cf = MAPS "smtpd_reject_unlisted_recipient = no\n"
           "unknown_local_recipient_reject_code = 450\n"
           L "reject_unlisted_recipient", .stage = RCPT,
     .arg = "carol@mx.example.com", .result = -1,
     .reply = "450 4.1.1 <carol@mx.example.com>: Recipient address rejected:"
              " User unknown in local recipient table"},
    {.what = "unlisted: empty maps accept everyone", .stage = RCPT,
     .arg = "carol@mx.example.com"},

    /* access tables: keys */
    {.what = "check_client_access: by address",
     .cf = "smtpd_client_restrictions = check_client_access inline:{"
           " { 192.0.2.10 = REJECT go away } }",
     .stage = SMTPD_CHECK_CLIENT, .result = -1,
     .reply = "554 5.7.1 <unknown[192.0.2.10]>: Client host rejected: go"
              " away"},
    {.what = "check_client_access: by name first",
     .cf = "smtpd_client_restrictions = check_client_access inline:{"
           " mail.example.org=OK, 192.0.2.10=REJECT }, reject",
     .stage = SMTPD_CHECK_CLIENT, .name = "mail.example.org"},
    {.what = "check_helo_access",
     .cf = "smtpd_helo_restrictions = check_helo_access inline:{"
           " { bad.example = 550 5.7.0 not you } }",
     .stage = RCPT, .arg = "u@mx.example.com", .helo = "bad.example",
     .result = -1,
     .reply = "550 5.7.0 <bad.example>: Helo command rejected: not you"},
    {.what = "check_sender_access: the null sender is <>",
     .cf = "smtpd_sender_restrictions = check_sender_access inline:{"
           " <>=REJECT }",
     .stage = SMTPD_CHECK_MAIL, .arg = "", .result = -1,
     .reply = "554 5.7.1 <>: Sender address rejected: Access denied"},
    {.what = "check_sender_access: user@ key",
     .cf = "smtpd_sender_restrictions = check_sender_access inline:{"
           " postmaster@=REJECT }",
     .stage = SMTPD_CHECK_MAIL, .arg = "postmaster@x.example", .result = -1,
     .reply = "554 5.7.1 <postmaster@x.example>: Sender address rejected:"
              " Access denied"},
    {.what = "check_recipient_access: domain key",
     .cf = L "check_recipient_access inline:{ mx.example.com=DEFER }",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = "450 4.7.1 <u@mx.example.com>: Recipient address rejected:"
              " Access denied"},

    /* access results */
#define AL L "check_recipient_access inline:{ "
    {.what = "OK", .cf = AL "u@mx.example.com=OK }, reject", .stage = RCPT,
     .arg = "u@mx.example.com"},
    {.what = "digits are OK", .cf = AL "u@mx.example.com=1234 }, reject",
     .stage = RCPT, .arg = "u@mx.example.com"},
    {.what = "DUNNO: next restriction, no shorter key",
     .cf = AL "u@mx.example.com=DUNNO, mx.example.com=REJECT }, permit",
     .stage = RCPT, .arg = "u@mx.example.com"},
    {.what = "REJECT text", .cf = AL "{ u@mx.example.com=REJECT no such"
     " user } }", .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "no such user")},
    {.what = "access_map_reject_code",
     .cf = AL "u@mx.example.com=REJECT }\naccess_map_reject_code = 550",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = "550 5.7.1 <u@mx.example.com>: Recipient address rejected:"
              " Access denied"},
    {.what = "access_map_defer_code",
     .cf = AL "{ u@mx.example.com=DEFER 4.2.2 full } }\n"
           "access_map_defer_code = 451",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = "451 4.2.2 <u@mx.example.com>: Recipient address rejected:"
              " full"},
    {.what = "an explicit code is kept",
     .cf = AL "{ u@mx.example.com=552 5.2.2 over quota } }\n"
           "access_map_reject_code = 550",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = "552 5.2.2 <u@mx.example.com>: Recipient address rejected:"
              " over quota"},
    {.what = "WARN", .cf = AL "{ u@mx.example.com=WARN odd one } }",
     .stage = RCPT, .arg = "u@mx.example.com",
     .log = "WARN u@mx.example.com: odd one"},
    {.what = "INFO", .cf = AL "{ u@mx.example.com=INFO noted } }",
     .stage = RCPT, .arg = "u@mx.example.com",
     .log = "INFO u@mx.example.com: noted"},
    {.what = "PREPEND",
     .cf = AL "{ u@mx.example.com=PREPEND X-Tag: one two } }",
     .stage = RCPT, .arg = "u@mx.example.com",
     .prepend = "X-Tag: one two\r\n"},
    {.what = "HOLD is not supported", .cf = AL "u@mx.example.com=HOLD }",
     .stage = RCPT, .arg = "u@mx.example.com",
     .log = "action HOLD is not supported"},
    {.what = "a broken result: 451 4.3.5",
     .cf = AL "{ u@mx.example.com=299 hm } }", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = "451 4.3.5 <u@mx.example.com>: Recipient address rejected:"
              " Server configuration error"},
    {.what = "a list of restrictions",
     .cf = AL "{ u@mx.example.com=permit_mynetworks, reject } }",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "a list of restrictions that permits",
     .cf = AL "{ u@mx.example.com=permit_mynetworks, reject } }, reject",
     .stage = RCPT, .arg = "u@mx.example.com", .client = "127.0.0.1"},
    {.what = "an unknown restriction as the result",
     .cf = AL "u@mx.example.com=frobnicate }", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = "451 4.3.5 Server configuration error",
     .log = "\"frobnicate\" is neither a restriction nor a class"},
    {.what = "a restriction with an argument as the result",
     .cf = AL "u@mx.example.com=check_client_access }", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = "451 4.3.5 Server configuration error",
     .log = "needs an argument"},

    /* restriction classes */
#define CLS "smtpd_restriction_classes = strict, loose, nest, loop\n" \
    "strict = permit_mynetworks, reject\nloose = permit\nnest = strict\n" \
    "loop = check_recipient_access inline:{ u@mx.example.com=loop }\n"
    {.what = "class as a table result: reject",
     .cf = CLS AL "u@mx.example.com=strict }", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "class as a table result: permit ends the list",
     .cf = CLS AL "u@mx.example.com=loose }, reject", .stage = RCPT,
     .arg = "u@mx.example.com"},
    {.what = "class named in a list",
     .cf = CLS L "strict", .stage = RCPT, .arg = "u@mx.example.com",
     .client = "127.0.0.1"},
    {.what = "a class that runs out: the list goes on",
     .cf = "smtpd_restriction_classes = empty\n"
           "empty = reject_non_fqdn_recipient\n" L "empty, reject",
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "a class in a class", .cf = CLS L "nest", .stage = RCPT,
     .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "warn_if_reject covers a whole class",
     .cf = CLS L "warn_if_reject, nest, permit", .stage = RCPT,
     .arg = "u@mx.example.com", .log = "NOQUEUE: reject_warning: RCPT from"
     " unknown[192.0.2.10]: 554 5.7.1 <u@mx.example.com>: Recipient address"
     " rejected: Access denied; from=<a@b.example> to=<u@mx.example.com>"
     " proto=ESMTP helo=<client.example>"},
    {.what = "a class that returns itself through a table",
     .cf = CLS L "loop", .stage = RCPT, .arg = "u@mx.example.com",
     .result = -1, .reply = "451 4.3.5 Server configuration error",
     .log = "nested more than 8 deep (a loop through tables?):"
            " smtpd_recipient_restrictions -> loop -> loop -> loop"},
    {.what = "class values are expanded per personality",
     .cf = "smtpd_restriction_classes = c\nc = $smtpd_data_restrictions\n"
           "stress_smtpd_data_restrictions = reject\n" L "c",
     .stress = 1, .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},

    /* personalities */
    {.what = "stress list", .cf = "stress_" L "reject", .stress = 1,
     .stage = RCPT, .arg = "u@mx.example.com", .result = -1,
     .reply = R554("u@mx.example.com", "Access denied")},
    {.what = "normal list beside a stress one", .cf = "stress_" L "reject",
     .stage = RCPT, .arg = "u@mx.example.com"},
};
/* *INDENT-ON* */

static struct event_base *base;

/* setup - an event base for bufferevents, and log capture */
static int
setup(void **state)
{
    (void) state;
    base = event_base_new();
    testutil_log_start();
    return 0;
}

/* teardown - undo setup */
static int
teardown(void **state)
{
    (void) state;
    smtpd_check_flush();
    testutil_log_stop();
    event_base_free(base);
    return 0;
}

/* never_done - no row waits for a policy server */
static void
never_done(struct session *s, int result, struct dstr *reply)
{
    (void) s;
    (void) result;
    (void) reply;
    fail_msg("a check waited");
}

/* compile - the personalities of BASE_CF plus cf */
static struct personality_set *
compile(const char *cf, struct cf_table **table)
{
    struct dstr *text = dstr_new(256, 65536);
    struct dstr *errors = dstr_new(64, 65536);
    struct personality_set *set = NULL;

    (void) dstr_appendf(text, "%s%s\n", BASE_CF, cf ? cf : "");
    *table = cfparse_new();
    if (cfparse_buffer(*table, "doppel.cf", text->data, text->len,
                       errors) < 0
        || personality_compile(*table, NULL, NULL, 0, NULL, &set, errors) < 0)
        fail_msg("%s: %s", cf, errors->data);
    dstr_free(text);
    dstr_free(errors);
    return set;
}

/* session_for - a session as the row describes it */
static struct session *
session_for(const struct row *r, const struct params *p)
{
    struct session *s = xcalloc(1, sizeof(*s));
    struct netaddr plain;

    s->p = p;
    s->state = SESSION_COMMAND;
    assert_int_equal(netaddr_parse(&s->addr, r->client ? r->client
                                   : STRANGER), 0);
    (void) netaddr_unmap(&plain, &s->addr);
    assert_int_equal(netaddr_format(&plain, s->addr_text,
                                    sizeof(s->addr_text)), 0);
    s->name = xstrdup(r->name ? r->name : SMTPD_DNS_UNKNOWN);
    s->name_status = r->name_status ? r->name_status
        : r->name ? SMTPD_DNS_OK : SMTPD_DNS_NONE;
    s->reverse_name = xstrdup(r->reverse ? r->reverse : s->name);
    s->reverse_status = r->reverse ? r->reverse_status : s->name_status;
    s->helo = xstrdup(r->helo ? r->helo : "client.example");
    s->sender = xstrdup(r->sender ? r->sender : "a@b.example");
    if (!r->no_ehlo)
        s->flags |= SESSION_F_EHLO;
    s->bev = bufferevent_socket_new(base, -1, 0);
    assert_non_null(s->bev);
    if (r->pending != NULL) {
        /* as if read: a socket bufferevent's input takes no adds */
        (void) evbuffer_unfreeze(bufferevent_get_input(s->bev), 0);
        assert_int_equal(evbuffer_add(bufferevent_get_input(s->bev),
                                      r->pending, strlen(r->pending)), 0);
    }
    return s;
}

/* session_done - free what session_for() made */
static void
session_done(struct session *s)
{
    bufferevent_free(s->bev);
    dstr_free(s->prepend);
    free(s->name);
    free(s->reverse_name);
    free(s->helo);
    free(s->sender);
    free(s->xclient);
    free(s);
}

/* run_row - one row: compile, check, compare */
static void
run_row(const struct row *r)
{
    struct cf_table *table;
    struct personality_set *set = compile(r->cf, &table);
    const struct params *p = &personality_get(set, NULL, r->stress)->params;
    struct session *s = session_for(r, p);
    struct dstr *reply = dstr_new(64, 4096);
    struct dstr *errors = dstr_new(64, 65536);
    int     got;

    if (smtpd_check_compile(p, errors) < 0)
        fail_msg("%s: does not compile: %s", r->what, errors->data);
    got = smtpd_check(s, r->stage, r->arg, reply, never_done);
    if (got != r->result)
        fail_msg("%s: result %d, want %d (reply \"%s\")", r->what, got,
                 r->result, reply->data);
    if (r->result < 0 && strcmp(reply->data, r->reply) != 0)
        fail_msg("%s: reply\n  \"%s\", want\n  \"%s\"", r->what, reply->data,
                 r->reply);
    if (r->log != NULL && !testutil_logged(r->log))
        fail_msg("%s: no log line with \"%s\" in:\n%s", r->what, r->log,
                 testutil_log_text());
    if (r->prepend == NULL && s->prepend != NULL)
        fail_msg("%s: unexpected PREPEND \"%s\"", r->what, s->prepend->data);
    if (r->prepend != NULL && (s->prepend == NULL
                               || strcmp(s->prepend->data, r->prepend) != 0))
        fail_msg("%s: PREPEND \"%s\", want \"%s\"", r->what,
                 s->prepend ? s->prepend->data : "(none)", r->prepend);
    assert_null(s->check);
    /* the cache is keyed by the params pointer, which is about to go */
    smtpd_check_flush();
    session_done(s);
    personality_free(set);
    cfparse_free(table);
    dstr_free(reply);
    dstr_free(errors);
}

/* test_smtpd_check_rows - every row of the table */
static void
test_smtpd_check_rows(void **state)
{
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        testutil_log_stop();
        testutil_log_start();
        run_row(&rows[i]);
    }
}

/*
 * test_smtpd_check_xclient - after XCLIENT the names are XCLIENT's:
 * REVERSE_NAME, else NAME; "unknown" there is a definite no.
 */
static void
test_smtpd_check_xclient(void **state)
{
    static const struct row r = {
        .cf = "smtpd_client_restrictions ="
              " reject_unknown_reverse_client_hostname,"
              " reject_unknown_client_hostname\n"
              "unknown_client_reject_code = 550",
        .stage = SMTPD_CHECK_CLIENT, .client = "198.51.100.1",
        .name = "named.example",
    };
    struct cf_table *table;
    struct personality_set *set = compile(r.cf, &table);
    const struct params *p = &personality_get(set, NULL, 0)->params;
    struct session *s = session_for(&r, p);
    struct dstr *reply = dstr_new(64, 4096);

    (void) state;
    s->xclient = xcalloc(1, sizeof(*s->xclient));
    assert_int_equal(netaddr_parse(&s->xclient->real_addr, "127.0.0.1"), 0);
    s->xclient->real_name = "localhost";
    /* NAME given, no REVERSE_NAME: both names are NAME */
    assert_int_equal(smtpd_check(s, r.stage, NULL, reply, never_done), 0);
    /* REVERSE_NAME=[UNAVAILABLE] */
    s->xclient->reverse_name = "unknown";
    assert_int_equal(smtpd_check(s, r.stage, NULL, reply, never_done), -1);
    assert_string_equal(reply->data, "550 5.7.1 Client host rejected: cannot"
                        " find your reverse hostname, [198.51.100.1]");
    /* NAME=[UNAVAILABLE] with a reverse name */
    s->xclient->reverse_name = "rev.example";
    free(s->name);
    s->name = xstrdup("unknown");
    assert_int_equal(smtpd_check(s, r.stage, NULL, reply, never_done), -1);
    assert_string_equal(reply->data, "550 5.7.25 Client host rejected: cannot"
                        " find your hostname, [198.51.100.1]");
    s->xclient->real_name = NULL;
    s->xclient->reverse_name = NULL;
    smtpd_check_flush();
    session_done(s);
    personality_free(set);
    cfparse_free(table);
    dstr_free(reply);
}

/* compile_error - a configuration smtpd_check_compile() must refuse */
static void
compile_error(const char *cf, const char *text)
{
    struct cf_table *table;
    struct personality_set *set = compile(cf, &table);
    const struct params *p = &personality_get(set, NULL, 0)->params;
    struct dstr *errors = dstr_new(64, 65536);

    if (smtpd_check_compile(p, errors) == 0)
        fail_msg("\"%s\" compiled", cf);
    if (strstr(errors->data, text) == NULL)
        fail_msg("\"%s\": errors \"%s\" lack \"%s\"", cf, errors->data, text);
    smtpd_check_flush();
    personality_free(set);
    cfparse_free(table);
    dstr_free(errors);
}

/* test_smtpd_check_compile - lists, classes and maps refused at start */
static void
test_smtpd_check_compile(void **state)
{
    (void) state;
    compile_error(L "reject_everything",
                  "smtpd_recipient_restrictions: unknown restriction"
                  " \"reject_everything\"");
    compile_error("smtpd_restriction_classes = a\na = permit\n"
                  L "b", "unknown restriction \"b\" (and not in"
                  " smtpd_restriction_classes)");
    compile_error("smtpd_restriction_classes = a, b, c\na = b\nb = permit, c\n"
                  "c = reject, a\n" L "a",
                  "classes name each other in a circle: a -> b -> c -> a");
    compile_error("smtpd_restriction_classes = a\na = reject, a\n",
                  "in a circle: a -> a");
    compile_error("smtpd_restriction_classes = reject_unauth_pipelining\n"
                  "reject_unauth_pipelining = permit\n",
                  "smtpd_restriction_classes: reject_unauth_pipelining is a"
                  " restriction");
    compile_error("smtpd_restriction_classes = a\na = frobnicate\n",
                  "a: unknown restriction \"frobnicate\"");
    compile_error("local_recipient_maps = nosuchtype:x\n",
                  "local_recipient_maps: a table did not open");
    compile_error(L "check_client_access",
                  "check_client_access needs a table");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_smtpd_check_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_check_xclient, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smtpd_check_compile, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("smtpd_check", tests, NULL, NULL);
}
