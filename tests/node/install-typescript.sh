# tests/node/install-typescript.sh - sourced by tests/node/package.test:
# install_typescript makes sure typescript@$TS_VERSION is installed in
# $top_builddir/tests/node-typescript, from npm the first time, and sets TSC
# (its tsc). It returns 1, with TSC_SKIP saying why, when npm cannot reach
# its registry; an install that fails otherwise is a failure (Bail out).
#
# One install serves later runs; make clean removes it. As install-sdk.sh
# does for the SDK: into a new directory first, so that an interrupted
# install is never reused, npm's cache beside it, and under a lock.

TS_VERSION=5.9.3
TS_DIR="$top_builddir/tests/node-typescript"
TSC="$TS_DIR/node_modules/typescript/bin/tsc"

typescript_installed() {
    grep -q "\"version\": \"$TS_VERSION\"" \
        "$TS_DIR/node_modules/typescript/package.json" 2>/dev/null
}

typescript_npm_install() {
    tmp="$TS_DIR.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" && echo '{"private": true}' >"$tmp/package.json" ||
        return 1
    if (cd "$tmp" && npm_config_cache="$tmp/.npm-cache" npm install --no-audit --no-fund \
            --loglevel=error --fetch-retries=2 --fetch-retry-mintimeout=2000 \
            --fetch-retry-maxtimeout=5000 "typescript@$TS_VERSION") >"$SCRATCH/npm-typescript.log" 2>&1; then
        rm -rf "$tmp/.npm-cache" "$TS_DIR" && mv "$tmp" "$TS_DIR" && return 0
    fi
    rm -rf "$tmp"
    return 1
}

install_typescript() {
    typescript_installed && return 0
    mkdir -p "$top_builddir/tests"
    if command -v flock >/dev/null 2>&1; then
        exec 8>>"$TS_DIR.lock" && flock 8
    fi
    if ! typescript_installed && ! typescript_npm_install; then
        exec 8>&-
        if ! npm_config_cache="$SCRATCH/.npm-cache" \
                npm ping --fetch-timeout=15000 --fetch-retries=0 >/dev/null 2>&1; then
            TSC_SKIP="npm cannot reach its registry, so typescript@$TS_VERSION cannot be installed"
            return 1
        fi
        echo "Bail out! npm install typescript@$TS_VERSION failed:"
        tail -n 5 "$SCRATCH/npm-typescript.log" | sed 's/^/# /'
        exit 1
    fi
    exec 8>&-
    return 0
}
