#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL, then create the role and database the
# test suite connects with. Safe to run again: every step checks before it changes anything.
#
#   bash .ci/postgres.sh        # then: make test-pg
#
# Debian/Ubuntu only (apt + postgresql-common's pg_ctlcluster). There is no systemd in CI
# containers, so the cluster is started with pg_ctlcluster directly, which works with or
# without systemd. Settings (environment):
#   TALLYSTICK_PG_USER / TALLYSTICK_PG_PASSWORD / TALLYSTICK_PG_DB   default: tallystick
#   TALLYSTICK_PG_FAST=1   turn off fsync & co. for a throwaway cluster (default on when CI=true)
set -euo pipefail

PG_USER="${TALLYSTICK_PG_USER:-tallystick}"
PG_PASSWORD="${TALLYSTICK_PG_PASSWORD:-tallystick}"
PG_DB="${TALLYSTICK_PG_DB:-tallystick}"
FAST="${TALLYSTICK_PG_FAST:-${CI:-false}}"

log() { printf '[postgres.sh] %s\n' "$*"; }
die() { printf '[postgres.sh] ERROR: %s\n' "$*" >&2; exit 1; }

case "$PG_USER$PG_DB" in
  *[!a-z0-9_]*) die "TALLYSTICK_PG_USER and TALLYSTICK_PG_DB may use only a-z, 0-9 and _" ;;
esac
case "$PG_PASSWORD" in
  *[!A-Za-z0-9_.-]*) die "TALLYSTICK_PG_PASSWORD may use only letters, digits, _ . and - (it goes into a URL)" ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo"
  SUDO="sudo"
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# 1. Install. postgresql-common creates and (where policy allows) starts the "main" cluster.
if ! command -v pg_lsclusters >/dev/null || ! dpkg -s postgresql >/dev/null 2>&1; then
  log "installing PostgreSQL with apt"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
else
  log "PostgreSQL is already installed ($(dpkg-query -W -f '${Version}' postgresql))"
fi

# 2. Pick the cluster: the first one listed, or create "main" for the newest installed version.
read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters -h | head -n 1) || true
if [ -z "${VERSION:-}" ]; then
  VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  [ -n "$VERSION" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  log "creating cluster $VERSION/main"
  $SUDO pg_createcluster "$VERSION" main >/dev/null
  read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters -h | head -n 1)
fi
log "cluster $VERSION/$CLUSTER on port $PORT is $STATUS"

if [ "$FAST" = "true" ] || [ "$FAST" = "1" ]; then
  # Test data is disposable: skip durability work (CREATE DATABASE per test is the hot path).
  # Two test processes (make test-pg runs pytest-xdist) with live servers and multi-process tests
  # each holding pools of up to 10: more than the default 100 connections at peak.
  conf="/etc/postgresql/$VERSION/$CLUSTER/conf.d/tallystick-ci.conf"
  wanted='fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n'
  if [ "$(cat "$conf" 2>/dev/null)" != "$(printf "$wanted")" ]; then
    log "writing $conf (fsync=off, synchronous_commit=off, full_page_writes=off, max_connections=300)"
    printf "$wanted" | $SUDO tee "$conf" >/dev/null
    # max_connections takes a restart, not a reload.
    if [ "$STATUS" = "online" ]; then $SUDO pg_ctlcluster "$VERSION" "$CLUSTER" restart; fi
  fi
fi

# 3. Start it (no systemd: pg_ctlcluster runs pg_ctl as the postgres user).
if [ "$STATUS" != "online" ]; then
  log "starting cluster $VERSION/$CLUSTER"
  $SUDO pg_ctlcluster "$VERSION" "$CLUSTER" start
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p "$PORT"; then break; fi
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL did not accept connections on 127.0.0.1:$PORT within 30 s (see /var/log/postgresql/)"

# 4. Role (CREATEDB: the suite creates a database per test from a migrated template) and database.
as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SQL
if ! as_postgres psql -tAq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  as_postgres createdb -O "$PG_USER" "$PG_DB"
fi

URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/$PG_DB"
PGPASSWORD="$PG_PASSWORD" psql -q -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d "$PG_DB" -c "SELECT 1" >/dev/null \
  || die "cannot log in as $PG_USER over TCP (check pg_hba.conf allows scram-sha-256 on 127.0.0.1)"
log "ready: TALLYSTICK_DATABASE_URL=$URL"
log "run the suite with: make test-pg PG_URL=$URL   (the default PG_URL matches the default settings)"
