# campaign-analytics — the two commands that matter: `make run` and `make test`.

PORT ?= 3000
DATA_DIR ?= ./.data
# Local default for the admin routes; set your own outside a laptop.
ADMIN_TOKEN ?= local-admin-token

export PORT DATA_DIR ADMIN_TOKEN

# campaign-local without the AWS SDK (the embedded backend only) unless
# something here needs AWS: a cold build of it takes half the time.
NEEDS_AWS := $(filter aws,$(BACKEND))$(filter iam,$(ADMIN_AUTH))$(filter https://%,$(ADMIN_URL))
LOCAL := -p local --bin campaign-local $(if $(NEEDS_AWS),,--no-default-features)

.PHONY: run test build lint fmt clean bootstrap moto dashboard sdk package bench tenant rotate-key rebuild-rollups dead-letters redrive \
	deploy deploy-dashboard localstack

DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public -type f 2>/dev/null) \
	dashboard/index.html dashboard/package.json dashboard/vite.config.ts dashboard/tsconfig.json

## Build (release) and run the whole platform locally on 127.0.0.1:$(PORT),
## with the dashboard at / (rebuilt when its sources changed). BACKEND=aws
## builds it with the AWS backend.
run: dashboard sdk
	cargo run --release $(LOCAL)

dashboard: dashboard/dist/index.html

SDK_SOURCES := $(shell find sdk/js/src sdk/js/scripts -type f 2>/dev/null) sdk/js/package.json sdk/js/tsconfig.json

## The browser SDK's builds (sdk/js/dist), served at /sdk.js by `make run`.
sdk: sdk/js/dist/sdk.js

sdk/js/node_modules/.package-lock.json: sdk/js/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ to build the SDK"; exit 1; }
	cd sdk/js && npm ci --no-audit --no-fund

sdk/js/dist/sdk.js: sdk/js/node_modules/.package-lock.json $(SDK_SOURCES)
	cd sdk/js && npm run build

dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ to build the dashboard"; exit 1; }
	cd dashboard && npm ci --no-audit --no-fund

dashboard/dist/index.html: dashboard/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	cd dashboard && npm run build

## Every test on both backends: unit, store/queue contract suites, Lambda
## sample events, black-box HTTP tests (embedded, then DynamoDB/SQS on moto).
test:
	scripts/test.sh

## AWS backend: create the tables and queues named by EVENTS_TABLE,
## STATE_TABLE, QUEUE_NAME (defaults campaign-analytics-*) where missing.
bootstrap:
	cargo run --release -p local --bin campaign-local -- bootstrap

## Onboard a tenant through the admin API and print its key once:
##   make tenant NAME="Acme Ltd"                      (local stack, ADMIN_TOKEN)
##   make tenant NAME="Acme Ltd" ADMIN_AUTH=iam ADMIN_URL=<ApiUrl>   (AWS, SigV4)
tenant:
	@test -n "$(NAME)" || { echo 'usage: make tenant NAME="Acme Ltd"'; exit 2; }
	cargo run --release -q $(LOCAL) -- tenant create "$(NAME)"

## Replace a tenant's key (the old one stops working): make rotate-key TENANT=<id>
rotate-key:
	@test -n "$(TENANT)" || { echo 'usage: make rotate-key TENANT=<tenant id>'; exit 2; }
	cargo run --release -q $(LOCAL) -- tenant rotate "$(TENANT)"

## Rebuild a tenant's rollups (user sketches, variant-name buckets) from its
## stored events, part of a day per call, for data stored before a version that
## added them; safe beside the running stack, and to repeat:
##   make rebuild-rollups TENANT=<id>   (ADMIN_AUTH=iam ADMIN_URL=<ApiUrl> on AWS)
rebuild-rollups:
	@test -n "$(TENANT)" || { echo 'usage: make rebuild-rollups TENANT=<tenant id>'; exit 2; }
	cargo run --release -q $(LOCAL) -- tenant rebuild-rollups "$(TENANT)"

## The dead letters: what the batch writer could not store, and why; then
## move them back into the queue (after a fix): counted once.
##   make dead-letters / make redrive   (ADMIN_AUTH=iam ADMIN_URL=<ApiUrl> on AWS)
dead-letters:
	cargo run --release -q $(LOCAL) -- dlq list

redrive:
	cargo run --release -q $(LOCAL) -- dlq redrive

## Deploy to AWS with SAM (see README, "Deploy to AWS"): sam build + sam deploy
## with infra/samconfig.toml; GUIDED=1 for `sam deploy --guided`.
deploy:
	scripts/deploy.sh

## Upload the built dashboard and its config.json to the stack's bucket and
## invalidate CloudFront (STACK_NAME, default campaign-analytics).
deploy-dashboard: dashboard
	scripts/venv.sh .venv-deploy scripts/requirements-deploy.txt
	.venv-deploy/bin/python scripts/deploy_dashboard.py

## With Docker: LocalStack (DynamoDB, SQS, S3), bootstrapped by the same code
## the moto tests run, and the local stack on BACKEND=aws against it.
localstack:
	docker compose -f localstack-compose.yml up -d --wait
	AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
	AWS_SECRET_ACCESS_KEY=test BACKEND=aws BOOTSTRAP=true $(MAKE) run

## One arm64 bootstrap.zip per Lambda function (cargo-lambda), checked.
package:
	scripts/package.sh

## Start moto (AWS emulator) on 127.0.0.1:5000 in the foreground.
moto:
	scripts/venv.sh
	.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p 5000

## Every benchmark BENCHMARKS.md reports: HTTP load, cold start, request
## economy on moto, criterion microbenchmarks (results in target/bench/).
bench:
	scripts/bench.sh

build:
	cargo build --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p local --no-default-features --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(DATA_DIR) dashboard/dist dashboard/node_modules sdk/js/dist sdk/js/node_modules infra/.aws-sam
