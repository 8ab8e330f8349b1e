"""Signatures on the redirects we send to third-party apps, so an app can trust them.

The key is derived from the app's client secret, so the app needs nothing but
its secret to check a redirect::

    key = HMAC-SHA256(client_secret, "twofold/redirect-signature/v1")
    signature = hex(HMAC-SHA256(key, "k1=v1&k2=v2..."))   # every query parameter but
                                                           # ``signature``, sorted by name, URL-encoded

Auth stores only a sealed copy of the derived key (never the secret), and
registration asks auth for it when it redirects.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

KEY_LABEL = b"twofold/redirect-signature/v1"


def redirect_key(client_secret: str) -> bytes:
    return hmac.new(client_secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def canonical(params: Mapping[str, str]) -> str:
    return urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))


def sign(key: bytes, params: Mapping[str, str]) -> str:
    return hmac.new(key, canonical(params).encode(), hashlib.sha256).hexdigest()


def verify(client_secret: str, params: Mapping[str, str]) -> bool:
    expected = sign(redirect_key(client_secret), params)
    return hmac.compare_digest(expected, params.get("signature", ""))
