"""Tokens auth hands out: signed access and setup tokens (EdDSA JWTs), opaque refresh and challenge tokens.

Opaque tokens are 256 random bits with a readable prefix; only a keyed
SHA-256 of them is stored, so a database dump holds nothing replayable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twofold_common.access_tokens import FIRST_ENROLLMENT, SETUP_SCOPE, jwk_of
from twofold_common.settings import SettingsError

from .settings import AuthSettings


class TokenHasher:
    """Keyed hashes of opaque tokens, and sealing of the few secrets auth must read back (redirect keys)."""

    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()
        sealing_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                           info=b"twofold/auth/sealing-v1").derive(self._pepper)
        self._aead = AESGCM(sealing_key)

    def seal(self, secret: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret, context.encode())

    def unseal(self, sealed: bytes, context: str) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], context.encode())

    def new(self, prefix: str) -> tuple[str, bytes]:
        token = f"{prefix}_{secrets.token_urlsafe(32)}"
        return token, self.hash(token)

    def hash(self, token: str) -> bytes:
        return hmac.new(self._pepper, token.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class SigningKeyRing:
    keys: dict[str, Ed25519PrivateKey]
    active_kid: str

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> SigningKeyRing:
        name = settings.env_name("signing_keys")
        try:
            raw = json.loads(settings.signing_keys.get_secret_value())
            keys = {kid: Ed25519PrivateKey.from_private_bytes(base64.b64decode(value)) for kid, value in raw.items()}
        except (ValueError, TypeError) as exc:
            raise SettingsError(
                f"{name} must be JSON {{kid: base64 Ed25519 private key}}: {type(exc).__name__}"
            ) from None
        if settings.active_signing_key_id not in keys:
            raise SettingsError(f"{settings.env_name('active_signing_key_id')} is not a key id in {name}")
        return cls(keys, settings.active_signing_key_id)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.keys[self.active_kid], algorithm="EdDSA", headers={"kid": self.active_kid})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [jwk_of(kid, key.public_key()) for kid, key in self.keys.items()]}


class TokenIssuer:
    def __init__(self, settings: AuthSettings, ring: SigningKeyRing) -> None:
        self.settings = settings
        self.ring = ring

    @property
    def userinfo_audience(self) -> str:
        """The audience of an app's access tokens (OpenID Connect): the userinfo endpoint, not our API."""
        return f"{self.settings.issuer}/oauth2/userinfo"

    def access_token(self, *, user_id: uuid.UUID, session_id: uuid.UUID, amr: list[str], email: str,
                     session_ends: datetime, client_id: str | None = None,
                     scopes: Sequence[str] = ()) -> tuple[str, int]:
        """The token and its ``exp``: never past the session's end, which the gateway enforces by ``exp`` alone.

        An app's session (``client_id``) gets a token for userinfo alone: its audience is not the API's, so
        neither the gateway nor auth takes it for a person's sign-in (sessions, audit, account changes).
        """
        now = int(time.time())
        expires = min(now + self.settings.access_token_seconds, int(session_ends.timestamp()))
        claims: dict[str, Any] = {
            "iss": self.settings.issuer, "aud": self.settings.audience, "sub": str(user_id),
            "sid": str(session_id), "amr": amr, "email": email, "iat": now, "exp": expires,
        }
        if client_id is not None:  # RFC 9068 2.2: client_id and scope
            claims.update(aud=self.userinfo_audience, client_id=client_id, scope=" ".join(scopes))
        return self.ring.sign(claims), expires

    def setup_token(self, *, user_id: uuid.UUID, email: str, enrollment: str = FIRST_ENROLLMENT) -> tuple[str, int]:
        """A token whose only power is starting 2FA enrollment (``scope``), short-lived.

        ``enrollment`` says what it may enroll: ``first`` opens setup only while the account has no
        authenticator (registration checks with the vault, which checks again at completion, so the
        token is spent once an enrollment completes); ``replace`` is granted for a fresh code.
        """
        now = int(time.time())
        expires = now + self.settings.setup_token_seconds
        token = self.ring.sign({
            "iss": self.settings.issuer, "aud": self.settings.audience, "sub": str(user_id),
            "scope": SETUP_SCOPE, "enrollment": enrollment, "email": email, "iat": now, "exp": expires,
            "jti": uuid.uuid4().hex,
        })
        return token, expires
