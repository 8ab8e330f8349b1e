"""AES-256-GCM sealing of TOTP seeds under a key ring with one active key.

Every ciphertext carries the id of the key that sealed it, so keys can rotate
(new seeds use the active key; older rows stay readable until ``rotate-keys``
re-seals them).  The seed id is the associated data: a ciphertext copied onto
another row fails authentication instead of handing over someone else's seed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per encryption, never reused with a key in practice


class KeyRingError(ValueError):
    """The configured key ring is malformed (raised while loading settings)."""


class UnknownKey(LookupError):
    """A ciphertext names a key id that is not in the ring: a deployment error, not a wrong code."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"encryption key {key_id!r} is not in the key ring")
        self.key_id = key_id


class CiphertextRejected(ValueError):
    """Authentication failed: the ciphertext was altered, moved to another seed, or the key id lies."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def parse_keys(text: str) -> dict[str, bytes]:
    """``{"key-id": "<base64 of 32 bytes>", ...}`` to raw keys; the message never contains key material."""
    try:
        encoded = json.loads(text)
    except json.JSONDecodeError:
        raise KeyRingError("must be a JSON object mapping key ids to base64-encoded 32-byte keys") from None
    if not isinstance(encoded, dict) or not encoded:
        raise KeyRingError("must be a non-empty JSON object mapping key ids to base64-encoded 32-byte keys")
    keys: dict[str, bytes] = {}
    for key_id, value in encoded.items():
        if not key_id or len(key_id) > 64:
            raise KeyRingError("key ids must be 1 to 64 characters")
        try:
            key = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"key {key_id!r} is not the base64 encoding of {KEY_BYTES} bytes")
        keys[key_id] = key
    return keys


class KeyRing:
    def __init__(self, keys: Mapping[str, bytes], active_id: str) -> None:
        if active_id not in keys:
            raise KeyRingError(f"the active key id {active_id!r} is not in the key ring")
        self.active_id = active_id
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def seal(self, seed_id: uuid.UUID, secret: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.active_id].encrypt(nonce, secret, seed_id.bytes)
        return Sealed(self.active_id, nonce, ciphertext)

    def open(self, seed_id: uuid.UUID, sealed: Sealed) -> bytes:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise UnknownKey(sealed.key_id)
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, seed_id.bytes)
        except InvalidTag:
            raise CiphertextRejected(f"the ciphertext of seed {seed_id} does not authenticate") from None
