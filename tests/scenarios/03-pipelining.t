#!/usr/bin/env python3
# 03-pipelining - a whole transaction in one write; BDAT chunks pipelined.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from doppel_harness import Raw, Server, done, is_, like, ok, split_received  # noqa

with Server(name="pipelining") as srv:
    r = Raw(srv.port)
    # RFC 2920 says DATA ends a group; a client that does not wait for
    # 354 must still be served in order, and so must one that sends all
    body = b"Subject: pipelined\r\n\r\none write\r\n"
    r.send(b"EHLO pipe.example\r\nMAIL FROM:<p@example.org>\r\n"
           b"RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
           + body + b".\r\nNOOP\r\nQUIT\r\n")
    replies = [r.reply() for _ in range(8)]
    is_(replies[0].splitlines()[-1], "250 CHUNKING", "EHLO")
    is_(replies[1:5], ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok",
                       "354 End data with <CR><LF>.<CR><LF>"],
        "MAIL, RCPT, RCPT, DATA answered in order")
    like(replies[5], r"^250 2\.0\.0 Ok: queued as \w{20}$", "queued")
    is_(replies[6:], ["250 2.0.0 Ok", "221 2.0.0 Bye"], "NOOP and QUIT after")
    ok(r.closed(), "closed")
    qid = replies[5].rsplit(" ", 1)[-1]
    if len(qid) == 20 and srv.incoming():
        content, env = srv.queued(qid)
        is_(split_received(content)[1], body, "pipelined content stored")
        is_(env.get("rcpt"), ["a@example.net", "b@example.net"], "both rcpts")
    else:
        ok(False, "pipelined message stored")
        ok(False, "both rcpts")

    # BDAT: chunks pipelined with their data, one write
    r = Raw(srv.port)
    part1 = b"Subject: chunks\r\n\r\n.dot stays\r\n"
    part2 = b"bare\nLF kept in BDAT\r\n"
    r.send(b"EHLO pipe.example\r\nMAIL FROM:<p@example.org>\r\n"
           b"RCPT TO:<a@example.net>\r\nBDAT %d\r\n" % len(part1) + part1
           + b"BDAT %d LAST\r\n" % len(part2) + part2 + b"QUIT\r\n")
    replies = [r.reply() for _ in range(6)]
    is_(replies[1:4], ["250 2.1.0 Ok", "250 2.1.5 Ok",
                       "250 2.0.0 Ok: %d bytes" % len(part1)],
        "first chunk acknowledged with its size")
    like(replies[4], r"^250 2\.0\.0 Ok: queued as \w{20}$", "LAST chunk queued")
    is_(replies[5], "221 2.0.0 Bye", "QUIT")
    qid = replies[4].rsplit(" ", 1)[-1]
    if len(qid) == 20:
        content, env = srv.queued(qid)
        is_(split_received(content)[1], part1 + part2,
            "BDAT content stored byte for byte (no unstuffing)")
        like(content, rb"with ESMTP id", "Received: on a BDAT message")
    else:
        ok(False, "BDAT content")
        ok(False, "BDAT received")

    # BDAT 0 LAST, and a refused chunk whose bytes must not run as commands
    r = Raw(srv.port)
    r.cmd("EHLO pipe.example")
    r.send(b"BDAT 12\r\nQUIT\r\nQUIT\r\nNOOP\r\n")
    is_(r.reply(), "503 5.5.1 Error: need MAIL command",
        "BDAT without MAIL refused after its chunk")
    is_(r.reply(), "250 2.0.0 Ok", "the chunk's bytes were data, not QUITs")
    r.cmd("MAIL FROM:<p@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    r.send(b"BDAT 5\r\nabcde")
    is_(r.reply(), "250 2.0.0 Ok: 5 bytes", "a chunk")
    is_(r.cmd("DATA"), "503 5.5.1 Error: DATA after BDAT", "DATA after BDAT")
    is_(r.cmd("RSET"), "250 2.0.0 Ok", "RSET drops the unfinished message")
    r.cmd("MAIL FROM:<p@example.org>")
    r.cmd("RCPT TO:<a@example.net>")
    like(r.cmd("BDAT 0 LAST"), r"^250 2\.0\.0 Ok: queued as \w{20}$",
         "BDAT 0 LAST queues an empty message")
    is_(r.cmd("BDAT x"), "501 5.5.4 Syntax: BDAT count [LAST]",
        "BDAT without a size")
    ok(r.closed(), "... ends the session (its data cannot be skipped)")
    is_(srv.tmp_files(), [], "no file left in tmp/")
    is_(len(srv.incoming()), 3, "three messages queued")
done()
