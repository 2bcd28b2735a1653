#!/usr/bin/env python3
# 22-master-stress.t - idle connections saturate a service (small
# smtpd_client_limit): stress on at once, open sessions tightened, the
# longest-idle one evicted for a newcomer; after the load drops, stress
# clears only after master_stress_clear_delay; the -p stress port is
# always stressed; metrics scraped with curl.
import os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from masterlib import Tap, Master, connect, command, readline, wait_for

t = Tap(19)
m = Master(params="smtpd_client_limit = 4\n"
                  "master_stress_clear_ratio = 0.5\n"
                  "master_stress_clear_delay = 2s\n"
                  "stress_smtpd_timeout = 30s\n"
                  # XXX "0s": params.c reads the default "0" as "off" (bool)
                  "master_stress_evict_idle = 0s\n", workers=1)
try:
    t.ok(m.start(), "the master starts", m.log())
    svc = m.service()
    t.ok(svc and not svc["stress"] and svc["stress_reason"] == "start", "no stress at start", svc)
    socks = []
    for i in range(3):
        s, g = connect(m.port)
        socks.append(s)
    time.sleep(0.3)
    t.ok(not m.service()["stress"], "3 of 4 slots busy: no stress")
    s, g = connect(m.port)
    socks.append(s)
    t0 = time.monotonic()
    svc = wait_for(lambda: (lambda v: v if v and v["stress"] else None)(m.service()), 2, 0.02)
    t.ok(svc is not None, "4 of 4 busy: status --json shows stress on")
    t.ok(time.monotonic() - t0 < 1.0, "raised within a second of saturation (status round trip included)")
    t.is_(svc and svc["stress_reason"], "full", "the reason is full")
    t.is_(svc and svc["open"], 4, "open sessions counted")
    t.ok(wait_for(lambda: m.service()["sessions"]["stress"] == 4, 2),
         "open sessions were tightened to the stress personality", m.service())
    t.like(command(socks[3], "STRESS"), "stress=yes", "a tightened session says so")
    t.ok(wait_for(lambda: "all 4 client slots busy; stress on" in m.log(), 2),
         "the transition is logged with the counts", m.log())

    # a newcomer evicts the longest-idle session (socks[0]: no input since it came)
    s, g = connect(m.port)
    t.like(g, "220 ", "a newcomer to a full, stressed service is admitted")
    t.like(readline(socks[0], 2), "421 4.3.2", "the longest-idle session got 421 4.3.2")
    socks[0].close()
    socks[0] = s
    svc = m.service()
    t.is_(svc["counters"]["evictions"], 1, "the eviction is counted")

    # load drops: stress stays on for the delay, then clears
    for s in socks:
        s.close()
    t_low = time.monotonic()
    time.sleep(1.0)
    t.ok(m.service()["stress"], "1 s after the load dropped: still on (delay 2 s)")
    svc = wait_for(lambda: (lambda v: v if v and not v["stress"] else None)(m.service()), 5)
    took = time.monotonic() - t_low
    t.ok(svc is not None and 1.8 <= took <= 4.0, "cleared after the delay (%.1fs)" % took, m.log())
    t.is_(svc and svc["stress_reason"], "cleared", "the reason is cleared")
    t.like(m.log(), "stress off", "the clear is logged")

    st = m.service(m.stress_port)
    t.ok(st["stress"] and st["force"] == "stress" and st["open"] == 0,
         "the -p stress port is stressed with no load", st)
    r = subprocess.run(["curl", "-sS", "--max-time", "5",
                        "http://127.0.0.1:%d/metrics" % m.metrics_port],
                       capture_output=True, text=True)
    t.like(r.stdout, 'doppel_stress_transitions_total{service="127.0.0.1:%d"} 2' % m.port,
           "metrics: two transitions on the auto service")
finally:
    m.cleanup()
t.finish()
