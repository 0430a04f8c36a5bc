# campaign-analytics — the two commands that matter: `make run` and `make test`.

PORT ?= 3000
DATA_DIR ?= ./.data
# Local default for the admin routes; set your own outside a laptop.
ADMIN_TOKEN ?= local-admin-token

export PORT DATA_DIR ADMIN_TOKEN

.PHONY: run test build lint fmt clean

## Build (release) and run the whole platform locally on 127.0.0.1:$(PORT).
run:
	cargo build --release -p local --bin campaign-local
	./target/release/campaign-local

## Every test: unit, store/queue contract suites, black-box HTTP tests.
test:
	cargo build -p local --bin campaign-local
	cargo test --workspace --all-targets

build:
	cargo build --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(DATA_DIR)
