#!/usr/bin/env python3
# 81-kill-under-load.t - a 250 is never lost. A doppel-master runs two
# doppel-smtpd workers and doppel-relay delivering to a Maildir; four
# client threads send 300 messages, each with a unique body whose
# SHA-256 is recorded when it gets 250. Meanwhile kill -9 hits a random
# smtpd worker four times, the relay once and the master once (then the
# master is started again with the same command). At the end (bounded
# wait) every acknowledged message is in the Maildir or still in the
# queue, byte for byte, at least once; whatever was delivered is a
# message we sent, intact (a message whose 250 was lost with its
# connection may be delivered); tmp/ of the queue is empty.
# DOPPEL_KILL_SEED=N repeats one run's choices. Every wait is bounded.
import hashlib
import os
import pwd
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import masterlib  # noqa: E402
from masterlib import Tap, Master, wait_for  # noqa: E402
from doppel_harness import read_queue_file  # noqa: E402

MESSAGES = 300
THREADS = 4
WORKER_KILLS = 4
SCALE = masterlib.TIME_SCALE
RCPT = "bob@mx.example.test"
ID_RE = re.compile(rb"X-Test-Id: (\d+)\r\n")

seed = int(os.environ.get("DOPPEL_KILL_SEED", str(int(time.time()))))
rng = random.Random(seed)
t = Tap(14)
print("# seed %d (DOPPEL_KILL_SEED=%d repeats it)" % (seed, seed), flush=True)


class Load:
    """the clients' shared book: what was sent, what got 250"""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 0
        self.sent = {}          # id -> sha256 of the content as sent
        self.acked = {}         # id -> sha256, for those that got 250
        self.failed = 0         # attempts without 250
        self.plan_done = False  # every kill done: the load may end
        self.stop = False

    def new_id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id


def make_body(msg_id, r):
    """a unique message: headers, then lines of varied length, some
    starting with a dot, some 8-bit"""
    lines = [b"X-Test-Id: %d" % msg_id,
             b"Subject: kill test %d" % msg_id,
             b"Message-Id: <%d.%d@client.example>" % (msg_id, seed), b""]
    for _ in range(r.randint(1, 60)):
        n = r.randint(0, 200)
        line = bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz .,-\xe9")
                     for _ in range(n))
        if r.random() < 0.1:
            line = b"." + line
        lines.append(line)
    return b"\r\n".join(lines) + b"\r\n"


def stuff(body):
    """dot-stuffing, as a client must do it"""
    out = re.sub(rb"(^|\r\n)\.", rb"\1..", body)
    return out


def submit(port, body):
    """one message; True if the answer after the dot was 250"""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30 * SCALE)
    except OSError:
        return None             # nobody listening (the master is down)
    try:
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline(2000)
                if len(line) < 4 or line[3:4] != b"-":
                    return line
        if not reply().startswith(b"220"):
            return False
        for cmd in (b"EHLO client.example", b"MAIL FROM:<alice@example.org>",
                    b"RCPT TO:<%s>" % RCPT.encode(), b"DATA"):
            s.sendall(cmd + b"\r\n")
            r = reply()
            if not r[:1] in (b"2", b"3"):
                return False
        s.sendall(stuff(body) + b".\r\n")
        last = reply()
        try:
            s.sendall(b"QUIT\r\n")
            reply()
        except OSError:
            pass
        return last.startswith(b"250")
    except OSError:
        return False
    finally:
        s.close()


def client(load, port_of, seed_k):
    """send until the book holds MESSAGES acknowledged ones and every
    kill is done, so that each kill lands in the load (bounded)"""
    r = random.Random(seed_k)
    attempts = 0
    while not load.stop and attempts < 3 * MESSAGES:
        with load.lock:
            if len(load.acked) >= MESSAGES and load.plan_done:
                return
        attempts += 1
        msg_id = load.new_id()
        body = make_body(msg_id, r)
        digest = hashlib.sha256(body).hexdigest()
        with load.lock:
            load.sent[msg_id] = digest
        res = submit(port_of(), body)
        with load.lock:
            if res:
                load.acked[msg_id] = digest
            else:
                load.failed += 1
        if not res:
            time.sleep(0.2 if res is None else 0.02)


def children(m, name):
    """pids of the master's children running program name"""
    if m.proc is None or m.proc.poll() is not None:
        return []
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(m.proc.pid)],
                         capture_output=True, text=True).stdout
    return [int(l.split()[0]) for l in out.splitlines()
            if l.split()[1].endswith(name)]


def gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def found_messages(m, mail):
    """(delivered, queued): lists of (id or None, sha256, where)"""
    delivered, queued = [], []
    box = os.path.join(mail, RCPT)
    for sub in ("new", "cur"):
        d = os.path.join(box, sub)
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            data = open(os.path.join(d, n), "rb").read()
            mo = ID_RE.search(data)
            content = data[mo.start():] if mo else data
            delivered.append((int(mo.group(1)) if mo else None,
                              hashlib.sha256(content).hexdigest(), n))
    spool = os.path.join(m.dir, "spool")
    for sub in ("incoming", "active", "deferred", "hold"):
        d = os.path.join(spool, sub)
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            try:
                content, env = read_queue_file(os.path.join(d, n))
            except (OSError, ValueError) as e:
                queued.append((None, "unreadable: %s" % e, sub + "/" + n))
                continue
            mo = ID_RE.search(content)
            content = content[mo.start():] if mo else content
            queued.append((int(mo.group(1)) if mo else None,
                           hashlib.sha256(content).hexdigest()
                           if "end" in env else "no end record",
                           sub + "/" + n))
    return delivered, queued


def queue_empty(m):
    spool = os.path.join(m.dir, "spool")
    return all(not os.listdir(os.path.join(spool, d))
               for d in ("incoming", "active", "deferred"))


m = Master(program=os.path.join(masterlib.BIN, "doppel-smtpd"))
mail = os.path.join(m.dir, "mail")
os.mkdir(mail)
nobody = pwd.getpwnam("nobody")
os.chown(mail, nobody.pw_uid, nobody.pw_gid)
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "mydestination = mx.example.test\n"
    "relay_transport = maildir:%s\n"
    "queue_run_delay = 200ms\n"
    "smtpd_client_connection_count_limit = 0\n" % mail,
    "127.0.0.1:%d inet 2 smtpd\n%s/run/relay.sock unix 1 relay\n"
    % (m.port, m.dir))
# what a worker that died with an earlier master left: an old file in tmp/
stale = os.path.join(m.dir, "spool", "tmp", "1K12WJGF0B7000CJ2WPA")
os.makedirs(os.path.dirname(stale), 0o700)
with open(stale, "wb") as f:
    f.write(b"half a queue file")
old = time.time() - 7200
os.utime(stale, (old, old))
for path in (os.path.dirname(stale), stale):
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
logs = []
load = Load()
threads = []
try:
    t.ok(m.start() and wait_for(lambda: len(children(m, "doppel-smtpd")) == 2
                                and children(m, "doppel-relay"), 10),
         "the master runs 2 smtpd workers and the relay", m.log())
    t.ok(not os.path.exists(stale) and "queue: removed 1 unfinished file(s)"
         " from tmp/" in m.log(), "at start the master removes an old file"
         " left in tmp/", m.log())

    # the kill plan: at random points of the load (counted in 250s)
    plan = [("worker", p) for p in rng.sample(range(20, MESSAGES - 40),
                                              WORKER_KILLS)]
    plan += [("relay", rng.randrange(30, MESSAGES - 60)),
             ("master", rng.randrange(60, MESSAGES - 80))]
    plan.sort(key=lambda x: x[1])
    print("# plan: %s" % ", ".join("%s at %d" % p for p in plan), flush=True)

    for k in range(THREADS):
        th = threading.Thread(target=client,
                              args=(load, lambda: m.port, seed * 10 + k),
                              daemon=True)
        th.start()
        threads.append(th)

    kills = {"worker": 0, "relay": 0, "master": 0}
    replaced = {"worker": 0, "relay": 0}
    restarted = False
    deadline = time.monotonic() + 300 * SCALE
    for what, at in plan:
        while len(load.acked) < at and time.monotonic() < deadline \
                and any(th.is_alive() for th in threads):
            time.sleep(0.005)
        time.sleep(rng.random() * 0.05)
        if what in ("worker", "relay"):
            name = "doppel-smtpd" if what == "worker" else "doppel-relay"
            pids = children(m, name)
            if not pids:
                print("# no %s to kill at %d" % (name, at), flush=True)
                continue
            victim = rng.choice(pids)
            os.kill(victim, signal.SIGKILL)
            kills[what] += 1
            print("# kill -9 %s %d after %d acknowledged" %
                  (name, victim, len(load.acked)), flush=True)
            # replaced before the next kill, so each kill meets a full house
            if wait_for(lambda: victim not in children(m, name)
                        and len(children(m, name)) ==
                        (2 if what == "worker" else 1), 10):
                replaced[what] += 1
        else:
            old = m.workers()
            m.proc.kill()
            m.proc.wait(10)
            kills["master"] += 1
            print("# kill -9 doppel-master %d after %d acknowledged"
                  % (m.proc.pid, len(load.acked)), flush=True)
            logs.append(m.log())
            orphans_gone = wait_for(lambda: all(gone(p) for p in old),
                                    10)
            print("# its %d children exited %s" %
                  (len(old), "by themselves" if orphans_gone
                   else "NOT within 10 s"), flush=True)
            restarted = m.start()
            print("# doppel-master started again: %s" % restarted,
                  flush=True)

    load.plan_done = True
    for th in threads:
        th.join(max(1, deadline - time.monotonic()))
    load.stop = True
    n_acked, n_sent = len(load.acked), len(load.sent)
    print("# %d messages sent, %d acknowledged, %d attempts failed"
          % (n_sent, n_acked, load.failed), flush=True)
    t.ok(n_acked >= MESSAGES, "%d messages acknowledged with 250 from %d"
         " client threads" % (n_acked, THREADS))
    t.is_(kills["worker"], WORKER_KILLS, "kill -9 of a random smtpd worker,"
          " %d times" % WORKER_KILLS)
    t.is_(replaced["worker"], WORKER_KILLS, "each killed worker was replaced")
    t.ok(kills["relay"] == 1 and replaced["relay"] == 1,
         "kill -9 of the relay once; it was replaced")
    t.ok(kills["master"] == 1 and restarted,
         "kill -9 of the master once; started again with the same command",
         m.log())

    # all delivered, bounded: then compare by digest
    settled = wait_for(lambda: queue_empty(m), 60, 0.2)
    t.ok(settled, "the queue drains (incoming, active, deferred empty)",
         "\n".join(str(x) for x in found_messages(m, mail)[1]))
    delivered, queued = found_messages(m, mail)
    have = {}
    for msg_id, digest, where in delivered + queued:
        have.setdefault(msg_id, []).append(digest)
    missing = [i for i, d in load.acked.items() if d not in have.get(i, [])]
    t.ok(not missing, "every acknowledged message is delivered or queued,"
         " intact (%d missing)" % len(missing),
         "missing: %s" % missing[:20])
    strangers = [(i, w) for i, d, w in delivered + queued
                 if i not in load.sent or d != load.sent[i]]
    t.ok(not strangers, "every delivered or queued message is one we sent,"
         " byte for byte", "not ours or damaged: %s" % strangers[:20])
    dup = sum(1 for i in have if len(have[i]) > 1)
    unacked = sorted(set(i for i, _, _ in delivered) - set(load.acked))
    print("# delivered %d files, %d still queued; %d messages delivered"
          " twice or more; %d delivered without a 250 seen by the client"
          % (len(delivered), len(queued), dup, len(unacked)), flush=True)
    t.ok(len(delivered) >= n_acked, "at least once: %d delivered for %d"
         " acknowledged" % (len(delivered), n_acked))
    tmp = os.listdir(os.path.join(m.dir, "spool", "tmp"))
    t.is_(tmp, [], "nothing left in the queue's tmp/ (no half-written file)")
    mtmp = os.path.join(mail, RCPT, "tmp")
    left = os.listdir(mtmp) if os.path.isdir(mtmp) else []
    # a relay killed while writing may leave a file in the Maildir's
    # tmp/: by the Maildir rules readers ignore it; the message itself
    # was delivered again from the queue (checked above)
    print("# Maildir tmp/: %d file(s)" % len(left), flush=True)
    all_logs = "\n".join(logs + [m.log()])
    t.is_(len(re.findall(r"worker pid \d+ killed by signal 9; restart in",
                         all_logs)), WORKER_KILLS + 1, "the master logged each death (%d workers, the"
          " relay) with its restart" % WORKER_KILLS)
    m.signal(signal.SIGTERM)
    rc = m.wait(30)
    all_logs = "\n".join(logs + [m.log()])
    t.ok(rc == 0 and "Sanitizer" not in all_logs
         and "runtime error" not in all_logs,
         "the master stops cleanly; no sanitizer report in any log",
         all_logs[-4000:])
finally:
    load.stop = True
    m.cleanup()
t.finish()
