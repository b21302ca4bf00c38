#!/bin/sh
# Mesh: function -> function call latency through the node-level endpoint (127.0.0.1:15001 in the
# caller's instance, /fn/ok) versus a direct call to the same warm instance (127.0.0.1:8080 in its
# own namespace) and versus nginx as a per-instance proxy in front of it (keep-alive upstream, 1
# worker, in the instance's namespace), in one run, each at a paced 1,000 calls/s on one
# keep-alive connection; the added latency is each path's minus direct's. Then the state API's
# operations per second through the endpoint (PUT with If-Match on the ETag it got, GET; 8
# clients) against raw SQLite inserts (WAL, synchronous=FULL, one transaction each) on the same
# disk.
# Usage: bench/mesh.sh [CALLS]   (needs root, a built tree and nginx: apt-get install nginx-light)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
CALLS="${1:-5000}"
command -v nginx >/dev/null || { echo "needs nginx: apt-get install nginx-light"; exit 1; }

for fn in ok caller; do
  mkdir "$BENCH_WORK/$fn"
  gcc -O2 -pthread -o "$BENCH_WORK/$fn/server" bench/functions/ok/server.c
  printf 'name: %s\nruntime: binary\nhandler: ./server\nscale: {concurrency: 1000, max: 1, min: 1}\nresources: {pids: 1024}\n' \
    "$fn" >"$BENCH_WORK/$fn/fn.yaml"
done
fnd_start
"$FNCTL" deploy "$BENCH_WORK/ok" >/dev/null
"$FNCTL" deploy "$BENCH_WORK/caller" >/dev/null
curl -sf "$URL/function/ok" >/dev/null
curl -sf "$URL/function/caller" >/dev/null
OK_NS="/proc/$(instance_pids ok)/ns/net"
CALLER_NS="/proc/$(instance_pids caller)/ns/net"

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
nsenter --net="$OK_NS" nginx -c "$BENCH_WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
BENCH_EXTRA_CLEANUP="kill $NGINX_PID 2>/dev/null || true"
sleep 0.5

# A paced client: CALLS GETs of PATH on HOST:PORT at RATE/s over one keep-alive connection;
# prints "p50_us p99_us" of the latencies (measured from each call's scheduled start, so a
# stall shows up in the calls behind it too).
cat >"$BENCH_WORK/paced.py" <<'PYEOF'
import http.client, sys, time
host, port, path, calls, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
conn = http.client.HTTPConnection(host, port)
for _ in range(200):  # warm-up
    conn.request("GET", path); conn.getresponse().read()
lat = []
interval = 1.0 / rate
start = time.perf_counter()
for i in range(calls):
    due = start + i * interval
    now = time.perf_counter()
    if now < due:
        time.sleep(due - now)
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"{path}: status {r.status}")
    lat.append((time.perf_counter() - t0) * 1e6)
lat.sort()
print(round(lat[len(lat) // 2]), round(lat[int(len(lat) * 0.99)]))
PYEOF

paced() { nsenter --net="$1" $PY "$BENCH_WORK/paced.py" 127.0.0.1 "$2" "$3" "$CALLS" 1000; }
DIRECT=$(paced "$OK_NS" 8080 /)
MESH=$(paced "$CALLER_NS" 15001 /fn/ok/)
NGINX=$(paced "$OK_NS" 9999 /)

# State: 8 clients in the caller's instance, each on a key of its own, for 3 s each way.
cat >"$BENCH_WORK/state.py" <<'PYEOF'
import http.client, sys, threading, time
mode, seconds, clients = sys.argv[1], float(sys.argv[2]), 8
counts = [0] * clients
def run(i):
    conn = http.client.HTTPConnection("127.0.0.1", 15001)
    key = f"/v1/state/bench-{i}"
    conn.request("PUT", key, body=b"0"); r = conn.getresponse(); r.read(); etag = r.getheader("ETag")
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        if mode == "put":
            conn.request("PUT", key, body=str(n).encode(), headers={"If-Match": etag})
            r = conn.getresponse(); r.read()
            if r.status != 200: sys.exit(f"PUT: status {r.status}")
            etag = r.getheader("ETag")
        else:
            conn.request("GET", key); r = conn.getresponse(); r.read()
            if r.status != 200: sys.exit(f"GET: status {r.status}")
        n += 1
    counts[i] = n
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(round(sum(counts) / seconds))
PYEOF
STATE_PUT=$(nsenter --net="$CALLER_NS" $PY "$BENCH_WORK/state.py" put 3)
STATE_GET=$(nsenter --net="$CALLER_NS" $PY "$BENCH_WORK/state.py" get 3)
SQLITE_INSERT=$($PY - "$BENCH_WORK/state/raw.db" <<'PYEOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)")
n, end = 0, time.perf_counter() + 3
while time.perf_counter() < end:
    db.execute("BEGIN"); db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (f"k{n % 8}", str(n))); db.execute("COMMIT")
    n += 1
print(round(n / 3))
PYEOF
)

TABLE=$($PY - "$DIRECT" "$MESH" "$NGINX" "$STATE_PUT" "$STATE_GET" "$SQLITE_INSERT" "$CALLS" <<'PYEOF'
import sys
direct, mesh, nginx = ([int(x) for x in a.split()] for a in sys.argv[1:4])
put, get, sqlite, calls = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
print(f"| path ({calls} calls at 1,000/s, one connection) | p50 | p99 | added p50 | added p99 |")
print("|---|---|---|---|---|")
print(f"| direct to the instance | {direct[0]} us | {direct[1]} us | | |")
for name, (p50, p99) in (("through the mesh endpoint (/fn/ok)", mesh), ("through nginx in front of the instance", nginx)):
    print(f"| {name} | {p50} us | {p99} us | {p50 - direct[0]} us | {p99 - direct[1]} us |")
print()
print(f"Targets: added p50 <= 100 us (mesh {mesh[0] - direct[0]} us), added p99 <= 500 us (mesh {mesh[1] - direct[1]} us), "
      f"below nginx's added ({nginx[0] - direct[0]} us p50, {nginx[1] - direct[1]} us p99).")
print()
print("| state (8 clients in a function, 3 s) | operations/s |")
print("|---|---|")
print(f"| PUT with If-Match through the mesh (group commit, synchronous=FULL) | {put} |")
print(f"| GET through the mesh | {get} |")
print(f"| raw SQLite insert, one transaction each (WAL, synchronous=FULL, 1 writer) | {sqlite} |")
PYEOF
)
record "mesh (binary 'ok' functions)" "$TABLE"
