# Shared by the benchmark scripts: start a private fnd, deploy functions, record results.
# Source it from a script that has cd'ed to the repository root. Needs root and a built tree.
FND=${FND:-build/src/fnd/fnd}
FNCTL=${FNCTL:-build/src/fnctl/fnctl}
TRACE_REPLAY=${TRACE_REPLAY:-build/fnd_trace_replay}
PY=/usr/bin/python3
BENCH_WORK=$(mktemp -d /tmp/fnd-bench-XXXXXX)
FND_PID=""

bench_cleanup() {
  if [ -n "$FND_PID" ]; then kill -TERM "$FND_PID" 2>/dev/null || true; wait "$FND_PID" 2>/dev/null || true; fi
  [ -n "${BENCH_EXTRA_CLEANUP:-}" ] && eval "$BENCH_EXTRA_CLEANUP"
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $BENCH_WORK" || rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT INT TERM

# fnd_start [fnd flags...]: starts fnd on a free port with a private state dir; sets URL. fnctl
# talks to it over its local socket (root needs no token there) and `api GET PATH` reaches its
# management API and /metrics the same way; an fnd from before the local socket gets FNCTL_URL.
fnd_start() {
  socket_flag=""
  if "$FND" --help 2>/dev/null | grep -q -- --api-socket; then socket_flag="--api-socket $BENCH_WORK/api.sock"; fi
  # shellcheck disable=SC2086 # socket_flag is empty or two words
  "$FND" --state-dir "$BENCH_WORK/state" --listen 127.0.0.1:0 $socket_flag "$@" >"$BENCH_WORK/fnd.log" 2>&1 &
  FND_PID=$!
  for _ in $(seq 1 400); do [ -s "$BENCH_WORK/state/fnd.addr" ] && break; sleep 0.025; done
  [ -s "$BENCH_WORK/state/fnd.addr" ] || { cat "$BENCH_WORK/fnd.log"; exit 1; }
  URL="http://$(cat "$BENCH_WORK/state/fnd.addr")"
  if [ -n "$socket_flag" ]; then
    export FNCTL_SOCKET="$BENCH_WORK/api.sock"
    unset FNCTL_URL
  else
    export FNCTL_URL="$URL"
  fi
}

# api PATH: GET fnd's management API or /metrics (over the local socket when it has one).
api() {
  if [ -n "${FNCTL_SOCKET:-}" ]; then curl -s --unix-socket "$FNCTL_SOCKET" "http://localhost$1"; else curl -s "$URL$1"; fi
}

# instance_pids NAME: pids of the function's running instances.
instance_pids() {
  "$FNCTL" -o json describe "$1" | $PY -c 'import json,sys; print(" ".join(str(i["pid"]) for i in json.load(sys.stdin)["instances"] if "pid" in i))'
}

instance_count() {
  "$FNCTL" -o json describe "$1" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["instances"]))'
}

# crun_reference SAMPLES FILE: seconds of `crun run` of /usr/bin/true from a ready bundle (the
# host's /usr bound read-only), one line per sample: the reference cold starts are compared with.
crun_reference() {
  b="$BENCH_WORK/ref-bundle"
  mkdir -p "$b/rootfs/usr" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
  (cd "$b" && crun spec)
  $PY - "$b/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/usr/bin/true"]
c["root"] = {"path": "rootfs", "readonly": True}
c["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
json.dump(c, open(sys.argv[1], "w"))
PYEOF
  for l in bin lib lib64 sbin; do [ -L "/$l" ] && ln -sfn "usr/$l" "$b/rootfs/$l"; done
  : >"$2"
  for i in $(seq 1 "$1"); do
    s=$(date +%s%N); crun --root "$BENCH_WORK/crun-root" run --bundle "$b" "ref-$i" >/dev/null 2>&1; e=$(date +%s%N)
    echo "$(( (e - s) / 1000 ))e-6" >>"$2"
  done
}

# The commit measured; "-dirty" when code differs from it (results files do not count).
# BENCH_COMMIT names it when the binaries come from elsewhere (bench/compare.sh's baseline).
bench_commit() {
  if [ -n "${BENCH_COMMIT:-}" ]; then echo "$BENCH_COMMIT"; return; fi
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- . ':(exclude)bench/RESULTS.md' 2>/dev/null || c="$c-dirty"
  echo "$c"
}

# record TITLE TABLE: prints a result section and appends it to bench/RESULTS.md.
record() {
  section="## $1: $(date -u +%Y-%m-%d) on $(uname -n) ($(nproc) cores, $(uname -r)), commit $(bench_commit)

$2"
  printf '%s\n' "$section"
  printf '\n%s\n' "$section" >>bench/RESULTS.md
}
