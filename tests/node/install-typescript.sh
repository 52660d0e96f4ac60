# tests/node/install-typescript.sh - sourced by tests/node/package.test:
# install_typescript makes sure typescript@$TS_VERSION is installed in
# $top_builddir/tests/node-typescript (npm-install.sh), and sets TSC (its
# tsc). It returns 1, with TSC_SKIP saying why, when npm cannot reach its
# registry.
. "$top_srcdir/tests/node/npm-install.sh"

TS_VERSION=5.9.3
TS_DIR="$top_builddir/tests/node-typescript"
TSC="$TS_DIR/node_modules/typescript/bin/tsc"

install_typescript() {
    npm_package "$TS_DIR" typescript "$TS_VERSION" || { TSC_SKIP=$NPM_SKIP; return 1; }
}
