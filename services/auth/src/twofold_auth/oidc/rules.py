"""The protocol's rules, each a few lines citing the section it comes from; pure, no I/O.

RFC 6749 is OAuth 2.0, RFC 7636 PKCE, RFC 9207 the ``iss`` of authorization responses, "Core" OpenID
Connect Core 1.0, "RP-Initiated Logout" and "Back-Channel Logout" the OpenID Connect specifications of
those names (1.0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

S256 = "S256"
ACR_MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
# RFC 7636 4.2: BASE64URL(SHA256(verifier)) without padding is 43 characters
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 7636 4.1: 43 to 128 unreserved characters
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
NONCE_MAX = 512  # Core 3.1.2.1 sets none; the column does
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"  # Back-Channel Logout 2.4
# A logout token that did not reach its app is sent again 1 s later, then 2, 4... at most 5 minutes apart, for
# an hour after the session ended: an app away longer has let its own session idle out by then.
LOGOUT_RETRY_FIRST = timedelta(seconds=1)
LOGOUT_RETRY_MAX = timedelta(minutes=5)
LOGOUT_GIVE_UP = timedelta(hours=1)


class AuthorizationError(Exception):
    """An error the app hears through its redirect URI (RFC 6749 4.1.2.1)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class TokenError(Exception):
    """An error of the token or userinfo endpoint (RFC 6749 5.2, RFC 6750 3.1): JSON, not problem+json."""

    def __init__(self, error: str, description: str, *, status: int = 400,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})


def single(name: str, value: str | list[str] | None) -> str | None:
    """RFC 6749 3.1: a parameter is sent at most once."""
    if isinstance(value, list):
        if len(value) == 1:
            return value[0]
        raise AuthorizationError("invalid_request", f"{name} is given more than once.")
    return value


def requested_scopes(scope: str | None, *, known: Iterable[str], granted: Iterable[str]) -> tuple[str, ...]:
    """The scopes to grant: ``openid`` must be asked for (Core 3.1.2.1); one we know that the client was not
    granted is refused (RFC 6749 4.1.2.1, invalid_scope); one we do not know is ignored (Core 3.1.2.1:
    "Scope values used that are not understood by an implementation SHOULD be ignored")."""
    asked = (scope or "").split()
    if "openid" not in asked:
        raise AuthorizationError("invalid_scope", "The scope must contain openid.")
    known, granted = set(known), set(granted)
    refused = sorted(s for s in set(asked) & known if s not in granted)
    if refused:
        raise AuthorizationError("invalid_scope", f"This client may not ask for: {' '.join(refused)}.")
    return tuple(sorted(set(asked) & known))


def code_challenge(challenge: str | None, method: str | None) -> str:
    """PKCE is required, with S256 only (RFC 7636 4.4.1: invalid_request; 4.3: no method means plain)."""
    if not challenge:
        raise AuthorizationError("invalid_request", "code_challenge is required (PKCE).")
    if method != S256:
        raise AuthorizationError("invalid_request", "code_challenge_method must be S256.")
    if not _CHALLENGE.fullmatch(challenge):
        raise AuthorizationError("invalid_request", "code_challenge is not an S256 challenge.")
    return challenge


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 4.6, in constant time."""
    return bool(_VERIFIER.fullmatch(verifier)) and hmac.compare_digest(s256(verifier), challenge)


def prompts(prompt: str | None) -> set[str]:
    """Core 3.1.2.1: space-delimited; ``none`` with any other value is an error."""
    values = set((prompt or "").split())
    if "none" in values and len(values) > 1:
        raise AuthorizationError("invalid_request", "prompt=none cannot be combined with another value.")
    return values


def max_age(value: str | None) -> int | None:
    """Core 3.1.2.1: seconds since the person last authenticated actively."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise AuthorizationError("invalid_request", "max_age must be a number of seconds.")
    return int(value)


def nonce(value: str | None) -> str | None:
    if value is not None and len(value) > NONCE_MAX:
        raise AuthorizationError("invalid_request", f"nonce is longer than {NONCE_MAX} characters.")
    return value


def redirect(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """The answer's parameters added to the redirect URI, whose own query is kept (RFC 6749 3.1.2)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def logout_client(audience: str | list[str] | None, client_id: str | None) -> str | None:
    """The app a logout request comes from (RP-Initiated Logout 2): ``client_id``, which must be an audience of
    the ``id_token_hint`` when both are given, or the hint's one audience; None when neither names one.
    ``ValueError`` when they disagree, or when a hint for several apps comes without ``client_id``."""
    audiences = [audience] if isinstance(audience, str) else audience
    if client_id is not None:
        if audiences is not None and client_id not in audiences:
            raise ValueError("client_id is not the audience of id_token_hint.")
        return client_id
    if audiences is None:
        return None
    if len(audiences) != 1:
        raise ValueError("id_token_hint names several clients: send client_id too.")
    return audiences[0]


def next_logout_attempt(*, ended_at: datetime, now: datetime, failures: int) -> datetime | None:
    """When a logout token is sent again after its ``failures``-th failure, or None: given up."""
    delay = min(LOGOUT_RETRY_FIRST * 2 ** min(failures - 1, 16), LOGOUT_RETRY_MAX)
    retry_at = now + delay
    return retry_at if retry_at <= ended_at + LOGOUT_GIVE_UP else None


@dataclass(frozen=True)
class FormBody:
    """A token request's parameters (RFC 6749 3.2: form-encoded, each at most once)."""

    values: dict[str, str]

    @classmethod
    def parse(cls, content_type: str | None, body: bytes) -> FormBody:
        if (content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise TokenError("invalid_request", "Send the parameters as application/x-www-form-urlencoded.")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise TokenError("invalid_request", "The body is not a form.") from None
        values: dict[str, str] = {}
        for key, value in pairs:
            if key in values:
                raise TokenError("invalid_request", f"{key} is given more than once.")
            if value:  # RFC 6749 3.1: a parameter sent without a value is omitted
                values[key] = value
        return cls(values)

    def require(self, name: str) -> str:
        value = self.values.get(name)
        if value is None:
            raise TokenError("invalid_request", f"{name} is required.")
        return value


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 2.3.1: HTTP Basic, the id and the secret each form-encoded first; None without the header."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        colon = ""
    if not colon:
        raise TokenError("invalid_client", "Malformed client credentials.", status=401,
                         headers={"WWW-Authenticate": 'Basic realm="twofold"'})
    return unquote_plus(client_id), unquote_plus(secret)
