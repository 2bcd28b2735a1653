#!/usr/bin/env python3
# 73-relay-concurrency.t - one slow destination does not stop the others:
# with default_destination_concurrency_limit = 1 a next hop that holds its
# replies gets one session at a time, while mail for a Maildir goes on.
# Then "doppel reload": the new relay waits for the old one's lock and
# takes over. Every wait is bounded.
import os, pwd, re, signal, socket, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import masterlib
from masterlib import Tap, Master, wait_for

t = Tap(9)


class SlowHop(masterlib.NextHop):
    """holds the reply to the final dot while self.hold"""

    name = "slow"
    hold = True

    def end_of_data(self, conn, session):
        end = time.monotonic() + 20
        while self.hold and not self.stop and time.monotonic() < end:
            time.sleep(0.05)
        return True


def send(port, rcpt, body):
    """a message from alice@example.org"""
    return masterlib.submit(port, "alice@example.org", rcpt, body,
                            helo="c.example")


hop = SlowHop()
m = Master(program=os.path.join(masterlib.BIN, "doppel-smtpd"))
nobody = pwd.getpwnam("nobody")
mail = os.path.join(m.dir, "mail")
os.mkdir(mail)
os.chown(mail, nobody.pw_uid, nobody.pw_gid)
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "mydestination = mx.example.test\n"
    "relay_domains = slow.example\n"
    "relay_transport = maildir:%s\n"
    "transport_maps = inline:{ slow.example=smtp:[127.0.0.1]:%d }\n"
    "queue_run_delay = 200ms\n"
    "relay_threads = 4\n"
    "default_destination_concurrency_limit = 1\n"
    "master_shutdown_timeout = 20s\n" % (mail, hop.port),
    "127.0.0.1:%d inet 1 smtpd\n%s/run/relay.sock unix 1 relay\n" % (m.port, m.dir))


def inbox(user):
    d = os.path.join(mail, user, "new")
    return os.listdir(d) if os.path.isdir(d) else []


try:
    t.ok(m.start(), "the master starts", m.log())
    a = send(m.port, "one@slow.example", b"Subject: 1\r\n\r\none\r\n")
    b = send(m.port, "two@slow.example", b"Subject: 2\r\n\r\ntwo\r\n")
    t.ok(wait_for(lambda: hop.open == 1, 10), "the slow hop holds one delivery", m.log())
    c = send(m.port, "bob@mx.example.test", b"Subject: 3\r\n\r\nthree\r\n")
    t.ok(wait_for(lambda: len(inbox("bob@mx.example.test")) == 1, 10),
         "meanwhile mail for another destination is delivered", m.log())
    time.sleep(0.5)
    t.is_(hop.max_open, 1, "default_destination_concurrency_limit = 1: never two sessions to the hop")
    hop.hold = False
    t.ok(wait_for(lambda: len(hop.delivered) == 2, 15), "released: both slow messages delivered", m.log())
    t.is_(hop.max_open, 1, "still one at a time")

    # reload: the new relay takes over once the old one has let go
    hop.hold = True
    d = send(m.port, "three@slow.example", b"Subject: 4\r\n\r\nfour\r\n")
    wait_for(lambda: hop.open == 1, 10)
    code, out, err = m.doppel("reload")
    t.ok(code == 0 and wait_for(lambda: "relay: waiting for the previous relay to finish" in m.log(), 10),
         "reload: the new relay waits for the old one's lock", out + err + m.log())
    hop.hold = False
    t.ok(wait_for(lambda: m.log().count("relay: started") == 2, 15)
         and len(hop.delivered) == 3, "the old relay finished its delivery, the new one started", m.log())
    e = send(m.port, "bob@mx.example.test", b"Subject: 5\r\n\r\nfive\r\n")
    t.ok(wait_for(lambda: len(inbox("bob@mx.example.test")) == 2, 10), "the new relay delivers", m.log())
finally:
    hop.stop = True
    m.cleanup()
t.finish()
