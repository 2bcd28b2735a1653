#!/usr/bin/env python3
# 17-access - access control as a Postfix admin expects it: the open
# relay probe refused, every access(5) result, restriction classes
# (from a list and from a table, loops refused), reply code parameters,
# reject_unauth_pipelining, reject_unknown_client_hostname and
# reject_unknown_reverse_client_hostname against a DNS server on
# loopback (and a DNS server that never answers one client, which stalls
# no other session), reject_unlisted_recipient (explicit and implied), the stress
# personality's own list, and broken maps refused at start with
# FILE:LINE.
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from doppel_harness import (SMTPD, Raw, Server, done, is_, like,  # noqa
                            ok, read_queue_file)
from dns_server import DnsServer  # noqa

# 127.0.0.1 is trusted; 127.0.0.2 and up are strangers on the internet.
BASE = {"mynetworks": "127.0.0.1/32", "relay_domains": "relay.example"}
STRANGER = "127.0.0.2"
LOCAL = "mx.test.example"               # $myhostname: in mydestination


def session(srv, source=STRANGER, helo="client.example",
            sender="a@b.example"):
    r = Raw(srv.port, source=source)
    r.cmd("EHLO " + helo)
    if sender is not None:
        r.cmd("MAIL FROM:<%s>" % sender)
    return r


def rcpt(srv, addr, source=STRANGER, sender="a@b.example"):
    """The reply to one RCPT TO in a fresh session."""
    r = session(srv, source, sender=sender)
    reply = r.cmd("RCPT TO:<%s>" % addr)
    r.close()
    return reply


def refuses(params, pattern, name, files=()):
    """doppel-smtpd must refuse to start, naming the problem. files are
    (name, text) pairs written to a directory that {dir} in the values
    of params names."""
    tmp = tempfile.mkdtemp(prefix="doppel-maps-")
    for fname, text in files:
        with open(os.path.join(tmp, fname), "w") as f:
            f.write(text)
    params = {k: v.replace("{dir}", tmp) for k, v in params.items()}
    srv = Server(params, name="broken")
    try:
        p = subprocess.run([SMTPD, "-c", srv.dir, "--listen",
                            "127.0.0.1:%d" % srv.port, "--foreground"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        ok(p.returncode != 0, name + ": exit status %d" % p.returncode)
        like(p.stderr.decode(errors="replace"), pattern, name + ": says why")
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- relay
# The default mynetworks is all of 127.0.0.0/8, so a stranger with
# otherwise default settings comes through XCLIENT from the test port.
with Server({"smtpd_authorized_xclient_hosts": "127.0.0.1"},
            name="defaults") as srv:
    r = Raw(srv.port)
    r.cmd("EHLO proxy.example")
    like(r.cmd("XCLIENT ADDR=198.51.100.7 NAME=spam.example"), r"^220 ",
         "XCLIENT: a client from the internet")
    r.cmd("EHLO spam.example")
    r.cmd("MAIL FROM:<a@spam.example>")
    is_(r.cmd("RCPT TO:<victim@elsewhere.example>"),
        "554 5.7.1 <victim@elsewhere.example>: Relay access denied",
        "open relay probe with the default configuration: refused")
    is_(r.cmd("RCPT TO:<user@%s>" % LOCAL), "250 2.1.5 Ok",
        "the same stranger to mydestination: accepted")
    r.close()
    is_(rcpt(srv, "anyone@elsewhere.example", source="127.0.0.1"),
        "250 2.1.5 Ok", "127.0.0.1 (default mynetworks) may relay")
with Server(BASE, name="stranger") as srv:
    is_(rcpt(srv, "victim@elsewhere.example"),
        "554 5.7.1 <victim@elsewhere.example>: Relay access denied",
        "open relay probe from 127.0.0.2 (mynetworks 127.0.0.1/32): refused")

with Server(dict(BASE, relay_domains_reject_code="450"), name="relaycode") \
        as srv:
    is_(rcpt(srv, "victim@elsewhere.example"),
        "450 4.7.1 <victim@elsewhere.example>: Relay access denied",
        "relay_domains_reject_code = 450: the status follows the code")

# ------------------------------------------------------- access results
RESULTS = ("inline:{ ok@mx.test.example=OK, "
           "{ text@mx.test.example=REJECT mailbox closed }, "
           "bare@mx.test.example=REJECT, defer@mx.test.example=DEFER, "
           "{ code4@mx.test.example=451 4.2.1 come back later }, "
           "{ code5@mx.test.example=550 5.1.6 moved away }, "
           "dunno@mx.test.example=DUNNO, dunnodomain.example=REJECT, "
           "{ dunno@dunnodomain.example=DUNNO }, "
           "{ tag@mx.test.example=PREPEND X-Access-Tag: tagged by the map }, "
           "{ warn@mx.test.example=WARN looks odd }, "
           "strict@mx.test.example=from_trusted_only, "
           "{ list@mx.test.example=reject_non_fqdn_sender, permit }, "
           "loop@mx.test.example=loop_a, "
           "{ bad@mx.test.example=no_such_restriction } }")
ACCESS = dict(BASE, **{
    "smtpd_restriction_classes": "from_trusted_only, loop_a",
    "from_trusted_only": "permit_mynetworks, reject",
    "loop_a": "check_recipient_access inline:{ loop@mx.test.example=loop_a }",
    "smtpd_recipient_restrictions":
        "check_recipient_access " + RESULTS + ", check_recipient_access "
        "inline:{ { dunno@mx.test.example=REJECT second map } }, "
        "check_recipient_access inline:{ { ok@mx.test.example=REJECT "
        "never seen } }",
})
with Server(ACCESS, name="access") as srv:
    is_(rcpt(srv, "ok@" + LOCAL), "250 2.1.5 Ok",
        "OK permits (the next map is not asked)")
    is_(rcpt(srv, "text@" + LOCAL), "554 5.7.1 <text@mx.test.example>: "
        "Recipient address rejected: mailbox closed", "REJECT text")
    is_(rcpt(srv, "bare@" + LOCAL), "554 5.7.1 <bare@mx.test.example>: "
        "Recipient address rejected: Access denied", "REJECT without text")
    is_(rcpt(srv, "defer@" + LOCAL), "450 4.7.1 <defer@mx.test.example>: "
        "Recipient address rejected: Access denied", "DEFER")
    is_(rcpt(srv, "code4@" + LOCAL), "451 4.2.1 <code4@mx.test.example>: "
        "Recipient address rejected: come back later", "4NN text with status")
    is_(rcpt(srv, "code5@" + LOCAL), "550 5.1.6 <code5@mx.test.example>: "
        "Recipient address rejected: moved away", "5NN text with status")
    is_(rcpt(srv, "dunno@" + LOCAL), "554 5.7.1 <dunno@mx.test.example>: "
        "Recipient address rejected: second map",
        "DUNNO: the list goes on to the next restriction")
    is_(rcpt(srv, "dunno@dunnodomain.example", source="127.0.0.1"),
        "250 2.1.5 Ok", "DUNNO for the address: the domain key is not tried")
    is_(rcpt(srv, "other@dunnodomain.example", source="127.0.0.1"),
        "554 5.7.1 <other@dunnodomain.example>: Recipient address rejected: "
        "Access denied", "...while another address of the domain is rejected")
    is_(rcpt(srv, "warn@" + LOCAL), "250 2.1.5 Ok", "WARN accepts")
    ok(srv.wait_log(r"warning: .*WARN warn@mx\.test\.example: looks odd"),
       "WARN: logged as a warning with its text")
    is_(rcpt(srv, "strict@" + LOCAL),
        "554 5.7.1 <strict@mx.test.example>: Recipient address rejected: "
        "Access denied", "a class name as the result: its reject decides")
    is_(rcpt(srv, "strict@" + LOCAL, source="127.0.0.1"), "250 2.1.5 Ok",
        "...and its permit_mynetworks permits")
    is_(rcpt(srv, "list@" + LOCAL, sender="a@nodots"),
        "504 5.5.2 <a@nodots>: Sender address rejected: need "
        "fully-qualified address", "a list of restrictions as the result")
    is_(rcpt(srv, "list@" + LOCAL), "250 2.1.5 Ok",
        "...whose permit permits")
    is_(rcpt(srv, "loop@" + LOCAL), "451 4.3.5 Server configuration error",
        "a class that returns itself through a table: 451 4.3.5")
    ok(srv.wait_log(r"restriction classes nested more than 8 deep .*"
                    r"loop_a -> loop_a"), "...logged with the chain")
    is_(rcpt(srv, "bad@" + LOCAL), "451 4.3.5 Server configuration error",
        "an unknown restriction as the result: 451 4.3.5")
    ok(srv.wait_log(r"no_such_restriction\" is neither a restriction nor a"
                    r" class"), "...logged with the reason")

    # PREPEND: the header is in the queued message, above Received:
    r = session(srv, sender="a@b.example")
    r.cmd("RCPT TO:<tag@%s>" % LOCAL)
    like(r.cmd("DATA"), r"^354", "PREPEND: DATA")
    m = re.search(r"queued as (\w+)",
                  r.cmd("Subject: hello\r\n\r\nbody\r\n."))
    ok(m is not None, "PREPEND: queued")
    content = read_queue_file(srv.incoming()[0])[0] if srv.incoming() else b""
    like(content, r"^X-Access-Tag: tagged by the map\r\nReceived: from ",
         "PREPEND: the header comes first, above Received:")
    r.cmd("MAIL FROM:<a@b.example>")
    r.cmd("RCPT TO:<user@%s>" % LOCAL)
    r.cmd("DATA")
    r.cmd("Subject: two\r\n\r\nbody\r\n.")
    files = srv.incoming()
    second = [f for f in files if m is None or not f.endswith(m.group(1))]
    content = read_queue_file(second[0])[0] if second else b""
    ok(second and b"X-Access-Tag" not in content,
       "PREPEND belongs to its transaction only")

# access_map_*_code and reject_code
CODES = dict(BASE, access_map_reject_code="550", access_map_defer_code="451",
             reject_code="553", smtpd_recipient_restrictions=
             "check_recipient_access inline:{ bare@mx.test.example=REJECT, "
             "defer@mx.test.example=DEFER, { own@mx.test.example=554 5.7.2 "
             "mine } }, reject")
with Server(CODES, name="codes") as srv:
    is_(rcpt(srv, "bare@" + LOCAL), "550 5.7.1 <bare@mx.test.example>: "
        "Recipient address rejected: Access denied", "access_map_reject_code")
    is_(rcpt(srv, "defer@" + LOCAL), "451 4.7.1 <defer@mx.test.example>: "
        "Recipient address rejected: Access denied", "access_map_defer_code")
    is_(rcpt(srv, "own@" + LOCAL), "554 5.7.2 <own@mx.test.example>: "
        "Recipient address rejected: mine", "an explicit code stays")
    is_(rcpt(srv, "final@" + LOCAL), "553 5.7.1 <final@mx.test.example>: "
        "Recipient address rejected: Access denied", "reject_code")

# ------------------------------------------------------------- classes
refuses(dict(BASE, smtpd_restriction_classes="a, b", a="b", b="permit, a",
             smtpd_recipient_restrictions="a"),
        r"classes name each other in a circle: (a -> b -> a|b -> a -> b)",
        "classes in a circle")
refuses(dict(BASE, smtpd_restriction_classes="strict",
             smtpd_recipient_restrictions="strict"),
        r"restriction class strict has no definition", "a class without a list")
refuses(dict(BASE, smtpd_restriction_classes="permit_mynetworks",
             permit_mynetworks="reject"),
        r"smtpd_restriction_classes: permit_mynetworks is a restriction",
        "a class named like a restriction")

# A class named in a list, per personality: the stress one is stricter,
# through the class's own $reference.
CLASSES = dict(BASE, **{
    "smtpd_restriction_classes": "guard",
    "guard": "check_recipient_access $guard_map",
    "guard_map": "inline:{ { list@mx.test.example=$smtpd_data_restrictions } }",
    "smtpd_data_restrictions": "permit",
    "stress_smtpd_data_restrictions": "defer",
    "smtpd_recipient_restrictions": "guard",
})
with Server(CLASSES, name="class-normal") as srv:
    is_(rcpt(srv, "list@" + LOCAL), "250 2.1.5 Ok",
        "a class in the list: the normal personality's value")
with Server(CLASSES, args=["--stress"], name="class-stress") as srv:
    is_(rcpt(srv, "list@" + LOCAL), "450 4.7.1 <list@mx.test.example>: "
        "Recipient address rejected: Access denied",
        "the stress personality expands the class with its own values")

# The stress personality's own restriction list, through a class.
STRESSLIST = dict(BASE, **{
    "smtpd_restriction_classes": "trusted_only",
    "trusted_only": "permit_mynetworks, defer",
    "stress_smtpd_recipient_restrictions": "trusted_only",
})
with Server(STRESSLIST, name="stresslist-normal") as srv:
    is_(rcpt(srv, "user@" + LOCAL), "250 2.1.5 Ok",
        "normal personality: no recipient restrictions")
with Server(STRESSLIST, args=["--stress"], name="stresslist") as srv:
    is_(rcpt(srv, "user@" + LOCAL), "450 4.7.1 <user@mx.test.example>: "
        "Recipient address rejected: Access denied",
        "stress personality: stress_smtpd_recipient_restrictions")
    is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.1"), "250 2.1.5 Ok",
        "...which still trusts mynetworks")

# ---------------------------------------------------------- pipelining
PIPE = dict(BASE, smtpd_data_restrictions="reject_unauth_pipelining",
            smtpd_recipient_restrictions="reject_unauth_pipelining")
with Server(PIPE, name="pipelining") as srv:
    r = Raw(srv.port, source=STRANGER)
    r.cmd("EHLO client.example")
    r.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<user@%s>\r\nDATA\r\n"
           "Subject: early\r\n\r\nbody\r\n.\r\n" % LOCAL)
    is_(r.reply(), "250 2.1.0 Ok", "EHLO, pipelined MAIL")
    is_(r.reply(), "250 2.1.5 Ok", "EHLO, pipelined RCPT: allowed")
    is_(r.reply(), "503 5.5.0 <DATA>: Data command rejected: Improper use "
        "of SMTP command pipelining", "message content sent before 354")
    r.close()
    r = Raw(srv.port, source=STRANGER)
    r.cmd("HELO client.example")
    r.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<user@%s>\r\nNOOP\r\n" % LOCAL)
    is_(r.reply(), "250 2.1.0 Ok", "HELO, pipelined MAIL")
    is_(r.reply(), "503 5.5.0 <user@mx.test.example>: Recipient address "
        "rejected: Improper use of SMTP command pipelining",
        "pipelining without EHLO: rejected")
    r.close()
    r = session(srv)
    is_(r.cmd("RCPT TO:<user@%s>" % LOCAL), "250 2.1.5 Ok",
        "one command at a time: accepted")
    like(r.cmd("DATA"), r"^354", "DATA alone: accepted")
    r.close()

# ---------------------------------------------- unknown client hostname
ZONE = {"ptr": {"127.0.0.5": "good.example", "127.0.0.6": "liar.example",
                "127.0.0.9": "bad_name!.example"},
        "a": {"good.example": "127.0.0.5", "liar.example": "192.0.2.1"},
        "servfail": ["127.0.0.7"], "drop": ["127.0.0.11"]}
with DnsServer(ZONE) as dns:
    tmp = tempfile.mkdtemp(prefix="doppel-dns-")
    resolv = os.path.join(tmp, "resolv.conf")
    hosts = os.path.join(tmp, "hosts")
    with open(resolv, "w") as f:
        f.write(dns.resolv_conf())
    with open(hosts, "w") as f:
        f.write("# nothing: every name comes from the DNS server\n")
    DNS = dict(BASE, smtpd_dns_resolv_conf=resolv, smtpd_dns_hosts_file=hosts,
               unknown_client_reject_code="550",
               smtpd_peername_lookup_timeout="5s")
    NAME = dict(DNS, smtpd_client_restrictions="reject_unknown_client_hostname")
    REV = dict(DNS, smtpd_client_restrictions=
               "reject_unknown_reverse_client_hostname")
    with Server(NAME, name="dns-name") as srv:
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.5"), "250 2.1.5 Ok",
            "name: PTR and A agree: accepted")
        ok(srv.wait_log(r"connect from good\.example\[127\.0\.0\.5\]"),
           "name: the verified name is logged")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.6"),
            "550 5.7.25 Client host rejected: cannot find your hostname, "
            "[127.0.0.6]", "name: the PTR name leads elsewhere: "
            "unknown_client_reject_code")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.8"),
            "550 5.7.25 Client host rejected: cannot find your hostname, "
            "[127.0.0.8]", "name: no PTR at all")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.9"),
            "550 5.7.25 Client host rejected: cannot find your hostname, "
            "[127.0.0.9]", "name: a PTR that is no host name")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.7"),
            "450 4.7.25 Client host rejected: cannot find your hostname, "
            "[127.0.0.7]", "name: the DNS failed: 450 whatever the code")
    with Server(REV, name="dns-reverse") as srv:
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.5"), "250 2.1.5 Ok",
            "reverse: a PTR name: accepted")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.6"), "250 2.1.5 Ok",
            "reverse: a PTR name that leads elsewhere is still a name")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.8"),
            "550 5.7.1 Client host rejected: cannot find your reverse "
            "hostname, [127.0.0.8]", "reverse: no PTR")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.7"),
            "450 4.7.1 Client host rejected: cannot find your reverse "
            "hostname, [127.0.0.7]", "reverse: the DNS failed: 450")
    # a lookup that is never answered holds its own session only
    with Server(dict(DNS, smtpd_peername_lookup_timeout="6s"),
                name="dns-silent") as srv:
        silent = Raw(srv.port, greet=False, source="127.0.0.11")
        is_(rcpt(srv, "user@" + LOCAL, source="127.0.0.5"), "250 2.1.5 Ok",
            "silent DNS for one client: another client is served meanwhile")
        silent.sock.settimeout(0.2)
        try:
            early = silent.sock.recv(100)
        except OSError:
            early = b""
        is_(early, b"", "...while the silent one still waits for its greeting")
        silent.sock.settimeout(30)
        like(silent.reply(), r"^220 ", "after smtpd_peername_lookup_timeout"
             " the silent one is greeted")
        ok(srv.wait_log(r"connect from unknown\[127\.0\.0\.11\]"),
           "as an unknown client")
        is_(silent.cmd("QUIT")[:3], "221", "and served")
    ok(("5.0.0.127.in-addr.arpa", 12) in dns.queries
       and ("good.example", 1) in dns.queries,
       "doppel asked the test's DNS server (PTR, then A)")
    for name in (resolv, hosts):
        os.unlink(name)
    os.rmdir(tmp)

# ---------------------------------------------------- unlisted recipients
UNLISTED = dict(BASE, local_recipient_maps="inline:{ alice@mx.test.example=1,"
                " bob=x }", relay_recipient_maps="inline:{ "
                "carol@relay.example=1, @sub.relay.example=1 }")
with Server(UNLISTED, name="unlisted") as srv:
    is_(rcpt(srv, "alice@" + LOCAL), "250 2.1.5 Ok",
        "local_recipient_maps: user@domain")
    is_(rcpt(srv, "Bob@" + LOCAL), "250 2.1.5 Ok",
        "local_recipient_maps: the user part alone, any case")
    is_(rcpt(srv, "mallory@" + LOCAL), "550 5.1.1 <mallory@mx.test.example>: "
        "Recipient address rejected: User unknown in local recipient table",
        "smtpd_reject_unlisted_recipient (default yes): unknown local user")
    is_(rcpt(srv, "mallory@" + LOCAL, source="127.0.0.1"),
        "550 5.1.1 <mallory@mx.test.example>: Recipient address rejected: "
        "User unknown in local recipient table",
        "...even for mynetworks, after its permit")
    is_(rcpt(srv, "carol@relay.example"), "250 2.1.5 Ok",
        "relay_recipient_maps: listed")
    is_(rcpt(srv, "anyone@sub.relay.example"), "250 2.1.5 Ok",
        "relay_recipient_maps: @domain")
    is_(rcpt(srv, "dave@relay.example"), "550 5.1.1 <dave@relay.example>: "
        "Recipient address rejected: User unknown in relay recipient table",
        "relay_recipient_maps: not listed")
    is_(rcpt(srv, "dave@elsewhere.example", source="127.0.0.1"),
        "250 2.1.5 Ok", "a domain that is not ours is not checked")
EXPLICIT = dict(UNLISTED, smtpd_reject_unlisted_recipient="no",
                unknown_local_recipient_reject_code="450",
                stress_smtpd_recipient_restrictions="reject_unlisted_recipient")
with Server(EXPLICIT, name="unlisted-off") as srv:
    is_(rcpt(srv, "mallory@" + LOCAL), "250 2.1.5 Ok",
        "smtpd_reject_unlisted_recipient = no: not checked")
with Server(EXPLICIT, args=["--stress"], name="unlisted-explicit") as srv:
    is_(rcpt(srv, "mallory@" + LOCAL), "450 4.1.1 <mallory@mx.test.example>: "
        "Recipient address rejected: User unknown in local recipient table",
        "reject_unlisted_recipient in the stress list, with a 450 code")

# ------------------------------------------------------------ broken maps
refuses(dict(BASE, smtpd_client_restrictions="check_client_access cidr:"
             "{dir}/clients.cidr"), r"clients\.cidr:2: ",
        "a broken cidr map: FILE:LINE",
        files=[("clients.cidr", "127.0.0.3 REJECT\n10.0.0.0/99 OK\n")])
refuses(dict(BASE, local_recipient_maps="pcre:{dir}/users.pcre"),
        r"users\.pcre:1: ", "a broken local_recipient_maps: FILE:LINE",
        files=[("users.pcre", "/unclosed(/ OK\n")])
refuses(dict(BASE, relay_recipient_maps="lmdb:/nonexistent/relay"),
        r"/nonexistent/relay", "a missing relay_recipient_maps database")
done()
