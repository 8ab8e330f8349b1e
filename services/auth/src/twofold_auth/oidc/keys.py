"""The RSA keys that sign ID tokens (RS256), read from ``AUTH_ID_TOKEN_KEYS``, and their public JWKs.

RS256 because every OpenID Provider must support it (OIDC Core 15.1) and every relying party's library
verifies it; our access tokens stay EdDSA, which only we verify. ``cryptography`` reads the keys, PyJWT
signs and writes the JWKs.  Only those two are imported: the settings check the ring when they load.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicNumbers
from jwt.algorithms import RSAAlgorithm

from twofold_common.settings import SettingsError

if TYPE_CHECKING:
    from ..settings import AuthSettings

ALGORITHM = "RS256"
MIN_BITS = 2048  # RFC 7518 3.3: a key of 2048 bits or larger MUST be used with RS256


@dataclass(frozen=True)
class IdTokenKeys:
    keys: dict[str, RSAPrivateKey]
    active_kid: str

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        return jwt.encode(claims, self.keys[self.active_kid], algorithm=ALGORITHM,
                          headers={"kid": self.active_kid, "typ": typ})

    def verify_id_token(self, token: str, *, issuer: str) -> dict[str, Any]:
        """The claims of an ID token this ring signed for ``issuer``, expired or not (RP-Initiated Logout 2: an
        ``id_token_hint`` may have expired). A logout token is no ID token (its ``typ`` tells them apart:
        Back-Channel Logout 2.4). ``jwt.InvalidTokenError`` otherwise."""
        header = jwt.get_unverified_header(token)
        key = self.keys.get(str(header.get("kid")))
        if key is None or header.get("typ") != "JWT":
            raise jwt.InvalidTokenError("not an ID token of this ring")
        return jwt.decode(token, key.public_key(), algorithms=[ALGORITHM], issuer=issuer,
                          options={"verify_exp": False, "verify_aud": False, "require": ["iss", "sub", "aud"]})

    def jwks(self) -> list[dict[str, Any]]:
        """Every key of the ring, so ID tokens of the key before a rotation still verify."""
        return [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": ALGORITHM}
                for kid, key in self.keys.items()]


def read_id_token_keys(settings: AuthSettings) -> IdTokenKeys:
    """The ring, or a ``SettingsError`` naming the variable: malformed, short, a kid the Ed25519 ring has too,
    no active key, or the public development key in production."""
    name = settings.env_name("id_token_keys")
    try:
        raw = json.loads(settings.id_token_keys.get_secret_value())
        if not isinstance(raw, dict) or not raw:
            raise ValueError("not an object")
        keys = {str(kid): _private_key(text) for kid, text in raw.items()}
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SettingsError(f"{name} must be JSON {{kid: PEM or base64 DER RSA private key}}: "
                            f"{type(exc).__name__}") from None
    for kid, key in keys.items():
        if key.key_size < MIN_BITS:
            raise SettingsError(f"{name}: key {kid!r} has {key.key_size} bits; RS256 needs at least {MIN_BITS}")
    if settings.active_id_token_key_id not in keys:
        raise SettingsError(f"{settings.env_name('active_id_token_key_id')} is not a key id in {name}")
    shared = set(keys) & set(_ed25519_kids(settings))
    if shared:
        # one JWKS holds both rings: a kid must name one key
        raise SettingsError(f"{name} and {settings.env_name('signing_keys')} share key ids: "
                            f"{', '.join(sorted(shared))}")
    if settings.production and any(key.public_key().public_numbers() == _development_key() for key in keys.values()):
        raise SettingsError(f"{name} must be set in production (the development key is public)")
    return IdTokenKeys(keys, settings.active_id_token_key_id)


def _private_key(text: object) -> RSAPrivateKey:
    if not isinstance(text, str):
        raise TypeError("a key must be a string")
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode(text, validate=True), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError("not an RSA key")
    return key


def _ed25519_kids(settings: AuthSettings) -> list[str]:
    try:
        return list(json.loads(settings.signing_keys.get_secret_value()))
    except (ValueError, TypeError):
        return []  # the Ed25519 ring's own check names that variable


@functools.cache
def _development_key() -> RSAPublicNumbers:
    from ..settings import DEV_ID_TOKEN_KEY

    return _private_key(DEV_ID_TOKEN_KEY).public_key().public_numbers()
