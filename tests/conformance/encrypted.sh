# tests/conformance/encrypted.sh - sourced by the *-encrypted.test files:
# the conformance suite again, with encryption at rest on (a new key made
# by `tokenstore keygen`, given as -o encrypt.key_file). The suite's TAP
# is passed on with one check more: that the suite said its store
# encrypted (a config that had lost its encrypt section would pass every
# other check as well).
#
# encrypted_check_backend BACKEND [OPTIONS...]: runs it and exits with the
# suite's status, or 1 when that last check fails.
encrypted_check_backend() {
    "$TS_CLI" keygen -q "$SCRATCH/suite.key" ||
        { echo "Bail out! tokenstore keygen could not write $SCRATCH/suite.key"; exit 1; }
    "$TS_CLI" check-backend "$@" -o encrypt.key_file="$SCRATCH/suite.key" >"$SCRATCH/suite.tap"
    rc=$?
    n=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$SCRATCH/suite.tap")
    if [ -z "$n" ]; then
        cat "$SCRATCH/suite.tap"
        echo "Bail out! the suite printed no plan (exit status $rc)"
        exit 1
    fi
    sed "s/^1\.\.$n\$/1..$((n + 1))/" "$SCRATCH/suite.tap"
    if grep -q '^# values encrypted with key [0-9a-f]\{8\}$' "$SCRATCH/suite.tap"; then
        echo "ok $((n + 1)) - the suite's store encrypted its values"
    else
        echo "not ok $((n + 1)) - the suite's store encrypted its values"
        rc=1
    fi
    exit $rc
}
