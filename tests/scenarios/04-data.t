#!/usr/bin/env python3
# 04-data - content byte for byte; size and recipient limits while streaming;
# a CR held back across reads at each chunk boundary.
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok, split_received  # noqa


def stuff(data):
    """Dot-stuff like a client: a line starting with '.' gets another."""
    out = []
    for line in data.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


with Server({"message_size_limit": "20000", "smtpd_recipient_limit": "2"},
            name="data") as srv:
    body = (b"Subject: \xc3\xa9t\xc3\xa9 8-bit\r\n\r\n"
            b".\r\n..\r\n...three\r\n. space\r\nmid.dot.\r\n"
            b"8-bit: \xe9\xff\x80\x00 NUL and high bytes\r\n"
            + b"x" * 5000 + b"\r\n" + b"last line\r\n")
    r = Raw(srv.port)
    r.cmd("EHLO data.example")
    r.cmd("MAIL FROM:<d@example.org> BODY=8BITMIME")
    r.cmd("RCPT TO:<a@example.net>")
    is_(r.cmd("DATA")[:3], "354", "DATA")
    # sent in odd pieces, so the end marker and stuffing cross reads
    wire = stuff(body) + b".\r\n"
    for i in range(0, len(wire), 997):
        r.send(wire[i:i + 997])
    rep = r.reply()
    like(rep, r"^250 2\.0\.0 Ok: queued as \w{20}$", "queued")
    qid = rep.rsplit(" ", 1)[-1]
    if len(qid) == 20:
        content, env = srv.queued(qid)
        is_(split_received(content)[1], body,
            "dot-stuffed lines and 8-bit bytes stored byte for byte")
        like(srv.log(), r"%s: .* size=%d," % (qid, len(body)),
             "logged size is the content size")
    else:
        ok(False, "stored")
        ok(False, "size")

    # recipient limit
    r.cmd("MAIL FROM:<d@example.org>")
    is_(r.cmd("RCPT TO:<a@example.net>"), "250 2.1.5 Ok", "rcpt 1")
    is_(r.cmd("RCPT TO:<b@example.net>"), "250 2.1.5 Ok", "rcpt 2")
    is_(r.cmd("RCPT TO:<c@example.net>"), "452 4.5.3 Error: too many recipients",
        "smtpd_recipient_limit")
    is_(r.cmd("RSET"), "250 2.0.0 Ok", "RSET")

    # size limit while streaming: no SIZE= given, 60 kB sent
    before = len(srv.incoming())
    r.cmd("MAIL FROM:<d@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.cmd("DATA")
    r.send(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 60 + b".\r\n")
    is_(r.reply(), "552 5.3.4 Error: message file too big",
        "message_size_limit enforced while streaming")
    is_(len(srv.incoming()), before, "nothing queued")
    is_(srv.tmp_files(), [], "no partial file left")
    is_(r.cmd("NOOP"), "250 2.0.0 Ok", "session goes on")
    like(r.cmd("MAIL FROM:<d@example.org> SIZE=20001"), r"^552 5\.3\.4 ",
         "declared SIZE over the limit")

    # BDAT over the limit: this chunk and later ones refused, then reset
    r.cmd("MAIL FROM:<d@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.send(b"BDAT 25000\r\n" + b"z" * 25000)
    is_(r.reply(), "552 5.3.4 Error: message file too big", "BDAT too big")
    r.send(b"BDAT 3 LAST\r\nabc")
    is_(r.reply(), "552 5.3.4 Error: message file too big",
        "later chunk refused too")
    is_(r.cmd("RCPT TO:<a@example.net>"), "503 5.5.1 Error: need MAIL command",
        "transaction over after LAST")
    is_(srv.tmp_files(), [], "no partial file left after BDAT")
    r.cmd("QUIT")
    r.close()

    # smtplib over the limit
    c = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
    try:
        c.sendmail("d@example.org", ["a@example.net"],
                   b"Subject: big\r\n\r\n" + b"q" * 30000 + b"\r\n")
        ok(False, "smtplib: too big refused")
    except smtplib.SMTPDataError as e:
        is_(e.smtp_code, 552, "smtplib: too big refused with 552")
    except smtplib.SMTPSenderRefused as e:
        is_(e.smtp_code, 552, "smtplib: too big refused with 552 (SIZE)")
    c.quit()

# The decoder holds back a CR that ends a read (it may start CRLF) and
# gives it out with the next bytes: one more byte than it was handed.
# A read that ends in CR just before the chunk fills, then a large one:
# at every size the chunk grows through, and at its largest (where it
# is written out instead), the message is stored byte for byte.
with Server({"message_size_limit": "10m"}, name="data-cr") as srv:
    line = b"y" * 78 + b"\r\n"
    for k in (14, 15, 16, 17, 18):
        for room in (1024, 1100):
            first = (1 << k) - room + 1         # decoded bytes, CR last
            body = b"Subject: cr\r\n\r\n"
            body += (line * (first // len(line) + 1))[:first - len(body) - 1]
            body += b"\r"
            rest = b"\n" + line * 3000      # 240 KiB more
            r = Raw(srv.port)
            r.cmd("EHLO cr.example")
            r.cmd("MAIL FROM:<d@example.org>")
            r.cmd("RCPT TO:<a@example.net>")
            r.cmd("DATA")
            r.send(body)
            r.sock.settimeout(0.3)
            try:
                early = r.sock.recv(100)         # the server reads it alone
            except OSError:
                early = b""
            r.sock.settimeout(30)
            r.send(rest + b".\r\n")
            rep = r.reply()
            qid = rep.rsplit(" ", 1)[-1]
            stored = (split_received(srv.queued(qid)[0])[1]
                      if rep.startswith("250") and early == b"" else None)
            ok(stored == body + rest, "a CR at byte %d, %d bytes before the"
               " %d KiB boundary: stored byte for byte (%s)"
               % (first, room, (1 << k) // 1024, rep))
            r.cmd("QUIT")
            r.close()
done()
