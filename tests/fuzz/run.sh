#!/bin/sh
# tests/fuzz/run.sh - builds each libFuzzer harness in tests/fuzz/ with
# clang from the core's sources (and the OAuth client's, oauth/) and runs
# it for FUZZ_SECONDS (default 30) on its seed corpus (tests/fuzz/corpus/NAME
# plus the fixtures that fit).
# Prints one TAP line per harness; a crash leaves its reproducer in
# BUILDDIR/tests/fuzz-out/NAME-crash-* and fails.
#
# usage: run.sh SRCDIR BUILDDIR [NAME...]
set -u
src=$1 build=$2
shift 2
seconds=${FUZZ_SECONDS:-30}
cc=${FUZZ_CC:-clang}
out=$build/tests/fuzz-out
mkdir -p "$out"

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "1..0 # SKIP $cc is not installed (apt-get install clang), so nothing was fuzzed"
    exit 0
fi
names=${*:-$(cd "$src/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
set -- $names
echo "1..$#"

flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE
  -I$build/core/include -I$src/core/include -I$src/core -I$build -DTS_PLUGIN_DIR=\"/nonexistent\"
  -DTS_SYSCONFDIR=\"/nonexistent\" $(pkg-config --cflags json-c libcurl libcrypto)"
libs="$(pkg-config --libs json-c libcurl libcrypto) -ldl -lpthread"
core=$(ls "$src"/core/*.c)

# Seeds beyond the harness's own corpus: the files it is meant to read.
extra_seeds() {
    case $1 in
    json) echo "$src/examples/configs" ;;
    csv|file) echo "$src/tests/fixtures/file $src/tests/fixtures/sdk" ;;
    esac
}

# Sources beyond the core's that a harness reaches into.
extra_sources() {
    case $1 in
    csv) echo "$src/plugins/file/csv.c" ;;
    file) ls "$src"/plugins/file/*.c ;;
    oauth_reply) ls "$src"/oauth/*.c ;;
    esac
}

n=0 failed=0
for name in "$@"; do
    n=$((n + 1))
    bin=$out/fuzz_$name
    # shellcheck disable=SC2086
    if ! $cc $flags -o "$bin" "$src/tests/fuzz/fuzz_$name.c" $core $(extra_sources "$name") $libs >"$bin.build.log" 2>&1; then
        echo "not ok $n - fuzz_$name does not build (see $bin.build.log)"
        failed=$((failed + 1))
        continue
    fi
    work=$out/corpus-$name          # new inputs go here, not into the tree
    mkdir -p "$work"
    seeds="$src/tests/fuzz/corpus/$name $(extra_seeds "$name")"
    existing=""
    for d in $seeds; do [ -d "$d" ] && existing="$existing $d"; done
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/$name-" "$work" $existing >"$bin.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$bin.log")
    if [ $rc -eq 0 ]; then
        echo "ok $n - fuzz_$name: ${runs:-?} runs in ${seconds} s, no crash"
    else
        failed=$((failed + 1))
        echo "not ok $n - fuzz_$name crashed (exit $rc); reproducer: $(ls "$out/$name-"* 2>/dev/null | head -1)"
        grep -m 5 -E "ERROR|property failed|runtime error" "$bin.log" | sed 's/^/# /'
    fi
done
[ $failed -eq 0 ]
