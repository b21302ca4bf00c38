#!/bin/sh
# Burst: 0 -> N concurrent instances of a function whose handler sleeps 200 ms (concurrency 1,
# max N): N requests sent at once; time until all are answered, and how many failed.
# Then the trace replay: a synthetic week of invocations (periodic, bursty, rare, frequent
# callers, as in "Serverless in the Wild") through fnd's keep-alive policy code in virtual time
# (build/fnd_trace_replay), histogram policy vs a fixed 10-minute keep-alive.
# Usage: bench/burst.sh [N]  (needs root and a built tree)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
N="${1:-50}"
fnd_start
mkdir "$BENCH_WORK/sleepy"
printf 'name: sleepy\nruntime: python3\nhandler: main.handle\nscale: {concurrency: 1, max: %s}\n' "$N" >"$BENCH_WORK/sleepy/fn.yaml"
printf 'import time\ndef handle(req):\n    time.sleep(0.2)\n    return "ok"\n' >"$BENCH_WORK/sleepy/main.py"
"$FNCTL" deploy "$BENCH_WORK/sleepy" >/dev/null
start=$(date +%s%N)
PIDS=""
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$URL/function/sleepy" >"$BENCH_WORK/r.$i" &
  PIDS="$PIDS $!"
done
# shellcheck disable=SC2086
wait $PIDS  # only the requests: fnd itself is a background job too
end=$(date +%s%N)
TABLE=$($PY - "$BENCH_WORK" "$N" "$start" "$end" "$(instance_count sleepy)" <<'PYEOF'
import glob, sys
work, n, start, end, instances = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [open(f).read().split() for f in glob.glob(f"{work}/r.*")]
failed = sum(1 for code, _ in rows if code != "200")
slowest = max(float(t) for _, t in rows)
print("| burst | all answered after | slowest request | failed | instances after | target |")
print("|---|---|---|---|---|---|")
print(f"| 0 -> {n} (200 ms handler) | {(end - start) / 1e9:.2f} s | {slowest:.2f} s | {failed} | {instances} | < 2 s, none failed |")
PYEOF
)
record "burst" "$TABLE"

# The replay runs the scheduler's KeepAlivePolicy and idle_limits() over virtual time: a week
# takes a fraction of a second, and the figures do not depend on this machine.
record "trace replay (keep-alive policy)" "$("$TRACE_REPLAY" --days 7 --functions 400)"
