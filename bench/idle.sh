#!/bin/sh
# fnd at rest: resident memory and CPU with N deployed functions at zero instances, and apart
# from fnd's own figures what its warm pools (the stem cells, each a running container) hold.
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
# The stem cells' processes: this fnd's children (it is their subreaper) in a cell's cgroup.
cell_pids() {
  for p in $(grep -l -- '-cell-' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
    [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = "$FND_PID" ] && echo "$p"
  done
}
cell_ticks() { for p in $(cell_pids); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
t0=$(ticks); c0=$(cell_ticks); sleep "$SECONDS_IDLE"; t1=$(ticks); c1=$(cell_ticks)
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$FND_PID/status")
CELLS=$(cell_pids | wc -l)
CELLS_KB=$(for p in $(cell_pids); do awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s + 0}')
HZ=$(getconf CLK_TCK)
TABLE=$($PY - "$FUNCTIONS" "$RSS_KB" "$t0" "$t1" "$HZ" "$SECONDS_IDLE" "$CELLS" "$CELLS_KB" "$c0" "$c1" <<'PYEOF'
import sys
n, rss, t0, t1, hz, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
cells, cells_kb, c0, c1 = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
cpu = (t1 - t0) / hz / secs * 100
cells_cpu = (c1 - c0) / hz / secs * 100
print("| functions (0 instances) | fnd resident memory | fnd CPU over the idle period | targets | warm pools (stem cell processes) |")
print("|---|---|---|---|---|")
print(f"| {n} | {rss/1024:.1f} MiB | {cpu:.2f}% of a core ({secs:.0f} s) | < 30 MiB, < 0.5% | "
      f"{cells} processes, {cells_kb/1024:.1f} MiB resident, {cells_cpu:.2f}% of a core |")
PYEOF
)
record "idle" "$TABLE"
