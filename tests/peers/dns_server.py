#!/usr/bin/env python3
"""dns_server - a tiny authoritative DNS server on loopback, for tests.

It answers PTR, A and AAAA questions over UDP from a zone given on the
command line or in a JSON file, and NXDOMAIN for any other name; names
listed as "servfail" get SERVFAIL, names listed as "drop" get no answer
at all (a resolver timeout). Stdlib only. Everything is bounded: it
listens on 127.0.0.1 (or ::1) only, reads datagrams of at most 512
bytes, answers at most --max-queries questions and exits after
--lifetime seconds or on SIGTERM.

Command line:

    dns_server.py [--port N] [--zone FILE.json] [--lifetime S]
                  [--max-queries N] [--log FILE]
                  [--ptr ADDR=NAME] [--a NAME=ADDR] [--aaaa NAME=ADDR]
                  [--servfail NAME-or-ADDR] [--drop NAME-or-ADDR]

It prints the port it listens on, then a newline, on stdout once it is
ready (use --port 0 for a free one). The JSON zone has the same keys:
{"ptr": {"127.0.0.5": "good.example"}, "a": {"good.example":
["127.0.0.5"]}, "aaaa": {}, "servfail": ["127.0.0.7"], "drop": []}.
An address in servfail or drop stands for its reverse (PTR) name.

From Python (a scenario test): DnsServer(zone).start() runs it in a
thread; .port, .queries (what was asked) and .stop().

A resolver that randomizes the case of query names (libevent does, as a
defence against spoofing) needs the question echoed byte for byte, so
the question section of the answer is a copy of the query's; names are
compared without case.
"""

import argparse
import ipaddress
import json
import select
import signal
import socket
import struct
import sys
import threading
import time

QTYPE_A = 1
QTYPE_PTR = 12
QTYPE_AAAA = 28
QCLASS_IN = 1
RCODE_OK = 0
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
MAX_DATAGRAM = 512
MAX_LABELS = 128
TTL = 60


def reverse_name(addr):
    """The PTR name of an address: 5.0.0.127.in-addr.arpa, ...ip6.arpa."""
    return ipaddress.ip_address(addr).reverse_pointer.lower()


def fold(name):
    """A name for comparison: lower case, no trailing dot."""
    return name.rstrip(".").lower()


class Zone:
    """The records: {name: {qtype: [rdata bytes]}}, plus failure lists."""

    def __init__(self, ptr=None, a=None, aaaa=None, servfail=(), drop=()):
        self.records = {}
        self.servfail = set()
        self.drop = set()
        for addr, name in (ptr or {}).items():
            self._add(reverse_name(addr), QTYPE_PTR, encode_name(name))
        for name, addrs in (a or {}).items():
            for addr in [addrs] if isinstance(addrs, str) else addrs:
                self._add(name, QTYPE_A, ipaddress.IPv4Address(addr).packed)
        for name, addrs in (aaaa or {}).items():
            for addr in [addrs] if isinstance(addrs, str) else addrs:
                self._add(name, QTYPE_AAAA,
                          ipaddress.IPv6Address(addr).packed)
        for name in servfail:
            self.servfail.add(self._key(name))
        for name in drop:
            self.drop.add(self._key(name))

    @staticmethod
    def _key(name):
        try:
            return reverse_name(name)
        except ValueError:
            return fold(name)

    def _add(self, name, qtype, rdata):
        self.records.setdefault(fold(name), {}).setdefault(qtype, []).append(
            rdata)

    @classmethod
    def from_dict(cls, d):
        return cls(ptr=d.get("ptr"), a=d.get("a"), aaaa=d.get("aaaa"),
                   servfail=d.get("servfail", ()), drop=d.get("drop", ()))


def encode_name(name):
    """A domain name in wire form (no compression)."""
    out = b""
    for label in fold(name).split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def parse_question(msg):
    """(id, flags, qname, qtype, qclass, end of question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(msg) or len(labels) > MAX_LABELS:
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None                 # no compression in a question
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pos + 4


def answer(zone, msg):
    """The reply datagram for one query, or None to stay silent."""
    q = parse_question(msg)
    if q is None:
        return None
    qid, flags, qname, qtype, qclass, end = q
    name = fold(qname)
    if name in zone.drop:
        return None
    answers = []
    if name in zone.servfail:
        rcode = RCODE_SERVFAIL
    elif (flags >> 11) & 0xF != 0:
        rcode = RCODE_NOTIMP            # only standard queries
    elif name not in zone.records:
        rcode = RCODE_NXDOMAIN
    else:
        rcode = RCODE_OK                # NODATA when the type is missing
        if qclass == QCLASS_IN:
            answers = zone.records[name].get(qtype, [])
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    out = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
    out += msg[12:end]                  # the question, byte for byte
    for rdata in answers:
        out += struct.pack("!HHHIH", 0xC00C, qtype, QCLASS_IN, TTL,
                           len(rdata)) + rdata
    return out


class DnsServer:
    """The server in a thread, for tests written in Python."""

    def __init__(self, zone, port=0, host="127.0.0.1", lifetime=600.0,
                 max_queries=10000):
        self.zone = zone if isinstance(zone, Zone) else Zone.from_dict(zone)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.lifetime = lifetime
        self.max_queries = max_queries
        self.queries = []               # (name, type) in arrival order
        self._stop = threading.Event()
        self._thread = None

    def serve(self, log=None):
        """Answer until stopped, out of time, or out of queries."""
        end = time.monotonic() + self.lifetime
        while not self._stop.is_set() and len(self.queries) < self.max_queries:
            left = end - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                msg, peer = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError:
                continue
            q = parse_question(msg)
            if q is not None:
                self.queries.append((fold(q[2]), q[3]))
                if log:
                    log.write("query %s type %d from %s\n" % (fold(q[2]), q[3],
                                                             peer[0]))
                    log.flush()
            reply = answer(self.zone, msg)
            if reply is not None:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass
        self.sock.close()

    def start(self):
        self._thread = threading.Thread(target=self.serve, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def resolv_conf(self):
        """A resolv.conf line pointing a resolver at this server."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "nameserver %s:%d\n" % (host, self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def pairs(items):
    """["k=v", ...] to {k: [v, ...]}."""
    out = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit("dns_server: %r: use NAME=VALUE" % item)
        out.setdefault(k, []).append(v)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description="a DNS server for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--zone", help="JSON file with ptr, a, aaaa, servfail,"
                    " drop")
    ap.add_argument("--lifetime", type=float, default=600.0)
    ap.add_argument("--max-queries", type=int, default=10000)
    ap.add_argument("--log")
    ap.add_argument("--ptr", action="append")
    ap.add_argument("--a", action="append")
    ap.add_argument("--aaaa", action="append")
    ap.add_argument("--servfail", action="append", default=[])
    ap.add_argument("--drop", action="append", default=[])
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1"):
        raise SystemExit("dns_server: loopback only (127.0.0.1 or ::1)")
    d = {}
    if args.zone:
        with open(args.zone) as f:
            d = json.load(f)
    ptr = dict(d.get("ptr", {}))
    ptr.update({k: v[-1] for k, v in pairs(args.ptr).items()})
    a = dict(d.get("a", {}))
    a.update(pairs(args.a))
    aaaa = dict(d.get("aaaa", {}))
    aaaa.update(pairs(args.aaaa))
    zone = Zone(ptr=ptr, a=a, aaaa=aaaa,
                servfail=list(d.get("servfail", [])) + args.servfail,
                drop=list(d.get("drop", [])) + args.drop)
    srv = DnsServer(zone, args.port, args.host, args.lifetime,
                    args.max_queries)
    signal.signal(signal.SIGTERM, lambda *_: srv._stop.set())
    print(srv.port, flush=True)
    log = open(args.log, "a") if args.log else None
    try:
        srv.serve(log)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
