#!/usr/bin/env bash
# The whole suite on both backends. PostGIS: BTSPLAN_TEST_POSTGRES_URL, else the local cluster
# (started if it is down and we are root), else the PostGIS-parametrised tests fail loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BTSPLAN_TEST_POSTGRES_URL:-}" ]; then
  export BTSPLAN_TEST_POSTGRES_URL=$(bash scripts/pg_local.sh)
fi
echo "PostGIS test database: ${BTSPLAN_TEST_POSTGRES_URL//:*@/:***@}"
exec .venv/bin/python -m pytest "$@"
