#!/usr/bin/env bash
# 60-doppel-test-postfix.t - "doppel test" needs nothing doppel-specific
# on the server: run the example scripts against a private Postfix
# (Debian's package) on loopback, check the failure reports, the clear
# messages for a server that does not offer or refuses XCLIENT, STARTTLS,
# and the personality matrix against Postfix's own stress personality
# (an smtpd with -o stress=yes).
#
# The Postfix instance lives in a temporary directory: its own main.cf,
# master.cf, queue, data directory and log file; three smtpd ports on
# 127.0.0.1 (normal, stress, no XCLIENT authorization). It is started and
# stopped by this test (root is needed to start Postfix).
set -u
. "$(dirname "$0")/tap.sh"

doppel="$DOPPEL_BIN/doppel"
examples="$DOPPEL_SRC/docs/examples/doppel-test"
fixtures="$DOPPEL_SRC/tests/system/doppel-test"
postfix=$(command -v postfix || echo /usr/sbin/postfix)

plan 33

# fail_all REASON - the environment cannot run this test: every point fails
fail_all() {
    local i
    for i in $(seq 1 33); do tap_result 1 "postfix-backed doppel test" "$1"; done
    finish
}

[ -x "$postfix" ] || fail_all "postfix is not installed (tools/bootstrap --install-missing installs it)"
[ "$(id -u)" = 0 ] || fail_all "starting a private Postfix needs root; run make check as root"
[ -x "$doppel" ] || fail_all "$doppel is missing; build it first (make SANITIZE=1 tests)"

tmp=$(mktemp -d)
chmod 755 "$tmp"                # Postfix's daemons run as postfix
conf="$tmp/conf"

# pfx ARGS - the postfix command on our instance; its messages reach
# stderr only from a terminal, so they are fetched from the log instead
pfx() { timeout 60 "$postfix" -c "$conf" "$@" >>"$tmp/postfix.out" 2>&1; }

cleanup() {
    if [ -f "$tmp/data/master.lock" ] || [ -f "$tmp/queue/pid/master.pid" ]; then
        pfx stop || pfx abort || true
    fi
    # the master may take a moment to go; bounded
    for _ in $(seq 1 50); do
        pid=$(cat "$tmp/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# three free loopback ports, chosen by the kernel
read -r p_normal p_stress p_closed <<EOF
$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss[:3]))
')
EOF
read -r p_noauth <<EOF
$(python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
')
EOF

mkdir -p "$conf" "$tmp/queue" "$tmp/data"
chown postfix "$tmp/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pf.doppel-test.invalid" \
    -keyout "$conf/key.pem" -out "$conf/cert.pem" >/dev/null 2>&1

cat >"$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $tmp/queue
data_directory = $tmp/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf.doppel-test.invalid
mydomain = doppel-test.invalid
mydestination = \$myhostname
relay_domains = relay.test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = reject_unauth_destination
smtpd_authorized_xclient_hosts = 127.0.0.0/8
default_transport = discard
local_transport = discard
relay_transport = discard
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
smtpd_banner = \${stress?{stressed}:{normal}} \$myhostname ESMTP
smtpd_tls_security_level = may
smtpd_tls_cert_file = $conf/cert.pem
smtpd_tls_key_file = $conf/key.pem
alias_maps =
alias_database =
biff = no
EOF
cat >"$conf/master.cf" <<EOF
127.0.0.1:$p_normal inet n - n - - smtpd
127.0.0.1:$p_stress inet n - n - - smtpd -o stress=yes
127.0.0.1:$p_noauth inet n - n - - smtpd -o smtpd_authorized_xclient_hosts=
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
EOF

pfx check
pfx start
up=1
for _ in $(seq 1 100); do          # at most 10 s
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p_noauth" 2>/dev/null; then
        up=0; break
    fi
    sleep 0.1
done
tap_result $up "private Postfix listens on 127.0.0.1:$p_normal, :$p_stress, :$p_noauth" \
    "$(cat "$tmp/postfix.out" "$tmp/maillog" 2>/dev/null | tail -20)"
[ $up = 0 ] || finish

# dt ARGS - run doppel test; out, err, status, secs
dt() {
    local t0=$SECONDS
    out=$(timeout 120 "$doppel" test "$@" 2>"$tmp/err"); status=$?
    err=$(cat "$tmp/err")
    secs=$((SECONDS - t0))
}

# --- the examples pass against Postfix, as TAP ---
cd "$examples" || exit 1
dt --tap --server "127.0.0.1:$p_normal" relay-control.dt pipelining.dt personality.dt starttls.dt
is "$status" 0 "the example scripts pass against Postfix"
like "$out" "^1\.\.4" "TAP plan for four scripts"
like "$out" "ok 1 - relay-control.dt" "relay-control.dt: a stranger set by XCLIENT is refused relaying, allowed to relay.test"
like "$out" "ok 2 - pipelining.dt" "pipelining.dt: pipelined MAIL/RCPT/DATA, body from a file, repeat"
like "$out" "ok 4 - starttls.dt" "starttls.dt: STARTTLS handshake, EHLO again without STARTTLS"
is "$(printf '%s\n' "$out" | grep -c '^not ok')" 0 "no test point fails"

# XCLIENT took effect on the server's side: Postfix logged the stranger
seen=1
for _ in $(seq 1 50); do
    grep -q 'reject: RCPT from unknown\[192.0.2.1\]: 554 5.7.1' "$tmp/maillog" 2>/dev/null && { seen=0; break; }
    sleep 0.1
done
tap_result $seen "Postfix logged the relay refusal for the XCLIENT address 192.0.2.1" \
    "$(tail -5 "$tmp/maillog" 2>/dev/null)"

dt --server "127.0.0.1:$p_normal" relay-control.dt pipelining.dt personality.dt starttls.dt
is "$status" 0 "human output: exit 0 when all pass"
like "$out" "^PASS  relay-control.dt  \(18 of 18 steps" "human output: a PASS line per script with its steps"
like "$out" "4 script runs: 4 passed, 0 failed" "human output: a summary line"

dt --jobs 4 --tap --server "127.0.0.1:$p_normal" relay-control.dt pipelining.dt personality.dt starttls.dt
is "$status" 0 "--jobs 4: the same scripts pass in parallel"
like "$(printf '%s\n' "$out" | sed -n 2,5p | tr '\n' ' ')" \
    "ok 1 - relay-control.dt .*ok 2 - pipelining.dt .*ok 3 - personality.dt .*ok 4 - starttls.dt" \
    "--jobs 4: results are reported in script order"

# --- a failing script: FILE:LINE, and expected beside received ---
cd "$fixtures" || exit 1
dt --tap --server "127.0.0.1:$p_normal" wrong-code.dt
is "$status" 1 "a failing script exits 1"
like "$out" "^not ok 1 - wrong-code.dt" "the failing script is a failed TAP point"
like "$out" "# wrong-code.dt:14: expect 250 2.1.5: expected 250, got 554" \
    "the failure names FILE:LINE, the expectation and the reply"
like "$out" "#  +wrong-code.dt:14 +expect 250 2.1.5 +554 5.7.1 <victim@elsewhere.example>: Relay access denied +FAIL" \
    "the transcript shows the expected and the received line side by side"
like "$out" "#  +wrong-code.dt:13 +> RCPT TO:<victim@elsewhere.example>" \
    "the transcript shows what was sent"
like "$out" "wrong-code.dt:12 +expect 250 2.1.0 +250 2.1.0 Ok +ok" \
    "the transcript marks the replies that matched"

dt --server "127.0.0.1:$p_normal" wrong-code.dt
like "$out" "^FAIL  wrong-code.dt" "human output: a FAIL line"
like "$out" "line +sent / expected +received" "human output: the transcript's columns"

# --- XCLIENT not offered, XCLIENT refused ---
dt --server "127.0.0.1:$p_noauth" no-xclient.dt
is "$status" 1 "xclient against a server that does not offer it fails"
like "$out" "no-xclient.dt:7: xclient: the server does not offer XCLIENT to this client .*smtpd_authorized_xclient_hosts" \
    "a server without XCLIENT gets a clear message"

dt --server "127.0.0.1:$p_noauth" xclient-refused.dt
like "$out" "xclient-refused.dt:5: xclient: XCLIENT refused: this client is not authorized: 550 5.7.0" \
    "a refused XCLIENT (550) gets a clear message"

# --- unreachable server, script errors, bounded waits ---
dt --server "127.0.0.1:$p_closed" "$examples/personality.dt"
is "$status" 1 "an unreachable server fails"
like "$out" "personality.dt:8: connect 127.0.0.1:$p_closed: Connection refused \(is the server running" \
    "an unreachable server gets a clear message"

dt --server "127.0.0.1:$p_normal" bad-syntax.dt
like "$out" "bad-syntax.dt:4: expect: \"2500\" is not a reply code" "a script error is FILE:LINE: message"

dt --server "127.0.0.1:$p_normal" stays-open.dt
like "$out" "stays-open.dt:5: expect-close within 1s: the connection stayed open \(nothing within 1s\)" \
    "expect-close fails when the server keeps the connection open"
ok=1; [ "$secs" -le 5 ] && ok=0
tap_result $ok "expect-close within 1s gives up in time (${secs}s)"

# --- the personality matrix: Postfix's normal and stress personalities ---
cd "$examples" || exit 1
dt --matrix "normal=127.0.0.1:$p_normal,stress=127.0.0.1:$p_stress" personality.dt relay-control.dt
is "$status" 1 "matrix: exit 1, because relay-control fails under stress"
like "$out" "^script / step +normal +stress" "matrix: one table, a column per personality"
like "$out" "personality.dt +PASS +PASS" "matrix: personality.dt passes in both (its if branches)"
like "$out" "  23 expect 250 2.1.5 +ok 250 2.1.5 +FAIL 421 4.7.0 +\*" \
    "matrix: the stress personality's hard error limit of 1 shows in the row, marked *"
finish
