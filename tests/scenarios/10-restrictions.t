#!/usr/bin/env python3
# 10-restrictions - relay control and restriction lists as a Postfix admin
# expects them: not an open relay by default, access tables, per-stage
# replies, smtpd_delay_reject, warn_if_reject, per-personality lists, and
# a broken list or table refused at start.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import SMTPD, Raw, Server, done, is_, like, ok  # noqa

# 127.0.0.1 is trusted; 127.0.0.2 is a stranger on the internet.
BASE = {"mynetworks": "127.0.0.1/32", "relay_domains": "relay.example"}
STRANGER = "127.0.0.2"


def session(srv, source=None, helo="client.example", sender="a@b.example"):
    r = Raw(srv.port, source=source)
    r.cmd("EHLO " + helo)
    if sender is not None:
        r.cmd("MAIL FROM:<%s>" % sender)
    return r


with Server(BASE, name="relay") as srv:
    r = session(srv, STRANGER)
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"),
        "554 5.7.1 <user@elsewhere.example>: Relay access denied",
        "stranger relaying to a foreign domain: Relay access denied")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"), "250 2.1.5 Ok",
        "stranger to $myhostname (mydestination): accepted")
    is_(r.cmd("RCPT TO:<user@sub.relay.example>"), "250 2.1.5 Ok",
        "stranger to a subdomain of relay_domains: accepted")
    is_(r.cmd("RCPT TO:<postmaster>"), "250 2.1.5 Ok",
        "stranger to <postmaster>: accepted")
    ok(srv.wait_log(r"reject: RCPT .*554 5\.7\.1 <user@elsewhere\.example>: "
                    r"Relay access denied"), "the rejection is logged")
    r = session(srv)
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"), "250 2.1.5 Ok",
        "mynetworks may relay")

ACCESS = dict(BASE, **{
    "smtpd_client_restrictions":
        "check_client_access inline:{ { 127.0.0.3 = REJECT go away } }",
    "smtpd_sender_restrictions":
        "check_sender_access inline:{ spammer@bad.example=REJECT, "
        "{ bad.example=450 4.7.1 try later }, friend@=OK, "
        "{ b2.example = 554 5.7.1 no thanks } }",
    "smtpd_recipient_restrictions":
        "check_recipient_access inline:{ { closed@mx.test.example=REJECT "
        "mailbox closed } }, reject_non_fqdn_recipient",
})
with Server(ACCESS, name="access") as srv:
    r = session(srv, "127.0.0.3")
    like(r.cmd("RCPT TO:<user@mx.test.example>"),
         r"^554 5\.7\.1 <[^>]*\[127\.0\.0\.3\]>: Client host rejected: go away$",
         "client access REJECT with text, at RCPT (smtpd_delay_reject)")
    r = session(srv, STRANGER, sender="spammer@bad.example")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"),
        "554 5.7.1 <spammer@bad.example>: Sender address rejected: "
        "Access denied", "sender access: full address")
    r = session(srv, STRANGER, sender="other@bad.example")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"),
        "450 4.7.1 <other@bad.example>: Sender address rejected: try later",
        "sender access: domain with a 450 and its own status")
    r = session(srv, STRANGER, sender="x@b2.example")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"),
        "554 5.7.1 <x@b2.example>: Sender address rejected: no thanks",
        "inline { key = text with spaces }")
    r = session(srv, STRANGER, sender="friend@any.example")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"), "250 2.1.5 Ok",
        "sender access: localpart@ OK")
    is_(r.cmd("RCPT TO:<closed@mx.test.example>"),
        "554 5.7.1 <closed@mx.test.example>: Recipient address rejected: "
        "mailbox closed", "recipient access")
    is_(r.cmd("RCPT TO:<user@localhost>"),
        "504 5.5.2 <user@localhost>: Recipient address rejected: need "
        "fully-qualified address", "reject_non_fqdn_recipient")

EARLY = dict(BASE, smtpd_delay_reject="no",
             smtpd_helo_restrictions="reject_invalid_helo_hostname, "
                                     "reject_non_fqdn_helo_hostname",
             smtpd_sender_restrictions="reject_non_fqdn_sender")
with Server(EARLY, name="early") as srv:
    r = Raw(srv.port, source=STRANGER)
    is_(r.cmd("EHLO bot"), "504 5.5.2 <bot>: Helo command rejected: need "
        "fully-qualified hostname", "smtpd_delay_reject=no: HELO judged at HELO")
    is_(r.cmd("EHLO bad!name.example"), "501 5.5.2 <bad!name.example>: Helo "
        "command rejected: Invalid name", "reject_invalid_helo_hostname")
    like(r.cmd("EHLO good.example"), r"^250", "a good HELO name")
    is_(r.cmd("MAIL FROM:<user@localhost>"), "504 5.5.2 <user@localhost>: "
        "Sender address rejected: need fully-qualified address",
        "sender judged at MAIL")

WARN = dict(BASE, smtpd_recipient_restrictions="warn_if_reject, "
            "reject_non_fqdn_recipient",
            smtpd_data_restrictions="check_client_access "
            "inline:{ { 127.0.0.2=REJECT no data from you } }")
with Server(WARN, name="warn") as srv:
    r = session(srv)
    is_(r.cmd("RCPT TO:<user@localhost>"), "250 2.1.5 Ok",
        "warn_if_reject: accepted")
    ok(srv.wait_log(r"NOQUEUE: reject_warning: RCPT from \S+: 504 5\.5\.2"
                    r" <user@localhost>.*; from=<\S*> to=<user@localhost>"),
       "warn_if_reject: logged as reject_warning")
    r = session(srv, STRANGER)
    r.cmd("RCPT TO:<user@mx.test.example>")
    like(r.cmd("DATA"), r"^554 5\.7\.1 <[^>]*\[127\.0\.0\.2\]>: Client host "
         r"rejected: no data from you", "smtpd_data_restrictions")

EOD = dict(BASE, smtpd_end_of_data_restrictions="check_sender_access "
           "inline:{ { late@b.example=REJECT content refused } }")
with Server(EOD, name="eod") as srv:
    r = session(srv, sender="late@b.example")
    r.cmd("RCPT TO:<user@mx.test.example>")
    like(r.cmd("DATA"), r"^354", "DATA")
    is_(r.cmd("Subject: x\r\n\r\nbody\r\n."),
        "554 5.7.1 <late@b.example>: Sender address rejected: content refused",
        "smtpd_end_of_data_restrictions")
    is_(srv.incoming(), [], "nothing queued")
    is_(srv.tmp_files(), [], "no partial file")

# Each personality has its own lists: the stress one is stricter here.
STRICT = dict(BASE, stress_smtpd_recipient_restrictions=
              "check_recipient_access inline:{ { list@mx.test.example=450 "
              "4.7.1 busy, try later } }")
with Server(STRICT, name="normal") as srv:
    r = session(srv, STRANGER)
    is_(r.cmd("RCPT TO:<list@mx.test.example>"), "250 2.1.5 Ok",
        "normal personality: its own list")
with Server(STRICT, args=["--stress"], name="stress") as srv:
    r = session(srv, STRANGER)
    is_(r.cmd("RCPT TO:<list@mx.test.example>"),
        "450 4.7.1 <list@mx.test.example>: Recipient address rejected: busy, "
        "try later", "stress personality: stress_smtpd_recipient_restrictions")


def refuses(params, pattern, name):
    """doppel-smtpd must refuse to start, naming the problem."""
    srv = Server(params, name="broken")
    try:
        p = subprocess.run([SMTPD, "-c", srv.dir, "--listen",
                            "127.0.0.1:%d" % srv.port, "--foreground"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        ok(p.returncode != 0, name + ": exit status %d" % p.returncode)
        like(p.stderr.decode(errors="replace"), pattern, name + ": says why")
    finally:
        srv.cleanup()


refuses(dict(BASE, smtpd_recipient_restrictions="reject_everything_bad"),
        r'smtpd_recipient_restrictions: unknown restriction '
        r'"reject_everything_bad"', "unknown restriction")
refuses(dict(BASE, smtpd_client_restrictions="check_client_access "
             "cidr:/nonexistent/clients.cidr"),
        r"/nonexistent/clients\.cidr", "missing table file")
refuses(dict(BASE, smtpd_client_restrictions="check_client_access"),
        r"check_client_access needs a table", "check_client_access alone")
done()
