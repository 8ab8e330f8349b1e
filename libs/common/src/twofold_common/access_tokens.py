"""Verification of the access and setup tokens auth signs (EdDSA JWTs), against auth's JWKS.

Keys are cached by ``kid``; an unknown ``kid`` triggers one refresh of the
JWKS (rate-limited), so a key rotation is picked up without a restart and a
flood of forged kids cannot turn into a flood of JWKS fetches.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import InitVar, dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import ServiceUnavailable, Unauthorized
from .peer import PeerClient, PeerUnreachable

SETUP_SCOPE = "2fa_setup"
# What a setup token may enroll: "first" (only while the account has no authenticator; from registration
# or a password login of a pending account) or "replace" (re-enrollment, granted for a fresh code).
FIRST_ENROLLMENT, REPLACE_ENROLLMENT = "first", "replace"
ALGORITHM = "EdDSA"


def jwk_of(kid: str, public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    amr: tuple[str, ...]
    email: str | None
    scope: str | None
    expires_at: int
    enrollment: str | None = None  # setup tokens only

    @property
    def is_setup_token(self) -> bool:
        return self.scope == SETUP_SCOPE


@dataclass(kw_only=True)
class TokenVerifier:
    """Checks access and setup tokens against the JWKS it was given, or fetches from ``jwks_url`` (``http``)."""

    issuer: str
    audience: str
    jwks: InitVar[dict[str, Any] | None] = None
    jwks_url: str | None = None
    http: PeerClient | None = None
    min_refresh_interval: float = 10.0
    _keys: dict[str, Any] = field(default_factory=dict, init=False)
    _last_refresh: float = field(default=0.0, init=False)
    _refresh_failed: bool = field(default=False, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self, jwks: dict[str, Any] | None) -> None:
        if jwks:
            self._load(jwks)

    def _load(self, jwks: dict[str, Any]) -> None:
        keys = {}
        for entry in jwks.get("keys", []):
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry).key
            except (KeyError, jwt.PyJWKError):
                continue
        self._keys = keys

    async def _refresh(self) -> None:
        if self.jwks_url is None or self.http is None:
            return
        async with self._lock:
            if time.monotonic() - self._last_refresh < self.min_refresh_interval:
                return
            self._last_refresh = time.monotonic()
            try:
                answer = await self.http.get(self.jwks_url)
                if not answer.is_success:
                    raise ValueError(f"jwks answered {answer.status_code}")
                self._load(answer.json())
                self._refresh_failed = False
            except (PeerUnreachable, ValueError):
                self._refresh_failed = True
                # auth was busy or away: ask again after a second, not after the whole interval
                self._last_refresh = time.monotonic() - self.min_refresh_interval + 1.0
                if not self._keys:
                    raise ServiceUnavailable("Cannot fetch the signing keys.", code="jwks-unavailable") from None

    async def verify(self, token: str) -> TokenClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token.", code="invalid-token") from None
        if not isinstance(kid, str):
            raise Unauthorized("Invalid token.", code="invalid-token")
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            if self._refresh_failed:  # unknown because auth could not be asked: try again later, not "invalid"
                raise ServiceUnavailable("Cannot fetch the signing keys.", code="jwks-unavailable")
            raise Unauthorized("Invalid token.", code="invalid-token")
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            return TokenClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
                amr=tuple(claims.get("amr") or ()),
                email=claims.get("email"),
                scope=claims.get("scope"),
                expires_at=int(claims["exp"]),
                enrollment=(claims.get("enrollment") or FIRST_ENROLLMENT) if claims.get("scope") == SETUP_SCOPE
                else None,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.", code="token-expired") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthorized("Invalid token.", code="invalid-token") from None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
