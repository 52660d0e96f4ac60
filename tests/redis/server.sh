#!/bin/sh
# tests/redis/server.sh - a throwaway redis-server for the tests and benches.
#
#   server.sh start DIR [redis-server args...]   prints the port
#   server.sh stop DIR
#
# start runs $REDIS_SERVER (else redis-server from PATH) on a free loopback
# port with persistence off, its files (pid, log, unix socket redis.sock)
# in DIR, and returns once the server answers PING. The port is chosen by
# trying: a random port is attempted and, if another process holds it, the
# next one, so two test runs never race for a port found "free" earlier.
# PORT=N asks for that port only (a test restarting "the same" server).
# TLS_CERTS=DIR (made by certs.sh) makes the port a TLS port, with DIR's
# server certificate and client certificates required; arguments given
# after DIR may change that (--tls-auth-clients no, --tls-cert-file ...).
# Either way the unix socket stays plain, for the tests' own checks.
# SENTINEL_CONF=FILE starts a sentinel with that (writable) config file.
# A missing redis-server is an error, never a skip: CI installs it.
set -u
. "$(dirname "$0")/../server_lib.sh"

server_bin() {
    bin=${REDIS_SERVER:-redis-server}
    command -v "$bin" >/dev/null 2>&1 ||
        die "redis-server not found (REDIS_SERVER='${REDIS_SERVER:-}'); install the redis-server package"
    command -v redis-cli >/dev/null 2>&1 ||
        die "redis-cli not found; install the redis-tools package"
}

# Whether the server with socket $1 answers (NOAUTH counts: it is up).
answers() {
    reply=$(redis-cli -s "$1" ping 2>&1) || return 1
    case $reply in PONG*|NOAUTH*|*"Authentication required"*) return 0 ;; esac
    return 1
}

# Starts one server on port $2 in dir $1; 0 when it answers PING.
try_port() {
    dir=$1 port=$2
    shift 2
    rm -f "$dir/redis.pid" "$dir/redis.sock"
    if [ -n "${TLS_CERTS:-}" ]; then
        set -- --port 0 --tls-port "$port" --tls-cert-file "$TLS_CERTS/server.crt" \
            --tls-key-file "$TLS_CERTS/server.key" --tls-ca-cert-file "$TLS_CERTS/ca.crt" \
            --tls-auth-clients yes "$@"
    else
        set -- --port "$port" "$@"
    fi
    "$bin" ${SENTINEL_CONF:+"$SENTINEL_CONF" --sentinel} --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
        --daemonize no "$@" >"$dir/redis.log" 2>&1 </dev/null &
    pid=$!
    i=0
    while [ $i -lt 100 ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if answers "$dir/redis.sock"; then
            echo "$pid" >"$dir/redis.pid"
            echo "$port" >"$dir/redis.port"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    kill -9 "$pid" 2>/dev/null
    return 1
}

start() {
    [ $# -ge 1 ] || die "usage: server.sh start DIR [redis-server args...]"
    dir=$1
    shift
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    server_bin
    start_on_a_port redis-server "$dir/redis.log" "in use" "$dir" "$@"
}

stop() {
    [ $# -eq 1 ] || die "usage: server.sh stop DIR"
    stop_by_pidfile "$1/redis.pid" 100
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    *) die "usage: server.sh start DIR [args...] | server.sh stop DIR" ;;
esac
