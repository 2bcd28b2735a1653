"""masterlib - what the doppel-master system tests share (imported, not run).

A Master runs doppel-master in a temporary configuration directory on
free loopback ports, with the fake worker of tests/peers/fake_smtpd
unless told otherwise; TAP helpers print the results. Every wait is
bounded.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from doppel_harness import free_port  # noqa: E402,F401 (for the tests)
BUILD = os.environ.get("DOPPEL_BUILD", os.path.join(SRC, "build", "san"))
BIN = os.path.join(BUILD, "bin")
FAKE = os.path.join(BUILD, "peers", "fake_smtpd")
# DOPPEL_WRAPPER: a command in front of doppel-master (make check-valgrind
# runs it under valgrind --trace-children=yes, so its workers too);
# DOPPEL_TIME_SCALE multiplies the time limits of such a slow run.
WRAPPER = shlex.split(os.environ.get("DOPPEL_WRAPPER", ""))
TIME_SCALE = float(os.environ.get("DOPPEL_TIME_SCALE") or 1)


class Tap:
    """plan / ok / is_ / like / finish, TAP on stdout"""

    def __init__(self, n):
        self.n = 0
        self.failed = 0
        print("1..%d" % n, flush=True)

    def ok(self, cond, name, diag=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name),
              flush=True)
        if not cond:
            self.failed += 1
            for line in str(diag).splitlines():
                print("#   " + line, flush=True)
        return cond

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def like(self, text, needle, name):
        return self.ok(needle in text, name,
                       "text: %r\ndoes not contain: %r" % (text[-2000:], needle))

    def finish(self):
        sys.exit(1 if self.failed else 0)




def wait_for(cond, timeout=5.0, step=0.05):
    """poll cond() until true or timeout (times DOPPEL_TIME_SCALE);
    returns its last value"""
    end = time.monotonic() + timeout * TIME_SCALE
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class Master:
    """a master in a temp directory; .start(), .status(), .stop()"""

    def __init__(self, params="", services=None, workers=1, program=None):
        self.dir = tempfile.mkdtemp(prefix="doppel-master-")
        os.chmod(self.dir, 0o755)      # workers may run as mail_owner
        self.port = free_port()
        self.stress_port = free_port()
        self.metrics_port = free_port()
        for d in ("run", "spool", "lib"):
            os.mkdir(os.path.join(self.dir, d))
        self.base_params = (
            "myhostname = mx.example.test\n"
            "queue_directory = %s/spool\n"
            "data_directory = %s/lib\n"
            "run_directory = %s/run\n"
            "mail_owner = nobody\n"
            "metrics_listen = 127.0.0.1:%d\n"
            % (self.dir, self.dir, self.dir, self.metrics_port))
        self.write_conf(params, services, workers)
        self.env = dict(os.environ)
        self.env["DOPPEL_SMTPD_PROGRAM"] = program or FAKE
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = None
        self.logpath = os.path.join(self.dir, "master.log")

    def write_conf(self, params="", services=None, workers=1):
        with open(os.path.join(self.dir, "doppel.cf"), "w") as f:
            f.write(self.base_params + params)
        if services is None:
            services = ("127.0.0.1:%d inet %d smtpd\n"
                        "127.0.0.1:%d inet 1 smtpd -p stress"
                        " -o smtpd_authorized_xclient_hosts=127.0.0.0/8\n"
                        % (self.port, workers, self.stress_port))
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(services)

    def doppel(self, *args, timeout=30):
        """run the doppel command on this directory"""
        r = subprocess.run([os.path.join(BIN, "doppel"), "-c", self.dir]
                           + list(args), capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def start(self):
        """doppel-master -f in the background; wait for the socket"""
        log = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            WRAPPER + [os.path.join(BIN, "doppel-master"), "-c", self.dir,
                       "-f"],
            stdout=log, stderr=log, env=self.env)
        log.close()
        return wait_for(lambda: self.status() is not None, 30)

    def status(self):
        """status --json as a dict, or None"""
        try:
            code, out, _ = self.doppel("status", "--json", timeout=10)
        except subprocess.TimeoutExpired:
            return None
        if code != 0:
            return None
        return json.loads(out)

    def service(self, port=None):
        st = self.status()
        if st is None:
            return None
        want = "127.0.0.1:%d" % (port or self.port)
        for s in st["services"]:
            if s["listen"] == want:
                return s
        return None

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except OSError:
            return ""

    def workers(self):
        """pids of the master's children"""
        if self.proc is None:
            return []
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                           capture_output=True, text=True)
        return sorted(int(x) for x in r.stdout.split())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(10) is None:
                self.proc.kill()
                self.proc.wait(5)
        # make check-valgrind: keep a log that holds a valgrind report
        where = os.environ.get("DOPPEL_REPORT_DIR")
        if where and re.search(r"^==\d+== ", self.log(), re.M):
            shutil.copy(self.logpath, os.path.join(
                where, os.path.basename(self.dir) + ".log"))
        shutil.rmtree(self.dir, ignore_errors=True)


def connect(port, timeout=3.0, source=None):
    """a client socket (from the loopback address source, if given) and
    the server's first line"""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source
                                 else None)
    return s, readline(s, timeout)


def readline(s, timeout=3.0):
    """one line from the server, or '' on EOF / timeout"""
    s.settimeout(timeout * TIME_SCALE)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                break
            buf += c
    except (socket.timeout, OSError):
        pass
    return buf.decode("ascii", "replace").strip()


def command(s, line, timeout=3.0):
    """send a command, return the reply line ('' if none)"""
    try:
        s.sendall(line.encode() + b"\r\n")
    except OSError:
        return ""
    return readline(s, timeout)


def submit(port, sender, rcpts, body, helo="client.example"):
    """one message over SMTP (rcpts: an address or a list); the queue ID
    from the 250 reply, or None, with the reason as a TAP comment, when
    the server did not queue it"""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")

        def reply():
            out = ""
            while True:
                line = f.readline(2000).decode("latin-1")
                out += line
                if len(line) < 4 or line[3] != "-":
                    return out
        reply()
        for cmd in (["EHLO " + helo, "MAIL FROM:<%s>" % sender]
                    + ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]):
            s.sendall(cmd.encode() + b"\r\n")
            reply()
        s.sendall(body + b".\r\n")
        last = reply()
        s.sendall(b"QUIT\r\n")
        s.close()
    except OSError as e:
        print("# send failed: %r" % (e,), flush=True)
        return None
    m = re.search(r"queued as (\w+)", last)
    return m.group(1) if m else None


class NextHop:
    """an SMTP next hop on loopback for delivery tests, a thread per
    session. end_of_data(conn, session_number) decides each message after
    its final dot: True keeps it (in .delivered) and answers 250, False
    hangs up without a reply. .sessions counts sessions, .open and
    .max_open the ones open now and at most."""

    name = "hop"
    ok_reply = b"250 2.0.0 Ok\r\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.sessions = self.open = self.max_open = 0
        self.delivered = []
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def end_of_data(self, conn, session):
        return True

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        with self.lock:
            self.sessions += 1
            number = self.sessions
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        c.settimeout(30)
        f = c.makefile("rb")
        data = None
        try:
            c.sendall(b"220 %s ESMTP\r\n" % self.name.encode())
            for _ in range(100000):
                line = f.readline(2000)
                if not line:
                    return
                if data is not None:
                    if line != b".\r\n":
                        data.append(line)
                    elif not self.end_of_data(c, number):
                        return
                    else:
                        with self.lock:
                            self.delivered.append(b"".join(data))
                        c.sendall(self.ok_reply)
                        data = None
                    continue
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    c.sendall(b"250-%s\r\n250 PIPELINING\r\n"
                              % self.name.encode())
                elif cmd == b"DATA":
                    c.sendall(b"354 go\r\n")
                    data = []
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 Ok\r\n")
        except OSError:
            return
        finally:
            with self.lock:
                self.open -= 1
            c.close()
