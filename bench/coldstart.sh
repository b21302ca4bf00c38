#!/bin/sh
# Scale-from-zero latency (request sent -> full answer) of a trivial function per runtime, with
# warm pools on (stem cells for python3/shell/node, pre-created containers for binary) and off
# (`fnd --no-warm-pools`: every instance is a new container). Each sample deploys a new revision
# (its env changes), so the request always finds the function at zero instances. With pools on,
# a sample waits until the pool is refilled first: what is measured is a cold start that finds
# a ready cell, as it does whenever cold starts are less frequent than refills (~0.1 s apart).
# Reference in the same run: `crun run` of /usr/bin/true from a ready bundle.
# Usage: bench/coldstart.sh [SAMPLES]  (needs root and a built tree)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
SAMPLES="${1:-50}"

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

# metric SERIES: its value in fnd's /metrics (0 when absent).
metric() {
  api /metrics | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

# pool_ready RUNTIME: whether the runtime's warm pool holds a ready cell or container.
pool_ready() {
  if [ "$1" = binary ]; then
    [ "$(metric fnd_precreated_containers)" -ge 1 ]
  else
    [ "$(metric "fnd_stem_cells_ready{runtime=\"$1\"}")" -ge 1 ]
  fi
}

run_mode() {  # run_mode MODE [fnd flags...]
  mode="$1"; shift
  fnd_start "$@"
  for runtime in binary shell python3 node; do
    : >"$BENCH_WORK/$runtime-$mode.times"
    for i in $(seq 1 "$SAMPLES"); do
      # A new revision (env changes) has no instance: the next request is a cold start.
      cp "$BENCH_WORK/$runtime/fn.yaml" "$BENCH_WORK/$runtime/fn.yaml.base"
      printf 'env: {SAMPLE: "%s-%s"}\n' "$mode" "$i" >>"$BENCH_WORK/$runtime/fn.yaml"
      "$FNCTL" deploy "$BENCH_WORK/$runtime" >/dev/null
      mv "$BENCH_WORK/$runtime/fn.yaml.base" "$BENCH_WORK/$runtime/fn.yaml"
      if [ "$mode" = on ]; then
        for _ in $(seq 1 200); do pool_ready "$runtime" && break; sleep 0.02; done
      fi
      curl -s -o /dev/null -w '%{time_total}\n' "$URL/function/cold-$runtime" >>"$BENCH_WORK/$runtime-$mode.times"
    done
    if [ "$mode" = on ]; then
      origin=$([ "$runtime" = binary ] && echo precreated || echo stem_cell)
      echo "$runtime: $(metric "fnd_cold_starts_total{function=\"cold-$runtime\",origin=\"$origin\"}") of $SAMPLES cold starts from the pool" \
        >>"$BENCH_WORK/origins"
    fi
  done
  kill -TERM "$FND_PID"; wait "$FND_PID" 2>/dev/null || true; FND_PID=""
  rm -rf "$BENCH_WORK/state"
}
run_mode off --no-warm-pools
run_mode on

crun_reference "$SAMPLES" "$BENCH_WORK/crun.times"

TABLE=$($PY - "$BENCH_WORK" <<'PYEOF'
import sys
work = sys.argv[1]
def load(name):
    return sorted(float(x) * 1000 for x in open(f"{work}/{name}.times") if x.strip())
def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
ref = pct(load("crun"), 50)
print("| runtime | warm pools | samples | p50 | p90 | p99 | p50 vs crun run |")
print("|---|---|---|---|---|---|---|")
pools = {"binary": "pre-created container", "shell": "stem cell", "python3": "stem cell", "node": "stem cell"}
for name in ("binary", "shell", "python3", "node"):
    for mode in ("off", "on"):
        v = load(f"{name}-{mode}")
        label = pools[name] if mode == "on" else "off (new container)"
        print(f"| {name} | {label} | {len(v)} | {pct(v,50):.1f} ms | {pct(v,90):.1f} ms | {pct(v,99):.1f} ms | {pct(v,50)/ref:.2f}x |")
v = load("crun")
print(f"| reference: crun run /usr/bin/true | | {len(v)} | {pct(v,50):.1f} ms | {pct(v,90):.1f} ms | {pct(v,99):.1f} ms | 1.00x |")
print()
print("Taken from the pool (pools on): " + "; ".join(l.strip() for l in open(f"{work}/origins")) + ".")
PYEOF
)
record "coldstart" "$TABLE"
