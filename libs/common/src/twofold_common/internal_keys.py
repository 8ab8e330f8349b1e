"""The keys of internal calls: each service's own Ed25519 signing key, and the ring of the services' public keys.

Formats of the settings (docs/operations.md):

- ``<PREFIX>_INTERNAL_SIGNING_KEY``, secret, this service's alone: ``<kid>:<base64 of the 32-byte private key>``.
- ``<PREFIX>_INTERNAL_PUBLIC_KEYS``, public, the same value everywhere: JSON
  ``{"<service>": {"<kid>": "<base64 of the 32-byte public key>", ...}, ...}``. A receiver checks a token
  only against the keys listed under the service it claims to come from.

A service may have several public keys at once, so its key changes without a refused call: publish the new
public key, then switch the signing key, then drop the old public key.

Development needs neither setting: a service's development key is derived from its name (public, since the
derivation is in this file; production refuses it) and the default ring holds the four development keys.

    python -m twofold_common.internal_keys keygen <service>    # a new key pair, for an operator

Only the standard library and ``cryptography`` are imported: settings validation and ``--help`` stay light.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# The services that call each other; the development ring holds one key of each.
SERVICES = ("gateway", "auth", "registration", "vault", "web")
# A kid travels in a JWT header and in logs: short, and no ':' (the separator of a signing key's text).
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DEV_LABEL = b"twofold development internal signing key (public, refused in production): "

PublicKeys = dict[str, dict[str, Ed25519PublicKey]]  # service -> kid -> key


class KeyFormatError(ValueError):
    """A key setting cannot be read; the message never contains key material."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def text(self) -> str:
        """The value of ``<PREFIX>_INTERNAL_SIGNING_KEY``."""
        return f"{self.kid}:{base64.b64encode(self.private_key.private_bytes_raw()).decode()}"

    @property
    def public_text(self) -> str:
        return base64.b64encode(_raw(self.private_key.public_key())).decode()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_bytes(text: object, what: str = "the key") -> bytes:
    if not isinstance(text, str):
        raise KeyFormatError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyFormatError(f"{what} is not valid base64") from None
    if len(raw) != 32:
        raise KeyFormatError(f"{what} must be the base64 of 32 bytes, not {len(raw)}")
    return raw


def _check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise KeyFormatError(f"key id {kid!r} must be 1 to 64 of A-Z a-z 0-9 . _ -")
    return kid


def parse_signing_key(text: str) -> SigningKey:
    kid, separator, encoded = text.strip().partition(":")
    if not separator:
        raise KeyFormatError("must be <kid>:<base64 of the 32-byte Ed25519 private key>")
    return SigningKey(_check_kid(kid), Ed25519PrivateKey.from_private_bytes(_key_bytes(encoded)))


def parse_public_keys(text: str) -> PublicKeys:
    try:
        ring = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFormatError(f"is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    shape = 'must be JSON {"<service>": {"<kid>": "<base64 of the 32-byte Ed25519 public key>"}}'
    if not isinstance(ring, dict) or not all(isinstance(keys, dict) for keys in ring.values()):
        raise KeyFormatError(shape)
    parsed: PublicKeys = {}
    for service, keys in ring.items():
        if service not in SERVICES:  # a typo would refuse that service's every call, long after the start
            raise KeyFormatError(f"names an unknown service {service!r} (the services: {', '.join(SERVICES)})")
        parsed[service] = {
            _check_kid(kid): Ed25519PublicKey.from_public_bytes(_key_bytes(encoded, f"the key {kid!r} of {service}"))
            for kid, encoded in keys.items()
        }
    return parsed


def public_keys_json(keys: Mapping[str, Iterable[SigningKey]]) -> str:
    """The ring (``<PREFIX>_INTERNAL_PUBLIC_KEYS``) holding the public halves of ``keys``, per service."""
    return json.dumps({service: {key.kid: key.public_text for key in signing} for service, signing in keys.items()})


def dev_signing_key(service: str) -> SigningKey:
    """``service``'s development key: anyone can derive it, which is why production refuses it."""
    seed = hashlib.sha256(_DEV_LABEL + service.encode()).digest()
    return SigningKey(f"{service}-dev", Ed25519PrivateKey.from_private_bytes(seed))


def dev_public_keys() -> PublicKeys:
    keys = {service: dev_signing_key(service) for service in SERVICES}
    return {service: {key.kid: key.private_key.public_key()} for service, key in keys.items()}


def is_development_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bool:
    public = _raw(key.public_key() if isinstance(key, Ed25519PrivateKey) else key)
    return any(public == _raw(dev) for keys in dev_public_keys().values() for dev in keys.values())


def new_signing_key(service: str, kid: str | None = None) -> SigningKey:
    """A fresh key pair; the default kid names the service and the day, and a random part keeps two keys of
    one day apart (a rotation needs the old and the new kid side by side)."""
    kid = kid or f"{service}-{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(2)}"
    return SigningKey(_check_kid(kid), Ed25519PrivateKey.generate())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m twofold_common.internal_keys",
                                     description="Keys of the calls between twofold's services.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    keygen = commands.add_parser(
        "keygen", help="print a new key pair of a service as JSON",
        description="Print a new Ed25519 key pair as JSON: signingKey goes into the service's own Secret "
                    "(<PREFIX>_INTERNAL_SIGNING_KEY), publicKeys is the entry to merge into every service's "
                    "<PREFIX>_INTERNAL_PUBLIC_KEYS (docs/operations.md, rotating a service's internal key).")
    keygen.add_argument("service", choices=SERVICES, help="the service that will sign with the key")
    keygen.add_argument("--kid", help="the key id (default: <service>-<yyyymmdd>-<4 random hex digits>)")
    options = parser.parse_args(argv)
    try:
        key = new_signing_key(options.service, options.kid)
    except KeyFormatError as exc:
        parser.error(str(exc))
    print(json.dumps({"service": options.service, "kid": key.kid, "signingKey": key.text,
                      "publicKeys": json.loads(public_keys_json({options.service: [key]}))}))


if __name__ == "__main__":
    main()
