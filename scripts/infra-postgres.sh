#!/usr/bin/env bash
# Ensures PostgreSQL answers at PGHOST:PGPORT (default 127.0.0.1:5432, user postgres), starting the
# local Debian cluster when it is down.
#   scripts/infra-postgres.sh [ensure]             just the server
#   scripts/infra-postgres.sh ensure-dbs [prefix]  plus one database per service: <prefix>_identity, …
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
SERVICES=(identity wallets marketplace metering reputation settlements runtime webhooks)

die() { echo "infra-postgres: $*" >&2; exit 1; }
answers() { psql -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

start_local_cluster() {
  case "$PGHOST" in 127.0.0.1|localhost|::1) ;; *) die "no PostgreSQL answers at $PGHOST:$PGPORT (not a local address, so not starting one)";; esac
  command -v pg_ctlcluster >/dev/null && command -v pg_lsclusters >/dev/null \
    || die "no PostgreSQL answers at $PGHOST:$PGPORT and pg_ctlcluster is not installed (apt-get install postgresql, or point PGHOST/PGPORT at a running server)"
  local version name
  read -r version name < <(pg_lsclusters -h | awk -v p="$PGPORT" '$3 == p { print $1, $2; exit }') \
    || die "no PostgreSQL answers at $PGHOST:$PGPORT and pg_lsclusters lists no cluster on port $PGPORT (create one: pg_createcluster <version> main --port $PGPORT)"
  echo "infra-postgres: starting cluster $version/$name"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start \
    || die "pg_ctlcluster could not start cluster $version/$name; see /var/log/postgresql/postgresql-$version-$name.log"
}

ensure_server() {
  command -v psql >/dev/null || die "psql is not installed (apt-get install postgresql-client)"
  answers && return
  start_local_cluster
  local timeout="${PG_START_TIMEOUT:-30}" t0=$SECONDS
  until answers; do
    ((SECONDS - t0 < timeout)) || die "PostgreSQL did not accept 'select 1' as $PGUSER at $PGHOST:$PGPORT within ${timeout}s: $(psql -d postgres -Atqc 'select 1' 2>&1 | head -1)"
    sleep 0.3
  done
}

ensure_dbs() {
  local prefix="$1" db existing created=()
  [[ "$prefix" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database prefix '$prefix' must match [a-z_][a-z0-9_]*"
  existing="$(psql -d postgres -Atqc 'select datname from pg_database')"
  for s in "${SERVICES[@]}"; do
    db="${prefix}_$s"
    grep -qx "$db" <<<"$existing" && continue
    psql -d postgres -qc "create database \"$db\"" >/dev/null || die "could not create database $db"
    created+=("$db")
  done
  echo "infra-postgres: ${prefix}_{$(IFS=,; echo "${SERVICES[*]}")} ready at $PGHOST:$PGPORT${created[*]:+ (created ${created[*]})}"
}

case "${1:-ensure}" in
  ensure) ensure_server; echo "infra-postgres: answering at $PGHOST:$PGPORT" ;;
  ensure-dbs) ensure_server; ensure_dbs "${2:-platform}" ;;
  *) echo "usage: $0 [ensure | ensure-dbs [prefix]]" >&2; exit 2 ;;
esac
