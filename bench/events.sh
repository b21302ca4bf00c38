#!/bin/sh
# Events end to end: batches of 100 structured CloudEvents POSTed to /events/default (wrk, 10 s),
# each delivered by a trigger to a trivial `binary` function; in the same run the event log's raw
# durable append rate (the same group commit, no HTTP, no delivery) and the ratio; and records
# from a Kafka topic (librdkafka's mock cluster) through a source to the same function.
# Figures: ingress events/s and its p50/p99 per batch request, end-to-end events/s (from the first
# POST until the trigger has delivered every accepted event), raw append rate.
# Usage: bench/events.sh [DURATION]   (needs root, a built tree and wrk: apt-get install wrk)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-10s}"
BATCH=100
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 1; }

mkdir "$BENCH_WORK/ok"
gcc -O2 -pthread -o "$BENCH_WORK/ok/server" bench/functions/ok/server.c
printf 'name: ok\nruntime: binary\nhandler: ./server\nscale: {concurrency: 1000, max: 1}\nresources: {pids: 1024}\n' >"$BENCH_WORK/ok/fn.yaml"
printf 'eventing:\n  max_backlog: 10000000\n' >"$BENCH_WORK/fnd.yaml"
fnd_start --config "$BENCH_WORK/fnd.yaml"
"$FNCTL" deploy "$BENCH_WORK/ok" >/dev/null
curl -sf "$URL/function/ok" >/dev/null

# Each request a batch of BATCH events with ids unique across runs.
cat >"$BENCH_WORK/batch.lua" <<LUA
local counter = 0
-- Ids unique across runs too: a repeated (source, id) would be a duplicate, answered 202 unstored.
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/cloudevents-batch+json"
request = function()
  local parts = {}
  for i = 1, $BATCH do
    counter = counter + 1
    parts[i] = '{"specversion":"1.0","type":"bench.order","source":"/bench","id":"' .. run .. "-" .. counter ..
               '","datacontenttype":"application/json","data":{"order":' .. counter .. ',"total":42}}'
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %.0f %.0f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status))
end
LUA

# Ingress alone first (no trigger follows the broker yet): what durable acceptance costs by itself.
wrk -t1 -c8 -d"$DURATION" -s "$BENCH_WORK/batch.lua" "$URL/events/default" >"$BENCH_WORK/wrk-alone.out" 2>&1
set -- $(grep '^WRK' "$BENCH_WORK/wrk-alone.out")
alone=$(awk -v r="$2" -v b=$BATCH -v d="$3" 'BEGIN { printf "%.0f", r * b / (d / 1e6) }')
alone_p50=$4; alone_p99=$5
sleep 1
curl -s --unix-socket "$FNCTL_SOCKET" -X PUT -H 'Content-Type: application/json' \
  -d '{"subscriber":"function:ok","ordering":{"mode":"unordered","maxInFlight":512}}' \
  http://localhost/api/v1/triggers/to-ok >/dev/null

delivered() { api /metrics | awk '$1 == "fnd_trigger_delivered_total{trigger=\"to-ok\"}" { print $2 }'; }
accepted() { api /metrics | awk '$1 == "fnd_events_accepted_total{broker=\"default\"}" { print $2 }'; }

before=$(accepted)
start_ns=$(date +%s%N)
wrk -t1 -c8 -d"$DURATION" -s "$BENCH_WORK/batch.lua" "$URL/events/default" >"$BENCH_WORK/wrk.out" 2>&1
set -- $(grep '^WRK' "$BENCH_WORK/wrk.out")
requests=$2; duration_us=$3; p50_us=$4; p99_us=$5; non2xx=$6
total=$(( $(accepted) - before ))
for _ in $(seq 1 1200); do [ "$(delivered)" -ge "$total" ] && break; sleep 0.1; done
end_ns=$(date +%s%N)
done_count=$(delivered)
ingress=$(awk -v r="$requests" -v b=$BATCH -v d="$duration_us" 'BEGIN { printf "%.0f", r * b / (d / 1e6) }')
e2e=$(awk -v n="$done_count" -v s="$start_ns" -v e="$end_ns" 'BEGIN { printf "%.0f", n / ((e - s) / 1e9) }')

# From Kafka: a mock cluster (librdkafka's, hosted by a kcat process), KAFKA_RECORDS records
# produced to a topic first, then a source into the same broker; timed from the source's creation
# until the trigger has delivered them all (consume, durable append, commit, delivery).
KAFKA_RECORDS="${KAFKA_RECORDS:-100000}"
kafka_row="| from a Kafka topic (mock cluster) via a source | skipped: no kcat | | | |"
if command -v kcat >/dev/null; then
  mkfifo "$BENCH_WORK/kafka.hold"
  kcat -b 127.0.0.1:1 -X test.mock.num.brokers=3 -P -t hold <"$BENCH_WORK/kafka.hold" 2>"$BENCH_WORK/kafka.err" &
  kafka_pid=$!
  exec 9>"$BENCH_WORK/kafka.hold"  # the cluster lives while this stays open
  for _ in $(seq 1 100); do grep -q 'replaced with' "$BENCH_WORK/kafka.err" && break; sleep 0.1; done
  bootstrap=$(sed -n 's/.*replaced with \([^ ]*\).*/\1/p' "$BENCH_WORK/kafka.err" | head -1)
  seq 1 "$KAFKA_RECORDS" | awk '{ printf "k%d:{\"order\":%d,\"total\":42}\n", $1 % 64, $1 }' >"$BENCH_WORK/records"
  kcat -b "$bootstrap" -P -t bench-orders -K: -X acks=all <"$BENCH_WORK/records"
  before_kafka=$(delivered)
  kafka_start_ns=$(date +%s%N)
  "$FNCTL" source create bench --kafka "$bootstrap" --topic bench-orders --broker default >/dev/null
  for _ in $(seq 1 3000); do [ "$(delivered)" -ge $((before_kafka + KAFKA_RECORDS)) ] && break; sleep 0.1; done
  kafka_end_ns=$(date +%s%N)
  kafka_done=$(( $(delivered) - before_kafka ))
  kafka_rate=$(awk -v n="$kafka_done" -v s="$kafka_start_ns" -v e="$kafka_end_ns" 'BEGIN { printf "%.0f", n / ((e - s) / 1e9) }')
  "$FNCTL" source delete bench >/dev/null || true
  exec 9>&-
  kill "$kafka_pid" 2>/dev/null || true
  kafka_row="| from a Kafka topic (mock cluster) via a source, end to end | $kafka_rate | | | $kafka_done of $KAFKA_RECORDS records delivered (since the source's creation) |"
fi

# The raw append rate: the event log alone, 64 appenders in batches of 100 (its throughput bench).
raw=$("${UNIT_STORE:-build/tests/fnd_unit_store}" "event log throughput" 2>/dev/null | awk '$1 == 64 && $2 == 100 { print $3 }')
ratio=$(awk -v a="$e2e" -v b="$raw" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')

record "events (batches of $BATCH to /events/default, wrk -c8, $DURATION; trigger -> binary function)" \
"| what | events/s | p50 per request | p99 per request | notes |
|---|---|---|---|---|
| ingress alone, durable (202), no trigger | $alone | $(awk -v v="$alone_p50" 'BEGIN { printf "%.2f ms", v / 1000 }') | $(awk -v v="$alone_p99" 'BEGIN { printf "%.2f ms", v / 1000 }') | |
| ingress, durable (202), while delivering | $ingress | $(awk -v v="$p50_us" 'BEGIN { printf "%.2f ms", v / 1000 }') | $(awk -v v="$p99_us" 'BEGIN { printf "%.2f ms", v / 1000 }') | $requests requests, $non2xx not 2xx |
| end to end (accepted -> delivered) | $e2e | | | $done_count of $total delivered |
$kafka_row
| reference: raw durable append (64 appenders x 100) | $raw | | | end to end / raw = $ratio |"
