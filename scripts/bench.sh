#!/usr/bin/env bash
# `make bench`: run the benchmarks (never part of `make test`). Each benchmarks/bench_<name>.py writes
# benchmarks/results/<name>.json (machine, date, figures, ratio against its baseline).
#   bash scripts/bench.sh              every benchmark
#   bash scripts/bench.sh a1_check     only benchmarks/bench_a1_check.py (extra args after --)
#   bash scripts/bench.sh import     1,000,000-row CSV of sites into PostGIS: btsplan import vs ogr2ogr
#   bash scripts/bench.sh tiles check_site   vector tiles vs tipg (tipg goes to /tmp/tipg-venv), POST /checks/site
# Benchmark databases live beside the test cluster under their own names (never the test databases).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BTSPLAN_BENCH_POSTGRES_URL:-}" ]; then
  export BTSPLAN_BENCH_POSTGRES_URL=${BTSPLAN_TEST_POSTGRES_URL:-$(bash scripts/pg_local.sh)}
fi
names=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  names+=("$1"); shift
done
if [ ${#names[@]} -eq 0 ]; then
  for f in benchmarks/bench_*.py; do n=$(basename "$f" .py); names+=("${n#bench_}"); done
fi
status=0
for n in "${names[@]}"; do
  f="benchmarks/bench_${n}.py"
  [ -f "$f" ] || { echo "no benchmark $f" >&2; status=1; continue; }
  echo "== $n" >&2
  .venv/bin/python "$f" "${extra[@]}" || status=1
done
exit $status
