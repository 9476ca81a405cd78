#!/usr/bin/env bash
# Starts the machine's PostgreSQL 15 cluster for Cuttle's PostgreSQL tests, and makes sure the
# role `cuttle` (password `cuttle`, LOGIN CREATEDB) and the database `cuttle` owned by it exist.
#
# Run as root on Debian with PostgreSQL 15 installed; creates the cluster if it is missing.
# Idempotent: running it again when the cluster is up and the role and database exist changes
# nothing. Prints nothing but errors. CUTTLE_PG_VERSION, CUTTLE_PG_CLUSTER and CUTTLE_PG_PORT (the
# port of a cluster this script creates) override 15, main and 5432.
# Afterwards the tests reach the server at
#   CUTTLE_TEST_POSTGRES_URL=postgres://cuttle:cuttle@127.0.0.1:5432/cuttle
set -euo pipefail

version=${CUTTLE_PG_VERSION:-15}
cluster=${CUTTLE_PG_CLUSTER:-main}
port=${CUTTLE_PG_PORT:-5432}
ready_timeout=60

fail() {
    echo ".ci/postgres.sh: $*" >&2
    exit 1
}

# Runs a command, showing its output only when it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        fail "failed: $*"
    fi
}

[ "$(id -u)" -eq 0 ] || fail "must run as root"
command -v pg_ctlcluster >/dev/null || fail "pg_ctlcluster not found (is postgresql-common installed?)"
[ -x "/usr/lib/postgresql/$version/bin/postgres" ] || fail "PostgreSQL $version is not installed"

if ! pg_lsclusters --no-header 2>/dev/null | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { found = 1 } END { exit !found }'; then
    quiet pg_createcluster --port "$port" "$version" "$cluster"
fi

# `status` exits 0 when the cluster runs, 3 when it does not.
if ! pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
    quiet pg_ctlcluster "$version" "$cluster" start
fi

port=$(pg_conftool -s "$version" "$cluster" show port 2>/dev/null || echo "$port")
pg_isready=/usr/lib/postgresql/$version/bin/pg_isready
deadline=$((SECONDS + ready_timeout))
until "$pg_isready" -q -h 127.0.0.1 -p "$port"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "PostgreSQL $version/$cluster did not become ready within ${ready_timeout}s"
    sleep 0.5
done

# psql as the cluster's superuser, over the local socket, from a directory it may enter.
as_postgres() {
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

quiet as_postgres <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cuttle') THEN
        CREATE ROLE cuttle LOGIN CREATEDB PASSWORD 'cuttle';
    ELSE
        ALTER ROLE cuttle LOGIN CREATEDB PASSWORD 'cuttle';
    END IF;
END
$$;
-- Lets the tests drop their databases even while a server process (autovacuum) is connected.
GRANT pg_signal_backend TO cuttle;
SQL

exists=$(as_postgres -tA -c "SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'cuttle'" 2>&1) ||
    fail "could not query the databases: $exists"
if [ -z "$exists" ]; then
    quiet as_postgres -c 'CREATE DATABASE cuttle OWNER cuttle'
fi
