# tests/node/install-sdk.sh - sourced by the tests that run the real Zoho
# CRM Node.js SDK: install_sdk makes sure @zohocrm/nodejs-sdk-8.0 is
# installed in $top_builddir/tests/node-sdk, from npm the first time, and
# sets SDK_DIR (its node_modules is where the SDK resolves from) and
# SDK_ENTRY (the package's entry file).
#
# One install serves every test and later runs; make clean removes it. The
# test skips only when npm cannot reach its registry: an install that fails
# otherwise is a failure. Tests that make check runs at once take turns
# (flock), so none sees another's install half done.

SDK_NAME=@zohocrm/nodejs-sdk-8.0
SDK_VERSION=2.0.0
SDK_DIR="$top_builddir/tests/node-sdk"
SDK_ENTRY="$SDK_DIR/node_modules/$SDK_NAME/lib/index.js"

sdk_installed() {
    grep -q "\"version\": \"$SDK_VERSION\"" \
        "$SDK_DIR/node_modules/$SDK_NAME/package.json" 2>/dev/null
}

# Into a new directory first, so an interrupted install is never reused;
# npm's cache goes there too, so that nothing depends on $HOME.
sdk_npm_install() {
    tmp="$SDK_DIR.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" && echo '{"private": true}' >"$tmp/package.json" ||
        return 1
    # Retries a few seconds apart, not npm's default of up to a minute.
    if (cd "$tmp" && npm_config_cache="$tmp/.npm-cache" npm install --no-audit --no-fund \
            --loglevel=error --fetch-retries=2 --fetch-retry-mintimeout=2000 \
            --fetch-retry-maxtimeout=5000 "$SDK_NAME@$SDK_VERSION") >"$SCRATCH/npm.log" 2>&1; then
        rm -rf "$tmp/.npm-cache" "$SDK_DIR" && mv "$tmp" "$SDK_DIR" && return 0
    fi
    rm -rf "$tmp"
    return 1
}

install_sdk() {
    sdk_installed && return 0
    command -v npm >/dev/null 2>&1 ||
        { echo "Bail out! npm is not installed (tools/install-deps.sh installs it)"; exit 1; }
    mkdir -p "$top_builddir/tests"
    if command -v flock >/dev/null 2>&1; then
        exec 9>>"$SDK_DIR.lock" && flock 9
    fi
    if ! sdk_installed && ! sdk_npm_install; then
        if ! npm_config_cache="$SCRATCH/.npm-cache" \
                npm ping --fetch-timeout=15000 --fetch-retries=0 >/dev/null 2>&1; then
            echo "1..0 # SKIP npm cannot reach its registry, so $SDK_NAME@$SDK_VERSION cannot be installed"
            exit 0
        fi
        echo "Bail out! npm install $SDK_NAME@$SDK_VERSION failed:"
        tail -n 5 "$SCRATCH/npm.log" | sed 's/^/# /'
        exit 1
    fi
    exec 9>&-
}
