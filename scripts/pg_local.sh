#!/usr/bin/env bash
# Print a URL to a PostgreSQL+PostGIS database for tests, starting the local cluster if needed.
# Creates role/database btsplan_test (password btsplan_test) once. Needs root or the postgres user.
set -euo pipefail
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$ver" ] || { echo "no PostgreSQL installed: apt-get install postgresql postgresql-15-postgis-3" >&2; exit 1; }
# the "main" cluster of the newest version (fault tests make throwaway clusters of their own)
pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main"' | grep -q . || pg_createcluster "$ver" main >/dev/null
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main"{print $3; exit}')
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else bash -c "$1"; fi; }
as_pg "psql -p $port -tAc \"select 1 from pg_roles where rolname='btsplan_test'\"" | grep -q 1 ||
  as_pg "psql -p $port -qc \"create role btsplan_test login superuser password 'btsplan_test'\"" >&2
as_pg "psql -p $port -tAc \"select 1 from pg_database where datname='btsplan_test'\"" | grep -q 1 ||
  as_pg "createdb -p $port -O btsplan_test btsplan_test" >&2
echo "postgresql+psycopg://btsplan_test:btsplan_test@127.0.0.1:$port/btsplan_test"
