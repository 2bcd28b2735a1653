#!/usr/bin/env python3
# 05-smuggling - bare CR and LF never end a message or start a command.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok, split_received  # noqa

VARIANTS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r\n.\n",
            b"\n.\r", b"\r.\n", b"\r\n.\r\r\n", b"\r\n\x00.\r\n"]
SMUGGLED = (b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nforged\r\n")


def attempt(srv, variant):
    r = Raw(srv.port)
    r.cmd("EHLO smuggler.example")
    r.cmd("MAIL FROM:<s@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.cmd("DATA")
    r.send(b"Subject: carrier\r\n\r\nhello" + variant + SMUGGLED
           + b".\r\nQUIT\r\n")
    replies = [r.reply()]
    while replies[-1] and not replies[-1].startswith(("221", "521")):
        replies.append(r.reply())
    closed = r.closed(5)
    r.close()
    return replies, closed


with Server(name="smuggle-forbid") as srv:
    for v in VARIANTS:
        before = len(srv.incoming())
        replies, closed = attempt(srv, v)
        if v == b"\r\n\x00.\r\n":
            # no bare newline at all: a NUL is data; one message
            like(replies[0], r"^250 2\.0\.0 Ok: queued as",
                 "%r: kept as data" % v)
            is_(len(srv.incoming()), before + 1, "%r: one message" % v)
            continue
        like(replies[0], r"^521 5\.5\.2 mx\.test\.example Error: bare <(LF|CR)>"
             r" received$", "%r refused with 521" % v)
        ok(closed and len(replies) == 1, "%r: session ended" % v)
        is_(len(srv.incoming()), before, "%r: nothing queued" % v)
    is_(srv.tmp_files(), [], "no partial files")
    ok(srv.wait_log(r"bare <LF> received after DATA from localhost"),
       "bare LF logged")
    r = Raw(srv.port)
    r.send(b"NOOP\n")
    like(r.reply(), r"^521 5\.5\.2 .*bare <LF>", "command line with bare LF")
    ok(r.closed(), "closed")
    r = Raw(srv.port)
    r.send(b"NOOP\rRSET\r\n")
    like(r.reply(), r"^521 5\.5\.2 .*bare <CR>", "command line with bare CR")
    ok(r.closed(), "closed")

with Server({"smtpd_forbid_bare_newline": "no"}, name="smuggle-allow") as srv:
    for v in VARIANTS:
        before = len(srv.incoming())
        replies, closed = attempt(srv, v)
        like(replies[0], r"^250 2\.0\.0 Ok: queued as \w{20}$",
             "%r: one message" % v)
        is_(replies[1:], ["221 2.0.0 Bye"], "%r: no smuggled command ran" % v)
        is_(len(srv.incoming()), before + 1, "%r: exactly one file" % v)
        qid = replies[0].rsplit(" ", 1)[-1]
        if len(qid) == 20:
            content, env = srv.queued(qid)
            # a period that starts a real line is dot-stuffing: removed
            kept = b"\r\n" + v[3:] if v.startswith(b"\r\n.") else v
            is_(split_received(content)[1],
                b"Subject: carrier\r\n\r\nhello" + kept + SMUGGLED,
                "%r: the smuggled text is data of the carrier" % v)
            is_(env.get("sender"), ["s@example.org"], "%r: real sender" % v)
        else:
            ok(False, "content")
            ok(False, "sender")
    r = Raw(srv.port)
    r.send(b"NOOP\n")
    is_(r.reply(), "250 2.0.0 Ok", "bare LF command accepted when allowed")
    r.close()
done()
