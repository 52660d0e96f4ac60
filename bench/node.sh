#!/bin/sh
# bench/node.sh - runs bench/bench_node.mjs on a throwaway redis-server.
#
# The redis npm client it compares against is a bench-only dependency:
# installed here, once, into $top_builddir/bench/node-deps.
set -e
DEPS="$top_builddir/bench/node-deps"
if [ ! -f "$DEPS/node_modules/redis/package.json" ]; then
    mkdir -p "$DEPS"
    [ -f "$DEPS/package.json" ] || echo '{"private": true}' >"$DEPS/package.json"
    (cd "$DEPS" && npm install --no-audit --no-fund --loglevel=error redis@4) ||
        { echo "bench/node.sh: npm install redis@4 failed" >&2; exit 1; }
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/tokenstore-bench-node.XXXXXX")
trap 'sh "$top_srcdir/tests/redis/server.sh" stop "$dir"; rm -rf "$dir"' EXIT
REDIS_PORT=$(sh "$top_srcdir/tests/redis/server.sh" start "$dir")
TOKENSTORE_NODE_ADDON="$top_builddir/bindings/node/.libs/tokenstore.so" \
TS_BINDING="$top_srcdir/bindings/node/index.mjs" NODE_DEPS="$DEPS" REDIS_PORT=$REDIS_PORT \
    "${NODE:-node}" "$top_srcdir/bench/bench_node.mjs"
