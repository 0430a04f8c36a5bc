#!/usr/bin/env bash
# `make package`: one bootstrap.zip per Lambda function, for arm64
# (Graviton, provided.al2023), in target/lambda-arm64/<function>/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh .venv-package scripts/requirements-package.txt
export PATH="$PWD/.venv-package/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null

functions=(ingest summary experiments health admin batch-writer)
lambda_dir=target/lambda-arm64
packages=()
for f in "${functions[@]}"; do packages+=(--package "$f"); done
cargo lambda build --release --arm64 --output-format zip --lambda-dir "$lambda_dir" "${packages[@]}"

# Each zip must hold exactly one file, `bootstrap`: an executable arm64 ELF.
status=0
for f in "${functions[@]}"; do
  zip="$lambda_dir/$f/bootstrap.zip"
  if ! python3 - "$zip" <<'PY'
import struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    assert archive.namelist() == ["bootstrap"], archive.namelist()
    info = archive.getinfo("bootstrap")
    assert (info.external_attr >> 16) & 0o111, "bootstrap is not executable"
    header = archive.read("bootstrap")[:20]
    assert header[:4] == b"\x7fELF", "not an ELF binary"
    assert struct.unpack("<H", header[18:20])[0] == 0xB7, "not built for arm64 (aarch64)"
PY
  then
    echo "missing or malformed: $zip" >&2
    status=1
    continue
  fi
  printf '%-14s %9s bytes zipped  %s\n' "$f" "$(stat -c %s "$zip")" "$zip"
done
exit $status
