#!/usr/bin/env bash
# A third-party app's side of twofold, with curl and openssl (and python3 to write JSON bodies).
#   export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
#   ./twofold_app.sh setup ACCOUNT CALLBACK_URL
#   ./twofold_app.sh check-redirect URL      # prints "accepted ACCOUNT", or "refused: REASON" (exit 1)
#   ./twofold_app.sh setup-native ACCOUNT    # an otpauth:// URI and a QR code to show
#   ./twofold_app.sh confirm REGISTRATION_TOKEN CODE   # the first code the user's authenticator shows
#   ./twofold_app.sh status REGISTRATION_TOKEN
#   ./twofold_app.sh verify ACCOUNT CODE
# The registrations the app started are kept in TWOFOLD_APP_STORE ("token account" lines here; your app's
# session or database).
set -euo pipefail
BASE="${TWOFOLD_URL:-http://127.0.0.1:8000}"
AUTH="$TWOFOLD_CLIENT_ID:$TWOFOLD_CLIENT_SECRET"
STORE="${TWOFOLD_APP_STORE:-twofold-registrations.txt}"
MAX_REDIRECT_AGE_S=300  # a redirect older than this is refused (a replayed link)
MAX_CLOCK_SKEW_S=60     # nor one from further in the future than clocks drift
json() { python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }
post() { curl -sS --fail-with-body -u "$AUTH" -H 'Content-Type: application/json' -d "$2" "$BASE$1"; }

# A setup this app starts: remember its registration token with the account it is for.
start_setup() {
  local answer token
  answer=$(post /api/v1/setup "$2") || { printf '%s\n' "$answer" >&2; exit 1; }
  token=$(sed -n 's/.*"registrationToken": *"\([^"]*\)".*/\1/p' <<<"$answer")
  printf '%s %s\n' "$token" "$1" >>"$STORE"
  printf '%s' "$answer"
}

# A query's name or value as the app reads it: "+" is a space, %XX a byte (a stray backslash stays one).
form_decode() { local s="${1//\\/\\\\}"; s="${s//+/ }"; printf '%b' "${s//%/\\x}"; }
# What the signature covers, as Python's urlencode writes it: bytes but A-Za-z0-9_.~- as %XX, a space as "+".
form_encode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9_.~-]) out+="$c" ;;
      ' ') out+='+' ;;
      *) printf -v c '%%%02X' "'$c"; out+="$c" ;;
    esac
  done
  printf '%s' "$out"
}
refuse() { echo "refused: $1"; exit 1; }

check_redirect() {
  local query="${1#*\?}" pair name message key expected age token account
  local -A param=()
  IFS='&' read -ra pairs <<<"${query%%#*}"
  for pair in "${pairs[@]}"; do
    [[ "$pair" == ?*=?* ]] || continue  # like the server's parser: no blank values
    param[$(form_decode "${pair%%=*}")]=$(form_decode "${pair#*=}")
  done
  # HMAC-SHA256 over the decoded parameters but "signature", re-encoded and sorted by name,
  # keyed by HMAC-SHA256(secret, "twofold/redirect-signature/v1")
  message=$(for name in "${!param[@]}"; do
              [ "$name" = signature ] || printf '%s=%s\n' "$(form_encode "$name")" "$(form_encode "${param[$name]}")"
            done | LC_ALL=C sort -t= -k1,1 | paste -sd '&')
  key=$(printf '%s' 'twofold/redirect-signature/v1' | openssl dgst -sha256 -hmac "$TWOFOLD_CLIENT_SECRET" -hex | sed 's/.*= //')
  expected=$(printf '%s' "$message" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -hex | sed 's/.*= //')
  [ "${param[signature]:-}" = "$expected" ] || refuse "bad signature"
  [[ "${param[timestamp]:-}" =~ ^[0-9]+$ ]] || refuse "bad signature"  # checked before any arithmetic on it
  age=$(( $(date +%s) - 10#${param[timestamp]} / 1000 ))
  (( age <= MAX_REDIRECT_AGE_S && age >= -MAX_CLOCK_SKEW_S )) || refuse "stale timestamp"
  # genuine, but is it a setup this app started (for this user)?
  [ -f "$STORE" ] && while read -r token account; do
    [ "$token" = "${param[regToken]:-}" ] && { echo "accepted $account"; return; }
  done <"$STORE"
  refuse "not started here"
}

case "${1:-}" in
  setup)          start_setup "$2" "$(json account "$2" callbackUrl "$3")" ;;
  setup-native)   start_setup "$2" "$(json account "$2" provider native)" ;;
  confirm)        post /api/auth/setup-2fa/confirm "$(json registrationToken "$2" code "$3")" ;;
  status)         curl -sS --fail-with-body -u "$AUTH" "$BASE/api/v1/registrations/$2" ;;
  verify)         post /api/v1/verify "$(json account "$2" code "$3")" ;;
  check-redirect) check_redirect "$2"; exit ;;
  *) sed -n '2,11p' "$0"; exit 64 ;;
esac
echo
