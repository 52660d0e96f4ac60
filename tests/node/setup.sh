# tests/node/setup.sh - sourced by the Node tests: finds node and the built
# addon, and starts a throwaway redis-server (stopped on exit).
#
# A build without the addon (configure found no node_api.h, or
# --without-node) skips the test; with the addon built, node must run.
. "$top_srcdir/tests/lib.sh"
make_scratch

ADDON="$top_builddir/bindings/node/.libs/tokenstore.so"
if [ ! -f "$ADDON" ]; then
    echo "1..0 # SKIP the Node.js addon was not built (configure found no node_api.h)"
    exit 0
fi
NODE=$(command -v node || command -v nodejs) ||
    { echo "Bail out! node is not installed (tools/install-deps.sh installs it)"; exit 1; }
TOKENSTORE_NODE_ADDON=$ADDON
TS_BINDING="$top_srcdir/bindings/node/index.mjs"
export NODE TOKENSTORE_NODE_ADDON TS_BINDING

# The CLI without its libtool wrapper, as tests/cli.test runs it.
if [ -x "$top_builddir/cli/.libs/tokenstore" ]; then
    TS_CLI="$top_builddir/cli/.libs/tokenstore"
    LD_LIBRARY_PATH="$top_builddir/core/.libs:$top_builddir/oauth/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi
export TS_CLI SCRATCH

REDIS_DIR="$SCRATCH/redis"
CLEANUP_PIDS=""
cleanup() {
    for p in $CLEANUP_PIDS; do kill "$p" 2>/dev/null; done
    sh "$top_srcdir/tests/redis/server.sh" stop "$REDIS_DIR"
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
# DEBUG SLEEP holds the server busy in the event-loop test.
REDIS_PORT=$(sh "$top_srcdir/tests/redis/server.sh" start "$REDIS_DIR" \
    --enable-debug-command local) || { echo "Bail out! redis-server did not start"; exit 1; }
export REDIS_PORT

# An addon built with AddressSanitizer (CI's sanitizer build) loads into
# node, which is not instrumented, only with the runtime preloaded; node's
# own allocations at exit are not the addon's leaks.
SANITIZERS=$(ldd "$ADDON" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { print $3 }' | tr '\n' ' ')
if [ -n "$SANITIZERS" ]; then
    LD_PRELOAD="$SANITIZERS${LD_PRELOAD:+ $LD_PRELOAD}"
    # Last, so that it wins over CI's detect_leaks=1.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    export LD_PRELOAD ASAN_OPTIONS
fi
