#!/bin/sh
# tests/mysql/server.sh - a throwaway MariaDB server for the tests and benches.
#
#   server.sh start DIR [mariadbd args...]   prints the port
#   server.sh stop DIR
#   server.sh sql DIR SQL                    runs SQL as root over the socket
#
# start makes a data directory in DIR/data with mariadb-install-db the
# first time (root without a password, reachable over the socket only),
# then runs mariadbd on a free loopback port with its socket at
# DIR/mysql.sock, and returns once the server answers. Grants are on, as
# on any real server: tests create their users with `server.sh sql`.
#
# The server is tuned to start fast and run the tests fast, not to keep
# data through a power cut: a small buffer pool and redo log, no
# doublewrite buffer, a small temporary tablespace, no buffer pool dump,
# the redo log flushed once a second instead of at each commit, no binary
# log and no performance schema. None of it changes what
# a client sees; a restart (stop, then start DIR with PORT=N) keeps every
# committed row. The character set is utf8mb4, as in Debian's packaged
# server. DURABLE=1 keeps InnoDB's defaults for flushing (the benches use
# it, so that a commit costs what it costs on a real server) and
# BUFFER_POOL sets the buffer pool's size.
#
# The port is chosen by trying: a random port is attempted and, if another
# process holds it, the next one. PORT=N asks for that port only. A
# missing server is an error, never a skip: CI installs mariadb-server.
set -u

. "$(dirname "$0")/../server_lib.sh"

find_bins() {
    server=${MARIADBD:-}
    [ -n "$server" ] || server=$(command -v mariadbd || command -v mysqld ||
                                 ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1)
    [ -n "$server" ] && [ -x "$server" ] ||
        die "mariadbd not found (MARIADBD='${MARIADBD:-}'); install the mariadb-server package"
    for b in mariadb-install-db mariadb-admin mariadb; do
        command -v $b >/dev/null 2>&1 || die "$b not found; install the mariadb-server package"
    done
}

# mariadbd refuses to run as root unless told to; as anyone else --user is
# ignored with a warning, so it is given only to root.
user_arg() { [ "$(id -u)" = 0 ] && echo "--user=root"; }

# The options the server is installed and run with (see the top).
TUNING="--innodb-log-file-size=8M --innodb-buffer-pool-size=${BUFFER_POOL:-32M} --skip-log-bin
  --performance-schema=0 --skip-name-resolve --max-connections=500
  --innodb-temp-data-file-path=ibtmp1:1M:autoextend --innodb-use-native-aio=0
  --innodb-buffer-pool-dump-at-shutdown=0 --innodb-buffer-pool-load-at-startup=0
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci"
[ "${DURABLE:-0}" = 1 ] ||
    TUNING="$TUNING --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0"

install_db() {
    dir=$1
    [ -d "$dir/data/mysql" ] && return 0
    # A bootstrap that fails on a loaded machine is tried once more; the
    # message quotes the server's own errors, not mariadb-install-db's
    # closing advice.
    for attempt in 1 2; do
        rm -rf "$dir/data"
        # shellcheck disable=SC2046,SC2086
        mariadb-install-db --no-defaults --datadir="$dir/data" $(user_arg) \
            --auth-root-authentication-method=normal --skip-test-db $TUNING \
            >"$dir/install.log" 2>&1 && return 0
        cp "$dir/install.log" "$dir/install-$attempt.log"
    done
    die "mariadb-install-db failed twice: $(grep -i -m 5 'error' "$dir/install.log" ||
                                            head -n 5 "$dir/install.log")"
}

answers() { mariadb-admin --no-defaults -uroot -S "$1/mysql.sock" ping >/dev/null 2>&1; }

# Starts one server on port $2 in dir $1; 0 when it answers.
try_port() {
    dir=$1 port=$2
    shift 2
    rm -f "$dir/mysqld.pid" "$dir/mysql.sock"
    : >"$dir/mysqld.log"
    # shellcheck disable=SC2046,SC2086
    "$server" --no-defaults $(user_arg) --datadir="$dir/data" --socket="$dir/mysql.sock" \
        --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/mysqld.log" $TUNING "$@" >/dev/null 2>&1 </dev/null &
    pid=$!
    i=0
    while [ $i -lt 400 ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if answers "$dir"; then
            echo "$pid" >"$dir/server.pid"
            echo "$port" >"$dir/server.port"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    kill -9 "$pid" 2>/dev/null
    return 1
}

start() {
    [ $# -ge 1 ] || die "usage: server.sh start DIR [mariadbd args...]"
    dir=$1
    shift
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    find_bins
    install_db "$dir"
    start_on_a_port mariadbd "$dir/mysqld.log" "in use" "$dir" "$@"
}

stop() {
    [ $# -eq 1 ] || die "usage: server.sh stop DIR"
    stop_by_pidfile "$1/server.pid" 400
}

sql() {
    [ $# -eq 2 ] || die "usage: server.sh sql DIR SQL"
    mariadb --no-defaults -uroot -S "$1/mysql.sock" -N -B -e "$2"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    sql) sql "$@" ;;
    *) die "usage: server.sh start DIR [args...] | server.sh stop DIR | server.sh sql DIR SQL" ;;
esac
