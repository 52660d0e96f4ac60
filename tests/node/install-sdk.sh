# tests/node/install-sdk.sh - sourced by the tests that run the real Zoho
# CRM Node.js SDK: install_sdk makes sure @zohocrm/nodejs-sdk-8.0 is
# installed in $top_builddir/tests/node-sdk (npm-install.sh), and sets
# SDK_DIR (its node_modules is where the SDK resolves from) and SDK_ENTRY
# (the package's entry file). The test skips only when npm cannot reach
# its registry.
. "$top_srcdir/tests/node/npm-install.sh"

SDK_NAME=@zohocrm/nodejs-sdk-8.0
SDK_VERSION=2.0.0
SDK_DIR="$top_builddir/tests/node-sdk"
SDK_ENTRY="$SDK_DIR/node_modules/$SDK_NAME/lib/index.js"

install_sdk() {
    npm_package "$SDK_DIR" "$SDK_NAME" "$SDK_VERSION" || { echo "1..0 # SKIP $NPM_SKIP"; exit 0; }
}
