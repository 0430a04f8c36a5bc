#!/usr/bin/env bash
# `make deploy`: builds every function for arm64 with `sam build`
# (BuildMethod rust-cargolambda) and deploys infra/template.yaml with
# `sam deploy`, using infra/samconfig.toml (copy infra/samconfig.toml.example).
# GUIDED=1 runs `sam deploy --guided`, which writes samconfig.toml for you.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh .venv-deploy scripts/requirements-deploy.txt
export PATH="$PWD/.venv-deploy/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null
# The rust-cargolambda builder reads target/lambda/<crate>/bootstrap.
unset CARGO_TARGET_DIR

cd infra
if [ "${GUIDED:-0}" = 1 ]; then
  sam build --beta-features
  sam deploy --guided
  exit 0
fi
if [ ! -f samconfig.toml ]; then
  echo "infra/samconfig.toml is missing: copy infra/samconfig.toml.example and set your region," >&2
  echo "or run \`make deploy GUIDED=1\` once to answer the questions interactively." >&2
  exit 1
fi
sam build --beta-features
sam deploy
sam list stack-outputs --output table
