"""Authentication of internal service-to-service calls.

A caller signs a short-lived JWT (HS256, the internal secret every service
shares) naming itself (``iss``) and the service it calls (``aud``).  The
callee accepts only callers it lists.  A token minted for the vault cannot be
replayed against auth, and one minute bounds any replay.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection

import jwt
from fastapi import Depends, Header

from .errors import Forbidden, Unauthorized
from .peer import PeerClient

INTERNAL_AUTH_HEADER = "X-Internal-Auth"
# Set by the gateway after it authenticated a third-party app's API key; believed only
# together with the gateway's internal token.
CLIENT_ID_HEADER = "X-Twofold-Client-Id"
TOKEN_LIFETIME_SECONDS = 60
_ALGORITHM = "HS256"


class InternalAuth:
    def __init__(self, service: str, secret: str) -> None:
        self.service = service
        self._secret = secret
        self._cache: dict[str, tuple[float, str]] = {}

    def token_for(self, audience: str) -> str:
        """A token for calls to ``audience``, reused until 10 s before it expires."""
        now = time.time()
        cached = self._cache.get(audience)
        if cached and cached[0] - 10 > now:
            return cached[1]
        expires = now + TOKEN_LIFETIME_SECONDS
        token = jwt.encode(
            {"iss": self.service, "aud": audience, "iat": int(now), "exp": int(expires)},
            self._secret,
            algorithm=_ALGORITHM,
        )
        self._cache[audience] = (expires, token)
        return token

    def verify(self, token: str) -> str:
        """Return the calling service's name, or raise ``Unauthorized``."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], audience=self.service,
                options={"require": ["iss", "aud", "exp", "iat"]}, leeway=5,
            )
        except jwt.PyJWTError:
            raise Unauthorized("Invalid internal credentials.", code="internal-auth") from None
        return str(claims["iss"])

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
