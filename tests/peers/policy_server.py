#!/usr/bin/env python3
"""policy_server - a Postfix policy server for doppel's tests (stdlib only).

Speaks the policy delegation protocol of Postfix's SMTPD_POLICY_README:
reads "name=value" lines ended by an empty line, answers
"action=TEXT" and an empty line, and keeps the connection for more.

  policy_server.py --listen 127.0.0.1:0 [--record FILE] [--action TEXT]
                   [--mode normal|hang|garbage|close] [--delay SECONDS]
  policy_server.py --unix PATH ...

--record appends each request as one JSON object per line (attribute
names to values, plus "_conn": the number of the connection it came
on). Modes: normal answers; hang reads and never answers; garbage
answers a line that is not an attribute; close closes the connection
when a request is complete. --delay waits before answering.

When it listens it prints "ready PORT" (or "ready unix:PATH") on
standard output. It listens on loopback or a unix socket only, and
everything is bounded: a request is at most 64 KiB, a connection is
dropped after --idle seconds without input (default 120), at most 64
connections are served at once, and the whole server exits after
--lifetime seconds (default 600) or on SIGTERM.
"""

import argparse
import ipaddress
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

REQUEST_MAX = 64 * 1024
CONN_MAX = 64

lock = threading.Lock()
state = {"conns": 0, "serial": 0}


def record(path, attrs):
    """append one request as a JSON line"""
    if not path:
        return
    with lock:
        with open(path, "a") as f:
            f.write(json.dumps(attrs, sort_keys=True) + "\n")
            f.flush()


def parse(block):
    """name=value lines into a dict (the last value of a name wins)"""
    attrs = {}
    for line in block.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b"=")
        if sep:
            attrs[name.decode("utf-8", "replace")] = \
                value.decode("utf-8", "replace")
    return attrs


class Handler(socketserver.BaseRequestHandler):
    """one client connection: requests in turn"""

    def handle(self):
        opts = self.server.opts
        with lock:
            if state["conns"] >= CONN_MAX:
                return
            state["conns"] += 1
            state["serial"] += 1
            serial = state["serial"]
        try:
            self.serve(opts, serial)
        finally:
            with lock:
                state["conns"] -= 1

    def serve(self, opts, serial):
        sock = self.request
        sock.settimeout(opts.idle)
        buf = b""
        while True:
            while b"\n\n" not in buf:
                if len(buf) > REQUEST_MAX:
                    return
                try:
                    chunk = sock.recv(4096)
                except (socket.timeout, OSError):
                    return
                if not chunk:
                    return
                buf += chunk
            block, buf = buf.split(b"\n\n", 1)
            attrs = parse(block)
            attrs["_conn"] = serial
            record(opts.record, attrs)
            if opts.mode == "close":
                return
            if opts.mode == "hang":
                # keep the connection open, reading nothing, until idle
                time.sleep(opts.idle)
                return
            if opts.delay > 0:
                time.sleep(opts.delay)
            if opts.mode == "garbage":
                reply = b"this is not a policy reply\n\n"
            else:
                reply = b"action=" + opts.action.encode() + b"\n\n"
            try:
                sock.sendall(reply)
            except OSError:
                return


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description="a policy server for tests")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", metavar="HOST:PORT")
    where.add_argument("--unix", metavar="PATH")
    ap.add_argument("--record", metavar="FILE")
    ap.add_argument("--action", default="DUNNO")
    ap.add_argument("--mode", default="normal",
                    choices=("normal", "hang", "garbage", "close"))
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--idle", type=float, default=120.0)
    ap.add_argument("--lifetime", type=float, default=600.0)
    opts = ap.parse_args()

    if opts.listen:
        host, _, port = opts.listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if host == "localhost":
            host = "127.0.0.1"
        if not ipaddress.ip_address(host).is_loopback:
            sys.exit("policy_server: %s is not a loopback address" % host)
        if ":" in host:
            TCPServer.address_family = socket.AF_INET6
        srv = TCPServer((host, int(port)), Handler)
        where = str(srv.server_address[1])
    else:
        try:
            os.unlink(opts.unix)
        except FileNotFoundError:
            pass
        srv = UnixServer(opts.unix, Handler)
        os.chmod(opts.unix, 0o666)
        where = "unix:" + opts.unix
    srv.opts = opts

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = threading.Timer(opts.lifetime, stop)
    timer.daemon = True
    timer.start()

    print("ready " + where, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if opts.unix:
            try:
                os.unlink(opts.unix)
            except OSError:
                pass


if __name__ == "__main__":
    main()
