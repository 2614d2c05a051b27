#!/usr/bin/env bash
# Install (if missing) and start a PostgreSQL server on 127.0.0.1 for the storage tests; prints its admin URL.
set -euo pipefail
log() { echo "[postgres] $*" >&2; }
if [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  log "installing Debian's postgresql"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$ver main"; then
  pg_createcluster "$ver" main >&2
fi
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 >&2
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
su postgres -c "psql -q -p $port" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'recs_test') THEN
    CREATE ROLE recs_test LOGIN PASSWORD 'recs_test' CREATEDB;
  END IF;
END $$;
-- DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker busy in a test's database.
GRANT pg_signal_backend TO recs_test;
SQL
echo "postgresql+psycopg://recs_test:recs_test@127.0.0.1:${port}/postgres"
