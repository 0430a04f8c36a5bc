#!/usr/bin/env bash
# Creates (or reuses) a project-local Python virtualenv.
#   scripts/venv.sh                      .venv with the test tools
#   scripts/venv.sh DIR REQUIREMENTS     another venv (deploy tools, packaging)
# A venv is rebuilt only when its requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
requirements=${2:-scripts/requirements-test.txt}
stamp=$venv/.requirements
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$requirements"
cp "$requirements" "$stamp"
