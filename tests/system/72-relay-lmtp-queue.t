#!/usr/bin/env python3
# 72-relay-lmtp-queue.t - delivery to an LMTP server run by this test (unix
# socket and inet), with one reply per recipient after the dot: one
# recipient delivered, one deferred (only it stays queued, in a rewritten
# file), one bounced (a DSN to the sender); and "doppel queue" on every
# state: list, show, hold, release, delete, flush, bad IDs. Bounded waits.
import os, pwd, re, signal, socket, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import masterlib
from masterlib import Tap, Master, wait_for, free_port

t = Tap(26)


class Lmtp:
    """An LMTP server: later@ gets 452 while self.full, bad@ gets 550."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(addr)
        if family == socket.AF_UNIX:
            os.chmod(addr, 0o777)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.full = True
        self.delivered = []            # (rcpt, data)
        self.cmds = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        c.settimeout(20)
        f = c.makefile("rb")
        rcpts, data = [], None
        try:
            c.sendall(b"220 lmtp ready\r\n")
            while True:
                line = f.readline(2000)
                if not line:
                    return
                if data is not None:
                    if line == b".\r\n":
                        out = b""
                        for r in rcpts:
                            if "later@" in r and self.full:
                                out += b"452 4.2.2 <%s> mailbox full\r\n" % r.encode()
                            else:
                                self.delivered.append((r, b"".join(data)))
                                out += b"250 2.0.0 <%s> delivered\r\n" % r.encode()
                        c.sendall(out)
                        rcpts, data = [], None
                    else:
                        data.append(line)
                    continue
                self.cmds.append(line.decode("latin-1").strip())
                cmd = line[:4].upper()
                if cmd == b"LHLO":
                    c.sendall(b"250-lmtp\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
                elif cmd == b"MAIL":
                    c.sendall(b"250 2.1.0 Ok\r\n")
                elif cmd == b"RCPT":
                    r = re.search(rb"<([^>]*)>", line).group(1).decode()
                    if r.startswith("bad@"):
                        c.sendall(b"550 5.1.1 <%s> unknown user\r\n" % r.encode())
                    else:
                        rcpts.append(r)
                        c.sendall(b"250 2.1.5 Ok\r\n")
                elif cmd == b"DATA":
                    if rcpts:
                        c.sendall(b"354 go\r\n")
                        data = []
                    else:
                        c.sendall(b"503 5.5.1 no valid recipients\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            return
        finally:
            c.close()


send = masterlib.submit


m = Master(program=os.path.join(masterlib.BIN, "doppel-smtpd"))
nobody = pwd.getpwnam("nobody")
mail = os.path.join(m.dir, "mail")
os.mkdir(mail)
os.chown(mail, nobody.pw_uid, nobody.pw_gid)
usock = os.path.join(m.dir, "lmtp.sock")
lu = Lmtp(socket.AF_UNIX, usock)
iport = free_port()
li = Lmtp(socket.AF_INET, ("127.0.0.1", iport))
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "relay_domains = lmtp.example inet.example\n"
    "relay_transport = maildir:%s\n"
    "transport_maps = inline:{ lmtp.example=lmtp:unix:%s, inet.example=lmtp:inet:127.0.0.1:%d }\n"
    "queue_run_delay = 200ms\n"
    "minimal_backoff_time = 1h\n"
    "maximal_backoff_time = 2h\n" % (mail, usock, iport),
    "127.0.0.1:%d inet 1 smtpd\n%s/run/relay.sock unix 1 relay\n" % (m.port, m.dir))
spool = os.path.join(m.dir, "spool")


def where(qid):
    for d in ("incoming", "active", "deferred", "hold"):
        if os.path.exists(os.path.join(spool, d, qid)):
            return d
    return None


try:
    t.ok(m.start(), "the master starts (smtpd + relay)", m.log())
    qid = send(m.port, "alice@local.example",
               ["a@lmtp.example", "later@lmtp.example", "bad@lmtp.example"],
               b"Subject: lmtp\r\n\r\nto three\r\n")
    t.ok(qid is not None, "accepted for three LMTP recipients: %s" % qid)
    t.ok(wait_for(lambda: where(qid) == "deferred", 10), "one waits: the message is in deferred/", m.log())
    log = m.log()
    t.ok(re.search(r"%s: to=<a@lmtp.example>, relay=%s, .*dsn=2\.0\.0, status=sent \(250 2\.0\.0 <a@lmtp.example> delivered\)"
                   % (qid, re.escape(usock)), log), "a@: sent, with the LMTP reply", log)
    t.ok(re.search(r"%s: to=<later@lmtp.example>, .*dsn=4\.2\.2, status=deferred \(452 4\.2\.2" % qid, log),
         "later@: deferred by its own reply after the dot", log)
    t.ok(re.search(r"%s: to=<bad@lmtp.example>, .*dsn=5\.1\.1, status=bounced \(550 5\.1\.1" % qid, log),
         "bad@: bounced at RCPT", log)
    t.ok([r for r, _ in lu.delivered] == ["a@lmtp.example"] and b"to three" in lu.delivered[0][1],
         "the LMTP server has the message for a@ only", lu.delivered)
    t.ok("LHLO" in lu.cmds[0], "the client spoke LHLO", lu.cmds)
    abox = os.path.join(mail, "alice@local.example", "new")
    t.ok(wait_for(lambda: os.path.isdir(abox) and len(os.listdir(abox)) == 1, 10),
         "the sender got one DSN (for bad@)", m.log())

    code, out, err = m.doppel("queue", "list")
    t.ok(code == 0 and re.search(r"%s  +\d+ .* alice@local.example" % qid, out)
         and "(%s said: 452 4.2.2 <later@lmtp.example> mailbox full)" % usock in out
         and "a@lmtp.example" not in out, "list: the deferred message, its reason, one recipient", out + err)
    code, out, err = m.doppel("queue", "show", qid)
    t.ok(code == 0 and "*** ENVELOPE RECORDS deferred/%s ***" % qid in out
         and "recipient: later@lmtp.example" in out and "recipient: a@lmtp.example" not in out
         and "Subject: lmtp" in out and "to three" in out,
         "show: the rewritten envelope and the content", out + err)

    code, out, err = m.doppel("queue", "hold", qid)
    t.ok(code == 0 and where(qid) == "hold", "hold moves it to hold/", out + err)
    code, out, err = m.doppel("queue", "list")
    t.ok("%s!" % qid in out, "list marks it held with !", out)
    code, out, err = m.doppel("queue", "hold", qid)
    t.ok(code == 1 and "already on hold" in err, "hold twice: a clear error", err)
    code, out, err = m.doppel("queue", "flush")
    time.sleep(1)
    t.ok(where(qid) == "hold", "a held message is not delivered, even after flush")
    attempts = len(re.findall(r"%s: to=<later@" % qid, m.log()))
    code, out, err = m.doppel("queue", "release", qid)
    t.ok(code == 0 and "released" in out, "release", out + err)
    t.ok(wait_for(lambda: len(re.findall(r"%s: to=<later@" % qid, m.log())) > attempts
                  and where(qid) == "deferred", 10),
         "released: tried again at once, deferred again", m.log())
    code, out, err = m.doppel("queue", "release", qid)
    t.ok(code == 1 and "not on hold" in err, "release of a message not held: a clear error", err)

    # flush after the mailbox has room: delivered
    lu.full = False
    code, out, err = m.doppel("queue", "flush")
    t.ok(code == 0 and "1 deferred message due now" in out and "relay woken" in out,
         "flush: due now, and the relay is woken through its socket", out + err)
    t.ok(wait_for(lambda: where(qid) is None and any(r == "later@lmtp.example" for r, _ in lu.delivered), 10),
         "flushed: delivered, and the message is gone", m.log())

    # delete, and bad IDs
    lu.full = True
    qid2 = send(m.port, "alice@local.example", ["later@lmtp.example"], b"Subject: del\r\n\r\nx\r\n")
    wait_for(lambda: where(qid2) == "deferred", 10)
    code, out, err = m.doppel("queue", "delete", qid2)
    t.ok(code == 0 and "%s: deleted" % qid2 in out and where(qid2) is None, "delete ID", out + err)
    code, out, err = m.doppel("queue", "delete", qid2)
    t.ok(code == 1 and "%s: no such message in the queue" % qid2 in err, "delete again: no such message", err)
    code, out, err = m.doppel("queue", "show", "../../etc/passwd")
    t.ok(code == 2 and "is not a queue ID" in err, "a bad ID is refused before it makes a path", err)
    qid3 = send(m.port, "alice@local.example", ["later@lmtp.example"], b"Subject: all\r\n\r\nx\r\n")
    wait_for(lambda: where(qid3) == "deferred", 10)
    code, out, err = m.doppel("queue", "delete", "ALL")
    code2, out2, _ = m.doppel("queue", "list")
    t.ok(code == 0 and "1 message deleted" in out and "Mail queue is empty" in out2, "delete ALL", out + err + out2)

    # lmtp:inet
    qid4 = send(m.port, "alice@local.example", ["x@inet.example"], b"Subject: inet\r\n\r\nvia tcp\r\n")
    t.ok(wait_for(lambda: any(r == "x@inet.example" for r, _ in li.delivered), 10)
         and re.search(r"%s: to=<x@inet.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=sent"
                       % (qid4, iport), m.log()), "lmtp:inet delivers", m.log())
    m.signal(signal.SIGTERM)
    m.wait(20)
    log = m.log()
    t.ok(m.proc.poll() == 0 and "relay: stopped" in log and "Sanitizer" not in log
         and "runtime error" not in log, "stop: the relay exits cleanly, no sanitizer report",
         log[-3000:])
finally:
    lu.stop = li.stop = True
    m.cleanup()
t.finish()
