#!/bin/sh
# fnd at rest: resident memory and CPU with N deployed functions at zero instances.
# Usage: bench/idle.sh [FUNCTIONS] [SECONDS]  (needs root and a built tree)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
FUNCTIONS="${1:-100}"
SECONDS_IDLE="${2:-30}"
fnd_start
mkdir "$BENCH_WORK/fn"
printf 'def handle(req):\n    return "ok"\n' >"$BENCH_WORK/fn/main.py"
for i in $(seq 1 "$FUNCTIONS"); do
  printf 'name: idle-%s\nruntime: python3\nhandler: main.handle\n' "$i" >"$BENCH_WORK/fn/fn.yaml"
  "$FNCTL" deploy "$BENCH_WORK/fn" >/dev/null
done
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$FND_PID/stat"; }
t0=$(ticks); sleep "$SECONDS_IDLE"; t1=$(ticks)
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$FND_PID/status")
HZ=$(getconf CLK_TCK)
TABLE=$($PY - "$FUNCTIONS" "$RSS_KB" "$t0" "$t1" "$HZ" "$SECONDS_IDLE" <<'PYEOF'
import sys
n, rss, t0, t1, hz, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
cpu = (t1 - t0) / hz / secs * 100
print("| functions (0 instances) | resident memory | CPU over the idle period | targets |")
print("|---|---|---|---|")
print(f"| {n} | {rss/1024:.1f} MiB | {cpu:.2f}% of a core ({secs:.0f} s) | < 30 MiB, < 0.5% |")
PYEOF
)
record "idle" "$TABLE"
