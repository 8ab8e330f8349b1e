#!/usr/bin/env python3
"""A third-party app's side of twofold, with the standard library only.

    export TWOFOLD_URL=https://auth.example.com TWOFOLD_CLIENT_ID=cl_... TWOFOLD_CLIENT_SECRET=sk_...
    python3 twofold_app.py setup ACCOUNT CALLBACK_URL   # -> {"registrationToken", "deepLink", ...}: send the user to deepLink
    python3 twofold_app.py check-redirect URL            # the URL your callback received: signature valid?
    python3 twofold_app.py status REGISTRATION_TOKEN     # -> {"status": "pending|completed|rejected|expired", ...}
    python3 twofold_app.py verify ACCOUNT CODE           # -> {"valid": true|false}
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit

BASE = os.environ.get("TWOFOLD_URL", "http://127.0.0.1:8000").rstrip("/")
CLIENT_ID = os.environ["TWOFOLD_CLIENT_ID"]
CLIENT_SECRET = os.environ["TWOFOLD_CLIENT_SECRET"]


def call(method: str, path: str, body: dict | None = None) -> dict:
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # errors are application/problem+json
        problem = json.load(error)
        sys.exit(f"{problem['status']} {problem['title']}: {problem.get('detail', '')}")


def redirect_is_genuine(url: str) -> bool:
    """Our redirect to your callback is signed: HMAC-SHA256 over the sorted query, keyed from your secret."""
    params = dict(parse_qsl(urlsplit(url).query))
    key = hmac.new(CLIENT_SECRET.encode(), b"twofold/redirect-signature/v1", hashlib.sha256).digest()
    message = urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))
    expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("signature", ""))


def main(command: str, *args: str) -> None:
    if command == "setup":
        account, callback_url = args
        result = call("POST", "/api/v1/setup", {"account": account, "callbackUrl": callback_url})
    elif command == "check-redirect":
        result = {"genuine": redirect_is_genuine(args[0]), **dict(parse_qsl(urlsplit(args[0]).query))}
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
