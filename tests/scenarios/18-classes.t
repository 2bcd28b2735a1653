#!/usr/bin/env python3
# 18-classes - client-dependent personalities under doppel-master: a
# preferred client (by cidr map) gets in through a reserved slot while
# idle strangers fill the service, keeps its own timeout, and delivers;
# a stranger at that moment gets 421; a client with a good history
# becomes "known" and is treated the same; an early talker is caught;
# two masters sharing one redis-server see each other's history, and
# carry on when Redis stops.
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import (BIN, Master, Tap, command, connect, free_port,  # noqa
                       readline, wait_for)

SMTPD = os.path.join(BIN, "doppel-smtpd")
t = Tap(41)


def like(got, rx, name):
    """got matches the regular expression rx"""
    t.ok(re.search(rx, got or "") is not None, name, "got: %r" % (got,))


def connect_from(port, source):
    """a socket from a loopback source address, and the first line"""
    return connect(port, 5.0, source)


def cmd(s, line):
    return command(s, line, 5.0)


def deliver(port, source, body="Subject: hi\r\n\r\nhello\r\n"):
    """one message from source; the last reply"""
    s, greeting = connect_from(port, source)
    if not greeting.startswith("220"):
        s.close()
        return greeting
    cmd(s, "HELO client.example")
    cmd(s, "MAIL FROM:<a@client.example>")
    cmd(s, "RCPT TO:<u@mx.example.test>")
    cmd(s, "DATA")
    s.sendall(body.encode() + b".\r\n")
    last = readline(s, 10)
    cmd(s, "QUIT")
    s.close()
    return last


CLASSES = ("smtpd_client_limit = 6\n"
           "smtpd_client_reserve = 2\n"
           "smtpd_timeout = 60s\n"
           "stress_smtpd_timeout = 3s\n"
           "preferred_smtpd_timeout = 60s\n"
           "known_smtpd_timeout = 60s\n"
           "master_stress_evict_idle = off\n"
           "smtpd_peername_lookup = no\n"
           "client_known_min_messages = 2\n"
           "client_known_min_age = 0\n")

m = Master(CLASSES, program=SMTPD)
try:
    with open(os.path.join(m.dir, "classes.cidr"), "w") as f:
        f.write("# preferred senders\n127.0.0.3/32 preferred\n")
    with open(os.path.join(m.dir, "doppel.cf"), "a") as f:
        f.write("smtpd_client_class_maps = cidr:%s/classes.cidr\n" % m.dir)
    t.ok(m.start(), "master starts with a class map and 2 reserved slots")

    # history first: 127.0.0.5 delivers twice before the flood
    like(deliver(m.port, "127.0.0.5"), r"^250 ", "127.0.0.5 delivers once")
    like(deliver(m.port, "127.0.0.5"), r"^250 ", "127.0.0.5 delivers twice")

    bots = []
    for _ in range(4):
        s, g = connect_from(m.port, "127.0.0.2")
        bots.append(s)
    t.ok(wait_for(lambda: (m.service() or {}).get("stress") is True, 5),
         "4 idle strangers fill the 4 ordinary slots: stress")

    s, g = connect_from(m.port, "127.0.0.4")
    like(g, r"^421 4\.3\.2 ", "a stranger now gets 421 4.3.2 at once")
    s.close()

    pref, g = connect_from(m.port, "127.0.0.3")
    like(g, r"^220 ", "the preferred client gets in (a reserved slot)")
    t.ok(wait_for(lambda: "class=preferred" in m.log(), 3),
         "the log names its class")
    t.is_(cmd(pref, "HELO pref.example"), "250 mx.example.test",
          "its session works")

    known, g = connect_from(m.port, "127.0.0.5")
    like(g, r"^220 ", "the client with good history gets the last"
           " reserved slot")
    t.ok(wait_for(lambda: "class=known" in m.log(), 3),
         "the log calls it known")
    st = m.service()
    t.ok(st is not None and st.get("classes", {}).get("preferred") == 1
         and st.get("classes", {}).get("known") == 1,
         "status counts one preferred and one known session: %r"
         % (st or {}).get("classes"))

    # the reserve is full too: one more preferred client still gets in,
    # and the idlest stranger makes room, however short its idle time
    pref2, g = connect_from(m.port, "127.0.0.3")
    like(g, r"^220 ", "a second preferred client gets in with every slot"
         " taken")
    gone = [b for b in bots if readline(b, 0.5).startswith("421 4.3.2")]
    t.is_(len(gone), 1, "one idle stranger was evicted for it")
    pref2.close()
    bots = [b for b in bots if b not in gone]

    time.sleep(4)
    like(readline(bots[0], 1), r"^421 4\.4\.2 ",
           "a stranger's idle session ends after the stress timeout (3s)")
    t.is_(cmd(pref, "NOOP"), "250 2.0.0 Ok",
          "the preferred session, as idle, keeps its own 60s timeout")
    t.is_(cmd(known, "NOOP"), "250 2.0.0 Ok",
          "so does the known one")
    cmd(pref, "MAIL FROM:<p@pref.example>")
    cmd(pref, "RCPT TO:<u@mx.example.test>")
    cmd(pref, "DATA")
    pref.sendall(b"Subject: x\r\n\r\nfrom a friend\r\n.\r\n")
    last = readline(pref, 10)
    like(last, r"^250 2\.0\.0 Ok: queued as \w+",
           "the preferred client delivers during the flood")
    qid = last.split()[-1]
    code, out, err = m.doppel("queue", "show", qid)
    like(out, r"class=preferred", "the Received header names the class")
    for b in bots:
        b.close()
    pref.close()
    known.close()

    # XCLIENT on the test port: the new identity is classified again
    s, g = connect_from(m.stress_port, "127.0.0.1")
    line = cmd(s, "EHLO proxy.example")
    while line.startswith("250-"):
        line = readline(s, 5)
    s.sendall(b"XCLIENT ADDR=127.0.0.3 NAME=friend.example\r\n")
    like(readline(s, 5), r"^220 ", "XCLIENT as the preferred address")
    t.ok(wait_for(lambda: "friend.example[127.0.0.3]: client class"
                  " preferred" in m.log(), 3),
         "XCLIENT's client gets its own class")
    s.close()
finally:
    m.cleanup()

# early talkers
m = Master(CLASSES + "smtpd_greet_pause = 1s\n", program=SMTPD)
try:
    t.ok(m.start(), "master with smtpd_greet_pause = 1s")
    s = socket.socket()
    s.bind(("127.0.0.7", 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", m.port))
    s.sendall(b"EHLO impatient.example\r\n")
    like(readline(s, 5), r"^554 5\.5\.1 ",
           "a client that talks before the greeting gets 554 5.5.1")
    s.close()
    t.ok(wait_for(lambda: "early talker from unknown[127.0.0.7]" in m.log(),
                  3), "and is logged as an early talker")
    t0 = time.monotonic()
    s, g = connect_from(m.port, "127.0.0.8")
    waited = time.monotonic() - t0
    like(g, r"^220 ", "a patient client is greeted")
    t.ok(waited >= 0.9, "after the pause (%.2fs)" % waited)
    s.close()
    code, out, err = m.doppel("client", "show", "127.0.0.7")
    like(out, r"early_talks[=: ]+1", "the history remembers it: %s"
           % out.strip())
finally:
    m.cleanup()

m = Master(CLASSES + "smtpd_greet_pause = 1s\n"
           "smtpd_early_talker_action = suspect\n", program=SMTPD)
try:
    t.ok(m.start(), "master with smtpd_early_talker_action = suspect")
    s = socket.socket()
    s.bind(("127.0.0.9", 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", m.port))
    s.sendall(b"HELO impatient.example\r\n")
    like(readline(s, 5), r"^220 ", "the early talker is greeted after all")
    t.is_(readline(s, 5), "250 mx.example.test",
          "and its early command is answered")
    t.ok(wait_for(lambda: "class=suspect" in m.log(), 3),
         "as a suspect: %s" % [x for x in m.log().splitlines()
                               if "127.0.0.9" in x][:2])
    s.close()
finally:
    m.cleanup()

# two hosts, one redis
redis = shutil.which("redis-server")
if redis is None:
    for i in range(10):
        t.ok(False, "redis-server is not installed (tools/bootstrap)")
else:
    rdir = __import__("tempfile").mkdtemp(prefix="doppel-redis-")
    rport = free_port()

    def start_redis():
        return subprocess.Popen([redis, "--port", str(rport), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", rdir],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def redis_answers():
        return subprocess.run(["redis-cli", "-p", str(rport), "ping"],
                              capture_output=True,
                              text=True).stdout.strip() == "PONG"
    rproc = start_redis()
    shared = CLASSES + ("client_history_backend = redis:127.0.0.1:%d\n"
                        "client_known_min_messages = 1\n" % rport)
    a = Master(shared, program=SMTPD)
    b = Master(shared, program=SMTPD)
    try:
        t.ok(wait_for(redis_answers, 10), "redis-server runs")
        t.ok(a.start() and b.start(), "two masters share it",
             a.log()[-1500:] + b.log()[-1500:])
        like(deliver(a.port, "127.0.0.10"), r"^250 ",
               "127.0.0.10 delivers through host A")
        # events reach the store within SMTPD_HISTORY_WRITE_MS (1s)
        t.ok(wait_for(lambda: "messages=1" in b.doppel(
            "client", "show", "127.0.0.10")[1], 5),
             "A's history of 127.0.0.10 is in Redis")
        s, g = connect_from(b.port, "127.0.0.10")
        t.ok(wait_for(lambda: "127.0.0.10] class=known" in b.log(), 3),
             "host B knows it from A's history, before the greeting")
        s.close()
        rproc.terminate()
        rproc.wait(10)
        t0 = time.monotonic()
        last = deliver(b.port, "127.0.0.11")
        like(last, r"^250 ", "Redis stopped: B still delivers")
        t.ok(time.monotonic() - t0 < 3, "without a stall (%.2fs)"
             % (time.monotonic() - t0))
        t.ok(wait_for(lambda: "redis" in b.log().lower(), 3),
             "and warns about Redis")
        # Redis comes back, empty: what B wrote only locally meanwhile is
        # copied to it by B's next update that works, so A sees it
        rproc = start_redis()
        t.ok(wait_for(redis_answers, 10), "redis-server runs again")
        t.ok(wait_for(lambda: deliver(b.port, "127.0.0.12").startswith("250")
                      and "event(s) of the outage" in b.log(), 20, 1.0),
             "B copies the events of the outage to Redis",
             b.log()[-3000:])
        t.like(a.doppel("client", "show", "127.0.0.11")[1], "messages=1",
               "A now sees the message 127.0.0.11 sent through B during"
               " the outage")
    finally:
        a.cleanup()
        b.cleanup()
        if rproc.poll() is None:
            rproc.kill()
        shutil.rmtree(rdir, ignore_errors=True)
t.finish()
