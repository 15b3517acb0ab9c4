#!/usr/bin/env bash
# PostGIS read replica for compose's `replica` profile. First start: clone the primary with
# pg_basebackup (-R writes standby.signal and primary_conninfo, -X stream copies the WAL needed to be
# consistent); every start: hand over to the image's own entrypoint, which finds an initialised data
# directory and runs postgres as a hot standby (read-only queries, WAL streamed from the primary).
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:?set PRIMARY_HOST to the service name of the primary}"
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  echo "replica: cloning ${PRIMARY_HOST} into ${PGDATA}"
  tries=0
  until PGPASSWORD="$POSTGRES_PASSWORD" gosu postgres pg_basebackup -h "$PRIMARY_HOST" -p "${PRIMARY_PORT:-5432}" \
        -U "$POSTGRES_USER" -D "$PGDATA" -R -X stream --checkpoint=fast; do
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || { echo "replica: pg_basebackup kept failing; giving up" >&2; exit 1; }
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
fi
exec docker-entrypoint.sh postgres -c hot_standby=on "$@"
