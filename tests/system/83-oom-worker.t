#!/usr/bin/env python3
# 83-oom-worker.t - a worker that runs out of memory dies alone and the
# master starts another. Two services, one worker each; the worker of
# service A runs with a memory limit a little above what the worker of
# service B uses after start (prlimit --data, or for a sanitizer build
# ASan's soft_rss_limit_mb with allocator_may_return_null=1: in both
# cases malloc() returns NULL, a real allocation failure). A flood of
# sessions in DATA makes A's worker need memory until it fails; a
# session on B, open all along, must finish its message, and A must be
# served again by a new worker. Every wait is bounded.
import os
import re
import resource
import signal
import socket
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
import masterlib  # noqa: E402
from masterlib import Tap, Master, free_port, wait_for  # noqa: E402

SMTPD = os.path.join(masterlib.BIN, "doppel-smtpd")
MARGIN_MB = 24          # what A may use beyond B's size at start
FLOOD_MAX = 4000        # sessions at most: the worker must die before
SCALE = masterlib.TIME_SCALE

t = Tap(11)


def asan_build(path):
    """does the program carry AddressSanitizer"""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def proc_kb(pid, field):
    """a VmXXX field of /proc/PID/status in kB, or None"""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def service_pids(m, index):
    """pids of the master's children started for service index"""
    if m.proc is None or m.proc.poll() is not None:
        return []
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(m.proc.pid)],
                         capture_output=True, text=True).stdout
    return [int(l.split()[0]) for l in out.splitlines()
            if " --service %d " % index in l + " "]


def reply(f):
    while True:
        line = f.readline(2000)
        if len(line) < 4 or line[3:4] != b"-":
            return line.decode("latin-1").strip()


def open_data(port, timeout=10):
    """a session that is inside DATA: (socket, file)"""
    s = socket.create_connection(("127.0.0.1", port), timeout * SCALE)
    f = s.makefile("rb")
    reply(f)
    for cmd in (b"EHLO client.example", b"MAIL FROM:<alice@example.org>",
                b"RCPT TO:<bob@example.net>", b"DATA"):
        s.sendall(cmd + b"\r\n")
        r = reply(f)
    if not r.startswith("354"):
        raise OSError("DATA refused: %r" % r)
    return s, f


def send_message(port):
    """one whole message; the reply after the dot"""
    try:
        s, f = open_data(port)
        s.sendall(b"Subject: after\r\n\r\nhello\r\n.\r\n")
        r = reply(f)
        f.close()
        s.close()
        return r
    except OSError as e:
        return "error: %s" % e


# the test and the master (hence the workers) may hold many sockets
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = min(hard, FLOOD_MAX + 512) if hard != resource.RLIM_INFINITY \
    else FLOOD_MAX + 512
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

m = Master(program=SMTPD)
port_b = free_port()
limit_file = os.path.join(m.dir, "oom-limit")
wrapper = os.path.join(m.dir, "smtpd-wrapper")
# Service 0 waits (bounded) for the limit the test decides once B runs;
# the workers run as mail_owner, so everything here is world-readable.
with open(wrapper, "w") as f:
    f.write("""#!/bin/sh
# smtpd-wrapper - doppel-smtpd, with a memory limit for service 0
case " $* " in
*" --service 0 "*)
    i=0
    while [ ! -s %(lim)s ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    read kind value < %(lim)s
    if [ "$kind" = asan ]; then
        ASAN_OPTIONS="allocator_may_return_null=1:soft_rss_limit_mb=$value:detect_leaks=0"
        export ASAN_OPTIONS
        exec %(prog)s "$@"
    fi
    exec prlimit --data=$value:$value -- %(prog)s "$@"
    ;;
esac
exec %(prog)s "$@"
""" % {"lim": limit_file, "prog": SMTPD})
os.chmod(wrapper, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP
         | stat.S_IROTH | stat.S_IXOTH)
m.env["DOPPEL_SMTPD_PROGRAM"] = wrapper
m.write_conf("smtpd_peername_lookup = no\n"
             "smtpd_client_connection_count_limit = 0\n"
             "smtpd_timeout = 120s\n",
             "127.0.0.1:%d inet 1 smtpd -o smtpd_client_limit=%d\n"
             "127.0.0.1:%d inet 1 smtpd\n" % (m.port, FLOOD_MAX, port_b))
flood = []
try:
    t.ok(m.start(), "the master starts with services A and B", m.log())
    b = wait_for(lambda: service_pids(m, 1), 10)
    b = b[0] if b else 0
    ready = wait_for(lambda: "smtpd[%d]: smtpd: ready" % b in m.log(),
                     10)
    time.sleep(0.5)
    asan = asan_build(SMTPD)
    if asan:
        rss = proc_kb(b, "VmRSS") or 0
        limit = ("asan", rss // 1024 + MARGIN_MB)
    else:
        data = proc_kb(b, "VmData") or 0
        limit = ("data", data * 1024 + MARGIN_MB * 1024 * 1024)
    with open(limit_file + ".new", "w") as f:
        f.write("%s %d\n" % limit)
    os.chmod(limit_file + ".new", 0o644)
    os.rename(limit_file + ".new", limit_file)
    print("# B (pid %d) at start: %s kB resident, %s kB data; A's limit: %s"
          % (b, proc_kb(b, "VmRSS"), proc_kb(b, "VmData"),
             "soft_rss_limit_mb=%d" % limit[1] if asan
             else "RLIMIT_DATA=%d" % limit[1]), flush=True)
    a = wait_for(lambda: [p for p in service_pids(m, 0)
                          if "smtpd[%d]: smtpd: ready" % p in m.log()],
                 30)
    a = a[0] if a else 0
    t.ok(ready and a, "both workers are ready, A's under the limit", m.log())

    # B: a session in the middle of its message all along
    sb, fb = open_data(port_b)
    sb.sendall(b"Subject: on B\r\n\r\nfirst half\r\n")

    # the flood on A: sessions in DATA, each holding a chunk of content
    chunk = b"X" * 998 + b"\r\n"
    sent = 0
    t0 = time.monotonic()
    while alive(a) and sent < FLOOD_MAX \
            and time.monotonic() - t0 < 120 * SCALE:
        try:
            s = socket.create_connection(("127.0.0.1", m.port), 5 * SCALE)
            s.setblocking(False)
            s.send(b"EHLO flood.example\r\nMAIL FROM:<f@example.org>\r\n"
                   b"RCPT TO:<r@example.net>\r\nDATA\r\n" + chunk * 40)
            flood.append(s)
            sent += 1
        except OSError:
            time.sleep(0.01)
        if sent % 25 == 0:
            time.sleep(0.05)
    died = wait_for(lambda: not alive(a), 20)
    print("# %d flood sessions in %.1f s; A's worker %s" % (
        sent, time.monotonic() - t0, "died" if died else "is still alive"),
        flush=True)
    t.ok(died, "A's worker (pid %d) died of the flood" % a, m.log()[-3000:])
    log = m.log()
    t.ok(re.search(r"smtpd\[%d\]: fatal: out of memory|"
                   r"smtpd\[%d\]: .*out of memory|==%d==.*out of memory"
                   % (a, a, a), log)
         or "==%d==ERROR: AddressSanitizer: allocator is out of memory" % a
         in log or "==%d==ERROR: AddressSanitizer: out of memory" % a in log,
         "it says it ran out of memory", log[-3000:])
    for s in flood:
        s.close()
    flood = []
    t.ok(wait_for(lambda: re.search(r"worker pid %d (exited with status \d+"
                                    r"|killed by signal \d+); restart in" % a,
                                    m.log()), 5),
         "the master logs the death and the restart", m.log()[-3000:])

    # B never noticed
    sb.sendall(b"second half\r\n.\r\n")
    t.like(reply(fb), "250 2.0.0 Ok: queued as",
           "B's session, open during all this, queues its message")
    sb.sendall(b"QUIT\r\n")
    reply(fb)
    fb.close()
    sb.close()
    t.ok(alive(b) and service_pids(m, 1) == [b],
         "B's worker is the same process (pid %d)" % b)
    # B's message has left tmp/ for incoming/: nothing may remain there
    tmp = os.path.join(m.dir, "spool", "tmp")
    t.ok(wait_for(lambda: not os.listdir(tmp), 5),
         "the messages A was receiving are gone from tmp/ (%s)"
         % (re.findall(r"removed \d+ unfinished queue file\(s\)", m.log())
            or ["nothing to remove"])[0], os.listdir(tmp))

    a2 = wait_for(lambda: [p for p in service_pids(m, 0) if p != a
                           and "smtpd[%d]: smtpd: ready" % p in m.log()],
                  15)
    t.ok(a2, "a new worker serves A (pid %s)" % (a2 and a2[0]), m.log()[-3000:])
    t.like(send_message(m.port), "250 2.0.0 Ok: queued as",
           "a message to A is queued again")

    m.signal(signal.SIGTERM)
    rc = m.wait(30)
    log = m.log()
    t.ok(rc == 0 and "ERROR: AddressSanitizer: heap" not in log
         and "runtime error" not in log and "SEGV" not in log,
         "the master stops cleanly; no memory error, only the shortage",
         log[-3000:])
finally:
    for s in flood:
        s.close()
    m.cleanup()
t.finish()
