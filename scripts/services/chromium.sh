#!/usr/bin/env bash
# Headless Chromium for the browser suite (e2e/): Debian's `chromium` package, driven
# by playwright-core; no browser is downloaded by a driver.
# $SESS_CHROMIUM when it points at a browser, else /usr/bin/chromium, else apt-get install.
# Idempotent: apt runs only when no Chromium is found. stdout carries only `export SESS_…=…`.
set -euo pipefail

log() { echo "sess services [chromium]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_chromium() {
  local candidate
  for candidate in "${SESS_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! path="$(find_chromium)"; then
  command -v apt-get >/dev/null || die "no Chromium found and no apt-get to install one; set SESS_CHROMIUM"
  log "installing chromium via apt"
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
  path="$(find_chromium)" || die "apt installed chromium but no binary was found"
fi
# The Debian wrapper sources /etc/chromium.d, whose noise goes to stderr, not our stdout.
version="$("$path" --version 2>/dev/null)" || die "$path --version failed"
log "$version at $path"
echo "export SESS_CHROMIUM=$path"
