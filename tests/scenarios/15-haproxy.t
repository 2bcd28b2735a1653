#!/usr/bin/env python3
# 15-haproxy - a doppel service behind HAProxy (Debian's, started here on
# loopback) with smtpd_upstream_proxy_protocol = haproxy: through
# send-proxy-v2 (IPv4 and IPv6) and send-proxy (v1) the real client is
# the one doppel logs, greets and writes into the Received: header; SMTP
# sent right behind a header is not eaten; a LOCAL header keeps the
# connection's address; a connection without a header, or with a broken
# one, is closed without a greeting and the log says why; a service
# without the setting is unchanged. Every wait is bounded.
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
from masterlib import (BIN, Master, Tap, free_port, readline,  # noqa
                       wait_for)

SMTPD = os.path.join(BIN, "doppel-smtpd")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

if not os.access(HAPROXY, os.X_OK):
    print("1..0 # SKIP haproxy is not installed (tools/bootstrap)")
    sys.exit(0)

t = Tap(47)

PARAMS = ("smtpd_peername_lookup = no\n"
          "smtpd_upstream_proxy_timeout = 2s\n"
          "smtpd_timeout = 30s\n")


def connect_from(source, port, host="127.0.0.1", timeout=5.0):
    """a socket bound to source, connected to host:port"""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, port))
    return s


def cmd(s, line, timeout=5.0):
    s.sendall(line.encode() + b"\r\n")
    return readline(s, timeout)


def reply(s, timeout=5.0):
    """a whole (multi-line) reply; its lines"""
    lines = []
    while True:
        line = readline(s, timeout)
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return lines


def deliver(s, helo):
    """a message on a greeted connection; the queue ID or None"""
    cmd(s, "EHLO " + helo)
    reply(s)                            # the rest of the EHLO reply
    cmd(s, "MAIL FROM:<a@client.example>")
    cmd(s, "RCPT TO:<u@mx.example.test>")
    cmd(s, "DATA")
    s.sendall(b"Subject: through the balancer\r\n\r\nhello\r\n.\r\n")
    last = readline(s, 10)
    cmd(s, "QUIT")
    s.close()
    m = re.search(r"queued as (\w+)", last)
    return m.group(1) if m else None


def received(m, qid):
    """the Received: line of a queued message, or the command's output"""
    code, out, err = m.doppel("queue", "show", qid)
    for line in out.splitlines():
        if line.startswith("Received: "):
            return line
    return out + err


def closed_silently(s, timeout):
    """(nothing was sent before the server closed, seconds it took)"""
    start = time.monotonic()
    data = b""
    s.settimeout(timeout)
    try:
        while True:
            c = s.recv(512)
            if not c:
                break
            data += c
    except OSError:
        data = None                     # still open at the timeout
    s.close()
    return data == b"", time.monotonic() - start


def listening(port, host="127.0.0.1"):
    r = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                       capture_output=True, text=True)
    return host in r.stdout or ("[%s]" % host) in r.stdout


m = Master(PARAMS, program=SMTPD)
proxy_port = m.port
plain_port = m.stress_port
m.write_conf(PARAMS,
             "127.0.0.1:%d inet 1 smtpd"
             " -o smtpd_upstream_proxy_protocol=haproxy\n"
             "127.0.0.1:%d inet 1 smtpd\n" % (proxy_port, plain_port))
fe_v2, fe_v1, fe_v6 = free_port(), free_port(), free_port()
cfg = os.path.join(m.dir, "haproxy.cfg")
with open(cfg, "w") as f:
    f.write("""global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend smtp_v2
    bind 127.0.0.1:%(v2)d
    default_backend doppel_v2
frontend smtp_v6
    bind [::1]:%(v6)d
    default_backend doppel_v2
frontend smtp_v1
    bind 127.0.0.1:%(v1)d
    default_backend doppel_v1
backend doppel_v2
    server doppel 127.0.0.1:%(doppel)d send-proxy-v2
backend doppel_v1
    server doppel 127.0.0.1:%(doppel)d send-proxy
""" % {"v2": fe_v2, "v1": fe_v1, "v6": fe_v6, "doppel": proxy_port})
ha = None
try:
    t.ok(m.start(), "master starts a service with"
         " smtpd_upstream_proxy_protocol=haproxy and one without")
    r = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True,
                       text=True, timeout=20)
    t.is_(r.returncode, 0, "the HAProxy configuration is valid")
    halog = open(os.path.join(m.dir, "haproxy.log"), "w")
    ha = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=halog,
                          stderr=halog)
    halog.close()
    t.ok(wait_for(lambda: listening(fe_v2) and listening(fe_v1)
                  and listening(fe_v6, "::1"), 10),
         "haproxy listens on loopback (v2, v1 and IPv6 front ends)")

    # 1. send-proxy-v2 from 127.0.0.2
    s = connect_from("127.0.0.2", fe_v2)
    cport = s.getsockname()[1]
    t.like(readline(s), "220 mx.example.test", "through send-proxy-v2:"
           " the greeting")
    qid = deliver(s, "client.example")
    t.ok(qid is not None, "a message through send-proxy-v2 is queued")
    t.ok(wait_for(lambda: "proxy-accept: [127.0.0.2]:%d to [127.0.0.1]:%d"
                  " via [127.0.0.1]:" % (cport, fe_v2) in m.log(), 3),
         "the log names the real client, its port, the front end and the"
         " balancer")
    t.like(m.log(), "(PROXY v2)", "... and the protocol version")
    t.like(m.log(), "connect from unknown[127.0.0.2]",
           "connect from the real client")
    t.ok(wait_for(lambda: "disconnect from unknown[127.0.0.2]" in m.log(), 3),
         "disconnect from the real client")
    t.ok("connect from unknown[127.0.0.1]" not in m.log(),
         "never the balancer's address")
    rcv = received(m, qid or "none")
    t.like(rcv, "Received: from client.example (unknown [127.0.0.2])",
           "the Received: header names the real client")
    t.ok("127.0.0.1" not in rcv, "... and not the balancer", rcv)

    # 2. send-proxy (v1) from 127.0.0.3
    s = connect_from("127.0.0.3", fe_v1)
    cport = s.getsockname()[1]
    t.like(readline(s), "220 mx.example.test", "through send-proxy (v1):"
           " the greeting")
    qid = deliver(s, "v1.example")
    t.ok(qid is not None, "a message through send-proxy (v1) is queued")
    t.ok(wait_for(lambda: "proxy-accept: [127.0.0.3]:%d to [127.0.0.1]:%d"
                  % (cport, fe_v1) in m.log(), 3),
         "v1: the log names the real client")
    t.like(m.log(), "(PROXY v1)", "... read as version 1")
    t.like(received(m, qid or "none"),
           "Received: from v1.example (unknown [127.0.0.3])",
           "v1: the Received: header names the real client")

    # 3. send-proxy-v2 over IPv6 (TCP6 in the header)
    s = connect_from("::1", fe_v6, host="::1")
    t.like(readline(s), "220 mx.example.test", "IPv6 through send-proxy-v2:"
           " the greeting")
    qid = deliver(s, "v6.example")
    t.ok(qid is not None, "IPv6: the message is queued")
    t.ok(wait_for(lambda: "connect from unknown[::1]" in m.log(), 3),
         "IPv6: connect from unknown[::1]")
    t.like(received(m, qid or "none"),
           "Received: from v6.example (unknown [::1])",
           "IPv6: the Received: header names [::1]")

    # 4. a header with SMTP pipelined right behind it (one packet)
    s = connect_from("127.0.0.1", proxy_port)
    s.sendall(b"PROXY TCP4 192.0.2.9 127.0.0.1 4444 25\r\nEHLO pipe.example"
              b"\r\nNOOP\r\n")
    got = [readline(s)] + reply(s) + [readline(s)]
    t.like(got[0], "220 ", "header and commands in one packet: greeting")
    t.ok(any(l.startswith("250 ") for l in got[1:-1]), "EHLO answered", got)
    t.is_(got[-1], "250 2.0.0 Ok", "NOOP answered: nothing after the header"
          " was lost")
    s.close()
    t.ok(wait_for(lambda: "connect from unknown[192.0.2.9]" in m.log(), 3),
         "the header's client is logged")

    # 5. a LOCAL header (a health check): the connection's address stands
    s = connect_from("127.0.0.5", proxy_port)
    s.sendall(V2_SIG + b"\x20\x00\x00\x00")
    t.like(readline(s), "220 ", "v2 LOCAL: greeted")
    cmd(s, "QUIT")
    s.close()
    t.ok(wait_for(lambda: "connect from unknown[127.0.0.5]" in m.log(), 3),
         "v2 LOCAL: the connection's own address is the client")
    t.like(m.log(), "PROXY v2 LOCAL: the connection's address stands",
           "v2 LOCAL is logged")

    # 6. no header at all: silence until the timeout, then hang up
    s = connect_from("127.0.0.6", proxy_port)
    silent, took = closed_silently(s, 6)
    t.ok(silent, "without a header: no greeting, the server hangs up")
    t.ok(1.5 < took < 5, "after smtpd_upstream_proxy_timeout (2s): %.1fs"
         % took)
    t.ok(wait_for(lambda: "warning: haproxy read: time limit exceeded from"
                  " [127.0.0.6]" in m.log(), 3), "the log says why")

    # 7. SMTP instead of a header: refused on its first bytes
    s = connect_from("127.0.0.7", proxy_port)
    s.sendall(b"EHLO direct.example\r\n")
    silent, took = closed_silently(s, 6)
    t.ok(silent and took < 1.5, "a client talking SMTP to the proxy port:"
         " closed at once, no reply (%.1fs)" % took)
    t.ok(wait_for(lambda: "warning: haproxy read: not a PROXY protocol header"
                  " from [127.0.0.7]" in m.log(), 3), "the log says why")

    # 8. a broken v1 header, a broken v2 header
    s = connect_from("127.0.0.8", proxy_port)
    s.sendall(b"PROXY TCP4 192.0.2.300 127.0.0.1 4444 25\r\nEHLO x\r\n")
    silent, took = closed_silently(s, 6)
    t.ok(silent and took < 1.5, "a bad v1 address: closed, no greeting")
    t.ok(wait_for(lambda: "warning: haproxy read: v1: bad TCP4 source address"
                  " from [127.0.0.8]" in m.log(), 3), "the log says why")
    s = connect_from("127.0.0.9", proxy_port)
    s.sendall(V2_SIG + b"\x21\x11\x00\x08" + b"\x7f\x00\x00\x01" * 2)
    silent, took = closed_silently(s, 6)
    t.ok(silent and took < 1.5, "a short v2 address block: closed, no"
         " greeting")
    t.ok(wait_for(lambda: "warning: haproxy read: v2: length 8 is shorter"
                  " than the addresses (12) from [127.0.0.9]" in m.log(), 3),
         "the log says why")
    t.ok(not re.search(r"(dis)?connect from \S+\[127\.0\.0\.[6-9]\]",
                       m.log()), "refused connections have no connect or"
         " disconnect line")

    # 9. the service without the setting is unchanged
    s = connect_from("127.0.0.2", plain_port)
    t.like(readline(s), "220 mx.example.test", "plain service: greeted at"
           " once, no header expected")
    t.like(cmd(s, "PROXY TCP4 192.0.2.1 127.0.0.1 1 25"), "502 ",
           "plain service: a PROXY line is just an unknown command")
    cmd(s, "QUIT")
    s.close()
    t.ok(wait_for(lambda: "connect from unknown[127.0.0.2]" in m.log(), 3)
         and "proxy-accept: [192.0.2.1]" not in m.log(),
         "plain service: the connection's address, no proxy-accept")

    st = m.service(proxy_port)
    t.ok(wait_for(lambda: (m.service(proxy_port) or {}).get("open") == 0,
                  5), "the proxy service's slots are all free again: %r"
         % (st,))
    t.ok("AddressSanitizer" not in m.log() and "runtime error" not in m.log(),
         "no sanitizer report")

    # 10. reserved slots by the real client: admission is provisional
    # until the header names the client
    small = (PARAMS + "smtpd_client_limit = 4\n"
             "smtpd_client_reserve = 2\n"
             "master_stress_evict_idle = off\n"
             "smtpd_client_class_maps = inline:{ 192.0.2.50=preferred }\n")
    m2 = Master(small, program=SMTPD)
    m2.write_conf(small, "127.0.0.1:%d inet 1 smtpd"
                  " -o smtpd_upstream_proxy_protocol=haproxy\n" % m2.port)
    try:
        t.ok(m2.start(), "a proxied service with 4 slots, 2 reserved")
        held = []
        for i in (1, 2):
            s = connect_from("127.0.0.1", m2.port)
            s.sendall(b"PROXY TCP4 192.0.2.%d 127.0.0.1 4444 25\r\n" % i)
            held.append((s, readline(s)))
        t.ok(all(g.startswith("220 ") for _, g in held),
             "two strangers take the ordinary slots")
        s = connect_from("127.0.0.1", m2.port)
        s.sendall(b"PROXY TCP4 192.0.2.3 127.0.0.1 4444 25\r\n")
        t.like(readline(s), "421 4.3.2 ", "a third stranger behind the"
               " balancer is refused once its header names it")
        s.close()
        s = connect_from("127.0.0.1", m2.port)
        s.sendall(b"PROXY TCP4 192.0.2.50 127.0.0.1 4444 25\r\n")
        t.like(readline(s), "220 ", "the preferred client behind the"
               " balancer gets a reserved slot")
        s.close()
        for h, _ in held:
            h.close()
    finally:
        m2.cleanup()
finally:
    if ha is not None:
        ha.terminate()
        try:
            ha.wait(10)
        except subprocess.TimeoutExpired:
            ha.kill()
            ha.wait(5)
    if t.failed:
        for line in m.log().splitlines()[-60:]:
            print("# " + line)
    m.cleanup()
t.finish()
