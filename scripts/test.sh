#!/usr/bin/env bash
# `make test`: every test, on both backends.
#  1. starts moto (the AWS emulator) on a free loopback port;
#  2. runs every crate's tests: unit tests, the store and queue contract
#     suites (embedded and, through MOTO_ENDPOINT, DynamoDB/SQS), the Lambda
#     sample events, and the black-box HTTP suite on the embedded backend;
#     (and, first, the SAM template's checks: scripts/infra_checks.sh);
#  3. schemathesis against the local stack's OpenAPI document; the
#     dashboard's Vitest tests, its bundle budget, and its end-to-end
#     tests in headless Chromium against the local stack;
#  4. resets moto and runs the black-box HTTP suite again with BACKEND=aws.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
mkdir -p target
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
export MOTO_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/')" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

cargo build -p local --bin campaign-local
echo "== the SAM template: cfn-lint, security facts, bootstrap creates what it declares"
scripts/infra_checks.sh
cargo test --workspace --all-targets

echo "== contract fuzzing of the OpenAPI document (schemathesis)"
scripts/fuzz_api.sh

echo "== dashboard: unit tests, end-to-end in Chromium, bundle budget"
(cd dashboard && npm ci --no-audit --no-fund && npm test && npm run e2e && npm run size)

python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$MOTO_ENDPOINT/moto-api/reset', method='POST'))"
echo "== black-box suite on BACKEND=aws (DynamoDB and SQS on moto)"
# faults.rs brings its own emulator and ran above; the rest runs again on moto.
BLACKBOX_BACKEND=aws cargo test -p blackbox --test api --test campaigns --test counting --test durability --test results
