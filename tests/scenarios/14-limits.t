#!/usr/bin/env python3
# 14-limits - per-client limits under a real doppel-master with two
# doppel-smtpd workers: the connection count is shared by the workers
# (each worker is made to accept in turn by stopping the other), the
# third connection from 127.0.0.2 gets 421 4.7.0 while 127.0.0.1
# (mynetworks, hence smtpd_client_event_limit_exceptions) is never
# limited; a -p stress service applies its own stress_ limit; XCLIENT
# moves the count to the client it names; a worker killed with -9 gives
# back the connections it held; the connection rate trips and resets
# after anvil_rate_time_unit; MAIL and RCPT rates get 450 4.7.1.
# Every wait is bounded.
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import BIN, Master, Tap, command, connect, readline, wait_for  # noqa

SMTPD = os.path.join(BIN, "doppel-smtpd")
t = Tap(34)

BASE = ("smtpd_peername_lookup = no\n"
        "mynetworks = 127.0.0.1/32 [::1]/128\n"
        "smtpd_timeout = 30s\n"
        "stress_smtpd_timeout = 30s\n")
TOO_MANY = "421 4.7.0 mx.example.test Error: too many connections from %s"


def connect_from(source, port):
    """a socket from source to 127.0.0.1:port, and the first line"""
    return connect(port, 5.0, source)


def cmd(s, line):
    return command(s, line, 5.0)


def ehlo(s):
    """EHLO; the last line of its reply"""
    s.sendall(b"EHLO client.example\r\n")
    while True:
        line = readline(s)
        if len(line) < 4 or line[3] != "-":
            return line


def service_workers(m, index):
    """pids of the master's workers of service index (by their argv)"""
    pids = []
    for pid in m.workers():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--service" in argv and \
                argv[argv.index(b"--service") + 1] == str(index).encode():
            pids.append(pid)
    return pids


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def stop(pid):
    os.kill(pid, signal.SIGSTOP)
    return wait_for(lambda: state(pid) == "T", 5)


def cont(pid):
    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: state(pid) != "T", 5)


def accepted_by(m, addr, n):
    """the pid that logged the n-th (from 1) 'connect from' of addr"""
    pids = re.findall(r"doppel/smtpd\[(\d+)\]: connect from unknown\[%s\]"
                      % re.escape(addr), m.log())
    return int(pids[n - 1]) if len(pids) >= n else None


def from_worker(m, worker, idle, source, port):
    """connect while only worker runs (idle is stopped meanwhile)"""
    ok = stop(idle)
    try:
        s, line = connect_from(source, port)
    finally:
        cont(idle)
    return ok, s, line


# 1. counts shared by two workers; exceptions; stress; XCLIENT; kill -9
m = Master(BASE + "smtpd_client_connection_count_limit = 2\n"
           "stress_smtpd_client_connection_count_limit = 1\n",
           workers=2, program=SMTPD)
held = []
try:
    t.ok(m.start(), "master with two doppel-smtpd workers starts")
    wait_for(lambda: len(service_workers(m, 0)) == 2, 10)
    w = service_workers(m, 0)
    t.is_(len(w), 2, "two workers on the main service")
    w1, w2 = w[0], w[1]

    ok1, c1, g1 = from_worker(m, w1, w2, "127.0.0.2", m.port)
    ok2, c2, g2 = from_worker(m, w2, w1, "127.0.0.2", m.port)
    held += [c1, c2]
    t.ok(ok1 and ok2, "each worker in turn is stopped while the other"
         " accepts")
    t.ok(g1.startswith("220 ") and g2.startswith("220 "),
         "127.0.0.2: two connections accepted (%s / %s)" % (g1, g2))
    wait_for(lambda: accepted_by(m, "127.0.0.2", 2) is not None, 5)
    t.is_((accepted_by(m, "127.0.0.2", 1), accepted_by(m, "127.0.0.2", 2)),
          (w1, w2), "... one by each worker")
    _, c3, g3 = from_worker(m, w1, w2, "127.0.0.2", m.port)
    t.is_(g3, TOO_MANY % "127.0.0.2",
          "the third, on the first worker: 421 4.7.0")
    t.is_(readline(c3, 3), "", "... and the connection is closed")
    c3.close()
    _, c4, g4 = from_worker(m, w2, w1, "127.0.0.2", m.port)
    t.is_(g4, TOO_MANY % "127.0.0.2", "the fourth, on the second worker:"
          " 421 4.7.0 too (the count is the host's)")
    c4.close()
    log = m.log()
    warn = ("warning: Connection concurrency limit exceeded: 3 from"
            " unknown[127.0.0.2] for service 127.0.0.1:%d" % m.port)
    t.is_(len(re.findall(r"doppel/smtpd\[(%d|%d)\]: %s"
                         % (w1, w2, re.escape(warn)), log)), 2,
          "Postfix's warning, logged by each worker")
    t.ok("count this worker alone" not in log,
         "workers attached the master's table (fd 5)")

    local = [connect_from("127.0.0.1", m.port) for _ in range(4)]
    t.ok(all(g.startswith("220 ") for _, g in local),
         "127.0.0.1 (mynetworks) is not limited: 4 more accepted")
    for s, _ in local:
        s.close()

    # the stress service: its own limit (1) and its own count
    s1, gs1 = connect_from("127.0.0.2", m.stress_port)
    s2, gs2 = connect_from("127.0.0.2", m.stress_port)
    held.append(s1)
    t.ok(gs1.startswith("220 "), "-p stress service: the first from"
         " 127.0.0.2 is accepted (the main service's count is apart)")
    t.is_(gs2, TOO_MANY % "127.0.0.2", "... the second gets 421 4.7.0"
          " (stress_smtpd_client_connection_count_limit = 1)")
    s2.close()
    t.like(m.log(), "Connection concurrency limit exceeded: 2 from"
           " unknown[127.0.0.2] for service 127.0.0.1:%d" % m.stress_port,
           "... logged for the stress service")

    # XCLIENT: the named client is counted and limited, not the proxy
    x1, _ = connect_from("127.0.0.1", m.stress_port)
    x2, _ = connect_from("127.0.0.1", m.stress_port)
    held += [x1, x2]
    r1 = cmd(x1, "XCLIENT ADDR=192.0.2.10 NAME=client.example")
    t.ok(r1.startswith("220 "), "XCLIENT from the exempt proxy to"
         " 192.0.2.10: 220 (%s)" % r1)
    r2 = cmd(x2, "XCLIENT ADDR=192.0.2.10 NAME=client.example")
    t.is_(r2, TOO_MANY % "192.0.2.10", "a second session as 192.0.2.10:"
          " 421 4.7.0 (its limit, not the proxy's)")
    t.like(m.log(), "Connection concurrency limit exceeded: 2 from"
           " client.example[192.0.2.10]", "... logged with the new identity")
    r3 = cmd(x1, "XCLIENT ADDR=192.0.2.11 NAME=other.example")
    x3, _ = connect_from("127.0.0.1", m.stress_port)
    held.append(x3)
    r4 = cmd(x3, "XCLIENT ADDR=192.0.2.10 NAME=client.example")
    t.ok(r3.startswith("220 ") and r4.startswith("220 "),
         "XCLIENT to another address gives the old one's count back"
         " (%s / %s)" % (r3, r4))

    # kill -9 the worker holding c1: its count is given back at reap
    os.kill(w1, signal.SIGKILL)
    released = wait_for(lambda: re.search(
        r"worker pid %d: released 1 per-client connection count" % w1,
        m.log()), 10)
    t.ok(released, "the master released the dead worker's connection")
    c5, g5 = connect_from("127.0.0.2", m.port)
    held.append(c5)
    t.ok(g5.startswith("220 "), "127.0.0.2 is accepted again (%s)" % g5)
    c6, g6 = connect_from("127.0.0.2", m.port)
    t.is_(g6, TOO_MANY % "127.0.0.2", "... up to its limit (c2 and this one)")
    c6.close()
finally:
    for pid in service_workers(m, 0):
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    for s in held:
        s.close()
    m.cleanup()

# 2. rates: anvil_rate_time_unit = 2s
m = Master(BASE + "anvil_rate_time_unit = 2s\n"
           "smtpd_client_connection_rate_limit = 3\n"
           "smtpd_client_message_rate_limit = 2\n"
           "smtpd_client_recipient_rate_limit = 3\n",
           workers=2, program=SMTPD)
try:
    t.ok(m.start(), "master for the rate limits starts")
    t0 = None
    greet = []
    for _ in range(3):
        s, g = connect_from("127.0.0.4", m.port)
        if t0 is None:
            # the window began before this greeting was sent
            t0 = time.monotonic()
        greet.append(g)
        cmd(s, "QUIT")
        s.close()
    t.ok(all(g.startswith("220 ") for g in greet),
         "three connections in the unit are accepted")
    s, g = connect_from("127.0.0.4", m.port)
    s.close()
    t.is_(g, TOO_MANY % "127.0.0.4", "the fourth gets 421 4.7.0")
    t.like(m.log(), "warning: Connection rate limit exceeded: 4 from"
           " unknown[127.0.0.4] for service 127.0.0.1:%d" % m.port,
           "... logged as Postfix does")
    local = [connect_from("127.0.0.1", m.port) for _ in range(5)]
    t.ok(all(g.startswith("220 ") for _, g in local),
         "127.0.0.1 is exempt from the rate too")
    for s, _ in local:
        s.close()
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t0)))
    s, g = connect_from("127.0.0.4", m.port)
    t.ok(g.startswith("220 "), "after the unit a new window: accepted (%s)"
         % g)
    s.close()

    s, g = connect_from("127.0.0.5", m.port)
    ehlo(s)
    mails = []
    for _ in range(3):
        mails.append(cmd(s, "MAIL FROM:<a@client.example>"))
        cmd(s, "RSET")
    t.ok(mails[0].startswith("250") and mails[1].startswith("250"),
         "two MAIL in the unit: 250 (%s)" % mails[:2])
    t.is_(mails[2], "450 4.7.1 Error: too much mail from 127.0.0.5",
          "the third MAIL: 450 4.7.1")
    t.like(m.log(), "warning: Message delivery request rate limit exceeded:"
           " 3 from unknown[127.0.0.5]", "... logged")
    s.close()

    s, g = connect_from("127.0.0.6", m.port)
    ehlo(s)
    cmd(s, "MAIL FROM:<a@client.example>")
    rcpts = [cmd(s, "RCPT TO:<u%d@mx.example.test>" % i) for i in range(4)]
    t.ok(all(r.startswith("250") for r in rcpts[:3]),
         "three RCPT in the unit: 250 (%s)" % rcpts[:3])
    t.is_(rcpts[3], "450 4.7.1 Error: too many recipients from 127.0.0.6",
          "the fourth RCPT: 450 4.7.1")
    t.like(m.log(), "warning: Recipient address rate limit exceeded: 4 from"
           " unknown[127.0.0.6]", "... logged")
    t.ok(cmd(s, "RSET").startswith("250"), "the session goes on")
    s.close()
finally:
    m.cleanup()
t.finish()
