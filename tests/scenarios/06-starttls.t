#!/usr/bin/env python3
# 06-starttls - STARTTLS with a certificate made now; pipelined plaintext
# discarded; a service's own -o smtpd_tls_cert_file, or none.
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import (Raw, Server, done, is_, like, make_cert,  # noqa
                            ok, split_received)

certdir = tempfile.mkdtemp(prefix="doppel-cert-")
cert, key = make_cert(certdir)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

with Server({"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key},
            name="tls") as srv:
    c = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
    c.ehlo("tls.example")
    ok(c.has_extn("starttls"), "STARTTLS advertised with a certificate")
    code, _ = c.starttls(context=ctx)
    is_(code, 220, "STARTTLS 220")
    like(c.sock.version(), r"^TLSv1\.[23]$", "TLS 1.2 or later")
    c.ehlo("tls.example")
    ok(not c.has_extn("starttls"), "no STARTTLS once in TLS")
    code, msg = c.docmd("STARTTLS")
    is_((code, msg), (554, b"5.5.1 Error: TLS already active"),
        "STARTTLS twice")
    c.sendmail("t@example.org", ["a@example.net"], b"Subject: tls\r\n\r\nx\r\n")
    c.quit()
    m = srv.wait_log(r"(\w{20}): client=localhost")
    if m:
        content, env = srv.queued(m.group(1))
        like(split_received(content)[0],
             r"\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)\r\n"
             r"\tby mx\.test\.example \(doppel\) with ESMTPS id",
             "Received: shows TLS and ESMTPS")
    else:
        ok(False, "message over TLS queued")
    ok(srv.wait_log(r"Anonymous TLS connection established from "
                    r"localhost\[127\.0\.0\.1\]: TLSv1\.[23]"), "TLS logged")

    # CVE-2011-0411: a command pipelined after STARTTLS must not run in TLS
    r = Raw(srv.port)
    r.cmd("EHLO inject.example")
    r.send(b"STARTTLS\r\nMAIL FROM:<injected@attacker.example>\r\n")
    is_(r.reply(), "220 2.0.0 Ready to start TLS", "STARTTLS 220")
    is_(r.buf, b"", "nothing else answered in clear")
    t = ctx.wrap_socket(r.sock, server_hostname="mx.test.example")
    t.settimeout(10)
    t.sendall(b"RCPT TO:<a@example.net>\r\n")
    data = b""
    while b"\r\n" not in data:
        chunk = t.recv(4096)
        if not chunk:
            break
        data += chunk
    is_(data, b"503 5.5.1 Error: need MAIL command\r\n",
        "the injected MAIL was discarded")
    t.sendall(b"MAIL FROM:<x@example.org>\r\n")
    data = t.recv(4096)
    is_(data, b"250 2.1.0 Ok\r\n", "MAIL inside TLS works")
    t.sendall(b"QUIT\r\n")
    t.recv(4096)
    t.close()
    ok(srv.wait_log(r"discarded \d+ byte\(s\) of plaintext pipelined after "
                    r"STARTTLS"), "discard logged")

    # RFC 3207: state reset: a transaction begun before TLS is gone; and
    # STARTTLS inside a transaction is refused
    r = Raw(srv.port)
    r.cmd("EHLO reset.example")
    r.cmd("MAIL FROM:<x@example.org>")
    is_(r.cmd("STARTTLS"), "503 5.5.1 Error: MAIL transaction in progress",
        "STARTTLS inside a transaction")
    is_(r.cmd("STARTTLS x"), "501 5.5.4 Syntax: STARTTLS", "STARTTLS argument")
    r.close()

    out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % srv.port,
                          "--tls", "--from", "s@example.org", "--to",
                          "a@example.net", "--timeout", "20"],
                         capture_output=True, timeout=60)
    like(out.stdout.decode("utf-8", "replace"),
         r"250 2\.0\.0 Ok: queued as \w{20}", "swaks --tls queued")

    # a client that never completes the handshake is bounded
r = None
with Server({"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
             "smtpd_starttls_timeout": "2s"}, name="tls-timeout") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO slow.example")
    is_(r.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS", "STARTTLS")
    ok(r.closed(8), "no handshake: closed by smtpd_starttls_timeout")
    ok(srv.wait_log(r"timeout after STARTTLS from"), "logged")

# a service's own certificate (-o), and a service without STARTTLS
def presented(port):
    """the DER certificate the server shows after STARTTLS, or None"""
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    c.ehlo("which.example")
    if not c.has_extn("starttls"):
        c.quit()
        return None
    c.starttls(context=ctx)
    der = c.sock.getpeercert(binary_form=True)
    c.quit()
    return der


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


subdir = tempfile.mkdtemp(prefix="doppel-cert2-")
cert2, key2 = make_cert(subdir, cn="submission.test.example")
main_tls = {"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key}
with Server(main_tls, services="127.0.0.1:{port} inet 1 smtpd"
            " -o smtpd_tls_cert_file=%s -o smtpd_tls_key_file=%s"
            % (cert2, key2), name="tls-own") as srv:
    ok(presented(srv.port) == der_of(cert2),
       "-o smtpd_tls_cert_file: the service shows its own certificate")
with Server(main_tls, services="127.0.0.1:{port} inet 1 smtpd",
            name="tls-main") as srv:
    ok(presented(srv.port) == der_of(cert),
       "without -o the service shows the main file's certificate")
with Server(main_tls, services="127.0.0.1:{port} inet 1 smtpd"
            " -o smtpd_tls_cert_file=", name="tls-off") as srv:
    is_(presented(srv.port), None,
        "-o smtpd_tls_cert_file= (empty): no STARTTLS advertised")
    r = Raw(srv.port)
    r.cmd("EHLO off.example")
    is_(r.cmd("STARTTLS"), "502 5.5.1 Error: command not implemented",
        "and STARTTLS is refused there")
    r.close()
shutil.rmtree(subdir, ignore_errors=True)
shutil.rmtree(certdir, ignore_errors=True)
done()
