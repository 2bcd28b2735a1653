#!/usr/bin/env python3
# 23-master-reload.t - a broken configuration is refused by reload (the
# error reaches the CLI, the service keeps serving); a good one replaces
# the workers without dropping an open session; HUP reloads too.
import os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from masterlib import Tap, Master, connect, command, wait_for

t = Tap(13)
m = Master(workers=1)
try:
    t.ok(m.start(), "the master starts", m.log())
    old_workers = m.workers()
    open_s, g = connect(m.port)
    t.like(g, "220 ", "a session is open before the reloads")

    with open(os.path.join(m.dir, "doppel.cf"), "a") as f:
        f.write("smtpd_timeout = 10q\n")
    code, out, err = m.doppel("reload")
    t.is_(code, 1, "reload of a broken configuration fails")
    t.like(err, 'smtpd_timeout: "10q" is not a time', "the error reaches the CLI")
    t.like(err, "stays in force", "the CLI says the old configuration stays")
    t.like(m.log(), "reload: configuration in %s refused" % m.dir, "the refusal is logged")
    s, g = connect(m.port)
    t.like(g, "220 ", "the service keeps serving")
    s.close()
    t.is_(m.status()["generation"], 1, "still generation 1")

    m.write_conf("smtpd_client_limit = 7\n", workers=1)
    code, out, err = m.doppel("reload")
    t.ok(code == 0 and "generation 2" in out, "a good configuration is reloaded", out + err)
    t.ok(wait_for(lambda: m.service()["limit"] == 7, 3), "the new limit is in force")
    t.like(command(open_s, "NOOP"), "250 ", "the session opened before the reload is still served")
    t.ok(wait_for(lambda: not set(old_workers) & set(m.workers()), 5) is True
         or command(open_s, "QUIT") and wait_for(lambda: not set(old_workers) & set(m.workers()), 5),
         "the old worker exits once its session ends", m.log())
    open_s.close()

    m.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: m.status()["generation"] == 3, 5), "SIGHUP reloads (generation 3)")
finally:
    m.cleanup()
t.finish()
