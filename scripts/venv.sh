#!/usr/bin/env bash
# Creates (or reuses) the project-local Python virtualenv with the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=scripts/requirements-test.txt
stamp=.venv/.requirements
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r "$requirements"
cp "$requirements" "$stamp"
