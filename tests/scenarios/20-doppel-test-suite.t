#!/usr/bin/env python3
# 20-doppel-test-suite - the SMTP dialog scenarios written as doppel test
# scripts (tests/scenarios/dt/*.dt), run against the real doppel-smtpd
# under doppel-master, and the personality matrix (normal against stress).
#
# The master gets one service per configuration the scripts need; each
# script reaches its service by a variable given with -D (see
# tests/scenarios/dt/README.md). Every port is on loopback; every wait is
# bounded (doppel test's own timeouts, and a timeout on each run here).
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from masterlib import BIN, Master, wait_for  # noqa

DT = os.path.join(HERE, "dt")
DOPPEL = os.path.join(BIN, "doppel")
SMTPD = os.path.join(BIN, "doppel-smtpd")
RUN_TIMEOUT = 300

XCLIENT = "-o smtpd_authorized_xclient_hosts=127.0.0.0/8"

# the whole server: relay control as in the Python scenarios, a short
# stress timeout, a banner that tells the personality and a stricter
# recipient list under stress. The error limits are not set here
# (setting smtpd_X sets stress_X too, see DESIGN.md), so the stress port
# keeps its built-in hard error and junk command limits of 1; the normal
# port gets lenient ones by -o.
PARAMS = ("mynetworks = 127.0.0.1/32\n"
          "relay_domains = relay.example\n"
          "stress_smtpd_timeout = 3s\n"
          "stress_smtpd_recipient_restrictions = check_recipient_access"
          " inline:{ { list@mx.example.test=450 4.7.1 busy, try later } }\n"
          "stress_smtpd_banner = $myhostname ESMTP doppel (stress)\n"
          "master_stress_clear_delay = 1s\n")

# variable name -> services.cf options after "smtpd"; "server" is the
# normal port that a bare "connect" reaches
SERVICES = [
    ("server", XCLIENT + " -o smtpd_hard_error_limit=100"
     " -o smtpd_soft_error_limit=100 -o smtpd_junk_command_limit=100"),
    ("stress", "-p stress " + XCLIENT),
    ("hard3", "-o smtpd_hard_error_limit=3"),
    ("junk2", "-o smtpd_junk_command_limit=2 -o smtpd_hard_error_limit=2"),
    ("strict", "-o disable_vrfy_command=yes -o smtpd_helo_required=yes "
     + XCLIENT),
    ("limits", "-o message_size_limit=20000 -o smtpd_recipient_limit=2"),
    ("idle", "-o smtpd_timeout=2s"),
    ("allowbare", "-o smtpd_forbid_bare_newline=no"),
]
# TLS: doppel-smtpd takes its certificate from doppel.cf only (a
# service's -o smtpd_tls_cert_file is not honoured yet, see
# smtpd_server.c), so the "tls" port gets a master of its own.


def tap_passthrough(out, base):
    """Renumber doppel test's TAP after `base` points; (count, failed)."""
    n = failed = 0
    for line in out.splitlines():
        m = re.match(r"^(not ok|ok) \d+(.*)$", line)
        if m:
            n += 1
            if m.group(1) == "not ok":
                failed += 1
            print("%s %d%s" % (m.group(1), base + n, m.group(2)), flush=True)
        elif line.startswith("1.."):
            continue
        else:
            print("# " + line if not line.startswith("#") else line,
                  flush=True)
    return n, failed


def pick_ports(names, taken):
    """distinct free loopback ports, none of them in taken"""
    socks, ports = [], {}
    try:
        while len(ports) < len(names):
            sk = socket.socket()
            sk.bind(("127.0.0.1", 0))
            socks.append(sk)            # held open: no port twice
            port = sk.getsockname()[1]
            if port not in taken:
                ports[names[len(ports)]] = port
    finally:
        for sk in socks:
            sk.close()
    return ports


def start_masters(cert, key):
    """(master, TLS master, ports by name, up); a port taken by someone
    else between choosing and binding makes it try again (3 times)"""
    for attempt in range(3):
        m = Master(PARAMS, program=SMTPD)
        mtls = Master(PARAMS + "smtpd_tls_cert_file = %s\n"
                      "smtpd_tls_key_file = %s\n" % (cert, key),
                      program=SMTPD)
        names = [name for name, _ in SERVICES] + ["tls"]
        ports = pick_ports(names, {m.metrics_port, mtls.metrics_port})
        m.write_conf(PARAMS, "".join(
            "127.0.0.1:%d inet 1 smtpd %s\n" % (ports[name], opts)
            for name, opts in SERVICES))
        mtls.write_conf(PARAMS + "smtpd_tls_cert_file = %s\n"
                        "smtpd_tls_key_file = %s\n" % (cert, key),
                        "127.0.0.1:%d inet 1 smtpd\n" % ports["tls"])
        up = m.start() and mtls.start() and all(
            wait_for(lambda p=p: (m.service(p) or mtls.service(p))
                     is not None, 10)
            for p in ports.values())
        if up or attempt == 2 or "already in use" not in m.log() + mtls.log():
            return m, mtls, ports, up
        m.cleanup()
        mtls.cleanup()
    return None                         # not reached


def doppel_test(args, env):
    """run doppel test in dt/, bounded; a CompletedProcess-like result"""
    try:
        return subprocess.run([DOPPEL, "test"] + args, capture_output=True,
                              text=True, env=env, cwd=DT,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout
        return subprocess.CompletedProcess(
            e.cmd, 124, out or "",
            "doppel test did not finish in %ds" % RUN_TIMEOUT)


def matrix_rows(table):
    """(step, normal cell, stress cell, differs) per step row of the table"""
    rows = []
    lines = table.splitlines()
    head = next((l for l in lines if l.startswith("script / step")), None)
    if head is None:
        return rows
    a, b = head.index("normal"), head.index("stress")
    for line in lines:
        m = re.match(r"^  +\d+ (.*)$", line[:a])
        if not m:
            continue
        rows.append((m.group(1).strip(), line[a:b].strip(),
                     line[b:].rstrip().rstrip("*").strip(),
                     line.rstrip().endswith("*")))
    return rows


def main():
    # by their names in dt/, so that TAP and the table say "dialog.dt"
    scripts = sorted(os.path.basename(f)
                     for f in glob.glob(os.path.join(DT, "*.dt")))
    # points: one per script, master start, the matrix (7), clean exit
    total = len(scripts) + 9
    print("1..%d" % total, flush=True)
    count = [0]
    failed = [0]

    def ok(cond, name, diag=""):
        count[0] += 1
        if not cond:
            failed[0] += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", count[0], name),
              flush=True)
        if not cond and diag:
            for line in str(diag).splitlines():
                print("#   " + line, flush=True)
        return cond

    certdir = tempfile.mkdtemp(prefix="doppel-dt-cert-")
    cert = os.path.join(certdir, "cert.pem")
    key = os.path.join(certdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=mx.example.test"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    os.chmod(key, 0o644)            # workers may run as mail_owner
    os.chmod(certdir, 0o755)

    m, mtls, ports, up = start_masters(cert, key)
    try:
        if not ok(up, "doppel-master with doppel-smtpd on %d services"
                  % len(ports), m.log()[-4000:] + mtls.log()[-4000:]):
            for _ in range(total - 1):
                ok(False, "no server")
            sys.exit(1)
        defines = []
        for name, port in ports.items():
            if name != "server":
                defines += ["-D", "%s=127.0.0.1:%d" % (name, port)]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")

        # every script against the normal port, TAP passed through
        p = doppel_test(["--tap", "--jobs", "4", "--server",
                         "127.0.0.1:%d" % ports["server"]] + defines + scripts,
                        env)
        n, bad = tap_passthrough(p.stdout, count[0])
        count[0] += n
        failed[0] += bad
        if p.stderr.strip():
            print("# doppel test stderr:\n# " +
                  p.stderr.strip().replace("\n", "\n# "), flush=True)
        while n < len(scripts):         # keep the plan if it stopped early
            n += 1
            ok(False, "doppel test did not report a script (exit %d)"
               % p.returncode)

        # the personality matrix
        matrix = "normal=127.0.0.1:%d,stress=127.0.0.1:%d" % (
            ports["server"], ports["stress"])
        p = doppel_test(["--matrix", matrix] + defines + ["personality.dt"],
                        env)
        table = p.stdout
        for line in table.splitlines():     # the table, for people
            print("# " + line, flush=True)
        ok(p.returncode == 0, "matrix: personality.dt passes against both "
           "personalities", table + p.stderr)
        ok(re.search(r"personality\.dt\s+PASS\s+PASS\s*$", table, re.M),
           "matrix: one PASS column per target", table)
        rows = matrix_rows(table)
        errs = [r for r in rows if r[0] == "expect 250|421"]
        ok(len(errs) == 2 and errs[0][1:] == ("ok 250 2.0.0", "ok 421 4.7.0",
                                              True),
           "matrix: after one error the normal personality answers 250, "
           "the stress one (smtpd_hard_error_limit 1) 421 4.7.0: the row "
           "differs", table)
        refused = [r for r in rows
                   if r[0].startswith("expect 554 5.7.1 /Relay")]
        ok(refused == [(refused[0][0], "ok 554 5.7.1", "ok 554 5.7.1", False)]
           if refused else False,
           "matrix: the stranger (XCLIENT) may not relay under either "
           "personality: the same cell", table)
        ok(len(errs) == 2 and errs[1][1:] == ("ok 250 2.1.5", "ok 421 4.7.0",
                                              True),
           "matrix: after the refusal only stress ends the session", table)
        lists = [r for r in rows if r[0] == "expect 250|450"]
        ok(lists and lists[0][1:] == ("ok 250 2.1.5", "ok 450 4.7.1", True),
           "matrix: each personality has its own restriction lists", table)
        idle = [r for r in rows if r[0].startswith("expect 421 4.4.2 within")]
        ok(idle and idle[0][1:] == ("", "ok 421 4.4.2", True),
           "matrix: only the stress personality times out (3s)", table)
    finally:
        log = m.log() + mtls.log()
        m.cleanup()
        mtls.cleanup()
        shutil.rmtree(certdir, ignore_errors=True)
    ok("Sanitizer" not in log and "runtime error" not in log,
       "no sanitizer report in the master's log", log[-4000:])
    sys.exit(1 if failed[0] or count[0] != total else 0)


main()
