#!/usr/bin/env python3
# 12-xforward - XFORWARD as Postfix documents it: only for
# smtpd_authorized_xforward_hosts, attributes that accumulate before
# MAIL and go with the message (queue envelope, a Received: comment,
# the log line), forgotten when the transaction ends; no effect on
# access control.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok, split_received  # noqa

BASE = {"mynetworks": "127.0.0.1/32"}
AUTH = dict(BASE, smtpd_authorized_xforward_hosts="127.0.0.1, [::1]")
EHLO_XFORWARD = "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT"


def queue_id(reply):
    m = re.search(r"queued as (\w+)", reply)
    return m.group(1) if m else None


def message(r, rcpt="user@mx.test.example"):
    r.cmd("MAIL FROM:<sender@b.example>")
    r.cmd("RCPT TO:<%s>" % rcpt)
    r.cmd("DATA")
    return queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))


with Server(BASE, name="noauth") as srv:
    r = Raw(srv.port)
    ok("XFORWARD" not in r.cmd("EHLO filter.example"),
       "EHLO does not offer XFORWARD to others")
    is_(r.cmd("XFORWARD NAME=up.example ADDR=192.0.2.1"),
        "550 5.7.0 Error: insufficient authorization",
        "unauthorized XFORWARD: 550 5.7.0")
    qid = message(r)
    content, env = srv.queued(qid)
    is_((env.get("client_addr"), env.get("client_name")),
        (["127.0.0.1"], ["localhost"]), "nothing was forwarded")

with Server(AUTH, name="auth") as srv:
    r = Raw(srv.port)
    like(r.cmd("EHLO filter.example"), "(?m)^" + EHLO_XFORWARD + "$",
         "EHLO offers XFORWARD with its attribute list")
    is_(r.cmd("XFORWARD NAME=mail.example.org ADDR=IPV6:2001:db8::1 "
              "PORT=4711"), "250 2.0.0 Ok", "XFORWARD: 250 2.0.0 Ok")
    is_(r.cmd("xforward proto=ESMTP helo=helo+2Eexample+2Eorg "
              "ident=4XyZ source=remote"), "250 2.0.0 Ok",
        "a second XFORWARD adds to the first (names in any case, xtext)")
    qid = message(r)
    ok(qid, "the message is queued")
    content, env = srv.queued(qid)
    received, _ = split_received(content)
    like(received, rb"^Received: from filter\.example \(localhost "
         rb"\[127\.0\.0\.1\]\)\r\n\t\(forwarded from helo\.example\.org "
         rb"\(mail\.example\.org \[2001:db8::1\]\) with ESMTP id 4XyZ\)\r\n",
         "Received: this hop, and the forwarded client in a comment")
    is_([env.get(k) for k in ("client_addr", "client_port", "client_name",
                              "client_helo", "protocol")],
        [["2001:db8::1"], ["4711"], ["mail.example.org"],
         ["helo.example.org"], ["ESMTP"]],
        "the envelope keeps the forwarded client")
    ok(srv.wait_log(qid + r": client=localhost\[127\.0\.0\.1\], .*"
                    r"orig_client=mail\.example\.org\[2001:db8::1\], "
                    r"orig_queue_id=4XyZ, orig_source=REMOTE"),
       "the log: orig_client, orig_queue_id, orig_source")

    # reset after the transaction
    qid = message(r)
    content, env = srv.queued(qid)
    ok(b"forwarded" not in split_received(content)[0]
       and env.get("client_addr") == ["127.0.0.1"],
       "the next message has no XFORWARD attributes")

    # partial: unknown until told
    is_(r.cmd("XFORWARD IDENT=ABC"), "250 2.0.0 Ok", "IDENT alone")
    qid = message(r)
    content, env = srv.queued(qid)
    like(split_received(content)[0],
         rb"\t\(forwarded from unknown \(unknown \[unknown\]\) with unknown"
         rb" id ABC\)", "unsent attributes are unknown")
    is_(env.get("client_name"), ["unknown"], "envelope: unknown")

    # RSET forgets, errors change nothing
    r.cmd("XFORWARD NAME=a.example ADDR=192.0.2.9")
    r.cmd("RSET")
    qid = message(r)
    is_(srv.queued(qid)[1].get("client_addr"), ["127.0.0.1"],
        "RSET forgets XFORWARD")
    is_(r.cmd("XFORWARD"), "501 5.5.4 Syntax: XFORWARD attribute=value...",
        "no attributes: 501 5.5.4")
    is_(r.cmd("XFORWARD NAME=a.example LOGIN=bob"),
        "501 5.5.4 Bad XFORWARD attribute name: LOGIN",
        "an XCLIENT attribute: 501 5.5.4")
    is_(r.cmd("XFORWARD SOURCE=moon"), "501 5.5.4 Bad SOURCE syntax: moon",
        "SOURCE other than LOCAL/REMOTE: 501")
    is_(r.cmd("XFORWARD PORT=70000"), "501 5.5.4 Bad PORT syntax: 70000",
        "bad PORT: 501")
    is_(r.cmd("XFORWARD NAME=a+zz"),
        "501 5.5.4 Bad NAME syntax: a+zz (malformed xtext)", "bad xtext: 501")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("XFORWARD NAME=late.example"),
        "503 5.5.1 Error: MAIL transaction in progress",
        "inside a transaction: 503 5.5.1")
    r.cmd("RCPT TO:<user@mx.test.example>")
    r.cmd("DATA")
    qid = queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))
    is_(srv.queued(qid)[1].get("client_addr"), ["127.0.0.1"],
        "refused XFORWARDs left nothing behind")

    # no effect on access control: XFORWARD ADDR is not the client
    r.cmd("XFORWARD ADDR=192.0.2.1 NAME=stranger.example")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"), "250 2.1.5 Ok",
        "relay control still sees the real client (127.0.0.1)")
    r.cmd("RSET")
    # headers stay well-formed whatever the up-stream says
    r.cmd("XFORWARD NAME=a+0D+0Ab<c>(d) HELO=x+3By")
    qid = message(r)
    received = split_received(srv.queued(qid)[0])[0]
    like(received, rb"\t\(forwarded from x\?y \(a\?\?b\?c\?\?d\? ",
         "control characters and header specials are neutered")
    r.cmd("QUIT")
    ok(srv.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] .*"
                    r"xforward=6/12"), "disconnect line counts XFORWARD")
done()
