#!/bin/sh
# tools/install-deps.sh - installs what building and testing tokenstore
# needs on Debian 12, and nothing when it is all there already.
set -e
PACKAGES="build-essential autoconf automake libtool pkg-config binutils
  libsqlite3-dev libhiredis-dev libcurl4-openssl-dev libjson-c-dev check
  redis-server redis-tools sqlite3 python3"
# tests/node/filestore.test runs the Node.js SDK: node and npm from Debian
# unless some are on the PATH already (a Node.js from elsewhere brings its
# own npm, which Debian's npm package would conflict with).
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
