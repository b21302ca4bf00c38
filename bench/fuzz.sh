#!/bin/sh
# Runs every fuzz target of tests/fuzz for SECONDS each (tests/fuzz/run.sh: clang, libFuzzer, ASan,
# UBSan, one process at a time) and appends the table to bench/RESULTS.md: per target the seconds,
# executions, executions per second, corpus size and crashes.
#
#   bench/fuzz.sh SECONDS [TARGET...]
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/fuzz.sh SECONDS [TARGET...]" >&2; exit 2; }
. bench/lib.sh
status=0
tests/fuzz/run.sh "$@" || status=$?
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
record "fuzz (libFuzzer with ASan and UBSan, $1 s per target, one process)" "$(cat "$BUILD_DIR/fuzz-summary.md")"
exit $status
