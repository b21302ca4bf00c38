#!/bin/sh
# Every benchmark under bench/, run twice in one go: with a baseline build (the build directory of
# another checkout, e.g. a worktree of the commit before a change) and with this tree's build,
# script by script, so that both see the same machine at the same time. Each run records its
# section in bench/RESULTS.md under its own commit.
# Usage: bench/compare.sh BASELINE_BUILD_DIR [SCRIPT...]   (needs root, both trees built)
#   e.g. git worktree add /tmp/base HEAD~3 && (cd /tmp/base && scripts/build.sh) && bench/compare.sh /tmp/base/build
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/compare.sh BASELINE_BUILD_DIR [SCRIPT...]"; exit 2; }
BASE=$(cd "$1" && pwd)
shift
# The daemon moved to src/fnd/ with the module layout; older builds have it at the top.
if [ -x "$BASE/src/fnd/fnd" ]; then BASE_FND="$BASE/src/fnd/fnd"; else BASE_FND="$BASE/fnd"; fi
[ -x "$BASE_FND" ] || { echo "no fnd binary under $BASE"; exit 1; }
BASE_COMMIT=$(git -C "$BASE/.." rev-parse --short HEAD 2>/dev/null || echo baseline)
SCRIPTS="${*:-warm allocations hello_latency coldstart burst idle}"
for script in $SCRIPTS; do
  echo "=== $script: baseline $BASE_COMMIT"
  FND="$BASE_FND" FNCTL="$BASE/src/fnctl/fnctl" TRACE_REPLAY="$BASE/fnd_trace_replay" BENCH_COMMIT="$BASE_COMMIT (baseline)" \
    "bench/$script.sh"
  echo "=== $script: this tree"
  "bench/$script.sh"
done
