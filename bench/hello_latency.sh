#!/bin/sh
# Cold and warm invocation latency of the README's `hello` python3 function through fnd, fnd's
# idle resident memory, and, as the reference in the same run, `crun run` of /usr/bin/true from a
# ready bundle. Prints the figures and appends them to bench/RESULTS.md.
# Usage: bench/hello_latency.sh [SAMPLES]   (needs root and a built tree: scripts/build.sh)
set -eu
cd "$(dirname "$0")/.."
SAMPLES="${1:-20}"
FND=build/fnd
FNCTL=build/src/fnctl/fnctl
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/fnd-bench-XXXXXX)
FND_PID=""
cleanup() {
  if [ -n "$FND_PID" ]; then kill -TERM "$FND_PID" 2>/dev/null || true; wait "$FND_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$FND" --state-dir "$WORK/state" --listen 127.0.0.1:0 >"$WORK/fnd.log" 2>&1 &
FND_PID=$!
for _ in $(seq 1 400); do [ -s "$WORK/state/fnd.addr" ] && break; sleep 0.025; done
URL="http://$(cat "$WORK/state/fnd.addr")"
export FNCTL_URL="$URL"

mkdir "$WORK/hello"
printf 'name: hello\nruntime: python3\nhandler: main.handle\nscale: {keepAlive: 1s}\n' >"$WORK/hello/fn.yaml"
printf 'def handle(req):\n    return "hello " + req.body.decode()\n' >"$WORK/hello/main.py"
"$FNCTL" deploy "$WORK/hello" >/dev/null

instances() { "$FNCTL" -o json describe hello | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["instances"]))'; }
time_one() { curl -s -o /dev/null -w '%{time_total}\n' -d world "$URL/function/hello"; }

: >"$WORK/cold"
for _ in $(seq 1 "$SAMPLES"); do
  while [ "$(instances)" != "0" ]; do sleep 0.2; done
  time_one >>"$WORK/cold"
done
: >"$WORK/warm"
time_one >/dev/null
for _ in $(seq 1 "$SAMPLES"); do time_one >>"$WORK/warm"; done
# Idle: no instance running, a few seconds after the last request.
while [ "$(instances)" != "0" ]; do sleep 0.2; done
sleep 2
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$FND_PID/status")

# Reference: crun run of /usr/bin/true from a ready bundle (same host dirs, no namespaces of ours).
B="$WORK/bundle"
mkdir -p "$B/rootfs"
(cd "$B" && crun spec)
$PY - "$B/config.json" <<'PYEOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/usr/bin/true"]
c["root"] = {"path": "rootfs", "readonly": True}
for d in ("usr",):
    c["mounts"].append({"destination": "/" + d, "type": "bind", "source": "/" + d, "options": ["rbind", "ro"]})
json.dump(c, open(path, "w"))
PYEOF
mkdir -p "$B/rootfs/usr" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/sys" "$B/rootfs/tmp"
for l in bin lib lib64 sbin; do [ -L "/$l" ] && ln -sfn "usr/$l" "$B/rootfs/$l"; done
: >"$WORK/crun"
for i in $(seq 1 "$SAMPLES"); do
  s=$(date +%s%N); crun --root "$WORK/crun-root" run --bundle "$B" "bench-$i" >/dev/null 2>&1; e=$(date +%s%N)
  echo "$(( (e - s) / 1000 ))e-6" >>"$WORK/crun"
done

report=$($PY - "$WORK" "$SAMPLES" "$RSS_KB" <<'PYEOF'
import statistics, sys
work, n, rss = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ms(name):
    return [float(x) * 1000 for x in open(f"{work}/{name}") if x.strip()]
cold, warm, crun = ms("cold"), ms("warm"), ms("crun")
mc, mw, mr = statistics.median(cold), statistics.median(warm), statistics.median(crun)
print(f"| hello python3, cold (scale from zero) | {n} | {mc:.1f} ms | {min(cold):.1f} / {max(cold):.1f} ms | {mc / mr:.2f}x crun run |")
print(f"| hello python3, warm | {n} | {mw:.2f} ms | {min(warm):.2f} / {max(warm):.2f} ms | |")
print(f"| reference: crun run /usr/bin/true | {n} | {mr:.1f} ms | {min(crun):.1f} / {max(crun):.1f} ms | 1.00x |")
print(f"| fnd idle resident memory (1 function, 0 instances) | | {rss / 1024:.1f} MiB | | |")
PYEOF
)
bench_commit() {
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- . ':(exclude)bench/RESULTS.md' 2>/dev/null || c="$c-dirty"
  echo "$c"
}
header="## hello_latency: $(date -u +%Y-%m-%d) on $(uname -n) ($(nproc) cores, $(uname -r)), commit $(bench_commit)

| what | samples | median | min / max | vs reference |
|---|---|---|---|---|"
printf '%s\n%s\n' "$header" "$report"
printf '\n%s\n%s\n' "$header" "$report" >>bench/RESULTS.md
