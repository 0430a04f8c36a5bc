#!/usr/bin/env bash
# `make bench`: every measurement BENCHMARKS.md reports, on this machine.
#  1. loadgen: HTTP load against the release local stack (single events at
#     concurrency 32, batch ingest end to end, summary/results latency at
#     1k/100k/1M stored events, peak RSS);
#  2. coldstart: each Lambda binary against a Runtime API stub, next to a
#     hello-world lambda_runtime function;
#  3. economy: SDK requests per 1,000 events through ingest and the batch
#     writer on moto, and what a million events cost;
#  4. criterion microbenchmarks (validation, aggregation, statistics) and the
#     results/time-series read benchmark;
#  5. scale: the batch writer over a simulated DynamoDB with its documented
#     limits, in virtual time (writers 1-256, batched and single events).
# Results: target/bench/*.json and target/criterion/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p local -p bench \
  -p ingest -p summary -p experiments -p health -p admin -p batch-writer

echo "== 1. HTTP load: $target/release/loadgen"
"$target/release/loadgen"

echo "== 2. cold start: $target/release/coldstart"
"$target/release/coldstart"

echo "== 3. request economy on moto: $target/release/economy"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$target/bench"
.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" > "$target/bench/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null && break
  sleep 0.2
done
MOTO_ENDPOINT="http://127.0.0.1:$port" "$target/release/economy"

echo "== 4. criterion microbenchmarks"
cargo bench -p shared --bench domain --bench results_latency

echo "== 5. scale model (virtual time, DynamoDB's limits): $target/release/scale"
"$target/release/scale"
