#!/usr/bin/env python3
# 13-policy - check_policy_service as a Postfix admin expects it, with the
# real doppel-smtpd under doppel-master: Debian's postgrey greylists a
# first attempt (450) and accepts the retry after its delay; a recording
# policy server sees stress=yes from the stress port and an empty stress
# from the normal one, with personality=, client_class= and the usual
# attributes (XCLIENT's identity too); and a policy server that is
# stopped, hangs or answers garbage gets the default action, logged,
# while another session on the same (only) worker completes a message.
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from doppel_harness import Raw, bail, diag, done, is_, like, ok  # noqa
from masterlib import BIN, Master, free_port, wait_for  # noqa

SMTPD = os.path.join(BIN, "doppel-smtpd")
POLICY_SERVER = os.path.join(HERE, "..", "peers", "policy_server.py")
POSTGREY = "/usr/sbin/postgrey"
STRANGER = "127.0.0.2"
RCPT = "user@mx.example.test"
DEFAULT_ACTION = r"^451 4\.3\.5 .*Server configuration problem"

COMMON = ("mynetworks = 127.0.0.1/32\n"
          "smtpd_peername_lookup = no\n")


def start_policy(*args, port=0):
    """policy_server.py on loopback; (process, port)"""
    proc = subprocess.Popen([sys.executable, POLICY_SERVER, "--listen",
                             "127.0.0.1:%d" % port, "--lifetime", "300"]
                            + list(args), stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("ready "):
        proc.kill()
        bail("policy_server.py did not start: %r" % line)
    return proc, int(line.split()[1])


def stop(proc):
    """end a process we started, bounded"""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_master(params, services):
    """a master with doppel-smtpd workers; services: text with {port} and
    {stress_port}"""
    m = Master(COMMON + params, program=SMTPD)
    m.write_conf(COMMON + params, services.format(port=m.port,
                                                  stress_port=m.stress_port))
    if not m.start():
        diag(m.log()[-3000:])
        m.cleanup()
        bail("doppel-master did not start")
    return m


def until_rcpt(port, source=STRANGER, helo="client.example",
               sender="a@b.example", rcpt=RCPT, xclient=None):
    """a session up to RCPT; (client, RCPT reply)"""
    r = Raw(port, source=source)
    if xclient:
        r.cmd("EHLO proxy.example")
        like(r.cmd("XCLIENT " + xclient), r"^220 ", "XCLIENT accepted")
    like(r.cmd("EHLO " + helo), r"^250", "EHLO")
    like(r.cmd("MAIL FROM:<%s>" % sender), r"^250", "MAIL")
    return r, r.cmd("RCPT TO:<%s>" % rcpt)


def records(path):
    """what the recording policy server saw, oldest first"""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


# ------------------------------------------------- (a) postgrey
if not os.access(POSTGREY, os.X_OK):
    ok(True, "# SKIP no %s" % POSTGREY)
else:
    tmp = tempfile.mkdtemp(prefix="doppel-postgrey-")
    os.chmod(tmp, 0o755)
    dbdir = os.path.join(tmp, "db")
    os.mkdir(dbdir)
    empty = os.path.join(tmp, "whitelist")
    open(empty, "w").close()
    pg_port = free_port()
    cmd = [POSTGREY, "--inet=127.0.0.1:%d" % pg_port, "--delay=2",
           "--dbdir=" + dbdir, "--pidfile=" + os.path.join(tmp, "pid"),
           "--whitelist-clients=" + empty, "--whitelist-recipients=" + empty,
           "--auto-whitelist-clients=0"]
    if os.geteuid() == 0:
        shutil.chown(dbdir, "nobody")
        cmd += ["--user=nobody", "--group=nogroup"]
    pg_log = open(os.path.join(tmp, "postgrey.log"), "w")
    pg = subprocess.Popen(cmd, stdout=pg_log, stderr=pg_log)

    def pg_up():
        try:
            socket.create_connection(("127.0.0.1", pg_port), 0.5).close()
            return True
        except OSError:
            return False
    m = None
    try:
        if not ok(wait_for(pg_up, 20), "postgrey listens on 127.0.0.1:%d"
                  % pg_port):
            with open(os.path.join(tmp, "postgrey.log")) as f:
                diag(f.read())
        m = start_master("smtpd_recipient_restrictions = check_policy_service"
                         " inet:127.0.0.1:%d\n" % pg_port,
                         "127.0.0.1:{port} inet 1 smtpd\n")
        r, reply = until_rcpt(m.port)
        like(reply, r"^450 4\.\d\.\d .*Greylisted",
             "postgrey: the first attempt is greylisted with 450 (%s)" % reply)
        r.close()
        time.sleep(3.2)
        r, reply = until_rcpt(m.port)
        is_(reply, "250 2.1.5 Ok", "postgrey: the retry after the delay is"
            " accepted")
        like(r.cmd("DATA"), r"^354", "DATA")
        like(r.cmd("Subject: greylisted\r\n\r\nhello\r\n."),
             r"^250 2\.0\.0 Ok: queued as", "the message is queued")
        r.cmd("QUIT")
        r.close()
        with open(os.path.join(tmp, "postgrey.log")) as f:
            pg_text = f.read()
        like(pg_text, r"action=greylist, reason=new.*client_address=127\.0\.0"
             r"\.2.*sender=a@b\.example, recipient=" + RCPT,
             "postgrey logged the triplet doppel sent")
        like(pg_text, r"action=pass, reason=triplet found",
             "postgrey passed the retry")
    finally:
        if m is not None:
            m.cleanup()
        stop(pg)
        pg_log.close()
        shutil.rmtree(tmp, ignore_errors=True)

# ------------------------------ (b) what a policy server is told
tmp = tempfile.mkdtemp(prefix="doppel-policy-")
rec = os.path.join(tmp, "requests.json")
policy, policy_port = start_policy("--record", rec)
m = None
try:
    m = start_master(
        "smtpd_recipient_restrictions = check_policy_service"
        " inet:127.0.0.1:%d\n" % policy_port,
        "127.0.0.1:{port} inet 1 smtpd -p normal\n"
        "127.0.0.1:{stress_port} inet 1 smtpd -p stress"
        " -o smtpd_authorized_xclient_hosts=127.0.0.0/8\n")
    r, reply = until_rcpt(m.port)
    is_(reply, "250 2.1.5 Ok", "normal port: DUNNO from the policy server")
    r.close()
    r, reply = until_rcpt(m.stress_port)
    is_(reply, "250 2.1.5 Ok", "stress port: DUNNO from the policy server")
    r.close()
    r, reply = until_rcpt(m.stress_port, xclient="ADDR=192.0.2.9 NAME="
                          "xc.example PORT=3456 LOGIN=joe")
    is_(reply, "250 2.1.5 Ok", "after XCLIENT: DUNNO")
    r.close()
    wait_for(lambda: len(records(rec)) >= 3, 10)
    got = records(rec)
    is_(len(got), 3, "the policy server got three requests")
    by_port = {}
    for a in got:
        by_port.setdefault(a.get("server_port"), []).append(a)
    normal = (by_port.get(str(m.port)) or [{}])[0]
    stressed = (by_port.get(str(m.stress_port)) or [{}, {}])
    diag("normal port request: %r" % (normal,))
    is_(normal.get("stress"), "", "normal port: stress= is sent, empty")
    is_(normal.get("personality"), "normal", "normal port: personality=normal")
    is_(normal.get("client_class"), "default", "client_class=default")
    is_(normal.get("request"), "smtpd_access_policy", "request=")
    is_(normal.get("protocol_state"), "RCPT", "protocol_state=RCPT")
    is_(normal.get("protocol_name"), "ESMTP", "protocol_name=ESMTP")
    is_(normal.get("helo_name"), "client.example", "helo_name=")
    is_(normal.get("sender"), "a@b.example", "sender=")
    is_(normal.get("recipient"), RCPT, "recipient=")
    is_(normal.get("recipient_count"), "0", "recipient_count=0 at RCPT")
    is_(normal.get("client_address"), STRANGER, "client_address=")
    ok(normal.get("client_port", "0") != "0", "client_port= is set")
    is_(normal.get("server_address"), "127.0.0.1", "server_address=")
    ok(normal.get("instance"), "instance= is set")
    is_(normal.get("encryption_keysize"), "0", "encryption_keysize=0 in clear")
    for name in ("queue_id", "client_name", "reverse_client_name",
                 "sasl_method", "sasl_username", "sasl_sender", "size",
                 "ccert_subject", "ccert_issuer", "ccert_fingerprint",
                 "ccert_pubkey_fingerprint", "encryption_protocol",
                 "encryption_cipher", "etrn_domain", "policy_context",
                 "compatibility_level", "mail_version"):
        if name not in normal:
            ok(False, "attribute %s= is sent" % name)
            break
    else:
        ok(True, "every other Postfix attribute is sent")
    first = stressed[0] if len(stressed) > 0 else {}
    is_(first.get("stress"), "yes", "stress port: stress=yes")
    is_(first.get("personality"), "stress", "stress port: personality=stress")
    is_(first.get("client_class"), "default", "stress port: client_class")
    ok(first.get("instance") and first.get("instance") != normal.get(
        "instance"), "each session has its own instance")
    xc = stressed[1] if len(stressed) > 1 else {}
    is_(xc.get("client_address"), "192.0.2.9", "XCLIENT: client_address=")
    is_(xc.get("client_name"), "xc.example", "XCLIENT: client_name=")
    is_(xc.get("client_port"), "3456", "XCLIENT: client_port=")
    is_(xc.get("sasl_username"), "joe", "XCLIENT LOGIN: sasl_username=")
    is_(xc.get("stress"), "yes", "XCLIENT: still stressed")
    # one worker per service: both stress-port sessions shared a connection
    is_(xc.get("_conn"), first.get("_conn"),
        "the worker reused its policy server connection")
finally:
    if m is not None:
        m.cleanup()
    stop(policy)
    shutil.rmtree(tmp, ignore_errors=True)

# --------------------- (c) stopped, hanging, garbage: the default action
policy_port = free_port()
m = start_master(
    "smtpd_recipient_restrictions = permit_mynetworks, check_policy_service"
    " inet:127.0.0.1:%d\n"
    "smtpd_policy_service_timeout = 1s\n" % policy_port,
    "127.0.0.1:{port} inet 1 smtpd\n")
policy = None
try:
    # stopped: nothing listens
    r, reply = until_rcpt(m.port)
    like(reply, DEFAULT_ACTION, "server stopped: the default action (%s)"
         % reply)
    r.close()
    ok(wait_for(lambda: "policy inet:127.0.0.1:%d: cannot connect" % policy_port
                in m.log() and "using default action 451 4.3.5" in m.log(), 5),
       "server stopped: logged")

    # hanging: one session waits, another completes a message meanwhile
    policy, _ = start_policy("--mode", "hang", "--idle", "30",
                             port=policy_port)
    t0 = time.monotonic()
    a = Raw(m.port, source=STRANGER)
    a.cmd("EHLO slow.example")
    a.cmd("MAIL FROM:<a@b.example>")
    a.send("RCPT TO:<%s>\r\n" % RCPT)
    time.sleep(0.3)
    b = Raw(m.port)
    like(b.cmd("EHLO fast.example"), r"^250", "meanwhile: EHLO")
    is_(b.cmd("MAIL FROM:<b@b.example>"), "250 2.1.0 Ok", "meanwhile: MAIL")
    is_(b.cmd("RCPT TO:<%s>" % RCPT), "250 2.1.5 Ok", "meanwhile: RCPT")
    like(b.cmd("DATA"), r"^354", "meanwhile: DATA")
    like(b.cmd("Subject: meanwhile\r\n\r\nstill flowing\r\n."),
         r"^250 2\.0\.0 Ok: queued as",
         "meanwhile: the message is queued on the same worker")
    b.cmd("QUIT")
    b.close()
    readable, _, _ = select.select([a.sock], [], [], 0)
    ok(not readable and not a.buf, "... while the first session still waits"
       " (%.1fs)" % (time.monotonic() - t0))
    reply = a.reply()
    took = time.monotonic() - t0
    like(reply, DEFAULT_ACTION, "server hangs: the default action (%s)" % reply)
    ok(1.5 < took < 9, "after the timeout, per attempt (%.1fs)" % took)
    ok(wait_for(lambda: "no reply within 1s" in m.log(), 5),
       "server hangs: logged")
    a.close()
    pids = set(re.findall(r"doppel/smtpd\[(\d+)\]: connect from \S*\["
                          r"127\.0\.0\.[12]\]", m.log()))
    is_(len(pids), 1, "one smtpd worker served both sessions (%s)"
        % sorted(pids))
    stop(policy)
    policy = None

    # garbage
    policy, _ = start_policy("--mode", "garbage", port=policy_port)
    r, reply = until_rcpt(m.port)
    like(reply, DEFAULT_ACTION, "server answers garbage: the default action")
    r.close()
    ok(wait_for(lambda: "garbage reply: not name=value" in m.log(), 5),
       "garbage: logged")
    like(m.log(), r"warning: policy inet:127\.0\.0\.1:%d: garbage reply: .*"
         r"using default action 451 4\.3\.5 Server configuration problem"
         % policy_port, "the log line names the server and the default action")
finally:
    stop(policy)
    log = m.log()
    m.cleanup()
ok("Sanitizer" not in log and "runtime error" not in log,
   "no sanitizer report in the log")
done()
