#!/usr/bin/env bash
# Three-master Redis Cluster (no replicas) on 127.0.0.1:7000-7002 for the store tests.
# Idempotent: running nodes are left alone and the cluster is only created when no
# slots are assigned yet. stdout carries only `export SESS_…=…`; logs go to stderr.
set -euo pipefail

ports=(7000 7001 7002)
here="$(cd "$(dirname "$0")" && pwd)"
base="${SESS_SERVICES_DIR:-$here/../../.sess-services}"
mkdir -p "$base/redis-cluster"
root="$(cd "$base/redis-cluster" && pwd)"

log() { echo "sess services [redis-cluster]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  log "installing redis-server via apt"
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
}

answers() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
cluster_info() { redis-cli -h 127.0.0.1 -p "${ports[0]}" cluster info 2>/dev/null | tr -d '\r'; }
# Matched on captured output, never `| grep -q`: under pipefail an early grep exit
# can fail the pipeline with SIGPIPE.
has_line() { local out; out="$(cluster_info)"; [[ $'\n'"$out"$'\n' == *$'\n'"$1"$'\n'* ]]; }
cluster_ok() { has_line 'cluster_state:ok'; }

start_node() {
  local port="$1" dir="$root/$1"
  mkdir -p "$dir"
  if answers "$port"; then
    log "node $port already running"
    return
  fi
  log "starting node on 127.0.0.1:$port (data in $dir)"
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    --save '' --appendonly no >&2
}

wait_for() { # wait_for <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

ensure_redis
for port in "${ports[@]}"; do start_node "$port"; done
for port in "${ports[@]}"; do
  wait_for 60 answers "$port" || { tail -n 20 "$root/$port/redis.log" >&2 || true; die "node $port did not answer within 60 s"; }
done

if cluster_ok; then
  log "cluster already ok"
else
  # Restarted nodes keep their nodes.conf and converge by themselves; only a
  # cluster with no assigned slots needs creating.
  if has_line 'cluster_slots_assigned:0'; then
    log "creating cluster"
    nodes=(); for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >&2 \
      || die "redis-cli --cluster create failed (stale state? remove $root and retry)"
  fi
  wait_for 60 cluster_ok || { cluster_info >&2; die "cluster_state did not become ok within 60 s (stale state? remove $root and retry)"; }
  log "ready"
fi

echo "export SESS_REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
