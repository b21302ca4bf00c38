#!/bin/sh
# Warm path: a trivial `binary` function answering "ok", loaded with wrk (50 connections, 10 s)
# through fnd, through nginx (keep-alive upstream, 1 worker) in front of the same instance, and
# directly to the instance; plus one-connection medians for fnd's added latency over direct.
# Usage: bench/warm.sh [DURATION]   (needs root, a built tree, wrk and nginx: apt-get install wrk nginx-light)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-10s}"
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx: apt-get install wrk nginx-light"; exit 1; }

mkdir "$BENCH_WORK/ok"
gcc -O2 -pthread -o "$BENCH_WORK/ok/server" bench/functions/ok/server.c
printf 'name: ok\nruntime: binary\nhandler: ./server\nscale: {concurrency: 1000, max: 1}\nresources: {pids: 1024}\n' >"$BENCH_WORK/ok/fn.yaml"
fnd_start
"$FNCTL" deploy "$BENCH_WORK/ok" >/dev/null
curl -sf "$URL/function/ok" >/dev/null
NETNS="/proc/$(instance_pids ok)/ns/net"

cat >"$BENCH_WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $BENCH_WORK/nginx.pid;
error_log $BENCH_WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream fn { server 127.0.0.1:8080; keepalive 64; }
  server {
    listen 127.0.0.1:9999;
    location / { proxy_pass http://fn; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nsenter --net="$NETNS" nginx -c "$BENCH_WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
BENCH_EXTRA_CLEANUP="kill $NGINX_PID 2>/dev/null || true"
sleep 0.5

# run_wrk LABEL CONNECTIONS DURATION URL [netns]: prints "label rps p50_us p99_us".
run_wrk() {
  if [ -n "${5:-}" ]; then out=$(nsenter --net="$5" wrk -t1 -c"$2" -d"$3" --latency "$4"); else out=$(wrk -t1 -c"$2" -d"$3" --latency "$4"); fi
  echo "$out" | $PY -c '
import re, sys
text = sys.stdin.read()
def us(v):
    n, unit = float(re.match(r"[\d.]+", v).group()), re.sub(r"[\d.]", "", v)
    return n * {"us": 1, "ms": 1000, "s": 1e6}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = us(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))  # a Stdev column may end in 50%
p99 = us(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(sys.argv[1], round(rps), round(p50), round(p99), errors.group(1) if errors else 0)' "$1"
}

run_wrk fnd 50 2s "$URL/function/ok" >/dev/null  # warm-up
FND_LINE=$(run_wrk fnd 50 "$DURATION" "$URL/function/ok")
NGINX_LINE=$(run_wrk nginx 50 "$DURATION" "http://127.0.0.1:9999/" "$NETNS")
DIRECT_LINE=$(run_wrk direct 50 "$DURATION" "http://127.0.0.1:8080/" "$NETNS")
FND1=$(run_wrk fnd 1 5s "$URL/function/ok")
DIRECT1=$(run_wrk direct 1 5s "http://127.0.0.1:8080/" "$NETNS")

TABLE=$($PY - "$FND_LINE" "$NGINX_LINE" "$DIRECT_LINE" "$FND1" "$DIRECT1" <<'PYEOF'
import sys
rows = [l.split() for l in sys.argv[1:4]]
nginx_rps = float(rows[1][1])
print("| path (wrk -t1 -c50) | requests/s | p50 | p99 | non-2xx | vs nginx req/s |")
print("|---|---|---|---|---|---|")
for name, rps, p50, p99, errors in rows:
    print(f"| {name} | {rps} | {int(p50)/1000:.2f} ms | {int(p99)/1000:.2f} ms | {errors} | {float(rps)/nginx_rps:.2f}x |")
f1, d1 = sys.argv[4].split(), sys.argv[5].split()
print()
print(f"One connection: fnd p50 {int(f1[2])} us, direct p50 {int(d1[2])} us, fnd adds {int(f1[2]) - int(d1[2])} us (target <= 50 us).")
PYEOF
)
record "warm (binary 'ok' function, $DURATION)" "$TABLE"
