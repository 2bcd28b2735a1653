#!/usr/bin/env python3
"""idle_sessions - open many idle SMTP sessions and hold them.

Usage: idle_sessions.py [--host 127.0.0.1] --port PORT --count N
                        [--parallel 200] [--timeout 60]

Opens COUNT TCP connections to HOST:PORT with one event loop (asyncio,
standard library only), at most PARALLEL connection attempts in flight,
reads each server's greeting line and then says nothing more: every
session is idle in the server's command state. When all attempts have
ended (or TIMEOUT seconds have passed) it prints one JSON line on stdout:

    {"opened": N, "greeted": G, "refused": R, "closed_early": C,
     "codes": {"220": G, ...}, "seconds": T}

and keeps the sessions open until its standard input reaches end of file
(or a line arrives), or until TIMEOUT seconds more have passed. Then it
closes every connection (no QUIT: the server sees the client go away)
and prints a second JSON line with the sessions that the server had
already closed while they were held ("lost").

Raise the descriptor limit before running it (bench/run does): each
session is one descriptor here and one in the server. The script raises
its own soft limit to the hard limit.
"""

import argparse
import asyncio
import json
import resource
import sys
import time

GREETING_MAX = 1024          # bytes of greeting we read, at most


def raise_nofile():
    """Soft descriptor limit up to the hard one; returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def open_one(host, port, sem, timeout, stats, held):
    """One connection: connect, read the greeting line, keep it."""
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError):
            stats["refused"] += 1
            return
        stats["opened"] += 1
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except (OSError, asyncio.TimeoutError, ValueError):
            line = b""
        line = line[:GREETING_MAX]
        if not line:
            stats["closed_early"] += 1
            writer.close()
            return
        code = line[:3].decode("ascii", "replace")
        stats["codes"][code] = stats["codes"].get(code, 0) + 1
        if code == "220":
            stats["greeted"] += 1
        held.append((reader, writer))


async def wait_stdin(timeout):
    """Until stdin has a line or EOF, or timeout seconds passed."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline),
                               timeout)
    except asyncio.TimeoutError:
        pass


async def main_async(args):
    """Open, report, hold, close, report."""
    stats = {"opened": 0, "greeted": 0, "refused": 0, "closed_early": 0,
             "codes": {}}
    held = []
    sem = asyncio.Semaphore(args.parallel)
    t0 = time.monotonic()
    tasks = [asyncio.create_task(open_one(args.host, args.port, sem,
                                          args.timeout, stats, held))
             for _ in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for t in pending:
        t.cancel()
    stats["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(stats), flush=True)

    await wait_stdin(args.timeout)

    # A session the server ended while held has EOF (or a 421) waiting.
    lost = 0
    for reader, writer in held:
        if reader.at_eof() or len(reader._buffer) > 0:   # noqa: SLF001
            lost += 1
        writer.close()
    for _, writer in held:
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (OSError, asyncio.TimeoutError):
            pass
    print(json.dumps({"closed": len(held), "lost": lost}), flush=True)


def main():
    """Arguments, descriptor limit, run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--parallel", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("idle_sessions: loopback only")
    limit = raise_nofile()
    if args.count + 64 > limit:
        sys.exit("idle_sessions: descriptor limit %d is too low for %d"
                 " sessions (raise ulimit -n)" % (limit, args.count))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
