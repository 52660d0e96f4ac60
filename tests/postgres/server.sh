#!/bin/sh
# tests/postgres/server.sh - a throwaway PostgreSQL server for the tests and
# benches.
#
#   server.sh start DIR [postgres args...]   prints the port
#   server.sh stop DIR                       a fast shutdown
#   server.sh kill DIR                       SIGKILL to the server and its children
#   server.sh sql DIR SQL [DATABASE]         runs SQL as the superuser over the socket
#   server.sh standby PRIMARY DIR            DIR becomes a streaming standby of the
#                                            server in PRIMARY (pg_basebackup -R)
#   server.sh promote DIR                    the standby in DIR becomes a primary
#   server.sh reload DIR                     rereads pg_hba.conf and the settings
#   server.sh own FILE...                    gives files to the server's user
#
# start makes a cluster in DIR/data with initdb the first time (superuser
# `postgres`, trusted over the socket, SCRAM passwords over TCP), then runs
# the server on a free loopback port with its socket in DIR, and returns
# once it answers. sql prints rows unaligned, columns separated by tabs.
#
# PostgreSQL refuses to run as root: as root, the server's programs run as
# the user PG_USER (default `postgres`, whom Debian's postgresql package
# makes), who is given DIR. The binaries are Debian's, in the newest
# /usr/lib/postgresql/*/bin, or PG_BINDIR.
#
# The server is tuned to start and run the tests fast, not to keep data
# through a power cut: no fsync, no full-page writes, commits acknowledged
# before their WAL is flushed, a small buffer pool. None of it changes what
# a client sees, and a restart (stop, then start with PORT=N) keeps every
# committed row. DURABLE=1 keeps PostgreSQL's defaults (the benches use
# it, so that a commit costs what it costs on a real server).
#
# The port is chosen by trying: a random port is attempted and, if another
# process holds it, the next one. PORT=N asks for that port only. A
# missing server is an error, never a skip: CI installs postgresql.
set -u

. "$(dirname "$0")/../server_lib.sh"

find_bins() {
    bindir=${PG_BINDIR:-}
    [ -n "$bindir" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] ||
        die "initdb and pg_ctl not found (PG_BINDIR='${PG_BINDIR:-}'); install the postgresql package"
    psql=$(command -v psql 2>/dev/null || echo "$bindir/psql")
}

# Runs a command as the server's user: ourselves, or PG_USER when root.
as_server() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "${PG_USER:-postgres}" -- "$@"
    else
        "$@"
    fi
}

# DIR (not what is in it), made the server user's when run as root.
own_dir() {
    dir=$1
    [ "$(id -u)" = 0 ] || return 0
    id -u "${PG_USER:-postgres}" >/dev/null 2>&1 ||
        die "no user '${PG_USER:-postgres}' to run the server as (PostgreSQL refuses root): install the postgresql package, which makes one, or set PG_USER"
    chown "${PG_USER:-postgres}" "$dir" || die "cannot give $dir to ${PG_USER:-postgres}"
    as_server test -w "$dir" ||
        die "${PG_USER:-postgres} cannot reach $dir: give a TMPDIR every user may enter"
}

# Files the server must own (a TLS key), given to its user when run as root.
own() {
    [ "$(id -u)" = 0 ] || return 0
    chown "${PG_USER:-postgres}" "$@" || die "cannot give $* to ${PG_USER:-postgres}"
}

init_db() {
    dir=$1
    [ -f "$dir/data/PG_VERSION" ] && return 0
    rm -rf "$dir/data"
    as_server "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
}

tuning() {
    echo "-c shared_buffers=16MB -c max_connections=120 -c listen_addresses=127.0.0.1"
    echo "-c max_wal_size=256MB -c log_min_messages=warning -c autovacuum_naptime=10"
    [ "${DURABLE:-0}" = 1 ] ||
        echo "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
}

# Starts the server on port $2 in dir $1; 0 when it answers.
try_port() {
    dir=$1 port=$2
    shift 2
    rm -f "$dir/server.log"
    # shellcheck disable=SC2046
    as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 -s start \
        -o "-p $port -c unix_socket_directories=$dir $(tuning | tr '\n' ' ') $*" \
        >/dev/null 2>&1 || return 1
    echo "$port" >"$dir/server.port"
    return 0
}

start() {
    [ $# -ge 1 ] || die "usage: server.sh start DIR [postgres args...]"
    dir=$1
    shift
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    [ ${#dir} -lt 90 ] || die "$dir is too long for a socket path: set a shorter TMPDIR"
    find_bins
    own_dir "$dir"
    init_db "$dir"
    start_on_a_port "the server" "$dir/server.log" \
        "in use\|could not bind\|could not create any TCP/IP sockets" "$dir" "$@"
}

postmaster_pid() { [ -f "$1/data/postmaster.pid" ] && head -n 1 "$1/data/postmaster.pid"; }

stop() {
    [ $# -eq 1 ] || die "usage: server.sh stop DIR"
    [ -f "$1/data/postmaster.pid" ] || return 0
    find_bins
    pid=$(postmaster_pid "$1")
    as_server "$bindir/pg_ctl" -D "$1/data" -m fast -w -t 60 -s stop >/dev/null 2>&1 ||
        kill_server "$1"
    return 0
}

# The server dies as in a crash: the postmaster and each of its children
# (found by their parent's id), at once.
kill_server() {
    pid=$(postmaster_pid "$1")
    [ -n "$pid" ] || return 0
    kids=$(awk -v p="$pid" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null)
    kill -KILL "$pid" $kids 2>/dev/null
    wait_gone "$pid" 400
    return 0
}

sql() {
    [ $# -ge 2 ] || die "usage: server.sh sql DIR SQL [DATABASE]"
    find_bins
    printf '%s\n' "$2" | "$psql" -X -q -A -t -F '	' -v ON_ERROR_STOP=1 -h "$1" \
        -p "$(cat "$1/server.port")" -U postgres -d "${3:-postgres}" -f -
}

standby() {
    [ $# -eq 2 ] || die "usage: server.sh standby PRIMARY DIR"
    mkdir -p "$2" || die "cannot create $2"
    find_bins
    own_dir "$2"
    rm -rf "$2/data"
    as_server "$bindir/pg_basebackup" -D "$2/data" -R -X stream -c fast -h "$1" \
        -p "$(cat "$1/server.port")" -U postgres >"$2/basebackup.log" 2>&1 ||
        die "pg_basebackup failed: $(tail -n 3 "$2/basebackup.log")"
}

promote() {
    [ $# -eq 1 ] || die "usage: server.sh promote DIR"
    find_bins
    as_server "$bindir/pg_ctl" -D "$1/data" -w -t 60 -s promote >/dev/null 2>&1 ||
        die "pg_ctl promote failed: $(tail -n 3 "$1/server.log")"
}

reload() {
    [ $# -eq 1 ] || die "usage: server.sh reload DIR"
    find_bins
    as_server "$bindir/pg_ctl" -D "$1/data" -s reload >/dev/null 2>&1 || die "pg_ctl reload failed"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    kill) [ $# -eq 1 ] || die "usage: server.sh kill DIR"; kill_server "$1" ;;
    sql) sql "$@" ;;
    standby) standby "$@" ;;
    promote) promote "$@" ;;
    reload) reload "$@" ;;
    own) own "$@" ;;
    *) die "usage: server.sh start|stop|kill|sql|standby|promote|reload|own DIR ..." ;;
esac
