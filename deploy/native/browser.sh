#!/usr/bin/env bash
# The browser of the page tests: Debian's chromium, driven by Playwright (twofold_common.testing.browser).
# Playwright's own browser download is never used: it is not reachable from every machine, and one browser
# from the distribution's packages is what CI and developers share.
#
#   browser.sh     install chromium when none is found, then print the path of its executable
#
# Found in the order the tests look: $TWOFOLD_CHROMIUM, /usr/bin/chromium, chromium on PATH. Idempotent:
# with a chromium present it installs nothing. Installing needs root (apt-get).
set -euo pipefail

DEBIAN_CHROMIUM=/usr/bin/chromium

log() { echo "browser: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_chromium() {
  if [ -n "${TWOFOLD_CHROMIUM:-}" ]; then
    if [ ! -f "$TWOFOLD_CHROMIUM" ] || [ ! -x "$TWOFOLD_CHROMIUM" ]; then
      die "TWOFOLD_CHROMIUM=$TWOFOLD_CHROMIUM is not an executable file"
    fi
    echo "$TWOFOLD_CHROMIUM"
  elif [ -x "$DEBIAN_CHROMIUM" ]; then
    echo "$DEBIAN_CHROMIUM"
  else
    # bash's `command -v` names a file it found on PATH even when it cannot execute it
    local found
    found="$(command -v chromium || true)"
    if [ -n "$found" ] && [ -x "$found" ]; then echo "$found"; fi
  fi
}

install_chromium() {
  [ "$(id -u)" = 0 ] || die "chromium missing; run: sudo apt-get install -y chromium"
  log "installing chromium from Debian packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

path="$(find_chromium)"
if [ -z "$path" ]; then
  install_chromium
  path="$(find_chromium)"
  [ -n "$path" ] || die "apt-get installed chromium, but no chromium executable was found"
fi
echo "$path"
