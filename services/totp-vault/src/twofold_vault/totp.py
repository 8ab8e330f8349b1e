"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), pure functions on raw key bytes.

Verification returns the time steps a code matches rather than a yes/no,
because the vault must record the accepted step to refuse a replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, urlencode

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
MIN_SECRET_BYTES = 16  # 128 bits: RFC 4226 section 4 (R6); NIST SP 800-63B asks for at least 112
MAX_SECRET_BYTES = 128


class InvalidSecret(ValueError):
    """Not base32, or too short or too long to be a TOTP secret (the message never contains it)."""


@dataclass(frozen=True)
class TotpParameters:
    digits: int
    algorithm: str
    period: int


def hotp(key: bytes, counter: int, *, digits: int, algorithm: str = "SHA1") -> str:
    """RFC 4226 section 5.3: HMAC the 8-byte counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.digest(key, counter.to_bytes(8, "big"), DIGESTS[algorithm])
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFF_FFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(unix_time: float, period: int) -> int:
    """RFC 6238 section 4.2: T = floor((now - T0) / X) with T0 = 0."""
    return int(unix_time // period)


def totp(key: bytes, unix_time: float, params: TotpParameters) -> str:
    return hotp(key, time_step(unix_time, params.period), digits=params.digits, algorithm=params.algorithm)


def is_well_formed(code: str, digits: int) -> bool:
    # isascii: str.isdigit also accepts other scripts' digits, which no authenticator shows
    return len(code) == digits and code.isascii() and code.isdigit()


def matching_steps(key: bytes, code: str, unix_time: float, params: TotpParameters, window: int) -> list[int]:
    """The time steps within ``window`` of now whose code is ``code``, oldest first."""
    if not is_well_formed(code, params.digits):
        return []
    now = time_step(unix_time, params.period)
    return [
        step for step in range(max(0, now - window), now + window + 1)
        if hmac.compare_digest(hotp(key, step, digits=params.digits, algorithm=params.algorithm), code)
    ]


def secret_from_base32(text: str) -> bytes:
    """Decode a secret as authenticators show it: any case, spaces allowed, padding optional."""
    compact = "".join(text.split()).upper().rstrip("=")
    try:
        secret = base64.b32decode(compact + "=" * (-len(compact) % 8))
    except (binascii.Error, ValueError):
        raise InvalidSecret("the seed is not valid base32") from None
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        raise InvalidSecret(f"the seed must decode to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return secret


def secret_to_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def provisioning_uri(secret: bytes, *, issuer: str, account: str, params: TotpParameters) -> str:
    """The ``otpauth://`` key URI (Google Authenticator's format), every parameter explicit.

    Issuer and account are percent-encoded each on its own (no safe characters), so the label's one
    literal ':' is the separator: a ':' in an app's name or an account is ``%3A``.
    """
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode({
        "secret": secret_to_base32(secret),
        "issuer": issuer,
        "algorithm": params.algorithm,
        "digits": params.digits,
        "period": params.period,
    }, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"
