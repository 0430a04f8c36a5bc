#!/usr/bin/env bash
# Checks of the AWS SAM template (infra/template.yaml) and the LocalStack
# compose file: cfn-lint (zero errors and warnings), then infra/tests
# (security facts, routes vs the OpenAPI document, the SAM-expanded
# template linted too, and `campaign-local bootstrap` on moto creating what
# the template declares).
# Expects MOTO_ENDPOINT (scripts/test.sh starts moto and exports it) and
# target/debug/campaign-local (or CAMPAIGN_LOCAL_BIN) already built.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
echo "== cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml
echo "== infra/tests"
.venv/bin/pytest -q -p no:cacheprovider infra/tests
