#!/usr/bin/env python3
# 01-dialog - every command with smtplib, swaks and a raw client; the queue file.
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import (Raw, Server, diag, done, is_, like, ok,  # noqa
                            split_received, wait_for)

with Server(name="dialog") as srv:
    # smtplib: EHLO and its extensions
    c = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
    code, msg = c.ehlo("client.test.example")
    is_(code, 250, "EHLO 250")
    for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                "chunking", "smtputf8", "dsn", "vrfy"):
        ok(c.has_extn(ext), "EHLO advertises %s" % ext.upper())
    is_(c.esmtp_features.get("size"), "10240000", "SIZE is message_size_limit")
    ok(not c.has_extn("starttls"), "no STARTTLS without a certificate")
    is_(c.noop(), (250, b"2.0.0 Ok"), "NOOP")
    is_(c.rset(), (250, b"2.0.0 Ok"), "RSET")
    code, msg = c.verify("someone@example.org")
    is_(code, 252, "VRFY answers 252")
    code, msg = c.docmd("HELP")
    is_(code, 214, "HELP answers 214")
    like(msg, rb"MAIL", "HELP lists the commands")
    body = b"Subject: hello\r\n\r\nfirst line\r\n.leading dot\r\n"
    refused = c.sendmail("sender@example.org",
                         ["rcpt1@example.net", "<rcpt2@example.net>"
                          if False else "rcpt2@example.net"], body)
    is_(refused, {}, "smtplib sendmail to two recipients accepted")
    is_(c.quit()[0], 221, "QUIT 221")

    m = srv.wait_log(r"(\w{20}): client=localhost\[127\.0\.0\.1\], "
                     r"from=<sender@example\.org>, nrcpt=2, size=\d+, "
                     r"personality=normal")
    ok(m, "one log line for the queued message")
    qid = m.group(1) if m else ""
    ok(wait_for(lambda: srv.wait_log(
        r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=2 "
        r"data=1 rset=1 noop=1 vrfy=1 help=1 quit=1 commands=10", 5), 5),
       "disconnect line counts each command")
    paths = srv.incoming()
    is_(len(paths), 1, "one file in incoming/")
    if qid and paths:
        content, env = srv.queued(qid)
        rcv, rest = split_received(content)
        like(rcv, r"^Received: from client\.test\.example \(localhost "
             r"\[127\.0\.0\.1\]\)\r\n", "Received: names HELO, client, address")
        like(rcv, r"by mx\.test\.example \(doppel\) with ESMTP id " + qid,
             "Received: names us, the protocol and the queue ID")
        like(rcv, r"personality=normal", "Received: names the personality")
        is_(rest, body, "content stored byte for byte")
        is_(env.get("sender"), ["sender@example.org"], "envelope sender")
        is_(env.get("rcpt"), ["rcpt1@example.net", "rcpt2@example.net"],
            "envelope recipients")

    # HELO, address forms, DSN parameters with a raw client
    r = Raw(srv.port)
    like(r.greeting, r"^220 mx\.test\.example ESMTP doppel$", "greeting")
    is_(r.cmd("HELO plain.example"), "250 mx.test.example", "HELO")
    is_(r.cmd("EHLO c.example").splitlines()[-1], "250 CHUNKING",
        "EHLO ends with CHUNKING")
    is_(r.cmd("MAIL FROM:<> RET=HDRS ENVID=QQ314159 BODY=8BITMIME SIZE=100"),
        "250 2.1.0 Ok", "MAIL with <> and RET ENVID BODY SIZE")
    is_(r.cmd('RCPT TO:<"john smith"@example.net> NOTIFY=SUCCESS,FAILURE '
              'ORCPT=rfc822;john+2Bsmith@example.net'), "250 2.1.5 Ok",
        "RCPT with a quoted local part, NOTIFY and ORCPT")
    is_(r.cmd("RCPT TO:<@relay.example,@b.example:route@example.net>"),
        "250 2.1.5 Ok", "source route accepted and ignored")
    is_(r.cmd("RCPT TO:<Postmaster>"), "250 2.1.5 Ok", "<postmaster>")
    is_(r.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>", "DATA 354")
    r.send("Subject: dsn\r\n\r\nbody\r\n.\r\n")
    rep = r.reply()
    like(rep, r"^250 2\.0\.0 Ok: queued as \w{20}$", "queued")
    qid2 = rep.rsplit(" ", 1)[-1]
    is_(r.cmd("QUIT"), "221 2.0.0 Bye", "QUIT")
    ok(r.closed(), "closed after QUIT")
    if os.path.exists(os.path.join(srv.queue, "incoming", qid2)):
        content, env = srv.queued(qid2)
        is_(env.get("sender"), [""], "null sender kept as empty")
        is_(env.get("rcpt", [None])[0], "john smith@example.net",
            "quoted local part unquoted")
        is_(env.get("rcpt", [None, None])[1], "route@example.net",
            "source route dropped")
        flat = repr(env)
        like(flat, r"QQ314159", "ENVID kept")
        like(flat, r"rfc822;john\+2Bsmith@example\.net", "ORCPT kept")
        like(flat, r"(?i)hdrs", "RET kept")
        like(flat, r"(?i)success", "NOTIFY kept")
        like(content, rb"with ESMTP id " + qid2.encode(), "Received for 2nd")
    else:
        ok(False, "second message in incoming/")

    # SMTPUTF8: tests/scenarios/dt/smtputf8.dt

    # swaks, a real client of another make
    out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.port,
                          "--from", "swaks@example.org", "--to",
                          "rcpt@example.net", "--helo", "swaks.example",
                          "--timeout", "20"], capture_output=True, timeout=60)
    text = out.stdout.decode("utf-8", "replace")
    is_(out.returncode, 0, "swaks exit 0")
    like(text, r"<-  250 2\.0\.0 Ok: queued as \w{20}", "swaks message queued")
    out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.port,
                          "--from", "swaks@example.org", "--to",
                          "rcpt@example.net", "--pipeline", "--timeout", "20"],
                         capture_output=True, timeout=60)
    like(out.stdout.decode("utf-8", "replace"),
         r"250 2\.0\.0 Ok: queued as \w{20}", "swaks --pipeline queued")
    is_(len(srv.incoming()), 4, "four messages in incoming/")
    is_(srv.tmp_files(), [], "nothing left in tmp/")
done()
