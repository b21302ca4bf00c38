#!/bin/sh
# Cold and warm invocation latency of the README's `hello` python3 function through fnd, fnd's
# idle resident memory, and, as the reference in the same run, `crun run` of /usr/bin/true from a
# ready bundle. Prints the figures and appends them to bench/RESULTS.md.
# Usage: bench/hello_latency.sh [SAMPLES]   (needs root and a built tree: scripts/build.sh)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
SAMPLES="${1:-20}"
fnd_start

mkdir "$BENCH_WORK/hello"
printf 'name: hello\nruntime: python3\nhandler: main.handle\nscale: {keepAlive: 1s}\n' >"$BENCH_WORK/hello/fn.yaml"
printf 'def handle(req):\n    return "hello " + req.body.decode()\n' >"$BENCH_WORK/hello/main.py"
"$FNCTL" deploy "$BENCH_WORK/hello" >/dev/null

time_one() { curl -s -o /dev/null -w '%{time_total}\n' -d world "$URL/function/hello"; }

: >"$BENCH_WORK/cold"
for _ in $(seq 1 "$SAMPLES"); do
  while [ "$(instance_count hello)" != "0" ]; do sleep 0.2; done
  time_one >>"$BENCH_WORK/cold"
done
: >"$BENCH_WORK/warm"
time_one >/dev/null
for _ in $(seq 1 "$SAMPLES"); do time_one >>"$BENCH_WORK/warm"; done
# Idle: no instance running, a few seconds after the last request.
while [ "$(instance_count hello)" != "0" ]; do sleep 0.2; done
sleep 2
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$FND_PID/status")
crun_reference "$SAMPLES" "$BENCH_WORK/crun"

TABLE=$($PY - "$BENCH_WORK" "$SAMPLES" "$RSS_KB" <<'PYEOF'
import statistics, sys
work, n, rss = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ms(name):
    return [float(x) * 1000 for x in open(f"{work}/{name}") if x.strip()]
cold, warm, crun = ms("cold"), ms("warm"), ms("crun")
mc, mw, mr = statistics.median(cold), statistics.median(warm), statistics.median(crun)
print("| what | samples | median | min / max | vs reference |")
print("|---|---|---|---|---|")
print(f"| hello python3, cold (scale from zero) | {n} | {mc:.1f} ms | {min(cold):.1f} / {max(cold):.1f} ms | {mc / mr:.2f}x crun run |")
print(f"| hello python3, warm | {n} | {mw:.2f} ms | {min(warm):.2f} / {max(warm):.2f} ms | |")
print(f"| reference: crun run /usr/bin/true | {n} | {mr:.1f} ms | {min(crun):.1f} / {max(crun):.1f} ms | 1.00x |")
print(f"| fnd idle resident memory (1 function, 0 instances) | | {rss / 1024:.1f} MiB | | |")
PYEOF
)
record "hello_latency" "$TABLE"
