#!/usr/bin/env bash
# 50-doppel-map.t - "doppel map" as an administrator uses it: build a
# table like postmap, query it and other table types, rebuild it while
# it is in use, and get FILE:LINE with a non-zero exit for bad input.
set -u
. "$(dirname "$0")/tap.sh"

doppel="$DOPPEL_BIN/doppel"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plan 26

# map ARGS... - run doppel map, keeping stdout, stderr and status
map() {
    out=$("$doppel" map "$@" 2>"$tmp/err"); status=$?
    err=$(cat "$tmp/err")
}

# build and query
cat > "$tmp/access" <<'END'
# sender access
Spammer@Example.COM   REJECT 5.7.1 go away
example.net           OK
spammer@example.com   DUPLICATE
192.0.2.1             DEFER try
    again later
END
map build "$tmp/access"
is "$status" 0 "build succeeds"
like "$out" "access.lmdb: 3 keys" "build reports the key count"
like "$err" "access:4: duplicate key \"spammer@example.com\": the first value is kept" \
    "a duplicate key is a warning with its line"
map query "$tmp/access" SPAMMER@example.com
is "$out" "REJECT 5.7.1 go away" "query folds the key; the first duplicate won"
map query "lmdb:$tmp/access" 192.0.2.1
is "$out" "DEFER try again later" "continuation lines join the value"
map query "$tmp/access" nobody@example.org
is "$status" 1 "a missing key exits 1"
is "$out" "" "a missing key prints nothing"

# atomic rebuild: a reader in a loop never sees a missing or partial table
printf 'key old\n' > "$tmp/live"
map build "$tmp/live"
(
    for i in $(seq 1 20); do
        printf 'key new%d\n' "$i" > "$tmp/live.src$i"
        cp "$tmp/live.src$i" "$tmp/live"
        "$doppel" map build "$tmp/live" >/dev/null 2>&1 || echo "build $i failed"
    done
) > "$tmp/builder.log" &
builder=$!
bad=0
for i in $(seq 1 100); do
    # stderr may warn that the source is newer than the database
    v=$("$doppel" map query "$tmp/live" key 2>>"$tmp/reader.err")
    case "$v" in old|new[0-9]*) ;; *) bad=$((bad + 1)); echo "got: '$v'" >> "$tmp/reader.log";; esac
done
wait "$builder"
is "$bad" 0 "every query during 20 rebuilds answers old or new"
[ -s "$tmp/reader.log" ] && { head -3 "$tmp/reader.log"; grep -v 'source is newer' "$tmp/reader.err" | head -3; } | sed 's/^/# /'
is "$(cat "$tmp/builder.log")" "" "every rebuild succeeds"
map query "$tmp/live" key
is "$out" "new20" "after the rebuilds the last table answers"
is "$(ls "$tmp" | grep -c '\.tmp\.')" 0 "no temporary files are left"

# broken input: FILE:LINE, non-zero exit, the old database unchanged
printf 'good OK\n\nnovalue\n' > "$tmp/live"
map build "$tmp/live"
is "$status" 1 "a bad source fails"
like "$err" "live:3: \"novalue\" has no value \(use \"key value\"\)" \
    "the bad line is named with FILE:LINE"
like "$err" "not built; the old .*live.lmdb is unchanged" "the old table is kept"
map query "$tmp/live" key
is "$out" "new20" "the old table still answers"
map build "$tmp/nonexistent"
is "$status" 1 "a missing source fails"
like "$err" "nonexistent: cannot open: No such file or directory" \
    "a missing source is named"
map query "$tmp/nonexistent" x
like "$err" "nonexistent.lmdb: no such file \(build it with \"doppel map build\"\)" \
    "a missing database says how to build it"

# other table types through query and check
printf '10.0.0.0/8 internal\n!192.0.2.0/24 outside\n' > "$tmp/c.cidr"
map query "cidr:$tmp/c.cidr" 10.1.2.3
is "$out" "internal" "query a cidr table"
printf '/^(\\w+)\\.example\\.com$/ host $1\n' > "$tmp/p.pcre"
map query "pcre:$tmp/p.pcre" mx1.example.com
is "$out" "host mx1" "query a pcre table with \$1"
map query "inline:{ a=1, { b = two words } }" B
is "$out" "two words" "query an inline table"
printf '10.0.0.0/8 ok\n10.1.2.3/8 bad\nif 192.0.2.0/24\n' > "$tmp/bad.cidr"
map check "cidr:$tmp/bad.cidr"
is "$status" 1 "check fails a bad cidr table"
like "$err" "bad.cidr:2: \"10.1.2.3/8\": address has bits set beyond the /8 prefix \(use 10.0.0.0/8\)" \
    "check names the line with host bits"
like "$err" "bad.cidr:3: \"if\" without \"endif\"" "check names an unclosed if"
printf '/ok/ OK\n/(/ REJECT\n' > "$tmp/bad.pcre"
map check "pcre:$tmp/bad.pcre" "cidr:$tmp/c.cidr"
like "$err" "bad.pcre:2: bad regular expression /\(/: missing closing parenthesis" \
    "check names a bad regular expression"
map nonsense
is "$status" 2 "an unknown subcommand is a usage error"
finish
