#!/usr/bin/env bash
# Contract fuzzing: schemathesis generates requests from the served OpenAPI
# document and checks that no response is a 5xx and every response (status,
# content type, body) is one the document declares.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d)
log=target/fuzz-stack.log
PORT=0 DATA_DIR="$data_dir" SEED_DEMO=true ADMIN_TOKEN=fuzz-admin-token RUST_LOG=warn \
  THROTTLE_INGEST_RPS=100000 THROTTLE_INGEST_BURST=100000 \
  THROTTLE_ANALYTICS_RPS=100000 THROTTLE_ANALYTICS_BURST=100000 \
  THROTTLE_EXPERIMENTS_RPS=100000 THROTTLE_EXPERIMENTS_BURST=100000 \
  THROTTLE_UNAUTHENTICATED_RPS=100000 THROTTLE_UNAUTHENTICATED_BURST=100000 \
  THROTTLE_ADMIN_RPS=100000 THROTTLE_ADMIN_BURST=100000 \
  target/debug/campaign-local > "$log" 2>&1 &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true; rm -rf "$data_dir"' EXIT
base=""
for _ in $(seq 1 100); do
  base=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | sed 's/listening on //') || true
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the local stack did not start:"; cat "$log"; exit 1; }

.venv/bin/schemathesis run "$base/api/openapi.json" \
  --header "X-API-Key: test-api-key-12345" \
  --header "Authorization: Bearer fuzz-admin-token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${FUZZ_EXAMPLES:-25}" \
  --seed 20261129 \
  --workers 2 \
  --generation-database none \
  --no-color
