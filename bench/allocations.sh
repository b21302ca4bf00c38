#!/bin/sh
# Heap allocations per warm invocation: fnd runs with an LD_PRELOAD shim counting malloc, calloc,
# realloc and the aligned allocators (operator new included); wrk sends warm requests to a
# trivial binary function over 1 and 50 connections; allocations during the run / requests.
# The daemon's once-a-second housekeeping is included (a few allocations per second).
# Usage: bench/allocations.sh [DURATION]  (needs root, a built tree and wrk)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-5s}"
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 1; }
gcc -O2 -shared -fPIC -o "$BENCH_WORK/alloc_count.so" bench/functions/alloc_count/alloc_count.c
mkdir "$BENCH_WORK/ok"
gcc -O2 -pthread -o "$BENCH_WORK/ok/server" bench/functions/ok/server.c
printf 'name: ok\nruntime: binary\nhandler: ./server\nscale: {concurrency: 1000, max: 1}\nresources: {pids: 1024}\n' >"$BENCH_WORK/ok/fn.yaml"
LD_PRELOAD="$BENCH_WORK/alloc_count.so" fnd_start --no-warm-pools
"$FNCTL" deploy "$BENCH_WORK/ok" >/dev/null
wrk -t1 -c50 -d2s "$URL/function/ok" >/dev/null  # warm up: instance, pooled connections, buffers

count() {
  kill -USR2 "$FND_PID"; sleep 0.2
  grep '^allocations: ' "$BENCH_WORK/fnd.log" | tail -1 | cut -d' ' -f2
}
ROWS=""
for connections in 1 50; do
  a0=$(count)
  requests=$(wrk -t1 -c"$connections" -d"$DURATION" "$URL/function/ok" | awk '/requests in/ {print $1}')
  a1=$(count)
  ROWS="$ROWS$connections $requests $((a1 - a0))
"
done
TABLE=$(printf '%s' "$ROWS" | $PY -c '
import sys
print("| connections | requests | allocations | per request |")
print("|---|---|---|---|")
for line in sys.stdin:
    c, r, a = line.split()
    print(f"| {c} | {r} | {a} | {int(a) / int(r):.2f} |")
')
record "allocations on the warm path" "$TABLE"
