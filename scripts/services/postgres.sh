#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the store tests: 127.0.0.1:5433, role/db `sess`.
# Trust auth on loopback only; fsync off (test data, speed over durability).
# Idempotent: a running cluster is reused and the role/db are created only if missing.
# stdout carries only `export SESS_…=…`; logs go to stderr.
set -euo pipefail

port=5433
url="postgres://sess:sess@127.0.0.1:$port/sess"
here="$(cd "$(dirname "$0")" && pwd)"
base="${SESS_SERVICES_DIR:-$here/../../.sess-services}"
mkdir -p "$base/postgres"
root="$(cd "$base/postgres" && pwd)"
data="$root/data"
logfile="$root/postgres.log"

log() { echo "sess services [postgres]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Newest installed major version; Debian keeps binaries out of PATH.
find_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

bindir="$(find_bindir || true)"
if [ -z "$bindir" ] || ! command -v psql >/dev/null; then
  log "installing postgresql via apt"
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  bindir="$(find_bindir)" || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
fi

# As root the server runs as the `postgres` OS user; otherwise as the caller.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "OS user postgres is missing (is the postgresql package installed?)"
  as_pg() { (cd "$root" && runuser -u postgres -- "$@"); }
  chown postgres: "$root"
  # The server must be able to reach its data dir: grant traverse (x only) where missing.
  d="$root"
  while [ "$d" != / ]; do
    as_pg test -x "$d" || { log "chmod o+x $d (so postgres can reach its data dir)"; chmod o+x "$d"; }
    d="$(dirname "$d")"
  done
else
  as_pg() { (cd "$root" && "$@"); }
fi

ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }
ours_running() { [ -f "$data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }
su_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U postgres -d postgres "$@"; }

if ready && ! ours_running; then
  # Something else (e.g. docker compose) already serves the port: use it if it accepts our URL.
  psql -X -q "$url" -tAc 'select 1' >/dev/null 2>&1 \
    || die "127.0.0.1:$port is taken by a server that does not accept $url"
  log "reusing the server already on 127.0.0.1:$port"
  echo "export SESS_POSTGRES_URL=$url"
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  log "initdb into $data ($bindir)"
  as_pg "$bindir/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 --locale=C >&2
  cat >>"$data/postgresql.conf" <<CONF

# sess test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
elif [ "$(cat "$data/PG_VERSION")" != "$(basename "$(dirname "$bindir")")" ]; then
  die "$data was made by PostgreSQL $(cat "$data/PG_VERSION"), binaries are $bindir; remove $root to recreate"
fi

if ours_running; then
  log "already running on 127.0.0.1:$port"
else
  log "starting on 127.0.0.1:$port (log: $logfile)"
  as_pg "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >&2 \
    || { tail -n 20 "$logfile" >&2 || true; die "postgres did not start within 60 s"; }
fi
for _ in $(seq 1 120); do ready && break; sleep 0.5; done
ready || die "postgres does not answer on 127.0.0.1:$port"

if [ "$(su_psql -tAc "select 1 from pg_roles where rolname = 'sess'")" != 1 ]; then
  log "creating role sess"
  su_psql -c "create role sess login password 'sess'"
fi
if [ "$(su_psql -tAc "select 1 from pg_database where datname = 'sess'")" != 1 ]; then
  log "creating database sess"
  su_psql -c "create database sess owner sess"
fi
# FerretDB (scripts/services/ferretdb.sh) keeps its data in a database of its own.
if [ "$(su_psql -tAc "select 1 from pg_database where datname = 'ferretdb'")" != 1 ]; then
  log "creating database ferretdb"
  su_psql -c "create database ferretdb owner sess"
fi

echo "export SESS_POSTGRES_URL=$url"
