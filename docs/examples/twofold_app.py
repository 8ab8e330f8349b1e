#!/usr/bin/env python3
"""A third-party app's side of twofold, with the standard library only.

    export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
    python3 twofold_app.py setup ACCOUNT CALLBACK_URL   # -> {"registrationToken", "deepLink", ...}: send the user to deepLink
    python3 twofold_app.py check-redirect URL            # the URL your callback received: accept it?
    python3 twofold_app.py setup-native ACCOUNT          # -> {"registrationToken", "otpauthUri", "qrSvg", ...}: show the QR code
    python3 twofold_app.py confirm REGISTRATION_TOKEN CODE  # the first code the user's authenticator shows
    python3 twofold_app.py status REGISTRATION_TOKEN     # -> {"status": "pending|completed|rejected|expired", ...}
    python3 twofold_app.py verify ACCOUNT CODE           # -> {"valid": true|false}

The registrations the app started are kept in TWOFOLD_APP_STORE (a JSON file here; your app's session or database).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

BASE = os.environ.get("TWOFOLD_URL", "http://127.0.0.1:8000").rstrip("/")
CLIENT_ID = os.environ["TWOFOLD_CLIENT_ID"]
CLIENT_SECRET = os.environ["TWOFOLD_CLIENT_SECRET"]
STORE = Path(os.environ.get("TWOFOLD_APP_STORE", "twofold-registrations.json"))
MAX_REDIRECT_AGE_S = 300  # a redirect older than this is refused (a replayed link)
MAX_CLOCK_SKEW_S = 60  # nor one from further in the future than clocks drift


def call(method: str, path: str, body: dict | None = None) -> dict:
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # errors are application/problem+json; switch on "type"
        problem = json.load(error)
        sys.exit(f"{problem['status']} {problem['type']}: {problem.get('detail', '')}")


def started() -> dict[str, str]:
    """registrationToken -> account, for every setup this app started."""
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def start_setup(account: str, **body: str) -> dict:
    result = call("POST", "/api/v1/setup", {"account": account, **body})
    STORE.write_text(json.dumps({**started(), result["registrationToken"]: account}))
    return result


def signature_is_valid(params: dict[str, str]) -> bool:
    """HMAC-SHA256 over the sorted, URL-encoded parameters without "signature", keyed from your secret."""
    key = hmac.new(CLIENT_SECRET.encode(), b"twofold/redirect-signature/v1", hashlib.sha256).digest()
    message = urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))
    expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("signature", ""))


def check_redirect(url: str) -> tuple[str | None, str | None]:
    """The account a redirect to your callback is about, or why to refuse it."""
    params = dict(parse_qsl(urlsplit(url).query))  # decoded: "+" and "%20" both read as a space
    if not signature_is_valid(params):
        return None, "bad signature"
    age = time.time() - int(params["timestamp"]) / 1000  # signed by twofold: an integer
    if age > MAX_REDIRECT_AGE_S or age < -MAX_CLOCK_SKEW_S:
        return None, "stale timestamp"
    account = started().get(params["regToken"])
    if account is None:  # genuine, but not a setup this app started (for this user)
        return None, "not started here"
    return account, None


def main(command: str, *args: str) -> None:
    if command == "setup":
        account, callback_url = args
        result = start_setup(account, callbackUrl=callback_url)
    elif command == "setup-native":
        result = start_setup(args[0], provider="native")
    elif command == "check-redirect":
        account, reason = check_redirect(args[0])
        result = {"accepted": account is not None, "account": account, "reason": reason,
                  "redirect": dict(parse_qsl(urlsplit(args[0]).query))}
    elif command == "confirm":
        token, code = args
        result = call("POST", "/api/auth/setup-2fa/confirm", {"registrationToken": token, "code": code})
    elif command == "status":
        result = call("GET", f"/api/v1/registrations/{args[0]}")
    elif command == "verify":
        account, code = args
        result = call("POST", "/api/v1/verify", {"account": account, "code": code})
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
