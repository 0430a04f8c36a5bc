#!/usr/bin/env bash
# `make package`: one bootstrap.zip per Lambda function, for arm64
# (Graviton, provided.al2023), in target/lambda-arm64/<function>/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-package/bin/cargo-lambda ]; then
  python3 -m venv .venv-package
  .venv-package/bin/pip install --quiet -r scripts/requirements-package.txt
fi
export PATH="$PWD/.venv-package/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null

functions=(ingest summary experiments health admin batch-writer)
lambda_dir=target/lambda-arm64
packages=()
for f in "${functions[@]}"; do packages+=(--package "$f"); done
cargo lambda build --release --arm64 --output-format zip --lambda-dir "$lambda_dir" "${packages[@]}"

status=0
for f in "${functions[@]}"; do
  zip="$lambda_dir/$f/bootstrap.zip"
  if [ ! -s "$zip" ] || ! python3 -m zipfile -l "$zip" | grep -q ' bootstrap '; then
    echo "missing or malformed: $zip" >&2
    status=1
    continue
  fi
  printf '%-14s %8s bytes  %s\n' "$f" "$(stat -c %s "$zip")" "$zip"
done
exit $status
