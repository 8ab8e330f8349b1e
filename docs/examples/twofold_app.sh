#!/usr/bin/env bash
# A third-party app's side of twofold, with curl and openssl.
#   export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
#   ./twofold_app.sh setup ACCOUNT CALLBACK_URL
#   ./twofold_app.sh status REGISTRATION_TOKEN
#   ./twofold_app.sh verify ACCOUNT CODE
#   ./twofold_app.sh check-redirect URL      # prints "genuine" or "forged"
set -euo pipefail
BASE="${TWOFOLD_URL:-http://127.0.0.1:8000}"
AUTH="$TWOFOLD_CLIENT_ID:$TWOFOLD_CLIENT_SECRET"
json() { python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }

case "${1:-}" in
  setup)  curl -sS --fail-with-body -u "$AUTH" -H 'Content-Type: application/json' \
            -d "$(json account "$2" callbackUrl "$3")" "$BASE/api/v1/setup" ;;
  status) curl -sS --fail-with-body -u "$AUTH" "$BASE/api/v1/registrations/$2" ;;
  verify) curl -sS --fail-with-body -u "$AUTH" -H 'Content-Type: application/json' \
            -d "$(json account "$2" code "$3")" "$BASE/api/v1/verify" ;;
  check-redirect)
    # HMAC-SHA256 over the sorted, URL-encoded query without "signature", keyed by
    # HMAC-SHA256(secret, "twofold/redirect-signature/v1")
    query="${2#*\?}"
    given=$(tr '&' '\n' <<<"$query" | sed -n 's/^signature=//p')
    message=$(tr '&' '\n' <<<"$query" | grep -v '^signature=' | LC_ALL=C sort | paste -sd '&')
    key=$(printf '%s' 'twofold/redirect-signature/v1' | openssl dgst -sha256 -hmac "$TWOFOLD_CLIENT_SECRET" -hex | sed 's/.*= //')
    expected=$(printf '%s' "$message" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -hex | sed 's/.*= //')
    [ "$given" = "$expected" ] && echo genuine || { echo forged; exit 1; } ;;
  *) sed -n '2,8p' "$0"; exit 64 ;;
esac
echo
