#!/usr/bin/env python3
# 16-milter - smtpd_milters with a libmilter test milter and OpenDKIM: the
# macros of every stage ({stress}, {personality}, {client_class} and
# Postfix's), each reply, each change in the queued file, the default
# action when a milter is down, hangs or talks garbage, and a DKIM
# signature that verifies.
import atexit
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import (BUILD, Raw, Server, done, free_port, is_,  # noqa
                            like, ok, read_queue_file, split_received,
                            wait_for, diag)

PEER = os.path.join(BUILD, "peers", "test_milter")
MACROS = {
    "milter_connect_macros": "j {daemon_name} {daemon_addr} v _ "
                             "{client_addr} {client_name} {client_port}",
    "milter_helo_macros": "{tls_version} {cipher}",
    "milter_mail_macros": "i {auth_type} {mail_addr} {mail_host}",
    "milter_rcpt_macros": "i {rcpt_addr} {rcpt_host}",
}
STAGES = ["connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body",
          "eom"]
MESSAGE = (b"From: Alice <a@example.org>\r\nTo: b@example.net\r\n"
           b"Subject: hello\r\nDate: Wed, 25 Nov 2026 13:00:00 +0000\r\n"
           b"Message-ID: <m1@example.org>\r\n\r\nHello, milters.\r\n")


STARTED = []                            # every peer process, for atexit


@atexit.register
def _kill_leftovers():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait(10)


class Milter:
    """The libmilter test milter on a free loopback port."""

    def __init__(self, *args):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="doppel-milter-")
        self.rec = os.path.join(self.dir, "record")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        self.proc = subprocess.Popen(
            [PEER, "-p", str(self.port), "-r", self.rec] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env)
        STARTED.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"ready"):
            diag("test_milter did not start: %r" % line)

    def endpoint(self):
        return "inet:127.0.0.1:%d" % self.port

    def records(self):
        """[(stage, {name: value}, [args])] in order."""
        out = []
        try:
            with open(self.rec, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.rstrip("\n").split("\t")
                    kv, args = {}, []
                    for field in fields[1:]:
                        if "=" not in field:
                            continue
                        k, v = field.split("=", 1)
                        if k == "arg":
                            args.append(v)
                        else:
                            kv[k] = v
                    out.append((fields[0], kv, args))
        except OSError:
            pass
        return out

    def stages(self):
        return [r[0] for r in self.records()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def send(srv, sender="a@example.org", rcpts=("b@example.net",),
         message=MESSAGE, helo="client.example"):
    """One whole transaction; the replies as a list, DATA's end last."""
    r = Raw(srv.port)
    replies = [r.greeting]
    try:
        replies.append(r.cmd("EHLO " + helo))
        replies.append(r.cmd("MAIL FROM:<%s> SIZE=%d" % (sender,
                                                          len(message))))
        for rcpt in rcpts:
            replies.append(r.cmd("RCPT TO:<%s>" % rcpt))
        replies.append(r.cmd("DATA"))
        if replies[-1].startswith("354"):
            r.send(message + b".\r\n")
            replies.append(r.reply())
        r.cmd("QUIT")
    except OSError:
        pass                            # the server hung up (421)
    r.close()
    return replies


def qid_of(reply):
    m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", reply)
    return m.group(1) if m else None


def milter_server(m, extra=None, services="", name="milter"):
    cf = dict(MACROS, smtpd_milters=m.endpoint() if m else "")
    cf.update(extra or {})
    return Server(cf, services=services, name=name)


# ----------------------------------------------------------- macros

if not os.access(PEER, os.X_OK):
    ok(False, "no %s (make tests builds it)" % PEER)
    done()

m = Milter()
with milter_server(m, name="milter-normal") as srv:
    rep = send(srv)
    qid = qid_of(rep[-1])
    ok(qid, "a message through the milter is queued")
    r = Raw(srv.port)
    like(r.cmd("FOO bar"), r"^502 5\.5\.2 ", "an unknown command: 502")
    r.cmd("QUIT")
    wait_for(lambda: "close" in m.stages(), 5)
    recs = m.records()
    seen = [s for s, _, _ in recs]
    ok(all(s in seen for s in STAGES + ["unknown"]),
       "the milter saw every stage: %s" % " ".join(sorted(set(seen))))
    main = [(s, kv) for s, kv, _ in recs if s in STAGES + ["unknown"]]
    ok(main and all(kv.get("{stress}") == "" for _, kv in main),
       "{stress} is empty at every stage of a normal session")
    ok(main and all(kv.get("{personality}") == "normal" for _, kv in main),
       "{personality}=normal at every stage")
    ok(main and all(kv.get("{client_class}") == "default" for _, kv in main),
       "{client_class}=default at every stage")
    conn = [kv for s, kv, _ in recs if s == "connect"][0]
    is_((conn.get("j"), conn.get("{daemon_name}"), conn.get("v"),
         conn.get("{client_addr}"), conn.get("{client_name}"),
         conn.get("{daemon_addr}")),
        ("mx.test.example", "mx.test.example", "doppel", "127.0.0.1",
         "localhost", "127.0.0.1"), "Postfix's connect macros")
    like(conn.get("_", ""), r"^localhost \[127\.0\.0\.1\]$", "the _ macro")
    like(conn.get("{client_port}", ""), r"^\d+$", "{client_port}")
    mail = [(kv, a) for s, kv, a in recs if s == "mail"][0]
    is_((mail[0].get("{mail_addr}"), mail[0].get("{mail_host}"), mail[1]),
        ("a@example.org", "example.org", ["<a@example.org>",
                                          "SIZE=%d" % len(MESSAGE)]),
        "MAIL: {mail_addr}, {mail_host} and the ESMTP parameters")
    rcpt = [(kv, a) for s, kv, a in recs if s == "rcpt"][0]
    is_((rcpt[0].get("{rcpt_addr}"), rcpt[1]),
        ("b@example.net", ["<b@example.net>"]), "RCPT: {rcpt_addr}")
    eom = [kv for s, kv, _ in recs if s == "eom"][0]
    is_(eom.get("i"), qid, "the queue ID (i) at the end of the message")
    data = [kv for s, kv, _ in recs if s == "data"][0]
    is_((mail[0].get("i"), rcpt[0].get("i"), data.get("i")), (None, None, qid),
        "i: made with the first accepted recipient, as Postfix does, so"
        " sent from DATA on")
    hdrs = [kv.get("name") for s, kv, _ in recs if s == "header"]
    is_(hdrs, ["From", "To", "Subject", "Date", "Message-ID"],
        "the headers, without our own Received:")
    is_([a for s, _, a in recs if s == "unknown"], [["FOO bar"]],
        "the unknown command")
m.stop()

m = Milter()
with milter_server(m, services="127.0.0.1:{port} inet 1 smtpd -p stress\n",
                   name="milter-stress") as srv:
    ok(qid_of(send(srv)[-1]), "queued on the stress service")
    wait_for(lambda: "close" in m.stages(), 5)
    main = [kv for s, kv, _ in m.records() if s in STAGES]
    is_(sorted(set(s for s, _, _ in m.records() if s in STAGES)),
        sorted(STAGES), "every stage seen under stress")
    ok(main and all(kv.get("{stress}") == "yes" for kv in main),
       "{stress}=yes at every stage of a -p stress service")
    ok(main and all(kv.get("{personality}") == "stress" for kv in main),
       "{personality}=stress at every stage")
    ok(main and all(kv.get("{client_class}") == "default" for kv in main),
       "{client_class} at every stage under stress")
m.stop()

# -------------------------------------- transactions, BDAT, XCLIENT

m = Milter("-m", "addheader:X-Seen:yes")
with milter_server(m, {"smtpd_authorized_xclient_hosts": "127.0.0.0/8"},
                   name="milter-session") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO client.example")
    qids = []
    for n in range(2):
        r.cmd("MAIL FROM:<a%d@example.org>" % n)
        r.cmd("RCPT TO:<b@example.net>")
        r.cmd("DATA")
        r.send(MESSAGE + b".\r\n")
        qids.append(qid_of(r.reply()))
    ok(all(qids) and len(set(qids)) == 2, "two messages in one session")
    ok(all(qid and b"\r\nX-Seen: yes\r\n" in srv.queued(qid)[0]
           for qid in qids), "... each changed by the milter")
    r.cmd("MAIL FROM:<c@example.org>")
    is_(r.cmd("RSET"), "250 2.0.0 Ok", "RSET in a transaction")
    r.cmd("MAIL FROM:<d@example.org>")
    r.cmd("RCPT TO:<b@example.net>")
    r.send(b"BDAT %d LAST\r\n" % len(MESSAGE) + MESSAGE)
    qid = qid_of(r.reply())
    ok(qid and b"\r\nX-Seen: yes\r\n" in srv.queued(qid)[0],
       "BDAT: the milter sees and changes the message")
    like(r.cmd("XCLIENT ADDR=192.0.2.9 NAME=spoof.example"), r"^220 ",
         "XCLIENT: a new session")
    r.cmd("QUIT")
    wait_for(lambda: m.stages().count("close") >= 2, 5)
    recs = m.records()
    stages = [s for s, _, _ in recs]
    is_(stages.count("eom"), 3, "the milter saw three messages")
    ok("abort" in stages[stages.index("eom", stages.index("eom") + 1):],
       "RSET: the milter hears ABORT")
    conns = [kv for s, kv, _ in recs if s == "connect"]
    is_([c.get("{client_addr}") for c in conns], ["127.0.0.1", "192.0.2.9"],
        "XCLIENT: the milters start over with the new client")
m.stop()

m = Milter("-a", "data:reject")
with milter_server(m, name="milter-bdat") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("RCPT TO:<b@example.net>")
    r.send(b"BDAT %d LAST\r\n" % len(MESSAGE) + MESSAGE)
    is_(r.reply(), "550 5.7.1 Command rejected",
        "BDAT rejected at DATA: the chunk is read, then refused")
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "... and the session goes on")
    ok(not srv.incoming(), "... nothing queued")
m.stop()

# ----------------------------------------------------------- replies

CASES = [
    ("mail:reject", 2, r"^550 5\.7\.1 Command rejected$", "MAIL rejected"),
    ("rcpt:tempfail", 3,
     r"^451 4\.7\.1 Service unavailable - try again later$",
     "RCPT tempfailed"),
    ("data:replycode:554 5.7.1 Custom data text", 4,
     r"^554 5\.7\.1 Custom data text$", "DATA: the milter's own reply"),
    ("helo:replycode:421 4.7.0 Go away now", 1, r"^421 4\.7\.0 Go away now$",
     "HELO: a 421 from the milter"),
    ("eom:tempfail", 5, r"^451 4\.7\.1 ", "end of message tempfailed"),
    ("connect:reject", 1, r"^550 5\.7\.1 Command rejected$",
     "rejected at CONNECT: EHLO gets the milter's reply"),
]
for rule, index, pattern, name in CASES:
    m = Milter("-a", rule)
    with milter_server(m, name="milter-reply") as srv:
        rep = send(srv)
        like(rep[index] if index < len(rep) else "", pattern, name)
        ok(not srv.incoming(), name + ": nothing queued")
        ok(srv.wait_log(r"milter-reject: "), name + ": logged")
    m.stop()

m = Milter("-a", "eom:discard")
with milter_server(m, name="milter-discard") as srv:
    rep = send(srv)
    ok(qid_of(rep[-1]), "DISCARD: the client hears 250")
    ok(not srv.incoming() and not srv.tmp_files(), "DISCARD: nothing queued")
    ok(srv.wait_log(r"milter-discard: END-OF-MESSAGE"), "DISCARD logged")
m.stop()

m = Milter("-a", "eom:accept", "-a", "rcpt:accept")
with milter_server(m, name="milter-accept") as srv:
    rep = send(srv, rcpts=("b@example.net", "c@example.net"))
    ok(qid_of(rep[-1]) and len(srv.incoming()) == 1, "ACCEPT: queued")
    wait_for(lambda: "close" in m.stages(), 5)
    is_(m.stages().count("rcpt"), 1, "ACCEPT at RCPT: the milter hears no"
        " more of that message")
m.stop()

# ----------------------------------------------------- modifications

MODS = ["-m", "addheader:X-Added:yes it is",
        "-m", "chgheader:Subject:1:changed subject",
        "-m", "chgheader:To:1:",
        "-m", "insheader:0:X-Top:first",
        "-m", "replbody:A new body.\\nSecond line.\\n",
        "-m", "addrcpt:<added@example.net>",
        "-m", "addrcpt_par:<par@example.net>:NOTIFY=NEVER",
        "-m", "delrcpt:<b@example.net>",
        "-m", "chgfrom:<new-sender@example.org>"]
m = Milter(*MODS)
with milter_server(m, name="milter-mods") as srv:
    rep = send(srv, rcpts=("b@example.net", "c@example.net"))
    qid = qid_of(rep[-1])
    ok(qid and len(srv.incoming()) == 1, "the changed message is queued")
    content, env = srv.queued(qid) if qid else (b"", {})
    ok(content.startswith(b"X-Top: first\r\nReceived: from client.example"),
       "INSHEADER 0: at the very top, above our Received:")
    like(content, r"\r\nSubject: changed subject\r\n", "CHGHEADER: changed")
    ok(b"\r\nSubject: hello\r\n" not in content, "... the old value gone")
    ok(b"\r\nTo: " not in content, "CHGHEADER with no value: deleted")
    like(content, r"\r\nX-Added: yes it is\r\n\r\n",
         "ADDHEADER: the last header")
    ok(content.endswith(b"\r\n\r\nA new body.\r\nSecond line.\r\n"),
       "REPLBODY: the new body")
    like(split_received(content[len(b"X-Top: first\r\n"):])[0],
         r"id " + (qid or "x"), "the same queue ID in Received:")
    is_(env.get("sender"), ["new-sender@example.org"], "CHGFROM: the sender")
    is_(sorted(env.get("rcpt", [])),
        ["added@example.net", "c@example.net", "par@example.net"],
        "ADDRCPT, ADDRCPT_PAR, DELRCPT: the recipients")
    is_(env.get("size"), [str(len(content))], "size is the new size")
    ok(not srv.tmp_files(), "no file left in tmp/")
m.stop()

m = Milter("-m", "quarantine:looks suspicious")
with milter_server(m, name="milter-hold") as srv:
    rep = send(srv)
    qid = qid_of(rep[-1])
    hold = os.path.join(srv.queue, "hold", qid or "x")
    ok(qid and os.path.exists(hold) and not srv.incoming(),
       "QUARANTINE: the message is committed into hold/")
    if os.path.exists(hold):
        content, env = read_queue_file(hold)
        ok(content.endswith(b"Hello, milters.\r\n") and env.get("end"),
           "... whole and complete")
    ok(srv.wait_log(r"milter-hold: END-OF-MESSAGE: looks suspicious"),
       "QUARANTINE logged with its reason")
m.stop()

# ------------------------------------------------------------ failures

port = free_port()
with Server(dict(MACROS, smtpd_milters="inet:127.0.0.1:%d" % port),
            name="milter-down") as srv:
    r = Raw(srv.port)
    like(r.greeting, r"^220 ", "milter down: the greeting comes")
    like(r.cmd("EHLO client.example"), r"^451 4\.7\.1 ",
         "milter down: default action tempfail")
    ok(srv.wait_log(r"milter inet:127\.0\.0\.1:%d: connect.*; default "
                    r"action tempfail" % port), "milter down: logged")
with Server(dict(MACROS, smtpd_milters="{ inet:127.0.0.1:%d, "
                 "default_action=accept }" % port),
            name="milter-down-accept") as srv:
    ok(qid_of(send(srv)[-1]), "milter down, default_action=accept: queued")
    ok(srv.wait_log(r"default action accept"), "... and logged")

m = Milter("-w", "helo:20")
with milter_server(m, {"milter_command_timeout": "2s"},
                   name="milter-hang") as srv:
    a = Raw(srv.port)
    t0 = time.monotonic()
    a.send("EHLO slow.example\r\n")
    time.sleep(0.3)
    b = Raw(srv.port)
    t1 = time.monotonic()
    is_(b.cmd("NOOP"), "250 2.0.0 Ok", "another session is served at once")
    ok(time.monotonic() - t1 < 1.5, "... while the milter hangs for the first")
    like(a.reply(), r"^451 4\.7\.1 ", "the hanging milter: default action")
    ok(1.5 < time.monotonic() - t0 < 8, "... after milter_command_timeout")
    ok(srv.wait_log(r"read timeout after 2000 ms; default action tempfail"),
       "the timeout is logged")
m.stop()


def garbage_milter(sock, stop):
    """Answers everything with bytes that are no milter reply."""
    sock.settimeout(0.2)
    conns = []
    while not stop.is_set():
        try:
            c, _ = sock.accept()
            conns.append(c)
            c.recv(100)
            c.sendall(b"\x00\x00\x00\x05Zjunk")
        except OSError:
            pass
    for c in conns:
        c.close()


gsock = socket.socket()
gsock.bind(("127.0.0.1", 0))
gsock.listen(8)
stop = threading.Event()
th = threading.Thread(target=garbage_milter, args=(gsock, stop))
th.start()
with Server(dict(MACROS, smtpd_milters="{ inet:127.0.0.1:%d, "
                 "default_action=reject }" % gsock.getsockname()[1]),
            name="milter-garbage") as srv:
    r = Raw(srv.port)
    like(r.cmd("EHLO client.example"), r"^550 5\.7\.1 Service unavailable",
         "garbage: the milter's default_action=reject")
    ok(srv.wait_log(r"protocol error: unknown reply code 0x5a; default "
                    r"action reject"), "garbage: logged")
stop.set()
th.join(5)
gsock.close()

# ------------------------------------------------------------ OpenDKIM

OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"
GENKEY = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"
if not (os.access(OPENDKIM, os.X_OK) and os.access(GENKEY, os.X_OK)):
    ok(False, "opendkim and opendkim-genkey are installed (tools/bootstrap)")
else:
    kdir = tempfile.mkdtemp(prefix="doppel-dkim-")
    subprocess.run([GENKEY, "-D", kdir, "-d", "example.org", "-s", "test"],
                   check=True, timeout=60)
    with open(os.path.join(kdir, "test.txt")) as f:
        txt = "".join(re.findall(r'"([^"]*)"', f.read()))
    with open(os.path.join(kdir, "keys"), "w") as f:
        f.write("test._domainkey.example.org %s\n" % txt)
    dport = free_port()
    with open(os.path.join(kdir, "sign.conf"), "w") as f:
        f.write("Mode s\nDomain example.org\nSelector test\n"
                "KeyFile %s/test.private\nSocket inet:%d@127.0.0.1\n"
                "Background no\nSyslog no\nRequireSafeKeys no\n"
                "Canonicalization relaxed/simple\nInternalHosts 127.0.0.1\n"
                % (kdir, dport))
    with open(os.path.join(kdir, "verify.conf"), "w") as f:
        f.write("Mode v\nSyslog no\nRequireSafeKeys no\nTestPublicKeys %s/keys\n"
                % kdir)
    dkim = subprocess.Popen([OPENDKIM, "-x", os.path.join(kdir, "sign.conf"),
                             "-f"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    STARTED.append(dkim)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", dport), 0.5).close()
            return True
        except OSError:
            return False
    ok(wait_for(listening, 15), "opendkim listens")
    with Server({"smtpd_milters": "inet:127.0.0.1:%d" % dport},
                name="milter-dkim") as srv:
        rep = send(srv)
        qid = qid_of(rep[-1])
        content = srv.queued(qid)[0] if qid else b""
        like(content, r"^DKIM-Signature: v=1; a=rsa-sha256; "
             r"c=relaxed/simple; d=example\.org; s=test;",
             "the queued message carries OpenDKIM's signature")
        path = os.path.join(kdir, "queued.eml")
        with open(path, "wb") as f:
            f.write(content)
        v = subprocess.run([OPENDKIM, "-x", os.path.join(kdir, "verify.conf"),
                            "-t", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        like(v.stdout.decode(), r"verification \(s=test, d=example\.org.*\) "
             r"succeeded", "opendkim -t verifies the queued message")
        with open(path, "wb") as f:
            f.write(content.replace(b"Hello, milters.", b"Hello, changed."))
        v = subprocess.run([OPENDKIM, "-x", os.path.join(kdir, "verify.conf"),
                            "-t", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        like(v.stdout.decode(), r"failed", "... and a changed body fails")
    dkim.send_signal(signal.SIGTERM)
    try:
        dkim.wait(10)
    except subprocess.TimeoutExpired:
        dkim.kill()
        dkim.wait(5)
    shutil.rmtree(kdir, ignore_errors=True)

done()
