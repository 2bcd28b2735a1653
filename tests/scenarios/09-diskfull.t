#!/usr/bin/env python3
# 09-diskfull - a full queue file system, and one that turns read-only
# (an I/O error), answer 452 4.3.1 and leave nothing.
import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok  # noqa

mnt = tempfile.mkdtemp(prefix="doppel-full-")
res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700",
                      "doppel-test", mnt], capture_output=True, timeout=30)
if res.returncode != 0:
    ok(False, "mount a 256k tmpfs for the queue (needs root): %s"
       % res.stderr.decode("utf-8", "replace").strip())
    shutil.rmtree(mnt, ignore_errors=True)
    done()

queue = os.path.join(mnt, "queue")
try:
    with Server({"message_size_limit": "10m"}, queue_dir=queue,
                name="diskfull") as srv:
        r = Raw(srv.port)
        r.cmd("EHLO full.example")
        r.cmd("MAIL FROM:<f@example.org>")
        r.cmd("RCPT TO:<a@example.net>")
        is_(r.cmd("DATA")[:3], "354", "DATA")
        r.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 1024
               + b".\r\n")
        is_(r.reply(), "452 4.3.1 Insufficient system storage",
            "disk full: 452 4.3.1")
        is_(srv.tmp_files(), [], "no partial file in tmp/")
        is_(srv.incoming(), [], "nothing in incoming/")
        ok(srv.wait_log(r"error: \w{20}: queue file"), "write error logged")
        is_(r.cmd("NOOP"), "250 2.0.0 Ok", "session goes on")
        r.cmd("MAIL FROM:<f@example.org>")
        r.cmd("RCPT TO:<a@example.net>")
        r.send(b"BDAT 600000 LAST\r\n" + b"b" * 600000)
        is_(r.reply(), "452 4.3.1 Insufficient system storage",
            "BDAT on a full disk: 452 4.3.1")
        is_(srv.tmp_files(), [], "no partial file after BDAT")
        r.cmd("MAIL FROM:<f@example.org>")
        r.cmd("RCPT TO:<a@example.net>")
        r.cmd("DATA")
        r.send(b"Subject: small\r\n\r\nfits\r\n.\r\n")
        like(r.reply(), r"^250 2\.0\.0 Ok: queued as \w{20}$",
             "space came back: a small message is queued")
        is_(len(srv.incoming()), 1, "one file in incoming/")

        # an I/O error: the file system turns read-only under the server
        ro = subprocess.run(["mount", "-o", "remount,ro", mnt],
                            capture_output=True, timeout=30)
        ok(ro.returncode == 0, "the queue file system is now read-only (%s)"
           % ro.stderr.decode("utf-8", "replace").strip())
        r.cmd("MAIL FROM:<f@example.org>")
        r.cmd("RCPT TO:<a@example.net>")
        reply = r.cmd("DATA")
        if reply.startswith("354"):
            r.send(b"Subject: ro\r\n\r\nnowhere to go\r\n.\r\n")
            reply = r.reply()
        is_(reply, "452 4.3.1 Insufficient system storage",
            "a read-only queue: 452 4.3.1")
        subprocess.run(["mount", "-o", "remount,rw", mnt], timeout=30)
        is_(srv.tmp_files(), [], "no partial file after the I/O error")
        is_(len(srv.incoming()), 1, "and nothing new in incoming/")
        r.cmd("MAIL FROM:<f@example.org>")
        r.cmd("RCPT TO:<a@example.net>")
        r.cmd("DATA")
        r.send(b"Subject: rw\r\n\r\nwritable again\r\n.\r\n")
        like(r.reply(), r"^250 2\.0\.0 Ok: queued as \w{20}$",
             "writable again: the next message is queued")
        r.cmd("QUIT")
finally:
    subprocess.run(["umount", mnt], timeout=30)
    shutil.rmtree(mnt, ignore_errors=True)
done()
