#!/usr/bin/env python3
# 84-small-flood - a small mixed flood against a real doppel-master:
# slowloris bots trickling a byte a second, clients spamming junk
# commands, early talkers, and one address opening connection after
# connection. Meanwhile a legitimate client delivers every message it
# sends, each within a few seconds, and the worker never dies.
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import BIN, Master, Tap, readline, wait_for  # noqa

SMTPD = os.path.join(BIN, "doppel-smtpd")
DURATION = 12.0                     # seconds of flood
t = Tap(8)

CONF = ("smtpd_client_limit = 40\n"
        "smtpd_timeout = 4s\n"
        "smtpd_per_request_deadline = yes\n"
        "smtpd_peername_lookup = no\n"
        "smtpd_greet_pause = 300ms\n"
        "smtpd_client_connection_count_limit = 4\n"
        "smtpd_client_event_limit_exceptions = 127.0.0.1\n"
        "master_stress_clear_delay = 2s\n")

stop = threading.Event()
stats = {"slowloris": 0, "junk": 0, "early": 0, "early_554": 0,
         "early_seen": 0,
         "hammer": 0, "hammer_refused": 0, "hammer_limit": 0}
lock = threading.Lock()


def sock_from(source, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


seen = {}


def count(key, line=None):
    with lock:
        stats[key] += 1
        if line is not None:
            seen.setdefault(key, set()).add(line[:40])


def slowloris(port, n):
    """connect, then a byte a second; reconnect when dropped"""
    while not stop.is_set():
        try:
            s = sock_from("127.1.0.%d" % n, port)
            count("slowloris")
            while not stop.is_set():
                s.sendall(b"N")
                time.sleep(1.0)
        except OSError:
            time.sleep(0.1)


def junk(port, n):
    """whole junk commands as fast as the server answers them"""
    while not stop.is_set():
        try:
            s = sock_from("127.2.0.%d" % n, port)
            count("junk")
            readline(s, 3)
            while not stop.is_set():
                s.sendall(b"NOOP\r\nVRFY root\r\nFOO bar\r\n")
                if not readline(s, 3):
                    break
        except OSError:
            time.sleep(0.1)


def early(port, n):
    """talk before the greeting"""
    while not stop.is_set():
        try:
            s = sock_from("127.3.0.%d" % n, port)
            count("early")
            s.sendall(b"EHLO spam\r\nMAIL FROM:<a@b>\r\n")
            line = readline(s, 3)
            count("early_seen", line)
            if line.startswith("554 5.5.1"):
                count("early_554")
            s.close()
        except OSError:
            time.sleep(0.1)


def hammer(port):
    """one address, connection after connection, kept open"""
    held = []
    while not stop.is_set():
        try:
            s = sock_from("127.0.0.2", port, 2)
            line = readline(s, 2)
            count("hammer", line)
            if line.startswith("421"):
                count("hammer_refused")
                if line.startswith("421 4.7.0"):
                    count("hammer_limit")
                s.close()
            else:
                held.append(s)
            if len(held) > 30:
                held.pop(0).close()
        except OSError:
            time.sleep(0.05)
    for s in held:
        s.close()


def deliver(port, i):
    """one legitimate message from 127.0.0.1: (ok, seconds)"""
    t0 = time.monotonic()
    try:
        s = sock_from("127.0.0.1", port, 10)
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline(2000).decode("latin-1")
                if len(line) < 4 or line[3] != "-":
                    return line
        if not reply().startswith("220"):
            return False, time.monotonic() - t0
        for c in ("EHLO legit.example", "MAIL FROM:<a@legit.example>",
                  "RCPT TO:<u@mx.example.test>", "DATA"):
            s.sendall(c.encode() + b"\r\n")
            reply()
        s.sendall(b"Subject: %d\r\n\r\nreal mail\r\n.\r\n" % i)
        last = reply()
        s.sendall(b"QUIT\r\n")
        s.close()
        return last.startswith("250 "), time.monotonic() - t0
    except OSError:
        return False, time.monotonic() - t0


m = Master(CONF, program=SMTPD)
try:
    t.ok(m.start(), "master starts (40 slots, 4 connections per client)")
    workers = m.workers()
    threads = [threading.Thread(target=slowloris, args=(m.port, i))
               for i in range(1, 16)]
    threads += [threading.Thread(target=junk, args=(m.port, i))
                for i in range(1, 6)]
    threads += [threading.Thread(target=early, args=(m.port, i))
                for i in range(1, 4)]
    threads.append(threading.Thread(target=hammer, args=(m.port,)))
    for th in threads:
        th.daemon = True
        th.start()
    time.sleep(2)
    results = []
    end = time.monotonic() + DURATION
    i = 0
    while time.monotonic() < end and i < 40:
        results.append(deliver(m.port, i))
        i += 1
        time.sleep(0.3)
    stop.set()
    for th in threads:
        th.join(5)
    delivered = sum(1 for ok, _ in results if ok)
    worst = max(secs for _, secs in results) if results else None
    print("# flood: %r; legitimate %d/%d, slowest %.2fs"
          % (stats, delivered, len(results), worst or 0))
    print("# replies seen: %r" % seen)
    t.ok(len(results) >= 10, "the legitimate client sent %d messages"
         % len(results))
    t.is_(delivered, len(results), "every legitimate message was queued")
    t.ok(worst is not None and worst < 5, "each within 5s (slowest %.2fs)"
         % (worst or 0))
    # under a flood the log may drop lines (it never blocks): what the
    # clients saw is the evidence
    t.ok(stats["early_554"] > 0, "early talkers were refused (554 5.5.1)")
    t.ok(stats["hammer_limit"] > 0,
         "the hammering address hit its connection limit (421 4.7.0)")
    t.ok(stats["slowloris"] > 15, "slowloris sessions were shed and came"
         " back (%d connections for 15 bots)" % stats["slowloris"])
    t.is_(m.workers(), workers, "the worker survived the flood")
finally:
    stop.set()
    m.cleanup()
t.finish()
