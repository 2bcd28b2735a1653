#!/usr/bin/env python3
# 21-master-supervise.t - a killed worker is restarted with back-off; a
# worker that always dies is a crash loop, throttled, never a fork storm;
# the master never exits because a child died.
import os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from masterlib import Tap, Master, connect, wait_for

t = Tap(10)
m = Master(workers=2)
try:
    t.ok(m.start(), "the master starts", m.log())
    before = wait_for(lambda: len(m.workers()) == 3 and m.workers(), 5)
    t.is_(len(before or []), 3, "three workers run (2 + the stress port)")
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    after = wait_for(lambda: (len(m.workers()) == 3 and victim not in m.workers()) and m.workers(), 5)
    t.ok(after and victim not in after, "a worker killed with -9 is replaced", m.log())
    t.like(m.log(), "worker pid %d killed by signal 9; restart in 100ms" % victim,
           "the death and the back-off are logged")
    s, greeting = connect(m.port)
    t.like(greeting, "220 ", "the service still answers")
    s.close()
    t.ok(m.proc.poll() is None, "the master is still running")
finally:
    m.cleanup()

# a worker program that exits at once: /bin/false
m = Master(workers=1, program="/bin/false")
try:
    t.ok(m.start(), "a master whose workers always fail still starts", m.log())
    time.sleep(4)
    log = m.log()
    restarts = log.count("exited with status 1; restart in")
    t.ok(3 <= restarts <= 16, "4 s of failures: %d restarts (back-off, no storm)" % restarts, log)
    t.like(log, "crash loop:", "the crash loop is logged")
    t.ok(m.proc.poll() is None, "the master survives the crash loop")
finally:
    m.cleanup()
t.finish()
