#!/usr/bin/env python3
# 82-emfile.t - descriptor exhaustion: doppel-smtpd with a soft limit of
# 64 descriptors (prlimit on the running process) is flooded with
# connections until accept fails with EMFILE. It must pause accepting
# (one warning, not a busy loop), keep serving the sessions it has, and
# serve newcomers once descriptors are free again. Every wait is bounded.
import os
import re
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, diag, done, is_, like, ok, plan  # noqa

NOFILE = 64
FLOOD = 120                 # more than NOFILE: some must wait in the backlog

plan(12)


def greeted(socks, timeout):
    """how many of socks received a 220 greeting within timeout (total)"""
    pending = {s: b"" for s in socks}
    good = 0
    end = time.monotonic() + timeout
    while pending and time.monotonic() < end:
        ready, _, _ = select.select(list(pending), [], [],
                                    max(0.01, end - time.monotonic()))
        for s in ready:
            try:
                c = s.recv(512)
            except OSError:
                c = b""
            buf = pending[s] + c
            if not c or buf.endswith(b"\n"):
                del pending[s]
                good += buf.startswith(b"220")
            else:
                pending[s] = buf
    return good


srv = Server({"smtpd_peername_lookup": "no",
              "smtpd_client_connection_count_limit": "0",
              "smtpd_client_limit": "1000",
              "smtpd_timeout": "60s"}, name="emfile")
srv.start()
socks = []
try:
    r = subprocess.run(["prlimit", "--pid", str(srv.proc.pid),
                        "--nofile=%d:%d" % (NOFILE, NOFILE)],
                       capture_output=True, text=True, timeout=10)
    is_(r.returncode, 0, "prlimit --nofile=%d on doppel-smtpd" % NOFILE)
    early = Raw(srv.port)
    like(early.cmd("EHLO early.example"), r"^250", "a session opened before"
         " the flood")

    # the flood: connect, do not wait for the greeting yet
    for i in range(FLOOD):
        try:
            socks.append(socket.create_connection(("127.0.0.1", srv.port), 5))
        except OSError as e:
            diag("connection %d: %s" % (i, e))
            break
    served = greeted(socks, 3)
    diag("%d connections, %d greeted under a limit of %d descriptors"
         % (len(socks), served, NOFILE))
    ok(0 < served < len(socks), "some connections are served, the rest wait"
       " (%d of %d)" % (served, len(socks)))
    ok(srv.wait_log(r"accept: Too many open files; pausing accepts for"
                    r" 100 ms", 10),
       "the listener pauses on EMFILE and says so")
    # while exhausted: the worker does not spin (log and CPU stay quiet)
    t0 = os.times()
    cpu0 = None
    try:
        with open("/proc/%d/stat" % srv.proc.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
            cpu0 = int(st[11]) + int(st[12])
    except OSError:
        pass
    time.sleep(2)
    with open("/proc/%d/stat" % srv.proc.pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
        cpu1 = int(st[11]) + int(st[12])
    ticks = os.sysconf("SC_CLK_TCK")
    ok(cpu0 is not None and (cpu1 - cpu0) < ticks,
       "no busy loop while exhausted: %.2f s of CPU in 2 s"
       % ((cpu1 - (cpu0 or 0)) / ticks))
    warnings = len(re.findall(r"accept: Too many open files", srv.log()))
    is_(warnings, 1, "one warning for the whole episode")
    like(early.cmd("MAIL FROM:<a@example.org>"), r"^250",
         "the session opened before goes on")

    # free the descriptors: the waiting clients and newcomers are served
    for s in socks:
        s.close()
    socks = []
    ok(srv.wait_log(r"accept: working again after \d+ pause\(s\)", 10),
       "the end of the episode is logged")
    try:
        late = Raw(srv.port, timeout=10)
        like(late.greeting, r"^220 ", "a new client is greeted")
        late.cmd("EHLO late.example")
        late.cmd("MAIL FROM:<late@example.org>")
        late.cmd("RCPT TO:<rcpt@example.net>")
        late.cmd("DATA")
        late.send(b"Subject: after EMFILE\r\n\r\nhello\r\n.\r\n")
        like(late.reply(), r"^250 2\.0\.0 Ok: queued as",
             "and its message is queued")
        late.cmd("QUIT")
        late.close()
    except OSError as e:
        ok(False, "a new client is greeted: %s" % e)
        ok(False, "and its message is queued")
    try:
        like(early.cmd("RSET"), r"^250", "the early session survived")
    except OSError as e:
        ok(False, "the early session survived: %s" % e)
    early.close()
finally:
    for s in socks:
        s.close()
ok(srv.stop(), "doppel-smtpd exits cleanly (no sanitizer report)")
srv.cleanup()
done()
