# tests/server_lib.sh - what the throwaway servers' scripts share
# (tests/redis, tests/mysql and tests/postgres server.sh, which source it):
# their error exit, whether a process still runs, stopping a server by its
# pid file, and finding a loopback port by trying. Each script defines
# try_port DIR PORT ARGS... (0 once its server answers on PORT) and its
# own set-up and commands.

die() { echo "server.sh: $*" >&2; exit 1; }

# Whether process $1 still runs. An exited server whose parent (the shell
# that started it, long gone) has not been reaped yet is a zombie: it is
# done, and waiting for its reaper would cost a second or more.
running() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# Waits for process $1 to end, $2 times 50 ms at the most.
wait_gone() {
    i=0
    while running "$1" && [ "$i" -lt "$2" ]; do
        sleep 0.05
        i=$((i + 1))
    done
}

# Stops the server whose pid is in file $1: TERM, $2 times 50 ms to end,
# then KILL. Nothing to do without the file.
stop_by_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null
    wait_gone "$pid" "$2"
    running "$pid" && kill -9 "$pid" 2>/dev/null
    rm -f "$1"
    return 0
}

# start_on_a_port NAME LOG BUSY DIR ARGS...: runs try_port DIR PORT ARGS...
# on $PORT when it is set (a test restarting "the same" server), else on a
# random port and, while LOG says it was taken (BUSY, a grep pattern), on
# the next ones, so two test runs never race for a port found "free"
# earlier. Prints the port; NAME names the server in messages.
start_on_a_port() {
    name=$1 log=$2 busy=$3 dir=$4
    shift 4
    if [ -n "${PORT:-}" ]; then
        try_port "$dir" "$PORT" "$@" && { echo "$PORT"; return 0; }
        die "$name did not start on port $PORT: $(tail -n 3 "$log")"
    fi
    port=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 ))
    n=0
    while [ $n -lt 20 ]; do
        try_port "$dir" "$port" "$@" && { echo "$port"; return 0; }
        grep -q "$busy" "$log" 2>/dev/null || die "$name did not start: $(tail -n 3 "$log")"
        port=$((port + 1))
        n=$((n + 1))
    done
    die "no free port found for $name"
}
