#!/bin/sh
# tests/skip-unbuilt.sh - runs a test, or skips it as a whole when it uses
# a backend that configure left out (--without-sqlite, --without-redis, or
# the library was not found).
#
# usage: skip-unbuilt.sh [COMMAND...] TEST
# $TS_NO_SQLITE and $TS_NO_REDIS (set by tests/Makefile.inc) list the tests that
# need a backend which was not built. The skip is TAP's "1..0 # SKIP" with
# exit 0: automake's TAP driver counts it as SKIP, where exit 77, the
# convention of plain tests, would be an error.
for test; do :; done
name="tests/${test##*/tests/}"
for backend in sqlite redis; do
    case $backend in
    sqlite) list=${TS_NO_SQLITE:-} ;;
    redis) list=${TS_NO_REDIS:-} ;;
    esac
    case " $list " in
    *" $name "*)
        echo "1..0 # SKIP it uses the $backend backend, which configure did not build"
        exit 0 ;;
    esac
done
exec "$@"
