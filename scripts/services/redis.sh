#!/usr/bin/env bash
# Standalone Redis for the store tests: 127.0.0.1:6390, no persistence.
# Idempotent: if our instance already answers, only the export line is printed.
# stdout carries only `export SESS_…=…`; everything else goes to stderr.
set -euo pipefail

port=6390
here="$(cd "$(dirname "$0")" && pwd)"
base="${SESS_SERVICES_DIR:-$here/../../.sess-services}"
mkdir -p "$base/redis"
dir="$(cd "$base/redis" && pwd)"

log() { echo "sess services [redis]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  log "installing redis-server via apt"
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
}

answers() { [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; }

ensure_redis
if answers; then
  log "already running on 127.0.0.1:$port"
else
  log "starting redis-server on 127.0.0.1:$port (data in $dir)"
  # A distro systemd unit may own 6379; we use our own port and never touch it.
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    --save '' --appendonly no >&2
  for _ in $(seq 1 120); do answers && break; sleep 0.5; done
  answers || { tail -n 20 "$dir/redis.log" >&2 || true; die "redis did not answer on 127.0.0.1:$port within 60 s"; }
  log "ready"
fi

echo "export SESS_REDIS_URL=redis://127.0.0.1:$port"
