#!/usr/bin/env python3
# 25-least-privilege - who the processes are, and what they can reach.
# (a) Started as root, every worker and the relay runs as mail_owner
#     (nobody) with no supplementary group, no capability in any thread
#     and no_new_privs; queue files are 0600 and queue directories 0700,
#     owned by mail_owner; a configuration that mail_owner could rewrite
#     is warned about.
# (b) smtpd_chroot = yes, started as root: each smtpd worker's root is
#     queue_directory, no thread keeps a capability, mail still flows
#     through a policy server and a libmilter milter on unix sockets given
#     by their full paths under queue_directory and through an lmdb
#     table; when the table is
#     rebuilt, the worker retires and its replacement answers from the
#     new one.
# (c) smtpd_chroot = yes, started by a normal user: the worker makes its
#     own user namespace to chroot in, or, where the system allows none,
#     refuses to start with a clear reason.
# Needs root. Every wait is bounded.
import os
import pwd
import re
import select
import signal
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "peers"))
import masterlib  # noqa: E402
from masterlib import Master, Tap, submit, wait_for, free_port  # noqa: E402

SMTPD = os.path.join(masterlib.BIN, "doppel-smtpd")
MILTER = os.path.join(masterlib.BUILD, "peers", "test_milter")
DOPPEL = os.path.join(masterlib.BIN, "doppel")
POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                      "peers", "policy_server.py")
NOBODY = pwd.getpwnam("nobody")
CAPS = ("CapInh", "CapPrm", "CapEff", "CapAmb")

t = Tap(25)
if os.geteuid() != 0:
    # the privilege model starts from root: without it there is nothing
    # to drop, and that is a failure of the environment, not a pass
    t.ok(False, "25-least-privilege must run as root (CI does)")
    t.finish()


def status_fields(path):
    """the 'Name: value' lines of a /proc status file"""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def children(m):
    """(pid, program name) of every child of the master"""
    r = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(m.proc.pid)],
                       capture_output=True, text=True)
    return [(int(p), c) for p, c in (l.split(None, 1)
                                      for l in r.stdout.splitlines())]


def credentials_wrong(pids, uid, gid):
    """what is wrong with the credentials of these processes' threads"""
    bad = []
    for pid, name in pids:
        tasks = os.listdir("/proc/%d/task" % pid)
        for tid in tasks:
            st = status_fields("/proc/%d/task/%s/status" % (pid, tid))
            if not st:
                continue                # the thread ended meanwhile
            want = "%d\t%d\t%d\t%d" % (uid, uid, uid, uid)
            if st.get("Uid") != want:
                bad.append("%s %s Uid %s" % (name, tid, st.get("Uid")))
            if st.get("Gid") != "%d\t%d\t%d\t%d" % (gid, gid, gid, gid):
                bad.append("%s %s Gid %s" % (name, tid, st.get("Gid")))
            if st.get("Groups") not in ("%d" % gid, ""):
                bad.append("%s %s Groups %s" % (name, tid, st.get("Groups")))
            for c in CAPS:
                if st.get(c) != "0000000000000000":
                    bad.append("%s %s %s %s" % (name, tid, c, st.get(c)))
            if st.get("NoNewPrivs") != "1":
                bad.append("%s %s NoNewPrivs %s" % (name, tid,
                                                    st.get("NoNewPrivs")))
    return bad


def smtp(port, rcpt):
    """the reply to RCPT TO:<rcpt> after EHLO and MAIL"""
    s, greeting = masterlib.connect(port, timeout=10)
    try:
        masterlib.command(s, "HELO client.example", timeout=10)
        masterlib.command(s, "MAIL FROM:<a@client.example>", timeout=10)
        return masterlib.command(s, "RCPT TO:<%s>" % rcpt, timeout=10)
    finally:
        s.close()


def start_policy(path, record):
    proc = subprocess.Popen([sys.executable, POLICY, "--unix", path,
                             "--record", record, "--lifetime", "300"],
                            stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else ""
    return proc if line.startswith("ready ") else None


def start_milter(path):
    """test_milter as nobody (so that its socket lets nobody in)"""
    proc = subprocess.Popen(["setpriv", "--reuid=nobody",
                             "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                             MILTER, "-p", "unix:" + path,
                             "-m", "addheader:X-Jailed:yes"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ,
                                     ASAN_OPTIONS="detect_leaks=0"))
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else b""
    return proc if line.startswith(b"ready") else None


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ----------------------------------------------------------------- (a)
dead_port = free_port()                 # nothing listens: mail stays queued
m = Master(program=SMTPD)
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "relay_domains = far.example\n"
    "transport_maps = inline:{ far.example=smtp:[127.0.0.1]:%d }\n"
    "queue_run_delay = 60s\n" % dead_port,
    "127.0.0.1:%d inet 2 smtpd\n%s/run/relay.sock unix 1 relay\n"
    % (m.port, m.dir))
try:
    t.ok(m.start() and wait_for(lambda: len(children(m)) >= 3, 10),
         "a root master starts two smtpd workers and a relay", m.log())
    kids = children(m)
    t.is_(sorted(set(c for _, c in kids)), ["doppel-relay", "doppel-smtpd"],
          "its children are the workers and the relay")
    bad = credentials_wrong(kids, NOBODY.pw_uid, NOBODY.pw_gid)
    t.ok(not bad, "every thread of every child: uid and gid nobody, no other"
         " group, no capability, no_new_privs", "\n".join(bad))

    qid = submit(m.port, "a@client.example", "u@far.example",
                 b"Subject: privileges\r\n\r\nqueued, not delivered\r\n")
    t.ok(qid is not None, "a message is queued (%s)" % qid)
    spool = os.path.join(m.dir, "spool")
    found = []
    for root, dirs, files in os.walk(spool):
        found += [os.path.join(root, f) for f in files if qid and qid in f]
    wrong = ["%s %o uid %d" % (f, os.stat(f).st_mode & 0o7777,
                               os.stat(f).st_uid) for f in found
             if os.stat(f).st_mode & 0o7777 != 0o600
             or os.stat(f).st_uid != NOBODY.pw_uid]
    t.ok(found and not wrong, "its queue file is mode 0600, owned by nobody",
         "%r %r" % (found, wrong))
    dirs = [os.path.join(spool, d) for d in os.listdir(spool)]
    wrong = ["%s %o uid %d" % (d, os.stat(d).st_mode & 0o7777,
                               os.stat(d).st_uid) for d in dirs
             if os.path.isdir(d) and (os.stat(d).st_mode & 0o7777 != 0o700
                                      or os.stat(d).st_uid != NOBODY.pw_uid)]
    top = os.stat(spool)
    if top.st_uid != NOBODY.pw_uid or top.st_mode & 0o022:
        wrong.append("%s %o uid %d" % (spool, top.st_mode & 0o7777,
                                       top.st_uid))
    t.ok(dirs and not wrong, "queue directories are 0700 (the top one not"
         " writable by others), owned by nobody", "\n".join(wrong))
    t.ok("writable by mail_owner" not in m.log(),
         "a root-owned configuration draws no warning")
    probe = ("import os, sys\n"
             "for path, flags in ((sys.argv[1] + '/doppel.cf', os.O_WRONLY),"
             " (sys.argv[1] + '/services.cf', os.O_WRONLY),"
             " (sys.argv[1] + '/new.cf', os.O_WRONLY | os.O_CREAT)):\n"
             "    try:\n"
             "        os.close(os.open(path, flags, 0o644))\n"
             "        print('wrote ' + path)\n"
             "    except PermissionError:\n"
             "        pass\n")
    r = subprocess.run(["setpriv", "--reuid=nobody",
                        "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                        sys.executable, "-c", probe, m.dir],
                       capture_output=True, text=True, timeout=30)
    t.ok(r.returncode == 0 and r.stdout == "",
         "with the workers' credentials the configuration cannot be written",
         r.stdout + r.stderr)

    os.chown(os.path.join(m.dir, "doppel.cf"), NOBODY.pw_uid, -1)
    code, out, err = m.doppel("reload")
    t.ok(code == 0 and wait_for(lambda: re.search(
        r"warning: \S*doppel\.cf is writable by mail_owner nobody", m.log()),
        10), "a doppel.cf that nobody owns is warned about at reload",
        out + err + m.log()[-2000:])
finally:
    m.cleanup()

# ----------------------------------------------------------------- (b)
m = Master(program=SMTPD)
m.env["ASAN_OPTIONS"] = "detect_leaks=0"        # LeakSanitizer needs /proc
spool = os.path.realpath(os.path.join(m.dir, "spool"))
rcpt_map = os.path.join(m.dir, "recipients")
record = os.path.join(m.dir, "policy.jsonl")
policy = milter = None


def build_map(text):
    with open(rcpt_map, "w") as f:
        f.write(text)
    r = subprocess.run([DOPPEL, "map", "build", rcpt_map],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0


def smtpd_pids(m):
    return sorted(p for p, c in children(m) if c == "doppel-smtpd")


try:
    key, cert = os.path.join(m.dir, "key.pem"), os.path.join(m.dir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=mx.example.test", "-days", "1",
                    "-keyout", key, "-out", cert], capture_output=True,
                   timeout=60, check=True)
    os.chmod(key, 0o644)                # read by the worker, as nobody
    build_map("blocked1@mx.example.test REJECT gone away\n")
    m.write_conf(
        "smtpd_peername_lookup = no\n"
        "smtpd_chroot = yes\n"
        "smtpd_recipient_restrictions = check_recipient_access lmdb:%s,"
        " check_policy_service unix:%s/private/policy,"
        " permit_mynetworks, reject_unauth_destination\n"
        "smtpd_milters = unix:%s/private/milter\n"
        "milter_default_action = tempfail\n"
        "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
        % (rcpt_map, spool, spool, cert, key),
        "127.0.0.1:%d inet 1 smtpd\n" % m.port)
    t.ok(m.start() and wait_for(lambda: "smtpd: chroot " + spool in m.log(),
                                10),
         "with smtpd_chroot = yes the worker says it chrooted", m.log())
    # the master made the queue directories; the policy socket goes in
    os.makedirs(os.path.join(spool, "private"), exist_ok=True)
    os.chown(os.path.join(spool, "private"), NOBODY.pw_uid, NOBODY.pw_gid)
    policy = start_policy(os.path.join(spool, "private", "policy"), record)
    milter = start_milter(os.path.join(spool, "private", "milter"))
    pids = smtpd_pids(m)
    t.ok(pids and all(os.readlink("/proc/%d/root" % p) == spool
                      for p in pids),
         "the worker's root directory is queue_directory",
         " ".join(os.readlink("/proc/%d/root" % p) for p in pids))
    bad = credentials_wrong([(p, "doppel-smtpd") for p in pids],
                            NOBODY.pw_uid, NOBODY.pw_gid)
    t.ok(pids and not bad, "and it runs as nobody with no capability left in"
         " any thread (CAP_SYS_CHROOT is gone)", "\n".join(bad))

    qid = submit(m.port, "a@client.example", "u@mx.example.test",
                 b"Subject: from the jail\r\n\r\nhello\r\n")
    t.ok(qid is not None and any(qid in f for f in
                                 os.listdir(os.path.join(spool, "incoming"))),
         "a message is queued from inside the jail (%s)" % qid, m.log())
    queued = b""
    for f in os.listdir(os.path.join(spool, "incoming")):
        if qid and qid in f:
            queued = open(os.path.join(spool, "incoming", f), "rb").read()
    t.ok(b"X-Jailed: yes" in queued, "the milter on unix:QUEUE/private/milter"
         " added its header", repr(queued[:600]) + m.log()[-1000:])
    seen = open(record).read() if os.path.exists(record) else ""
    t.ok('"recipient": "u@mx.example.test"' in seen,
         "the policy server on unix:QUEUE/private/policy was asked",
         seen[-500:] + m.log()[-1000:])
    t.like(smtp(m.port, "blocked1@mx.example.test"), "554 5.7.1",
           "the lmdb table opened before the chroot answers")
    try:
        c = smtplib.SMTP("127.0.0.1", m.port, timeout=20)
        c.ehlo("tls.example")
        c.starttls(context=ssl._create_unverified_context())
        c.ehlo("tls.example")
        tls_reply = c.sendmail("a@client.example", ["u@mx.example.test"],
                               b"Subject: TLS in the jail\r\n\r\nhi\r\n")
        c.quit()
        tls_ok = tls_reply == {}
    except (OSError, smtplib.SMTPException) as e:
        tls_ok = False
        print("# STARTTLS: %r" % (e,))
    t.ok(tls_ok, "STARTTLS works in the jail (certificate read before it)",
         m.log()[-1000:])

    old = smtpd_pids(m)
    t.ok(build_map("blocked2@mx.example.test REJECT moved\n"),
         "the table is rebuilt with doppel map build")
    # the next lookup (at most a second later) sees the file replaced
    wait_for(lambda: smtp(m.port, "nobody@mx.example.test") and
             "was rebuilt" in m.log(), 15, 0.3)
    t.ok(re.search(r"lmdb table %s was rebuilt: this worker retires"
                   % re.escape(rcpt_map), m.log()),
         "the worker notices, and retires to reopen it", m.log()[-2000:])
    t.ok(wait_for(lambda: smtpd_pids(m) and smtpd_pids(m) != old, 15),
         "a new worker replaces it (%s -> %s)" % (old, smtpd_pids(m)))
    t.like(wait_for(lambda: "554" in smtp(m.port, "blocked2@mx.example.test")
                    and smtp(m.port, "blocked2@mx.example.test"), 10) or "",
           "554 5.7.1", "the new worker answers from the rebuilt table")
    t.like(smtp(m.port, "blocked1@mx.example.test"), "250",
           "and the old entry is gone")
finally:
    stop(policy)
    stop(milter)
    m.cleanup()


# ----------------------------------------------------------------- (c)
class NobodyMaster(Master):
    """a master started by the user nobody"""

    def start(self):
        for root, dirs, files in os.walk(self.dir):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY.pw_uid, NOBODY.pw_gid)
        os.chown(self.dir, NOBODY.pw_uid, NOBODY.pw_gid)
        log = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=%d" % NOBODY.pw_gid,
             "--clear-groups", os.path.join(masterlib.BIN, "doppel-master"),
             "-c", self.dir, "-f"], stdout=log, stderr=log, env=self.env)
        log.close()
        return wait_for(lambda: self.status() is not None, 30)


userns = subprocess.run(["setpriv", "--reuid=nobody",
                         "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                         "unshare", "-U", "true"],
                        capture_output=True).returncode == 0
m = NobodyMaster(program=SMTPD)
m.env["ASAN_OPTIONS"] = "detect_leaks=0"
spool = os.path.realpath(os.path.join(m.dir, "spool"))
m.write_conf("smtpd_peername_lookup = no\nsmtpd_chroot = yes\n",
             "127.0.0.1:%d inet 1 smtpd\n" % m.port)
try:
    t.ok(m.start(), "a master started by nobody runs", m.log())
    if userns:
        t.ok(wait_for(lambda: "smtpd: chroot " + spool in m.log(), 10)
             and smtpd_pids(m)
             and os.readlink("/proc/%d/root" % smtpd_pids(m)[0]) == spool,
             "its worker chroots into queue_directory in a user namespace",
             m.log())
        qid = submit(m.port, "a@client.example", "u@mx.example.test",
                     b"Subject: user namespace\r\n\r\nhello\r\n")
        t.ok(qid is not None and os.stat(os.path.join(
            spool, "incoming", [f for f in os.listdir(
                os.path.join(spool, "incoming")) if qid in f][0])).st_uid
            == NOBODY.pw_uid,
            "and queues mail in files that nobody owns (%s)" % qid, m.log())
    else:
        t.ok(wait_for(lambda: "no user namespace either" in m.log(), 10),
             "without user namespaces the worker refuses, saying why",
             m.log())
        t.ok("start doppel-master as root" in m.log(),
             "and what to do about it", m.log())
finally:
    m.cleanup()
t.finish()
