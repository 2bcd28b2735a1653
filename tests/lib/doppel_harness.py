"""doppel_harness - run doppel-smtpd in a temp dir and talk to it (stdlib only).

Scenario tests (tests/scenarios/NN-name.t) import this module. It gives
them TAP output (plan, ok, is_, like, done), a Server that starts
doppel-smtpd from $DOPPEL_BUILD/bin (default <repo>/build/san) in a fresh
temporary directory with a generated doppel.cf and services.cf on a free
loopback port, waits (bounded) until it listens, captures its log, and
stops it; a Raw client for byte-exact dialogs; and readers for queue
files. Every wait here has a time limit; everything is on loopback.
"""

import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DOPPEL_BUILD") or os.path.join(REPO, "build", "san")
SMTPD = os.path.join(BUILD, "bin", "doppel-smtpd")

# DOPPEL_WRAPPER is a command put in front of every server this starts
# (make check-valgrind: "valgrind --leak-check=full ..."); such a slow
# run sets DOPPEL_TIME_SCALE, which multiplies the time limits here.
WRAPPER = shlex.split(os.environ.get("DOPPEL_WRAPPER", ""))
TIME_SCALE = float(os.environ.get("DOPPEL_TIME_SCALE") or 1)
START_TIMEOUT = 15.0 * TIME_SCALE
STOP_TIMEOUT = 20.0 * TIME_SCALE
IO_TIMEOUT = 10.0 * TIME_SCALE

# ---------------------------------------------------------------- TAP

_count = 0
_failed = 0
_planned = None


def plan(n):
    """Announce how many tests will run."""
    global _planned
    _planned = n
    print("1..%d" % n, flush=True)


def diag(msg):
    """A comment line for people (TAP ignores it)."""
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def ok(cond, name=""):
    """One test: passes when cond is true."""
    global _count, _failed
    _count += 1
    if not cond:
        _failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", _count, name),
          flush=True)
    return bool(cond)


def is_(got, expected, name=""):
    """One test: got == expected, with both shown on failure."""
    r = ok(got == expected, name)
    if not r:
        diag("     got: %r" % (got,))
        diag("expected: %r" % (expected,))
    return r


def like(text, pattern, name=""):
    """One test: the regular expression matches somewhere in text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(pattern, bytes):
        pattern = pattern.decode("utf-8", "replace")
    r = ok(text is not None and re.search(pattern, text, re.S) is not None,
           name)
    if not r:
        diag("    text: %r" % (text[:2000] if text else text,))
        diag(" pattern: %r" % (pattern,))
    return r


def done():
    """End of the script: the plan if none was given, and the exit code."""
    if _planned is None:
        print("1..%d" % _count, flush=True)
    elif _planned != _count:
        diag("planned %d tests but ran %d" % (_planned, _count))
    sys.exit(1 if _failed or (_planned is not None and _planned != _count)
             else 0)


def bail(msg):
    """Stop the whole test script."""
    print("Bail out! " + msg, flush=True)
    sys.exit(255)


# ------------------------------------------------------------ helpers

def ephemeral_range():
    """the kernel's range of ports for outgoing connections"""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback TCP port that was free a moment ago, taken from outside
    the ephemeral range: a port the kernel handed out by bind(0) may be
    handed again, a moment later, to some client connection of another
    test as its source port, and the server that wanted it fails to
    listen. Random, so that tests running at once rarely pick the same."""
    low, high = ephemeral_range()
    pool = [(1024 + 8192, low)] if low > 1024 + 8192 + 1000 else []
    if high < 65535 - 1000:
        pool.append((high + 1, 65536))
    for _ in range(200):
        if not pool:
            break
        start, end = random.choice(pool)
        port = random.randrange(start, end)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until true or timeout seconds (times TIME_SCALE);
    returns its last value."""
    end = time.monotonic() + timeout * TIME_SCALE
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def keep_report(text, name):
    """With $DOPPEL_REPORT_DIR set: if a log holds valgrind's lines
    ("==PID== ..."), save it there as <name>.log for a person to read."""
    where = os.environ.get("DOPPEL_REPORT_DIR")
    if where and re.search(r"^==\d+== ", text, re.M):
        path = os.path.join(where, os.path.basename(name) + ".log")
        with open(path, "w") as f:
            f.write(text)


def make_cert(directory, cn="mx.test.example"):
    """A self-signed certificate and key made now with openssl(1)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + cn],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    return cert, key


# ---------------------------------------------------------- queue files

def read_queue_file(path):
    """Parse a queue file: (content bytes, {name: [values...]})."""
    with open(path, "rb") as f:
        data = f.read()
    nl = data.index(b"\n")
    pos = nl + 1
    content = b""
    env = {}
    while pos < len(data):
        nl = data.index(b"\n", pos)
        head = data[pos:nl].decode("ascii")
        name, length = head.rsplit(" ", 1)
        length = int(length)
        value = data[nl + 1:nl + 1 + length]
        pos = nl + 1 + length + 1
        if name == "content":
            content += value
        else:
            env.setdefault(name, []).append(value.decode("utf-8", "replace"))
        if name == "end":
            break
    return content, env


def split_received(content):
    """(Received: header, rest of the content) of a queued message."""
    m = re.match(rb"(Received: .*?\r\n(?:\t.*?\r\n)*)", content, re.S)
    if not m:
        return b"", content
    return m.group(1), content[m.end():]


# -------------------------------------------------------------- server

class Server:
    """doppel-smtpd on a free loopback port in a fresh temporary directory.

    params: extra doppel.cf lines (dict or text); services: services.cf
    text where {port} is replaced; args: extra command line arguments.
    """

    def __init__(self, params=None, services="", args=(), queue_dir=None,
                 name="smtpd"):
        self.dir = tempfile.mkdtemp(prefix="doppel-%s-" % name)
        self.port = free_port()
        self.queue = queue_dir or os.path.join(self.dir, "queue")
        self.logpath = os.path.join(self.dir, "smtpd.log")
        self.proc = None
        self.args = list(args)
        cf = ["myhostname = mx.test.example",
              "queue_directory = " + self.queue,
              "data_directory = " + os.path.join(self.dir, "data"),
              "run_directory = " + os.path.join(self.dir, "run")]
        if isinstance(params, dict):
            cf += ["%s = %s" % kv for kv in params.items()]
        elif params:
            cf.append(params)
        with open(os.path.join(self.dir, "doppel.cf"), "w") as f:
            f.write("\n".join(cf) + "\n")
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(services.replace("{port}", str(self.port)))

    def start(self):
        """Run it; wait until the port answers. Bails out on failure."""
        if not os.access(SMTPD, os.X_OK):
            bail("no %s (build it: make SANITIZE=1 BUILD=... all)" % SMTPD)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.log_f = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            WRAPPER + [SMTPD, "-c", self.dir, "--listen",
                       "127.0.0.1:%d" % self.port, "--foreground"] + self.args,
            stdin=subprocess.DEVNULL, stdout=self.log_f, stderr=self.log_f,
            env=env)

        def up():
            if self.proc.poll() is not None:
                return "dead"
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return "up"
            except OSError:
                return None
        state = wait_for(up, START_TIMEOUT)
        if state != "up":
            bail("doppel-smtpd did not start (%s):\n%s" % (state, self.log()))
        # the probe connection above leaves a log line; let it settle
        wait_for(lambda: "disconnect from" in self.log()
                 or "lost connection" in self.log(), 5)
        return self

    def log(self):
        """Everything it logged so far."""
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=IO_TIMEOUT):
        """Wait until a log line matches; returns the match or None."""
        return wait_for(lambda: re.search(pattern, self.log()), timeout)

    def incoming(self):
        """Paths of the files in incoming/, oldest name first."""
        d = os.path.join(self.queue, "incoming")
        try:
            return sorted(os.path.join(d, n) for n in os.listdir(d))
        except OSError:
            return []

    def tmp_files(self):
        """Names in tmp/ (partial files would show here)."""
        try:
            return os.listdir(os.path.join(self.queue, "tmp"))
        except OSError:
            return []

    def queued(self, qid):
        """(content, envelope) of incoming/QID."""
        return read_queue_file(os.path.join(self.queue, "incoming", qid))

    def stop(self):
        """SIGTERM, bounded wait, then report sanitizer findings."""
        if self.proc is None:
            return True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log_f.close()
        rc = self.proc.returncode
        self.proc = None
        text = self.log()
        clean = ("Sanitizer" not in text and "runtime error" not in text
                 and rc == 0)
        if not clean:
            diag("doppel-smtpd exit %s; log:\n%s" % (rc, text[-6000:]))
        return clean

    def cleanup(self):
        """Remove the temporary directory (keeping a log that holds a
        valgrind report in $DOPPEL_REPORT_DIR, for make check-valgrind)."""
        keep_report(self.log(), self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        ok(self.stop(), "server exits cleanly (no sanitizer report)")
        self.cleanup()
        return False


# ------------------------------------------------------------ raw client

class Raw:
    """A byte-exact SMTP client over a plain socket."""

    def __init__(self, port, timeout=IO_TIMEOUT, greet=True, source=None):
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def line(self):
        """One reply line without CRLF."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """A whole reply (multi-line joined with \\n), or "" at EOF."""
        lines = []
        try:
            while True:
                line = self.line()
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    break
        except (EOFError, OSError):
            pass
        return "\n".join(lines)

    def cmd(self, text):
        """Send one command line, return its reply."""
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=IO_TIMEOUT):
        """True if the server closes the connection within timeout."""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                self.sock.settimeout(max(0.05, end - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True
        return False

    def rest(self):
        """What is buffered, as text."""
        return self.buf.decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def here():
    """Make tests/lib importable from a scenario script."""
    return os.path.dirname(os.path.abspath(__file__))
