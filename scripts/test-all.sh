#!/usr/bin/env bash
# The full test run: provision Redis, a Redis Cluster, PostgreSQL and FerretDB
# (a MongoDB-compatible server) on loopback when no SESS_* URL says where they
# are, and the headless Chromium of the browser suite when SESS_CHROMIUM does
# not say where it is, then run `pnpm test` with every service required, so
# nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${SESS_REDIS_URL:-}${SESS_POSTGRES_URL:-}${SESS_MONGO_URL:-}" ]]; then
  services="$(bash scripts/services/up.sh)" # a failed start stops here (set -e)
  eval "$services"
fi
if [[ -z "${SESS_CHROMIUM:-}" ]]; then
  eval "$(bash scripts/services/chromium.sh)"
fi
export SESS_REQUIRE_SERVICES=1
pnpm test
