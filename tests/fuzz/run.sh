#!/bin/sh
# Builds the fuzz targets (clang, libFuzzer, ASan, UBSan) in their own build dir and runs each for
# SECONDS from its committed seed corpus, one process at a time.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     e.g. tests/fuzz/run.sh 10 (CI), tests/fuzz/run.sh 300
#
# Prints per target the executions, executions per second, the corpus size and whether it
# crashed, then the total; writes the same table to BUILD_DIR/fuzz-summary.md. Exits non-zero when
# any target crashed, leaked, timed out or broke an invariant; the input that did it is kept in
# BUILD_DIR/fuzz-artifacts/TARGET/ (reproduce: BUILD_DIR/tests/fuzz/TARGET FILE).
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_SKIP_BUILD=1 to reuse a build.
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
SECONDS_EACH=$1
shift
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CORPUS=tests/fuzz/corpus

if [ "${FUZZ_SKIP_BUILD:-}" != 1 ]; then
  command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 2; }
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DFND_FUZZ=ON -DFND_PCH=OFF -DFND_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target fnd_fuzz -j"$(nproc)"
fi

if [ $# -gt 0 ]; then
  TARGETS="$*"
else
  TARGETS=$(ls "$CORPUS")
fi

# UBSan stops at the first report (the code is also built with -fno-sanitize-recover); ASan
# reports leaks at exit. Scratch files (archives unpacked per input) go to memory when it can.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

summary="$BUILD_DIR/fuzz-summary.md"
printf '| target | seconds | executions | exec/s | corpus (files) | crashes |\n|---|---|---|---|---|---|\n' >"$summary"
# Binary seeds are made here rather than committed: the code archives (reproducible, from
# make_code_archives.sh) and TZif files of the host's zone data.
SEEDS="$BUILD_DIR/fuzz-seeds"
tests/fuzz/make_code_archives.sh "$SEEDS/fuzz_code_archive"
mkdir -p "$SEEDS/fuzz_time_zone"
for zone in Europe/Berlin Australia/Lord_Howe UTC; do
  [ -f "/usr/share/zoneinfo/$zone" ] && cp "/usr/share/zoneinfo/$zone" "$SEEDS/fuzz_time_zone/tzif_$(basename "$zone")"
done

failed=0
total_execs=0
total_seconds=0
for target in $TARGETS; do
  binary="$BUILD_DIR/tests/fuzz/$target"
  [ -x "$binary" ] || { echo "run.sh: no fuzz target $binary" >&2; exit 2; }
  work="$BUILD_DIR/fuzz-corpus/$target"
  artifacts="$BUILD_DIR/fuzz-artifacts/$target"
  log="$BUILD_DIR/fuzz-logs/$target.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  seeds=""
  [ -d "$SEEDS/$target" ] && seeds="$SEEDS/$target"
  dict=""
  [ -f "tests/fuzz/dict/$target.dict" ] && dict="-dict=tests/fuzz/dict/$target.dict"
  start=$(date +%s)
  rc=0
  # One process (no -jobs/-workers: the machine is shared). New inputs go to the first folder
  # (the build dir's); the committed seeds are only read.
  # shellcheck disable=SC2086
  "$binary" -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" $dict "$work" "$CORPUS/$target" $seeds >"$log" 2>&1 || rc=$?
  seconds=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  execs=${execs:-0}
  rate=$(( execs / (seconds > 0 ? seconds : 1) ))
  files=$(ls "$work" | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=0
  else
    result="1 (exit $rc: $(ls "$artifacts" | head -n 1))"
    failed=1
    echo "== $target failed (exit $rc); the end of its log ($log):" >&2
    tail -n 40 "$log" >&2
  fi
  total_execs=$(( total_execs + execs ))
  total_seconds=$(( total_seconds + seconds ))
  printf '| %s | %s | %s | %s | %s | %s |\n' "$target" "$seconds" "$execs" "$rate" "$files" "$result" | tee -a "$summary"
done
printf '| **all** | %s | %s | %s | | %s |\n' "$total_seconds" "$total_execs" \
  "$(( total_execs / (total_seconds > 0 ? total_seconds : 1) ))" "$([ $failed -eq 0 ] && echo 0 || echo 'see above')" | tee -a "$summary"
exit $failed
