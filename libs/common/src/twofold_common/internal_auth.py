"""Authentication of internal service-to-service calls.

A caller signs a short-lived JWT (EdDSA, with its own Ed25519 key, whose id is
the ``kid`` header) naming itself (``iss``) and the service it calls (``aud``).
The callee checks the signature only against the public keys its ring lists for
the service named in ``iss``, so no service can speak as another, then accepts
only callers it lists.  A token minted for the vault cannot be replayed against
auth, and one minute bounds any replay.  Key formats and the development keys:
``internal_keys.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Header

from .errors import Forbidden, Unauthorized
from .internal_keys import PublicKeys, SigningKey
from .peer import PeerClient

INTERNAL_AUTH_HEADER = "X-Internal-Auth"
# Set by the gateway after it authenticated a third-party app's API key; believed only
# together with the gateway's internal token.
CLIENT_ID_HEADER = "X-Twofold-Client-Id"
TOKEN_LIFETIME_SECONDS = 60
LEEWAY_SECONDS = 5
_ALGORITHM = "EdDSA"
# Verified tokens remembered (callers reuse a token for most of its minute); past this many, forgotten.
_VERIFIED_CACHE_SIZE = 1024


class InternalAuth:
    def __init__(self, service: str, signing_key: SigningKey, public_keys: PublicKeys) -> None:
        self.service = service
        self._signing_key = signing_key
        self._public_keys = public_keys
        self._cache: dict[str, tuple[float, str]] = {}
        # token -> (exp, caller): checking an Ed25519 signature takes about 0.1 ms, on every internal request
        self._verified: dict[str, tuple[float, str]] = {}

    def token_for(self, audience: str) -> str:
        """A token for calls to ``audience``, reused until 10 s before it expires."""
        now = time.time()
        cached = self._cache.get(audience)
        if cached and cached[0] - 10 > now:
            return cached[1]
        expires = now + TOKEN_LIFETIME_SECONDS
        token = jwt.encode(
            {"iss": self.service, "aud": audience, "iat": int(now), "exp": int(expires)},
            self._signing_key.private_key,
            algorithm=_ALGORITHM,
            headers={"kid": self._signing_key.kid},
        )
        self._cache[audience] = (expires, token)
        return token

    def verify(self, token: str) -> str:
        """Return the calling service's name, or raise ``Unauthorized``."""
        known = self._verified.get(token)
        if known and known[0] + LEEWAY_SECONDS > time.time():
            return known[1]
        try:
            claims = jwt.decode(token, self._key_of(token), algorithms=[_ALGORITHM], audience=self.service,
                                options={"require": ["iss", "aud", "exp", "iat"]}, leeway=LEEWAY_SECONDS)
        except jwt.PyJWTError:
            raise Unauthorized("Invalid internal credentials.", code="internal-auth") from None
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (float(claims["exp"]), str(claims["iss"]))
        return str(claims["iss"])

    def _key_of(self, token: str) -> Ed25519PublicKey:
        """The key of the ``kid`` the token names, among those of the service it claims to come from: a key
        of another service never vouches for this one."""
        unverified = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
        kid, issuer = unverified["header"].get("kid"), unverified["payload"].get("iss")
        key = self._public_keys.get(issuer, {}).get(kid) if isinstance(issuer, str) and isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidKeyError("no such key of this issuer")
        return key

    def client(self, audience: str, base_url: str, *, timeout: float = 5.0) -> PeerClient:
        """A client of service ``audience`` whose every call carries a fresh token for it."""
        return PeerClient(audience, base_url, timeout=timeout,
                          sign=lambda: {INTERNAL_AUTH_HEADER: self.token_for(audience)})


def internal_caller(
    get_auth: Callable[..., InternalAuth | Awaitable[InternalAuth]], allowed: Collection[str]
) -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency that admits only the listed calling services."""

    # Plain defaults, not Annotated: the closure's names are not visible to
    # FastAPI's resolution of postponed annotations.
    async def dependency(
        auth: InternalAuth = Depends(get_auth),
        token: str | None = Header(default=None, alias=INTERNAL_AUTH_HEADER),
    ) -> str:
        if not token:
            raise Unauthorized("Internal credentials required.", code="internal-auth")
        caller = auth.verify(token)
        if caller not in allowed:
            raise Forbidden(f"Service {caller!r} may not call this endpoint.", code="internal-auth")
        return caller

    return dependency
