#!/usr/bin/env python3
# 11-xclient - XCLIENT as Postfix documents it: authorized or refused,
# each attribute, xtext, IPv6, [UNAVAILABLE], the fresh 220 greeting,
# the new identity in restrictions, the Received: header, the envelope
# and the log, the personality chosen again, and swaks and doppel test
# as clients.
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import (BUILD, REPO, Raw, Server, diag, done, is_,  # noqa
                            like, ok, split_received)

BASE = {"mynetworks": "127.0.0.1/32", "relay_domains": "relay.example"}
AUTH = dict(BASE, smtpd_authorized_xclient_hosts="127.0.0.0/8")
EHLO_XCLIENT = ("250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN "
                "DESTADDR DESTPORT")
BANNER = "220 mx.test.example ESMTP doppel"


def queue_id(reply):
    m = re.search(r"queued as (\w+)", reply)
    return m.group(1) if m else None


def send_message(r, rcpt="user@mx.test.example", helo=None):
    """MAIL, RCPT, DATA on an open connection; the queue ID or None."""
    if helo:
        r.cmd("EHLO " + helo)
    r.cmd("MAIL FROM:<sender@b.example>")
    r.cmd("RCPT TO:<%s>" % rcpt)
    if not r.cmd("DATA").startswith("354"):
        return None
    return queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))


# ---- not authorized: the default is nobody
with Server(BASE, name="noauth") as srv:
    r = Raw(srv.port)
    ehlo = r.cmd("EHLO client.example")
    ok("XCLIENT" not in ehlo, "EHLO does not offer XCLIENT to others")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 NAME=x.example"),
        "550 5.7.0 Error: insufficient authorization",
        "unauthorized XCLIENT: 550 5.7.0")
    ok(srv.wait_log(r"localhost\[127\.0\.0\.1\]: after XCLIENT: reject: "
                    r"XCLIENT: client localhost\[127\.0\.0\.1\] is not in "
                    r"smtpd_authorized_xclient_hosts"), "the refusal is logged")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"), "250 2.1.5 Ok",
        "nothing changed: still 127.0.0.1, which may relay")
    r.cmd("QUIT")
    ok(srv.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] .*"
                    r"xclient=0/1"), "disconnect line counts the refusal")
    ok(not re.search(r"connect from x\.example", srv.log()),
       "no new identity in the log")

with Server(dict(BASE, smtpd_authorized_xclient_hosts="127.0.0.2"),
            name="otherauth") as srv:
    r = Raw(srv.port)
    is_(r.cmd("XCLIENT ADDR=127.0.0.2"),
        "550 5.7.0 Error: insufficient authorization",
        "another address in the list does not authorize this one")

# ---- authorized
with Server(AUTH, name="auth") as srv:
    r = Raw(srv.port)
    like(r.cmd("EHLO client.example"), "(?m)^" + EHLO_XCLIENT + "$",
         "EHLO offers XCLIENT with its attribute list")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 NAME=x.example"), BANNER,
        "XCLIENT: a fresh 220 greeting")
    ok(srv.wait_log(r"connect from x\.example\[192\.0\.2\.1\] \(XCLIENT from "
                    r"localhost\[127\.0\.0\.1\]\)"),
       "the log: connect from the new identity, and who said so")
    r.cmd("EHLO bot.example")
    r.cmd("MAIL FROM:<spam@bot.example>")
    is_(r.cmd("RCPT TO:<victim@elsewhere.example>"),
        "554 5.7.1 <victim@elsewhere.example>: Relay access denied",
        "relay control sees 192.0.2.1, not mynetworks' 127.0.0.1")
    ok(srv.wait_log(r"NOQUEUE: reject: RCPT from x\.example\[192\.0\.2\.1\]: "
                    r"554 5\.7\.1 <victim@elsewhere\.example>: Relay access"
                    r" denied; from=<spam@bot\.example>"
                    r" to=<victim@elsewhere\.example> proto=ESMTP"
                    r" helo=<bot\.example>$"),
       "the rejection names the new client, as Postfix logs it")
    r.cmd("RCPT TO:<user@mx.test.example>")
    is_(r.cmd("XCLIENT NAME=y.example"),
        "503 5.5.1 Error: MAIL transaction in progress",
        "inside a transaction: 503 5.5.1")
    r.cmd("DATA")
    qid = queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))
    ok(qid, "a message from the new identity is queued")
    content, env = srv.queued(qid)
    received, _ = split_received(content)
    like(received, rb"^Received: from bot\.example \(x\.example "
         rb"\[192\.0\.2\.1\]\)", "Received: shows the new identity")
    is_((env.get("client_addr"), env.get("client_name")),
        (["192.0.2.1"], ["x.example"]), "the envelope has the new client")
    ok("client_port" not in env, "ADDR without PORT: port unknown")
    ok(srv.wait_log(qid + r": client=x\.example\[192\.0\.2\.1\], "),
       "the message's log line names the new client")

    # repeated XCLIENT: still authorized (the real client decides)
    is_(r.cmd("XCLIENT ADDR=127.0.0.1 NAME=localhost"), BANNER,
        "a second XCLIENT is allowed: 127.0.0.1 is the real client")
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"), "250 2.1.5 Ok",
        "back as 127.0.0.1: may relay again")
    r.cmd("RSET")

    # errors change nothing
    is_(r.cmd("XCLIENT"), "501 5.5.4 Syntax: XCLIENT attribute=value...",
        "no attributes: 501 5.5.4")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 FOO=bar"),
        "501 5.5.4 Bad XCLIENT attribute name: FOO",
        "unknown attribute: 501 5.5.4")
    is_(r.cmd("XCLIENT ADDR=192.0.2.300"),
        "501 5.5.4 Bad ADDR syntax: 192.0.2.300", "bad address: 501 5.5.4")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 HELO=a+zz"),
        "501 5.5.4 Bad HELO syntax: a+zz (malformed xtext)",
        "bad xtext: 501 5.5.4")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 NAME=1.2.3.4"),
        "501 5.5.4 Bad NAME syntax: 1.2.3.4", "an address as NAME: 501")
    is_(r.cmd("XCLIENT PROTO=LMTP"), "501 5.5.4 Bad PROTO syntax: LMTP",
        "PROTO other than SMTP/ESMTP: 501")
    is_(r.cmd("xclient addr=192.0.2.1 " + "NAME=a.example " * 80),
        "500 5.5.2 Error: line too long", "a line over the limit: 500")
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@elsewhere.example>"), "250 2.1.5 Ok",
        "after the refusals the client is still 127.0.0.1")
    r.cmd("QUIT")
    ok(srv.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] .*"
                    r"xclient=2/10"), "disconnect line: xclient=2/10")

# ---- each attribute, xtext, IPv6 and [UNAVAILABLE]
with Server(dict(AUTH, smtpd_helo_required="yes"), name="attrs") as srv:
    r = Raw(srv.port)
    is_(r.cmd("xclient name=mail.example.org addr=ipv6:2001:DB8::1 "
              "port=4711 proto=esmtp helo=relay+2Eexample+2Eorg "
              "login=bob+40example.org reverse_name=rev.example.org "
              "destaddr=IPV6:2001:db8::25 destport=587"), BANNER,
        "every attribute, in lower case, values in xtext")
    ok(srv.wait_log(r"connect from mail\.example\.org\[2001:db8::1\] "
                    r"\(XCLIENT from localhost\[127\.0\.0\.1\], "
                    r"login=bob@example\.org\)"), "the log: IPv6, LOGIN")
    qid = send_message(r)
    ok(qid, "HELO and PROTO=ESMTP from XCLIENT: no EHLO needed")
    content, env = srv.queued(qid)
    received, _ = split_received(content)
    like(received, rb"^Received: from relay\.example\.org \(mail\.example\.org"
         rb" \[2001:db8::1\]\)\r\n\tby mx\.test\.example \(doppel\) with "
         rb"ESMTP id ", "Received: xtext-decoded HELO, IPv6, PROTO=ESMTP")
    is_([env.get(k) for k in ("client_addr", "client_port", "client_name",
                              "client_helo", "protocol", "sasl_username")],
        [["2001:db8::1"], ["4711"], ["mail.example.org"],
         ["relay.example.org"], ["ESMTP"], ["bob@example.org"]],
        "the envelope: address, port, name, HELO, protocol, LOGIN")

    is_(r.cmd("XCLIENT NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] HELO=[UNAVAILABLE]"
              " PORT=[UNAVAILABLE] LOGIN=[UNAVAILABLE]"), BANNER,
        "[UNAVAILABLE] values")
    is_(r.cmd("MAIL FROM:<a@b.example>"),
        "503 5.5.1 Error: send HELO/EHLO first",
        "HELO=[UNAVAILABLE]: the session has no HELO")
    r.cmd("EHLO ghost.example")
    r.cmd("MAIL FROM:<a@b.example>")
    ok(r.cmd("RCPT TO:<user@elsewhere.example>").startswith("554 5.7.1"),
       "an unknown address is in no network")
    r.cmd("RCPT TO:<user@mx.test.example>")
    r.cmd("DATA")
    qid = queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))
    content, env = srv.queued(qid)
    like(split_received(content)[0],
         rb"^Received: from ghost\.example \(unknown \[unknown\]\)",
         "Received: unknown [unknown]")
    ok("sasl_username" not in env and "client_port" not in env,
       "LOGIN and PORT unavailable: not stored")

    is_(r.cmd("XCLIENT NAME=[TEMPUNAVAIL] ADDR=192.0.2.7"), BANNER,
        "NAME=[TEMPUNAVAIL]")
    ok(srv.wait_log(r"connect from unknown\[192\.0\.2\.7\]"),
       "[TEMPUNAVAIL]: the name is unknown")
    like(r.cmd("EHLO x.example"), "^250", "EHLO")
    is_(r.cmd("XCLIENT ADDR=192.0.2.8"), BANNER, "ADDR alone")
    ok(srv.wait_log(r"connect from unknown\[192\.0\.2\.8\]"),
       "ADDR without NAME: the old name is not kept for a new address")
    is_(r.cmd("MAIL FROM:<a@b.example>"),
        "503 5.5.1 Error: send HELO/EHLO first",
        "XCLIENT without HELO forgets the EHLO before it")

# ---- restrictions by name see the new identity too
ACCESS = dict(AUTH, smtpd_client_restrictions="check_client_access "
              "inline:{ { bad.example = REJECT go away }, "
              "{ 2001:db8::66 = REJECT not you either } }")
with Server(ACCESS, name="access") as srv:
    r = Raw(srv.port)
    r.cmd("XCLIENT NAME=bad.example ADDR=192.0.2.5")
    r.cmd("EHLO x.example")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"),
        "554 5.7.1 <bad.example[192.0.2.5]>: Client host rejected: go away",
        "check_client_access by the XCLIENT NAME")
    r.cmd("RSET")
    r.cmd("XCLIENT NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::66")
    r.cmd("EHLO x.example")
    r.cmd("MAIL FROM:<a@b.example>")
    is_(r.cmd("RCPT TO:<user@mx.test.example>"),
        "554 5.7.1 <unknown[2001:db8::66]>: Client host rejected: not you "
        "either", "check_client_access by the XCLIENT IPv6 address")

# ---- the personality is chosen again; the service's settings apply
SVC = ("127.0.0.1:{port} inet 1 smtpd -p stress "
       "-o smtpd_authorized_xclient_hosts=127.0.0.0/8 "
       "-o smtpd_banner=svc-banner.example\n")
with Server(BASE, services=SVC, name="personality") as srv:
    r = Raw(srv.port)
    is_(r.greeting, "220 svc-banner.example",
        "the service's stress banner at connect")
    like(r.cmd("EHLO client.example"), "(?m)^" + EHLO_XCLIENT + "$",
         "services.cf -o authorizes XCLIENT")
    is_(r.cmd("XCLIENT ADDR=192.0.2.1 NAME=x.example HELO=x.example"),
        "220 svc-banner.example",
        "after XCLIENT: the greeting of the re-selected personality")
    r.cmd("MAIL FROM:<a@b.example>")
    r.cmd("RCPT TO:<user@mx.test.example>")
    r.cmd("DATA")
    qid = queue_id(r.cmd("Subject: x\r\n\r\nbody\r\n."))
    content, env = srv.queued(qid)
    like(split_received(content)[0],
         rb"\(x\.example \[192\.0\.2\.1\]\).*\(personality=stress, "
         rb"class=default\)", "Received: new client, stress personality")
    is_(env.get("client_class"), ["default"], "class: default")
    # under stress one error ends the session; XCLIENT starts it over
    r.cmd("QUIT")

# ---- swaks --xclient against doppel
if shutil.which("swaks"):
    with Server(AUTH, name="swaks") as srv:
        def swaks(*args):
            p = subprocess.run(["swaks", "--server",
                                "127.0.0.1:%d" % srv.port,
                                "--from", "a@b.example", "--timeout", "10",
                                "--helo", "client.example"] + list(args),
                               capture_output=True, timeout=60)
            return p.returncode, p.stdout.decode("utf-8", "replace")

        rc, out = swaks("--to", "user@mx.test.example", "--xclient",
                        "ADDR=192.0.2.1 NAME=x.example")
        is_(rc, 0, "swaks --xclient: delivered")
        like(out, r" -> XCLIENT ADDR=192\.0\.2\.1 NAME=x\.example\n"
             r"<-  220 mx\.test\.example ESMTP doppel\n"
             r" -> EHLO client\.example\n", "swaks: XCLIENT, 220, EHLO again")
        qid = queue_id(out)
        ok(qid and re.search(rb"Received: from client\.example \(x\.example "
                             rb"\[192\.0\.2\.1\]\)", srv.queued(qid)[0]),
           "swaks: Received: shows the XCLIENT identity")
        rc, out = swaks("--to", "user@elsewhere.example", "--xclient-addr",
                        "192.0.2.1", "--xclient-name", "x.example",
                        "--xclient-helo", "swaks.example")
        ok(rc != 0, "swaks --xclient-addr: relaying refused")
        like(out, r"<\*\* 554 5\.7\.1 <user@elsewhere\.example>: Relay access "
             r"denied", "swaks: 554 Relay access denied for 192.0.2.1")
    with Server(BASE, name="swaks-noauth") as srv:
        p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.port,
                            "--to", "user@mx.test.example", "--timeout", "10",
                            "--xclient", "ADDR=192.0.2.1",
                            "--xclient-no-verify"],
                           capture_output=True, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        ok(p.returncode != 0 and "XCLIENT" not in out,
           "swaks, unauthorized: XCLIENT is not offered, swaks stops")
        is_(srv.incoming(), [], "swaks, unauthorized: nothing queued")
else:
    for i in range(9):
        ok(True, "# SKIP swaks is not installed")

# ---- doppel test, the XCLIENT test utility, against doppel
DOPPEL = os.path.join(BUILD, "bin", "doppel")
with Server(AUTH, name="doppel-test") as srv:
    p = subprocess.run([DOPPEL, "test", "-s", "127.0.0.1:%d" % srv.port,
                        "-D", "relay_domain=relay.example", "--tap",
                        os.path.join(REPO, "docs", "examples", "doppel-test",
                                     "relay-control.dt")],
                       capture_output=True, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        diag(out + p.stderr.decode("utf-8", "replace"))
    is_(p.returncode, 0, "doppel test relay-control.dt passes against doppel")
    ok(srv.wait_log(r"connect from unknown\[192\.0\.2\.1\] \(XCLIENT from "),
       "doppel test's XCLIENT in the log")
done()
