#!/usr/bin/env python3
# 20-master-start.t - doppel start (as a daemon), status, the control
# socket's mode, a greeting on both ports, metrics with curl, doppel stop.
import os, stat, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from masterlib import Tap, Master, connect, command, wait_for

t = Tap(17)
m = Master(workers=2)
try:
    code, out, err = m.doppel("start")
    t.is_(code, 0, "doppel start returns 0 once the master serves")
    st = wait_for(m.status, 10)
    t.ok(st is not None, "status --json answers", err)
    pidfile = os.path.join(m.dir, "run", "master.pid")
    pid = int(open(pidfile).read())
    t.is_(st and st["pid"], pid, "the pidfile holds the master's pid")
    mode = stat.S_IMODE(os.stat(os.path.join(m.dir, "run", "master.sock")).st_mode)
    t.is_(oct(mode), oct(0o600), "the control socket has mode 0600")
    code, out, err = m.doppel("start")
    t.ok(code != 0 and "already running" in err, "a second start is refused", err)

    code, out, err = m.doppel("status")
    t.like(out, "127.0.0.1:%d" % m.port, "the table lists the auto service")
    t.like(out, "-p stress: stress is always on", "the table shows the forced stress port")
    svc = m.service()
    t.ok(svc and svc["workers"] == 2 and not svc["stress"], "auto service: 2 workers, no stress", svc)
    s, greeting = connect(m.port)
    t.like(greeting, "220 ", "the auto port greets")
    t.like(command(s, "STRESS"), "stress=no", "a session on the auto port is normal")
    s.close()
    s, greeting = connect(m.stress_port)
    t.like(command(s, "STRESS"), "stress=yes", "a session on the stress port is stressed")
    s.close()

    r = subprocess.run(["curl", "-sS", "--max-time", "5",
                        "http://127.0.0.1:%d/metrics" % m.metrics_port],
                       capture_output=True, text=True)
    t.like(r.stdout, 'doppel_stress{service="127.0.0.1:%d"} 1' % m.stress_port,
           "metrics: the stress port is stressed")
    t.like(r.stdout, 'doppel_connections_total{service="127.0.0.1:%d"} 1' % m.port,
           "metrics: the connection was counted")
    t.like(r.stdout, "doppel_client_limit_connections 0",
           "metrics: the per-client limit table (the fake worker counts none)")

    code, out, err = m.doppel("stop")
    t.is_(code, 0, "doppel stop returns 0")
    t.ok(not os.path.exists(pidfile), "the pidfile is gone")
    code, out, err = m.doppel("status")
    t.ok(code == 1 and "is the master running" in err, "status without a master says so", err)
finally:
    m.cleanup()
t.finish()
