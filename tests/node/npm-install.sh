# tests/node/npm-install.sh - sourced by the tests that need a package from
# the npm registry: npm_package DIR NAME VERSION makes sure NAME@VERSION is
# installed under DIR (DIR/node_modules/NAME), from npm the first time.
# It returns 1, with NPM_SKIP saying why, when npm cannot reach its
# registry; an install that fails otherwise is a failure (Bail out).
#
# One install serves every test and later runs; make clean removes it. It
# goes into a new directory first, so that an interrupted install is never
# reused, with npm's cache beside it, so that nothing depends on $HOME; and
# tests that make check runs at once take turns (flock), so none sees
# another's install half done.

npm_package_installed() {
    grep -q "\"version\": \"$3\"" "$1/node_modules/$2/package.json" 2>/dev/null
}

npm_package_fetch() {
    tmp="$1.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" && echo '{"private": true}' >"$tmp/package.json" ||
        return 1
    # Retries a few seconds apart, not npm's default of up to a minute.
    if (cd "$tmp" && npm_config_cache="$tmp/.npm-cache" npm install --no-audit --no-fund \
            --loglevel=error --fetch-retries=2 --fetch-retry-mintimeout=2000 \
            --fetch-retry-maxtimeout=5000 "$2@$3") >"$SCRATCH/npm.log" 2>&1; then
        rm -rf "$tmp/.npm-cache" "$1" && mv "$tmp" "$1" && return 0
    fi
    rm -rf "$tmp"
    return 1
}

npm_package() {
    npm_package_installed "$@" && return 0
    command -v npm >/dev/null 2>&1 ||
        { echo "Bail out! npm is not installed (tools/install-deps.sh installs it)"; exit 1; }
    mkdir -p "$(dirname "$1")"
    if command -v flock >/dev/null 2>&1; then
        exec 9>>"$1.lock" && flock 9
    fi
    if ! npm_package_installed "$@" && ! npm_package_fetch "$@"; then
        exec 9>&-
        if ! npm_config_cache="$SCRATCH/.npm-cache" \
                npm ping --fetch-timeout=15000 --fetch-retries=0 >/dev/null 2>&1; then
            NPM_SKIP="npm cannot reach its registry, so $2@$3 cannot be installed"
            return 1
        fi
        echo "Bail out! npm install $2@$3 failed:"
        tail -n 5 "$SCRATCH/npm.log" | sed 's/^/# /'
        exit 1
    fi
    exec 9>&-
    return 0
}
