#!/usr/bin/env bash
# Start every backing service the store tests need, on loopback, without Docker.
# Prints `export SESS_…=…` lines: eval "$(bash scripts/services/up.sh)".
# Each service script is idempotent; see scripts/services/<name>.sh. chromium.sh
# installs the headless browser the e2e suite drives (it prints SESS_CHROMIUM).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for name in redis redis-cluster postgres ferretdb chromium; do
  echo "sess services: starting $name" >&2
  bash "$here/$name.sh"
done
