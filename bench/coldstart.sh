#!/bin/sh
# Scale-from-zero latency (request sent -> full answer) of a trivial function per runtime:
# each sample invokes a revision that has never run (a fresh revision per sample), so every
# sample starts a container. Reference in the same run: `crun run` of /usr/bin/true from a ready
# bundle. Usage: bench/coldstart.sh [SAMPLES]  (needs root and a built tree)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
SAMPLES="${1:-50}"
fnd_start

make_function() {  # make_function DIR RUNTIME HANDLER
  mkdir -p "$1"
  printf 'name: cold-%s\nruntime: %s\nhandler: %s\n' "$2" "$2" "$3" >"$1/fn.yaml"
}
make_function "$BENCH_WORK/python3" python3 main.handle
printf 'def handle(req):\n    return "ok"\n' >"$BENCH_WORK/python3/main.py"
make_function "$BENCH_WORK/node" node index.handle
printf 'exports.handle = async () => "ok";\n' >"$BENCH_WORK/node/index.js"
make_function "$BENCH_WORK/shell" shell "echo ok"
make_function "$BENCH_WORK/binary" binary ./server
gcc -O2 -pthread -o "$BENCH_WORK/binary/server" bench/functions/ok/server.c

for runtime in binary shell python3 node; do
  : >"$BENCH_WORK/$runtime.times"
  for i in $(seq 1 "$SAMPLES"); do
    # A new revision (env changes) has no instance: the next request is a cold start.
    cp "$BENCH_WORK/$runtime/fn.yaml" "$BENCH_WORK/$runtime/fn.yaml.base" 2>/dev/null || true
    printf 'env: {SAMPLE: "%s"}\n' "$i" >>"$BENCH_WORK/$runtime/fn.yaml"
    "$FNCTL" deploy "$BENCH_WORK/$runtime" >/dev/null
    mv "$BENCH_WORK/$runtime/fn.yaml.base" "$BENCH_WORK/$runtime/fn.yaml"
    curl -s -o /dev/null -w '%{time_total}\n' "$URL/function/cold-$runtime" >>"$BENCH_WORK/$runtime.times"
  done
done

crun_reference "$SAMPLES" "$BENCH_WORK/crun.times"

TABLE=$($PY - "$BENCH_WORK" <<'PYEOF'
import statistics, sys
work = sys.argv[1]
def load(name):
    return sorted(float(x) * 1000 for x in open(f"{work}/{name}.times") if x.strip())
def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
ref = pct(load("crun"), 50)
print("| runtime | samples | p50 | p90 | p99 | p50 vs crun run |")
print("|---|---|---|---|---|---|")
for name in ("binary", "shell", "python3", "node", "crun"):
    v = load(name)
    label = "reference: crun run /usr/bin/true" if name == "crun" else f"{name} (stem cells: not yet)"
    print(f"| {label} | {len(v)} | {pct(v,50):.1f} ms | {pct(v,90):.1f} ms | {pct(v,99):.1f} ms | {pct(v,50)/ref:.2f}x |")
PYEOF
)
record "coldstart" "$TABLE"
