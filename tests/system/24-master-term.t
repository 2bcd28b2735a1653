#!/usr/bin/env python3
# 24-master-term.t - TERM is graceful: the listeners close, open sessions
# go on until they end, then the master exits; past
# master_shutdown_timeout the remaining sessions get 421 and it exits.
import os, signal, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from masterlib import Tap, Master, connect, command, readline, wait_for

t = Tap(9)
m = Master(workers=1)
try:
    t.ok(m.start(), "the master starts", m.log())
    s, g = connect(m.port)
    m.signal(signal.SIGTERM)
    time.sleep(0.5)
    refused = False
    try:
        socket.create_connection(("127.0.0.1", m.port), timeout=2).close()
    except OSError:
        refused = True
    t.ok(refused, "after TERM new connections are refused")
    t.like(command(s, "NOOP"), "250 ", "an open session is still served")
    t.ok(m.proc.poll() is None, "the master waits for it")
    t.like(command(s, "QUIT"), "221 ", "the session ends normally")
    s.close()
    t.is_(m.wait(5), 0, "then the master exits 0")
    t.ok(not os.path.exists(os.path.join(m.dir, "run", "master.pid")), "and removes its pidfile")
finally:
    m.cleanup()

m = Master(params="master_shutdown_timeout = 1s\n", workers=1)
try:
    m.start()
    s, g = connect(m.port)
    m.signal(signal.SIGTERM)
    t0 = time.monotonic()
    t.like(readline(s, 5), "421 4.3.2", "past the deadline the idle session gets 421")
    code = m.wait(5)
    t.ok(code == 0 and time.monotonic() - t0 < 4, "and the master exits soon after", m.log())
    s.close()
finally:
    m.cleanup()
t.finish()
