#!/usr/bin/env python3
# 70-relay-maildir.t - doppel-relay under the master: a message accepted
# by doppel-smtpd lands in a Maildir byte for byte, with one log line per
# attempt; the queue is empty afterwards; kill -9 of the relay in the
# middle of a delivery (a next hop that holds the final dot) loses
# nothing: the restarted relay takes the message back from active/ and
# delivers it again. Every wait is bounded.
import os, pwd, re, signal, socket, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import masterlib
from masterlib import Tap, Master, wait_for, free_port

t = Tap(15)


class HoldingHop(masterlib.NextHop):
    """The first session stalls after the final dot (until released or
    the client dies); later ones answer 250."""

    ok_reply = b"250 2.0.0 Ok: kept\r\n"
    dots = 0

    def end_of_data(self, conn, session):
        self.dots += 1
        if session != 1:
            return True
        # hold: the relay waits for our reply
        while not self.stop and conn.recv(1):
            pass
        return False


send = masterlib.submit


def relay_pids(m):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(m.proc.pid)],
                         capture_output=True, text=True).stdout
    return [int(l.split()[0]) for l in out.splitlines() if "doppel-relay" in l]


hop = HoldingHop()
m = Master(program=os.path.join(masterlib.BIN, "doppel-smtpd"))
mail = os.path.join(m.dir, "mail")
os.mkdir(mail)
nobody = pwd.getpwnam("nobody")
os.chown(mail, nobody.pw_uid, nobody.pw_gid)
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "mydestination = mx.example.test\n"
    "relay_domains = slow.example\n"
    "relay_transport = maildir:%s\n"
    "transport_maps = inline:{ slow.example=smtp:[127.0.0.1]:%d }\n"
    "queue_run_delay = 200ms\n"
    "smtp_data_done_timeout = 60s\n" % (mail, hop.port),
    "127.0.0.1:%d inet 1 smtpd\n%s/run/relay.sock unix 1 relay\n" % (m.port, m.dir))
try:
    t.ok(m.start(), "the master starts with an smtpd and a relay service", m.log())
    t.ok(wait_for(lambda: "relay: started" in m.log(), 10), "doppel-relay runs under the master", m.log())

    body = (b"Subject: maildir test\r\nX-Bytes: \xc3\xa9\xff\r\n\r\n"
            b"..a line that starts with a dot\r\nNUL \x00 and trailing space \r\n")
    qid = send(m.port, "alice@example.org", "Bob@mx.example.test", body)
    t.ok(qid is not None, "doppel-smtpd accepted the message (%s)" % qid)
    box = os.path.join(mail, "bob@mx.example.test", "new")
    files = wait_for(lambda: os.path.isdir(box) and os.listdir(box), 10)
    t.ok(files and len(files) == 1, "one file in the recipient's Maildir new/", m.log())
    got = open(os.path.join(box, files[0]), "rb").read() if files else b""
    head = b"Return-Path: <alice@example.org>\r\nDelivered-To: Bob@mx.example.test\r\nReceived: "
    t.ok(got.startswith(head), "it starts with Return-Path, Delivered-To and Received", repr(got[:200]))
    unstuffed = body.replace(b"\r\n..", b"\r\n.")
    t.ok(got.endswith(b"\r\n" + unstuffed), "the message follows byte for byte (dot-unstuffed)", repr(got))
    tmpdir = os.path.join(mail, "bob@mx.example.test", "tmp")
    t.ok(os.path.isdir(tmpdir) and not os.listdir(tmpdir), "nothing left in tmp/")
    t.ok(wait_for(lambda: re.search(r"%s: to=<Bob@mx.example.test>, relay=maildir, delay=[0-9.e-]+, "
                                    r"delays=[0-9.e/-]+, dsn=2\.0\.0, status=sent" % qid, m.log()), 5),
         "one Postfix-style log line for the delivery", m.log())
    code, out, err = m.doppel("queue", "list")
    t.ok(code == 0 and "Mail queue is empty" in out, "doppel queue list: empty", out + err)

    # kill -9 of the relay while the next hop holds the final dot
    qid2 = send(m.port, "alice@example.org", "carol@slow.example", b"Subject: slow\r\n\r\nhello\r\n")
    t.ok(wait_for(lambda: hop.dots >= 1, 10), "the delivery reached the final dot", m.log())
    t.ok(os.path.exists(os.path.join(m.dir, "spool", "active", qid2 or "x")),
         "the message is in active/ while it is delivered")
    pids = relay_pids(m)
    for p in pids:
        os.kill(p, signal.SIGKILL)
    ok = wait_for(lambda: len(hop.delivered) >= 1, 15)
    t.ok(ok and b"hello" in hop.delivered[0], "after kill -9 the restarted relay delivers it",
         m.log())
    t.ok(wait_for(lambda: "back to incoming" in m.log(), 5)
         and wait_for(lambda: not os.listdir(os.path.join(m.dir, "spool", "active"))
                      and not os.listdir(os.path.join(m.dir, "spool", "incoming")), 5),
         "recovered from active/ at restart; the queue is empty again", m.log())
    new_pids = relay_pids(m)
    t.ok(new_pids and not set(new_pids) & set(pids), "the master restarted the relay (%s -> %s)"
         % (pids, new_pids), m.log())
    m.signal(signal.SIGTERM)
    m.wait(20)
    log = m.log()
    t.ok(m.proc.poll() == 0 and "relay: stopped" in log and "Sanitizer" not in log
         and "runtime error" not in log, "stop: the relay exits cleanly, no sanitizer report",
         log[-3000:])
finally:
    hop.stop = True
    m.cleanup()
t.finish()
