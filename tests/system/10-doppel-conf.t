#!/usr/bin/env bash
# 10-doppel-conf.t - "doppel conf" as an administrator uses it: the
# example configuration, personalities side by side, the self-reference
# fix, and a clear FILE:LINE message for every kind of bad input.
set -u
. "$(dirname "$0")/tap.sh"

doppel="$DOPPEL_BIN/doppel"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plan 27

# conf DIR ARGS... - run doppel conf, keeping stdout, stderr and status
conf() {
    local dir=$1; shift
    out=$("$doppel" -c "$dir" conf "$@" 2>"$tmp/err"); status=$?
    err=$(cat "$tmp/err")
}

# the example configuration that make run uses
conf "$DOPPEL_SRC/conf" check
is "$status" 0 "example configuration passes check"
like "$out" "OK: 3 service\(s\)" "check summarises the services"

conf "$DOPPEL_SRC/conf" --diff smtpd_timeout
like "$out" "^parameter +normal +stress" "--diff has a header row"
like "$out" "smtpd_timeout +300s +10s +300s +300s" \
    "--diff: stress is 10s, preferred keeps 300s under stress"

conf "$DOPPEL_SRC/conf" -x -p stress smtpd_soft_error_limit
is "$out" "smtpd_soft_error_limit = 1" "self-reference fix: stress soft limit is the stress hard limit"
conf "$DOPPEL_SRC/conf" -x smtpd_soft_error_limit
is "$out" "smtpd_soft_error_limit = 20" "normal soft limit is the normal hard limit"
conf "$DOPPEL_SRC/conf" smtpd_soft_error_limit
is "$out" "smtpd_soft_error_limit = \$smtpd_hard_error_limit" "without -x the value is shown as written"

conf "$DOPPEL_SRC/conf" -x stress_smtpd_timeout preferred_stress_smtpd_timeout
is "$out" "stress_smtpd_timeout = 10s
preferred_stress_smtpd_timeout = 300s" "doppelganger names select their personality"

conf "$DOPPEL_SRC/conf" -x -S 127.0.0.1:2526 smtpd_authorized_xclient_hosts
is "$out" "smtpd_authorized_xclient_hosts = 127.0.0.0/8" "-S shows a service's -o overrides"

conf "$DOPPEL_SRC/conf" -n
like "$out" "^myhostname = mx.example.test" "-n lists what doppel.cf sets"
is "$(printf '%s\n' "$out" | grep -c '^smtpd_banner')" 0 "-n omits what is not set"

conf "$DOPPEL_SRC/conf" -d -p stress smtpd_timeout smtpd_hard_error_limit
is "$out" "smtpd_timeout = 10s
smtpd_hard_error_limit = 1" "-d -p stress shows the built-in stress defaults"

conf "$DOPPEL_SRC/conf"
is "$(printf '%s\n' "$out" | grep -c ' = \| =$')" \
   "$("$doppel" -c "$DOPPEL_SRC/conf" conf -d | wc -l)" "every parameter is printed"

conf "$DOPPEL_SRC/conf" smtpd_timout
is "$status" 1 "an unknown name fails"
like "$err" "unknown parameter smtpd_timout \(did you mean smtpd_timeout\?\)" \
    "an unknown name gets the nearest known one"

# bad input: each refused with FILE:LINE and a non-zero exit
mkdir "$tmp/bad"
printf 'myhostname = a.example\n\nsmtpd_timeout = 10q\n' > "$tmp/bad/doppel.cf"
conf "$tmp/bad" check
is "$status" 1 "a bad value fails check"
like "$err" "doppel.cf:3: smtpd_timeout: \"10q\" is not a time \(use ms, s, m, h, d or w\)" \
    "a bad value is named with its line and the right units"

printf 'a = $b\nb = $a\nmyorigin = $a\n' > "$tmp/bad/doppel.cf"
conf "$tmp/bad" check
like "$err" "doppel.cf:3: myorigin: reference loop: \\\$myorigin -> \\\$a -> \\\$b -> \\\$a" \
    "a reference loop is refused with the chain"

head -c 4096 /dev/urandom > "$tmp/bad/doppel.cf"
printf '\0' >> "$tmp/bad/doppel.cf"
conf "$tmp/bad" check
is "$status" 1 "binary junk fails"
like "$err" "doppel.cf:[0-9]+: (file contains a NUL byte|.*missing \"=\"|.*is not a valid parameter name)" \
    "binary junk gets a clear message"

{ printf 'myorigin = '; head -c 1048576 /dev/zero | tr '\0' x; echo; } > "$tmp/bad/doppel.cf"
conf "$tmp/bad" check
like "$err" "doppel.cf:1: line is longer than 65536 bytes" "a 1 MB line is refused"

printf 'smtpd_hard_error_limit = 0\n' > "$tmp/bad/doppel.cf"
conf "$tmp/bad" check
like "$err" "doppel.cf:1: smtpd_hard_error_limit: \"0\" is below the minimum 1" \
    "an out-of-range value is refused"

printf 'myhostname = a.example\n' > "$tmp/bad/doppel.cf"
printf '127.0.0.1:25 inet 1 smtpd -p sometimes\n' > "$tmp/bad/services.cf"
conf "$tmp/bad" check
like "$err" "services.cf:1: -p sometimes: use auto, normal or stress" \
    "a bad services.cf line is refused"

conf "$tmp/nonexistent" check
is "$status" 1 "a missing directory fails"
like "$err" "nonexistent/doppel.cf: cannot open: No such file or directory" \
    "a missing file is named"

"$doppel" conf --bogus >/dev/null 2>&1
is "$?" 2 "a usage error exits 2"
"$doppel" nosuchcommand >/dev/null 2>&1
is "$?" 2 "an unknown command exits 2"
finish
