# tests/cli-lib.sh - what the tests of the tokenstore command share, on
# top of tests/lib.sh: running the command and reading what it printed.
#
# Source it after tests/lib.sh and make_scratch. It sets $TS_CLI to the
# binary the libtool wrapper runs (the wrapper costs a shell start per
# run), $PYTHON to the interpreter itself (not a version manager's shim),
# and a UTF-8 locale, in which the mask's ellipsis is "…".
LC_ALL=C.UTF-8; export LC_ALL
if [ -x "$top_builddir/cli/.libs/tokenstore" ]; then
    TS_CLI="$top_builddir/cli/.libs/tokenstore"
    LD_LIBRARY_PATH="$top_builddir/core/.libs:$top_builddir/oauth/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi
PYTHON=$(python3 -c 'import sys; print(sys.executable)') || PYTHON=python3

# run ARGS...: runs the command with stdin from /dev/null; sets out, err, rc.
run() {
    out=$("$TS_CLI" "$@" 2>"$SCRATCH/stderr" </dev/null); rc=$?
    err=$(cat "$SCRATCH/stderr")
}

# run_with INPUT ARGS...: the same with INPUT on stdin.
run_with() {
    _input=$1; shift
    out=$(printf '%s' "$_input" | "$TS_CLI" "$@" 2>"$SCRATCH/stderr"); rc=$?
    err=$(cat "$SCRATCH/stderr")
}

# field NAME: the value of a `name: value` line of $out.
field() { printf '%s\n' "$out" | sed -n "s/^$1: //p"; }

# json EXPR: a Python expression over `doc`, the JSON in $out.
json() { printf '%s' "$out" | PYTHONIOENCODING=utf-8 "$PYTHON" -c "import json,sys; doc=json.load(sys.stdin); print($1)" 2>&1; }

# ids: the ids of list --json's output, space-separated.
ids() { json '" ".join(t["id"] for t in doc)'; }

# start_accounts: the fake Zoho accounts server (tests/oauth/fake_accounts.py)
# in the background; sets ACCOUNTS (its URL) and ACCOUNTS_PID. The caller
# kills it on exit.
start_accounts() {
    "$PYTHON" "$top_srcdir/tests/oauth/fake_accounts.py" "$SCRATCH/accounts.port" \
        2>"$SCRATCH/accounts.log" &
    ACCOUNTS_PID=$!
    _i=0
    while [ ! -s "$SCRATCH/accounts.port" ] && [ $_i -lt 400 ]; do sleep 0.05; _i=$((_i + 1)); done
    [ -s "$SCRATCH/accounts.port" ] || { echo "Bail out! the fake accounts server did not start"; exit 1; }
    ACCOUNTS="http://127.0.0.1:$(cat "$SCRATCH/accounts.port")"
}

# accounts PATH [JSON]: GET (or POST JSON to) the fake server.
accounts() {
    if [ $# -gt 1 ]; then curl -sf -X POST -d "$2" "$ACCOUNTS$1"
    else curl -sf "$ACCOUNTS$1"; fi
}

# elapsed_ms COMMAND...: runs it (output to $SCRATCH/elapsed.out and .err)
# and prints how long it took in milliseconds.
elapsed_ms() {
    _t0=$(date +%s%N)
    "$@" >"$SCRATCH/elapsed.out" 2>"$SCRATCH/elapsed.err" </dev/null
    echo $(( ($(date +%s%N) - _t0) / 1000000 ))
}
