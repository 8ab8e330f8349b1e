#!/usr/bin/env bash
# The Node app of docs/examples/oidc-node (openid-client), which the end-to-end tests run as a real process
# (tests-e2e/test_oidc_pages.py): its packages, from the committed package-lock.json with `npm ci`.
#
#   node-example.sh    install them when missing or when the lock changed, then print the example's folder
#
# Idempotent: with the packages of this lock installed it installs nothing. Node.js 20 or later and npm are
# needed; without them this fails and says so (the test would fail too: it never skips).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EXAMPLE="$ROOT/docs/examples/oidc-node"
STAMP="$EXAMPLE/node_modules/.installed-lock"

log() { echo "node-example: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v node >/dev/null 2>&1 || die "node is missing: install Node.js 20 or later with npm (the OpenID Connect test runs $EXAMPLE)"
command -v npm >/dev/null 2>&1 || die "npm is missing: install it beside node $(node --version)"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || die "node $(node --version) is too old: openid-client 6 needs Node.js 20 or later"

lock="$(sha256sum "$EXAMPLE/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$lock" ]; then
  log "installing the example's packages (npm ci)"
  (cd "$EXAMPLE" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock" >"$STAMP"
fi
echo "$EXAMPLE"
