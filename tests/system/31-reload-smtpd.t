#!/usr/bin/env python3
# 31-reload-smtpd - reload and stop with the real doppel-smtpd workers:
# a good reload keeps open sessions and applies the new personalities to
# new ones; a broken one is refused with FILE:LINE and changes nothing;
# "doppel stop" lets an open session finish its mail.
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import BIN, Master, Tap, command, connect, wait_for  # noqa

SMTPD = os.path.join(BIN, "doppel-smtpd")
t = Tap(14)
m = Master("smtpd_banner = first $myhostname\nsmtpd_peername_lookup = no\n",
           program=SMTPD)
try:
    t.ok(m.start(), "master starts")
    old, greeting = connect(m.port)
    t.ok(greeting.startswith("220 first "), "banner from the first configuration")
    t.is_(command(old, "HELO old.example")[:3], "250", "a session is open")

    m.write_conf("smtpd_banner = second $myhostname\n"
                 "smtpd_peername_lookup = no\n")
    code, out, err = m.doppel("reload")
    t.is_(code, 0, "doppel reload of a good configuration")
    t.ok(wait_for(lambda: connect(m.port)[1].startswith("220 second "), 10),
         "new sessions get the new banner")
    t.is_(command(old, "NOOP")[:3], "250", "the session opened before the"
          " reload goes on")
    t.is_(command(old, "QUIT")[:3], "221", "and ends normally")

    m.write_conf("smtpd_banner = third\nsmtpd_timeout = 10q\n")
    code, out, err = m.doppel("reload")
    t.is_(code, 1, "a broken configuration: reload fails")
    t.ok(re.search(r'doppel\.cf:\d+: smtpd_timeout: "10q" is not a time',
                   err + out) is not None,
         "with FILE:LINE and the reason (%s)"
         % (err + out).strip().replace("\n", " | "))
    t.ok(connect(m.port)[1].startswith("220 second "),
         "the running configuration stays in force")

    # the control socket: mode 0600, and even when someone opens it up,
    # another user is refused by its credentials
    sock = os.path.join(m.dir, "run", "master.sock")
    t.is_(oct(os.stat(sock).st_mode & 0o777), "0o600", "control socket mode 0600")
    os.chmod(sock, 0o666)
    r = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c",
                        "%s -c %s status" % (os.path.join(BIN, "doppel"),
                                             m.dir)],
                       capture_output=True, text=True, timeout=30)
    t.ok(r.returncode != 0 and "refusing uid" in m.log(),
         "another user is refused (%s)" % r.stderr.strip()[-200:])

    # stop: an open session may finish its message
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=10)
    s.ehlo("late.example")
    s.mail("a@b.example")
    s.rcpt("u@mx.example.test")
    m.signal(15)                        # what "doppel stop" sends
    time.sleep(0.5)
    reply = s.data("Subject: during stop\r\n\r\nstill accepted\r\n")
    t.is_(reply[0], 250, "a message in progress at stop is still accepted")
    s.quit()
    t.ok(m.wait(20) == 0, "the master exits 0 once the session is done")
finally:
    m.cleanup()
t.finish()
