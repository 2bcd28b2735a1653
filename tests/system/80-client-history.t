#!/usr/bin/env bash
# 80-client-history.t - "doppel client" on the LMDB store and on a shared
# Redis: two hosts (two configurations with their own data_directory)
# see one history through a redis-server started here on loopback, and
# fall back to their local store, with a warning, when it stops.
set -u
. "$(dirname "$0")/tap.sh"

doppel="$DOPPEL_BIN/doppel"
tmp=$(mktemp -d)
redis_pid=
cleanup() {
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "1..0 # SKIP redis-server or redis-cli not installed"
    exit 0
fi
plan 34

# client DIR ARGS... - run doppel client, keeping stdout, stderr and status
client() {
    local dir=$1; shift
    out=$("$doppel" -c "$dir" client "$@" 2>"$tmp/err"); status=$?
    err=$(cat "$tmp/err")
}

# field NAME - the value of NAME=... in $out
field() { printf '%s\n' "$out" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# host NAME BACKEND - a configuration directory standing for one host
host() {
    mkdir -p "$tmp/$1/conf" "$tmp/$1/data"
    cat > "$tmp/$1/conf/doppel.cf" <<END
data_directory = $tmp/$1/data
client_history_backend = $2
client_known_min_messages = 3
client_known_min_age = 0
client_suspect_events = 2
END
}

# redis_up - start redis-server on $port and wait until it answers
redis_up() {
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --daemonize no > "$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    return 1
}

# redis_down - stop it and wait
redis_down() {
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null; redis_pid=
}

# 1. LMDB, the default: record, show, list, forget
host local lmdb
client "$tmp/local/conf" show 192.0.2.1
is "$status" 1 "show of an unknown client exits 1"
like "$err" "192.0.2.1: no history" "and says so"
is "$(ls "$tmp/local/data")" "" "show does not create the store"
client "$tmp/local/conf" record 192.0.2.1 connect message message message
is "$status" 0 "record succeeds"
like "$out" "^192.0.2.1 class=known first=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z " \
    "record prints the client: three messages make it known"
client "$tmp/local/conf" record 2001:db8:1:2::5 connect early_talk timeout
client "$tmp/local/conf" show 2001:db8:1:2:ffff::1
like "$out" "^2001:db8:1:2::/64 class=suspect " \
    "IPv6 clients are keyed by their /64; two abuse events make one suspect"
is "$(field early_talks)/$(field timeouts)/$(field connections)" "1/1/1" \
    "the counters are kept"
client "$tmp/local/conf" list
is "$(printf '%s\n' "$out" | cut -d' ' -f1 | tr '\n' ' ')" \
    "192.0.2.1 2001:db8:1:2::/64 " "list prints every client"
client "$tmp/local/conf" forget 192.0.2.1
is "$out" "192.0.2.1: forgotten" "forget deletes"
client "$tmp/local/conf" show 192.0.2.1
is "$status" 1 "a forgotten client has no history"
client "$tmp/local/conf" show not-an-address
is "$status" 2 "a bad address is a usage error"

# 2. Redis shared by two hosts
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_up
ok=$?
tap_result "$ok" "redis-server started on 127.0.0.1:$port"
host a "redis:127.0.0.1:$port"
host b "redis:127.0.0.1:$port"

client "$tmp/a/conf" record 192.0.2.7 connect message message
is "$status" 0 "host a records through redis"
client "$tmp/b/conf" record 192.0.2.7 connect message
like "$out" "^192.0.2.7 class=known .* connections=2 messages=3 " \
    "host b adds to the same record: known by both hosts' deliveries"
client "$tmp/a/conf" show 192.0.2.7
is "$(field messages)/$(field connections)" "3/2" "host a sees host b's events"
is "$(redis-cli -p "$port" hget doppel:client:192.0.2.7 messages)" "3" \
    "the record is a redis hash"
ttl=$(redis-cli -p "$port" ttl doppel:client:192.0.2.7)
[ "$ttl" -gt 2500000 ] && [ "$ttl" -le 2592000 ]
tap_result $? "the hash expires after client_history_ttl (30d): $ttl s"
# the local store of host a, read with the lmdb backend
mkdir -p "$tmp/a/local"
printf 'data_directory = %s\nclient_history_backend = lmdb\n' "$tmp/a/data" \
    > "$tmp/a/local/doppel.cf"
client "$tmp/a/local" list
is "$status:$out" "0:" "nothing went to the local store while redis was up"
client "$tmp/b/conf" record 2001:db8:9::1 reject error
client "$tmp/a/conf" list
is "$(printf '%s\n' "$out" | cut -d' ' -f1,2 | sort | tr '\n' ' ')" \
    "192.0.2.7 class=known 2001:db8:9::/64 class=suspect " "list reads redis"
client "$tmp/b/conf" forget 192.0.2.7
client "$tmp/a/conf" show 192.0.2.7
is "$status" 1 "a client forgotten on host b is gone on host a"
is "$err" "doppel client: 192.0.2.7: no history" "and no warning while redis is up"
is "$(redis-cli -p "$port" exists doppel:client:192.0.2.7)" "0" "forget deleted the hash"

# 3. Redis stops: the local store takes over, with a warning, at once
redis_down
start=$(date +%s%N)
client "$tmp/a/conf" record 192.0.2.9 connect message
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
is "$status" 0 "with redis down, record still succeeds"
like "$err" "warning: client history: redis 127.0.0.1:$port: .*using the local store .*/a/data/client_history.lmdb" \
    "and warns that the local store is used"
[ "$elapsed" -lt 3000 ]
tap_result $? "without a stall (${elapsed} ms)"
is "$(printf '%s\n' "$err" | grep -c 'warning: .*using the local store')" "1" \
    "one warning for the outage"
like "$err" "warning: client history: redis 127.0.0.1:$port: 2 event\\(s\\) of the outage were never copied to it" \
    "and, as the command ends before redis is back, that its events stayed local"
client "$tmp/a/conf" show 192.0.2.9
is "$(field messages)" "1" "host a, still without redis, reads it back from the fallback"
client "$tmp/a/local" show 192.0.2.9
is "$(field messages)" "1" "what host a recorded during the outage is in its local store"
client "$tmp/b/conf" show 192.0.2.9
is "$status" 1 "host b does not see host a's local store"
like "$err" "using the local store .*/b/data/" "host b warns too"

# 4. Redis returns (empty: --save ''): the hosts share it again
redis_up
tap_result $? "redis-server restarted"
client "$tmp/a/conf" record 192.0.2.10 message
client "$tmp/b/conf" show 192.0.2.10
is "$status/$(field messages)" "0/1" "after the outage the hosts share redis again"
is "$err" "" "no warning once redis is back"

finish
