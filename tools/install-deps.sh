#!/bin/sh
# tools/install-deps.sh - installs what building and testing tokenstore
# needs on Debian 12, and nothing when it is all there already.
set -e
PACKAGES="build-essential autoconf automake libtool pkg-config binutils
  libsqlite3-dev libhiredis-dev libssl-dev libcurl4-openssl-dev libjson-c-dev check
  redis-server redis-tools openssl sqlite3 python3 zsh
  python3-venv python3-pip python3-setuptools python3-wheel mypy
  libmariadb-dev mariadb-server libpq-dev postgresql
  openjdk-17-jdk-headless"
# Node.js for bindings/node and the tests that run the Node.js SDK: from
# Debian only when absent (a Node.js from elsewhere, such as NodeSource's,
# brings its own npm and headers, which Debian's packages would conflict
# with).
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
[ -f /usr/include/node/node_api.h ] || PACKAGES="$PACKAGES libnode-dev"
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
