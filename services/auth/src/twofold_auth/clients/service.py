"""API clients of third-party apps: an id and a secret (stored as a keyed hash), scopes, callback URLs.

An app that signs its users in with OpenID Connect is a client too: it has the ``openid`` scope and its own
redirect URIs, kept apart from its callback URLs. A callback URL is where enrollment sends a person back,
with a signature; a redirect URI is where an authorization code goes; a post-logout redirect URI is where
RP-initiated logout sends the browser back. Each list lets through only what it was registered for, and each
is matched exactly. Its back-channel logout URI is where it hears that one of its sessions ended.

An operator disables a client (its API key and its token requests are refused from then on) and rotates its
secret with an overlap: both secrets authenticate until the overlap ends, and redirects stay signed with the
previous secret's key until then, so an app that still checks them with its old secret keeps working.

Each of these changes publishes the client's whole state (``client.changed.v1``), with a verifier of each secret
that works: the gateway checks API keys with them, without asking auth. A client created before verifiers has
none until its secret next authenticates here (the gateway asks auth about a key it cannot check), when auth
records the verifier and publishes it; auth itself goes on checking the keyed hash.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.api_keys import key_verifier
from twofold_common.errors import NotFound, Problem, Unauthorized
from twofold_common.events import ClientChange, ClientChanged, KeyVerifier
from twofold_common.outbox import publish
from twofold_common.redirect_signature import redirect_key

from ..settings import EVENT_SOURCE
from ..tokens import TokenHasher
from . import repository
from .scopes import OPENID_SCOPES, SCOPES


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    scopes: tuple[str, ...]
    callback_urls: tuple[str, ...]
    seed_mode: bool
    redirect_uris: tuple[str, ...] = ()
    first_party: bool = False
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    disabled_at: datetime | None = None
    secret_rotated_at: datetime | None = None
    previous_secret_until: datetime | None = None  # while it is ahead, the previous secret works too


def _check_url(url: str, *, production: bool, what: str = "callback URL", code: str = "invalid-callback-url") -> str:
    # RFC 6749 3.1.2: a redirection endpoint is an absolute URI without a fragment
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise Problem(f"A {what} must be an absolute http(s) URL without fragment: {url}", code=code)
    if production and parts.scheme != "https":
        raise Problem(f"A {what} must use https: {url}", code=code)
    return url


async def create_client(session: AsyncSession, hasher: TokenHasher, *, name: str, callback_urls: list[str],
                        scopes: list[str], seed_mode: bool, production: bool, redirect_uris: list[str] | None = None,
                        first_party: bool = False, post_logout_redirect_uris: list[str] | None = None,
                        backchannel_logout_uri: str | None = None) -> tuple[Client, str]:
    if not 1 <= len(name) <= 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        # the name reaches authenticator apps as the issuer of its users' seeds
        raise Problem("A client's name has 1 to 200 characters, none of them control characters.",
                      code="invalid-name")
    unknown = set(scopes) - SCOPES
    if unknown:
        raise Problem(f"Unknown scopes: {', '.join(sorted(unknown))}", code="invalid-scope")
    urls = [_check_url(u, production=production) for u in callback_urls]
    redirects = [_check_url(u, production=production, what="redirect URI", code="invalid-redirect-uri")
                 for u in redirect_uris or ()]
    if "openid" in scopes and not redirects:
        raise Problem("An openid client needs at least one redirect URI.", code="invalid-redirect-uri")
    post_logout = [_check_url(u, production=production, what="post-logout redirect URI",
                              code="invalid-post-logout-redirect-uri") for u in post_logout_redirect_uris or ()]
    backchannel = (_check_url(backchannel_logout_uri, production=production, what="back-channel logout URI",
                              code="invalid-backchannel-logout-uri") if backchannel_logout_uri else None)
    if (post_logout or backchannel) and "openid" not in scopes:
        raise Problem("Logout URIs are for OpenID Connect: grant openid too.", code="invalid-scope")
    if set(scopes) & OPENID_SCOPES and "openid" not in scopes:
        raise Problem("The email scope is read through OpenID Connect: grant openid too.", code="invalid-scope")
    client_id = f"cl_{secrets.token_hex(8)}"
    secret, secret_hash = hasher.new("sk")
    await repository.insert(session, client_id=client_id, name=name, secret_hash=secret_hash,
                            secret_verifier=key_verifier(client_id, secret), scopes=sorted(set(scopes)),
                            callback_urls=urls, seed_mode=seed_mode,
                            redirect_key_sealed=hasher.seal(redirect_key(secret), client_id),
                            redirect_uris=redirects, first_party=first_party, post_logout_redirect_uris=post_logout,
                            backchannel_logout_uri=backchannel)
    await _announce(session, client_id, "created")
    return Client(client_id, name, tuple(sorted(set(scopes))), tuple(urls), seed_mode, tuple(redirects),
                  first_party, tuple(post_logout), backchannel), secret


async def list_clients(session: AsyncSession) -> list[Client]:
    """Every client, disabled ones too."""
    return [_client(row) for row in await repository.every(session)]


async def authenticate(session: AsyncSession, hasher: TokenHasher, client_id: str, secret: str) -> Client:
    """An enabled client's current secret, or its previous one while the overlap of a rotation runs. Both hashes
    are compared, in constant time, whatever the row (an unknown id costs the same)."""
    row = await repository.find_enabled(session, client_id)
    given = hasher.hash(secret)
    current = hmac.compare_digest(row["secret_hash"] if row else bytes(32), given)
    previous = hmac.compare_digest((row["previous_secret_hash"] or bytes(32)) if row else bytes(32), given)
    overlapping = row is not None and row["previous_secret_expires_at"] is not None \
        and row["previous_secret_expires_at"] > datetime.now(UTC)
    if row is None or not (current or previous and overlapping):
        raise Unauthorized("Invalid client credentials.", code="invalid-client")
    if row["secret_verifier" if current else "previous_secret_verifier"] is None \
            and await repository.record_verifier(session, client_id, key_verifier(client_id, secret),
                                                 previous=not current):
        await _announce(session, client_id, "verifier_recorded")
    return _client(row)


async def set_enabled(session: AsyncSession, client_id: str, enabled: bool) -> tuple[Client, bool]:
    """The client enabled or disabled, and whether that changed anything (doing it twice is no error)."""
    changed = await repository.set_disabled(session, client_id, not enabled)
    row = await (_announce(session, client_id, "enabled" if enabled else "disabled") if changed
                 else repository.find(session, client_id))
    if row is None:
        raise NotFound("No such client.", code="client-not-found")
    return _client(row), changed


MAX_OVERLAP = timedelta(days=30)


async def rotate_secret(session: AsyncSession, hasher: TokenHasher, client_id: str,
                        overlap: timedelta) -> tuple[Client, str]:
    """A new secret (returned once; only its keyed hash is stored). The current one keeps working for
    ``overlap`` (zero: it stops at once); a secret rotated out before is dropped now."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise Problem("The overlap is between 0 and 30 days.", code="invalid-overlap")
    secret, secret_hash = hasher.new("sk")
    until = datetime.now(UTC) + overlap if overlap else None
    if not await repository.replace_secret(session, client_id, secret_hash=secret_hash, previous_until=until,
                                           secret_verifier=key_verifier(client_id, secret),
                                           redirect_key_sealed=hasher.seal(redirect_key(secret), client_id)):
        raise NotFound("No such client.", code="client-not-found")
    return _client(await _announce(session, client_id, "secret_rotated")), secret


async def find_client(session: AsyncSession, client_id: str) -> Client:
    row = await repository.find_enabled(session, client_id)
    if row is None:
        raise NotFound("No such client.", code="client-not-found")
    return _client(row)


async def redirect_key_of(session: AsyncSession, hasher: TokenHasher, client_id: str) -> bytes:
    sealed = await repository.sealed_redirect_key(session, client_id)
    if sealed is None:
        raise NotFound("No such client.", code="client-not-found")
    return hasher.unseal(sealed, client_id)


async def find_openid_client(session: AsyncSession, client_id: str) -> Client | None:
    """An enabled client that may use OpenID Connect, or None."""
    if "\x00" in client_id:  # no id has one, and PostgreSQL refuses it in a query
        return None
    row = await repository.find_enabled(session, client_id)
    client = _client(row) if row else None
    return client if client and "openid" in client.scopes else None


async def _announce(session: AsyncSession, client_id: str, change: ClientChange) -> RowMapping:
    """The client's state as it is now in this transaction, published for the gateway (``client.changed.v1``)."""
    row = await repository.find(session, client_id)
    assert row is not None
    verifiers = [KeyVerifier(digest=row["secret_verifier"].hex())] if row["secret_verifier"] else []
    until = row["previous_secret_expires_at"]
    if row["previous_secret_verifier"] and until is not None and until > datetime.now(UTC):
        verifiers.append(KeyVerifier(digest=row["previous_secret_verifier"].hex(), until=until))
    await publish(session, ClientChanged(client_id=client_id, change=change, enabled=row["disabled_at"] is None,
                                         scopes=tuple(row["scopes"]), verifiers=tuple(verifiers)),
                  source=EVENT_SOURCE)
    return row


def _client(row: RowMapping) -> Client:
    return Client(row["id"], row["name"], tuple(row["scopes"]), tuple(row["callback_urls"]), row["seed_mode"],
                  tuple(row["redirect_uris"]), row["first_party"], tuple(row["post_logout_redirect_uris"]),
                  row["backchannel_logout_uri"], disabled_at=row["disabled_at"],
                  secret_rotated_at=row["secret_rotated_at"], previous_secret_until=row["previous_secret_expires_at"])
