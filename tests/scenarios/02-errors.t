#!/usr/bin/env python3
# 02-errors - syntax, sequence and unknown commands; error limits and the tarpit.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok  # noqa

LENIENT = {"smtpd_hard_error_limit": "100", "smtpd_soft_error_limit": "100",
           "smtpd_junk_command_limit": "100"}

with Server(LENIENT, name="errors") as srv:
    r = Raw(srv.port)
    is_(r.cmd("HELO"), "501 5.5.4 Syntax: HELO hostname", "HELO without name")
    is_(r.cmd("EHLO"), "501 5.5.4 Syntax: EHLO hostname", "EHLO without name")
    r.cmd("EHLO client.example")
    is_(r.cmd("RCPT TO:<a@example.net>"), "503 5.5.1 Error: need MAIL command",
        "RCPT before MAIL")
    is_(r.cmd("DATA"), "503 5.5.1 Error: need MAIL command", "DATA before MAIL")
    is_(r.cmd("BDAT 0 LAST"), "503 5.5.1 Error: need MAIL command",
        "BDAT before MAIL (chunk read and refused)")
    is_(r.cmd("MAIL"), "501 5.5.4 Syntax: MAIL FROM:<address>", "MAIL alone")
    is_(r.cmd("MAIL TO:<a@b.example>"), "501 5.5.4 Syntax: MAIL FROM:<address>",
        "MAIL TO:")
    like(r.cmd("MAIL FROM:<a@@b.example>"), r"^501 5\.1\.7 ",
         "bad sender address 501 5.1.7")
    rep = r.cmd("MAIL FROM:<a@b.example> FOO=bar")
    like(rep, r"^555 5\.5\.4", "unknown MAIL parameter 555 5.5.4")
    like(r.cmd("MAIL FROM:<a@b.example> SIZE=x"), r"^501 5\.5\.4",
         "bad SIZE 501 5.5.4")
    is_(r.cmd("MAIL FROM:<a@b.example> SIZE=99999999"),
        "552 5.3.4 Message size exceeds fixed limit", "SIZE over the limit")
    is_(r.cmd("MAIL FROM:<a@b.example>"), "250 2.1.0 Ok", "MAIL")
    is_(r.cmd("MAIL FROM:<a@b.example>"), "503 5.5.1 Error: nested MAIL command",
        "nested MAIL")
    is_(r.cmd("DATA"), "503 5.5.1 Error: need RCPT command", "DATA before RCPT")
    is_(r.cmd("RCPT"), "501 5.5.4 Syntax: RCPT TO:<address>", "RCPT alone")
    like(r.cmd("RCPT TO:<a b@example.net>"), r"^501 5\.1\.3 ",
         "bad recipient address 501 5.1.3")
    like(r.cmd("RCPT TO:<>"), r"^501 5\.1\.3 ", "null recipient 501 5.1.3")
    like(r.cmd("RCPT TO:<a@example.net> RET=FULL"), r"^555 5\.5\.4",
         "MAIL-only parameter in RCPT is unknown")
    is_(r.cmd("RCPT TO:<a@example.net>"), "250 2.1.5 Ok", "RCPT")
    is_(r.cmd("DATA now"), "501 5.5.4 Syntax: DATA", "DATA with an argument")
    is_(r.cmd("RSET x"), "501 5.5.4 Syntax: RSET", "RSET with an argument")
    is_(r.cmd("QUIT x"), "501 5.5.4 Syntax: QUIT", "QUIT with an argument")
    is_(r.cmd("STARTTLS"), "502 5.5.1 Error: command not implemented",
        "STARTTLS without a certificate")
    is_(r.cmd("VRFY"), "501 5.5.4 Syntax: VRFY address", "VRFY without address")
    is_(r.cmd("FOO bar"), "502 5.5.2 Error: command not recognized",
        "unknown command")
    is_(r.cmd(""), "500 5.5.2 Error: bad syntax", "empty line")
    is_(r.cmd("NOOP " + "x" * 600), "500 5.5.2 Error: line too long",
        "a 607-octet command line")
    is_(r.cmd("NOOP " + "x" * 505), "250 2.0.0 Ok", "a 512-octet line is fine")
    is_(r.cmd("NOOP " + "y" * 20000), "500 5.5.2 Error: line too long",
        "a 20000-octet line, read in pieces")
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "still in step after long lines")
    is_(r.cmd("RCPT TO:<b@example.net> ORCPT=rfc822;" + "b" * 480),
        "250 2.1.5 Ok", "RCPT may use the RFC 3461 allowance")
    is_(r.cmd("QUIT"), "221 2.0.0 Bye", "QUIT")
    r.close()
    ok(srv.wait_log(r"disconnect from .* unknown=0/2 "), "unknown commands"
       " counted in the disconnect line")

# disable_vrfy_command and smtpd_helo_required: tests/scenarios/dt/errorlimits.dt

with Server({"smtpd_hard_error_limit": "3"}, name="hard") as srv:
    r = Raw(srv.port)
    r.cmd("FOO")
    r.cmd("BAR")
    rep = r.cmd("BAZ")
    rep += "\n" + r.reply()
    like(rep, r"^502 .*\n421 4\.7\.0 mx\.test\.example Error: too many errors$",
         "third error: 421 too many errors")
    ok(r.closed(), "closed after too many errors")
    ok(srv.wait_log(r"too many errors after UNKNOWN from "
                    r"localhost\[127\.0\.0\.1\]"), "logged 'too many errors'")

# smtpd_junk_command_limit: tests/scenarios/dt/errorlimits.dt

with Server({"smtpd_soft_error_limit": "1", "smtpd_error_sleep_time": "2s",
             "smtpd_hard_error_limit": "10"}, name="tarpit") as srv:
    a = Raw(srv.port)
    t0 = time.monotonic()
    a.cmd("FOO")
    fast = time.monotonic() - t0
    ok(fast < 1.0, "first error answered at once (%.2fs)" % fast)
    a.send("NOOP\r\n")
    # while a sleeps, b is served at once: the tarpit does not block the loop
    b = Raw(srv.port)
    t1 = time.monotonic()
    is_(b.cmd("NOOP"), "250 2.0.0 Ok", "another session answered")
    other = time.monotonic() - t1
    ok(other < 1.0, "... without waiting for the tarpit (%.2fs)" % other)
    is_(a.reply(), "250 2.0.0 Ok", "the delayed reply comes")
    slow = time.monotonic() - t0
    ok(slow >= 1.8, "reply delayed by smtpd_error_sleep_time (%.2fs)" % slow)
    a.close()
    b.close()
done()
