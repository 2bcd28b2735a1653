#!/usr/bin/env python3
# 30-stress-smtpd - the stress personality with the real doppel-smtpd
# under doppel-master: saturation raises stress, new and old sessions get
# the stress timeout, a full service refuses or evicts the idlest
# session, real mail keeps flowing through a trickling flood, stress
# clears only after the delay, and a worker killed during DATA loses
# nothing that was acknowledged and leaves no partial file.
import os
import signal
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import BIN, Master, Tap, connect, readline, wait_for  # noqa

SMTPD = os.path.join(BIN, "doppel-smtpd")
t = Tap(23)

SMALL = ("smtpd_client_limit = 10\n"
         "smtpd_timeout = 60s\n"
         "stress_smtpd_timeout = 2s\n"
         "master_stress_clear_delay = 3s\n"
         "smtpd_peername_lookup = no\n")


def idle(port, n):
    socks = []
    for _ in range(n):
        s, greeting = connect(port)
        socks.append((s, greeting))
    return socks


def greets(port):
    """does a new connection get 220 (False while nobody answers)"""
    try:
        s, greeting = connect(port)
        s.close()
        return greeting.startswith("220")
    except OSError:
        return False


def closed_with(s, timeout):
    """the last line before the server closed, or None if still open"""
    line = readline(s, timeout)
    return line or None


# 1. eviction off: saturation, stress, refusal, shedding, clearing
m = Master(SMALL + "master_stress_evict_idle = off\n", program=SMTPD)
try:
    t.ok(m.start(), "master with doppel-smtpd workers starts")
    early = idle(m.port, 3)
    t.ok(all(g.startswith("220 ") for _, g in early), "3 sessions before the flood")
    svc = m.service()
    t.ok(svc is not None and not svc["stress"], "not stressed with 3 of 10")
    t0 = time.monotonic()
    flood = idle(m.port, 7)
    on = wait_for(lambda: (m.service() or {}).get("stress"), 5)
    t.ok(on, "10 of 10 busy: status --json shows stress on")
    t.is_((m.service() or {}).get("stress_reason"), "full", "reason: full")
    s, g = connect(m.port)
    t.ok(g.startswith("421 4.3.2 "), "eviction off: the 11th gets 421 4.3.2 (%s)" % g)
    s.close()
    # sessions opened before the flood are tightened: shed after ~2s, not 60s
    lines = [closed_with(x, 8) for x, _ in early]
    took = time.monotonic() - t0
    t.ok(all(l and l.startswith("421 4.4.2") for l in lines),
         "pre-flood idle sessions shed with 421 4.4.2 (%s)" % lines)
    t.ok(took < 15, "... after about the stress timeout, not smtpd_timeout"
         " (%.1fs)" % took)
    for x, _ in flood:
        closed_with(x, 8)
        x.close()
    for x, _ in early:
        x.close()
    # load gone: stress stays for the delay, then clears
    t.ok(wait_for(lambda: (m.service() or {}).get("open") == 0, 5),
         "all sessions gone")
    t.ok((m.service() or {}).get("stress"), "stress still on just after")
    t1 = time.monotonic()
    off = wait_for(lambda: not (m.service() or {"stress": 1}).get("stress"), 10)
    t.ok(off and time.monotonic() - t1 >= 1.5,
         "stress clears only after master_stress_clear_delay (%.1fs)"
         % (time.monotonic() - t1))
    # a session started under stress gets the stress timeout
    flood = idle(m.port, 10)
    wait_for(lambda: (m.service() or {}).get("stress"), 5)
    line = closed_with(flood[-1][0], 8)
    t.ok(line and line.startswith("421 4.4.2"),
         "a session opened under stress times out with the stress timeout")
    for x, _ in flood:
        x.close()
    st = m.service(m.stress_port)
    t.ok(st is not None and st["stress"], "the -p stress port is always stressed")
finally:
    m.cleanup()

# 2. eviction on: a newcomer evicts the idlest session and delivers
m = Master(SMALL + "master_stress_evict_idle = 0\n", program=SMTPD)
try:
    m.start()
    flood = idle(m.port, 1)
    time.sleep(0.5)                     # the first is clearly the idlest
    flood += idle(m.port, 9)
    wait_for(lambda: (m.service() or {}).get("stress"), 5)
    try:
        c = smtplib.SMTP("127.0.0.1", m.port, timeout=10)
        c.sendmail("a@b.example", ["u@mx.example.test"],
                   "Subject: through\r\n\r\nhello\r\n")
        c.quit()
        delivered = True
    except (smtplib.SMTPException, OSError) as e:
        delivered = repr(e)
    t.is_(delivered, True, "full and stressed: a newcomer takes a slot and delivers")
    line = closed_with(flood[0][0], 5)
    t.ok(line and line.startswith("421 4.3.2"),
         "the longest-idle session was evicted with 421 4.3.2 (%s)" % line)
    for x, _ in flood:
        x.close()
finally:
    m.cleanup()

# 3. 60 trickling bots on 20 slots (from 127.0.0.1, reconnecting the
# moment they are dropped); a real client (127.0.0.2) sends a message a
# second
FLOOD = ("smtpd_client_limit = 20\nsmtpd_timeout = 300s\n"
         "stress_smtpd_timeout = 10s\nsmtpd_peername_lookup = no\n")
m = Master(FLOOD, program=SMTPD)
stop = threading.Event()


def bot(port):
    """connect, send a byte every second, reconnect when dropped"""
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.settimeout(1)
            while not stop.is_set():
                s.sendall(b"N")
                try:
                    if s.recv(512) == b"":
                        break
                except socket.timeout:
                    pass
        except OSError:
            time.sleep(0.05)
        finally:
            try:
                s.close()
            except Exception:
                pass


try:
    m.start()
    bots = [threading.Thread(target=bot, args=(m.port,), daemon=True)
            for _ in range(60)]
    for b in bots:
        b.start()
    wait_for(lambda: (m.service() or {}).get("stress"), 5)
    latencies, failures = [], []
    for i in range(10):
        t0 = time.monotonic()
        try:
            # the real client is another host than the bots
            c = smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                             source_address=("127.0.0.2", 0))
            c.sendmail("a@b.example", ["u@mx.example.test"],
                       "Subject: %d\r\n\r\nreal mail\r\n" % i)
            c.quit()
            latencies.append(time.monotonic() - t0)
        except (smtplib.SMTPException, OSError) as e:
            failures.append(repr(e))
        time.sleep(max(0, 1 - (time.monotonic() - t0)))
    t.ok((m.service() or {}).get("stress"), "the flood keeps the service stressed")
    t.is_(failures, [], "60 tricklers on 20 slots: every real message delivered")
    t.ok(latencies and max(latencies) < 5,
         "each within the client's patience (max %.2fs)"
         % (max(latencies) if latencies else -1))
    stop.set()
finally:
    stop.set()
    m.cleanup()

# 4. kill -9 of a worker in the middle of DATA
m = Master(SMALL, program=SMTPD)
try:
    if not m.start():
        raise RuntimeError("the master did not start: " + m.log()[-500:])
    spool = os.path.join(m.dir, "spool")
    s, g = connect(m.port)
    for line in ("HELO c.example", "MAIL FROM:<a@b.example>",
                 "RCPT TO:<u@mx.example.test>"):
        s.sendall(line.encode() + b"\r\n")
        readline(s)
    s.sendall(b"DATA\r\n")
    readline(s)
    s.sendall(b"Subject: half\r\n\r\n" + b"x" * 70000 + b"\r\n")
    time.sleep(0.5)
    before = m.workers()
    tmp_before = os.listdir(os.path.join(spool, "tmp"))
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    line = readline(s, 5)
    t.ok(not line.startswith("250"), "the client never got 250 (%r)" % line)
    t.ok(wait_for(lambda: len(set(m.workers()) - set(before)) >= 1, 10),
         "the master restarted the worker")
    t.ok(len(tmp_before) >= 1 and wait_for(
        lambda: os.listdir(os.path.join(spool, "tmp")) == [], 5),
         "the half-written file in tmp/ is removed (%d before)" % len(tmp_before))
    t.is_(os.listdir(os.path.join(spool, "incoming")), [], "nothing in incoming/")
    ok = wait_for(lambda: greets(m.port), 10)
    t.ok(ok, "the service answers again")
except (OSError, RuntimeError) as e:
    # say what broke instead of dying with a short plan
    t.ok(False, "kill -9 during DATA: %r" % e, m.log()[-2000:])
finally:
    m.cleanup()
t.finish()
