#!/usr/bin/env python3
"""bench/flood.py - a slowloris flood and legitimate mail, against one server.

One run, on loopback, standard library only (asyncio):

  1. PRE idle sessions are opened from 127.0.0.3 before the flood and
     then stay silent ("sessions opened before the flood"); the time
     the server closes each is recorded.
  2. A child process (this file, --role bots) runs BOTS bots: connect,
     read the greeting, then send one byte ("N", never a whole line)
     every TRICKLE seconds (0: stay silent), and reconnect at once when
     refused or dropped. Bots come from their own loopback address each
     (127.1.X.Y, a botnet) or all from one (--bot-addr 127.0.0.1). The
     bots live in their own process so that their reconnect loop does
     not delay the legitimate clients' event loop.
  3. After WARMUP seconds, legitimate clients from 127.0.0.2 start, RATE
     per second for WINDOW seconds: each does one whole transaction
     (greeting, EHLO, MAIL, RCPT, DATA with a small message, QUIT)
     within DEADLINE seconds of its connect, or fails. No retries: a
     421 at the greeting is a failure, as it would defer a real MTA for
     minutes.
  4. The run ends when every legitimate message has an outcome; then
     the bots stop and the pre-flood sessions are closed.

Saturation is the moment the bots hold LIMIT - PRE slots, i.e. with the
pre-flood sessions every one of the server's LIMIT slots is busy (client
side: the time the last of those greetings was read). With --metrics
HOST:PORT (doppel-master's Prometheus endpoint) the stress gauge is
polled every 10 ms until it turns on and every 0.5 s after that; with
--status-cmd, "doppel status --json" is run once stress is seen, for its
millisecond stress_since.

Prints one JSON object on stdout: messages (launch time, outcome,
latency), series (every 0.5 s: bots holding a slot, bots waiting for a
greeting, pre-flood sessions open, legitimate sessions open, stress),
saturation and stress times, pre-flood shedding, bot counters. Times
are seconds since the start of the run (CLOCK_MONOTONIC, shared by both
processes). Every wait is bounded; SIGTERM ends it.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

SAMPLE = 0.5                    # seconds between series samples
LINE_MAX = 4096                 # longest reply line read
HARD_STOP = 600                 # no run lasts longer than this


def now():
    """CLOCK_MONOTONIC seconds (the same clock in both processes)."""
    return time.monotonic()


def parse_args(argv):
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--role", choices=("main", "bots"), default="main")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bots", type=int, default=60)
    ap.add_argument("--bot-addr", default="spread",
                    help="spread (127.1.X.Y, one each) or one address")
    ap.add_argument("--trickle", type=float, default=5.0,
                    help="a byte every this many seconds (0: idle)")
    ap.add_argument("--limit", type=int, default=20,
                    help="the server's slots (for the saturation time)")
    ap.add_argument("--pre", type=int, default=5,
                    help="idle sessions opened before the flood")
    ap.add_argument("--pre-addr", default="127.0.0.3")
    ap.add_argument("--legit-addr", default="127.0.0.2")
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--deadline", type=float, default=30.0)
    ap.add_argument("--rcpt", default="to@bench.test")
    ap.add_argument("--metrics", default="", help="HOST:PORT of doppel's"
                    " metrics (polls the stress gauge)")
    ap.add_argument("--status-cmd", default="",
                    help="command printing doppel status --json")
    ap.add_argument("--t0", type=float, default=0.0,
                    help="(bots) the run's start, CLOCK_MONOTONIC")
    ap.add_argument("--stop-after", type=float, default=HARD_STOP,
                    help="(bots) stop by itself after this many seconds")
    return ap.parse_args(argv)


async def read_reply(reader):
    """One SMTP reply (all its lines); (code, text) or (None, "") at EOF."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            return None, " ".join(lines)
        if not line.endswith(b"\n") and len(line) >= LINE_MAX:
            return None, "line too long"
        text = line.decode("ascii", "replace").rstrip("\r\n")
        lines.append(text)
        if len(text) < 4 or text[3] != "-":
            try:
                return int(text[:3]), " ".join(lines)
            except ValueError:
                return None, " ".join(lines)


def close_hard(writer):
    """Close without TIME_WAIT on our side (bots reconnect thousands of
    times: ephemeral ports must not run out)."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.close()


# ------------------------------------------------------------ bots

class Bots:
    """N slowloris bots and their counters, in the bots process."""

    def __init__(self, a, t0):
        self.a = a
        self.t0 = t0
        self.stop = False
        self.held = 0               # greeted and not yet dropped
        self.waiting = 0            # connected, no greeting yet
        self.max_held = 0
        self.sat_need = max(1, a.limit - a.pre)
        self.t_saturated = None
        self.c = {"connects": 0, "connect_errors": 0, "greeted": 0,
                  "refused": 0, "dropped": 0, "dropped_with_reply": 0}
        self.series = []

    def addr(self, i):
        """Source address of bot i."""
        if self.a.bot_addr == "spread":
            return "127.1.%d.%d" % (i // 250, 1 + i % 250)
        return self.a.bot_addr

    async def bot(self, i):
        """Connect, hold, trickle, reconnect; until stopped."""
        src = self.addr(i)
        while not self.stop:
            try:
                reader, writer = await asyncio.open_connection(
                    self.a.host, self.a.port, local_addr=(src, 0),
                    limit=LINE_MAX)
            except OSError:
                self.c["connect_errors"] += 1
                await asyncio.sleep(0.05)
                continue
            self.c["connects"] += 1
            self.waiting += 1
            held = False
            try:
                code, _ = await read_reply(reader)
                self.waiting -= 1
                if code != 220:
                    self.c["refused"] += 1
                    continue
                held = True
                self.held += 1
                self.c["greeted"] += 1
                self.max_held = max(self.max_held, self.held)
                if self.t_saturated is None and self.held >= self.sat_need:
                    self.t_saturated = now() - self.t0
                await self.hold(reader, writer)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                if not held:
                    self.waiting -= 1
                    self.c["refused"] += 1
                else:
                    self.c["dropped"] += 1
            finally:
                if held:
                    self.held -= 1
                close_hard(writer)

    async def hold(self, reader, writer):
        """Greeted: send a byte every trickle seconds until the server
        closes (any reply it sends first is read and counted)."""
        trickle = self.a.trickle
        next_byte = now() + (trickle if trickle > 0 else HARD_STOP)
        replied = False
        while not self.stop:
            try:
                data = await asyncio.wait_for(
                    reader.read(512), max(0.01, next_byte - now()))
            except asyncio.TimeoutError:
                writer.write(b"N")
                await writer.drain()
                next_byte = now() + trickle
                continue
            if not data:
                self.c["dropped_with_reply" if replied else "dropped"] += 1
                return
            replied = True

    async def sampler(self):
        """Every SAMPLE seconds: held and waiting."""
        k = 0
        while not self.stop:
            t = self.t0 + k * SAMPLE
            await asyncio.sleep(max(0, t - now()))
            self.series.append({"t": round(k * SAMPLE, 2), "held": self.held,
                                "waiting": self.waiting})
            k += 1

    async def run(self):
        """All bots, until SIGTERM or stop_after."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: done.done()
                                    or done.set_result(True))
        tasks = [asyncio.ensure_future(self.sampler())]
        for i in range(self.a.bots):
            tasks.append(asyncio.ensure_future(self.bot(i)))
            # a flood, not one burst: the bots arrive within ~0.5 s
            await asyncio.sleep(0.5 / max(1, self.a.bots))
        try:
            await asyncio.wait_for(done, self.a.stop_after)
        except asyncio.TimeoutError:
            pass
        self.stop = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"t_saturated": self.t_saturated, "max_held": self.max_held,
                "counters": self.c, "series": self.series}


def bots_main(a):
    """--role bots: run, then print the JSON."""
    res = asyncio.run(Bots(a, a.t0 or now()).run())
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------ main role

class Run:
    """Pre-flood sessions, the bots' process, legitimate clients, the
    stress poller and the sampler."""

    def __init__(self, a):
        self.a = a
        self.t0 = None
        self.wall_minus_mono = time.time() - now()
        self.messages = []
        self.legit_open = 0
        self.pre_open = 0
        self.pre = []               # per pre-flood session: dict
        self.stress = None          # last seen gauge (None: unknown)
        self.stress_seen = None     # first time the poller saw it on
        self.metrics_last = {}
        self.series = []
        self.status = None
        self.finished = False

    def rel(self):
        return now() - self.t0

    # --- pre-flood idle sessions
    async def open_pre(self, i):
        """Open one idle session; returns when greeted (or failed)."""
        rec = {"i": i, "greeted": None, "closed": None, "last": ""}
        self.pre.append(rec)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.a.host, self.a.port,
                local_addr=(self.a.pre_addr, 0), limit=LINE_MAX), 10)
            code, text = await asyncio.wait_for(read_reply(reader), 10)
        except (OSError, asyncio.TimeoutError) as e:
            rec["last"] = "error: %s" % e
            return None
        if code != 220:
            rec["last"] = text
            writer.close()
            return None
        rec["greeted"] = True
        self.pre_open += 1
        return reader, writer, rec

    async def watch_pre(self, reader, writer, rec):
        """Wait (silently) for the server to close a pre-flood session."""
        try:
            while not self.finished:
                try:
                    line = await asyncio.wait_for(reader.readline(), 0.5)
                except asyncio.TimeoutError:
                    continue
                if not line:
                    break
                rec["last"] = line.decode("ascii", "replace").strip()
            else:
                return
            rec["closed"] = round(self.rel(), 4)
            self.pre_open -= 1
        except (OSError, ValueError):
            rec["closed"] = round(self.rel(), 4)
            self.pre_open -= 1
        finally:
            if rec["closed"] is None:
                self.pre_open -= 1
            writer.close()

    # --- legitimate clients
    async def legit(self, i, launch):
        """One message; its record."""
        await asyncio.sleep(max(0, self.t0 + launch - now()))
        rec = {"i": i, "launch": round(self.rel(), 4), "outcome": None,
               "stage": "connect", "latency": None, "reply": ""}
        self.messages.append(rec)
        self.legit_open += 1
        t_start = now()
        writer = None

        async def transaction():
            nonlocal writer
            reader, writer = await asyncio.open_connection(
                self.a.host, self.a.port, local_addr=(self.a.legit_addr, 0),
                limit=LINE_MAX)
            rec["stage"] = "greeting"
            code, text = await read_reply(reader)
            rec["greeting_s"] = round(now() - t_start, 4)
            if code != 220:
                return "refused", text
            body = ("From: <legit%d@client.test>\r\nTo: <%s>\r\n"
                    "Subject: flood %d\r\n\r\nA small legitimate message.\r\n"
                    "." % (i, self.a.rcpt, i))
            for stage, cmd, want in (
                    ("ehlo", "EHLO legit.client.test", 250),
                    ("mail", "MAIL FROM:<legit%d@client.test>" % i, 250),
                    ("rcpt", "RCPT TO:<%s>" % self.a.rcpt, 250),
                    ("data", "DATA", 354),
                    ("dot", body, 250)):
                rec["stage"] = stage
                writer.write(cmd.encode() + b"\r\n")
                await writer.drain()
                code, text = await read_reply(reader)
                if code != want:
                    return "rejected", text
            rec["latency"] = round(now() - t_start, 4)
            rec["stage"] = "quit"
            writer.write(b"QUIT\r\n")
            try:
                await asyncio.wait_for(read_reply(reader), 2)
            except (asyncio.TimeoutError, OSError):
                pass
            return "delivered", ""

        try:
            outcome, text = await asyncio.wait_for(transaction(),
                                                   self.a.deadline)
        except asyncio.TimeoutError:
            outcome, text = "deadline", ""
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            outcome, text = "error", str(e)
        rec["outcome"] = outcome
        rec["reply"] = text[:200]
        rec["end"] = round(self.rel(), 4)
        if outcome != "delivered":
            rec["latency"] = None
        if writer is not None:
            writer.close()
        self.legit_open -= 1

    # --- doppel's metrics
    async def fetch_metrics(self):
        """The metrics page as {name: value} for our service, or None."""
        host, port = self.a.metrics.rsplit(":", 1)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port)), 1)
            writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            data = await asyncio.wait_for(reader.read(1 << 20), 1)
            writer.close()
        except (OSError, asyncio.TimeoutError):
            return None
        want = 'service="%s:%d"' % (self.a.host, self.a.port)
        out = {}
        for line in data.decode("utf-8", "replace").splitlines():
            if line.startswith("#") or want not in line:
                continue
            name = line.split("{", 1)[0]
            label = line[line.index("{"):line.index("}") + 1]
            key = name + ("" if label == "{%s}" % want else
                          label.replace(want, "").replace("{,", "{"))
            try:
                out[key] = float(line.rsplit(" ", 1)[1])
            except (ValueError, IndexError):
                pass
        return out

    async def poll_stress(self):
        """Every 10 ms until stress is on, then every SAMPLE seconds."""
        while not self.finished:
            m = await self.fetch_metrics()
            t = self.rel()
            if m is not None:
                self.metrics_last = m
                self.stress = int(m.get("doppel_stress", 0))
                if self.stress and self.stress_seen is None:
                    self.stress_seen = round(t, 4)
                    asyncio.ensure_future(self.read_status())
            await asyncio.sleep(0.01 if self.stress_seen is None
                                else SAMPLE)

    async def read_status(self):
        """doppel status --json, once, just after stress went on."""
        try:
            p = await asyncio.create_subprocess_exec(
                *self.a.status_cmd.split(), stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
            out, _ = await asyncio.wait_for(p.communicate(), 10)
            st = json.loads(out)
        except (OSError, ValueError, asyncio.TimeoutError):
            return
        for s in st.get("services", []):
            if s.get("listen") == "%s:%d" % (self.a.host, self.a.port):
                self.status = s
                if s.get("stress_since"):
                    # wall clock -> this run's seconds
                    self.status["stress_since_rel"] = round(
                        s["stress_since"] - self.wall_minus_mono - self.t0,
                        4)

    async def sampler(self):
        """Every SAMPLE seconds: our side of the series."""
        k = 0
        while not self.finished:
            t = self.t0 + k * SAMPLE
            await asyncio.sleep(max(0, t - now()))
            m = self.metrics_last
            self.series.append({
                "t": round(k * SAMPLE, 2), "pre_open": self.pre_open,
                "legit_open": self.legit_open, "stress": self.stress,
                "server_open": sum(v for k, v in m.items() if k.startswith(
                    "doppel_sessions{personality")) if m else None,
                "evictions": m.get("doppel_evictions_total"),
                "full_refusals": m.get("doppel_full_refusals_total"),
                "transitions": m.get("doppel_stress_transitions_total")})
            k += 1

    async def run(self):
        a = self.a
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done()
                                    or stop.set_result(True))
        self.t0 = now()
        m0 = await self.fetch_metrics() if a.metrics else None
        # 1. sessions before the flood
        opened = []
        for i in range(a.pre):
            r = await self.open_pre(i)
            if r:
                opened.append(r)
        pre_tasks = [asyncio.ensure_future(self.watch_pre(*r))
                     for r in opened]
        # 2. the flood, in its own process
        t_flood = round(self.rel(), 4)
        bots = await asyncio.create_subprocess_exec(
            sys.executable, os.path.abspath(__file__), "--role", "bots",
            "--host", a.host, "--port", str(a.port), "--bots", str(a.bots),
            "--bot-addr", a.bot_addr, "--trickle", str(a.trickle),
            "--limit", str(a.limit), "--pre", str(len(opened)),
            "--t0", repr(self.t0), "--stop-after",
            str(a.warmup + a.window + a.deadline + 30),
            stdout=subprocess.PIPE)
        aux = [asyncio.ensure_future(self.sampler())]
        if a.metrics:
            aux.append(asyncio.ensure_future(self.poll_stress()))
        # 3. legitimate mail
        n = int(round(a.window * a.rate))
        legit = [asyncio.ensure_future(self.legit(i, t_flood + a.warmup
                                                  + i / a.rate))
                 for i in range(n)]
        all_legit = asyncio.gather(*legit, return_exceptions=True)
        try:
            await asyncio.wait_for(asyncio.wait(
                [all_legit, stop], return_when=asyncio.FIRST_COMPLETED),
                a.warmup + a.window + a.deadline + 10)
        except asyncio.TimeoutError:
            pass
        interrupted = stop.done()
        # 4. stop everything
        m1 = await self.fetch_metrics() if a.metrics else None
        self.finished = True
        try:
            bots.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            out, _ = await asyncio.wait_for(bots.communicate(), 20)
            bot_res = json.loads(out)
        except (asyncio.TimeoutError, ValueError) as e:
            bots.kill()
            bot_res = {"error": "bots: %s" % e}
        for t in legit + aux + pre_tasks:
            t.cancel()
        await asyncio.gather(*(legit + aux + pre_tasks),
                             return_exceptions=True)
        return self.result(t_flood, bot_res, m0, m1, interrupted)

    def result(self, t_flood, bot_res, m0, m1, interrupted):
        """Everything, as one dict."""
        a = self.a
        res = {"args": {k: v for k, v in vars(a).items()
                        if k not in ("role", "t0", "stop_after")},
               "t_flood": t_flood, "interrupted": interrupted,
               "messages": sorted(self.messages, key=lambda r: r["i"]),
               "pre": self.pre, "bots": bot_res, "stress_seen": self.stress_seen,
               "status": self.status}
        bs = {s["t"]: s for s in bot_res.get("series", [])}
        for s in self.series:
            b = bs.get(s["t"], {})
            s["bots_held"] = b.get("held")
            s["bots_waiting"] = b.get("waiting")
        res["series"] = self.series
        if m0 is not None and m1 is not None:
            res["server_counters"] = {
                k[len("doppel_"):]: m1.get(k, 0) - m0.get(k, 0)
                for k in m1 if k.endswith("_total")}
        return res


def main():
    a = parse_args(sys.argv[1:])
    if a.role == "bots":
        bots_main(a)
        return
    res = asyncio.run(Run(a).run())
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
