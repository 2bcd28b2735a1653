# tap.sh - TAP helpers for the shell system tests (sourced, not run).
#
#   plan N; ok COND-EXIT "name"; is GOT WANT "name"; like TEXT REGEX "name"
#   finish   exits non-zero if any test failed
# DOPPEL_BUILD is the build whose bin/ is tested (make check sets it).

: "${DOPPEL_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build/san}"
DOPPEL_BIN="$DOPPEL_BUILD/bin"
DOPPEL_SRC=$(cd "$(dirname "$0")/../.." && pwd)
tap_n=0
tap_failed=0

plan() { echo "1..$1"; }

tap_result() {          # tap_result STATUS NAME [DIAGNOSTIC]
    tap_n=$((tap_n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
    return 0
}

is() {                  # is GOT WANT NAME
    if [ "$1" = "$2" ]; then tap_result 0 "$3"
    else tap_result 1 "$3" "got:  '$1'
want: '$2'"; fi
}

like() {                # like TEXT REGEX NAME
    if printf '%s' "$1" | grep -Eq -- "$2"; then tap_result 0 "$3"
    else tap_result 1 "$3" "text: '$1'
does not match: '$2'"; fi
}

finish() { [ "$tap_failed" = 0 ]; exit $?; }
