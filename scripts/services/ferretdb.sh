#!/usr/bin/env bash
# FerretDB v1 (MongoDB wire protocol) on its PostgreSQL backend: 127.0.0.1:27018.
# The backend is the test PostgreSQL of postgres.sh (database `ferretdb`), started here
# when it is not running; its SQLite backend serialises writes and would make the
# Mongo tests and benchmark rows measure FerretDB rather than the store.
# Binary: $SESS_FERRETDB_BIN, else a v1 `ferretdb` on PATH, else one built earlier into
# the services dir, else built from the Go module proxy (needs Go >= 1.21, ~1-4 min).
# Idempotent: a running instance is reused. stdout carries only `export SESS_…=…`.
set -euo pipefail

port=27018
version=v1.24.2
here="$(cd "$(dirname "$0")" && pwd)"
base="${SESS_SERVICES_DIR:-$here/../../.sess-services}"
mkdir -p "$base/ferretdb/bin" "$base/ferretdb/state"
root="$(cd "$base/ferretdb" && pwd)"
pidfile="$root/ferretdb.pid"
logfile="$root/ferretdb.log"

log() { echo "sess services [ferretdb]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

accepts() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$port" 2>/dev/null; }
our_pid_alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# v2 has a different CLI (no SQLite handler), so only a working v1 binary qualifies.
# The output is captured before it is matched: `--version | grep -q` under pipefail
# fails at random, since grep -q exits at the first line and FerretDB, which writes
# one line per write(2), then dies of SIGPIPE (6 in 200 here; it failed a CI run).
usable() {
  local out
  [ -x "$1" ] && out="$("$1" --version 2>/dev/null)" && [[ $'\n'"$out" == *$'\n'"version: v1."* ]]
}

# The module's build/version/version.txt is generated upstream and absent from the
# module zip, and a binary whose main module is FerretDB panics without it. So build
# from a copy of the module source with that file written in.
build_ferretdb() {
  local out="$1" work src
  command -v go >/dev/null || die "no ferretdb binary and no Go toolchain; install Go >= 1.21 or set SESS_FERRETDB_BIN"
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  log "building FerretDB $version with $(go version | awk '{print $3}') (takes a few minutes)"
  printf 'module ferretbuild\n\ngo 1.22\n\nrequire github.com/FerretDB/FerretDB %s\n' "$version" >"$work/go.mod"
  (cd "$work" && GOFLAGS=-mod=mod go mod download github.com/FerretDB/FerretDB >&2)
  src="$(cd "$work" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
  [ -d "$src" ] || die "could not locate FerretDB module source"
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  echo "$version" >"$work/src/build/version/version.txt"
  (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp" ./cmd/ferretdb >&2)
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
  trap - EXIT
}

resolve_bin() {
  local cached="$root/bin/ferretdb" onpath
  if [ -n "${SESS_FERRETDB_BIN:-}" ]; then
    usable "$SESS_FERRETDB_BIN" || die "SESS_FERRETDB_BIN=$SESS_FERRETDB_BIN is not a working FerretDB v1 binary"
    echo "$SESS_FERRETDB_BIN"; return
  fi
  onpath="$(command -v ferretdb || true)"
  if [ -n "$onpath" ] && usable "$onpath"; then echo "$onpath"; return; fi
  if ! usable "$cached"; then build_ferretdb "$cached"; fi
  usable "$cached" || die "built $cached but it does not run (see output above)"
  echo "$cached"
}

# The PostgreSQL backend (idempotent; its URL line is not ours to print).
pg_url="postgres://sess:sess@127.0.0.1:5433/ferretdb"
bash "$here/postgres.sh" >/dev/null

if our_pid_alive || accepts; then
  log "already running on 127.0.0.1:$port"
else
  bin="$(resolve_bin)"
  log "starting $bin on 127.0.0.1:$port (data in PostgreSQL database ferretdb, log: $logfile)"
  # setsid: own session, so the daemon outlives the calling shell/CI step.
  setsid nohup "$bin" --handler=postgresql --postgresql-url="$pg_url" \
    --listen-addr="127.0.0.1:$port" --debug-addr=- --state-dir="$root/state" \
    --telemetry=disable </dev/null >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
fi

for _ in $(seq 1 120); do accepts && break; our_pid_alive || [ ! -f "$pidfile" ] || break; sleep 0.5; done
accepts || { tail -n 20 "$logfile" >&2 || true; die "FerretDB did not accept connections on 127.0.0.1:$port within 60 s"; }

echo "export SESS_MONGO_URL=mongodb://127.0.0.1:$port/"
