#!/usr/bin/env python3
# 71-relay-postfix.t - doppel-relay's SMTP client against a real next hop:
# a private Postfix (Debian's package) on loopback with virtual Maildirs.
# While Postfix is down the message is deferred (doppel queue list says
# why); once it is up, "doppel queue flush" gets it delivered. A 5xx from
# Postfix (unknown user) makes an RFC 3464 bounce to the sender, which
# parses as a DSN; mail from <> that fails is never bounced.
# Root is needed to start Postfix. Every wait is bounded.
import signal, email, email.policy, os, pwd, re, shutil, socket, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import masterlib
from masterlib import Tap, Master, wait_for, free_port

N = 20
t = Tap(N)
postfix = shutil.which("postfix") or "/usr/sbin/postfix"
if not os.access(postfix, os.X_OK) or os.getuid() != 0:
    for i in range(N):
        t.ok(False, "postfix-backed relay test",
             "needs Postfix (tools/bootstrap --install-missing) and root")
    t.finish()


send = masterlib.submit


tmp = os.path.realpath(__import__("tempfile").mkdtemp(prefix="doppel-relay-pf-"))
os.chmod(tmp, 0o755)
pconf = os.path.join(tmp, "conf")
for d in ("conf", "queue", "data", "vmail"):
    os.mkdir(os.path.join(tmp, d))
nobody = pwd.getpwnam("nobody")
pfuid = pwd.getpwnam("postfix").pw_uid
os.chown(os.path.join(tmp, "data"), pfuid, -1)
os.chown(os.path.join(tmp, "vmail"), nobody.pw_uid, nobody.pw_gid)
pport = free_port()
with open(os.path.join(pconf, "main.cf"), "w") as f:
    f.write("""compatibility_level = 3.6
queue_directory = {t}/queue
data_directory = {t}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf.relay-test.invalid
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = relay.test
virtual_mailbox_base = {t}/vmail
virtual_mailbox_maps = inline:{{ bob@relay.test=bob/ }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_reject_unlisted_recipient = yes
maillog_file = {t}/maillog
maillog_file_prefixes = {t}
alias_maps =
alias_database =
biff = no
smtpd_tls_security_level = may
smtpd_tls_cert_file = {t}/conf/cert.pem
smtpd_tls_key_file = {t}/conf/key.pem
smtpd_authorized_xforward_hosts = 127.0.0.0/8
""".format(t=tmp, uid=nobody.pw_uid, gid=nobody.pw_gid))
with open(os.path.join(pconf, "master.cf"), "w") as f:
    f.write("127.0.0.1:%d inet n - n - - smtpd\n" % pport + """pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
tlsmgr unix - - n 1000? 1 tlsmgr
""")


subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=pf.relay-test.invalid", "-keyout", os.path.join(pconf, "key.pem"),
                "-out", os.path.join(pconf, "cert.pem")], capture_output=True, timeout=60)


def pfx(*args):
    return subprocess.run([postfix, "-c", pconf] + list(args), capture_output=True,
                          text=True, timeout=60)


m = Master(program=os.path.join(masterlib.BIN, "doppel-smtpd"))
mail = os.path.join(m.dir, "mail")
os.mkdir(mail)
os.chown(mail, nobody.pw_uid, nobody.pw_gid)
m.write_conf(
    "smtpd_peername_lookup = no\n"
    "relay_domains = relay.test\n"
    "relay_transport = smtp:[127.0.0.1]:%d\n"
    "transport_maps = inline:{ local.example=maildir:%s }\n"
    "queue_run_delay = 200ms\n"
    "smtp_send_xforward_command = yes\n"
    "minimal_backoff_time = 1h\n"
    "maximal_backoff_time = 2h\n" % (pport, mail),
    "127.0.0.1:%d inet 1 smtpd\n%s/run/relay.sock unix 1 relay\n" % (m.port, m.dir))
pf_started = False
try:
    t.ok(m.start(), "the master starts (smtpd + relay)", m.log())
    # 1. next hop down: deferred, with the reason
    body = (b"Subject: via postfix\r\nMessage-ID: <t71@local.example>\r\n"
            b"Date: Wed, 25 Nov 2026 11:00:00 +0000\r\nFrom: alice@local.example\r\n"
            b"\r\nline one\r\n..dot line\r\n")
    qid = send(m.port, "alice@local.example", "bob@relay.test", body)
    t.ok(qid is not None, "accepted: %s" % qid)
    deferred = os.path.join(m.dir, "spool", "deferred", qid or "x")
    t.ok(wait_for(lambda: os.path.exists(deferred), 10), "next hop down: the message is in deferred/", m.log())
    t.ok(re.search(r"%s: to=<bob@relay.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*dsn=4\.4\.1, "
                   r"status=deferred \(connect to .*Connection refused\)" % (qid, pport), m.log()),
         "the attempt is logged with status=deferred and the reason", m.log())
    code, out, err = m.doppel("queue", "list")
    t.ok(code == 0 and qid in out and "Connection refused" in out and "bob@relay.test" in out,
         "doppel queue list shows it with the reason", out + err)
    time.sleep(1)
    t.ok(os.path.exists(deferred), "no retry before the back-off time")

    # 2. Postfix comes up; flush
    r = pfx("start")
    pf_started = True
    up = wait_for(lambda: subprocess.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/%d" % pport],
                                         capture_output=True).returncode == 0, 15)
    t.ok(up, "private Postfix listens on 127.0.0.1:%d" % pport, r.stdout + r.stderr)
    code, out, err = m.doppel("queue", "flush")
    t.ok(code == 0 and "1 deferred message due now" in out, "doppel queue flush", out + err)
    box = os.path.join(tmp, "vmail", "bob", "new")
    files = wait_for(lambda: os.path.isdir(box) and os.listdir(box), 20)
    t.ok(files, "delivered to Postfix, which put it in bob's Maildir", m.log()
         + open(os.path.join(tmp, "maillog")).read() if os.path.exists(os.path.join(tmp, "maillog")) else m.log())
    got = open(os.path.join(box, files[0]), "rb").read().replace(b"\n", b"\r\n") if files else b""
    t.ok(got.endswith(body.replace(b"\r\n..", b"\r\n.")), "Postfix got the message intact", repr(got))
    t.ok(re.search(rb"\tby pf\.relay-test\.invalid \(Postfix\) with ESMTPS id ", got),
         "STARTTLS was used (Postfix says ESMTPS)", repr(got[:600]))
    maillog = open(os.path.join(tmp, "maillog")).read()
    t.ok("orig_queue_id=%s, orig_client=unknown[127.0.0.1]" % qid in maillog,
         "XFORWARD gave Postfix the original queue ID and client", maillog[-2000:])
    t.ok(re.search(r"%s: to=<bob@relay.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*dsn=2\.0\.0, "
                   r"status=sent \(250 2\.0\.0 Ok" % (qid, pport), m.log()), "status=sent is logged", m.log())
    t.ok(wait_for(lambda: not os.listdir(os.path.join(m.dir, "spool", "deferred")), 5),
         "deferred/ is empty")

    # 3. a 5xx: the sender gets a DSN
    qid3 = send(m.port, "alice@local.example", "nosuchuser@relay.test",
                b"Subject: doomed\r\n\r\nwill bounce\r\n")
    abox = os.path.join(mail, "alice@local.example", "new")
    files = wait_for(lambda: os.path.isdir(abox) and os.listdir(abox), 15)
    t.ok(files and re.search(r"%s: to=<nosuchuser@relay.test>.*dsn=5\.1\.1, status=bounced \(550 5\.1\.1"
                             % qid3, m.log()), "a 5xx bounces (logged, and a notice reaches the sender)",
         m.log())
    raw = open(os.path.join(abox, files[0]), "rb").read() if files else b""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts = msg.get_payload() if msg.is_multipart() else []
    ok = (msg.get_content_type() == "multipart/report"
          and msg.get_param("report-type") == "delivery-status"
          and len(parts) == 3 and parts[1].get_content_type() == "message/delivery-status")
    t.ok(ok, "the notice is a multipart/report with a message/delivery-status part", raw[:3000])
    fields = {}
    if ok:
        blocks = parts[1].get_payload()
        for b in blocks:
            for k, v in b.items():
                fields[k.lower()] = v
    t.ok(fields.get("action") == "failed" and fields.get("status") == "5.1.1"
         and fields.get("final-recipient", "").endswith("nosuchuser@relay.test")
         and fields.get("diagnostic-code", "").startswith("smtp; 550 5.1.1")
         and fields.get("reporting-mta", "").startswith("dns;"),
         "the DSN fields: Action failed, Status 5.1.1, Final-Recipient, Diagnostic-Code", fields)
    t.ok(msg["From"].startswith("MAILER-DAEMON@") and b"will bounce" in raw
         and parts and parts[2].get_content_type() == "message/rfc822",
         "from MAILER-DAEMON, the original returned as message/rfc822", raw[:2000])

    # 4. the null sender is never bounced
    before = len(os.listdir(abox))
    qid4 = send(m.port, "", "nosuchuser@relay.test", b"Subject: from <>\r\n\r\nx\r\n")
    seen = wait_for(lambda: "%s: undeliverable mail from <> not returned" % qid4 in m.log(), 15)
    time.sleep(1)
    code, out, err = m.doppel("queue", "list")
    t.ok(seen and len(os.listdir(abox)) == before and "Mail queue is empty" in out,
         "mail from <> that bounces is dropped, never returned", m.log() + out)
    m.signal(signal.SIGTERM)
    m.wait(20)
    log = m.log()
    t.ok(m.proc.poll() == 0 and "relay: stopped" in log and "Sanitizer" not in log
         and "runtime error" not in log, "stop: the relay exits cleanly, no sanitizer report",
         log[-3000:])
finally:
    m.cleanup()
    if pf_started:
        pfx("stop") if not os.environ.get("KEEP") else None
        wait_for(lambda: not os.path.exists(os.path.join(tmp, "queue", "pid", "master.pid")), 10)
    print("# tmp", tmp) if os.environ.get("KEEP") else shutil.rmtree(tmp, ignore_errors=True)
t.finish()
