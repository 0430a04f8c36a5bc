#!/usr/bin/env bash
# `make test`: every test, on both backends.
#  1. starts moto (the AWS emulator) on a free loopback port;
#  2. runs every crate's tests: unit tests, the store and queue contract
#     suites (embedded and, through MOTO_ENDPOINT, DynamoDB/SQS), the Lambda
#     sample events, and the black-box HTTP suite on the embedded backend;
#     (and, first, the SAM template's checks: scripts/infra_checks.sh);
#  3. schemathesis against the local stack's OpenAPI document; the
#     dashboard's Vitest tests, its bundle budget, and its end-to-end
#     tests in headless Chromium against the local stack; the browser
#     SDK's the same way (sdk/js);
#  4. restarts moto with every table's transactions holding their items
#     (the limits emulator) and runs the black-box HTTP suite again with
#     BACKEND=aws.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
mkdir -p target
# Starts moto (with the limits emulator) on a free loopback port and waits
# for it; any arguments are environment for it.
start_moto() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env "$@" .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >> target/moto.log 2>&1 &
  moto_pid=$!
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/')" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
}
: > target/moto.log
start_moto
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT

cargo build -p local --bin campaign-local
echo "== the SAM template: cfn-lint, security facts, bootstrap creates what it declares"
scripts/infra_checks.sh
cargo test --workspace --all-targets

echo "== contract fuzzing of the OpenAPI document (schemathesis)"
scripts/fuzz_api.sh

echo "== dashboard: unit tests, end-to-end in Chromium, bundle budget"
(cd dashboard && npm ci --no-audit --no-fund && npm test && npm run e2e && npm run size)

echo "== browser SDK: unit tests (hashing vs GrowthBook), size budget, end-to-end in Chromium"
(cd sdk/js && npm ci --no-audit --no-fund && npm test && npm run build && npm run size && npm run e2e)

# A fresh moto whose every table holds a transaction's items while it
# commits (DynamoDB's TransactionConflict), so that the stacks' own tables,
# which the suite does not tag, run under the limits emulator.
kill "$moto_pid" 2>/dev/null || true
start_moto EMULATOR_DEFAULT_TAGS=emulator:transaction-hold-ms=15
echo "== black-box suite on BACKEND=aws (DynamoDB and SQS on moto, transactions holding their items 15 ms)"
# faults.rs brings its own emulator and ran above; the rest runs again on moto.
BLACKBOX_BACKEND=aws cargo test -p blackbox --test api --test campaigns --test counting --test durability --test results
