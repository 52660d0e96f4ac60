# tests/lib.sh - TAP helpers for the shell tests.
#
# Source it, call plan N (or done_testing at the end), then ok/is/like.
# Each check prints one TAP line; automake's tap-driver counts them.
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
TS_CLI="$top_builddir/cli/tokenstore"
_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }
# done_testing: prints the plan; exits 1 when a check failed.
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ] || exit 1; }

_tap_result() {  # status description [diagnostic]
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_tap_n - $2"
    else
        _tap_failed=$((_tap_failed + 1))
        echo "not ok $_tap_n - $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
    fi
    return 0
}

# skip DESCRIPTION REASON: a check that cannot be made here.
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }

# ok DESCRIPTION COMMAND...: passes when COMMAND exits 0.
ok() { _d=$1; shift; "$@" >/dev/null 2>&1; _tap_result $? "$_d"; }

# is GOT EXPECTED DESCRIPTION
is() {
    if [ "$1" = "$2" ]; then _tap_result 0 "$3"
    else _tap_result 1 "$3" "got:      '$1'
expected: '$2'"; fi
}

# like GOT PATTERN DESCRIPTION (grep -E pattern)
like() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"
    else _tap_result 1 "$3" "got: '$1'
does not match: '$2'"; fi
}

# unlike GOT PATTERN DESCRIPTION
unlike() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then _tap_result 1 "$3" "got: '$1'
matches: '$2'"
    else _tap_result 0 "$3"; fi
}

# Sets $SCRATCH to a new directory removed when the test exits. Call it in
# the test's own shell, not in $(...).
make_scratch() {
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tokenstore-test.XXXXXX") || exit 99
    trap 'rm -rf "$SCRATCH"' EXIT
}

# Copies the `make install DESTDIR=tests/stage` that make check made before
# the tests ran (Makefile.am says why not here) into $1; on failure, the
# end of its log as TAP comments and status 1.
copy_staged_install() {
    if [ -f "$top_builddir/tests/stage.stamp" ] && cp -a "$top_builddir/tests/stage" "$1"; then
        return 0
    fi
    tail -n 20 "$top_builddir/tests/stage.log" 2>/dev/null | sed 's/^/# /'
    return 1
}

# The path of a built backend .so.
plugin_so() { echo "$top_builddir/plugins/$1/.libs/$1.so"; }
