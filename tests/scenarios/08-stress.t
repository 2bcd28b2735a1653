#!/usr/bin/env python3
# 08-stress - a session started with the stress personality uses stress_* values.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok, split_received  # noqa

CF = {"stress_smtpd_timeout": "2s"}          # smtpd_timeout stays 300s

with Server(CF, services="127.0.0.1:{port} inet 1 smtpd -p stress\n",
            name="stress-service") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO s.example")
    r.cmd("MAIL FROM:<s@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.cmd("DATA")
    r.send(b"Subject: s\r\n\r\nx\r\n.\r\n")
    rep = r.reply()
    like(rep, r"^250 2\.0\.0 Ok: queued as", "message queued under stress")
    qid = rep.rsplit(" ", 1)[-1]
    ok(srv.wait_log(qid + r": .*personality=stress"), "log: personality=stress")
    if len(qid) == 20:
        like(split_received(srv.queued(qid)[0])[0],
             r"personality=stress, class=default", "Received: says stress")
    else:
        ok(False, "Received")
    t0 = time.monotonic()
    like(r.reply(), r"^421 4\.4\.2 ", "stress_smtpd_timeout (2s) applies")
    ok(time.monotonic() - t0 < 5, "long before smtpd_timeout (300s)")

    r = Raw(srv.port)
    like(r.cmd("FOO"), r"^502 ", "one error")
    like(r.reply(), r"^421 4\.7\.0 .*too many errors",
         "stress default smtpd_hard_error_limit 1")
    r = Raw(srv.port)
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "first NOOP")
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "second NOOP")
    like(r.reply(), r"^421 4\.7\.0 ", "stress default smtpd_junk_command_limit"
         " 1 (and hard limit 1)")

with Server({"stress_smtpd_timeout": "3s"},
            services="127.0.0.1:{port} inet 1 smtpd -p stress\n",
            name="stress-deadline") as srv:
    r = Raw(srv.port)
    t0 = time.monotonic()
    closed = None
    for b in b"NOOP xxxxxxxxxxxx":
        try:
            r.send(bytes([b]))
        except OSError:
            closed = time.monotonic() - t0
            break
        if r.closed(1.0):
            closed = time.monotonic() - t0
            break
    ok(closed is not None and closed < 6, "stress default "
       "smtpd_per_request_deadline = yes stops a trickler (%s)"
       % (closed and "%.1fs" % closed))

with Server(CF, args=["--stress"], name="stress-cli") as srv:
    r = Raw(srv.port)
    like(r.reply(), r"^421 4\.4\.2 ", "--stress: stress_smtpd_timeout")

with Server(CF, services="127.0.0.1:{port} inet 1 smtpd -p normal "
            "-o smtpd_banner=normal-service\n", name="normal") as srv:
    r = Raw(srv.port)
    is_(r.greeting, "220 normal-service", "service -o override applies")
    ok(not r.closed(3.5), "normal personality: not closed after 3.5s")
    is_(r.cmd("FOO")[:3], "502", "an error")
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "normal hard error limit: still open")
    r.cmd("QUIT")
done()
