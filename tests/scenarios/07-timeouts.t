#!/usr/bin/env python3
# 07-timeouts - idle sessions, tricklers and slow DATA are closed on time.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok  # noqa


def trickle(r, data, every, limit):
    """Send data one byte per `every` seconds; seconds until closed, or None."""
    t0 = time.monotonic()
    for b in data:
        if time.monotonic() - t0 > limit:
            return None
        try:
            r.send(bytes([b]))
        except OSError:
            return time.monotonic() - t0
        if r.closed(every):
            return time.monotonic() - t0
    return None


with Server({"smtpd_timeout": "2s"}, name="idle") as srv:
    r = Raw(srv.port)
    t0 = time.monotonic()
    is_(r.reply(), "421 4.4.2 mx.test.example Error: timeout exceeded",
        "idle session: 421 4.4.2")
    took = time.monotonic() - t0
    ok(1.5 <= took < 4.5, "after smtpd_timeout (%.1fs)" % took)
    ok(r.closed(3), "and closed")
    ok(srv.wait_log(r"timeout after CONNECT from localhost\[127\.0\.0\.1\]"),
       "logged 'timeout after CONNECT'")
    r = Raw(srv.port)
    r.cmd("EHLO idle.example")
    like(r.reply(), r"^421 4\.4\.2 ", "idle after EHLO")
    ok(srv.wait_log(r"timeout after EHLO from"), "logged 'timeout after EHLO'")

with Server({"smtpd_timeout": "3s", "smtpd_per_request_deadline": "yes"},
            name="deadline") as srv:
    r = Raw(srv.port)
    took = trickle(r, b"NOOP " + b"x" * 30, 1.0, 12)
    ok(took is not None and took < 6, "one byte a second: closed by the "
       "per-request deadline (%s)" % (took and "%.1fs" % took))
    like(r.rest(), r"421 4\.4\.2 ", "with 421 4.4.2")

with Server({"smtpd_timeout": "3s", "smtpd_per_request_deadline": "no"},
            name="no-deadline") as srv:
    r = Raw(srv.port)
    took = trickle(r, b"NOOP " + b"x" * 6, 1.0, 12)
    ok(took is None, "without the deadline each byte restarts the timer")
    is_(r.cmd(""), "250 2.0.0 Ok", "the trickled command completes (%s)"
        % r.rest())

with Server({"smtpd_timeout": "2s", "smtpd_per_request_deadline": "yes",
             "smtpd_min_data_rate": "1000"}, name="rate") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO rate.example")
    r.cmd("MAIL FROM:<s@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.cmd("DATA")
    t0 = time.monotonic()
    closed = None
    while time.monotonic() - t0 < 15:
        try:
            r.send(b"y" * 50)             # 100 bytes a second
        except OSError:
            closed = time.monotonic() - t0
            break
        if r.closed(0.5):
            closed = time.monotonic() - t0
            break
    ok(closed is not None and closed < 5, "slow DATA closed by "
       "smtpd_min_data_rate (%s)" % (closed and "%.1fs" % closed))
    like(r.rest(), r"421 4\.4\.2 ", "with 421 4.4.2")
    ok(srv.wait_log(r"timeout after DATA from"), "logged 'timeout after DATA'")
    is_(srv.tmp_files(), [], "the unfinished message was removed")
done()
