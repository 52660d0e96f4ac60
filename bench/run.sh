#!/bin/sh
# bench/run.sh - runs each benchmark program given, through libtool so the
# uninstalled library and backends are used. BENCH_ARGS passes sizes.
set -e
status=0
for b in "$@"; do
    echo "== $b"
    $LIBTOOL --mode=execute "./$b" $BENCH_ARGS || status=1
done
exit $status
