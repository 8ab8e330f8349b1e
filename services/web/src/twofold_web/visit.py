"""A person's visit: what the pages remember between two requests, sealed in one cookie.

The web service keeps no table.  The cookie holds the tokens the public API
gave this browser (a setup token during enrollment, a login challenge, then the
session's access and refresh tokens) and the step the person is on, encrypted
and authenticated with the service's key (Fernet: AES-CBC with HMAC-SHA256 and
a timestamp), so the browser holds ciphertext it can neither read nor change.
The cookie is ``HttpOnly`` (no script reads it), ``Secure`` and
``SameSite=Lax``; its ``__Host-`` name pins it to this host and path ``/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECURE_NAME, PLAIN_NAME = "__Host-twofold", "twofold"


@dataclass
class Enrollment:
    """An enrollment under way: a person's, allowed by a setup token, or one an app started for its user
    (who came with the registration). The way on (a QR code, the provider's link) is asked of the API again
    at each step (``/api/auth/setup-2fa/resume``): no seed is kept here."""

    setup_token: str | None = None
    replacing: bool = False  # re-enrollment of a signed-in person, not the account's first authenticator
    registration_token: str | None = None
    provider: str | None = None  # "native" | "legitate"
    client_id: str | None = None  # the app that sent its user here
    app_name: str | None = None


@dataclass
class Challenge:
    """The login's second step: the password was right, a code is asked."""

    token: str
    deep_link: str | None = None  # the provider's, opening the authenticator at the account's seed


@dataclass
class Session:
    access_token: str
    refresh_token: str
    session_id: str
    expires_at: float  # of the access token, epoch seconds


@dataclass
class Authorization:
    """An app's authorization request (OpenID Connect) under way while the person signs in, or up, and consents.

    ``query`` is the request as the app sent it, asked of the API again once the person is signed in;
    ``redirect_origin`` the app's, once auth said the redirect URI is registered (the pages' forms may then
    lead there: page.py); ``fresh`` that the person signed in anew for this request, which answers its
    ``prompt=login`` and ``max_age`` (for this request only)."""

    query: str
    redirect_origin: str
    client_name: str
    fresh: bool = False

    @property
    def digest(self) -> str:
        """Names this request in the consent form: an answer is for the request the person saw."""
        return hashlib.sha256(self.query.encode()).hexdigest()[:32]


@dataclass
class Visit:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    email: str | None = None
    enrollment: Enrollment | None = None
    recovery_codes: list[str] | None = None  # shown until the person says they saved them
    challenge: Challenge | None = None
    session: Session | None = None
    authorization: Authorization | None = None

    def required_page(self) -> str | None:
        """The page that must be finished before any other opens: the recovery codes just made, then an
        enrollment under way."""
        if self.recovery_codes:
            return "/ui/recovery-codes"
        if self.enrollment:
            return "/ui/enroll"
        return None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Visit:
        data: dict[str, Any] = json.loads(raw)
        parts = {"enrollment": Enrollment, "challenge": Challenge, "session": Session,
                 "authorization": Authorization}
        for name, kind in parts.items():
            if data.get(name) is not None:
                data[name] = kind(**data[name])
        return cls(**data)


class VisitCookie:
    """Seals and opens visits; a cookie that is forged, changed, older than ``max_age`` or sealed under
    another key opens as a new, empty visit."""

    def __init__(self, key: str, *, secure: bool, max_age: int) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"twofold web visit cookie").derive(
            key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.name = SECURE_NAME if secure else PLAIN_NAME
        self.secure = secure
        self.max_age = max_age

    def open(self, value: str | None) -> Visit:
        if value:
            try:
                return Visit.from_json(self._fernet.decrypt(value, ttl=self.max_age))
            except (InvalidToken, ValueError, TypeError):
                pass
        return Visit()

    def seal(self, visit: Visit) -> str:
        return self._fernet.encrypt(visit.to_json()).decode()
