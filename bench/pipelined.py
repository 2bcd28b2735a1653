#!/usr/bin/env python3
"""pipelined - one SMTP client that pipelines, as Postfix's smtp client does.

Usage: pipelined.py [--host 127.0.0.1] --port PORT --count N --size BYTES
                    --sender ADDR --rcpt ADDR [--timeout 120]

smtp-source sends each command and waits for its reply. Real MTAs
offered PIPELINING send MAIL, RCPT and DATA in one write and read the
three replies together, then the message, then (with a cached
connection) the next MAIL. A server that answers DATA's 354 in a TCP
segment of its own, after the two 250s, makes such a client wait for
the delayed ACK unless it disables Nagle's algorithm. This client sends
COUNT messages of about BYTES bytes that way over one session (standard
library only) and prints one JSON line:

    {"count": N, "sent": S, "seconds": T, "msgs_per_s": R, "error": "..."}

("error" only when a reply was not the expected one; the run stops
there.)
"""

import argparse
import json
import socket
import sys
import time

LINE = b"x" * 78 + b"\r\n"


def body_of(size):
    """a message of about size bytes, in 80-byte lines, with the dot"""
    lines = max(1, (size - 40) // len(LINE))
    return b"Subject: pipelined\r\n\r\n" + LINE * lines + b".\r\n"


class Client:
    """reply reading over a socket file"""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """a whole reply: (code, text of its last line)"""
        while True:
            line = self.f.readline(4096)
            if not line:
                raise EOFError("connection closed")
            if line[3:4] != b"-":
                return line[:3].decode("ascii", "replace"), line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--sender", required=True)
    ap.add_argument("--rcpt", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()

    out = {"count": a.count, "sent": 0}
    body = body_of(a.size)
    envelope = ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                % (a.sender, a.rcpt)).encode()
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    try:
        c = Client(a.host, a.port, a.timeout)
        c.reply()
        c.sock.sendall(b"EHLO client.bench.test\r\n")
        code, _ = c.reply()
        for _ in range(a.count):
            if time.monotonic() > deadline:
                raise TimeoutError("out of time")
            c.sock.sendall(envelope)
            got = [c.reply() for _ in range(3)]
            if [g[0] for g in got] != ["250", "250", "354"]:
                raise ValueError("envelope replies %r" % (got,))
            c.sock.sendall(body)
            code, line = c.reply()
            if code != "250":
                raise ValueError("after the dot: %r" % (line,))
            out["sent"] += 1
        c.sock.sendall(b"QUIT\r\n")
        c.reply()
    except (OSError, EOFError, ValueError, TimeoutError) as e:
        out["error"] = str(e)[:300]
    out["seconds"] = round(time.monotonic() - t0, 4)
    out["msgs_per_s"] = round(out["sent"] / out["seconds"], 1) \
        if out["seconds"] > 0 else None
    print(json.dumps(out), flush=True)
    return 0 if "error" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
