"""The verifier of an API client's secret: what auth records and publishes, and what the gateway compares, so the
gateway checks an app's key without asking auth.

A client secret is 256 random bits (``sk_`` and 43 url-safe characters): nobody can guess one, so a fast keyed
SHA-256 is as safe as a slow password hash here, and a check costs microseconds. It is keyed by the client id
(a per-client salt): the same digest never stands for two clients. A verifier is not a secret (the secret cannot
be found from it), but it is still kept out of logs.
"""

from __future__ import annotations

import hashlib
import hmac

_CONTEXT = b"twofold/api-key-verifier/v1:"


def key_verifier(client_id: str, secret: str) -> bytes:
    return hmac.new(_CONTEXT + client_id.encode(), secret.encode(), hashlib.sha256).digest()
